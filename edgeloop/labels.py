"""What a data set's arrays must be before any model sees them, and the names of its classes.

Every check ends in one line naming the array and the place: a NaN or an infinity in the
samples (which otherwise reaches the int8 calibration: an infinite input scale, or a crash
inside the converter), an empty array, labels that are not class ids. Class names come
from a ``classes.txt`` (one name per line, line *i* is class id *i*) or from the sorted
sub-folder names of an image folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeloop.errors import EdgeloopError

CLASSES_FILE = "classes.txt"
# Far beyond any classification data set (ImageNet-21k has 21,841 classes); a label past it
# is a corrupt or non-label array, and would build a zoo model's head of that many outputs.
MAX_CLASSES = 65_536


def check_samples(x: np.ndarray, where: str, name: str = "x") -> np.ndarray:
    """Refuse samples that are empty, not numeric, or hold NaN / ±inf; return them as float32.

    Args:
        x: the samples, ``(n, *sample_shape)``.
        where: the data's source, for messages.
        name: the array's name, for messages.

    Raises:
        EdgeloopError: one line naming the array and the first bad index.
    """
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise EdgeloopError(f"{where}: {name} must be a numeric array of samples, got {x.dtype} {x.shape}")
    if x.ndim < 2:
        raise EdgeloopError(f"{where}: {name} must hold samples along its first axis (at least 2 dimensions), "
                            f"got shape {x.shape}")
    if x.size == 0:
        raise EdgeloopError(f"{where}: {name} is empty (shape {x.shape})")
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise EdgeloopError(
                f"{where}: {name}{list(index)} is {x[index]} ({int(bad.sum())} non-finite value(s) in {name}); "
                "NaN and infinity cannot be calibrated or scored: fix or drop those samples"
            )
    return x.astype(np.float32)


def check_labels(y: np.ndarray, n_samples: int, where: str, name: str = "y") -> np.ndarray:
    """Class ids (or one-hot rows) -> int64 class ids in ``[0, MAX_CLASSES)``.

    Raises:
        EdgeloopError: one line naming the array and the first bad index.
    """
    y = np.asarray(y)
    if y.dtype == object or not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
        raise EdgeloopError(f"{where}: {name} must be numeric class ids or one-hot rows, got {y.dtype}")
    if y.size == 0:
        raise EdgeloopError(f"{where}: {name} is empty (shape {y.shape})")
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(y))[0])
        raise EdgeloopError(f"{where}: {name}{list(index)} is {y[index]}: labels must be class ids")
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)  # one-hot (or per-class scores) rows
    y = y.reshape(-1)
    if len(y) != n_samples:
        raise EdgeloopError(f"{where}: {n_samples} samples but {len(y)} labels")
    if not np.issubdtype(y.dtype, np.integer):
        fractional = np.flatnonzero(np.mod(y, 1) != 0)
        if len(fractional):
            raise EdgeloopError(f"{where}: labels must be integer class ids, got {y.dtype} ({name}[{fractional[0]}] is "
                                f"{y[fractional[0]]})")
    low, high = int(np.argmin(y)), int(np.argmax(y))
    if y[low] < 0:
        raise EdgeloopError(f"{where}: labels must be class ids >= 0, found {y[low]:g} at {name}[{low}]")
    if y[high] >= MAX_CLASSES:
        raise EdgeloopError(f"{where}: label {y[high]:.0f} at {name}[{high}] is not a class id (ids run from 0 to the "
                            f"number of classes - 1, at most {MAX_CLASSES - 1:,})")
    return y.astype(np.int64)


def read_classes_file(path: Path) -> tuple[str, ...]:
    """Class names from a ``classes.txt``: one per line, blank lines and ``#`` comments skipped.

    Raises:
        EdgeloopError: unreadable, empty, or a name given twice.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeloopError(f"cannot read {path}: {exc}") from None
    names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise EdgeloopError(f"{path}: no class names (one per line)")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise EdgeloopError(f"{path}: class {name!r} is named twice")
        seen.add(name)
    return tuple(names)


def check_class_names(names: tuple[str, ...], labels: np.ndarray | None, where: str) -> None:
    """Labels must be ids of the named classes."""
    if labels is not None and len(labels) and int(labels.max()) >= len(names):
        raise EdgeloopError(f"{where}: labels go up to {int(labels.max())} but {len(names)} class names are given")


def numbered_gap(names: list[str]) -> str | None:
    """For class folders named by numbers (``0``, ``1``, ``3`` …) the first number missing."""
    if not names or not all(n.isdigit() for n in names):
        return None
    have = {int(n) for n in names}
    start = 0 if 0 in have else 1
    missing = [i for i in range(start, max(have) + 1) if i not in have]
    return str(missing[0]) if missing else None
