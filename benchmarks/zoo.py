"""Sections 1 and 3 for the model zoo: size and latency, float32 against int8, at reference size.

Every zoo architecture is built at its paper's reference configuration (random weights:
neither size nor latency depends on their values) and converted twice: plain float32 and
full int8 (calibrated on random samples, which sets scales only). Sizes are the files' raw
and gzipped bytes; the int8/float32 ratio is set beside the 4x that 32-bit to 8-bit weights
allow at most. Latency is LiteRT with XNNPACK at 1 and 2 threads, the two files timed one
right after the other; each timing has as many runs as fit in about a second and a half (at
least 10), and reports the median and p90.
"""

from __future__ import annotations

import gc
import time

import numpy as np

from benchmarks._common import Progress, table

QUICK_MODELS = ("resnet8", "ds_cnn", "vww_mobilenet_v1", "mobilenet_v2")
TIME_PER_TIMING_S = 1.5


def _runs_for(blob: bytes, threads: int) -> int:
    from edgeloop.device.benchmark import benchmark

    probe = benchmark(blob, threads=threads, warmup=1, runs=3).stats.median_ms
    return int(np.clip(TIME_PER_TIMING_S * 1000 / max(probe, 1e-3), 10, 300))


def _latency(blob: bytes, threads: int, quick: bool) -> dict:
    from edgeloop.device.benchmark import benchmark

    runs = 10 if quick else _runs_for(blob, threads)
    s = benchmark(blob, threads=threads, warmup=3, runs=runs).stats
    return {"runs": runs, "median_ms": s.median_ms, "p90_ms": s.p90_ms}


def run(quick: bool, progress: Progress) -> dict:
    """Convert every zoo model at its reference size both ways; size and time both files."""
    from edgeloop._quiet import native_stderr_silenced
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert
    from edgeloop.pipeline.convert import file_sizes
    from edgeloop.models import create
    from edgeloop.models.registry import get_spec, list_models

    names = [n for n in list_models() if get_spec(n).reference is not None and (not quick or n in QUICK_MODELS)]
    rows = {}
    for name in names:
        progress(f"zoo: {name} at its reference size")
        keras.utils.set_random_seed(0)
        model = create(name)
        shape = tuple(model.inputs[0].shape[1:])
        samples = np.random.default_rng(0).random((4, *shape), dtype=np.float32)
        started = time.perf_counter()
        with native_stderr_silenced():
            # int8 as edgeloop converts by default: hard-swish rewritten into ops XNNPACK runs in int8
            blobs = {"float32": convert(model, "float32"), "int8": convert(model, "int8", samples, hard_swish="rewrite")}
        seconds = time.perf_counter() - started
        params = int(model.count_params())
        del model
        gc.collect()
        row = {"reference": get_spec(name).reference.describe(), "params": params, "convert_seconds": seconds,
               "sizes": {k: file_sizes(b) for k, b in blobs.items()},
               "latency": {}}
        for threads in (1, 2):
            for kind in ("float32", "int8"):
                row["latency"][f"{kind}_{threads}"] = _latency(blobs[kind], threads, quick)
        rows[name] = row
    return {"models": rows}


def render_sizes(f: dict) -> str:
    """Section 1's zoo part."""
    rows = []
    for name, r in f["models"].items():
        fl, i8 = r["sizes"]["float32"], r["sizes"]["int8"]
        rows.append([name, r["reference"], f"{r['params'] / 1e6:.2f} M", f"{fl['bytes']:,}", f"{i8['bytes']:,}",
                     f"{fl['bytes'] / i8['bytes']:.2f}x", f"{fl['gzip_bytes']:,}", f"{i8['gzip_bytes']:,}",
                     f"{fl['gzip_bytes'] / i8['gzip_bytes']:.2f}x"])
    return ("Random weights at each paper's configuration (gzip level 9). The weights alone could shrink at most 4x "
            "from float32 to int8; flatbuffer structure, int32 biases and per-channel scales keep a file from "
            "reaching it.\n\n"
            + table(["model", "reference", "parameters", "float32 bytes", "int8 bytes", "float32/int8 raw",
                     "float32 gzipped", "int8 gzipped", "float32/int8 gzipped"], rows))


def render_latency(f: dict) -> str:
    """Section 3."""
    rows = []
    for name, r in f["models"].items():
        lat = r["latency"]
        cells = [name]
        for threads in (1, 2):
            fl, i8 = lat[f"float32_{threads}"], lat[f"int8_{threads}"]
            cells += [f"{fl['median_ms']:.3f} / {fl['p90_ms']:.3f}", f"{i8['median_ms']:.3f} / {i8['p90_ms']:.3f}",
                      f"{fl['median_ms'] / i8['median_ms']:.2f}x"]
        cells.append(f"{lat['int8_1']['runs']}-{max(v['runs'] for v in lat.values())}")
        rows.append(cells)
    return ("LiteRT with XNNPACK, random input; median / p90 in ms; speedup = float32 median / int8 median, the "
            "two files timed back to back. Runs per timing: as many as fit in ~1.5 s, at least 10.\n\n"
            + table(["model", "float32 1 thread", "int8 1 thread", "speedup", "float32 2 threads", "int8 2 threads",
                     "speedup", "runs"], rows))
