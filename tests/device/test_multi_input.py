"""A two-input model benchmarked here and through the real agent: every input gets its own data."""

from __future__ import annotations

import pytest

from conftest import TOKEN
from edgeloop.device.benchmark import run_benchmark
from edgeloop.host.client import AgentClient
from edgeloop.device.options import BenchmarkOptions


@pytest.fixture(scope="module")
def two_input_file(anywhere, tmp_path_factory):
    from edgeloop.converters.tflite import convert
    from edgeloop.data import load_data
    from edgeloop.models import load_model
    from edgeloop.models.io import check_model_data

    model = load_model(anywhere / "multi.keras")
    data = load_data(anywhere / "multi.npz")
    check_model_data(data, model)
    path = tmp_path_factory.mktemp("multi") / "multi.tflite"
    path.write_bytes(convert(model, "int8", data.representative(20)))
    return path


def test_a_two_input_model_is_timed_locally_and_on_the_agent(agent, two_input_file):
    from edgeloop.device.interpreter import load_interpreter

    assert len(load_interpreter(two_input_file).get_input_details()) == 2
    options = BenchmarkOptions(warmup=1, runs=5)
    local = run_benchmark(two_input_file, options)
    remote = AgentClient(agent.url, TOKEN).benchmark(two_input_file, options)
    assert local.stats.count == remote.stats.count == 5
    assert local.stats.median_ms > 0 and remote.stats.median_ms > 0
    assert remote.model_sha256 == local.model_sha256
