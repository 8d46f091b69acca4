"""The ``.tflite`` reader on real converted files: subgraphs, versions, options, MACs, layers,
per-channel axes, constant sizes; and malformed files end in one clear error."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgeloop.converters import read_model
from edgeloop.errors import EdgeloopError
from helpers import run_cli


def test_ops_carry_version_options_macs_and_keras_layer(tflite_files):
    info = read_model(tflite_files["mappable"])  # tiny_cnn: conv(8, 3x3, same, relu) -> pool -> flatten -> fc(32) -> out(10)
    assert [op.layer for op in info.ops] == ["conv", "pool", "flatten", "fc", "out"]
    conv, pool, _, fc, out = info.ops
    assert conv.options["padding"] == "SAME" and conv.options["fused_activation_function"] == "RELU"
    assert (conv.options["stride_h"], conv.options["dilation_wfactor"]) == (1, 1)
    assert pool.options["filter_width"] == 2 and pool.options["padding"] == "VALID"
    assert all(op.version >= 1 for op in info.ops) and conv.version >= 2  # int8 conv kernels are version 2+
    assert conv.macs == 8 * 8 * 8 * 3 * 3 * 1  # output pixels x filters x kernel x input channels
    assert fc.macs == 32 * 128 and out.macs == 10 * 32 and pool.macs == 0
    assert info.macs == conv.macs + fc.macs + out.macs


def test_macs_of_depthwise_and_transpose_convolutions():
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    inp = keras.Input((8, 8, 4))
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(inp)
    x = keras.layers.Conv2DTranspose(2, 2, strides=2, name="up")(x)
    info = read_model(convert(keras.Model(inp, x), "float32"))
    macs = {op.layer: op.macs for op in info.ops}
    assert macs["dw"] == 8 * 8 * 4 * 3 * 3  # one 3x3 filter per channel
    assert macs["up"] == 8 * 8 * 4 * 2 * 2 * 2  # each input value scatters a 2x2 patch into 2 filters


def test_per_channel_axis_and_constant_bytes(tflite_files):
    info = read_model(tflite_files["mappable"])
    weights = info.tensors[info.ops[0].inputs[1]]
    assert weights.shape == (8, 3, 3, 1) and len(weights.scales) == 8 and weights.quantized_dimension == 0
    assert weights.buffer_bytes == 8 * 3 * 3 * 1  # int8: one byte per weight
    bias = info.tensors[info.ops[0].inputs[2]]
    assert bias.dtype == "int32" and bias.buffer_bytes == 8 * 4
    assert info.constant_bytes == sum(t.buffer_bytes for t in info.tensors if t.is_constant)
    activation = info.tensors[info.ops[0].outputs[0]]
    assert activation.buffer_bytes == 0 and len(activation.scales) == 1


def test_resize_and_concatenation_options():
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    inp = keras.Input((4, 4, 2))
    up = keras.layers.UpSampling2D(interpolation="bilinear", name="up")(inp)
    cat = keras.layers.Concatenate(axis=-1, name="cat")([up, up])
    info = read_model(convert(keras.Model(inp, cat), "float32"))
    ops = {op.name: op for op in info.ops}
    assert set(ops["RESIZE_BILINEAR"].options) >= {"align_corners", "half_pixel_centers"}
    assert ops["RESIZE_BILINEAR"].options["half_pixel_centers"] is True  # what Keras' bilinear upsampling asks
    assert ops["CONCATENATION"].options["axis"] in (-1, 3)


def test_every_subgraph_is_read():
    from edgeloop._tf import tf

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def loop(x):
        return tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0), (tf.constant(0), x))[1]

    blob = tf.lite.TFLiteConverter.from_concrete_functions([loop.get_concrete_function()], loop).convert()
    info = read_model(blob)
    assert len(info.subgraphs) == 3  # main graph, loop condition, loop body
    assert [op.name for op in info.ops] == ["WHILE"]
    assert info.ops[0].options["cond_subgraph_index"] == 1 and info.ops[0].options["body_subgraph_index"] == 2
    body = info.subgraphs[2]
    assert {op.name for op in body.ops} >= {"ADD", "MUL"}


@pytest.fixture(scope="module")
def model_bytes(tflite_files):
    return tflite_files["leaky"].read_bytes()


def test_truncated_files_fail_with_one_clear_error(model_bytes):
    for cut in (0, 4, 7, 8, 12, 16, 64, len(model_bytes) // 4, len(model_bytes) // 2, len(model_bytes) - 1):
        with pytest.raises(EdgeloopError) as err:
            read_model(model_bytes[:cut])
        message = str(err.value)
        assert "\n" not in message and ("corrupt" in message or "not a TFLite model" in message), (cut, message)


def test_random_byte_flips_never_crash_or_hang(model_bytes):
    rng = np.random.default_rng(0)
    outcomes = {"parsed": 0, "refused": 0}
    started = time.perf_counter()
    for _ in range(300):
        data = bytearray(model_bytes)
        for position in rng.integers(8, len(data), size=4):  # keep the identifier, break the rest
            data[position] = int(rng.integers(0, 256))
        try:
            read_model(bytes(data))
            outcomes["parsed"] += 1
        except EdgeloopError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
    assert time.perf_counter() - started < 30
    assert outcomes["refused"] > 0  # the flips did reach structure the reader checks


def test_inspect_command_shows_layers_and_macs_and_refuses_a_truncated_file(tflite_files, tmp_path):
    proc = run_cli("inspect", tflite_files["mappable"], "--tensors")
    assert proc.returncode == 0, proc.stderr
    assert "conv" in proc.stdout and "4,608 MACs" in proc.stdout and "8 scales on axis 0" in proc.stdout
    proc = run_cli("inspect", tflite_files["mappable"], "--json")
    import json

    data = json.loads(proc.stdout)
    assert data["macs"] == 4608 + 4096 + 320 and data["subgraphs"][0]["ops"][0]["layer"] == "conv"
    assert data["subgraphs"][0]["tensors"][data["subgraphs"][0]["ops"][0]["inputs"][1]]["quantization"]["axis"] == 0
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(tflite_files["mappable"].read_bytes()[:100])
    proc = run_cli("inspect", broken)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "corrupt" in proc.stderr


def _crafted(blob: bytes, change) -> bytes:
    from benchmarks.fuzz_cases import pack, unpack

    model = unpack(blob)
    change(model)
    return pack(model)


def _set_graph_inputs(model, value):
    model.subgraphs[0].inputs = value


def _shorten_weights(model):
    graph = model.subgraphs[0]
    conv = next(op for op in graph.operators if len(op.inputs) > 1)
    buffer = model.buffers[graph.tensors[conv.inputs[1]].buffer]
    buffer.data = buffer.data[:-1]


@pytest.mark.parametrize("change, message", [
    (lambda m: _set_graph_inputs(m, [10**6]), r"subgraph 0: an input tensor is 1000000, outside the \d+ there are"),
    (lambda m: _set_graph_inputs(m, [-3]), r"subgraph 0: an input tensor is -3, outside"),  # used to wrap around
    (lambda m: setattr(m.subgraphs[0].operators[0], "inputs", [-2, 1, 2]), r"subgraph 0, operator 0: an input tensor is -2"),
    (lambda m: setattr(m.subgraphs[0].operators[1], "opcodeIndex", 99), r"subgraph 0, operator 1: its operator code is 99"),
    (lambda m: setattr(m.subgraphs[0].tensors[0], "buffer", 10**6), r"subgraph 0, tensor 0: its buffer is 1000000"),
    (_shorten_weights, r"constant tensor \d+ \(.*\) holds 71 bytes but its int8 shape \[8, 3, 3, 1\] needs 72"),
    (lambda m: setattr(m.subgraphs[0].tensors[0], "shape", [1, 2**31 - 1, 8, 1]),
     r"subgraph 0, tensor 0: its shape \[1, 2147483647, 8, 1\] has 17,179,869,176 elements, more than the 2,147,483,647"),
    (lambda m: setattr(m.subgraphs[0].tensors[0], "shape", [1] * 11),  # XNNPACK crashed on it (SIGSEGV)
     r"subgraph 0, tensor 0: its shape has 11 dimensions, more than the 8 TFLite's kernels take"),
    (lambda m: setattr(m, "subgraphs", m.subgraphs * 1001), r"it has 1,001 subgraphs, more than the 1,000 edgeloop reads"),
    (lambda m: setattr(m.subgraphs[0], "tensors", m.subgraphs[0].tensors * 10), r"it has [\d,]+ tensors, more than the 100"),
    (lambda m: setattr(m.subgraphs[0], "operators", m.subgraphs[0].operators * 30), r"it has 150 operators, more than the 100"),
])
def test_crafted_indices_lengths_and_counts_are_refused_in_one_line(tflite_files, change, message, monkeypatch):
    from edgeloop.converters import _limits

    # The limits as they are would need 30,000 tensors packed here; the check is the same at 100.
    monkeypatch.setattr(_limits, "MAX_TENSORS", 100)
    monkeypatch.setattr(_limits, "MAX_OPS", 100)
    blob = _crafted(tflite_files["mappable"].read_bytes(), change)
    started = time.perf_counter()
    with pytest.raises(EdgeloopError, match=r"^corrupt TFLite model the given bytes: " + message):
        read_model(blob)
    assert time.perf_counter() - started < 60  # refused before walking, not after (a generous bound)


def test_special_files_are_refused_without_reading_them(tmp_path):
    import os

    fifo = tmp_path / "fifo.tflite"
    os.mkfifo(fifo)  # opening it to read would block until a writer came
    sparse = tmp_path / "sparse.tflite"
    with open(sparse, "wb") as f:
        f.write(b"\x1c\x00\x00\x00TFL3")
        f.truncate(64 * 2**30)  # 64 GiB that reading used to try (MemoryError)
    for path, message in ((fifo, "not a regular file"), (sparse, "more than the 2,147,483,647"),
                          (tmp_path, "is a folder")):
        for command in ("inspect", "check", "bench"):
            proc = run_cli(command, path, timeout=120)
            assert proc.returncode == 2, (command, path, proc.stderr)
            assert proc.stderr.strip().splitlines() == [f"edgeloop: error: {proc.stderr.strip()[17:]}"], proc.stderr
            assert message in proc.stderr, (command, proc.stderr)


def test_an_empty_weight_tensor_is_shown_not_a_traceback(tflite_files):
    import warnings

    from edgeloop.converters import weight_sparsity, weight_unique_values

    def empty_conv(model):
        graph = model.subgraphs[0]
        weights = graph.tensors[graph.operators[0].inputs[1]]
        weights.shape = [0, 3, 3, 1]  # no filter at all: 0 bytes needed, the buffer has more

    info = read_model(_crafted(tflite_files["mappable"].read_bytes(), empty_conv))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Mean of empty slice" went to stderr
        assert "conv" not in weight_sparsity(info) and "conv" not in weight_unique_values(info)


def test_a_fused_depthwise_kernel_is_keyed_by_its_own_layer_not_the_activation():
    """The converter names a depthwise kernel fused with batch norm and ReLU6 after the
    activation first (``m/act/Relu6;m/bn/FusedBatchNormV3;m/dw/depthwise``): its sparsity and
    distinct values are reported under the depthwise layer."""
    from edgeloop._tf import keras
    from edgeloop.converters.inspect import weight_sparsity, weight_unique_values
    from edgeloop.converters.tflite import convert

    L = keras.layers
    keras.utils.set_random_seed(0)
    i = keras.Input((8, 8, 4))
    x = L.ReLU(6.0, name="act")(L.BatchNormalization(name="bn")(L.DepthwiseConv2D(3, padding="same", name="dw")(i)))
    x = L.Dense(3, name="head")(L.GlobalAveragePooling2D()(L.Conv2D(6, 1, name="pw")(x)))
    blob = convert(keras.Model(i, x), "int8", np.random.default_rng(0).random((4, 8, 8, 4), dtype=np.float32))
    info = read_model(blob)
    dw = next(op for op in info.ops if op.name == "DEPTHWISE_CONV_2D")
    assert info.tensors[dw.inputs[1]].name.split(";")[0].endswith("act/Relu6")  # the naming this is about
    assert set(weight_sparsity(info)) == set(weight_unique_values(info)) == {"dw", "pw", "head"}


def test_layers_named_with_a_slash_are_found_by_their_whole_name():
    """tf_keras.applications name layers ``expanded_conv/project``: the converter's tensor path
    splits them, and the sparsity check must still find the pruned layer in the file."""
    from edgeloop._tf import keras
    from edgeloop.converters.inspect import weight_sparsity
    from edgeloop.converters.tflite import convert
    from edgeloop.pipeline._sparsity import layer_kinds

    L = keras.layers
    keras.utils.set_random_seed(0)
    i = keras.Input((8, 8, 3))
    x = L.ReLU(name="block/relu")(L.Conv2D(4, 3, name="block/expand")(i))
    model = keras.Model(i, L.Dense(2, name="head")(L.Flatten()(L.Conv2D(4, 1, name="block/project")(x))))
    info = read_model(convert(model, "int8", np.random.default_rng(0).random((4, 8, 8, 3), dtype=np.float32)))
    assert set(weight_sparsity(info, layer_kinds(model))) == {"block/expand", "block/project", "head"}
