"""The real agent in a subprocess on loopback: info, benchmarks, security, crashes, the queue."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
import urllib.parse

import pytest

from conftest import TOKEN, start_agent
from edgeloop.device.benchmark import run_benchmark
from edgeloop.host.client import AgentClient
from edgeloop.device.options import BenchmarkOptions
from edgeloop.errors import EdgeloopError
from helpers import run_cli


def _http(url: str, method: str, path: str, body: bytes = b"", headers: dict | None = None, token: str | None = TOKEN):
    """One raw HTTP request; returns (status, JSON body)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    status, data = response.status, response.read()
    conn.close()
    return status, json.loads(data or b"{}")


def _cached(agent) -> set[str]:
    return {p.stem for p in agent.cache.glob("*.tflite")}


def test_info_is_a_fingerprint_with_the_delegates_that_load(agent):
    info = AgentClient(agent.url, TOKEN).info()
    assert info["cores"] == os.cpu_count() and info["memory_mb"] > 0 and info["python"] and len(info["id"]) == 16
    assert info["interpreter"].startswith("ai-edge-litert ")
    delegates = info["delegates"]
    assert delegates["xnnpack"] == {"loads": True, "error": None}  # probed on a real float ADD model
    assert set(delegates["edgetpu"]) >= {"loads", "error", "runtime_version", "interface"}
    assert delegates["edgetpu"]["loads"] is False and "libedgetpu.so.1" in delegates["edgetpu"]["error"]
    assert delegates["gpu"]["loads"] is False and delegates["gpu"]["error"]
    assert "tensorflow" not in info["agent"]["modules"] and "numpy" in info["agent"]["modules"]


def test_benchmark_over_http_gives_the_local_report(agent, trained_model_and_files):
    _, files = trained_model_and_files
    options = BenchmarkOptions(warmup=2, runs=15, op_profiling=True)
    remote = AgentClient(agent.url, TOKEN).benchmark(files["int8"], options)
    local = run_benchmark(files["int8"], options)
    assert set(remote.to_dict()) == set(local.to_dict())
    assert set(remote.stats.to_dict()) == set(local.stats.to_dict())
    assert remote.source == "agent" and remote.device == agent.url and remote.model == str(files["int8"])
    assert remote.stats.count == len(remote.times_ms) == 15 and remote.stats.median_ms > 0
    assert remote.model_sha256 == local.model_sha256 and remote.delegates == local.delegates
    lo, hi = remote.ci95_median_ms
    assert lo <= remote.stats.median_ms <= hi
    assert [row["op"] for row in remote.op_profile] == [row["op"] for row in local.op_profile]
    assert remote.peak_memory_mb > 0 and remote.bare_invoke_ms > 0
    assert remote.model_sha256 in _cached(agent)


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x"])
def test_a_missing_or_wrong_token_is_refused_and_nothing_runs(agent, trained_model_and_files, token):
    _, files = trained_model_and_files
    blob = files["uint8"].read_bytes() + b"\0" * 7  # bytes the agent has never seen
    before = _cached(agent)
    status, reply = _http(agent.url, "POST", "/v1/benchmark", blob, {"Content-Type": "application/octet-stream"}, token=token)
    assert status == 401 and "token" in reply["error"]
    assert _http(agent.url, "GET", "/v1/info", token=token)[0] == 401
    assert _cached(agent) == before
    with pytest.raises(EdgeloopError, match="refused the token"):
        AgentClient(agent.url, token).info()


def test_oversized_and_non_flatbuffer_uploads_are_refused_before_any_interpreter(agent):
    before = _cached(agent)
    status, reply = _http(agent.url, "POST", "/v1/models", b"\0" * (2 * 2**20))
    assert status == 413 and "limit" in reply["error"]
    status, reply = _http(agent.url, "POST", "/v1/benchmark", b"GIF89a not a model at all")
    assert status == 400 and "TFL3" in reply["error"]
    status, reply = _http(agent.url, "POST", "/v1/models", b"\x10\0\0\0TFL3" + b"\xff" * 200)
    assert status == 400 and "corrupt TFLite model" in reply["error"]
    assert _cached(agent) == before


def test_paths_in_requests_never_reach_the_filesystem(agent):
    body = json.dumps({"model": "../../etc/passwd", "options": {}}).encode()
    status, reply = _http(agent.url, "POST", "/v1/benchmark", body, {"Content-Type": "application/json"})
    assert status == 400 and "SHA-256" in reply["error"]
    status, reply = _http(agent.url, "POST", "/v1/benchmark", json.dumps({"model": "0" * 64}).encode(),
                          {"Content-Type": "application/json"})
    assert status == 400 and "upload it first" in reply["error"]
    assert _http(agent.url, "GET", "/v1/../etc/passwd")[0] == 404


def test_unknown_benchmark_options_are_refused(agent, trained_model_and_files):
    _, files = trained_model_and_files
    status, reply = _http(agent.url, "POST", "/v1/benchmark", files["int8"].read_bytes(),
                          {"X-Edgeloop-Options": json.dumps({"runz": 3})})
    assert status == 400 and "unknown benchmark option 'runz'" in reply["error"]


@pytest.mark.slow
def test_a_model_that_hangs_is_killed_at_the_time_limit_and_the_agent_lives_on(agent, bad_models):
    client = AgentClient(agent.url, TOKEN)
    started = time.monotonic()
    with pytest.raises(EdgeloopError, match="did not finish within 5 s and was killed"):
        client.benchmark(bad_models["hang"], BenchmarkOptions(time_limit_s=1.0))
    assert time.monotonic() - started < 30
    assert agent.alive() and client.info()["agent"]["running"] is None


def test_a_benchmark_process_that_crashes_is_an_error_reply(agent, bad_models):
    """The hanging model's child is sent SIGSEGV, as a faulting delegate would get it."""
    client = AgentClient(agent.url, TOKEN)
    outcome = {}

    def run():
        try:
            client.benchmark(bad_models["hang"], BenchmarkOptions(time_limit_s=60.0))
        except EdgeloopError as exc:
            outcome["error"] = str(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    running = None
    while running is None and time.monotonic() < deadline:
        running = client.info()["agent"]["running"]
        time.sleep(0.1)
    assert running and running["task"] == "benchmark"
    time.sleep(0.5)  # let it reach invoke()
    os.kill(running["pid"], signal.SIGSEGV)
    thread.join(timeout=30)
    assert "died with SIGSEGV" in outcome["error"]
    assert agent.alive() and client.info()["agent"]["running"] is None


def test_a_model_that_needs_too_much_memory_is_an_error_reply(agent, bad_models):
    client = AgentClient(agent.url, TOKEN)
    with pytest.raises(EdgeloopError, match="1024 MB of memory"):
        client.benchmark(bad_models["hog"], BenchmarkOptions(runs=2, warmup=0))
    assert agent.alive()


@pytest.mark.slow
def test_concurrent_clients_run_one_at_a_time_and_none_is_lost(agent, trained_model_and_files):
    _, files = trained_model_and_files
    digest = AgentClient(agent.url, TOKEN).upload(files["float32"])
    body = json.dumps({"model": digest, "options": {"runs": 3000, "warmup": 0}}).encode()
    replies = []

    def raw():
        replies.append(_http(agent.url, "POST", "/v1/benchmark", body, {"Content-Type": "application/json"}))

    threads = [threading.Thread(target=raw) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    statuses = sorted(status for status, _ in replies)
    assert len(replies) == 6 and set(statuses) <= {200, 503}
    assert statuses.count(200) >= 3  # one running and two waiting are always served
    assert all("busy" in reply["error"] for status, reply in replies if status == 503)
    spans = sorted((r["started_at"], r["finished_at"]) for status, r in replies if status == 200)
    assert all(r["stats"]["count"] == 3000 for status, r in replies if status == 200)
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))  # never two at once

    # The client waits its turn on 503: every one of several concurrent clients gets its report.
    results = []
    clients = [threading.Thread(target=lambda: results.append(
        AgentClient(agent.url, TOKEN).benchmark(files["float32"], BenchmarkOptions(runs=200, warmup=0)))) for _ in range(5)]
    for t in clients:
        t.start()
    for t in clients:
        t.join(timeout=180)
    assert len(results) == 5 and all(r.stats.count == 200 for r in results)


def test_the_benchmark_step_measures_through_the_agent(agent, trained_model_and_files, ctx, tmp_path):
    from edgeloop.pipeline import build_step

    _, files = trained_model_and_files
    (ctx.run_dir / "model.tflite").write_bytes(files["int8"].read_bytes())
    ctx.state["tflite"] = {"file": "model.tflite"}
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    step = build_step("benchmark", {"device": agent.url, "token_file": str(token_file), "runs": 7, "warmup": 1,
                                    "baseline": False}, "step 1")
    step.apply(None, ctx)
    assert ctx.result["model"]["source"] == "agent" and ctx.result["model"]["stats"]["count"] == 7


def test_serving_without_a_token_only_on_loopback(tmp_path):
    proc = run_cli("agent", "serve", "--host", "0.0.0.0", "--no-auth", "--port", "0")
    assert proc.returncode == 2 and "without a token" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("agent", "serve", "--port", "0")
    assert proc.returncode == 2 and "--token-file" in proc.stderr
    proc = run_cli("agent", "serve", "--token-file", tmp_path / "missing", "--port", "0")
    assert proc.returncode == 2 and "token file not found" in proc.stderr


def test_a_loopback_agent_started_without_a_token_serves_without_one(tmp_path):
    process = start_agent(tmp_path, token=None)
    try:
        assert AgentClient(process.url).info()["agent"]["auth"] is False
    finally:
        process.proc.terminate()
        process.proc.wait(timeout=10)
