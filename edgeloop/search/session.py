"""What one search holds while it runs: its folder and state, data, device, latency source, executor."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from edgeloop import _io
from edgeloop.errors import EdgeloopError
from edgeloop.search.candidates import DataSpec
from edgeloop.search.latency import LookupLatency, MeasuredLatency, Meter, PredictedLatency
from edgeloop.search.options import SearchOptions
from edgeloop.ui import Ui

STATE_FILE = "search.json"


@dataclass
class Session:
    """A search in progress.

    Attributes:
        folder: the search folder (every file of the search goes there).
        state: everything the search decided and measured (``search.json``).
        options: the search's options.
        data: the split data set.
        data_spec: how workers load the same split.
        meter: measures on the device.
        source: the latency estimates that steer the search.
        executor: where proposals are evaluated.
        ui: progress and messages.
        edgetpu_mode: ``off``, ``reject`` or ``penalize`` (``auto`` resolved).
    """

    folder: Path
    state: dict
    options: SearchOptions
    data: object
    data_spec: DataSpec
    meter: object
    source: object
    executor: object
    ui: Ui = field(default_factory=lambda: Ui(quiet=True))
    edgetpu_mode: str = "off"

    @property
    def is_zoo(self) -> bool:
        """The starting model comes from the zoo (untrained)."""
        return str(self.state["model"]).startswith("zoo:")

    def path(self, name: str) -> Path:
        """A path in the search folder."""
        return self.folder / name

    def save(self) -> None:
        """Write ``search.json`` atomically, with the measurements made so far."""
        self.state["measurements"] = self.meter.records
        _io.write_json(self.path(STATE_FILE), self.state)

    def seed_for(self, iteration: int, proposal: int) -> int:
        """A fine-tune's seed: fixed by the search's seed, the iteration and the proposal."""
        digest = hashlib.sha256(f"{self.options.seed}/{iteration}/{proposal}".encode()).digest()
        return int.from_bytes(digest[:4], "little") % (2**31 - 1)

    def step_for(self, group) -> int:
        """Filters a proposal removes at a time from ``group``."""
        if self.options.step:
            return self.options.step
        original = self.state["original"]["widths"].get(group.name, group.width)
        return max(1, original // 16)

    def save_weights_as(self, architecture, weights, name: str):
        """Save ``architecture`` carrying ``weights`` as ``name`` in the search folder; the model saved."""
        from edgeloop.models import save_model
        from edgeloop.search.candidates import rebuild

        from edgeloop._tf import keras

        model = rebuild(architecture.get_config(), isinstance(architecture, keras.Sequential), weights)
        save_model(model, self.path(name))
        return model


def new_session(folder: Path, ctx, options, device: str, budget: str) -> Session:
    """A new search in ``folder`` for a ``netadapt`` step of a run.

    Args:
        folder: the search's folder (inside the run folder).
        ctx: the run's context (data, seed, recipe, progress).
        options: the step's options (:class:`edgeloop.pipeline.netadapt.NetAdaptStepOptions`).
        device: where latency is measured (the step's, else the target's, else ``local``).
        budget: the budget resolved from the step's options or the recipe's target.
    """
    from edgeloop.pipeline.latency import store_path
    from edgeloop.search.options import NetAdaptOptions

    recipe = ctx.recipe
    store = options.store or store_path(ctx)
    data = ctx.data
    image_size = tuple(recipe.image_size) if recipe.image_size else None
    if image_size is None and Path(recipe.data).is_dir():  # an image folder resized to the model's input
        image_size = tuple(data.sample_shape[:2])
    spec = DataSpec(recipe.data, recipe.seed, recipe.val_fraction, image_size, recipe.preprocess)
    algorithm = {f: getattr(options, f) for f in NetAdaptOptions.__dataclass_fields__}
    search_options = SearchOptions(**{**algorithm, "budget": budget}, train_epochs=0, baseline_widths=[],
                                   seed=recipe.seed)
    state = {
        "edgeloop_search": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": "running",
        "model": recipe.model,
        "data": asdict(spec),
        "split": data.split_info(),
        "device": device,
        "token_file": str(Path(options.token_file).resolve()) if options.token_file else None,
        "store": str(Path(store).resolve()) if store else None,
        "fresh": options.fresh,
        "executor": options.executor,
        "options": asdict(search_options),
        "iterations": [],
        "measurements": {},
    }
    return open_session(folder, state, search_options, data, spec, ctx.ui)


def load_session(folder: Path, data, ui: Ui) -> Session:
    """The search in ``folder`` as its ``search.json`` left it, on the run's ``data``."""
    from edgeloop.pipeline.options import parse_options
    from edgeloop.pipeline.run_folder import check_split, read_json

    path = folder / STATE_FILE
    state = read_json(path, "search folder")
    try:
        options = parse_options(SearchOptions, state["options"], f"{path}: options")
        d = state["data"]
        spec = DataSpec(d["source"], d["seed"], d["val_fraction"], tuple(d["image_size"]) if d.get("image_size") else None,
                        d.get("preprocess"))
    except (ValueError, KeyError, TypeError) as exc:
        raise EdgeloopError(f"{path} is damaged: {exc}") from None
    check_split(data, state["split"], f"search {folder}", spec.source)
    session = open_session(folder, state, options, data, spec, ui)
    session.meter.records.update(state.get("measurements", {}))
    state["status"] = "running"
    state.pop("error", None)
    return session


def open_session(folder: Path, state: dict, options: SearchOptions, dataset, spec: DataSpec, ui: Ui) -> Session:
    """The session of ``state``: its device (through the latency store), latency source and executor."""
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
