"""Adaptive sampling: which models a device measures, so a new device needs few measurements.

A predictor fitted on one device transfers to another by its calibration alone
(:meth:`~edgeloop.latency.predictor.KernelPredictor.recalibrated`); what that needs is a few
whole-model measurements that span what the models ask of the device. Candidates are
described by how much of each kind of kernel they hold (MACs and bytes per kind, on a log
scale) and picked farthest-point first: each next one is the candidate least like those
measured so far. Measuring stops once the predictor, refitted each time, predicts every
measured model left out of its fit within the tolerance (leave-one-out), or at the limit.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from edgeloop.latency.kernels import KINDS, Kernel


def composition(kernels: Sequence[Kernel]) -> np.ndarray:
    """What a model asks of a device, per kind of kernel: log MACs, log bytes moved, kernel count."""
    out = []
    for kind in KINDS:
        group = [k.features for k in kernels if k.kind == kind]
        macs = sum(f["macs"] for f in group)
        moved = sum(f["bytes_in"] + f["bytes_out"] + f["bytes_weights"] for f in group)
        out += [np.log1p(macs), np.log1p(moved), np.log1p(len(group))]
    return np.array(out)


def farthest_first(candidates: Sequence[Sequence[Kernel]], count: int, chosen: Sequence[int] = ()) -> list[int]:
    """Indices of ``count`` more candidates, each the farthest from those already chosen
    (the first: the farthest from the candidates' mean)."""
    points = np.array([composition(k) for k in candidates])
    scale = points.std(axis=0)
    points = (points - points.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    picked = list(chosen)
    order: list[int] = []
    while len(order) < count and len(picked) < len(points):
        if picked:
            distance = np.min(np.linalg.norm(points[:, None, :] - points[picked][None, :, :], axis=2), axis=1)
        else:
            distance = np.linalg.norm(points, axis=1)
        distance[picked] = -1.0
        best = int(np.argmax(distance))
        picked.append(best)
        order.append(best)
    return order


def leave_one_out_error(predictor, measured: Sequence[tuple[list[Kernel], float]]) -> float:
    """The largest relative error on a measured model when the calibration is fitted without it."""
    errors = []
    for i, (kernels, ms) in enumerate(measured):
        rest = [m for j, m in enumerate(measured) if j != i]
        errors.append(abs(predictor.recalibrated(rest).predict(kernels) / ms - 1))
    return max(errors) if errors else float("inf")


def adapt(predictor, candidates: Sequence[Sequence[Kernel]], measure: Callable[[int], float],
          tolerance: float = 0.05, least: int = 3, most: int = 12):
    """Measure candidates farthest-first and recalibrate ``predictor`` until it holds.

    Args:
        predictor: a :class:`~edgeloop.latency.predictor.KernelPredictor` (of another device,
            or of this one's op profiles).
        candidates: the kernels of each model the device may be asked to measure.
        measure: ``measure(index) -> median ms`` of candidate ``index`` on the device.
        tolerance: stop once the leave-one-out error is at most this (a fraction).
        least: measure at least this many.
        most: measure at most this many.

    Returns:
        ``(recalibrated predictor, [(candidate index, ms), …] in the order measured)``.
    """
    measured: list[tuple[int, float]] = []
    for index in farthest_first(candidates, min(most, len(candidates))):
        measured.append((index, measure(index)))
        pairs = [(list(candidates[i]), ms) for i, ms in measured]
        if len(measured) >= least and leave_one_out_error(predictor, pairs) <= tolerance:
            break
    return predictor.recalibrated([(list(candidates[i]), ms) for i, ms in measured]), measured
