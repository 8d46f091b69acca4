"""Compression steps: one module per technique, one registry of steps.

Importing this package registers every built-in step (each module registers itself with
:func:`register_step`). A new technique is a new module imported here.
"""

from edgeloop.pipeline import benchmark, cluster, convert, distill, evaluate, factorize, prune, qat, train  # noqa: F401
from edgeloop.pipeline.base import Context, Step, build_step, register_step, step_class, step_names

__all__ = ["Context", "Step", "build_step", "register_step", "step_class", "step_names"]
