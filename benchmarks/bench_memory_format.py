r"""Channels-last against contiguous weights: one training step of the plain CNNs of DDMNIST and MedMNIST3D.

:class:`~escnn_soft.experiments.models.ddmnist.DDMNISTCNN` and
:class:`~escnn_soft.experiments.models.medmnist3d.MedMNIST3DCNN` store their convolution
weights channels-last, so that every feature map after the first convolution is
channels-last too. This compares that layout with the same model turned back to
``torch.contiguous_format``, on the same weights and the same batch.

One step is what ``escnn-soft compare`` takes: the task's loss (for soft, both passes of
the encoder and the actions), backward and an Adam step, in train mode. For each task and
model the two layouts are timed in turns and their medians compared, in one run; the
losses of the first step are printed beside them (they agree to float32 rounding).

Run:  python benchmarks/bench_memory_format.py [--device cpu|cuda] [--threads N]
      [--ddmnist-batch 256] [--medmnist3d-batch 32] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Dict, Tuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import add_timing_options, header, interleaved, parse_timing_args, publish  # noqa: E402

from escnn_soft.experiments.runner import train_step  # noqa: E402
from escnn_soft.experiments.tasks import DDMNISTTask, MedMNIST3DTask  # noqa: E402

CASES = (("ddmnist", "D4", ("cnn-aug", "soft")), ("adrenalmnist3d", "O", ("cnn", "soft")))


def _task(name: str):
    return DDMNISTTask() if name == "ddmnist" else MedMNIST3DTask(name)


def batch(name: str, size: int, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    if name == "ddmnist":
        x, classes = torch.rand(size, 1, 56, 56, generator=generator), 100
    else:
        x, classes = torch.rand(size, 1, 28, 28, 28, generator=generator), 2
    return x.to(device), torch.randint(0, classes, (size,), generator=generator).to(device)


def training_steps(task_name: str, group: str, model: str, x: torch.Tensor,
                   y: torch.Tensor) -> Tuple[Dict[str, Callable[[], None]], Dict[str, float]]:
    r"""The training steps of ``model`` with channels-last (its default) and contiguous weights,
    from the same initial weights, and the loss of each one's first step."""
    task = _task(task_name)
    setups = {}
    for layout in ("contiguous", "channels-last"):
        torch.manual_seed(0)
        setups[layout] = task.build(model, group, task.hyperparameters(model, group))
    setups["contiguous"].model.to(memory_format=torch.contiguous_format)
    steps, first = {}, {}
    for layout, setup in setups.items():
        net = setup.model.to(x.device).train()
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
        generator = torch.Generator(x.device).manual_seed(0)

        def step(setup=setup, optimizer=optimizer, generator=generator) -> float:
            return train_step(setup, optimizer, (x, y), generator)[0].item()

        first[layout] = step()
        steps[layout] = step
    return steps, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ddmnist-batch", type=int, default=256)
    parser.add_argument("--medmnist3d-batch", type=int, default=32)
    add_timing_options(parser, repeats=5)
    args = parse_timing_args(parser)
    device = torch.device(args.device)
    batches = {"ddmnist": args.ddmnist_batch, "adrenalmnist3d": args.medmnist3d_batch}
    lines = header("benchmarks/bench_memory_format.py", device) + ["",
             f"Median seconds of one training step (the task's loss, backward, Adam) in train mode, the two "
             f"layouts of each model timed in turns, {args.repeats} turns after two warm-up turns "
             f"(the first step of each layout, whose loss is printed, included).", "",
             "| task | group | model | batch | contiguous (s) | channels-last (s) | contiguous / channels-last "
             "| first loss, contiguous | first loss, channels-last |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for task_name, group, models in CASES:
        x, y = batch(task_name, batches[task_name], device)
        for model in models:
            steps, first = training_steps(task_name, group, model, x, y)
            medians = interleaved(steps, repeats=args.repeats, device=device)
            print(task_name, model, {k: f"{t:.3f} s" for k, t in medians.items()}, flush=True)
            a, b = medians["contiguous"], medians["channels-last"]
            lines.append(f"| {task_name} | {group} | {model} | {batches[task_name]} | {a:.3f} | {b:.3f} | "
                         f"{a / b:.2f}× | {first['contiguous']:.6f} | {first['channels-last']:.6f} |")
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
