"""``netadapt``: narrow the model until it meets a latency budget measured on the device.

NetAdapt (:mod:`edgeloop.search.netadapt`) as a step of the run: each iteration removes the
fewest filters from each layer that meet a tightening latency target, fine-tunes and scores
every proposal converted to int8, measures it on the device and keeps the best; the chosen
model is fine-tuned longer and handed to the next step (prune, QAT, convert …)::

    target: {device: http://127.0.0.1:8470, latency_ms: 0.5}
    steps:
      - train: {epochs: 20}
      - netadapt: {short_epochs: 1}     # device and budget from the target
      - prune: {target_sparsity: 0.5}
      - qat: {epochs: 3}
      - convert: {mode: int8}
      - benchmark: {}

The device is the step's ``device``, else the recipe target's, else this machine; the
budget is the step's ``budget``, else the target's latency (``latency: 0.5x`` of the float
baseline measured on that device), else ``0.5x`` of the model's int8 latency. Everything
the search decides and measures is in ``<run>/netadapt/`` (``search.json`` rewritten after
every iteration, the search's report and ``pareto.png``); a run killed in the middle of the
step resumes it from its last finished iteration. Every latency goes through the latency
store. ``budget_met`` and ``accuracy_drop`` are gates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgeloop.pipeline.base import Context, Step, register_step
from edgeloop.search.options import NetAdaptOptions

FOLDER = "netadapt"
_DEVICE = re.compile(r"^(local|https?://.+|adb:.+)$")


@dataclass
class NetAdaptStepOptions(NetAdaptOptions):
    """Options of ``netadapt``: NetAdapt's (:class:`edgeloop.search.options.NetAdaptOptions`) and these.

    Attributes:
        budget: ``0.5x`` of the model's int8 latency, or ``2.5ms`` (default: the recipe
            target's latency, else ``0.5x``).
        device: where latency is measured: ``local``, ``http://HOST:PORT`` or
            ``adb:SERIAL`` (default: the recipe target's device, else ``local``).
        token_file: the agent's token (``http://`` devices); its path is kept, never the token.
        store: the latency store's file (default: the user's cache folder).
        fresh: measure again what the store already holds.
        executor: where proposals are fine-tuned: ``sequential``, ``ray`` (local) or
            ``ray://HOST:PORT``.
    """

    budget: str | None = None
    device: str | None = None
    token_file: str | None = None
    store: str | None = None
    fresh: bool = False
    executor: str = "sequential"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.device is not None and not _DEVICE.match(self.device):
            raise ValueError(f"unknown device {self.device!r}: use local, http://HOST:PORT (an edgeloop agent) or "
                             "adb:SERIAL")
        if self.executor not in ("sequential", "ray") and not self.executor.startswith("ray://"):
            raise ValueError(f"unknown executor {self.executor!r}: use sequential, ray or ray://HOST:PORT")


@register_step("netadapt", NetAdaptStepOptions, changes_model=True, compresses=True)
class NetAdapt(Step):
    """Narrow the model, layer by layer, to a latency budget measured on the device (NetAdapt)."""

    def apply(self, model, ctx: Context):
        from edgeloop.models import load_model
        from edgeloop.search.run import run_phases
        from edgeloop.search.session import load_session, new_session

        folder = ctx.path(FOLDER)
        if (folder / "search.json").is_file():  # a run killed in this step: go on from its last iteration
            s = load_session(folder, ctx.data, ctx.ui)
        else:
            folder.mkdir(exist_ok=True)
            o = self.options
            device = o.device or (ctx.target.device if ctx.target else None) or "local"
            s = new_session(folder, ctx, o, device, self._budget(model, ctx, device))
        ctx.state.netadapt = {"folder": FOLDER}
        run_phases(s, model, trained_epochs=ctx.state.trained_epochs or 0)
        final = s.state["final"]
        ctx.record(folder=FOLDER, budget_ms=s.state["budget_ms"], stopped=s.state["stopped"],
                   iterations=len(s.state["iterations"]), original=_head(s.state["original"]), final=_head(final),
                   checks=[{**c, "gate": True} for c in s.state["checks"]])
        return load_model(s.path(final["model_file"]))

    def _budget(self, model, ctx: Context, device: str) -> str:
        """The budget the search resolves: the step's, else the target's, else ``0.5x``."""
        o, target = self.options, ctx.target
        if o.budget is not None:
            return o.budget
        if target is None or not target.wants_latency:
            return "0.5x"
        if target.latency_ms is not None:
            return f"{target.latency_ms:.6f}ms"
        # The target's 0.5x is of the float baseline's latency on the device, as the final check reads it.
        from edgeloop.converters.tflite import convert
        from edgeloop.search.latency import Meter

        meter = Meter(device, threads=o.threads, warmup=o.warmup, runs=o.runs, token=_token(o.token_file),
                      store=o.store, fresh=o.fresh)
        float_ms = meter.median_ms(convert(ctx.baseline_model(model), mode="float32"))
        ctx.record(float_baseline_ms=float_ms)
        return f"{target.latency_ratio * float_ms:.6f}ms"


def _token(token_file: str | None) -> str | None:
    from edgeloop.device.agent import read_token

    return read_token(token_file) if token_file else None


def _head(entry: dict) -> dict:
    return {k: entry[k] for k in ("int8_accuracy", "latency_ms", "params") if k in entry}
