r"""Write results/exploration/README.md (and one README.md and eigenvalues.png per experiment)
from the committed runs' result.json files: every number in them comes from those files. Runs
that diverged (training loss not finite) have no numbers: they are listed in a closing section.

Run:  python scripts/exploration_readme.py [--out results/exploration] [--check]

``--check`` writes nothing and exits with status 1 if a committed README differs from what the
runs give (the test suite does the same).

The paper's three experiments are always listed; ``o-adrenal`` (O on AdrenalMNIST3D, beyond the
paper) once it has finished runs under ``<out>/o_adrenal/runs``.

The prose is in ``scripts/readme_templates/exploration*.md`` (:class:`string.Template` files, one
``exploration_protocol_<experiment>.md`` per experiment); the runs are read and selected by
:mod:`escnn_soft.experiments.results`, and their decompositions summed up by
:mod:`escnn_soft.learned.reports`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from string import Template
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from escnn_soft.experiments.results import load_runs, select
from escnn_soft.learned.reports import (mean_multiplicities_text, multiplicity_table, plot_eigenvalues, rounded_text,
                                        run_table, same_as_control)
from escnn_soft.records import atomic_write_text

EXPERIMENTS = ("d3-autoencoder", "c2-typefaces", "c4-classifier")
BEYOND = ("o-adrenal",)
r"""Experiments beyond the paper, listed once they have finished runs."""
MODELS = ("learned", "identity-init")
COMMAND = "python scripts/exploration_runs.py --mnist PATH/TO/mnist.npz --threads 1"
README_COMMAND = "python scripts/exploration_readme.py"
COMMANDS = {"o-adrenal": "python scripts/exploration_runs.py --experiments o-adrenal --threads 1 --shard 0/2 &\n"
                         "python scripts/exploration_runs.py --experiments o-adrenal --threads 1 --shard 1/2"}

TITLES = {
    "d3-autoencoder": "D3 on MNIST: MLP autoencoder, latent 30",
    "c2-typefaces": "C2 swapping the typeface: convolutional autoencoder, latent 42",
    "c4-classifier": "C4 on MNIST: CNN classifier, latent 64",
    "o-adrenal": "O on AdrenalMNIST3D: 3D CNN classifier, latent 48",
}
PAPER = {
    "d3-autoencoder": ("Table 2", "trivial : sign : standard ≈ 5 : 5 : 10", (5, 5, 10)),
    "c2-typefaces": ("Table 1", "trivial : sign ≈ 21 : 21", (21, 21)),
    "c4-classifier": ("Table 3, on CIFAR-10", "eigenvalues of ρ_Z(r) at 1 : i : −1 : −i ≈ 16 : 16 : 16 : 16",
                      (16, 16, 16, 16)),
    "o-adrenal": (None, "its Section 4 never ran in 3D; a multiple of the regular representation in 48 dimensions "
                        "is 2 × regular, 2 : 6 : 6 : 4 : 2 in escnn's irreps", (2, 6, 6, 4, 2)),
}
REFERENCE_LABELS = {"o-adrenal": "2 × regular"}
r"""The name of the reference row where it is not the paper's."""
TEMPLATES = Path(__file__).resolve().parent / "readme_templates"
r"""The prose of the READMEs, as :class:`string.Template` files: ``exploration*.md``."""


def folder(experiment: str) -> str:
    return experiment.replace("-", "_")


def experiments(out: Path) -> Tuple[str, ...]:
    r"""The experiments to write: the paper's three, then those of :data:`BEYOND` with finished runs."""
    return EXPERIMENTS + tuple(e for e in BEYOND if any((out / folder(e) / "runs").glob("*/result.json")))


def runs_by_experiment(out: Path) -> Dict[str, Dict[str, List[Dict[str, Any]]]]:
    r"""The finished runs (not those that diverged) by experiment and model (:data:`MODELS`), sorted by seed."""
    loaded = {e: load_runs(out / folder(e)) for e in experiments(out)}
    return {e: {m: select(runs, model=m) for m in MODELS} for e, runs in loaded.items()}


def fill(name: str, **values: Any) -> str:
    r"""The template ``readme_templates/<name>.md`` (:class:`string.Template`) filled with ``values``."""
    return Template((TEMPLATES / f"{name}.md").read_text(encoding="utf-8")).substitute(values)


def fill_part(name: str, **values: Any) -> str:
    r""":func:`fill` without the newlines it ends with: a part of a line, or a block that its caller
    closes."""
    return fill(name, **values).rstrip("\n")


def _result(e: str, learned: Sequence[Mapping[str, Any]], ablation: Sequence[Mapping[str, Any]]) -> str:
    r"""The paragraphs on the result of experiment ``e`` and its objective (``readme_templates/exploration_result.md``)."""
    c, h, a = learned[0]["config"], learned[0]["config"]["hyperparameters"], learned[0]["analysis"]
    return fill("exploration_result", count=len(learned),
                mean=mean_multiplicities_text([r["analysis"]["decomposition"] for r in learned]),
                reference_name=_reference_name(e), reference=" : ".join(map(str, PAPER[e][2])),
                per_run=", ".join(rounded_text(r["analysis"]["decomposition"]) for r in learned),
                agree=sum(map(same_as_control, learned)),
                ablation="" if not ablation else fill_part(
                    "exploration_result_ablation", count=len(ablation),
                    ends=", ".join(rounded_text(r["analysis"]["decomposition"]) for r in ablation),
                    controls=", ".join(rounded_text(r["analysis"]["control_decomposition"]) for r in ablation)),
                lambda_zy=f"{h['lambda_zy']:g}", lambda_xz=f"{h['lambda_xz']:g}", lambda_w=f"{h['lambda_w']:g}",
                inverse=f"{h['inverse']:g}", relations=a["relations"], lr=f"{h['lr']:g}", batch_size=c["batch_size"],
                epochs=c["epochs"], train_size=f"{c['train_size']:,}", steps=f"{a['steps']:,}", noise=f"{h['noise']:g}",
                identity="" if not ablation else fill_part(
                    "exploration_result_identity", noise=f"{ablation[0]['config']['hyperparameters']['noise']:g}"))


def _model_section(e: str, model: str, rs: Sequence[Mapping[str, Any]]) -> str:
    r"""The tables of the runs of ``model`` (``readme_templates/exploration_model.md``), without the
    newline it ends with."""
    if not rs:
        return fill_part("exploration_no_runs", model=model)
    labels = [f"seed {r['config']['seed']}" for r in rs]
    ds = [r["analysis"]["decomposition"] for r in rs]
    return fill_part("exploration_model",
                     multiplicities=multiplicity_table(ds, labels=labels,
                                                       reference=PAPER[e][2] if model == "learned" else None,
                                                       reference_label=REFERENCE_LABELS.get(e, "paper")),
                     runs=run_table(rs),
                     control=multiplicity_table([r["analysis"]["control_decomposition"] for r in rs], labels=labels),
                     initial=multiplicity_table([r["analysis"]["initial_decomposition"] for r in rs], labels=labels))


def experiment_readme(e: str, runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    r"""The README of experiment ``e`` (``readme_templates/exploration_experiment.md``)."""
    learned, ablation = runs["learned"], runs["identity-init"]
    where, words, _ = PAPER[e]
    r0 = learned[0] if learned else None
    return fill("exploration_experiment", title=TITLES[e], lead=f"Paper ({where})" if where else "Not in the paper",
                words=words, readme_command=README_COMMAND,
                result="" if r0 is None else _result(e, learned, ablation) + "\n",
                learned=_model_section(e, "learned", learned), ablation=_model_section(e, "identity-init", ablation),
                protocol=fill(f"exploration_protocol_{e}"),
                runs="" if r0 is None else fill("exploration_runs_line", device=r0["device"], torch=r0["torch"],
                                                threads=r0["threads"], source=r0.get("source", "unrecorded"),
                                                element=r0["analysis"]["eigenvalues"]["element"]),
                command=COMMANDS.get(e, f"{COMMAND} --experiments {e}"))


def _reference_name(e: str) -> str:
    return f"{REFERENCE_LABELS[e]}'s" if e in REFERENCE_LABELS else "the paper's"


def _top_row(e: str, rs: Sequence[Mapping[str, Any]]) -> str:
    r"""The row of experiment ``e`` in the top README's table, from its ``learned`` runs ``rs``."""
    if not rs:
        return f"| [`{folder(e)}`]({folder(e)}/) | | no finished runs | | | |\n"
    d = rs[0]["analysis"]["decomposition"]
    return (f"| [`{folder(e)}`]({folder(e)}/) | {d['group']}, {d['dim']} | "
            f"{mean_multiplicities_text([r['analysis']['decomposition'] for r in rs])} ({len(rs)} runs) | "
            f"{', '.join(rounded_text(r['analysis']['decomposition']) for r in rs)} | "
            f"{_paper_cell(e)} | {sum(map(same_as_control, rs))} of {len(rs)} |\n")


def top_readme(runs: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]) -> str:
    r"""The README of every experiment together (``readme_templates/exploration.md``)."""
    learned = [r for e in runs for r in runs[e]["learned"]]
    ablation = [r for e in runs for r in runs[e]["identity-init"]]
    return fill("exploration", beyond=fill_part("exploration_beyond") if "o-adrenal" in runs else "",
                readme_command=README_COMMAND, command=COMMAND,
                rows="".join(_top_row(e, runs[e]["learned"]) for e in runs),
                agree=sum(map(same_as_control, learned)), total=len(learned),
                ablation_agree=sum(map(same_as_control, ablation)), ablation_total=len(ablation))


def _paper_cell(e: str) -> str:
    numbers = " : ".join(map(str, PAPER[e][2]))
    return f"not run ({REFERENCE_LABELS[e]}: {numbers})" if e in REFERENCE_LABELS else numbers


def diverged_section(out: Path, names: Sequence[str]) -> str:
    r"""A README's closing section listing the runs of the experiments ``names`` that diverged (their
    training loss was not finite), which every table above leaves out; empty when none did."""
    lines = [f"- `{r['name']}` ({r['config']['model']} seed {r['config']['seed']}): diverged at epoch "
             f"{r['diverged_at_epoch']} of {r['config']['epochs']}"
             for e in names for r in select(load_runs(out / folder(e)), diverged=True, by_seed=False)]
    return "\n" + fill("exploration_diverged", runs="\n".join(lines)) if lines else ""


def render(out: Path) -> Dict[Path, str]:
    r"""The READMEs the runs under ``out`` give, by path."""
    runs = runs_by_experiment(out)
    pages = {out / "README.md": top_readme(runs) + diverged_section(out, list(runs))}
    for e in runs:
        pages[out / folder(e) / "README.md"] = experiment_readme(e, runs[e]) + diverged_section(out, [e])
    return pages


def plot(out: Path) -> None:
    runs = runs_by_experiment(out)
    for e in runs:
        rs = runs[e]["learned"] + runs[e]["identity-init"]
        if not rs:
            continue
        eig = [r["analysis"]["eigenvalues"] for r in rs]
        plot_eigenvalues([np.asarray(v["real"]) + 1j * np.asarray(v["imag"]) for v in eig],
                         out / folder(e) / "eigenvalues.png", order=eig[0]["element_order"],
                         titles=[f"{r['config']['model']} seed {r['config']['seed']}" for r in rs],
                         steps=[v["steps"] for v in eig],
                         suptitle=f"{TITLES[e]}: eigenvalues of ρ_Z({eig[0]['element']}) during training")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("results/exploration"))
    p.add_argument("--check", action="store_true", help="write nothing; status 1 if a README is out of date")
    args = p.parse_args(argv)
    pages = render(args.out)
    if args.check:
        stale = [str(path) for path, text in pages.items()
                 if not path.is_file() or path.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"{path} differs from what its runs give; run {README_COMMAND}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in pages.items():
        atomic_write_text(path, text)
    plot(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
