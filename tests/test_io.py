"""Atomic writes that follow the umask, folders replaced whole, and guarded reads."""

from __future__ import annotations

import os
import stat

import pytest

from edgeloop import _io
from edgeloop.errors import EdgeloopError


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        written = _io.write_json(tmp_path / "state.json", {"a": 1})
        plain = tmp_path / "plain.txt"
        plain.write_text("x")  # what any other file gets
    finally:
        os.umask(old)
    assert stat.S_IMODE(written.stat().st_mode) == mode == stat.S_IMODE(plain.stat().st_mode)


def test_a_folder_replaces_a_non_empty_folder(tmp_path):
    old, new = tmp_path / "03_qat.savedmodel", tmp_path / ".tmp-1234-03_qat.savedmodel"
    (old / "variables").mkdir(parents=True)
    (old / "saved_model.pb").write_text("old")
    (new / "variables").mkdir(parents=True)
    (new / "saved_model.pb").write_text("new")
    _io.replace_path(new, old)
    assert (old / "saved_model.pb").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["03_qat.savedmodel"]


def test_temp_files_left_by_a_killed_write_are_recognised(tmp_path):
    (tmp_path / ".tmp-ab12-02_prune.keras").write_text("half")
    (tmp_path / ".tmp-cd34-03_qat.savedmodel").mkdir()
    (tmp_path / ".state.json.x1y2.tmp").write_text("{")
    (tmp_path / "state.json").write_text("{}")
    assert sorted(_io.remove_temp_files(tmp_path)) == [".state.json.x1y2.tmp", ".tmp-ab12-02_prune.keras",
                                                         ".tmp-cd34-03_qat.savedmodel"]
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_read_file_refuses_what_cannot_be_read_whole(tmp_path):
    fifo = tmp_path / "pipe.tflite"
    os.mkfifo(fifo)
    sparse = tmp_path / "huge.tflite"
    with open(sparse, "wb") as f:
        f.truncate(64 * 2**30)  # 64 GiB, no block written
    loop = tmp_path / "loop.tflite"
    loop.symlink_to(loop)
    cases = {fifo: "not a regular file", tmp_path: "is a folder", sparse: "more than the 1,000",
             loop: "Too many levels of symbolic links", tmp_path / "missing.tflite": "model not found",
             "/dev/zero": "not a regular file"}
    for path, message in cases.items():
        with pytest.raises(EdgeloopError, match=message):
            _io.read_file(path, 1000, "model")
    (tmp_path / "ok.bin").write_bytes(b"x" * 1000)
    assert _io.read_file(tmp_path / "ok.bin", 1000, "model") == b"x" * 1000


def test_without_an_atomic_swap_the_old_folder_is_renamed_aside_first(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "_exchange", lambda a, b: False)  # a kernel or file system without RENAME_EXCHANGE
    old, new = tmp_path / "model.savedmodel", tmp_path / ".tmp-1-model.savedmodel"
    for folder, text in ((old, "old"), (new, "new")):
        folder.mkdir()
        (folder / "saved_model.pb").write_text(text)
    _io.replace_path(new, old)
    assert (old / "saved_model.pb").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["model.savedmodel"]
