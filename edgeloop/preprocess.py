"""Preprocessing as data: how raw pixels become what a model was trained on.

A :class:`Preprocess` is recorded in the run's recipe and report and applied everywhere
data enters a model (training, calibration, evaluation, search). It starts from *raw
pixels*: 0–255 values in RGB (or one grey channel) as a camera or an image file gives
them, and computes, per channel ``c``::

    x = (pixel * scale + offset - mean[c]) / std[c]

after converting the colours (``color``) and resizing (``size``). The named conventions
are those of ``tf_keras.applications`` (``imagenet_utils.preprocess_input`` and each
application's own ``preprocess_input``), so a model trained with one of them is fed here
exactly as it was in training::

    Preprocess.parse("mobilenet_v2")           # "tf": pixel / 127.5 - 1, range [-1, 1]
    Preprocess.parse({"range": [-1, 1]})        # the same, written out
    Preprocess.parse("resnet50")               # "caffe": BGR, minus the ImageNet means
    Preprocess.parse({"convention": "torch", "size": [96, 96]})

Without one, image folders and ``digits`` are scaled to [0, 1] (:data:`DEFAULT`) and a
``.npz`` is used as stored. This module needs only numpy (the device side may read it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.errors import EdgeloopError, refuse_unknown_keys

COLORS = ("grayscale", "rgb", "bgr")
# tf.image.resize's methods.
INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")
# ITU-R 601-2 luma, the weights tf.image.rgb_to_grayscale uses.
LUMA = (0.2989, 0.5870, 0.1140)
KEYS = ("convention", "scale", "offset", "range", "mean", "std", "color", "size", "interpolation")

# tf_keras/src/applications/imagenet_utils.py: _preprocess_numpy_input, modes "tf", "torch", "caffe".
_TF = {"range": (-1.0, 1.0)}  # pixel / 127.5 - 1
_TORCH = {"range": (0.0, 1.0), "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "color": "rgb"}
_CAFFE = {"scale": 1.0, "mean": (103.939, 116.779, 123.68), "color": "bgr"}
# Applications whose preprocess_input passes pixels through: the model rescales inside.
_RAW = {"scale": 1.0}
CONVENTIONS: dict[str, dict] = {
    "tf": _TF, "torch": _TORCH, "caffe": _CAFFE, "raw": _RAW, "unit": {"range": (0.0, 1.0)},
    # tf_keras.applications.<name>.preprocess_input, by the mode each one passes.
    "mobilenet": _TF, "mobilenet_v2": _TF, "inception": _TF, "inception_v3": _TF, "inception_resnet_v2": _TF,
    "xception": _TF, "nasnet": _TF, "resnet_v2": _TF,
    "resnet": _CAFFE, "resnet50": _CAFFE, "vgg16": _CAFFE, "vgg19": _CAFFE,
    "densenet": _TORCH,
    "mobilenet_v3": _RAW, "efficientnet": _RAW, "efficientnet_v2": _RAW, "convnext": _RAW, "regnet": _RAW,
    "resnet_rs": _RAW,
}


@dataclass(frozen=True)
class Preprocess:
    """Raw 0–255 pixels -> model input, per channel ``(pixel * scale + offset - mean) / std``.

    Attributes:
        convention: the named convention it came from (``mobilenet_v2``, ``torch`` …), if any.
        scale: multiplies the raw pixel.
        offset: added after ``scale``.
        range: ``(low, high)`` the pixels 0–255 are mapped to (sets ``scale`` and
            ``offset``; kept for the record).
        mean: per-channel mean subtracted after ``scale`` / ``offset`` (one value for all).
        std: per-channel divisor applied last.
        color: ``grayscale`` (one channel), ``rgb`` or ``bgr`` (the channels reversed);
            ``None`` keeps the data's own channels.
        size: ``(height, width)`` images are resized to; ``None`` keeps their size.
        interpolation: how images are resized (``tf.image.resize`` methods).
    """

    convention: str | None = None
    scale: float = 1 / 255.0
    offset: float = 0.0
    range: tuple[float, float] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    color: str | None = None
    size: tuple[int, int] | None = None
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if not np.isfinite(self.scale) or self.scale == 0 or not np.isfinite(self.offset):
            raise ValueError(f"scale must be a finite non-zero number and offset finite, got {self.scale}, {self.offset}")
        if self.std is not None and any(not np.isfinite(s) or s == 0 for s in self.std):
            raise ValueError(f"std must hold finite non-zero numbers, got {list(self.std)}")
        if self.mean is not None and not all(np.isfinite(self.mean)):
            raise ValueError(f"mean must hold finite numbers, got {list(self.mean)}")
        if self.color is not None and self.color not in COLORS:
            raise ValueError(f"color must be one of {', '.join(COLORS)}, got {self.color!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if self.size is not None and (len(self.size) != 2 or any(int(v) < 1 for v in self.size)):
            raise ValueError(f"size must be [height, width] of positive integers, got {list(self.size)}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values is not None and self.color in ("rgb", "bgr") and len(values) not in (1, 3):
                raise ValueError(f"{name} needs 1 or 3 values for {self.color} images, got {len(values)}")

    @classmethod
    def parse(cls, value: Any, where: str = "preprocess") -> "Preprocess":
        """A spec from recipe data or a command-line string.

        Args:
            value: a convention name (``mobilenet_v2``), a mapping of :data:`KEYS`, a YAML
                or JSON mapping as text (``"{range: [-1, 1]}"``), or a ``.yaml`` / ``.json``
                file holding one.
            where: names the place in error messages.

        Raises:
            EdgeloopError: an unknown name or key, or a value out of range.
        """
        if isinstance(value, Preprocess):
            return value
        if isinstance(value, str):
            value = _text(value, where)
        if not isinstance(value, dict):
            raise EdgeloopError(f"{where}: give a convention name ({', '.join(sorted(CONVENTIONS))}) or a mapping of "
                                f"{', '.join(KEYS)}; got {value!r}")
        refuse_unknown_keys(value, KEYS, where, noun="key")
        spec = dict(value)
        name = spec.get("convention")
        if name is not None:
            if name not in CONVENTIONS:
                raise EdgeloopError(f"{where}: unknown convention {name!r}; conventions: {', '.join(sorted(CONVENTIONS))}")
            clash = sorted(k for k in CONVENTIONS[name] if k in spec)
            if clash:
                raise EdgeloopError(f"{where}: convention {name} sets {', '.join(clash)}; give one or the other")
            spec = {**CONVENTIONS[name], **spec}
        if spec.get("range") is not None:
            if "scale" in spec or "offset" in spec:
                raise EdgeloopError(f"{where}: give range or scale / offset, not both")
            low, high = _numbers(spec["range"], f"{where}: range", length=2)
            if not high > low:
                raise EdgeloopError(f"{where}: range must be [low, high] with high > low, got {[low, high]}")
            spec["range"] = (low, high)
            spec["scale"], spec["offset"] = (high - low) / 255.0, low
        try:
            for key in ("scale", "offset"):
                if key in spec:
                    spec[key] = _numbers([spec[key]], f"{where}: {key}", length=1)[0]
            for key in ("mean", "std"):
                if spec.get(key) is not None:
                    spec[key] = _numbers(spec[key] if isinstance(spec[key], (list, tuple)) else [spec[key]], f"{where}: {key}")
            if spec.get("size") is not None:
                size = spec["size"]
                if not isinstance(size, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
                    raise EdgeloopError(f"{where}: size must be [height, width], got {size!r}")
                spec["size"] = tuple(size)
            return cls(**spec)
        except (ValueError, TypeError) as exc:
            raise EdgeloopError(f"{where}: {exc}") from None

    def to_dict(self) -> dict:
        """Plain data that :meth:`parse` reads back into an equal spec (lists, not tuples)."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if self.convention is not None:
            derived = set(CONVENTIONS[self.convention]) | {"scale", "offset", "range"}
        elif self.range is not None:
            derived = {"scale", "offset"}
        else:
            derived = {"range"}
        if self.interpolation == "bilinear":
            derived.add("interpolation")
        return {k: v for k, v in out.items() if v is not None and k not in derived}

    def with_size(self, size: tuple[int, int] | None) -> "Preprocess":
        """The same spec resizing to ``size``."""
        return replace(self, size=tuple(size) if size else None)

    def channel_affine(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """``(a, b)`` per channel such that ``x = pixel * a + b`` (after the colour conversion)."""
        mean = np.broadcast_to(np.asarray(self.mean if self.mean is not None else (0.0,), np.float64), (channels,))
        std = np.broadcast_to(np.asarray(self.std if self.std is not None else (1.0,), np.float64), (channels,))
        return self.scale / std, (self.offset - mean) / std

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels already in the model's channel order and size -> the model's float32 input."""
        a, b = self._checked_affine(pixels)
        return (np.asarray(pixels, np.float64) * a + b).astype(np.float32)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`normalize` and of the channel reversal of ``bgr``: the raw
        0–255 pixels (RGB or grey) a camera delivers, as float32."""
        a, b = self._checked_affine(x)
        pixels = (np.asarray(x, np.float64) - b) / a
        if self.color == "bgr":
            pixels = pixels[..., ::-1]
        return pixels.astype(np.float32)

    def describe(self) -> str:
        """One line for reports: what the model is fed."""
        parts = [f"convention {self.convention}"] if self.convention else []
        if self.range is not None:
            parts.append(f"pixels 0–255 mapped to [{self.range[0]:g}, {self.range[1]:g}]")
        elif (self.scale, self.offset) == (1.0, 0.0):
            parts.append("pixels 0–255 as they are")
        else:
            parts.append(f"pixel × {self.scale:.6g}{self.offset:+.6g}")
        if self.mean is not None:
            parts.append(f"minus mean {list(self.mean)}")
        if self.std is not None:
            parts.append(f"divided by std {list(self.std)}")
        if self.color:
            parts.append({"bgr": "BGR channel order", "rgb": "RGB", "grayscale": "grayscale"}[self.color])
        if self.size:
            parts.append(f"resized to {self.size[0]}x{self.size[1]} ({self.interpolation})")
        return ", ".join(parts)

    def _checked_affine(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        channels = int(np.shape(x)[-1]) if np.ndim(x) else 1
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values is not None and len(values) not in (1, channels):
                raise EdgeloopError(f"preprocess {name} has {len(values)} values but the data has {channels} channel(s)")
        return self.channel_affine(channels)


# What image folders and digits get when no preprocess is given: pixels / 255.
DEFAULT = Preprocess(range=(0.0, 1.0))


def convert_color(pixels: np.ndarray, color: str | None) -> np.ndarray:
    """RGB (or grey) pixels ``(..., C)`` in the channel layout ``color`` asks for."""
    if color is None:
        return pixels
    channels = pixels.shape[-1]
    if channels not in (1, 3):
        raise EdgeloopError(f"color {color} needs images with 1 or 3 channels, these have {channels}")
    if color == "grayscale":
        return pixels if channels == 1 else (pixels.astype(np.float64) @ np.asarray(LUMA))[..., None]
    rgb = np.repeat(pixels, 3, axis=-1) if channels == 1 else pixels
    return rgb[..., ::-1] if color == "bgr" else rgb


def _numbers(values: Any, where: str, length: int | None = None) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)) or not values:
        raise EdgeloopError(f"{where} must be a number or a list of numbers, got {values!r}")
    if length is not None and len(values) != length:
        raise EdgeloopError(f"{where} must hold {length} number(s), got {list(values)}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise EdgeloopError(f"{where} must hold finite numbers, got {v!r}")
        out.append(float(v))
    return tuple(out)


def _text(text: str, where: str) -> Any:
    """A convention name, a file, or inline YAML / JSON."""
    import yaml

    stripped = text.strip()
    if stripped in CONVENTIONS:
        return {"convention": stripped}
    path = Path(stripped)
    if path.suffix in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise EdgeloopError(f"{where}: file not found: {text}")
        stripped = path.read_text(encoding="utf-8")
    try:
        value = yaml.safe_load(stripped)  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise EdgeloopError(f"{where}: not a convention name or a mapping: {str(exc).splitlines()[0]}") from None
    if isinstance(value, str):
        raise EdgeloopError(f"{where}: unknown convention {value!r}; conventions: {', '.join(sorted(CONVENTIONS))}")
    return value
