"""The model zoo's registry: architectures by name, each with its paper's reference figures.

Example:
    >>> from edgeloop.models import create
    >>> model = create("mobilenet_v2", input_shape=(8, 8, 1), classes=10, width=0.35)
    >>> model.output_shape
    (None, 10)

An architecture is a builder function registered with the configuration its paper
measured (input shape, classes), the figures the paper published and the op types of its
full-int8 file (checked by the tests)::

    @register(reference=Reference((224, 224, 3), 1000),
              paper=Paper(params=3.47e6, macs=300e6, source="Sandler et al. 2018, Table 4"))
    def mobilenet_v2(input_shape, classes, width=1.0, dropout=0.0):
        ...

Builders take ``input_shape`` and ``classes`` and their own keyword options (``width``
first: the channel multiplier every image architecture has); ``create`` refuses an option
the builder does not declare, listing the valid ones. Models output logits (no softmax).

Why the zoo writes its own architectures rather than calling ``tf_keras.applications``:
applications refuses inputs under 32x32 (the built-in data set is 8x8 digits), does not
have EfficientNet-Lite, ShuffleNet, SqueezeNet, ResNet-18 or the MLPerf Tiny models, and
names its hard-swish layers with counters that change from one build to the next. Each
architecture is a small module (stride-2 layers use "same" padding where applications pads
explicitly; the converter folds either into the same ops); where applications has the same
network the tests prove the two equal at the reference configuration (same parameter
count, same MACs, the same weighted layers), so nothing is lost by not calling it. Inputs
from 8x8 up build through the stride rule of :mod:`edgeloop.models._blocks`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from edgeloop.errors import EdgeloopError


@dataclass(frozen=True)
class Reference:
    """The configuration a paper measured, built with the builder's default options.

    Attributes:
        input_shape: one sample's shape.
        classes: output classes (``None``: the model's own output, e.g. a reconstruction).
    """

    input_shape: tuple[int, ...]
    classes: int | None

    def describe(self) -> str:
        """E.g. ``224x224x3, 1000 classes``."""
        shape = "x".join(map(str, self.input_shape))
        return f"{shape}, {self.classes} classes" if self.classes else f"{shape}, reconstruction"


@dataclass(frozen=True)
class Paper:
    """Figures published for the reference configuration, and where.

    Attributes:
        params: parameter count (trainable weights, as papers and torchvision count them).
        macs: multiply-accumulates of one inference (papers' "mult-adds", "MAdds", "FLOPs").
        source: the publication, table or file the figures come from.
        keras_application: name in ``tf_keras.applications`` of the same network, if any
            (the tests compare the two).
        application_options: keyword arguments that make that application the reference.
    """

    params: float
    macs: float | None
    source: str
    keras_application: str | None = None
    application_options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture.

    Attributes:
        name: the registered name.
        builder: the function that builds it.
        reference: the configuration its paper measured (``None``: edgeloop's own model).
        paper: the published figures (``None``: nothing published).
        int8_ops: the op types of its full-int8 TFLite file built for digits (8x8x1, 10
            classes), which the tests check.
        edgetpu_maps: the Edge TPU analyzer finds every op of that file mapped (checked by
            the tests); the module's docstring says why when it does not.
    """

    name: str
    builder: Callable
    reference: Reference | None
    paper: Paper | None
    int8_ops: frozenset[str] = frozenset()
    edgetpu_maps: bool = True

    @property
    def options(self) -> dict:
        """The builder's own options and their defaults (``input_shape``/``classes`` aside)."""
        params = inspect.signature(self.builder).parameters
        return {k: p.default for k, p in params.items() if k not in ("input_shape", "classes")}

    @property
    def summary(self) -> str:
        """The first line of the builder's docstring."""
        doc = (self.builder.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


_REGISTRY: dict[str, ModelSpec] = {}


def register(fn: Callable | None = None, *, reference: Reference | None = None, paper: Paper | None = None,
             int8_ops: tuple[str, ...] = (), edgetpu_maps: bool = True):
    """Register an architecture builder under its function name.

    Use bare (``@register``) or with the reference configuration, the published figures
    and the converted op types (``@register(reference=…, paper=…, int8_ops=(…))``).
    """

    def wrap(builder: Callable) -> Callable:
        if builder.__name__ in _REGISTRY:
            raise ValueError(f"model {builder.__name__!r} is registered twice")
        _REGISTRY[builder.__name__] = ModelSpec(builder.__name__, builder, reference, paper, frozenset(int8_ops),
                                                edgetpu_maps)
        return builder

    return wrap(fn) if fn is not None else wrap


def list_models() -> list[str]:
    """Names of every registered architecture, sorted."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The registered architecture called ``name``.

    Raises:
        EdgeloopError: no such architecture (the message lists the zoo).
    """
    if name not in _REGISTRY:
        raise EdgeloopError(f"unknown model {name!r}; the zoo has: {', '.join(list_models())}")
    return _REGISTRY[name]


def create(name: str, input_shape: tuple[int, ...] | None = None, classes: int | None = None,
           width: float | None = None, **options):
    """Build a registered architecture with fresh (untrained) weights.

    Args:
        name: registered name, e.g. ``"mobilenet_v2"``.
        input_shape: one sample's shape, without the batch dimension (default: the
            reference configuration's).
        classes: number of output classes (default: the reference configuration's;
            ``create(name)`` builds the network the paper measured).
        width: channel multiplier, rounded as the architecture's paper rounds it.
        **options: the architecture's own options (``edgeloop models list --json`` shows
            them with their defaults).

    Returns:
        A tf_keras model whose output is logits.

    Raises:
        EdgeloopError: unknown name or option, or an option value the architecture refuses.
    """
    spec = get_spec(name)
    if width is not None:
        options["width"] = width
    valid = spec.options
    unknown = sorted(set(options) - set(valid))
    if unknown:
        listed = ", ".join(f"{k} (default {v!r})" for k, v in valid.items()) or "none"
        raise EdgeloopError(f"model {name} has no option {', '.join(unknown)}; its options: {listed}")
    if "width" in options:
        w = options["width"]
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0:
            raise EdgeloopError(f"model {name}: width must be a positive number, got {w!r}")
    if spec.reference is not None:
        input_shape = spec.reference.input_shape if input_shape is None else input_shape
        classes = spec.reference.classes if classes is None else classes
    if input_shape is None:
        raise EdgeloopError(f"model {name} needs an input shape")
    return spec.builder(input_shape=tuple(input_shape), classes=classes, **options)
