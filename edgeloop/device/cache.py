"""The agent's model cache: uploads stored by SHA-256 in one folder, with a size cap.

A request names a model only by its SHA-256 (64 hex digits, checked), and the file name
is that digest: nothing a client sends becomes a path. When the folder grows past its cap
the least recently used models are removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

from edgeloop import _io
from edgeloop.errors import EdgeloopError

_SHA256 = re.compile(r"[0-9a-f]{64}")


def user_cache_dir() -> Path:
    """edgeloop's folder in the user's cache: ``$XDG_CACHE_HOME/edgeloop`` or ``~/.cache/edgeloop``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeloop"


class ModelCache:
    """Models by SHA-256 under ``folder``, at most ``cap_bytes`` in all.

    Args:
        folder: where the ``<sha256>.tflite`` files live (created if missing).
        cap_bytes: total size above which the oldest models are evicted.
    """

    def __init__(self, folder: str | os.PathLike, cap_bytes: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cap_bytes = int(cap_bytes)
        self._lock = threading.Lock()

    def put(self, blob: bytes) -> str:
        """Store ``blob``; return its SHA-256.

        Raises:
            EdgeloopError: the model alone is larger than the cache cap.
        """
        if len(blob) > self.cap_bytes:
            raise EdgeloopError(f"model of {len(blob)} bytes is larger than the agent's cache cap ({self.cap_bytes} bytes)")
        digest = hashlib.sha256(blob).hexdigest()
        with self._lock:
            target = self.folder / f"{digest}.tflite"
            if target.exists():
                os.utime(target)
            else:
                _io.write_bytes(target, blob)
            self._evict(keep=target)
        return digest

    def path(self, digest: str) -> Path:
        """The cached file of model ``digest`` (marked as just used).

        Raises:
            EdgeloopError: not a SHA-256 digest, or no such model in the cache.
        """
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise EdgeloopError("a model is named by its SHA-256: 64 lowercase hex digits")
        target = self.folder / f"{digest}.tflite"
        with self._lock:
            if not target.is_file():
                raise EdgeloopError(f"no model {digest} in the agent's cache: upload it first")
            os.utime(target)
        return target

    def total_bytes(self) -> int:
        """Bytes held now."""
        return sum(p.stat().st_size for p in self.folder.glob("*.tflite"))

    def _evict(self, keep: Path) -> None:
        files = sorted(self.folder.glob("*.tflite"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for old in files:
            if total <= self.cap_bytes:
                break
            if old != keep:
                total -= old.stat().st_size
                old.unlink(missing_ok=True)
