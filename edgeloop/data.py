"""Data sets: ``.npz`` files, image folders and the built-in ``digits``.

Every source ends as a :class:`Dataset` with a train / validation split fixed by a seed,
so a run can be repeated and its report says exactly which samples were held out.

The built-in default is scikit-learn's ``digits`` (1,797 real 8x8 handwritten digits that
ship inside the scikit-learn wheel), so nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeloop.errors import EdgeloopError

BUILTIN = ("digits",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclass
class Dataset:
    """A labelled data set split into train and validation parts.

    Attributes:
        x_train: float32 samples, shape ``(n_train, *sample_shape)``.
        y_train: int64 class labels in ``[0, classes)``.
        x_val: held-out samples.
        y_val: held-out labels.
        classes: number of classes.
        source: where the data came from (``digits``, a file or a folder).
        seed: the seed of the split.
        val_fraction: the fraction held out.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: int
    source: str
    seed: int
    val_fraction: float

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, without the batch dimension."""
        return tuple(self.x_train.shape[1:])

    def split_info(self) -> dict:
        """What a report needs to reproduce the split."""
        digest = hashlib.sha256(np.ascontiguousarray(self.y_val).tobytes()).hexdigest()[:12]
        return {
            "source": self.source,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "n_train": int(len(self.y_train)),
            "n_val": int(len(self.y_val)),
            "classes": self.classes,
            "sample_shape": list(self.sample_shape),
            "val_labels_sha256": digest,
        }

    def representative(self, count: int) -> np.ndarray:
        """The first ``count`` training samples (already shuffled by the split's seed)."""
        if count < 1:
            raise EdgeloopError(f"calibration sample count must be at least 1, got {count}")
        return self.x_train[:count]


def load_data(
    spec: str | Path,
    val_fraction: float = 0.2,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
) -> Dataset:
    """Load a data set and split it.

    Args:
        spec: ``"digits"``, a ``.npz`` file holding ``x`` and ``y``, or a folder with one
            sub-folder of images per class (sub-folder names sorted give the class ids).
        val_fraction: fraction of samples held out for validation, in (0, 1).
        seed: seed of the shuffle that makes the split.
        image_size: ``(height, width)`` images are resized to; by default the size of the
            first image.

    Returns:
        The split data set.

    Raises:
        EdgeloopError: missing or unreadable data, or labels that are not class ids.
    """
    if not 0.0 < val_fraction < 1.0:
        raise EdgeloopError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    spec_s = str(spec)
    if spec_s == "digits":
        x, y = _digits()
    else:
        path = Path(spec_s)
        if not path.exists():
            raise EdgeloopError(
                f"data not found: {spec_s} (give a .npz file, an image folder or one of: "
                f"{', '.join(BUILTIN)})"
            )
        if path.is_dir():
            x, y = _image_folder(path, image_size)
        elif path.suffix == ".npz":
            x, y = _npz(path)
        else:
            raise EdgeloopError(f"unsupported data file {spec_s}: expected a .npz file or a folder")
    x, y = _check_arrays(x, y, spec_s)
    classes = int(y.max()) + 1
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, int(round(len(y) * val_fraction)))
    if n_val >= len(y):
        raise EdgeloopError(f"{spec_s}: {len(y)} samples are too few to hold {n_val} out")
    val, train = order[:n_val], order[n_val:]
    return Dataset(x[train], y[train], x[val], y[val], classes, spec_s, seed, val_fraction)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are 0..16; scale to 0..1 so int8 calibration sees a sane range.
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    return x, bunch.target.astype(np.int64)


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise EdgeloopError(
                    f"{path}: missing array(s) {', '.join(missing)}; a .npz needs 'x' (samples) "
                    f"and 'y' (labels), found: {', '.join(f.files) or 'nothing'}"
                )
            return f["x"], f["y"]
    except EdgeloopError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError: all mean unreadable
        raise EdgeloopError(f"cannot read {path} as .npz: {exc}") from None


def _image_folder(root: Path, image_size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    from edgeloop._tf import tf

    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise EdgeloopError(f"{root}: no class sub-folders (expected {root}/<class>/<image>)")
    images, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for file in files:
            try:
                img = tf.io.decode_image(tf.io.read_file(str(file)), expand_animations=False)
            except Exception:
                raise EdgeloopError(f"cannot decode image {file}") from None
            if image_size is None:
                image_size = (int(img.shape[0]), int(img.shape[1]))
            img = tf.image.resize(tf.cast(img, tf.float32), image_size) / 255.0
            images.append(img.numpy())
            labels.append(label)
    if not images:
        raise EdgeloopError(f"{root}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    channels = {im.shape[-1] for im in images}
    if len(channels) > 1:
        raise EdgeloopError(f"{root}: images mix channel counts {sorted(channels)}")
    return np.stack(images).astype(np.float32), np.asarray(labels, dtype=np.int64)


def _check_arrays(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2 or not np.issubdtype(x.dtype, np.number):
        raise EdgeloopError(f"{where}: x must be a numeric array of samples, got {x.dtype} {x.shape}")
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)  # one-hot labels
    y = y.reshape(-1)
    if len(y) != len(x):
        raise EdgeloopError(f"{where}: {len(x)} samples but {len(y)} labels")
    if not (np.issubdtype(y.dtype, np.integer) or np.all(np.equal(np.mod(y, 1), 0))):
        raise EdgeloopError(f"{where}: labels must be integer class ids, got {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise EdgeloopError(f"{where}: labels must be class ids >= 0, found {int(y.min())}")
    return x.astype(np.float32), y


def check_compatible(data: Dataset, input_shape: tuple, classes: int | None) -> None:
    """Fail with one line if ``data`` cannot feed a model of this input shape and output size.

    Args:
        data: the data set.
        input_shape: the model's input shape, batch dimension included (``None`` allowed).
        classes: the model's number of outputs, or ``None`` when unknown.
    """
    want = tuple(input_shape[1:])
    got = data.sample_shape
    if len(want) != len(got) or any(w is not None and w != g for w, g in zip(want, got)):
        raise EdgeloopError(
            f"data {data.source} has samples of shape {got} but the model takes {want}"
        )
    if classes is not None and data.classes > classes:
        raise EdgeloopError(
            f"data {data.source} has labels up to {data.classes - 1} but the model has only "
            f"{classes} outputs"
        )
