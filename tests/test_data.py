"""Data sources, the seeded split, and the shape / label checks."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.data import check_compatible, load_data
from edgeloop.errors import EdgeloopError


def test_digits_split_is_fixed_by_the_seed():
    a = load_data("digits", seed=3)
    b = load_data("digits", seed=3)
    c = load_data("digits", seed=4)
    assert a.sample_shape == (8, 8, 1) and a.classes == 10
    assert len(a.y_train) + len(a.y_val) == 1797 and len(a.y_val) == 359
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert a.split_info() == b.split_info()
    assert a.split_info()["val_labels_sha256"] != c.split_info()["val_labels_sha256"]
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0


def test_npz(tmp_path):
    x = np.random.default_rng(0).random((50, 4, 4, 3)).astype("float32")
    y = np.arange(50) % 5
    np.savez(tmp_path / "d.npz", x=x, y=y)
    d = load_data(tmp_path / "d.npz", val_fraction=0.2)
    assert d.classes == 5 and d.sample_shape == (4, 4, 3) and len(d.y_val) == 10


def test_one_hot_labels_become_class_ids(tmp_path):
    y = np.eye(3)[np.arange(30) % 3]
    np.savez(tmp_path / "d.npz", x=np.zeros((30, 2)), y=y)
    assert load_data(tmp_path / "d.npz").classes == 3


def test_image_folder(tmp_path):
    from edgeloop._tf import tf

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(5):
            img = rng.integers(0, 255, (6, 7, 3), dtype=np.uint8)
            (tmp_path / label / f"{i}.png").write_bytes(tf.io.encode_png(img).numpy())
    d = load_data(tmp_path, image_size=(4, 4))
    assert d.classes == 2 and d.sample_shape == (4, 4, 3)
    assert sorted(np.concatenate([d.y_train, d.y_val]).tolist()) == [0] * 5 + [1] * 5


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        ({"x": np.zeros((4, 2))}, "missing array"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(3)}, "4 samples but 3 labels"),
        ({"x": np.zeros((4, 2)), "y": np.array([0, 1, -1, 0])}, ">= 0"),
        ({"x": np.zeros((4, 2)), "y": np.array([0.5, 1, 1, 0])}, "integer class ids"),
    ],
)
def test_bad_npz_is_one_clear_error(tmp_path, arrays, fragment):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(EdgeloopError, match=fragment):
        load_data(tmp_path / "d.npz")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(EdgeloopError, match="data not found"):
        load_data(tmp_path / "nope.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(EdgeloopError, match="cannot read"):
        load_data(tmp_path / "bad.npz")


def test_check_compatible(digits):
    check_compatible(digits, (None, 8, 8, 1), 10)
    with pytest.raises(EdgeloopError, match=r"shape \(8, 8, 1\) but the model takes \(28, 28, 1\)"):
        check_compatible(digits, (None, 28, 28, 1), 10)
    with pytest.raises(EdgeloopError, match="labels up to 9 but the model has only 5 outputs"):
        check_compatible(digits, (None, 8, 8, 1), 5)
