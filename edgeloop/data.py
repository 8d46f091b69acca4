"""Data sets: ``.npz`` files, image folders and the built-in ``digits``.

Every source ends as a :class:`Dataset` with a train / validation split fixed by a seed,
so a run can be repeated and its report says exactly which samples were held out. Image
sources are read as raw pixels and turned into the model's input by a
:class:`~edgeloop.preprocess.Preprocess` (by default scaled to [0, 1]); every array is
checked first (:mod:`edgeloop.labels`), and data without labels (a folder of images, a
``.npz`` with ``x`` only) makes a data set whose ``y_train`` / ``y_val`` are ``None``.

The built-in default is scikit-learn's ``digits`` (1,797 real 8x8 handwritten digits that
ship inside the scikit-learn wheel), so nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.image_folder import IMAGE_SUFFIXES, read_image_folder
from edgeloop.labels import CLASSES_FILE, check_class_names, check_labels, check_samples, read_classes_file
from edgeloop.preprocess import DEFAULT, Preprocess, convert_color

BUILTIN = ("digits",)
__all__ = ["BUILTIN", "IMAGE_SUFFIXES", "Dataset", "check_compatible", "load_data"]


@dataclass
class Dataset:
    """A data set split into train and validation parts.

    Attributes:
        x_train: float32 samples as the model takes them, shape ``(n_train, *sample_shape)``.
        y_train: int64 class labels in ``[0, classes)``; ``None`` without labels.
        x_val: held-out samples.
        y_val: held-out labels (``None`` without labels).
        classes: number of classes (``None`` without labels).
        source: where the data came from (``digits``, a file or a folder).
        seed: the seed of the split.
        val_fraction: the fraction held out.
        class_names: the name of each class id (folder names, ``classes.txt``), if known.
        preprocess: how raw pixels became ``x`` (``None``: a ``.npz`` used as stored).
        notes: what loading decided that the report should show.
    """

    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None
    classes: int | None
    source: str
    seed: int
    val_fraction: float
    class_names: tuple[str, ...] | None = None
    preprocess: Preprocess | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def labeled(self) -> bool:
        """The data has labels (else the float model's outputs are the reference)."""
        return self.y_val is not None

    def raw(self, x: np.ndarray) -> np.ndarray:
        """``x`` (some of this data set's samples) back as the raw 0–255 pixels a camera gives.

        Raises:
            EdgeloopError: the data has no preprocessing to undo (a ``.npz`` used as stored).
        """
        if self.preprocess is None:
            raise EdgeloopError(f"data {self.source} is used as stored, so its raw pixels are unknown: give "
                                "preprocess (how 0-255 pixels become the model's input)")
        return self.preprocess.raw(x)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, without the batch dimension."""
        return tuple(self.x_train.shape[1:])

    def split_info(self) -> dict:
        """What a report needs to reproduce the split."""
        held_out = self.y_val if self.labeled else self.x_val
        digest = hashlib.sha256(np.ascontiguousarray(held_out).tobytes()).hexdigest()[:12]
        info = {
            "source": self.source,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "n_train": int(len(self.x_train)),
            "n_val": int(len(self.x_val)),
            "classes": self.classes,
            "sample_shape": list(self.sample_shape),
            "val_labels_sha256": digest,
            "labeled": self.labeled,
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
        }
        if self.class_names:
            info["class_names"] = list(self.class_names)
        return info

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
    preprocess: Preprocess | dict | str | None = None,
    model_size: tuple[int, int] | None = None,
) -> Dataset:
    """Load a data set, check it, turn its pixels into model inputs, and split it.

    Args:
        spec: ``"digits"``, a ``.npz`` file holding ``x`` (and ``y``: class ids or one-hot
            rows; without it the data has no labels; ``classes`` or a ``classes.txt`` beside
            it may name the classes), or a folder with one sub-folder of images per class
            (sub-folder names sorted, or a ``classes.txt``, give the class ids) or of
            images alone (no labels).
        val_fraction: fraction of samples held out for validation, in (0, 1).
        seed: seed of the shuffle that makes the split.
        image_size: ``(height, width)`` images are resized to (``preprocess``'s ``size``).
        preprocess: how raw 0–255 pixels become the model's input (a
            :class:`~edgeloop.preprocess.Preprocess` or what its ``parse`` takes). Without
            it, image folders and ``digits`` are scaled to [0, 1] and a ``.npz`` is used as
            stored; with it, a ``.npz``'s ``x`` is taken as raw pixels.
        model_size: ``(height, width)`` the model takes, when known: a folder of images all
            of one other size is resized to it.

    Returns:
        The split data set.

    Raises:
        EdgeloopError: missing or unreadable data, NaN or infinite samples, labels that are
            not class ids, class folders missing or empty, images of mixed sizes.
    """
    if not 0.0 < val_fraction < 1.0:
        raise EdgeloopError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    spec_s = str(spec)
    given = Preprocess.parse(preprocess) if preprocess is not None else None
    if image_size:
        if given and given.size and tuple(given.size) != tuple(image_size):
            raise EdgeloopError(f"image_size {list(image_size)} and preprocess size {list(given.size)} differ: give one")
        given = (given or DEFAULT).with_size(tuple(image_size))
    class_names, notes = None, []
    if spec_s == "digits":
        x, y = _digits()
        x, effective = _to_inputs(x, given or DEFAULT, spec_s)
    else:
        path = Path(spec_s)
        if not path.exists():
            raise EdgeloopError(
                f"data not found: {spec_s} (give a .npz file, an image folder or one of: "
                f"{', '.join(BUILTIN)})"
            )
        if path.is_dir():
            folder = read_image_folder(path, given, model_size)
            x, y, class_names, notes = folder.pixels, folder.labels, folder.class_names, folder.notes
            # The folder reader already converted colours and sizes.
            effective = replace(given or DEFAULT, color=None, size=None)
            x, _ = _to_inputs(x, effective, spec_s)
            effective = given or DEFAULT
        elif path.suffix == ".npz":
            x, y, class_names = _npz(path)
            x, effective = _to_inputs(x, given, spec_s) if given is not None else (check_samples(x, spec_s), None)
        else:
            raise EdgeloopError(f"unsupported data file {spec_s}: expected a .npz file or a folder")
    if y is not None:
        y = check_labels(y, len(x), spec_s)
        if class_names:
            check_class_names(class_names, y, spec_s)
    else:
        class_names = None  # names without labels name nothing
    classes = (len(class_names) if class_names else int(y.max()) + 1) if y is not None else None
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(round(len(x) * val_fraction)))
    if n_val >= len(x):
        raise EdgeloopError(f"{spec_s}: {len(x)} samples are too few to hold {n_val} out")
    val, train = order[:n_val], order[n_val:]
    return Dataset(x[train], None if y is None else y[train], x[val], None if y is None else y[val], classes, spec_s,
                   seed, val_fraction, class_names=class_names, preprocess=effective, notes=notes)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are 0..16; the raw pixels are the same on the 0..255 scale of any image
    # (the default preprocessing then gives 0..1, as edgeloop always fed digits).
    return (bunch.images * (255.0 / 16.0))[..., None], bunch.target.astype(np.int64)


def _to_inputs(pixels: np.ndarray, preprocess: Preprocess, where: str) -> tuple[np.ndarray, Preprocess]:
    """Raw pixels -> model inputs: colours, size, then scale / offset / mean / std."""
    pixels = check_samples(pixels, where)  # before anything computes with a NaN
    if preprocess.color is not None:
        if pixels.ndim != 4:
            raise EdgeloopError(f"{where}: preprocess color needs images (n, height, width, channels), got {pixels.shape}")
        pixels = convert_color(pixels, preprocess.color)
    if preprocess.size is not None:
        if pixels.ndim != 4:
            raise EdgeloopError(f"{where}: preprocess size needs images (n, height, width, channels), got {pixels.shape}")
        if tuple(pixels.shape[1:3]) != tuple(preprocess.size):
            from edgeloop._tf import tf

            resized = tf.image.resize(pixels, preprocess.size, method=preprocess.interpolation).numpy()
            pixels = np.clip(resized, 0.0, 255.0)  # bicubic and lanczos overshoot; pixels stay pixels
    return preprocess.normalize(pixels), preprocess


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...] | None]:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f.files:
                raise EdgeloopError(
                    f"{path}: missing array x; a .npz needs 'x' (samples) and, for labels, 'y' (class ids or "
                    f"one-hot rows); found: {', '.join(f.files) or 'nothing'}"
                )
            x = f["x"]
            y = f["y"] if "y" in f.files else None
            names = tuple(str(n) for n in f["classes"].reshape(-1)) if "classes" in f.files else None
    except EdgeloopError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError: all mean unreadable
        raise EdgeloopError(f"cannot read {path} as .npz: {exc}") from None
    if names is None and (path.parent / CLASSES_FILE).is_file():
        names = read_classes_file(path.parent / CLASSES_FILE)
    return x, y, names


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
    if classes is None or not data.labeled:
        return
    if data.classes > classes:
        raise EdgeloopError(
            f"data {data.source} has labels up to {data.classes - 1} but the model has only "
            f"{classes} outputs"
        )
    if data.class_names and data.classes != classes:
        raise EdgeloopError(
            f"data {data.source} names {data.classes} classes ({', '.join(data.class_names[:3])} …) but the model has "
            f"{classes} outputs: a class folder is missing or extra, or classes.txt does not list the model's classes"
        )
