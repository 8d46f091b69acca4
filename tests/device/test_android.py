"""The Android backend: the parser on recorded real ``benchmark_model`` output, the adb runner
against a recorded phone, and the errors when adb or the phone is missing."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES
from edgeloop.host.android import AdbDevice, big_core_mask, to_result
from edgeloop.host.android_output import clean_lines, op_table, parse
from edgeloop.device.options import BenchmarkOptions
from edgeloop.errors import EdgeloopError


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_timings_memory_and_run_statistics():
    run = parse(_fixture("xnnpack999_raspberrypi_int8_xnnpack_took_nothing.txt"))
    assert (run.init_us, run.first_us, run.warmup_avg_us, run.inference_avg_us) == (18777, 64791, 57758.2, 55043.2)
    assert run.runs[0]["count"] == 9 and run.timed == {"count": 50, "first": 58154, "curr": 53809, "min": 53077,
                                                       "max": 60727, "avg": 55043.2, "std": 1562, "source": "runs"}
    assert (run.memory_init_mb, run.memory_overall_mb) == (8.97656, 18.7227)
    assert run.delegated == {} and run.op_rows == []


def test_newest_format_with_percentiles_and_node_counts():
    run = parse(_fixture("code_index_xnnpack_4threads.txt"))
    assert run.delegated == {"XNNPACK": 49} and run.total_nodes == 49
    assert run.timed["median"] == 576856 and run.timed["p95"] == 1373207
    result = to_result(run, BenchmarkOptions(threads=4), "m.tflite")
    assert result.stats.median_ms == pytest.approx(576.856) and result.stats.mean_ms == pytest.approx(699.438)
    assert result.stats.max_ms == pytest.approx(2270.688) and result.stats.p99_ms is None  # not printed: not invented
    assert result.delegates == {"XNNPACK": 49, "cpu": 0} and result.init_ms == pytest.approx(102.32)
    assert result.peak_memory_mb == pytest.approx(99.2031) and result.times_ms == [] and result.warnings == []


def test_a_delegate_that_takes_nothing_is_a_warning():
    gpu_and_nnapi = parse(_fixture("code_index_gpu_full_nnapi_not_executed.txt"))
    assert gpu_and_nnapi.delegated == {"GPU": 49} and gpu_and_nnapi.complete == ["GPU"]
    assert gpu_and_nnapi.not_executed == ["NNAPI"]
    result = to_result(gpu_and_nnapi, BenchmarkOptions(delegate="nnapi"), "m.tflite")
    assert any("NNAPI delegate was asked for but took no node" in w for w in result.warnings)

    pi = to_result(parse(_fixture("xnnpack999_raspberrypi_int8_xnnpack_took_nothing.txt")),
                   BenchmarkOptions(delegate="xnnpack"), "yolo.tflite")
    assert any("xnnpack delegate was asked for but the tool reports no node" in w for w in pi.warnings)

    full_gpu = to_result(parse(_fixture("tf43541_gpu_completely_executed.txt")), BenchmarkOptions(delegate="gpu"), "d.tflite")
    assert full_gpu.warnings == [] and full_gpu.stats.mean_ms == pytest.approx(119.375)


def test_logcat_output_and_partial_delegation():
    run = parse(_fixture("tf56301_logcat_nnapi_partially_executed.txt"))
    assert run.partial == {"NNAPI": 44} and run.inference_avg_us == 12167.6 and run.timed["count"] == 75
    result = to_result(run, BenchmarkOptions(delegate="nnapi"), "m.tflite")
    assert any("runs part of the graph (44 delegate kernels)" in w for w in result.warnings)


def test_a_run_cut_short_is_an_error_not_a_number():
    text = _fixture("tf56301_logcat_nnapi_not_executed_cut_short.txt")
    with pytest.raises(EdgeloopError, match="no inference timings"):
        parse(text)


def test_op_profiling_tables_in_both_layouts():
    readme = parse(_fixture("readme_mobilenet_v1_quant_op_profiling.txt"))
    assert readme.inference_avg_us == 79760.9 and readme.init_us == 38467 and readme.first_us is None
    assert readme.timed["source"] == "profiler" and readme.timed["count"] == 50
    rows = readme.op_rows
    assert len(rows) == 31 and [r["index"] for r in rows] == list(range(31))  # Run Order only, not Top by time
    assert rows[0] == {"index": 0, "op": "CONV_2D", "output": "MobilenetV1/MobilenetV1/Conv2d_0/Relu6", "first_ms": 4.269,
                       "mean_ms": 4.269, "median_ms": None, "percent": 0.107, "times_called": 0}
    assert rows[-1]["op"] == "SOFTMAX" and sum(r["op"] == "DEPTHWISE_CONV_2D" for r in rows) == 13

    table = op_table(clean_lines(_fixture("nnstretch_readme_hexagon_gpu_run_order.txt")))
    assert len(table) == 18 and table[3]["op"] == "TfLiteHexagonDelegate" and table[3]["index"] == 96
    assert table[-2]["output"] == "StatefulPartitionedCall:01" and table[-2]["index"] == 94
    assert table[1]["mean_ms"] == 3.640 and table[1]["percent"] == 16.512


def test_big_cores_mask():
    assert big_core_mask({c: 1900800 if c < 4 else 2457600 for c in range(8)}) == "f0"
    assert big_core_mask({0: 1800000, 1: 1800000, 2: 2400000, 3: 2400000, 4: 2400000, 5: 2400000, 6: 2400000, 7: 2800000}) == "80"
    assert big_core_mask({}) is None


@pytest.fixture
def recorded_phone(tmp_path, monkeypatch):
    """A folder with ``adb`` (the recorded-phone double) and a ``benchmark_model`` file to push."""
    adb = tmp_path / "adb"
    adb.write_text(f"#!{sys.executable}\n" + (Path(__file__).parent / "recorded_phone_adb.py").read_text())
    adb.chmod(0o755)
    tool = tmp_path / "benchmark_model"
    tool.write_bytes(b"\x7fELF benchmark_model built for arm64")
    log = tmp_path / "adb.log"
    monkeypatch.setenv("RECORDED_PHONE_LOG", str(log))
    monkeypatch.setenv("RECORDED_PHONE_SERIAL", "HT7A1A01234")
    monkeypatch.setenv("RECORDED_PHONE_OUTPUT", str(FIXTURES / "code_index_xnnpack_4threads.txt"))
    return adb, tool, log


def test_the_runner_pushes_pins_to_big_cores_and_parses(recorded_phone, trained_model_and_files):
    adb, tool, log = recorded_phone
    _, files = trained_model_and_files
    device = AdbDevice("HT7A1A01234", tool, adb=str(adb))
    result = device.benchmark(files["int8"], BenchmarkOptions(threads=4, warmup=3, runs=50, op_profiling=True))
    assert result.source == "adb" and result.device == "adb:HT7A1A01234" and result.stats.count == 50
    assert result.stats.median_ms == pytest.approx(576.856) and result.runtime == "benchmark_model"
    assert result.versions["android"] == "11" and result.versions["runtime"].startswith("benchmark_model ")
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    pushes = [c[3:] for c in calls if c[2] == "push"]
    assert [str(tool), "/data/local/tmp/edgeloop/benchmark_model"] in pushes
    assert any(dst.startswith("/data/local/tmp/edgeloop/") and dst.endswith(".tflite") for _, dst in pushes)
    run = next(c for c in calls if c[2] == "shell" and "taskset" in c)
    assert run[3:6] == ["taskset", "f0", "/data/local/tmp/edgeloop/benchmark_model"]
    assert {"--num_threads=4", "--warmup_runs=3", "--num_runs=50", "--enable_op_profiling=true"} <= set(run)
    assert any(a.startswith("--graph=/data/local/tmp/edgeloop/") for a in run)

    info = device.info()
    assert info["model"] == "Pixel 2" and info["big_cores"] == "f0" and info["cores"] == 8 and len(info["id"]) == 16


def test_an_unknown_serial_is_reported(recorded_phone, trained_model_and_files):
    adb, tool, _ = recorded_phone
    with pytest.raises(EdgeloopError, match="no Android device 'NOPE' attached .*not found"):
        AdbDevice("NOPE", tool, adb=str(adb)).benchmark(trained_model_and_files[1]["int8"], BenchmarkOptions())


def test_adb_absent(tmp_path):
    with pytest.raises(EdgeloopError, match="adb not found"):
        AdbDevice("HT7A1A01234", tmp_path / "benchmark_model", adb=str(tmp_path / "no-adb-here")).info()


@pytest.mark.skipif(shutil.which("adb") is None, reason="Debian's adb is not installed (apt-get install adb)")
def test_real_adb_with_no_phone_attached(tmp_path, monkeypatch):
    with socket.socket() as s:  # a private adb server port, so no other adb server is touched
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    try:
        with pytest.raises(EdgeloopError, match="no Android device 'emulator-5554' attached"):
            AdbDevice("emulator-5554", tmp_path / "benchmark_model").info()
    finally:
        subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30, env=os.environ)
