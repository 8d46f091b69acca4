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
run's status is ``gate_failed``, naming the gates in ``failed_gates``. After the last step
the recipe's ``target`` is checked (:mod:`edgeloop.pipeline.target`): missed, the status is
``target_missed`` (a failed gate is said first).

The run folder itself (new folder, ``state.json``, the split check, loading models) is
:mod:`edgeloop.pipeline.run_folder`; the facts steps leave each other are
:class:`edgeloop.pipeline.facts.RunFacts`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from edgeloop import _io
from edgeloop._crash import crash_point, phase
from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.base import Context
from edgeloop.pipeline.facts import RunFacts
from edgeloop.pipeline.measure import measure
from edgeloop.pipeline.run_folder import (  # noqa: F401  (STATE_FILE, RECIPE_FILE, new_run_dir, check_data: importable here too)
    RECIPE_FILE,
    STATE_FILE,
    check_data,
    check_split,
    first_state,
    load_inputs,
    load_recipe_model,
    load_run_data,
    load_saved_model,
    new_run_dir,
    read_state,
    write_state,
)
from edgeloop.recipe import Recipe
from edgeloop.ui import Ui


@dataclass
class RunResult:
    """Where a run went and what it reported."""

    run_dir: Path
    report: dict


def run(recipe: Recipe, out: Path | str = "runs", ui: Ui | None = None, force: bool = False) -> RunResult:
    """Run ``recipe`` from its first step in a new run folder under ``out``.

    ``force`` goes on past a float model that fails the sanity check (with a warning).
    """
    ui = ui or Ui(quiet=True)
    data, model = load_inputs(recipe)
    _check_labels_needed(recipe, data)
    model, flattened = _flatten(model, ui)
    _preflight(recipe.steps, model, data, {}, 1, ui)
    state = first_state(recipe, data, model, flattened=flattened, data_notes=list(data.notes))
    phase("start")
    run_dir = new_run_dir(Path(out), recipe.name, {
        STATE_FILE: _io.json_bytes(state),
        RECIPE_FILE: yaml.safe_dump(recipe.to_dict(), sort_keys=False).encode("utf-8"),
    })
    crash_point("created")
    return _execute(recipe, state, run_dir, data, model, ui, force)


def resume(run_dir: Path | str, ui: Ui | None = None, force: bool = False) -> RunResult:
    """Continue a run after its last finished step, with the recipe it was started with."""
    ui = ui or Ui(quiet=True)
    run_dir = Path(run_dir)
    state, recipe = read_state(run_dir)
    debris = _io.remove_temp_files(run_dir)  # what a kill in the middle of a write left
    if debris:
        ui.info(f"removed {len(debris)} temp file(s) an interrupted write left: {', '.join(sorted(debris))}")
    data = load_run_data(recipe, state.get("model_input_size"))
    check_split(data, state["data"], f"run {run_dir}", recipe.data)
    done = state["finished"]
    saved = [entry["model_file"] for entry in done if entry.get("model_file")]
    if len(done) == len(recipe.steps):
        ui.info(f"all {len(done)} steps of {run_dir} are finished; report brought up to date")
        model = None  # nothing left to run: the report needs no model
    elif saved:
        model = load_saved_model(run_dir, saved[-1], recipe, data)
    else:
        model = _flatten(load_recipe_model(recipe, data), ui)[0]
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

    state["state"] = RunFacts.from_dict(state["state"])  # typed; saved as plain data (run_folder.write_state)
    ctx = Context(data=data, run_dir=run_dir, seed=recipe.seed, state=state["state"], progress=ui.progress, warn=warn,
                  output=recipe.output, fold_preprocessing=recipe.fold_preprocessing, target=recipe.target,
                  recipe=recipe, ui=ui)
    first = len(state["finished"])
    try:
        for index, step in enumerate(recipe.steps[first:], first + 1):
            ui.info(f"[bold]step {index}/{len(recipe.steps)}[/bold] {step.name}")
            if step.name != "train" and "sanity" not in state:
                state["sanity"] = _sanity(model, data, recipe, force, warn)
            if step.compresses and ctx.state.baseline_model is None:
                phase(f"step{index}:baseline")
                _keep_baseline(model, run_dir, ctx.state, save_model, model_suffix)
                write_state(run_dir, state)
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
            write_state(run_dir, state)
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
        write_state(run_dir, state)
        report = write_report(run_dir, state)
    return RunResult(run_dir, report)


def _keep_baseline(model, run_dir: Path, state: RunFacts, save_model, model_suffix) -> None:
    """Save the model as it stands before the first compressing step, once per run.

    A run killed after the file was written but before ``state.json`` named it finds it
    on resume and keeps it: it is the very model, saved whole (the write is atomic), and
    the one a resumed run would save has lost what only the killed process held.
    """
    name = "baseline" + model_suffix(model)
    if not (run_dir / name).exists():
        save_model(model, run_dir / name)
    state.baseline_model = name


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


