r"""Comparisons as submitit jobs, on this machine: the debug executor (in this process) and the
local executor (a process per job), with claims so that no run is trained twice."""

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

import escnn_soft.experiments.cli as cli
import escnn_soft.experiments.cluster as cluster
import escnn_soft.experiments.runner as runner
from escnn_soft.experiments import claims
from escnn_soft.experiments.cli import UsageError, compare, parse_args

submitit = pytest.importorskip("submitit")

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
    assert options.cluster == cluster.ClusterOptions(
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


def test_claims_are_exclusive_and_stale_ones_are_cleared(tmp_path):
    run = tmp_path / "run"
    held = claims.claim(run, {"model": "cnn"})
    assert held is not None and claims.claim(run) is None          # held by this process: not stale
    info = claims.holder(run)
    assert (info["host"], info["pid"], info["run"]) == (socket.gethostname(), os.getpid(), {"model": "cnn"})
    assert set(claims.held_runs(tmp_path)) == {"run"}
    held.release()
    assert claims.holder(run) is None and not (run / claims.CLAIM_FILE).exists()
    # a claim of a process that is gone, and one without heartbeat for too long
    dead = json.loads(json.dumps(info))
    dead.update(pid=2 ** 22 + 12345, token="dead", job=None)
    (run / claims.CLAIM_FILE).write_text(json.dumps(dead))
    assert "is gone" in claims.stale_reason(dead, age=0.0)
    assert claims.claim(run) is not None
    far = {**dead, "host": "elsewhere", "token": "far"}
    assert claims.stale_reason(far, age=10.0) is None and "no heartbeat" in claims.stale_reason(far, age=1e4)


def _wait_for(predicate, what, timeout=240):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)


def test_local_job_preempted_is_requeued_and_killed_job_resumes(tmp_path):
    r"""A local-executor job signalled as a scheduler pre-empts it (SIGUSR2) is requeued by
    submitit through RunJob.checkpoint and continues the run; a worker killed outright leaves
    a stale claim, and the next launch resumes the run from its checkpoint."""
    options = parse_args(_grid(tmp_path, "--cluster", "local", models="cnn", train_size="256", epochs="3"))
    task, source = cli.prepare(options)
    (config,) = cli._configs(task, options, "C4", data=source.fingerprint)
    run_dir = tmp_path / "runs" / config.name()
    ex = cluster.executor(options.cluster)
    job = ex.submit(cluster.RunJob(options, "C4", config))
    _wait_for(lambda: (run_dir / "checkpoint.pt").is_file(), "checkpoint")
    os.kill(claims.holder(run_dir)["pid"], signal.SIGUSR2)     # as SLURM signals a job it pre-empts
    outcome = job.result()
    assert outcome["status"] == "trained"
    result = outcome["result"]
    if result["resumed_from_epoch"] is None:
        pytest.skip("the job finished before it was interrupted")
    assert [h["epoch"] for h in result["history"]] == [1, 2, 3]
    assert not (run_dir / claims.CLAIM_FILE).exists()

    # killed outright (SIGKILL) in another run: the claim stays, its pid is gone, the next launch resumes
    argv = _grid(tmp_path, "--cluster", "local", models="cnn-aug", train_size="256", epochs="3")
    failed = []
    launcher = threading.Thread(target=lambda: _record_failure(failed, lambda: compare(parse_args(argv))))
    launcher.start()
    (other,) = cli._configs(task, parse_args(argv), "C4", data=source.fingerprint)
    other_dir = tmp_path / "runs" / other.name()
    _wait_for(lambda: (other_dir / "checkpoint.pt").is_file(), "checkpoint")
    os.kill(claims.holder(other_dir)["pid"], signal.SIGKILL)
    launcher.join()
    assert failed and "failed" in str(failed[0])
    assert (other_dir / claims.CLAIM_FILE).exists() and claims.holder(other_dir) is None   # stale
    (resumed,) = compare(parse_args(argv))
    if resumed["resumed_from_epoch"] is None:
        pytest.skip("the job finished before it was killed")
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert not (other_dir / claims.CLAIM_FILE).exists()


def _record_failure(failures, fn):
    try:
        fn()
    except RuntimeError as e:
        failures.append(e)


def test_two_launchers_racing_for_one_grid_train_each_run_once(tmp_path):
    options = parse_args(_grid(tmp_path, "--cluster", "local"))
    task, source = cli.prepare(options)
    todo = [("C4", c) for c in cli._configs(task, options, "C4", data=source.fingerprint)]
    seen = {0: [], 1: []}

    def launch(k):
        seen[k] = list(cluster.train_on_cluster(options, todo, options.cluster))

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
