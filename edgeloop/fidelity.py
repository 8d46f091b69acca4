"""How closely a model's outputs follow a reference model's, on the same inputs, without labels.

The reference is usually the float model and the other its converted (int8) file. Every
function takes two arrays of one output, ``(n_samples, …)``, reference first:

- :func:`snr_db`: output signal-to-noise ratio, ``10·log10(Σ ref² / Σ (ref − q)²)`` over
  every value (``inf`` when they are equal);
- :func:`cosine`: cosine similarity of the flattened outputs;
- :func:`top1_agreement` / :func:`changed`: how many samples keep their top-1 class;
- :func:`mean_abs_probability_delta`: mean |Δp| of the softmax probabilities (logits are
  turned into probabilities first, probabilities are used as they are).

They mean something for any model: classifiers, regressions, embeddings, detection heads,
autoencoders. :func:`compare` gathers them per output.
"""

from __future__ import annotations

import math

import numpy as np


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    """``10·log10(Σ reference² / Σ (reference − other)²)`` in dB; ``inf`` for equal arrays.

    A zero reference with a non-zero difference gives ``-inf``.
    """
    ref, q = _pair(reference, other)
    noise = float(np.sum((ref - q) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def cosine(reference: np.ndarray, other: np.ndarray) -> float:
    """Cosine similarity of the two outputs flattened (1.0 when both are all zeros)."""
    ref, q = _pair(reference, other)
    ref, q = ref.reshape(-1), q.reshape(-1)
    norms = float(np.linalg.norm(ref) * np.linalg.norm(q))
    if norms == 0.0:
        return 1.0 if not ref.any() and not q.any() else 0.0
    return float(np.dot(ref, q) / norms)


def changed(reference: np.ndarray, other: np.ndarray) -> int:
    """Samples whose top-1 class (argmax over the last axis; anywhere in the sample) differs."""
    ref, q = _pair(reference, other)
    differs = np.argmax(ref, axis=-1) != np.argmax(q, axis=-1)
    return int(differs.reshape(len(ref), -1).any(axis=1).sum())


def top1_agreement(reference: np.ndarray, other: np.ndarray) -> float:
    """Share of samples whose top-1 class is the same in both."""
    ref, _ = _pair(reference, other)
    return 1.0 - changed(reference, other) / len(ref) if len(ref) else 1.0


def probabilities(outputs: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, unless the rows already are probabilities (non-negative, sum 1)."""
    out = np.asarray(outputs, np.float64)
    if out.size and out.min() >= 0 and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3):
        return out
    shifted = out - out.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def mean_abs_probability_delta(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean |Δp| over samples and classes of the two outputs' probabilities."""
    ref, q = _pair(reference, other)
    return float(np.mean(np.abs(probabilities(ref) - probabilities(q))))


def is_class_scores(outputs: np.ndarray) -> bool:
    """The output is one score per class and sample (``(n, classes)``, two or more classes)."""
    return outputs.ndim == 2 and outputs.shape[1] > 1


def compare(reference: np.ndarray, other: np.ndarray, name: str = "output") -> dict:
    """Every metric of one output: ``snr_db``, ``cosine``, ``max_abs_diff`` and, for class
    scores, ``changed`` / ``n`` / ``top1_agreement`` / ``mean_abs_probability_delta``."""
    ref, q = _pair(reference, other)
    out = {"output": name, "n": int(len(ref)), "snr_db": snr_db(ref, q), "cosine": cosine(ref, q),
           "max_abs_diff": float(np.max(np.abs(ref - q))) if ref.size else 0.0}
    if is_class_scores(ref):
        k = changed(ref, q)
        out.update(changed=k, top1_agreement=1.0 - k / len(ref) if len(ref) else 1.0,
                   mean_abs_probability_delta=mean_abs_probability_delta(ref, q))
    return out


def describe(metrics: dict) -> str:
    """One line: ``SNR 31.2 dB, cosine 0.9996, 3 of 359 top-1 changed (99.16 % agree), mean |Δp| 0.0012``."""
    snr = metrics["snr_db"]
    parts = [f"SNR {'∞' if snr == math.inf else f'{snr:.1f}'} dB", f"cosine {metrics['cosine']:.4f}"]
    if "changed" in metrics:
        parts.append(f"{metrics['changed']} of {metrics['n']} top-1 changed ({metrics['top1_agreement']:.2%} agree)")
        parts.append(f"mean |Δp| {metrics['mean_abs_probability_delta']:.4f}")
    return ", ".join(parts)


def _pair(reference: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, np.float64)
    q = np.asarray(other, np.float64)
    if ref.shape != q.shape:
        raise ValueError(f"outputs of different shapes: {ref.shape} and {q.shape}")
    return ref, q
