r"""Write the READMEs of results/ddmnist, results/ddmnist-5ep, results/medmnist3d and results/smoke from their committed runs.

Every figure of the READMEs comes from the ``runs/*/result.json`` files beside them, read, selected
and scored by :mod:`escnn_soft.experiments.results` (means and sample standard deviations over
seeds, epochs, data sizes, devices, histories); runs that diverged (training loss not finite) are
left out of every figure and listed in a closing section of their README instead. The exceptions
are the paper's Tables 4, 5 and 6, which are :data:`PAPER_TABLE_4`, :data:`PAPER_TABLE_5` and
:data:`PAPER_TABLE_6` below. The runs each README expects are the plans of ``results/plans.json``
(:mod:`escnn_soft.experiments.plans`), and its commands are those plans as
:func:`~escnn_soft.experiments.cli.format_command` writes them. The prose is in the
:class:`string.Template` files of ``readme_templates/``. ``--check`` writes nothing and fails if a
README differs from what the runs give (the test suite checks the same).

Run:  python scripts/results_readme.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from functools import partial
from string import Template
from typing import Any, Callable, Dict, List, Optional, Sequence

from escnn_soft.experiments.cli import format_command, parse_args
from escnn_soft.experiments.plans import compare_arguments, load_plans, part_setting, planned_runs
from escnn_soft.experiments.reports import best_epoch_cells, seeds_text, span_text
from escnn_soft.experiments.results import (at_best, epoch_values, group_by, load_runs, mean_difference, nearest,
                                            plan_progress, scores_by_test_set, select, setting, shared_setting)
from escnn_soft.records import atomic_write_text, mean_std, mean_std_text

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "readme_templates"
r"""The prose of the READMEs, as :class:`string.Template` files with ``$name`` for each value."""
FULL = ROOT / "results" / "ddmnist"
SHORT = ROOT / "results" / "ddmnist-5ep"
MEDMNIST3D = ROOT / "results" / "medmnist3d"
SMOKE = ROOT / "results" / "smoke"

PAPER_TABLE_4: Dict[str, Dict[str, float]] = {
    "C4": {"soft": 0.915, "cnn": 0.907},
    "D1": {"soft": 0.947, "cnn": 0.938},
    "D4": {"soft": 0.868, "cnn": 0.800},
}
r"""The paper's Table 4 (Ali, Liò & Vicary 2025), double-digit MNIST test accuracies: its
soft-equivariant model ("ours") and its CNN. Not measured here."""

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

ADRENAL_GRID = {m: sum(len(r["seeds"]) for r in planned_runs(PLANS["medmnist3d"], "grid") if r["model"] == m)
                for m in dict.fromkeys(r["model"] for r in planned_runs(PLANS["medmnist3d"], "grid"))}
r"""The planned AdrenalMNIST3D runs: seeds per model, at the full budget."""

ADRENAL_STRICT = {r["model"]: len(r["seeds"]) for r in planned_runs(PLANS["medmnist3d"], "strict")}
ADRENAL_STRICT_EPOCHS = part_setting(PLANS["medmnist3d"], "strict", "epochs")
r"""The planned strict AdrenalMNIST3D runs: seeds per model, at :data:`ADRENAL_STRICT_EPOCHS` epochs
(their steps cost many times the CNN's on the CPU)."""

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


def devices(runs: Sequence[Dict[str, Any]]) -> List[str]:
    found: List[str] = []
    for r in runs:
        per_epoch = [h["device"] for h in r["history"] if "device" in h]
        found += per_epoch or [r["device"]]
    return sorted(set(found))


def command(runs: Sequence[Result], models: Sequence[str], out: str) -> str:
    present = [g for g in GROUPS if pick(runs, group=g)]
    seeds = sorted({r["config"]["seed"] for r in pick(runs)})
    return shown(["--task", one(runs, "task"), "--group", ",".join(present), "--models", ",".join(models),
                  "--seeds", ",".join(map(str, seeds)), "--epochs", str(one(runs, "epochs")),
                  "--train-size", str(one(runs, "train_size")), "--mnist", "path/to/mnist.npz", "--out", out])


def shown(argv: Sequence[str], width: int = 118) -> str:
    r"""The ``escnn-soft compare`` command of the arguments ``argv`` as
    :func:`~escnn_soft.experiments.cli.format_command` writes it, broken before a flag where a line
    (with its ``" \\"``) would pass ``width`` characters."""
    chunks: List[str] = []
    for word in format_command(parse_args(argv)).split(" "):
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


def plan_commands(name: str, part: str, **changes: Any) -> List[str]:
    r"""The commands (:func:`shown`) of the entries named ``part`` of the plan ``name``, with ``changes``
    to their settings."""
    plan = PLANS[name]
    return [shown(compare_arguments(plan, {**e, **changes})) for e in plan["entries"] if e["part"] == part]


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
    sel = partial(pick, runs)
    seeds = sorted({r["config"]["seed"] for r in sel()})
    epochs = one(runs, "epochs")

    def acc(g: str, m: str) -> str:
        if sel(g, m):
            return ms(sel(g, m))
        return f"({one(short, 'epochs')} epochs only)" if pick(short, g, m) else "—"

    def average(g: str, m: str, key: str, spec: str) -> str:
        return mean([r[key] for r in sel(g, m)], spec)

    def seed0(g: str, m: str) -> Result:
        return next(r for r in sel(g, m) if r["config"]["seed"] == seeds[0])

    score = {(g, m): mean_std([r["test_score"] for r in sel(g, m)])[0] for g in GROUPS for m in ("cnn-aug", SOFT)}
    at = min(10, epochs)
    equal = 10 / CLASSES
    return fill(
        "ddmnist_table4", seeds=len(seeds), epochs=epochs, train_size=f"{one(runs, 'train_size'):,}", at=at,
        rows="\n".join(f"| {g} | {PAPER_TABLE_4[g]['soft']:.3f} | {PAPER_TABLE_4[g]['cnn']:.3f} | "
                       + " | ".join(acc(g, m) for m in (SOFT, "cnn-aug", "cnn", "rpp", "scnn")) + " |" for g in GROUPS),
        below=", ".join(f"{100 * (score[g, 'cnn-aug'] - score[g, SOFT]):.1f} ({g})" for g in GROUPS),
        paper_gap=", ".join(f"{100 * (PAPER_TABLE_4[g]['cnn'] - score[g, 'cnn-aug']):.1f} ({g})" for g in GROUPS),
        last_train=", ".join(f"{mean(epoch_values(sel(g, 'cnn-aug'), 'train_score'), '.2f')} for {g}"
                             for g in GROUPS),
        soft_task=f"{seed0('D4', SOFT)['history'][at - 1]['train_task']:.2f}", seed=seeds[0],
        augmented_task=f"{seed0('D4', 'cnn-aug')['history'][at - 1]['train_task']:.2f}",
        best="; ".join(f"{g} {span_text([r['best_epoch'] for r in sel(g, SOFT)], '.0f')}" for g in GROUPS),
        soft_latent=", ".join(f"{average(g, SOFT, 'latent_equivariance_error', '.2f')} ({g})" for g in GROUPS),
        plain_latent=span_text([r["latent_equivariance_error"] for g in GROUPS for m in ("cnn", "cnn-aug")
                           for r in sel(g, m)], ".2f"),
        soft_output=", ".join(average(g, SOFT, "output_equivariance_error", ".2f") for g in GROUPS),
        augmented_output=", ".join(average(g, "cnn-aug", "output_equivariance_error", ".2f") for g in GROUPS),
        order=len(sel("D4", SOFT)[0]["latent_equivariance_error_per_element"]) + 1,
        d4_term=mean(epoch_values(sel("D4", SOFT), "train_equivariance"), ".2f"),
        c4_term=mean(epoch_values(sel("C4", SOFT), "train_equivariance"), ".2f"),
        rpp_parameters=f"{sel('D1', 'rpp')[0]['parameters']:,}", rpp_d1=ms(sel("D1", "rpp")),
        scnn_d1=ms(sel("D1", "scnn")), classes=CLASSES, equal_classes=f"{equal * CLASSES:.0f}",
        equal=f"{100 * equal:.0f}", unequal=f"{100 * (1 - equal):.0f}", bound=f"{100 * (equal + (1 - equal) / 2):.0f}")


def _short_budget_section(runs: Sequence[Result], short: Sequence[Result]) -> str:
    r"""results/ddmnist/README.md on the runs of the short budget and the cost per epoch
    (``readme_templates/ddmnist_short_budget.md``)."""
    models = _models(short)

    def seconds(g: str, m: str) -> List[float]:
        return [r["seconds_per_epoch"] for r in pick(short, g, m)]

    def latent(m: str) -> List[float]:
        return [r["latent_equivariance_error"] for g in GROUPS for r in pick(short, g, m)]

    table = ["| group | " + " | ".join(models) + " | s/epoch: " + " / ".join(models) + " |",
             "| --- | " + " | ".join("---:" for _ in models) + " | ---: |"]
    table += [f"| {g} | " + " | ".join(ms(pick(short, g, m)) for m in models) + " | "
              + " / ".join(mean(seconds(g, m), ".0f") for m in models) + " |" for g in GROUPS]
    ranking = "; ".join(f"{g}: " + " > ".join(sorted(models, key=lambda m: -mean_std(
        [r["test_score"] for r in pick(short, g, m)])[0])) for g in GROUPS)
    ratios = [mean_std(seconds(g, SOFT))[0] / mean_std(seconds(g, "cnn-aug"))[0] for g in GROUPS]
    return fill(
        "ddmnist_short_budget", short_epochs=one(short, "epochs"), epochs=one(runs, "epochs"),
        train_size=f"{one(short, 'train_size'):,}",
        seeds=seeds_text(sorted({r["config"]["seed"] for r in pick(short)})),
        devices=", ".join(devices(pick(short))), table="\n".join(table), ranking=ranking,
        soft_latent=span_text(latent(SOFT), ".2f"), augmented_latent=span_text(latent("cnn-aug"), ".2f"),
        rpp_parameters=", ".join(f"{pick(short, g, 'rpp')[0]['parameters']:,} for {g}" for g in GROUPS),
        augmented_parameters=f"{pick(short, 'C4', 'cnn-aug')[0]['parameters']:,}",
        threads="/".join(map(str, sorted({r["threads"] for r in pick(short)}))), ratio=span_text(ratios, ".2f"))


def full_readme(runs: Sequence[Result], short: Sequence[Result], paper: Sequence[Dict[str, Any]] = (),
                pilots: Sequence[Dict[str, Any]] = ()) -> str:
    r"""results/ddmnist/README.md (``readme_templates/ddmnist.md``): the paper's protocol
    (:func:`paper_protocol_section`), then the sections of the 50-epoch protocol."""
    return fill("ddmnist", paper_protocol=paper_protocol_section(paper, pilots), protocol=_protocol_section(runs),
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


def _table(results: Sequence[Dict[str, Any]], budget: Optional[int] = None) -> str:
    r"""The comparison's own table (:func:`~escnn_soft.experiments.reports.format_table`) of ``results``."""
    from escnn_soft.experiments.reports import format_table, summarize
    from escnn_soft.experiments.task import get_task
    import escnn_soft.experiments.tasks  # noqa: F401  (registers the tasks)

    task = get_task(results[0]["config"]["task"])
    return format_table(summarize(results, budget), task).replace("\n## ", "\n### ").replace("## ", "### ", 1)


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



WELCH = ("Each difference is the first model's mean minus the second's, in points, with its 95 % interval and p-value from "
         "Welch's t-test (`scipy.stats.ttest_ind(..., equal_var=False)`): higher or lower only when the interval "
         "excludes 0.\n")
r"""The caption of the comparisons that :func:`_versus` words."""


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


def _norm_at(run: Dict[str, Any], epoch: int) -> Optional[float]:
    return run["history"][epoch - 1]["monitor"]["expand_weight_norm"] if len(run["history"]) >= epoch else None


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
    L: List[str] = []
    add = L.append
    add("**How much of any gain does the L2 control get?**\n")
    soft0 = next(iter(sel("D4", "soft")), None)
    aug0 = next(iter(sel("D4", "cnn-aug")), None)
    n_soft, n_aug = (None, None) if soft0 is None or aug0 is None else (_norm_at(soft0, 30), _norm_at(aug0, 30))
    if n_soft is not None and n_aug is not None:
        add(f"At epoch 30 of D4 seed {soft0['config']['seed']}, `expand`'s weights have the Frobenius norm "
            f"{n_soft:.2f} in soft and\n{n_aug:.2f} in cnn-aug"
            + (": soft's is lower, so the pilots' coefficient is the one whose norm at epoch 30 is closest to\n"
               "soft's." if n_soft < n_aug else ": soft's is not lower, so cnn-aug-l2 takes 1e-3.") + "\n")
    tried = {r["config"]["hyperparameters"]["l2"] for r in pilots}
    if pilots:
        add("The 30-epoch pilots of cnn-aug-l2 on D4 seed 0 (`../ddmnist-l2-pilots/`):\n")
        add("| L2 coefficient | expand norm, epoch 30 | validation accuracy, epoch 30 |")
        add("| ---: | ---: | ---: |")
        for r in sorted(pilots, key=lambda r: r["config"]["hyperparameters"]["l2"]):
            add(f"| {_coefficient(r['config']['hyperparameters']['l2'])} | {_norm_at(r, 30):.2f} | "
                f"{r['history'][29]['val_score']:.3f} |")
        add("")
    missing = [c for c in L2_PILOT_COEFFICIENTS if c not in tried]
    if pilots and n_soft is not None and n_aug is not None and n_soft < n_aug:
        closest = nearest(pilots, lambda r: _norm_at(r, 30), n_soft)
        found = (f"norm closest to soft's {n_soft:.2f} is {_norm_at(closest, 30):.2f}, at "
                 f"{_coefficient(closest['config']['hyperparameters']['l2'])}")
        add(f"Of the pilots run so far, the {found}.\n" if missing else f"The {found}: cnn-aug-l2 takes it.\n")
    if missing:
        add(("The 30-epoch pilots that pick cnn-aug-l2's coefficient have not run yet:\n" if not pilots else
             f"Not run yet: the pilot(s) at {', '.join(map(_coefficient, missing))}:\n"))
        add("```bash\n" + "\n".join(command for value in L2_PILOT_COEFFICIENTS if value in missing
                                    for command in plan_commands("ddmnist-l2-pilots", "pilot", l2=value)) + "\n```\n")
    return L


def _strict_and_monitored(sel: Callable[[str, str], List[Result]]) -> List[str]:
    r"""The lines of the paper's protocol section on scnn-gxg and on the latent measured epoch by epoch."""
    L: List[str] = []
    add = L.append
    add("**What does the strictly G×G-invariant model reach?**\n")
    gxg = {g: sel(g, "scnn-gxg") for g in GROUPS if sel(g, "scnn-gxg")}
    reached = [f"{g}: {cell(scores_by_test_set(runs)['test'])} on the augmented test set and "
               f"{cell(scores_by_test_set(runs)['upright'])} upright ({len(runs)} seed(s), up to "
               f"{span_text([r['config']['epochs'] for r in runs], '.0f')} epochs, "
               f"best at epoch {span_text([r['best_epoch'] for r in runs], '.0f')}, stopped at "
               f"{span_text([r['epochs_trained'] for r in runs], '.0f')}), against the paper's soft "
               f"{PAPER_TABLE_4[g]['soft']:.3f}" for g, runs in gxg.items()]
    add("; ".join(reached) + ".\n" if reached else f"Not yet: no run of scnn-gxg has finished (tier 3, {STRICT_EPOCHS} epochs).\n")

    monitored = [m for m in MONITORED if sel("D4", m) and "monitor" in sel("D4", m)[0]["history"][0]]
    if monitored:
        seed = sel("D4", monitored[0])[0]["config"]["seed"]
        add(f"**The latent, epoch by epoch** (D4 seed {seed}; `expand`'s norm, and on a fixed batch of 256\n"
            "validation images the raw latent term and the relative latent error, both before BatchNorm):\n")
        add("![latent measurements per epoch](monitor_D4.png)\n")
        add("| model | epoch | expand norm | latent term | relative latent error |")
        add("| --- | ---: | ---: | ---: | ---: |")
        for m in monitored:
            r = sel("D4", m)[0]
            b = at_best(r)["monitor"]
            add(f"| {m} | {r['best_epoch']} (best) | {b['expand_weight_norm']:.2f} | {b['latent_term_prebn']:.4f} | "
                f"{b['relative_latent_error_prebn']:.3f} |")
        add("")
    return L


def paper_protocol_section(results: Sequence[Dict[str, Any]], pilots: Sequence[Dict[str, Any]]) -> str:
    r"""The section of results/ddmnist/README.md on the paper's protocol (:data:`PAPER_PROTOCOL`)."""
    def sel(g: str, m: str) -> List[Dict[str, Any]]:
        return on_corrected_data(results, group=g, model=m)

    progress = plan_progress(results, PAPER_PROTOCOL_PLAN, c4_data="corrected")
    L: List[str] = []
    add = L.append
    add("## The paper's protocol: the latent before BatchNorm, up to 150 epochs\n")
    add(fill("ddmnist150_protocol", budget=BUDGET))
    if not results:
        add("No run has finished yet.\n")
    else:
        add(f"Finished: {sum(min(p['planned'], p['finished']) for p in progress)} of the "
            f"{sum(p['planned'] for p in progress)} runs of tiers 1 and 2, on "
            f"{', '.join(devices(results))}. Mean ± std over the seeds run; the paper's column is\nits Table 4 "
            "(its \"ours\" for soft, its CNN for cnn-aug):\n")
        models = list(dict.fromkeys([p["model"] for p in progress] + [r["config"]["model"] for r in results]))
        L += ROW_HEADER + [_row(g, m, sel(g, m), f"{PAPER_TABLE_4[g][PAPER_ROW[m]]:.3f}" if m in PAPER_ROW else "—")
                           for g in GROUPS for m in models if sel(g, m)] + [""]
    missing = [f"{p['group']} {p['model']} ({p['finished']} of {p['planned']})" for p in progress
               if p["finished"] < p["planned"]]
    if missing:
        add(f"Not finished yet: {', '.join(missing)}. These commands resume what is missing:\n")
        add("```bash\n" + "\n".join(plan_commands("ddmnist-150", "tiers 1 and 2")) + "\n```\n")
    if results:
        strict = plan_progress(results, [(g, m, 1) for g, m in STRICT_PLAN], c4_data="corrected")
        ran = [f"{p['group']} {p['model']} ({seeds_text(p['seeds'])})" for p in strict if p["finished"]]
        waiting = [(p["group"], p["model"]) for p in strict if not p["finished"]]
        commands = [command for g in dict.fromkeys(g for g, _ in waiting)
                    for command in plan_commands("ddmnist-150", "tier 3 strict", groups=[g],
                                                 models=[m for h, m in waiting if h == g])]
        which = "which this command runs" if len(commands) == 1 else "which these commands run"
        add(f"Tier 3's strict models, up to {STRICT_EPOCHS} epochs with the same early stopping, at least one seed "
            f"per group: finished {', '.join(ran) or 'none'}"
            + (f"; not yet {', '.join(f'{g} {m}' for g, m in waiting)}, {which}:\n" if waiting else ".\n"))
        if commands:
            add("```bash\n" + "\n".join(commands) + "\n```\n")
        L += paper_c4_data_section(results)
        if not missing and not waiting and all(on_paper_data(results, group="C4", model=m) for m in PAPER_C4_MODELS):
            L += reproduce_paper_protocol(results)
    if any(line.startswith("```bash") for line in L):
        add("On a CPU, the environment settings of the main README's [Speed](../../README.md#speed) section\n"
            "make the runs these commands continue faster (measure `ATEN_CPU_CAPABILITY` on your CPU before you "
            "set it).\n")

    add("**Does soft beat cnn-aug under the paper's own protocol?**\n")
    add(WELCH)
    L += _comparison(sel, "soft", "cnn-aug") or ["Not yet: no group has finished runs of both."]
    add("")
    L += _l2_control(sel, pilots)
    L += _comparison(sel, "cnn-aug-l2", "cnn-aug") or ["No run of cnn-aug-l2 at the full budget has finished yet."]
    add("")
    add("**Does soft-rel, whose latent term shrinking cannot lower, keep it?**\n")
    L += (_comparison(sel, "soft-rel", "cnn-aug") + _comparison(sel, "soft-rel", "soft")
          or ["Not yet: no run of soft-rel has finished."])
    add("")
    add("**Does it matter that the latent sits before BatchNorm?** (soft against soft-postbn, whose latent is\n"
        "taken after the BatchNorm1d and ELU, at the same budget)\n")
    L += _comparison(sel, "soft", "soft-postbn") or ["Not yet: no run of soft-postbn has finished."]
    add("")
    L += _strict_and_monitored(sel)
    return "\n".join(L)


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


def medmnist3d_readme() -> str:
    r"""results/medmnist3d/README.md: the template ``readme_templates/medmnist3d.md``, with the
    AdrenalMNIST3D runs (``medmnist3d_finished.md`` or ``medmnist3d_waiting.md``) and the fixture
    runs (``medmnist3d_fixtures.md``) where there are some."""
    adrenal = finished(MEDMNIST3D)
    fixtures = {flag: finished(MEDMNIST3D / "fixtures" / flag) for flag in PAPER_FLAGS}
    paper_table = [f"| model | {' | '.join(PAPER_FLAGS)} |", "|---|" + "---:|" * len(PAPER_FLAGS)]
    paper_table += [f"| {m} | " + " | ".join(f"{v[f]:.3f}" for f in PAPER_FLAGS) + " |"
                    for m, v in PAPER_TABLE_5.items()]
    counts = {r["config"]["task"]: r["parameters"] for runs in fixtures.values() for r in runs
              if r["config"]["model"] == "cnn"}
    counted = (f": {counts['nodulemnist3d']:,} for 2 classes and {counts['organmnist3d']:,} for Organ3D's 11 "
               f"(the fixture runs below)" if {"nodulemnist3d", "organmnist3d"} <= set(counts) else "")
    planned = (", ".join(f"{m} {n} seed(s)" for m, n in ADRENAL_GRID.items()) + " up to 150 epochs; "
               + ", ".join(f"{m} {n} seed(s)" for m, n in ADRENAL_STRICT.items())
               + f" at {ADRENAL_STRICT_EPOCHS} epochs")
    runs_text = fill("medmnist3d_waiting", planned=planned)
    if adrenal:
        # one table per budget: the CNNs' 150 epochs with early stopping, the strict models' 5
        budgets = group_by(adrenal, ("epochs", "patience"), defaults={"patience": None})
        runs_text = "\n".join([
            fill("medmnist3d_finished", count=len(adrenal), planned=planned, devices=", ".join(devices(adrenal)),
                 total=sum(ADRENAL_GRID.values()) + sum(ADRENAL_STRICT.values())),
            *(_table(runs, BUDGET if patience else None)
              for (_, patience), runs in sorted(budgets.items(), key=lambda kv: -kv[0][0])),
            *adrenal_findings(adrenal)])
    fixture_text = ""
    if all(fixtures.values()):
        first = next(iter(fixtures.values()))[0]["config"]
        fixture_text = fill("medmnist3d_fixtures", train_size=first["train_size"], epochs=first["epochs"],
                            batch_size=first["batch_size"], flags=" ".join(PAPER_FLAGS),
                            tables="\n".join(_table(runs) for runs in fixtures.values())) + "\n"
    organ = PAPER_TABLE_5["CNN"]["organmnist3d"] - PAPER_TABLE_5["CNN + aug"]["organmnist3d"]
    return fill("medmnist3d", paper_table="\n".join(paper_table), counted=counted, adrenal=runs_text,
                commands="\n".join(plan_commands("medmnist3d", "grid") + plan_commands("medmnist3d", "strict")),
                flags=" ".join(PAPER_FLAGS), fixtures=fixture_text, organ=f"{100 * organ:.0f}")


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
        for model in SMOKE_MODELS:
            runs = [r for r in results if r["config"]["model"] == model]
            if runs:
                curve = np.mean([r["analysis"]["rmse_per_step"][name] for r in runs], axis=0)
                ax.plot(np.arange(1, len(curve) + 1), curve, marker=".", label=f"{model} ({len(runs)})")
        ax.set_title(f"{title} test set")
        ax.set_xlabel("rollout step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("RMSE (mean over seeds)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def smoke_readme() -> str:
    r"""results/smoke/README.md: the templates ``readme_templates/smoke.md`` and, once runs have
    finished, ``readme_templates/smoke_measured.md``."""
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
        runs = {m: select(results, model=m) for m in SMOKE_MODELS}
        measured = fill(
            "smoke_measured", count=len(results), train_size=one(results, "train_size"),
            batch_size=one(results, "batch_size"), devices=", ".join(devices(results)),
            budgets="; ".join(f"{', '.join(m for m in SMOKE_MODELS if m in models)}: {epochs} epochs"
                              for epochs, models in sorted(budgets.items(), reverse=True)),
            rows="\n".join(_rmse_row(m, rs) for m, rs in runs.items() if rs), table=_table(results))
    return fill("smoke", paper_rows="\n".join(paper_rows), measured=measured, commands="\n".join(commands))


def readmes() -> Dict[Path, str]:
    r"""The READMEs the committed runs give, by path."""
    full, short = finished(FULL, required=True), finished(SHORT, required=True)
    fixtures = [MEDMNIST3D / "fixtures" / flag for flag in PAPER_FLAGS]
    return {FULL / "README.md": full_readme(full, short, finished(PAPER_PROTOCOL), finished(L2_PILOTS))
            + diverged_section(FULL, PAPER_PROTOCOL, L2_PILOTS),
            SHORT / "README.md": short_readme(short) + diverged_section(SHORT),
            MEDMNIST3D / "README.md": medmnist3d_readme() + diverged_section(MEDMNIST3D, *fixtures),
            SMOKE / "README.md": smoke_readme() + diverged_section(SMOKE)}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a README is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in readmes().items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            atomic_write_text(path, text)
            print(f"wrote {path.relative_to(ROOT)}")
    smoke = [r for r in finished(SMOKE) if r["config"]["task"] == "smoke-reduced"]
    if smoke and not args.check:
        smoke_plot(smoke, SMOKE / "rmse_per_step.png")
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
