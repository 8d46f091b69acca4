"""Output fidelity figures on values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeloop.quant.fidelity import cosine, output_fidelity, relative_rmse, snr_db


def test_snr_is_signal_over_noise_in_db():
    ref = np.array([[3.0, 4.0]])
    assert snr_db(ref, ref + np.array([[0.3, 0.4]])) == pytest.approx(20.0)  # 25 / 0.25 = 100 -> 20 dB
    assert math.isinf(snr_db(ref, ref))
    assert relative_rmse(ref, ref * 1.1) == pytest.approx(0.1)


def test_agreement_dprob_and_cosine():
    ref = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    q = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    f = output_fidelity(ref, q)
    assert f["top1_agreement"] == 0.5
    assert f["samples"] == 2
    p = np.exp([2.0, 0.0, 0.0]) / np.exp([2.0, 0.0, 0.0]).sum()
    assert f["mean_abs_dprob"] == pytest.approx(np.mean(np.abs([0, 0, 0, 0, p[0] - p[1], p[1] - p[0]])))
    assert cosine(ref, q) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        output_fidelity(ref, q[:1])
