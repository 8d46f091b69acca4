"""Atomic file writes: a reader never sees half a file, and a crash never clobbers one.

Also the guarded read of a file a user names (a regular file of bounded size, never a
FIFO that blocks or a device that never ends), and the atomic replacement of a folder.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable

from edgeloop._crash import crash_point
from edgeloop.errors import EdgeloopError

_RENAME_EXCHANGE = 2  # linux/fs.h: swap the two paths in one step
_AT_FDCWD = -100


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename.

    The file gets the mode a plain ``open()`` would give it (``0o666`` less the umask),
    not the ``0o600`` of the temp file it is written through.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), new_file_mode())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        crash_point(f"written:{path.name}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    crash_point(f"renamed:{path.name}")
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return write_bytes(path, json_bytes(obj))


def json_bytes(obj: Any) -> bytes:
    """``obj`` as the indented UTF-8 JSON :func:`write_json` writes."""
    return (json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n").encode("utf-8")


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file here: ``0o666`` less the process umask."""
    try:  # Linux reports the umask without changing it
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def temp_sibling(path: str | os.PathLike) -> Path:
    """A fresh name next to ``path`` to build it under before :func:`replace_path`.

    It keeps the suffix (``.tmp-<random>-model.keras``) since some writers choose the
    format by it, and starts with ``.tmp-`` so a resumed run knows it for debris.
    """
    path = Path(path)
    return path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(4)}-{path.name}")


TEMP_PREFIX = ".tmp-"


def replace_path(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Move ``src`` (a file or a folder) to ``dst``, replacing whatever ``dst`` holds.

    ``os.replace`` cannot put a folder where a non-empty folder is. There the two are
    swapped in one step with Linux's ``renameat2(RENAME_EXCHANGE)`` (Python has no
    wrapper for it, hence ctypes) and the old one removed; elsewhere the old one is first
    renamed aside. Either way ``dst`` is never a half-written folder.
    """
    src, dst = Path(src), Path(dst)
    try:
        os.replace(src, dst)
        return dst
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
            raise
    if _exchange(src, dst):
        _remove(src)  # now holds what dst held
        return dst
    aside = dst.with_name(f"{TEMP_PREFIX}old-{secrets.token_hex(4)}-{dst.name}")
    os.rename(dst, aside)
    os.rename(src, dst)
    _remove(aside)
    return dst


def _exchange(a: Path, b: Path) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # old kernel or a file system without it
        return False
    raise OSError(code, os.strerror(code), str(b))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def remove_temp_files(folder: str | os.PathLike) -> list[str]:
    """Remove what an interrupted write left in ``folder``: ``.tmp-*`` (models, folders) and
    ``.<name>.*.tmp`` (files); return their names."""
    removed = []
    for entry in Path(folder).iterdir():
        name = entry.name
        if name.startswith(TEMP_PREFIX) or (name.startswith(".") and name.endswith(".tmp")):
            _remove(entry)
            removed.append(name)
    return removed


def read_file(path: str | os.PathLike, max_bytes: int, what: str = "file",
              head_check: Callable[[bytes], None] | None = None) -> bytes:
    """The bytes of the regular file ``path``, refusing anything that cannot be read whole.

    A FIFO would block the read forever, a character device (``/dev/zero``) never ends
    and a sparse file can claim terabytes: the file is opened without blocking, checked
    to be a regular file of at most ``max_bytes`` and read no further than that.

    ``head_check`` is given the first 8 bytes before the rest is read (a file that is not
    what it should be is refused without reading a gigabyte of it).

    Raises:
        EdgeloopError: missing, not a regular file, larger than ``max_bytes``, unreadable,
            or refused by ``head_check``.
    """
    where = os.fspath(path)
    try:
        fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise EdgeloopError(f"{what} not found: {where}") from None
    except OSError as exc:
        raise EdgeloopError(f"cannot read {what} {where}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise EdgeloopError(f"{where} is a folder, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise EdgeloopError(f"{where} is not a regular file (a FIFO, socket or device), not a {what}")
        if info.st_size > max_bytes:
            raise EdgeloopError(f"{where} is {info.st_size:,} bytes, more than the {max_bytes:,} a {what} may have")
        chunks, size = [], 0
        if head_check is not None:
            head = os.read(fd, 8)
            head_check(head)
            chunks, size = [head], len(head)
        while size <= max_bytes:  # the file may grow while it is read
            chunk = os.read(fd, min(1 << 24, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise EdgeloopError(f"{where} grew past the {max_bytes:,} bytes a {what} may have while it was read")
        return b"".join(chunks)
    except OSError as exc:
        raise EdgeloopError(f"cannot read {what} {where}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _jsonable(obj: Any) -> Any:
    # numpy scalars and arrays show up in metrics; paths in configs.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
