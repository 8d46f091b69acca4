"""Keras 3 models: recognised by their files, read in a child process that runs Keras 3.

This process runs tf_keras (tfmot needs it; :mod:`edgeloop._tf` sets
``TF_USE_LEGACY_KERAS=1`` before TensorFlow loads), and tf_keras cannot read what Keras 3
writes. TensorFlow 2.21 installs Keras 3 beside tf_keras, so a child process without the
variable reads the model with Keras 3 and exports its serving function as a SavedModel
(:mod:`edgeloop.models._keras3_child`); this process loads that as a
:class:`~edgeloop.models.signature.SignatureModel`. Conversion, calibration, scoring and
benchmarking work from it; the tfmot steps refuse it (they need the layers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import weakref
import zipfile
from pathlib import Path

from edgeloop.errors import EdgeloopError

CHILD_TIMEOUT_S = 900.0


def keras_major(path: Path) -> int | None:
    """The Keras major version a ``.keras`` zip or an HDF5 model file records, if it says."""
    path = Path(path)
    version = ""
    if path.suffix == ".keras":
        try:
            with zipfile.ZipFile(path) as zf:
                version = str(json.loads(zf.read("metadata.json")).get("keras_version", ""))
        except (zipfile.BadZipFile, KeyError, ValueError, OSError):
            return None
    elif path.suffix in (".h5", ".hdf5"):
        try:
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs.get("keras_version", b"")
            version = raw.decode() if isinstance(raw, bytes) else str(raw)
        except (OSError, ImportError):
            return None
    return int(version.split(".")[0]) if version[:1].isdigit() else None


def load_keras3(path: Path, custom_objects: str | Path | None = None):
    """Read a Keras 3 ``.keras`` / ``.h5`` model through a Keras 3 child process.

    Returns:
        A :class:`~edgeloop.models.signature.SignatureModel` (``kind="keras3"``).

    Raises:
        EdgeloopError: Keras 3 could not read or export the model (its message, and the
            way to register custom layers when that is what it missed).
    """
    from edgeloop.models.signature import from_saved_model

    folder = Path(tempfile.mkdtemp(prefix="edgeloop-keras3-"))
    out = folder / "saved_model"
    try:
        _run_child(Path(path), out, custom_objects)
        model = from_saved_model(out, kind="keras3")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    model.source = str(path)
    weakref.finalize(model, shutil.rmtree, str(folder), True)  # the export lives as long as the model
    return model


def _run_child(path: Path, out: Path, custom_objects) -> dict:
    import edgeloop

    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    package_root = str(Path(edgeloop.__file__).resolve().parents[1])  # this edgeloop, not another install
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = [sys.executable, "-m", "edgeloop.models._keras3_child", str(path.resolve()), str(out)]
    if custom_objects:
        args.append(str(Path(custom_objects).resolve()))
    try:
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise EdgeloopError(f"reading Keras 3 model {path} took over {CHILD_TIMEOUT_S:g} s; stopped") from None
    said = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    try:
        result = json.loads(said[-1]) if said else None
    except ValueError:
        result = None
    if result is None:
        tail = [line for line in proc.stderr.splitlines() if line.strip()]
        raise EdgeloopError(f"the Keras 3 reader of {path} stopped (status {proc.returncode}): "
                            f"{tail[-1][:300] if tail else 'no message'}")
    if not result.get("ok"):
        raise EdgeloopError(f"Keras 3 cannot read {path}: {result.get('error', 'unknown error')[:400]}")
    return result
