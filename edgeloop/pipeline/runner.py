"""Run a recipe: a new run folder, each step's model saved, resumable after any step.

The run folder holds ``recipe.yaml`` (the recipe as validated), ``state.json`` (the steps
finished so far, rewritten atomically after each), one ``NN_<step>.keras`` (a ``.savedmodel``
folder for QAT models) per step that changes the model, ``baseline.keras``, the ``.tflite`` files, and ``report.json`` /
``report.md``. Nothing in an existing run folder is overwritten except ``state.json`` and
the report, which a resumed run brings up to date, and the files of a step that was killed
before ``state.json`` recorded it, which the resumed run writes again.

A run can be killed at any point and resumed: every file is written whole or not at all
(a temp file or folder, then a rename), ``state.json`` names only files written whole,
and a resume removes the temp files a kill left behind. The named crash points
(:mod:`edgeloop._crash`) let tests kill a run at each boundary.

Before the first step that is not training, the float model is checked on the data
(:mod:`edgeloop.pipeline.sanity`): a model no better than chance stops the run with the
likely cause, unless forced. A step's failed *gate* (a check recorded with ``gate: true``,
e.g. ``evaluate``'s accuracy drop) does not stop the run: the later steps run and the
run's status is ``gate_failed``, naming the gates in ``failed_gates``.
"""

from __future__ import annotations

import errno
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from edgeloop import _io
from edgeloop._crash import crash_point, phase
from edgeloop.data import check_compatible, load_data
from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.base import Context
from edgeloop.pipeline.measure import measure
from edgeloop.recipe import Recipe, from_dict
from edgeloop.ui import Ui

STATE_FILE = "state.json"
RECIPE_FILE = "recipe.yaml"


@dataclass
class RunResult:
    """Where a run went and what it reported."""

    run_dir: Path
    report: dict


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


def run(recipe: Recipe, out: Path | str = "runs", ui: Ui | None = None, force: bool = False) -> RunResult:
    """Run ``recipe`` from its first step in a new run folder under ``out``.

    ``force`` goes on past a float model that fails the sanity check (with a warning).
    """
    ui = ui or Ui(quiet=True)
    data, model = _load_inputs(recipe)
    _check_labels_needed(recipe, data)
    model, flattened = _flatten(model, ui)
    _preflight(recipe.steps, model, data, {}, 1, ui)
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
        "model_input_size": _input_size(model),
    }
    if flattened:
        state["flattened"] = flattened
    if data.notes:
        state["data_notes"] = list(data.notes)
    phase("start")
    run_dir = new_run_dir(Path(out), recipe.name, {
        STATE_FILE: _io.json_bytes(state),
        RECIPE_FILE: yaml.safe_dump(recipe.to_dict(), sort_keys=False).encode("utf-8"),
    })
    crash_point("created")
    return _execute(recipe, state, run_dir, data, model, ui, force)


def resume(run_dir: Path | str, ui: Ui | None = None, force: bool = False) -> RunResult:
    """Continue a run after its last finished step, with the recipe it was started with."""
    from edgeloop.models import load_model

    ui = ui or Ui(quiet=True)
    run_dir = Path(run_dir)
    state_path = run_dir / STATE_FILE
    if not state_path.is_file():
        raise EdgeloopError(f"not a run folder (no {STATE_FILE}): {run_dir}")
    try:
        state = json.loads(state_path.read_text())
        recipe = from_dict(state["recipe"], source=str(run_dir / RECIPE_FILE))
    except (ValueError, KeyError, TypeError) as exc:
        raise EdgeloopError(f"{state_path} is damaged: {exc}") from None
    debris = _io.remove_temp_files(run_dir)  # what a kill in the middle of a write left
    if debris:
        ui.info(f"removed {len(debris)} temp file(s) an interrupted write left: {', '.join(sorted(debris))}")
    data = _load_data(recipe, state.get("model_input_size"))
    info = data.split_info()
    if {k: info.get(k) for k in state["data"]} != state["data"]:  # runs recorded before a key was added still resume
        raise EdgeloopError(f"the data {recipe.data} is not what run {run_dir} was started with")
    done = state["finished"]
    saved = [entry["model_file"] for entry in done if entry.get("model_file")]
    if len(done) == len(recipe.steps):
        ui.info(f"all {len(done)} steps of {run_dir} are finished; report brought up to date")
        model = None  # nothing left to run: the report needs no model
    elif saved:
        from edgeloop.models.io import check_model_data

        _register_custom_objects(recipe)
        model = load_model(run_dir / saved[-1])
        if data.input_names:  # several inputs: bound to the model's names again
            check_model_data(data, model, recipe.output)
    else:
        model = _flatten(_load_model(recipe, data), ui)[0]
    _preflight(recipe.steps[len(done):], model, data, state["state"], len(done) + 1, ui)
    state["status"] = "running"
    state.pop("error", None)
    return _execute(recipe, state, run_dir, data, model, ui, force)


def _execute(recipe: Recipe, state: dict, run_dir: Path, data, model, ui: Ui, force: bool = False) -> RunResult:
    from edgeloop.models import model_suffix, save_model
    from edgeloop.report import write_report

    def warn(message: str) -> None:
        ui.warn(message)
        state["warnings"].append(message)

    ctx = Context(data=data, run_dir=run_dir, seed=recipe.seed, state=state["state"], progress=ui.progress, warn=warn,
                  output=recipe.output, fold_preprocessing=recipe.fold_preprocessing, target=recipe.target)
    first = len(state["finished"])
    try:
        for index, step in enumerate(recipe.steps[first:], first + 1):
            ui.info(f"[bold]step {index}/{len(recipe.steps)}[/bold] {step.name}")
            if step.name != "train" and "sanity" not in state:
                state["sanity"] = _sanity(model, data, recipe, force, warn)
            if step.compresses and "baseline_model" not in ctx.state:
                phase(f"step{index}:baseline")
                _keep_baseline(model, run_dir, ctx.state, save_model, model_suffix)
                _io.write_json(run_dir / STATE_FILE, state)
            phase(f"step{index}")
            ctx.result = {}
            started = time.perf_counter()
            model = step.apply(model, ctx)
            crash_point("applied")
            entry = {
                "index": index,
                "step": step.name,
                "options": step.describe()["options"],
                "seconds": round(time.perf_counter() - started, 3),
                "result": ctx.result,
                "model_file": None,
            }
            if step.changes_model:
                entry["model_file"] = f"{index:02d}_{step.name}{model_suffix(model)}"
                save_model(model, run_dir / entry["model_file"])
                entry["model_params"] = int(model.count_params())
                if recipe.measure_steps:
                    with ui.progress(f"measure after {step.name}", 1) as advance:
                        entry["measured"] = measure(model, ctx)
                        advance(1)
                    crash_point("measured")
            state["finished"].append(entry)
            _io.write_json(run_dir / STATE_FILE, state)
        state["failed_gates"] = failed_gates(state)
        state["status"] = "gate_failed" if state["failed_gates"] else "finished"
        if recipe.target is not None:
            from edgeloop.pipeline.target import check_target

            state["target"] = {"target": recipe.target.to_dict(), **check_target(recipe.target, state, run_dir)}
            if not state["target"]["met"] and state["status"] == "finished":
                state["status"] = "target_missed"
    except BaseException as exc:
        state["status"] = "failed"
        state["error"] = {"step": len(state["finished"]) + 1, "message": str(exc) or type(exc).__name__, "partial": ctx.result}
        raise
    finally:
        phase("finish")
        _io.write_json(run_dir / STATE_FILE, state)
        report = write_report(run_dir, state)
    return RunResult(run_dir, report)


def _keep_baseline(model, run_dir: Path, state: dict, save_model, model_suffix) -> None:
    """Save the model as it stands before the first compressing step, once per run.

    A run killed after the file was written but before ``state.json`` named it finds it
    on resume and keeps it: it is the very model, saved whole (the write is atomic), and
    the one a resumed run would save has lost what only the killed process held.
    """
    name = "baseline" + model_suffix(model)
    if not (run_dir / name).exists():
        save_model(model, run_dir / name)
    state["baseline_model"] = name


def _flatten(model, ui: Ui):
    """The model with nested models flattened into one graph (see :mod:`edgeloop.models.flatten`)."""
    from edgeloop.models.flatten import flatten_nested

    model, report = flatten_nested(model)
    if report["flattened"]:
        ui.info(f"flattened nested model(s) {', '.join(report['flattened'])} into one graph of {len(model.layers)} "
                f"layers (outputs equal within {report['max_difference']:.1g})")
    return model, report if report["flattened"] else None


def _preflight(steps, model, data, state: dict, start: int, ui: Ui) -> None:
    """Stop before any work when a step cannot run on this model (see :mod:`edgeloop.doctor`)."""
    from edgeloop.doctor.preflight import preflight

    if steps:
        with ui.progress("pre-flight", 1) as advance:
            preflight(steps, model, data, state, start)
            advance(1)


def failed_gates(state: dict) -> list[dict]:
    """The gates (checks recorded with ``gate: true``) that failed in the finished steps."""
    return [{"step": e["index"], "gate": c["name"], "detail": c["detail"]}
            for e in state["finished"] for c in e["result"].get("checks", []) if c.get("gate") and not c["passed"]]


def _sanity(model, data, recipe: Recipe, force: bool, warn) -> dict:
    from edgeloop.pipeline.sanity import SanityError, check_baseline

    if not data.labeled:
        return {"verdict": "no_labels", "message": "no labels: the float model's outputs are the reference"}
    output = model.output_shape
    if not (isinstance(output, tuple) and len(output) == 2 and (output[-1] or 0) > 1):
        return {"verdict": "not_a_classifier", "message": f"the model's output {output} is not one score per class: "
                "no accuracy to check"}
    result = check_baseline(model, data, recipe.expected_accuracy)
    if result["verdict"] != "ok":
        if not force:
            raise SanityError(result["message"])
        warn(f"{result['message']} (--force: going on)")
        result["forced"] = True
    return result


def _check_labels_needed(recipe: Recipe, data) -> None:
    if data.labeled:
        return
    needing = [s.name for s in recipe.steps if s.needs_labels]
    if needing:
        raise EdgeloopError(f"data {data.source} has no labels (images without class folders, or a .npz without y), "
                            f"but {', '.join(dict.fromkeys(needing))} needs them; without labels only convert, "
                            "evaluate, benchmark and compile run (the float model is the reference)")


def _input_size(model) -> list[int] | None:
    shape = model.input_shape
    return [int(shape[1]), int(shape[2])] if isinstance(shape, tuple) and len(shape) == 4 and None not in shape[1:3] else None


def _load_data(recipe: Recipe, model_size=None):
    size = tuple(recipe.image_size) if recipe.image_size else None
    return load_data(recipe.data, val_fraction=recipe.val_fraction, seed=recipe.seed, image_size=size,
                     preprocess=recipe.preprocess, model_size=tuple(model_size) if model_size else None)


def _load_model(recipe: Recipe, data):
    from edgeloop._tf import keras
    from edgeloop.models.io import refuse_layer_steps
    from edgeloop.models.loading import file_kind, load_any_model
    from edgeloop.pipeline import step_class, step_names

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


def _register_custom_objects(recipe: Recipe) -> None:
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


def _load_inputs(recipe: Recipe):
    if recipe.model.startswith("zoo:"):  # the zoo builds its model for the data
        data = _load_data(recipe)
        return data, _load_model(recipe, data)
    model = _load_model(recipe, None)  # a model file: its input size sizes the images
    data = _load_data(recipe, _input_size(model))
    check_data(data, model, recipe.output)
    return data, model
