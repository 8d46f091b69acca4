"""The agent's client: ``http://HOST:PORT`` as a device (urllib, no dependency).

A busy agent (503) is asked again after the delay it suggests, until ``wait_s`` is spent:
several hosts sharing one device are served in turn.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from edgeloop.device.benchmark import BenchmarkResult, model_bytes
from edgeloop.device.options import BenchmarkOptions
from edgeloop.errors import EdgeloopError


class AgentClient:
    """Talks to ``edgeloop agent serve`` at ``url``.

    Args:
        url: ``http://HOST:PORT``.
        token: the agent's token (``None`` for a loopback agent started without one).
        wait_s: how long to keep asking a busy agent.
        timeout_s: socket timeout of one request, on top of the benchmark's time limit.
    """

    def __init__(self, url: str, token: str | None = None, wait_s: float = 600.0, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.name = self.url
        self.kind = "agent"
        self.token = token
        self.wait_s = wait_s
        self.timeout_s = timeout_s

    def info(self) -> dict:
        """The agent's ``/v1/info``: fingerprint, delegates, limits."""
        return self._request("GET", "/v1/info")

    def upload(self, model: bytes | str | Path) -> str:
        """Send a model to the agent's cache; return its SHA-256."""
        return self._request("POST", "/v1/models", model_bytes(model), "application/octet-stream")["sha256"]

    def benchmark(self, model: bytes | str | Path, options: BenchmarkOptions) -> BenchmarkResult:
        """Benchmark ``model`` on the agent's device; the same report as a local benchmark."""
        digest = self.upload(model)
        body = json.dumps({"model": digest, "options": options.to_dict()}).encode()
        reply = self._request("POST", "/v1/benchmark", body, "application/json", self._work_s(options))
        result = BenchmarkResult.from_dict(reply)
        result.model = str(model) if not isinstance(model, bytes) else result.model
        result.device = self.url
        return result

    def compare(self, old: bytes | str | Path, new: bytes | str | Path, options: BenchmarkOptions) -> dict:
        """Time ``old`` and ``new`` interleaved on the agent's device (see :mod:`edgeloop.device.gate`)."""
        digests = [self.upload(old), self.upload(new)]
        body = json.dumps({"models": digests, "options": options.to_dict()}).encode()
        return self._request("POST", "/v1/compare", body, "application/json", self._work_s(options))

    def _work_s(self, options: BenchmarkOptions) -> float:
        # The reply comes after this request's turn in the agent's queue and its own run.
        return self.wait_s + options.time_limit_s

    def _request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
                 work_s: float = 0.0) -> dict:
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                return self._once(method, path, body, content_type, work_s)
            except _Busy as busy:
                if time.monotonic() + busy.retry_after > deadline:
                    raise EdgeloopError(f"agent at {self.url} stayed busy for {self.wait_s:g} s: {busy}") from None
                time.sleep(busy.retry_after)

    def _once(self, method: str, path: str, body: bytes | None, content_type: str | None, work_s: float) -> dict:
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s + work_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            message = _error_message(exc)
            if exc.code == 503:
                raise _Busy(message, float(exc.headers.get("Retry-After", "2"))) from None
            if exc.code == 401:
                raise EdgeloopError(f"agent at {self.url} refused the token ({message}): give the agent's --token-file") from None
            raise EdgeloopError(f"agent at {self.url}: {message}") from None
        except urllib.error.URLError as exc:
            raise EdgeloopError(f"cannot reach the agent at {self.url}: {exc.reason}") from None
        except (TimeoutError, ConnectionError) as exc:
            raise EdgeloopError(f"lost the agent at {self.url}: {exc}") from None


class _Busy(Exception):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(0.1, retry_after)


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        return json.loads(exc.read()).get("error", exc.reason)
    except (ValueError, AttributeError):
        return f"HTTP {exc.code} {exc.reason}"

