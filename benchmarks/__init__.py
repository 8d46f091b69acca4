"""edgeloop's standing measurements: ``scripts/bench`` (``python -m benchmarks``) writes
``benchmarks/BENCHMARKS.md`` and ``benchmarks/results.json`` from one run.

Each section is a module with ``run(quick, progress) -> dict`` (the raw figures, JSON data)
and ``render(figures) -> str`` (its Markdown); a module also runs alone with
``python -m benchmarks.<name>``. Figures compared with each other are measured side by side
in the same run, and every figure names its unit, the number of runs and the spread;
absolute times are context only (the machine is shared).
"""
