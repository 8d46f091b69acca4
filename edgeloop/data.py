"""Data sets: ``.npz`` files, image folders and the built-in ``digits``.

Every source ends as a :class:`Dataset` with a train / validation split fixed by a seed,
so a run can be repeated and its report says exactly which samples were held out. Image
sources are read as raw pixels and turned into the model's input by a
:class:`~edgeloop.preprocess.Preprocess` (by default scaled to [0, 1]); every array is
checked first (:mod:`edgeloop.labels`), and data without labels (a folder of images, a
``.npz`` with ``x`` only) makes a data set whose ``y_train`` / ``y_val`` are ``None``.

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, Union

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.image_folder import IMAGE_SUFFIXES, read_image_folder
from edgeloop.labels import CLASSES_FILE, check_class_names, check_labels, check_samples, read_classes_file
from edgeloop.preprocess import DEFAULT, Preprocess, convert_color

BUILTIN = ("digits",)
__all__ = ["BUILTIN", "IMAGE_SUFFIXES", "Dataset", "bind_inputs", "check_compatible", "load_data", "n_samples", "take"]

# Samples of a single-input model, or of a multi-input one: input name -> array.
Inputs = Union[np.ndarray, Dict[str, np.ndarray]]
# Arrays of a .npz that are never model inputs.
_NOT_INPUTS = ("y", "classes")


def n_samples(x: Inputs) -> int:
    """How many samples ``x`` holds (every input of a dict holds as many)."""
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def take(x: Inputs, index) -> Inputs:
    """The samples at ``index`` (a slice, an index array) of every input."""
    return {name: a[index] for name, a in x.items()} if isinstance(x, dict) else x[index]


@dataclass
class Dataset:
    """A data set split into train and validation parts.

    Attributes:
        x_train: float32 samples as the model takes them, shape ``(n_train, *sample_shape)``;
            for a multi-input model a dict, input name -> array (see :func:`bind_inputs`).
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
        file_inputs: for multi-input data, each input's name and sample shape as the file
            gave them (the split's record; :func:`bind_inputs` may rename them).
    """

    x_train: Inputs
    y_train: np.ndarray | None
    x_val: Inputs
    y_val: np.ndarray | None
    classes: int | None
    source: str
    seed: int
    val_fraction: float
    class_names: tuple[str, ...] | None = None
    preprocess: Preprocess | None = None
    notes: list[str] = field(default_factory=list)
    file_inputs: dict[str, tuple] | None = None

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
        """Shape of one sample, without the batch dimension (of the first input, for several)."""
        first = next(iter(self.x_train.values())) if isinstance(self.x_train, dict) else self.x_train
        return tuple(first.shape[1:])

    @property
    def input_names(self) -> list[str] | None:
        """The inputs' names, in order, for multi-input data; ``None`` for one input."""
        return list(self.x_train) if isinstance(self.x_train, dict) else None

    def split_info(self) -> dict:
        """What a report needs to reproduce the split."""
        held_out = self.y_val if self.labeled else self.x_val
        if isinstance(held_out, dict):  # whatever order and names binding gave the inputs
            held_out = np.array(sorted(hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
                                       for a in held_out.values()))
        digest = hashlib.sha256(np.ascontiguousarray(held_out).tobytes()).hexdigest()[:12]
        info = {
            "source": self.source,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "n_train": int(n_samples(self.x_train)),
            "n_val": int(n_samples(self.x_val)),
            "classes": self.classes,
            "sample_shape": list(self.sample_shape),
            "val_labels_sha256": digest,
            "labeled": self.labeled,
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
        }
        if self.class_names:
            info["class_names"] = list(self.class_names)
        if self.file_inputs:
            info["inputs"] = {k: list(v) for k, v in self.file_inputs.items()}
        return info

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
    preprocess: Preprocess | dict | str | None = None,
    model_size: tuple[int, int] | None = None,
) -> Dataset:
    """Load a data set, check it, turn its pixels into model inputs, and split it.

    Args:
        spec: ``"digits"``, a ``.npz`` file holding ``x`` (and ``y``: class ids or one-hot
            rows; without it the data has no labels; ``classes`` or a ``classes.txt`` beside
            it may name the classes; a model with several inputs: one array per input name,
            or ``x0``, ``x1``, …, instead of ``x``), or a folder with one sub-folder of images per class
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
            if isinstance(x, dict):
                if given is not None:
                    raise EdgeloopError(f"{spec_s}: preprocess and image_size apply to one image input; data for "
                                        "a model with several inputs is used as stored")
                x, effective = {name: check_samples(a, spec_s, name) for name, a in x.items()}, None
            else:
                x, effective = _to_inputs(x, given, spec_s) if given is not None else (check_samples(x, spec_s), None)
        else:
            raise EdgeloopError(f"unsupported data file {spec_s}: expected a .npz file or a folder")
    count = n_samples(x)
    if isinstance(x, dict) and len({len(a) for a in x.values()}) > 1:
        raise EdgeloopError(f"{spec_s}: the inputs hold different numbers of samples: "
                            + ", ".join(f"{k} {len(a)}" for k, a in x.items()))
    if y is not None:
        y = check_labels(y, count, spec_s)
        if class_names:
            check_class_names(class_names, y, spec_s)
    else:
        class_names = None  # names without labels name nothing
    classes = (len(class_names) if class_names else int(y.max()) + 1) if y is not None else None
    order = np.random.default_rng(seed).permutation(count)
    n_val = max(1, int(round(count * val_fraction)))
    if n_val >= count:
        raise EdgeloopError(f"{spec_s}: {count} samples are too few to hold {n_val} out")
    val, train = order[:n_val], order[n_val:]
    file_inputs = {k: tuple(a.shape[1:]) for k, a in x.items()} if isinstance(x, dict) else None
    return Dataset(take(x, train), None if y is None else y[train], take(x, val), None if y is None else y[val], classes,
                   spec_s, seed, val_fraction, class_names=class_names, preprocess=effective, notes=notes,
                   file_inputs=file_inputs)


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


def _npz(path: Path) -> tuple[Inputs, np.ndarray | None, tuple[str, ...] | None]:
    try:
        with np.load(path, allow_pickle=False) as f:
            inputs = _npz_inputs(f.files)
            if "x" not in f.files and not inputs:
                raise EdgeloopError(
                    f"{path}: missing array x; a .npz needs 'x' (samples) and, for labels, 'y' (class ids or "
                    f"one-hot rows); found: {', '.join(f.files) or 'nothing'} (a model with several inputs: one "
                    "array per input name, or x0, x1, …)"
                )
            if inputs:
                x = {name: f[name] for name in inputs}
                x = next(iter(x.values())) if len(x) == 1 else x
            else:
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


def _npz_inputs(files: list[str]) -> list[str] | None:
    """The arrays of a ``.npz`` that are model inputs: ``None`` when it holds ``x`` (one input,
    as always), else ``x0``, ``x1``, … in order, else every array but ``y`` and ``classes`` in
    the file's order."""
    if "x" in files:
        return None
    positional = [f"x{i}" for i in range(len(files)) if f"x{i}" in files]
    if positional and positional == [f"x{i}" for i in range(len(positional))]:
        return positional
    return [name for name in files if name not in _NOT_INPUTS] or None


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
