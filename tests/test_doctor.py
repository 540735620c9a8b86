"""escnn-soft doctor: the versions for bug reports, escnn's checks, and the fix of each failure."""

import subprocess
import sys
from importlib import metadata

import pytest
from escnn import group

from escnn_soft import doctor
from escnn_soft.experiments import cli


def _doctor(capsys, *argv):
    status = cli.main(["doctor", *argv])
    return status, capsys.readouterr().out.splitlines()


def test_passes_here_and_reports_every_version(capsys):
    status, lines = _doctor(capsys)
    assert status == 0
    assert lines[0].startswith("Python") and f"{sys.version_info.major}.{sys.version_info.minor}." in lines[0]
    for package in ("torch", "numpy", "escnn", "lie-learn", "py3nj"):
        assert any(line.split() == [package, metadata.version(package)] for line in lines), package
    assert [line.split(":")[0] for line in lines if line.startswith(("ok", "FAIL"))] == [
        "ok    escnn builds the cyclic group C4",
        "ok    escnn builds the octahedral group",
        "ok    escnn builds an irrep of SO(3)"]
    assert lines[-1] == "3 of 3 checks passed"


@pytest.mark.parametrize("error, fix", [
    (ModuleNotFoundError("No module named 'lie_learn'", name="lie_learn"),
     "install lie-learn: bash scripts/setup.sh"),
    (ModuleNotFoundError("No module named 'py3nj'", name="py3nj"),
     "apt-get install gfortran, then pip install py3nj"),
    (ImportError("numpy.core.multiarray failed to import"),
     "build lie-learn for numpy 2 with LIE_LEARN_SOURCE="),
    (FileNotFoundError("[Errno 2] No such file or directory: 'pinchon_hoggan/J_dense_0-150.npy'"),
     "lie-learn is installed without its J matrices"),
    (RuntimeError("an error of escnn's own"), "report this output"),
])
def test_a_failed_check_prints_its_error_and_fix_and_exits_1(capsys, monkeypatch, error, fix):
    def broken():
        raise error

    monkeypatch.setattr(group, "octa_group", broken)
    status, lines = _doctor(capsys)
    assert status == 1
    (failed,) = [i for i, line in enumerate(lines) if line.startswith("FAIL")]
    assert lines[failed].startswith(f"FAIL  escnn builds the octahedral group: {type(error).__name__}: {error} "
                                    "(raised in test_doctor, line ")
    assert lines[failed + 1].startswith("      fix: ") and fix in lines[failed + 1]
    assert lines[-1] == "2 of 3 checks passed"  # the other checks still run


def test_a_wrong_result_fails_the_check(capsys, monkeypatch):
    monkeypatch.setattr(group, "cyclic_group", lambda n: group.dihedral_group(n))
    status, lines = _doctor(capsys)
    assert status == 1
    assert lines[[line.startswith("FAIL") for line in lines].index(True)].startswith(
        "FAIL  escnn builds the cyclic group C4: ValueError: cyclic_group(4) has 8 elements, not 4 "
        "(raised in escnn_soft.doctor, line ")


def test_a_package_that_is_not_installed_is_reported_as_such(monkeypatch):
    monkeypatch.setattr(doctor, "PACKAGES", ("escnn", "no-such-distribution"))
    assert doctor.versions()[1:] == [("escnn", metadata.version("escnn")), ("no-such-distribution", "not installed")]


def test_it_takes_no_options(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["doctor", "--verbose"])
    assert stopped.value.code == 2 and "unrecognized arguments: --verbose" in capsys.readouterr().err


def test_importing_it_loads_neither_torch_nor_escnn():
    code = ("import sys, escnn_soft.doctor; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'escnn', 'numpy') "
            "or m.startswith('escnn_soft.experiments')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
