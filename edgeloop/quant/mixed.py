"""Mixed precision under an accuracy budget (``convert: {mode: auto, max_drop: 0.5}``).

Start from full int8. While the converted model loses more than ``max_drop`` points against
the float model, try moving each of the ops the error report ranks worst one step up
(int8 -> int16 activations -> float), measure the converted model's accuracy, and keep the
move that buys the most accuracy per microsecond it costs; stop at the budget, or when no
move helps. Latency cost of a move is estimated from the op's MACs and per-MAC costs
measured on the whole model in each precision (timing every candidate would drown the
difference in noise). For an Edge TPU target every op off int8 also cuts the graph: the
cost is the ops the analyzer says fall to the CPU, and each move's record says so.

The public API for other searches is :func:`convert_with_precisions`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgeloop.converters import read_model
from edgeloop.quant.report import _layer, rank, tensor_errors

STEPS = {"int8": "int16", "int16": "float"}


@dataclass
class Move:
    """One accepted move and what it bought."""

    tensor: str
    layer: str
    precision: str
    accuracy: float
    gain_points: float
    est_cost_us: float
    bytes: int
    latency_us: float
    ops_off_edgetpu: int | None = None


@dataclass
class MixedResult:
    """What ``mode: auto`` ended with."""

    model: bytes
    precisions: dict[str, str]
    accuracy: float
    float_accuracy: float
    met_budget: bool
    moves: list[Move] = field(default_factory=list)
    start: dict = field(default_factory=dict)
    tried: int = 0

    def op_precisions(self) -> list[dict]:
        """Every op of the final file with its precision (int8, int16 or float)."""
        info = read_model(self.model)
        out = []
        for op in info.ops:
            if op.name in ("QUANTIZE", "DEQUANTIZE") or not op.outputs:
                continue
            t = info.tensors[op.outputs[0]]
            precision = {"int8": "int8", "uint8": "int8", "int16": "int16"}.get(t.dtype, "float")
            out.append({"op": op.name, "tensor": t.name, "layer": op.layer or _layer(t.name), "precision": precision})
        return out


def convert_with_precisions(float_model: bytes, samples: np.ndarray, precisions: dict[str, str],
                            io_type: str = "float32", qsvs: dict | None = None, **kwargs) -> bytes:
    """A float ``.tflite`` quantized to int8 except the ops named in ``precisions``.

    Args:
        float_model: the float file.
        samples: calibration samples.
        precisions: ``{op output tensor name: "int8" | "int16" | "float"}``.
        io_type: ``float32`` (an op at the edge may stay float) or ``int8``.
        qsvs: calibration results to reuse (``edgeloop.quant.litert.Quantized.qsvs``).
        **kwargs: more options of :func:`edgeloop.quant.litert.quantize_tflite`.

    Example:
        >>> blob = convert_with_precisions(f32, calib, {"model/head/Conv2D;": "int16"})  # doctest: +SKIP
    """
    from edgeloop.quant.litert import quantize_tflite

    return quantize_tflite(float_model, samples, "int8", io_type, precisions, qsvs=qsvs, **kwargs).model


def median_latency_us(model: bytes, runs: int = 60) -> float:
    """Median time of one invoke on this machine, one thread, in microseconds."""
    from edgeloop.device.interpreter import load_interpreter

    interpreter = load_interpreter(model, num_threads=1)
    inp = interpreter.get_input_details()[0]
    interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    for _ in range(5):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e6)


def ops_off_edgetpu(model: bytes) -> int:
    """Ops edgeloop's Edge TPU analyzer says run on the CPU: what an op off int8 costs there."""
    from edgeloop.converters.edgetpu.analyzer import analyze

    return analyze(read_model(model)).ops_on_cpu


def _accuracy(model: bytes, x: np.ndarray, y: np.ndarray) -> float:
    from edgeloop.device.interpreter import TFLiteModel

    return float(np.mean(np.argmax(TFLiteModel(model).predict(x), axis=-1) == y))


def _macs(float_model: bytes) -> dict[str, int]:
    info = read_model(float_model)
    return {info.tensors[op.outputs[0]].name: op.macs for op in info.ops if op.outputs}


def auto_mixed(float_model: bytes, samples: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, max_drop: float,
               io_type: str = "float32", candidates: int = 6, max_moves: int = 12, edgetpu: bool = False,
               progress: Callable[[str], None] | None = None, **kwargs) -> MixedResult:
    """Search per-op precisions until the converted model is within ``max_drop`` points of float.

    Args:
        float_model: the float ``.tflite``.
        samples: calibration samples.
        x_val, y_val: held-out samples and labels the accuracy is measured on.
        max_drop: the budget, in percentage points against the float file.
        io_type: I/O of the result (``float32`` lets an op at the edge stay float).
        candidates: ops of the error ranking tried each round.
        max_moves: most moves before giving up.
        edgetpu: cost moves by the ops they cut off the Edge TPU (the analyzer).
        progress: called with a line per round.
        **kwargs: more options of :func:`edgeloop.quant.litert.quantize_tflite`.
    """
    from edgeloop.quant.litert import quantize_tflite
    from edgeloop.quant.prepare import prepare

    say = progress or (lambda line: None)
    plain = prepare(float_model).model
    float_acc = _accuracy(plain, x_val, y_val)
    first = quantize_tflite(plain, samples, "int8", io_type, **kwargs)
    qsvs = first.qsvs
    macs = _macs(plain)
    lat_int8 = median_latency_us(first.model)
    lat_float = median_latency_us(plain)
    lat_int16 = median_latency_us(quantize_tflite(plain, samples, "int16x8", "float32").model)
    total_macs = max(sum(macs.values()), 1)
    per_mac = {"int8": lat_int8 / total_macs, "int16": lat_int16 / total_macs, "float": lat_float / total_macs}

    def cost_us(tensor: str, current: str, target: str) -> float:
        return max(macs.get(tensor, 0) * (per_mac[target] - per_mac[current]), 0.0) + 1.0  # 1 µs: the QUANTIZE pair

    cut = ops_off_edgetpu
    # With integer I/O the op writing a graph output must stay int8 (its type is the output's).
    info = read_model(plain)
    fixed = {info.tensors[i].name for i in info.outputs} if io_type != "float32" else set()
    precisions: dict[str, str] = {}
    model, acc = first.model, _accuracy(first.model, x_val, y_val)
    result = MixedResult(model, {}, acc, float_acc, False,
                         start={"accuracy": acc, "bytes": len(model), "latency_us": lat_int8,
                                "latency_float_us": lat_float, "latency_int16x8_us": lat_int16,
                                **({"ops_off_edgetpu": cut(model)} if edgetpu else {})})
    base_cut = cut(model) if edgetpu else 0
    def _best_move(tried):
        # The move among `tried` that buys the most accuracy per µs (None when none buys any).
        best = None
        for tensor in tried:
            current = precisions.get(tensor, "int8")
            target = STEPS[current]
            while target is not None:  # int16 first; float when int16 buys nothing
                trial = {**precisions, tensor: target}
                blob = convert_with_precisions(plain, samples, trial, io_type, qsvs, **kwargs)
                result.tried += 1
                trial_acc = _accuracy(blob, x_val, y_val) if blob != model else acc  # no int16 kernel: unchanged
                gain = (trial_acc - acc) * 100
                cost = cost_us(tensor, current, target)
                ops_cut = cut(blob) - base_cut if edgetpu else 0
                score = gain / (cost + (1000.0 * ops_cut if edgetpu else 0.0))
                if gain > 0 and (best is None or score > best[0]):
                    best = (score, tensor, target, trial, blob, trial_acc, cost, ops_cut)
                target = STEPS.get(target) if gain <= 0 else None
        return best

    while (float_acc - acc) * 100 > max_drop and len(result.moves) < max_moves:
        rows = rank(tensor_errors(plain, model, samples[:32]))
        ranked = [r["tensor"] for r in rows if precisions.get(r["tensor"], "int8") in STEPS and r["tensor"] not in fixed]
        best = None
        # The worst-ranked ops first, a chunk at a time; the next chunk only when none of these helps.
        for first_op in range(0, len(ranked), candidates):
            tried = ranked[first_op:first_op + candidates]
            best = _best_move(tried)
            if best is not None:
                break
        if best is None:
            say(f"auto: no move of the {len(ranked)} ops buys accuracy; stopping at {acc:.2%}")
            break
        _, tensor, target, trial, blob, trial_acc, cost, ops_cut = best
        precisions, model = trial, blob
        gain, acc = (trial_acc - acc) * 100, trial_acc
        move = Move(tensor, _layer(tensor), target, acc, gain, cost, len(blob), median_latency_us(blob),
                    (cut(blob) if edgetpu else None))
        result.moves.append(move)
        say(f"auto: {move.layer} -> {target}: {acc:.2%} ({gain:+.2f} points, ~{cost:.0f} µs)")
    result.model, result.precisions, result.accuracy = model, precisions, acc
    result.met_budget = (float_acc - acc) * 100 <= max_drop
    return result
