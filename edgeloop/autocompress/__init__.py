"""Automatic compression: an Optuna search over which techniques to apply, where and how much,
judged by converted accuracy and latency measured on the device.

Example::

    from edgeloop.autocompress import AutocompressOptions, autocompress
    state = autocompress(folder, model, data, {"data": "digits"}, AutocompressOptions(trials=20), aim)
    state["winner"]["latency_ms"]

The pipeline step is ``autocompress`` (:mod:`edgeloop.pipeline.autocompress`), the command
``edgeloop autocompress`` (:mod:`edgeloop.autocompress.command`).
"""

import importlib

# Imported when first asked for: the command line registers ``edgeloop autocompress``
# without loading Optuna, TensorFlow or the pipeline.
_EXPORTS = {"AutocompressOptions": "options", "Aim": "run", "autocompress": "run", "resume": "run", "Space": "space",
            "Goal": "objective"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
