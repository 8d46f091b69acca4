"""Hardware-aware compression: NetAdapt-style search driven by latency measured on the device.

Example::

    from edgeloop.search import SearchOptions, search
    session = search("zoo:digits_cnn", "digits", SearchOptions(budget="0.5x"), device="local")
    session.state["final"]["latency_ms"]

Needs TensorFlow (the host side). See :mod:`edgeloop.search.netadapt` for the algorithm and
:mod:`edgeloop.search.latency` for where latency comes from.
"""

import importlib

# Where each public name lives. They are imported when first asked for, so that the command
# line (which registers ``edgeloop search`` from :mod:`edgeloop.search.command`) does not load
# the search's machinery, the data and the pipeline on every command.
_EXPORTS = {
    "Budget": "objective", "HARD": "objective", "RewardRule": "objective", "SOFT": "objective",
    "iteration_target": "objective", "mnas_reward": "objective", "parse_budget": "objective",
    "SearchOptions": "options", "resume": "run", "search": "run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
