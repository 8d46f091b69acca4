"""Weights on the int8 grid the converter reproduces: bias correction and AdaRound, in Keras.

Both converters quantize a kernel symmetrically: per output channel (or per tensor)
``scale = max|w| / 127`` and ``q = round(w / scale)``. A kernel whose values already are
``scale * k`` with integer ``k`` in [-127, 127] and whose largest |value| is exactly
``127 * scale`` comes out of the converter as ``k`` exactly: the rounding chosen here is
the rounding the file holds (the tests check it in the converted file).

- :func:`bias_correct`: the expected output shift the rounding of the weights causes,
  ``E[conv(x, w_q - w)]`` per output channel on calibration inputs, is taken out of the
  bias (Nagel et al. 2019, empirical bias correction).
- :func:`adaround`: each weight is rounded up or down as learned to keep the layer's
  output on calibration inputs (Nagel et al., "Up or Down? Adaptive Rounding", ICML
  2020): a rectified sigmoid per weight, the reconstruction error plus a regulariser
  that drives it to 0 or 1, its temperature annealed.

Both look at a layer's linear part (the kernel alone), so a fused activation does not
matter; run :func:`edgeloop.quant.fold.fold_batch_norms` first so the kernels are the
ones the file will hold.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgeloop.quant.fold import WEIGHTED

QMAX = 127


def _axis_view(class_name: str, kernel: np.ndarray) -> np.ndarray:
    """The kernel as ``(-1, output channels)``."""
    if class_name == "DepthwiseConv2D":
        return kernel.reshape(-1, kernel.shape[2] * kernel.shape[3])
    return kernel.reshape(-1, kernel.shape[-1])


def grid_scale(class_name: str, kernel: np.ndarray, per_channel: bool = True) -> np.ndarray:
    """The converter's weight scale, broadcastable to the kernel."""
    flat = _axis_view(class_name, kernel)
    peak = np.abs(flat).max(axis=0) if per_channel else np.full(flat.shape[1], np.abs(flat).max())
    scale = np.where(peak > 0, peak / QMAX, 1.0).astype(np.float32)
    return np.broadcast_to(scale, flat.shape).reshape(kernel.shape)


def snap(class_name: str, kernel: np.ndarray, k: np.ndarray, per_channel: bool = True) -> np.ndarray:
    """``scale * k`` with the peak of each channel kept at exactly ±127 (so the scale survives)."""
    scale = grid_scale(class_name, kernel, per_channel)
    flat_w, flat_k = _axis_view(class_name, kernel), _axis_view(class_name, k.copy())
    peaks = np.abs(flat_w).argmax(axis=0) if per_channel else None
    if per_channel:
        cols = np.arange(flat_w.shape[1])
        flat_k[peaks, cols] = np.sign(flat_w[peaks, cols]) * QMAX
    else:
        i = np.unravel_index(np.abs(flat_w).argmax(), flat_w.shape)
        flat_k[i] = np.sign(flat_w[i]) * QMAX
    k = np.clip(flat_k.reshape(kernel.shape), -QMAX, QMAX)
    return (scale * k).astype(np.float32)


def nearest(class_name: str, kernel: np.ndarray, per_channel: bool = True) -> np.ndarray:
    """The kernel rounded to nearest on the converter's grid (what plain conversion stores)."""
    scale = grid_scale(class_name, kernel, per_channel)
    return snap(class_name, kernel, np.round(kernel / scale), per_channel)


def target_layers(model) -> list:
    """Conv2D / DepthwiseConv2D / Dense layers (their linear part is what both transforms look at)."""
    return [layer for layer in model.layers
            if type(layer).__name__ in WEIGHTED and getattr(layer, "groups", 1) == 1]  # grouped: no CPU kernel to replay


def layer_inputs(model, layers: list, x: np.ndarray) -> list[np.ndarray]:
    """The float inputs of ``layers`` on samples ``x`` (one forward pass)."""
    from edgeloop._tf import keras

    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    out = probe.predict(x, verbose=0, batch_size=32)
    return out if isinstance(out, list) else [out]


def bias_correct(model, x: np.ndarray, per_channel: bool = True) -> list[str]:
    """Correct every target layer's bias for its weights' rounding (in place); return their names."""
    layers = [layer for layer in target_layers(model) if layer.use_bias]
    done = []
    for layer, inputs in zip(layers, layer_inputs(model, layers, x)):
        weights = layer.get_weights()
        name = type(layer).__name__
        linear = _apply_fn(layer)
        # The linear part only: a fused activation comes after the bias this corrects.
        diff = np.asarray(linear(inputs, nearest(name, weights[0], per_channel) - weights[0]))
        shift = diff.reshape(-1, diff.shape[-1]).mean(axis=0)
        layer.set_weights([weights[0], weights[1] - shift.astype(np.float32), *weights[2:]])
        done.append(layer.name)
    return done


def adaround(model, x: np.ndarray, per_channel: bool = True, iterations: int = 300, reg: float = 0.01,
             progress: Callable[[str], None] | None = None) -> list[str]:
    """Learn each target layer's rounding and snap its kernel onto the grid (in place)."""
    from edgeloop._tf import tf

    layers = target_layers(model)
    done = []
    zeta, gamma = 1.1, -0.1  # the rectified sigmoid's stretch, as in the paper
    for layer, inputs in zip(layers, layer_inputs(model, layers, x)):
        weights = layer.get_weights()
        name = type(layer).__name__
        kernel = weights[0]
        scale = grid_scale(name, kernel, per_channel)
        floor = np.floor(kernel / scale)
        rest = kernel / scale - floor
        # Start each weight at its nearest rounding: h(v) = rest.
        v = tf.Variable(-np.log((zeta - gamma) / (np.clip(rest, 1e-3, 1 - 1e-3) - gamma) - 1), dtype=tf.float32)
        xs = tf.constant(inputs, tf.float32)
        conv = _apply_fn(layer)
        target = tf.constant(np.asarray(conv(xs, tf.constant(kernel))))  # the float kernel's linear output
        energy = tf.constant(float(np.mean(np.square(target.numpy()))) or 1.0)
        opt = tf.keras.optimizers.Adam(1e-2)
        scale_t, floor_t = tf.constant(scale), tf.constant(floor.astype(np.float32))

        @tf.function
        def train_step(beta):
            with tf.GradientTape() as tape:
                h = tf.clip_by_value(tf.sigmoid(v) * (zeta - gamma) + gamma, 0.0, 1.0)
                w = scale_t * tf.clip_by_value(floor_t + h, -QMAX, QMAX)
                # Reconstruction error relative to the output's energy, so `reg` means the same in every layer.
                rec = tf.reduce_mean(tf.square(conv(xs, w) - target)) / energy
                round_loss = tf.reduce_mean(1.0 - tf.pow(tf.abs(2.0 * h - 1.0), beta))
                loss = rec + reg * round_loss
            opt.apply_gradients([(tape.gradient(loss, v), v)])
            return rec

        for it in range(iterations):
            beta = 20.0 - (20.0 - 2.0) * it / max(iterations - 1, 1)  # anneal: soft early, hard late
            train_step(tf.constant(beta))
        h = np.clip(1 / (1 + np.exp(-v.numpy())) * (zeta - gamma) + gamma, 0, 1)
        layer.set_weights([snap(name, kernel, floor + (h >= 0.5), per_channel), *weights[1:]])
        done.append(layer.name)
        if progress:
            progress(layer.name)
    return done


def _apply_fn(layer):
    """``f(x, kernel)``: the layer's linear part (no bias) with a given kernel."""
    from edgeloop._tf import tf

    name = type(layer).__name__
    if name == "Dense":
        return lambda x, w: tf.tensordot(tf.cast(x, tf.float32), w, 1)
    strides = (1, *layer.strides, 1)
    padding = layer.padding.upper()
    dilations = layer.dilation_rate
    if name == "DepthwiseConv2D":
        return lambda x, w: tf.nn.depthwise_conv2d(x, w, strides, padding, dilations=dilations)
    return lambda x, w: tf.nn.conv2d(x, w, strides, padding, dilations=dilations)
