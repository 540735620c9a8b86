r"""Reports of a comparison: one table row per run, a summary per task, group and model, a plot.

:func:`summarize` gives means and sample standard deviations over seeds;
:func:`format_table` the Markdown table :mod:`escnn_soft.experiments.cli` prints;
:func:`write_reports` the CSV files, ``summary.md`` and ``compare.png``.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .runner import atomic_write_text
from .task import Task

__all__ = ["summarize", "format_table", "write_reports"]


def _mean_std(values: Sequence[Optional[float]]) -> Tuple[Optional[float], Optional[float]]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


_RUN_COLUMNS = ("task", "group", "model", "seed", "epochs", "train_size", "batch_size", "lr", "lam", "best_epoch",
                "val_score", "test_score", "final_test_score", "parameters", "seconds_per_epoch", "train_seconds",
                "latent_equivariance_error", "output_equivariance_error", "device", "name")


def _run_row(result: Dict[str, Any]) -> Dict[str, Any]:
    config = result["config"]
    row = {k: config[k] for k in ("task", "group", "model", "seed", "epochs", "train_size", "batch_size")}
    row["lr"] = config["hyperparameters"]["lr"]
    row["lam"] = config["hyperparameters"].get("lam")
    row.update({k: result[k] for k in _RUN_COLUMNS if k not in row})
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
            row[f"{key}_mean"], row[f"{key}_std"] = _mean_std([r[key] for r in runs])
        row["device"] = ", ".join(sorted({r["device"] for r in runs}))
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


def _number(value: Optional[float], spec: str) -> str:
    return "—" if value is None else format(value, spec)


def format_table(rows: Sequence[Dict[str, Any]], task: Task) -> str:
    r"""The summary as Markdown: one table per task and group."""
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
            mean, std = r["test_score_mean"], r["test_score_std"]
            acc = f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")
            lines.append(f"| {r['model']} | {acc} | {r['parameters']:,} | {r['seconds_per_epoch_mean']:.2f} | "
                         f"{_number(r['latent_equivariance_error_mean'], '.3g')} | "
                         f"{_number(r['output_equivariance_error_mean'], '.3g')} | {r['device']} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _plot(rows: Sequence[Dict[str, Any]], path: Path, metric: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

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
        ax_params.xaxis.set_minor_formatter(NullFormatter())  # a narrow log range would label every minor tick
        for ax in (ax_params, ax_time):
            ax.set_ylabel(f"test {metric} (%) at best validation")
            ax.set_title(f"{task} {group}")
            ax.grid(True, alpha=0.3)
        ax_params.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)


def write_reports(results: Sequence[Dict[str, Any]], out: Path, task: Task) -> None:
    r"""Write ``results.csv``, ``summary.csv``, ``summary.md`` and ``compare.png`` under ``out``."""
    rows = summarize(results)
    atomic_write_text(out / "results.csv", _csv([_run_row(r) for r in results], task.metric))
    atomic_write_text(out / "summary.csv", _csv(rows, task.metric))
    atomic_write_text(out / "summary.md", format_table(rows, task))
    _plot(rows, out / "compare.png", task.metric)


