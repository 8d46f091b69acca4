"""Sanity of the float model on the run's data, before anything is compressed.

A model fed the wrong range, the wrong channel order or labels in another order still
trains, prunes, converts and passes every check — on garbage, or on a few points less
than it should. So the float model is scored on the validation split first, and scored
again under what usually goes wrong: the other preprocessing conventions and the channels
reversed (recomputed from the raw pixels), and the best one-to-one relabelling of its
outputs (label order). The run stops, naming the likely cause and what to give, when

- its accuracy cannot be told from chance (the 95 % Wilson interval reaches the largest
  class's share);
- it lies far below the accuracy its own training recorded (``expected_accuracy``: the
  interval's top more than :data:`EXPECTED_MARGIN` below it);
- or one of those alternatives scores better beyond doubt (the paired 95 % interval of
  the gain, :func:`edgeloop.gates.paired_drop_interval`, above :data:`MIN_GAIN`): the
  data is not fed the way the model was trained.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.gates import wilson_interval
from edgeloop.preprocess import Preprocess

# "Far below" the recorded accuracy: the interval's upper end more than this under it.
EXPECTED_MARGIN = 0.05
# An alternative explains a failure when its paired gain's interval starts above this.
MIN_GAIN = 0.02
PROBE_SAMPLES = 512
SCORED_SAMPLES = 2048
_PROBED = ("unit", "tf", "raw", "caffe", "torch")


class SanityError(EdgeloopError):
    """The float model fails on the data before compression (bad input: exit status 2)."""


def check_baseline(model, data, expected_accuracy: float | None = None) -> dict:
    """Score ``model`` on ``data``'s validation split and judge it (see the module docstring).

    Returns:
        ``{"accuracy", "n", "chance", "interval", "verdict", "probes", ...}``; ``verdict``
        is ``ok``, ``chance``, ``below_expected`` or ``mismatch``; a failing verdict adds
        ``message`` (the likely cause and what to try).
    """
    from edgeloop.data import take

    x, y = take(data.x_val, slice(0, SCORED_SAMPLES)), data.y_val[:SCORED_SAMPLES]
    pred = _predict(model, x)
    right = pred == y
    accuracy = float(np.mean(right))
    chance = float(np.bincount(y).max() / len(y))
    low, high = wilson_interval(int(right.sum()), len(y))
    # The probes try other preprocessing of one image input; a model with several inputs is only scored.
    probes = [] if isinstance(x, dict) else _probe(model, data, x[:PROBE_SAMPLES], y[:PROBE_SAMPLES], pred[:PROBE_SAMPLES])
    result = {"accuracy": accuracy, "n": int(len(y)), "chance": chance, "interval": [low, high],
              "expected_accuracy": expected_accuracy, "verdict": "ok", "probes": probes}
    best = probes[0] if probes else None
    if low <= chance:
        result["verdict"] = "chance"
        head = (f"the float model scores {accuracy:.1%} on {len(y)} validation samples, no better than chance "
                f"({chance:.1%}, the largest class's share)")
    elif expected_accuracy is not None and high < expected_accuracy - EXPECTED_MARGIN:
        result["verdict"] = "below_expected"
        head = (f"the float model scores {accuracy:.1%} on {len(y)} validation samples, far below the "
                f"{expected_accuracy:.1%} its training recorded")
    elif best and best["gain_interval"][0] > MIN_GAIN:
        result["verdict"] = "mismatch"
        fed = data.preprocess.describe() if data.preprocess else "the .npz x as stored"
        head = (f"the float model scores {best['current']:.1%} on {best['n']} validation samples as the data is fed "
                f"({fed}), {best['accuracy']:.1%} with another {best['cause']}")
    else:
        return result
    result["message"] = f"{head}: {_cause(best, accuracy, chance)}"
    return result


def _predict(model, x: np.ndarray) -> np.ndarray:
    return np.argmax(model.predict(x, batch_size=256, verbose=0), axis=-1)


def _probe(model, data, x: np.ndarray, y: np.ndarray, pred: np.ndarray) -> list[dict]:
    """Accuracy under each alternative input and under the best relabelling, with the
    paired interval of the gain over the data as fed; best first."""
    from edgeloop.gates import paired_drop_interval

    right = pred == y
    probes = []
    for label, hint, inputs in _alternatives(data, x):
        probes.append({"cause": label, "try": hint, "alt_right": _predict(model, inputs) == y})
    relabelled, mapping = _best_relabelling(pred, y, model.output_shape[-1])
    if mapping:
        probes.append({"cause": "label order", "try": mapping, "alt_right": relabelled == y})
    for p in probes:
        alt = p.pop("alt_right")
        gained, lost = int(np.sum(alt & ~right)), int(np.sum(right & ~alt))
        p.update(accuracy=float(np.mean(alt)), current=float(np.mean(right)), n=int(len(y)),
                 gain_interval=list(paired_drop_interval(gained, lost, len(y))))
    return sorted(probes, key=lambda p: -p["accuracy"])


def _alternatives(data, x: np.ndarray):
    """(cause, what to give, inputs) for each preprocessing the data could have needed."""
    channels = x.shape[-1] if x.ndim == 4 else 1
    current = data.preprocess
    if current is None:
        # A .npz used as stored: its raw pixels are unknown; try the usual range mix-ups on x.
        low, high = float(x.min()), float(x.max())
        if high <= 1.0 and low >= 0.0:
            yield "preprocessing range", "[-1, 1] inputs (x * 2 - 1) in the .npz", x * 2 - 1
            yield "preprocessing range", "0-255 inputs (x * 255) in the .npz", x * 255
        elif low >= -1.0 and high <= 1.0:
            yield "preprocessing range", "[0, 1] inputs ((x + 1) / 2) in the .npz", (x + 1) / 2
        elif high > 1.5:
            yield "preprocessing range", "[0, 1] inputs (x / 255) in the .npz", x / 255
            yield "preprocessing range", "[-1, 1] inputs (x / 127.5 - 1) in the .npz", x / 127.5 - 1
        if channels == 3:
            yield "channel order", "the channels reversed (RGB <-> BGR) in the .npz", x[..., ::-1]
        return
    raw = data.raw(x)
    seen = {_key(current, channels)}
    candidates = [(name, Preprocess.parse(name)) for name in _PROBED]
    candidates.append((None, replace(current, size=None, color="rgb" if current.color == "bgr" else "bgr")))
    for name, spec in candidates:
        if spec.mean is not None and len(spec.mean) not in (1, channels):
            continue
        colors = [spec.color] if spec.color or channels != 3 else ["rgb", "bgr"]
        for color in colors:
            probe = replace(spec, color=color if channels == 3 else current.color)
            key = _key(probe, channels)
            if key in seen:
                continue
            seen.add(key)
            only_order = key[:-1] == _key(current, channels)[:-1]
            words = replace(probe, convention=None).describe()
            given = name if name and probe.color == spec.color else _flow(probe.to_dict())
            yield ("channel order" if only_order else "preprocessing range"), \
                f"{words} (recipe `preprocess: {given}`, or --preprocess '{given}')", _apply(probe, raw)


def _apply(spec: Preprocess, raw_rgb: np.ndarray) -> np.ndarray:
    from edgeloop.preprocess import convert_color

    return spec.normalize(convert_color(raw_rgb, spec.color) if raw_rgb.ndim == 4 else raw_rgb)


def _flow(mapping: dict) -> str:
    """A mapping as one line of YAML, e.g. ``{range: [-1.0, 1.0], color: bgr}``."""
    import yaml

    return yaml.safe_dump(mapping, default_flow_style=True, sort_keys=False).strip()


def _key(spec: Preprocess, channels: int) -> tuple:
    """What a spec does to pixels, for telling probes apart."""
    a, b = spec.channel_affine(channels)
    order = ("bgr" if spec.color == "bgr" else "rgb") if channels == 3 else "grey"
    return (*np.round(a, 9), *np.round(b, 9), order)


def _best_relabelling(pred: np.ndarray, y: np.ndarray, outputs: int) -> tuple[np.ndarray, str | None]:
    """Predictions under the one-to-one output -> label mapping that scores best (scipy's
    Hungarian assignment on the confusion matrix), and the first few pairs it moves."""
    from scipy.optimize import linear_sum_assignment

    k = int(max(outputs, y.max() + 1, pred.max() + 1))
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (pred, y), 1)
    rows, cols = linear_sum_assignment(-confusion)
    moved = [(int(r), int(c)) for r, c in zip(rows, cols) if r != c and confusion[r, c] > 0]
    if not moved:
        return pred, None
    mapping = np.arange(k)
    mapping[rows] = cols
    pairs = ", ".join(f"output {r} -> class {c}" for r, c in moved[:3])
    return mapping[pred], f"{pairs}{' …' if len(moved) > 3 else ''}"


def _cause(best: dict | None, accuracy: float, chance: float) -> str:
    if best and best["gain_interval"][0] > MIN_GAIN:
        if best["cause"] == "label order":
            return (f"likely cause: label order — with the model's outputs matched to the classes one to one "
                    f"({best['try']}) it would score {best['accuracy']:.1%}; list the classes in the model's order "
                    f"in classes.txt, or give --force to go on")
        return (f"likely cause: {best['cause']} — with {best['try']} it scores {best['accuracy']:.1%}; give that, "
                f"or --force to go on")
    return ("no preprocessing convention, channel order or label order tried scores better; check what the model "
            "was trained on (range, mean / std, channel order, class order), give preprocess, or --force to go on")
