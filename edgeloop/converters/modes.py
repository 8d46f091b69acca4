"""Conversion modes and the I/O types each allows (no TensorFlow: recipes validate with it)."""

from __future__ import annotations

MODES = ("int8", "int16x8", "dynamic", "float16", "float32")
# Calibrated modes: every activation is an integer, so the model can take integer I/O.
FULL_INTEGER = {"int8": ("int8", "uint8"), "int16x8": ("int16",)}


def io_types_for(mode: str) -> tuple[str, ...]:
    """The I/O types a model of ``mode`` can have, its default first."""
    return (*FULL_INTEGER.get(mode, ()), "float32")
