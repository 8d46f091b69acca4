"""The ``compile`` step: prediction in the report, the fix-it path (each change said and
checked in the new file), the runtime version from a device agent's info, and the
missing compiler (a warning with the install hint, the run goes on)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeloop.converters import read_model
from edgeloop.converters.edgetpu.compiler import INSTALL_HINT
from edgeloop.errors import EdgeloopError
from edgeloop.pipeline import build_step
from edgetpu_models import leaky_cnn
from helpers import ROOT

FAKE = ROOT / "tests" / "fixtures" / "edgetpu" / "fake_edgetpu_compiler.py"


def apply(name, model, ctx, **options):
    ctx.result = {}
    return build_step(name, options, "test").apply(model, ctx)


@pytest.fixture
def no_compiler(monkeypatch):
    """PATH without edgetpu_compiler (it is not installable here; this makes it certain)."""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))


def test_prediction_and_missing_compiler_warning(ctx, no_compiler):
    model = leaky_cnn()
    apply("convert", model, ctx, baseline=False, calibration_samples=20)
    apply("compile", model, ctx)
    result = ctx.result
    assert result["compiled"] is False and ctx.warnings == [INSTALL_HINT]
    assert result["prediction"]["first_unmapped"]["layer"] == "leaky" and result["changes"] == []
    assert result["checks"][0]["name"] == "edgetpu_mapped" and not result["checks"][0]["passed"]
    apply("compile", model, ctx, require_mapped=True)  # a gate: recorded, the run goes on
    (check,) = ctx.result["checks"]
    assert check["gate"] and not check["passed"] and "cut at op 1 (LEAKY_RELU, Keras layer `leaky`)" in check["detail"]
    with pytest.raises(EdgeloopError, match="edgetpu_compiler is not installed"):
        apply("compile", model, ctx, require_compiler=True)


def test_fix_replaces_the_layer_and_makes_integer_io(ctx, no_compiler):
    from edgeloop.device.interpreter import TFLiteModel

    model = leaky_cnn()
    apply("convert", model, ctx, baseline=False, io_type="float32", calibration_samples=50)
    returned = apply("compile", model, ctx, fix=True, calibration_samples=50)
    changes = ctx.result["changes"]
    assert len(changes) == 2
    assert changes[0].startswith("changed layer `leaky` from LeakyReLU(alpha=0.2) to PReLU(alpha=0.2, shared_axes=[1, 2])")
    assert changes[1].startswith("changed the input and output from float32 to uint8")
    assert ctx.result["prediction"]["fully_mapped"] and ctx.result["checks"][0]["passed"]
    assert ctx.state["tflite"] == {"file": "model_fixed.tflite", "mode": "int8", "io_type": "uint8", "folded": False}
    fixed = read_model(ctx.path("model_fixed.tflite"))
    assert "PRELU" in [op.name for op in fixed.ops] and "LEAKY_RELU" not in [op.name for op in fixed.ops]
    assert {fixed.tensors[i].dtype for i in (*fixed.inputs, *fixed.outputs)} == {"uint8"}
    assert returned is model and ctx.path("model.tflite").is_file()  # the original file stays
    # The fixed file computes what the Keras model does (int8 rounding aside).
    x = ctx.data.x_val[:64]
    keras_top = np.argmax(model.predict(x, verbose=0), axis=-1)
    tflite_top = np.argmax(TFLiteModel(ctx.path("model_fixed.tflite")).predict(x), axis=-1)
    assert np.mean(keras_top == tflite_top) > 0.9


def test_runtime_version_from_the_device_and_arguments_to_the_fake_compiler(ctx, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "edgetpu_compiler").symlink_to(FAKE)
    record = tmp_path / "args.json"
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}")
    monkeypatch.setenv("FAKE_EDGETPU_RECORD", str(record))
    monkeypatch.setenv("FAKE_EDGETPU_REPLAY", "success_16.0.txt")
    ctx.state["device_info"] = {"delegates": {"edgetpu": {"loads": True, "error": None, "runtime_version": "13",
                                                          "interface": "usb"}}}
    model = leaky_cnn()
    apply("convert", model, ctx, baseline=False, calibration_samples=20)
    apply("compile", model, ctx, fix=True, num_segments=2, calibration_samples=20)
    args = json.loads(record.read_text())
    assert args[2:6] == ["-m", "13", "-s", "-n"] and args[-1] == str(ctx.path("model_fixed.tflite"))
    assert ctx.result["runtime_version"] == 13 and ctx.result["compiled"]
    assert ctx.path("model_fixed_edgetpu.tflite").is_file() and ctx.state["edgetpu"]["files"] == ["model_fixed_edgetpu.tflite"]


def test_compile_needs_a_converted_model(ctx):
    with pytest.raises(EdgeloopError, match="put a convert step before it"):
        apply("compile", leaky_cnn(), ctx)
    with pytest.raises(EdgeloopError, match="unknown option 'segments'"):
        build_step("compile", {"segments": 2}, "test")


def test_a_run_evaluates_the_fixed_file(tmp_path, no_compiler):
    from edgeloop.models import save_model
    from edgeloop.pipeline.runner import run
    from edgeloop.recipe import from_dict

    save_model(leaky_cnn(), tmp_path / "leaky.keras")
    recipe = {"name": "edgetpu_fix", "model": str(tmp_path / "leaky.keras"), "data": "digits", "steps": [
        {"convert": {"io_type": "float32", "calibration_samples": 20, "baseline": False}},
        {"compile": {"target": "edgetpu", "fix": True, "calibration_samples": 20}},
        {"evaluate": {"max_drop": None}},
    ]}
    result = run(from_dict(recipe), out=tmp_path / "runs", force=True)  # untrained: at chance, forced past the sanity check
    steps = {e["step"]: e["result"] for e in result.report["steps"]}
    assert result.report["status"] == "finished" and len(steps["compile"]["changes"]) == 2
    assert steps["compile"]["file"] == "model_fixed.tflite" and "tflite_int8" in steps["evaluate"]["accuracy"]
    markdown = (result.run_dir / "report.md").read_text()
    assert "edgetpu_mapped" in markdown and "after the fixes: changed layer `leaky`" in markdown
    assert INSTALL_HINT in result.report["warnings"]
