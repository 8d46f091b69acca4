"""Run a recipe: a new run folder, each step's model saved, resumable after any step.

The run folder holds ``recipe.yaml`` (the recipe as validated), ``state.json`` (the steps
finished so far, rewritten atomically after each), one ``NN_<step>.keras`` (a ``.savedmodel``
folder for QAT models) per step that changes the model, ``baseline.keras``, the ``.tflite`` files, and ``report.json`` /
``report.md``. Nothing in an existing run folder is overwritten except ``state.json`` and
the report, which a resumed run brings up to date.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from edgeloop import _io
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


def new_run_dir(out: Path, name: str) -> Path:
    """Create a fresh run folder ``<out>/<name>-<UTC time>``; never reuse one."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        candidate = out / (f"{name}-{stamp}" if n == 1 else f"{name}-{stamp}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise EdgeloopError(f"cannot create a new run folder in {out}")


def run(recipe: Recipe, out: Path | str = "runs", ui: Ui | None = None) -> RunResult:
    """Run ``recipe`` from its first step in a new run folder under ``out``."""
    ui = ui or Ui(quiet=True)
    data, model = _load_inputs(recipe)
    run_dir = new_run_dir(Path(out), recipe.name)
    _io.write_text(run_dir / RECIPE_FILE, yaml.safe_dump(recipe.to_dict(), sort_keys=False))
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
    }
    return _execute(recipe, state, run_dir, data, model, ui)


def resume(run_dir: Path | str, ui: Ui | None = None) -> RunResult:
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
    data = _load_data(recipe)
    if data.split_info() != state["data"]:
        raise EdgeloopError(f"the data {recipe.data} is not what run {run_dir} was started with")
    done = state["finished"]
    if len(done) == len(recipe.steps):
        ui.info(f"all {len(done)} steps of {run_dir} are finished; report brought up to date")
    saved = [entry["model_file"] for entry in done if entry.get("model_file")]
    if saved:
        model = load_model(run_dir / saved[-1])
    else:
        model = _load_model(recipe, data)
    state["status"] = "running"
    state.pop("error", None)
    return _execute(recipe, state, run_dir, data, model, ui)


def _execute(recipe: Recipe, state: dict, run_dir: Path, data, model, ui: Ui) -> RunResult:
    from edgeloop.models import model_suffix, save_model
    from edgeloop.report import write_report

    def warn(message: str) -> None:
        ui.warn(message)
        state["warnings"].append(message)

    ctx = Context(data=data, run_dir=run_dir, seed=recipe.seed, state=state["state"], progress=ui.progress, warn=warn)
    first = len(state["finished"])
    try:
        for index, step in enumerate(recipe.steps[first:], first + 1):
            ui.info(f"[bold]step {index}/{len(recipe.steps)}[/bold] {step.name}")
            if step.compresses and "baseline_model" not in ctx.state:
                baseline = "baseline" + model_suffix(model)
                save_model(model, run_dir / baseline)
                ctx.state["baseline_model"] = baseline
            ctx.result = {}
            started = time.perf_counter()
            model = step.apply(model, ctx)
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
            state["finished"].append(entry)
            _io.write_json(run_dir / STATE_FILE, state)
        state["status"] = "finished"
    except BaseException as exc:
        state["status"] = "failed"
        state["error"] = {"step": len(state["finished"]) + 1, "message": str(exc) or type(exc).__name__, "partial": ctx.result}
        raise
    finally:
        _io.write_json(run_dir / STATE_FILE, state)
        report = write_report(run_dir, state)
    return RunResult(run_dir, report)


def _load_data(recipe: Recipe):
    size = tuple(recipe.image_size) if recipe.image_size else None
    return load_data(recipe.data, val_fraction=recipe.val_fraction, seed=recipe.seed, image_size=size)


def _load_model(recipe: Recipe, data):
    from edgeloop._tf import keras
    from edgeloop.models import load_model

    if str(recipe.model).endswith(".tflite"):  # a float file: post-training steps only
        from edgeloop.quant.tflite_model import load_float_tflite

        return load_float_tflite(recipe.model, [s.name for s in recipe.steps], data.sample_shape)

    keras.utils.set_random_seed(recipe.seed)  # a zoo model's initial weights follow the seed too
    model = load_model(recipe.model, input_shape=data.sample_shape, classes=data.classes)
    output = model.output_shape
    classes = output[-1] if isinstance(output, tuple) else None
    check_compatible(data, model.input_shape, classes)
    return model


def _load_inputs(recipe: Recipe):
    data = _load_data(recipe)
    return data, _load_model(recipe, data)
