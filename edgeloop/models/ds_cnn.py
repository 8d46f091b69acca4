"""DS-CNN: MLPerf Tiny's keyword spotting reference (49x10 MFCC input, 12 classes).

Zhang et al. 2017, "Hello Edge: Keyword Spotting on Microcontrollers", arXiv:1711.07128
(the DS-CNN family; its small model needs 5.4 M operations, i.e. 2.7 M multiply-adds);
the benchmark's model is ``ds_cnn`` in mlcommons/tiny
``benchmark/training/keyword_spotting/keras_model.py`` (Banbury et al. 2021, "MLPerf Tiny
Benchmark", arXiv:2106.07597): a 10x4 stride-2 convolution with 64 filters, four depthwise
separable blocks of 64 channels, average pooling and a Dense classifier, batch norm after
every convolution, biases throughout. Parameters: 23,756 trainable (24,908 with batch-norm
statistics) counted from that definition; MACs: 2.657 M, the reference model's in
siliconlabs/mltk ``mltk/models/tinyml/keyword_spotting.py`` ("Total MACs: 2.657 M"). The
reference pools over (24, 5) of the 25x5 map (``int(49 / 2)``); here the pool covers the
whole map, which changes no weight and no MAC. ``width`` scales the 64 channels.

Converted to full int8 (8x8x1 or 49x10x1): CONV_2D, DEPTHWISE_CONV_2D (ReLU fused),
AVERAGE_POOL_2D, FULLY_CONNECTED: all in the Edge TPU's op table, expected to map
entirely. Shrinkable (every pointwise convolution); QAT-able.
"""

from __future__ import annotations

from edgeloop.models._blocks import (
    FeatureSize, check_classes, check_fraction, conv_bn, dw_bn, image_input, pooled_classifier, scaled,
)
from edgeloop.models.registry import Paper, Reference, register


@register(
    reference=Reference((49, 10, 1), 12),
    paper=Paper(23_756, 2.657e6, "MLPerf Tiny (Banbury et al. 2021) keyword spotting reference: "
                "mlcommons/tiny keras_model.py ds_cnn (parameters), siliconlabs/mltk keyword_spotting.py (MACs)"),
    int8_ops=("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED"),
)
def ds_cnn(input_shape, classes, width: float = 1.0, dropout: float = 0.4):
    """DS-CNN (MLPerf Tiny keyword spotting): 10x4 convolution, 4 depthwise separable blocks.

    Args:
        input_shape: (time, frequency[, 1]) features, 49x10 MFCCs in the benchmark, or any image.
        classes: output classes (logits).
        width: multiplies the 64 channels.
        dropout: dropout before pooling (the reference's 0.4; it also drops 0.2 after the
            first convolution, kept at half this rate).
    """
    from edgeloop._tf import keras

    check_classes("ds_cnn", classes)
    dropout = check_fraction("ds_cnn", "dropout", dropout)
    inputs, x = image_input("ds_cnn", input_shape)
    size = FeatureSize(input_shape)
    filters = scaled(64, width)
    x = conv_bn(x, filters, (10, 4), "conv1", stride=size.stride(10), use_bias=True)
    if dropout:
        x = keras.layers.Dropout(dropout / 2, name="conv1_dropout")(x)
    for i in range(1, 5):
        x = dw_bn(x, 3, f"block{i}_dw", use_bias=True)
        x = conv_bn(x, filters, 1, f"block{i}_pw", use_bias=True)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, pooled_classifier(x, size, classes), name="ds_cnn")
