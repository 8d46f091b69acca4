"""A user's own layers, from a Python file: ``--custom-objects my_layers.py``.

A model with a custom layer only loads when Keras knows the layer's class by the name its
file records. The user names the module that defines the classes; edgeloop imports it and
registers, with whichever Keras the process runs (tf_keras here, Keras 3 in the child that
reads Keras 3 models), every class the module defines that subclasses a Keras ``Layer``
(models and layers alike), plus a ``custom_objects`` dict when the module exports one (for
functions: activations, losses).

Importing the module runs the user's code: it is their file, named on their command line.
This module does not import TensorFlow itself.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import zipfile
from pathlib import Path
from types import ModuleType

from edgeloop.errors import EdgeloopError


def import_file(path: str | Path) -> ModuleType:
    """Import the Python file at ``path`` as a module (its folder first on ``sys.path``,
    so it can import its neighbours).

    Raises:
        EdgeloopError: missing, not a ``.py`` file, or its code failed.
    """
    path = Path(path)
    if not path.is_file():
        raise EdgeloopError(f"custom objects file not found: {path}")
    if path.suffix != ".py":
        raise EdgeloopError(f"custom objects must be a Python file (.py), got {path}")
    name = f"edgeloop_custom_{path.stem}"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path.resolve()):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path.resolve())
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any error means "cannot use this file"
        sys.modules.pop(name, None)
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise EdgeloopError(f"cannot import custom objects from {path}: {type(exc).__name__}: {text}"[:400]) from None
    finally:
        if added:
            sys.path.remove(folder)
    return module


def custom_objects(path: str | Path, layer_base: type) -> dict[str, object]:
    """The objects to register from the file at ``path``: name -> class or function.

    Args:
        path: the user's Python file.
        layer_base: the ``Layer`` class of the Keras this process loads models with.

    Raises:
        EdgeloopError: the file cannot be imported, or defines no layer of either Keras.
    """
    module = import_file(path)
    found: dict[str, object] = {}
    exported = getattr(module, "custom_objects", None)
    if exported is not None and not isinstance(exported, dict):
        raise EdgeloopError(f"{path}: `custom_objects` must be a dict of name -> class or function")
    for name, obj in vars(module).items():
        if inspect.isclass(obj) and obj.__module__ == module.__name__ and issubclass(obj, layer_base):
            found[name] = obj
    found.update(exported or {})
    if not found and not _other_keras_layers(module, layer_base):
        raise EdgeloopError(f"{path} defines no Keras layer class ({layer_base.__module__}.{layer_base.__name__} "
                            "subclass) and no `custom_objects` dict")
    return found


def _other_keras_layers(module: ModuleType, layer_base: type) -> bool:
    """Whether the module defines layers of the other Keras (Keras 3 classes seen from tf_keras:
    they are for the Keras 3 child, and nothing here registers them)."""
    for obj in vars(module).values():
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            if any(base.__name__ == "Layer" and base.__module__.split(".")[0] in ("keras", "tf_keras")
                   and base is not layer_base for base in obj.__mro__):
                return True
    return False


def register(path: str | Path) -> list[str]:
    """Register the file's objects with tf_keras, for every model loaded in this process.

    Keras' own global registry is used (what ``register_keras_serializable`` fills), so
    every later load (the run's saved steps, the baseline, a resumed run) finds them too.

    Returns:
        The names registered.
    """
    from edgeloop._tf import keras

    objects = custom_objects(path, keras.layers.Layer)
    keras.utils.get_custom_objects().update(objects)
    return sorted(objects)


def layer_classes(path: str | Path) -> list[str]:
    """The class name of every layer a ``.keras`` or ``.h5`` file's model config holds
    (nested models' layers too); empty when the file records none (a SavedModel)."""
    path = Path(path)
    try:
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as zf:
                config = json.loads(zf.read("config.json"))
        elif path.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
            config = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw is not None else {}
        else:
            return []
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ImportError):
        return []
    found: list[str] = []

    def walk(entry) -> None:
        for layer in (entry.get("config") or {}).get("layers") or [] if isinstance(entry, dict) else []:
            if isinstance(layer, dict) and isinstance(layer.get("class_name"), str):
                found.append(layer.get("registered_name") or layer["class_name"])
                walk(layer)

    walk(config)
    return found
