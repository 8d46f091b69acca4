"""``convert: {mode: fastest, max_drop: 0.5}``: the fastest file that meets the accuracy budget.

Which conversion runs fastest depends on the device: on a CPU without int8 dot products a
full-int8 file can be slower than float32, on an ARM board or an Edge TPU int8 usually wins.
So nothing is assumed: the candidates are built (full int8 as the converter makes it, int8
with hard-swish rewritten, int8 with a float stem, dynamic range, float16, float32, and
mixed precision when no full-int8 file meets the budget), each is scored on the held-out
samples against the float model and timed on the target device through the latency store
(:class:`edgeloop.search.latency.Meter`: the recipe's ``target.device``, else this
machine), and the fastest one within ``max_drop`` points is kept. An Edge TPU target
(``target: {edgetpu: true}`` or ``convert: {edgetpu: true}``) takes full-int8 files only.
The report lists every candidate side by side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from edgeloop.errors import EdgeloopError

# Candidates a full-int8 target (the Edge TPU) accepts.
FULL_INT8 = ("int8", "int8_hard_swish_rewritten")


@dataclass
class Candidate:
    """One way to convert the model, and what it measured.

    Attributes:
        name: ``int8``, ``int8_hard_swish_rewritten``, ``int8_float_stem``, ``dynamic``,
            ``float16``, ``float32`` or ``mixed``.
        mode: the conversion mode the file is checked as (``int8``, ``dynamic`` …).
        io_type: its input / output type.
        blob: the file (``None`` when it could not be made).
        accuracy: top-1 on the held-out samples (``None`` without labels).
        drop_points: points lost against the float model (top-1 changes without labels).
        median_ms: median latency on the device.
        meets_budget: ``drop_points <= max_drop`` and the target accepts the file.
        error: why the candidate was not made or not considered.
    """

    name: str
    mode: str
    io_type: str
    blob: bytes | None = None
    accuracy: float | None = None
    drop_points: float | None = None
    median_ms: float | None = None
    meets_budget: bool = False
    error: str | None = None

    def row(self) -> dict:
        """What the report shows (everything but the bytes)."""
        out = {k: v for k, v in asdict(self).items() if k != "blob"}
        out["bytes"] = len(self.blob) if self.blob else None
        return out


def default_meter(ctx) -> Callable[[bytes], float]:
    """Median latency of a file on the recipe's target device (this machine without one), through the store."""
    from edgeloop.search.latency import Meter

    target = getattr(ctx, "target", None)
    meter = Meter(device=getattr(target, "device", None) or "local", threads=1, warmup=5, runs=50)
    return meter.median_ms


def build_candidates(model, representative: np.ndarray, full_int8_only: bool,
                     progress: Callable[[str], None] | None = None) -> list[Candidate]:
    """Every candidate file of ``model`` (a tf_keras model), made on ``representative`` samples."""
    from edgeloop.converters.float_stem import convert_float_stem, stem_tensor
    from edgeloop.converters.hard_swish import count_hard_swish
    from edgeloop.converters.tflite import convert

    say = progress or (lambda line: None)
    plans: list[tuple[str, str, str, Callable[[], bytes]]] = [
        ("int8", "int8", "int8", lambda: convert(model, "int8", representative, hard_swish="int8"))]
    if count_hard_swish(model):
        plans.append(("int8_hard_swish_rewritten", "int8", "int8",
                      lambda: convert(model, "int8", representative, hard_swish="rewrite")))
    if not full_int8_only:
        if stem_tensor(model) is not None:
            plans.append(("int8_float_stem", "int8", "float32", lambda: convert_float_stem(model, representative)))
        plans += [("dynamic", "dynamic", "float32", lambda: convert(model, "dynamic")),
                  ("float16", "float16", "float32", lambda: convert(model, "float16")),
                  ("float32", "float32", "float32", lambda: convert(model, "float32"))]
    out = []
    for name, mode, io_type, make in plans:
        say(f"candidate {name}")
        candidate = Candidate(name, mode, io_type)
        try:
            candidate.blob = make()
        except EdgeloopError as exc:  # ConversionError included: the others still compete
            candidate.error = str(exc)
        out.append(candidate)
    return out


def score(candidate: Candidate, x: np.ndarray, y: np.ndarray | None, reference: np.ndarray) -> None:
    """Fill ``accuracy`` and ``drop_points`` from the held-out samples (``reference``: the float model's outputs)."""
    from edgeloop.device.interpreter import TFLiteModel

    predicted = np.argmax(TFLiteModel(candidate.blob).predict(x), axis=-1)
    float_top1 = np.argmax(reference, axis=-1)
    if y is not None:
        candidate.accuracy = float(np.mean(predicted == y))
        candidate.drop_points = 100.0 * (float(np.mean(float_top1 == y)) - candidate.accuracy)
    else:
        candidate.drop_points = 100.0 * float(np.mean(predicted != float_top1))


def choose(candidates: list[Candidate], max_drop: float) -> Candidate | None:
    """The fastest measured candidate within ``max_drop`` points (``None`` if none is)."""
    for c in candidates:
        c.meets_budget = c.error is None and c.drop_points is not None and c.drop_points <= max_drop
    fit = [c for c in candidates if c.meets_budget and c.median_ms is not None]
    return min(fit, key=lambda c: c.median_ms) if fit else None


def check_chosen(chosen: Candidate) -> list:
    """The checks that make the kept file what its candidate says it is."""
    from edgeloop.converters import read_model, verify

    info = read_model(chosen.blob)
    checks = verify(info, mode=chosen.mode, io_type=chosen.io_type)
    if chosen.name in ("int8_float_stem", "mixed"):  # float ops on purpose: the stem, or the ops moved off int8
        checks = [c for c in checks if c.name != "int8_compute"]
    return checks


def fastest(model, ctx, max_drop: float, full_int8_only: bool, samples: int,
            meter: Callable[[bytes], float] | None = None) -> tuple[Candidate, list[Candidate]]:
    """Build, score and time the candidates; return the one kept and all of them.

    Raises:
        EdgeloopError: a model or data mode fastest cannot judge, or no candidate within
            the budget (the message lists what each lost).
    """
    from edgeloop.fidelity import is_class_scores

    data = ctx.data
    representative = data.representative(samples)
    if not isinstance(representative, np.ndarray) or len(model.inputs) != 1:
        raise EdgeloopError("mode fastest takes a model with one input")
    reference = model.predict(data.x_val, batch_size=256, verbose=0)
    if not isinstance(reference, np.ndarray) or not is_class_scores(reference):
        raise EdgeloopError("mode fastest judges accuracy as top-1 on class scores: this model's output is not one")
    y = data.y_val if data.labeled else None
    candidates = build_candidates(model, representative, full_int8_only)
    with ctx.progress(f"score and time {len(candidates)} candidates", len(candidates)) as advance:
        for c in candidates:
            if c.blob is not None:
                score(c, data.x_val, y, reference)
            advance(1)
    if not full_int8_only and not any(c.error is None and c.drop_points is not None and c.drop_points <= max_drop
                                      for c in candidates if c.name in FULL_INT8):
        candidates.append(_mixed(model, representative, data, y, max_drop, reference))
    meter = meter or default_meter(ctx)
    with ctx.progress(f"time {len(candidates)} candidates on the device", len(candidates)) as advance:
        for c in candidates:
            if c.blob is not None and c.error is None and c.drop_points is not None and c.drop_points <= max_drop:
                c.median_ms = float(meter(c.blob))  # over the budget: not worth the device's time
            advance(1)
    chosen = choose(candidates, max_drop)
    if chosen is None:
        lost = "; ".join(f"{c.name}: {c.error or f'{c.drop_points:.2f} points'}" for c in candidates)
        raise EdgeloopError(f"mode fastest: no candidate within max_drop {max_drop} points ({lost})")
    return chosen, candidates


def _mixed(model, representative, data, y, max_drop: float, reference) -> Candidate:
    """Mixed precision (ops moved off int8 until the budget is met, :mod:`edgeloop.quant.mixed`)."""
    from edgeloop.converters.hard_swish import rewrite_hard_swish
    from edgeloop.converters.tflite import convert

    candidate = Candidate("mixed", "int8", "float32")
    if y is None:
        candidate.error = "mixed precision measures accuracy: needs labels"
        return candidate
    try:
        from edgeloop.quant.mixed import auto_mixed

        float_blob = convert(rewrite_hard_swish(model, representative)[0], "float32")
        candidate.blob = auto_mixed(float_blob, representative, data.x_val, data.y_val, max_drop).model
        score(candidate, data.x_val, y, reference)
    except EdgeloopError as exc:
        candidate.error = str(exc)
    return candidate


def candidates_markdown(record: dict) -> list[str]:
    """The report's table of every candidate, the kept one in bold."""
    def cell(value, fmt):
        return "-" if value is None else format(value, fmt)

    lines = [f"## Fastest file within {record['max_drop']} points ({record['device']})", "",
             f"Kept: **{record['chosen']}**" + (" (full int8 only: Edge TPU target)" if record["full_int8_only"] else "")
             + ". A candidate over the budget is not timed.", "",
             "| candidate | mode | I/O | bytes | accuracy | drop (points) | median ms | within budget | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in record["candidates"]:
        name = f"**{c['name']}**" if c["name"] == record["chosen"] else c["name"]
        lines.append(f"| {name} | {c['mode']} | {c['io_type']} | {cell(c['bytes'], ',')} | {cell(c['accuracy'], '.2%')} "
                     f"| {cell(c['drop_points'], '.2f')} | {cell(c['median_ms'], '.4f')} | "
                     f"{'yes' if c['meets_budget'] else 'no'} | {(c['error'] or '')[:120]} |")
    return lines + [""]
