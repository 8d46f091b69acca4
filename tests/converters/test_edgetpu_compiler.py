"""The compiler wrapper: the log parser on real ``edgetpu_compiler`` output (fixtures from
public threads, see tests/fixtures/edgetpu/README.md), the argument list, and, with the
FAKE compiler script, argument passing, output placement and the timeout. The real
compiler cannot be installed here: the missing-compiler path is tested for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeloop.converters.edgetpu.compiler import (
    COMPILER_MISSING_EXIT,
    INSTALL_HINT,
    CompilerOptions,
    choose_runtime_version,
    compile_models,
    compiler_args,
    runtime_version_from_info,
)
from edgeloop.converters.edgetpu.log import parse_compiler_output
from edgeloop.errors import EdgeloopError
from helpers import ROOT, run_cli

FIXTURES = ROOT / "tests" / "fixtures" / "edgetpu"
FAKE = FIXTURES / "fake_edgetpu_compiler.py"
MIB, KIB = 1024 * 1024, 1024


def parse(name: str):
    return parse_compiler_output((FIXTURES / name).read_text())


def test_a_successful_compile():
    r = parse("success_16.0.txt")
    assert (r.compiler_version, r.success, r.error, r.compile_ms) == ("16.0.384591198", True, None, 542)
    assert r.input_model == "quantized_model.tflite" and r.output_model == "quantized_model_edgetpu.tflite"
    assert r.on_chip_bytes == round(604.5 * KIB) and r.on_chip_remaining_bytes == round(511.5 * KIB)
    assert r.off_chip_bytes == round(3.45 * MIB) and r.input_bytes == round(4.04 * MIB)
    assert (r.edgetpu_subgraphs, r.total_ops, r.operation_log) == (1, 50, "quantized_model_edgetpu.log")
    assert r.fully_mapped  # the compiler prints CPU counts only when some ops stay there


def test_ops_left_on_the_cpu():
    r = parse("partial_cpu_15.0.txt")
    assert (r.ops_on_edgetpu, r.ops_on_cpu, r.total_ops) == (117, 48, 165) and not r.fully_mapped
    assert r.off_chip_bytes == 0 and r.output_model == "./EdgeTPU/model_edgetpu.tflite"


def test_the_operator_table():
    r = parse("table_transpose_15.0.txt")
    assert sum(row.count for row in r.operators) == r.ops_on_edgetpu + r.ops_on_cpu == 155
    assert r.on_cpu()["TRANSPOSE"] == 70 and r.on_cpu()["CONV_2D"] == 35
    assert [row.op for row in r.operators if row.mapped] == ["PAD", "QUANTIZE"]
    assert r.operators[0].status == "Operation not supported"
    old = parse("more_than_one_subgraph_2.1.txt")
    assert old.compiler_version == "2.1.302470888" and old.on_chip_remaining_bytes == round(7.75 * KIB)
    assert old.on_cpu() == {"LOGISTIC": 1, "CONCATENATION": 1}
    streamed = parse("streamed_table_15.0.txt")
    assert streamed.off_chip_bytes == round(3.23 * MIB) and all(row.mapped for row in streamed.operators)


def test_operation_log_files():
    r = parse("operation_log_15.0.log")
    assert r.success and r.input_model == "mnist4.tflite" and len(r.operators) == 7
    assert r.on_cpu() == {"QUANTIZE": 1, "DEQUANTIZE": 1}  # float I/O converted on the CPU
    old = parse("operation_log_14.1.log")
    assert {row.status for row in old.operators if row.op == "RESIZE_NEAREST_NEIGHBOR"} == {"Operation version not supported"}
    assert sum(row.count for row in old.operators if row.op == "QUANTIZE") == 4


@pytest.mark.parametrize("name, error", [
    ("not_quantized_14.1.txt", "Model not quantized"),
    ("dynamic_tensors_16.0.txt", "Model failed in Tflite interpreter. Please ensure model can be loaded/run in Tflite interpreter."),
    ("large_activations_16.0.txt", "Compilation failed due to large activation tensors in model."),
    ("internal_error_15.0.txt", "Internal compiler error. Aborting!"),
])
def test_refusals_and_failures(name, error):
    r = parse(name)
    assert not r.success and r.error == error and not r.fully_mapped


def test_dynamic_tensors_error_line_is_kept():
    assert parse("dynamic_tensors_16.0.txt").messages[0].startswith(
        "ERROR: Attempting to use a delegate that only supports static-sized tensors")


def test_argument_list():
    opts = CompilerOptions(min_runtime_version=13, multiple_subgraphs=True, num_segments=2,
                           intermediate_tensors=["a/b", "c"])
    args = compiler_args("edgetpu_compiler", [Path("/m/x.tflite"), Path("/m/y.tflite")], Path("/out"), opts)
    assert args == ["edgetpu_compiler", "-o", "/out", "-m", "13", "-s", "-a", "-n", "2", "-i", "a/b,c",
                    "/m/x.tflite", "/m/y.tflite"]
    assert compiler_args("c", [Path("m.tflite")], Path("o"), CompilerOptions(show_operations=False)) == ["c", "-o", "o", "m.tflite"]
    with pytest.raises(ValueError):
        CompilerOptions(num_segments=0)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """The FAKE compiler, recording its arguments into record.json."""
    record = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_EDGETPU_RECORD", str(record))
    monkeypatch.setenv("FAKE_EDGETPU_REPLAY", "partial_cpu_15.0.txt")
    return record


def test_fake_compiler_gets_the_arguments_and_outputs_land_next_to_the_model(fake, tflite_files, tmp_path):
    model = tmp_path / "model.tflite"
    other = tmp_path / "other.tflite"
    model.write_bytes(tflite_files["mappable"].read_bytes())
    other.write_bytes(tflite_files["leaky"].read_bytes())
    result = compile_models([model, other], tmp_path, CompilerOptions(min_runtime_version=13, num_segments=2),
                            compiler=str(FAKE))
    args = json.loads(fake.read_text())
    work = Path(args[1])
    assert args[0] == "-o" and work.parent == tmp_path and not work.exists()  # a hidden work folder, removed
    assert args[2:] == ["-m", "13", "-s", "-n", "2", str(model), str(other)]
    assert sorted(f.name for f in result.files) == ["model_edgetpu.tflite", "other_edgetpu.tflite"]
    assert (tmp_path / "model_edgetpu.tflite").read_bytes() == model.read_bytes()  # what the fake wrote
    assert result.report.ops_on_cpu == 48 and not result.report.fully_mapped


def test_fake_compiler_refusal_and_no_overwrite(fake, tflite_files, tmp_path, monkeypatch):
    model = tmp_path / "model.tflite"
    model.write_bytes(tflite_files["mappable"].read_bytes())
    monkeypatch.setenv("FAKE_EDGETPU_REPLAY", "not_quantized_14.1.txt")
    monkeypatch.setenv("FAKE_EDGETPU_EXIT", "1")
    with pytest.raises(EdgeloopError, match="Model not quantized"):
        compile_models([model], tmp_path, compiler=str(FAKE))
    assert not (tmp_path / "model_edgetpu.tflite").exists()
    monkeypatch.setenv("FAKE_EDGETPU_REPLAY", "success_16.0.txt")
    monkeypatch.setenv("FAKE_EDGETPU_EXIT", "0")
    (tmp_path / "model_edgetpu.tflite").write_bytes(b"keep me")
    with pytest.raises(EdgeloopError, match="exists"):
        compile_models([model], tmp_path, compiler=str(FAKE))
    assert (tmp_path / "model_edgetpu.tflite").read_bytes() == b"keep me"


def test_fake_compiler_that_hangs_is_stopped_at_the_timeout(fake, tflite_files, tmp_path, monkeypatch):
    model = tmp_path / "model.tflite"
    model.write_bytes(tflite_files["mappable"].read_bytes())
    monkeypatch.setenv("FAKE_EDGETPU_SLEEP", "60")
    started = time.perf_counter()
    with pytest.raises(EdgeloopError, match="did not finish within 1 s"):
        compile_models([model], tmp_path, CompilerOptions(timeout_s=1), compiler=str(FAKE))
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "model_edgetpu.tflite").exists()


def test_runtime_version_follows_the_device_agent():
    info = {"delegates": {"edgetpu": {"loads": True, "error": None, "runtime_version": "13", "interface": "usb"}}}
    assert runtime_version_from_info(info) == 13
    label = {"delegates": {"edgetpu": {"loads": True, "runtime_version": "BuildLabel(COMPILER=6.3.0), RuntimeVersion(14)"}}}
    assert runtime_version_from_info(label) == 14
    assert runtime_version_from_info({"delegates": {"edgetpu": {"loads": False, "error": "no device", "runtime_version": None}}}) is None
    assert runtime_version_from_info({"delegates": {"xnnpack": {"loads": True}}}) is None
    assert runtime_version_from_info(None) is None
    assert choose_runtime_version(None, info) == 13 and choose_runtime_version(12, info) == 12
    with pytest.raises(EdgeloopError, match="newer than the device's Edge TPU runtime 13"):
        choose_runtime_version(14, info)


def _cli(*args: str, path: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env={**os.environ, "PATH": path}, timeout=120)


def test_compile_command_without_the_compiler(tflite_files, tmp_path):
    # PATH holds only the virtualenv: no edgetpu_compiler anywhere on it.
    proc = _cli("compile", tflite_files["leaky"], "--target", "edgetpu", "-o", tmp_path, path=str(Path(sys.executable).parent))
    assert proc.returncode == COMPILER_MISSING_EXIT
    assert proc.stderr.splitlines() == [f"edgeloop: {INSTALL_HINT}"]
    assert "graph cut at op 1 (LEAKY_RELU, Keras layer `leaky`)" in proc.stdout
    assert not list(tmp_path.iterdir())


def test_compile_command_with_the_fake_compiler(tflite_files, tmp_path, monkeypatch):
    model = tmp_path / "model.tflite"
    model.write_bytes(tflite_files["mappable"].read_bytes())
    monkeypatch.setenv("FAKE_EDGETPU_REPLAY", "success_16.0.txt")
    proc = _cli("compile", model, "-m", "13", "--compiler", FAKE, "--json", path=str(Path(sys.executable).parent))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["compiled"] and result["compiler"]["args"][3:5] == ["-m", "13"]
    assert result["prediction"]["fully_mapped"] and (tmp_path / "model_edgetpu.tflite").is_file()
