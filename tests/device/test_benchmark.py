"""The benchmark runner on real models, and the delegate node count it reports."""

from __future__ import annotations

import pytest

from edgeloop.converters import read_model
from edgeloop.device.benchmark import benchmark
from edgeloop.device.delegates import delegated_nodes
from edgeloop.errors import EdgeloopError


def test_benchmark_records_every_run(trained_model_and_files):
    _, files = trained_model_and_files
    r = benchmark(files["int8"], threads=2, warmup=3, runs=25)
    assert len(r.times_ms) == 25 and all(t > 0 for t in r.times_ms)
    assert r.stats.count == 25 and r.stats.min_ms == min(r.times_ms)
    assert r.init_ms > 0 and r.first_inference_ms > 0 and r.threads == 2
    assert r.to_dict()["stats"]["median_ms"] == r.stats.median_ms


@pytest.mark.parametrize("name", ["int8", "float32"])
def test_delegate_counts_cover_every_node_of_the_model(trained_model_and_files, name):
    _, files = trained_model_and_files
    r = benchmark(files[name], warmup=0, runs=2)
    assert sum(r.delegates.values()) == len(read_model(files[name]).ops)
    assert r.delegates.get("XNNPACK", 0) > 0  # LiteRT's default CPU delegate takes these ops


def test_delegate_walk_on_a_hand_built_node_list():
    # a -> op0 -> b -> op1 -> c -> op2 -> d ; a delegate took op1 only (inputs b, output c)
    ops = [
        {"op_name": "CONV_2D", "inputs": [0], "outputs": [1]},
        {"op_name": "ADD", "inputs": [1], "outputs": [2]},
        {"op_name": "CUSTOM", "inputs": [2], "outputs": [3]},
        {"op_name": "DELEGATE", "inputs": [1], "outputs": [2]},
    ]
    assert delegated_nodes(ops) == {"XNNPACK": 1, "cpu": 2}
    assert delegated_nodes(ops[:3]) == {"cpu": 3}


def test_progress_and_bad_arguments(trained_model_and_files, tmp_path):
    _, files = trained_model_and_files
    seen = []
    benchmark(files["int8"], warmup=2, runs=3, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 5) for i in range(1, 6)]
    for kwargs in ({"threads": 0}, {"runs": 0}, {"warmup": -1}):
        with pytest.raises(EdgeloopError):
            benchmark(files["int8"], **kwargs)
    with pytest.raises(EdgeloopError, match="model not found"):
        benchmark(tmp_path / "missing.tflite")


def test_each_timed_run_gets_the_next_of_the_seeded_input_sets(trained_model_and_files, monkeypatch):
    import importlib

    bench = importlib.import_module("edgeloop.device.benchmark")
    from edgeloop.device.benchmark import fill_random_inputs, input_sets, open_model
    from edgeloop.device.options import BenchmarkOptions

    _, files = trained_model_and_files
    seen = []
    real = bench.invoke

    def invoke(interpreter):
        seen.append(interpreter.get_tensor(interpreter.get_input_details()[0]["index"]).copy())
        return real(interpreter)

    monkeypatch.setattr(bench, "invoke", invoke)
    result = benchmark(files["int8"], runs=140, warmup=2, seed=3)
    assert result.runs == 140 and len(seen) == 1 + 2 + 140  # first inference, warm-up, timed
    # The first set is the one fill_random_inputs gives; the sets differ and come round in turn.
    first = open_model(files["int8"], BenchmarkOptions(seed=3))
    fill_random_inputs(first, 3)
    import numpy as np

    np.testing.assert_array_equal(seen[0], first.get_tensor(first.get_input_details()[0]["index"]))
    count = input_sets(seen[0].size)
    assert 4 <= count < len(seen) // 2 and len({a.tobytes() for a in seen}) == count
    assert all(np.array_equal(a, b) for a, b in zip(seen, seen[count:]))


@pytest.mark.parametrize(("runs", "calls"), [(50, 30), (200, 30), (500, 50), (2000, 200), (100_000, 200)])
def test_bare_invoke_batches_cost_about_a_tenth_of_the_timed_runs(runs, calls):
    from edgeloop.device.benchmark import _bare_invoke_ms

    class Counting:
        invokes = 0

        def invoke(self):
            Counting.invokes += 1

    assert _bare_invoke_ms(Counting(), runs) >= 0
    assert Counting.invokes == calls


@pytest.mark.parametrize(("second", "warned"), [(1.0, False), (1.2, False), (2.0, True), (0.5, True)])
def test_a_second_interpreter_disagreeing_above_one_thread_is_warned_of(trained_model_and_files, monkeypatch,
                                                                         second, warned):
    import importlib

    bench = importlib.import_module("edgeloop.device.benchmark")
    # A deterministic meter for bare invoke(): the first interpreter 1 ms, the second `second` ms.
    calls = []
    monkeypatch.setattr(bench, "_bare_invoke_ms", lambda interpreter, runs: calls.append(interpreter) or
                        (1.0 if len(calls) == 1 else second))
    _, files = trained_model_and_files
    r = benchmark(files["int8"], threads=2, warmup=1, runs=5)
    assert len(calls) == 2 and calls[0] is not calls[1]  # two interpreters
    assert r.second_interpreter_bare_ms == second and r.bare_invoke_ms == 1.0
    assert any("second interpreter" in w for w in r.warnings) is warned


def test_one_thread_opens_one_interpreter(trained_model_and_files, monkeypatch):
    import importlib

    bench = importlib.import_module("edgeloop.device.benchmark")
    opened = []
    real = bench.open_model
    monkeypatch.setattr(bench, "open_model", lambda *a, **k: opened.append(1) or real(*a, **k))
    _, files = trained_model_and_files
    r = benchmark(files["int8"], threads=1, warmup=1, runs=5)
    assert len(opened) == 1 and r.second_interpreter_bare_ms is None
