"""The recipe's ``target``: parsed and refused like every recipe key, seen by steps, checked at the end."""

from __future__ import annotations

import json

import pytest
import yaml

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.runner import run
from edgeloop.pipeline.target import Target
from edgeloop.recipe import from_dict

STEPS = [{"train": {"epochs": 3}}, {"convert": {"calibration_samples": 50}}, {"benchmark": {"warmup": 1, "runs": 5}}]


def recipe(target: dict, steps=STEPS) -> dict:
    return {"name": "target", "model": "zoo:digits_cnn?width=0.25", "data": "digits", "measure_steps": False,
            "steps": steps, "target": target}


def test_target_from_dict_reads_a_relative_latency_and_round_trips():
    t = Target.from_dict({"device": "http://127.0.0.1:1", "latency": "0.5x", "size_kb": 40, "edgetpu": True})
    assert t == Target(device="http://127.0.0.1:1", latency_ratio=0.5, size_kb=40.0, edgetpu=True)
    assert Target.from_dict(t.to_dict()) == t
    assert Target.from_dict({"latency_ms": 2}).budget_ms(None) == 2.0
    assert t.budget_ms(3.0) == 1.5 and t.budget_ms(None) is None


@pytest.mark.parametrize("raw, fragment", [
    ({"latency_ms": 2, "colour": "red"}, "unknown key 'colour'; valid keys: device, latency_ms, latency, size_kb, edgetpu"),
    ({"latency": "half"}, "such as 0.5x"),
    ({"latency": 0.5}, "such as 0.5x"),
    ({"latency_ms": -1}, "positive number"),
    ({"latency_ms": 1, "latency": "0.5x"}, "not both"),
    ({"edgetpu": "yes"}, "true or false"),
    ("fast", "must be a mapping"),
])
def test_bad_targets_are_one_clear_error(raw, fragment):
    with pytest.raises(EdgeloopError, match="target") as exc:
        from_dict(recipe(raw))
    assert fragment in str(exc.value)


def test_a_target_no_step_can_check_is_refused_before_the_run():
    with pytest.raises(EdgeloopError, match="no benchmark step"):
        from_dict(recipe({"latency_ms": 1}, STEPS[:2]))
    with pytest.raises(EdgeloopError, match="no convert step"):
        from_dict(recipe({"size_kb": 1}, STEPS[:1]))


def test_the_recipe_keeps_its_target_and_steps_see_it():
    r = from_dict(recipe({"latency": "0.5x", "size_kb": 100}))
    assert r.target == Target(latency_ratio=0.5, size_kb=100.0)
    assert yaml.safe_load(yaml.safe_dump(r.to_dict()))["target"] == {"latency": "0.5x", "size_kb": 100.0}
    assert from_dict(r.to_dict()).target == r.target
    assert "target" not in from_dict({k: v for k, v in recipe({}).items() if k != "target"}).to_dict()


@pytest.fixture(scope="module")
def met(tmp_path_factory):
    """A run whose generous target is met: a 1000x latency budget, 1 MiB, Edge TPU."""
    return run(from_dict(recipe({"latency": "1000x", "size_kb": 1024, "edgetpu": True})),
               out=tmp_path_factory.mktemp("runs"))


def test_a_met_target_is_checked_against_what_the_run_measured(met):
    report = met.report
    assert report["status"] == "finished"
    t = report["target"]
    assert t["met"] and [c["name"] for c in t["checks"]] == ["target_latency", "target_size", "target_edgetpu"]
    checks = {c["name"]: c for c in t["checks"]}
    bench = next(e["result"] for e in report["steps"] if e["step"] == "benchmark")
    # The latency compared is the benchmark's median, the limit 1000x the float baseline's median.
    assert checks["target_latency"]["value"] == bench["model"]["stats"]["median_ms"]
    assert checks["target_latency"]["limit"] == pytest.approx(1000 * bench["baseline_float32"]["stats"]["median_ms"])
    assert checks["target_size"]["value"] == pytest.approx((met.run_dir / "model.tflite").stat().st_size / 1024)
    assert "## Target" in (met.run_dir / "report.md").read_text()


def test_a_missed_target_ends_target_missed_saying_by_how_much(met, tmp_path):
    size_kb = (met.run_dir / "model.tflite").stat().st_size / 1024
    limit = round(size_kb / 2, 1)
    # The same run asking for half the size and a float file on an Edge TPU: both missed.
    r = run(from_dict(recipe({"size_kb": limit, "edgetpu": True}, [STEPS[0], {"convert": {"mode": "dynamic"}}])),
            out=tmp_path)
    assert r.report["status"] == "target_missed"
    checks = {c["name"]: c for c in r.report["target"]["checks"]}
    assert not checks["target_size"]["passed"]
    assert checks["target_size"]["over"] == pytest.approx(checks["target_size"]["value"] - limit)
    assert f"> {limit:g} KiB" in checks["target_size"]["detail"] and "over" in checks["target_size"]["detail"]
    assert not checks["target_edgetpu"]["passed"] and "not full int8" in checks["target_edgetpu"]["detail"]
    saved = json.loads((r.run_dir / "report.json").read_text())
    assert saved["status"] == "target_missed" and "MISSED" in (r.run_dir / "report.md").read_text()


def test_optimize_exits_1_when_the_target_is_missed(met, tmp_path, capsys):
    from edgeloop.cli import main

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe({"latency": "0.01x"})))
    with pytest.raises(SystemExit) as exc:
        main(["optimize", str(path), "--out", str(tmp_path / "runs"), "-q"])
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "target MISSED: median" in out and "0.01x the float baseline" in out and ") over" in out
