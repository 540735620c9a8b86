r"""Cost of one SMOKE training step of each model against the plain CNN and soft.

One step is: gradients zeroed, the task's loss (the 6-frame rollout, and for cnn-aug and soft
the transformed first frame and, for soft, the latent term) and backward, in train mode, on one
fixed batch of windows; no optimizer step (the same for every model). The models are the
``smoke-reduced`` task's or, with ``--preset smoke``, the full protocol's
(:mod:`escnn_soft.experiments.tasks.smoke`), built by the task with its hyperparameters, on
random inputs of the preset's grid. They are timed in turns and their medians compared, in one
run.

Run:  python benchmarks/bench_smoke_step.py --threads 1 [--preset smoke-reduced] [--batch-size 16]
      [--repeats 5] [--out benchmarks/results/smoke_step_cpu.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Dict

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import add_timing_options, header, interleaved, parse_timing_args, publish  # noqa: E402

from escnn_soft.experiments.task import get_task  # noqa: E402
from escnn_soft.experiments.tasks import smoke  # noqa: E402,F401  (registers the tasks)
from escnn_soft.experiments.tasks.smoke import SMOKE_PRESETS  # noqa: E402

MODELS = ("cnn", "cnn-aug", "soft", "soft-regular", "e2cnn-narrow", "e2cnn", "rpp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(SMOKE_PRESETS), default="smoke-reduced")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    add_timing_options(parser, repeats=5)
    args = parse_timing_args(parser)
    task = get_task(args.preset)
    side = 64 // task.preset.pool
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 20, side, side, generator=generator)
    y = torch.randn(args.batch_size, 12, side, side, generator=generator)
    models = args.models.split(",")
    steps: Dict[str, Callable[[], None]] = {}
    parameters: Dict[str, int] = {}
    for name in models:
        setup = task.build(name, "C4", task.hyperparameters(name, "C4"))
        setup.model.train()
        parameters[name] = sum(p.numel() for p in setup.model.parameters())
        loss_generator = torch.Generator().manual_seed(0)

        def step(setup=setup, loss_generator=loss_generator) -> None:
            setup.model.zero_grad(set_to_none=True)
            setup.loss(x, y, loss_generator)[0].backward()

        steps[name] = step
    medians = interleaved(steps, repeats=args.repeats, warmup=1)
    print({k: f"{t:.3f} s" for k, t in medians.items()}, flush=True)
    lines = header("benchmarks/bench_smoke_step.py") + ["",
             f"Median seconds of one training step (zero_grad, the task's loss on a 6-frame rollout, backward; no "
             f"optimizer step) in train mode, task {args.preset} ({side}x{side} grid, h = {task.preset.hidden}), "
             f"batch {args.batch_size}, the models timed in turns, {args.repeats} turns after one warm-up turn.", "",
             "| model | parameters | s / step | / cnn | / soft |", "| --- | ---: | ---: | ---: | ---: |"]
    for name in models:
        t = medians[name]
        vs_cnn = f"{t / medians['cnn']:.2f}×" if "cnn" in medians else "—"
        vs_soft = f"{t / medians['soft']:.2f}×" if "soft" in medians else "—"
        lines.append(f"| {name} | {parameters[name]:,} | {t:.3f} | {vs_cnn} | {vs_soft} |")
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
