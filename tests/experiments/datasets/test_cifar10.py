import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from escnn_soft.experiments.datasets.cifar10 import (
    CIFAR10_MD5,
    CIFAR10_URL,
    download_cifar10,
    extract_cifar10,
    load_cifar10,
    read_cifar10_batches,
)

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _batch(k, n=4):
    rng = np.random.default_rng(k)
    return {b"batch_label": f"batch {k}".encode(), b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{k}_{i}.png".encode() for i in range(n)]}


def _tar(path, batches, extra=()):
    with tarfile.open(path, "w:gz") as tar:
        for name, content in list(batches.items()) + list(extra):
            blob = content if isinstance(content, bytes) else pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path, hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path):
    batches = {name: _batch(k) for k, name in enumerate(BATCHES)}
    path, md5 = _tar(tmp_path / "cifar-10-python.tar.gz", batches, extra=[("batches.meta", {b"label_names": []})])
    return path, md5, batches


def test_archive_with_its_md5(archive, tmp_path):
    path, md5, batches = archive
    data = load_cifar10(path, md5=md5, cache_dir=tmp_path / "cache")
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    first = batches["data_batch_1"]
    np.testing.assert_array_equal(data.x_train[:4], first[b"data"].reshape(4, 3, 32, 32))
    np.testing.assert_array_equal(data.x_train[0, 1].ravel(), first[b"data"][0, 1024:2048])   # channel-major rows
    np.testing.assert_array_equal(data.y_train[:4], first[b"labels"])
    np.testing.assert_array_equal(data.y_test, batches["test_batch"][b"labels"])
    # extracted once into the cache, in a folder named after the md5; read again from there
    folder = tmp_path / "cache" / "cifar10" / f"md5-{md5}" / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(BATCHES + ["batches.meta"])
    again = load_cifar10(path, md5=md5, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.x_test, data.x_test)
    # the extracted folder itself, or its parent, is a source too
    np.testing.assert_array_equal(load_cifar10(folder).x_train, data.x_train)
    np.testing.assert_array_equal(load_cifar10(folder.parent).y_train, data.y_train)


def test_bad_checksum(archive, tmp_path):
    path, _, _ = archive
    with pytest.raises(ValueError, match=r"md5 is [0-9a-f]{32}, expected 0{32}"):
        load_cifar10(path, md5="0" * 32, cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match="expected c58f30108f718f92721af3b95e74349a"):
        load_cifar10(path, cache_dir=tmp_path / "cache")          # the official md5 by default
    assert not (tmp_path / "cache" / "cifar10").exists() or not any((tmp_path / "cache" / "cifar10").iterdir())
    with pytest.raises(ValueError, match="32 hex digits"):
        load_cifar10(path, md5="abc", cache_dir=tmp_path / "cache")
    assert load_cifar10(path, md5=None, cache_dir=tmp_path / "cache").x_train.shape[0] == 20   # check skipped


def test_download_from_a_url(archive, tmp_path):
    path, md5, _ = archive
    url = path.resolve().as_uri()                                 # file://: no network needed
    target = download_cifar10(tmp_path / "dl", url=url, md5=md5)
    assert target.name == "cifar-10-python.tar.gz" and target.read_bytes() == path.read_bytes()
    assert download_cifar10(tmp_path / "dl", url="file:///nowhere", md5=md5) == target   # kept: right checksum
    with pytest.raises(RuntimeError, match="could not download CIFAR-10"):
        download_cifar10(tmp_path / "bad", url=url, md5="f" * 32)
    assert not any(p.name.endswith(".part") for p in (tmp_path / "bad").iterdir())
    assert not (tmp_path / "bad" / "cifar-10-python.tar.gz").exists()
    with pytest.raises(RuntimeError, match="could not download"):
        download_cifar10(tmp_path / "bad", url=(tmp_path / "missing.tar.gz").as_uri(), md5=md5)
    assert CIFAR10_URL.endswith("cifar-10-python.tar.gz") and CIFAR10_MD5 == "c58f30108f718f92721af3b95e74349a"


def test_default_source_uses_the_cache(archive, tmp_path):
    path, md5, _ = archive
    (tmp_path / "cache" / "cifar10").mkdir(parents=True)
    os.replace(path, tmp_path / "cache" / "cifar10" / "cifar-10-python.tar.gz")
    data = load_cifar10(None, md5=md5, cache_dir=tmp_path / "cache")
    assert data.x_train.shape == (20, 3, 32, 32)


def test_broken_archives(tmp_path):
    batches = {name: _batch(k) for k, name in enumerate(BATCHES[:-1])}
    path, md5 = _tar(tmp_path / "a.tar.gz", batches)
    with pytest.raises(ValueError, match=r"lacks the batches \['test_batch'\]"):
        extract_cifar10(path, tmp_path / "out", md5=md5)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    batches = {name: _batch(k) for k, name in enumerate(BATCHES)}
    batches["test_batch"] = {b"data": Evil(), b"labels": []}
    path, md5 = _tar(tmp_path / "b.tar.gz", batches)
    with pytest.raises(ValueError, match="may only hold numpy arrays"):
        load_cifar10(path, md5=md5, cache_dir=tmp_path / "cache")

    batches = {name: _batch(k) for k, name in enumerate(BATCHES)}
    batches["data_batch_3"] = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    path, md5 = _tar(tmp_path / "c.tar.gz", batches)
    with pytest.raises(ValueError, match=r"\(N, 3072\)"):
        load_cifar10(path, md5=md5, cache_dir=tmp_path / "cache")

    (tmp_path / "d.tar.gz").write_bytes(b"not a tar file")
    with pytest.raises(ValueError, match="not a readable"):
        extract_cifar10(tmp_path / "d.tar.gz", tmp_path / "out", md5=None)


def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere.tar.gz")
    (tmp_path / "data.zip").write_bytes(b"")
    with pytest.raises(ValueError, match="expected cifar-10-python.tar.gz"):
        load_cifar10(tmp_path / "data.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="lacks the CIFAR-10 batches"):
        read_cifar10_batches(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 archive"):
        extract_cifar10(tmp_path / "missing.tar.gz")
