"""The Edge TPU analyzer on real converted files of purpose-built models, and its op table."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from edgeloop.converters import read_model
from edgeloop.converters.edgetpu.analyzer import AFTER_CUT, CACHE_BYTES, EDGE, MAPPED, NOT_SUPPORTED, RUNTIME, analyze
from edgeloop.converters.edgetpu.ops import TABLE
from edgeloop.converters.edgetpu.rules import CHECKS
from edgetpu_models import REP
from helpers import run_cli


def test_fully_mappable_model_maps_every_op(tflite_files):
    info = read_model(tflite_files["mappable"])
    a = analyze(info)
    assert a.fully_mapped and a.mapped_fraction == 1.0 and a.first_unmapped is None
    assert a.subgraphs == 1 and {v.status for v in a.ops} == {MAPPED}
    assert a.parameter_bytes == info.constant_bytes and a.streamed_bytes == 0 and not a.fixes
    json.dumps(a.to_dict())  # plain data all the way down


def test_unsupported_op_in_the_middle_cuts_the_graph_there(tflite_files):
    a = analyze(read_model(tflite_files["leaky"]))
    cut = a.first_unmapped
    assert (cut.index, cut.op, cut.layer, cut.status) == (1, "LEAKY_RELU", "leaky", NOT_SUPPORTED)
    assert [v.mapped for v in a.ops] == [True, False, False, False, False]
    assert [v.status for v in a.ops[2:]] == [AFTER_CUT] * 3  # supported, but after the cut: on the CPU
    assert a.mapped_fraction == pytest.approx(1 / 5) and not a.fully_mapped
    assert any("`leaky`" in f and "PReLU(shared_axes=[1, 2])" in f for f in a.fixes)


def test_multiple_subgraphs_map_the_supported_ops_after_the_cut(tflite_files):
    a = analyze(read_model(tflite_files["leaky"]), multiple_subgraphs=True)
    assert [v.mapped for v in a.ops] == [True, False, True, True, True]
    assert a.subgraphs == 2 and [v.segment for v in a.ops] == [0, None, 1, 1, 1]


def test_float_model_is_not_quantized(tflite_files):
    a = analyze(read_model(tflite_files["float"]))
    assert a.problems and a.problems[0].startswith("Model not quantized")
    assert not any(v.mapped for v in a.ops) and not a.fully_mapped and a.mapped_fraction == 0.0


def test_dynamic_batch_is_refused_and_fixed_in_the_file(tflite_files):
    from edgeloop.converters.edgetpu.fixes import static_batch
    from edgeloop.device.interpreter import TFLiteModel

    data = tflite_files["dynamic"].read_bytes()
    a = analyze(read_model(data))
    assert any(p.startswith("dynamic shape") and "[-1, 8, 8, 1]" in p for p in a.problems) and not a.fully_mapped
    fixed, changes = static_batch(data)
    assert len(changes) == 1 and "from dynamic (-1) to 1" in changes[0]
    assert analyze(read_model(fixed)).fully_mapped
    x = REP[:4]
    assert np.array_equal(TFLiteModel(data).predict(x), TFLiteModel(fixed).predict(x))  # same model, static batch
    assert static_batch(fixed) == (fixed, [])


def test_parameters_over_the_cache_are_streamed_and_the_largest_layer_named(tflite_files):
    a = analyze(read_model(tflite_files["wide"]))
    assert a.fully_mapped  # streaming is slower, not a fallback
    assert a.parameter_bytes > CACHE_BYTES and a.streamed_bytes == a.parameter_bytes - CACHE_BYTES
    assert a.largest[0][0] == "wide2" and a.largest[0][1] >= 3000 * 3000
    assert any("`wide2`" in f and "streamed" in f for f in a.fixes)


def test_float_io_runs_at_the_edges_on_the_cpu_without_cutting(tflite_files):
    a = analyze(read_model(tflite_files["float_io"]))
    assert [v.op for v in a.ops if v.edge] == ["QUANTIZE", "DEQUANTIZE"]
    assert all(v.status == EDGE for v in a.ops if v.edge) and all(v.mapped for v in a.ops if not v.edge)
    assert a.first_unmapped is None and a.subgraphs == 1 and not a.fully_mapped
    assert any("io_type" in f for f in a.fixes)


def test_ops_newer_than_the_runtime_stay_on_the_cpu():
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(6, 3, name="conv"),
                              keras.layers.PReLU(shared_axes=[1, 2], name="prelu"),
                              keras.layers.Lambda(lambda t: keras.backend.mean(t, axis=-1), name="zmean")])
    info = read_model(convert(model, "int8", REP))
    by_layer = {v.layer: v for v in analyze(info, runtime_version=12).ops}
    assert by_layer["prelu"].status == RUNTIME and "-m 13" in by_layer["prelu"].fix
    newest = {v.layer: v for v in analyze(info).ops}
    assert newest["prelu"].mapped
    # Mean over z (channels) from runtime 13 on needs a multiple of 4 channels: 6 here.
    assert newest["zmean"].op == "MEAN" and not newest["zmean"].mapped
    assert "multiple of 4" in newest["zmean"].reason and "`zmean`" in newest["zmean"].where
    assert "reduces over z, not only x and y" in by_layer["zmean"].reason  # up to runtime 12: x / y only


def test_coral_limits_are_checked_op_by_op():
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, dilation_rate=(2, 1), padding="same", name="dilated")(inp)
    x = keras.layers.Conv2DTranspose(4, 2, strides=2, name="up")(keras.layers.ZeroPadding2D(1, name="pad")(x))
    x = keras.layers.Lambda(lambda t: t[:, ::2, :, :], name="stride2")(x)
    x = keras.layers.Dense(10, name="dense")(keras.layers.Flatten(name="flatten")(x))
    x = keras.layers.Softmax(name="softmax")(x)
    verdicts = analyze(read_model(convert(keras.Model(inp, x), "int8", REP)), multiple_subgraphs=True).ops
    by_op = {v.op: v for v in verdicts}
    assert "dilates by 2 in y and 1 in x" in by_op["CONV_2D"].reason and by_op["CONV_2D"].layer == "dilated"
    assert "strides other than 1" in by_op["STRIDED_SLICE"].reason and by_op["STRIDED_SLICE"].layer == "stride2"
    assert all(by_op[op].mapped for op in ("PAD", "TRANSPOSE_CONV", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"))
    assert by_op["TRANSPOSE_CONV"].layer == "up" and by_op["TRANSPOSE_CONV"].index > 0


def test_the_op_table_is_consistent():
    from edgeloop.converters.inspect import tflite_schema

    builtin = set(vars(tflite_schema().BuiltinOperator))
    assert {row.op for row in TABLE} <= builtin
    assert {key for row in TABLE for key in row.limits} <= set(CHECKS)
    for op in {row.op for row in TABLE}:  # rows of one op never overlap in runtime
        for runtime in range(10, 16):
            assert sum(row.covers(runtime) for row in TABLE if row.op == op) <= 1, (op, runtime)
    assert all(row.source for row in TABLE)


def test_check_command_exit_status(tflite_files, tmp_path):
    proc = run_cli("check", tflite_files["mappable"], "--target", "edgetpu")
    assert proc.returncode == 0 and "all 5 ops map to the Edge TPU" in proc.stdout, proc.stderr
    proc = run_cli("check", tflite_files["leaky"], "--target", "edgetpu")
    assert proc.returncode == 1
    assert "graph cut at op 1 (LEAKY_RELU, Keras layer `leaky`)" in proc.stdout
    proc = run_cli("check", tflite_files["leaky"], "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["first_unmapped"]["layer"] == "leaky"
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    proc = run_cli("check", junk, "--target", "edgetpu")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "not a TFLite model" in proc.stderr


def test_the_analyzer_runs_without_tensorflow(tflite_files):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from edgeloop.converters import read_model\n"
        "from edgeloop.converters.edgetpu.analyzer import analyze\n"
        f"a = analyze(read_model({str(tflite_files['leaky'])!r}))\n"
        "print(a.first_unmapped.layer, 'tensorflow' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.split() == ["leaky", "False"], proc.stderr


def test_an_op_already_compiled_for_the_edge_tpu_counts_as_mapped(tflite_files):
    # What edgetpu_compiler leaves: a custom op "edgetpu-custom-op" in place of the TPU part.
    # Made here by renaming the first op's code (the compiler cannot be installed here).
    import flatbuffers

    from edgeloop.converters.edgetpu.analyzer import COMPILED
    from edgeloop.converters.inspect import tflite_schema

    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(tflite_files["mappable"].read_bytes(), 0)
    code = model.operatorCodes[model.subgraphs[0].operators[0].opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "edgetpu-custom-op"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    a = analyze(read_model(bytes(builder.Output())))
    assert (a.ops[0].op, a.ops[0].status, a.ops[0].mapped) == ("edgetpu-custom-op", COMPILED, True)


def _changed(path, change):
    from benchmarks.fuzz_cases import pack, unpack

    model = unpack(path.read_bytes())
    change(model)
    return pack(model)


def _stride_zero(model):
    model.subgraphs[0].operators[0].builtinOptions.strideW = 0


def _cycle(model):
    ops = model.subgraphs[0].operators
    ops[0].inputs = [ops[-1].outputs[0], *list(ops[0].inputs)[1:]]  # the first op reads the last op's output


def _huge_input(model):
    graph = model.subgraphs[0]
    graph.tensors[graph.inputs[0]].shape = [1, 40000, 40000, 1]  # 1.6e9 values: the reader's limit is 2**31
    graph.tensors[graph.inputs[0]].shapeSignature = None


@pytest.mark.parametrize("change, message", [
    (_stride_zero, "stride_width > 0 was not true"),
    (_cycle, r"input->dims->size != 4"),
    (_huge_input, "exceed the 32-bit integer limit"),
])
def test_check_refuses_a_model_the_interpreter_refuses(tflite_files, tmp_path, change, message):
    """Every op of these maps by the table, and `check` said so (exit 0); LiteRT will not load them."""
    path = tmp_path / "crafted.tflite"
    path.write_bytes(_changed(tflite_files["mappable"], change))
    assert analyze(read_model(path)).fully_mapped  # what check predicted before it asked the interpreter
    proc = run_cli("check", path)
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"edgeloop: error: the TFLite interpreter refuses {path} (allocate): ")
    assert re.search(message, proc.stderr)


def test_a_compiled_model_still_loads_for_check(tflite_files, tmp_path):
    from edgeloop.converters.edgetpu.run import check_loads

    def compiled(model):
        code = model.operatorCodes[model.subgraphs[0].operators[0].opcodeIndex]
        code.builtinCode = code.deprecatedBuiltinCode = 32  # CUSTOM
        code.customCode = "edgetpu-custom-op"

    path = tmp_path / "compiled.tflite"
    path.write_bytes(_changed(tflite_files["mappable"], compiled))
    report = check_loads(path)
    assert report["loads"] and report["custom_op"]  # no kernel here for the custom op: loading stops at it


@pytest.fixture(scope="module")
def resize_models(tmp_path_factory):
    """Keras' own resize layers (version 3, half_pixel_centers) and the Lambda the fix names (version 2)."""
    from edgeloop._tf import keras, tf
    from edgeloop.converters.tflite import convert

    def model(layer):
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, padding="same"), layer,
                                 keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(3)])

    layers = {
        "upsampling": keras.layers.UpSampling2D(2),
        "resizing": keras.layers.Resizing(16, 16),
        "lambda": keras.layers.Lambda(lambda x: tf.compat.v1.image.resize_nearest_neighbor(
            x, [16, 16], align_corners=False, half_pixel_centers=False)),
    }
    folder = tmp_path_factory.mktemp("resize")
    paths = {}
    for name, layer in layers.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(convert(model(layer), "int8", REP))
    return paths


def test_resize_ops_of_version_3_are_not_mapped_and_the_fix_maps(resize_models):
    from edgeloop.converters.edgetpu.analyzer import VERSION

    for name, op, issue in (("upsampling", "RESIZE_NEAREST_NEIGHBOR", "issues/420"), ("resizing", "RESIZE_BILINEAR", "issues/396")):
        a = analyze(read_model(resize_models[name]))
        (v,) = [v for v in a.ops if v.op == op]
        assert (v.mapped, v.status) == (False, VERSION), name
        assert f"{op} version 3 (half_pixel_centers=True): the Edge TPU compiler takes up to version 2" in v.reason
        assert issue in v.reason and "half_pixel_centers=False" in v.fix
        assert a.first_unmapped.index == v.index and not a.fully_mapped
    fixed = analyze(read_model(resize_models["lambda"]))
    assert fixed.fully_mapped and [op.version for op in read_model(resize_models["lambda"]).ops if "RESIZE" in op.name] == [2]
    proc = run_cli("check", resize_models["upsampling"])
    assert proc.returncode == 1 and "Operation version not supported" in proc.stdout, proc.stderr


def test_a_float_models_ops_are_one_line_not_one_each(tflite_files):
    proc = run_cli("check", tflite_files["float"])
    assert proc.returncode == 1, proc.stderr
    not_compiled = [line for line in proc.stdout.splitlines() if "Model not compiled" in line]
    assert not_compiled == ["    all 5 ops CPU  Model not compiled (see the problem above): "
                            "CONV_2D x1, MAX_POOL_2D x1, RESHAPE x1, FULLY_CONNECTED x2"]
