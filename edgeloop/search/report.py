"""A search's ``report.json``, ``report.md`` and ``pareto.png``."""

from __future__ import annotations

import contextlib

from edgeloop import _io
from edgeloop.search.netadapt import points
from edgeloop.search.pareto import accuracy_at, pareto_front, plot, search_points

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PLOT = "pareto.png"


def summary(state: dict) -> dict:
    """The headline: budget, original vs final, estimate error, baseline at equal latency, checks."""
    out: dict = {"budget_ms": state.get("budget_ms"), "stopped": state.get("stopped"),
                 "iterations": len(state["iterations"])}
    original, final = state.get("original"), state.get("final")
    if original:
        out["original"] = {k: original[k] for k in ("int8_accuracy", "latency_ms", "params")}
    if final:
        out["final"] = {k: final[k] for k in ("int8_accuracy", "latency_ms", "estimated_ms", "estimate_error",
                                               "latency_ratio", "accuracy_drop_points", "params")}
        baseline = state.get("baseline") or []
        out["baseline_accuracy_at_final_latency"] = accuracy_at(baseline, final["latency_ms"]) if baseline else None
    out["checks"] = state.get("checks", [])
    return out


def write_report(s) -> dict:
    """Write the report files into the search folder; return the JSON's content."""
    state = s.state
    report = {"summary": summary(state), "pareto_front": pareto_front(search_points(state)), **state}
    _io.write_json(s.path(REPORT_JSON), report)
    if state.get("iterations") or state.get("final"):
        plot(state, s.path(PLOT))
    _io.write_text(s.path(REPORT_MD), markdown(state, report["summary"]))
    return report


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2%}"


def markdown(state: dict, head: dict) -> str:
    """The report as Markdown tables."""
    o = state["original"]
    lines = [
        f"# Search: {state['model']} on {state['data']['source']}, device {state['device']}",
        "",
        f"Status: **{state['status']}**. Budget {state['options']['budget']} = {state['budget_ms']:.4f} ms "
        f"(original {o['latency_ms']:.4f} ms, {_pct(o['int8_accuracy'])} int8). Latency source: "
        f"{state.get('latency_source', {}).get('source', state['options']['latency'])}; selection: "
        f"{state['options']['select']}; executor: {state['executor']}. Stopped: {state.get('stopped', '-')}.",
        "",
        "## Iterations",
        "",
        "| # | target ms | kept | filters | int8 accuracy | measured ms | proposals | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for it in state["iterations"]:
        best = next(p for p in it["proposals"] if p["group"] == it["chosen"])
        lines.append(f"| {it['iteration']} | {it['target_ms']:.4f} | {it['chosen']} | {best['width_from']} -> "
                     f"{best['width_to']} | {_pct(it['int8_accuracy'])} | {it['latency_ms']:.4f} | "
                     f"{len(it['proposals'])} | {it['seconds']:.0f} |")
    lines += ["", "### Every proposal", "", "| # | group | filters | estimated ms | measured ms | int8 accuracy | score | note |",
              "|---|---|---|---|---|---|---|---|"]
    for it in state["iterations"]:
        for p in it["proposals"]:
            note = "kept" if p["group"] == it["chosen"] else (p["rejected"] or "")
            lines.append(f"| {it['iteration']} | {p['group']} | {p['width_from']} -> {p['width_to']} | "
                         f"{p['estimated_ms']:.4f} | {p['measured_ms']:.4f} | {_pct(p['int8_accuracy'])} | "
                         f"{p['score']:.4f} | {note} |")
    f = state.get("final")
    if f:
        lines += ["", "## Result", "",
                  f"After {state['options']['long_epochs']} epochs of fine-tuning: int8 accuracy {_pct(f['int8_accuracy'])} "
                  f"({points(f['accuracy_drop_points'])} against the original), measured {f['latency_ms']:.4f} ms = "
                  f"{f['latency_ratio']:.2f}x the original, {f['params']} parameters.",
                  f"Latency estimated by the source: {f['estimated_ms']:.4f} ms vs measured {f['latency_ms']:.4f} ms "
                  f"({f['estimate_error']:+.1%})."]
    if state.get("baseline"):
        lines += ["", "## Pareto table (accuracy vs measured latency)", "", "| curve | model | measured ms | int8 accuracy |",
                  "|---|---|---|---|"]
        for p in pareto_front(search_points(state)):
            lines.append(f"| search | {p['label']} | {p['latency_ms']:.4f} | {_pct(p['int8_accuracy'])} |")
        for b in sorted(state["baseline"], key=lambda b: b["latency_ms"]):
            lines.append(f"| width multiplier | {b['width']:g}x ({b['how']}, {b['epochs']} epochs) | "
                         f"{b['latency_ms']:.4f} | {_pct(b['int8_accuracy'])} |")
        lines.append("")
        lines.append(f"Width-multiplier accuracy at the searched model's latency: "
                     f"{_pct(head.get('baseline_accuracy_at_final_latency'))}.")
    if state.get("checks"):
        lines += ["", "## Checks", ""]
        lines += [f"- {'pass' if c['passed'] else 'FAIL'} {c['name']}: {c['detail']}" for c in state["checks"]]
    if state.get("error"):
        lines += ["", f"**Error:** {state['error']}"]
    lines.append("")
    return "\n".join(lines)


@contextlib.contextmanager
def running(s):
    """Around a phase of a search: the status ``finished``, or ``failed`` with the error (which
    goes on); whatever happens the executor is closed, ``search.json`` saved and, once the
    original model is measured, the search's report written."""
    try:
        yield
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
