r"""Reports of a comparison: one table row per run, a summary per task, group, model and setting, plots.

:func:`summarize` gives means and sample standard deviations over seeds
(:func:`~escnn_soft.records.mean_std`); :func:`format_table` the Markdown table
:mod:`escnn_soft.experiments.cli` prints; :func:`write_reports` the CSV files,
``summary.md``, ``compare.png`` and, for a sweep, ``sweep.png``; :func:`best_epoch_cells` the cells of one row of a table
of several runs, with :func:`seeds_text` and :func:`span_text`. They read the run results (``result.json``) alone,
old ones included, and load neither torch nor the tasks.

Every score is read at the epoch with the best validation score: the test score, and the
scores on the task's extra test sets (e.g. ``upright``, a column each). With a budget
``N`` (``escnn-soft compare --budget-report N``) the reports also give the scores the
epoch with the best validation score *among the first N* would give, from the same
histories: what a shorter protocol (e.g. 50 epochs inside a 150-epoch run) would have
selected, without a second run. Given the training FLOPs per epoch of each run and a budget
of FLOPs, they give the scores *at equal compute*: each run at its best-validation epoch among
those whose cumulative training FLOPs fit the budget; ``compute.png`` plots the best validation
score so far and the test score at that epoch against the training FLOPs (:func:`_compute_plot`).

A sweep (``--lam 0.05,0.5``, ``--train-size 250,1000``, ...) gives a row per value: runs are
summarized together when they differ only in their seed and data (:func:`run_settings`), and a
row names the values that tell its model's rows apart (:func:`row_label`, ``soft (lam=0.5)``).
``sweep.png`` plots the mean test score against each swept value, with the 95 % interval of the
mean from Student's t distribution.

Each model is compared with a reference model (``--reference``; cnn-aug by default where it
is run): the difference of mean test scores from the reference row of the same task, group and
swept values, with its 95 % confidence interval and two-sided p-value from Welch's t-test
(:func:`~escnn_soft.experiments.results.mean_difference`). The words follow the interval
(:func:`verdict_text`): *higher* or *lower* only where it excludes 0, else *no detectable
difference*, with the seeds on each side. Classification runs that record the share of the most
common class in each test set add a :data:`MAJORITY` baseline row.

Scores are shown as the task's metric says (:func:`format_score`): accuracies (fractions)
as percentages, any other score (e.g. the exploration autoencoders' negative
reconstruction MSE) as it is, to four significant digits.

A run that diverged (:func:`is_diverged`: its training loss was not finite) has no scores:
it is left out of every mean, listed per group and model (``diverged`` in the summary, a
column of the table when any run diverged) and kept in ``results.csv`` with its
``diverged_at_epoch`` and no scores.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..records import atomic_write, atomic_write_text, format_mean_std, mean_std, mean_std_text
from .results import (FLOPS_LEFT_OUT, at_best, best_epoch_index, best_scores, best_so_far, by_settings,
                      epochs_within_compute, fits_one_epoch, is_diverged, mean_difference, planned_budget, run_name,
                      scores_by_test_set, settings_key)

if TYPE_CHECKING:
    from .task import Task

__all__ = ["MAJORITY", "is_percentage", "score_label", "format_score", "run_devices", "best_epoch_index",
           "is_diverged", "diverged_label", "seeds_text", "span_text", "best_epoch_cells", "run_settings",
           "row_label", "verdict_text", "compute_budgets", "summarize", "format_table", "write_reports"]

MAJORITY = "majority class"
r"""The model cell of the baseline row that predicts the most common class of each test set."""


def is_percentage(metric: str) -> bool:
    r"""Whether scores named ``metric`` are fractions shown as percentages: accuracies.

    Example:
        >>> is_percentage("accuracy"), is_percentage("negative reconstruction MSE")
        (True, False)
    """
    return metric.endswith("accuracy")


def score_label(metric: str) -> str:
    r"""The heading of test scores named ``metric``: ``"test accuracy (%)"``, ``"test <metric>"`` otherwise."""
    return f"test {metric} (%)" if is_percentage(metric) else f"test {metric}"


def format_score(mean: Optional[float], std: Optional[float], metric: str, *, unit: bool = False) -> str:
    r"""``"mean ± std"`` of scores named ``metric``: percentages with two decimals for accuracies
    (with a ``%`` sign if ``unit``), four significant digits otherwise.

    Example:
        >>> format_score(0.9123, 0.01, "accuracy"), format_score(0.9123, None, "accuracy", unit=True)
        ('91.23 ± 1.00', '91.23%')
        >>> format_score(-0.0123456, 0.0004, "negative reconstruction MSE")
        '-0.01235 ± 0.0004'
    """
    if not is_percentage(metric):
        return format_mean_std(mean, std, ".4g")
    text = format_mean_std(mean, std, ".2f", scale=100)
    return f"{text}%" if unit and mean is not None else text


def run_devices(result: Dict[str, Any]) -> List[str]:
    r"""The devices a run was trained on, in the order first used: those its epochs record, or,
    for a result whose epochs record none, the ``device`` it finished on."""
    devices = [h["device"] for h in result["history"] if "device" in h]
    return list(dict.fromkeys(devices)) if devices else [result["device"]]


def diverged_label(result: Mapping[str, Any]) -> str:
    r"""How tables name a diverged run: ``"seed 1 (epoch 3)"``.

    Example:
        >>> diverged_label({"config": {"seed": 1}, "diverged_at_epoch": 3})
        'seed 1 (epoch 3)'
    """
    return f"seed {result['config']['seed']} (epoch {result['diverged_at_epoch']})"


def seeds_text(seeds: Sequence[int]) -> str:
    r"""Seeds as a table writes them: a run of three or more consecutive seeds as ``"first-last"``,
    others separated by commas, in increasing order.

    Example:
        >>> seeds_text([2, 0, 1]), seeds_text([0, 1]), seeds_text([3, 0])
        ('0-2', '0,1', '0,3')
    """
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def span_text(values: Sequence[float], spec: str, scale: float = 1.0) -> str:
    r"""``"lo–hi"`` of ``values`` times ``scale`` with the format ``spec``, or one number when both
    print alike.

    Example:
        >>> span_text([12, 30, 7], ".0f"), span_text([0.5, 0.5004], ".2f"), span_text([90, 150], ".1f", 1 / 60)
        ('7–30', '0.50', '1.5–2.5')
    """
    lo, hi = format(scale * min(values), spec), format(scale * max(values), spec)
    return lo if lo == hi else f"{lo}–{hi}"


def best_epoch_cells(results: Sequence[Mapping[str, Any]], budget: int, test_sets: Sequence[str] = ("upright",),
                     spec: str = ".3f") -> List[str]:
    r"""The cells of a table row of ``results`` (the seeds of one model and setting): their seeds
    (:func:`seeds_text`), best and last epochs (:func:`span_text`), then mean ± std of the test score
    and of each extra test set of ``test_sets`` at the best-validation epoch, and the same within the
    first ``budget`` epochs (:func:`~escnn_soft.experiments.results.scores_by_test_set`).

    Example:
        >>> runs = [{"config": {"seed": s}, "best_epoch": 2, "epochs_trained": 2,
        ...          "history": [{"val_score": 0.5, "test_score": 0.4, "test_scores": {"upright": 0.3}},
        ...                      {"val_score": 0.7, "test_score": t, "test_scores": {"upright": 0.5}}]}
        ...         for s, t in ((0, 0.6), (1, 0.8))]
        >>> best_epoch_cells(runs, budget=1)
        ['0,1', '2', '2', '0.700 ± 0.141', '0.500 ± 0.000', '0.400 ± 0.000', '0.300 ± 0.000']
    """
    full, short = scores_by_test_set(results, None, test_sets), scores_by_test_set(results, budget, test_sets)
    return [seeds_text([r["config"]["seed"] for r in results]),
            span_text([r["best_epoch"] for r in results], ".0f"),
            span_text([r["epochs_trained"] for r in results], ".0f"),
            *(mean_std_text(found[key], spec) for found in (full, short) for key in found)]


def _extra_names(results: Sequence[Dict[str, Any]]) -> List[str]:
    r"""The names of the extra test sets of ``results``, in the order first met."""
    return list(dict.fromkeys(name for r in results for name in r.get("test_scores", {})))


def _metric_names(results: Sequence[Dict[str, Any]]) -> List[str]:
    r"""The names of the task metrics (:meth:`~escnn_soft.experiments.task.Task.metrics`) of the
    test sets of ``results``, in the order first met."""
    return list(dict.fromkeys(m for r in results for name, found in r.get("metrics", {}).items()
                              if name != "val" for m in found))


def _latent(config: Mapping[str, Any]) -> Optional[str]:
    return config["hyperparameters"].get("latent")


_RUN_COLUMNS = ("task", "group", "model", "seed", "epochs", "patience", "epochs_trained", "train_size", "batch_size",
                "lr", "lam", "latent", "best_epoch", "val_score", "final_test_score", "parameters",
                "seconds_per_epoch", "train_seconds", "latent_equivariance_error", "output_equivariance_error",
                "diverged_at_epoch", "device", "name")


def _run_row(result: Dict[str, Any], names: Sequence[str], budget: Optional[int],
             metric_names: Sequence[str] = (), swept: Optional[Mapping[Tuple[str, str, str], Sequence[str]]] = None
             ) -> Dict[str, Any]:
    r"""A line of ``results.csv``: the run's settings, a column per setting of ``swept`` (by task, group
    and model, :func:`_swept_settings`) the others leave out, and its scores."""
    config = result["config"]
    row = {k: config[k] for k in ("task", "group", "model", "seed", "epochs", "train_size", "batch_size")}
    row["patience"] = config.get("patience")
    row["epochs_trained"] = len(result["history"])
    row["lr"] = config["hyperparameters"]["lr"]
    row["lam"] = config["hyperparameters"].get("lam")
    row["latent"] = _latent(config)
    row.update(_setting_columns(run_settings(result), [n for n in _swept_columns(swept or {}) if n not in _RUN_COLUMNS],
                                row))
    row.update({k: result.get(k) for k in _RUN_COLUMNS if k not in row})
    row["device"] = ", ".join(run_devices(result))
    return {**row, **best_scores(result, names, budget, metric_names)}


_LOG_SETTINGS = ("lr", "lam", "train_size")
r"""Swept settings plotted on a log axis."""


def run_settings(result: Mapping[str, Any]) -> Dict[str, Any]:
    r"""The settings that set a run's summary row apart: every entry of its ``config`` except its task,
    group, model, seed and data, its hyperparameters by their own names.

    Example:
        >>> run_settings({"config": {"task": "t", "group": "C4", "model": "soft", "seed": 2, "data": "x",
        ...                          "epochs": 40, "hyperparameters": {"lam": 0.5, "lr": 0.001}}})
        {'epochs': 40, 'lam': 0.5, 'lr': 0.001}
    """
    config = result["config"]
    found = {k: v for k, v in config.items() if k not in ("task", "group", "model", "seed", "data", "hyperparameters")}
    found.update(config.get("hyperparameters") or {})
    return found


def _swept_settings(results: Sequence[Mapping[str, Any]]) -> Dict[Tuple[str, str, str], List[str]]:
    r"""The settings (:func:`run_settings`) whose values differ among the runs of each task, group and
    model, in the order first met; a setting some runs lack counts as a value of its own."""
    settings: Dict[Tuple[str, str, str], List[Dict[str, Any]]] = {}
    for r in results:
        c = r["config"]
        settings.setdefault((c["task"], c["group"], c["model"]), []).append(run_settings(r))
    return {key: [n for n in dict.fromkeys(n for s in found for n in s)
                  if len({json.dumps(s.get(n), sort_keys=True) for s in found}) > 1]
            for key, found in settings.items()}


def _swept_columns(swept: Mapping[Tuple[str, str, str], Sequence[str]]) -> List[str]:
    return list(dict.fromkeys(n for found in swept.values() for n in found))


def _setting_columns(settings: Mapping[str, Any], columns: Sequence[str], row: Mapping[str, Any]) -> Dict[str, Any]:
    r"""The columns ``columns`` that ``row`` lacks, from a run's ``settings``."""
    return {n: settings.get(n) for n in columns if n not in row}


def _value_text(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _order(settings: Mapping[str, Any], names: Sequence[str]) -> Tuple[Tuple[int, Any], ...]:
    r"""A sort key of settings by their values of ``names``: numbers in increasing order, then the others."""
    values = [settings.get(n) for n in names]
    return tuple((0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, json.dumps(v))
                 for v in values)


def row_label(row: Mapping[str, Any]) -> str:
    r"""How tables name a summary row: its model, with the values of the settings swept for that model.

    Example:
        >>> row_label({"model": "soft", "swept": "lam=0.5"}), row_label({"model": "cnn-aug", "swept": None})
        ('soft (lam=0.5)', 'cnn-aug')
    """
    return f"{row['model']} ({row['swept']})" if row.get("swept") else row["model"]


def verdict_text(found: Mapping[str, Any]) -> str:
    r"""The words for a difference of means (:func:`~escnn_soft.experiments.results.mean_difference`):
    ``"higher"`` or ``"lower"`` only when its interval excludes 0, ``"no detectable difference (n = a vs
    b)"`` otherwise, and that the test needs two seeds on each side where a side has fewer.

    Example:
        >>> from escnn_soft.experiments.results import mean_difference
        >>> verdict_text(mean_difference([0.90, 0.92], [0.80, 0.82]))
        'higher'
        >>> verdict_text(mean_difference([0.90, 0.80, 0.85], [0.86, 0.84, 0.85]))
        'no detectable difference (n = 3 vs 3)'
        >>> verdict_text(mean_difference([0.9], [0.8, 0.7]))
        "no test: Welch's t-test needs two seeds on each side (n = 1 vs 2)"
    """
    a, b = found["n"]
    if min(a, b) < 2:
        return f"no test: Welch's t-test needs two seeds on each side (n = {a} vs {b})"
    if found["verdict"] in ("higher", "lower"):
        return found["verdict"]
    return f"no detectable difference (n = {a} vs {b})"


_EQUAL_COMPUTE = "equal_compute"


def _run_scores(result: Mapping[str, Any], names: Sequence[str], budget: Optional[int],
                metric_names: Sequence[str], compute: Optional[Mapping[str, float]],
                compute_budget: Optional[float]) -> Dict[str, Optional[float]]:
    r"""A run's scores as :func:`~escnn_soft.experiments.results.best_scores` names them and, with
    ``compute``, at equal compute: at the best-validation epoch among the epochs whose training FLOPs
    fit ``compute_budget`` (``test_score_equal_compute``, ``test_score_<name>_equal_compute``; ``None`` when
    not one epoch of the run fits it)."""
    found = best_scores(result, names, budget, metric_names)
    if compute is None:
        return found
    keys = ["test_score", *(f"test_score_{n}" for n in names)]
    if is_diverged(result) or not fits_one_epoch(compute[result["name"]], compute_budget):
        return {**found, **{f"{k}_{_EQUAL_COMPUTE}": None for k in keys}}
    epoch = at_best(result, epochs_within_compute(result, compute[result["name"]], compute_budget))
    values = [epoch["test_score"], *(epoch.get("test_scores", {}).get(n) for n in names)]
    return {**found, **{f"{k}_{_EQUAL_COMPUTE}": v for k, v in zip(keys, values)}}


def _compared_keys(names: Sequence[str], budget: Optional[int], compute: bool) -> List[str]:
    r"""The score keys a reference comparison covers: the test set and the extra ones, at the best
    validation, within the ``budget`` and at equal ``compute``."""
    keys = ["test_score", *(f"test_score_{n}" for n in names)]
    return [*keys, *([f"{k}_within_{budget}" for k in keys] if budget is not None else []),
            *([f"{k}_{_EQUAL_COMPUTE}" for k in keys] if compute else [])]


_DIFFERENCE_FIELDS = ("difference", "low", "high", "p", "seeds", "verdict")


def _difference_cells(key: str, ours: Sequence[Mapping[str, Any]], theirs: Sequence[Mapping[str, Any]]
                      ) -> Dict[str, Any]:
    r"""The reference comparison of the scores ``key`` of two rows' runs (``{key}_difference``, ``_low``,
    ``_high``, ``_p``, ``_seeds``, ``_verdict``); ``None`` each where a side has no run or misses a score,
    with words in ``_verdict`` where that score is one at equal compute of a run not one epoch of which
    fits the budget."""
    a, b = [s[key] for s in ours], [s[key] for s in theirs]
    if not a or not b or None in a or None in b:
        unfit = a and b and key.endswith(_EQUAL_COMPUTE)   # runs on both sides, one without an epoch in budget
        return {**{f"{key}_{f}": None for f in _DIFFERENCE_FIELDS},
                f"{key}_verdict": "not one epoch of a side fits the budget (--compute-budget sets a larger one)"
                if unfit else None}
    found = mean_difference(a, b)
    return {f"{key}_difference": found["difference"], f"{key}_low": found["low"], f"{key}_high": found["high"],
            f"{key}_p": found["p"], f"{key}_seeds": f"{len(a)} vs {len(b)}", f"{key}_verdict": verdict_text(found)}


def _reference_row(index: int, rows: Sequence[Mapping[str, Any]], settings: Sequence[Mapping[str, Any]],
                   swept: Mapping[Tuple[str, str, str], Sequence[str]], reference: str) -> Optional[int]:
    r"""The index of the row of ``reference`` that row ``index`` is compared with: same task and group,
    and the same value of each setting swept there that the reference has (records, or sweeps).

    A reference that records :math:`\lambda = 0` is a control fixed there, as in
    :func:`~escnn_soft.experiments.comparison.run_configs`, which gives the swept :math:`\lambda` to the
    models with a latent term only: every :math:`\lambda` of soft is compared with its one row (SMOKE's
    cnn-aug), unless the reference itself sweeps :math:`\lambda`."""
    row = rows[index]
    where = (row["task"], row["group"])
    names = list(dict.fromkeys(n for (t, g, _), found in swept.items() if (t, g) == where for n in found))
    for j, other in enumerate(rows):
        if (other["task"], other["group"], other["model"]) != (*where, reference):
            continue
        own = swept[(*where, reference)]
        recorded = [n for n in settings[j] if not (n == "lam" and settings[j][n] == 0)]
        if all(settings[index].get(n) == settings[j].get(n)
               for n in names if n in recorded or n in own):
            return j
    return None


def _setting_runs(results: Sequence[Dict[str, Any]], swept: Mapping[Tuple[str, str, str], Sequence[str]]
                  ) -> List[Tuple[Tuple[str, str, str], List[Dict[str, Any]]]]:
    r"""The runs of ``results`` by task, group, model and setting (:func:`run_settings`), each with its
    ``(task, group, model)``: the rows of :func:`summarize`, in its order (models as first met, a model's
    settings by increasing swept values)."""
    models: Dict[Tuple[str, str, str], List[List[Dict[str, Any]]]] = {}
    for every in by_settings(results):
        c = every[0]["config"]
        models.setdefault((c["task"], c["group"], c["model"]), []).append(every)
    return [(key, every) for key, found in models.items()
            for every in sorted(found, key=lambda rs: _order(run_settings(rs[0]), swept[key]))]


def _reference_indices(groups: Sequence[Tuple[Tuple[str, str, str], Sequence[Mapping[str, Any]]]],
                       swept: Mapping[Tuple[str, str, str], Sequence[str]], reference: Optional[str]
                       ) -> List[Optional[int]]:
    r"""For each row of :func:`_setting_runs`, the index of its reference row (:func:`_reference_row`), or
    ``None``: for the reference's own rows, a row without one, or no ``reference``."""
    rows = [{"task": t, "group": g, "model": m} for (t, g, m), _ in groups]
    settings = [run_settings(every[0]) for _, every in groups]
    return [None if reference is None or row["model"] == reference
            else _reference_row(i, rows, settings, swept, reference) for i, row in enumerate(rows)]


def compute_budgets(results: Sequence[Dict[str, Any]], compute: Mapping[str, float], reference: Optional[str] = None
                    ) -> Dict[str, float]:
    r"""The default compute budget of each run, by run name, from the planned budgets of the rows of
    :func:`summarize` (:func:`~escnn_soft.experiments.results.planned_budget`: :math:`E_\text{planned}
    F_\text{epoch}`, the same for every seed of a row).

    With a ``reference``, a row compared with a reference row gets the smaller planned budget of the
    two, the pair being compared; the differences read the reference row again at that budget, and
    the reference row's own scores are at its planned budget. So each comparison is at the compute of
    its cheaper side alone, whatever else the command runs, and in a ``--train-size`` sweep each size
    has its own budget (the runs of 250 digits finish their epochs with less compute than those of
    4,000). The other rows (no ``reference``, or no reference row with their swept values) share the
    smallest planned budget among themselves, per task and group.

    Args:
        results: the run results (finished and diverged).
        compute: the training FLOPs per epoch of each run, by run name.
        reference: the model of :func:`summarize`'s ``reference``.

    Example:
        >>> def run(model, size, epochs):
        ...     config = {"task": "t", "group": "G", "model": model, "seed": 0, "epochs": epochs,
        ...               "train_size": size, "hyperparameters": {}}
        ...     return {"name": f"{model}-{size}", "config": config, "history": []}
        >>> runs = [run(m, n, 10) for m in ("cnn-aug", "soft") for n in (100, 400)]
        >>> flops = {r["name"]: r["config"]["train_size"] * (2 if "soft" in r["name"] else 1) for r in runs}
        >>> compute_budgets(runs, flops, reference="cnn-aug")
        {'cnn-aug-100': 1000, 'cnn-aug-400': 4000, 'soft-100': 1000, 'soft-400': 4000}
        >>> set(compute_budgets(runs, flops).values())
        {1000}

    Raises:
        KeyError: for a run ``compute`` has no entry for.
    """
    missing = [r["name"] for r in results if r["name"] not in compute]
    if missing:
        raise KeyError(f"no training FLOPs per epoch for the run(s) {', '.join(missing)}: give compute an entry for "
                       f"every run reported")
    swept = _swept_settings(results)
    groups = _setting_runs(results, swept)
    against = _reference_indices(groups, swept, reference)
    planned = [planned_budget([r["config"] for r in every], {run_name(r["config"]): compute[r["name"]] for r in every})
               for _, every in groups]
    loose: Dict[Tuple[str, str], float] = {}
    for i, ((task, group, _), _) in enumerate(groups):
        if against[i] is None and i not in against:
            loose[(task, group)] = min(loose.get((task, group), math.inf), planned[i])
    budgets: Dict[str, float] = {}
    for i, ((task, group, _), every) in enumerate(groups):
        budget = (min(planned[i], planned[against[i]]) if against[i] is not None else planned[i] if i in against
                  else loose[(task, group)])
        budgets.update((r["name"], budget) for r in every)
    return budgets


def _budgets_by_run(results: Sequence[Dict[str, Any]], compute: Mapping[str, float],
                    compute_budget: Union[None, float, Mapping[str, float]], reference: Optional[str]
                    ) -> Dict[str, float]:
    r"""The compute budget of each run of ``results`` as :func:`summarize` takes ``compute_budget``: by
    default :func:`compute_budgets`, a number for every run, or a mapping by run name."""
    budgets = (compute_budgets(results, compute, reference) if compute_budget is None else
               dict(compute_budget) if isinstance(compute_budget, Mapping)
               else {r["name"]: compute_budget for r in results})
    missing = [r["name"] for r in results if r["name"] not in compute or r["name"] not in budgets]
    if missing:
        raise KeyError(f"no training FLOPs per epoch or compute budget for the run(s) {', '.join(missing)}: give "
                       f"compute and compute_budget an entry for every run reported")
    return budgets


def _majority_row(template: Mapping[str, Any], results: Sequence[Mapping[str, Any]], names: Sequence[str],
                  budget: Optional[int]) -> Optional[Dict[str, Any]]:
    r"""The baseline row of one task and group: the mean over its runs of each test set's majority-class
    rate (``result["majority_rates"]``) in every score column of that test set, ``None`` elsewhere; none
    when no run records the rates."""
    rates = [r["majority_rates"] for r in results if r.get("majority_rates")]
    if not rates:
        return None
    row: Dict[str, Any] = dict.fromkeys(template)
    row.update(task=template["task"], group=template["group"], model=MAJORITY)
    for name in ("test", *names):
        rate = mean_std([found.get(name) for found in rates])[0]
        key = "test_score" if name == "test" else f"test_score_{name}"
        for column in (key, f"{key}_within_{budget}", f"{key}_{_EQUAL_COMPUTE}"):
            if f"{column}_mean" in row:
                row[f"{column}_mean"] = rate
    return row


def summarize(results: Sequence[Dict[str, Any]], budget: Optional[int] = None, *, reference: Optional[str] = None,
              compute: Optional[Mapping[str, float]] = None,
              compute_budget: Union[None, float, Mapping[str, float]] = None) -> List[Dict[str, Any]]:
    r"""One row per task, group, model and setting (:func:`run_settings`: the runs that differ only in
    their seed and data): means and sample standard deviations over seeds of the run results, the
    scores on the extra test sets and, with a ``budget``, the scores at the best validation epoch
    within its first ``budget`` epochs (``None`` where a run lacks them). Runs that diverged are left
    out of every mean and of ``seeds``, and listed in ``diverged`` (:func:`diverged_label`, ``None``
    when none did).

    Rows follow the models in the order first met, a model's settings in increasing order of the
    values swept for it. Where a model has several settings, every row has ``swept``, the values that
    tell that model's rows apart (``"lam=0.5"``, :func:`row_label`; ``None`` for a model with one
    setting), and a column per swept setting. A task and group whose runs record the majority-class
    rates of their test sets (``result["majority_rates"]``, by test set: ``"test"`` and the extra ones)
    ends with a :data:`MAJORITY` row holding those rates in its score columns.

    Args:
        results: the run results (finished and diverged).
        budget: a number of epochs, or ``None``.
        reference: the model every other is compared with: each row gets ``reference`` and, per
            score on the test set, each extra test set, within the ``budget`` and at equal compute,
            the difference of its mean from that of the reference row of the same task, group and
            swept values (a setting the reference neither records nor sweeps, such as cnn-aug's
            :math:`\lambda`, is not matched, nor a :math:`\lambda` it records as a control fixed at 0,
            such as SMOKE's cnn-aug's), its 95 % interval, p-value, seeds on each side and
            words (Welch's t-test, :func:`~escnn_soft.experiments.results.mean_difference`,
            :func:`verdict_text`); ``against`` names the reference row (``None`` where there is none).
        compute: the training FLOPs per epoch of each run, by run name (``result["name"]``).
        compute_budget: with ``compute``, the budget in FLOPs of the scores at equal compute
            (``test_score_equal_compute``, ...: each run at its best-validation epoch among those whose
            cumulative FLOPs fit it, :func:`~escnn_soft.experiments.results.epochs_within_compute`; none for
            a run not one epoch of which fits): one for every run, or by run name; by default
            :func:`compute_budgets` (a row and the reference row it is compared with: the smaller planned
            budget of the two). Recorded in each row's ``compute_budget``.

    Raises:
        ValueError: for ``compute_budget`` without ``compute``.
        KeyError: for a run ``compute`` or ``compute_budget`` has no entry for.
    """
    if compute is None and compute_budget is not None:
        raise ValueError("compute_budget needs compute, the training FLOPs per epoch of each run")
    if compute is not None:
        compute_budget = _budgets_by_run(results, compute, compute_budget, reference)
    names = _extra_names(results)
    metric_names = _metric_names(results)
    swept = _swept_settings(results)
    columns = _swept_columns(swept)
    groups = _setting_runs(results, swept)
    rows: List[Dict[str, Any]] = []
    run_scores: List[List[Dict[str, Optional[float]]]] = []
    row_runs: List[List[Dict[str, Any]]] = []
    for (task, group, model), every in groups:
        runs = [r for r in every if not is_diverged(r)]
        row_runs.append(runs)
        row_budget = None if compute is None else compute_budget[every[0]["name"]]
        c = every[0]["config"]
        own = run_settings(every[0])
        row: Dict[str, Any] = {"task": task, "group": group, "model": model}
        if columns:
            row["swept"] = ", ".join(f"{n}={_value_text(own.get(n))}"
                                     for n in swept[(task, group, model)]) or None
        row.update({"seeds": len(runs), "epochs": c["epochs"], "patience": c.get("patience"),
                    "train_size": c["train_size"], "batch_size": c["batch_size"],
                    "lr": c["hyperparameters"]["lr"], "lam": c["hyperparameters"].get("lam"),
                    "latent": _latent(c)})
        row.update(_setting_columns(own, columns, row))
        row["parameters"] = every[0]["parameters"]
        scores = [_run_scores(r, names, budget, metric_names, compute, row_budget) for r in runs]
        for key in _run_scores(every[0], names, budget, metric_names, compute, row_budget):
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([s[key] for s in scores], complete=True)
        row["epochs_trained_mean"], row["epochs_trained_std"] = mean_std([len(r["history"]) for r in runs])
        for key in ("final_test_score", "seconds_per_epoch", "train_seconds",
                    "latent_equivariance_error", "output_equivariance_error"):
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([r[key] for r in runs])
        row["device"] = ", ".join(sorted({d for r in every for d in run_devices(r)}))
        row["diverged"] = ", ".join(diverged_label(r) for r in every if is_diverged(r)) or None
        if compute is not None:
            row["compute_budget"] = row_budget
        rows.append(row)
        run_scores.append(scores)
    if reference is not None:
        keys = _compared_keys(names, budget, compute is not None)
        for i, (row, j) in enumerate(zip(rows, _reference_indices(groups, swept, reference))):
            row["reference"] = reference
            row["against"] = None if j is None else row_label(rows[j])
            theirs = [] if j is None else run_scores[j] if compute is None else [   # at this row's budget
                _run_scores(r, names, budget, metric_names, compute, row["compute_budget"]) for r in row_runs[j]]
            for key in keys:
                row.update(_difference_cells(key, run_scores[i], theirs))
    for where in dict.fromkeys((r["task"], r["group"]) for r in rows):
        majority = _majority_row(rows[0], [r for r in results if (r["config"]["task"], r["config"]["group"]) == where],
                                 names, budget)
        if majority is not None:
            last = max(i for i, r in enumerate(rows) if (r["task"], r["group"]) == where)
            rows.insert(last + 1, majority)
    return rows


def _renamed(key: str, metric: str) -> str:
    return key.replace("score", re.sub(r"\W+", "_", metric))


def _csv(rows: Sequence[Dict[str, Any]], metric: str) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([_renamed(k, metric) for k in rows[0]])
        for row in rows:
            writer.writerow(["" if v is None else v for v in row.values()])
    return buffer.getvalue()


def _budget(rows: Sequence[Dict[str, Any]]) -> Optional[int]:
    found = {int(k[len("test_score_within_"):-len("_mean")]) for r in rows for k in r
             if k.startswith("test_score_within_") and k.endswith("_mean")}
    return found.pop() if found else None


def _row_metric_keys(row: Mapping[str, Any]) -> List[str]:
    r"""The task-metric keys of a summary row (``"test AUC"``, ``"upright test AUC"``: those with a
    space, see :func:`~escnn_soft.experiments.results.best_scores`), without the budget's."""
    return [k[:-len("_mean")] for k in row if k.endswith("_mean") and " " in k and " within " not in k]


def _within(key: str, budget: int) -> str:
    return f"{key} within {budget}" if " " in key else f"{key}_within_{budget}"


def _distinct(rows: Sequence[Mapping[str, Any]], key: str, spec: str = "") -> str:
    r"""The values of ``key`` in ``rows``, in increasing order, joined by ``/``."""
    return "/".join(format(v, spec) for v in sorted({r[key] for r in rows}))


def _signed(value: Optional[float], metric: str) -> str:
    if value is None:
        return "—"
    return f"{100 * value:+.2f}" if is_percentage(metric) else f"{value:+.4g}"


def _reference_lines(sub: Sequence[Mapping[str, Any]], metric: str, sets: Sequence[Tuple[str, str]]) -> List[str]:
    r"""The reference comparison of one task and group (rows of :func:`summarize` with ``reference``): a
    line per compared row and test set of ``sets`` (``(score key, name)``), under its caption; none
    without a reference."""
    compared = [r for r in sub if r.get("reference") is not None and r["model"] not in (MAJORITY, r["reference"])]
    if not compared:
        return []
    reference = compared[0]["reference"]
    points = ", in percentage points" if is_percentage(metric) else ""
    lines = ["", f"Against {reference}: each row's mean test {metric} minus that of the {reference} row with the same "
                 f"swept values{points}, over seeds, with its 95 % confidence interval and two-sided p-value from "
                 f"Welch's t-test (`scipy.stats.ttest_ind(equal_var=False)`); a difference is called higher or "
                 f"lower only where its interval excludes 0.",
             "", "| model | against | test set | difference | 95 % interval | p | seeds | verdict |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for r in compared:
        if r["against"] is None:
            lines.append(f"| {row_label(r)} | — | — | — | — | — | — "
                         f"| no run of {reference} with the same swept values |")
            continue
        for key, name in sets:
            if key.endswith(_EQUAL_COMPUTE) and r.get("compute_budget") is not None:
                name = f"{name} ({r['compute_budget']:.4g} FLOPs)"
            low, high, p = r[f"{key}_low"], r[f"{key}_high"], r[f"{key}_p"]
            interval = "—" if low is None else f"[{_signed(low, metric)}, {_signed(high, metric)}]"
            lines.append(f"| {row_label(r)} | {r['against']} | {name} | {_signed(r[f'{key}_difference'], metric)} | "
                         f"{interval} | {'—' if p is None else format(p, '.2g')} | {r[f'{key}_seeds'] or '—'} | "
                         f"{r[f'{key}_verdict'] or 'no finished run on one side'} |")
    return lines


def format_table(rows: Sequence[Dict[str, Any]], task: "Task") -> str:
    r"""The summary as Markdown: one table per task and group (``task`` gives the metric's name).

    Columns: the model (with its swept values, :func:`row_label`); its latent cut, where any model
    has one; the test score, then one per extra test set (e.g. ``upright``); the task's metrics of
    the test sets (e.g. ``test AUC``, ``upright test AUC``; three decimals); with a budget, the same
    scores at the best validation within the budget's epochs; at equal compute, where the rows have
    it; the epochs trained, where early stopping was on; parameters, seconds per epoch, the
    equivariance errors and the devices; and the runs that diverged, where any did (left out of every
    other column). A :data:`MAJORITY` row has scores alone. With a reference (:func:`summarize`), a
    second table gives each row's difference from its reference row on each test set, with the 95 %
    interval, p-value, seeds and words of Welch's t-test."""
    metric = task.metric
    budget = _budget(rows)
    names = [k[len("test_score_"):-len("_mean")] for k in (rows[0] if rows else {})
             if k.startswith("test_score_") and k.endswith("_mean") and k != "test_score_mean"
             and "_within_" not in k and not k.endswith(f"_{_EQUAL_COMPUTE}_mean")]
    blocks = []
    for key in dict.fromkeys((r["task"], r["group"]) for r in rows):
        sub = [r for r in rows if (r["task"], r["group"]) == key]
        models = [r for r in sub if r["model"] != MAJORITY]
        seeds = sorted({r["seeds"] for r in models})
        first = models[0]
        budgets = list(dict.fromkeys(r["compute_budget"] for r in models if r.get("compute_budget") is not None))
        compute = budgets[0] if budgets else None
        patience = sorted({r["patience"] for r in models if r.get("patience") is not None})
        stopping = f" (early stopping, patience {'/'.join(map(str, patience))})" if patience else ""
        latent = any(r.get("latent") is not None for r in sub)
        diverged = any(r.get("diverged") for r in sub)
        tests = [("test_score", "test")] + [(f"test_score_{n}", n) for n in names]
        sets = list(tests) + [(f"{k}_within_{budget}", f"{n}, best val. ≤ {budget} ep.")
                              for k, n in (tests if budget is not None else [])]
        sets += [(f"{k}_{_EQUAL_COMPUTE}", f"{n}, equal compute") for k, n in (tests if compute is not None else [])]
        scores = [("test_score", score_label(metric))] + [(f"test_score_{n}", f"{n} {score_label(metric)}")
                                                          for n in names]
        scores += [(k, k) for k in _row_metric_keys(first)]
        if budget is not None:
            scores += [(_within(k, budget), f"{label}, best val. ≤ {budget} ep.") for k, label in list(scores)]
        if compute is not None:
            scores += [(f"{k}_{_EQUAL_COMPUTE}", f"{label}, equal compute") for k, label in scores[:len(tests)]]
        heads = ["model"] + (["latent"] if latent else []) + [label for _, label in scores]
        heads += ["compute budget (FLOPs)"] if len(budgets) > 1 else []
        heads += (["epochs trained"] if patience else []) + ["parameters", "s/epoch", "latent equiv. error",
                                                            "output equiv. error", "device"]
        align = ["---"] + (["---"] if latent else []) + ["---:"] * (len(heads) - 2 - latent) + ["---"]
        if diverged:
            heads.append("diverged")
            align.append("---")
        within = f" (and among the first {budget} epochs)" if budget is not None else ""
        caption = (f"Test {metric}: at the epoch with the best validation {metric}{within}, mean ± std over seeds. "
                   f"Equivariance errors: relative, mean over the non-identity elements of the input symmetry group, "
                   f"on the best-validation model in eval mode.")
        if compute is not None:
            fit = (f"a budget of {compute:.4g} FLOPs" if len(budgets) == 1 else
                   "the row's compute budget: the smaller planned budget (epochs × training FLOPs per epoch) of the "
                   "row and its reference row (the differences below read the reference row at it too); a "
                   "reference row's own")
            caption += (f" Equal compute: at the epoch with the best validation {metric} among those whose cumulative "
                        f"training FLOPs fit {fit}. {FLOPS_LEFT_OUT}")
        if len(models) < len(sub):
            caption += f" {MAJORITY}: the share of the most common class in each test set."
        lines = [
            f"## {key[0]} {key[1]}: {'/'.join(map(str, seeds))} seed(s), {first['epochs']} epochs{stopping}, "
            f"train size {_distinct(models, 'train_size', ',')}, batch {first['batch_size']}",
            "",
            caption,
            "",
            "| " + " | ".join(heads) + " |",
            "|" + "|".join(align) + "|",
        ]
        for r in sub:
            cells = [row_label(r)] + ([r.get("latent") or "—"] if latent else [])
            cells += [format_mean_std(r[f"{k}_mean"], r[f"{k}_std"], ".3f") if " " in k
                      else format_score(r[f"{k}_mean"], r[f"{k}_std"], metric) for k, _ in scores]
            cells += ([f"{r['compute_budget']:.4g}" if r.get("compute_budget") is not None else "—"]
                      if len(budgets) > 1 else [])
            cells += [format_mean_std(r["epochs_trained_mean"], None, ".0f")] if patience else []
            cells += ["—" if r["parameters"] is None else f"{r['parameters']:,}",
                      format_mean_std(r["seconds_per_epoch_mean"], None, ".2f"),
                      format_mean_std(r["latent_equivariance_error_mean"], None, ".3g"),
                      format_mean_std(r["output_equivariance_error_mean"], None, ".3g"), r["device"] or "—"]
            cells += [r.get("diverged") or "—"] if diverged else []
            lines.append("| " + " | ".join(cells) + " |")
        lines += _reference_lines(sub, metric, sets)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _log_ticks(ax: Any) -> None:
    r"""Labelled ticks on a log x axis however narrow its range.

    The candidates are the multiples :math:`m \cdot 10^k`, :math:`m = 1..9`, inside the axis
    (:math:`m = 10..99` times :math:`10^{k-1}` too when those give fewer than two); they are
    taken by rank (powers of ten, then :math:`m = 2, 5`, then the others) when at least an
    eighth of the axis' decades away from every tick taken, and labelled short (``40k``,
    ``1.5M``): e.g. 33,742 to 137,734 parameters get 40k, 50k, 70k and 100k.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    lo, hi = ax.get_xlim()
    gap = math.log10(hi / lo) / 8
    powers = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    for digits in (range(1, 10), range(10, 100)):
        ranked = sorted(((0 if m in (1, 10) else 1 if m in (2, 5, 20, 50) else 2), m * 10.0 ** k)
                        for k in powers for m in digits)
        ticks: List[float] = []
        for _, value in ranked:
            if lo <= value <= hi and all(abs(math.log10(value / t)) >= gap for t in ticks):
                ticks.append(value)
        if len(ticks) >= 2:
            break
    ax.xaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(_short_number))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _short_number(value: float, position: Any = None) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _plot(rows: Sequence[Dict[str, Any]], path: Path, metric: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # not the models whose every run diverged, nor the majority-class baseline
    rows = [r for r in rows if r["test_score_mean"] is not None and r["model"] != MAJORITY]
    keys = list(dict.fromkeys((r["task"], r["group"]) for r in rows))
    if not keys:
        return
    scale = 100 if is_percentage(metric) else 1
    fig = Figure(figsize=(10, 4 * len(keys)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(keys), 2, squeeze=False)
    for (task, group), (ax_params, ax_time) in zip(keys, axes):
        for r in (r for r in rows if (r["task"], r["group"]) == (task, group)):
            y, yerr = scale * r["test_score_mean"], scale * (r["test_score_std"] or 0.0)
            for ax, x, xerr in ((ax_params, r["parameters"], 0.0),
                                (ax_time, r["train_seconds_mean"], r["train_seconds_std"] or 0.0)):
                ax.errorbar([x], [y], yerr=[yerr], xerr=[xerr], fmt="o", capsize=4, label=row_label(r))
        ax_params.set_xscale("log")
        ax_params.set_xlabel("parameters")
        ax_time.set_xlabel("training time per run (s)")
        _log_ticks(ax_params)
        for ax in (ax_params, ax_time):
            ax.set_ylabel(f"{score_label(metric)} at best validation")
            ax.set_title(f"{task} {group}")
            ax.grid(True, alpha=0.3)
        ax_params.legend(fontsize=8)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120))


def _half_width(row: Mapping[str, Any], key: str = "test_score", confidence: float = 0.95) -> float:
    r"""Half the width of the ``confidence`` interval of a row's mean score ``key`` over its :math:`n`
    seeds: :math:`t_{n-1} \, s / \sqrt{n}`, :math:`t_{n-1}` the quantile of Student's t distribution
    (:data:`scipy.stats.t`); 0 for fewer than two seeds."""
    from scipy import stats

    n, std = row["seeds"], row[f"{key}_std"]
    if n < 2 or std is None:
        return 0.0
    return float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)


def _sweep_panel(ax: Any, rows: Sequence[Mapping[str, Any]], swept: Mapping[Tuple[str, str, str], Sequence[str]],
                 name: str, key: str, scale: float) -> None:
    r"""One panel of :func:`_sweep_plot`: the mean score ``key`` of the ``rows`` of one task and group
    against the swept setting ``name``."""
    rows = [r for r in rows if r[f"{key}_mean"] is not None]
    lines: Dict[str, List[Mapping[str, Any]]] = {}
    context: Dict[str, str] = {}    # a curve's or row's other swept values: one colour each, where several
    once = []
    for r in rows:
        own = swept.get((r["task"], r["group"], r["model"]), ())
        others = ", ".join(f"{n}={_value_text(r[n])}" for n in own if n != name)
        if name in own:
            label = f"{r['model']} ({others})" if others else r["model"]
            lines.setdefault(label, []).append(r)
        else:
            label = row_label(r)
            once.append(r)
        context[label] = others
    shared = bool(once) and len(set(context.values())) > 1
    colours = {c: f"C{k}" for k, c in enumerate(dict.fromkeys(context.values()))}
    swept_models = list(dict.fromkeys(found[0]["model"] for found in lines.values()))
    for k, (label, found) in enumerate(lines.items()):
        found = sorted(found, key=lambda r: r[name])
        marker = "osD^v"[swept_models.index(found[0]["model"]) % 5]
        ax.errorbar([r[name] for r in found], [scale * r[f"{key}_mean"] for r in found],
                    yerr=[scale * _half_width(r, key) for r in found], fmt=f"{marker}-", capsize=4, label=label,
                    color=colours[context[label]] if shared else f"C{k}")
    models = list(dict.fromkeys(r["model"] for r in once))
    for k, r in enumerate(once, start=len(lines)):
        mean, half = scale * r[f"{key}_mean"], scale * _half_width(r, key)
        colour = colours[context[row_label(r)]] if shared else f"C{k}"
        ax.axhline(mean, linestyle=("--", ":", "-.")[models.index(r["model"]) % 3], color=colour,
                   label=f"{row_label(r)} (without {name})")
        ax.axhspan(mean - half, mean + half, color=colour, alpha=0.1, linewidth=0)
    xs = [r[name] for found in lines.values() for r in found]
    if name in _LOG_SETTINGS and xs and min(xs) > 0:
        ax.set_xscale("log")
        _log_ticks(ax)
    ax.set_xlabel(name)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def _sweep_plot(rows: Sequence[Dict[str, Any]], swept: Mapping[Tuple[str, str, str], Sequence[str]], path: Path,
                metric: str) -> None:
    r"""The mean test score against each swept setting with numeric values, a panel per task, group and
    setting and, where the rows have scores at equal compute, a second panel of those: a line per model
    that sweeps the setting (and per value of the model's other swept settings), with error bars of the
    95 % interval of the mean (:func:`_half_width`), and a horizontal line with a band of that interval
    for each row of a model that does not (run once: cnn-aug under a sweep of :math:`\lambda`), dashed,
    dotted or dash-dotted by model; curves have a marker per model. Where a panel has such lines and its
    rows differ in other swept values (a sweep of β at several training sizes), one colour stands for
    each of those values. ``lr``, ``lam`` and ``train_size`` lie on log axes. Nothing is written without
    a swept setting."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in rows if r["test_score_mean"] is not None and r["model"] != MAJORITY]
    panels = []
    for where in dict.fromkeys((r["task"], r["group"]) for r in rows):
        sub = [r for r in rows if (r["task"], r["group"]) == where]
        for name in _swept_columns({k: v for k, v in swept.items() if k[:2] == where}):
            values = [r[name] for r in sub if name in swept.get((*where, r["model"]), ())]
            if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                panels.append((where, name, sub))
    if not panels:
        return
    keys = ["test_score"] + ([f"test_score_{_EQUAL_COMPUTE}"] if rows[0].get("compute_budget") is not None else [])
    scale = 100 if is_percentage(metric) else 1
    fig = Figure(figsize=(7 * len(keys), 4.5 * len(panels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), len(keys), squeeze=False)
    for row_axes, ((task, group), name, sub) in zip(axes, panels):
        for ax, key in zip(row_axes, keys):
            _sweep_panel(ax, sub, swept, name, key, scale)
            at = "at equal compute (each row's budget)" if key != "test_score" else "at best validation"
            ax.set_ylabel(f"{score_label(metric)} {at}")
            ax.set_title(f"{task} {group}: mean over seeds, 95 % interval of the mean")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120))


def _compute_panels(runs: Sequence[Dict[str, Any]]) -> Dict[Tuple[str, str, str], Dict[str, List[Dict[str, Any]]]]:
    r"""The panels of :func:`_compute_plot`: by task, group and the values of the settings swept by
    several of its models (``"train_size=250"``; ``""`` where there are none), the finished ``runs``
    of each curve by its label (the model and its other swept values). A run without such a setting
    (no value recorded) is in every panel of its task and group.

    Example:
        >>> def run(model, size):
        ...     config = {"task": "t", "group": "G", "model": model, "seed": 0, "epochs": 1, "train_size": size,
        ...               "hyperparameters": {}}
        ...     return {"name": f"{model}-{size}", "config": config}
        >>> panels = _compute_panels([run(m, n) for m in ("cnn-aug", "soft") for n in (100, 400)])
        >>> {key: {label: [r["name"] for r in found] for label, found in rows.items()}
        ...  for key, rows in panels.items()}    # doctest: +NORMALIZE_WHITESPACE
        {('t', 'G', 'train_size=100'): {'cnn-aug': ['cnn-aug-100'], 'soft': ['soft-100']},
         ('t', 'G', 'train_size=400'): {'cnn-aug': ['cnn-aug-400'], 'soft': ['soft-400']}}
    """
    swept = _swept_settings(runs)
    places = list(dict.fromkeys((r["config"]["task"], r["config"]["group"]) for r in runs))
    panels: Dict[Tuple[str, str, str], Dict[str, List[Dict[str, Any]]]] = {}
    for where in places:
        counts: Dict[str, int] = {}
        for (t, g, _), names in swept.items():
            for n in names if (t, g) == where else ():
                counts[n] = counts.get(n, 0) + 1
        shared = [n for n, count in counts.items() if count > 1]     # swept by several models: a panel per value
        here = [r for r in runs if (r["config"]["task"], r["config"]["group"]) == where]
        values = list(dict.fromkeys(tuple(run_settings(r).get(n) for n in shared) for r in here))
        keyed = [v for v in values if None not in v] or values
        for value in keyed:
            context = ", ".join(f"{n}={_value_text(v)}" for n, v in zip(shared, value))
            for r in here:
                settings = run_settings(r)
                if any(settings.get(n) is not None and settings.get(n) != v for n, v in zip(shared, value)):
                    continue
                own = [n for n in swept[(*where, r["config"]["model"])] if n not in shared]
                label = row_label({"model": r["config"]["model"],
                                   "swept": ", ".join(f"{n}={_value_text(settings.get(n))}" for n in own)})
                panels.setdefault((*where, context), {}).setdefault(label, []).append(r)
    return panels


def _compute_plot(results: Sequence[Dict[str, Any]], compute: Mapping[str, float], compute_budget: Mapping[str, float],
                  path: Path, metric: str) -> None:
    r"""``compute.png``: per task and group, the best validation score so far and the test score at the
    best-validation epoch so far (:func:`~escnn_soft.experiments.results.best_so_far`) against the
    cumulative training FLOPs, :math:`k \, F_\text{epoch}` after epoch :math:`k` (``compute``: each run's
    FLOPs per epoch by run name), with a dashed vertical line at each compute budget of the panel's runs
    (``compute_budget``, by run name). A setting swept by several models (``--train-size``) gives a
    row of panels per value, holding the runs of that value and those of the models without it. One
    colour per summary row (model and swept settings): the mean over its seeds, with a band of ± one
    sample standard deviation (none for a single seed), up to the epochs every seed trained. Runs that
    diverged, and runs ``compute`` has no entry for, are left out."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = _compute_panels([r for r in results if not is_diverged(r) and r["name"] in compute])
    if not panels:
        return
    scale = 100 if is_percentage(metric) else 1
    fig = Figure(figsize=(10, 4 * len(panels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 2, squeeze=False)
    for ((task, group, context), rows), pair in zip(panels.items(), axes):
        for colour, (label, runs) in enumerate(rows.items()):
            curves = [best_so_far(r) for r in runs]
            epochs = min(len(found["val"]) for found in curves)
            flops = [k * compute[runs[0]["name"]] for k in range(1, epochs + 1)]
            for ax, key in zip(pair, ("val", "test")):
                stats = [mean_std([scale * found[key][k] for found in curves]) for k in range(epochs)]
                mean = [m for m, _ in stats]
                ax.plot(flops, mean, color=f"C{colour}", label=label)
                if len(runs) > 1:
                    ax.fill_between(flops, [m - s for m, s in stats], [m + s for m, s in stats], color=f"C{colour}",
                                    alpha=0.2, linewidth=0)
        for ax, what in zip(pair, (f"best validation {metric}{' (%)' if scale == 100 else ''} so far",
                                   f"{score_label(metric)} at best validation so far")):
            lines = sorted({compute_budget[r["name"]] for runs in rows.values() for r in runs})
            for k, line in enumerate(lines):
                ax.axvline(line, color="black", linestyle="--", linewidth=1,
                           label=None if k else "compute budget" if len(lines) == 1 else "compute budgets")
            ax.set_xlabel("training FLOPs (FlopCounterMode)")
            ax.set_ylabel(what)
            ax.set_title(f"{task} {group}{f' ({context})' if context else ''}: mean ± std over seeds")
            ax.grid(True, alpha=0.3)
        pair[0].legend(fontsize=8)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120))


def write_reports(results: Sequence[Dict[str, Any]], out: Path, task: "Task", budget: Optional[int] = None, *,
                  reference: Optional[str] = None, compute: Optional[Mapping[str, float]] = None,
                  compute_budget: Union[None, float, Mapping[str, float]] = None) -> List[Dict[str, Any]]:
    r"""Write ``results.csv``, ``summary.csv``, ``summary.md``, ``compare.png`` (unless every run
    diverged), where a model has several values of a setting, ``sweep.png`` (:func:`_sweep_plot`) and,
    with ``compute``, ``compute.png`` (:func:`_compute_plot`) under ``out``; returns the rows of the
    summary (``budget``, ``reference``, ``compute`` and ``compute_budget``: as :func:`summarize`)."""
    if compute is not None:   # the budget of each run, found once for the table and the plot
        compute_budget = _budgets_by_run(results, compute, compute_budget, reference)
    rows = summarize(results, budget, reference=reference, compute=compute, compute_budget=compute_budget)
    names = _extra_names(results)
    metric_names = _metric_names(results)
    swept = _swept_settings(results)
    atomic_write_text(out / "results.csv", _csv([_run_row(r, names, budget, metric_names, swept) for r in results],
                                                task.metric))
    atomic_write_text(out / "summary.csv", _csv(rows, task.metric))
    atomic_write_text(out / "summary.md", format_table(rows, task))
    _plot(rows, out / "compare.png", task.metric)
    _sweep_plot(rows, swept, out / "sweep.png", task.metric)
    if compute is not None:
        _compute_plot(results, compute, compute_budget, out / "compute.png", task.metric)
    return rows


