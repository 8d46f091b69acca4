"""EfficientNet-Lite0: EfficientNet-B0 made for edge accelerators (ReLU6, no squeeze-excite).

Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
arXiv:1905.11946, Table 1 (the B0 blocks); the Lite changes are tensorflow/tpu
``models/official/efficientnet/lite/README.md``: squeeze-excite removed ("not well
supported for some mobile accelerators"), swish replaced by ReLU6 ("for easier
post-quantization"), stem and head not scaled with width. That README gives 4.7 M
parameters and 407 M MAdds for Lite0. The parameters match (4,652,008 here, as in
reimplementations). The MAdds cannot be the paper's counting: EfficientNet-B0, which is
Lite0 plus squeeze-excite, has 0.39 B FLOPs (multiply-adds) in the paper's Table 2, and
a network cannot lose layers and gain multiply-adds. Counted here, B0's convolutions and
classifier (Keras' EfficientNetB0) hold 385.8 M and Lite0's 385.2 M; the README does not
say what else its 407 M counts, and its MAdds column is questioned in tensorflow/tpu issue
#841 ("EfficientNet-lite MAdds": Lite1-4 look shifted by one row). The MAC figure compared
is therefore the paper's B0 figure, 0.39 B, which Lite0 should match less squeeze-excite's
0.6 M; against the README's 407 M the count is 5.4 % under.

``width`` scales the block channels (multiples of 8, as EfficientNet rounds them) and
``depth`` the repeats (rounded up), as EfficientNet's compound scaling does: Lite1-4 are
width/depth (1.0/1.1, 1.1/1.2, 1.2/1.4, 1.4/1.8) at 240, 260, 280 and 300 pixels.

Converted to full int8 at 8x8x1: CONV_2D, DEPTHWISE_CONV_2D, ADD, MEAN, FULLY_CONNECTED,
ReLU6 fused: all in the Edge TPU's op table, expected to map entirely (this is what the
Lite variant is for). Shrinkable; QAT-able.
"""

from __future__ import annotations

import math

from edgeloop.models._blocks import (
    FeatureSize, check_classes, check_fraction, classifier, conv_bn, image_input, inverted_residual, make_divisible,
)
from edgeloop.models.registry import Paper, Reference, register

# (repeats, kernel, first stride, expansion, output channels): EfficientNet-B0, Table 1.
_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
           (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))


@register(
    reference=Reference((224, 224, 3), 1000),
    paper=Paper(4.7e6, 0.39e9, "tensorflow/tpu efficientnet/lite/README.md: efficientnet-lite0 (4.7 M params); "
                "Tan & Le 2019 Table 2: B0 0.39 B FLOPs (the README's 407 M MAdds: see module docstring)"),
    int8_ops=("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED"),
)
def efficientnet_lite0(input_shape, classes, width: float = 1.0, depth: float = 1.0, dropout: float = 0.2):
    """EfficientNet-Lite0: 16 MBConv blocks with ReLU6 and no squeeze-excite; fixed stem and head.

    Args:
        input_shape: image shape (height, width, channels); any size from 8x8 up.
        classes: output classes (logits).
        width: multiplies the block channels (rounded to multiples of 8); stem and head stay.
        depth: multiplies each stage's repeats (rounded up).
        dropout: dropout before the classifier.
    """
    from edgeloop._tf import keras

    check_classes("efficientnet_lite0", classes)
    if isinstance(depth, bool) or not isinstance(depth, (int, float)) or depth <= 0:
        from edgeloop.errors import EdgeloopError

        raise EdgeloopError(f"model efficientnet_lite0: depth must be a positive number, got {depth!r}")
    inputs, x = image_input("efficientnet_lite0", input_shape)
    size = FeatureSize(input_shape)
    x = conv_bn(x, 32, 3, "stem", stride=size.stride(3), act="relu6")
    block = 0
    for stage, (repeats, kernel, first_stride, expansion, channels) in enumerate(_STAGES):
        # The Lite variants keep the first and last stage's repeats when scaling depth.
        count = repeats if stage in (0, len(_STAGES) - 1) else math.ceil(repeats * depth)
        for r in range(count):
            stride = size.stride(kernel) if first_stride == 2 and r == 0 else 1
            x = inverted_residual(x, expansion, kernel, stride, make_divisible(channels * width), f"block{block}")
            block += 1
    x = conv_bn(x, 1280, 1, "head", act="relu6")
    x = classifier(x, classes, check_fraction("efficientnet_lite0", "dropout", dropout))
    return keras.Model(inputs, x, name="efficientnet_lite0")
