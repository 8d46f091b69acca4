"""Recipes: every key checked, unknown names listed, every preset and step valid."""

from __future__ import annotations

import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline import build_step, step_class, step_names
from edgeloop.presets import preset_names
from edgeloop.recipe import from_dict, load_recipe

BASE = {"model": "zoo:digits_cnn", "data": "digits"}


def test_recipe_builds_steps_with_typed_options():
    recipe = from_dict({**BASE, "steps": [{"prune": {"target_sparsity": 0.75, "epochs": 2}}, "convert"]})
    assert [s.name for s in recipe.steps] == ["prune", "convert"]
    assert recipe.steps[0].options.target_sparsity == 0.75
    assert recipe.steps[1].options.mode == "int8"


def test_unknown_step_lists_the_valid_ones():
    with pytest.raises(EdgeloopError) as exc:
        from_dict({**BASE, "steps": [{"prnue": {}}]})
    msg = str(exc.value)
    assert "unknown step 'prnue'" in msg
    for name in step_names():
        assert name in msg


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(EdgeloopError) as exc:
        from_dict({**BASE, "steps": [{"prune": {"sparsity": 0.5}}]})
    msg = str(exc.value)
    assert "'sparsity'" in msg and "target_sparsity" in msg and "schedule" in msg


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"target_sparsity": "half"}, "must be a number"),
        ({"target_sparsity": 1.5}, "between 0 and 1"),
        ({"schedule": "cubic"}, "must be one of"),
        ({"epochs": 2.5}, "must be an integer"),
        ({"epochs": True}, "must be an integer"),
        ({"learning_rate": 0}, "must be positive"),
    ],
)
def test_bad_option_values_are_refused(options, fragment):
    with pytest.raises(EdgeloopError, match=fragment):
        from_dict({**BASE, "steps": [{"prune": options}]})


def test_unknown_top_level_key_lists_the_valid_ones():
    with pytest.raises(EdgeloopError, match="unknown key 'modle'.*valid keys: name, model"):
        from_dict({**BASE, "modle": "x", "steps": ["convert"]})


def test_recipe_needs_a_model_and_steps():
    with pytest.raises(EdgeloopError, match="no model"):
        from_dict({"steps": ["convert"]})
    with pytest.raises(EdgeloopError, match="non-empty list"):
        from_dict({**BASE, "steps": []})


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: mine\nmodel: a.keras\nsteps:\n  - convert: {mode: dynamic}\n")
    recipe = load_recipe(str(path), data="other.npz")
    assert (recipe.name, recipe.model, recipe.data) == ("mine", "a.keras", "other.npz")
    assert recipe.steps[0].options.io_type == "float32"  # integer I/O only exists for full int8


def test_broken_yaml_is_one_clear_error(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("steps: [convert\n")
    with pytest.raises(EdgeloopError, match="not valid YAML"):
        load_recipe(str(path))
    with pytest.raises(EdgeloopError, match="recipe not found"):
        load_recipe(str(tmp_path / "missing.yaml"))


def test_round_trip_through_to_dict():
    recipe = from_dict({**BASE, "steps": [{"qat": {"epochs": 3}}, {"convert": {"io_type": "uint8"}}]})
    again = from_dict(recipe.to_dict())
    assert again.to_dict() == recipe.to_dict()


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_is_a_valid_recipe(name):
    recipe = load_recipe(f"edgeloop:{name}", model="m.keras")
    assert recipe.steps and recipe.data == "digits"


def test_unknown_preset_lists_presets():
    with pytest.raises(EdgeloopError, match="presets: .*edgetpu_int8"):
        load_recipe("edgeloop:nope", model="m.keras")


@pytest.mark.parametrize("name", step_names())
def test_every_step_builds_with_defaults_and_documents_its_options(name):
    step = build_step(name, {}, "test")
    assert step.describe()["step"] == name
    assert step_class(name).__doc__ and step_class(name).Options.__doc__


def test_convert_io_type_follows_the_mode_and_refuses_what_it_cannot_be():
    steps = from_dict({**BASE, "steps": [{"convert": {"mode": m}} for m in ("int8", "int16x8", "float16")]}).steps
    assert [s.options.io_type for s in steps] == ["int8", "int16", "float32"]
    with pytest.raises(EdgeloopError, match="dynamic models take float32 input/output, not 'int8'"):
        from_dict({**BASE, "steps": [{"convert": {"mode": "dynamic", "io_type": "int8"}}]})


@pytest.mark.parametrize("options", [5, [1, 2], "abc", True])
def test_step_options_that_are_not_a_mapping_are_one_clear_error(options):
    with pytest.raises(EdgeloopError, match=r"step 1 \(train\): options must be a mapping such as \{epochs: 5\}"):
        from_dict({**BASE, "steps": [{"train": options}]})


@pytest.mark.parametrize("name", ["../../escape", "runs/x", "/tmp/x", ".hidden", "..", "a\\b"])
def test_a_run_name_that_is_not_one_folder_name_is_refused(name):
    with pytest.raises(EdgeloopError, match="name must be one plain folder name"):
        from_dict({**BASE, "name": name, "steps": ["convert"]})


def test_bad_recipes_end_in_one_line_and_write_nothing_outside_out(tmp_path):
    from helpers import run_cli

    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    for text, fragment in (("name: ../../escape\nsteps: [convert]\n", "plain folder name"),
                           ("steps:\n  - train: 5\n", "options must be a mapping")):
        recipe = work / "r.yaml"
        recipe.write_text("model: zoo:digits_cnn\ndata: digits\n" + text)
        result = run_cli("optimize", recipe, "--out", work / "runs", cwd=work)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [result.stderr.strip()] and fragment in result.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "r.yaml"]
