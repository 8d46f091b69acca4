"""How closely a quantized model's outputs follow the float model's, on the same inputs.

The four figures every quantization report in edgeloop gives:

- ``top1_agreement``: share of samples whose arg-max class is the same in both;
- ``mean_abs_dprob``: mean over samples and classes of |softmax(ref) - softmax(q)|;
- ``snr_db``: output signal-to-noise ratio, ``10 * log10(sum(ref**2) / sum((ref - q)**2))``
  (``inf`` when the outputs are equal);
- ``cosine``: cosine similarity of the flattened outputs.

Pure numpy: the device side may use it.
"""

from __future__ import annotations

import numpy as np


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def snr_db(ref: np.ndarray, q: np.ndarray) -> float:
    """Signal-to-noise ratio of ``q`` against ``ref`` in dB (``inf`` when identical)."""
    ref = np.asarray(ref, np.float64)
    noise = float(np.sum((ref - np.asarray(q, np.float64)) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return float("inf")
    if signal == 0.0:
        return float("-inf")
    return 10.0 * float(np.log10(signal / noise))


def relative_rmse(ref: np.ndarray, q: np.ndarray) -> float:
    """RMS of the error over the RMS of the reference (0 when identical)."""
    ref = np.asarray(ref, np.float64)
    rms = float(np.sqrt(np.mean(ref**2)))
    err = float(np.sqrt(np.mean((ref - np.asarray(q, np.float64)) ** 2)))
    return err / rms if rms else (0.0 if err == 0.0 else float("inf"))


def cosine(ref: np.ndarray, q: np.ndarray) -> float:
    """Cosine similarity of the two outputs, flattened (1 when they point the same way)."""
    a = np.asarray(ref, np.float64).ravel()
    b = np.asarray(q, np.float64).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(a @ b / (na * nb))


def output_fidelity(ref: np.ndarray, q: np.ndarray, logits: bool = True) -> dict:
    """All four figures for outputs shaped ``(samples, …, classes)``.

    Args:
        ref: the float model's outputs.
        q: the quantized model's outputs on the same samples.
        logits: the outputs are logits (softmax is applied for ``mean_abs_dprob``);
            ``False`` when they already are probabilities.

    Returns:
        ``{"top1_agreement", "mean_abs_dprob", "snr_db", "cosine", "samples"}``.
    """
    ref = np.asarray(ref, np.float64)
    q = np.asarray(q, np.float64)
    if ref.shape != q.shape:
        raise ValueError(f"outputs differ in shape: {ref.shape} vs {q.shape}")
    pr, pq = (_softmax(ref), _softmax(q)) if logits else (ref, q)
    return {
        "top1_agreement": float(np.mean(np.argmax(ref, axis=-1) == np.argmax(q, axis=-1))),
        "mean_abs_dprob": float(np.mean(np.abs(pr - pq))),
        "snr_db": snr_db(ref, q),
        "cosine": cosine(ref, q),
        "samples": int(ref.shape[0]) if ref.ndim else 1,
    }
