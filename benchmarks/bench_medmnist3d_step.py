r"""Cost of one forward and backward pass of soft and the strict MedMNIST3D models against the plain CNN.

One step is: gradients zeroed, forward, loss, backward (no optimizer step, the same for
every model), in train mode, on one fixed batch of 28³ volumes with 2 classes. The models
are the plain 3D ResNet (:func:`~escnn_soft.experiments.models.medmnist3d.medmnist3d_cnn`,
c = 6) with cross-entropy; soft, the same network with the adrenalmnist3d task's soft loss
(:mod:`escnn_soft.experiments.tasks.medmnist3d`: two passes of the encoder, the rotation
of the volumes and of the latent included); the octahedral steerable CNN and the SO(3)
steerable CNN (:mod:`escnn_soft.experiments.models.medmnist3d_scnn`, at their default
widths) with cross-entropy. They are timed in turns and their medians compared, in one run.

The CNN runs at ``--batch-size``. The strict models may run at a smaller
``--strict-batch-size``; their times are then scaled to ``--batch-size`` linearly (the
table says so), and the CNN is also timed at the smaller batch, so that the ratio at the
same batch is printed beside the scaled one.

Run:  python benchmarks/bench_medmnist3d_step.py --threads 1 [--batch-size 32]
      [--strict-batch-size 8] [--repeats 3] [--out benchmarks/results/medmnist3d_step_cpu.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Dict, Tuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import add_timing_options, header, interleaved, parse_timing_args, publish  # noqa: E402

from escnn_soft.experiments.models.medmnist3d import medmnist3d_cnn  # noqa: E402
from escnn_soft.experiments.models.medmnist3d_scnn import medmnist3d_octa_scnn, medmnist3d_so3_scnn  # noqa: E402
from escnn_soft.experiments.tasks.medmnist3d import MedMNIST3DTask  # noqa: E402

N_CLASSES = 2
STRICT = {"octa-scnn": medmnist3d_octa_scnn, "so3-scnn": medmnist3d_so3_scnn}


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def step_of(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    r"""Zero the gradients, forward, cross-entropy and backward, on a fixed batch."""
    model.train()
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()

    return step


def soft_step_of(x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.nn.Module, Callable[[], None]]:
    r"""The soft model and its step: zero the gradients, the soft loss (its elements drawn from a
    fixed generator) and backward."""
    task = MedMNIST3DTask("adrenalmnist3d")
    setup = task.build("soft", "O", task.hyperparameters("soft", "O"))
    setup.model.train()
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        setup.model.zero_grad(set_to_none=True)
        setup.loss(x, y, generator)[0].backward()

    return setup.model, step


def batch(size: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(size, 1, 28, 28, 28, generator=generator),
            torch.randint(0, N_CLASSES, (size,), generator=generator))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--strict-batch-size", type=int, default=None,
                        help="batch of the strict models (default: --batch-size); times scaled linearly")
    add_timing_options(parser, repeats=3)
    args = parse_timing_args(parser)
    full = args.batch_size
    small = args.strict_batch_size or full
    x_full, y_full = batch(full)
    x_small, y_small = x_full[:small], y_full[:small]

    models = {"cnn": medmnist3d_cnn(N_CLASSES), **{name: build(N_CLASSES) for name, build in STRICT.items()}}
    steps: Dict[str, Callable[[], None]] = {f"cnn@{full}": step_of(models["cnn"], x_full, y_full)}
    if small != full:
        steps[f"cnn@{small}"] = step_of(models["cnn"], x_small, y_small)
    soft_model, steps[f"soft@{full}"] = soft_step_of(x_full, y_full)
    if small != full:
        steps[f"soft@{small}"] = soft_step_of(x_small, y_small)[1]
    for name in STRICT:
        steps[f"{name}@{small}"] = step_of(models[name], x_small, y_small)
    medians = interleaved(steps, repeats=args.repeats, warmup=1)
    print({k: f"{t:.2f} s" for k, t in medians.items()}, flush=True)

    scale = full / small
    cnn_full, cnn_small = medians[f"cnn@{full}"], medians[f"cnn@{small}"]
    lines = header("benchmarks/bench_medmnist3d_step.py") + ["",
             f"Median seconds of one forward and backward pass (zero_grad, forward, loss, backward; "
             f"no optimizer step; soft's loss is the task's, the others' cross-entropy) in train mode, {N_CLASSES} classes, the models timed in turns, "
             f"{args.repeats} turns after one warm-up turn.", ""]
    if small != full:
        lines += [f"The strict models ran at batch {small}; their batch-{full} times are those times × {scale:g} "
                  f"(linear scaling, an estimate). The CNN ran at both batches.", ""]
    lines += ["| model | parameters | batch | s / step | s / step at batch " + str(full)
              + f" | / cnn (batch {full}) | / cnn (same batch) | / soft (same batch) |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    soft_params = n_parameters(soft_model)
    for name, params, per_batch in (("cnn", n_parameters(models["cnn"]), {full, small}),
                                    ("soft", soft_params, {full, small})):
        for size in sorted(per_batch, reverse=True):
            t = medians[f"{name}@{size}"]
            same = t / medians[f"cnn@{size}"]
            scaled = f"{t:.2f}" if size == full else "—"
            ratio = f"{t / cnn_full:.2f}×" if size == full else "—"
            lines.append(f"| {name} | {params:,} | {size} | {t:.2f} | {scaled} | {ratio} | {same:.2f}× | "
                         f"{t / medians[f'soft@{size}']:.2f}× |")
    for name in STRICT:
        t = medians[f"{name}@{small}"]
        lines.append(f"| {name} | {n_parameters(models[name]):,} | {small} | {t:.2f} | {t * scale:.2f} | "
                     f"{t * scale / cnn_full:.1f}× | {t / cnn_small:.1f}× | {t / medians[f'soft@{small}']:.1f}× |")
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
