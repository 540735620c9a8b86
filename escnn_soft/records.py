r"""How results are written down: atomically, as mean :math:`\pm` std, with the code they came from.

* :func:`atomic_write` and :func:`atomic_write_text` write a file through a temporary
  file in the same folder and :func:`os.replace`, so that an interrupted write never
  leaves a partial file behind (every result, checkpoint, cache and plot is written so).
* :func:`mean_std`, :func:`format_mean_std` and :func:`mean_std_text`: the mean and the
  sample standard deviation

  .. math::
      s = \sqrt{\frac{1}{n - 1} \sum_i (v_i - \bar v)^2}

  of a set of runs, and how tables print them.
* :func:`provenance`: the package version and the git commit (with a dirty flag) a result
  was made with.

This module imports nothing beyond the standard library.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

__all__ = ["UNKNOWN", "atomic_write", "atomic_write_text", "mean_std", "format_mean_std", "mean_std_text",
           "checkout_commit", "provenance"]

PathLike = Union[str, os.PathLike]

UNKNOWN: str = "unknown"
r"""What :func:`provenance` records for a fact it cannot find out (never ``None``)."""


def atomic_write(path: PathLike, write: Callable[[str], None]) -> None:
    r"""Create or replace ``path`` atomically: ``write(tmp)`` writes a temporary file, which then replaces it.

    The temporary file lies in the same folder (so :func:`os.replace` is atomic) and has
    the same suffix as ``path`` (so writers that infer the format from it, such as
    ``numpy.save`` or ``Figure.savefig``, see the right one). Missing folders are made. If
    ``write`` raises, ``path`` is left as it was and the temporary file is removed.

    Args:
        path (path-like): the file to write.
        write (callable): ``write(tmp)`` writes the content to the file named ``tmp``.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> atomic_write(folder / "a.txt", lambda tmp: pathlib.Path(tmp).write_text("hello"))
        >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
        ('hello', ['a.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: PathLike, text: str) -> None:
    r"""Write ``text`` (UTF-8) to ``path`` with :func:`atomic_write`."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def mean_std(values: Sequence[Optional[float]], *, complete: bool = False
             ) -> Tuple[Optional[float], Optional[float]]:
    r"""The mean and sample standard deviation of ``values``, leaving out ``None`` (with ``complete``:
    none unless every value is there).

    Returns:
        ``(mean, std)``: ``(None, None)`` without values, ``std`` is ``None`` for a single one.

    Example:
        >>> mean_std([1.0, 2.0, None, 3.0]), mean_std([1.0, 2.0, None, 3.0], complete=True)
        ((2.0, 1.0), (None, None))
        >>> mean_std([5.0])
        (5.0, None)
    """
    if complete and None in values:
        return None, None
    values = [float(v) for v in values if v is not None]
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def format_mean_std(mean: Optional[float], std: Optional[float], spec: str, *, scale: float = 1.0,
                    missing: str = "—") -> str:
    r"""``"mean ± std"`` with the format ``spec`` (both times ``scale``); the mean alone without a
    std, ``missing`` without a mean.

    Example:
        >>> format_mean_std(*mean_std([0.91, 0.93]), ".2f", scale=100)
        '92.00 ± 1.41'
        >>> format_mean_std(0.5, None, ".3f"), format_mean_std(None, None, ".3f")
        ('0.500', '—')
    """
    if mean is None:
        return missing
    text = format(scale * mean, spec)
    return text if std is None else f"{text} ± {format(scale * std, spec)}"


def mean_std_text(values: Sequence[Optional[float]], spec: str, *, scale: float = 1.0) -> str:
    r"""``"mean ± std"`` of ``values`` (:func:`mean_std`, :func:`format_mean_std`).

    Example:
        >>> mean_std_text([0.91, 0.93], ".2f", scale=100)
        '92.00 ± 1.41'
    """
    return format_mean_std(*mean_std(values), spec, scale=scale)


def _git(folder: Path, *args: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def checkout_commit(package: Path) -> Optional[Dict[str, object]]:
    r"""``{"commit", "dirty"}`` of the git checkout whose top folder holds the folder ``package``;
    ``None`` when ``package`` is not in a checkout of its own project (``setup.py`` uses it
    too, to bake the commit into a build)."""
    top = _git(package, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != package.parent.resolve():
        return None  # not a checkout of this project (e.g. installed inside another repository)
    commit = _git(package, "rev-parse", "HEAD")
    status = _git(package, "status", "--porcelain", "--untracked-files=no")
    if not commit:
        return None
    return {"commit": commit, "dirty": UNKNOWN if status is None else bool(status)}


def _from_build() -> Optional[Dict[str, object]]:
    try:
        from . import _build_info  # written by setup.py when a wheel is built
    except ImportError:
        return None
    return {"commit": _build_info.COMMIT, "dirty": _build_info.DIRTY}


@lru_cache(maxsize=None)
def _code() -> Tuple[Tuple[str, object], ...]:
    found = checkout_commit(Path(__file__).resolve().parent) or _from_build() or {"commit": UNKNOWN, "dirty": UNKNOWN}
    return tuple(found.items())


def provenance() -> Dict[str, object]:
    r"""The code a result is made with: ``{"version", "commit", "dirty"}``.

    ``version`` is escnn_soft's; ``commit`` the full hash of the checkout's ``HEAD`` and
    ``dirty`` whether tracked files differ from it. An installed copy without its
    repository reports the commit it was built from (recorded by ``setup.py`` when the
    package is built); what cannot be found out is :data:`UNKNOWN`, never ``None``. The
    commit is looked up once per process.

    Example:
        >>> sorted(provenance())
        ['commit', 'dirty', 'version']
    """
    import escnn_soft

    return {"version": escnn_soft.__version__, **dict(_code())}
