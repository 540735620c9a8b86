import hashlib
import importlib.util
import sys
import types

import numpy as np
import pytest

from escnn_soft.experiments.datasets import medmnist as mm
from escnn_soft.experiments.datasets.medmnist import (
    MEDMNIST3D_LABELS,
    MEDMNIST3D_MD5,
    download_medmnist3d,
    load_medmnist3d,
    medmnist3d_path,
)

SIZES = {"train": 5, "val": 2, "test": 3}


def _write(folder, flag, n_classes, sizes=SIZES, **override):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in sizes.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(n, 28, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, n_classes, size=(n, 1)).astype(np.uint8)
    arrays.update(override)
    path = folder / f"{flag}.npz"
    np.savez_compressed(path, **arrays)
    return path, arrays


def test_loads_shapes_labels_and_splits(tmp_path):
    _, arrays = _write(tmp_path, "organmnist3d", 11)
    data = load_medmnist3d("organmnist3d", tmp_path)
    assert data.flag == "organmnist3d" and data.n_classes == 11 and data.labels == MEDMNIST3D_LABELS["organmnist3d"]
    for split, n in SIZES.items():
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        assert x.shape == (n, 28, 28, 28) and x.dtype == np.uint8
        assert y.shape == (n,) and y.dtype == np.int64
        np.testing.assert_array_equal(x, arrays[f"{split}_images"])
        np.testing.assert_array_equal(y, arrays[f"{split}_labels"][:, 0])


def test_shipped_default():
    path = medmnist3d_path("adrenalmnist3d")
    assert path.parent.name == "data" and path.is_file()
    data = load_medmnist3d()
    assert data.flag == "adrenalmnist3d" and data.n_classes == 2 and data.labels == ("normal", "hyperplasia")
    assert [len(getattr(data, f"x_{s}")) for s in ("train", "val", "test")] == [1188, 98, 298]
    assert [len(getattr(data, f"y_{s}")) for s in ("train", "val", "test")] == [1188, 98, 298]
    assert data.x_train.shape[1:] == (28, 28, 28) and data.x_train.dtype == np.uint8
    assert set(np.unique(np.concatenate([data.y_train, data.y_val, data.y_test]))) == {0, 1}


def test_md5_mismatch_names_the_file(tmp_path):
    path, _ = _write(tmp_path, "adrenalmnist3d", 2)
    with pytest.raises(ValueError, match="md5") as e:
        load_medmnist3d("adrenalmnist3d", tmp_path)
    assert str(path) in str(e.value) and MEDMNIST3D_MD5["adrenalmnist3d"] in str(e.value)
    assert load_medmnist3d("adrenalmnist3d", tmp_path, check_md5=False).x_train.shape == (5, 28, 28, 28)


def test_missing_file_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_medmnist3d("nodulemnist3d", tmp_path)
    message = str(e.value)
    assert "nodulemnist3d.npz" in message and str(tmp_path) in message
    assert "pip install medmnist" in message and "medmnist.INFO['nodulemnist3d']['url']" in message


def test_bad_flag_lists_valid_flags(tmp_path):
    with pytest.raises(ValueError) as e:
        load_medmnist3d("organmnist", tmp_path)
    assert all(flag in str(e.value) for flag in MEDMNIST3D_LABELS)


@pytest.mark.parametrize("override, match", [
    ({"val_images": np.zeros((2, 28, 28), np.uint8)}, "val_images must be uint8 of shape"),
    ({"test_images": np.zeros((3, 28, 28, 28), np.float32)}, "test_images must be uint8"),
    ({"train_labels": np.zeros((4, 1), np.uint8)}, "train_labels must have shape"),
    ({"train_labels": np.full((5, 1), 3, np.uint8)}, r"integers in 0\.\.2"),
    ({"val_labels": np.zeros((2, 1), np.float32)}, "val_labels must be integers"),
])
def test_rejects_bad_contents(tmp_path, override, match):
    path, _ = _write(tmp_path, "fracturemnist3d", 3, **override)
    with pytest.raises(ValueError, match=match) as e:
        load_medmnist3d("fracturemnist3d", tmp_path)
    assert str(path) in str(e.value)


def test_rejects_missing_keys(tmp_path):
    np.savez(tmp_path / "vesselmnist3d.npz", train_images=np.zeros((1, 28, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="lacks the keys"):
        load_medmnist3d("vesselmnist3d", tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("medmnist") is not None, reason="medmnist is installed")
def test_download_without_medmnist_says_what_to_install(tmp_path):
    with pytest.raises(ModuleNotFoundError, match=r"pip install escnn_soft\[medmnist\]"):
        load_medmnist3d("synapsemnist3d", tmp_path, download=True)


def test_download_through_medmnist_info(tmp_path, monkeypatch):
    source = tmp_path / "source"
    source.mkdir()
    path, arrays = _write(source, "synapsemnist3d", 2)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    fake = types.ModuleType("medmnist")
    fake.INFO = {"synapsemnist3d": {"url": path.as_uri(), "MD5": md5}}
    monkeypatch.setitem(sys.modules, "medmnist", fake)
    root = tmp_path / "root"
    data = load_medmnist3d("synapsemnist3d", root, download=True)
    assert (root / "synapsemnist3d.npz").is_file()
    np.testing.assert_array_equal(data.x_test, arrays["test_images"])

    fake.INFO["synapsemnist3d"]["MD5"] = "0" * 32
    (root / "synapsemnist3d.npz").unlink()
    with pytest.raises(RuntimeError, match="md5"):
        download_medmnist3d("synapsemnist3d", root)
    assert not (root / "synapsemnist3d.npz").exists()


def test_exported_from_package():
    from escnn_soft.experiments import datasets

    assert all(hasattr(datasets, name) for name in mm.__all__)


def test_fixture_files_load_as_the_official_ones(tmp_path):
    from escnn_soft.experiments.datasets import write_medmnist3d_fixture

    path = write_medmnist3d_fixture(tmp_path / "new", "organmnist3d", (13, 2, 3), seed=1)
    assert path == tmp_path / "new" / "organmnist3d.npz"
    data = load_medmnist3d("organmnist3d", tmp_path / "new")
    assert [len(data.y_train), len(data.y_val), len(data.y_test)] == [13, 2, 3]
    assert data.y_train.tolist() == [*range(11), 0, 1] and data.x_train.dtype == np.uint8
    again = write_medmnist3d_fixture(tmp_path / "again", "organmnist3d", (13, 2, 3), seed=1)
    with np.load(path) as a, np.load(again) as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    with pytest.raises(ValueError, match="three positive integers"):
        write_medmnist3d_fixture(tmp_path, "organmnist3d", (4, 0, 2))
    with pytest.raises(ValueError, match="valid flags"):
        write_medmnist3d_fixture(tmp_path, "organ", (4, 2, 2))
