"""``edgeloop bench`` in a subprocess: the store answers repeats, history, devices side by
side, the regression gate's exit status, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TOKEN
from helpers import run_cli


def _bench(*args):
    proc = run_cli("bench", *args)
    return proc, (json.loads(proc.stdout) if proc.returncode == 0 and "--json" in args else None)


def test_a_repeat_is_answered_from_the_store_unless_fresh(trained_model_and_files, tmp_path):
    _, files = trained_model_and_files
    store = tmp_path / "latency.sqlite"
    common = (files["int8"], "--runs", "20", "--max-runs", "20", "--warmup", "1", "--store", store, "--json")
    proc, first = _bench(*common)
    assert proc.returncode == 0, proc.stderr
    assert first["cached"] is False and first["stats"]["count"] == 20 and first["fingerprint"]["id"]
    _, again = _bench(*common)
    assert again["cached"] is True and again["times_ms"] == first["times_ms"] and again["stored_id"] is None
    _, fresh = _bench(*common, "--fresh")
    assert fresh["cached"] is False and fresh["stored_id"] == first["stored_id"] + 1
    proc, rows = _bench("--history", files["int8"], "--store", store, "--json")
    assert [r["id"] for r in rows] == [fresh["stored_id"], first["stored_id"]]
    assert rows[0]["model_sha256"] == first["model_sha256"] and rows[0]["options"]["runs"] == 20
    proc = run_cli("bench", "--history", "--store", store)
    assert proc.returncode == 0 and "latency store" in proc.stdout


def test_devices_side_by_side(trained_model_and_files, agent, tmp_path):
    _, files = trained_model_and_files
    (tmp_path / "token").write_text(TOKEN)
    proc, both = _bench(files["int8"], "-d", "local", "-d", agent.url, "--token-file", tmp_path / "token",
                        "--runs", "10", "--max-runs", "10", "--store", tmp_path / "s.sqlite", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [m["device"] for m in both] == ["local", agent.url] and [m["source"] for m in both] == ["local", "agent"]
    # One machine, reached two ways: both measured, kept apart in the store.
    assert both[0]["fingerprint"]["id"] == both[1]["fingerprint"]["id"] and [m["cached"] for m in both] == [False, False]
    assert "delegates" in both[1]["fingerprint"]  # the agent's info carries what loads there
    proc = run_cli("bench", files["int8"], "-d", "local", "-d", agent.url, "--token-file", tmp_path / "token",
                   "--runs", "10", "--max-runs", "10", "--store", tmp_path / "s.sqlite")
    assert proc.returncode == 0 and agent.url in proc.stdout and "latency store" in proc.stdout


@pytest.fixture(scope="module")
def light_and_heavy(trained_model_and_files, tmp_path_factory):
    """The tiny int8 model and a float32 model of the same input with ~10,000x its MACs.

    The gate's statistics are tested on recorded timings (test_gate.py); here only its exit
    status through the CLI is, timed by the deterministic clock (tests/clock.py, a test double
    for the device's timer), so the verdict cannot depend on how busy the machine is.
    """
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    keras.utils.set_random_seed(0)
    heavy = keras.Sequential([keras.Input((8, 8, 1))] + [keras.layers.Conv2D(192, 3, padding="same") for _ in range(3)])
    path = tmp_path_factory.mktemp("heavy") / "heavy.tflite"
    path.write_bytes(convert(heavy, "float32"))
    return trained_model_and_files[1]["int8"], path


def _clocked(*args):
    return run_cli(*args, script=Path(__file__).parents[1] / "clocked_cli.py")


def test_the_regression_gate_exit_status(light_and_heavy):
    light, heavy = light_and_heavy
    run_cli = _clocked
    common = ("--runs", "30", "--max-runs", "200", "--json")
    proc = run_cli("bench", light, "--against", heavy, *common)
    faster = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert faster["device"] == "clock" and faster["passed"] is True and faster["ci95"][1] < 1 and faster["new_median_ms"] < faster["old_median_ms"]
    proc = run_cli("bench", heavy, "--against", light, *common)
    slower = json.loads(proc.stdout)
    assert proc.returncode == 1 and slower["passed"] is False and slower["ci95"][0] > 1
    margin = f"{slower['ci95'][1] * 3:.1f}"  # far above the slow-down: tolerated
    proc = run_cli("bench", heavy, "--against", light, "--margin", margin, *common)
    assert proc.returncode == 0 and json.loads(proc.stdout)["margin"] == float(margin)
    proc = run_cli("bench", heavy, "--against", light, "--margin", "0.01", "--runs", "30", "--max-runs", "200")
    assert proc.returncode == 1 and "FAIL" in proc.stdout and "slower by more than 1.0%" in proc.stdout


def test_bad_input_is_one_line_and_exit_2(trained_model_and_files, tmp_path):
    _, files = trained_model_and_files
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"not sqlite at all\n" * 50)
    cases = [
        (("bench", files["int8"], "--store", corrupt), "is corrupt"),
        (("bench", files["int8"], "--device", "tpu0", "--store", tmp_path / "s.sqlite"), "unknown device 'tpu0'"),
        (("bench", files["int8"], "--delegate", "tpu", "--store", tmp_path / "s.sqlite"), "unknown delegate 'tpu'"),
        (("bench", files["int8"], "--device", "http://127.0.0.1:9", "--store", tmp_path / "s.sqlite"), "cannot reach the agent"),
        (("bench", tmp_path / "missing.tflite", "--store", tmp_path / "s.sqlite"), "model not found"),
        (("bench", "--store", tmp_path / "s.sqlite"), "give the .tflite"),
    ]
    for args, fragment in cases:
        proc = run_cli(*args)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and fragment in lines[0], (args, proc.stderr)
    assert corrupt.read_bytes() == b"not sqlite at all\n" * 50


@pytest.mark.slow
def test_a_local_benchmark_of_a_model_that_never_returns_ends_at_its_time_limit(bad_models, tmp_path):
    store = tmp_path / "s.sqlite"
    proc = run_cli("bench", bad_models["hang"], "--time-limit", "1", "--store", store, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "did not finish within 11 s and was killed" in lines[0]
    proc = run_cli("bench", "--history", "--store", store, "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []  # nothing stored for it
