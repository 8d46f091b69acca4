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

Security: a request is judged on its headers before anything else is done or read: the
token first (``Authorization: Bearer <token>``, compared in constant time; none only when
the agent listens on loopback and was started without one), then the method, then the
body's declared length (ASCII digits, at most the upload limit: 413 at once). Options are
checked before the model they come with is read; a body that is not a TFLite flatbuffer,
or one past the bounds of :mod:`edgeloop.device.validate`, gets 400 before any
interpreter sees it. No reply names the server's or Python's version.

Load: each benchmark runs in a child process (:mod:`edgeloop.device.child`), one at a
time; a bounded number wait their turn and the rest are told 503 busy, as are uploads
past a few at once and connections past a cap; slow and idle clients are dropped
(:mod:`edgeloop.device.connections`).
"""

from __future__ import annotations

import hmac
import json
import re
import sys
import threading
import time
import traceback

from edgeloop import __version__
from edgeloop.device import fingerprint
from edgeloop.device.agent_config import AgentConfig, is_loopback, read_token
from edgeloop.device.cache import ModelCache
from edgeloop.device.child import ChildError, run_in_child
from edgeloop.device.connections import BoundedHandler, BoundedServer
from edgeloop.device.options import BenchmarkOptions
from edgeloop.device.turns import Busy, Turns
from edgeloop.device.validate import check_tflite
from edgeloop.errors import EdgeloopError

__all__ = ["Agent", "AgentConfig", "OPTIONS_HEADER", "is_loopback", "make_server", "read_token", "serve"]

OPTIONS_HEADER = "X-Edgeloop-Options"
_JSON_LIMIT = 2**20  # a JSON request (model digests and options) is far smaller
_UPLOAD_WAIT_S = 10.0  # an upload waits this long for one of the agent's upload slots
_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only: "²".isdigit() is True, and int("²") fails


class Agent:
    """State shared by the request threads: config, cache, the benchmark turns, the probe."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.cache = ModelCache(config.cache_dir, config.cache_bytes)
        self.turns = Turns(config.queue)
        self.uploads = threading.BoundedSemaphore(config.max_uploads)
        self.running: dict | None = None
        # Loading a delegate can crash a process: probe them once, in a child.
        try:
            self.delegates = run_in_child({"task": "probe"}, timeout_s=60)
        except ChildError as exc:
            self.delegates = {name: {"loads": False, "error": f"probe failed: {exc}"} for name in ("xnnpack", "edgetpu", "gpu")}

    def info(self, server: BoundedServer | None = None) -> dict:
        """The ``/v1/info`` reply (with ``server``'s connection counts when given)."""
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
                "max_connections": self.config.max_connections,
                "max_uploads": self.config.max_uploads,
                "idle_timeout_s": self.config.idle_timeout_s,
                "connections": None if server is None else {"open": server.open_connections,
                                                            "refused_busy": server.refused_connections},
                "auth": self.config.token is not None,
                "modules": sorted({name.split(".")[0] for name in sys.modules if not name.startswith("_")}),
            },
        }

    def check_options(self, options: BenchmarkOptions) -> None:
        """Refuse options this agent does not allow (a time limit above its own)."""
        if options.time_limit_s > self.config.max_time_s:
            raise EdgeloopError(f"time_limit_s {options.time_limit_s:g} is above this agent's limit of {self.config.max_time_s:g} s")

    def run(self, task: str, digests: list[str], options: BenchmarkOptions) -> dict:
        """Wait for this request's turn, then run it in a child process."""
        self.check_options(options)
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


class _Handler(BoundedHandler):
    agent: Agent  # set on the subclass make_server builds

    def parse_request(self) -> bool:
        """The request line and headers, then everything that can be judged from them alone
        (token, method, body length), before a byte of the body is read."""
        if not super().parse_request():
            return False
        self._body_left = 0
        if not self._authorized():
            return False
        if self.command not in ("GET", "POST"):
            return self._refuse(501, f"method {self.command} is not served: GET /v1/info, POST /v1/models, "
                                     "/v1/benchmark or /v1/compare")
        if self.headers.get("Transfer-Encoding"):
            return self._refuse(411, "a Content-Length header is required (no chunked bodies)")
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1 or not all(_DIGITS.fullmatch(value.strip()) for value in lengths):
            return self._refuse(400, "Content-Length must be one number of bytes")
        size = int(lengths[0]) if lengths else 0
        if self.command == "POST" and not lengths:
            return self._refuse(411, "a Content-Length header is required")
        limit = self.agent.config.max_upload_bytes
        if size > limit:
            return self._refuse(413, f"upload of {size} bytes is over this agent's limit of {limit} bytes")
        self._body_left = size
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        return True

    def handle_expect_100(self) -> bool:
        return True  # "100 Continue" is sent by parse_request, once the headers have been judged

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/v1/info":
            self._reply(200, self.agent.info(self.server))
        else:
            self._reply(404, {"error": f"no such endpoint: GET {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        routes = {"/v1/models": self._models, "/v1/benchmark": self._benchmark, "/v1/compare": self._compare}
        route = routes.get(self.path)
        if route is None:
            self._reply(404, {"error": f"no such endpoint: POST {self.path}"})
            return
        try:
            route()
        except Busy as exc:
            self._reply(503, {"error": str(exc), "busy": True}, {"Retry-After": "2"})
        except ChildError as exc:
            self._reply(422, {"error": str(exc), "kind": exc.kind})
        except EdgeloopError as exc:
            self._reply(400, {"error": str(exc)})
        except (ConnectionError, TimeoutError):  # the client left or stalled: no one to answer (the server logs it)
            raise
        except Exception as exc:  # a bug: the client hears of it, the traceback goes to the log
            traceback.print_exc()
            self._reply(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})

    def _models(self) -> None:
        digest, size, check = self._upload()
        self._reply(200, {"sha256": digest, "bytes": size, **check})

    def _benchmark(self) -> None:
        if self.headers.get("Content-Type", "").startswith("application/json"):
            request = _json(self._body(_JSON_LIMIT))
            digest, options = request.get("model"), BenchmarkOptions.from_dict(request.get("options"))
            self.agent.check_options(options)
        else:  # the options come first: a bad one is refused before the model is read
            options = BenchmarkOptions.from_dict(_json(self.headers.get(OPTIONS_HEADER, "{}").encode()))
            self.agent.check_options(options)
            digest = self._upload()[0]
        self._reply(200, self.agent.run("benchmark", [digest], options))

    def _compare(self) -> None:
        request = _json(self._body(_JSON_LIMIT))
        models = request.get("models")
        if not isinstance(models, list) or len(models) != 2:
            raise EdgeloopError('compare needs {"models": [old_sha256, new_sha256]}')
        self._reply(200, self.agent.run("compare", models, BenchmarkOptions.from_dict(request.get("options"))))

    def _upload(self) -> tuple[str, int, dict]:
        """Read the body (a model), check it and keep it in the cache: ``(sha256, bytes, check)``.
        A bounded number are read at once (each is held in memory); the next wait a little
        for their turn, then hear busy."""
        if not self.agent.uploads.acquire(timeout=_UPLOAD_WAIT_S):
            raise Busy(f"busy: {self.agent.config.max_uploads} uploads are being received; try again later")
        try:
            body = self._body()
            check = check_tflite(body)
            return self.agent.cache.put(body), len(body), check
        finally:
            self.agent.uploads.release()

    def _authorized(self) -> bool:
        token = self.agent.config.token
        if token is None:
            return True
        sent = self.headers.get("Authorization", "")
        given = sent[len("Bearer "):] if sent.startswith("Bearer ") else ""
        if hmac.compare_digest(given.encode(), token.encode()):
            return True
        return self._refuse(401, "missing or wrong token", {"WWW-Authenticate": "Bearer"})

    def _refuse(self, status: int, message: str, headers: dict | None = None) -> bool:
        """Answer an error from the headers alone; the connection closes (its body is never read)."""
        self.close_connection = True
        self._reply(status, {"error": message}, headers)
        return False

    def _body(self, limit: int | None = None) -> bytes:
        size, self._body_left = self._body_left, 0
        if limit is not None and size > limit:
            self.close_connection = True
            raise EdgeloopError(f"a JSON request of {size} bytes is over the limit of {limit} bytes")
        self.expect_body(size)
        body = self.rfile.read(size)
        if len(body) < size:
            raise ConnectionError(f"the client sent {len(body)} of the {size} bytes it announced")
        return body

    def _reply(self, status: int, payload: dict, headers: dict | None = None) -> None:
        if self._body_left:  # a body left unread cannot be told from the next request: close
            self.close_connection = True
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        sys.stderr.write(f"edgeloop agent: {self.address_string()} {format % args}\n")


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body.decode("utf-8") or "{}", parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EdgeloopError(f"the request is not valid JSON{_detail(exc)}") from None
    if not isinstance(value, dict):
        raise EdgeloopError("the request must be a JSON object")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def _detail(exc: Exception) -> str:
    return f" ({exc})" if isinstance(exc, ValueError) and "is not a number" in str(exc) else ""


def make_server(config: AgentConfig) -> BoundedServer:
    """A server bound to ``config.host:config.port`` (not yet serving)."""
    agent = Agent(config)
    handler = type("Handler", (_Handler,), {"agent": agent, "idle_timeout_s": config.idle_timeout_s})
    try:
        return BoundedServer((config.host, config.port), handler, config.max_connections)
    except OSError as exc:
        raise EdgeloopError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None


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
