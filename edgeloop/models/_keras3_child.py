"""The child process that reads a Keras 3 model and exports its serving function.

Run as ``python -m edgeloop.models._keras3_child MODEL OUT_DIR [CUSTOM_OBJECTS.py]`` with
``TF_USE_LEGACY_KERAS`` unset, so ``import keras`` is Keras 3 (the parent process has
tf_keras, which cannot read Keras 3 files). It writes a SavedModel whose
``serving_default`` signature takes the model's inputs by name and returns its outputs by
name, and ``edgeloop_io.json`` with their order in the model. What it has to say goes to
stdout as one JSON line: ``{"ok": true, …}`` or ``{"ok": false, "error": "…"}``.

It must not import :mod:`edgeloop._tf` (that selects tf_keras).
"""

from __future__ import annotations

import json
import os
import sys
import warnings


def _export(model_path: str, out_dir: str, custom_path: str | None) -> dict:
    import keras
    import tensorflow as tf

    from edgeloop.errors import EdgeloopError
    from edgeloop.models.custom_objects import custom_objects

    objects = custom_objects(custom_path, keras.layers.Layer) if custom_path else {}
    try:
        model = keras.saving.load_model(model_path, custom_objects=objects, compile=False)
    except Exception:
        unknown = _unknown_classes(keras, model_path, objects)
        if unknown:  # Keras 3's own message for it is long and says neither which class nor how
            raise EdgeloopError(f"Keras 3 does not know the layer class(es) {', '.join(unknown)}: give the Python "
                                "file that defines them with --custom-objects my_layers.py (recipe: custom_objects: "
                                "my_layers.py)") from None
        raise
    inputs = getattr(model, "inputs", None)
    try:
        output_names = list(model.output_names) if inputs else []
    except (AttributeError, ValueError):
        output_names = []
    if inputs and output_names:
        # A Functional or Sequential model: its own input and output names, in its order.
        in_names = [t.name for t in inputs]
        specs = [tf.TensorSpec(t.shape, t.dtype, name=n) for t, n in zip(inputs, in_names)]

        def serve(*xs):
            result = model(list(xs) if len(xs) > 1 else xs[0], training=False)
            result = result if isinstance(result, (list, tuple)) else [result]
            return dict(zip(output_names, result))

        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", serve, input_signature=specs)
        archive.write_out(out_dir, verbose=False)
        order = {"inputs": in_names, "outputs": output_names}
    else:
        # A subclassed model: Keras 3 finds its input signature from how it was built.
        model.export(out_dir, format="tf_saved_model", verbose=False)
        order = {}
    with open(os.path.join(out_dir, "edgeloop_io.json"), "w") as f:
        json.dump({**order, "keras_version": keras.__version__, "class": type(model).__name__}, f)
    return {"ok": True, "keras_version": keras.__version__, "class": type(model).__name__}


def _unknown_classes(keras, model_path: str, objects: dict) -> list[str]:
    from edgeloop.models.custom_objects import layer_classes

    def known(name: str) -> bool:
        return (name in objects or hasattr(keras.layers, name) or name in ("Functional", "Sequential", "Model")
                or keras.saving.get_registered_object(name) is not None)

    return sorted({name for name in layer_classes(model_path) if not known(name)})


def main(argv: list[str]) -> int:
    """Export ``argv[0]`` into ``argv[1]``; print one JSON line; exit 0 (exported) or 2."""
    os.environ.pop("TF_USE_LEGACY_KERAS", None)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgeloop.errors import EdgeloopError

    model_path, out_dir = argv[0], argv[1]
    custom_path = argv[2] if len(argv) > 2 else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = _export(model_path, out_dir, custom_path)
    except EdgeloopError as exc:  # the custom objects file
        result = {"ok": False, "error": str(exc)}
    except Exception as exc:  # reported to the parent as one line: it is the user's model that failed
        text = str(exc).strip()
        result = {"ok": False, "error": f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:500]}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0 if result["ok"] else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
