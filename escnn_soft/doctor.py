r"""``escnn-soft doctor``: what escnn_soft runs on here, and whether escnn works.

It prints the versions of Python and of the packages escnn_soft stands on (:data:`PACKAGES`:
PyTorch, NumPy, escnn, lie-learn, py3nj), then has escnn build what a broken installation of escnn
fails on first (:data:`CHECKS`): a cyclic group, the octahedral group and an irreducible
representation of SO(3), whose matrices come from lie-learn. After each failed check, one line
names its fix. The exit status is 0 when every check passes and 1 otherwise. Paste the output
into bug reports::

    escnn-soft doctor

escnn is imported inside the checks, so that a broken escnn, lie-learn or py3nj is reported
as a failed check, not as a crash; importing this module loads neither torch nor escnn.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

__all__ = ["PACKAGES", "Check", "CHECKS", "Outcome", "versions", "fix_for", "run_checks", "report", "main"]

PACKAGES: Tuple[str, ...] = ("escnn_soft", "torch", "numpy", "escnn", "lie-learn", "py3nj")
r"""The distributions whose installed versions the report gives, after Python's."""

SETUP = "bash scripts/setup.sh (README, Installing)"
r"""The set-up command of the repository, named by the fixes that it carries out."""

INSTALL_FIXES: Mapping[str, str] = {
    "torch": "install PyTorch: pip install torch",
    "numpy": "install NumPy: pip install numpy",
    "escnn": f"install escnn: {SETUP}, or pip install 'escnn>=1.0.11' once gfortran is installed",
    "lie_learn": f"install lie-learn: {SETUP}; it builds lie-learn from its source where the package "
                 "index has no wheel for this Python",
    "py3nj": "install py3nj, which compiles Fortran: apt-get install gfortran, then pip install py3nj",
}
r"""The fix for each package that escnn cannot import because it is not installed."""

NUMPY_ABI_FIX = ("a compiled module is built for numpy 1 (lie-learn's wheels are) and numpy 2 is installed: "
                 "build lie-learn for numpy 2 with LIE_LEARN_SOURCE=https://github.com/AMLab-Amsterdam/lie_learn "
                 f"{SETUP}, or pip install 'numpy<2'")
r"""The fix when a module compiled for numpy 1 is imported under numpy 2."""

J_MATRICES_FIX = ("lie-learn is installed without its J matrices (built from a source export, not a git clone): "
                  f"pip uninstall lie-learn, then {SETUP}")
r"""The fix when lie-learn's J matrices, which its SO(3) representations need, are missing."""

OTHER_FIX = (f"reinstall in a fresh virtual environment with {SETUP}; if the check still fails, "
             "report this output")
r"""The fix for any other failure."""


@dataclass(frozen=True)
class Check:
    r"""One thing escnn must be able to build.

    Attributes:
        name: what is built, as the report names it.
        build: builds it (importing escnn on first use) and returns a short description of the
            result; raises when it cannot build it or the result is wrong.
    """

    name: str
    build: Callable[[], str]


@dataclass(frozen=True)
class Outcome:
    r"""The result of one :class:`Check`.

    Attributes:
        check: the check.
        detail: the description of what was built, or the error and where it was raised, in one line.
        fix: ``None`` when the check passed, else the line that names the fix.
    """

    check: Check
    detail: str
    fix: Optional[str]

    @property
    def passed(self) -> bool:
        return self.fix is None


def _cyclic_group() -> str:
    from escnn.group import cyclic_group

    group = cyclic_group(4)
    if group.order() != 4:
        raise ValueError(f"cyclic_group(4) has {group.order()} elements, not 4")
    return f"{group.name}, {group.order()} elements"


def _octahedral_group() -> str:
    from escnn.group import octa_group

    group = octa_group()
    if group.order() != 24:
        raise ValueError(f"octa_group() has {group.order()} elements, not 24")
    return f"{group.name}, {group.order()} elements, {len(group.irreps())} irreps"


def _so3_irrep() -> str:
    import numpy as np
    from escnn.group import so3_group

    so3 = so3_group()
    rho = so3.irrep(2)
    g = so3.element(np.array([0.3, 1.1, -0.7]), "ZYZ")
    h = so3.element(np.array([-1.2, 0.4, 2.0]), "ZYZ")
    error = float(np.abs(rho(g) @ rho(h) - rho(g @ h)).max())
    if not error < 1e-8:
        raise ValueError(f"the irrep of frequency 2 is no representation: |rho(g)rho(h) - rho(gh)| = {error:.2e}")
    return f"frequency 2, {rho.size}x{rho.size}, |rho(g)rho(h) - rho(gh)| = {error:.1e}"


CHECKS: Tuple[Check, ...] = (
    Check("escnn builds the cyclic group C4", _cyclic_group),
    Check("escnn builds the octahedral group", _octahedral_group),
    Check("escnn builds an irrep of SO(3)", _so3_irrep),
)
r"""The checks that :func:`run_checks` runs, in order."""


def versions() -> List[Tuple[str, str]]:
    r"""The versions of Python and of :data:`PACKAGES` as installed (from their metadata, so that a
    package that does not import still has its version), ``"not installed"`` for those missing."""
    found = [("Python", f"{platform.python_version()} ({platform.python_implementation()}, {platform.platform()})")]
    for package in PACKAGES:
        try:
            found.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            found.append((package, "not installed"))
    return found


def fix_for(error: BaseException) -> str:
    r"""The one-line fix for an error raised by a :class:`Check`."""
    if isinstance(error, ModuleNotFoundError) and error.name:
        missing = error.name.split(".")[0]
        if missing in INSTALL_FIXES:
            return INSTALL_FIXES[missing]
    message = str(error)
    if isinstance(error, ImportError) and any(
            sign in message for sign in ("numpy.core.multiarray failed to import", "_ARRAY_API", "NumPy 1.x")):
        return NUMPY_ABI_FIX
    if isinstance(error, OSError) and "J_dense" in message:
        return J_MATRICES_FIX
    return OTHER_FIX


def _origin(error: BaseException) -> str:
    r"""The module and line where an error was raised (its traceback's innermost frame)."""
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return "unknown"
    return f"{frame.tb_frame.f_globals.get('__name__', '?')}, line {frame.tb_lineno}"


def run_checks(checks: Sequence[Check] = CHECKS) -> List[Outcome]:
    r"""Runs each check, the output escnn prints meanwhile (cache notes, numpy's warnings) set aside.

    Args:
        checks: the checks to run (default :data:`CHECKS`).

    Returns:
        One :class:`Outcome` per check, in order; a failed check does not stop the next.
    """
    outcomes = []
    for check in checks:
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                detail = check.build()
        except Exception as error:  # every failure is reported with its fix; none stops the report
            first_line = (str(error).splitlines() or [""])[0]
            detail = f"{type(error).__name__}: {first_line} (raised in {_origin(error)})"
            outcomes.append(Outcome(check, detail, fix_for(error)))
        else:
            outcomes.append(Outcome(check, detail, None))
    return outcomes


def report(found: Sequence[Tuple[str, str]], outcomes: Sequence[Outcome]) -> str:
    r"""The text :func:`main` prints: the versions, then one line per check and, after each failed
    check, one line with its fix, then the count of checks passed."""
    width = max(len(name) for name, _ in found)
    lines = [f"{name:<{width}}  {version}" for name, version in found]
    lines.append("")
    for outcome in outcomes:
        lines.append(f"{'ok' if outcome.passed else 'FAIL':<5} {outcome.check.name}: {outcome.detail}")
        if not outcome.passed:
            lines.append(f"      fix: {outcome.fix}")
    passed = sum(outcome.passed for outcome in outcomes)
    lines.append(f"{passed} of {len(outcomes)} checks passed")
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> int:
    r"""``escnn-soft doctor``: prints :func:`report` and returns the exit status, 0 when every
    check passes and 1 otherwise.

    Args:
        argv: the arguments after ``doctor``; there are none but ``-h``.
    """
    argparse.ArgumentParser(
        prog="escnn-soft doctor",
        description="Print the versions of Python, torch, numpy, escnn, lie-learn and py3nj, check that escnn "
                    "builds a cyclic group, the octahedral group and an irrep of SO(3), and name the fix of "
                    "each failed check. Paste the output into bug reports.").parse_args(list(argv))
    outcomes = run_checks()
    print(report(versions(), outcomes))
    return 0 if all(outcome.passed for outcome in outcomes) else 1
