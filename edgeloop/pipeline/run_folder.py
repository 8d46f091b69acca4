"""The run folder: a new one, its state read and written, the split checked, its models loaded.

Every runner uses this module: the pipeline runner (:mod:`edgeloop.pipeline.runner`) and,
through it, the search (``edgeloop search`` is a recipe; its NetAdapt step keeps its own
``search.json`` in the run's ``netadapt/`` and reads it with :func:`read_json`).

A run folder holds ``recipe.yaml`` (the recipe as validated) and ``state.json`` (the steps
finished so far, rewritten atomically after each), the models the steps saved and the
report. Nothing in it is overwritten but ``state.json`` and the report.
"""

from __future__ import annotations

import errno
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeloop import _io
from edgeloop.data import check_compatible, load_data
from edgeloop.errors import EdgeloopError
from edgeloop.recipe import Recipe, from_dict

STATE_FILE = "state.json"
RECIPE_FILE = "recipe.yaml"


def new_run_dir(out: Path, name: str, files: dict[str, bytes] | None = None) -> Path:
    """Create a fresh run folder ``<out>/<name>-<UTC time>``; never reuse one.

    With ``files`` the folder appears with them already in it: it is filled under a temp
    name in ``out`` and renamed into place, so a kill leaves either no run folder or one
    that ``--resume`` continues (never one without its ``state.json``).

    Raises:
        EdgeloopError: ``name`` is not one plain folder name (``../x``, ``a/b``, ``.x``).
    """
    if not name or name != Path(name).name or name.startswith(".") or "\\" in name or "\0" in name:
        raise EdgeloopError(f"the run name {name!r} must be one plain folder name (no '/', '\\' or leading '.')")
    out.mkdir(parents=True, exist_ok=True)
    staging = None
    if files:
        staging = _io.temp_sibling(out / name)
        staging.mkdir()
        for file_name, data in files.items():
            _io.write_bytes(staging / file_name, data)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        candidate = out / (f"{name}-{stamp}" if n == 1 else f"{name}-{stamp}-{n}")
        try:
            if staging is None:
                candidate.mkdir()
            elif candidate.exists():
                continue
            else:
                staging.rename(candidate)  # fails on a folder another run just made
            return candidate
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    raise EdgeloopError(f"cannot create a new run folder in {out}")


def read_json(path: Path, what: str) -> dict:
    """A JSON state file (``state.json``, a search's ``search.json``) read whole.

    Raises:
        EdgeloopError: no such file (``not a <what> (no <name>)``) or not JSON (``damaged``).
    """
    if not path.is_file():
        raise EdgeloopError(f"not a {what} (no {path.name}): {path.parent}")
    try:
        state = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise EdgeloopError(f"{path} is damaged: {exc}") from None
    if not isinstance(state, dict):
        raise EdgeloopError(f"{path} is damaged: not a mapping")
    return state


def read_state(run_dir: Path) -> tuple[dict, Recipe]:
    """A run folder's ``state.json`` and the recipe it was started with.

    Raises:
        EdgeloopError: not a run folder, or a damaged ``state.json``.
    """
    path = run_dir / STATE_FILE
    state = read_json(path, "run folder")
    try:
        recipe = from_dict(state["recipe"], source=str(run_dir / RECIPE_FILE))
    except (ValueError, KeyError, TypeError) as exc:
        raise EdgeloopError(f"{path} is damaged: {exc}") from None
    return state, recipe


def write_state(run_dir: Path, state: dict) -> None:
    """Write ``state.json`` atomically (a kill leaves the old one or the new one, whole); the
    steps' facts (:class:`~edgeloop.pipeline.facts.RunFacts`) as plain data."""
    _io.write_json(run_dir / STATE_FILE, {**state, "state": dict(state.get("state") or {})})


def first_state(recipe: Recipe, data, model, **extra: Any) -> dict:
    """The ``state.json`` a new run starts with."""
    state = {
        "edgeloop_run": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": recipe.to_dict(),
        "data": data.split_info(),
        "model_params": int(model.count_params()),
        "finished": [],
        "state": {},
        "warnings": [],
        "status": "running",
        "model_input_size": input_size(model),
    }
    state.update({k: v for k, v in extra.items() if v})
    return state


def check_split(data, recorded: dict, what: str, source: str | None = None) -> None:
    """The data splits as it did when the run (or search) was started.

    Keys recorded before a key was added to the split's description still match.

    Raises:
        EdgeloopError: another data set, or the same one split differently.
    """
    info = data.split_info()
    if {k: info.get(k) for k in recorded} != recorded:
        raise EdgeloopError(f"the data {source or data.source} is not what {what} was started with")


def input_size(model) -> list[int] | None:
    shape = model.input_shape
    return [int(shape[1]), int(shape[2])] if isinstance(shape, tuple) and len(shape) == 4 and None not in shape[1:3] else None


def load_run_data(recipe: Recipe, model_size=None):
    size = tuple(recipe.image_size) if recipe.image_size else None
    return load_data(recipe.data, val_fraction=recipe.val_fraction, seed=recipe.seed, image_size=size,
                     preprocess=recipe.preprocess, model_size=tuple(model_size) if model_size else None)


def load_recipe_model(recipe: Recipe, data):
    from edgeloop._tf import keras
    from edgeloop.models.io import refuse_layer_steps
    from edgeloop.models.loading import file_kind, load_any_model
    from edgeloop.pipeline.base import step_class, step_names  # the package registers every step first

    if str(recipe.model).endswith(".tflite"):  # a float file: post-training steps only
        from edgeloop.quant.tflite_model import load_float_tflite

        return load_float_tflite(recipe.model, [s.name for s in recipe.steps],
                                 data.sample_shape if data is not None else None)
    if data is not None and not data.labeled and recipe.model.startswith("zoo:"):
        raise EdgeloopError(f"a zoo model starts untrained and needs labelled data; {data.source} has no labels")
    needs_layers = [s.name for s in recipe.steps if not s.takes_any_model]
    take_any = [name for name in step_names() if step_class(name).takes_any_model]
    refuse_layer_steps(file_kind(recipe.model), recipe.model, needs_layers, take_any)  # before reading a Keras 3 file
    keras.utils.set_random_seed(recipe.seed)  # a zoo model's initial weights follow the seed too
    model = load_any_model(recipe.model, input_shape=data.sample_shape if data else None,
                           classes=data.classes if data else None, custom_objects=recipe.custom_objects)
    refuse_layer_steps(model, recipe.model, needs_layers, take_any)
    if data is not None:
        check_data(data, model, recipe.output)
    return model


def load_saved_model(run_dir: Path, name: str, recipe: Recipe, data):
    """A model a step saved in the run folder, its custom layers registered first and
    several inputs bound to the data's names again."""
    from edgeloop.models import load_model
    from edgeloop.models.io import check_model_data

    register_custom_objects(recipe)
    model = load_model(run_dir / name)
    if data is not None and data.input_names:
        check_model_data(data, model, recipe.output)
    return model


def register_custom_objects(recipe: Recipe) -> None:
    if recipe.custom_objects:
        from edgeloop.models.custom_objects import register

        register(recipe.custom_objects)


def check_data(data, model, output: str | None = None) -> None:
    """``data`` fits ``model``: sample shape, and labels against its outputs. Several inputs
    (or a named output) are bound by name (:func:`edgeloop.models.io.check_model_data`)."""
    from edgeloop.models.io import check_model_data, single_io

    if not single_io(model) or output:
        return check_model_data(data, model, output)
    output_shape = model.output_shape
    classes = output_shape[-1] if isinstance(output_shape, tuple) else None
    check_compatible(data, model.input_shape, classes)


def load_inputs(recipe: Recipe):
    if recipe.model.startswith("zoo:"):  # the zoo builds its model for the data
        data = load_run_data(recipe)
        return data, load_recipe_model(recipe, data)
    model = load_recipe_model(recipe, None)  # a model file: its input size sizes the images
    data = load_run_data(recipe, input_size(model))
    check_data(data, model, recipe.output)
    return data, model
