"""The run's typed facts (``ctx.state``) and the one wording of unknown keys everywhere."""

from __future__ import annotations

import json

import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.facts import RunFacts


def test_facts_are_typed_attributes_saved_as_the_same_plain_data():
    facts = RunFacts()
    facts.pruned = {"layers": {"conv1": 0.5}}
    facts["tflite"] = {"file": "model.tflite", "mode": "int8"}
    facts["from_a_newer_step"] = [1, 2]  # kept as it is
    assert facts.tflite["file"] == "model.tflite" and facts["pruned"] == facts.pruned
    assert "baseline_model" not in facts and facts.get("baseline_model") is None and facts.baseline_model is None
    saved = json.loads(json.dumps(facts.to_dict()))
    assert saved == {"pruned": {"layers": {"conv1": 0.5}}, "tflite": {"file": "model.tflite", "mode": "int8"},
                     "from_a_newer_step": [1, 2]}
    again = RunFacts.from_dict(saved)
    assert again == saved and again.other == {"from_a_newer_step": [1, 2]} and again.pruned == facts.pruned
    del again["pruned"]
    assert again.pruned is None and "pruned" not in again.to_dict()
    with pytest.raises(KeyError):
        again["pruned"]


def test_a_run_saves_its_facts_as_plain_json(tmp_path, digits):
    from edgeloop.pipeline.base import Context
    from edgeloop.pipeline.run_folder import write_state

    ctx = Context(data=digits, run_dir=tmp_path)
    ctx.state.baseline_tflite = "baseline_float32.tflite"
    write_state(tmp_path, {"status": "running", "state": ctx.state})
    assert json.loads((tmp_path / "state.json").read_text())["state"] == {"baseline_tflite": "baseline_float32.tflite"}


def _message(call) -> str:
    with pytest.raises(EdgeloopError) as exc:
        call()
    return str(exc.value)


def test_unknown_keys_are_listed_the_same_way_everywhere():
    from edgeloop.device.options import BenchmarkOptions
    from edgeloop.pipeline.options import parse_options
    from edgeloop.pipeline.target import Target
    from edgeloop.recipe import from_dict
    from edgeloop.search.options import SearchOptions

    steps = [{"convert": {}}]
    messages = [
        _message(lambda: from_dict({"model": "zoo:digits_cnn", "steps": steps, "colour": 1}, source="r.yaml")),
        _message(lambda: from_dict({"model": "zoo:digits_cnn", "steps": [{"convert": {"colour": 1}}]}, source="r.yaml")),
        _message(lambda: Target.from_dict({"colour": 1}, "r.yaml: target")),
        _message(lambda: BenchmarkOptions.from_dict({"colour": 1})),
        _message(lambda: parse_options(SearchOptions, {"colour": 1}, "search")),
    ]
    for message in messages:
        head, _, valid = message.partition("; valid ")
        assert head.endswith("'colour'") and "unknown " in head and valid.split(": ")[1], message
    assert messages[0].startswith("r.yaml: unknown key 'colour'; valid keys: name, model")
    assert messages[1].startswith("r.yaml: step 1 (convert): unknown option 'colour'; valid options: mode")
    assert messages[3].startswith("unknown benchmark option 'colour'; valid options: threads")
    assert messages[4].startswith("search: unknown option 'colour'; valid options: budget")
