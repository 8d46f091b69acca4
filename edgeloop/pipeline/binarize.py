"""``binarize``: ±1 weights (and optionally ±1 activations) trained with the straight-through estimator.

The forward pass uses ``α · sign(W)`` (α = mean |W| per output channel, as in XNOR-Net) and,
with ``activations``, ``sign(x)`` of each binarized layer's input; the backward pass treats
sign as the identity inside [-1, 1] (STE with hard-tanh clipping). The first and the last
layer stay in full precision, as is usual. With binary activations, the Conv2D / Dense
layer before each binarized one loses its own activation: sign() is the non-linearity
(the sign of a ReLU output would always be +1).

larq is not used: larq 0.14 requires numpy < 2 and TensorFlow 2.21 requires numpy >= 2, so
it cannot be installed beside the pinned TensorFlow; these layers are edgeloop's own
(:mod:`edgeloop.models.layers`, where loading a model finds them too).

Storage: a binarized kernel needs 1 bit a weight (+ one float α per channel), 32x less than
float32. No TFLite converter available with the pinned versions packs bits (Larq Compute
Engine is built for older TensorFlow), so the ``.tflite`` file stores the ±α values as
ordinary weights: weight-only binarization is stripped to plain layers with two distinct
values per channel (int8 then stores them in a byte each, and gzip shrinks them); with
binary activations the model keeps a SIGN op and converts to float32 TFLite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.models.layers import binary_classes
from edgeloop.pipeline._training import check_training_options, compile_classifier, fit
from edgeloop.pipeline.base import Context, Step, register_step


def binarized_kernel(kernel: np.ndarray) -> np.ndarray:
    """α·sign(W) with α the mean magnitude per output channel (what the layer computes with)."""
    alpha = np.mean(np.abs(kernel), axis=tuple(range(kernel.ndim - 1)))
    return np.where(kernel >= 0, 1.0, -1.0).astype(np.float32) * alpha.astype(np.float32)


def _swap(model, to_binary: dict[str, str] | None, activations: bool, linear: tuple[str, ...] = ()):
    """Rebuild ``model`` with the named layers' classes swapped (to binary, or back to plain);
    the layers in ``linear`` lose their activation."""
    import copy

    from edgeloop._tf import keras

    config = copy.deepcopy(model.get_config())
    binary_names = {"BinaryDense": "Dense", "BinaryConv2D": "Conv2D"}
    for entry in config["layers"]:
        name = entry["config"]["name"]
        if name in linear:
            entry["config"]["activation"] = "linear"
        if to_binary is not None and name in to_binary:
            entry["class_name"] = f"edgeloop>Binary{to_binary[name]}"
            entry["module"] = None
            entry["registered_name"] = f"edgeloop>Binary{to_binary[name]}"
            entry["config"]["binary_activations"] = activations
        elif to_binary is None and entry["class_name"].split(">")[-1] in binary_names:
            entry["class_name"] = binary_names[entry["class_name"].split(">")[-1]]
            entry["module"] = "keras.layers"
            entry["registered_name"] = None
            entry["config"].pop("binary_activations", None)
        entry.pop("build_config", None)
    binary_classes()
    cls = keras.Sequential if isinstance(model, keras.Sequential) else keras.Model
    new = cls.from_config(config)
    for layer in new.layers:
        weights = model.get_layer(layer.name).get_weights()
        if to_binary is None and type(model.get_layer(layer.name)).__name__.startswith("Binary"):
            weights = [binarized_kernel(weights[0]), *weights[1:]]
        if weights:
            layer.set_weights(weights)
    return new


@dataclass
class BinarizeOptions:
    """Options of ``binarize``.

    Attributes:
        activations: binarize the inputs of the binarized layers too (else weights only).
        epochs: training passes with binary weights.
        batch_size: samples per optimizer step.
        learning_rate: Adam's learning rate (the latent float weights move with it).
    """

    activations: bool = True
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        check_training_options(self.epochs, self.batch_size, self.learning_rate)


@register_step("binarize", BinarizeOptions, changes_model=True, compresses=True)
class Binarize(Step):
    """Train every Conv2D / Dense layer but the first and last with ±1 weights (STE)."""

    def apply(self, model, ctx: Context):
        o = self.options
        candidates = [layer for layer in model.layers if type(layer).__name__ in ("Dense", "Conv2D")]
        inner = candidates[1:-1]
        if not inner:
            raise EdgeloopError("binarize needs at least three Conv2D / Dense layers (the first and last stay float)")
        targets = {layer.name: type(layer).__name__ for layer in inner}
        # sign() of a ReLU output is always +1: with binary activations the sign is the
        # non-linearity, so the layers feeding a binarized layer lose their own.
        feeders = tuple(candidates[i].name for i in range(len(inner))) if o.activations else ()
        binary = _swap(model, targets, o.activations, feeders)
        compile_classifier(binary, o.learning_rate)
        ctx.record(**fit(binary, ctx, o.epochs, o.batch_size, "binarize"))
        kernels = {n: binary.get_layer(n).get_weights()[0] for n in targets}
        bits = sum(k.size for k in kernels.values())
        channels = sum(k.shape[-1] for k in kernels.values())
        ctx.record(
            binarized_layers=list(targets),
            activation_removed=list(feeders),
            activations=o.activations,
            binary_weights=int(bits),
            storage_bits_packed=int(bits + 32 * channels),  # 1 bit a weight + one float32 alpha a channel
            storage_bits_float32=int(32 * bits),
            storage_ratio=float(32 * bits / (bits + 32 * channels)),
            note="the .tflite file stores these weights unpacked: no converter for the pinned TensorFlow packs bits",
        )
        if o.activations:
            return binary
        return _swap(binary, None, False)  # weight-only: plain layers with alpha * sign(W) kernels
