r"""Reports on learned latent actions: multiplicity tables and eigenvalue plots.

* :func:`decomposition_record` turns a :class:`~escnn_soft.learned.decompose.Decomposition` into
  plain JSON-able data (and :func:`multiplicity_table` reads either);
* :func:`rounded_multiplicities`, :func:`rounded_text` and :func:`mean_multiplicities_text` give a
  record's rounded decomposition, as a list and as a line, and the mean multiplicities of several;
* :func:`multiplicity_table` writes a markdown table of the irrep multiplicities of
  several runs, with their mean :math:`\pm` standard deviation, irreps named as escnn
  names them;
* :func:`run_table` writes a markdown table of learned runs, one row per run (its decompositions,
  whether they agree with its no-data control, :func:`same_as_control`, its scores and errors);
* :func:`plot_eigenvalues` draws the eigenvalues of :math:`\rho_Z(g)` over training on
  the unit circle, with the :math:`N`-th roots of unity (:math:`N` the order of
  :math:`g`) around which those of a representation must end (the paper's Figure 4).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..records import atomic_write, mean_std_text
from .decompose import Decomposition, summary_of

__all__ = ["decomposition_record", "mean_multiplicities_text", "multiplicity_table", "plot_eigenvalues",
           "record_summary", "rounded_multiplicities", "rounded_text", "same_as_control", "run_table"]

PathLike = Union[str, os.PathLike]
Run = Union[Decomposition, Mapping[str, Any]]


def decomposition_record(d: Decomposition) -> Dict[str, Any]:
    r"""A :class:`~escnn_soft.learned.decompose.Decomposition` as plain data (for JSON).

    Returns:
        a dict with the group's name, the dimension, one entry per irrep (escnn's
        ``name``, ``dim``, ``type``, the real ``multiplicity``, its ``rounded`` value and
        its multiplicity ``in_regular``), the residuals, the verdict ``is_representation``
        with its ``tol``, the closest :math:`m\,\rho_\text{reg} \oplus t \cdot 1`, the
        ``summary`` (which says "not a representation" when it is not one) and, for
        abelian groups, the complex counts (``complex``: ``labels``, ``counts``,
        ``generator_orders``; else ``None``).
    """
    if not isinstance(d, Decomposition):
        raise TypeError(f"expected a Decomposition (from escnn_soft.learned.decompose), got {type(d).__name__}")
    irreps = [{"name": n, "dim": int(k), "type": t, "multiplicity": float(m), "rounded": int(r), "in_regular": int(g)}
              for n, k, t, m, r, g in zip(d.irrep_names, d.irrep_dims, d.irrep_types, d.multiplicities, d.rounded,
                                          d.regular)]
    complex_ = None
    if d.complex_counts is not None:
        complex_ = {"labels": [list(k) for k in d.complex_labels], "counts": [int(c) for c in d.complex_counts],
                    "generator_orders": [int(n) for n in d.generator_orders]}
    return {
        "group": d.group.name,
        "dim": int(d.dim),
        "irreps": irreps,
        "residual": float(d.residual),
        "homomorphism_defect_max": float(d.homomorphism_defect_max),
        "homomorphism_defect_mean": float(d.homomorphism_defect_mean),
        "identity_defect": float(d.identity_defect),
        "character_residual": float(d.character_residual),
        "tol": float(d.tol),
        "is_representation": bool(d.is_representation),
        "regular_copies": int(d.regular_copies),
        "trivial_copies": int(d.trivial_copies),
        "regular_distance": float(d.regular_distance),
        "summary": d.summary,
        "complex": complex_,
    }


def record_summary(record: Mapping[str, Any]) -> str:
    r"""The summary of a :func:`decomposition_record`, recomputed from its fields by
    :func:`~escnn_soft.learned.decompose.summary_of`, not read from its stored ``summary``, so that
    every record reads by the same rules (a stored ``summary`` may name the closest
    :math:`m\,\rho_\text{reg} \oplus t \cdot 1` of a representation that is not one)."""
    return summary_of(record["group"], homomorphism_defect_max=record["homomorphism_defect_max"],
                      identity_defect=record["identity_defect"], tol=record["tol"],
                      regular_copies=record["regular_copies"], trivial_copies=record["trivial_copies"],
                      regular_distance=record["regular_distance"],
                      rounded=[i["rounded"] for i in record["irreps"]],
                      regular=[i["in_regular"] for i in record["irreps"]])


def rounded_multiplicities(record: Mapping[str, Any]) -> List[int]:
    r"""The rounded decomposition of a :func:`decomposition_record`: the rounded multiplicity of each of
    escnn's irreps, then, for an abelian group, its complex counts. Two records decompose alike when
    these lists are equal.

    Example:
        >>> rounded_multiplicities({"irreps": [{"rounded": 21}, {"rounded": 21}], "complex": {"counts": [21, 21]}})
        [21, 21, 21, 21]
    """
    counts = record["complex"]["counts"] if record["complex"] else []
    return [i["rounded"] for i in record["irreps"]] + list(counts)


def rounded_text(record: Mapping[str, Any]) -> str:
    r"""The rounded decomposition of a :func:`decomposition_record` as one line, ``" : "`` between the
    numbers: for a cyclic group whose complex counts are more than its real irreps (e.g. :math:`C_4`),
    the eigenvalues of :math:`\rho(s)` at each root of unity, as the paper reports :math:`C_N`;
    otherwise the rounded multiplicity of each of escnn's irreps.

    Example:
        >>> rounded_text({"irreps": [{"rounded": 5}, {"rounded": 5}, {"rounded": 10}], "complex": None})
        '5 : 5 : 10'
    """
    complex_ = record["complex"]
    cyclic = bool(complex_) and len(complex_["generator_orders"]) == 1 and len(complex_["counts"]) != len(record["irreps"])
    values = complex_["counts"] if cyclic else [i["rounded"] for i in record["irreps"]]
    return " : ".join(str(v) for v in values)


def mean_multiplicities_text(records: Sequence[Mapping[str, Any]]) -> str:
    r"""The mean :math:`\pm` sample standard deviation over the :func:`decomposition_record`\ s
    ``records`` of each multiplicity (two decimals), ``" : "`` between them: of the complex counts
    for an abelian group that has more of them than real irreps, otherwise of escnn's irreps.

    Example:
        >>> records = [{"irreps": [{"multiplicity": m}, {"multiplicity": 10.0}], "complex": None} for m in (4.9, 5.1)]
        >>> mean_multiplicities_text(records)
        '5.00 ± 0.14 : 10.00 ± 0.00'
    """
    first = records[0]
    if first["complex"] and len(first["complex"]["counts"]) != len(first["irreps"]):
        table = np.array([r["complex"]["counts"] for r in records], dtype=float)
    else:
        table = np.array([[i["multiplicity"] for i in r["irreps"]] for r in records])
    return " : ".join(mean_std_text(table[:, k].tolist(), ".2f") for k in range(table.shape[1]))


def _record(run: Run) -> Mapping[str, Any]:
    if isinstance(run, Decomposition):
        return decomposition_record(run)
    if isinstance(run, Mapping) and "irreps" in run and "group" in run:
        return {**run, "summary": record_summary(run)}
    raise TypeError(f"each run must be a Decomposition or a decomposition_record dict, got {type(run).__name__}")


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def multiplicity_table(runs: Sequence[Run], *, labels: Optional[Sequence[str]] = None,
                       reference: Optional[Sequence[float]] = None, reference_label: str = "paper",
                       digits: int = 2) -> str:
    r"""A markdown table of the irrep multiplicities of several runs, with mean :math:`\pm` std.

    One row per run (the real multiplicities :math:`n_\psi`, the residual of
    :func:`~escnn_soft.learned.decompose.decompose` and its summary: the closest
    :math:`m\,\rho_\text{reg} \oplus t \cdot 1`, or "not a representation" with the
    failing defect), then the mean :math:`\pm` the sample
    standard deviation over the runs, then the ``reference`` row if given. Columns are
    escnn's irrep names with their dimensions. For abelian groups a second table gives
    the complex counts (for a cyclic group, the eigenvalues of :math:`\rho(s)` at each
    :math:`N`-th root of unity :math:`e^{2\pi i k/N}`), which is how the paper reports
    :math:`C_N`.

    Args:
        runs: :class:`~escnn_soft.learned.decompose.Decomposition`\ s or :func:`decomposition_record` dicts,
            all of the same group and dimension.
        labels (sequence of str, optional): a name per run (default ``run 0``, ``run 1``, ...).
        reference (sequence of float, optional): values to compare with, one per irrep (or,
            for abelian groups, one per complex count when its length matches those).
        reference_label (str): the name of the reference row.
        digits (int): decimals shown.

    Returns:
        the markdown text (ending with a newline).
    """
    records = [_record(r) for r in runs]
    if not records:
        raise ValueError("multiplicity_table needs at least one run")
    first = records[0]
    names = [i["name"] for i in first["irreps"]]
    for r in records[1:]:
        if r["group"] != first["group"] or r["dim"] != first["dim"] or [i["name"] for i in r["irreps"]] != names:
            raise ValueError(f"all runs must decompose representations of the same group and dimension; got "
                             f"{first['group']} (dim {first['dim']}) and {r['group']} (dim {r['dim']})")
    if labels is None:
        labels = [f"run {k}" for k in range(len(records))]
    labels = list(labels)
    if len(labels) != len(records):
        raise ValueError(f"{len(labels)} labels for {len(records)} runs")
    complex_ = first["complex"]
    n_complex = len(complex_["counts"]) if complex_ else 0
    if reference is not None and len(reference) not in (len(names), n_complex):
        raise ValueError(f"reference has {len(reference)} values; expected one per irrep ({len(names)})"
                         + (f" or one per complex count ({n_complex})" if n_complex else ""))

    lines = [f"{first['group']}, latent dimension {first['dim']}: multiplicities of escnn's irreps "
             f"(mean ± sample std over {len(records)} run{'s' if len(records) > 1 else ''})", ""]
    header = ["run"] + [f"`{i['name']}` (dim {i['dim']})" for i in first["irreps"]] + ["residual", "summary"]
    lines += [_row(header), _row(["---"] * len(header))]
    table = np.array([[i["multiplicity"] for i in r["irreps"]] for r in records])
    for label, r, row in zip(labels, records, table):
        lines.append(_row([label] + [f"{v:.{digits}f}" for v in row] + [f"{r['residual']:.2g}", r["summary"]]))
    residuals = np.array([r["residual"] for r in records])
    lines.append(_row(["mean ± std"] + [mean_std_text(table[:, k].tolist(), f".{digits}f") for k in range(len(names))]
                      + [mean_std_text(residuals.tolist(), ".2g"), ""]))
    if reference is not None and len(reference) == len(names):
        lines.append(_row([reference_label] + [f"{v:g}" for v in reference] + ["", ""]))

    if complex_:
        orders = complex_["generator_orders"]
        if len(orders) == 1:
            N = orders[0]
            heads = [f"k={k[0]} (e^(2πi·{k[0]}/{N}))" for k in complex_["labels"]]
            what = f"eigenvalues of ρ(s), each counted at the nearest root of unity e^(2πik/{N}), N = {N}"
        else:
            heads = ["λ=(" + ",".join(map(str, k)) + ")" for k in complex_["labels"]]
            what = "complex characters λ(s_j) = e^(2πi k_j/N_j) in ρ ⊗ ℂ"
        counts = np.array([r["complex"]["counts"] for r in records], dtype=np.float64)
        lines += ["", f"Complex counts ({what}):", "", _row(["run"] + heads), _row(["---"] * (len(heads) + 1))]
        for label, row in zip(labels, counts):
            lines.append(_row([label] + [f"{int(v)}" for v in row]))
        lines.append(_row(["mean ± std"] + [mean_std_text(counts[:, k].tolist(), f".{digits}f")
                                            for k in range(len(heads))]))
        if reference is not None and len(reference) == n_complex and n_complex != len(names):
            lines.append(_row([reference_label] + [f"{v:g}" for v in reference]))
    return "\n".join(lines) + "\n"


def plot_eigenvalues(trajectories: Sequence[np.ndarray], path: PathLike, *, order: int,
                     titles: Optional[Sequence[str]] = None, steps: Optional[Sequence[Sequence[int]]] = None,
                     suptitle: Optional[str] = None) -> None:
    r"""Plot eigenvalues of :math:`\rho_Z(g)` over training on the unit circle, as a PNG.

    One panel per run. The eigenvalues of every snapshot are dots coloured by the training
    step on a log scale (first snapshot grey, last one outlined); the unit circle and the
    ``order``-th roots of unity :math:`e^{2\pi i k/N}` (crosses) show where the
    eigenvalues of a representation must lie (:math:`\rho(g)^N = I`). Drawn with
    matplotlib's Agg canvas: no display needed, the global backend is left alone.

    Args:
        trajectories: per run, a complex array ``(snapshots, dim)``: the eigenvalues of
            :math:`\rho_Z(g)` at each snapshot of training.
        path (path-like): the PNG file to write.
        order (int): :math:`N`, the order of :math:`g`.
        titles (sequence of str, optional): a title per panel.
        steps (sequence of sequences of int, optional): per run, the training step of every
            snapshot (for the colour bar); default the snapshot index.
        suptitle (str, optional): a title for the figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    trajectories = [np.asarray(t) for t in trajectories]
    if not trajectories:
        raise ValueError("plot_eigenvalues needs at least one trajectory")
    for t in trajectories:
        if t.ndim != 2 or t.shape[0] < 1:
            raise ValueError(f"each trajectory must be an array (snapshots, dim) of eigenvalues, got shape {t.shape}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be a positive int (the order of the element), got {order!r}")
    if titles is not None and len(titles) != len(trajectories):
        raise ValueError(f"{len(titles)} titles for {len(trajectories)} trajectories")
    if steps is None:
        steps = [np.arange(len(t)) for t in trajectories]
    if len(steps) != len(trajectories) or any(len(s) != len(t) for s, t in zip(steps, trajectories)):
        raise ValueError("steps must give one step per snapshot of every trajectory")

    n = len(trajectories)
    cols = min(n, 5)
    rows = -(-n // cols)
    fig = Figure(figsize=(3.0 * cols + 1.0, 3.1 * rows + (0.4 if suptitle else 0)), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    last = max(2.0, max(float(np.max(s)) for s in steps))
    norm = LogNorm(1.0, last)          # training moves fast early: a log scale resolves it
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 361))
    roots = np.exp(2j * np.pi * np.arange(order) / order)
    axes: List = []
    for k, (t, s) in enumerate(zip(trajectories, steps)):
        ax = fig.add_subplot(rows, cols, k + 1)
        axes.append(ax)
        ax.plot(circle.real, circle.imag, color="0.6", lw=0.8, zorder=1)
        ax.scatter(t[0].real, t[0].imag, s=10, color="0.75", zorder=2, label="start")
        if len(t) > 2:
            middle = t[1:-1]
            colour = np.repeat(np.maximum(np.asarray(s[1:-1], dtype=float), 1.0), t.shape[1])
            ax.scatter(middle.real.ravel(), middle.imag.ravel(), c=colour, cmap="viridis", norm=norm, s=6,
                       alpha=0.7, zorder=3, linewidths=0)
        if len(t) > 1:
            ax.scatter(t[-1].real, t[-1].imag, s=18, c=np.full(t.shape[1], max(float(s[-1]), 1.0)),
                       cmap="viridis", norm=norm, edgecolors="black", linewidths=0.6, zorder=4, label="end")
        ax.scatter(roots.real, roots.imag, marker="x", s=60, color="red", zorder=5, label=f"roots of unity, N = {order}")
        ax.set_aspect("equal")
        bound = max(1.35, float(np.abs(t).max()) * 1.08)
        ax.set_xlim(-bound, bound)
        ax.set_ylim(-bound, bound)
        ax.axhline(0, color="0.85", lw=0.5, zorder=0)
        ax.axvline(0, color="0.85", lw=0.5, zorder=0)
        ax.tick_params(labelsize=7)
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    axes[0].legend(loc="lower left", fontsize=6, framealpha=0.8)
    fig.colorbar(ScalarMappable(norm=norm, cmap="viridis"), ax=axes, shrink=0.8, label="training step (log scale)")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def same_as_control(result: Mapping[str, Any]) -> bool:
    r"""Whether a learned run's decomposition, rounded (:func:`rounded_multiplicities`), is that of its
    no-data control (``result["analysis"]``'s ``decomposition`` and ``control_decomposition``)."""
    analysis = result["analysis"]
    return rounded_multiplicities(analysis["decomposition"]) == rounded_multiplicities(
        analysis["control_decomposition"])


def _task_scores(result: Mapping[str, Any]) -> Tuple[float, float]:
    r"""A run's test score and its score on the shifted test set, as their tables print them: an error
    (reconstruction MSE) positive, an accuracy as it is."""
    test = result["analysis"]["test"]
    if result["metric"] != "accuracy":
        return -result["test_score"], test["shifted_reconstruction_mse"]
    return result["test_score"], test["shifted_accuracy"]


def _last_epoch(analysis: Mapping[str, Any]) -> str:
    r"""The rounded decomposition of the last epoch's :math:`\rho_Z`, with its epoch and algebra loss,
    and whether it is a representation; "—" for an analysis that records no ``final_decomposition``."""
    d = analysis.get("final_decomposition")
    if not d:
        return "—"
    verdict = "" if d["is_representation"] else ", not a representation"
    loss = analysis["final_algebra_loss"]
    return f"{rounded_text(d)} (epoch {analysis['final_epoch']}, algebra loss {loss:.2e}{verdict})"


def run_table(results: Sequence[Mapping[str, Any]]) -> str:
    r"""A markdown table of learned runs (the ``result.json`` of the exploration tasks), one row per
    run and a last row of mean :math:`\pm` standard deviation: each run's seed, its learned and
    control decompositions rounded (:func:`rounded_text`) and whether they agree
    (:func:`same_as_control`), its last epoch's where recorded, its algebra loss and homomorphism
    defect, its test scores (accuracy in percent, or reconstruction MSE) upright and shifted, its
    equivariance errors, best epoch and training time.

    Example:
        >>> d = {"irreps": [{"rounded": 1, "multiplicity": 1.0}], "complex": None, "homomorphism_defect_max": 0.01}
        >>> run = {"config": {"seed": 0, "epochs": 5}, "metric": "accuracy", "test_score": 0.9, "best_epoch": 4,
        ...        "latent_equivariance_error": 0.05, "train_seconds": 12.0,
        ...        "analysis": {"decomposition": d, "control_decomposition": d, "algebra_loss": 1e-5,
        ...                     "test": {"shifted_accuracy": 0.8, "equivariance_mse": 0.002}}}
        >>> print(run_table([run]).splitlines()[2])
        | 0 | 1 | 1 | yes | 1.00e-05 | 0.01 | 90.0 | 80.0 | 0.0020 | 0.050 | 4/5 | 12 |
    """
    error = results[0]["metric"] != "accuracy"
    task, scale, spec = ("reconstruction MSE", 1.0, ".4f") if error else ("accuracy (%)", 100.0, ".1f")
    head = ["seed", "learned (rounded)", "control (rounded)", "= control", "algebra loss", "defect (max)",
            f"test {task}", f"test shifted {task}", "test equivariance MSE", "latent rel. equiv. error",
            "best epoch", "train s"]
    last = any(r["analysis"].get("final_decomposition") for r in results)
    if last:
        head[3:3] = ["last epoch (rounded)"]
    lines = [_row(head), _row(["---"] * len(head))]
    for r in results:
        a, (test, shifted) = r["analysis"], _task_scores(r)
        lines.append(_row([
            str(r["config"]["seed"]), rounded_text(a["decomposition"]), rounded_text(a["control_decomposition"]),
            "yes" if same_as_control(r) else "no", *([_last_epoch(a)] if last else []), f"{a['algebra_loss']:.2e}",
            f"{a['decomposition']['homomorphism_defect_max']:.2g}", format(scale * test, spec),
            format(scale * shifted, spec), f"{a['test']['equivariance_mse']:.4f}",
            f"{r['latent_equivariance_error']:.3f}", f"{r['best_epoch']}/{r['config']['epochs']}",
            f"{r['train_seconds']:.0f}"]))
    scores = [_task_scores(r) for r in results]
    lines.append("| mean ± std | | | " + f"{sum(map(same_as_control, results))} of {len(results)} | "
                 + ("| " if last else "")
                 + " | ".join([mean_std_text([r["analysis"]["algebra_loss"] for r in results], ".2e"),
                               mean_std_text([r["analysis"]["decomposition"]["homomorphism_defect_max"]
                                              for r in results], ".2g"),
                               mean_std_text([t for t, _ in scores], spec, scale=scale),
                               mean_std_text([s for _, s in scores], spec, scale=scale),
                               mean_std_text([r["analysis"]["test"]["equivariance_mse"] for r in results], ".4f"),
                               mean_std_text([r["latent_equivariance_error"] for r in results], ".3f"), "",
                               mean_std_text([r["train_seconds"] for r in results], ".0f")]) + " |")
    return "\n".join(lines) + "\n"
