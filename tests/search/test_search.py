"""The search end to end, timed by the deterministic clock (tests/clock.py): the budget met as
measured, the report, a resumed search and one through a real local Ray deciding as the
uninterrupted one did, and bad input. Real conversion, training and latency store; only the
device's timer is a test double. (One file: the reference search is built once per worker.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clock import model_ms
from edgeloop.converters import read_model, verify
from helpers import run_cli
from search.conftest import FAST, choices

pytestmark = pytest.mark.slow
CLOCKED_CLI = Path(__file__).parents[1] / "clocked_cli.py"


def test_search_meets_its_budget_as_measured(reference_search):
    s = reference_search
    state = s.state
    final = state["final"]
    assert state["status"] == "finished" and state["stopped"].startswith("budget met")
    assert final["latency_ms"] <= state["budget_ms"] == pytest.approx(0.5 * state["original"]["latency_ms"])
    # The file written is the one measured: its latency, computed again from the file, is the final one.
    blob = s.path("model.tflite").read_bytes()
    assert model_ms(blob) == pytest.approx(final["latency_ms"]) and state["device_info"]["id"] == "deterministicclk"
    assert all(c.passed for c in verify(read_model(blob), mode="int8", io_type="int8"))
    checks = {c["name"]: c["passed"] for c in state["checks"]}
    assert checks["budget_met"] and checks["accuracy_drop"]
    assert final["accuracy_drop_points"] <= 1.0
    # Every iteration kept its proposals' converted accuracy and measured latency, and narrowed something.
    assert len(state["iterations"]) >= 1
    for it in state["iterations"]:
        assert it["proposals"] and all(0 < p["int8_accuracy"] <= 1 and p["measured_ms"] > 0 for p in it["proposals"])
        assert all(p["estimated_ms"] <= it["target_ms"] for p in it["proposals"])
        kept = next(p for p in it["proposals"] if p["group"] == it["chosen"])
        assert kept["int8_accuracy"] == max(p["int8_accuracy"] for p in it["proposals"])
    assert final["params"] < s.state["original"]["params"]


def test_report_holds_pareto_table_plot_and_baseline(reference_search):
    s = reference_search
    report = json.loads(s.path("report.json").read_text())
    assert [b["width"] for b in report["baseline"]] == FAST["baseline_widths"]
    assert report["pareto_front"] and s.path("pareto.png").read_bytes()[:4] == b"\x89PNG"
    md = s.path("report.md").read_text()
    assert "## Pareto table" in md and "width multiplier" in md and "estimated by the source" in md
    assert "estimate_error" in report["summary"]["final"]


def test_an_interrupted_search_resumes_with_the_same_choices(reference_search, search_model, search_store, tmp_path):
    """Killed (SIGKILL) after its first iteration, then resumed: the same decisions, the same result."""
    args = ["search", "--model", str(search_model), "--out", str(tmp_path), "--store", search_store, "-q",
            "--latency-budget", FAST["budget"], "--short-epochs", "1", "--long-epochs", "1", "--step", "48",
            "--baseline-widths", ",".join(map(str, FAST["baseline_widths"]))]
    options = {k: FAST[k] for k in ("initial_reduction", "decay", "calibration_samples", "runs", "budget_margin")}
    (tmp_path / "opts.json").write_text(json.dumps(options))
    proc = subprocess.Popen([sys.executable, str(CLOCKED_CLI), *args, "--options", str(tmp_path / "opts.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    state_file = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(tmp_path.glob("search-*/netadapt/search.json"))
        if found and json.loads(found[0].read_text()).get("iterations"):
            state_file = found[0]
            break
        time.sleep(0.2)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert state_file is not None, proc.stderr.read().decode()[-2000:]
    interrupted = json.loads(state_file.read_text())
    assert interrupted["status"] == "running" and "final" not in interrupted
    resumed = run_cli("search", "--resume", state_file.parent, "--json", script=CLOCKED_CLI, timeout=600)
    state = json.loads(state_file.read_text())
    assert state["status"] == "finished", resumed.stderr
    assert resumed.returncode == (0 if all(c["passed"] for c in state["checks"]) else 1), resumed.stderr
    passed = [(c["name"], c["passed"]) for c in state["checks"]]
    assert passed == [(c["name"], c["passed"]) for c in reference_search.state["checks"]]
    assert choices(state) == choices(reference_search.state)
    assert state["final"]["int8_accuracy"] == reference_search.state["final"]["int8_accuracy"]


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


@pytest.mark.parametrize("args, message", [
    (["--latency-budget", "fast"], "latency budget 'fast'"),
    (["--latency-budget", "1.5x"], "below 1x"),
    (["--executor", "spark"], "unknown executor 'spark'"),
    (["--device", "ftp://x"], "unknown device 'ftp://x'"),
])
def test_bad_input_is_one_line_and_exit_2(search_model, tmp_path, args, message):
    result = run_cli("search", "--model", str(search_model), "--out", str(tmp_path), *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("search-*"))  # refused before anything was written


def test_resume_of_a_folder_that_is_not_a_search(tmp_path):
    result = run_cli("search", "--resume", tmp_path)
    assert result.returncode == 2 and "not a search folder" in result.stderr
