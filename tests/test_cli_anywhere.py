"""Models from anywhere through the real ``edgeloop`` command in a subprocess.

Each case a user brings ends in a verified int8 file (exit 0), or in one line on stderr
with exit status 2, no traceback, and nothing already there written over.
"""

from __future__ import annotations

import json

import pytest

from helpers import run_cli


def assert_bad_input(proc, *fragments: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_verified_int8(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    checks = {c["name"]: c["passed"] for c in result["checks"]}
    assert checks["int8_compute"] and checks["io_types"] and checks["static_shapes"], result["checks"]
    return result


def test_a_subclassed_savedmodel_converts_to_verified_int8(anywhere, tmp_path):
    out = tmp_path / "m.tflite"
    assert_verified_int8(run_cli("convert", anywhere / "subclassed", "--data", "digits", "--samples", "50", "-o", out,
                                 "--json"))
    assert out.stat().st_size > 0


@pytest.mark.slow
def test_a_keras3_model_with_a_custom_layer_converts_through_the_keras3_child(anywhere, tmp_path):
    out = tmp_path / "m.tflite"
    proc = run_cli("convert", anywhere / "k3_custom.keras", "--custom-objects", anywhere / "k3_layers.py",
                   "--data", "digits", "--samples", "50", "-o", out, "--json")
    assert_verified_int8(proc)


def test_two_inputs_two_outputs_convert_calibrate_and_inspect_in_the_models_order(anywhere, tmp_path):
    out = tmp_path / "multi.tflite"
    assert_verified_int8(run_cli("convert", anywhere / "multi.keras", "--data", anywhere / "multi_x0x1.npz",
                                 "--samples", "50", "-o", out, "--json"))
    info = json.loads(run_cli("inspect", out, "--json").stdout)
    assert [(t["signature_name"], t["dtype"], t["shape_signature"]) for t in info["inputs"]] == [
        ("image", "int8", [1, 8, 8, 1]), ("meta", "int8", [1, 4])]
    assert [(t["signature_name"], t["shape_signature"]) for t in info["outputs"]] == [("cls", [1, 10]), ("reg", [1, 1])]
    assert all(t["scale"] and t["zero_point"] is not None for t in info["inputs"] + info["outputs"])


def test_an_op_that_stays_float_leaves_a_rejected_file_to_check(anywhere, tmp_path):
    out, rejected = tmp_path / "elu.tflite", tmp_path / "elu.rejected.tflite"
    args = ("convert", anywhere / "elu.keras", "--data", "digits", "--samples", "50", "-o", out)
    line = assert_bad_input(run_cli(*args), "ELU (op", "Keras layer elu", "keep_float", "int16x8", "replace the layer",
                            str(rejected))
    assert not out.exists() and rejected.read_bytes()[4:8] == b"TFL3", line

    check = run_cli("check", rejected)  # where the graph is cut (inspect reads it too: tests/converters/test_rejected.py)
    assert check.returncode == 1 and "ELU" in check.stdout and "elu" in check.stdout, check.stdout

    rejected.write_bytes(b"an earlier file the user keeps")
    assert_bad_input(run_cli(*args), "exists and was left as it is", "--force")
    assert rejected.read_bytes() == b"an earlier file the user keeps"


@pytest.mark.parametrize("case, args, fragments", [
    ("custom layer, no custom objects", ["convert", "{custom.keras}", "--data", "digits"],
     ["Keras does not know the layer class(es) Scale", "--custom-objects"]),
    ("one array for two inputs", ["convert", "{multi.keras}", "--data", "digits"],
     ["the model takes 2 inputs (image (8, 8, 1), meta (4,))", "x0 … x1"]),
    ("no serving signature", ["convert", "{no_signature}", "--data", "digits"],
     ["has no serving_default signature"]),
    ("keras 3 model in a recipe with QAT", ["optimize", "{recipe:k3.keras:qat}"],
     ["qat needs the model's Keras layers", "a Keras 3 model", "import tf_keras as keras"]),
    ("subclassed model in a recipe with pruning", ["optimize", "{recipe:subclassed:prune}"],
     ["prune needs the model's Keras layers", "subclassed Keras model", "Functional"]),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(anywhere, tmp_path, case, args, fragments):
    runs = tmp_path / "runs"

    def fill(arg: str) -> str:
        if arg.startswith("{recipe:"):
            model, step = arg[len("{recipe:"):-1].split(":")
            recipe = tmp_path / "r.yaml"
            data = anywhere / "multi.npz" if model.startswith("multi") else "digits"
            recipe.write_text(f"name: t\nmodel: {anywhere / model}\ndata: {data}\nmeasure_steps: false\n"
                              f"steps:\n  - {step}: {{}}\n")
            return str(recipe)
        if arg.startswith("{"):
            return str(anywhere / arg[1:-1])
        return arg

    out = tmp_path / "m.tflite"
    argv = [fill(a) for a in args] + (["-o", out] if args[0] == "convert" else ["--out", runs])
    assert_bad_input(run_cli(*argv), *fragments)
    assert not out.exists() and not runs.exists(), case
