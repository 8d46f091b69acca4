"""The real agent under load and hostile input: raw sockets, floods, slow clients, bad headers.

Two agents of their own besides the session's: ``crowded`` serves 4 connections at once
(a flood is mostly told 503 at the door) with a generous idle timeout, so that no verdict
depends on how fast a loaded machine sends; ``impatient`` drops clients after 1 s idle.
Every test that waits for something to happen waits for an event, with a bound only as
the failure mode.
"""

from __future__ import annotations

import json
import os
import select
import selectors
import signal
import socket
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import TOKEN, start_agent
from edgeloop.host.client import AgentClient
from edgeloop.device.options import BenchmarkOptions
from edgeloop.errors import EdgeloopError
from helpers import run_cli


def _address(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port


def _request(method: str, path: str, body: bytes = b"", headers: dict | None = None, token: str | None = TOKEN,
             length: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: agent", b"Connection: close"]
    if token:
        lines.append(f"Authorization: Bearer {token}".encode())
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    lines += [k.encode("latin-1") + b": " + (v if isinstance(v, bytes) else v.encode("latin-1"))
              for k, v in (headers or {}).items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _exchange(url: str, data: bytes, timeout: float = 60) -> bytes:
    """Send ``data`` on a fresh connection and read until the agent closes it."""
    with socket.create_connection(_address(url), timeout=timeout) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        return reply


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def _payload(reply: bytes) -> dict:
    return json.loads(reply.split(b"\r\n\r\n", 1)[1])


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _no_children_left(agent, bound_s: float = 60) -> bool:
    deadline = time.monotonic() + bound_s
    while _children(agent.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _children(agent.proc.pid)


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    process = start_agent(tmp_path_factory.mktemp("crowded"), "--max-connections", "4", "--queue", "1",
                          "--idle-timeout", "60", "--grace", "4")
    yield process
    process.proc.terminate()
    process.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    process = start_agent(tmp_path_factory.mktemp("impatient"), "--max-connections", "3", "--idle-timeout", "1")
    yield process
    process.proc.terminate()
    process.proc.wait(timeout=10)


# --- headers are judged before anything else ---------------------------------------------


def test_a_content_length_that_is_not_ascii_digits_is_400_and_the_agent_lives_on(agent):
    data = _request("POST", "/v1/models", headers={"Content-Length": b"\xb2"}, length=False)  # "²".isdigit()
    assert _status(_exchange(agent.url, data)) == 400
    assert _status(_exchange(agent.url, data.replace(f"Bearer {TOKEN}".encode(), b"Bearer nope"))) == 401
    for bad in (b"-1", b"1e3", b"12, 12", b"99999999999999999999999"):
        assert _status(_exchange(agent.url, _request("POST", "/v1/models", headers={"Content-Length": bad},
                                                     length=False))) == 400
    assert agent.alive() and "Traceback" not in agent.log.read_text()


def test_a_huge_declared_body_is_413_at_once_without_waiting_for_it(agent):
    reply = _exchange(agent.url, _request("POST", "/v1/models", headers={"Content-Length": str(10**12)}, length=False))
    assert _status(reply) == 413 and "over this agent's limit" in _payload(reply)["error"]


def test_unknown_methods_need_the_token_and_no_reply_names_a_version(agent):
    assert _status(_exchange(agent.url, _request("PUT", "/v1/models", token=None))) == 401
    reply = _exchange(agent.url, _request("PUT", "/v1/models"))
    assert _status(reply) == 501 and "not served" in _payload(reply)["error"]
    for data in (_request("PUT", "/v1/models"), _request("GET", "/v1/info"), _request("GET", "/v1/info", token=None),
                 b"NONSENSE\r\n\r\n", b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n"):
        head = _exchange(agent.url, data).split(b"\r\n\r\n", 1)[0]
        assert b"Python" not in head and b"edgeloop-agent/" not in head, head


# --- options: bad values are 400, never a dropped request or a leaked child ---------------


def test_bad_options_are_400_and_leave_no_child_behind(agent, trained_model_and_files):
    _, files = trained_model_and_files
    blob = files["int8"].read_bytes()
    digest = AgentClient(agent.url, TOKEN).upload(blob)
    assert _no_children_left(agent)
    for header in ('{"time_limit_s": NaN}', '{"time_limit_s": Infinity}', "[1, 2]", '"abc"', '{"threads": 1e9}',
                   '{"seed": -1}', '{"time_limit_s": 1' + "0" * 400 + "}"):
        reply = _exchange(agent.url, _request("POST", "/v1/benchmark", blob, {"X-Edgeloop-Options": header}))
        assert _status(reply) == 400, (header, reply)
    for options in ("[1, 2]", '"abc"', '{"runs": "5"}', '{"ci_target": 1e400}'):  # 1e400 reads as inf
        body = f'{{"model": "{digest}", "options": {options}}}'.encode()
        reply = _exchange(agent.url, _request("POST", "/v1/benchmark", body, {"Content-Type": "application/json"}))
        assert _status(reply) == 400 and "option" in _payload(reply)["error"], (options, reply)
    assert _children(agent.proc.pid) == [] and agent.alive() and "Traceback" not in agent.log.read_text()


# --- uploads are checked within bounds ------------------------------------------------------


def test_an_upload_past_the_subgraph_bound_is_refused_before_it_is_walked(agent, many_subgraphs):
    cached = set(agent.cache.glob("*.tflite"))
    for path, headers in (("/v1/models", {}), ("/v1/benchmark", {"Content-Type": "application/octet-stream"})):
        reply = _exchange(agent.url, _request("POST", path, many_subgraphs["blob"], headers))
        assert _status(reply) == 400
        assert "300 subgraphs, more than this agent's limit of 256" in _payload(reply)["error"]
    assert set(agent.cache.glob("*.tflite")) == cached and _children(agent.proc.pid) == []


# --- load: backlog, the connection cap, slow and idle clients -----------------------------


def _flood(url: str, data: bytes, clients: int) -> list:
    """``clients`` raw connections sending ``data`` at once; each one's status, or its error."""
    outcome: list = [None] * clients
    barrier = threading.Barrier(clients)

    def one(i: int) -> None:
        barrier.wait()
        try:
            reply = _exchange(url, data, timeout=120)
            outcome[i] = _status(reply) if reply else "closed without a reply"
        except OSError as exc:
            outcome[i] = type(exc).__name__

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return outcome


@pytest.fixture(scope="module")
def flood_request(crowded, trained_model_and_files):
    _, files = trained_model_and_files
    digest = AgentClient(crowded.url, TOKEN).upload(files["float32"])
    body = json.dumps({"model": digest, "options": {"runs": 300, "warmup": 0}}).encode()
    return _request("POST", "/v1/benchmark", body, {"Content-Type": "application/json"})


@pytest.mark.slow
def test_fifty_simultaneous_clients_are_all_answered_served_or_busy(crowded, flood_request):
    outcome = _flood(crowded.url, flood_request, 50)
    assert set(outcome) <= {200, 503}, outcome  # no reset, no silent close
    assert 200 in outcome
    assert _no_children_left(crowded) and crowded.alive() and "Traceback" not in crowded.log.read_text()


def test_connections_queue_in_the_backlog_while_the_agent_cannot_accept(crowded, flood_request):
    """A stopped agent stands for one too loaded to accept: the kernel must keep 50
    handshakes waiting for it (socketserver's backlog of 5 kept 6), and once it runs again
    every one of them is answered."""
    os.kill(crowded.proc.pid, signal.SIGSTOP)
    sockets = []
    try:
        selector = selectors.DefaultSelector()
        for _ in range(50):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(_address(crowded.url))
            selector.register(sock, selectors.EVENT_WRITE)
            sockets.append(sock)
        connected, deadline = 0, time.monotonic() + 30
        while connected < 50 and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                selector.unregister(key.fileobj)
                connected += key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        for sock in sockets[:connected]:
            sock.setblocking(True)
            sock.sendall(flood_request)  # into the kernel's buffers: the agent reads them when it runs
    finally:
        os.kill(crowded.proc.pid, signal.SIGCONT)
    assert connected == 50
    statuses = []
    for sock in sockets:
        sock.settimeout(120)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        sock.close()
        statuses.append(_status(reply))
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses
    assert _no_children_left(crowded)


def test_past_the_connection_cap_a_client_hears_busy_at_once(crowded):
    held = [socket.create_connection(_address(crowded.url), timeout=60) for _ in range(4)]
    try:
        reply = _exchange(crowded.url, _request("GET", "/v1/info"))  # the fifth
        assert _status(reply) == 503 and _payload(reply)["busy"] is True and b"Retry-After" in reply
    finally:
        for sock in held:
            sock.close()
    assert AgentClient(crowded.url, TOKEN).info()["agent"]["connections"]["refused_busy"] >= 1


def test_idle_connections_are_closed(impatient):
    idle = [socket.create_connection(_address(impatient.url), timeout=60) for _ in range(3)]
    try:
        for sock in idle:
            assert sock.recv(1) == b""  # closed by the agent (the 60 s bound is the failure mode)
    finally:
        for sock in idle:
            sock.close()
    assert AgentClient(impatient.url, TOKEN).info()["agent"]["idle_timeout_s"] == 1.0


def test_a_client_sending_its_headers_slowly_is_dropped(impatient):
    """One byte of a header every 0.2 s: never idle long enough for a per-read timeout, and
    within every size limit (300 bytes in 60 s); only a deadline on the whole headers ends it."""
    with socket.create_connection(_address(impatient.url), timeout=60) as sock:
        sock.sendall(b"GET /v1/info HTTP/1.1\r\nX-Slow: ")
        closed, deadline = False, time.monotonic() + 60
        while not closed and time.monotonic() < deadline:
            try:
                sock.sendall(b"a")
            except OSError:
                closed = True
                break
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                try:
                    closed = sock.recv(65536) == b""
                except OSError:
                    closed = True
    assert closed
    assert impatient.alive()


class _ResettingProxy:
    """A TCP relay to the agent that resets its first ``resets`` connections (SO_LINGER 0),
    as a flooded agent or a flaky link does."""

    def __init__(self, target: tuple[str, int], resets: int) -> None:
        self.target, self.resets, self.accepted = target, resets, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted <= self.resets:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def test_the_client_retries_a_reset_connection_with_backoff(agent, monkeypatch):
    monkeypatch.setattr("edgeloop.host.client._BACKOFF_S", 0.01)  # 0.01 s, doubling: the test needs no real wait
    proxy, always = _ResettingProxy(_address(agent.url), resets=2), _ResettingProxy(_address(agent.url), resets=100)
    try:
        info = AgentClient(proxy.url, TOKEN).info()
        assert info["agent"]["auth"] is True and proxy.accepted == 3
        with pytest.raises(EdgeloopError, match="lost the agent .* 6 times in a row"):
            AgentClient(always.url, TOKEN).info()
        assert always.accepted == 6
    finally:
        proxy.server.close()
        always.server.close()


def test_the_client_refuses_a_model_over_the_agents_upload_limit_before_sending_it(agent):
    with pytest.raises(EdgeloopError, match=r"over the upload limit of the agent .*--max-upload-mb"):
        AgentClient(agent.url, TOKEN).upload(b"\0" * (2 * 2**20))


# --- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (("--port", "70000"), "port must be a whole number from 0 to 65535, got 70000"),
    (("--queue", "-1"), "queue must be a whole number at least 0, got -1"),
    (("--max-connections", "0"), "max_connections must be a whole number at least 1, got 0"),
    (("--idle-timeout", "nan"), "idle_timeout_s must be a positive finite number of seconds, got nan"),
])
def test_agent_serve_refuses_out_of_range_settings_in_one_line(args, message, tmp_path):
    proc = run_cli("agent", "serve", "--no-auth", "--cache-dir", tmp_path, *args, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == f"edgeloop: error: {message}", proc.stderr
