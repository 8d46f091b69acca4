"""Silence native (C++) logging written straight to file descriptor 2."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point fd 2 at /dev/null for the block: TensorFlow's and LiteRT's start-up lines
    ("Created TensorFlow Lite XNNPACK delegate", CUDA probes) bypass every log level.

    Python exceptions still surface: they are raised after fd 2 is restored.
    """
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
