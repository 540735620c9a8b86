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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist

from . import claims, distributed
from .options import ClusterOptions, Options, require_submitit
from .results import finished_run, is_diverged, load_result
from .runner import RunConfig, train_one
from .task import Source, Task

__all__ = ["RunJob", "executor", "train_on_cluster"]

POLL_SECONDS: float = 10.0
r"""How often a launcher looks at jobs and at runs claimed by other workers."""


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

    The job carries the task and its opened ``source`` as the launcher prepared them (pickled
    with the job), and the comparison's ``options``; it loads the run's data from ``source``
    (:func:`~escnn_soft.experiments.runner.train_one`).
    """

    task: Task
    source: Source
    options: Options
    group: str
    config: RunConfig
    sync_bn: bool = False

    def __call__(self) -> Dict[str, Any]:
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

    def _train(self, trainer: Any = None, device: Optional[str] = None) -> Dict[str, Any]:
        options = self.options
        if options.threads is not None:
            torch.set_num_threads(options.threads)
        _, result = train_one(self.task, self.source, self.config, options.out, device=device or options.device,
                              equivariance_batch=options.equivariance_batch, progress=False,
                              retrain_diverged=options.retrain_diverged, restart_corrupt=options.restart_corrupt,
                              trainer=trainer)
        return result

    def _distributed(self, run_dir: Path) -> Dict[str, Any]:
        require_submitit().helpers.TorchDistributedEnvironment().export()
        here, device = distributed.init(self.options.device)
        held = claims.claim(run_dir, self.config.to_dict()) if here.main else None
        go = [held is not None]
        dist.broadcast_object_list(go, 0)
        if not go[0]:
            return {"status": "claimed", "claim": claims.holder(run_dir)}
        try:
            trainer = lambda *a, **k: distributed.train_run(*a, sync_bn=self.sync_bn, **k)  # noqa: E731
            return {"status": "trained", "result": self._train(trainer=trainer, device=device)}
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


_Todo = Sequence[Tuple[str, RunConfig]]


def _submit(ex: Any, jobs: List[RunJob], array: bool) -> List[Any]:
    if array:
        with ex.batch():
            submitted = [ex.submit(job) for job in jobs]
        return submitted
    return [ex.submit(job) for job in jobs]


def _wait_for_others(out: Path, configs: List[RunConfig], poll: float) -> None:
    r"""Wait while any of the runs ``configs`` is unfinished and held by a live claim."""
    while True:
        waiting = [c for c in configs if load_result(out / "runs" / c.name()) is None
                   and claims.holder(out / "runs" / c.name()) is not None]
        if not waiting:
            return
        time.sleep(poll)


def train_on_cluster(task: Task, source: Source, options: Options, todo: _Todo, cluster: ClusterOptions, *,
                     poll: Optional[float] = None) -> Iterator[Tuple[RunConfig, Dict[str, Any], bool]]:
    r"""The runs of ``todo`` (of ``task``, on its opened ``source``) as jobs of ``cluster``; yields ``(config, result, trained)`` for each
    run as it ends, ``trained`` false for the runs other workers finished. Runs claimed by other workers are
    waited for and, if their claim goes stale unfinished, sent again; with ``cluster.wait``
    false, yields nothing and returns once the jobs are submitted.

    ``poll`` is how often the jobs and claims are looked at (:data:`POLL_SECONDS` by default).

    Raises:
        RuntimeError: for a job that failed (its error and the log's folder).
    """
    poll = POLL_SECONDS if poll is None else poll
    ex = executor(cluster)
    out = Path(options.out)
    pending = list(todo)
    while pending:
        jobs = [RunJob(task, source, options, group, config, cluster.sync_bn) for group, config in pending]
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
