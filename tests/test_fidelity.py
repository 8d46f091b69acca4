"""Fidelity metrics and gate statistics, each against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeloop import fidelity
from edgeloop.gates import (
    accuracy_drop_gate,
    paired_drop_interval,
    samples_to_resolve_drop,
    snr_gate,
    top1_changes_gate,
    wilson_interval,
)


def test_snr_and_cosine_by_hand():
    ref = np.array([[3.0, 4.0], [0.0, 0.0]])
    q = np.array([[3.0, 3.0], [0.0, 1.0]])
    # signal 9 + 16 = 25, noise 1 + 1 = 2: 10 log10(12.5)
    assert fidelity.snr_db(ref, q) == pytest.approx(10 * math.log10(12.5))
    # (9 + 12) / (5 * sqrt(19))
    assert fidelity.cosine(ref, q) == pytest.approx(21 / (5 * math.sqrt(19)))
    assert fidelity.snr_db(ref, ref) == math.inf and fidelity.cosine(ref, ref) == pytest.approx(1.0)


def test_top1_and_probabilities_by_hand():
    ref = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    q = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.0], [0.0, 6.0, 5.0]])
    assert fidelity.changed(ref, q) == 2 and fidelity.top1_agreement(ref, q) == 0.5
    p = np.exp(ref) / np.exp(ref).sum(axis=1, keepdims=True)
    pq = np.exp(q) / np.exp(q).sum(axis=1, keepdims=True)
    assert fidelity.mean_abs_probability_delta(ref, q) == pytest.approx(np.mean(np.abs(p - pq)))
    probs = np.array([[0.7, 0.3], [0.1, 0.9]])
    np.testing.assert_allclose(fidelity.probabilities(probs), probs)  # already probabilities: kept


def test_compare_a_non_classifier_has_no_top1():
    ref = np.random.default_rng(0).normal(size=(10, 4, 4, 1))
    m = fidelity.compare(ref, ref + 0.01)
    assert "changed" not in m and m["snr_db"] > 30 and m["cosine"] > 0.999


def test_wilson_interval_by_hand():
    # k = 2, n = 60, z = 1.959964: centre (p + z²/2n) / (1 + z²/n), half-width z sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)
    z, p, n = 1.959963984540054, 2 / 60, 60
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = wilson_interval(2, 60)
    assert low == pytest.approx(centre - half) and high == pytest.approx(centre + half)
    from scipy.stats import binomtest  # an independent implementation

    theirs = binomtest(2, 60).proportion_ci(confidence_level=0.95, method="wilson")
    assert low == pytest.approx(theirs.low) and high == pytest.approx(theirs.high)


def test_paired_interval_by_hand():
    # Agresti & Min's Wald+2 for 2 lost, 0 gained of 60: d = 2/62, sd = sqrt(3 - 4/62)/62
    low, high = paired_drop_interval(2, 0, 60)
    d, sd = 2 / 62, math.sqrt(3 - 4 / 62) / 62
    assert low == pytest.approx(d - 1.959963984540054 * sd) and high == pytest.approx(d + 1.959963984540054 * sd)
    assert low == pytest.approx(-0.02188, abs=1e-4) and high == pytest.approx(0.08640, abs=1e-4)


def test_sixty_samples_two_changed_is_unresolved_not_a_failure():
    gate = accuracy_drop_gate(lost=2, gained=0, n=60, changed=2, max_drop=1.0, converted=0.9, reference=0.9333)
    assert gate.verdict == "unresolved" and gate.passed
    assert "2 of 60 top-1 changed" in gate.detail and "60 samples are too few" in gate.detail
    assert f"about {samples_to_resolve_drop(0.01)} samples" in gate.detail and samples_to_resolve_drop(0.01) == 194


def test_the_gate_passes_and_fails_only_beyond_the_interval():
    assert accuracy_drop_gate(1, 1, 2000, 2, 1.0, 0.95, 0.95).verdict == "pass"
    failed = accuracy_drop_gate(80, 2, 1000, 82, 1.0, 0.87, 0.948)
    assert failed.verdict == "fail" and not failed.passed and failed.figures["interval_points"][0] > 1.0
    assert accuracy_drop_gate(80, 2, 1000, 82, None, 0.87, 0.948).verdict == "report"
    check = failed.to_check()
    assert check["gate"] and not check["passed"] and check["verdict"] == "fail"


def test_label_free_and_snr_gates():
    assert top1_changes_gate(0, 1000, 1.0).verdict == "pass"
    assert top1_changes_gate(100, 1000, 1.0).verdict == "fail"
    assert top1_changes_gate(1, 50, 1.0).verdict == "unresolved"
    assert snr_gate(25.0, 20.0).verdict == "pass" and snr_gate(15.0, 20.0).verdict == "fail"
    assert snr_gate(15.0, None).verdict == "report"
