"""Start or resume a search: set up the session, run its phases, write the report.

Phases, each recorded in ``search.json`` when finished: the original model (trained if it
comes from the zoo, scored and measured converted), NetAdapt's iterations, the long-term
fine-tune of the chosen model, the width-multiplier baseline, the report.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from edgeloop.errors import EdgeloopError
from edgeloop.models.loading import parse_zoo_spec
from edgeloop.pipeline.options import parse_options
from edgeloop.search import netadapt
from edgeloop.search.baseline import run_baseline
from edgeloop.search.candidates import DataSpec
from edgeloop.search.latency import LookupLatency, MeasuredLatency, Meter, PredictedLatency
from edgeloop.search.options import SearchOptions
from edgeloop.search.report import write_report
from edgeloop.search.session import STATE_FILE, Session
from edgeloop.ui import Ui


def search(model: str, data: str, options: SearchOptions, device: str = "local", out: str | Path = "runs",
           executor: str = "sequential", ui: Ui | None = None, token_file: str | None = None,
           store: str | None = None, fresh: bool = False, preprocess: str | dict | None = None,
           force: bool = False) -> Session:
    """Search for the most accurate narrowing of ``model`` that meets the latency budget.

    Args:
        model: a model file, SavedModel folder or ``zoo:<name>?width=…``.
        data: ``digits``, a ``.npz`` or an image folder.
        options: the search's options.
        device: where latency is measured (``local``).
        out: the folder new search folders go into.
        executor: ``sequential``, ``ray`` or ``ray://HOST:PORT``.
        ui: progress and messages.
        token_file: the agent's token (``http://`` devices); its path is kept, never the token.
        store: the latency store's file (default: the user's cache folder).
        fresh: measure again what the store already holds.
        preprocess: how raw pixels become the model's input (see :mod:`edgeloop.preprocess`).
        force: go on when a model file fails the sanity check on the data (a zoo model
            starts untrained and is not checked).

    Returns:
        The finished session (``session.state`` is what ``search.json`` holds).
    """
    from edgeloop.pipeline.runner import new_run_dir

    ui = ui or Ui(quiet=True)
    from edgeloop.preprocess import Preprocess

    spec = DataSpec(str(data), options.seed,
                    preprocess=Preprocess.parse(preprocess, "--preprocess").to_dict() if preprocess else None)
    dataset = spec.load()
    keras_model = _load_model(model, dataset, options.seed)
    if not model.startswith("zoo:"):
        _sanity(keras_model, dataset, force, ui)
    name = parse_zoo_spec(model)[0] if model.startswith("zoo:") else Path(model).stem
    state = {
        "edgeloop_search": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": "running",
        "model": model,
        "data": asdict(spec),
        "split": dataset.split_info(),
        "device": device,
        "token_file": str(Path(token_file).resolve()) if token_file else None,
        "store": str(Path(store).resolve()) if store else None,
        "fresh": fresh,
        "executor": executor,
        "options": asdict(options),
        "iterations": [],
        "measurements": {},
    }
    # Device, store and executor first: a bad one is refused before any folder is made.
    session = _session(Path(), state, options, dataset, spec, ui)
    session.folder = new_run_dir(Path(out), f"search-{name}")
    return _phases(session, keras_model)


def resume(folder: str | Path, ui: Ui | None = None) -> Session:
    """Continue a search from its last finished phase or iteration, with its own settings."""
    folder = Path(folder)
    path = folder / STATE_FILE
    if not path.is_file():
        raise EdgeloopError(f"not a search folder (no {STATE_FILE}): {folder}")
    try:
        state = json.loads(path.read_text())
        options = parse_options(SearchOptions, state["options"], f"{path}: options")
        spec = DataSpec(state["data"]["source"], state["data"]["seed"], state["data"]["val_fraction"],
                        tuple(state["data"]["image_size"]) if state["data"].get("image_size") else None,
                        state["data"].get("preprocess"))
    except (ValueError, KeyError, TypeError) as exc:
        raise EdgeloopError(f"{path} is damaged: {exc}") from None
    dataset = spec.load()
    info = dataset.split_info()
    if {k: info.get(k) for k in state["split"]} != state["split"]:  # searches recorded before a key was added
        raise EdgeloopError(f"the data {spec.source} is not what search {folder} was started with")
    session = _session(folder, state, options, dataset, spec, ui or Ui(quiet=True))
    session.meter.records.update(state.get("measurements", {}))
    state["status"] = "running"
    state.pop("error", None)
    model = None if "original" in state else _load_model(state["model"], dataset, options.seed)
    return _phases(session, model)


def _session(folder: Path, state: dict, options: SearchOptions, dataset, spec: DataSpec, ui: Ui) -> Session:
    from edgeloop.device.agent import read_token
    from edgeloop.search.executors import make_executor

    token = read_token(state["token_file"]) if state.get("token_file") else None
    meter = Meter(state["device"], threads=options.threads, warmup=options.warmup, runs=options.runs, token=token,
                  store=state.get("store"), fresh=state.get("fresh", False))
    state["device_info"] = meter.info
    source = {"measure": lambda: MeasuredLatency(meter, dataset),
              "lut": lambda: LookupLatency(meter, dataset, (state.get("latency_source") or {}).get("table")),
              "predictor": lambda: PredictedLatency(meter, dataset, seed=options.seed)}[options.latency]()
    mode = options.edgetpu
    if mode == "auto":  # an Edge TPU device: a proposal that falls off the TPU is no proposal
        mode = "reject" if meter.has_edgetpu else "off"
    return Session(folder, state, options, dataset, spec, meter, source, make_executor(state["executor"]), ui, mode)


def _phases(s: Session, model) -> Session:
    from edgeloop.models import load_model

    try:
        netadapt.original_phase(s, model)
        s.source.prepare(load_model(s.path(s.state["original"]["model_file"])))
        s.state["latency_source"] = s.source.describe()
        netadapt.run_iterations(s)
        netadapt.finish(s)
        if s.options.baseline_widths:
            run_baseline(s)
        s.state["status"] = "finished"
    except BaseException as exc:
        s.state["status"] = "failed"
        s.state["error"] = str(exc) or type(exc).__name__
        raise
    finally:
        s.executor.close()
        s.save()
        if "original" in s.state:
            write_report(s)
    return s


def _sanity(model, dataset, force: bool, ui: Ui) -> None:
    """The float model on the data before any narrowing (see :mod:`edgeloop.pipeline.sanity`)."""
    from edgeloop.pipeline.sanity import SanityError, check_baseline

    result = check_baseline(model, dataset)
    if result["verdict"] != "ok":
        if not force:
            raise SanityError(result["message"])
        ui.warn(f"{result['message']} (--force: going on)")


def _load_model(spec: str, dataset, seed: int):
    from edgeloop._tf import keras
    from edgeloop.data import check_compatible
    from edgeloop.models import load_model

    if not dataset.labeled:
        raise EdgeloopError(f"the search scores proposals by accuracy: data {dataset.source} has no labels")
    keras.utils.set_random_seed(seed)
    model = load_model(spec, input_shape=dataset.sample_shape, classes=dataset.classes)
    check_compatible(dataset, model.input_shape, model.output_shape[-1])
    return model
