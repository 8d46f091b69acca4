"""Distillation: the loss against a hand computation, and the step on digits."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.pipeline import build_step
from edgeloop.pipeline.distill import distillation_loss


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("temperature, alpha", [(1.0, 0.5), (4.0, 0.1), (2.5, 1.0), (3.0, 0.0)])
def test_loss_matches_the_hand_computation(temperature, alpha):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=6)
    teacher = rng.normal(size=(6, 5)).astype(np.float32) * 3
    student = rng.normal(size=(6, 5)).astype(np.float32) * 3
    hard = -np.log(_softmax(student)[np.arange(6), labels])
    p_t, p_s = _softmax(teacher / temperature), _softmax(student / temperature)
    soft = (p_t * (np.log(p_t) - np.log(p_s))).sum(axis=1)
    expected = alpha * hard + (1 - alpha) * temperature**2 * soft
    y_true = np.concatenate([labels[:, None].astype(np.float32), teacher], axis=1)
    got = distillation_loss(temperature, alpha)(y_true, student).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # the same from a student that ends in a softmax
    got_prob = distillation_loss(temperature, alpha, student_probabilities=True)(y_true, _softmax(student)).numpy()
    np.testing.assert_allclose(got_prob, expected, rtol=1e-4, atol=1e-5)


def test_distill_a_smaller_student_from_the_baseline(make_tiny_cnn, ctx, tmp_path):
    from edgeloop.models import load_model, model_suffix, save_model

    teacher = build_step("train", {"epochs": 4, "learning_rate": 0.005}, "t").apply(make_tiny_cnn(), ctx)
    ctx.result = {}
    options = {"student": "zoo:digits_cnn?width=0.0625", "epochs": 4, "learning_rate": 0.01}
    student = build_step("distill", options, "t").apply(teacher, ctx)
    r = ctx.result
    assert r["student_params"] < r["teacher_params"] and student.count_params() == r["student_params"]
    assert r["val_accuracy"] > 0.8 and r["teacher_val_accuracy"] > 0.85
    path = save_model(student, tmp_path / f"s{model_suffix(student)}")
    x = ctx.data.x_val[:5]
    np.testing.assert_allclose(load_model(path).predict(x, verbose=0), student.predict(x, verbose=0), atol=1e-5)
