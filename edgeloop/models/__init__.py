"""Model zoo and model loading (host side: building a model imports TensorFlow).

Importing this package registers every architecture; TensorFlow is imported only when a
model is built or loaded.
"""

from edgeloop.models import densenet as _densenet  # noqa: F401  (each import registers its models)
from edgeloop.models import digits_cnn as _digits_cnn  # noqa: F401
from edgeloop.models import ds_cnn as _ds_cnn  # noqa: F401
from edgeloop.models import efficientnet_lite as _efficientnet_lite  # noqa: F401
from edgeloop.models import fc_autoencoder as _fc_autoencoder  # noqa: F401
from edgeloop.models import mobilenet_v1 as _mobilenet_v1  # noqa: F401
from edgeloop.models import mobilenet_v2 as _mobilenet_v2  # noqa: F401
from edgeloop.models import mobilenet_v3 as _mobilenet_v3  # noqa: F401
from edgeloop.models import resnet as _resnet  # noqa: F401
from edgeloop.models import resnet8 as _resnet8  # noqa: F401
from edgeloop.models import shufflenet_v2 as _shufflenet_v2  # noqa: F401
from edgeloop.models import squeezenet as _squeezenet  # noqa: F401
from edgeloop.models.loading import ZOO_PREFIX, load_model, model_suffix, save_model
from edgeloop.models.registry import Paper, Reference, create, get_spec, list_models, register
from edgeloop.models.shrink import shrink

__all__ = [
    "Paper", "Reference", "ZOO_PREFIX",
    "create", "get_spec", "list_models", "load_model", "model_suffix", "register", "save_model", "shrink",
]
