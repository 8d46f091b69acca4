"""Model zoo and model loading (host side: building a model imports TensorFlow)."""

from edgeloop.models import digits_cnn as _digits_cnn  # noqa: F401  (registers the model)
from edgeloop.models.loading import ZOO_PREFIX, load_model, model_suffix, save_model
from edgeloop.models.registry import create, list_models, register
from edgeloop.models.shrink import shrink

__all__ = ["create", "list_models", "register", "shrink", "load_model", "model_suffix", "save_model", "ZOO_PREFIX"]
