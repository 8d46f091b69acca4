"""The analyzer's prediction and the compiler's report as lines for the terminal."""

from __future__ import annotations

from edgeloop.converters.edgetpu.analyzer import AFTER_CUT, NOT_COMPILED, EdgeTpuAnalysis
from edgeloop.converters.edgetpu.log import CompilerReport

_MIB = 1024 * 1024


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / _MIB:.2f} MiB" if n >= _MIB // 10 else f"{n / 1024:.1f} KiB"


def analysis_lines(a: EdgeTpuAnalysis, name: str) -> list[str]:
    """A summary line, then the problems, the cut, every op, the memory and the fixes."""
    n = len(a.ops)
    flags = f"runtime {a.runtime_version}" + (", multiple subgraphs" if a.multiple_subgraphs else "")
    if a.fully_mapped:
        lines = [f"{name}: all {n} ops map to the Edge TPU in {a.subgraphs} subgraph ({flags})"]
    else:
        lines = [f"{name}: {a.ops_on_edgetpu} of {n} ops on the Edge TPU ({a.mapped_fraction:.0%}), {a.ops_on_cpu} on the CPU, "
                 f"{a.subgraphs} Edge TPU subgraph(s) ({flags})"]
    lines += [f"  problem: {p}" for p in a.problems]
    cut = a.first_unmapped
    after = sum(v.status == AFTER_CUT for v in a.ops)
    if cut is not None and not a.problems:
        tail = f"; the {after} op(s) after it run on the CPU too" if after else ""
        lines.append(f"  graph cut at {cut.where}: {cut.reason}{tail}")
    if a.problems and a.ops and all(v.status == NOT_COMPILED for v in a.ops):
        # The compiler refuses the whole file: one line, not one identical line per op.
        counts: dict[str, int] = {}
        for v in a.ops:
            counts[v.op] = counts.get(v.op, 0) + 1
        lines.append(f"    all {n} ops CPU  {NOT_COMPILED} (see the problem above): "
                     + ", ".join(f"{op} x{k}" for op, k in counts.items()))
    for v in a.ops if not (a.problems and all(v.status == NOT_COMPILED for v in a.ops)) else ():
        where = "TPU" if v.mapped else "CPU"
        layer = v.layer or "-"
        why = f"  ({v.reason})" if v.reason and v.status != AFTER_CUT else ""
        lines.append(f"    {v.index:>3} {v.op:<24} {layer:<18} {where}  {v.status}{why}")
        lines += [f"          warning: {w}" for w in v.warnings]
    cache = f"{a.cache_bytes / _MIB:.0f} MiB"
    if a.streamed_bytes:
        lines.append(f"  parameters on the TPU: {_size(a.parameter_bytes)}, over the {cache} cache: "
                     f"{_size(a.streamed_bytes)} streamed each inference")
    else:
        lines.append(f"  parameters on the TPU: {_size(a.parameter_bytes)} of the {cache} on-chip cache")
    lines += [f"  fix: {f}" for f in a.fixes]
    return lines


def report_lines(report: CompilerReport, files: list[str]) -> list[str]:
    """What the compiler did, in a few lines."""
    version = report.compiler_version or "?"
    # The compiler prints the per-device counts only when some ops stay on the CPU.
    on_tpu = report.ops_on_edgetpu if report.ops_on_edgetpu is not None else report.total_ops
    lines = [f"edgetpu_compiler {version}: {on_tpu if on_tpu is not None else '?'} op(s) on the Edge TPU, "
             f"{report.ops_on_cpu or 0} on the CPU, {report.edgetpu_subgraphs} Edge TPU subgraph(s), "
             f"compiled in {report.compile_ms} ms"]
    lines.append(f"  on-chip parameter cache used {_size(report.on_chip_bytes)}, "
                 f"off-chip streamed {_size(report.off_chip_bytes)}")
    for row in report.operators:
        lines.append(f"    {row.op:<24} {row.count:>4}  {row.status}")
    lines += [f"  wrote {f}" for f in files]
    return lines
