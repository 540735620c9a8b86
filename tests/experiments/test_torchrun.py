r"""One run by two processes through the one runner, launched by torchrun, as one process trains it."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from escnn_soft.experiments.cli import parse_args
from escnn_soft.experiments.comparison import compare

ROOT = Path(__file__).resolve().parents[2]


def _argv(out):
    return ["--task", "mnist", "--models", "cnn-aug", "--train-size", "64", "--epochs", "2", "--batch-size", "32",
            "--equivariance-batch", "8", "--device", "cpu", "--no-progress", "--threads", "1", "--out", str(out)]


def test_torchrun_with_sync_bn_trains_a_run_as_one_process_does(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "escnn_soft.experiments.cli", "compare", *_argv(tmp_path / "two"), "--sync-bn"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("1 run(s) trained, 0 reused") == 1          # process 0 alone reports
    (two,) = compare(parse_args(_argv(tmp_path / "two")))               # reused: nothing trains
    (one,) = compare(parse_args(_argv(tmp_path / "one")))
    assert two["name"] == one["name"] and not list((tmp_path / "two" / "runs").glob("*/.rank*"))
    # the same training up to float32 rounding: every weight agrees; the biases of the layers before a
    # batch norm, whose gradient is zero but for rounding noise, may differ by a few Adam steps of it
    states = [torch.load(tmp_path / out / "runs" / r["name"] / "model.pt", weights_only=True)
              for r, out in ((two, "two"), (one, "one"))]
    weights = [k for k in states[0] if k.endswith("weight")]
    assert len(weights) == 9 and max((states[0][k] - states[1][k]).abs().max().item() for k in weights) < 1e-3
    assert all(abs(a["val_score"] - b["val_score"]) <= 0.01 for a, b in zip(two["history"], one["history"]))
