r"""Comparisons as submitit jobs, on this machine: the debug executor (in this process) and the
local executor (a process per job), with claims so that no run is trained twice."""

import dataclasses
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

import escnn_soft.experiments.cluster as cluster
import escnn_soft.experiments.runner as runner
from escnn_soft.experiments import claims
from escnn_soft.experiments.cli import parse_args
from escnn_soft.experiments.comparison import compare, prepare, run_configs
from escnn_soft.experiments.options import ClusterOptions, UsageError
from escnn_soft.experiments.task import TASKS
from escnn_soft.experiments.tasks import MNISTTask

submitit = pytest.importorskip("submitit")
cloudpickle = pytest.importorskip("cloudpickle")  # submitit's

ROOT = Path(__file__).resolve().parents[2]


def _grid(out, *extra, models="cnn,cnn-aug", train_size="64", epochs="1"):
    return ["--task", "mnist", "--models", models, "--train-size", train_size, "--epochs", epochs, "--batch-size",
            "32", "--equivariance-batch", "8", "--device", "cpu", "--no-progress", "--threads", "1", "--out",
            str(out), *extra]


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    r"""Jobs looked at every 0.2 s; job processes import this checkout."""
    monkeypatch.setattr(cluster, "POLL_SECONDS", 0.2)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def test_debug_executor_trains_each_run_of_a_tiny_grid_once(tmp_path, capsys, monkeypatch):
    trained = []
    train_run = runner.train_run
    monkeypatch.setattr(runner, "train_run", lambda *a, **k: trained.append(a[2].name()) or train_run(*a, **k))
    results = compare(parse_args(_grid(tmp_path, "--cluster", "debug")))
    assert "2 run(s) trained, 0 reused" in capsys.readouterr().out
    assert sorted(trained) == sorted(r["name"] for r in results) and len(set(trained)) == 2
    assert not list(tmp_path.glob("runs/*/claim.json*")), "claims are released"
    assert (tmp_path / "summary.md").is_file() and list((tmp_path / "submitit").iterdir())
    assert len(compare(parse_args(_grid(tmp_path, "--cluster", "debug")))) == 2
    assert "0 run(s) trained, 2 reused" in capsys.readouterr().out and len(trained) == 2


def test_cluster_options_and_their_errors():
    options = parse_args(["--cluster", "slurm", "--partition", "gpu", "--time", "90", "--gpus-per-job", "1",
                          "--cpus-per-job", "8", "--array", "--array-parallelism", "4", "--out", "o"])
    assert options.cluster == ClusterOptions(
        executor="slurm", folder=Path("o/submitit"), partition="gpu", time_minutes=90, gpus_per_job=1, cpus_per_job=8,
        array=True, array_parallelism=4)
    assert parse_args([]).cluster is None
    for argv, message in [(["--partition", "gpu"], "add --cluster slurm"),
                          (["--cluster", "local", "--jobs", "2"], "drop --jobs"),
                          (["--cluster", "slurm", "--array-parallelism", "2"], "add --array"),
                          (["--cluster", "local", "--no-wait"], "end with their launcher"),
                          (["--sync-bn"], "torchrun --nproc-per-node N"),
                          (["--cluster", "slurm", "--gpus-per-job", "2", "--batch-size", "33"], "split evenly")]:
        with pytest.raises(UsageError, match=message):
            parse_args(argv)


def test_without_submitit_the_error_names_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__",
                        lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name)) if name == "submitit"
                        else real(name, *a, **k))
    with pytest.raises(UsageError, match=r"pip install escnn_soft\[cluster\]"):
        parse_args(["--cluster", "local"])


def _wait_for(predicate, what, timeout=240):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)


class _WaitingMNIST(MNISTTask):
    r"""The mnist task, its runs waiting before their second epoch (the first one's checkpoint
    written) until they are signalled or killed. Only the first process to get there waits, and it
    writes ``marker`` first; the others train on."""

    def __init__(self, marker: Path):
        super().__init__()
        self.marker = marker

    def build(self, model, group, hyperparameters):
        return dataclasses.replace(super().build(model, group, hyperparameters), stop=self._wait_once)

    def _wait_once(self, history) -> bool:
        if not self.marker.exists():
            self.marker.touch()
            while True:
                time.sleep(0.05)
        return False


cloudpickle.register_pickle_by_value(sys.modules[__name__])  # job processes get _WaitingMNIST by value


def test_local_job_preempted_is_requeued_and_killed_job_resumes(tmp_path, monkeypatch):
    r"""A local-executor job signalled as a scheduler pre-empts it (SIGUSR2) is requeued by
    submitit through RunJob.checkpoint and continues the run; a worker killed outright leaves
    a stale claim, and the next launch resumes the run from its checkpoint."""
    options = parse_args(_grid(tmp_path, "--cluster", "local", models="cnn", train_size="256", epochs="3"))
    task, source = prepare(options)
    (config,) = run_configs(task, options, "C4", data=source.fingerprint)
    run_dir = tmp_path / "runs" / config.name()
    ex = cluster.executor(options.cluster)
    waiting = _WaitingMNIST(tmp_path / "first-waited")
    job = ex.submit(cluster.RunJob(waiting, source, options, "C4", config))
    _wait_for(waiting.marker.exists, "job waiting after its first epoch")
    os.kill(claims.holder(run_dir)["pid"], signal.SIGUSR2)     # as SLURM signals a job it pre-empts
    outcome = job.result()
    assert outcome["status"] == "trained"
    result = outcome["result"]
    assert result["resumed_from_epoch"] == 1 and [h["epoch"] for h in result["history"]] == [1, 2, 3]
    assert not (run_dir / claims.CLAIM_FILE).exists()

    # killed outright (SIGKILL) in another run: the claim stays, its pid is gone, the next launch resumes
    argv = _grid(tmp_path, "--cluster", "local", models="cnn-aug", train_size="256", epochs="3")
    waiting = _WaitingMNIST(tmp_path / "other-waited")
    monkeypatch.setitem(TASKS, "mnist", waiting)
    failed = []
    launcher = threading.Thread(target=lambda: _record_failure(failed, lambda: compare(parse_args(argv))))
    launcher.start()
    (other,) = run_configs(task, parse_args(argv), "C4", data=source.fingerprint)
    other_dir = tmp_path / "runs" / other.name()
    _wait_for(waiting.marker.exists, "job waiting after its first epoch")
    os.kill(claims.holder(other_dir)["pid"], signal.SIGKILL)
    launcher.join()
    assert failed and "failed" in str(failed[0])
    assert (other_dir / claims.CLAIM_FILE).exists() and claims.holder(other_dir) is None   # stale
    (resumed,) = compare(parse_args(argv))
    assert resumed["resumed_from_epoch"] == 1 and [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert not (other_dir / claims.CLAIM_FILE).exists()


def _record_failure(failures, fn):
    try:
        fn()
    except RuntimeError as e:
        failures.append(e)


def test_two_launchers_racing_for_one_grid_train_each_run_once(tmp_path):
    options = parse_args(_grid(tmp_path, "--cluster", "local"))
    task, source = prepare(options)
    todo = [("C4", c) for c in run_configs(task, options, "C4", data=source.fingerprint)]
    seen = {0: [], 1: []}

    def launch(k):
        seen[k] = list(cluster.train_on_cluster(task, source, options, todo, options.cluster))

    launchers = [threading.Thread(target=launch, args=(k,)) for k in seen]
    for t in launchers:
        t.start()
    for t in launchers:
        t.join()
    names = sorted(c.name() for _, c in todo)
    for k in seen:  # each launcher ends with every run of the grid
        assert sorted(c.name() for c, _, _ in seen[k]) == names
    trained = sorted(c.name() for k in seen for c, _, here in seen[k] if here)
    assert trained == names, "each run trained by exactly one worker"
    for k in seen:
        assert {c.name(): r["finished"] for c, r, _ in seen[k]} == {c.name(): r["finished"] for c, r, _ in seen[1 - k]}
    assert not list(tmp_path.glob("runs/*/claim.json*"))
