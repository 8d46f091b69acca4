"""Compression steps: one module per technique, one registry of steps.

Importing this package registers every built-in step (each module registers itself with
:func:`register_step`). A new technique is a new module imported here.
"""

from edgeloop.pipeline import (  # noqa: F401  (each module registers its step)
    autocompress,
    benchmark,
    binarize,
    cluster,
    compile,
    convert,
    distill,
    evaluate,
    factorize,
    filter_prune,
    netadapt,
    prune,
    qat,
    sensitivity,
    train,
    width_baseline,
)
from edgeloop.pipeline.base import Context, Preflight, Problem, Step, build_step, register_step, step_class, step_names

__all__ = ["Context", "Preflight", "Problem", "Step", "build_step", "register_step", "step_class", "step_names"]
