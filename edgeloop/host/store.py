"""The latency store: every measurement kept in one SQLite file.

One row per measurement: when, the model's SHA-256 and name, the device's fingerprint id
and the fingerprint itself, the runtime, the options (their canonical key and as JSON),
the headline statistics as columns and the whole report as JSON. A benchmark whose model,
device and options match a stored one can be answered from the store.

Several processes may write at once: the file is in WAL mode, each write is one
``BEGIN IMMEDIATE`` transaction, and a writer waits (``busy_timeout``) for another to
finish. A file that is not an edgeloop store, or is corrupt (SQLite's ``quick_check`` runs
on every open), is reported and left as it is: the store never recreates, repairs or
writes to a file it cannot read.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from edgeloop.device.benchmark import BenchmarkResult
from edgeloop.device.cache import user_cache_dir
from edgeloop.errors import EdgeloopError

APPLICATION_ID = 0x45444C50  # "EDLP": marks a SQLite file as an edgeloop latency store
_SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    model_sha256 TEXT NOT NULL,
    model_name TEXT NOT NULL,
    device TEXT NOT NULL,
    device_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    runtime TEXT NOT NULL,
    options_key TEXT NOT NULL,
    median_ms REAL,
    ci_low_ms REAL,
    ci_high_ms REAL,
    p99_ms REAL,
    mean_ms REAL,
    std_ms REAL,
    runs INTEGER NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS by_key ON measurements (model_sha256, device_id, options_key);
"""
# What a model asks of a device (MACs by kind of layer, activations …), kept next to its
# measurements so a latency predictor can be fitted on everything a device has measured.
_FEATURES = """
CREATE TABLE IF NOT EXISTS model_features (
    model_sha256 TEXT PRIMARY KEY,
    features TEXT NOT NULL
)"""
_TABLES = {"measurements", "sqlite_sequence", "model_features"}


def default_path() -> Path:
    """``$XDG_CACHE_HOME/edgeloop/latency.sqlite`` (``~/.cache/…`` when unset)."""
    return user_cache_dir() / "latency.sqlite"


class LatencyStore:
    """The store in file ``path`` (created with its folder when missing).

    Raises:
        EdgeloopError: the file is corrupt or not an edgeloop latency store.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgeloopError(f"cannot make the folder of latency store {self.path}: {exc.strerror} "
                                "(give --store a path in a folder)") from None
        if self.path.exists() and not self.path.is_file():
            raise EdgeloopError(f"latency store {self.path} is not a regular file; give --store a file path")
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 30000")
            app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables - _TABLES or (tables and app_id != APPLICATION_ID):
                raise EdgeloopError(f"{self.path} is a SQLite file but not an edgeloop latency store; left untouched "
                                    "(give another --store)")
            if tables:
                # Damage past the header goes unseen until a read hits it, and a write may
                # spread it: every page's structure is checked first (linear, cheap).
                problems = [r[0] for r in self._db.execute("PRAGMA quick_check(3)")]
                if problems != ["ok"]:
                    raise sqlite3.DatabaseError(f"quick_check: {problems[0].splitlines()[-1].strip()}")
            self._db.execute("PRAGMA journal_mode = WAL")
            if not tables:
                with self._write():
                    self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
            if "model_features" not in tables:  # stores written before the table existed gain it
                with self._write():
                    self._db.execute(_FEATURES)
        except sqlite3.DatabaseError as exc:
            raise EdgeloopError(f"latency store {self.path} is corrupt ({exc}); left untouched: move it away "
                                "or give another --store") from None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def add(self, result: BenchmarkResult, fingerprint: dict, options_key: str, device_id: str | None = None) -> int:
        """Keep one measurement; return its row id.

        Args:
            result: the report.
            fingerprint: the device's fingerprint (kept as JSON).
            options_key: :meth:`BenchmarkOptions.key` of the options used.
            device_id: the key of the device (default: the fingerprint's ``id``).
        """
        s = result.stats
        ci = result.ci95_median_ms or [None, None]
        row = (time.time(), result.model_sha256 or "", result.model, result.device, device_id or fingerprint["id"],
               json.dumps(fingerprint, sort_keys=True), result.runtime, options_key, s.median_ms, ci[0], ci[1],
               s.p99_ms, s.mean_ms, s.std_ms, s.count, json.dumps(result.to_dict()))
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO measurements (created_at, model_sha256, model_name, device, device_id, fingerprint, runtime, "
                "options_key, median_ms, ci_low_ms, ci_high_ms, p99_ms, mean_ms, std_ms, runs, report) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return int(cursor.lastrowid)

    def lookup(self, model_sha256: str, device_id: str, options_key: str) -> BenchmarkResult | None:
        """The newest stored measurement of this model on this device with these options."""
        row = self._read("SELECT report FROM measurements WHERE model_sha256 = ? AND device_id = ? AND options_key = ? "
                         "ORDER BY id DESC LIMIT 1", (model_sha256, device_id, options_key))
        return BenchmarkResult.from_dict(json.loads(row[0][0])) if row else None

    def put_features(self, model_sha256: str, features: dict) -> None:
        """Keep what a model asks of a device (the predictor's inputs) under its SHA-256."""
        with self._write():
            self._db.execute("INSERT OR REPLACE INTO model_features (model_sha256, features) VALUES (?, ?)",
                             (model_sha256, json.dumps(features, sort_keys=True)))

    def get_features(self, model_sha256: str) -> dict | None:
        """What :meth:`put_features` kept for a model, if anything."""
        rows = self._read("SELECT features FROM model_features WHERE model_sha256 = ?", (model_sha256,))
        return json.loads(rows[0][0]) if rows else None

    def featured_medians(self, device_id: str, options_key: str) -> list[tuple[dict, float]]:
        """``(features, median ms)`` of every model measured on the device with these options
        whose features are known (its newest measurement each)."""
        rows = self._read("SELECT f.features, m.median_ms FROM model_features f JOIN measurements m "
                          "ON m.model_sha256 = f.model_sha256 WHERE m.device_id = ? AND m.options_key = ? "
                          "AND m.id = (SELECT MAX(id) FROM measurements WHERE model_sha256 = m.model_sha256 "
                          "AND device_id = m.device_id AND options_key = m.options_key)", (device_id, options_key))
        return [(json.loads(f), float(ms)) for f, ms in rows if ms is not None]

    def history(self, model_sha256: str | None = None, limit: int = 200) -> list[dict]:
        """Stored measurements, newest first (of one model when ``model_sha256`` is given)."""
        where, args = ("WHERE model_sha256 = ?", (model_sha256,)) if model_sha256 else ("", ())
        rows = self._read(f"SELECT id, created_at, model_sha256, model_name, device, device_id, runtime, median_ms, "
                          f"ci_low_ms, ci_high_ms, p99_ms, runs, options_key FROM measurements {where} "
                          f"ORDER BY id DESC LIMIT ?", (*args, limit))
        keys = ("id", "created_at", "model_sha256", "model", "device", "device_id", "runtime", "median_ms",
                "ci_low_ms", "ci_high_ms", "p99_ms", "runs", "options")
        return [{**dict(zip(keys, r)), "options": json.loads(r[-1])} for r in rows]

    def _read(self, sql: str, args: tuple) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise EdgeloopError(f"latency store {self.path} cannot be read ({exc}); left untouched") from None

    def _write(self):
        return _Transaction(self._db, self.path)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error): one writer at a time, all or nothing."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db, self.path = db, path

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise EdgeloopError(f"latency store {self.path} cannot be written ({exc}); left untouched") from None

    def __exit__(self, kind, value, traceback) -> None:
        try:
            self.db.execute("ROLLBACK" if kind else "COMMIT")
        except sqlite3.DatabaseError as exc:
            if kind is None or issubclass(kind, sqlite3.DatabaseError):
                raise EdgeloopError(f"latency store {self.path} cannot be written ({exc}); left as it was") from None
            raise
        if kind is not None and issubclass(kind, sqlite3.DatabaseError):
            raise EdgeloopError(f"latency store {self.path} cannot be written ({value}); left as it was") from None
