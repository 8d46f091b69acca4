"""The Ray executor: the same search through a real local Ray gives the same choices."""

from __future__ import annotations

import pytest

from search.conftest import FAST, choices

pytestmark = pytest.mark.slow


def test_ray_runs_the_same_search(reference_search, search_model, search_store, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'edgeloop[ray]')")
    from edgeloop.pipeline.options import parse_options
    from edgeloop.search import SearchOptions, search
    from edgeloop.search.executors import RayExecutor

    try:
        probe = RayExecutor(num_cpus=2)
    except Exception as exc:  # noqa: BLE001 - a machine where Ray cannot start at all
        pytest.skip(f"Ray cannot start here: {exc}")
    probe.close()
    options = parse_options(SearchOptions, {**FAST, "baseline_widths": []}, "test")
    s = search(str(search_model), "digits", options, device="local", out=tmp_path, executor="ray", store=search_store)
    assert not ray.is_initialized()  # the executor shut down the Ray it started
    assert s.state["executor"] == "ray"
    assert choices(s.state) == choices(reference_search.state)
    assert s.state["final"]["int8_accuracy"] == reference_search.state["final"]["int8_accuracy"]
