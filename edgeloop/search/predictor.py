"""A latency predictor fitted on a device's own measurements.

Latency is modelled as a non-negative combination of what a model asks of the device: a
fixed cost per inference, multiply-accumulates of each kind of layer (standard convolution,
depthwise convolution, fully connected: their speeds per MAC differ a lot), activation
elements written, and the number of layers (per-op dispatch). Non-negative least squares
keeps every coefficient a cost. The fit uses every measurement of the device the store holds,
so it improves as the device is used.

The search's ``predictor`` source now uses the kernel predictor of :mod:`edgeloop.latency`
(this linear model missed 10 % on most models of an architecture it was not fitted on);
this one stays as the baseline the ``latency_prediction`` benchmark compares with, and
:func:`model_features` as what the store keeps of every measured model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgeloop.errors import EdgeloopError

FEATURES = ("conv_macs", "depthwise_macs", "dense_macs", "activations", "layers")
# Scales keep the columns of similar size, so NNLS is well conditioned.
_SCALE = {"conv_macs": 1e6, "depthwise_macs": 1e6, "dense_macs": 1e6, "activations": 1e4, "layers": 10.0}
_KIND = {"Conv2D": "conv_macs", "Conv1D": "conv_macs", "Conv2DTranspose": "conv_macs", "SeparableConv2D": "conv_macs",
         "DepthwiseConv2D": "depthwise_macs", "Dense": "dense_macs"}


def model_features(model) -> dict[str, float]:
    """What the predictor sees of a Keras model (batch 1)."""
    from edgeloop.models.macs import layer_macs

    out = dict.fromkeys(FEATURES, 0.0)
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        kind = _KIND.get(type(layer).__name__)
        if kind:
            out[kind] += layer_macs(layer)
        shape = layer.output_shape
        if isinstance(shape, tuple):
            out["activations"] += float(np.prod([d for d in shape[1:] if d]))
        out["layers"] += 1
    return out


def _design(rows: Sequence[dict]) -> np.ndarray:
    return np.array([[1.0] + [r[k] / _SCALE[k] for k in FEATURES] for r in rows], dtype=np.float64)


@dataclass
class LatencyPredictor:
    """``latency_ms ≈ c0 + Σ c_k · feature_k`` with every ``c >= 0``.

    Attributes:
        coefficients: ``{"intercept": ms, feature: ms per scaled unit}``.
        samples: how many measurements it was fitted on.
        fit_error: median absolute relative error on those measurements.
    """

    coefficients: dict[str, float]
    samples: int
    fit_error: float

    @classmethod
    def fit(cls, features: Sequence[dict], latencies_ms: Sequence[float]) -> "LatencyPredictor":
        """Fit on measured models.

        Raises:
            EdgeloopError: fewer measurements than coefficients.
        """
        from scipy.optimize import nnls

        if len(features) != len(latencies_ms):
            raise ValueError("one latency per feature row")
        if len(features) < len(FEATURES) + 1:
            raise EdgeloopError(f"a latency predictor needs at least {len(FEATURES) + 1} measurements of the device, "
                                f"the store has {len(features)}")
        x = _design(features)
        y = np.asarray(latencies_ms, dtype=np.float64)
        # Relative error is what matters (a 10 % miss on a small model as on a big one): weight rows by 1/y.
        w = 1.0 / np.maximum(y, 1e-9)
        coef, _ = nnls(x * w[:, None], y * w)
        predicted = x @ coef
        error = float(np.median(np.abs(predicted - y) / y))
        return cls(dict(zip(("intercept", *FEATURES), map(float, coef))), len(y), error)

    def predict(self, features: dict) -> float:
        """Predicted latency in ms."""
        coef = np.array([self.coefficients["intercept"]] + [self.coefficients[k] for k in FEATURES])
        return float(_design([features])[0] @ coef)
