r"""The runs of a comparison as cluster jobs, through submitit: SLURM, or submitit's local executors.

``escnn-soft compare --cluster slurm`` (or ``local``, ``debug``) sends each run that is
not finished to the scheduler, one job per run or all as one job array
(:class:`ClusterOptions`), waits for them, and writes the reports as the local paths do.
`submitit <https://github.com/facebookincubator/submitit>`_ is the engine: it writes the
job scripts, pickles the work, requeues pre-empted and timed-out jobs, and runs the same
jobs on this machine with its ``LocalExecutor`` (one process per job) and
``DebugExecutor`` (in this process), which the tests use.

Each job (:class:`RunJob`) trains one run through the one runner, in the run's own
directory under ``--out``, which must be on a filesystem every node sees:

* it first claims the run (:mod:`~escnn_soft.experiments.claims`); a run claimed by a live
  worker (another launcher's job, say) is left to it, and the launcher waits until that
  run has finished, or its claim has gone stale, then sends it again;
* a job that the scheduler pre-empts or stops at its time limit is requeued by submitit
  (its ``checkpoint`` hook, :meth:`RunJob.checkpoint`) and continues from the run's last
  finished epoch, the checkpoint the runner writes after every epoch; a job killed
  outright leaves a stale claim, and the next launch resumes the run the same way;
* a job with several GPUs (``gpus_per_job`` above 1) runs one task per GPU and trains its
  run with all of them (:mod:`~escnn_soft.experiments.distributed`).

``--report-only`` afterwards (or meanwhile) reports whatever has finished, wherever it ran.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from . import claims

__all__ = ["EXECUTORS", "ClusterOptions", "RunJob", "check_split", "require_submitit", "executor", "train_on_cluster"]

EXECUTORS: Tuple[str, ...] = ("slurm", "local", "debug")
r"""The values of ``--cluster``: submitit's ``AutoExecutor`` with the SLURM cluster, its
``LocalExecutor`` (a process per job on this machine) and ``DebugExecutor`` (in this process)."""

POLL_SECONDS: float = 10.0
r"""How often a launcher looks at jobs and at runs claimed by other workers."""


@dataclass(frozen=True)
class ClusterOptions:
    r"""Where and how the jobs run.

    Attributes:
        executor (str): one of :data:`EXECUTORS`.
        folder (Path): submitit's folder for job scripts, pickles and logs.
        partition (str, optional): the SLURM partition.
        time_minutes (int): the time limit of a job; a run that needs longer is requeued
            from its checkpoint (up to ``max_requeues`` times).
        gpus_per_job (int): GPUs per job; above 1, one task per GPU trains the run together.
        cpus_per_job (int): CPU cores per job (per task with several GPUs).
        array (bool): submit the runs as one job array instead of one job per run.
        array_parallelism (int, optional): at most this many array tasks at a time.
        sync_bn (bool): batch statistics over all tasks of a multi-GPU job.
        max_requeues (int): how many times a job may time out and be requeued.
        wait (bool): wait for the jobs and write the reports; otherwise return once they are
            submitted (SLURM only: local jobs end with their launcher).
    """

    executor: str
    folder: Path
    partition: Optional[str] = None
    time_minutes: int = 240
    gpus_per_job: int = 0
    cpus_per_job: int = 1
    array: bool = False
    array_parallelism: Optional[int] = None
    sync_bn: bool = False
    max_requeues: int = 3
    wait: bool = True


def check_split(batch_size: int, train_size: int, processes: int) -> Optional[str]:
    r"""Why batches of ``batch_size`` from ``train_size`` samples do not split evenly over
    ``processes`` (:mod:`~escnn_soft.experiments.distributed`), with the fix; ``None`` when they
    do. (A last batch of one sample is dropped by the runner, so it does not count.)"""
    last = train_size % batch_size
    if batch_size % processes or (last > 1 and last % processes):
        return (f"batches must split evenly over the {processes} processes: --batch-size {batch_size} and the last "
                f"batch of {last} samples (--train-size {train_size}) must be multiples of {processes}; choose e.g. "
                f"--batch-size {batch_size // processes * processes or processes} and a --train-size that is a "
                f"multiple of it")
    return None


def require_submitit() -> Any:
    r"""The ``submitit`` module.

    Raises:
        ImportError: naming the install command, if it is missing.
    """
    try:
        import submitit
    except ImportError:
        raise ImportError("--cluster needs submitit: pip install escnn_soft[cluster] (or pip install submitit)") \
            from None
    return submitit


def executor(cluster: ClusterOptions) -> Any:
    r"""The submitit executor of ``cluster``, its parameters set."""
    submitit = require_submitit()
    if cluster.executor == "debug":
        return submitit.DebugExecutor(folder=cluster.folder)
    tasks = max(cluster.gpus_per_job, 1)
    params: Dict[str, Any] = dict(timeout_min=cluster.time_minutes, tasks_per_node=tasks, nodes=1,
                                  cpus_per_task=cluster.cpus_per_job, gpus_per_node=cluster.gpus_per_job)
    if cluster.executor == "local":
        ex = submitit.LocalExecutor(folder=cluster.folder, max_num_timeout=cluster.max_requeues)
        params.pop("cpus_per_task"), params.pop("nodes")
        if cluster.gpus_per_job == 0:
            params.pop("gpus_per_node")
    else:
        ex = submitit.AutoExecutor(folder=cluster.folder, cluster="slurm", slurm_max_num_timeout=cluster.max_requeues)
        params["name"] = "escnn-soft"
        if cluster.partition is not None:
            params["slurm_partition"] = cluster.partition
        if cluster.array_parallelism is not None:
            params["slurm_array_parallelism"] = cluster.array_parallelism
    ex.update_parameters(**params)
    return ex


@dataclass
class RunJob:
    r"""One run of a comparison as a job: claim it, train it (or resume it), release it.

    Returns ``{"status": "trained" | "finished" | "claimed", ...}``: the result of the run
    it trained (``"trained"``) or found finished or diverged (``"finished"``; a diverged run is
    trained again with the comparison's ``retrain_diverged``), or the claim of the worker that
    holds it (``"claimed"``), in which case it trained nothing.
    """

    options: Any
    group: str
    config: Any
    sync_bn: bool = False

    def __call__(self) -> Dict[str, Any]:
        from .reports import is_diverged
        from .runner import finished_run

        run_dir = Path(self.options.out) / "runs" / self.config.name()
        done = finished_run(run_dir, self.config)
        if done is not None and not (self.options.retrain_diverged and is_diverged(done)):
            return {"status": "finished", "result": done}
        if _tasks() > 1:
            return self._distributed(run_dir)
        held = claims.claim(run_dir, self.config.to_dict())
        if held is None:
            return {"status": "claimed", "claim": claims.holder(run_dir)}
        with held:
            return {"status": "trained", "result": self._train()}

    def _train(self, trainer: Any = None) -> Dict[str, Any]:
        import torch

        from .cli import _train, prepare

        if self.options.threads is not None:
            torch.set_num_threads(self.options.threads)
        task, source = prepare(self.options)
        _, result = _train(task, source, replace(self.options, progress=False), self.group, self.config, None, None,
                           trainer=trainer)
        return result

    def _distributed(self, run_dir: Path) -> Dict[str, Any]:
        import submitit
        import torch.distributed as dist

        from . import distributed

        submitit.helpers.TorchDistributedEnvironment().export()
        here, device = distributed.init(self.options.device)
        held = claims.claim(run_dir, self.config.to_dict()) if here.main else None
        go = [held is not None]
        dist.broadcast_object_list(go, 0)
        if not go[0]:
            return {"status": "claimed", "claim": claims.holder(run_dir)}
        try:
            trainer = lambda *a, **k: distributed.train_run(*a, sync_bn=self.sync_bn, **k)  # noqa: E731
            return {"status": "trained", "result": self._train(trainer=trainer)}
        finally:
            if held is not None:
                held.release()

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        r"""submitit's hook on pre-emption and time-out: requeue this job as it is; the
        runner's last checkpoint is where it continues."""
        return require_submitit().helpers.DelayedSubmission(self, *args, **kwargs)


def _tasks() -> int:
    try:
        import submitit

        return submitit.JobEnvironment().num_tasks
    except (ImportError, RuntimeError):
        return 1


_Todo = Sequence[Tuple[str, Any]]


def _submit(ex: Any, jobs: List[RunJob], array: bool) -> List[Any]:
    if array:
        with ex.batch():
            submitted = [ex.submit(job) for job in jobs]
        return submitted
    return [ex.submit(job) for job in jobs]


def _wait_for_others(out: Path, configs: List[Any], poll: float) -> None:
    r"""Wait while any of the runs ``configs`` is unfinished and held by a live claim."""
    from .runner import load_result

    while True:
        waiting = [c for c in configs if load_result(out / "runs" / c.name()) is None
                   and claims.holder(out / "runs" / c.name()) is not None]
        if not waiting:
            return
        time.sleep(poll)


def train_on_cluster(options: Any, todo: _Todo, cluster: ClusterOptions, *,
                     poll: Optional[float] = None) -> Iterator[Tuple[Any, Dict[str, Any], bool]]:
    r"""The runs of ``todo`` as jobs of ``cluster``; yields ``(config, result, trained)`` for each
    run as it ends, ``trained`` false for the runs other workers finished. Runs claimed by other workers are
    waited for and, if their claim goes stale unfinished, sent again; with ``cluster.wait``
    false, yields nothing and returns once the jobs are submitted.

    ``poll`` is how often the jobs and claims are looked at (:data:`POLL_SECONDS` by default).

    Raises:
        RuntimeError: for a job that failed (its error and the log's folder).
    """
    from .runner import load_result

    poll = POLL_SECONDS if poll is None else poll
    ex = executor(cluster)
    out = Path(options.out)
    pending = list(todo)
    while pending:
        jobs = [RunJob(options, group, config, cluster.sync_bn) for group, config in pending]
        submitted = _submit(ex, jobs, cluster.array)
        print(f"{len(submitted)} job(s) submitted to {cluster.executor} ({cluster.folder}): "
              f"{', '.join(str(j.job_id) for j in submitted[:5])}{' ...' if len(submitted) > 5 else ''}")
        if not cluster.wait:
            return
        others = []
        runs = {id(job): run for job, run in zip(submitted, jobs)}
        for job in require_submitit().helpers.as_completed(submitted, poll_frequency=poll):
            run = runs[id(job)]
            try:
                outcome = job.result()
            except Exception as e:
                raise RuntimeError(f"the job {job.job_id} of {run.config.name()} failed: {str(e).splitlines()[-1]} "
                                   f"(its log is in {cluster.folder})") from None
            if outcome["status"] == "claimed":
                others.append((run.group, run.config))
            else:
                yield run.config, outcome["result"], outcome["status"] == "trained"
        _wait_for_others(out, [c for _, c in others], poll)
        pending = []
        for group, config in others:
            result = load_result(out / "runs" / config.name())
            if result is None:
                pending.append((group, config))
            else:
                yield config, result, False
