r"""Reports of a comparison: one table row per run, a summary per task, group and model, a plot.

:func:`summarize` gives means and sample standard deviations over seeds
(:func:`~escnn_soft.records.mean_std`); :func:`format_table` the Markdown table
:mod:`escnn_soft.experiments.cli` prints; :func:`write_reports` the CSV files,
``summary.md`` and ``compare.png``; :func:`best_epoch_cells` the cells of one row of a table
of several runs, with :func:`seeds_text` and :func:`span_text`. They read the run results (``result.json``) alone,
old ones included, and load neither torch nor the tasks.

Every score is read at the epoch with the best validation score: the test score, and the
scores on the task's extra test sets (e.g. ``upright``, a column each). With a budget
``N`` (``escnn-soft compare --budget-report N``) the reports also give the scores the
epoch with the best validation score *among the first N* would give, from the same
histories: what a shorter protocol (e.g. 50 epochs inside a 150-epoch run) would have
selected, without a second run.

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
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..records import atomic_write, atomic_write_text, format_mean_std, mean_std, mean_std_text
from .results import best_epoch_index, best_scores, is_diverged, scores_by_test_set

if TYPE_CHECKING:
    from .task import Task

__all__ = ["is_percentage", "score_label", "format_score", "run_devices", "best_epoch_index", "is_diverged",
           "diverged_label", "seeds_text", "span_text", "best_epoch_cells", "summarize", "format_table",
           "write_reports"]


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
             metric_names: Sequence[str] = ()) -> Dict[str, Any]:
    config = result["config"]
    row = {k: config[k] for k in ("task", "group", "model", "seed", "epochs", "train_size", "batch_size")}
    row["patience"] = config.get("patience")
    row["epochs_trained"] = len(result["history"])
    row["lr"] = config["hyperparameters"]["lr"]
    row["lam"] = config["hyperparameters"].get("lam")
    row["latent"] = _latent(config)
    row.update({k: result.get(k) for k in _RUN_COLUMNS if k not in row})
    row["device"] = ", ".join(run_devices(result))
    return {**row, **best_scores(result, names, budget, metric_names)}


def summarize(results: Sequence[Dict[str, Any]], budget: Optional[int] = None) -> List[Dict[str, Any]]:
    r"""One row per task, group and model (in the order first met): means and sample
    standard deviations over seeds of the run results, the scores on the extra test sets
    and, with a ``budget``, the scores at the best validation epoch within its first
    ``budget`` epochs (``None`` where a run lacks them). Runs that diverged are left out of
    every mean and of ``seeds``, and listed in ``diverged`` (:func:`diverged_label`, ``None``
    when none did)."""
    names = _extra_names(results)
    metric_names = _metric_names(results)
    groups: Dict[Tuple[str, str, str], List[Dict[str, Any]]] = {}
    for r in results:
        c = r["config"]
        groups.setdefault((c["task"], c["group"], c["model"]), []).append(r)
    rows = []
    for (task, group, model), every in groups.items():
        runs = [r for r in every if not is_diverged(r)]
        c = every[0]["config"]
        row: Dict[str, Any] = {"task": task, "group": group, "model": model, "seeds": len(runs),
                               "epochs": c["epochs"], "patience": c.get("patience"), "train_size": c["train_size"],
                               "batch_size": c["batch_size"], "lr": c["hyperparameters"]["lr"],
                               "lam": c["hyperparameters"].get("lam"), "latent": _latent(c),
                               "parameters": every[0]["parameters"]}
        scores = [best_scores(r, names, budget, metric_names) for r in runs]
        for key in best_scores(every[0], names, budget, metric_names):
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([s[key] for s in scores], complete=True)
        row["epochs_trained_mean"], row["epochs_trained_std"] = mean_std([len(r["history"]) for r in runs])
        for key in ("final_test_score", "seconds_per_epoch", "train_seconds",
                    "latent_equivariance_error", "output_equivariance_error"):
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([r[key] for r in runs])
        row["device"] = ", ".join(sorted({d for r in every for d in run_devices(r)}))
        row["diverged"] = ", ".join(diverged_label(r) for r in every if is_diverged(r)) or None
        rows.append(row)
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


def format_table(rows: Sequence[Dict[str, Any]], task: "Task") -> str:
    r"""The summary as Markdown: one table per task and group (``task`` gives the metric's name).

    Columns: the model; its latent cut, where any model has one; the test score, then one
    per extra test set (e.g. ``upright``); the task's metrics of the test sets (e.g. ``test AUC``,
    ``upright test AUC``; three decimals); with a budget, the same scores at the best
    validation within the budget's epochs; the epochs trained, where early stopping was on;
    parameters, seconds per epoch, the equivariance errors and the devices; and the runs that
    diverged, where any did (left out of every other column)."""
    metric = task.metric
    budget = _budget(rows)
    names = [k[len("test_score_"):-len("_mean")] for k in (rows[0] if rows else {})
             if k.startswith("test_score_") and k.endswith("_mean") and k != "test_score_mean" and "_within_" not in k]
    blocks = []
    for key in dict.fromkeys((r["task"], r["group"]) for r in rows):
        sub = [r for r in rows if (r["task"], r["group"]) == key]
        seeds = sorted({r["seeds"] for r in sub})
        first = sub[0]
        patience = sorted({r["patience"] for r in sub if r.get("patience") is not None})
        stopping = f" (early stopping, patience {'/'.join(map(str, patience))})" if patience else ""
        latent = any(r.get("latent") is not None for r in sub)
        diverged = any(r.get("diverged") for r in sub)
        scores = [("test_score", score_label(metric))] + [(f"test_score_{n}", f"{n} {score_label(metric)}")
                                                          for n in names]
        scores += [(k, k) for k in _row_metric_keys(first)]
        if budget is not None:
            scores += [(_within(k, budget), f"{label}, best val. ≤ {budget} ep.") for k, label in list(scores)]
        heads = ["model"] + (["latent"] if latent else []) + [label for _, label in scores]
        heads += (["epochs trained"] if patience else []) + ["parameters", "s/epoch", "latent equiv. error",
                                                            "output equiv. error", "device"]
        align = ["---"] + (["---"] if latent else []) + ["---:"] * (len(heads) - 2 - latent) + ["---"]
        if diverged:
            heads.append("diverged")
            align.append("---")
        within = f" (and among the first {budget} epochs)" if budget is not None else ""
        lines = [
            f"## {key[0]} {key[1]}: {'/'.join(map(str, seeds))} seed(s), {first['epochs']} epochs{stopping}, "
            f"train size {first['train_size']:,}, batch {first['batch_size']}",
            "",
            f"Test {metric}: at the epoch with the best validation {metric}{within}, mean ± std over seeds. "
            f"Equivariance errors: relative, mean over the non-identity elements of the input symmetry group, "
            f"on the best-validation model in eval mode.",
            "",
            "| " + " | ".join(heads) + " |",
            "|" + "|".join(align) + "|",
        ]
        for r in sub:
            cells = [r["model"]] + ([r.get("latent") or "—"] if latent else [])
            cells += [format_mean_std(r[f"{k}_mean"], r[f"{k}_std"], ".3f") if " " in k
                      else format_score(r[f"{k}_mean"], r[f"{k}_std"], metric) for k, _ in scores]
            cells += [format_mean_std(r["epochs_trained_mean"], None, ".0f")] if patience else []
            cells += [f"{r['parameters']:,}", format_mean_std(r["seconds_per_epoch_mean"], None, ".2f"),
                      format_mean_std(r["latent_equivariance_error_mean"], None, ".3g"),
                      format_mean_std(r["output_equivariance_error_mean"], None, ".3g"), r["device"]]
            cells += [r.get("diverged") or "—"] if diverged else []
            lines.append("| " + " | ".join(cells) + " |")
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

    rows = [r for r in rows if r["test_score_mean"] is not None]   # not the models whose every run diverged
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
                ax.errorbar([x], [y], yerr=[yerr], xerr=[xerr], fmt="o", capsize=4, label=r["model"])
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


def write_reports(results: Sequence[Dict[str, Any]], out: Path, task: "Task", budget: Optional[int] = None) -> None:
    r"""Write ``results.csv``, ``summary.csv``, ``summary.md`` and ``compare.png`` (unless every run
    diverged) under ``out`` (``budget``: as :func:`summarize`)."""
    rows = summarize(results, budget)
    names = _extra_names(results)
    metric_names = _metric_names(results)
    atomic_write_text(out / "results.csv", _csv([_run_row(r, names, budget, metric_names) for r in results],
                                                task.metric))
    atomic_write_text(out / "summary.csv", _csv(rows, task.metric))
    atomic_write_text(out / "summary.md", format_table(rows, task))
    _plot(rows, out / "compare.png", task.metric)


