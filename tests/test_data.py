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
    assert a.labeled and a.split_info()["preprocess"] == {"range": [0.0, 1.0]}


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
        ({"y": np.zeros(4)}, "missing array x"),
        ({"x": np.zeros((0, 8, 8, 1)), "y": np.zeros(0)}, r"x is empty \(shape \(0, 8, 8, 1\)\)"),
        ({"x": np.zeros(4), "y": np.zeros(4)}, "at least 2 dimensions"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(0)}, "y is empty"),
        ({"x": np.zeros((4, 2)), "y": np.array([0, 1, 2**31, 0])}, r"label 2147483648 at y\[2\] is not a class id"),
        ({"x": np.zeros((4, 2)), "y": np.array([0, 1, np.nan, 0])}, r"y\[2\] is nan"),
        ({"x": np.array(["a", "b", "c", "d"])[:, None], "y": np.zeros(4)}, "numeric array"),
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


@pytest.mark.parametrize("bad, where", [(np.nan, "[5, 1, 2, 0] is nan"), (np.inf, "[5, 1, 2, 0] is inf"),
                                        (-np.inf, "[5, 1, 2, 0] is -inf")])
def test_non_finite_samples_are_named_by_index(tmp_path, bad, where):
    x = np.zeros((20, 4, 4, 1), "float32")
    x[5, 1, 2, 0] = bad
    x[9, 0, 0, 0] = bad
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(20) % 2)
    with pytest.raises(EdgeloopError, match=r"x\[5, 1, 2, 0\] is -?(nan|inf) \(2 non-finite value\(s\) in x\)") as err:
        load_data(tmp_path / "d.npz")
    assert where in str(err.value)


def test_npz_without_labels_is_label_free(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).random((30, 4, 4, 1)))
    d = load_data(tmp_path / "d.npz")
    assert not d.labeled and d.y_train is None and d.y_val is None and d.classes is None
    assert d.split_info()["labeled"] is False and len(d.x_val) == 6


def test_npz_class_names_from_classes_txt(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 2)), y=np.eye(3)[np.arange(20) % 3])
    (tmp_path / "classes.txt").write_text("cat\ndog\n# a comment\nbird\n")
    d = load_data(tmp_path / "d.npz")
    assert d.class_names == ("cat", "dog", "bird") and d.classes == 3
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    with pytest.raises(EdgeloopError, match="labels go up to 2 but 2 class names are given"):
        load_data(tmp_path / "d.npz")


def test_npz_with_preprocess_takes_raw_pixels(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 4, 4, 3)).astype("uint8")
    np.savez(tmp_path / "d.npz", x=pixels, y=np.arange(20) % 2)
    d = load_data(tmp_path / "d.npz", preprocess="resnet50")
    both = np.concatenate([d.x_train, d.x_val])
    order = np.random.default_rng(0).permutation(20)
    want = pixels[order][..., ::-1] - np.array([103.939, 116.779, 123.68])  # tf_keras' "caffe", by hand
    np.testing.assert_allclose(np.concatenate([d.x_val, d.x_train]), want, atol=1e-4)
    np.testing.assert_allclose(d.raw(d.x_val), pixels[order[:4]], atol=1e-3)  # back to RGB camera pixels
    assert both.dtype == np.float32
