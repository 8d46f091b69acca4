"""Start or resume an automatic compression search in a folder, and choose its winner.

Phases, each recorded in ``autocompress.json`` when finished: the starting model saved
and measured converted to int8; the sensitivity analysis that seeds the first trials; the
study (:mod:`edgeloop.autocompress.study`); the winner's recipe written and run with the
longer fine-tune, and (``refine_front``) other trials of the front the same way; the hand
recipes and NetAdapt measured on the same device; every file timed again side by side
(:mod:`edgeloop.autocompress.sidebyside`); the report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeloop import _io
from edgeloop.autocompress.objective import Goal
from edgeloop.autocompress.options import AutocompressOptions
from edgeloop.autocompress.space import Space
from edgeloop.autocompress.trial import TrialJob, trial_recipe
from edgeloop.errors import EdgeloopError
from edgeloop.ui import Ui

STATE_FILE = "autocompress.json"
START_MODEL = "start.keras"
WINNER_RECIPE = "winner.yaml"
REFINED = "refined"


@dataclass(frozen=True)
class Aim:
    """The target as the search reads it: the recipe's ``target``, or the step's own keys.

    ``latency_ratio`` is a share of the float baseline's latency (the starting model as
    float32, on the same device), as the recipe's target means it.
    """

    device: str = "local"
    latency_ms: float | None = None
    latency_ratio: float | None = None
    size_kb: float | None = None
    edgetpu: bool = False
    from_target: bool = False

    def to_target(self) -> dict:
        """The recipe ``target`` the winner's recipe carries (checked when it is run)."""
        from edgeloop.pipeline.target import Target

        plain = Target(self.device, self.latency_ms, self.latency_ratio, self.size_kb, self.edgetpu).to_dict()
        return {"device": self.device, **plain}

    @classmethod
    def of(cls, target, options: AutocompressOptions) -> "Aim":
        """From a recipe's :class:`edgeloop.pipeline.target.Target` (``None``: the options)."""
        if target is not None:
            return cls(target.device or options.device, target.latency_ms, target.latency_ratio, target.size_kb,
                       bool(target.edgetpu), True)
        ms = ratio = None
        if options.latency:
            from edgeloop.search.objective import parse_budget

            budget = parse_budget(options.latency)
            ratio, ms = (budget.value, None) if budget.relative else (None, budget.value)
        return cls(options.device, ms, ratio, options.size_kb, False)


def autocompress(folder: Path, model, data, base: dict, options: AutocompressOptions, aim: Aim,
                 ui: Ui | None = None) -> dict:
    """Search ``model``'s compression policies in ``folder`` (resumed when it holds a search).

    Args:
        folder: the search's folder (created; an existing search there is continued).
        model: the trained starting Keras model (``None`` on a resume: it is in the folder).
        data: the split data set.
        base: the recipe keys every trial shares (``data``, ``seed``, ``val_fraction``,
            ``preprocess``…); ``model`` is set to the saved starting model.
        options: the search's options.
        aim: the target.
        ui: progress and messages.

    Returns:
        The state (``autocompress.json``): trials, the winner, comparisons, ``status``
        (``finished`` or ``target_missed``).
    """
    from edgeloop.autocompress import compare, report, study as studies
    from edgeloop.models import load_model, save_model

    ui = ui or Ui(quiet=True)
    folder = Path(folder).resolve()  # trials' run folders are recorded relative to it
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    state = json.loads(path.read_text()) if path.is_file() else {
        "edgeloop_autocompress": 1, "options": asdict(options), "aim": asdict(aim), "status": "running"}
    if not (folder / START_MODEL).exists():
        save_model(model, folder / START_MODEL)
    model = load_model(folder / START_MODEL)
    base = {**base, "model": str((folder / START_MODEL).resolve())}
    state["base"] = base
    _io.write_json(path, state)  # from here on the folder can be resumed
    meter = _meter(aim, options)
    state["device_info"] = meter.info
    if "start" not in state:
        state["start"] = _start(model, data, meter)
        _io.write_json(path, state)
    goal = Goal(options.objective, options.max_drop,
                aim.latency_ms or (aim.latency_ratio * state["start"]["float_latency_ms"] if aim.latency_ratio else None),
                aim.size_kb, aim.edgetpu, options.mnas_w, state["start"]["latency_ms"])
    state["goal"] = asdict(goal)
    space = Space.of(model, options.dimensions)
    state["space"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(space).items()}
    if "sensitivity" not in state:
        state["sensitivity"] = _sensitivity(model, data, options.max_drop) if options.seeds else {}
        _io.write_json(path, state)
    seeds = [space.neutral()] + space.seeds(state["sensitivity"], options.seeds)

    def job(number: int, params: dict) -> TrialJob:
        recipe = trial_recipe(base, f"trial-{number:03d}", space.steps(params, options.epochs, options.batch_size),
                              space.precisions(params), options.calibration_samples, options.max_drop)
        pruning = ({"storage": studies.storage_url(folder), "study": studies.STUDY_NAME}
                   if options.objective == "mnas" and options.pruner == "median" else None)
        return TrialJob(number, params, recipe, str(folder / "trials"), pruning)

    def measure(outcome) -> dict:
        return _figures(outcome, meter, goal, folder)

    study = studies.open_study(folder, goal, options.sampler, options.seed)
    ui.info(f"[bold]autocompress[/bold]: {options.trials} trials, {len(space.distributions())} parameters, "
            f"storage {studies.storage_url(folder)}")
    state["stopped_early"] = studies.run_trials(study, space, job, measure, goal, options, ui, seeds)
    state["trials"] = _trials(study, space, options)
    finished = [t["figures"] for t in state["trials"] if t.get("figures")]
    chosen = goal.best(finished)
    if chosen is None:
        state["status"] = "target_missed"
        state["chosen"] = None
        state["why"] = (f"no trial of {len(finished)} finished meets the target; closest misses: "
                        + "; ".join(f"trial {f['trial']}: {', '.join(goal.misses(f))}" for f in finished[:5]))
    else:
        state["chosen"] = {"trial": chosen["trial"], "why": goal.why(chosen, finished)}
        state["winner"] = state.get("winner") or _winner(folder, base, space, options, aim, goal, meter,
                                                         next(t for t in state["trials"] if t["number"] == chosen["trial"]))
        state["status"] = "target_missed" if state["winner"]["misses"] else "finished"
    _io.write_json(path, state)
    done = {r["trial"]: r for r in state.get("refined") or []}
    for number in to_refine(finished, state.get("chosen"), options.refine_front):
        if number not in done:
            ui.info(f"[bold]refine[/bold] trial {number} with {options.final_epochs} fine-tune epochs per technique")
            done[number] = _refine(folder, base, space, options, aim, goal, meter,
                                   next(t for t in state["trials"] if t["number"] == number))
            state["refined"] = list(done.values())
            _io.write_json(path, state)
    state["compare"] = compare.run_all(state.get("compare", []), folder, base, options, meter, goal, ui)
    _io.write_json(path, state)
    if options.side_by_side and not state.get("side_by_side"):
        from edgeloop.autocompress import sidebyside

        state["side_by_side"] = sidebyside.measure(sidebyside.files(folder, state), meter, options.side_by_side, ui)
        _io.write_json(path, state)
    report.write(folder, state)
    return state


def _meter(aim: Aim, options: AutocompressOptions):
    from edgeloop.device.agent import read_token
    from edgeloop.search.latency import Meter

    token = read_token(options.token_file) if options.token_file else None
    return Meter(aim.device, runs=options.runs, token=token, store=options.store)


def _start(model, data, meter) -> dict:
    """The starting model converted to int8 (calibrated like a trial), scored and measured."""
    import numpy as np

    from edgeloop.converters.tflite import convert
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.pipeline._training import keras_accuracy

    blob = convert(model, "int8", data.representative(min(100, len(data.y_train))))
    pred = TFLiteModel(blob).predict(data.x_val)
    return {"float_accuracy": keras_accuracy(model, data.x_val, data.y_val),
            "int8_accuracy": float(np.mean(np.argmax(pred, -1) == data.y_val)),
            "latency_ms": meter.median_ms(blob), "float_latency_ms": meter.median_ms(convert(model, "float32")),
            "params": int(model.count_params())}


def _sensitivity(model, data, budget: float) -> dict[str, float]:
    """Per prunable layer, the highest magnitude sparsity within ``budget`` points, no fine-tune
    (:mod:`edgeloop.pipeline.sensitivity`'s analysis, reused)."""
    from edgeloop.pipeline._sparsity import is_prunable, prunable_indices
    from edgeloop.pipeline._training import keras_accuracy
    from edgeloop.pipeline.sensitivity import choose_sparsities, magnitude_mask

    x, y = data.x_val, data.y_val
    baseline = keras_accuracy(model, x, y)
    curves = {}
    for layer in (layer for layer in model.layers if is_prunable(layer)):
        weights, kernels = layer.get_weights(), prunable_indices(layer)
        curves[layer.name] = {}
        for s in (0.3, 0.5, 0.7, 0.8, 0.9):
            layer.set_weights([magnitude_mask(w, s) if i in kernels else w for i, w in enumerate(weights)])
            curves[layer.name][s] = keras_accuracy(model, x, y)
        layer.set_weights(weights)
    return choose_sparsities(curves, baseline, budget)


def _figures(outcome, meter, goal: Goal, folder: Path) -> dict:
    """A finished trial's figures, its latency measured on the device."""
    figures = {
        "trial": outcome.number,
        "int8_accuracy": outcome.int8_accuracy,
        "float_accuracy": outcome.float_accuracy,
        "drop_points": 100 * (outcome.float_accuracy - outcome.int8_accuracy),
        "latency_ms": meter.median_ms(outcome.tflite),
        "size_kb": outcome.gzip_bytes / 1024,
        "raw_kb": outcome.size_bytes / 1024,
        "run_dir": str(Path(outcome.run_dir).resolve().relative_to(folder)),
        "seconds": round(outcome.seconds, 2),
    }
    if goal.edgetpu:
        from edgeloop.search.selection import edgetpu_verdict

        figures["edgetpu_mapped"] = edgetpu_verdict(outcome.tflite)["fully_mapped"]
    figures["misses"] = goal.misses(figures)
    if goal.objective == "mnas":
        figures["reward"] = goal.reward(figures)
    return figures


def _trials(study, space: Space, options) -> list[dict]:
    """Every trial's policy, steps and figures, in order."""
    out = []
    for t in study.trials:
        out.append({"number": t.number, "state": t.state.name, "seeded": bool(t.user_attrs.get("seeded")),
                    "aborted": bool(t.user_attrs.get("aborted")),
                    "params": t.params, "steps": space.steps(t.params, options.epochs, options.batch_size),
                    "precisions": space.precisions(t.params), "figures": t.user_attrs.get("figures"),
                    "error": t.user_attrs.get("error")})
    return out


def to_refine(finished: list[dict], chosen: dict | None, count: int) -> list[int]:
    """The trials rerun with the longer fine-tune besides the winner: up to ``count`` of the
    accuracy × latency front, spread evenly over its latencies (the chosen trial is the winner)."""
    import numpy as np

    from edgeloop.autocompress.objective import pareto_front

    front = [p["trial"] for p in pareto_front(finished, ("int8_accuracy", "latency_ms"))
             if not chosen or p["trial"] != chosen["trial"]]
    if count <= 0 or not front:
        return []
    if len(front) <= count:
        return front
    return [front[int(i)] for i in np.unique(np.round(np.linspace(0, len(front) - 1, count)))]


def _rerun_recipe(base: dict, space: Space, options, aim: Aim, trial: dict, name: str) -> dict:
    """A trial's policy as a recipe with the longer fine-tune, gated and timed like a user's run."""
    # The float baseline is timed too when the target is a share of its latency.
    benchmark = {"device": aim.device, "runs": options.runs, "baseline": aim.latency_ratio is not None}
    if options.token_file:
        benchmark["token_file"] = options.token_file
    recipe = trial_recipe(base, name, space.steps(trial["params"], options.final_epochs, options.batch_size),
                          space.precisions(trial["params"]), options.calibration_samples, options.max_drop, benchmark)
    if aim.latency_ratio is not None:
        next(s for s in recipe["steps"] if "convert" in s)["convert"]["baseline"] = True
    next(s for s in recipe["steps"] if "evaluate" in s)["evaluate"]["enforce"] = True  # the user's gate, as usual
    if aim.from_target:
        recipe["target"] = aim.to_target()
    return recipe


def _write_recipe(path: Path, recipe: dict, trial: dict, options) -> None:
    import yaml

    header = (f"# Written by edgeloop autocompress: trial {trial['number']}'s policy with {options.final_epochs} "
              f"fine-tune epochs per technique.\n# Run it again with: edgeloop optimize {path.name}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    _io.write_text(path, header + yaml.safe_dump(recipe, sort_keys=False))


def _winner(folder: Path, base: dict, space: Space, options, aim: Aim, goal: Goal, meter, trial: dict) -> dict:
    """Write the chosen policy as a recipe with the longer fine-tune, run it, measure it."""
    from edgeloop.autocompress.trial import run_trial

    recipe = _rerun_recipe(base, space, options, aim, trial, "autocompress-winner")
    _write_recipe(folder / WINNER_RECIPE, recipe, trial, options)
    outcome = run_trial(TrialJob(trial["number"], trial["params"], recipe, str(folder / "winner")))
    if not outcome.ok:
        raise EdgeloopError(f"the winner's recipe {folder / WINNER_RECIPE} failed: {outcome.error}")
    figures = _figures(outcome, meter, goal, folder)
    figures["recipe"] = WINNER_RECIPE
    return figures


def _refine(folder: Path, base: dict, space: Space, options, aim: Aim, goal: Goal, meter, trial: dict) -> dict:
    """A front trial rerun like the winner; its figures, or the error (the search goes on)."""
    from edgeloop.autocompress.trial import run_trial

    name = f"trial-{trial['number']:03d}"
    recipe = _rerun_recipe(base, space, options, aim, trial, f"autocompress-refined-{name}")
    path = folder / REFINED / f"{name}.yaml"
    _write_recipe(path, recipe, trial, options)
    outcome = run_trial(TrialJob(trial["number"], trial["params"], recipe, str(folder / REFINED)))
    relative = str(path.relative_to(folder))
    if not outcome.ok:
        return {"trial": trial["number"], "recipe": relative, "error": outcome.error}
    return {**_figures(outcome, meter, goal, folder), "recipe": relative}


def resume(folder: Path, ui: Ui | None = None) -> dict:
    """Continue the search in ``folder`` with its own options, target and data."""
    from edgeloop.data import load_data
    from edgeloop.pipeline.options import parse_options

    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise EdgeloopError(f"not an autocompress folder (no {STATE_FILE}): {folder}")
    try:
        state = json.loads(path.read_text())
        options = parse_options(AutocompressOptions, state["options"], f"{path}: options")
        aim, base = Aim(**state["aim"]), state["base"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EdgeloopError(f"{path} is damaged: {exc}") from None
    data = load_data(base["data"], val_fraction=base.get("val_fraction", 0.2), seed=base.get("seed", 0),
                     preprocess=base.get("preprocess"))
    return autocompress(Path(folder), None, data, base, options, aim, ui)
