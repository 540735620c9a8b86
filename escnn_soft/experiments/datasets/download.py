r"""The data files of the datasets: a file's digest, a download that is kept only with the right
checksum, and ``.npz`` archives read with one-line errors.

A checksum is an md5 (32 hex digits) or a sha256 (64 hex digits); :func:`checksum_algorithm`
tells which. :func:`fetch` streams a URL into a temporary file next to the target, hashing
on the way, and moves it into place only when the hash matches, so that an interrupted or
wrong download never leaves a file behind. :func:`read_npz` reads a whole ``.npz`` archive, and
names the file and the copy it should be when it cannot.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_bytes(b"abc")
    >>> file_digest(path, "md5")
    '900150983cd24fb0d6963f7d28e17f72'
    >>> checksum_algorithm("900150983cd24fb0d6963f7d28e17f72")
    'md5'
    >>> checksum_algorithm("abc")
    Traceback (most recent call last):
    ...
    ValueError: checksum 'abc' is neither an md5 (32 hex digits) nor a sha256 (64 hex digits)
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Dict, Union

import numpy as np

from ...records import atomic_write

__all__ = ["checksum_algorithm", "file_digest", "fetch", "read_npz"]

_CHUNK = 1 << 20

PathLike = Union[str, os.PathLike]


def file_digest(path: PathLike, algorithm: str) -> str:
    r"""The hex digest of a file's bytes, read in chunks.

    Args:
        path (path-like): the file.
        algorithm (str): a :func:`hashlib.new` name, e.g. ``"md5"`` or ``"sha256"``.
    """
    h = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def checksum_algorithm(checksum: str) -> str:
    r"""``"md5"`` for 32 hex digits, ``"sha256"`` for 64.

    Raises:
        ValueError: for any other length.
    """
    if len(checksum) == 32:
        return "md5"
    if len(checksum) == 64:
        return "sha256"
    raise ValueError(f"checksum {checksum!r} is neither an md5 (32 hex digits) nor a sha256 (64 hex digits)")


def fetch(url: str, target: PathLike, checksum: str, timeout: float) -> None:
    r"""Download ``url`` to ``target``, kept only if its digest is ``checksum``.

    Args:
        url (str): what to download.
        target (path-like): where to write it (atomically, through a temporary file).
        checksum (str): the expected md5 or sha256 (see :func:`checksum_algorithm`).
        timeout (float): seconds to wait for the connection.

    Raises:
        ValueError: if the downloaded bytes have another digest (``target`` is left as it was).
    """
    algorithm = checksum_algorithm(checksum)
    h = hashlib.new(algorithm, usedforsecurity=False)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != checksum.lower():
            raise ValueError(f"{url}: {algorithm} is {h.hexdigest()}, expected {checksum}")

    atomic_write(target, write)


def read_npz(path: PathLike, what: str) -> Dict[str, np.ndarray]:
    r"""Every array of the ``.npz`` archive at ``path``, read in full.

    Raises:
        ValueError: naming ``path``, if it cannot be read (empty, truncated, corrupt or not an
            ``.npz`` archive); ``what`` names the file it should be, for the fix.
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with archive:
            return {k: archive[k] for k in archive.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as e:
        size = path.stat().st_size
        why = "it is empty" if size == 0 else f"{size:,} bytes: truncated, corrupt or not an .npz archive"
        raise ValueError(f"{path} cannot be read ({why}): replace it with a good copy of {what}") from e
