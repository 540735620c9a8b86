r"""Train the runs of a comparison: one after the other, in ``--jobs`` processes, as cluster jobs, or
by all processes of ``torchrun`` together.

:mod:`~escnn_soft.experiments.comparison` decides which runs a command means and which of them
need training; :func:`train_runs` trains those, each through
:func:`~escnn_soft.experiments.runner.train_one`, and yields each run's result as it ends:

* one after the other in this process (the default), the data of each group, training size and data settings
  loaded once;
* ``--jobs N``: ``N`` spawned processes, each given the task and its opened source once, each run
  given to one process only; the processes end with the comparison (an error, Ctrl-C or SIGTERM
  terminates them, and on Linux they also end if it is killed);
* ``--cluster``: one submitit job per run (:mod:`~escnn_soft.experiments.cluster`);
* under ``torchrun`` (``WORLD_SIZE`` above 1): every run by all processes together
  (:mod:`~escnn_soft.experiments.distributed`).

Runs trained here, in ``--jobs`` processes and as cluster jobs are claimed first
(:mod:`~escnn_soft.experiments.claims`): a run another live process holds is not trained, and
yields ``None``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
from dataclasses import replace
from functools import partial
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from . import claims, distributed
from .cluster import train_on_cluster
from .options import Options, world
from .runner import RunConfig, train_one
from .task import Source, Task, TaskData, data_settings

__all__ = ["run_label", "train_runs"]

Todo = Sequence[Tuple[str, RunConfig]]
r"""The runs to train, each with its group."""

OnEpoch = Optional[Callable[[int, Dict[str, Any]], None]]

Ran = Iterator[Tuple[RunConfig, Optional[Dict[str, Any]]]]
r"""Each run as it ends, with its result (``None``: another live process holds it)."""


def run_label(config: RunConfig, options: Optional[Options] = None) -> str:
    r"""A run as the comparison's lines name it: its group, model and seed, and with the comparison's
    ``options`` its values of the settings they sweep (those given several values) that it has.

    Example:
        >>> from escnn_soft.experiments import get_task
        >>> from escnn_soft.experiments.cli import parse_args
        >>> from escnn_soft.experiments.comparison import run_configs
        >>> options = parse_args(["--models", "cnn-aug,soft", "--lam", "0.1,1", "--pair-fraction", "0.5,1"])
        >>> [run_label(c, options) for c in run_configs(get_task("mnist"), options, "C4", data="x")]
        ... # doctest: +NORMALIZE_WHITESPACE
        ['C4 cnn-aug seed 0', 'C4 soft seed 0, lam 0.1, pair_fraction 0.5', 'C4 soft seed 0, lam 0.1, pair_fraction 1',
         'C4 soft seed 0, lam 1, pair_fraction 0.5', 'C4 soft seed 0, lam 1, pair_fraction 1']
    """
    label = f"{config.group} {config.model} seed {config.seed}"
    if options is None:
        return label
    hyper = config.hyperparameters
    swept = [("train_size", options.train_sizes, config.train_size), ("lr", options.lrs, hyper["lr"]),
             ("lam", options.lams, hyper.get("lam")),
             ("pair_fraction", options.pair_fractions, hyper.get("pair_fraction", 1) if "lam" in hyper else None)]
    return ", ".join([label] + [f"{name} {value:g}" for name, values, value in swept
                                if len(values) > 1 and value is not None])


def _data_key(task: Task, config: RunConfig) -> str:
    r"""What the data of run ``config`` depends on beyond the comparison's options: its group, training
    size and data settings (:func:`~escnn_soft.experiments.task.data_settings`); runs with one key share
    the data."""
    return json.dumps([config.group, config.train_size, data_settings(task, config.hyperparameters)],
                      sort_keys=True)


def _train(task: Task, source: Source, options: Options, config: RunConfig, data: Optional[TaskData],
           on_epoch: OnEpoch, trainer: Optional[Callable[..., Any]] = None, claim: bool = True
           ) -> Tuple[Optional[TaskData], Optional[Dict[str, Any]]]:
    r""":func:`~escnn_soft.experiments.runner.train_one` of ``config`` with the settings of ``options``,
    while holding a claim on the run (:func:`~escnn_soft.experiments.claims.claim`) unless ``claim`` is
    false; returns ``(data, None)`` without training (or loading data) when another live process holds
    the run."""
    train = partial(train_one, task, source, config, options.out, data=data, device=options.device,
                    equivariance_batch=options.equivariance_batch, progress=options.progress,
                    retrain_diverged=options.retrain_diverged, restart_corrupt=options.restart_corrupt,
                    on_epoch=on_epoch, trainer=trainer)
    if not claim:
        return train()
    held = claims.claim(options.out / "runs" / config.name(), config.to_dict())
    if held is None:
        return data, None
    with held:
        return train()


def _train_sequential(task: Task, source: Source, options: Options, todo: Todo, on_epoch: OnEpoch,
                      trainer: Optional[Callable[..., Any]] = None, claim: bool = True) -> Ran:
    r"""The runs of ``todo`` one after the other, in this process, the data of each group (training size and data
    settings) loaded once (:func:`_train`)."""
    data, loaded = None, None
    for _, config in todo:
        key = _data_key(task, config)
        if key != loaded:
            data, loaded = None, key
        data, result = _train(task, source, options, config, data, on_epoch, trainer=trainer, claim=claim)
        yield config, result


_WORKER: Dict[str, Any] = {}
r"""A ``--jobs`` process's task and source, and the data of its last group, training size and data settings (see
:func:`_train_in_worker`)."""

_PR_SET_PDEATHSIG = 1
r"""The ``prctl`` option that has Linux signal a process when its parent ends (``<linux/prctl.h>``)."""

EXIT_GRACE_SECONDS = 10.0
r"""How long a ``--jobs`` process stopped while it trains may take to end before it exits at once."""


def _exit_on_sigterm() -> None:
    r"""Turn SIGTERM into :class:`SystemExit`, so that ``finally`` blocks and context managers run
    before the process ends."""

    def leave(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)


def _leave_worker(signum: int, frame: Any) -> None:
    r"""SIGTERM in a ``--jobs`` process while it trains a run: :class:`SystemExit`, so that
    ``finally`` blocks run and its claim is released. A process that has not ended
    :data:`EXIT_GRACE_SECONDS` after the signal exits at once, so that the comparison waiting for
    it can end too. Between runs the process has SIGTERM's default action, which ends it at once
    whichever of its threads the signal reaches (a Python handler runs in the main thread only, and
    an idle process's main thread may wait on a lock that no signal interrupts)."""
    watchdog = threading.Timer(EXIT_GRACE_SECONDS, os._exit, args=(128 + signum,))
    watchdog.daemon = True
    watchdog.start()
    raise SystemExit(128 + signum)


def _start_worker(parent: int, task: Task, source: Source, threads: Optional[int]) -> None:
    r"""Initialiser of a ``--jobs`` process: it keeps the prepared ``task`` and ``source``, sets torch's
    ``threads``, and ends with its parent, however the parent ends.

    On Linux the kernel sends it SIGTERM when the parent dies, SIGKILL included
    (``prctl(PR_SET_PDEATHSIG)``); a parent already gone before that was set makes it exit at
    once. SIGTERM ends it at once between runs, and as :func:`_leave_worker` says during one."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:
        raise SystemExit(1)
    if threads is not None:
        torch.set_num_threads(threads)
    _WORKER.update(task=task, source=source)


def _train_in_worker(job: Tuple[int, Options, RunConfig]) -> Tuple[int, Optional[Dict[str, Any]]]:
    r"""Run ``index, options, config = job`` of ``--jobs``, in a spawned process, under a claim
    (:func:`_train`: ``None`` for a run another process holds), with its index; the data is loaded
    once per group, training size and data settings."""
    index, options, config = job
    signal.signal(signal.SIGTERM, _leave_worker)
    try:
        key = _data_key(_WORKER["task"], config)
        if _WORKER.get("key") != key:
            _WORKER["key"], _WORKER["data"] = key, None
        _WORKER["data"], result = _train(_WORKER["task"], _WORKER["source"], replace(options, progress=False),
                                         config, _WORKER["data"], None)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return index, result


def _train_parallel(task: Task, source: Source, options: Options, todo: Todo) -> Ran:
    r"""The runs of ``todo``, ``options.jobs`` at a time in spawned processes, each given to one
    process only (and trained under a claim, :func:`_train_in_worker`); yields them as they finish.

    The processes end with the comparison: when it stops (an error, Ctrl-C, SIGTERM, which the
    main thread turns into :class:`SystemExit` while the runs train) they are terminated, and on
    Linux they also die with it if it is killed."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = (signal.getsignal(signal.SIGTERM) or signal.SIG_DFL) if main_thread else None
    if main_thread:
        _exit_on_sigterm()
    jobs = [(i, options, config) for i, (_, config) in enumerate(todo)]
    try:
        with multiprocessing.get_context("spawn").Pool(min(options.jobs, len(todo)) or 1, initializer=_start_worker,
                                                       initargs=(os.getpid(), task, source, options.threads)) as pool:
            for index, result in pool.imap_unordered(_train_in_worker, jobs):
                yield todo[index][1], result
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _train_distributed(task: Task, source: Source, options: Options, todo: Todo, on_epoch: OnEpoch) -> Ran:
    r"""The runs of ``todo`` one after the other, each by all processes of ``torchrun`` together
    (:func:`~escnn_soft.experiments.distributed.train_run`), without claims: every process
    trains every run."""
    here, device = distributed.init(options.device)
    options = replace(options, device=device, progress=options.progress if here.main else False)
    yield from _train_sequential(task, source, options, todo, on_epoch if here.main else None,
                                 trainer=partial(distributed.train_run, sync_bn=options.sync_bn), claim=False)


def train_runs(task: Task, source: Source, options: Options, todo: Todo, on_epoch: OnEpoch = None,
               elsewhere: Optional[List[str]] = None) -> Ran:
    r"""Train the runs of ``todo`` as ``options`` says: as cluster jobs (``options.cluster``), by
    ``torchrun``'s processes together, in ``options.jobs`` processes, or one after the other here; torch
    uses ``options.threads`` threads in each process that trains.

    Args:
        task (Task): the task; source (Source): its opened data (:func:`~escnn_soft.experiments.comparison.prepare`).
        options (Options): the comparison.
        todo: the runs, each with its group.
        on_epoch (callable, optional): passed to :func:`~escnn_soft.experiments.runner.train_run`, for
            runs trained in this process.
        elsewhere (list, optional): the labels (:func:`run_label`) of the runs that other cluster workers
            finished meanwhile are appended to it.

    Yields:
        ``(config, result)`` for each run as it ends; ``result`` is ``None`` for a run another live
        process holds.
    """
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    if options.cluster is not None:
        for config, result, trained_here in train_on_cluster(task, source, options, todo, options.cluster):
            if not trained_here and elsewhere is not None:
                elsewhere.append(run_label(config, options))
            yield config, result
    elif world().size > 1:
        yield from _train_distributed(task, source, options, todo, on_epoch)
    elif options.jobs > 1:
        yield from _train_parallel(task, source, options, todo)
    else:
        yield from _train_sequential(task, source, options, todo, on_epoch)
