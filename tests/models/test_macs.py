"""MAC counting against hand computations, one layer kind at a time."""

from __future__ import annotations

from edgeloop.models.macs import model_macs


def test_every_layer_kind_against_a_hand_count():
    from edgeloop._tf import keras

    L = keras.layers
    i = keras.Input((8, 8, 4))
    a = L.Conv2D(6, 3, padding="same", name="conv")(i)                       # 8*8 * 3*3*4 * 6
    b = L.Conv2D(8, 3, strides=2, padding="same", groups=2, name="grouped")(a)  # 4*4 * 3*3*(6/2) * 8
    c = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(b)  # 4*4 * 3*3*8*2
    d = L.SeparableConv2D(5, 3, padding="same", name="sep")(c)                # 4*4 * (3*3*16 + 16*5)
    e = L.Conv2DTranspose(3, 2, strides=2, name="up")(d)                      # (4*4 input positions) * 2*2*5*3
    f = L.Reshape((64, 3), name="rows")(e)
    g = L.Conv1D(4, 3, padding="same", name="conv1d")(f)                      # 64 * 3*3 * 4
    h = L.Dense(2, name="dense")(g)                                          # 64 * 4*2
    macs = model_macs(keras.Model(i, h))
    expected = {
        "conv": 64 * 36 * 6, "grouped": 16 * 27 * 8, "dw": 16 * 9 * 16, "sep": 16 * (144 + 80),
        "up": 16 * 60, "conv1d": 64 * 9 * 4, "dense": 64 * 8,
    }
    assert {k: v for k, v in macs.items() if k != "total"} == expected
    assert macs["total"] == sum(expected.values())


def test_shared_layers_count_one_call_and_wrappers_count_their_layer():
    from edgeloop._tf import keras, tfmot

    shared = keras.layers.Dense(3, name="shared")
    i = keras.Input((4,))
    model = keras.Model(i, keras.layers.Add()([shared(i), shared(i)]))
    assert model_macs(model) == {"shared": 12, "total": 12}

    plain = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, name="fc")])
    pruned = tfmot.sparsity.keras.prune_low_magnitude(plain)
    assert model_macs(pruned) == {"fc": 35, "total": 35}
