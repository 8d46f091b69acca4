"""The zoo through the real ``edgeloop`` command: ``models list`` and a recipe run on a zoo model
with a zoo student distilled from it."""

from __future__ import annotations

import json

import pytest

from helpers import run_cli


def test_models_list_counts_next_to_the_paper():
    proc = run_cli("models", "list", "resnet8", "ds_cnn", "fc_autoencoder", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert list(rows) == ["resnet8", "ds_cnn", "fc_autoencoder"]
    assert rows["resnet8"]["reference"] == "32x32x3, 10 classes"
    assert rows["fc_autoencoder"]["reference"] == "640, reconstruction"
    for row in rows.values():
        assert row["params"] > 0 and row["macs"] > 0 and "mlcommons/tiny" in row["source"]
        assert abs(row["params_diff_pct"]) <= 2 and abs(row["macs_diff_pct"]) <= 2
    assert rows["ds_cnn"]["macs"] == 2_656_768 and rows["ds_cnn"]["options"] == {"width": 1.0, "dropout": 0.4}



def test_models_list_prints_a_table_with_the_paper_columns():
    from click.testing import CliRunner

    from edgeloop.cli import cli

    result = CliRunner().invoke(cli, ["models", "list", "-q", "digits_cnn", "resnet8"])
    assert result.exit_code == 0, result.output
    header, digits, resnet8 = result.output.splitlines()[:3]
    assert header.split()[:4] == ["model", "reference", "params", "MACs"] and "paper params" in header
    assert digits.split()[-4:] == ["-", "-", "-", "-"]  # edgeloop's own model: no paper
    assert resnet8.split()[-2:] == ["0.0%", "0.0%"]


def test_models_list_refuses_an_unknown_name_in_one_line():
    proc = run_cli("models", "list", "resnet8", "nope")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "unknown model 'nope'; the zoo has:" in proc.stderr and "mobilenet_v2" in proc.stderr


@pytest.mark.slow
def test_recipe_trains_a_zoo_model_distils_a_zoo_student_and_converts_it(tmp_path):
    recipe = tmp_path / "zoo.yaml"
    recipe.write_text(
        "name: zoo\nmodel: zoo:mobilenet_v1?width=0.25\ndata: digits\nmeasure_steps: false\nsteps:\n"
        "  - train: {epochs: 2, learning_rate: 0.005}\n"
        "  - distill: {student: 'zoo:resnet8?width=0.5', epochs: 2, learning_rate: 0.005}\n"
        "  - convert: {mode: int8, calibration_samples: 32, baseline: false}\n"
        "  - evaluate: {max_drop: 5}\n"
    )
    proc = run_cli("optimize", recipe, "--out", tmp_path / "runs", "--json", "-q")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    train, distill, convert, _ = (s["result"] for s in report["steps"])
    assert report["model_params"] == distill["teacher_params"] > distill["student_params"]
    assert train["val_accuracy"] > 0.5 and distill["val_accuracy"] > 0.5  # two epochs of digits, batch norm settled
    # the student (ResNet-8: three residual Adds, no depthwise convolution) is what was converted
    assert convert["ops"]["ADD"] == 3 and "DEPTHWISE_CONV_2D" not in convert["ops"]
    assert report["summary"]["checks"]["failed"] == []
    assert abs(report["summary"]["accuracy"]["tflite_int8"] - report["summary"]["accuracy"]["keras"]) < 0.05


def test_the_zoo_registers_without_importing_tensorflow():
    import subprocess
    import sys

    from edgeloop.models import list_models

    code = "import sys, edgeloop.models as m; print(len(m.list_models()), 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == [str(len(list_models())), "False"]
