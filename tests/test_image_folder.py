"""Image folders: class names and ids, and every way a folder can be silently wrong as one line
naming the file or folder (the real command for the missing class folder)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.data import load_data
from edgeloop.errors import EdgeloopError
from helpers import run_cli


def write_png(path, pixels):
    from edgeloop._tf import tf

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(np.asarray(pixels, np.uint8)).numpy())


def make_folder(root, classes, per_class=4, shape=(6, 6, 1), seed=0):
    rng = np.random.default_rng(seed)
    for name in classes:
        for i in range(per_class):
            write_png(root / name / f"{i}.png", rng.integers(0, 256, shape))
    return root


def test_class_names_are_the_sorted_folders_or_classes_txt(tmp_path):
    d = load_data(make_folder(tmp_path, ["dog", "cat", "bird"]))
    assert d.class_names == ("bird", "cat", "dog") and d.classes == 3 and d.labeled
    assert d.split_info()["class_names"] == ["bird", "cat", "dog"]
    (tmp_path / "classes.txt").write_text("dog\ncat\nbird\n")
    assert load_data(tmp_path).class_names == ("dog", "cat", "bird")
    # classes.txt writes the ids out: a class without a folder shifts nothing, and is noted
    (tmp_path / "classes.txt").write_text("dog\ncow\ncat\nbird\n")
    d = load_data(tmp_path)
    assert d.classes == 4 and sorted(set(np.concatenate([d.y_train, d.y_val]))) == [0, 2, 3]
    assert any("1 of its 4 classes have no folder (cow)" in n for n in d.notes)


def test_raw_pixels_become_inputs_by_the_preprocess(tmp_path):
    pixels = np.arange(36, dtype=np.uint8).reshape(6, 6, 1) * 7
    for name in ("a", "b"):
        for i in range(3):
            write_png(tmp_path / name / f"{i}.png", pixels)
    d = load_data(tmp_path, preprocess={"range": [-1, 1]})
    np.testing.assert_allclose(d.x_val[0], pixels / 127.5 - 1, atol=1e-6)
    np.testing.assert_allclose(d.raw(d.x_val[:1])[0], pixels, atol=1e-4)
    assert load_data(tmp_path).x_val.max() <= 1.0  # without one: [0, 1], as always
    rgb = load_data(tmp_path, preprocess={"color": "rgb", "size": [3, 3], "range": [0, 1]})
    assert rgb.sample_shape == (3, 3, 3)


def test_images_of_one_size_take_the_models_size(tmp_path):
    d = load_data(make_folder(tmp_path, ["a", "b"]), model_size=(4, 4))
    assert d.sample_shape == (4, 4, 1) and any("resized to the model's 4x4" in n for n in d.notes)


def test_unlabelled_folder(tmp_path):
    for i in range(10):
        write_png(tmp_path / f"{i}.png", np.full((5, 5, 1), i))
    d = load_data(tmp_path)
    assert not d.labeled and d.classes is None and d.class_names is None and len(d.x_val) == 2


@pytest.mark.parametrize("case, fragment", [
    ("gap", "class folder {root}/2 is missing: the class folders are numbered"),
    ("extra", "folder {root}/zebra is not a class named in"),
    ("empty", "class folder {root}/cat holds no images"),
    ("corrupt", "cannot decode image {root}/dog/1.png"),
    ("mixed", "image {root}/dog/0.png is 7x5 but {root}/cat/0.png is 6x6: give preprocess size"),
    ("channels", "image {root}/dog/0.png has 3 channel(s) but {root}/cat/0.png has 1"),
    ("both", "holds both images"),
    ("nothing", "no images"),
])
def test_a_broken_folder_is_one_line_naming_the_file(tmp_path, case, fragment):
    root = tmp_path / "data"
    if case == "gap":
        make_folder(root, ["0", "1", "3"])
    else:
        make_folder(root, ["cat", "dog"] if case != "nothing" else [], per_class=2)
        (root / "cat").mkdir(parents=True, exist_ok=True)
    if case == "extra":
        (root / "classes.txt").write_text("cat\ndog\n")
        make_folder(root, ["zebra"])
    elif case == "empty":
        for f in (root / "cat").iterdir():
            f.unlink()
    elif case == "corrupt":
        (root / "dog" / "1.png").write_bytes(b"\x89PNG broken")
    elif case == "mixed":
        write_png(root / "dog" / "0.png", np.zeros((7, 5, 1)))
    elif case == "channels":
        write_png(root / "dog" / "0.png", np.zeros((6, 6, 3)))
    elif case == "both":
        write_png(root / "loose.png", np.zeros((6, 6, 1)))
    with pytest.raises(EdgeloopError) as err:
        load_data(root)
    assert fragment.format(root=root) in str(err.value)


def test_mixed_sizes_with_a_size_are_resized(tmp_path):
    make_folder(tmp_path, ["cat", "dog"])
    write_png(tmp_path / "dog" / "9.png", np.zeros((9, 4, 1)))
    assert load_data(tmp_path, preprocess={"size": [5, 5], "interpolation": "area"}).sample_shape == (5, 5, 1)


def test_a_missing_class_folder_stops_the_command(tmp_path):
    """A model with 4 outputs and class folders 0, 1, 3: every later id would shift by one."""
    from edgeloop.models import save_model
    from helpers import tiny_cnn

    save_model(tiny_cnn(input_shape=(6, 6, 1), classes=4), tmp_path / "m.keras")
    make_folder(tmp_path / "data", ["0", "1", "3"])
    proc = run_cli("convert", tmp_path / "m.keras", "--int8", "--data", tmp_path / "data", "-o", tmp_path / "m.tflite")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"edgeloop: error: class folder {tmp_path / 'data' / '2'} is missing: the class folders are numbered and "
        f"every later class id would shift by one (add the folder, or list the classes in {tmp_path / 'data' / 'classes.txt'})"]
    assert not (tmp_path / "m.tflite").exists()
