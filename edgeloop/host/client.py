"""The agent's client: ``http://HOST:PORT`` as a device (urllib, no dependency).

A busy agent (503) is asked again after the delay it suggests, until ``wait_s`` is spent:
several hosts sharing one device are served in turn. A connection reset or closed before
the reply (an agent flooded by other clients, a flaky link) is retried a few times with
exponential backoff; the agent's requests are idempotent (an upload stores by digest, a
benchmark measures again).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from edgeloop.device.benchmark import BenchmarkResult, model_bytes
from edgeloop.device.options import BenchmarkOptions
from edgeloop.errors import EdgeloopError

_ASK_LIMIT_ABOVE = 2**20  # models larger than this are checked against the agent's upload limit first
RESET_RETRIES = 5  # tries after a reset, waiting 0.25, 0.5, 1, 2, 4 s before each
_BACKOFF_S = 0.25


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
        """Send a model to the agent's cache; return its SHA-256.

        Raises:
            EdgeloopError: the model is larger than the agent accepts (said before sending
                it: an agent cannot answer 413 to a client still sending megabytes).
        """
        blob = model_bytes(model)
        if len(blob) > _ASK_LIMIT_ABOVE:
            limit = self.info()["agent"].get("max_upload_bytes")
            if limit is not None and len(blob) > limit:
                raise EdgeloopError(f"model of {len(blob)} bytes is over the upload limit of the agent at {self.url} "
                                    f"({limit} bytes; see its --max-upload-mb)")
        return self._request("POST", "/v1/models", blob, "application/octet-stream")["sha256"]

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
        resets = 0
        while True:
            try:
                return self._once(method, path, body, content_type, work_s)
            except _Busy as busy:
                if time.monotonic() + busy.retry_after > deadline:
                    raise EdgeloopError(f"agent at {self.url} stayed busy for {self.wait_s:g} s: {busy}") from None
                time.sleep(busy.retry_after)
            except _Reset as reset:
                if resets >= RESET_RETRIES:
                    raise EdgeloopError(f"lost the agent at {self.url} {resets + 1} times in a row: {reset}") from None
                time.sleep(_BACKOFF_S * 2**resets)
                resets += 1

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
                raise _Busy(message, _seconds(exc.headers.get("Retry-After"))) from None
            if exc.code == 401:
                raise EdgeloopError(f"agent at {self.url} refused the token ({message}): give the agent's --token-file") from None
            raise EdgeloopError(f"agent at {self.url}: {message}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, _RESETS):
                raise _Reset(str(exc.reason)) from None
            raise EdgeloopError(f"cannot reach the agent at {self.url}: {exc.reason}") from None
        except _RESETS as exc:
            raise _Reset(str(exc) or type(exc).__name__) from None
        except (TimeoutError, ConnectionError) as exc:
            raise EdgeloopError(f"lost the agent at {self.url}: {exc}") from None


# A connection the agent (or the path to it) dropped before the whole reply; RemoteDisconnected is
# a ConnectionResetError too. Refused connections (no agent there) are not retried.
_RESETS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.IncompleteRead)


class _Reset(Exception):
    pass


class _Busy(Exception):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(0.1, retry_after)


def _seconds(retry_after: str | None) -> float:
    try:
        return min(60.0, float(retry_after or 2))
    except ValueError:  # an HTTP date, or nonsense
        return 2.0


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        return json.loads(exc.read()).get("error", exc.reason)
    except (ValueError, AttributeError):
        return f"HTTP {exc.code} {exc.reason}"

