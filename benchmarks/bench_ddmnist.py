r"""Cost of one training step of each double-digit MNIST model, as ``escnn-soft compare`` trains it.

For each group, one step (loss, backward, Adam) of cnn-aug, soft, scnn and rpp on the
same batch of 56×56 images, built by :class:`escnn_soft.experiments.tasks.DDMNISTTask` exactly as
the comparison builds them (soft: the CNN with the soft-equivariance loss; rpp: with its
L2 prior). The models are timed in turns and their medians compared, in one run; data
drawing is left out (it is the same for every model).

Run:  python benchmarks/bench_ddmnist.py [--device cpu|cuda] [--threads N] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import add_timing_options, header, interleaved, parse_timing_args, publish  # noqa: E402

from escnn_soft.experiments.runner import train_step  # noqa: E402
from escnn_soft.experiments.tasks import DDMNISTTask  # noqa: E402

MODELS = ("cnn-aug", "soft", "scnn", "rpp")
RATIOS = (("soft", "cnn-aug"), ("scnn", "cnn-aug"), ("rpp", "cnn-aug"), ("scnn", "soft"), ("rpp", "soft"))


def training_step(model: str, group: str, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    r"""One optimisation step of ``model`` as the comparison takes it, on a fixed batch."""
    task = DDMNISTTask()
    setup = task.build(model, group, task.hyperparameters(model, group))
    net = setup.model.to(x.device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    generator = torch.Generator(x.device).manual_seed(0)

    def step() -> None:
        train_step(setup, optimizer, (x, y), generator)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--groups", default="C4,D1,D4")
    parser.add_argument("--batch-size", type=int, default=256)
    add_timing_options(parser, repeats=5)
    args = parse_timing_args(parser)
    x = torch.randn(args.batch_size, 1, 56, 56, device=args.device)
    y = torch.randint(0, 100, (args.batch_size,), device=args.device)
    rows = []
    for group in args.groups.split(","):
        steps = {model: training_step(model, group, x, y) for model in MODELS}
        medians = interleaved(steps, repeats=args.repeats, warmup=1, device=args.device)
        rows.append((group, medians))
        print(group, {m: f"{t * 1e3:.0f} ms" for m, t in medians.items()}, flush=True)

    lines = header("benchmarks/bench_ddmnist.py", args.device) + ["",
             f"Median seconds of one training step (loss, backward, Adam) at batch {args.batch_size}, "
             f"the models timed in turns, {args.repeats} turns; data drawing not included.", "",
             "| group | " + " | ".join(f"{m} (ms)" for m in MODELS) + " | "
             + " | ".join(f"{a} / {b}" for a, b in RATIOS) + " |",
             "| --- | " + " | ".join("---:" for _ in MODELS + RATIOS) + " |"]
    for group, medians in rows:
        lines.append(f"| {group} | " + " | ".join(f"{medians[m] * 1e3:.0f}" for m in MODELS) + " | "
                     + " | ".join(f"{medians[a] / medians[b]:.2f}×" for a, b in RATIOS) + " |")
    text = "\n".join(lines)
    publish(text, args.out)


if __name__ == "__main__":
    main()
