r"""escnn_soft.records: atomic writes, mean ± std, provenance."""

import statistics
import subprocess
import sys
import types
from pathlib import Path

import pytest

from escnn_soft import records
from escnn_soft.records import UNKNOWN, atomic_write, atomic_write_text, format_mean_std, mean_std, provenance


def test_atomic_write_replaces_the_file_or_leaves_it_alone(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"

    def fail(tmp):
        Path(tmp).write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_text() == "two" and [p.name for p in path.parent.iterdir()] == ["a.txt"]


def test_atomic_write_keeps_the_suffix_for_writers_that_need_it(tmp_path):
    np = pytest.importorskip("numpy")
    atomic_write(tmp_path / "x.npy", lambda tmp: np.save(tmp, np.arange(3)))
    assert np.load(tmp_path / "x.npy").tolist() == [0, 1, 2]


def test_mean_std_is_the_sample_statistics():
    values = [0.25, 0.5, 1.5, None]
    mean, std = mean_std(values)
    assert mean == pytest.approx(statistics.mean(values[:3])) and std == pytest.approx(statistics.stdev(values[:3]))
    assert mean_std([]) == (None, None) and mean_std([2.0]) == (2.0, None)
    assert format_mean_std(mean, std, ".2f") == f"{mean:.2f} ± {std:.2f}"
    assert format_mean_std(None, None, ".2f", missing="n/a") == "n/a"


@pytest.fixture
def fresh(monkeypatch):
    records._code.cache_clear()
    yield monkeypatch
    records._code.cache_clear()


def test_provenance_in_a_checkout_is_its_head(fresh):
    root = Path(records.__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    code = provenance()
    assert code["commit"] == head.stdout.strip() and isinstance(code["dirty"], bool)
    assert code["version"] == sys.modules["escnn_soft"].__version__


def test_provenance_without_a_repository_uses_the_build_record_or_says_unknown(fresh):
    fresh.setattr(records, "checkout_commit", lambda package: None)
    fresh.setitem(sys.modules, "escnn_soft._build_info", None)  # no build record
    assert {k: v for k, v in provenance().items() if k != "version"} == {"commit": UNKNOWN, "dirty": UNKNOWN}
    records._code.cache_clear()
    built = types.ModuleType("escnn_soft._build_info")
    built.COMMIT, built.DIRTY = "0123abcd" * 5, False
    fresh.setitem(sys.modules, "escnn_soft._build_info", built)
    assert provenance()["commit"] == built.COMMIT and provenance()["dirty"] is False
