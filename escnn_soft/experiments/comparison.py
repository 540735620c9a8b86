r"""The plan of a comparison: which runs a command means, which of them are finished, and the reports.

:func:`compare` takes the :class:`~escnn_soft.experiments.options.Options` of ``escnn-soft compare``
(:mod:`~escnn_soft.experiments.cli`), opens the task and its data (:func:`prepare`), lists the runs
(:func:`run_configs`, one per group, seed, model and swept value), finds those finished under ``--out``
(:func:`~escnn_soft.experiments.results.find_runs`), has the others trained
(:func:`~escnn_soft.experiments.execution.train_runs`) and writes the reports
(:mod:`~escnn_soft.experiments.reports`), with the scores at equal compute of a budget of training FLOPs
(:mod:`~escnn_soft.experiments.compute`; ``--compute-budget``, by default the smallest planned one
among the runs compared, :func:`~escnn_soft.experiments.reports.compute_budgets`).
With ``--report-only`` it trains nothing and reads no data unless a data source is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from tqdm.auto import tqdm

from ..learned import record_summary
from . import tasks  # noqa: F401  (registers the tasks)
from .claims import held_runs, holder
from .compute import epoch_flops_by_run
from .execution import run_label, train_runs
from .options import Options, UsageError, world
from .reports import compute_budgets, format_score, format_table, write_reports
from .results import RunFolderError, check_budget, find_runs, fits_one_epoch, is_diverged, run_name
from .runner import RunConfig
from .task import Source, Task, get_task

__all__ = ["compare", "prepare", "reference_model", "run_configs"]


def run_configs(task: Task, options: Options, group: str, data: str) -> List[RunConfig]:
    r"""The runs of ``options`` for ``group`` of ``task``, with the data fingerprint ``data``: one per seed,
    model and combination of the swept values (training set size, learning rate, :math:`\lambda` and
    :math:`\beta`), each model once per distinct key, so a model without a swept setting runs once.

    ``options.lrs`` replace the learning rate of every model; ``options.lams`` the :math:`\lambda` of the
    models with a latent term (``"lam"`` above 0; a control at :math:`\lambda = 0` keeps it);
    ``options.shifted_weight`` and ``options.l2`` replace the hyperparameters of the models that have them;
    ``options.pair_fractions``
    are the hyperparameter ``"pair_fraction"`` of the models that have ``"lam"``, which record 1 when it is
    not given; ``options.c4_data`` (``None``: the task's default) replaces the hyperparameter
    ``"c4_data"`` of tasks that have one (:attr:`~escnn_soft.experiments.specs.TaskSpec.c4_data`).

    Raises:
        ValueError: for a ``c4_data`` the task or ``group`` does not have.

    Example:
        >>> from escnn_soft.experiments import get_task
        >>> from escnn_soft.experiments.cli import parse_args
        >>> options = parse_args(["--models", "cnn-aug,soft", "--lam", "0.1,1", "--train-size", "500,1000"])
        >>> [(c.model, c.train_size, c.hyperparameters.get("lam"))
        ...  for c in run_configs(get_task("mnist"), options, "C4", data="x")]  # doctest: +NORMALIZE_WHITESPACE
        [('cnn-aug', 500, None), ('cnn-aug', 1000, None), ('soft', 500, 0.1), ('soft', 500, 1.0),
         ('soft', 1000, 0.1), ('soft', 1000, 1.0)]
    """
    if options.c4_data is not None:
        task.spec.check_c4_data(options.c4_data, (group,))
    configs: Dict[str, RunConfig] = {}
    for seed in options.seeds:
        for model in options.models:
            for train_size, lr, lam, pair_fraction in product(options.train_sizes, options.lrs or (None,),
                                                              options.lams or (None,),
                                                              options.pair_fractions or (None,)):
                hyper = task.hyperparameters(model, group)
                if lr is not None:
                    hyper["lr"] = lr
                if lam is not None and hyper.get("lam", 0) > 0:   # not a control fixed at λ = 0 (SMOKE's cnn-aug)
                    hyper["lam"] = lam
                if "lam" in hyper:   # the models with the soft loss record their β, 1 when not given
                    hyper["pair_fraction"] = 1.0 if pair_fraction is None else float(pair_fraction)
                if options.shifted_weight is not None and "shifted_weight" in hyper:
                    hyper["shifted_weight"] = options.shifted_weight
                if options.l2 is not None and "l2" in hyper:
                    hyper["l2"] = options.l2
                if options.c4_data is not None:
                    hyper["c4_data"] = options.c4_data
                config = RunConfig(task=task.name, group=group, model=model, seed=seed, epochs=options.epochs,
                                   train_size=train_size, batch_size=options.batch_size, hyperparameters=hyper,
                                   data=data, data_seed=options.data_seed, patience=options.patience,
                                   eval_size=options.eval_size, equivariance_elements=options.equivariance_elements)
                configs.setdefault(config.name(), config)
    return list(configs.values())


def reference_model(options: Options) -> Optional[str]:
    r"""The model the reports compare every other with: ``options.reference``, else cnn-aug where it is
    among the models run, else none.

    Example:
        >>> from escnn_soft.experiments.cli import parse_args
        >>> [reference_model(parse_args(["--models", m])) for m in ("cnn-aug,soft", "cnn,soft")]
        ['cnn-aug', None]
    """
    if options.reference is not None:
        return options.reference
    return "cnn-aug" if "cnn-aug" in options.models else None


def _settings(config: Mapping[str, Any]) -> str:
    r"""A run's settings without its data fingerprint, as a comparable string."""
    return json.dumps({k: v for k, v in config.items() if k != "data"}, sort_keys=True)


def _finished_runs(options: Options, configs: Sequence[Any], *, match_data: bool) -> List[Optional[Dict[str, Any]]]:
    r"""The finished or diverged run of each of ``configs`` under ``options.out``, or ``None``; training
    and ``--report-only`` find runs alike (:func:`~escnn_soft.experiments.results.find_runs`), the latter
    without their data unless ``match_data``.

    Raises:
        UsageError: for a run folder that cannot be read or records other settings than its
            name's, and for finished runs that differ only in their data.
    """
    try:
        found = find_runs(Path(options.out) / "runs", configs, match_data=match_data)
    except RunFolderError as e:
        raise UsageError(str(e)) from None
    for config, runs in zip(configs, found):
        if len(runs) > 1:
            raise UsageError(f"{len(runs)} finished runs of {run_label(config, options)} differ only in their data "
                             f"({', '.join(r['name'] for r in runs)}); give --data to pick by the data")
    return [runs[0] if runs else None for runs in found]


def prepare(options: Options) -> Tuple[Task, Source]:
    r"""Load the task, open the data and check that the settings fit it, before any training.

    Returns:
        ``(task, source)``: the :class:`~escnn_soft.experiments.task.Task` and its
        :class:`~escnn_soft.experiments.task.Source`.

    Raises:
        UsageError: for a missing or unreadable data source or a training set size it cannot give
            (every size of a sweep, the largest first).
    """
    task = get_task(options.task)
    try:
        source = task.open(options.source)
        for train_size in sorted(options.train_sizes, reverse=True):   # the largest first
            task.check(source, train_size)
    except (OSError, ValueError) as e:
        raise UsageError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    return task, source


def _report_only(options: Options) -> Tuple[Task, _Outcome]:
    r"""The task and the finished (and diverged) runs of ``options``, found as training finds them
    (:func:`_finished_runs`), and the runs not finished, with those held by a live process."""
    if options.source is None:
        task, fingerprint = get_task(options.task), None
    else:
        task, source = prepare(options)
        fingerprint = source.fingerprint
    configs = [config for group in options.groups for config in run_configs(task, options, group, data=fingerprint or "")]
    found = _finished_runs(options, configs, match_data=fingerprint is not None)
    training = {_settings(info["run"]): info for info in held_runs(Path(options.out) / "runs").values()
                if info.get("run")}
    results, missing = [], []
    for config, result in zip(configs, found):
        held = training.get(_settings(config.to_dict()))
        if result is not None:
            results.append(result)
        elif held is not None:
            missing.append(f"{run_label(config, options)} (training on {held['host']}, pid {held['pid']}, since "
                           f"{held['claimed']})")
        else:
            missing.append(run_label(config, options))
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
        UsageError: from :func:`prepare` and for a ``--compute-budget`` below one epoch of a run
            (:func:`_compute`), before any training, and for run folders that cannot be used
            (:class:`~escnn_soft.experiments.runner.RunFolderError`).
        ValueError: for ``on_epoch`` with ``options.jobs`` above 1.
    """
    if (options.jobs > 1 or options.cluster is not None) and on_epoch is not None:
        raise ValueError("on_epoch is called in the training process: give it with jobs=1 only, without a cluster")
    main_process = options.report_only or world().main
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
        flops = _flops(task, options, [r["config"] for r in outcome.results])
        reference = reference_model(options)
        budgets = (compute_budgets(outcome.results, flops, reference)
                   if flops is not None and options.compute_budget is None else options.compute_budget)
        rows = write_reports(outcome.results, reports, task, budget=options.budget_report, reference=reference,
                             compute=flops, compute_budget=budgets)
        print(format_table(rows, task))
        if flops is not None and options.compute_budget is None:
            short = sorted(name for name, budget in budgets.items() if not fits_one_epoch(flops[name], budget))
            if short:
                print(f"no score at equal compute for {len(short)} run(s), not one epoch of which fits the smallest "
                      f"planned budget of the runs they are compared with ({', '.join(short)}): --compute-budget sets "
                      f"one budget for every run")
    for line in _outcome_lines(outcome, reports):
        print(line)
    return outcome.results


def _flops(task: Task, options: Options, configs: Sequence[Any]) -> Optional[Dict[str, int]]:
    r"""The training FLOPs per epoch of each run of ``configs`` (run settings, or the ``config`` of a
    ``result.json``), by run name (:func:`~escnn_soft.experiments.compute.epoch_flops_by_run`), for the
    reports' scores at equal compute; ``None`` for a task that gives no batch without its data
    (:meth:`~escnn_soft.experiments.task.Task.example_batch`).

    The reports' budget is ``options.compute_budget`` or, by default, the smallest planned budget among
    the runs compared (:func:`~escnn_soft.experiments.reports.compute_budgets`); the runs not one epoch of
    which fits it have no score there.

    Raises:
        UsageError: for a ``--compute-budget`` below one epoch of a run, naming the smallest valid
            value, or given for a task whose FLOPs cannot be counted.
    """
    configs = [c.to_dict() if isinstance(c, RunConfig) else c for c in configs]
    try:
        flops = epoch_flops_by_run(task, configs)
    except NotImplementedError as e:
        if options.compute_budget is not None:
            raise UsageError(f"--compute-budget cannot be used here: {e}") from None
        return None
    if options.compute_budget is not None:
        try:
            check_budget(options.compute_budget, flops)
        except ValueError as e:
            raise UsageError(str(e)) from None
    return flops


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
    return result is None or (options.retrain_diverged and is_diverged(result))


def _train_grid(options: Options, on_epoch: Optional[Callable[[int, Dict[str, Any]], None]], main_process: bool
                ) -> Tuple[Task, _Outcome]:
    r"""Train the runs of ``options`` that need it (:func:`_needs_training`) and reuse the others;
    returns the task and the :class:`_Outcome`."""
    task, source = prepare(options)
    grid = [(group, config) for group in options.groups
            for config in run_configs(task, options, group, data=source.fingerprint)]
    if options.compute_budget is not None:
        _flops(task, options, [c for _, c in grid])   # a budget below one epoch fails before any training
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
            write(_run_line(config, result, task, options))
    try:
        for config, result in train_runs(task, source, options, todo, on_epoch, outcome.elsewhere):
            bar.update()
            if result is None:
                outcome.held.append(_held_label(options, config))
                write(f"{outcome.held[-1]}: skipped")
                continue
            found[config.name()] = result
            outcome.trained += 1
            write(_run_line(config, result, task, options))
    except RunFolderError as e:
        raise UsageError(str(e)) from None
    bar.close()
    outcome.results = [found[config.name()] for _, config in grid if found[config.name()] is not None]
    return task, outcome


def _outcome_lines(outcome: _Outcome, reports: Path) -> List[str]:
    r"""The closing lines of a comparison: what was trained and reused, and the runs that diverged, are
    held by another process or have not finished."""
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


def _held_label(options: Options, config: RunConfig) -> str:
    r"""A run another live process holds, with that process (:func:`~escnn_soft.experiments.claims.holder`)."""
    info = holder(Path(options.out) / "runs" / config.name())
    where = "" if info is None else f" ({info['host']}, pid {info['pid']}, since {info['claimed']})"
    return f"{run_label(config, options)}: trained by another process{where}"


def _run_line(config: RunConfig, result: Mapping[str, Any], task: Task, options: Options) -> str:
    if is_diverged(result):
        return (f"{run_label(config, options)}: diverged at epoch {result['diverged_at_epoch']}/{config.epochs} "
                f"(training loss not finite); no scores")
    score = format_score(result["test_score"], None, task.metric, unit=True)
    decomposition = result.get("analysis", {}).get("decomposition")
    learned = None if decomposition is None else record_summary(decomposition)
    stopped = f", stopped at {len(result['history'])}" if result.get("stopped_early") else ""
    return (f"{run_label(config, options)}: test {task.metric} {score} (best val epoch {result['best_epoch']}/"
            f"{config.epochs}{stopped}), {result['seconds_per_epoch']:.1f} s/epoch"
            + ("" if learned is None else f"; learned latent action {learned}"))
