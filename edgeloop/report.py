"""``report.json`` and ``report.md`` for a run, built from its ``state.json``.

The JSON keeps every step's full results plus a ``summary`` of the figures a user checks
first; the Markdown shows the same as tables.
"""

from __future__ import annotations

from pathlib import Path

from edgeloop import __version__, _io
from edgeloop.markdown import table
from edgeloop.report_data import render_data, render_fidelity

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def _last(state: dict, step: str) -> dict | None:
    results = [e["result"] for e in state["finished"] if e["step"] == step]
    return results[-1] if results else None


def summarize(state: dict) -> dict:
    """The headline figures of a run: sizes, sparsity, accuracy, latency, checks."""
    summary: dict = {}
    convert = _last(state, "convert")
    if convert:
        sizes = {"model": convert["sizes"]}
        if convert.get("baseline"):
            base = convert["baseline"]["sizes"]
            sizes["baseline_float32"] = base
            summary["size_ratio_vs_baseline"] = {
                "raw": base["bytes"] / convert["sizes"]["bytes"],
                "gzip": base["gzip_bytes"] / convert["sizes"]["gzip_bytes"],
            }
        summary["sizes"] = sizes
        summary["mode"] = convert["mode"]
        if convert["weight_sparsity"]:
            # After pruning, the layers pruned (a depthwise kernel, never pruned, is not a shortfall).
            pruned = [n for n in ((state.get("state") or {}).get("pruned") or {}).get("layers", {})
                      if n in convert["weight_sparsity"]]
            summary["converted_sparsity_min"] = min(convert["weight_sparsity"][n] for n in pruned or convert["weight_sparsity"])
    evaluate = _last(state, "evaluate")
    if evaluate and "accuracy" in evaluate:
        summary["accuracy"] = evaluate["accuracy"]
        summary["accuracy_drop_points"] = evaluate["drop_points"]
    if evaluate and evaluate.get("fidelity"):
        summary["fidelity"] = evaluate["fidelity"]["converted_vs_float"]
    bench = _last(state, "benchmark")
    if bench:
        summary["latency_median_ms"] = {k: v["stats"]["median_ms"] for k, v in bench.items() if "stats" in v}
    checks = [c for e in state["finished"] for c in e["result"].get("checks", [])]
    failed_partial = (state.get("error") or {}).get("partial", {}).get("checks", [])
    checks += failed_partial
    summary["checks"] = {"passed": sum(c["passed"] for c in checks), "failed": [c["name"] for c in checks if not c["passed"]]}
    return summary


def write_report(run_dir: Path, state: dict) -> dict:
    """Write ``report.json`` and ``report.md`` into ``run_dir``; return the JSON's content."""
    report = {
        "edgeloop": __version__,
        "run_dir": str(run_dir),
        "status": state["status"],
        "error": state.get("error"),
        "recipe": state["recipe"],
        "data": state["data"],
        "model_params": state.get("model_params"),
        "flattened": state.get("flattened"),
        "summary": summarize(state),
        "steps": state["finished"],
        "warnings": state["warnings"],
        "failed_gates": state.get("failed_gates", []),
        "sanity": state.get("sanity"),
        "data_notes": state.get("data_notes", []),
        **({"target": state["target"]} if state.get("target") else {}),
    }
    _io.write_json(run_dir / REPORT_JSON, report)
    _io.write_text(run_dir / REPORT_MD, render_markdown(report))
    return report


_ACCURACY_LABELS = {
    "baseline_float": "float baseline (Keras, before compression)",
    "keras": "compressed model (Keras, before conversion)",
    "tflite_int8": "model.tflite (int8, LiteRT)",
    "tflite_baseline_float32": "baseline_float32.tflite (LiteRT)",
}


def _verdict(check: dict) -> str:
    if not check["passed"]:
        return "**FAIL** (gate)" if check.get("gate") else "**FAIL**"
    return "unresolved" if check.get("verdict") == "unresolved" else "pass"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def _table(header: list[str], rows: list[list]) -> list[str]:
    return [*table(header, rows), ""]


def render_markdown(report: dict) -> str:
    """The report as Markdown tables."""
    recipe, data, summary = report["recipe"], report["data"], report["summary"]
    out = [f"# edgeloop run: {recipe['name']}", ""]
    out.append(f"Status: **{report['status']}** · edgeloop {report['edgeloop']} · model `{recipe['model']}` "
               f"({report.get('model_params')} parameters)")
    out.append(f"Data: `{data['source']}`, {data['n_train']} train / {data['n_val']} validation samples, "
               f"split seed {data['seed']} (validation labels sha256 {data['val_labels_sha256']})")
    if report.get("flattened"):
        f = report["flattened"]
        out.append(f"Nested model(s) {', '.join(f['flattened'])} flattened into one graph before the first step "
                   f"(outputs equal within {f['max_difference']:.1g}).")
    out.append("")
    if report.get("error"):
        out += [f"**Failed at step {report['error']['step']}:** {report['error']['message']}", ""]
    for gate in report.get("failed_gates") or []:
        out += [f"**Gate failed at step {gate['step']} ({gate['gate']}):** {gate['detail']}", ""]
    if report.get("target"):
        from edgeloop.report_target import render_target

        out += render_target(report["target"])
    out += render_data(report)

    out += ["## Steps", ""]
    rows = []
    for e in report["steps"]:
        r = e["result"]
        acc = r.get("val_accuracy")
        rows.append([e["index"], e["step"], f"{e['seconds']:.1f}", e.get("model_params", ""),
                     f"{acc:.2%}" if acc is not None else "", e.get("model_file") or ""])
    out += _table(["#", "step", "seconds", "parameters", "val accuracy (Keras)", "saved model"], rows)

    measured = [e for e in report["steps"] if e.get("measured")]
    if measured:
        out += ["## What each step bought", "",
                "Each step's model converted to full int8 and measured on its own (calibrated on 100 "
                "training samples; accuracy on the validation split; median of 30 timed runs).", ""]
        rows = []
        for e in measured:
            m = e["measured"]
            if "error" in m:
                rows.append([e["index"], e["step"], m["params"], m["macs"], "", "", "", "", "", f"not convertible: {m['error']}"])
                continue
            sparsity, distinct = m["weight_sparsity"].values(), m["weight_unique_values"].values()
            rows.append([e["index"], e["step"], m["params"], m["macs"], m["int8_sizes"]["bytes"], m["int8_sizes"]["gzip_bytes"],
                         f"{max(sparsity, default=0):.1%}", max(distinct, default=""), f"{m['int8_accuracy']:.2%}",
                         f"{m['int8_latency_median_ms']:.4f}"])
        out += _table(["#", "step", "parameters", "MACs", "int8 bytes", "int8 gzipped", "max layer sparsity",
                       "max distinct values", "int8 accuracy", "int8 median ms"], rows)

    steps = {e["step"]: e["result"] for e in report["steps"]}
    if "sensitivity" in steps:
        sens = steps["sensitivity"]
        levels = sorted({float(k) for curve in sens["curves"].values() for k in curve})
        out += ["## Sensitivity", "",
                f"Validation accuracy with one layer pruned alone (no fine-tune); unpruned: "
                f"{sens['baseline_accuracy']:.2%}. Chosen: the highest sparsity within {sens['budget']} point(s).", ""]
        rows = [[layer, *[f"{curve[str(lv)]:.2%}" if str(lv) in curve else "" for lv in levels],
                 _pct(sens["chosen"].get(layer)) or "none"] for layer, curve in sens["curves"].items()]
        out += _table(["layer", *[f"{lv:.0%}" for lv in levels], "chosen"], rows)
        out += [f"![sensitivity curves]({sens['plot']})", ""]
    if "convert" in steps:
        c = steps["convert"]
        out += ["## Size", ""]
        rows = [[f"{c['file']} ({c['mode']})", c["sizes"]["bytes"], _kb(c["sizes"]["bytes"]), c["sizes"]["gzip_bytes"], _kb(c["sizes"]["gzip_bytes"])]]
        if c.get("baseline"):
            b = c["baseline"]
            rows.append([f"{b['file']} (unpruned float32 baseline)", b["sizes"]["bytes"], _kb(b["sizes"]["bytes"]),
                         b["sizes"]["gzip_bytes"], _kb(b["sizes"]["gzip_bytes"])])
        out += _table(["file", "bytes", "", "gzipped bytes", ""], rows)
        if "size_ratio_vs_baseline" in summary:
            ratio = summary["size_ratio_vs_baseline"]
            out += [f"Baseline / model: **{ratio['raw']:.2f}x** raw, **{ratio['gzip']:.2f}x** gzipped.", ""]
        out += ["## Sparsity", ""]
        keras_sparsity = steps.get("prune", {}).get("kernel_sparsity", {})
        in_file = c["weight_sparsity"]
        distinct = c.get("weight_unique_values", {})
        names = list(dict.fromkeys([*keras_sparsity, *in_file]))
        rows = [[n, _pct(keras_sparsity.get(n)), _pct(in_file.get(n)), distinct.get(n, "")] for n in names]
        out += _table(["layer", "sparsity after prune (Keras)", "sparsity in the converted file",
                       "distinct values in the file (per channel)"], rows)
        out += ["Ops: " + ", ".join(f"{k} x{v}" for k, v in c["ops"].items()), ""]
        if c.get("quantization_error"):
            out += ["## Quantization error per op", "", "RMSE of the int8 output against float, in quantization steps "
                    "(TensorFlow's QuantizationDebugger), worst first.", ""]
            out += _table(["op", "output tensor", "RMSE / scale"],
                          [[r["op"], r["tensor"], f"{r['rmse_over_scale']:.3f}"] for r in c["quantization_error"]])
        if c.get("selective"):
            sel = c["selective"]
            out += [f"Selective quantization kept {len(sel['kept_float'])} op(s) in float: "
                    f"{sel['selective_sizes']['bytes']} bytes against {sel['full_int8_sizes']['bytes']} fully int8; "
                    f"{sel['note']}.", ""]
        if c.get("fastest"):
            from edgeloop.pipeline.fastest import candidates_markdown

            out += candidates_markdown(c["fastest"])
        from edgeloop.quant.markdown import quant_markdown

        out += quant_markdown(c)

    if "evaluate" in steps:
        ev = steps["evaluate"]
        if "accuracy" in ev:
            out += ["## Accuracy", "", f"On the {ev['n_val']} held-out samples.", ""]
            out += _table(["model", "accuracy"], [[_ACCURACY_LABELS.get(k, k), f"{v:.2%}"] for k, v in ev["accuracy"].items()])
            out += [f"Converted vs float baseline: {-ev['drop_points']:+.2f} points.", ""]
        out += render_fidelity(ev)

    if "benchmark" in steps:
        out += ["## Latency (this machine, LiteRT)", ""]
        rows = []
        for key, b in steps["benchmark"].items():
            if "stats" not in b:
                continue
            s = b["stats"]
            delegates = ", ".join(f"{k}: {v}" for k, v in b.get("delegates", {}).items()) or "-"
            rows.append([key, b["threads"], f"{b['init_ms']:.2f}", f"{b['first_inference_ms']:.3f}", f"{s['min_ms']:.3f}",
                         f"{s['median_ms']:.3f}", f"{s['p90_ms']:.3f}", f"{s['p99_ms']:.3f}", f"{s['mean_ms']:.3f}",
                         f"{s['std_ms']:.3f}", s["count"], delegates])
        out += _table(["model", "threads", "init ms", "first ms", "min ms", "median ms", "p90 ms", "p99 ms", "mean ms",
                       "std ms", "runs", "nodes per delegate"], rows)
        if steps["benchmark"].get("int8_vs_float32"):
            out += ["### int8 against float32, op by op", ""]
            out += [f"- {line}" for line in steps["benchmark"]["int8_vs_float32"]["lines"]] + [""]

    checks = [c for e in report["steps"] for c in e["result"].get("checks", [])]
    checks += ((report.get("error") or {}).get("partial") or {}).get("checks", [])
    if checks:
        out += ["## Checks", ""]
        out += _table(["check", "result", "detail"], [[c["name"], _verdict(c), c["detail"]] for c in checks])
    if report["warnings"]:
        out += ["## Warnings", ""] + [f"- {w}" for w in report["warnings"]] + [""]
    return "\n".join(out)
