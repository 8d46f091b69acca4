"""Float activations of a ``.tflite`` model on samples: every tensor, as the interpreter computed it.

LiteRT keeps intermediate tensors only when asked (``experimental_preserve_all_tensors``);
XNNPACK is switched off so each tensor is the one the plain kernels wrote.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from edgeloop.device.interpreter import dequantize, interpreter_module, quantize


def _interpreter(model: bytes):
    from edgeloop._quiet import native_stderr_silenced

    module = interpreter_module()
    with native_stderr_silenced():
        interpreter = module.Interpreter(
            model_content=model, experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    return interpreter


def activation_tensors(model: bytes) -> dict[str, dict]:
    """``{name: tensor detail}`` of the graph's input and every tensor an op writes (no constants)."""
    from edgeloop.converters import read_model

    info = read_model(model)
    constants = {t.name for t in info.tensors if t.is_constant}
    interpreter = _interpreter(model)
    out = {}
    for d in interpreter.get_tensor_details():
        if d["name"] in constants:
            continue
        try:
            interpreter.get_tensor(d["index"])
        except ValueError:
            continue  # tensors without data (optional operands)
        out[d["name"]] = d
    return out


def run_all(model: bytes, samples: np.ndarray, names: list[str] | None = None) -> Iterator[dict[str, np.ndarray]]:
    """For each sample, ``{tensor name: float values}`` of the activations (dequantized)."""
    interpreter = _interpreter(model)
    wanted = activation_tensors(model)
    if names is not None:
        wanted = {n: d for n, d in wanted.items() if n in set(names)}
    inp = interpreter.get_input_details()[0]
    for sample in samples:
        interpreter.set_tensor(inp["index"], quantize(np.asarray(sample, np.float32)[None, ...], inp))
        interpreter.invoke()
        yield {n: dequantize(interpreter.get_tensor(d["index"]), d) for n, d in wanted.items()}


def extremes(model: bytes, samples: np.ndarray, names: list[str]) -> dict[str, tuple[float, float]]:
    """The smallest and largest value of each named tensor over all the samples."""
    lo = {n: np.inf for n in names}
    hi = {n: -np.inf for n in names}
    for values in run_all(model, samples, names):
        for n, v in values.items():
            lo[n] = min(lo[n], float(v.min()))
            hi[n] = max(hi[n], float(v.max()))
    return {n: (lo[n], hi[n]) for n in names if np.isfinite(lo[n])}


def histograms(model: bytes, samples: np.ndarray, bounds: dict[str, tuple[float, float]], bins: int = 2048,
               progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """Histogram of each named tensor's values over its ``(min, max)``, summed over the samples."""
    hists = {n: np.zeros(bins, np.int64) for n in bounds}
    for i, values in enumerate(run_all(model, samples, list(bounds)), 1):
        for n, v in values.items():
            lo, hi = bounds[n]
            if hi > lo:
                hists[n] += np.histogram(v, bins=bins, range=(lo, hi))[0]
        if progress:
            progress(i, len(samples))
    return hists


def run_outputs(model: bytes, samples: np.ndarray) -> list[np.ndarray]:
    """Every output of ``model`` on each sample, dequantized: one ``(N, …)`` array per output."""
    from edgeloop.device.interpreter import load_interpreter

    interpreter = load_interpreter(model)
    inp = interpreter.get_input_details()[0]
    outs = interpreter.get_output_details()
    results: list[list[np.ndarray]] = [[] for _ in outs]
    for sample in samples:
        interpreter.set_tensor(inp["index"], quantize(np.asarray(sample, np.float32)[None, ...], inp))
        interpreter.invoke()
        for k, d in enumerate(outs):
            results[k].append(dequantize(interpreter.get_tensor(d["index"]), d)[0])
    return [np.stack(r) for r in results]
