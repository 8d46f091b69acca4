"""``edgeloop bench``'s tables (rich, on stdout): devices side by side, per-op latencies,
the store's history and the regression gate's verdict."""

from __future__ import annotations

import datetime

from rich.console import Console
from rich.table import Table

from edgeloop.device.gate import GateResult
from edgeloop.host.latency import Measurement


def _ms(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def measurements(items: list[Measurement], console: Console | None = None) -> None:
    """Devices side by side (one column each): timings, spread, confidence interval, memory, delegate nodes."""
    console = console or Console()
    table = Table(title=items[0].result.model if items else None, title_justify="left")
    table.add_column("")
    for m in items:
        table.add_column(m.device, justify="right")
    rows: dict[str, list[str]] = {}
    for m in items:
        r, s = m.result, m.result.stats
        ci = "-" if not r.ci95_median_ms else f"{r.ci95_median_ms[0]:.4f}-{r.ci95_median_ms[1]:.4f}"
        for name, value in (
            ("runtime", r.runtime), ("delegate", r.delegate or "default"), ("init ms", _ms(r.init_ms, 2)),
            ("first inference ms", _ms(r.first_inference_ms, 4)), ("median ms", _ms(s.median_ms, 4)),
            ("median 95% CI ms", ci), ("min ms", _ms(s.min_ms, 4)), ("p90 ms", _ms(s.p90_ms, 4)),
            ("p99 ms", _ms(s.p99_ms, 4)), ("p99 / p50", _ms(s.tail_ratio, 2)), ("mean ms", _ms(s.mean_ms, 4)),
            ("std ms", _ms(s.std_ms, 4)), ("timed runs", f"{s.count} ({r.stop_reason or '-'})"),
            ("bare invoke() ms", _ms(r.bare_invoke_ms, 4)),
            ("same, second interpreter", _ms(r.second_interpreter_bare_ms, 4)), ("peak memory MB", _ms(r.peak_memory_mb, 1)),
            ("nodes per delegate", ", ".join(f"{k} {v}" for k, v in r.delegates.items()) or "-"),
            ("from", "latency store" if m.cached else "measured now"),
        ):
            rows.setdefault(name, []).append(value)
    for name, values in rows.items():
        table.add_row(name, *values)
    console.print(table)
    for m in items:
        for warning in m.result.warnings:
            console.print(f"[yellow]warning[/yellow] ({m.device}): {warning}", highlight=False)
        if m.result.op_profile:
            op_profile(m, console)


def op_profile(m: Measurement, console: Console) -> None:
    """Per-op latencies of one measurement, with how they were measured."""
    table = Table(title=f"{m.device}: per-op latency ({m.result.op_profile_method})", title_justify="left")
    for name in ("#", "op", "output", "median ms", "mean ms", "note"):
        table.add_column(name, justify="right" if name in ("#", "median ms", "mean ms") else "left")
    for row in m.result.op_profile:
        table.add_row(str(row["index"]), row["op"], row["output"][:60], _ms(row.get("median_ms"), 4),
                      _ms(row.get("mean_ms"), 4), row.get("error") or "")
    console.print(table)


def history(rows: list[dict], console: Console | None = None) -> None:
    """The store's measurements, newest first."""
    console = console or Console()
    table = Table(title="latency store", title_justify="left")
    for name in ("id", "when", "model", "device", "median ms", "95% CI ms", "runs"):
        table.add_column(name, justify="right" if name in ("id", "median ms", "runs") else "left")
    for row in rows:
        when = datetime.datetime.fromtimestamp(row["created_at"]).strftime("%Y-%m-%d %H:%M")
        ci = "-" if row["ci_low_ms"] is None else f"{row['ci_low_ms']:.4f}-{row['ci_high_ms']:.4f}"
        table.add_row(str(row["id"]), when, row["model"], row["device"], _ms(row["median_ms"], 4), ci, str(row["runs"]))
    console.print(table)


def gate(verdict: GateResult, device: str, console: Console | None = None) -> None:
    """The regression gate's verdict in three lines."""
    console = console or Console()
    console.print(f"{device}: old median {verdict.old_median_ms:.4f} ms, new median {verdict.new_median_ms:.4f} ms "
                  f"({verdict.samples[0]} and {verdict.samples[1]} timings, interleaved)", highlight=False)
    console.print(f"new / old = {verdict.ratio:.3f}, 95% interval {verdict.ci95[0]:.3f}-{verdict.ci95[1]:.3f}", highlight=False)
    console.print(("[green]PASS[/green]: " if verdict.passed else "[red]FAIL[/red]: ") + verdict.rule, highlight=False)
