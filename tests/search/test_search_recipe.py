"""``recipes/digits_search.yaml``: NetAdapt as a step between training and QAT, measured on a
real agent over HTTP (loopback), meeting the recipe's target, every latency in the store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from device.conftest import start_agent
from helpers import with_step_options

pytestmark = pytest.mark.slow

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "digits_search.yaml"


@pytest.fixture(scope="module")
def open_agent(tmp_path_factory):
    """A real agent on a free loopback port, without a token (as the recipe's comment starts it)."""
    process = start_agent(tmp_path_factory.mktemp("agent"), token=None)
    yield process
    process.proc.terminate()
    process.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def search_run(open_agent, tmp_path_factory):
    """The committed recipe on the test agent, made quicker (the steps and target as committed)."""
    from edgeloop.cli import main

    d = tmp_path_factory.mktemp("digits_search")
    raw = yaml.safe_load(RECIPE.read_text())
    raw["target"]["device"] = open_agent.url
    raw["store"] = str(d / "latency.sqlite")
    # Fewer epochs and coarser width steps (fewer conversions to time); the steps, target and device as committed.
    epochs = {"train": {"epochs": 3}, "netadapt": {"long_epochs": 1, "step": 32, "runs": 100, "initial_reduction": 0.3},
              "prune": {"epochs": 1}, "qat": {"epochs": 1}, "benchmark": {"runs": 100}}
    raw["steps"] = with_step_options(raw["steps"], epochs)
    (d / "recipe.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(SystemExit) as exc:
        main(["optimize", str(d / "recipe.yaml"), "--out", str(d / "runs"), "-q", "--json"])
    run_dir = next((d / "runs").glob("digits_search-*"))
    return exc.value.code, run_dir, json.loads((run_dir / "report.json").read_text()), raw


def test_netadapt_runs_between_training_and_qat_on_the_agent_and_checks_the_target(search_run, open_agent):
    code, run_dir, report, raw = search_run
    assert [e["step"] for e in report["steps"]] == ["train", "netadapt", "prune", "qat", "convert", "evaluate",
                                                    "benchmark"], report.get("error")
    # Which widths NetAdapt keeps, and whether the file meets 0.12x, follow from latencies measured on
    # a shared machine: those verdicts must be consistent, not true (whether the recipe meets its
    # target is measured in the benchmarks). Every other gate must pass.
    speed_gates = {(2, "budget_met"), (2, "accuracy_drop")}
    failed = {(g["step"], g["gate"]) for g in report["failed_gates"]}
    assert failed <= speed_gates, report["failed_gates"]
    met = report["target"]["met"]
    assert report["status"] == ("gate_failed" if failed else "finished" if met else "target_missed")
    assert code == (0 if report["status"] == "finished" else 1)
    search = json.loads((run_dir / "netadapt" / "search.json").read_text())
    # Device and budget came from the target: the agent, 0.12x the float baseline it measured.
    na = next(e["result"] for e in report["steps"] if e["step"] == "netadapt")
    assert search["device"] == open_agent.url and search["device_info"]["id"]
    assert search["budget_ms"] == pytest.approx(0.12 * na["float_baseline_ms"], rel=1e-4)
    assert search["iterations"] and search["final"]["params"] < search["original"]["params"]
    budget = next(c for c in na["checks"] if c["name"] == "budget_met")
    assert budget["passed"] == (search["final"]["latency_ms"] <= search["budget_ms"])
    # The benchmark the target is checked against ran on the agent too.
    bench = next(e["result"] for e in report["steps"] if e["step"] == "benchmark")
    assert bench["model"]["device"] == open_agent.url
    latency = next(c for c in report["target"]["checks"] if c["name"] == "target_latency")
    assert latency["value"] == bench["model"]["stats"]["median_ms"]
    assert latency["limit"] == pytest.approx(0.12 * bench["baseline_float32"]["stats"]["median_ms"])
    assert latency["passed"] == (latency["value"] <= latency["limit"])
    assert met == all(c["passed"] for c in report["target"]["checks"])


def test_every_latency_the_run_measured_is_in_the_store(search_run):
    _, run_dir, report, raw = search_run
    db = sqlite3.connect(raw["store"])
    rows = db.execute("SELECT model_sha256, median_ms, device_id FROM measurements").fetchall()
    stored = {(sha, ms) for sha, ms, _ in rows}
    search = json.loads((run_dir / "netadapt" / "search.json").read_text())
    measured = {(sha, r["median_ms"]) for sha, r in search["measurements"].items()}
    bench = next(e["result"] for e in report["steps"] if e["step"] == "benchmark")
    measured |= {(b["model_sha256"], b["stats"]["median_ms"]) for b in bench.values()}
    per_step = [e["measured"] for e in report["steps"] if e.get("measured")]
    measured |= {(m["int8_sha256"], m["int8_latency_median_ms"]) for m in per_step}
    assert len(per_step) == 4 and len(search["measurements"]) >= 4  # train, netadapt, prune, qat; the search's own
    assert measured <= stored, measured - stored
    # The agent's rows and this process's are kept apart by device.
    assert {d.rsplit(":", 1)[1] for _, _, d in rows} == {"agent", "inprocess"}
    store = report["latency_store"]
    assert store["path"] == raw["store"] and store["added"] + store["answered"] == len(per_step) + 2
