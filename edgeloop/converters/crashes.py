"""Models whose conversion would crash TensorFlow's converter, refused before converting.

:func:`edgeloop.converters.tflite.convert` calls :func:`crash_check` first. What is refused
was measured with TensorFlow 2.21: int8 calibration of a ``GRU`` or ``SimpleRNN`` (a WHILE
loop, unlike the LSTM's fused op) ends the process with a segmentation fault, so no error
could be caught.
"""

from __future__ import annotations

from edgeloop.errors import EdgeloopError

# Layer class -> modes whose conversion crashes the converter (segmentation fault).
CRASHES = {"GRU": ("int8", "int16x8"), "SimpleRNN": ("int8", "int16x8")}


def _inner_kinds(layer):
    """The layer's class and, for wrappers such as Bidirectional or TimeDistributed, the wrapped ones'."""
    yield layer
    for attr in ("layer", "forward_layer", "backward_layer"):
        inner = getattr(layer, attr, None)
        if inner is not None and inner is not layer:
            yield from _inner_kinds(inner)


def crash_check(model, mode: str) -> None:
    """Refuse, in one line, a model whose conversion in ``mode`` would crash the converter.

    Raises:
        EdgeloopError: naming the layer and the ways out.
    """
    for layer in getattr(model, "layers", []):
        for inner in _inner_kinds(layer):
            kind = type(inner).__name__
            if mode in CRASHES.get(kind, ()):
                raise EdgeloopError(
                    f"layer {layer.name} ({kind}): {mode} conversion of a {kind} crashes TensorFlow's converter "
                    "(segmentation fault while calibrating its loop); ways out: convert with mode dynamic or float16 "
                    "(no calibration), or use an LSTM (one fused int8 op)")
