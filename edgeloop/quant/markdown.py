"""The accuracy-aware part of a run's ``report.md``: mixed precision moves, per-op error, transforms."""

from __future__ import annotations

import math

from edgeloop.markdown import table


def _db(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.1f}"


def quant_markdown(convert_result: dict) -> list[str]:
    """Markdown lines for what the ``convert`` step recorded through :mod:`edgeloop.quant` (none if nothing)."""
    out: list[str] = []
    if convert_result.get("float_transforms"):
        t = convert_result["float_transforms"]
        out += ["## Float-model transforms before conversion", "",
                f"Batch norms folded: {t['folded_batch_norms']}; equalized pairs: {len(t.get('equalized_pairs', []))}; "
                f"bias-corrected layers: {len(t.get('bias_corrected', []))}; AdaRound layers: {len(t.get('adarounded', []))}; "
                f"float accuracy after them: {t['transformed_float_accuracy']:.2%}.", ""]
    auto = convert_result.get("auto")
    if auto:
        start = auto["start"]
        verdict = "met" if auto["met_budget"] else "missed"
        out += ["## Mixed precision (mode auto)", "",
                f"Budget {auto['max_drop']} points against the float model's {auto['float_accuracy']:.2%}, measured on "
                f"{auto['measured_on']}: {verdict} at {auto['accuracy']:.2%} after {len(auto['moves'])} move(s) "
                f"({auto['candidates_tried']} candidates tried). Full int8 started at {start['accuracy']:.2%}, "
                f"{start['bytes']:,} bytes, {start['latency_us']:.0f} µs.", ""]
        if auto["moves"]:
            rows = [[m["layer"], m["precision"], f"{m['gain_points']:+.2f}", f"{m['accuracy']:.2%}", f"{m['bytes']:,}",
                     f"{m['latency_us']:.0f}", "" if m.get("ops_off_edgetpu") is None else str(m["ops_off_edgetpu"])]
                    for m in auto["moves"]]
            out += _table(["moved op (Keras layer)", "to", "points bought", "accuracy", "bytes", "median µs",
                           "ops off the Edge TPU"], rows)
        off = [o for o in auto["ops"] if o["precision"] != "int8"]
        out += [f"Final precisions: {len(auto['ops']) - len(off)} ops int8"
                + (", " + ", ".join(f"{o['layer']} {o['precision']}" for o in off) if off else "") + ".", ""]
    report = convert_result.get("quant_report")
    if report:
        f = report["output_fidelity"]
        by_tensor = {r["tensor"]: r for r in report["ops"]}
        out += ["## Where the quantization error comes from", "",
                f"Output against the float file: top-1 agreement {f['top1_agreement']:.2%}, SNR {_db(f['snr_db'])} dB. "
                f"Per op, worst first (![per-op SNR]({report.get('plot', 'quant_report.png')})):", ""]
        rows = []
        for t in report["ranked"][:10]:
            r = by_tensor[t]
            rows.append([r["op"], r["layer"], _db(r["snr_db"]), "first" if math.isinf(r["lost_db"]) else f"{r['lost_db']:.1f}",
                         f"{r['rel_rmse']:.4f}"])
        out += _table(["op", "Keras layer", "accumulated SNR dB", "dB lost here", "relative RMSE"], rows)
        for s in report.get("sensitivity", []):
            out += [f"- only {s['layer']} in int8: output SNR {_db(s['output_snr_db'])} dB, "
                    f"top-1 agreement {s['top1_agreement']:.2%}"]
        out += [""]
    return out


def _table(header: list[str], rows: list[list]) -> list[str]:
    return [*table(header, rows), ""]
