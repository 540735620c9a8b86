"""scripts/setup.sh in a fresh virtual environment of another Python: the install a new user makes."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
HERE = "%d.%d" % sys.version_info[:2]


def _version(python: str) -> Tuple[int, ...]:
    r"""The ``(major, minor)`` of an interpreter, or ``()`` when it does not run (e.g. a pyenv shim of a
    version that is not selected)."""
    done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True)
    return tuple(map(int, done.stdout.split("."))) if done.returncode == 0 else ()


def _other_pythons() -> List[Tuple[str, str]]:
    r"""``(version, interpreter)`` of each Python 3.10 or later but this one's version, in pyenv's
    versions and on PATH, newest first."""
    pyenv = shutil.which("pyenv")
    root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip() if pyenv else ""
    candidates = sorted(Path(root or Path.home() / ".pyenv").glob("versions/3.*/bin/python3"))
    candidates += [Path(found) for minor in range(10, 20) if (found := shutil.which(f"python3.{minor}"))]
    found = {}
    for python in map(str, candidates):
        version = _version(python)
        if version >= (3, 10) and "%d.%d" % version != HERE:
            found.setdefault(version, python)
    return [("%d.%d" % version, found[version]) for version in sorted(found, reverse=True)]


def _lie_learn(command: str, python: str = "") -> bool:
    r"""Whether a command of scripts/lie_learn.sh succeeds."""
    script = f'source scripts/lie_learn.sh && {command}'
    return subprocess.run(["bash", "-c", script, "bash", python], cwd=ROOT, capture_output=True).returncode == 0


def _usable_python(scratch: Path) -> Tuple[str, str]:
    r"""The newest other Python that scripts/setup.sh can install into here; skips, saying why, where none."""
    pythons = _other_pythons()
    if not pythons:
        pytest.skip(f"no Python 3.10 or later other than {HERE} in pyenv or on PATH")
    if shutil.which("gfortran") is None:
        pytest.skip("no gfortran, which py3nj (escnn's) compiles with: apt-get install gfortran")
    version, python = pythons[0]
    with_index = subprocess.run([python, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                                 "-d", str(scratch), "escnn>=1.0.11"], capture_output=True, text=True)
    if with_index.returncode != 0:
        pytest.skip(f"no package index reachable from Python {version}: pip download escnn failed")
    source = _lie_learn('git ls-remote "${LIE_LEARN_SOURCE:-$LIE_LEARN_UPSTREAM}" >/dev/null')
    for version, python in pythons:
        if source or _lie_learn('lie_learn_has_wheel "$1"', python):
            return version, python
    pytest.skip(f"Python {', '.join(v for v, _ in pythons)} need lie-learn built from its source, which cannot "
                "be reached: set LIE_LEARN_SOURCE to a clone of it")


@pytest.fixture
def env_dir(tmp_path):
    r"""The folder of the fresh virtual environment, removed afterwards (it holds gigabytes)."""
    yield tmp_path / "venv"
    shutil.rmtree(tmp_path / "venv", ignore_errors=True)


@pytest.mark.slow  # installs torch, escnn and the rest: minutes
def test_setup_installs_into_a_fresh_venv_of_another_python(tmp_path, env_dir):
    version, python = _usable_python(tmp_path / "download")
    subprocess.run([python, "-m", "venv", str(env_dir)], check=True)
    env_python = env_dir / "bin" / "python"
    setup = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, env={**os.environ, "PYTHON": str(env_python)},
                           capture_output=True, text=True, timeout=3600)
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-4000:]

    doctor = subprocess.run([str(env_dir / "bin" / "escnn-soft"), "doctor"], capture_output=True, text=True)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert doctor.stdout.startswith(f"Python      {version}.") and "3 of 3 checks passed" in doctor.stdout
    tests = subprocess.run([str(env_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_groups.py",
                            "tests/test_doctor.py"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert tests.returncode == 0, tests.stdout[-4000:]
