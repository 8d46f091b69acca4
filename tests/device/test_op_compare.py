"""int8 against float32 op by op: partitions, what fell out of XNNPACK, the ops named with their layers.

The files, the interpreter's node lists and the op-profiled benchmarks are real; the
per-op times the verdict ranks are then set by hand (a deterministic meter), so no
assertion depends on how fast this machine is.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgeloop.cli import cli
from edgeloop.converters.tflite import convert
from edgeloop.device.benchmark import run_benchmark
from edgeloop.host.op_compare import compare, file_ops
from edgeloop.device.options import BenchmarkOptions
from edgeloop.device.stats import summarize

OPTIONS = BenchmarkOptions(runs=3, warmup=1, op_profiling=True, time_limit_s=600)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from hard_swish_models import zoo_spelling

    model = zoo_spelling()
    samples = np.random.default_rng(0).normal(0, 2, (8, 8, 8, 3)).astype(np.float32)
    folder = tmp_path_factory.mktemp("compare")
    out = {"int8": convert(model, "int8", samples, hard_swish="int8"), "float32": convert(model, "float32"),
           "fast": convert(model, "int8", samples, hard_swish="rewrite")}
    for name, blob in out.items():
        (folder / f"{name}.tflite").write_bytes(blob)
    return folder, out


def _metered(blob: bytes, slow: str | None):
    """A real op-profiled benchmark whose times are then fixed: 1 ms for ``slow`` ops, 0.1 ms for the rest."""
    result = run_benchmark(blob, OPTIONS)
    profile = [{**row, "median_ms": 1.0 if row["op"] == slow else 0.1} for row in result.op_profile]
    total = sum(row["median_ms"] for row in profile)
    return dataclasses.replace(result, op_profile=profile, stats=summarize([total] * 3))


def test_hard_swish_named_as_what_makes_int8_slower(files):
    _, blobs = files
    int8 = file_ops(blobs["int8"], _metered(blobs["int8"], "HARD_SWISH"), OPTIONS)
    float32 = file_ops(blobs["float32"], _metered(blobs["float32"], None), OPTIONS)
    c = compare(int8, float32)
    assert c["int8"]["partitions"] > c["float32"]["partitions"] == 1
    assert c["int8"]["not_delegated"] == {"HARD_SWISH": 2} and c["float32"]["not_delegated"] == {}
    assert c["int8"]["casts"] == {} and c["speed"] < 1
    worst = c["culprits"][0]
    assert worst["op"] == "HARD_SWISH" and worst["count"] == 2 and worst["extra_ms"] == pytest.approx(1.8)
    assert set(worst["layers"]) == {"conv_hswish", "fc_hswish"} and "hard_swish: rewrite" in worst["fix"]
    assert "fell out of XNNPACK" in worst["why"]
    assert any(line.startswith("HARD_SWISH x2") for line in c["lines"])


def test_the_rewritten_file_leaves_nothing_outside_xnnpack(files):
    _, blobs = files
    fast = file_ops(blobs["fast"], _metered(blobs["fast"], None), OPTIONS)
    assert fast["partitions"] == 1 and fast["not_delegated"] == {}
    assert "HARD_SWISH" not in {op["op"] for op in fast["ops"]}


def test_bench_compare_on_the_command_line(files, tmp_path):
    folder, _ = files
    result = CliRunner().invoke(cli, ["bench", str(folder / "int8.tflite"), "--compare", str(folder / "float32.tflite"),
                                      "--runs", "3", "--warmup", "1", "--store", str(tmp_path / "s.sqlite"), "--json"])
    assert result.exit_code == 0, result.output
    local = json.loads(result.output)["local"]
    assert local["int8"]["not_delegated"] == {"HARD_SWISH": 2}
    assert {row["op"] for row in local["by_op"]} >= {"CONV_2D", "HARD_SWISH", "FULLY_CONNECTED"}


def test_a_benchmark_step_with_op_profiling_compares_int8_with_its_float_baseline(ctx, make_tiny_cnn):
    from edgeloop.pipeline import build_step

    model = make_tiny_cnn()
    for name, options in (("convert", {}), ("benchmark", {"runs": 3, "warmup": 1, "op_profiling": True})):
        ctx.result = {}
        build_step(name, options, "test").apply(model, ctx)
    c = ctx.result["int8_vs_float32"]
    assert c["int8"]["partitions"] >= 1 and c["float32"]["partitions"] >= 1
    assert {row["op"] for row in c["by_op"]} >= {"CONV_2D", "FULLY_CONNECTED"}
    assert c["lines"][0].startswith("int8 ") and "XNNPACK partitions" in c["lines"][1]
