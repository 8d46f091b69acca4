"""Random small networks that sample kernel configurations for the predictor's regressors.

A regressor per kind of kernel is only as good as the configurations it has seen: a family of
architectures repeats a few (MobileNet's 3×3 depthwise and 1×1 convolutions, three input
channels at the stem), and a kernel outside them — a max pool, a concatenation, a 10×4
convolution of one channel — is guessed. nn-Meter samples each kernel's configuration space
instead of architectures; this module does the same at the level the device measures: each
network is a short random stack of the blocks edge models are made of (convolutions of 1×1
to 5×5 kernels and strides 1-2, grouped convolutions, depthwise convolutions of 3×3 to 7×7,
max and average pools, residual adds, pre-activation residuals (a ReLU no op before it can
absorb), fire-style concatenations, squeeze-excite multiplies with sigmoid and hard-sigmoid
gates, pre-activation batch norms on concatenations, channel splits and shuffles in three
layouts, NASNet-like cells (ReLUs before separable branches, adds of a branch and a pool,
concatenations of three to five branches: ops XNNPACK declines, left to LiteRT's builtin
kernels), ConvNeXt-like blocks (7×7 depthwise, layer norm, 4× dense with GELU, residual),
ReLU / ReLU6 / hard-swish / swish) at random widths (round and odd) and input
sizes, and op profiling times every kernel of it. Inputs are square images or rectangular
single-channel maps (spectrograms, sensor windows), and the stem's kernel may be rectangular
too: an int8 convolution over one input channel costs per kernel tap, not per MAC, and only
a sample of such stems teaches a regressor that.

A quarter of the networks are *tails*: maps of 1×1 to 8×8 with 64 to 2048 channels, what the
last stages of an ImageNet network look like at a small input. There a kernel's time is its
weights', not its arithmetic (a 1×1 convolution of 1024 channels on a 1×1 map reads 1 MB for
1 M MACs), grouped and 7×7 depthwise convolutions run their slow paths, and a shuffle moves a
few hundred bytes: the regressors of the first sampling under-predicted such kernels of
RegNet, ResNet-50 V2 and NASNet by 15-60 % timed alone, and over-predicted ShuffleNet's small
transposes twofold.
"""

from __future__ import annotations

import numpy as np

SIZES = (16, 24, 32, 48, 64, 96)
WIDTHS = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128)
# Rectangular single-channel inputs (height x width) and their stems' kernels.
MAPS = ((48, 12), (40, 16), (96, 13), (32, 12), (64, 8), (20, 20))
STEM_KERNELS = ((3, 3), (5, 5), (9, 3), (8, 5), (3, 1), (7, 7))
# Tails: small maps, many channels.
TAIL_SIZES = (1, 2, 3, 4, 6, 8)
TAIL_WIDTHS = (64, 96, 128, 192, 256, 368, 512, 768, 1024, 1536, 2048)
TAIL_SHARE = 4  # every fourth network is a tail


def _width(rng: np.random.Generator, tail: bool = False) -> int:
    """A layer's width: a round one half the time, else any count from 3 to 128 — NetAdapt's
    narrowed models have odd widths, and a CPU's vector tiles make them cost more per MAC.
    A tail's: 64 to 2048, round or not."""
    if tail:
        return int(rng.choice(TAIL_WIDTHS)) if rng.random() < 0.5 else int(rng.integers(64, 1025))
    return int(rng.choice(WIDTHS)) if rng.random() < 0.5 else int(rng.integers(3, 129))


def _act(x, kind: str, counter: list[int]):
    from edgeloop.models._blocks import activation

    counter[0] += 1
    return activation(x, kind, f"a{counter[0]}")


def random_network(rng: np.random.Generator, name: str = "sample", tail: bool = False):
    """One random tf_keras network (input ``SIZE × SIZE × 1 or 3`` or a ``MAPS`` one-channel map,
    or for a tail ``TAIL_SIZE × TAIL_SIZE × TAIL_WIDTH``; 10 logits)."""
    from edgeloop._tf import keras

    L = keras.layers
    n = [0]
    if tail:
        size = int(rng.choice(TAIL_SIZES))
        x = inputs = keras.Input((size, size, _width(rng, tail)))
    elif rng.random() < 0.3:  # a rectangular one-channel map and a convolution stem over it
        height, width = MAPS[int(rng.integers(len(MAPS)))]
        x = inputs = keras.Input((height, width, 1))
        kernel = STEM_KERNELS[int(rng.integers(len(STEM_KERNELS)))]
        x = L.Conv2D(_width(rng), kernel, strides=int(rng.choice((1, 2))), padding="same", use_bias=False)(x)
        x = _act(L.BatchNormalization()(x), "relu", n)
    else:
        size = int(rng.choice(SIZES))
        x = inputs = keras.Input((size, size, int(rng.choice((1, 3)))))
    for _ in range(int(rng.integers(3, 8))):
        width = _width(rng, tail)
        block = rng.choice(["conv", "conv", "dw", "pool", "add", "fire", "se", "dense", "dense", "shuffle",
                            "grouped", "preact", "cell", "norm"])
        act = str(rng.choice(["relu", "relu6", "hard_swish", "swish"], p=[0.4, 0.25, 0.15, 0.2]))
        spatial = min(int(x.shape[1]), int(x.shape[2]))
        stride = 2 if spatial >= 8 and rng.random() < 0.35 else 1
        if block == "conv":
            k = int(rng.choice((1, 1, 3) if tail else (1, 3, 5)))
            width = min(width, 512) if tail and k > 1 else width  # a tail's 3x3 stays under 10 MB
            x = L.Conv2D(width, k, strides=stride, padding="same", use_bias=False)(x)
            x = _act(L.BatchNormalization()(x), act, n)
        elif block == "dw":
            x = L.DepthwiseConv2D(int(rng.choice((3, 5, 7))), strides=stride, padding="same", use_bias=False)(x)
            x = _act(L.BatchNormalization()(x), act, n)
            x = L.Conv2D(width, 1, use_bias=False)(x)
            x = _act(L.BatchNormalization()(x), act, n)
        elif block == "pool" and spatial >= 4:
            pool = L.MaxPooling2D if rng.random() < 0.5 else L.AveragePooling2D
            x = pool(int(rng.choice((2, 3))), strides=2, padding="same")(x)
        elif block == "add":
            y = L.Conv2D(int(x.shape[-1]), 1 if tail else 3, padding="same")(x)
            x = L.ReLU()(L.Add()([x, _act(y, act, n)]))
        elif block == "fire":
            squeeze = L.Conv2D(max(2, width // 4), 1, activation="relu")(x)
            x = L.Concatenate()([L.Conv2D(width // 2, 1, activation="relu")(squeeze),
                                 L.Conv2D(width // 2, 3, padding="same", activation="relu")(squeeze)])
        elif block == "dense":  # pre-activation: batch norm on a concatenation stays a MUL and an ADD
            y = L.ReLU()(L.BatchNormalization()(x))
            y = L.Conv2D(max(2, min(width, 256) // 2), 3, padding="same", use_bias=False)(y)
            x = L.Concatenate()([x, y])
        elif block == "shuffle" and int(x.shape[-1]) >= 4:  # split, one half convolved, concatenated, shuffled
            h, w, c = (int(d) for d in x.shape[1:])
            half = c // 2
            left, right = x[..., :half], x[..., half:2 * half]
            right = _act(L.BatchNormalization()(L.Conv2D(half, 1, use_bias=False)(right)), "relu", n)
            x = L.Concatenate()([left, right])
            # The shuffle as implementations write it: (H·W, 2, C/2) or (H, W, 2, C/2) transposed
            # to (…, C/2, 2), or the other way round; the runtime's transposes cost differently.
            form = int(rng.integers(3))
            inner = (half, 2) if form == 2 else (2, half)
            x = L.Reshape((h * w, *inner) if form == 0 else (h, w, *inner))(x)
            x = L.Permute((1, 3, 2) if form == 0 else (1, 2, 4, 3))(x)
            x = L.Reshape((h, w, 2 * half))(x)
        elif block == "grouped" and int(x.shape[-1]) >= 4:  # RegNet / ResNeXt: a grouped 3x3 convolution
            c = int(x.shape[-1])  # groups of 2 to 24 channels, as many groups as fit
            size = int(rng.choice([s for s in (2, 4, 8, 16, 24) if c % s == 0 and c // s >= 2] or [c]))
            groups = c // size
            out = c if rng.random() < 0.5 else groups * max(1, _width(rng, tail) // groups)
            x = L.Conv2D(out, 3, strides=stride, padding="same", groups=groups, use_bias=False)(x)
            x = _act(L.BatchNormalization()(x), act, n)
        elif block == "preact":  # pre-activation residual (ResNetV2, NASNet): a ReLU no op before it can absorb
            c = int(x.shape[-1])
            y = L.DepthwiseConv2D(int(rng.choice((3, 5, 7))), padding="same", use_bias=False)(L.ReLU()(x))
            y = L.BatchNormalization()(L.Conv2D(c, 1, use_bias=False)(y))
            x = L.Add()([x, y])
        elif block == "cell":  # NASNet: ReLU'd separable branches, adds, a wide concatenation
            c = min(width, 64)
            h = L.BatchNormalization()(L.Conv2D(c, 1, use_bias=False)(L.ReLU()(x)))
            branches = [h]
            for _ in range(int(rng.integers(2, 5))):
                b = L.SeparableConv2D(c, int(rng.choice((3, 5, 7))), padding="same", use_bias=False)(L.ReLU()(h))
                b = L.BatchNormalization()(b)
                other = L.AveragePooling2D(3, strides=1, padding="same")(h) if rng.random() < 0.5 else h
                branches.append(L.Add()([b, other]))
            x = L.Concatenate()(branches)
        # ConvNeXt: 7x7 depthwise, layer norm, 4x dense with GELU, residual (from 8 channels: over
        # one channel the converter makes the dense a MUL, and LiteRT aborts the process opening it)
        elif block == "norm" and int(x.shape[-1]) >= 8:
            c = int(x.shape[-1])
            y = L.LayerNormalization(epsilon=1e-6)(L.DepthwiseConv2D(7, padding="same")(x))
            y = L.Dense(c)(L.Activation("gelu")(L.Dense(4 * min(c, 128))(y)))
            x = L.Add()([x, y])
        elif block == "se":  # squeeze-excite: global mean, two dense, channel-wise multiply
            c = int(x.shape[-1])
            s = L.GlobalAveragePooling2D(keepdims=True)(x)
            s = L.Conv2D(max(2, c // 4), 1, activation="relu")(s)
            s = _act(L.Conv2D(c, 1)(s), str(rng.choice(["hard_sigmoid", "sigmoid"])), n)
            x = L.Multiply()([x, s])
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(10)(x), name=name)


def random_networks(count: int, seed: int = 0) -> list:
    """``count`` random networks, reproducibly."""
    rng = np.random.default_rng(seed)
    return [random_network(rng, f"sample_{i}", tail=i % TAIL_SHARE == TAIL_SHARE - 1) for i in range(count)]
