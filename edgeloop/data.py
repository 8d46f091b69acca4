"""Data sets: ``.npz`` files, image folders and the built-in ``digits``.

Every source ends as a :class:`Dataset` with a train / validation split fixed by a seed,
so a run can be repeated and its report says exactly which samples were held out.

The built-in default is scikit-learn's ``digits`` (1,797 real 8x8 handwritten digits that
ship inside the scikit-learn wheel), so nothing is downloaded.

A model with several inputs takes a ``.npz`` with one array per input: named after the
model's inputs, or ``x0``, ``x1``, … in the model's order. Its samples are then a dict
(input name -> array) wherever a single-input model's are an array; :func:`n_samples` and
:func:`take` work on both, and :func:`bind_inputs` puts the arrays in the model's order
under the model's input names (what Keras ``fit`` / ``predict`` and the converter take).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np

from edgeloop.errors import EdgeloopError

BUILTIN = ("digits",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

# Samples of a single-input model, or of a multi-input one: input name -> array.
Inputs = Union[np.ndarray, Dict[str, np.ndarray]]


def n_samples(x: Inputs) -> int:
    """How many samples ``x`` holds (every input of a dict holds as many)."""
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def take(x: Inputs, index) -> Inputs:
    """The samples at ``index`` (a slice, an index array) of every input."""
    return {name: a[index] for name, a in x.items()} if isinstance(x, dict) else x[index]


@dataclass
class Dataset:
    """A labelled data set split into train and validation parts.

    Attributes:
        x_train: float32 samples, shape ``(n_train, *sample_shape)``; for a multi-input
            model a dict, input name -> array (see :func:`bind_inputs`).
        y_train: int64 class labels in ``[0, classes)``.
        x_val: held-out samples.
        y_val: held-out labels.
        classes: number of classes.
        source: where the data came from (``digits``, a file or a folder).
        seed: the seed of the split.
        val_fraction: the fraction held out.
        file_inputs: for multi-input data, each input's name and sample shape as the file
            gave them (the split's record; :func:`bind_inputs` may rename them).
    """

    x_train: Inputs
    y_train: np.ndarray
    x_val: Inputs
    y_val: np.ndarray
    classes: int
    source: str
    seed: int
    val_fraction: float
    file_inputs: Optional[Dict[str, tuple]] = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, without the batch dimension (of the first input, for several)."""
        first = next(iter(self.x_train.values())) if isinstance(self.x_train, dict) else self.x_train
        return tuple(first.shape[1:])

    @property
    def input_names(self) -> list[str] | None:
        """The inputs' names, in order, for multi-input data; ``None`` for one input."""
        return list(self.x_train) if isinstance(self.x_train, dict) else None

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
            **({"inputs": {k: list(v) for k, v in self.file_inputs.items()}} if self.file_inputs else {}),
        }

    def representative(self, count: int) -> Inputs:
        """The first ``count`` training samples (already shuffled by the split's seed)."""
        if count < 1:
            raise EdgeloopError(f"calibration sample count must be at least 1, got {count}")
        return take(self.x_train, slice(0, count))


def load_data(
    spec: str | Path,
    val_fraction: float = 0.2,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
) -> Dataset:
    """Load a data set and split it.

    Args:
        spec: ``"digits"``, a ``.npz`` file holding ``x`` and ``y`` (a multi-input model:
            one array per input name, or ``x0``, ``x1``, …, and ``y``), or a folder with one
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
    file_inputs = {k: tuple(a.shape[1:]) for k, a in x.items()} if isinstance(x, dict) else None
    return Dataset(take(x, train), y[train], take(x, val), y[val], classes, spec_s, seed, val_fraction, file_inputs)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are 0..16; scale to 0..1 so int8 calibration sees a sane range.
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    return x, bunch.target.astype(np.int64)


def _npz(path: Path) -> tuple[Inputs, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            inputs = _npz_inputs(f.files)
            missing = [k for k in ("x", "y") if k not in f.files and (k == "y" or not inputs)]
            if missing:
                raise EdgeloopError(
                    f"{path}: missing array(s) {', '.join(missing)}; a .npz needs 'x' (samples) "
                    f"and 'y' (labels), found: {', '.join(f.files) or 'nothing'} (a model with several "
                    "inputs: one array per input name, or x0, x1, …)"
                )
            if inputs is None:
                return f["x"], f["y"]
            x = {name: f[name] for name in inputs}
            return (next(iter(x.values())) if len(x) == 1 else x), f["y"]
    except EdgeloopError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError: all mean unreadable
        raise EdgeloopError(f"cannot read {path} as .npz: {exc}") from None


def _npz_inputs(files: list[str]) -> list[str] | None:
    """The arrays of a ``.npz`` that are model inputs: ``None`` when it holds ``x`` (one input,
    as always), else ``x0``, ``x1``, … in order, else every array but ``y`` in the file's order."""
    if "x" in files:
        return None
    positional = [f"x{i}" for i in range(len(files)) if f"x{i}" in files]
    if positional and positional == [f"x{i}" for i in range(len(positional))]:
        return positional
    return [name for name in files if name != "y"] or None


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


def _check_arrays(x: Inputs, y: np.ndarray, where: str) -> tuple[Inputs, np.ndarray]:
    if isinstance(x, dict):
        arrays = {name: _check_arrays(a, y, f"{where}: input {name}")[0] for name, a in x.items()}
        return arrays, _check_arrays(next(iter(arrays.values())), y, where)[1]
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


def bind_inputs(data: Dataset, inputs: list[tuple[str, tuple]]) -> None:
    """Match multi-input data to a model's inputs, in place, or fail with one line.

    Named arrays go to the input of the same name; ``x0``, ``x1``, … to the inputs in
    order. Afterwards ``x_train`` / ``x_val`` are dicts keyed by the model's input names, in
    the model's order, each checked against its input's sample shape.

    Args:
        data: the data set (single-input data only fits a single-input model).
        inputs: the model's inputs, in order: ``(name, sample shape)``, ``None`` for a
            dimension of any size.
    """
    names = [name for name, _ in inputs]
    listed = ", ".join(f"{name} {tuple(shape)}" for name, shape in inputs)
    if not isinstance(data.x_train, dict):
        if len(inputs) == 1:
            return check_compatible(data, (None, *inputs[0][1]), None)
        raise EdgeloopError(
            f"the model takes {len(inputs)} inputs ({listed}) but data {data.source} has one; give a .npz with one "
            f"array per input ({', '.join(names)}) and y, or x0 … x{len(inputs) - 1} and y in the model's order"
        )
    have = list(data.x_train)
    if len(have) != len(inputs):
        raise EdgeloopError(f"data {data.source} has {len(have)} inputs ({', '.join(have)}) but the model takes "
                            f"{len(inputs)} ({listed})")
    if have == [f"x{i}" for i in range(len(have))]:
        mapping = dict(zip(names, have))
    else:
        missing, unknown = [n for n in names if n not in have], [n for n in have if n not in names]
        if missing:
            raise EdgeloopError(f"data {data.source} has no array for input(s) {', '.join(missing)} (it has "
                                f"{', '.join(unknown)}); name the arrays after the model's inputs ({', '.join(names)}) "
                                "or x0, x1, … in their order")
        mapping = {n: n for n in names}
    for (name, shape), key in zip(inputs, mapping.values()):
        got = tuple(data.x_train[key].shape[1:])
        if len(got) != len(shape) or any(w is not None and w != g for w, g in zip(shape, got)):
            raise EdgeloopError(f"data {data.source}: array {key} has samples of shape {got} but input {name} "
                                f"takes {tuple(shape)}")
    data.x_train = {name: data.x_train[key] for name, key in mapping.items()}
    data.x_val = {name: data.x_val[key] for name, key in mapping.items()}
