r"""Write results/README.md and the READMEs of ddmnist, ddmnist-5ep, mnist, medmnist3d and smoke under results/.

Every figure of the READMEs comes from the ``runs/*/result.json`` files beside them, read, selected
and scored by :mod:`escnn_soft.experiments.results` (means and sample standard deviations over
seeds, epochs, data sizes, devices, histories); runs that diverged (training loss not finite) are
left out of every figure and listed in a closing section of their README instead. The exceptions
are the paper's Tables 4, 5 and 6, which are :data:`PAPER_TABLE_4`, :data:`PAPER_TABLE_5` and
:data:`PAPER_TABLE_6` below. The runs each README expects are the plans of ``results/plans.json``
(:mod:`escnn_soft.experiments.plans`), and its commands are those plans, as ``escnn-soft plan NAME``
and as :func:`~escnn_soft.experiments.cli.format_command` writes their entries. The prose is in the
:class:`string.Template` files of ``readme_templates/`` and, for its lines and table rows, in the
format strings below (``PAPER_FINISHED``, ``L2_NORMS``, ...), filled with values from tested package
code. Each task's README opens with its verdict table (:func:`verdict_section`: does soft pay, at
equal epochs and at equal compute, by
:func:`~escnn_soft.experiments.results.soft_verdicts`), and results/README.md gathers them
(:func:`results_readme`); their training FLOPs are read from results/flops.json
(``scripts/flops.py``), not counted. ``--check`` writes nothing and fails if a README differs from
what the runs give (the test suite checks the same).

Run:  python scripts/results_readme.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from functools import partial
from string import Template
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from escnn_soft.experiments.cli import format_command, parse_args
from escnn_soft.experiments.plans import compare_arguments, load_plans, part_setting, planned_runs, seed_counts
from escnn_soft.experiments.reports import (best_epoch_cells, is_percentage, run_devices, seeds_text, span_text,
                                            verdict_text)
from escnn_soft.experiments.results import (FLOPS_LEFT_OUT, MissingFlops, at_best, by_settings, compare_at_equal_cost,
                                            flops_of, group_by, history_value, load_flops, load_runs, mean_difference,
                                            means_by, nearest, plan_progress, progress_totals, scores_by_test_set,
                                            select, setting, shared_setting, soft_verdicts)
from escnn_soft.records import atomic_write_text, mean_std, mean_std_text

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "readme_templates"
r"""The prose of the READMEs, as :class:`string.Template` files with ``$name`` for each value."""
FULL = ROOT / "results" / "ddmnist"
SHORT = ROOT / "results" / "ddmnist-5ep"
MEDMNIST3D = ROOT / "results" / "medmnist3d"
SMOKE = ROOT / "results" / "smoke"
SMOKE_LAMBDA = ROOT / "results" / "smoke-lambda"
MNIST = ROOT / "results" / "mnist"

PAPER_TABLE_4: Dict[str, Dict[str, float]] = {
    "C4": {"soft": 0.915, "cnn": 0.907},
    "D1": {"soft": 0.947, "cnn": 0.938},
    "D4": {"soft": 0.868, "cnn": 0.800},
}
r"""The paper's Table 4 (Ali, Liò & Vicary 2025), double-digit MNIST test accuracies: its
soft-equivariant model ("ours") and its CNN. Not measured here."""

TABLE4_ROW = "| {group} | {soft:.3f} | {cnn:.3f} | {cells} |"
r"""A row of results/ddmnist/README.md's Table 4: the paper's two columns (:data:`PAPER_TABLE_4`), then ours."""

PAPER_TABLE_5: Dict[str, Dict[str, float]] = {
    "CNN": {"nodulemnist3d": 0.873, "synapsemnist3d": 0.716, "organmnist3d": 0.920},
    "CNN + aug": {"nodulemnist3d": 0.879, "synapsemnist3d": 0.761, "organmnist3d": 0.632},
    "SCNN SO(3)": {"nodulemnist3d": 0.873, "synapsemnist3d": 0.738, "organmnist3d": 0.607},
    "PSCNN SO(3)": {"nodulemnist3d": 0.871, "synapsemnist3d": 0.770, "organmnist3d": 0.902},
    "ours (soft, O)": {"nodulemnist3d": 0.887, "synapsemnist3d": 0.770, "organmnist3d": 0.642},
}
r"""The paper's Table 5 (Ali, Liò & Vicary 2025), MedMNIST3D test accuracies on the upright
test volumes. Not measured here."""

PAPER_TABLE_6: Dict[str, Dict[str, Any]] = {
    "CNN": {"model": "cnn", "future": 0.81, "domain": 0.63, "parameters": "0.25 M"},
    "CNN + aug": {"model": "cnn-aug", "future": 0.83, "domain": 0.67, "parameters": "0.25 M"},
    "E2CNN (C4)": {"model": "e2cnn", "future": 1.05, "domain": 0.76, "parameters": "0.62 M"},
    "RPP": {"model": "rpp", "future": 0.96, "domain": 0.82, "parameters": "4.36 M"},
    "RSteer": {"model": None, "future": 0.80, "domain": 0.67, "parameters": "5.60 M"},
    "PSCNN": {"model": None, "future": 0.77, "domain": 0.57, "parameters": "3.12 M"},
    "ours (soft)": {"model": "soft", "future": 0.78, "domain": 0.61, "parameters": "0.25 M"},
}
r"""The paper's Table 6 (Ali, Liò & Vicary 2025), SMOKE rollout RMSEs on the Future and Domain test
sets, with our model of the same name where there is one. Not measured here."""

SMOKE_MODELS = ("cnn", "cnn-aug", "soft", "soft-regular", "e2cnn-narrow", "e2cnn", "rpp")

PAPER_FLAGS = ("nodulemnist3d", "synapsemnist3d", "organmnist3d")

PLANS = load_plans(ROOT / "results" / "plans.json")
r"""The run plans of ``results/plans.json`` (:mod:`escnn_soft.experiments.plans`), by name."""

ADRENAL_GRID = seed_counts(PLANS["medmnist3d"], "grid")
r"""The planned AdrenalMNIST3D runs: seeds per model, at the full budget."""

ADRENAL_STRICT = seed_counts(PLANS["medmnist3d"], "strict")
ADRENAL_STRICT_EPOCHS = part_setting(PLANS["medmnist3d"], "strict", "epochs")
r"""The planned strict AdrenalMNIST3D runs: seeds per model, at :data:`ADRENAL_STRICT_EPOCHS` epochs
(their steps cost many times the CNN's on the CPU)."""

ADRENAL_TWO_VIEW = seed_counts(PLANS["does-soft-pay-medmnist3d"], "5")
r"""The planned runs of the two-view control (run 5 of the does-soft-pay plan): seeds per model."""

ADRENAL_PLANNED = "{grid} up to 150 epochs; {strict} at {epochs} epochs; {two_view} up to 150 epochs (run 5)"
r"""The planned AdrenalMNIST3D runs in words."""

COUNTED = ": {nodule:,} for 2 classes and {organ:,} for Organ3D's 11 (the fixture runs below)"
r"""The CNN's parameter counts of the fixture runs, in words."""

CLASSES = 100
r"""Double-digit MNIST's classes: the ordered pairs of digits, 10 of them with equal digits."""

GROUPS = ("C4", "D1", "D4")

SOFT = "soft-postbn"
r"""The model of every committed soft run: soft with its latent after the BatchNorm1d and ELU
(``"latent": "post-bn"``); the paper's latent, before them, is the model ``soft``."""


Result = Dict[str, Any]

on_corrected_data = partial(select, c4_data="corrected")
r"""The runs with given settings (:func:`~escnn_soft.experiments.results.select`) on the corrected C4 data."""

on_paper_data = partial(select, c4_data="paper")
r"""The runs with given settings on the paper's C4 data (``--c4-data paper``)."""


EARLY_SHIFTED_WEIGHT = 1.0
r"""The weight of soft's shifted task term in its two earliest runs of results/ddmnist (the loss's
default); every later soft run has the task's, 0. The reports leave those two out."""


def finished(folder: Path, *, required: bool = False) -> List[Result]:
    r"""The finished runs of the comparison in ``folder`` (not those that diverged), in the order of
    their folders; ``required``: at least one."""
    runs = select(load_runs(folder), by_seed=False)
    if required and not runs:
        raise FileNotFoundError(f"no runs/*/result.json under {folder}")
    return runs


def pick(runs: Sequence[Result], group: Optional[str] = None, model: Optional[str] = None) -> List[Result]:
    r"""The runs of ``group`` and ``model`` (any where ``None``), sorted by seed, without soft's early runs
    (:data:`EARLY_SHIFTED_WEIGHT`)."""
    given = {k: v for k, v in (("group", group), ("model", model)) if v is not None}
    return select(runs, where=lambda r: setting(r, "shifted_weight", None) != EARLY_SHIFTED_WEIGHT, **given)


def one(runs: Sequence[Result], key: str, **where: Any) -> Any:
    r"""The value of the setting ``key`` shared by the runs :func:`pick` selects with ``where``."""
    return shared_setting(pick(runs, **where), key)


def cell(values: Sequence[float], spec: str = ".3f") -> str:
    r"""Mean ± std of ``values``."""
    return mean_std_text(values, spec)


def ms(runs: Sequence[Dict[str, Any]], key: str = "test_score", spec: str = ".3f") -> str:
    r"""Mean ± std over ``runs`` of ``key``."""
    return mean_std_text([r[key] for r in runs], spec)


def mean(values: Sequence[float], spec: str, scale: float = 1.0) -> str:
    return format(scale * mean_std(values)[0], spec)


def devices(runs: Sequence[Result]) -> List[str]:
    r"""The devices ``runs`` trained on (:func:`~escnn_soft.experiments.reports.run_devices`), sorted."""
    return sorted({d for r in runs for d in run_devices(r)})


def command(runs: Sequence[Result], models: Sequence[str], out: str) -> str:
    present = [g for g in GROUPS if pick(runs, group=g)]
    seeds = sorted({r["config"]["seed"] for r in pick(runs)})
    return shown(["--task", one(runs, "task"), "--group", ",".join(present), "--models", ",".join(models),
                  "--seeds", ",".join(map(str, seeds)), "--epochs", str(one(runs, "epochs")),
                  "--train-size", str(one(runs, "train_size")), "--mnist", "path/to/mnist.npz", "--out", out])


def shown(argv: Sequence[str], width: int = 118, device: Optional[str] = None) -> str:
    r"""The ``escnn-soft compare`` command of the arguments ``argv`` (on ``device`` where given: it is
    checked where the command runs) as :func:`~escnn_soft.experiments.cli.format_command` writes it,
    broken before a flag where a line (with its ``" \\"``) would pass ``width`` characters."""
    options = parse_args(argv)
    chunks: List[str] = []
    for word in format_command(options if device is None else replace(options, device=device)).split(" "):
        if word.startswith("--") or not chunks:
            chunks.append(word)
        else:
            chunks[-1] += " " + word
    lines = [chunks[0]]
    for chunk in chunks[1:]:
        if len(lines[-1]) + len(chunk) + 3 > width:
            lines.append("   ")
        lines[-1] += " " + chunk
    return " \\\n".join(lines)


def plan_commands(name: str, part: Optional[str] = None, **changes: Any) -> List[str]:
    r"""The commands (:func:`shown`) of the entries of the plan ``name`` (``None``: all; else those
    named ``part``), with ``changes`` to their settings."""
    plan, device = PLANS[name], changes.pop("device", None)
    return [shown(compare_arguments(plan, {**e, **changes}), device=device) for e in plan["entries"]
            if part is None or e["part"] == part]


def fill(name: str, **values: Any) -> str:
    r"""The template ``readme_templates/<name>.md`` (:class:`string.Template`) filled with ``values``."""
    return Template((TEMPLATES / f"{name}.md").read_text(encoding="utf-8")).substitute(values)


def _models(runs: Sequence[Result]) -> List[str]:
    order = ("cnn", "cnn-aug", SOFT, "scnn", "rpp")
    return [m for m in order if pick(runs, model=m)]


def _protocol_section(runs: Sequence[Result]) -> str:
    r"""The section of results/ddmnist/README.md on its protocol (``readme_templates/ddmnist_protocol.md``)."""
    sel = partial(pick, runs)
    train_size = one(runs, "train_size")
    per_device: Dict[str, List[str]] = {}
    for g in GROUPS:
        for m in _models(runs):
            for d in devices(sel(g, m)):
                per_device.setdefault(d, []).append(f"{g} {m}")
    resumed = []
    for r in (r for r in sel() if r.get("resumed_from_epoch")):
        c, reseeded = r["config"], r.get("random_stream_reseeded_at_epoch")
        resumed.append(f"{c['group']} {c['model']} seed {c['seed']} was resumed from its checkpoint after epoch "
                       f"{r['resumed_from_epoch']} and finished on {r['device']}"
                       + (f", its random stream re-seeded at epoch {reseeded}" if reseeded else "")
                       + "; its `device` is where it finished (epochs record their device only in newer runs).\n\n")
    return fill("ddmnist_protocol", source="`, `".join(sorted({r.get("source", "?") for r in sel()})),
                data=one(runs, "data"), train_size=f"{train_size:,}", per_class=train_size // CLASSES,
                epochs=one(runs, "epochs"), batch_size=one(runs, "batch_size"), soft=SOFT,
                equivariance_batch="/".join(map(str, sorted({r["equivariance_batch"] for r in sel()}))),
                threads=" or ".join(map(str, sorted({r["threads"] for r in sel() if r["device"] == "cpu"}))),
                devices="\n".join(f"- {d}: {', '.join(where)}" for d, where in sorted(per_device.items())),
                resumed="".join(resumed),
                command=command(runs, ("cnn", "cnn-aug", SOFT, "scnn", "rpp"), "results/ddmnist"))


def _differences_section(runs: Sequence[Result], short: Sequence[Result]) -> str:
    r"""Where results/ddmnist/README.md differs from the paper (``readme_templates/ddmnist_differences.md``)."""
    sel = partial(pick, runs)
    seeds = sorted({r["config"]["seed"] for r in sel()})
    epochs = one(runs, "epochs")
    seconds = {(g, m): [r["seconds_per_epoch"] for r in rs] for g in GROUPS for m in ("scnn", "rpp")
               for rs in [sel(g, m) if g == "D1" else pick(short, g, m)]}
    c4, d4 = seconds["C4", "scnn"] + seconds["C4", "rpp"], seconds["D4", "scnn"] + seconds["D4", "rpp"]
    early = select(runs, model=SOFT, shifted_weight=EARLY_SHIFTED_WEIGHT)
    scores_of = lambda rs: [r["test_score"] for r in rs]  # noqa: E731
    return fill(
        "ddmnist_differences", seeds=len(seeds), epochs=epochs, short_epochs=one(short, "epochs"),
        full=", ".join(m for m in ("cnn", "cnn-aug", SOFT) if all(len(sel(g, m)) == len(seeds) for g in GROUPS)),
        d1_scnn=len(sel("D1", "scnn")), d1_rpp=len(sel("D1", "rpp")),
        d1_seconds=span_text(seconds["D1", "scnn"] + seconds["D1", "rpp"], ".0f"), c4_seconds=span_text(c4, ".0f"),
        d4_seconds=span_text(d4, ".0f"), c4_minutes=span_text(c4, ".0f", epochs / 60),
        d4_hours=span_text(d4, ".1f", epochs / 3600),
        shifted_weight=f"{one(runs, 'hyperparameters', group='C4', model=SOFT)['shifted_weight']:g}",
        early_weight=f"{EARLY_SHIFTED_WEIGHT:g}",
        early_seeds=", ".join(sorted({str(r["config"]["seed"]) for r in early})),
        early_scores=", ".join(f"{100 * r['test_score']:.1f} % ({r['config']['group']})" for r in early),
        augmented_scores=", ".join(f"{span_text(scores_of(sel(r['config']['group'], 'cnn-aug')), '.1f', 100)} %"
                                   for r in early),
        early_names=", ".join(f"`{r['name']}`" for r in early), parameters=f"{sel('C4', 'cnn')[0]['parameters']:,}")


def _table4_section(runs: Sequence[Result], short: Sequence[Result]) -> str:
    r"""results/ddmnist/README.md against the paper's Table 4, and what it shows
    (``readme_templates/ddmnist_table4.md``)."""
    sel, kept = partial(pick, runs), pick(runs)
    seeds, epochs = sorted({r["config"]["seed"] for r in kept}), one(runs, "epochs")
    at, equal = min(10, epochs), 10 / CLASSES
    by_model = partial(means_by, kept, ("group", "model"))
    score, latent, output = by_model(), by_model("latent_equivariance_error"), by_model("output_equivariance_error")
    last_train = by_model(lambda r: r["history"][-1]["train_score"])
    last_term = by_model(lambda r: r["history"][-1].get("train_equivariance"))   # soft's only
    task_at = {r["config"]["model"]: history_value(r, at, "train_task")
               for r in select(kept, group="D4", seed=seeds[0])}
    return fill(
        "ddmnist_table4", seeds=len(seeds), epochs=epochs, train_size=f"{one(runs, 'train_size'):,}", at=at,
        rows="\n".join(TABLE4_ROW.format(group=g, **PAPER_TABLE_4[g], cells=" | ".join(
            _accuracy_cell(runs, short, g, m) for m in (SOFT, "cnn-aug", "cnn", "rpp", "scnn"))) for g in GROUPS),
        below=_per_group("{value:.1f} ({group})", lambda g: 100 * (score[g, "cnn-aug"] - score[g, SOFT])),
        paper_gap=_per_group("{value:.1f} ({group})", lambda g: 100 * (PAPER_TABLE_4[g]["cnn"] - score[g, "cnn-aug"])),
        last_train=_per_group("{value:.2f} for {group}", lambda g: last_train[g, "cnn-aug"]),
        soft_task=f"{task_at[SOFT]:.2f}", seed=seeds[0], augmented_task=f"{task_at['cnn-aug']:.2f}",
        best="; ".join(f"{g} {span_text([r['best_epoch'] for r in sel(g, SOFT)], '.0f')}" for g in GROUPS),
        soft_latent=_per_group("{value:.2f} ({group})", lambda g: latent[g, SOFT]),
        plain_latent=span_text([r["latent_equivariance_error"] for m in ("cnn", "cnn-aug") for r in sel(model=m)],
                               ".2f"),
        soft_output=_per_group("{value:.2f}", lambda g: output[g, SOFT]),
        augmented_output=_per_group("{value:.2f}", lambda g: output[g, "cnn-aug"]),
        order=len(sel("D4", SOFT)[0]["latent_equivariance_error_per_element"]) + 1,
        d4_term=f"{last_term['D4', SOFT]:.2f}", c4_term=f"{last_term['C4', SOFT]:.2f}",
        rpp_parameters=f"{sel('D1', 'rpp')[0]['parameters']:,}", rpp_d1=ms(sel("D1", "rpp")),
        scnn_d1=ms(sel("D1", "scnn")), classes=CLASSES, equal_classes=f"{equal * CLASSES:.0f}",
        equal=f"{100 * equal:.0f}", unequal=f"{100 * (1 - equal):.0f}", bound=f"{100 * (equal + (1 - equal) / 2):.0f}")


def _accuracy_cell(runs: Sequence[Result], short: Sequence[Result], group: str, model: str) -> str:
    r"""The cell of Table 4 of ``model`` on ``group``: mean ± std of its runs, or where it ran only the
    short budget."""
    if pick(runs, group, model):
        return ms(pick(runs, group, model))
    return f"({one(short, 'epochs')} epochs only)" if pick(short, group, model) else "—"


def _per_group(text: str, value: Callable[[str], float]) -> str:
    r"""The format string ``text`` filled with the ``value`` of each of :data:`GROUPS` and its ``group``,
    one after another."""
    return ", ".join(text.format(value=value(g), group=g) for g in GROUPS)


def _short_budget_section(runs: Sequence[Result], short: Sequence[Result]) -> str:
    r"""results/ddmnist/README.md on the runs of the short budget and the cost per epoch
    (``readme_templates/ddmnist_short_budget.md``)."""
    models, kept = _models(short), pick(short)
    score, seconds = means_by(kept, ("group", "model")), means_by(kept, ("group", "model"), "seconds_per_epoch")

    def latent(m: str) -> str:
        return span_text([r["latent_equivariance_error"] for r in select(kept, model=m)], ".2f")

    table = ["| group | " + " | ".join(models) + " | s/epoch: " + " / ".join(models) + " |",
             "| --- | " + " | ".join("---:" for _ in models) + " | ---: |"]
    table += [f"| {g} | " + " | ".join(ms(pick(short, g, m)) for m in models) + " | "
              + " / ".join(f"{seconds[g, m]:.0f}" for m in models) + " |" for g in GROUPS]
    return fill(
        "ddmnist_short_budget", short_epochs=one(short, "epochs"), epochs=one(runs, "epochs"),
        train_size=f"{one(short, 'train_size'):,}", seeds=seeds_text(sorted({r["config"]["seed"] for r in kept})),
        devices=", ".join(devices(kept)), table="\n".join(table),
        ranking="; ".join(f"{g}: " + " > ".join(sorted(models, key=lambda m: -score[g, m])) for g in GROUPS),
        soft_latent=latent(SOFT), augmented_latent=latent("cnn-aug"),
        rpp_parameters=", ".join(f"{pick(short, g, 'rpp')[0]['parameters']:,} for {g}" for g in GROUPS),
        augmented_parameters=f"{pick(short, 'C4', 'cnn-aug')[0]['parameters']:,}",
        threads="/".join(map(str, sorted({r["threads"] for r in kept}))),
        ratio=span_text([seconds[g, SOFT] / seconds[g, "cnn-aug"] for g in GROUPS], ".2f"))


def full_readme(runs: Sequence[Result], short: Sequence[Result], paper: Sequence[Dict[str, Any]] = (),
                pilots: Sequence[Dict[str, Any]] = (), verdict: str = "") -> str:
    r"""results/ddmnist/README.md (``readme_templates/ddmnist.md``): the ``verdict`` section
    (:func:`verdict_section`), the paper's protocol (:func:`paper_protocol_section`), then the sections
    of the 50-epoch protocol."""
    return fill("ddmnist", verdict=verdict, paper_protocol=paper_protocol_section(paper, pilots),
                protocol=_protocol_section(runs),
                differences=_differences_section(runs, short), table4=_table4_section(runs, short),
                short_budget=_short_budget_section(runs, short))


def short_readme(runs: Sequence[Result]) -> str:
    r"""results/ddmnist-5ep/README.md: the template ``readme_templates/ddmnist-5ep.md``."""
    sel = pick(runs)
    models = _models(runs)
    return fill("ddmnist-5ep", epochs=one(runs, "epochs"), models=", ".join(models),
                groups=", ".join(g for g in GROUPS if pick(runs, group=g)), train_size=f"{one(runs, 'train_size'):,}",
                batch_size=one(runs, "batch_size"), seeds=seeds_text(sorted({r["config"]["seed"] for r in sel})),
                devices=", ".join(devices(sel)), threads="/".join(map(str, sorted({r["threads"] for r in sel}))),
                command=command(runs, models, "results/ddmnist-5ep"))


def diverged_section(*folders: Path) -> str:
    r"""A README's closing section listing the runs under ``folders`` that diverged (their training
    loss was not finite), which every figure above leaves out; empty when none did."""
    lines = [f"- `{r['name']}` ({r['config']['group']} {r['config']['model']} seed {r['config']['seed']}): "
             f"diverged at epoch {r['diverged_at_epoch']} of {r['config']['epochs']}"
             for folder in folders for r in select(load_runs(folder), diverged=True, by_seed=False)]
    if not lines:
        return ""
    return ("\n## Diverged runs\n\nTheir training loss was not finite, so they stopped without scores; every table "
            "and figure above leaves them out.\n\n" + "\n".join(lines) + "\n")


def _table(results: Sequence[Dict[str, Any]], budget: Optional[int] = None, reference: Optional[str] = None) -> str:
    r"""The comparison's own table (:func:`~escnn_soft.experiments.reports.format_table`) of ``results``,
    each row against its row of ``reference`` where one is given."""
    from escnn_soft.experiments.reports import format_table, summarize
    from escnn_soft.experiments.task import get_task
    import escnn_soft.experiments.tasks  # noqa: F401  (registers the tasks)

    task = get_task(results[0]["config"]["task"])
    table = format_table(summarize(results, budget, reference=reference), task)
    return table.replace("\n## ", "\n### ").replace("## ", "### ", 1)


PAPER_PROTOCOL = ROOT / "results" / "ddmnist-150"
r"""The runs of the paper's protocol for double-digit MNIST: the latent before BatchNorm, up to 150
epochs with early stopping."""

L2_PILOTS = ROOT / "results" / "ddmnist-l2-pilots"
r"""cnn-aug-l2's 30-epoch pilots on D4 seed 0, one per L2 coefficient."""

L2_PILOT_COEFFICIENTS = tuple(r["l2"] for r in planned_runs(PLANS["ddmnist-l2-pilots"]))
r"""The L2 coefficients the pilots try."""

PAPER_PROTOCOL_PLAN = tuple((r["group"], r["model"], len(r["seeds"]))
                            for r in planned_runs(PLANS["ddmnist-150"], "tiers 1 and 2"))
r"""The planned runs of tiers 1 and 2 of :data:`PAPER_PROTOCOL`: (group, model, seeds)."""

STRICT_PLAN = tuple((r["group"], r["model"]) for r in planned_runs(PLANS["ddmnist-150"], "tier 3 strict"))
r"""Tier 3's strict models in :data:`PAPER_PROTOCOL`: at least one seed of each (group, model), at
:data:`STRICT_EPOCHS` epochs."""

STRICT_EPOCHS = part_setting(PLANS["ddmnist-150"], "tier 3 strict", "epochs")
r"""The budget of :data:`STRICT_PLAN`'s runs."""

MONITORED = ("soft", "soft-rel", "cnn-aug", "cnn-aug-l2")
r"""The models whose per-epoch latent measurements are plotted for one seed of D4."""

PAPER_ROW = {"soft": "soft", "cnn-aug": "cnn"}
r"""The model of the paper's Table 4 each of ours corresponds to."""

BUDGET = 50
r"""The shorter budget the reports also read from the same histories (``--budget-report 50``)."""



PAPER_FINISHED = ("Finished: {finished} of the {planned} runs of tiers 1 and 2, on {devices}. Mean ± std over the "
                  "seeds run; the paper's column is\nits Table 4 (its \"ours\" for soft, its CNN for cnn-aug):\n")
PROGRESS = "{group} {model} ({finished} of {planned})"
PAPER_MISSING = "Not finished yet: {missing}. These commands resume what is missing:\n"
STRICT_LINE = ("Tier 3's strict models, up to {epochs} epochs with the same early stopping, at least one seed per "
               "group: finished {ran}")
STRICT_RAN = "{group} {model} ({seeds})"
STRICT_WAITING = "; not yet {waiting}, {which}:\n"
SPEED = ("On a CPU, the environment settings of the main README's [Speed](../../README.md#speed) section\nmake the "
         "runs these commands continue faster (measure `ATEN_CPU_CAPABILITY` on your CPU before you set it).\n")
r"""The prose of :func:`paper_protocol_section`, as format strings."""

WELCH = ("Each difference is the first model's mean minus the second's, in points, with its 95 % interval and p-value from "
         "Welch's t-test (`scipy.stats.ttest_ind(..., equal_var=False)`): higher or lower only when the interval "
         "excludes 0.\n")
r"""The caption of the comparisons that :func:`_versus` words."""

L2_QUESTION = "**How much of any gain does the L2 control get?**\n"

NORM = ("monitor", "expand_weight_norm")
r"""Where a run's history records the Frobenius norm of ``expand``'s weights."""

L2_NORMS = ("At epoch 30 of D4 seed {seed}, `expand`'s weights have the Frobenius norm {soft:.2f} in soft and\n"
            "{augmented:.2f} in cnn-aug{choice}\n")
L2_LOWER = (": soft's is lower, so the pilots' coefficient is the one whose norm at epoch 30 is closest to\n"
            "soft's.")
L2_NOT_LOWER = ": soft's is not lower, so cnn-aug-l2 takes 1e-3."
L2_PILOTS_TABLE = ("The 30-epoch pilots of cnn-aug-l2 on D4 seed 0 (`../ddmnist-l2-pilots/`):\n\n"
                   "| L2 coefficient | expand norm, epoch 30 | validation accuracy, epoch 30 |\n| ---: | ---: | ---: |")
L2_PILOT_ROW = "| {l2} | {norm:.2f} | {val:.3f} |"
L2_CLOSEST = "norm closest to soft's {soft:.2f} is {norm:.2f}, at {l2}"
r"""The prose of :func:`_l2_control`, as format strings."""

GXG_REACHED = ("{group}: {test} on the augmented test set and {upright} upright ({seeds} seed(s), up to {epochs} "
               "epochs, best at epoch {best}, stopped at {stopped}), against the paper's soft {paper:.3f}")
GXG_NOT_YET = "Not yet: no run of scnn-gxg has finished (tier 3, {epochs} epochs).\n"
MONITORED_LEAD = ("**The latent, epoch by epoch** (D4 seed {seed}; `expand`'s norm, and on a fixed batch of 256\n"
                  "validation images the raw latent term and the relative latent error, both before BatchNorm):\n\n"
                  "![latent measurements per epoch](monitor_D4.png)\n\n"
                  "| model | epoch | expand norm | latent term | relative latent error |\n"
                  "| --- | ---: | ---: | ---: | ---: |")
MONITORED_ROW = ("| {model} | {epoch} (best) | {expand_weight_norm:.2f} | {latent_term_prebn:.4f} | "
                 "{relative_latent_error_prebn:.3f} |")
r"""The prose of :func:`_strict_and_monitored`, as format strings."""

PAPER_QUESTIONS = (
    ("**Does soft beat cnn-aug under the paper's own protocol?**\n\n" + WELCH, [("soft", "cnn-aug")],
     "Not yet: no group has finished runs of both."),
    (L2_QUESTION, [("cnn-aug-l2", "cnn-aug")], "No run of cnn-aug-l2 at the full budget has finished yet."),
    ("**Does soft-rel, whose latent term shrinking cannot lower, keep it?**\n", [("soft-rel", "cnn-aug"),
     ("soft-rel", "soft")], "Not yet: no run of soft-rel has finished."),
    ("**Does it matter that the latent sits before BatchNorm?** (soft against soft-postbn, whose latent is\n"
     "taken after the BatchNorm1d and ELU, at the same budget)\n", [("soft", "soft-postbn")],
     "Not yet: no run of soft-postbn has finished."))
r"""The questions of :func:`paper_protocol_section`: each its lead, the pairs of models it compares
(:func:`_comparison`) and what it says while none has runs; :data:`L2_QUESTION` comes with
:func:`_l2_control`."""


def _versus(a: Sequence[float], b: Sequence[float]) -> str:
    r"""How the mean of ``a`` compares with that of ``b`` (:func:`~escnn_soft.experiments.results.mean_difference`):
    the difference with its 95 % interval, and words that follow the interval."""
    found = mean_difference(a, b)
    text = f"{_points(found['difference'])} points"
    if found["verdict"] is None:
        return text
    interval = f"[{_points(found['low'])}, {_points(found['high'])}], p {found['p']:.2f}"
    if found["verdict"] == "no detectable difference":
        return f"{text} {interval}, no detectable difference (n = {found['n'][0]} and {found['n'][1]})"
    return f"{text} {interval}, {found['verdict']}"


def _points(value: float) -> str:
    r"""A score difference in points, signed; one that rounds to 0 has no sign."""
    return f"{round(100 * value, 1) + 0.0:+.1f}"


def _pair(a: Sequence[Dict[str, Any]], b: Sequence[Dict[str, Any]], model: str, other: str,
          test: str = "augmented") -> str:
    r"""``model``'s runs ``a`` against ``other``'s runs ``b``, both budgets and both test sets (``test``
    names the moved one), in words."""
    full = scores_by_test_set(a), scores_by_test_set(b)
    short = scores_by_test_set(a, BUDGET), scores_by_test_set(b, BUDGET)
    return (f"{model} {cell(full[0]['test'])} against {other} {cell(full[1]['test'])} on the {test} test set, "
            f"{_versus(full[0]['test'], full[1]['test'])};\n"
            f"  upright {_versus(full[0]['upright'], full[1]['upright'])}; "
            f"within {BUDGET} epochs {_versus(short[0]['test'], short[1]['test'])} (upright "
            f"{_versus(short[0]['upright'], short[1]['upright'])}); {len(a)} and {len(b)} seed(s)"
            + (": too few for a verdict." if min(len(a), len(b)) < 2 else "."))


def _comparison(sel: Callable[[str, str], List[Dict[str, Any]]], model: str, other: str) -> List[str]:
    r"""One line per group where both models ran: ``model`` against ``other`` (:func:`_pair`)."""
    return [f"- {g}: {_pair(sel(g, model), sel(g, other), model, other)}" for g in GROUPS
            if sel(g, model) and sel(g, other)]


def _coefficient(value: float) -> str:
    r"""An L2 coefficient as the commands write it (``1e-4``)."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


PAPER_C4_MODELS = tuple(r["model"] for r in planned_runs(PLANS["ddmnist-150"], "tier 3 paper C4 data"))
r"""Tier 3's models on the paper's C4 data (``--c4-data paper``), one seed each."""


ROW_HEADER = [f"| group | model | seeds | best epoch | epochs trained | test | upright | test ≤ {BUDGET} | "
              f"upright ≤ {BUDGET} | paper |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
r"""The header of the tables whose rows :func:`_row` writes."""


def _row(group: str, model: str, runs: Sequence[Dict[str, Any]], paper: str) -> str:
    r"""The table row of ``runs`` (:func:`~escnn_soft.experiments.reports.best_epoch_cells` at
    :data:`BUDGET`), then ``paper``."""
    return "| " + " | ".join([group, model, *best_epoch_cells(runs, BUDGET), paper]) + " |"


def paper_c4_data_section(results: Sequence[Dict[str, Any]]) -> List[str]:
    r"""Tier 3's runs on the paper's C4 data: their rows, soft against cnn-aug on them, each against
    the same model on the corrected data, or the command that runs them."""
    runs = {m: on_paper_data(results, group="C4", model=m) for m in PAPER_C4_MODELS}
    L = ["**The paper's C4 data** (tier 3, `--c4-data paper`: each digit at k·90° + θ, θ continuous, without\n"
         "the correction, and the second view a fresh such rotation of the first, handed to the loss as\n"
         "`x_g`). Does it explain the paper's C4 row? Its augmented test set is rotated as its training data;\n"
         "the upright one is the same as the corrected data's.\n"]
    done = {m: r for m, r in runs.items() if r}
    if done:
        L += ROW_HEADER
        L += [_row("C4", m, r, f"{PAPER_TABLE_4['C4'][PAPER_ROW[m]]:.3f}") for m, r in done.items()]
        L.append("")
        if len(done) == len(PAPER_C4_MODELS):
            L.append(f"- paper's data: {_pair(runs['soft'], runs['cnn-aug'], 'soft', 'cnn-aug')}")
        for m, r in done.items():
            corrected = on_corrected_data(results, group="C4", model=m)
            if corrected:
                L.append(f"- {m}: " + _pair(r, corrected, "paper's data", "corrected data"))
        L.append("")
    waiting = [m for m in PAPER_C4_MODELS if not runs[m]]
    if waiting:
        L.append(("Not run yet" if not done else f"Not finished yet: {', '.join(waiting)}") + "; this command runs "
                 + ("them" if len(waiting) > 1 else "it") + ":\n")
        L.append("```bash\n" + "\n".join(plan_commands("ddmnist-150", "tier 3 paper C4 data", models=waiting))
                 + "\n```\n")
    return L


def reproduce_paper_protocol(results: Sequence[Dict[str, Any]]) -> List[str]:
    r"""The commands that produce every planned run of :data:`PAPER_PROTOCOL`, for the section once they
    have all finished, with the seeds of tier 3's strict runs beyond the first."""
    seeds = {(g, m): [r["config"]["seed"] for r in on_corrected_data(results, group=g, model=m)]
             for g, m in STRICT_PLAN}
    extra = [f"{g} {m} with `--seeds {seeds_text(s)}`" for (g, m), s in seeds.items() if s != [0]]
    return ["Every planned run has finished. These commands produce them (run again, they reuse the finished runs"
            + (f"; tier 3 also ran {', '.join(extra)}" if extra else "") + "):\n",
            "```bash\n# tiers 1 and 2\n" + "\n".join(plan_commands("ddmnist-150", "tiers 1 and 2"))
            + "\n# tier 3: the strict models, then cnn-aug and soft on the paper's C4 data\n"
            + "\n".join(plan_commands("ddmnist-150", "tier 3 strict")
                        + plan_commands("ddmnist-150", "tier 3 paper C4 data"))
            + "\n```\n"]


def _l2_control(sel: Callable[[str, str], List[Result]], pilots: Sequence[Result]) -> List[str]:
    r"""The lines of the paper's protocol section on the L2 control: the norms that pick its coefficient,
    the pilots, and the commands of the pilots not run yet."""
    first = {m: next(iter(sel("D4", m)), None) for m in ("soft", "cnn-aug")}
    norm = {m: None if r is None else history_value(r, 30, *NORM) for m, r in first.items()}
    lower = None not in norm.values() and norm["soft"] < norm["cnn-aug"]
    L = [L2_NORMS.format(seed=first["soft"]["config"]["seed"], soft=norm["soft"], augmented=norm["cnn-aug"],
                         choice=L2_LOWER if lower else L2_NOT_LOWER)] if None not in norm.values() else []
    by_coefficient = sorted(pilots, key=lambda r: setting(r, "l2"))
    if pilots:
        L += [L2_PILOTS_TABLE, *(L2_PILOT_ROW.format(l2=_coefficient(setting(r, "l2")),
                                                     norm=history_value(r, 30, *NORM),
                                                     val=history_value(r, 30, "val_score")) for r in by_coefficient),
              ""]
    missing = [c for c in L2_PILOT_COEFFICIENTS if c not in {setting(r, "l2") for r in pilots}]
    if pilots and lower:
        closest = nearest(pilots, lambda r: history_value(r, 30, *NORM), norm["soft"])
        found = L2_CLOSEST.format(soft=norm["soft"], norm=history_value(closest, 30, *NORM),
                                  l2=_coefficient(setting(closest, "l2")))
        L.append(f"Of the pilots run so far, the {found}.\n" if missing else f"The {found}: cnn-aug-l2 takes it.\n")
    if missing:
        L += [("The 30-epoch pilots that pick cnn-aug-l2's coefficient have not run yet:\n" if not pilots else
               f"Not run yet: the pilot(s) at {', '.join(map(_coefficient, missing))}:\n"),
              _bash([command for value in missing
                     for command in plan_commands("ddmnist-l2-pilots", "pilot", l2=value)])]
    return L


def _strict_and_monitored(sel: Callable[[str, str], List[Result]]) -> List[str]:
    r"""The lines of the paper's protocol section on scnn-gxg and on the latent measured epoch by epoch."""
    def span(runs: Sequence[Result], value: Callable[[Result], float]) -> str:
        return span_text([value(r) for r in runs], ".0f")

    gxg = {g: sel(g, "scnn-gxg") for g in GROUPS if sel(g, "scnn-gxg")}
    reached = [GXG_REACHED.format(group=g, test=cell(scores['test']), upright=cell(scores['upright']), seeds=len(runs),
                                  epochs=span(runs, lambda r: r["config"]["epochs"]),
                                  best=span(runs, lambda r: r["best_epoch"]),
                                  stopped=span(runs, lambda r: r["epochs_trained"]), paper=PAPER_TABLE_4[g]["soft"])
               for g, runs in gxg.items() for scores in [scores_by_test_set(runs)]]
    L = ["**What does the strictly G×G-invariant model reach?**\n",
         "; ".join(reached) + ".\n" if reached else GXG_NOT_YET.format(epochs=STRICT_EPOCHS)]
    first = {m: sel("D4", m)[0] for m in MONITORED if sel("D4", m) and "monitor" in sel("D4", m)[0]["history"][0]}
    if first:
        L += [MONITORED_LEAD.format(seed=next(iter(first.values()))["config"]["seed"]),
              *(MONITORED_ROW.format(model=m, epoch=r["best_epoch"], **at_best(r)["monitor"])
                for m, r in first.items()),
              ""]
    return L


def paper_protocol_section(results: Sequence[Dict[str, Any]], pilots: Sequence[Dict[str, Any]]) -> str:
    r"""The section of results/ddmnist/README.md on the paper's protocol (:data:`PAPER_PROTOCOL`)."""
    def sel(g: str, m: str) -> List[Dict[str, Any]]:
        return on_corrected_data(results, group=g, model=m)

    progress = plan_progress(results, PAPER_PROTOCOL_PLAN, c4_data="corrected")
    totals = progress_totals(progress)
    L = ["## The paper's protocol: the latent before BatchNorm, up to 150 epochs\n", fill("ddmnist150_protocol",
                                                                                         budget=BUDGET)]
    if not results:
        L.append("No run has finished yet.\n")
    else:
        L.append(PAPER_FINISHED.format(finished=totals["finished"], planned=totals["planned"],
                                       devices=", ".join(devices(results))))
        models = list(dict.fromkeys([p["model"] for p in progress] + [r["config"]["model"] for r in results]))
        L += ROW_HEADER + [_row(g, m, sel(g, m), f"{PAPER_TABLE_4[g][PAPER_ROW[m]]:.3f}" if m in PAPER_ROW else "—")
                           for g in GROUPS for m in models if sel(g, m)] + [""]
    if totals["unfinished"]:
        L += [PAPER_MISSING.format(missing=", ".join(map(PROGRESS.format_map, totals["unfinished"]))),
              _bash(plan_commands("ddmnist-150", "tiers 1 and 2"))]
    if results:
        strict = progress_totals(plan_progress(results, [(g, m, 1) for g, m in STRICT_PLAN], c4_data="corrected"))
        L += _strict_progress(strict) + paper_c4_data_section(results)
        if not totals["unfinished"] and not strict["unfinished"] and all(
                on_paper_data(results, group="C4", model=m) for m in PAPER_C4_MODELS):
            L += reproduce_paper_protocol(results)
    if any(line.startswith("```bash") for line in L):
        L.append(SPEED)
    for question, pairs, none in PAPER_QUESTIONS:
        L += [question, *(_l2_control(sel, pilots) if question == L2_QUESTION else []),
              *([line for model, other in pairs for line in _comparison(sel, model, other)] or [none]), ""]
    return "\n".join(L + _strict_and_monitored(sel))


def _bash(commands: Sequence[str]) -> str:
    r"""``commands`` as a bash block of a README."""
    return "```bash\n" + "\n".join(commands) + "\n```\n"


def _strict_progress(strict: Mapping[str, Any]) -> List[str]:
    r"""The lines on tier 3's strict runs (:func:`~escnn_soft.experiments.results.progress_totals` of
    :data:`STRICT_PLAN`): those finished, and the commands of those not yet."""
    waiting = [(p["group"], p["model"]) for p in strict["unfinished"]]
    commands = [command for g in dict.fromkeys(g for g, _ in waiting)
                for command in plan_commands("ddmnist-150", "tier 3 strict", groups=[g],
                                             models=[m for h, m in waiting if h == g])]
    ran = ", ".join(STRICT_RAN.format(group=p["group"], model=p["model"], seeds=seeds_text(p["seeds"]))
                    for p in strict["started"])
    return [STRICT_LINE.format(epochs=STRICT_EPOCHS, ran=ran or "none") + (STRICT_WAITING.format(
        waiting=", ".join(f"{g} {m}" for g, m in waiting),
        which="which this command runs" if len(commands) == 1 else "which these commands run") if waiting else ".\n"),
        *([_bash(commands)] if commands else [])]


def monitor_plot(results: Sequence[Dict[str, Any]], path: Path) -> None:
    r"""The per-epoch latent measurements of the first seed of each of :data:`MONITORED` on D4."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = (("expand_weight_norm", "expand's weight norm"), ("latent_term_prebn", "raw latent term (pre-BN)"),
            ("relative_latent_error_prebn", "relative latent error (pre-BN)"))
    fig, axes = plt.subplots(1, len(keys), figsize=(13, 3.8))
    for m in MONITORED:
        runs = on_corrected_data(results, group="D4", model=m)
        if not runs:
            continue
        epochs = [h["epoch"] for h in runs[0]["history"]]
        for ax, (key, _) in zip(axes, keys):
            ax.plot(epochs, [h["monitor"][key] for h in runs[0]["history"]],
                    label=f"{m} (seed {runs[0]['config']['seed']})")
    for ax, (key, title) in zip(axes, keys):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if key == "latent_term_prebn":
            ax.set_yscale("log")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def adrenal_findings(results: Sequence[Dict[str, Any]]) -> List[str]:
    r"""What the Adrenal3D runs say, in words: soft against cnn-aug and cnn, and each strict model
    against soft at the strict models' budget (soft's best validation epoch among as many)."""
    def sel(m: str) -> List[Dict[str, Any]]:
        return select(results, group="O", model=m)

    L = ["**Does soft beat cnn-aug on Adrenal3D?**\n", WELCH]
    L += [f"- {_pair(sel('soft'), sel(other), 'soft', other, 'rotated')}" for other in ("cnn-aug", "cnn")
          if sel("soft") and sel(other)] or ["Not yet: soft or the CNNs have no finished run."]
    L += ["", "**The strict models**, against soft at the same number of epochs:\n"]
    strict = [(m, sel(m)) for m in ADRENAL_STRICT if sel(m)]
    for m, runs in strict:
        epochs = max(r["epochs_trained"] for r in runs)
        scores = scores_by_test_set(runs)
        line = (f"- {m} ({len(runs)} seed(s), {epochs} epochs): {cell(scores['test'])} on the rotated test set, "
                f"upright {cell(scores['upright'])}; output invariance error "
                f"{span_text([r['output_equivariance_error'] for r in runs], '.1e')}")
        if sel("soft"):
            soft = scores_by_test_set(sel("soft"), epochs)
            line += (f". soft's best validation epoch among its first {epochs} gives {cell(soft['test'])} "
                     f"(upright {cell(soft['upright'])})")
        L.append(line + ".")
    if not strict:
        L.append(f"Not yet: no strict model has finished its {ADRENAL_STRICT_EPOCHS} epochs.")
    return L + [""]


def medmnist3d_readme(verdict: str = "") -> str:
    r"""results/medmnist3d/README.md: the template ``readme_templates/medmnist3d.md``, with the
    ``verdict`` section (:func:`verdict_section`), the AdrenalMNIST3D runs
    (``medmnist3d_finished.md`` or ``medmnist3d_waiting.md``) and the fixture
    runs (``medmnist3d_fixtures.md``) where there are some."""
    adrenal = finished(MEDMNIST3D)
    fixtures = {flag: finished(MEDMNIST3D / "fixtures" / flag) for flag in PAPER_FLAGS}
    cnn = {flag: select(runs, model="cnn") for flag, runs in fixtures.items()}
    planned = ADRENAL_PLANNED.format(grid=_seeds_per_model(ADRENAL_GRID), strict=_seeds_per_model(ADRENAL_STRICT),
                                     epochs=ADRENAL_STRICT_EPOCHS, two_view=_seeds_per_model(ADRENAL_TWO_VIEW))
    runs_text = fill("medmnist3d_waiting", planned=planned)
    if adrenal:
        # one table per budget: the CNNs' 150 epochs with early stopping, the strict models' 5
        budgets = group_by(adrenal, ("epochs", "patience"), defaults={"patience": None})
        runs_text = "\n".join([
            fill("medmnist3d_finished", count=len(adrenal), planned=planned, devices=", ".join(devices(adrenal)),
                 total=sum(ADRENAL_GRID.values()) + sum(ADRENAL_STRICT.values()) + sum(ADRENAL_TWO_VIEW.values())),
            *(_table(runs, BUDGET if patience else None)
              for (_, patience), runs in sorted(budgets.items(), key=lambda kv: -kv[0][0])),
            *adrenal_findings(adrenal)])
    return fill("medmnist3d", verdict=verdict, paper_table="\n".join(_paper_table_5()), adrenal=runs_text,
                counted=COUNTED.format(nodule=cnn["nodulemnist3d"][0]["parameters"],
                                       organ=cnn["organmnist3d"][0]["parameters"])
                if cnn["nodulemnist3d"] and cnn["organmnist3d"] else "",
                commands="\n".join(plan_commands("medmnist3d", "grid") + plan_commands("medmnist3d", "strict")),
                paper_commands="\n".join(plan_commands("medmnist3d-paper", data="DIR")),
                fixtures=_fixtures_text(fixtures),
                organ=f"{100 * (PAPER_TABLE_5['CNN']['organmnist3d'] - PAPER_TABLE_5['CNN + aug']['organmnist3d']):.0f}"
                )


def _seeds_per_model(counts: Dict[str, int]) -> str:
    r"""Planned seeds per model (:func:`~escnn_soft.experiments.plans.seed_counts`) in words."""
    return ", ".join(f"{m} {n} seed(s)" for m, n in counts.items())


def _paper_table_5() -> List[str]:
    r"""The lines of :data:`PAPER_TABLE_5` as a table."""
    return [f"| model | {' | '.join(PAPER_FLAGS)} |", "|---|" + "---:|" * len(PAPER_FLAGS),
            *(f"| {m} | " + " | ".join(f"{v[f]:.3f}" for f in PAPER_FLAGS) + " |" for m, v in PAPER_TABLE_5.items())]


def _fixtures_text(fixtures: Dict[str, List[Result]]) -> str:
    r"""The section on the fixture runs (``readme_templates/medmnist3d_fixtures.md``), or none while a
    dataset has no run."""
    if not all(fixtures.values()):
        return ""
    first = next(iter(fixtures.values()))[0]["config"]
    return fill("medmnist3d_fixtures", train_size=first["train_size"], epochs=first["epochs"],
                batch_size=first["batch_size"], commands="\n".join(plan_commands("medmnist3d-fixtures")),
                tables="\n".join(_table(runs) for runs in fixtures.values())) + "\n"


def smoke_settings(results: Sequence[Result]) -> List[Tuple[str, List[Result]]]:
    r"""The SMOKE runs by model (in :data:`SMOKE_MODELS` order) and setting (:func:`by_settings`), each with
    its label: the model, and the hyperparameters that tell a model's settings apart (``soft (lam=0.05)``).

    Example:
        >>> runs = [{"config": {"model": "soft", "seed": s, "hyperparameters": {"lam": lam, "lr": 0.001}}}
        ...         for lam in (0.005, 0.5) for s in (0, 1)] + [{"config": {"model": "cnn", "seed": 0,
        ...                                                      "hyperparameters": {"lr": 0.001}}}]
        >>> [(label, len(runs)) for label, runs in smoke_settings(runs)]
        [('cnn', 1), ('soft (lam=0.005)', 2), ('soft (lam=0.5)', 2)]
    """
    found = []
    for model in SMOKE_MODELS:
        groups = by_settings([r for r in results if r["config"]["model"] == model])
        hypers = [g[0]["config"]["hyperparameters"] for g in groups]
        differ = [k for k in dict.fromkeys(k for h in hypers for k in h) if len({repr(h.get(k)) for h in hypers}) > 1]
        for g in sorted(groups, key=lambda g: [repr(g[0]["config"]["hyperparameters"].get(k)) for k in differ]):
            h = g[0]["config"]["hyperparameters"]
            values = ", ".join(f"{k}={format(h[k], 'g') if isinstance(h.get(k), float) else h.get(k)}"
                               for k in differ)
            found.append((f"{model} ({values})" if differ else model, g))
    return found


def _rmse_row(model: str, runs: Sequence[Dict[str, Any]]) -> str:
    def get(name: str, key: str) -> str:
        return cell([r["metrics"][name][key] for r in runs])

    latent = [r["latent_equivariance_error"] for r in runs]
    output = [r["output_equivariance_error"] for r in runs]
    return (f"| {model} | {len(runs)} | {get('test', 'RMSE')} | {get('domain', 'RMSE')} | {get('test', 'RMSE 6')} | "
            f"{get('domain', 'RMSE 6')} | {runs[0]['parameters']:,} | "
            f"{span_text([r['epochs_trained'] for r in runs], '.0f')} | "
            f"{mean([r['seconds_per_epoch'] for r in runs], '.0f')} | "
            f"{mean(latent, '.3g')} | {mean(output, '.3g')} |")


def smoke_plot(results: Sequence[Dict[str, Any]], path: Path) -> None:
    r"""The RMSE of each rollout step, mean over seeds per model, Future and Domain side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, name, title in zip(axes, ("future", "domain"), ("Future", "Domain")):
        for label, runs in smoke_settings(results):
            curve = np.mean([r["analysis"]["rmse_per_step"][name] for r in runs], axis=0)
            ax.plot(np.arange(1, len(curve) + 1), curve, marker=".", label=f"{label} ({len(runs)})")
        ax.set_title(f"{title} test set")
        ax.set_xlabel("rollout step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("RMSE (mean over seeds)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def _smoke_lambda_text() -> str:
    r"""The SMOKE README's section on run 4 of the does-soft-pay plan (``readme_templates/smoke_lambda.md``):
    the runs of :data:`SMOKE_LAMBDA`, on simulations of their own; none while no run has finished."""
    results = select(finished(SMOKE_LAMBDA), task="smoke-reduced", by_seed=False)
    if not results:
        return ""
    data = one(results, "data")
    others = sorted({r["config"]["data"] for r in finished(SMOKE)} - {data})
    return "\n" + fill("smoke_lambda", count=len(results), data=data,
                       other_data="`, `".join(others) or "none", devices=", ".join(devices(results)),
                       rows="\n".join(_rmse_row(label, rs) for label, rs in smoke_settings(results)),
                       commands="\n".join(plan_commands("does-soft-pay-smoke")),
                       table=_table(results, reference=REFERENCE))


def smoke_readme(verdict: str = "") -> str:
    r"""results/smoke/README.md: the templates ``readme_templates/smoke.md`` with the ``verdict``
    section (:func:`verdict_section`) and, once runs have finished, ``readme_templates/smoke_measured.md``."""
    results = select(finished(SMOKE), task="smoke-reduced", by_seed=False)
    paper_rows = [f"| {name} | {v['future']:.2f} | {v['domain']:.2f} | {v['parameters']} | {v['model'] or '—'} |"
                  for name, v in PAPER_TABLE_6.items()]
    commands = ["python scripts/smoke_data.py --preset smoke-reduced --jobs 2", *plan_commands("smoke", "grid"),
                *plan_commands("smoke", "steerable")]
    measured = "No run has finished yet.\n"
    if results:
        budgets: Dict[int, set] = {}
        for r in results:
            budgets.setdefault(r["config"]["epochs"], set()).add(r["config"]["model"])
        measured = fill(
            "smoke_measured", count=len(results), train_size=one(results, "train_size"),
            batch_size=one(results, "batch_size"), devices=", ".join(devices(results)),
            budgets="; ".join(f"{', '.join(m for m in SMOKE_MODELS if m in models)}: {epochs} epochs"
                              for epochs, models in sorted(budgets.items(), reverse=True)),
            rows="\n".join(_rmse_row(label, rs) for label, rs in smoke_settings(results)), table=_table(results))
    return fill("smoke", verdict=verdict, paper_rows="\n".join(paper_rows), measured=measured,
                lambda_sweep=_smoke_lambda_text(),
                commands="\n".join(commands),
                full_commands="\n".join(plan_commands("smoke-full", device="cuda")))


VERDICT_FOLDERS: Dict[str, Tuple[Path, ...]] = {
    "DDMNIST": (PAPER_PROTOCOL, ROOT / "results" / "ddmnist-50"),
    "MNIST": (ROOT / "results" / "mnist-efficiency",),
    "AdrenalMNIST3D": (MEDMNIST3D,), "SMOKE reduced": (SMOKE_LAMBDA,)}
r"""The comparisons whose runs each task's verdict table compares (:func:`verdicts`): for double-digit
MNIST those of the paper's protocol (150 epochs) and of the 50-epoch runs of the does-soft-pay plan,
for MNIST those of its data-efficiency sweep on the full MNIST (the quick runs of ``results/mnist`` are
on other data, whose validation scores cannot pick between settings), for SMOKE those of its λ sweep
(its simulations are not those of ``results/smoke``, whose runs it cannot be compared with); the runs of
each group are compared apart."""

VERDICT_WHERE: Dict[str, Tuple[Dict[str, Any], str]] = {
    "DDMNIST": ({"c4_data": "corrected"}, "on the corrected C4 data")}
r"""The settings the runs of a verdict table must have, and in words: double-digit MNIST's corrected C4
data (the paper's C4 data has another test set)."""

VERDICT_NOTES: Dict[str, str] = {
    "AdrenalMNIST3D": ("Soft trains the task on two views of each volume (x and a rotated copy) and cnn-aug on one, "
                       "so the latent term is not the only difference; cnn-aug-2view, the control that trains on "
                       "both views without the latent term, has {two_view} finished run(s) here: soft against it is the "
                       "next table."),
    "SMOKE reduced": ("cnn-aug is soft at λ = 0: the same task terms on both views, so its step costs what soft's "
                      "does. The strict models of `results/smoke` were trained on other simulations, so they are "
                      "not in this table.")}
r"""What a verdict table's lead adds for a task (a format string: ``{two_view}``, the finished runs of
cnn-aug-2view)."""

STRICT_MODELS: Dict[str, Tuple[str, ...]] = {
    "ddmnist": ("scnn", "scnn-gxg", "restriction"), "mnist": ("scnn",), "adrenalmnist3d": ("scnn-octa", "scnn-so3"),
    "smoke-reduced": ("e2cnn", "e2cnn-narrow")}
r"""The strict models of each task, which a verdict compares soft with: equivariant by construction (the
steerable CNNs, and ``restriction``, equivariant up to its fourth block)."""

REFERENCE = "cnn-aug"
r"""The model the verdicts compare soft with first: the same network trained on augmented data."""

FLOPS = ROOT / "results" / "flops.json"
r"""The training FLOPs of the committed runs (``scripts/flops.py``), read, not counted."""


def verdict_runs(task: str) -> List[Result]:
    r"""The finished runs a verdict table of ``task`` compares: those of :data:`VERDICT_FOLDERS` with the
    settings of :data:`VERDICT_WHERE`."""
    return select([r for folder in VERDICT_FOLDERS[task] for r in finished(folder)], by_seed=False,
                  **VERDICT_WHERE.get(task, ({}, ""))[0])


VERDICT_HEADER = ("| group | soft (best validation) | against | compared at | soft | other | Δ | 95 % interval "
                  "| p | n | verdict |", "| --- | --- | --- | --- | ---: | ---: | ---: | --- | ---: | --- | --- |")
r"""The header of a verdict table, whose rows :func:`_verdict_rows` writes."""


def verdicts(task: str) -> Dict[str, Dict[str, Any]]:
    r"""The verdicts (:func:`~escnn_soft.experiments.results.soft_verdicts`) of the runs of ``task``
    (:func:`verdict_runs`), with the training FLOPs of :data:`FLOPS`: one per group and, where the runs
    have several training-set sizes (a data-efficiency sweep), per size; keyed by their label, each with
    the runs it chose from (``"runs"``)."""
    runs = verdict_runs(task)
    table = load_flops(FLOPS)
    places = sorted({(r["config"]["group"], r["config"]["train_size"]) for r in runs},
                    key=lambda place: (GROUPS.index(place[0]) if place[0] in GROUPS else -1, place[1]))
    found = {}
    for group, size in places:
        chosen = select(runs, group=group, train_size=size, by_seed=False)
        strict = STRICT_MODELS[chosen[0]["config"]["task"]]
        compared = [r for r in chosen if r["config"]["model"] in (REFERENCE, *strict) or setting(r, "lam", 0) > 0]
        label = group if len({p[1] for p in places}) == 1 else f"{group}, {size:,} training samples"
        found[label] = {**soft_verdicts(chosen, {r["name"]: flops_of(r, table) for r in compared},
                                        reference=REFERENCE, strict=strict), "runs": chosen}
    return found


def _setting_label(runs: Sequence[Result]) -> str:
    r"""The model of the runs of one setting, with its λ, β, learning rate and planned epochs."""
    shown = [(name, setting(runs[0], key, None), spec) for name, key, spec in (
        ("λ", "lam", "g"), ("β", "pair_fraction", "g"), ("lr", "lr", "g"))]
    return (f"{runs[0]['config']['model']} (" + ", ".join(f"{name} {format(value, spec)}" for name, value, spec
                                                          in shown if value is not None)
            + f", {runs[0]['config']['epochs']} epochs)")


def _score(value: float, metric: str) -> str:
    return f"{100 * value:.2f}" if is_percentage(metric) else f"{value:.4g}"


def _delta(value: float, metric: str) -> str:
    return _points(value) if is_percentage(metric) else f"{value:+.3g}"


def _interval(found: Mapping[str, Any], metric: str) -> str:
    r"""The 95 % interval of a difference, or a dash where there is no test."""
    return "—" if found["low"] is None else f"[{_delta(found['low'], metric)}, {_delta(found['high'], metric)}]"


def _p_value(p: Optional[float]) -> str:
    r"""A p-value with two decimals, ``< 0.01`` below them, a dash where there is no test."""
    return "—" if p is None else "< 0.01" if p < 0.005 else f"{p:.2f}"


def _at(comparison: Mapping[str, Any], key: str, model: str, other: str) -> str:
    r"""What a verdict row of ``model`` against ``other`` compares at: the epochs, or the budget and the
    epochs it allows each side."""
    if key == "equal_epochs":
        return f"{comparison['epochs']} epochs"
    ours, theirs = comparison["fitting"]
    return f"{comparison['budget']:.3g} FLOPs: {model} {ours} epochs, {other} {theirs}"


def _verdict_rows(group: str, found: Mapping[str, Any], metric: str,
                  labels: Optional[Tuple[str, str]] = None) -> List[str]:
    r"""The rows of a verdict table for ``group``: each comparison at equal epochs and at equal compute;
    ``labels``: the two sides' names, instead of their settings (:func:`_setting_label`)."""
    rows = []
    for side in ("reference", "strict"):
        if found[side] is None:
            continue
        other, comparison = found[side]["runs"], found[side]["comparison"]
        ours, theirs = labels or (_setting_label(found["soft"]), _setting_label(other))
        for key in ("equal_epochs", "equal_compute"):
            d = comparison[key]
            rows.append(" | ".join([
                f"| {group}", ours, theirs,
                _at(comparison, key, found["soft"][0]["config"]["model"], other[0]["config"]["model"]),
                _score(d["ours"], metric), _score(d["theirs"], metric), _delta(d["difference"], metric), _interval(d, metric),
                _p_value(d["p"]), f"{d['n'][0]} vs {d['n'][1]}", verdict_text(d)]) + " |")
    return rows


def _finished_seeds(runs: Sequence[Result], models: Sequence[str]) -> str:
    r"""The finished seeds of the settings of ``models`` among ``runs``, in words."""
    return ", ".join(f"{_setting_label(g)} {len(g)}" for g in by_settings(runs) if g[0]["config"]["model"] in models)


def _missing_lines(task: str, found: Mapping[str, Dict[str, Any]]) -> str:
    r"""What a verdict table lacks, per group: a side without a setting of two finished seeds."""
    lines = []
    for group, verdict in found.items():
        chosen = verdict["runs"]
        strict = STRICT_MODELS[chosen[0]["config"]["task"]]
        soft = sorted({r["config"]["model"] for r in chosen if setting(r, "lam", 0) > 0 and r["config"]["model"]
                       != REFERENCE})
        if verdict["soft"] is None:
            lines.append(f"- {group}: no verdict yet. No soft setting has two finished seeds (seeds finished: "
                         f"{_finished_seeds(chosen, (*soft, REFERENCE, *strict)) or 'none'}).")
            continue
        for side, models in (("reference", (REFERENCE,)), ("strict", strict)):
            if verdict[side] is None:
                lines.append(f"- {group}: no {'strict model' if side == 'strict' else REFERENCE} setting has two "
                             f"finished seeds (seeds finished: {_finished_seeds(chosen, models) or 'none'}).")
    return "\n".join(lines) + "\n\n" if lines else ""


def _metric(task: str) -> str:
    return finished(VERDICT_FOLDERS[task][0], required=True)[0]["metric"]


def verdict_section(task: str, found: Optional[Mapping[str, Dict[str, Any]]] = None) -> str:
    r"""A task README's verdict table (``readme_templates/verdict.md``)."""
    found = verdicts(task) if found is None else found
    metric = _metric(task)
    folders = " and ".join(f"`{f.relative_to(ROOT).as_posix()}`" for f in VERDICT_FOLDERS[task] if finished(f))
    where = VERDICT_WHERE.get(task, ({}, ""))[1]
    lead = (f"{task}, from the finished runs of {folders}{' ' + where if where else ''}, trained on "
            f"{', '.join(devices(verdict_runs(task)))}{', each group apart' if len(found) > 1 else ''}; the score "
            f"is the {metric} on the test set at the epoch picked by validation."
            + (" " + VERDICT_NOTES[task].format(two_view=len(select(verdict_runs(task), model="cnn-aug-2view")))
               if task in VERDICT_NOTES else ""))
    strict = STRICT_MODELS[finished(VERDICT_FOLDERS[task][0], required=True)[0]["config"]["task"]]
    rows = [row for group, verdict in found.items() for row in _verdict_rows(group, verdict, metric)]
    return fill("verdict", lead=lead, table="\n".join([*VERDICT_HEADER, *rows, "", ""]) if rows else "",
                missing=_missing_lines(task, found), strict=", ".join(strict),
                unit="%" if is_percentage(metric) else f"{metric}, higher is better",
                delta="points" if is_percentage(metric) else "in its units", left_out=FLOPS_LEFT_OUT)


REGISTERED_50 = ("D4", (0, 1, 2))
r"""Run 2 of the does-soft-pay plan: its group, and the seeds whose 50 epochs are the first 50 of the
150-epoch runs of :data:`PAPER_PROTOCOL` (the other seeds are the 50-epoch runs of ``results/ddmnist-50``)."""

REGISTERED_50_TEXT = """
### The registered 50-epoch comparison ($group)

Run 2 of `results/plans/does-soft-pay.md`, registered before it ran: $group cnn-aug and soft at 50 epochs,
seeds $long_seeds being the first 50 epochs of the 150-epoch runs of `results/ddmnist-150` (the same training
code, learning rate and patience) and the other seeds the 50-epoch runs of `results/ddmnist-50`; soft at
β = 0.25 (its second pass on a quarter of each batch) from `results/ddmnist-50`. Read as the table above.

$table$missing"""


def registered_50_section(metric: str) -> str:
    r"""The DDMNIST README's section on run 2 of the does-soft-pay plan (:data:`REGISTERED_50`): cnn-aug
    against soft and soft at β = 0.25, the 150-epoch runs' seeds scored within their first 50 epochs."""
    group, long_seeds = REGISTERED_50
    fifty = select(finished(ROOT / "results" / "ddmnist-50"), group=group, by_seed=False)
    long = [r for r in select(finished(PAPER_PROTOCOL), group=group, c4_data="corrected", by_seed=False)
            if r["config"]["seed"] in long_seeds]

    def arm(model: str, beta: float) -> List[Result]:
        picked = [r for r in (*(long if beta == 1 else ()), *fifty) if r["config"]["model"] == model
                  and setting(r, "pair_fraction", 1) == beta]
        shared = {json.dumps(r["config"]["hyperparameters"], sort_keys=True) for r in picked}
        if len(shared) > 1:
            raise ValueError(f"the runs of {model} (beta={beta}) of run 2 differ in their hyperparameters: {shared}")
        return sorted(picked, key=lambda r: r["config"]["seed"])

    aug = arm(REFERENCE, 1)
    table, missing = _paired_table(group, [(("soft", arm("soft", 1)), (REFERENCE, aug)),
                                           (("soft, β = 0.25", arm("soft", 0.25)), (REFERENCE, aug))], metric)
    return Template(REGISTERED_50_TEXT).substitute(group=group, long_seeds=seeds_text(list(long_seeds)),
                                                   table=table, missing=missing)


def _paired_table(group: str, pairs: Sequence[Tuple[Tuple[str, List[Result]], Tuple[str, List[Result]]]],
                  metric: str) -> Tuple[str, str]:
    r"""A verdict table (:data:`VERDICT_HEADER`, :func:`_verdict_rows`) of given pairs of runs, each side
    named and its seeds listed, at equal epochs and at equal compute (:func:`compare_at_equal_cost`, the
    FLOPs of :data:`FLOPS`); and the lines for the pairs without two finished seeds on each side.

    Args:
        pairs: ``((label, runs), (label, runs))``, the first side minus the second.
    """
    flops = load_flops(FLOPS)
    rows, missing = [], []
    for (label, ours), (other, theirs) in pairs:
        if len(ours) < 2 or len(theirs) < 2:
            missing.append(f"- {label} against {other}: not yet two finished seeds on each side ({label} "
                           f"{len(ours)}, {other} {len(theirs)}).")
            continue
        compared = {"soft": ours, "strict": None, "reference": {"runs": theirs, "comparison": compare_at_equal_cost(
            ours, theirs, {r["name"]: flops_of(r, flops) for r in (*ours, *theirs)})}}
        rows += _verdict_rows(group, compared, metric, labels=(
            f"{label} (seeds {seeds_text([r['config']['seed'] for r in ours])})",
            f"{other} (seeds {seeds_text([r['config']['seed'] for r in theirs])})"))
    header = VERDICT_HEADER[0].replace("| soft (best validation) |", "| model |").replace("| soft | other |",
                                                                                         "| model's | other's |")
    table = "\n".join([header, VERDICT_HEADER[1], *rows, "", ""]) if rows else ""
    return table, "\n".join(missing) + "\n\n" if missing else ""


TWO_VIEW = "cnn-aug-2view"
r"""The two-view control of soft on AdrenalMNIST3D, run 5 of the does-soft-pay plan."""


def two_view_section(metric: str) -> str:
    r"""The MedMNIST3D README's section on run 5 of the does-soft-pay plan
    (``readme_templates/medmnist3d_two_view.md``): soft against :data:`TWO_VIEW` (the latent term
    alone) and :data:`TWO_VIEW` against cnn-aug (the second view alone), the runs of
    :data:`MEDMNIST3D`."""
    adrenal = finished(MEDMNIST3D)

    def arm(model: str) -> List[Result]:
        picked = select(adrenal, group="O", model=model)
        if len(by_settings(picked)) > 1:
            raise ValueError(f"the AdrenalMNIST3D runs of {model} have several settings: run 5 compares one of each")
        return picked

    soft, two_view, aug = arm("soft"), arm(TWO_VIEW), arm(REFERENCE)
    table, missing = _paired_table("O", [(("soft", soft), (TWO_VIEW, two_view)),
                                         ((TWO_VIEW, two_view), (REFERENCE, aug))], metric)
    return fill("medmnist3d_two_view", table=table, missing=missing,
                commands="\n".join(plan_commands("does-soft-pay-medmnist3d")))


def _cell(found: Optional[Mapping[str, Any]], key: str, metric: str) -> str:
    r"""A cell of results/README.md: Δ, its interval and its words, or a dash."""
    if found is None:
        return "—"
    d = found["comparison"][key]
    return f"{_delta(d['difference'], metric)} {_interval(d, metric)}, {verdict_text(d)}".replace(" —,", ",")


def results_readme(found: Mapping[str, Mapping[str, Dict[str, Any]]], metrics: Mapping[str, str]) -> str:
    r"""results/README.md (``readme_templates/results.md``): one row per task and group of the verdicts
    ``found`` (by task, then group; each task's scores named ``metrics[task]``), and the answer they give
    at equal compute against cnn-aug."""
    rows, compared, wins = [], [], []
    for task, groups in found.items():
        metric = metrics[task]
        for group, verdict in groups.items():
            soft = "no setting with two seeds yet" if verdict["soft"] is None else _setting_label(verdict["soft"])
            rows.append(f"| {task} | {group} | {soft} | " + " | ".join(
                _cell(verdict[side], key, metric) for side in ("reference", "strict")
                for key in ("equal_epochs", "equal_compute")) + " |")
            if verdict["reference"] is not None:
                d = verdict["reference"]["comparison"]["equal_compute"]
                compared.append(f"{task} {group}")
                if d["verdict"] == "higher":
                    wins.append(f"{task} {group}, {soft}: {_cell(verdict['reference'], 'equal_compute', metric)} "
                                f"(n = {d['n'][0]} vs {d['n'][1]} seeds)")
    if wins:
        answer = ("At equal compute, soft beats cnn-aug on " + "; ".join(wins) + ". The interval is Welch's, from "
                  "the seeds of each side, for the soft setting picked by validation: an optimistic pick.")
    elif compared:
        answer = (f"**No soft setting beats cnn-aug at equal compute** on any of the {len(compared)} task(s) and "
                  f"group(s) compared ({', '.join(compared)}).")
    else:
        answer = "No task has soft and cnn-aug runs of two seeds each yet."
    return fill("results", rows="\n".join(rows), answer=answer, left_out=FLOPS_LEFT_OUT)


def readmes() -> Dict[Path, str]:
    r"""The READMEs the committed runs give, by path."""
    full, short = finished(FULL, required=True), finished(SHORT, required=True)
    fixtures = [MEDMNIST3D / "fixtures" / flag for flag in PAPER_FLAGS]
    found = {task: verdicts(task) for task in VERDICT_FOLDERS}
    section = {task: verdict_section(task, verdict) for task, verdict in found.items()}
    return {ROOT / "results" / "README.md": results_readme(found, {task: _metric(task) for task in found}),
            FULL / "README.md": full_readme(full, short, finished(PAPER_PROTOCOL), finished(L2_PILOTS),
                                            section["DDMNIST"] + registered_50_section(_metric("DDMNIST")))
            + diverged_section(FULL, PAPER_PROTOCOL, L2_PILOTS),
            SHORT / "README.md": short_readme(short) + diverged_section(SHORT),
            MNIST / "README.md": fill("mnist", verdict=section["MNIST"]) + diverged_section(MNIST),
            MEDMNIST3D / "README.md": medmnist3d_readme(section["AdrenalMNIST3D"] + two_view_section(
                _metric("AdrenalMNIST3D")))
            + diverged_section(MEDMNIST3D, *fixtures),
            SMOKE / "README.md": smoke_readme(section["SMOKE reduced"]) + diverged_section(SMOKE, SMOKE_LAMBDA)}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a README is out of date")
    args = parser.parse_args(argv)
    stale = []
    try:
        texts = readmes()
    except MissingFlops as e:    # a committed run whose settings results/flops.json has not counted
        print(f"{e.args[0]}; python scripts/flops.py --write counts the settings it lacks", file=sys.stderr)
        return 1
    for path, text in texts.items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            atomic_write_text(path, text)
            print(f"wrote {path.relative_to(ROOT)}")
    for folder in (SMOKE, SMOKE_LAMBDA):
        smoke = [r for r in finished(folder) if r["config"]["task"] == "smoke-reduced"]
        if smoke and not args.check:
            smoke_plot(smoke, folder / "rmse_per_step.png")
    paper = finished(PAPER_PROTOCOL)
    if paper and not args.check:
        monitor_plot(paper, FULL / "monitor_D4.png")
    if stale:
        print("out of date (run python scripts/results_readme.py): "
              + ", ".join(str(p.relative_to(ROOT)) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
