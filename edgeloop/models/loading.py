"""Load a model a user hands in: ``.keras``, ``.h5``, a SavedModel folder or a zoo name."""

from __future__ import annotations

import json
import shutil
import warnings
import zipfile
from pathlib import Path

from edgeloop.errors import EdgeloopError

ZOO_PREFIX = "zoo:"


def load_model(spec: str | Path, input_shape: tuple[int, ...] | None = None, classes: int | None = None):
    """Load a Keras 2 (``tf_keras``) model from a file, a folder or the zoo.

    Args:
        spec: a ``.keras`` / ``.h5`` file, a SavedModel folder, or ``zoo:<name>``
            (``zoo:<name>?width=0.5`` passes options to the architecture).
        input_shape: sample shape for a zoo model (taken from the data).
        classes: class count for a zoo model (taken from the data).

    Raises:
        EdgeloopError: missing or unreadable file, a Keras 3 model, an unknown zoo name.
    """
    from edgeloop._tf import keras, require_legacy_keras, tfmot

    spec_s = str(spec)
    if spec_s.startswith(ZOO_PREFIX):
        return _from_zoo(spec_s[len(ZOO_PREFIX):], input_shape, classes)
    path = Path(spec_s)
    if not path.exists():
        raise EdgeloopError(f"model not found: {spec_s}")
    if path.is_dir() and not (path / "saved_model.pb").exists():
        raise EdgeloopError(f"{spec_s} is a folder but not a SavedModel (no saved_model.pb)")
    if path.is_file() and path.suffix not in (".keras", ".h5", ".hdf5"):
        raise EdgeloopError(f"unsupported model file {spec_s}: expected .keras, .h5 or a SavedModel folder")
    if path.suffix == ".keras" and _keras_major(path) == 3:
        raise EdgeloopError(f"{spec_s}: " + _keras3_help())
    register_custom_classes()
    try:
        # Models saved mid-pipeline may hold QAT wrappers: their classes live in tfmot's scope.
        with tfmot.quantization.keras.quantize_scope():
            model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeloopError(f"cannot read model {spec_s}: {first}") from None
    require_legacy_keras(model)
    return model


def model_suffix(model) -> str:
    """How a model saves so that it loads back: ``.savedmodel`` folder for QAT models, else ``.keras``.

    tfmot's quantize wrappers do not round-trip through the ``.keras`` format (loading
    expects variables the file does not hold), and the prune-cluster-preserving ones not
    through HDF5 either (weight count mismatch); a SavedModel folder loaded inside
    ``quantize_scope`` restores all of them.
    """
    quantized = any(type(layer).__name__.startswith("Quantize") for layer in model.layers)
    return ".savedmodel" if quantized else ".keras"


def save_model(model, path: Path) -> Path:
    """Save ``model`` atomically (a temp file or folder in the same folder, then a rename).

    The format follows the suffix of ``path`` (see :func:`model_suffix` for which to use):
    ``.keras``, ``.h5``, or any other name for a SavedModel folder.
    """
    from edgeloop import _io
    from edgeloop._crash import crash_point

    path = Path(path)
    tmp = _io.temp_sibling(path)  # a fresh name each time: debris of a killed save is never reused
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras calls HDF5 and SavedModel "legacy" formats
            model.save(tmp)
        crash_point(f"written:{path.name}")
        _io.replace_path(tmp, path)  # a folder left by a killed run is replaced too
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp)
        else:
            tmp.unlink(missing_ok=True)
        raise
    crash_point(f"renamed:{path.name}")
    return path


def register_custom_classes() -> None:
    """Register edgeloop's own layer classes with Keras: binarized layers and the zoo's
    ChannelSlice (ShuffleNetV2). Needed before a model holding them is loaded or rebuilt
    from its config, in every process that does so."""
    from edgeloop.models._custom import custom_layers
    from edgeloop.pipeline.binarize import binary_classes

    binary_classes()
    custom_layers()


def parse_zoo_spec(spec: str) -> tuple[str, dict]:
    """``zoo:mobilenet_v1?width=0.5&x=y`` (the prefix optional) -> ``("mobilenet_v1", {"width": 0.5, "x": "y"})``."""
    name, _, query = spec.removeprefix(ZOO_PREFIX).partition("?")
    options = {}
    for pair in filter(None, query.split("&")):
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise EdgeloopError(f"zoo model {name}: options are key=value pairs joined by '&', got {pair!r}")
        options[key] = _value(value)
    return name, options


def _from_zoo(name_and_opts: str, input_shape, classes):
    from edgeloop.models.registry import create

    name, options = parse_zoo_spec(name_and_opts)
    if input_shape is None or classes is None:
        raise EdgeloopError(f"zoo model {name} needs data to know its input shape and classes")
    return create(name, input_shape=input_shape, classes=classes, **options)


def _value(text: str):
    """An option value from a ``zoo:`` query: int, float, true / false, or the text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _keras_major(path: Path) -> int | None:
    """The Keras major version recorded in a ``.keras`` zip, if it says."""
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("metadata.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return None
    version = str(meta.get("keras_version", ""))
    return int(version.split(".")[0]) if version[:1].isdigit() else None


def _keras3_help() -> str:
    from edgeloop._tf import KERAS3_HELP

    return KERAS3_HELP
