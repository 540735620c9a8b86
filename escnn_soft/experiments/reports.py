r"""Reports of a comparison: one table row per run, a summary per task, group and model, a plot.

:func:`summarize` gives means and sample standard deviations over seeds
(:func:`~escnn_soft.records.mean_std`); :func:`format_table` the Markdown table
:mod:`escnn_soft.experiments.cli` prints; :func:`write_reports` the CSV files,
``summary.md`` and ``compare.png``. They read the run results (``result.json``) alone,
old ones included, and load neither torch nor the tasks.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
import math
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple

from ..records import atomic_write, atomic_write_text, format_mean_std, mean_std

if TYPE_CHECKING:
    from .task import Task

__all__ = ["run_devices", "summarize", "format_table", "write_reports"]


def run_devices(result: Dict[str, Any]) -> List[str]:
    r"""The devices a run was trained on, in the order first used: those of its epochs, or,
    for results that predate per-epoch devices, the ``device`` it finished on."""
    devices = [h["device"] for h in result["history"] if "device" in h]
    return list(dict.fromkeys(devices)) if devices else [result["device"]]


_RUN_COLUMNS = ("task", "group", "model", "seed", "epochs", "train_size", "batch_size", "lr", "lam", "best_epoch",
                "val_score", "test_score", "final_test_score", "parameters", "seconds_per_epoch", "train_seconds",
                "latent_equivariance_error", "output_equivariance_error", "device", "name")


def _run_row(result: Dict[str, Any]) -> Dict[str, Any]:
    config = result["config"]
    row = {k: config[k] for k in ("task", "group", "model", "seed", "epochs", "train_size", "batch_size")}
    row["lr"] = config["hyperparameters"]["lr"]
    row["lam"] = config["hyperparameters"].get("lam")
    row.update({k: result[k] for k in _RUN_COLUMNS if k not in row})
    row["device"] = ", ".join(run_devices(result))
    return row


def summarize(results: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    r"""One row per task, group and model (in the order first met): means and sample
    standard deviations over seeds of the run results."""
    groups: Dict[Tuple[str, str, str], List[Dict[str, Any]]] = {}
    for r in results:
        c = r["config"]
        groups.setdefault((c["task"], c["group"], c["model"]), []).append(r)
    rows = []
    for (task, group, model), runs in groups.items():
        c = runs[0]["config"]
        row: Dict[str, Any] = {"task": task, "group": group, "model": model, "seeds": len(runs),
                               "epochs": c["epochs"], "train_size": c["train_size"], "batch_size": c["batch_size"],
                               "lr": c["hyperparameters"]["lr"], "lam": c["hyperparameters"].get("lam"),
                               "parameters": runs[0]["parameters"]}
        for key in ("test_score", "final_test_score", "seconds_per_epoch", "train_seconds",
                    "latent_equivariance_error", "output_equivariance_error"):
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([r[key] for r in runs])
        row["device"] = ", ".join(sorted({d for r in runs for d in run_devices(r)}))
        rows.append(row)
    return rows


def _renamed(key: str, metric: str) -> str:
    return key.replace("score", metric)


def _csv(rows: Sequence[Dict[str, Any]], metric: str) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([_renamed(k, metric) for k in rows[0]])
        for row in rows:
            writer.writerow(["" if v is None else v for v in row.values()])
    return buffer.getvalue()


def format_table(rows: Sequence[Dict[str, Any]], task: "Task") -> str:
    r"""The summary as Markdown: one table per task and group (``task`` gives the metric's name)."""
    metric = task.metric
    blocks = []
    for key in dict.fromkeys((r["task"], r["group"]) for r in rows):
        sub = [r for r in rows if (r["task"], r["group"]) == key]
        seeds = sorted({r["seeds"] for r in sub})
        first = sub[0]
        lines = [
            f"## {key[0]} {key[1]}: {'/'.join(map(str, seeds))} seed(s), {first['epochs']} epochs, "
            f"train size {first['train_size']:,}, batch {first['batch_size']}",
            "",
            f"Test {metric}: at the epoch with the best validation {metric}, mean ± std over seeds. "
            f"Equivariance errors: relative, mean over the non-identity elements of the input symmetry group, "
            f"on the best-validation model in eval mode.",
            "",
            f"| model | test {metric} (%) | parameters | s/epoch | latent equiv. error | output equiv. error | device |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in sub:
            acc = format_mean_std(r["test_score_mean"], r["test_score_std"], ".2f", scale=100)
            lines.append(f"| {r['model']} | {acc} | {r['parameters']:,} | {r['seconds_per_epoch_mean']:.2f} | "
                         f"{format_mean_std(r['latent_equivariance_error_mean'], None, '.3g')} | "
                         f"{format_mean_std(r['output_equivariance_error_mean'], None, '.3g')} | {r['device']} |")
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

    keys = list(dict.fromkeys((r["task"], r["group"]) for r in rows))
    fig = Figure(figsize=(10, 4 * len(keys)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(keys), 2, squeeze=False)
    for (task, group), (ax_params, ax_time) in zip(keys, axes):
        for r in (r for r in rows if (r["task"], r["group"]) == (task, group)):
            y, yerr = 100 * r["test_score_mean"], 100 * (r["test_score_std"] or 0.0)
            for ax, x, xerr in ((ax_params, r["parameters"], 0.0),
                                (ax_time, r["train_seconds_mean"], r["train_seconds_std"] or 0.0)):
                ax.errorbar([x], [y], yerr=[yerr], xerr=[xerr], fmt="o", capsize=4, label=r["model"])
        ax_params.set_xscale("log")
        ax_params.set_xlabel("parameters")
        ax_time.set_xlabel("training time per run (s)")
        _log_ticks(ax_params)
        for ax in (ax_params, ax_time):
            ax.set_ylabel(f"test {metric} (%) at best validation")
            ax.set_title(f"{task} {group}")
            ax.grid(True, alpha=0.3)
        ax_params.legend(fontsize=8)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120))


def write_reports(results: Sequence[Dict[str, Any]], out: Path, task: "Task") -> None:
    r"""Write ``results.csv``, ``summary.csv``, ``summary.md`` and ``compare.png`` under ``out``."""
    rows = summarize(results)
    atomic_write_text(out / "results.csv", _csv([_run_row(r) for r in results], task.metric))
    atomic_write_text(out / "summary.csv", _csv(rows, task.metric))
    atomic_write_text(out / "summary.md", format_table(rows, task))
    _plot(rows, out / "compare.png", task.metric)


