r"""The examples run end to end on tiny settings, as a user starts them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_quickstart():
    out = _run("quickstart.py", "--epochs", "1", "--train-size", "256")
    assert "(the loss adds none)" in out
    assert "before: test accuracy" in out and "epoch 1: total" in out and "after: test accuracy" in out


def test_ddmnist_strict_vs_soft():
    out = _run("ddmnist_strict_vs_soft.py", "--epochs", "1", "--train-size", "100", "--test-size", "300")
    assert "soft CNN" in out and "strict SCNN" in out
    assert out.count("test accuracy") == 2


@pytest.mark.parametrize("script", ["quickstart.py", "ddmnist_strict_vs_soft.py", "exploration.py"])
def test_help(script):
    assert "usage:" in _run(script, "--help")
