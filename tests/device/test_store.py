"""The latency store on real SQLite files: keep, look up, list; concurrent writers; bad files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edgeloop.device.benchmark import BenchmarkResult
from edgeloop.device.options import BenchmarkOptions
from edgeloop.device.stats import summarize
from edgeloop.host.store import LatencyStore, default_path
from edgeloop.errors import EdgeloopError

FINGERPRINT = {"id": "0123456789abcdef", "cpu_model": "test cpu", "cores": 2}


def _result(sha: str, median: float) -> BenchmarkResult:
    times = [median * f for f in (0.9, 1.0, 1.0, 1.1)]
    return BenchmarkResult(f"{sha[:4]}.tflite", "ai-edge-litert 2.3.0", 1, 2, 4, 1.0, 0.5, times, summarize(times),
                           {"XNNPACK": 3, "cpu": 0}, model_sha256=sha, ci95_median_ms=[median * 0.95, median * 1.05])


def test_keep_look_up_and_list(tmp_path):
    store = LatencyStore(tmp_path / "s.sqlite")
    key, other = BenchmarkOptions().key(), BenchmarkOptions(threads=2).key()
    first = store.add(_result("a" * 64, 2.0), FINGERPRINT, key)
    second = store.add(_result("a" * 64, 3.0), FINGERPRINT, key)
    store.add(_result("b" * 64, 5.0), FINGERPRINT, other)
    assert second > first
    found = store.lookup("a" * 64, FINGERPRINT["id"], key)
    assert found.stats.median_ms == 3.0 and found.times_ms == [2.7, 3.0, 3.0, 3.3000000000000003]  # the newest
    assert store.lookup("a" * 64, FINGERPRINT["id"], other) is None  # other options: not interchangeable
    assert store.lookup("a" * 64, "another-device", key) is None
    rows = store.history()
    assert [r["median_ms"] for r in rows] == [5.0, 3.0, 2.0]
    assert [r["id"] for r in store.history("a" * 64)] == [second, first]
    assert rows[0]["options"]["threads"] == 2 and rows[1]["ci_low_ms"] == pytest.approx(2.85)
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_path_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_path() == tmp_path / "edgeloop" / "latency.sqlite"


def test_a_corrupt_file_is_reported_and_left_as_it_is(tmp_path):
    path = tmp_path / "latency.sqlite"
    path.write_bytes(b"this is not a database, but somebody's file\n" * 20)
    before = path.read_bytes()
    with pytest.raises(EdgeloopError, match="is corrupt .*left untouched"):
        LatencyStore(path)
    assert path.read_bytes() == before


def test_another_programs_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(EdgeloopError, match="not an edgeloop latency store"):
        LatencyStore(path)
    assert [r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")] == ["invoices"]


_WRITER = """
import sys
sys.path.insert(0, {tests!r})
from test_store import _result, FINGERPRINT
from edgeloop.device.options import BenchmarkOptions
from edgeloop.host.store import LatencyStore
import os, time
store = LatencyStore({path!r})
print("ready", flush=True)
while not os.path.exists({go!r}):  # both writers start together
    time.sleep(0.001)
for i in range({n}):
    store.add(_result(("%x" % {who}) * 64, 1.0 + i), FINGERPRINT, BenchmarkOptions().key())
print("done")
"""


def test_two_processes_writing_at_once_keep_every_row(tmp_path):
    path, go, n = tmp_path / "shared.sqlite", tmp_path / "go", 150
    LatencyStore(path).close()
    code = [_WRITER.format(tests=str(Path(__file__).parent), path=str(path), go=str(go), n=n, who=who) for who in (10, 11)]
    writers = [subprocess.Popen([sys.executable, "-c", c], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for c in code]
    for proc in writers:
        assert proc.stdout.readline().strip() == "ready"
    go.touch()
    for proc in writers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "done", err
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = dict(db.execute("SELECT model_sha256, COUNT(*) FROM measurements GROUP BY model_sha256").fetchall())
    assert counts == {"a" * 64: n, "b" * 64: n}
    ids = [r[0] for r in db.execute("SELECT id FROM measurements")]
    assert len(ids) == len(set(ids)) == 2 * n
    assert len(LatencyStore(path).history(limit=1000)) == 2 * n


def _full_store(path: Path, rows: int = 300) -> None:
    store = LatencyStore(path)
    for i in range(rows):
        store.add(_result(f"{i:064x}", 1.0 + i), FINGERPRINT, BenchmarkOptions().key())
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    db.close()


@pytest.mark.parametrize("page", [2, 3, 60, "last"])
def test_damage_past_the_header_is_found_on_open_and_the_file_left_as_it_is(tmp_path, page):
    """A b-tree page overwritten (the index, table pages in the middle, the last page):
    SQLite's quick_check finds it; the store refuses the file in one line and writes nothing."""
    path = tmp_path / "latency.sqlite"
    _full_store(path)
    data = bytearray(path.read_bytes())
    number = len(data) // 4096 if page == "last" else page
    data[(number - 1) * 4096 + 8:(number - 1) * 4096 + 40] = b"\x13" * 32
    path.write_bytes(bytes(data))
    with pytest.raises(EdgeloopError, match=r"latency store .* is corrupt \(quick_check: .*\); left untouched"):
        LatencyStore(path).add(_result("f" * 64, 9.0), FINGERPRINT, BenchmarkOptions().key())
    assert path.read_bytes() == bytes(data)
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_a_store_path_under_a_file_is_one_clear_error(tmp_path):
    from helpers import run_cli

    model = tmp_path / "model.tflite"
    model.write_bytes(b"x")
    result = run_cli("bench", "--history", "--store", model / "x.sqlite")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "edgeloop: error: cannot make the folder of latency store" in result.stderr
    assert model.read_bytes() == b"x"
