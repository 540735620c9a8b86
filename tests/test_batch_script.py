"""scripts/batch.sh: a comparison under a wall-clock limit, packed into one archive."""

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BATCH = ROOT / "scripts" / "batch.sh"


def _batch(*argv, env=None):
    return subprocess.run(["bash", str(BATCH), *map(str, argv)], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)


def _grid(out):
    r"""One tiny run with more epochs than any limit of these tests lets it finish."""
    return ["--task", "mnist", "--models", "cnn", "--train-size", "64", "--epochs", "100000", "--batch-size", "32",
            "--equivariance-batch", "8", "--device", "cpu", "--no-progress", "--threads", "1", "--out", str(out)]


@pytest.mark.parametrize("argv, message", [
    ([], "usage: bash scripts/batch.sh"),
    (["60", "a.tar.gz", "--task", "mnist"], "usage: bash scripts/batch.sh"),
    (["1.5", "a.tar.gz", "--", "--out", "x"], "SECONDS must be a positive whole number, got '1.5'"),
    (["60", "a.tar.gz", "--", "--task", "mnist"], "must name --out"),
    (["--wheels", "no-such-folder", "60", "a.tar.gz", "--", "--out", "x"], "no wheels in no-such-folder"),
])
def test_bad_arguments_name_the_fix_and_start_nothing(argv, message):
    done = _batch(*argv)
    assert done.returncode != 0 and message in done.stderr
    assert not (ROOT / "a.tar.gz").exists()


@pytest.mark.slow  # starts three comparisons in fresh processes
def test_the_limit_stops_the_runs_the_archive_continues_them_elsewhere(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": str(tmp_path)}
    first = tmp_path / "first"
    stopped = _batch(90, tmp_path / "a" / "runs.tar.gz", "--", *_grid(first), env=env)
    assert stopped.returncode == 0 and "stopped after 90 s" in stopped.stdout, stopped.stderr
    with tarfile.open(tmp_path / "a" / "runs.tar.gz") as archive:
        names = archive.getnames()
    assert any(n.endswith("checkpoint.pt") for n in names) and not any(n.endswith("result.json") for n in names)

    # unpacked elsewhere, the same comparison continues each run from its checkpoint
    import torch
    second = tmp_path / "second"
    with tarfile.open(tmp_path / "a" / "runs.tar.gz") as archive:
        archive.extractall(second)
    (checkpoint,) = second.glob("runs/*/checkpoint.pt")
    before = torch.load(checkpoint, weights_only=True)["history"]
    again = _batch(90, tmp_path / "b" / "runs.tar.gz", "--", *_grid(second), env=env)
    assert again.returncode == 0 and "stopped after 90 s" in again.stdout, again.stderr
    after = torch.load(checkpoint, weights_only=True)["history"]
    assert len(after) > len(before) >= 1
    assert [e["epoch"] for e in after] == list(range(1, len(after) + 1))
    assert [e["train_loss"] for e in after[:len(before)]] == [e["train_loss"] for e in before]
