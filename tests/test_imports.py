"""TensorFlow is imported only where it is needed, and always with Keras 2 selected."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_recipes_and_pipeline_registry_load_without_tensorflow():
    out = _modules_after(
        "import sys, edgeloop, edgeloop.cli, edgeloop.recipe, edgeloop.pipeline, edgeloop.presets, edgeloop.report\n"
        "print('tensorflow' in sys.modules)"
    )
    assert out.strip() == "False"


def test_tensorflow_comes_with_legacy_keras():
    out = _modules_after(
        "import os\nfrom edgeloop._tf import tf, keras\n"
        "print(os.environ['TF_USE_LEGACY_KERAS'], keras.__name__.split('.')[0], tf.keras.Model.__module__.split('.')[0])"
    )
    assert out.split() == ["1", "tf_keras", "tf_keras"]
