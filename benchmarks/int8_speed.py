"""Section 14: int8 against float32 at 1 thread, with the conversion fixes, and what mode fastest would keep.

Every zoo architecture at its reference configuration (random weights: latency does not
depend on their values) is converted to float32, to full int8 as the converter makes it
(``hard_swish: int8``), to full int8 with edgeloop's default fixes (hard-swish rewritten,
:mod:`edgeloop.converters.hard_swish`), to int8 with a float stem where the input has 1-3
channels, to dynamic range and to float16. The files are timed with LiteRT + XNNPACK at one
thread, interleaved: each round times every file once, one right after the other, and a
ratio is the median over the rounds of float32's median over the file's (above 1: faster
than float32). Where the int8 file with the fixes is still slower than float32, both files
are op-profiled and :mod:`edgeloop.host.op_compare` names the op types responsible. The
fastest file by latency is what ``mode: fastest`` keeps when every candidate meets the
accuracy budget (random weights have no accuracy to judge: that part is the tests').
"""

from __future__ import annotations

import gc

import numpy as np

from benchmarks._common import Progress, table

QUICK_MODELS = ("ds_cnn", "vww_mobilenet_v1", "mobilenet_v3_small")
TIME_PER_TIMING_S = 0.4
ROUNDS = 5
FILES = ("float32", "int8", "int8_fixed", "int8_float_stem", "dynamic", "float16")


def _runs_for(blob: bytes) -> int:
    from edgeloop.device.benchmark import benchmark

    probe = benchmark(blob, threads=1, warmup=1, runs=3).stats.median_ms
    return int(np.clip(TIME_PER_TIMING_S * 1000 / max(probe, 1e-3), 5, 200))


def _files(model, samples) -> dict[str, bytes]:
    from edgeloop._quiet import native_stderr_silenced
    from edgeloop.converters.float_stem import convert_float_stem, stem_tensor
    from edgeloop.converters.hard_swish import count_hard_swish
    from edgeloop.converters.tflite import convert

    with native_stderr_silenced():
        out = {"float32": convert(model, "float32"), "int8": convert(model, "int8", samples, hard_swish="int8")}
        if count_hard_swish(model):
            out["int8_fixed"] = convert(model, "int8", samples, hard_swish="rewrite")
        if stem_tensor(model) is not None:
            out["int8_float_stem"] = convert_float_stem(model, samples)
        out["dynamic"] = convert(model, "dynamic")
        out["float16"] = convert(model, "float16")
    return out


def _interleaved(blobs: dict[str, bytes], rounds: int, quick: bool) -> dict:
    from edgeloop.device.benchmark import benchmark

    runs = {k: 5 if quick else _runs_for(b) for k, b in blobs.items()}
    medians: dict[str, list[float]] = {k: [] for k in blobs}
    for _ in range(rounds):
        for k, b in blobs.items():
            medians[k].append(benchmark(b, threads=1, warmup=2, runs=runs[k]).stats.median_ms)
    ratios = {k: float(np.median(np.array(medians["float32"]) / np.array(v))) for k, v in medians.items()}
    return {"median_ms": {k: float(np.median(v)) for k, v in medians.items()}, "speed_vs_float32": ratios,
            "runs": runs, "rounds": rounds}


def _why(blobs: dict[str, bytes], key: str) -> dict:
    """The op comparison of the int8 file ``key`` against float32 (op-profiled, 1 thread)."""
    from edgeloop.device.benchmark import run_benchmark
    from edgeloop.host.op_compare import compare, file_ops
    from edgeloop.device.options import BenchmarkOptions

    options = BenchmarkOptions(threads=1, warmup=2, runs=20, op_profiling=True, time_limit_s=600)
    ops = {k: file_ops(blobs[k], run_benchmark(blobs[k], options), options) for k in (key, "float32")}
    c = compare(ops[key], ops["float32"])
    return {"lines": c["lines"], "culprits": [{k: v for k, v in x.items() if k != "layers"} | {"layers": x["layers"][:5]}
                                              for x in c["culprits"][:3]], "int8": c["int8"], "float32": c["float32"]}


def run(quick: bool, progress: Progress) -> dict:
    """Convert every zoo model six ways; time them interleaved; explain what stays slower than float32."""
    from edgeloop._tf import keras
    from edgeloop.models import create
    from edgeloop.models.registry import get_spec, list_models

    names = [n for n in list_models() if get_spec(n).reference is not None and (not quick or n in QUICK_MODELS)]
    rows = {}
    for name in names:
        progress(f"int8_speed: {name}")
        keras.utils.set_random_seed(0)
        model = create(name)
        shape = tuple(model.inputs[0].shape[1:])
        samples = np.random.default_rng(0).random((4, *shape), dtype=np.float32)
        blobs = _files(model, samples)
        del model
        gc.collect()
        row = {"reference": get_spec(name).reference.describe(), "bytes": {k: len(b) for k, b in blobs.items()},
               **_interleaved(blobs, 2 if quick else ROUNDS, quick)}
        fixed = "int8_fixed" if "int8_fixed" in blobs else "int8"
        row["int8_with_fixes"] = fixed
        speed = row["speed_vs_float32"]
        row["fastest"] = max(speed, key=speed.get)
        if speed[fixed] < 1.0:
            row["why"] = _why(blobs, fixed)
        rows[name] = row
    return {"models": rows, "threads": 1}


def render(f: dict) -> str:
    """Section 14."""
    rows, notes = [], []
    for name, r in f["models"].items():
        s, ms = r["speed_vs_float32"], r["median_ms"]
        fixed = r["int8_with_fixes"]

        def cell(key):
            return f"{s[key]:.2f}x" if key in s else "-"

        rows.append([name, r["reference"], f"{ms['float32']:.3f}", f"{ms['int8']:.3f}", cell("int8"),
                     f"{ms[fixed]:.3f}", f"**{s[fixed]:.2f}x**", cell("int8_float_stem"), cell("dynamic"),
                     cell("float16"), f"{r['fastest']} ({s[r['fastest']]:.2f}x)"])
        if r.get("why"):
            notes.append(f"- **{name}** ({fixed} at {s[fixed]:.2f}x float32): " + " ".join(
                f"{c['op']} x{c['count']} +{c['extra_ms']:.3f} ms ({c['why']})." for c in r["why"]["culprits"])
                + f" mode fastest keeps {r['fastest']} ({s[r['fastest']]:.2f}x float32).")
    text = ("LiteRT with XNNPACK, 1 thread, random input, each zoo model at its reference configuration. Speed = "
            "float32 median / the file's median, the median over rounds in which every file is timed once, one after "
            "the other. int8: the converter's full int8; int8 with fixes: edgeloop's default conversion (hard-swish "
            "rewritten; the same file as int8 where the model has none); float stem: the first convolution of a 1-3 "
            "channel input kept float. Fastest: what `mode: fastest` keeps when every candidate meets the accuracy "
            "budget.\n\n"
            + table(["model", "reference", "float32 ms", "int8 ms", "int8 speed", "int8 with fixes ms",
                     "int8 with fixes speed", "float stem", "dynamic", "float16", "fastest"], rows))
    if notes:
        text += "\n\nWhere int8 with the fixes is still slower than float32, op by op (edgeloop bench --compare):\n\n" \
            + "\n".join(notes)
    return text
