"""What every benchmark section shares: the machine's description, timing, spread, tables."""

from __future__ import annotations

import os
import platform
import statistics
import time
from contextlib import contextmanager
from importlib import metadata
from typing import Callable, Iterator, Sequence

from edgeloop.device.fingerprint import cpu_detail, cpu_model


def machine() -> dict:
    """CPU, cores, memory, OS and the versions of what runs the models."""
    mem_gib = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages * size / 2**30, 1)
    except (ValueError, OSError):
        pass
    versions = {}
    for package in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu_model(),
        "cpu_detail": cpu_detail(),
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
    }


@contextmanager
def timer() -> Iterator[dict]:
    """``with timer() as t: …`` then ``t["seconds"]``."""
    out: dict = {}
    started = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - started


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt_pm(values: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± std`` of ``values`` times ``scale`` (percent by default)."""
    m, s = mean_std(values)
    return f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (edgeloop's one writer), as one string."""
    from edgeloop.markdown import table as markdown_table

    return "\n".join(markdown_table(header, rows))


Progress = Callable[[str], None]
