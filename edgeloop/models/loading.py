"""Load a model a user hands in: ``.keras``, ``.h5``, a SavedModel folder or a zoo name."""

from __future__ import annotations

import shutil
import warnings
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
        EdgeloopError: missing or unreadable file, a Keras 3 model, a subclassed model
            (see :func:`load_any_model` for those), an unknown zoo name.
    """
    spec_s = str(spec)
    if spec_s.startswith(ZOO_PREFIX):
        return _from_zoo(spec_s[len(ZOO_PREFIX):], input_shape, classes)
    from edgeloop.models.keras3 import keras_major

    path = _checked_path(spec_s)
    if path.is_file() and keras_major(path) == 3:
        raise EdgeloopError(f"{spec_s}: " + _keras3_help())
    if path.is_dir() and not (path / "keras_metadata.pb").exists():
        raise EdgeloopError(f"{spec_s} is {_kind('savedmodel')}{_LAYERS_NEEDED}")
    model = _read_keras(path)
    if not getattr(model, "inputs", None):
        raise EdgeloopError(f"{spec_s} is {_kind('subclassed')}{_LAYERS_NEEDED}")
    return model


_LAYERS_NEEDED = (": pruning, clustering, QAT and the other steps that change layers need a Functional or Sequential "
                  "tf_keras model (convert, evaluate and benchmark take it as it is)")


def load_any_model(spec: str | Path, input_shape: tuple[int, ...] | None = None, classes: int | None = None,
                   custom_objects: str | Path | None = None):
    """Load a model from anywhere: a tf_keras model when it is one, else a signature model.

    Functional and Sequential tf_keras models come back as Keras models (every step takes
    them). A subclassed model saved as a SavedModel, a SavedModel with a serving signature
    from any tool (Keras 3's ``model.export()`` folders among them) and a Keras 3 ``.keras``
    / ``.h5`` file (read by Keras 3 in a child process) come back as a
    :class:`~edgeloop.models.signature.SignatureModel`, which the post-training steps take.

    Args:
        spec: as for :func:`load_model`.
        input_shape: sample shape for a zoo model.
        classes: class count for a zoo model.
        custom_objects: the user's Python file of custom layers: registered with tf_keras
            (:func:`edgeloop.models.custom_objects.register`, for every later load in this
            process too) and imported by the Keras 3 child.

    Raises:
        EdgeloopError: missing or unreadable model, or one with no serving signature.
    """
    from edgeloop.models.keras3 import keras_major, load_keras3
    from edgeloop.models.signature import from_saved_model

    if custom_objects:
        from edgeloop.models.custom_objects import register

        register(custom_objects)
    spec_s = str(spec)
    if spec_s.startswith(ZOO_PREFIX):
        return load_model(spec_s, input_shape, classes)
    path = _checked_path(spec_s)
    if path.is_file() and keras_major(path) == 3:
        return load_keras3(path, custom_objects)
    if path.is_dir() and not (path / "keras_metadata.pb").exists():
        return from_saved_model(path)  # no Keras graph recorded: Keras 3 export(), tf.Module, other tools
    model = _read_keras(path)
    if getattr(model, "inputs", None):
        return model
    if path.is_dir():
        return from_saved_model(path, kind="subclassed")
    raise EdgeloopError(f"{spec_s} is {_kind('subclassed')} saved as {path.suffix}: save it as a SavedModel folder "
                        "(model.save('folder')) so its traced call can be converted")


def file_kind(spec: str | Path) -> str | None:
    """What a model file holds, when the file says so without loading it: ``keras3`` (a Keras 3
    ``.keras`` / ``.h5``), ``savedmodel`` (a SavedModel with no Keras graph), else ``None``."""
    from edgeloop.models.keras3 import keras_major

    path = Path(spec)
    if str(spec).startswith(ZOO_PREFIX) or not path.exists():
        return None
    if path.is_file():
        return "keras3" if keras_major(path) == 3 else None
    has_graph = (path / "keras_metadata.pb").exists() or not (path / "saved_model.pb").exists()
    return None if has_graph else "savedmodel"


def _checked_path(spec_s: str) -> Path:
    path = Path(spec_s)
    if not path.exists():
        raise EdgeloopError(f"model not found: {spec_s}")
    if path.is_dir() and not (path / "saved_model.pb").exists():
        raise EdgeloopError(f"{spec_s} is a folder but not a SavedModel (no saved_model.pb)")
    if path.is_file() and path.suffix not in (".keras", ".h5", ".hdf5"):
        raise EdgeloopError(f"unsupported model file {spec_s}: expected .keras, .h5 or a SavedModel folder")
    return path


def _read_keras(path: Path):
    from edgeloop._tf import keras, require_legacy_keras, tfmot

    register_custom_classes()
    try:
        # Models saved mid-pipeline may hold QAT wrappers: their classes live in tfmot's scope.
        with tfmot.quantization.keras.quantize_scope():
            model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeloopError(f"cannot read model {path}: {_custom_hint(path) or first[:300]}") from None
    if not isinstance(model, keras.Model) and path.is_dir():
        raise EdgeloopError(f"cannot read model {path}: its SavedModel holds no Keras model")
    require_legacy_keras(model)
    return model


def _kind(kind: str) -> str:
    from edgeloop.models.signature import KINDS

    return KINDS[kind]


def _custom_hint(path: Path) -> str:
    """When the model holds layer classes Keras does not know: which, and how to register them
    (tf_keras' own message for it can be as obscure as "'str' object is not callable")."""
    from edgeloop._tf import keras
    from edgeloop.models.custom_objects import layer_classes

    known = keras.utils.get_custom_objects()
    unknown = sorted({name for name in layer_classes(path)
                      if name not in known and not hasattr(keras.layers, name) and name not in _CONTAINERS
                      and not name.startswith("Quantize")})  # tfmot's wrappers load in its quantize_scope
    if not unknown:
        return ""
    return (f"Keras does not know the layer class(es) {', '.join(unknown)}: give the Python file that defines them "
            "with --custom-objects my_layers.py (recipe: custom_objects: my_layers.py)")


_CONTAINERS = ("Functional", "Sequential", "Model")


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
    from edgeloop.models.layers import register_all

    register_all()


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


def _keras3_help() -> str:
    from edgeloop._tf import KERAS3_HELP

    return KERAS3_HELP
