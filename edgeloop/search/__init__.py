"""Hardware-aware compression: NetAdapt-style search driven by latency measured on the device.

Example::

    from edgeloop.search import SearchOptions, search
    session = search("zoo:digits_cnn", "digits", SearchOptions(budget="0.5x"), device="local")
    session.state["final"]["latency_ms"]

Needs TensorFlow (the host side). See :mod:`edgeloop.search.netadapt` for the algorithm and
:mod:`edgeloop.search.latency` for where latency comes from.
"""

from edgeloop.search.objective import HARD, SOFT, Budget, RewardRule, iteration_target, mnas_reward, parse_budget
from edgeloop.search.options import SearchOptions
from edgeloop.search.run import resume, search

__all__ = ["Budget", "HARD", "RewardRule", "SOFT", "SearchOptions", "iteration_target", "mnas_reward",
           "parse_budget", "resume", "search"]
