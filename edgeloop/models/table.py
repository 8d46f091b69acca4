"""The zoo table: every architecture counted at its reference configuration, next to its paper.

Parameters are trainable weights (batch norm's moving mean and variance left out), the
count torchvision and most papers give; MACs are counted from the Keras graph by
:func:`edgeloop.models.macs.model_macs` (convolutions and Dense layers, as papers count
multiply-adds). Each model is built at full size to be counted: all of them take about
12 s on a lightly loaded 2-core machine (DenseNet-121 the longest, ~2 s), so nothing is
cached.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgeloop.models.registry import get_spec, list_models


def trainable_params(model) -> int:
    """Number of trainable weights (what the papers' parameter counts count)."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def _diff(measured: float, published: float | None) -> float | None:
    return None if not published else round(100.0 * (measured / published - 1.0), 2)


def reference_row(name: str) -> dict:
    """Build ``name`` at its reference configuration and compare its counts with the paper's.

    Returns:
        ``{"name", "reference", "params", "macs", "paper_params", "paper_macs",
        "params_diff_pct", "macs_diff_pct", "source", "options", "summary"}``; the paper
        fields are ``None`` for an architecture without a reference.
    """
    import gc

    from edgeloop.models.macs import model_macs
    from edgeloop.models.registry import create

    spec = get_spec(name)
    row = {"name": name, "summary": spec.summary, "options": spec.options}
    paper = spec.paper
    row.update(paper_params=paper and paper.params, paper_macs=paper and paper.macs, source=paper and paper.source)
    if spec.reference is None:
        row.update(reference=None, params=None, macs=None, params_diff_pct=None, macs_diff_pct=None)
        return row
    model = create(name)
    params, macs = trainable_params(model), model_macs(model)["total"]
    del model
    gc.collect()  # the big reference models (ResNet-50: 100 MB of weights) go before the next
    row.update(reference=spec.reference.describe(), params=params, macs=macs,
               params_diff_pct=_diff(params, paper and paper.params), macs_diff_pct=_diff(macs, paper and paper.macs))
    return row


def zoo_table(names: list[str] | None = None, progress: Callable[[str], None] | None = None) -> list[dict]:
    """:func:`reference_row` for each name (default: the whole zoo), in order.

    Args:
        names: architectures to count (unknown names raise ``EdgeloopError``).
        progress: called with each name before it is built.
    """
    names = list_models() if not names else names
    for name in names:
        get_spec(name)  # refuse an unknown name before building anything
    rows = []
    for name in names:
        if progress:
            progress(name)
        rows.append(reference_row(name))
    return rows


def format_count(n: float | None) -> str:
    """``4.25 M``, ``569 M``, ``78.2 k``, ``1.81 G``, or ``-``."""
    if n is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n:.0f}"
