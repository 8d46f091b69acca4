"""The search end to end against a real agent: report, winner's recipe, resume after a kill, Ray."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from autocompress.conftest import cli_args, only_run, run_cli, trials

pytestmark = pytest.mark.slow


def test_search_end_to_end_against_the_agent(reference, ac_agent):
    status, run_dir = reference
    folder = run_dir / "autocompress"
    state = json.loads((folder / "report.json").read_text())
    assert status == 0 and state["status"] == "finished"
    assert state["aim"]["device"] == ac_agent.url and state["device_info"]  # the agent described its device
    assert len(state["trials"]) == 3 and state["trials"][0]["seeded"] and state["trials"][1]["seeded"]
    assert state["trials"][0]["steps"] == []  # the unchanged int8 model is on the same axes
    done = [t for t in state["trials"] if t["figures"]]
    assert done, state["trials"]
    for t in done:  # every figure measured: the converted file scored and timed on the agent
        f = t["figures"]
        assert 0.5 < f["int8_accuracy"] <= 1 and f["latency_ms"] > 0 and f["size_kb"] > 0
        tflite = folder / f["run_dir"] / "model.tflite"
        assert tflite.is_file()
    assert state["chosen"]["trial"] in [t["number"] for t in done] and "meet the target" in state["chosen"]["why"]
    for png in ("pareto_latency.png", "pareto_size.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Chosen" in (folder / "report.md").read_text()
    # The front's other trials rerun like the winner: a recipe each, a point of the report's front.
    from edgeloop.autocompress.report import points
    from edgeloop.autocompress.run import to_refine

    refined = state.get("refined", [])
    assert [r["trial"] for r in refined] == to_refine([t["figures"] for t in done], state["chosen"], 1)
    for r in refined:
        assert (folder / r["recipe"]).is_file() and 0.5 < r["int8_accuracy"] <= 1 and r["latency_ms"] > 0
        assert f"trial {r['trial']}, longer fine-tune" in [p["label"] for p in points(state)]
    # Every file timed again side by side, two passes in turn; the front is drawn on those times.
    timed = state["side_by_side"]
    assert set(timed) == {p["label"] for p in points(state)}  # every trial, the winner, the refined ones
    for p in points(state):
        assert len(timed[p["label"]]["passes_ms"]) == 2 and all(ms > 0 for ms in timed[p["label"]]["passes_ms"])
        assert p["latency_ms"] == timed[p["label"]]["latency_ms"] and p["latency_ms_search"] > 0
    assert "timed again at the end" in (folder / "report.md").read_text()
    # The study is a SQLite file Optuna reads back with every trial in it.
    import optuna

    study = optuna.load_study(study_name="autocompress", storage=f"sqlite:///{folder / 'study.db'}")
    assert len(study.trials) == 3
    # The run's gate passed and the pipeline went on with the winner's model.
    run_state = json.loads((run_dir / "state.json").read_text())
    assert run_state["status"] == "finished"


def test_the_written_recipe_reproduces_the_winner(reference, tmp_path):
    from edgeloop.autocompress.trial import read_outcome
    from edgeloop.pipeline import runner
    from edgeloop.recipe import load_recipe

    _, run_dir = reference
    folder = run_dir / "autocompress"
    state = json.loads((folder / "autocompress.json").read_text())
    winner = state["winner"]
    result = runner.run(load_recipe(str(folder / "winner.yaml")), out=tmp_path)
    again = read_outcome(0, result.run_dir)
    assert again.int8_accuracy == winner["int8_accuracy"]
    assert again.gzip_bytes / 1024 == winner["size_kb"]
    assert again.tflite == (folder / winner["run_dir"] / "model.tflite").read_bytes()
    bench = next(e for e in json.loads((result.run_dir / "state.json").read_text())["finished"] if e["step"] == "benchmark")
    assert bench["result"]  # timed on the agent the recipe names


def test_resume_after_sigkill_gives_the_same_trials(reference, ac_model, ac_agent, ac_store, tmp_path):
    from edgeloop.pipeline import runner

    out = tmp_path / "killed"
    # The trials are what is compared: no refined reruns or side-by-side passes after them.
    args = cli_args(ac_model, ac_agent, ac_store, out, refine_front=0, side_by_side=0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(p) for p in sys.path if p])}
    proc = subprocess.Popen([sys.executable, "-m", "edgeloop.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if _complete(out) >= 2:  # the first batch told, the second under way
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the search ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = only_run(out)
    assert _complete(out) < 3
    result = runner.resume(run_dir)
    assert trials(result.run_dir) == trials(reference[1])


def _complete(out) -> int:
    dbs = list(out.glob("*/autocompress/study.db"))
    if not dbs:
        return 0
    try:
        with sqlite3.connect(dbs[0], timeout=1) as db:
            return db.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def test_ray_gives_the_same_trials_as_sequential(reference, ac_model, ac_agent, ac_store, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'edgeloop[ray]')")
    out = tmp_path / "ray"
    # The reference's first batch (two trials at once), on two Ray workers.
    status = run_cli(cli_args(ac_model, ac_agent, ac_store, out, executor="ray", trials=2, refine_front=0,
                              side_by_side=0))
    assert not ray.is_initialized()  # the executor shut down the Ray it started
    assert status == 0
    assert trials(only_run(out)) == trials(reference[1])[:2]


def test_a_recipe_target_no_trial_meets_exits_1(ac_model, ac_agent, ac_store, tmp_path):
    import yaml

    recipe = {"name": "missed", "model": str(ac_model), "data": "digits",
              "target": {"device": ac_agent.url, "latency": "0.01x"},
              "steps": [{"autocompress": {"trials": 1, "seeds": 0, "epochs": 1, "runs": 20, "store": ac_store,
                                          "token_file": str(ac_agent.cache.parent / "token")}},
                        {"convert": {"calibration_samples": 50}},
                        {"benchmark": {"runs": 20, "token_file": str(ac_agent.cache.parent / "token")}}]}
    path = tmp_path / "missed.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert run_cli(["optimize", str(path), "--out", str(tmp_path / "runs"), "-q"]) == 1
    folder = only_run(tmp_path / "runs") / "autocompress"
    state = json.loads((folder / "report.json").read_text())
    assert state["aim"]["device"] == ac_agent.url and state["aim"]["from_target"]  # the step read ctx.target
    assert state["goal"]["latency_ms"] == pytest.approx(0.01 * state["start"]["float_latency_ms"])
    assert state["status"] == "target_missed" and state["chosen"] is None
    assert "latency" in state["why"] and (folder / "report.md").is_file()
    run = json.loads((folder.parent / "state.json").read_text())
    assert run["status"] == "gate_failed" and run["target"]["met"] is False  # the run's own target check agrees


def test_time_limit_stops_starting_trials_and_says_so(ac_model, ac_agent, ac_store, tmp_path):
    # The first trial always runs; any trial takes longer than 10 ms (a conversion, a
    # calibration, a timed run on the agent), so after it the limit has passed however fast
    # the machine is, and no second trial starts. The first is the winner, its recipe written.
    out = tmp_path / "limited"
    status = run_cli(cli_args(ac_model, ac_agent, ac_store, out, trials=5, seeds=0, parallel=1, time_limit="0.01s",
                              refine_front=0, side_by_side=0))
    folder = only_run(out) / "autocompress"
    state = json.loads((folder / "report.json").read_text())
    assert status == 0 and state["status"] == "finished"
    assert len(state["trials"]) == 1 and state["trials"][0]["figures"]
    assert state["stopped_early"] == "time_limit 0.01s reached after 1 of 5 trial(s)"
    assert "Stopped early: time_limit 0.01s" in (folder / "report.md").read_text()
    assert state["chosen"]["trial"] == 0 and (folder / "winner.yaml").is_file()


def test_netadapt_is_compared_on_times_taken_side_by_side(ac_model, ac_agent, ac_store, tmp_path):
    # One trial and NetAdapt from the same model; NetAdapt keeps its iterations as Keras models,
    # so they are converted again and timed in the same passes as every other file.
    from edgeloop.autocompress.report import compared
    from edgeloop.autocompress.labels import key

    out = tmp_path / "netadapt"
    status = run_cli(cli_args(ac_model, ac_agent, ac_store, out, trials=1, seeds=0, parallel=1, refine_front=0,
                              netadapt=True, side_by_side=1))
    folder = only_run(out) / "autocompress"
    state = json.loads((folder / "report.json").read_text())
    assert status in (0, 1), status
    netadapt = next(c for c in state["compare"] if c["name"] == "NetAdapt")
    labels = [p["label"] for p in netadapt["points"]]
    assert labels[0] == "original" and "NetAdapt final" in labels and any(lb.startswith("iteration") for lb in labels)
    timed = state["side_by_side"]
    assert {key("NetAdapt", lb) for lb in labels} <= set(timed) and "trial 0" in timed
    for c, points in compared(state):
        for p in points:
            assert p["latency_ms"] == timed[key(c["name"], p["label"])]["latency_ms"] > 0
    assert all(d.get("latency_ms", "x") != "x" for d in state["dominance"])  # every point checked at latency
