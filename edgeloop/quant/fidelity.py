"""Output fidelity of a quantized model, as the quantization reports give it.

The figures are :mod:`edgeloop.fidelity`'s (one definition for the whole project):
top-1 agreement, mean |Δp| of the softmax probabilities, output SNR
``10 * log10(sum(ref**2) / sum((ref - q)**2))`` and cosine. This module adds the relative
RMSE the per-op report uses and gathers the four for one output.
"""

from __future__ import annotations

import numpy as np

from edgeloop.fidelity import cosine, mean_abs_probability_delta, snr_db, top1_agreement

__all__ = ["cosine", "output_fidelity", "relative_rmse", "snr_db"]


def relative_rmse(ref: np.ndarray, q: np.ndarray) -> float:
    """RMS of the error over the RMS of the reference (0 when identical)."""
    ref = np.asarray(ref, np.float64)
    rms = float(np.sqrt(np.mean(ref**2)))
    err = float(np.sqrt(np.mean((ref - np.asarray(q, np.float64)) ** 2)))
    return err / rms if rms else (0.0 if err == 0.0 else float("inf"))


def output_fidelity(ref: np.ndarray, q: np.ndarray) -> dict:
    """The four figures for outputs shaped ``(samples, …, classes)``.

    Returns:
        ``{"top1_agreement", "mean_abs_dprob", "snr_db", "cosine", "samples"}``.
    """
    ref = np.asarray(ref, np.float64)
    q = np.asarray(q, np.float64)
    if ref.shape != q.shape:
        raise ValueError(f"outputs differ in shape: {ref.shape} vs {q.shape}")
    return {
        "top1_agreement": top1_agreement(ref, q),
        "mean_abs_dprob": mean_abs_probability_delta(ref, q),
        "snr_db": snr_db(ref, q),
        "cosine": cosine(ref, q),
        "samples": int(ref.shape[0]) if ref.ndim else 1,
    }
