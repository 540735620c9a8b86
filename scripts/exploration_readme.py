r"""Write results/exploration/README.md (and one README.md and eigenvalues.png per experiment)
from the committed runs' result.json files: every number in them comes from those files. Runs
that diverged (training loss not finite) have no numbers: they are listed in a closing section.

Run:  python scripts/exploration_readme.py [--out results/exploration] [--check]

``--check`` writes nothing and exits with status 1 if a committed README differs from what the
runs give (the test suite does the same).

The paper's three experiments are always listed; ``o-adrenal`` (O on AdrenalMNIST3D, beyond the
paper) once it has finished runs under ``<out>/o_adrenal/runs``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from escnn_soft.experiments.results import load_runs, select
from escnn_soft.learned.reports import multiplicity_table, plot_eigenvalues
from escnn_soft.records import atomic_write_text, mean_std_text

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
PROTOCOL = {
    "d3-autoencoder": """\
* Data: the first training digits of MNIST, pixels in [0, 1], each transformed afresh every epoch by a
  uniformly random element of D3; validation: the last training digits, test: the first test digits,
  each transformed once by a fixed random element.
* D3 = escnn's `flipRot2dOnR2(3).fibergroup`, acting on images by
  `field_action(FieldType(flipRot2dOnR2(3), [trivial]), interpolation="bilinear")`: rotations by 120°
  and the reflection, resampled bilinearly (an approximate action).
* Encoder 784 → 512 → 256 → 128 → 30, decoder its mirror (ReLU, sigmoid output), the paper's
  `MLPEncoder`/`MLPDecoder` (`escnn_soft.experiments.models.exploration`).
* ρ_Z: `LearnedRepresentation(D3, 30)` with the paper's presentation r³ = s² = (rs)² = e and no
  inverse term, as the paper's D3 algebra loss.
""",
    "c2-typefaces": """\
* Data (`escnn_soft.experiments.datasets.typefaces`): the digits 0–9 drawn by matplotlib in DejaVu Sans
  and Computer Modern Roman (cmr10); pairs (x, x') of one digit, rotation (uniform in ±45°) and scale
  (uniform in [0.8, 1.2]) in the two typefaces, drawn once (training, validation and test pairs apart).
* C2 = escnn's `cyclic_group(2)` acting on the stacked pair by its regular representation
  (`regular_latent(C2, 2)` on the slot axis): s swaps the typeface. The encoder reads the first slot;
  the reconstruction target is the first slot.
* Encoder: convolutions 1 → 21 → 42 (3×3, stride 2), 42 → 84 (7×7), ReLU, linear 84 → 42; decoder its
  mirror with transposed convolutions and a sigmoid, as the paper's `RegularizedFunctor`.
* ρ_Z: `LearnedRepresentation(C2, 42)`, relation s² = e with the inverse term, the paper's two terms.
""",
    "c4-classifier": """\
* Data: the first training digits of MNIST scaled to [−1, 1] (the paper's `Normalize(0.5, 0.5)`), each
  rotated afresh every epoch by a uniformly random multiple of 90°; validation: the last training digits,
  test: the first test digits, each rotated once by a fixed random element. (`Task.open("cifar10:PATH")`
  trains on CIFAR-10, the paper's data, which is not available offline here.)
* C4 = escnn's `rot2dOnR2(4).fibergroup`, acting exactly on every channel by `field_action` of the
  trivial field (a pixel permutation).
* Encoder: the paper's CIFAR-10 encoder (GELU; convolutions of 32, 32, 64, 64, 64 channels, three with
  stride 2, then linear to 64); head: linear 64 → 10 without bias.
* ρ_Z: `LearnedRepresentation(C4, 64)`, relation r⁴ = e with the inverse term, the paper's two terms.
""",
    "o-adrenal": """\
* Data: AdrenalMNIST3D as shipped with the package (1,188 / 98 / 298 volumes of 28³ voxels), scaled to
  [−1, 1] (x / 127.5 − 1); every training volume rotated afresh every epoch by a uniformly random element
  of O; the validation and test volumes each rotated once by an element drawn from the data seed, the test
  volumes also scored upright.
* O = escnn's `octa_group()`, the 24 rotations of the cube, acting on the voxels by `voxel_action()`
  (`field_action` of a trivial field of `octaOnR3`): an exact permutation.
* Encoder: the MedMNIST3D comparison's 3D ResNet (`MedMNIST3DCNN`, the paper's) up to its 48-dim latent
  before batch normalisation; head: its BatchNorm1d, ELU, linear 48 → 2. Not in the paper: its
  objective weights are c4-classifier's.
* ρ_Z: `LearnedRepresentation(O, 48)` on escnn's three generators, the Cayley-graph relations with the
  inverse term.
""",
}


def folder(experiment: str) -> str:
    return experiment.replace("-", "_")


def experiments(out: Path) -> Tuple[str, ...]:
    r"""The experiments to write: the paper's three, then those of :data:`BEYOND` with finished runs."""
    return EXPERIMENTS + tuple(e for e in BEYOND if any((out / folder(e) / "runs").glob("*/result.json")))


def runs_by_experiment(out: Path) -> Dict[str, Dict[str, List[Dict[str, Any]]]]:
    r"""The finished runs (not those that diverged) by experiment and model (:data:`MODELS`), sorted by seed."""
    loaded = {e: load_runs(out / folder(e)) for e in experiments(out)}
    return {e: {m: select(runs, model=m) for m in MODELS} for e, runs in loaded.items()}


def _rounded(d: Mapping[str, Any]) -> List[int]:
    counts = d["complex"]["counts"] if d["complex"] else []
    return [i["rounded"] for i in d["irreps"]] + list(counts)


def same_as_control(r: Mapping[str, Any]) -> bool:
    a = r["analysis"]
    return _rounded(a["decomposition"]) == _rounded(a["control_decomposition"])


def _counts(d: Mapping[str, Any]) -> str:
    values = d["complex"]["counts"] if d["complex"] and len(d["complex"]["generator_orders"]) == 1 and \
        len(d["complex"]["counts"]) != len(d["irreps"]) else [i["rounded"] for i in d["irreps"]]
    return " : ".join(str(v) for v in values)


def _mean_counts(ds: Sequence[Mapping[str, Any]]) -> str:
    if ds[0]["complex"] and len(ds[0]["complex"]["counts"]) != len(ds[0]["irreps"]):
        table = np.array([d["complex"]["counts"] for d in ds], dtype=float)
    else:
        table = np.array([[i["multiplicity"] for i in d["irreps"]] for d in ds])
    return " : ".join(mean_std_text(table[:, k].tolist(), ".2f") for k in range(table.shape[1]))


def _mse(r: Mapping[str, Any]) -> bool:
    return r["metric"] != "accuracy"


def _test(r: Mapping[str, Any]) -> float:
    return -r["test_score"] if _mse(r) else r["test_score"]


def _shifted(r: Mapping[str, Any]) -> float:
    t = r["analysis"]["test"]
    return t["shifted_reconstruction_mse"] if _mse(r) else t["shifted_accuracy"]


def _last_epoch(a: Mapping[str, Any]) -> str:
    r"""The rounded decomposition of the last epoch's ρ_Z, with its epoch and algebra loss, and
    whether it is a representation; "—" for runs that predate the per-epoch record."""
    d = a.get("final_decomposition")
    if not d:
        return "—"
    verdict = "" if d["is_representation"] else ", not a representation"
    return f"{_counts(d)} (epoch {a['final_epoch']}, algebra loss {a['final_algebra_loss']:.2e}{verdict})"


def _run_table(rs: Sequence[Mapping[str, Any]]) -> str:
    task = "reconstruction MSE" if _mse(rs[0]) else "accuracy (%)"
    scale = 1.0 if _mse(rs[0]) else 100.0
    spec = ".4f" if _mse(rs[0]) else ".1f"
    head = ["seed", "learned (rounded)", "control (rounded)", "= control", "algebra loss", "defect (max)",
            f"test {task}", f"test shifted {task}", "test equivariance MSE", "latent rel. equiv. error",
            "best epoch", "train s"]
    last = any(r["analysis"].get("final_decomposition") for r in rs)
    if last:
        head[3:3] = ["last epoch (rounded)"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
    for r in rs:
        a = r["analysis"]
        lines.append("| " + " | ".join([
            str(r["config"]["seed"]), _counts(a["decomposition"]), _counts(a["control_decomposition"]),
            "yes" if same_as_control(r) else "no", *([_last_epoch(a)] if last else []), f"{a['algebra_loss']:.2e}",
            f"{a['decomposition']['homomorphism_defect_max']:.2g}", format(scale * _test(r), spec),
            format(scale * _shifted(r), spec), f"{a['test']['equivariance_mse']:.4f}",
            f"{r['latent_equivariance_error']:.3f}", f"{r['best_epoch']}/{r['config']['epochs']}",
            f"{r['train_seconds']:.0f}"]) + " |")
    lines.append("| mean ± std | | | " + f"{sum(map(same_as_control, rs))} of {len(rs)} | " + ("| " if last else "")
                 + " | ".join([mean_std_text([r["analysis"]["algebra_loss"] for r in rs], ".2e"),
                               mean_std_text([r["analysis"]["decomposition"]["homomorphism_defect_max"] for r in rs],
                                             ".2g"),
                               mean_std_text([_test(r) for r in rs], spec, scale=scale),
                               mean_std_text([_shifted(r) for r in rs], spec, scale=scale),
                               mean_std_text([r["analysis"]["test"]["equivariance_mse"] for r in rs], ".4f"),
                               mean_std_text([r["latent_equivariance_error"] for r in rs], ".3f"), "",
                               mean_std_text([r["train_seconds"] for r in rs], ".0f")]) + " |")
    return "\n".join(lines) + "\n"


def _settings(r: Mapping[str, Any]) -> str:
    c, h = r["config"], r["config"]["hyperparameters"]
    a = r["analysis"]
    return (f"Objective (`StudyObjective`): task loss + {h['lambda_zy']:g} · shifted task + {h['lambda_xz']:g} · "
            f"MSE(E(gx), ρ_Z(g)E(x)) + {h['lambda_w']:g} · algebra loss (inverse weight {h['inverse']:g}; "
            f"{a['relations']}), g uniform per sample. Adam, learning rate {h['lr']:g}, batch {c['batch_size']}, "
            f"{c['epochs']} epochs on {c['train_size']:,} training samples ({a['steps']:,} steps); reported: "
            f"the best-validation epoch. ρ_Z starts at a random rotation (Haar on SO(d)) plus N(0, "
            f"{h['noise']:g}²) noise per generator (`learned`)")


def _model_section(e: str, model: str, rs: Sequence[Mapping[str, Any]]) -> List[str]:
    if not rs:
        return [f"No finished `{model}` runs.\n"]
    labels = [f"seed {r['config']['seed']}" for r in rs]
    ds = [r["analysis"]["decomposition"] for r in rs]
    text = [multiplicity_table(ds, labels=labels, reference=PAPER[e][2] if model == "learned" else None,
                               reference_label=REFERENCE_LABELS.get(e, "paper")), "\n",
            _run_table(rs), "\n", "No-data control (the same initial ρ_Z trained on the algebra loss alone, "
            "same steps):\n\n", multiplicity_table([r["analysis"]["control_decomposition"] for r in rs],
                                                  labels=labels),
            "\nBefore training (the initial ρ_Z):\n\n",
            multiplicity_table([r["analysis"]["initial_decomposition"] for r in rs], labels=labels)]
    return text


def experiment_readme(e: str, runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    learned, ablation = runs["learned"], runs["identity-init"]
    where, words, _ = PAPER[e]
    lead = f"Paper ({where})" if where else "Not in the paper"
    text = [f"# {TITLES[e]}\n\n", f"{lead}: {words}. Generated by `{README_COMMAND}` from "
            f"`runs/*/result.json`; multiplicities are the real ones of escnn's irreps (for a cyclic group also "
            f"the eigenvalues of ρ_Z(generator) counted at the nearest root of unity); a rounded decomposition "
            f"counts only where the learned matrices are a representation (algebra loss and homomorphism "
            f"defect small).\n\n"]
    if learned:
        r0 = learned[0]
        text.append(f"**Result** ({len(learned)} runs, `learned`): {_mean_counts([r['analysis']['decomposition'] for r in learned])} "
                    f"(mean ± sample std) against {_reference_name(e)} {' : '.join(map(str, PAPER[e][2]))}; per run "
                    f"{', '.join(_counts(r['analysis']['decomposition']) for r in learned)}. Rounded, the learned "
                    f"decomposition equals the no-data control's in {sum(map(same_as_control, learned))} of "
                    f"{len(learned)} runs")
        if ablation:
            text.append(f"; started at the identity (`identity-init`, {len(ablation)} runs) it ends at "
                        f"{', '.join(_counts(r['analysis']['decomposition']) for r in ablation)} (control: "
                        f"{', '.join(_counts(r['analysis']['control_decomposition']) for r in ablation)})")
        text.append(".\n\n")
        text.append(_settings(r0) + "; at the identity plus N(0, "
                    f"{ablation[0]['config']['hyperparameters']['noise']:g}²) (`identity-init`).\n\n"
                    if ablation else _settings(r0) + ".\n\n")
    text.append("## `learned`: ρ_Z from random rotations\n\n")
    text += _model_section(e, "learned", learned)
    text.append("\n## `identity-init`: ρ_Z from the identity\n\n")
    text += _model_section(e, "identity-init", ablation)
    text.append("\n## Protocol\n\n" + PROTOCOL[e])
    if learned:
        r0 = learned[0]
        text.append(f"* Runs: {r0['device']}, torch {r0['torch']}, {r0['threads']} torch thread(s), data "
                    f"`{r0.get('source', 'unrecorded')}`; `eigenvalues.png`: the eigenvalues of ρ_Z({r0['analysis']['eigenvalues']['element']}) "
                    f"during training (colour: the step, log scale).\n")
    text.append(f"\n## Command\n\n```\n{COMMANDS.get(e, f'{COMMAND} --experiments {e}')}\n{README_COMMAND}\n```\n")
    return "".join(text)


def _reference_name(e: str) -> str:
    return f"{REFERENCE_LABELS[e]}'s" if e in REFERENCE_LABELS else "the paper's"


def top_readme(runs: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]) -> str:
    text = ["# Exploration: which latent action does a network learn?\n\n",
            "The paper's Section 4 (Ali, Liò, Vicary 2025) lets a plain network learn its latent action ρ_Z "
            "(one matrix per generator, pushed towards a representation by an algebra loss) and decomposes it "
            "into irreps; it reports a multiple of the regular representation every time. These are our "
            "reproductions of its three exploration experiments, trained by the comparison harness's runner "
            "(tasks `d3-autoencoder`, `c2-typefaces`, `c4-classifier` of `escnn_soft.experiments.tasks.exploration`; "
            f"decomposition: `escnn_soft.learned.decompose`)"
            + ("" if "o-adrenal" not in runs else ", and the same study beyond the paper, in 3D: the 24 rotations "
               "of the cube on AdrenalMNIST3D volumes (task `o-adrenal`)")
            + f". This file is generated by `{README_COMMAND}` from the runs' `result.json` files.\n\n",
            "| experiment | group, latent | ours (`learned`, mean ± sample std) | per run | paper | = control |\n",
            "| --- | --- | --- | --- | --- | --- |\n"]
    agree = total = 0
    for e in runs:
        rs = runs[e]["learned"]
        if not rs:
            text.append(f"| [`{folder(e)}`]({folder(e)}/) | | no finished runs | | | |\n")
            continue
        d = rs[0]["analysis"]["decomposition"]
        agree += sum(map(same_as_control, rs))
        total += len(rs)
        text.append(f"| [`{folder(e)}`]({folder(e)}/) | {d['group']}, {d['dim']} | "
                    f"{_mean_counts([r['analysis']['decomposition'] for r in rs])} ({len(rs)} runs) | "
                    f"{', '.join(_counts(r['analysis']['decomposition']) for r in rs)} | "
                    f"{_paper_cell(e)} | {sum(map(same_as_control, rs))} of {len(rs)} |\n")
    ablation = [r for e in runs for r in runs[e]["identity-init"]]
    text.append(f"\nIn {agree} of {total} `learned` runs, and in {sum(map(same_as_control, ablation))} of "
                f"{len(ablation)} `identity-init` runs, the learned decomposition, rounded, equals that of the "
                "**no-data control**: the same initial ρ_Z trained on the algebra loss alone (no network, no "
                "data) for the same number of Adam steps. Where they agree, the multiplicities are fixed by the "
                "initialisation and the algebra loss, not by the data. Per-run tables, losses and test figures: "
                "each experiment's README.\n\n")
    text.append("## Why the initialisation decides\n\n"
                "* The default initialisation, random rotations (Haar on SO(d)), already decomposes as about "
                "m × regular before any training (\"Before training\" in each experiment's README): the character "
                "of a random rotation is small against χ(e) = d, and a representation whose character vanishes "
                "off the identity is a multiple of the regular one. The algebra loss then moves the eigenvalues "
                "to the nearest roots of unity early in training (`eigenvalues.png`, colour on a log scale of the "
                "step).\n"
                "* Started at the identity (`identity-init`), ρ_Z is near the trivial representation, and gradient "
                "descent stays near it: compare the shifted-task test figures of the two models in each "
                "experiment's README.\n"
                "* Determinants: a path of invertible matrices keeps the sign of det ρ_Z(s). Started at det = +1, "
                "an order-2 generator keeps an even number of −1 eigenvalues, so C2's 21 : 21 (det −1) is "
                "unreachable with the inverse term (which keeps ρ_Z(s) away from singular matrices); D3's "
                "5 : 5 : 10 needs det ρ_Z(s) = −1 as well, and its algebra loss (the paper's, without the inverse "
                "term) lets a run cross a singular matrix.\n\n"
                "So the check against the paper is of its *numbers*; its reading of them (the data choose the "
                "regular representation) is what the control tests.\n\n")
    text.append(f"## Reproduce\n\n```\n{COMMAND}\n{README_COMMAND}\n```\n\n"
                "The first command trains every run of every experiment (finished runs are skipped, interrupted "
                "ones resumed; `--shard K/N` splits the sweep between N processes, which changes no result); the "
                "second writes these READMEs and the eigenvalue plots. `mnist.npz`: the full MNIST in the Keras "
                "layout (60,000 + 10,000).\n")
    return "".join(text)


def _paper_cell(e: str) -> str:
    numbers = " : ".join(map(str, PAPER[e][2]))
    return f"not run ({REFERENCE_LABELS[e]}: {numbers})" if e in REFERENCE_LABELS else numbers


def diverged_section(out: Path, names: Sequence[str]) -> str:
    r"""A README's closing section listing the runs of the experiments ``names`` that diverged (their
    training loss was not finite), which every table above leaves out; empty when none did."""
    lines = [f"- `{r['name']}` ({r['config']['model']} seed {r['config']['seed']}): diverged at epoch "
             f"{r['diverged_at_epoch']} of {r['config']['epochs']}"
             for e in names for r in select(load_runs(out / folder(e)), diverged=True, by_seed=False)]
    if not lines:
        return ""
    return ("\n## Diverged runs\n\nTheir training loss was not finite, so they stopped without a result; every "
            "table above leaves them out.\n\n" + "\n".join(lines) + "\n")


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
