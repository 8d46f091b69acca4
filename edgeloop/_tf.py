"""The one place TensorFlow is imported, with Keras 2 (``tf_keras``) selected first.

tfmot only works with Keras 2. TensorFlow 2.16+ defaults ``tf.keras`` to Keras 3, so
``TF_USE_LEGACY_KERAS=1`` has to be set before TensorFlow is imported anywhere in the
process. Every host-side module gets TensorFlow from here::

    from edgeloop._tf import tf, keras, tfmot
"""

from __future__ import annotations

import logging
import os
import warnings

from edgeloop._quiet import native_stderr_silenced

os.environ["TF_USE_LEGACY_KERAS"] = "1"
# TensorFlow's C++ start-up chatter (CPU features, oneDNN) drowns the tool's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

with native_stderr_silenced(), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402
    import tensorflow_model_optimization as tfmot  # noqa: E402

    # Device placement probes CUDA once, and logs its absence as an error: do it now, quietly.
    tf.config.list_physical_devices("GPU")

tf.get_logger().setLevel(logging.ERROR)
logging.getLogger("absl").setLevel(logging.ERROR)

from edgeloop.errors import EdgeloopError  # noqa: E402

KERAS3_HELP = (
    "this is a Keras 3 model; tfmot (pruning, clustering, QAT) needs Keras 2. Rebuild it with "
    "`import tf_keras as keras` (pip install tf-keras) instead of `import keras`, reload the "
    "weights with model.set_weights(...), and save it again with tf_keras"
)


def require_legacy_keras(model: object) -> None:
    """Refuse a model that is not a ``tf_keras`` (Keras 2) model, saying how to fix it.

    Raises:
        EdgeloopError: ``model`` is a Keras 3 model, or not a Keras model at all.
    """
    if isinstance(model, keras.Model):
        return
    module = type(model).__module__
    if module.startswith("keras"):
        raise EdgeloopError(KERAS3_HELP)
    raise EdgeloopError(f"expected a Keras model, got {type(model).__name__}")


__all__ = ["tf", "keras", "tfmot", "require_legacy_keras", "KERAS3_HELP"]
