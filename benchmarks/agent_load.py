"""Reliability of the device agent under load and hostile input, and of the local time limit.

Against a real ``edgeloop agent serve`` on loopback (default limits: 32 connections,
4 benchmarks waiting, 2 uploads at once; a short idle timeout so the idle figures come
quickly):

1. **Floods**: 50 raw clients released at once by a barrier, each one connection sending
   one request: benchmarks of an uploaded model by digest, then uploads with the model in
   the body. Every client must get a reply (200 served, or 503 busy); resets, silent
   closes and timeouts are counted. The agent's child processes are counted before and
   after (none may be left).
2. **Backlog**: the agent is stopped (SIGSTOP, standing for one too loaded to accept)
   while 50 clients connect and send; how many handshakes the kernel completes for it,
   and how many are answered once it runs again.
3. **Idle and slow clients**: 200 connections opened and left idle (past the cap of 32
   they are told busy at once), and one client sending a header line every 0.5 s: seconds
   until the agent closes each, its thread count at the peak and after.
4. **Hostile uploads**: a flatbuffer with 2,000 subgraphs (46 MB in the full run; an
   earlier agent parsed it for 112 s and 888 MB) and options with NaN / inf / wrong types:
   status, seconds, the agent's resident memory, children left.
5. **Local time limit**: ``bench`` on this machine of a model whose inference never
   returns (a WHILE loop), with a 2 s time limit: seconds until it is stopped.

Run: ``python -m benchmarks.agent_load [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CLIENTS = 50


def _build_models(folder: Path, subgraphs: int, tensors_each: int) -> None:
    """Write small.tflite, hang.tflite and crafted.tflite into ``folder`` (TensorFlow in a child:
    the process that measures the agent never imports it)."""
    code = f"from benchmarks.agent_load import _build; _build({str(folder)!r}, {subgraphs}, {tensors_each})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=900,
                          cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode()[-2000:])


def _build(folder: str, subgraphs: int, tensors_each: int) -> None:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from edgeloop._tf import tf

    def convert(fn) -> bytes:
        return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert()

    @tf.function(input_signature=[tf.TensorSpec([1, 64], tf.float32)])
    def small(x):
        return tf.nn.relu(tf.matmul(x, tf.ones([64, 64]))) * 2.0

    @tf.function(input_signature=[tf.TensorSpec([1], tf.int32)])
    def hang(x):  # i > INT32_MIN stays true for ~2**32 iterations
        return tf.while_loop(lambda i: tf.reduce_all(i > tf.int32.min), lambda i: i + 1, [x])

    out = Path(folder)
    blob = convert(small)
    (out / "small.tflite").write_bytes(blob)
    (out / "hang.tflite").write_bytes(convert(hang))
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(blob, 0))
    for i in range(subgraphs - 1):
        graph = schema.SubGraphT()
        graph.tensors = []
        for j in range(tensors_each):
            tensor = schema.TensorT()
            tensor.shape, tensor.type, tensor.buffer, tensor.name = [1, 8], 0, 0, f"sg{i}_tensor_{j}".encode()
            graph.tensors.append(tensor)
        graph.inputs, graph.outputs, graph.operators, graph.name = [0], [0], [], f"g{i}".encode()
        model.subgraphs.append(graph)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    (out / "crafted.tflite").write_bytes(bytes(builder.Output()))


def _start_agent(folder: Path, *extra: str) -> tuple[subprocess.Popen, tuple[str, int]]:
    proc = subprocess.Popen([sys.executable, "-m", "edgeloop.cli", "agent", "serve", "--no-auth", "--port", "0",
                             "--cache-dir", str(folder / "cache"), *extra],
                            stdout=subprocess.PIPE, stderr=(folder / "agent.log").open("wb"))
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError("the agent did not start")
    host, port = line.split("http://")[1].split()[0].rsplit(":", 1)
    return proc, (host, int(port))


def _request(method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: agent", "Connection: close", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _read_all(sock: socket.socket) -> bytes:
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    return reply


def _exchange(address, data: bytes, timeout: float = 300) -> bytes:
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        return _read_all(sock)


def _status(reply: bytes) -> str:
    return reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/") else "closed without a reply"


def _children(pid: int) -> int:
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        count += int(fields[1]) == pid and fields[0] != "Z"
    return count


def _proc_status(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Threads", "VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / (1024 if key.startswith("Vm") else 1)
    return out


def _settle(pid: int, bound_s: float = 120) -> int:
    """Children of ``pid`` once the work in flight is done (waits for at most ``bound_s``)."""
    deadline = time.monotonic() + bound_s
    while _children(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _children(pid)


def _flood(address, data: bytes, clients: int) -> dict:
    outcome: list = [None] * clients
    barrier = threading.Barrier(clients)

    def one(i: int) -> None:
        barrier.wait()
        try:
            outcome[i] = _status(_exchange(address, data))
        except OSError as exc:
            outcome[i] = type(exc).__name__

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts: dict = {}
    for status in outcome:
        counts[status] = counts.get(status, 0) + 1
    answered = counts.get("200", 0) + counts.get("503", 0)
    return {"clients": clients, "served": counts.get("200", 0), "busy": counts.get("503", 0),
            "answered": answered, "unanswered": clients - answered,
            "resets": counts.get("ConnectionResetError", 0), "outcomes": counts,
            "seconds": time.perf_counter() - started}


def _backlog(proc: subprocess.Popen, address, data: bytes, clients: int) -> dict:
    os.kill(proc.pid, signal.SIGSTOP)
    sockets = []
    try:
        selector = selectors.DefaultSelector()
        for _ in range(clients):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(address)
            selector.register(sock, selectors.EVENT_WRITE)
            sockets.append(sock)
        connected, deadline = 0, time.monotonic() + 10
        while connected < clients and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                selector.unregister(key.fileobj)
                connected += key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        for sock in sockets[:connected]:
            sock.setblocking(True)
            sock.sendall(data)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    answered = 0
    for sock in sockets[:connected]:
        sock.settimeout(300)
        try:
            answered += _status(_read_all(sock)) in ("200", "503")
        except OSError:
            pass
        sock.close()
    for sock in sockets[connected:]:
        sock.close()
    return {"clients": clients, "connected_while_stopped": connected, "answered_after": answered}


def _idle(proc: subprocess.Popen, address, connections: int) -> dict:
    before = _proc_status(proc.pid)["Threads"]
    started = time.monotonic()
    sockets = [socket.create_connection(address, timeout=120) for _ in range(connections)]
    time.sleep(0.5)
    peak = _proc_status(proc.pid)["Threads"]
    busy, closed_after = 0, []
    for sock in sockets:
        reply = _read_all(sock)  # a busy reply at once, or the close at the idle timeout
        busy += _status(reply) == "503"
        closed_after.append(time.monotonic() - started)
        sock.close()
    time.sleep(0.5)
    return {"connections": connections, "told_busy": busy, "closed_by_agent": connections,
            "last_closed_after_s": max(closed_after), "threads_before": before, "threads_at_peak": peak,
            "threads_after": _proc_status(proc.pid)["Threads"]}


def _slow_headers(address, every_s: float = 0.5) -> dict:
    started = time.monotonic()
    lines = 0
    with socket.create_connection(address, timeout=120) as sock:
        sock.sendall(b"GET /v1/info HTTP/1.1\r\n")
        while time.monotonic() - started < 120:
            try:
                sock.sendall(b"X-Slow: one line at a time\r\n")
                lines += 1
                sock.settimeout(every_s)
                if sock.recv(65536) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
    return {"header_lines_sent": lines, "closed_after_s": time.monotonic() - started}


def _hostile(proc: subprocess.Popen, address, crafted: bytes, small: bytes) -> dict:
    before = _proc_status(proc.pid)
    started = time.perf_counter()
    reply = _exchange(address, _request("POST", "/v1/models", crafted))
    seconds = time.perf_counter() - started
    after = _proc_status(proc.pid)
    options = {}
    for text in ('{"time_limit_s": NaN}', '{"time_limit_s": Infinity}', "[1, 2]", '"abc"', '{"runs": "5"}'):
        options[text] = _status(_exchange(address, _request("POST", "/v1/benchmark", small, {"X-Edgeloop-Options": text})))
    return {"crafted": {"bytes": len(crafted), "status": _status(reply), "seconds": seconds,
                        "error": json.loads(reply.split(b"\r\n\r\n", 1)[1]).get("error"),
                        "rss_mb_before": before["VmRSS"], "rss_mb_after": after["VmRSS"],
                        "peak_rss_mb": after["VmHWM"]},
            "bad_options": options, "children_after": _settle(proc.pid)}


def _local_time_limit(hang: Path, limit_s: float = 2.0) -> dict:
    from edgeloop.host.devices import LocalDevice
    from edgeloop.device.options import BenchmarkOptions
    from edgeloop.errors import EdgeloopError

    device = LocalDevice()
    started = time.perf_counter()
    error = None
    try:
        device.benchmark(hang, BenchmarkOptions(time_limit_s=limit_s))
    except EdgeloopError as exc:
        error = str(exc)
    return {"time_limit_s": limit_s, "grace_s": device.grace_s, "stopped_after_s": time.perf_counter() - started,
            "error": error, "children_after": _settle(os.getpid())}


def run(quick: bool = False, progress=None) -> dict:
    """Flood, starve and feed the agent hostile input; time the local limit; return the figures."""
    say = progress or (lambda message: None)
    subgraphs, tensors_each = (2000, 10) if quick else (2000, 450)
    floods = 1 if quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        say("agent_load: building the models (a small one, one that hangs, a crafted flatbuffer)")
        _build_models(folder, subgraphs, tensors_each)
        small, crafted = (folder / "small.tflite").read_bytes(), (folder / "crafted.tflite").read_bytes()
        proc, address = _start_agent(folder, "--idle-timeout", "3")
        try:
            upload = json.loads(_exchange(address, _request("POST", "/v1/models", small)).split(b"\r\n\r\n", 1)[1])
            by_digest = _request("POST", "/v1/benchmark", json.dumps(
                {"model": upload["sha256"], "options": {"runs": 200, "warmup": 0}}).encode(),
                {"Content-Type": "application/json"})
            with_body = _request("POST", "/v1/benchmark", small, {"X-Edgeloop-Options": '{"runs": 200, "warmup": 0}'})
            children_before = _children(proc.pid)
            say(f"agent_load: {floods} + 1 floods of {CLIENTS} simultaneous clients")
            flood = [_flood(address, by_digest, CLIENTS) for _ in range(floods)]
            flood_uploads = _flood(address, with_body, CLIENTS)
            children_after = _settle(proc.pid)
            say("agent_load: backlog, idle and slow clients")
            backlog = _backlog(proc, address, by_digest, CLIENTS)
            _settle(proc.pid)
            idle = _idle(proc, address, 200)
            slow = _slow_headers(address)
            say("agent_load: hostile uploads and options")
            hostile = _hostile(proc, address, crafted, small)
            alive = proc.poll() is None
            log = (folder / "agent.log").read_text(errors="replace")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        say("agent_load: the local time limit on a model that never returns")
        local = _local_time_limit(folder / "hang.tflite")
    return {
        "quick": quick, "clients": CLIENTS, "idle_timeout_s": 3.0, "max_connections": 32,
        "floods_by_digest": flood, "flood_uploads": flood_uploads,
        "children_before": children_before, "children_after": children_after,
        "backlog": backlog, "idle": idle, "slow_headers": slow, "hostile": hostile, "local": local,
        "agent_alive_at_end": alive, "tracebacks_in_log": log.count("Traceback"),
        "machine": {"cores": os.cpu_count(), "load_average": list(os.getloadavg())},
    }


def render(f: dict) -> str:
    """A Markdown section: each figure next to what it must be."""
    rows = [(f"flood {i + 1}: {r['clients']} clients, benchmark by digest", r["served"], r["busy"], r["unanswered"],
             r["resets"], f"{r['seconds']:.1f}") for i, r in enumerate(f["floods_by_digest"])]
    u = f["flood_uploads"]
    rows.append((f"flood: {u['clients']} clients, model in the body", u["served"], u["busy"], u["unanswered"],
                 u["resets"], f"{u['seconds']:.1f}"))
    table = "\n".join("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
    b, i, s, h, lo = f["backlog"], f["idle"], f["slow_headers"], f["hostile"], f["local"]
    c = h["crafted"]
    options = ", ".join(f"`{k}` {v}" for k, v in h["bad_options"].items())
    load = ", ".join(f"{x:.2f}" for x in f["machine"]["load_average"])
    return f"""Real agent on loopback, default limits ({f["max_connections"]} connections, 4 benchmarks waiting,
2 uploads at once), idle timeout {f["idle_timeout_s"]:g} s; {f["machine"]["cores"]} cores, load average {load} at the end.

| clients released at once | served (200) | busy (503) | unanswered | resets | seconds |
|---|---|---|---|---|---|
{table}

- **Children** of the agent: {f["children_before"]} before the floods, **{f["children_after"]}** after (target 0).
- **Backlog**: agent stopped, {b["clients"]} clients connecting: **{b["connected_while_stopped"]}** handshakes completed
  for it (socketserver's backlog of 5 kept 6), {b["answered_after"]} answered once it ran again.
- **Idle**: {i["connections"]} idle connections: {i["told_busy"]} told busy at once (past the cap), all
  {i["closed_by_agent"]} closed by the agent, the last after {i["last_closed_after_s"]:.1f} s; agent threads
  {i["threads_before"]:.0f} before, {i["threads_at_peak"]:.0f} at the peak, {i["threads_after"]:.0f} after.
- **Slow headers**: a client sending a header line every 0.5 s was dropped after {s["closed_after_s"]:.1f} s
  ({s["header_lines_sent"]} lines).
- **Crafted upload**: {c["bytes"] / 1e6:.1f} MB flatbuffer with 2,000 subgraphs: {c["status"]} in {c["seconds"]:.2f} s
  ("{c["error"]}"); agent resident memory {c["rss_mb_before"]:.0f} MB before, {c["rss_mb_after"]:.0f} MB after,
  peak {c["peak_rss_mb"]:.0f} MB.
- **Bad options**: {options}; children left: {h["children_after"]}.
- **Local time limit**: a model that never returns, `time_limit_s` {lo["time_limit_s"]:g} s (+{lo["grace_s"]:g} s
  grace): stopped after **{lo["stopped_after_s"]:.1f} s** ("{lo["error"]}"); children left: {lo["children_after"]}.
- Agent alive at the end: {f["agent_alive_at_end"]}; tracebacks in its log: {f["tracebacks_in_log"]}.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one flood per kind and a 2 MB crafted file")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args()
    figures = run(quick=args.quick)
    print(json.dumps(figures, indent=2) if args.json else render(figures))


if __name__ == "__main__":
    main()
