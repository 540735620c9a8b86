r"""CIFAR-10 from the official python archive.

:func:`load_cifar10` gives the 50,000 training and 10,000 test images of CIFAR-10 as a
:class:`CIFAR10` tuple of numpy arrays

.. math::
    x \in \{0, \dots, 255\}^{N \times 3 \times 32 \times 32}, \quad y \in \{0, \dots, 9\}^N

(images ``uint8`` channels first, labels ``int64``). The source is the official archive
``cifar-10-python.tar.gz`` (:data:`CIFAR10_URL`, md5 :data:`CIFAR10_MD5`): downloaded
into the cache when missing, its checksum verified, then extracted
(``cifar-10-batches-py/``: five training batches and one test batch, python pickles).

The batches are read with an unpickler that only builds numpy arrays, lists, dicts and
strings, so a tampered archive cannot run code.
"""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path
from typing import Any, NamedTuple, Optional, Union

import numpy as np

from .download import fetch, file_digest
from .mnist import cache_root

__all__ = [
    "CIFAR10",
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "CIFAR10_CLASSES",
    "download_cifar10",
    "extract_cifar10",
    "read_cifar10_batches",
    "load_cifar10",
]

PathLike = Union[str, os.PathLike]

CIFAR10_URL: str = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
r"""The official CIFAR-10 python archive."""

CIFAR10_MD5: str = "c58f30108f718f92721af3b95e74349a"
r"""The published md5 checksum of :data:`CIFAR10_URL`."""

CIFAR10_CLASSES: tuple = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
r"""The class names, in label order."""

_ARCHIVE = "cifar-10-python.tar.gz"
_FOLDER = "cifar-10-batches-py"
_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST = "test_batch"


class CIFAR10(NamedTuple):
    r"""CIFAR-10 as numpy arrays: images ``uint8`` ``(N, 3, 32, 32)``, labels ``int64`` in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class _ArrayUnpickler(pickle.Unpickler):
    r"""Unpickles numpy arrays and plain python data (dicts, lists, bytes, numbers), nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),          # how python 3 writes bytes in pickle protocol 2
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"a CIFAR-10 batch may only hold numpy arrays; it asks for {module}.{name}")
        return super().find_class(module, name)


def _check_md5(path: Path, md5: Optional[str]) -> None:
    if md5 is None:
        return
    if not isinstance(md5, str) or len(md5) != 32:
        raise ValueError(f"md5 must be 32 hex digits, got {md5!r}")
    found = file_digest(path, "md5")
    if found != md5.lower():
        raise ValueError(f"{path}: md5 is {found}, expected {md5}; the archive is damaged or not CIFAR-10's "
                         f"(delete it to download it again)")


def download_cifar10(root: Optional[PathLike] = None, *, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5,
                     timeout: float = 60.0) -> Path:
    r"""Download the CIFAR-10 python archive and verify its md5.

    The file is written to a temporary file and moved into place only when its checksum
    is right; an archive already there with the right checksum is kept.

    Args:
        root (path-like, optional): the directory; default ``cache_root() / "cifar10"``.
        url (str): where to fetch it (default :data:`CIFAR10_URL`).
        md5 (str): its md5 (default :data:`CIFAR10_MD5`).
        timeout (float): seconds to wait for the connection.

    Returns:
        the path of the archive.

    Raises:
        RuntimeError: if it could not be fetched with the right checksum.
    """
    root = Path(root) if root is not None else cache_root() / "cifar10"
    root.mkdir(parents=True, exist_ok=True)
    target = root / _ARCHIVE
    if target.is_file() and file_digest(target, "md5") == md5.lower():
        return target
    try:
        fetch(url, target, md5, timeout)
    except (OSError, ValueError) as e:
        raise RuntimeError(f"could not download CIFAR-10 from {url} with md5 {md5}: {e}\n"
                           f"Without internet, pass the path of a local {_ARCHIVE} (or of its extracted "
                           f"{_FOLDER} folder) to load_cifar10 instead.") from e
    return target


def extract_cifar10(archive: PathLike, root: Optional[PathLike] = None, *, md5: Optional[str] = CIFAR10_MD5) -> Path:
    r"""Verify the archive's md5, then extract its batches.

    Only the regular files under ``cifar-10-batches-py/`` are extracted (with
    :mod:`tarfile`'s ``data`` filter: no links, no paths leaving ``root``).

    Args:
        archive (path-like): ``cifar-10-python.tar.gz``.
        root (path-like, optional): where to extract; default ``cache_root() / "cifar10"``.
        md5 (str, optional): the expected md5 (default :data:`CIFAR10_MD5`); ``None`` skips the check.

    Returns:
        the extracted ``cifar-10-batches-py`` folder.

    Raises:
        FileNotFoundError: if the archive does not exist.
        ValueError: if the checksum is wrong or the archive lacks a batch.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"no CIFAR-10 archive at {archive}")
    _check_md5(archive, md5)
    root = Path(root) if root is not None else cache_root() / "cifar10"
    root.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and Path(m.name).parts[:1] == (_FOLDER,)]
            names = {Path(m.name).name for m in members}
            missing = [b for b in _TRAIN + (_TEST,) if b not in names]
            if missing:
                raise ValueError(f"{archive} lacks the batches {missing} under {_FOLDER}/")
            tar.extractall(root, members=members, filter="data")
    except tarfile.TarError as e:
        raise ValueError(f"{archive} is not a readable .tar.gz archive: {e}") from e
    return root / _FOLDER


def _read_batch(path: Path) -> tuple:
    with open(path, "rb") as f:
        try:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
            raise ValueError(f"{path} is not a CIFAR-10 batch: {e}") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path} is not a CIFAR-10 batch: expected a dict with b'data' and b'labels'")
    x, y = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: data must be uint8 of shape (N, 3072), got {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],) or (y.size and (y.min() < 0 or y.max() > 9)):
        raise ValueError(f"{path}: labels must be {x.shape[0]} integers in 0..9")
    return x.reshape(-1, 3, 32, 32), y.astype(np.int64)


def read_cifar10_batches(folder: PathLike) -> CIFAR10:
    r"""Read the extracted batches (``data_batch_1`` … ``data_batch_5``, ``test_batch``) of a folder.

    Raises:
        FileNotFoundError: if a batch is missing.
        ValueError: if a batch is not a CIFAR-10 pickle.
    """
    folder = Path(folder)
    missing = [b for b in _TRAIN + (_TEST,) if not (folder / b).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks the CIFAR-10 batches {missing}")
    train = [_read_batch(folder / b) for b in _TRAIN]
    x_test, y_test = _read_batch(folder / _TEST)
    return CIFAR10(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_test, y_test)


def load_cifar10(source: Optional[PathLike] = None, *, md5: Optional[str] = CIFAR10_MD5,
                 cache_dir: Optional[PathLike] = None) -> CIFAR10:
    r"""Load CIFAR-10 as numpy arrays.

    Args:
        source (str or path-like, optional): ``None`` or ``"download"``: the archive in the
            cache (:func:`~escnn_soft.experiments.datasets.cache_root` ``/ "cifar10"``), downloaded first
            if missing (:func:`download_cifar10`); a path to ``cifar-10-python.tar.gz``; or a
            path to an extracted ``cifar-10-batches-py`` folder (or to the folder holding it).
            An archive is verified, then extracted once into the cache, in a folder named
            after its md5.
        md5 (str, optional): the archive's expected md5 (default :data:`CIFAR10_MD5`);
            ``None`` skips the check of a local archive.
        cache_dir (path-like, optional): the cache directory.

    Returns:
        a :class:`CIFAR10` tuple ``(x_train, y_train, x_test, y_test)``.

    Raises:
        FileNotFoundError: if the path does not exist or lacks batches.
        ValueError: for a wrong checksum or an archive or batch that is not CIFAR-10's.
        RuntimeError: if a needed download fails.
    """
    root = cache_root(cache_dir) / "cifar10"
    if source is None or (isinstance(source, str) and source == "download"):
        archive = root / _ARCHIVE
        if not archive.is_file():
            archive = download_cifar10(root, md5=md5 or CIFAR10_MD5)
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            return read_cifar10_batches(path / _FOLDER if (path / _FOLDER).is_dir() else path)
        if not path.is_file():
            raise FileNotFoundError(f"CIFAR-10 source {str(source)!r} does not exist; pass {_ARCHIVE}, its "
                                    f"extracted {_FOLDER} folder, or None to download it")
        if not path.name.endswith((".tar.gz", ".tgz")):
            raise ValueError(f"{path}: expected {_ARCHIVE} or an extracted {_FOLDER} folder")
        archive = path
    _check_md5(archive, md5)
    # one extraction per archive content, so that different archives never mix in the cache
    folder = root / f"md5-{file_digest(archive, 'md5')}"
    if not (folder / _FOLDER / _TEST).is_file():
        extract_cifar10(archive, folder, md5=None)
    return read_cifar10_batches(folder / _FOLDER)
