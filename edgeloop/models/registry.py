"""The model zoo's registry: architectures by name.

Example:
    >>> from edgeloop.models import create
    >>> model = create("digits_cnn", input_shape=(8, 8, 1), classes=10)
    >>> model.output_shape
    (None, 10)
"""

from __future__ import annotations

from typing import Callable

from edgeloop.errors import EdgeloopError

_REGISTRY: dict[str, Callable] = {}


def register(fn: Callable) -> Callable:
    """Register an architecture builder under its function name."""
    if fn.__name__ in _REGISTRY:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names of every registered architecture, sorted."""
    return sorted(_REGISTRY)


def create(name: str, input_shape: tuple[int, ...], classes: int, **options):
    """Build a registered architecture with fresh (untrained) weights.

    Args:
        name: registered name, e.g. ``"digits_cnn"``.
        input_shape: one sample's shape, without the batch dimension.
        classes: number of output classes.
        **options: the architecture's own options (``width`` …).

    Raises:
        EdgeloopError: unknown name or option.
    """
    if name not in _REGISTRY:
        raise EdgeloopError(f"unknown model {name!r}; the zoo has: {', '.join(list_models())}")
    try:
        return _REGISTRY[name](input_shape=tuple(input_shape), classes=classes, **options)
    except TypeError as exc:
        raise EdgeloopError(f"model {name}: {exc}") from None
