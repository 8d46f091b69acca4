"""Where the quantization error comes from: every op's output, float against quantized.

Both files run on the same calibration samples with every intermediate tensor kept; each
op output of the quantized file is dequantized and compared with the float file's tensor
of the same name (the LiteRT quantizer keeps the names):

- ``snr_db`` / ``rel_rmse``: the error *accumulated* up to that tensor;
- ``lost_db``: how many dB of SNR the op itself loses, its output's SNR against the
  worst of its inputs' (an op that only carries the error forward loses ~0);
- ``layer``: the Keras layer the op came from (from the converter's tensor names).

The ops that lose the most are then quantized *alone* (every other op float, through the
LiteRT quantizer's per-op recipe): the model output's SNR and top-1 agreement with only
that op in int8 is the op's single-layer sensitivity.

This replaces TensorFlow's ``QuantizationDebugger`` for the report (``convert: {debug:
true}`` still uses it): the debugger needs the Keras model and TensorFlow's deprecated
interpreter, this works on any float ``.tflite`` and on the files edgeloop ships.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from edgeloop.converters import read_model
from edgeloop.converters.inspect import layer_name
from edgeloop.quant.activations import run_all
from edgeloop.quant.fidelity import output_fidelity

_SKIP = ("QUANTIZE", "DEQUANTIZE")


def _layer(name: str) -> str:
    return layer_name(name) if len(name.split(";")[0].split("/")) > 2 else name.split(";")[0]


def tensor_errors(float_model: bytes, quantized: bytes, samples: np.ndarray) -> list[dict]:
    """Per op output of ``quantized``, the error against ``float_model``, in execution order."""
    qinfo, finfo = read_model(quantized), read_model(float_model)
    float_names = {t.name for t in finfo.tensors}
    producer = qinfo.producer()

    def source(index: int) -> str:
        # A QUANTIZE (int8 <-> int16, float <-> int8) between two ops writes a tensor the float
        # file does not have: compare the tensor it was made from instead.
        for _ in range(4):
            t = qinfo.tensors[index]
            op = producer.get(index)
            if t.name in float_names or op is None or op.name not in _SKIP:
                return t.name
            index = op.inputs[0]
        return qinfo.tensors[index].name

    ops = []
    for op in qinfo.ops:
        if op.name in _SKIP or not op.outputs:
            continue
        out = qinfo.tensors[op.outputs[0]]
        if out.name not in float_names:
            continue
        ins = [source(i) for i in op.inputs if i >= 0 and not qinfo.tensors[i].is_constant]
        ops.append((op, out, ins))
    names = sorted({o.name for _, o, _ in ops} | {n for _, _, ins in ops for n in ins})
    sig = {n: 0.0 for n in names}
    noise = {n: 0.0 for n in names}
    for ref, q in zip(run_all(float_model, samples, names), run_all(quantized, samples, names)):
        for n in names:
            if n in ref and n in q and ref[n].shape == q[n].shape:
                sig[n] += float(np.sum(ref[n].astype(np.float64) ** 2))
                noise[n] += float(np.sum((ref[n].astype(np.float64) - q[n]) ** 2))

    def db(n: str) -> float:
        if n not in sig:
            return float("inf")
        if noise[n] == 0:
            return float("inf")
        return 10 * np.log10(sig[n] / noise[n]) if sig[n] else float("-inf")

    rows = []
    for op, out, ins in ops:
        acc = float(db(out.name))
        worst_in = min((db(n) for n in ins), default=float("inf"))
        lost = 0.0 if not np.isfinite(acc) else (acc if not np.isfinite(worst_in) else worst_in - acc)
        if not np.isfinite(worst_in) and np.isfinite(acc):
            lost = float("inf")  # the first quantized op: all of its error is its own
        rel = float(np.sqrt(noise[out.name] / sig[out.name])) if sig.get(out.name) else 0.0
        rows.append({"op_index": op.index, "op": op.name, "tensor": out.name, "layer": op.layer or _layer(out.name),
                     "dtype": out.dtype, "snr_db": acc, "rel_rmse": rel, "lost_db": float(lost)})
    return rows


def rank(rows: list[dict]) -> list[dict]:
    """Rows worst first: most SNR lost by the op itself, then least accumulated SNR."""
    def key(r):
        lost = r["lost_db"] if np.isfinite(r["lost_db"]) else 1e6
        return (-lost, r["snr_db"])

    return sorted(rows, key=key)


def single_layer_sensitivity(float_model: bytes, samples: np.ndarray, tensors: list[str], eval_x: np.ndarray,
                             quantize: Callable[..., bytes]) -> list[dict]:
    """Quantize one op at a time (every other op float): output fidelity against the float model.

    Args:
        quantize: ``quantize(precisions) -> bytes``, the same quantization with per-op overrides.
    """
    from edgeloop.device.interpreter import TFLiteModel

    info = read_model(float_model)
    others = [info.tensors[op.outputs[0]].name for op in info.ops if op.outputs]
    ref = TFLiteModel(float_model).predict(eval_x)
    out = []
    for tensor in tensors:
        precisions = {n: "float" for n in others if n != tensor}
        precisions[tensor] = "int8"
        model = quantize(precisions)
        fid = output_fidelity(ref, TFLiteModel(model).predict(eval_x))
        out.append({"tensor": tensor, "layer": _layer(tensor), "output_snr_db": fid["snr_db"],
                    "top1_agreement": fid["top1_agreement"]})
    return out


def plot(rows: list[dict], path: Path, title: str) -> Path:
    """Accumulated SNR per op in execution order, with the dB each op loses as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(rows))
    snr = [min(r["snr_db"], 80.0) for r in rows]
    lost = [min(max(r["lost_db"], 0.0), 80.0) if np.isfinite(r["lost_db"]) else 0.0 for r in rows]
    fig, ax = plt.subplots(figsize=(max(8, len(rows) * 0.18), 4.5), dpi=110)
    ax.plot(x, snr, "-o", ms=3, label="accumulated SNR (dB)")
    ax.bar(x, lost, color="tab:red", alpha=0.5, label="dB lost at this op")
    worst = rank(rows)[:5]
    for r in worst:
        i = next(k for k, row in enumerate(rows) if row is r)
        ax.annotate(r["layer"][:24], (i, snr[i]), fontsize=6, rotation=30, textcoords="offset points", xytext=(3, 5))
    ax.set_xlabel("op (execution order)")
    ax.set_ylabel("dB")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial.png")  # written whole, then renamed into place
    fig.savefig(partial)
    plt.close(fig)
    partial.replace(path)
    return path


def quant_report(float_model: bytes, quantized: bytes, samples: np.ndarray, eval_x: np.ndarray,
                 quantize: Callable[..., bytes] | None = None, worst: int = 3) -> dict:
    """The whole report: per-op errors (execution order and ranked), output fidelity, sensitivity.

    Args:
        float_model: the float ``.tflite``.
        quantized: the quantized ``.tflite`` made from it (same tensor names).
        samples: calibration samples the per-tensor errors are measured on.
        eval_x: samples the output fidelity and sensitivity are measured on.
        quantize: ``quantize(precisions) -> bytes`` for single-layer sensitivity (skipped when ``None``).
        worst: how many of the worst ops get a single-layer sensitivity.
    """
    from edgeloop.device.interpreter import TFLiteModel

    rows = tensor_errors(float_model, quantized, samples)
    ranked = rank(rows)
    fid = output_fidelity(TFLiteModel(float_model).predict(eval_x), TFLiteModel(quantized).predict(eval_x))
    sens = []
    if quantize is not None and worst:
        sens = single_layer_sensitivity(float_model, samples, [r["tensor"] for r in ranked[:worst]], eval_x, quantize)
    return {"output_fidelity": fid, "ops": rows, "ranked": [r["tensor"] for r in ranked], "sensitivity": sens}


def report_lines(report: dict, top: int = 10) -> list[str]:
    """The ranked table and the sensitivity, as text."""
    f = report["output_fidelity"]
    lines = [f"output: top-1 agreement {f['top1_agreement']:.2%}, SNR {f['snr_db']:.1f} dB, "
             f"mean |dp| {f['mean_abs_dprob']:.4f}, cosine {f['cosine']:.4f} ({f['samples']} samples)",
             f"{'rank':>4}  {'op':<18} {'layer':<28} {'SNR dB':>7} {'lost dB':>8} {'rel RMSE':>9}"]
    by_tensor = {r["tensor"]: r for r in report["ops"]}
    for i, t in enumerate(report["ranked"][:top], 1):
        r = by_tensor[t]
        lost = "first" if not np.isfinite(r["lost_db"]) else f"{r['lost_db']:.1f}"
        lines.append(f"{i:>4}  {r['op']:<18} {r['layer'][:28]:<28} {r['snr_db']:>7.1f} {lost:>8} {r['rel_rmse']:>9.4f}")
    if report["sensitivity"]:
        lines.append("single-layer sensitivity (only this op int8, every other op float):")
        for s in report["sensitivity"]:
            lines.append(f"      {s['layer'][:40]:<40} output SNR {s['output_snr_db']:.1f} dB, "
                         f"top-1 agreement {s['top1_agreement']:.2%}")
    return lines
