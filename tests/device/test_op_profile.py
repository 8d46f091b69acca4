"""Per-op latency: each op cut out into a model of its own computes what it computed inside
the whole model, and is timed alone."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from edgeloop.converters import read_model
from edgeloop.device.benchmark import fill_random_inputs, model_values, run_benchmark
from edgeloop.device.interpreter import interpreter_module
from edgeloop.device.op_profile import METHOD, fed_tensors, profile_ops, single_op_models, tiny_model
from edgeloop.device.options import BenchmarkOptions

bench = importlib.import_module("edgeloop.device.benchmark")  # the package exports a function of that name


@pytest.mark.filterwarnings("ignore:Warning. Enabling .experimental_preserve_all_tensors")
@pytest.mark.parametrize("name", ["int8", "float32"])
def test_each_single_op_model_reproduces_its_op_inside_the_whole_model(trained_model_and_files, name):
    _, files = trained_model_and_files
    raw = files[name].read_bytes()
    info = read_model(raw)
    whole = interpreter_module().Interpreter(model_content=raw, experimental_preserve_all_tensors=True)
    whole.allocate_tensors()
    fill_random_inputs(whole, seed=1)
    whole.invoke()
    cuts = single_op_models(raw)
    assert [(i, op) for i, op, _, _ in cuts] == [(op.index, op.name) for op in info.ops]
    for index, op_name, output, blob in cuts:
        op = info.ops[index]
        assert output == info.tensors[op.outputs[0]].name
        alone = read_model(blob)
        assert [o.name for o in alone.ops] == [op_name] and len(alone.outputs) == len(op.outputs)
        single = interpreter_module().Interpreter(model_content=blob)
        single.allocate_tensors()
        variable = [t for t in op.inputs if t >= 0 and info.tensors[t].data is None]
        for detail, tensor in zip(single.get_input_details(), variable):
            single.set_tensor(detail["index"], whole.get_tensor(tensor))
        single.invoke()
        got = single.get_tensor(single.get_output_details()[0]["index"])
        np.testing.assert_array_equal(got, whole.get_tensor(op.outputs[0]))


def test_op_profile_of_a_benchmark(trained_model_and_files):
    _, files = trained_model_and_files
    result = run_benchmark(files["int8"], BenchmarkOptions(runs=20, warmup=2, op_profiling=True))
    assert result.op_profile_method == METHOD
    ops = read_model(files["int8"]).ops
    assert [(r["index"], r["op"]) for r in result.op_profile] == [(op.index, op.name) for op in ops]
    assert all(r["error"] is None and r["median_ms"] > 0 and r["runs"] == 20 for r in result.op_profile)


def test_op_profiling_feeds_each_op_the_values_it_sees_inside_the_model(trained_model_and_files):
    _, files = trained_model_and_files
    raw = files["int8"].read_bytes()
    info = read_model(raw)
    sets = model_values(raw, seed=0)
    # One set of values per input set the whole model is timed on; the first is the one
    # fill_random_inputs gives, and the sets differ.
    assert len(sets) == bench.input_sets(int(np.prod(info.tensors[info.inputs[0]].shape)))
    whole = interpreter_module().Interpreter(model_content=raw)
    whole.allocate_tensors()
    fill_random_inputs(whole, seed=0)
    whole.invoke()
    np.testing.assert_array_equal(sets[0][info.outputs[0]], whole.get_tensor(info.outputs[0]))
    assert len({one[info.inputs[0]].tobytes() for one in sets}) == len(sets)
    fed = fed_tensors(raw)
    seen = {}

    def record(blob, inputs):
        seen[len(seen)] = (blob, inputs)
        return [0.001]

    rows = profile_ops(raw, record, values=sets)
    assert len(rows) == len(info.ops) == len(seen) and all(r["error"] is None for r in rows)
    for index, (blob, inputs) in seen.items():
        op = info.ops[index]
        assert fed[index] == [t for t in op.inputs if t >= 0 and info.tensors[t].data is None]
        assert len(inputs) == len(sets)
        for one, fed_values in zip(sets, inputs):
            assert len(fed_values) == len(fed[index]) and all(v is one[t] for v, t in zip(fed_values, fed[index]))
        # Fed the last set's values, the op alone computes what the whole model computed there.
        single = interpreter_module().Interpreter(model_content=blob)
        single.allocate_tensors()
        for detail, value in zip(single.get_input_details(), inputs[-1]):
            single.set_tensor(detail["index"], value)
        single.invoke()
        np.testing.assert_array_equal(single.get_tensor(single.get_output_details()[0]["index"]), sets[-1][op.outputs[0]])


def test_a_single_op_is_timed_on_each_set_of_its_values_in_turn(trained_model_and_files, monkeypatch):
    _, files = trained_model_and_files
    raw = files["int8"].read_bytes()
    sets, fed = model_values(raw, seed=0), fed_tensors(raw)
    index, blob = next((i, b) for i, _, _, b in single_op_models(raw) if len(fed[i]) == 1)
    inputs = [[one[fed[index][0]]] for one in sets]
    fed_runs = []

    def invoke(interpreter):
        fed_runs.append(interpreter.get_tensor(interpreter.get_input_details()[0]["index"]).copy())
        return 1000

    monkeypatch.setattr(bench, "invoke", invoke)
    times = bench._time_single_op(blob, BenchmarkOptions(runs=100), inputs)
    assert len(times) == 100 and len(fed_runs) == 103  # 3 untimed first
    assert 4 <= len(sets) < 103
    for run, got in enumerate(fed_runs):
        np.testing.assert_array_equal(got, inputs[run % len(sets)][0])


def test_at_two_threads_a_single_op_is_timed_in_two_interpreters_and_the_faster_kept(trained_model_and_files,
                                                                                   monkeypatch):
    """An interpreter's thread pool can run slow for its whole life: at more than one thread the
    runs are split between two interpreters, and the faster one's timings are what counts."""
    _, files = trained_model_and_files
    raw = files["int8"].read_bytes()
    _, _, _, blob = next(iter(single_op_models(raw)))
    opened = []
    real_open = bench.open_model

    interpreters = []

    def open_model(model, options):
        opened.append(options.threads)
        interpreters.append(real_open(model, options))
        return interpreters[-1]

    def invoke(interpreter):  # ns per run: the first interpreter slow, the second fast
        return 3000 if interpreter is interpreters[0] else 1000

    monkeypatch.setattr(bench, "open_model", open_model)
    monkeypatch.setattr(bench, "invoke", invoke)
    times = bench._time_single_op(blob, BenchmarkOptions(threads=2, runs=100))
    assert opened == [2, 2] and len(times) == 50 and set(times) == {0.001}
    opened.clear()
    interpreters.clear()
    assert len(bench._time_single_op(blob, BenchmarkOptions(threads=1, runs=100))) == 100 and opened == [1]


def test_control_flow_ops_are_listed_not_timed(bad_models):
    def never(blob, inputs):
        raise AssertionError("a WHILE op cannot be timed alone")

    rows = profile_ops(bad_models["hang"].read_bytes(), never)
    assert [(r["op"], r["median_ms"]) for r in rows] == [("WHILE", None)] and "other subgraphs" in rows[0]["error"]


def test_tiny_model_is_a_valid_float_add():
    info = read_model(tiny_model())
    assert [op.name for op in info.ops] == ["ADD"] and len(info.inputs) == 2
