r"""The 3D datasets of MedMNIST v2 from their standard ``.npz`` files.

:func:`load_medmnist3d` reads ``{root}/{flag}.npz`` for one of the six 3D flags of
MedMNIST v2 (Yang et al., *Scientific Data* 10:41, 2023), listed in
:data:`MEDMNIST3D_LABELS`. The file is the one the ``medmnist`` package downloads, with
the keys ``train_images``, ``train_labels``, ``val_images``, ``val_labels``,
``test_images``, ``test_labels``; it gives a :class:`MedMNIST3D` tuple of numpy arrays

.. math::
    x \in \{0, \dots, 255\}^{N \times 28 \times 28 \times 28}, \quad
    y \in \{0, \dots, C - 1\}^{N}

(volumes ``uint8``, labels ``int64``, :math:`C` the number of classes) for each of the
training, validation and test splits.

* The offline default: the official AdrenalMNIST3D file (277 KB, CC BY 4.0) ships with the
  package (``escnn_soft/experiments/datasets/data/``, attribution in its ``README.md``), so
  ``load_medmnist3d("adrenalmnist3d")`` needs neither network nor a data folder.
* Any other file: pass the folder holding it as ``root``. Without ``root`` the folder is
  ``cache_root() / "medmnist"`` (see :func:`~escnn_soft.experiments.datasets.mnist.cache_root`).
* ``download=True`` fetches a missing file through the ``medmnist`` package
  (``pip install escnn_soft[medmnist]``), whose ``INFO[flag]`` gives its url and md5
  (:func:`download_medmnist3d`).

A file whose official md5 is in :data:`MEDMNIST3D_MD5` is checked against it on every load.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from .download import fetch, file_digest, read_npz
from .mnist import cache_root

__all__ = [
    "MEDMNIST3D_LABELS",
    "MEDMNIST3D_MD5",
    "MedMNIST3D",
    "download_medmnist3d",
    "load_medmnist3d",
    "medmnist3d_path",
    "write_medmnist3d_fixture",
]

PathLike = Union[str, os.PathLike]

MEDMNIST3D_LABELS: Dict[str, Tuple[str, ...]] = {
    "organmnist3d": ("liver", "kidney-right", "kidney-left", "femur-right", "femur-left", "bladder", "heart",
                     "lung-right", "lung-left", "spleen", "pancreas"),
    "nodulemnist3d": ("benign", "malignant"),
    "adrenalmnist3d": ("normal", "hyperplasia"),
    "fracturemnist3d": ("buckle rib fracture", "nondisplaced rib fracture", "displaced rib fracture"),
    "vesselmnist3d": ("vessel", "aneurysm"),
    "synapsemnist3d": ("inhibitory synapse", "excitatory synapse"),
}
r"""The 3D flags of MedMNIST v2 and their class names in label order (as in ``medmnist.INFO[flag]['label']``)."""

MEDMNIST3D_MD5: Dict[str, str] = {
    "adrenalmnist3d": "bbd3c5a5576322bc4cdfea780653b1ce",
}
r"""Official md5 of ``{flag}.npz``, for the flags where it is known for certain. The others
changed between MedMNIST releases; their download is checked against ``medmnist.INFO``."""

_SHIPPED = Path(__file__).resolve().parent / "data"
_SPLITS = ("train", "val", "test")
_SIDE = 28


class MedMNIST3D(NamedTuple):
    r"""One MedMNIST 3D dataset: volumes ``uint8`` ``(N, 28, 28, 28)``, labels ``int64`` ``(N,)`` in
    ``0..n_classes - 1``, for the training, validation and test splits."""

    flag: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    labels: Tuple[str, ...]


def _check_flag(flag: str) -> None:
    if flag not in MEDMNIST3D_LABELS:
        raise ValueError(f"unknown MedMNIST 3D flag {flag!r}; valid flags: {', '.join(MEDMNIST3D_LABELS)}")


def medmnist3d_path(flag: str, root: Optional[PathLike] = None) -> Path:
    r"""Where :func:`load_medmnist3d` looks for ``{flag}.npz``.

    Args:
        flag (str): a key of :data:`MEDMNIST3D_LABELS`.
        root (path-like, optional): the folder. Without it, the shipped data folder for a
            flag that ships (AdrenalMNIST3D), else ``cache_root() / "medmnist"``.

    Returns:
        the path (which may not exist).
    """
    _check_flag(flag)
    if root is not None:
        return Path(root).expanduser() / f"{flag}.npz"
    shipped = _SHIPPED / f"{flag}.npz"
    return shipped if shipped.is_file() else cache_root() / "medmnist" / f"{flag}.npz"


def _how_to_get(flag: str, folder: Path) -> str:
    return (f"get it with `pip install medmnist` and download medmnist.INFO['{flag}']['url'] into {folder}, "
            f"or pass download=True (needs `pip install escnn_soft[medmnist]`)")


def download_medmnist3d(flag: str, root: Optional[PathLike] = None, *, timeout: float = 60.0) -> Path:
    r"""Download the official ``{flag}.npz`` with the url and md5 of ``medmnist.INFO[flag]``.

    The file is written to a temporary file and moved into place only once its md5 is right;
    a file already there with the right md5 is kept.

    Args:
        flag (str): a key of :data:`MEDMNIST3D_LABELS`.
        root (path-like, optional): the folder; default ``cache_root() / "medmnist"``.
        timeout (float): seconds to wait for the connection.

    Returns:
        the path of the file.

    Raises:
        ModuleNotFoundError: if the ``medmnist`` package is not installed.
        RuntimeError: if the download fails or its md5 is wrong.
    """
    _check_flag(flag)
    try:
        import medmnist
    except ImportError as e:
        raise ModuleNotFoundError(
            f"downloading {flag}.npz needs the medmnist package: pip install escnn_soft[medmnist]"
        ) from e
    info = medmnist.INFO[flag]
    url, md5 = info["url"], info["MD5"]
    folder = Path(root).expanduser() if root is not None else cache_root() / "medmnist"
    target = folder / f"{flag}.npz"
    if target.is_file() and file_digest(target, "md5") == md5:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fetch(url, target, md5, timeout)
    except (OSError, ValueError) as e:
        raise RuntimeError(f"could not download {flag}.npz from {url} with md5 {md5}: {e}\n"
                           f"Without internet, put {flag}.npz in {folder} by hand.") from e
    return target


def _read(path: Path, flag: str) -> MedMNIST3D:
    labels = MEDMNIST3D_LABELS[flag]
    n_classes = len(labels)
    keys = [f"{s}_{kind}" for s in _SPLITS for kind in ("images", "labels")]
    f = read_npz(path, f"the official {flag}.npz")
    missing = [k for k in keys if k not in f]
    if missing:
        raise ValueError(f"{path} lacks the keys {missing} (it has {sorted(f)}); "
                         f"a MedMNIST npz has {', '.join(keys)}")
    out = {}
    for s in _SPLITS:
        x, y = f[f"{s}_images"], f[f"{s}_labels"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (_SIDE,) * 3:
            raise ValueError(f"{path}: {s}_images must be uint8 of shape (N, 28, 28, 28), "
                             f"got {x.dtype} {x.shape}")
        if y.shape not in ((x.shape[0],), (x.shape[0], 1)):
            raise ValueError(f"{path}: {s}_labels must have shape ({x.shape[0]}, 1) to match {s}_images, "
                             f"got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= n_classes)):
            raise ValueError(f"{path}: {s}_labels must be integers in 0..{n_classes - 1} ({flag} has "
                             f"{n_classes} classes), got {y.dtype} values {np.unique(y)[:10].tolist()}")
        out[f"x_{s}"], out[f"y_{s}"] = x, y.reshape(-1).astype(np.int64)
    return MedMNIST3D(flag=flag, n_classes=n_classes, labels=labels, **out)


def load_medmnist3d(flag: str = "adrenalmnist3d", root: Optional[PathLike] = None, *,
                    download: bool = False, check_md5: bool = True) -> MedMNIST3D:
    r"""Load one MedMNIST v2 3D dataset (28³ volumes) from its ``{flag}.npz``.

    Args:
        flag (str): a key of :data:`MEDMNIST3D_LABELS`; default ``"adrenalmnist3d"``, which
            ships with the package.
        root (path-like, optional): the folder holding ``{flag}.npz`` (see
            :func:`medmnist3d_path` for the default).
        download (bool): fetch the file with :func:`download_medmnist3d` when it is missing.
        check_md5 (bool): compare the file with its official md5 in :data:`MEDMNIST3D_MD5`
            (flags without one are not compared).

    Returns:
        the :class:`MedMNIST3D` tuple.

    Raises:
        ValueError: for an unknown flag (the message lists the valid ones), a file with the
            wrong md5, keys, shapes, dtypes or label values.
        FileNotFoundError: if the file is missing and ``download`` is false (the message
            says how to get it).

    Example:
        >>> # needs the downloaded file, so the doctests skip it
        >>> data = load_medmnist3d("adrenalmnist3d")  # doctest: +SKIP
        >>> data.x_train.shape, data.x_val.shape, data.x_test.shape, data.n_classes  # doctest: +SKIP
        ((1188, 28, 28, 28), (98, 28, 28, 28), (298, 28, 28, 28), 2)
    """
    path = medmnist3d_path(flag, root)
    if not path.is_file():
        if not download:
            raise FileNotFoundError(f"{path.name} not found in the folder {path.parent}; "
                                    + _how_to_get(flag, path.parent))
        path = download_medmnist3d(flag, path.parent)
    expected = MEDMNIST3D_MD5.get(flag)
    if check_md5 and expected is not None:
        found = file_digest(path, "md5")
        if found != expected:
            raise ValueError(f"{path}: md5 is {found}, expected {expected} (the official {flag}.npz); "
                             f"the file is corrupt or modified. Replace it (" + _how_to_get(flag, path.parent)
                             + "), or pass check_md5=False to load it anyway")
    return _read(path, flag)


def write_medmnist3d_fixture(folder: PathLike, flag: str, sizes: Sequence[int] = (16, 8, 8), *,
                             seed: int = 0) -> Path:
    r"""Write ``folder/{flag}.npz``, a stand-in for the official file made of random volumes.

    It has the official keys, ``uint8`` volumes of shape ``(N, 28, 28, 28)`` drawn uniformly and
    labels cycling through the dataset's classes (so each split holds every class it has room
    for), ``sizes`` giving ``N`` for the training, validation and test splits. The volumes carry
    no signal: a run on them checks a pipeline, not a model.

    Args:
        folder (path-like): where to write (created if missing).
        flag (str): a key of :data:`MEDMNIST3D_LABELS`.
        sizes (sequence of int): volumes of the three splits, each at least 1.
        seed (int): seeds the volumes.

    Returns:
        the path of the file.

    Raises:
        ValueError: for an unknown flag or sizes that are not three positive numbers.
    """
    _check_flag(flag)
    sizes = tuple(sizes)
    if len(sizes) != 3 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"sizes must be three positive integers (train, val, test), got {sizes!r}")
    rng = np.random.default_rng(seed)
    n_classes = len(MEDMNIST3D_LABELS[flag])
    arrays = {}
    for split, n in zip(_SPLITS, sizes):
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(n, _SIDE, _SIDE, _SIDE), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % n_classes).reshape(n, 1).astype(np.uint8)
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{flag}.npz"
    np.savez_compressed(path, **arrays)
    return path
