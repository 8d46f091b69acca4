"""Named recipes: ``edgeloop optimize --recipe edgeloop:<name>``.

Each preset is a function returning recipe data; most leave ``model`` to the command line
(``--model``), and ``data`` defaults to the built-in ``digits``. The docstring
says what it is for; the name says what comes out.
"""

from __future__ import annotations

from typing import Callable

from edgeloop.errors import EdgeloopError

_PRESETS: dict[str, Callable[[], dict]] = {}


def _preset(fn: Callable[[], dict]) -> Callable[[], dict]:
    _PRESETS[fn.__name__] = fn
    return fn


def _check_and_measure() -> list[dict]:
    return [{"convert": {"mode": "int8", "io_type": "int8"}}, {"evaluate": {}}, {"benchmark": {}}]


@_preset
def int8() -> dict:
    """Full-integer int8 (int8 weights and activations, int8 I/O) of a trained model,
    calibrated on training samples, verified, scored and timed."""
    return {"name": "int8", "steps": _check_and_measure()}


@_preset
def edgetpu_int8() -> dict:
    """What the Edge TPU compiler accepts: full-integer int8 with uint8 I/O (the type the
    Coral examples and older compilers expect), static batch 1, per-channel weights; then
    the Edge TPU prediction, fixes where possible, and edgetpu_compiler when installed."""
    return {
        "name": "edgetpu_int8",
        "steps": [
            {"convert": {"mode": "int8", "io_type": "uint8", "per_channel": True}},
            {"compile": {"target": "edgetpu", "fix": True}},
            {"evaluate": {}},
            {"benchmark": {}},
        ],
    }


@_preset
def prune_qat_int8() -> dict:
    """Fine-tune a trained model to 50 % sparsity, then sparsity-preserving QAT, then
    full int8: the smallest file for a model that is already trained."""
    return {
        "name": "prune_qat_int8",
        "steps": [
            {"prune": {"target_sparsity": 0.5, "epochs": 6}},
            {"qat": {"epochs": 10, "batch_size": 16}},
            *_check_and_measure(),
        ],
    }


@_preset
def digits_int8() -> dict:
    """The built-in demo: train the digits CNN on scikit-learn's digits, prune to 50 %,
    sparsity-preserving QAT, full int8, scored and timed next to the float baseline."""
    return {
        "name": "digits_int8",
        "model": "zoo:digits_cnn",
        "data": "digits",
        "steps": [{"train": {"epochs": 30}}, *prune_qat_int8()["steps"]],
    }


def preset_names() -> list[str]:
    """Every preset's name."""
    return sorted(_PRESETS)


def describe_presets() -> dict[str, str]:
    """Preset name -> first line of its docstring."""
    return {name: " ".join((fn.__doc__ or "").split()) for name, fn in sorted(_PRESETS.items())}


def preset(name: str) -> dict:
    """The recipe data of a preset (a fresh copy each call)."""
    if name not in _PRESETS:
        raise EdgeloopError(f"unknown preset edgeloop:{name}; presets: {', '.join(preset_names())}")
    raw = _PRESETS[name]()
    raw.setdefault("data", "digits")
    return raw
