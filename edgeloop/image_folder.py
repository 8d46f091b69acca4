"""Read a folder of images: one sub-folder per class, or the images alone (no labels).

Class ids are the sorted sub-folder names (as ``tf_keras.utils.image_dataset_from_directory``
sorts them), or the order of a ``classes.txt`` in the folder (which may name classes that
have no folder: a subset of a model's classes). Every way a folder can be silently wrong is
one line naming the file or folder: a class folder missing from numbered folders (every
later id would shift), an empty class folder, a folder ``classes.txt`` does not name, an
image that does not decode, images of mixed sizes or channel counts with nothing saying
how to make them one. A folder count that differs from the model's outputs is refused by
:func:`edgeloop.data.check_compatible`.
Pixels come back raw (0–255, RGB or grey, float32); :mod:`edgeloop.preprocess` turns them
into the model's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.labels import CLASSES_FILE, numbered_gap, read_classes_file
from edgeloop.preprocess import Preprocess

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclass
class FolderImages:
    """What a folder holds.

    Attributes:
        pixels: raw pixels ``(n, height, width, channels)``, float32 in 0–255.
        labels: class ids, or ``None`` for a folder of images without class folders.
        class_names: the name of each class id (``None`` without labels).
        notes: what was decided that a user should see in the report.
    """

    pixels: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...] | None
    notes: list[str] = field(default_factory=list)


def read_image_folder(root: Path, preprocess: Preprocess | None, model_size: tuple[int, int] | None = None) -> FolderImages:
    """Decode every image under ``root``.

    Args:
        root: the folder.
        preprocess: its ``color``, ``size`` and ``interpolation`` are applied here.
        model_size: ``(height, width)`` the model takes, when known: images all of one
            other size are resized to it.

    Raises:
        EdgeloopError: see the module's docstring.
    """
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    class_dirs = [p for p in entries if p.is_dir()]
    loose = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    names_file = root / CLASSES_FILE
    if class_dirs and loose:
        raise EdgeloopError(f"{root}: holds both images ({loose[0].name} …) and class folders ({class_dirs[0].name} …); "
                            "put every image in its class folder, or give a folder of images only (no labels)")
    notes: list[str] = []
    if not class_dirs:
        if not loose:
            raise EdgeloopError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) and no class sub-folders")
        files, labels, names = loose, None, None
        notes.append(f"{root}: {len(loose)} images without class folders: no labels, the float model is the reference")
    else:
        names = _class_names(root, class_dirs, names_file, notes)
        files, ids = [], []
        for label, name in enumerate(names):
            if not (root / name).is_dir():
                continue  # named in classes.txt, no samples here
            found = sorted(p for p in (root / name).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise EdgeloopError(f"class folder {root / name} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files += found
            ids += [label] * len(found)
        labels = np.asarray(ids, dtype=np.int64)
    pixels = _decode_all(files, preprocess, model_size, notes)
    return FolderImages(pixels, labels, names, notes)


def _class_names(root: Path, class_dirs: list[Path], names_file: Path, notes: list[str]) -> tuple[str, ...]:
    folders = [p.name for p in class_dirs]
    if names_file.is_file():
        # The ids are written out: a class without a folder shifts nothing (a subset of a
        # model's classes, for calibration); a folder without a name is a mistake.
        names = read_classes_file(names_file)
        extra = [n for n in folders if n not in names]
        if extra:
            raise EdgeloopError(f"folder {root / extra[0]} is not a class named in {names_file}")
        missing = [n for n in names if n not in folders]
        notes.append(f"class ids from {names_file}" + (f"; {len(missing)} of its {len(names)} classes have no folder "
                                                       f"({', '.join(missing[:3])}{' …' if len(missing) > 3 else ''})"
                                                       if missing else ""))
        return names
    gap = numbered_gap(folders)
    if gap is not None:
        raise EdgeloopError(f"class folder {root / gap} is missing: the class folders are numbered and every later "
                            f"class id would shift by one (add the folder, or list the classes in {names_file})")
    if all(n.isdigit() for n in folders) and folders != sorted(folders, key=int):
        notes.append(f"numbered class folders take their ids in text order ({', '.join(folders[:4])} …), as Keras "
                     f"sorts them; list them in {names_file} for another order")
    return tuple(folders)


def _decode_all(files: list[Path], preprocess: Preprocess | None, model_size, notes: list[str]) -> np.ndarray:
    from edgeloop._tf import tf

    from edgeloop.preprocess import convert_color

    color = preprocess.color if preprocess else None
    images = []
    first = None
    for file in files:
        try:
            img = tf.io.decode_image(tf.io.read_file(str(file)), channels=3 if color in ("rgb", "bgr") else 0,
                                     expand_animations=False).numpy()
        except Exception:
            raise EdgeloopError(f"cannot decode image {file}") from None
        if color is None and img.shape[-1] == 4:
            raise EdgeloopError(f"image {file} has an alpha channel: give preprocess color (rgb, bgr or grayscale)")
        if color == "grayscale" and img.shape[-1] == 4:
            img = img[..., :3]
        img = convert_color(img, color)
        if first is None:
            first = (file, img.shape)
        elif img.shape[-1] != first[1][-1]:
            raise EdgeloopError(f"image {file} has {img.shape[-1]} channel(s) but {first[0]} has {first[1][-1]}: "
                                "give preprocess color (rgb, bgr or grayscale)")
        elif img.shape[:2] != first[1][:2] and not (preprocess and preprocess.size):
            raise EdgeloopError(f"image {file} is {img.shape[0]}x{img.shape[1]} but {first[0]} is "
                                f"{first[1][0]}x{first[1][1]}: give preprocess size [height, width] to resize them")
        images.append(img)
    size = tuple(preprocess.size) if preprocess and preprocess.size else None
    if size is None and model_size and tuple(model_size) != tuple(first[1][:2]):
        size = tuple(model_size)
        notes.append(f"images {first[1][0]}x{first[1][1]} resized to the model's {size[0]}x{size[1]}")
    method = preprocess.interpolation if preprocess else "bilinear"
    out = np.empty((len(images), *(size or first[1][:2]), first[1][-1]), np.float32)
    for i, img in enumerate(images):
        if size is not None and tuple(img.shape[:2]) != size:
            resized = tf.image.resize(tf.cast(img, tf.float32), size, method=method).numpy()
            out[i] = np.clip(resized, 0.0, 255.0)  # bicubic and lanczos overshoot; pixels stay pixels
        else:
            out[i] = img
    return out
