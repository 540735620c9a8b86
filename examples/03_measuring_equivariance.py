r"""
Measuring equivariance
======================

How equivariant is a network? :mod:`escnn_soft.testing` keeps the measurement apart from
the assertion: :func:`~escnn_soft.testing.equivariance_error` returns the error for every
group element, and :func:`~escnn_soft.testing.assert_equivariant` passes or names the worst
element. This page measures both on two networks for the eight rotations and flips of
:math:`D_4`: a steerable CNN built with escnn, strictly invariant, and a plain CNN of the
same shape. The figure is the error per group element.

Both networks are untrained: equivariance is a property of the architecture here, and the
page runs in a few seconds.
"""

# %%
# Two networks with invariant outputs
# -----------------------------------
# The strict network is an escnn ``SequentialModule``: convolutions between regular
# fields of :math:`D_4`, pooling, then group pooling and global average pooling, which
# leave 16 invariant features. The plain CNN has the same layers in plain torch and also
# ends in 16 features.

import matplotlib.pyplot as plt
import numpy as np
import torch
from escnn import gspaces
from escnn import nn as enn
from torch import nn

from escnn_soft import assert_equivariant, equivariance_error, field_action, trivial_action
from escnn_soft.experiments.datasets import load_mnist

torch.manual_seed(0)
d4 = gspaces.flipRot2dOnR2(4)
image = enn.FieldType(d4, [d4.trivial_repr])
regular = enn.FieldType(d4, [d4.regular_repr] * 4)      # 4 regular fields: 32 channels
invariant = enn.FieldType(d4, [d4.trivial_repr] * 4)
strict = enn.SequentialModule(
    enn.R2Conv(image, regular, kernel_size=5, padding=2), enn.ReLU(regular), enn.PointwiseMaxPool2D(regular, 2),
    enn.R2Conv(regular, regular, kernel_size=3, padding=1), enn.ReLU(regular),
    enn.GroupPooling(regular), enn.PointwiseAdaptiveAvgPool2D(invariant, 1),
)
plain = nn.Sequential(
    nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(),
)
x = torch.as_tensor(load_mnist().x_test[:64], dtype=torch.float32)[:, None] / 255

# %%
# The error per element
# ---------------------
# For an escnn module the actions come from its ``in_type`` and ``out_type``: plain
# tensors are wrapped and unwrapped. A plain network needs the action on its input,
# here :func:`~escnn_soft.actions.field_action` of the image's field type; its output
# action defaults to invariance. Both are measured in eval mode and left as they were.
# Printed, an :class:`~escnn_soft.testing.EquivarianceError` is a table with one row per
# element (its index and escnn's name).

strict_error = equivariance_error(strict, x)
print(strict_error)
plain_error = equivariance_error(plain, x, field_action(image))
print(plain_error)

# %%
# The strictly equivariant network measures at float32 rounding, about :math:`10^{-7}`;
# the plain one, whose features are averaged over the whole image, is off by a few
# percent for every element but the identity, five orders of magnitude more. Its errors
# differ between elements too: here it is closest to invariant under the rotation by
# 180°.

T = strict_error.group
names = [f"{k}\n{T[k]!r}" for k in strict_error.elements]
positions = np.arange(len(names))
fig, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
for offset, (label, error, colour) in enumerate((("plain CNN", plain_error, "tab:orange"),
                                                 ("escnn (strict)", strict_error, "tab:blue"))):
    mean, top = error.relative_mean.numpy(), error.relative_max.numpy()
    bars = ax.bar(positions + (offset - 0.5) * 0.38, np.maximum(mean, 1e-9), 0.38, label=f"{label}: mean",
                  color=colour)
    ax.scatter(positions + (offset - 0.5) * 0.38, np.maximum(top, 1e-9), marker="_", s=160, color="black",
               zorder=3, label="max over the batch" if offset else None)
ax.axhline(1e-4, color="0.4", linestyle="--", linewidth=1)
ax.text(-0.45, 1.4e-4, "rtol of assert_equivariant in float32", fontsize=8, color="0.3")
ax.set_yscale("log")
ax.set_ylim(1e-9, 30)
ax.set_xticks(positions, names, fontsize=8)
ax.set_ylabel("relative error  |f(gx) − f(x)| / |f(x)|")
ax.set_title(f"invariance under {T.name} of two untrained networks, on {len(x)} MNIST digits", fontsize=10)
ax.legend(fontsize=8, loc="upper center", ncols=3)
plt.show()

# %%
# Asserting it
# ------------
# :func:`~escnn_soft.testing.assert_equivariant` measures the same way and checks
# :math:`\lVert f(\rho_\text{in}(g) x_b) - \rho_\text{out}(g) f(x_b) \rVert \leq
# \mathrm{atol} + \mathrm{rtol} \lVert f(x_b) \rVert` for every element and sample, with
# tolerances chosen by the output's dtype (``rtol = 1e-4`` in float32). Strict models
# belong in your tests this way; soft ones are judged by how small the error gets.

assert_equivariant(strict, x)
print("the escnn network passes")
try:
    assert_equivariant(plain, x, field_action(image))
except AssertionError as failure:
    print(f"the plain CNN fails: {failure}")

# %%
# The same functions take any callable and any pair of actions: an escnn network
# exported to plain torch (``.export()``), measured with explicit actions, is as
# equivariant as before; ``elements=`` tests a subset, e.g. the four rotations.

exported = strict.export()
rotations = equivariance_error(exported, x, field_action(image), trivial_action(T), elements=[0, 1, 2, 3])
print(f"exported, rotations only: largest relative error {rotations.relative_max.max():.1e}")

# %%
# What to read next
# -----------------
# * **Soft equivariance on your own model** (page 1): the same error on a latent, epoch by
#   epoch, as the soft loss lowers it.
# * **Groups off the grid** (page 6): what these numbers become when the group does not
#   map the pixel grid onto itself.
