"""How the device agent runs: its settings, checked when made, and its token.

Every setting is checked here, so a bad one (``--port 70000``, ``--queue -1``) ends in one
line naming it before anything listens, whether it came from ``edgeloop agent serve`` or
from code.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from pathlib import Path

from edgeloop.device.cache import user_cache_dir
from edgeloop.device.child import GRACE_S
from edgeloop.errors import EdgeloopError


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
        max_connections: connections served at once; past it a client is told 503 busy.
        max_uploads: model uploads received at once (each is held in memory while it is
            checked); past it, 503 busy.
        idle_timeout_s: a request's line and headers must arrive within this many seconds
            of the connection opening or of the previous reply (idle connections are closed
            after it); a body gets as long plus its size at 16 KiB/s.
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
    max_connections: int = 32
    max_uploads: int = 2
    idle_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        _check_range("port", self.port, 0, 65535)
        _check_range("queue", self.queue, 0)
        _check_range("max_connections", self.max_connections, 1)
        _check_range("max_uploads", self.max_uploads, 1)
        _check_range("cache_bytes", self.cache_bytes, 1)
        _check_range("max_upload_bytes", self.max_upload_bytes, 1)
        if self.memory_limit_mb is not None:
            _check_range("memory_limit_mb", self.memory_limit_mb, 1)
        _check_seconds("max_time_s", self.max_time_s)
        _check_seconds("idle_timeout_s", self.idle_timeout_s)
        _check_seconds("grace_s", self.grace_s, zero=True)
        if self.token is None and not is_loopback(self.host):
            raise EdgeloopError(f"refusing to listen on {self.host} without a token: give --token-file, "
                                "or listen on 127.0.0.1")
        if self.token is not None and not self.token.strip():
            raise EdgeloopError("the token is empty")


def _check_range(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        within = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise EdgeloopError(f"{name} must be a whole number {within}, got {value!r}")


def _check_seconds(name: str, value: object, zero: bool = False) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value < 0 or (value == 0 and not zero):
        raise EdgeloopError(f"{name} must be a {'' if zero else 'positive '}finite number of seconds, got {value!r}")


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
