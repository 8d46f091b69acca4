"""edgeloop's benchmarks: each module has ``run(quick=False) -> dict`` (raw figures, JSON-able)
and ``render(figures) -> str`` (a Markdown section), and runs as ``python -m benchmarks.<name>``."""
