"""The latency benchmark's probe-gated reading of a pass (``benchmarks.latency_prediction``):
which runs it keeps and what it reads, on made-up run times (no timing)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.latency_prediction import MIN_GATED_RUNS, QUANTILE, _gated_latency, reference

FAST, SLOW = 1.0, 1.45  # the two speeds of a shared host, as factors


def test_a_run_counts_only_between_two_fast_probe_runs():
    probe = [0.04, 0.04, 0.04 * 1.5, 0.04, 0.04]
    model = [0.30, 0.45, 0.44, 0.31]
    # Gated: run 0 (probes 0, 1 fast) and run 3 (probes 3, 4 fast); runs 1 and 2 touch the slow probe.
    kept = [0.30, 0.31] * MIN_GATED_RUNS
    probe_long = probe + [0.04] * (len(kept) - 2)
    latency, count = _gated_latency(model + kept[2:], probe_long, 0.04)
    assert count == len(kept)
    assert latency == pytest.approx(float(np.median(kept)))


def test_a_mostly_slow_pass_reads_the_fast_speed_where_the_tenth_percentile_reads_slow():
    rng = np.random.default_rng(0)
    # 40 spells of 30 runs, two of them fast (5 % of the runs): the 10th percentile of all runs
    # falls in the slow cluster; the gate keeps the fast spells' runs.
    state = np.repeat(~np.isin(np.arange(40), [5, 25]), 30)
    speed = np.where(state, SLOW, FAST) * rng.uniform(1.0, 1.03, state.size)
    model = 0.33 * speed
    probe = 0.04 * np.r_[speed, speed[-1]]
    latency, count = _gated_latency(model, probe, 0.04)
    assert count >= MIN_GATED_RUNS
    assert latency == pytest.approx(0.33 * 1.015, rel=0.02)
    assert np.percentile(model, QUANTILE) > 0.33 * 1.2


def test_a_pass_slow_throughout_reads_its_plain_tenth_percentile():
    model = np.linspace(0.30, 0.50, 100) * SLOW
    probe = np.full(101, 0.04 * SLOW)  # every probe run in the slow state: nothing passes the gate
    latency, count = _gated_latency(model, probe, 0.04)
    assert count == 0
    assert latency == pytest.approx(float(np.percentile(model, QUANTILE)))


def test_a_models_latency_is_its_fastest_gated_pass_and_a_plain_reading_only_without_one():
    enough, few = MIN_GATED_RUNS, MIN_GATED_RUNS - 1
    # The second pass fell back to a plain 10th percentile lower than the gated readings: not read.
    m = {"medians": {1: [0.34, 0.29, 0.33]}, "gated": {1: [enough, few, enough + 5]}}
    assert reference(m, 1) == pytest.approx(0.33)
    m["gated"][1] = [few, few, few]
    assert reference(m, 1) == pytest.approx(0.29)
    assert reference({"medians": {2: [0.21, 0.2]}}, 2) == pytest.approx(0.2)  # ungated device: the fastest pass


def test_probe_runs_must_surround_the_model_runs():
    with pytest.raises(ValueError, match="probe runs"):
        _gated_latency([0.3, 0.3], [0.04, 0.04], 0.04)
