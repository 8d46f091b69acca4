"""The device agent: an HTTP server on the device that benchmarks uploaded models.

``edgeloop agent serve`` runs it. It imports the standard library, numpy and a TFLite
interpreter only, so it starts on a Coral Dev Board or a Jetson without TensorFlow.

Endpoints (JSON replies; errors are ``{"error": ...}`` with a 4xx/5xx status):

* ``GET /v1/info`` - the device fingerprint, the delegates that load here, the agent's
  limits and what it is running now.
* ``POST /v1/models`` - body: a ``.tflite``; stores it by SHA-256 and returns the digest.
* ``POST /v1/benchmark`` - body: a ``.tflite`` with the options as JSON in the
  ``X-Edgeloop-Options`` header, or JSON ``{"model": sha256, "options": {...}}`` for an
  uploaded model; returns the same report as the local benchmark.
* ``POST /v1/compare`` - JSON ``{"models": [old, new], "options": {...}}``: both models
  timed interleaved (the regression gate's measurement).

Security: every request needs ``Authorization: Bearer <token>`` (compared in constant
time) unless the agent listens on loopback and was started without a token; bodies over
the upload limit get 413; a body that is not a TFLite flatbuffer gets 400 before any
interpreter sees it. Each benchmark runs in a child process (:mod:`edgeloop.device.child`),
one at a time; a bounded number wait their turn and the rest are told 503 busy.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from edgeloop import __version__
from edgeloop.device import fingerprint
from edgeloop.device.cache import ModelCache, user_cache_dir
from edgeloop.device.child import GRACE_S, ChildError, run_in_child
from edgeloop.device.options import BenchmarkOptions
from edgeloop.device.turns import Busy, Turns
from edgeloop.device.validate import check_tflite
from edgeloop.errors import EdgeloopError

OPTIONS_HEADER = "X-Edgeloop-Options"
_DRAIN_LIMIT = 8 * 2**20  # an oversized body is read and dropped up to this, for a clean 413


@dataclass
class AgentConfig:
    """How the agent runs.

    Attributes:
        host: address to listen on.
        port: TCP port (0 picks a free one).
        token: the shared secret clients must send; ``None`` only on loopback.
        cache_dir: where uploaded models are kept.
        cache_bytes: cap of the model cache.
        max_upload_bytes: largest body accepted.
        queue: benchmarks that may wait while one runs; more are told busy.
        max_time_s: longest time limit a request may ask for.
        memory_limit_mb: address-space cap of each benchmark process (``None``: no cap).
        grace_s: seconds a benchmark process gets beyond its time limit (start-up, reply)
            before it is killed.
    """

    host: str = "127.0.0.1"
    port: int = 8470
    token: str | None = None
    cache_dir: Path = field(default_factory=lambda: user_cache_dir() / "agent-models")
    cache_bytes: int = 512 * 2**20
    max_upload_bytes: int = 64 * 2**20
    queue: int = 4
    max_time_s: float = 600.0
    memory_limit_mb: int | None = None
    grace_s: float = GRACE_S

    def __post_init__(self) -> None:
        if self.token is None and not is_loopback(self.host):
            raise EdgeloopError(f"refusing to listen on {self.host} without a token: give --token-file, "
                                "or listen on 127.0.0.1")
        if self.token is not None and not self.token.strip():
            raise EdgeloopError("the token is empty")


def read_token(path: str | Path) -> str:
    """The token in file ``path`` (surrounding whitespace dropped).

    Raises:
        EdgeloopError: missing, unreadable or empty file.
    """
    try:
        token = Path(path).read_text().strip()
    except FileNotFoundError:
        raise EdgeloopError(f"token file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeloopError(f"cannot read token file {path}: {exc}") from None
    if not token:
        raise EdgeloopError(f"token file {path} is empty")
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Agent:
    """State shared by the request threads: config, cache, the benchmark turns, the probe."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.cache = ModelCache(config.cache_dir, config.cache_bytes)
        self.turns = Turns(config.queue)
        self.running: dict | None = None
        # Loading a delegate can crash a process: probe them once, in a child.
        try:
            self.delegates = run_in_child({"task": "probe"}, timeout_s=60)
        except ChildError as exc:
            self.delegates = {name: {"loads": False, "error": f"probe failed: {exc}"} for name in ("xnnpack", "edgetpu", "gpu")}

    def info(self) -> dict:
        """The ``/v1/info`` reply."""
        return {
            **fingerprint.collect(),  # read each time: temperature and governor change
            "delegates": self.delegates,
            "agent": {
                "version": __version__,
                "queue": self.config.queue,
                "waiting": self.turns.waiting,
                "running": self.running,
                "max_upload_bytes": self.config.max_upload_bytes,
                "max_time_s": self.config.max_time_s,
                "memory_limit_mb": self.config.memory_limit_mb,
                "auth": self.config.token is not None,
                "modules": sorted({name.split(".")[0] for name in sys.modules if not name.startswith("_")}),
            },
        }

    def run(self, task: str, digests: list[str], options: BenchmarkOptions) -> dict:
        """Wait for this request's turn, then run it in a child process."""
        if options.time_limit_s > self.config.max_time_s:
            raise EdgeloopError(f"time_limit_s {options.time_limit_s:g} is above this agent's limit of {self.config.max_time_s:g} s")
        with self.turns.turn():
            paths = [str(self.cache.path(d)) for d in digests]
            request = {"task": task, "models": paths, "options": options.to_dict(),
                       "memory_limit_mb": self.config.memory_limit_mb}

            def started(pid: int | None) -> None:
                self.running = None if pid is None else {"pid": pid, "task": task, "models": digests, "since": time.time()}

            result = run_in_child(request, options.time_limit_s + self.config.grace_s, on_start=started)
        if task == "benchmark":
            result.update(source="agent", model=digests[0])
        return result


class _Handler(BaseHTTPRequestHandler):
    server_version = f"edgeloop-agent/{__version__}"
    protocol_version = "HTTP/1.1"
    timeout = 120  # a client that stops sending mid-body is dropped
    agent: Agent  # set on the subclass serve() builds

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if not self._authorized():
            return
        if self.path == "/v1/info":
            self._reply(200, self.agent.info())
        else:
            self._reply(404, {"error": f"no such endpoint: GET {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        routes = {"/v1/models": self._models, "/v1/benchmark": self._benchmark, "/v1/compare": self._compare}
        route = routes.get(self.path)
        if route is None:
            self._reply(404, {"error": f"no such endpoint: POST {self.path}"})
            return
        body = self._body()
        if body is None:
            return
        try:
            route(body)
        except Busy as exc:
            self._reply(503, {"error": str(exc), "busy": True}, {"Retry-After": "2"})
        except ChildError as exc:
            self._reply(422, {"error": str(exc), "kind": exc.kind})
        except EdgeloopError as exc:
            self._reply(400, {"error": str(exc)})

    def _models(self, body: bytes) -> None:
        check = check_tflite(body)
        self._reply(200, {"sha256": self.agent.cache.put(body), "bytes": len(body), **check})

    def _benchmark(self, body: bytes) -> None:
        if self.headers.get("Content-Type", "").startswith("application/json"):
            request = _json(body)
            digest, options = request.get("model"), request.get("options")
        else:
            check_tflite(body)
            digest, options = self.agent.cache.put(body), _json(self.headers.get(OPTIONS_HEADER, "{}").encode())
        self._reply(200, self.agent.run("benchmark", [digest], BenchmarkOptions.from_dict(options)))

    def _compare(self, body: bytes) -> None:
        request = _json(body)
        models = request.get("models")
        if not isinstance(models, list) or len(models) != 2:
            raise EdgeloopError('compare needs {"models": [old_sha256, new_sha256]}')
        self._reply(200, self.agent.run("compare", models, BenchmarkOptions.from_dict(request.get("options"))))

    def _authorized(self) -> bool:
        token = self.agent.config.token
        if token is None:
            return True
        sent = self.headers.get("Authorization", "")
        given = sent[len("Bearer "):] if sent.startswith("Bearer ") else ""
        if hmac.compare_digest(given.encode(), token.encode()):
            return True
        self._drop_body()
        self._reply(401, {"error": "missing or wrong token"}, {"WWW-Authenticate": "Bearer"})
        return False

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._reply(411, {"error": "a Content-Length header is required"})
            return None
        size, limit = int(length), self.agent.config.max_upload_bytes
        if size > limit:
            self._drop_body()
            self._reply(413, {"error": f"upload of {size} bytes is over this agent's limit of {limit} bytes"})
            return None
        return self.rfile.read(size)

    def _drop_body(self) -> None:
        """Read and drop a body we will not use (up to a bound), then close the connection."""
        length = self.headers.get("Content-Length", "0")
        left = min(int(length) if length.isdigit() else 0, _DRAIN_LIMIT)
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)
        self.close_connection = True

    def _reply(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        sys.stderr.write(f"edgeloop agent: {self.address_string()} {format % args}\n")


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        raise EdgeloopError("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise EdgeloopError("the request body must be a JSON object")
    return value


def make_server(config: AgentConfig) -> ThreadingHTTPServer:
    """A server bound to ``config.host:config.port`` (not yet serving)."""
    agent = Agent(config)
    handler = type("Handler", (_Handler,), {"agent": agent})
    try:
        server = ThreadingHTTPServer((config.host, config.port), handler)
    except OSError as exc:
        raise EdgeloopError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    server.daemon_threads = True
    return server


def serve(config: AgentConfig) -> None:
    """Serve until interrupted; prints the address it listens on."""
    server = make_server(config)
    host, port = server.server_address[:2]
    auth = "token required" if config.token else "no token (loopback only)"
    print(f"edgeloop agent listening on http://{host}:{port} ({auth})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
