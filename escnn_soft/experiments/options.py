r"""What every layer of the comparison harness shares, without loading torch: the options of a comparison,
its usage error, and where this process stands among the processes of one run.

:mod:`~escnn_soft.experiments.cli` parses a command line into :class:`Options`;
:mod:`~escnn_soft.experiments.comparison` plans its runs and
:mod:`~escnn_soft.experiments.execution` (with :mod:`~escnn_soft.experiments.cluster` and
:mod:`~escnn_soft.experiments.distributed`) trains them. All of them import this module, and it imports
none of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Tuple

__all__ = ["EXECUTORS", "ClusterOptions", "Options", "UsageError", "World", "check_split", "require_submitit",
           "world"]


class UsageError(ValueError):
    r"""A bad command line, or data or run folders it cannot use: reported in one line, exit status 2."""


EXECUTORS: Tuple[str, ...] = ("slurm", "local", "debug")
r"""The values of ``--cluster``: submitit's ``AutoExecutor`` with the SLURM cluster, its
``LocalExecutor`` (a process per job on this machine) and ``DebugExecutor`` (in this process)."""


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


@dataclass(frozen=True)
class Options:
    r"""The settings of one comparison (the parsed command line).

    Attributes:
        task (str): a registered task.
        groups (tuple of str): its groups to run.
        models (tuple of str): its models to run.
        seeds (tuple of int): the seeds; each model is trained once per seed.
        epochs (int): epochs per run.
        train_sizes (tuple of int): the training set sizes; each model is trained once per size
            (a sweep when there are several).
        batch_size (int): training batch size.
        source (str, optional): the data source, as the task's ``open`` takes it (``None``: the
            task's default).
        out (Path): the output directory.
        device (str, optional): where to train; ``None``: CUDA if available, else the CPU.
        lrs (tuple of float): learning rates, each for all models instead of the task's; each model
            is trained once per rate; ``()``: the task's.
        lams (tuple of float): values of :math:`\lambda` for the models with a latent term (``"lam"`` above 0
            in the task's table; a control at :math:`\lambda = 0`, such as SMOKE's cnn-aug, keeps it), instead of
            the task's; each such model is trained once per value, the others once; ``()``: the task's.
        pair_fractions (tuple of float): values of :math:`\beta \in (0, 1]`, the fraction of each batch
            the second encoder pass of the soft loss runs on
            (:attr:`~escnn_soft.SoftEquivarianceLoss.pair_fraction`), each the hyperparameter
            ``"pair_fraction"`` of the models that have ``"lam"`` (recorded as 1 when none is given);
            each such model is trained once per value, the others once; ``()``: 1.
        l2 (float, optional): the L2 coefficient of cnn-aug-l2 (hyperparameter ``l2``),
            instead of the task's.
        c4_data (str, optional): the C4 data of a task that has a choice of it, one of its spec's
            (:attr:`~escnn_soft.experiments.specs.TaskSpec.c4_data`), recorded in every run's
            hyperparameters; ``None``: the task's default.
        data_seed (int): fixes the data (pairs, evaluation sets, fixed poses).
        equivariance_batch (int): the number of test inputs for equivariance errors.
        threads (int, optional): CPU threads for torch (``torch.set_num_threads``);
            ``None`` leaves torch's default.
        progress (bool, optional): progress bars; ``None``: only on a terminal.
        shifted_weight (float, optional): the weight of the soft model's shifted task
            term, instead of the task's.
        report_only (bool): train nothing; report the finished runs and list the others.
        patience (int, optional): early stopping after this many epochs without a better
            validation score (:attr:`~escnn_soft.experiments.runner.RunConfig.patience`);
            ``None``: every run trains all its epochs.
        budget_report (int, optional): also report the scores at the best validation epoch
            among the first this many.
        jobs (int): runs trained at a time, each in its own process.
        cluster (ClusterOptions, optional): send the runs to a cluster (or submitit's local
            executors) as jobs (:mod:`~escnn_soft.experiments.cluster`); ``None``: train here.
        sync_bn (bool): with several processes per run (``torchrun``, or a multi-GPU job),
            batch statistics over all of them.
        eval_size (int, optional): validation and test sets cut to a fixed sample of this many
            (:attr:`~escnn_soft.experiments.runner.RunConfig.eval_size`); ``None``: whole.
        equivariance_elements (int, optional): equivariance errors at a fixed sample of this many
            non-identity elements (:attr:`~escnn_soft.experiments.runner.RunConfig.equivariance_elements`);
            ``None``: the default, all of them for groups of order up to 64.
        retrain_diverged (bool): train the runs that diverged again, from the start.
        restart_corrupt (bool): start the runs whose checkpoint cannot be read afresh.
        report_dir (Path, optional): where the reports go; ``None``: ``out``.
        reference (str, optional): the model every other is compared with in the reports (difference
            of mean test scores, Welch's 95 % interval, p-value); ``None``: ``cnn-aug`` where it is run,
            else no comparison.
        compute_budget (float, optional): the training FLOPs at which the reports score every run
            ("score at equal compute"); ``None``: for each row and the reference row it is compared with,
            the smaller planned budget of the two (epochs × training FLOPs per epoch;
            :func:`~escnn_soft.experiments.reports.compute_budgets`).
    """

    task: str
    groups: Tuple[str, ...]
    models: Tuple[str, ...]
    seeds: Tuple[int, ...]
    epochs: int
    train_sizes: Tuple[int, ...]
    batch_size: int = 256
    source: Optional[str] = None
    out: Path = Path("runs/compare")
    device: Optional[str] = None
    lrs: Tuple[float, ...] = ()
    lams: Tuple[float, ...] = ()
    pair_fractions: Tuple[float, ...] = ()
    l2: Optional[float] = None
    c4_data: Optional[str] = None
    data_seed: int = 0
    equivariance_batch: int = 256
    threads: Optional[int] = None
    progress: Optional[bool] = None
    shifted_weight: Optional[float] = None
    report_only: bool = False
    patience: Optional[int] = None
    budget_report: Optional[int] = None
    jobs: int = 1
    cluster: Optional[ClusterOptions] = None
    sync_bn: bool = False
    eval_size: Optional[int] = None
    equivariance_elements: Optional[int] = None
    retrain_diverged: bool = False
    restart_corrupt: bool = False
    report_dir: Optional[Path] = None
    reference: Optional[str] = None
    compute_budget: Optional[float] = None


class World:
    r"""This process's place among the processes of one run: ``rank``, ``size`` and ``local_rank``
    (its index on its node), read from the variables ``torchrun`` sets."""

    def __init__(self, rank: int, size: int, local_rank: int):
        self.rank, self.size, self.local_rank = rank, size, local_rank

    @property
    def main(self) -> bool:
        r"""Whether this is process 0, which writes the run's files and the reports."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"World(rank={self.rank}, size={self.size}, local_rank={self.local_rank})"


def world() -> World:
    r"""The :class:`World` of ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``, as ``torchrun`` sets them (one
    process without them).

    Raises:
        UsageError: for a variable that is not a whole number.
    """
    values = []
    for name, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)):
        text = os.environ.get(name)
        try:
            values.append(default if text is None else int(text))
        except ValueError:
            raise UsageError(f"{name} must be a whole number, as torchrun sets it, got {text!r}") from None
    return World(*values)
