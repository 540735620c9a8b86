r"""
Groups off the grid
===================

Rotations by multiples of 90° and mirror flips map the pixel grid onto itself: their
actions permute pixels and are exact. :math:`C_8` also rotates by 45°, which sends grid
points between grid points, so its action has to resample the image. This page uses the
two interpolating actions of escnn_soft, ``field_action(field_type, interpolation="bilinear")``
and ``field_action(field_type, interpolation="spline")``, next to escnn's own
``escnn.nn.GeometricTensor.transform``, and measures with all three how equivariant a
strictly :math:`C_8`-equivariant escnn network is on smooth inputs inside a disk.
Whatever error remains at 45° comes from resampling, in the action and in the network's
discretised filters, and it is the floor under any latent term of the soft loss for such
a group.

It runs in well under a minute on one CPU thread.
"""

# %%
# Smooth inputs inside a disk
# ---------------------------
# Resampling loses detail finer than a pixel, and a rotation by 45° moves the corners
# of a square image out of it. So the inputs here are random fields smoothed by a
# Gaussian of width :math:`\sigma` pixels and faded out beyond a radius well inside the
# grid.

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from escnn import gspaces
from escnn import nn as enn

from escnn_soft import equivariance_error, field_action

torch.manual_seed(0)
SIZE, RADIUS = 41, 13.0


def smooth_disk_inputs(batch: int, sigma: float) -> torch.Tensor:
    r"""``(batch, 1, SIZE, SIZE)`` random fields, smoothed by a Gaussian of width ``sigma``
    pixels, faded out beyond ``RADIUS``, scaled to a largest value of 1."""
    taps = torch.arange(-3 * int(np.ceil(sigma)), 3 * int(np.ceil(sigma)) + 1, dtype=torch.float32)
    kernel = torch.exp(-taps ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    x = torch.randn(batch, 1, SIZE, SIZE)
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, 1, -1), padding=(0, len(taps) // 2))
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, -1, 1), padding=(len(taps) // 2, 0))
    centre = (SIZE - 1) / 2
    rows, cols = torch.meshgrid(torch.arange(SIZE) - centre, torch.arange(SIZE) - centre, indexing="ij")
    x = x * torch.sigmoid(RADIUS - (rows ** 2 + cols ** 2).sqrt())
    return x / x.flatten(1).abs().amax(1)[:, None, None, None]


x = smooth_disk_inputs(16, sigma=2.0)

# %%
# Three ways to rotate by 45°
# ---------------------------
# The bilinear action resamples every channel at the rotated grid points with
# ``torch.nn.functional.grid_sample``, the whole batch in one call, each sample by its
# own element. The spline action interpolates with the cubic B-spline through the
# samples: it computes the spline's coefficients once per batch and evaluates the spline
# at the rotated grid points with the same ``grid_sample``, batched alike. escnn's
# ``transform`` resamples one tensor by one element with a quadratic spline. All three
# then act on the channels by the field's representation. For multiples of 90° all three
# are exact; at 45° they differ by how each interpolates between grid points, and linear
# interpolation blurs. The upper row shows the input rotated by each, the lower row what
# the two actions of escnn_soft differ from escnn's transform by, on a finer colour scale.

r8 = gspaces.rot2dOnR2(8)
image_type = enn.FieldType(r8, [r8.trivial_repr])
bilinear = field_action(image_type, interpolation="bilinear")
spline = field_action(image_type, interpolation="spline")
C8 = bilinear.group
g45 = 1                                        # element 1 of C8 rotates by 45°
by_escnn = enn.GeometricTensor(x, image_type).transform(C8[g45]).tensor
by_bilinear = bilinear(x, torch.full((len(x),), g45))
by_spline = spline(x, torch.full((len(x),), g45))

fig, axes = plt.subplots(2, 4, figsize=(11, 5.6), layout="constrained")
for ax, (title, image) in zip(axes[0], (("input", x[0, 0]), ("escnn transform, 45°", by_escnn[0, 0]),
                                        ("bilinear action, 45°", by_bilinear[0, 0]),
                                        ("spline action, 45°", by_spline[0, 0]))):
    shown = ax.imshow(image, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_title(title, fontsize=9)
fig.colorbar(shown, ax=axes[0], shrink=0.8)
for ax, (title, image) in zip(axes[1, 2:], (("bilinear − escnn", by_bilinear[0, 0] - by_escnn[0, 0]),
                                            ("spline − escnn", by_spline[0, 0] - by_escnn[0, 0]))):
    shown = ax.imshow(image, cmap="RdBu_r", vmin=-0.1, vmax=0.1)
    ax.set_title(title, fontsize=9)
fig.colorbar(shown, ax=axes[1], shrink=0.8)
for ax in axes.flat:
    ax.set_axis_off()
plt.show()
differences = {"bilinear": (by_bilinear - by_escnn).abs().max().item(),
               "spline": (by_spline - by_escnn).abs().max().item()}
print("largest difference from escnn's transform at 45°: "
      + ", ".join(f"{name} {value:.4f}" for name, value in differences.items())
      + " (inputs scaled to a largest value of 1)")
print(f"closest to escnn's transform: {min(differences, key=differences.get)}")

# %%
# A strictly equivariant network, measured three ways
# ---------------------------------------------------
# The network maps the image to 4 regular fields of :math:`C_8` with two escnn
# convolutions, so it is :math:`C_8`-equivariant by construction, up to the
# discretisation of its filters. :func:`~escnn_soft.testing.equivariance_error` measures
# it with the bilinear or the spline actions on its input and output types; the same
# measurement with escnn's ``transform`` on both sides is written out below. Each line
# gives the error at the 8 elements of :math:`C_8` in turn.

regular = enn.FieldType(r8, [r8.regular_repr] * 4)
network = enn.SequentialModule(enn.R2Conv(image_type, regular, kernel_size=5, padding=2), enn.ReLU(regular),
                               enn.R2Conv(regular, regular, kernel_size=5, padding=2)).eval()


def escnn_error(inputs: torch.Tensor, elements: Sequence[int] = range(C8.order)) -> np.ndarray:
    r"""Mean relative error :math:`\lVert f(g x) - g f(x) \rVert / \lVert f(x) \rVert` per
    element of C8, with ``GeometricTensor.transform`` as the action on both sides."""
    geometric = enn.GeometricTensor(inputs, image_type)
    errors = []
    with torch.no_grad():
        fx = network(geometric)
        norm = fx.tensor.flatten(1).norm(dim=1)
        for k in elements:
            difference = network(geometric.transform(C8[k])).tensor - fx.transform(C8[k]).tensor
            errors.append((difference.flatten(1).norm(dim=1) / norm).mean().item())
    return np.array(errors)


def action_error(interpolation: str, inputs: torch.Tensor,
                 elements: Sequence[int] = range(C8.order)) -> np.ndarray:
    r"""The same error with ``field_action(..., interpolation=interpolation)`` on both sides."""
    error = equivariance_error(network, inputs, field_action(image_type, interpolation=interpolation),
                               field_action(regular, interpolation=interpolation), elements=elements)
    return error.relative_mean.numpy()


errors = {"escnn transform": escnn_error(x), "bilinear field_action": action_error("bilinear", x),
          "spline field_action": action_error("spline", x)}
for name, values in errors.items():
    print(f"{name:22s}", " ".join(f"{v:.1e}" for v in values))

# %%
# The even elements, multiples of 90°, measure at float32 rounding with all three
# actions: there the two interpolating actions sample exactly at grid points and escnn's
# transform permutes pixels. The odd ones, the rotations by 45° + k·90°, measure a few
# percent. The lines below give each action's mean error at those four elements and its
# ratio to escnn's transform's; where an action's ratio is close to 1, it adds little to
# the error that escnn's own transform measures, and the rest is the network's.

odd = {name: values[1::2].mean() for name, values in errors.items()}
for name, value in odd.items():
    print(f"at 45° + k·90°: {name:22s} {value:.4f}, {value / odd['escnn transform']:.2f} × escnn's transform")
print(f"closest to escnn's transform at 45°: "
      f"{min(list(odd)[1:], key=lambda name: abs(odd[name] - odd['escnn transform']))}")

names = [f"{k}: {45 * k}°" for k in range(C8.order)]
positions = np.arange(C8.order)
colours = ("tab:green", "tab:blue", "tab:orange")
fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
for offset, ((name, values), colour) in enumerate(zip(errors.items(), colours)):
    ax.bar(positions + (offset - 1) * 0.27, np.maximum(values, 1e-9), 0.27, label=name, color=colour)
ax.set_yscale("log")
ax.set_ylim(1e-9, 1)
ax.set_xticks(positions, names)
ax.set_ylabel("relative equivariance error")
ax.set_title(f"a strictly C8-equivariant escnn network on smooth inputs (σ = 2 px), per element of C8", fontsize=10)
ax.legend(fontsize=8)
plt.show()

# %%
# How smooth is smooth enough
# ---------------------------
# The error at 45° falls as the input gets smoother, measured any of the three ways:
# resampling loses what varies within a pixel. On raw images with sharp edges, such as
# MNIST digits, expect more. The table gives the error at 45° for each width, and each
# interpolating action's ratio to escnn's transform's.

widths = [1.0, 1.5, 2.0, 3.0, 4.0]
at_45 = {name: [] for name in errors}
for sigma in widths:
    inputs = smooth_disk_inputs(16, sigma)
    at_45["escnn transform"].append(escnn_error(inputs, [g45])[0])
    at_45["bilinear field_action"].append(action_error("bilinear", inputs, [g45])[0])
    at_45["spline field_action"].append(action_error("spline", inputs, [g45])[0])
print(f"{'σ (px)':8s} {'escnn':>8s} {'bilinear':>8s} {'spline':>8s}  bilinear/escnn  spline/escnn")
for k, sigma in enumerate(widths):
    reference, linear, cubic = (at_45[name][k] for name in at_45)
    print(f"σ = {sigma:<4.1f} {reference:8.4f} {linear:8.4f} {cubic:8.4f}  {linear / reference:14.2f}  "
          f"{cubic / reference:12.2f}")
fig, ax = plt.subplots(figsize=(5.5, 3.4), layout="constrained")
for (name, values), colour in zip(at_45.items(), colours):
    ax.plot(widths, values, "o-", label=name, color=colour)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xticks(widths, [f"{w:g}" for w in widths])
ax.set_xlabel("smoothing width σ of the input (pixels)")
ax.set_ylabel("relative error at 45°")
ax.legend(fontsize=8)
plt.show()

# %%
# What it means for the soft loss
# -------------------------------
# :class:`~escnn_soft.loss.SoftEquivarianceLoss` takes an interpolating action,
# ``"spline"`` or ``"bilinear"``, as ``in_action`` for :math:`C_8` or :math:`D_8`; the
# latent action stays an exact permutation (:func:`~escnn_soft.latent.regular_latent`).
# Even an exactly equivariant encoder then leaves a latent term of the size measured
# above at the odd elements, with the action you use, so read a soft model's latent
# error for such a group against that floor, measured on your own inputs with the same
# action as here, not against zero. The ratios above show how much of that floor the
# action itself adds compared with escnn's transform.
#
# What to read next
# -----------------
# * **Measuring equivariance** (page 3): the same measurement for groups that map the
#   grid onto itself, where strict networks measure at float rounding.
# * :func:`escnn_soft.actions.field_action`: the exact and interpolating actions, and
#   their conventions.
