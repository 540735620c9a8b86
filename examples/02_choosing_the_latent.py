r"""
Choosing the latent
===================

The soft loss fixes how the group acts on the encoder's output, :math:`\rho_Z`. This page
shows the three kinds of latent escnn_soft acts on, and when each one fits:

* a vector ``(B, dim)``: copies of the regular representation and trivial padding
  (:func:`~escnn_soft.latent.regular_latent`), drawn below as permutation matrices for
  :math:`C_4` and :math:`D_4`;
* a feature map ``(B, C, H, W)``: the action of an escnn ``FieldType``
  (:func:`~escnn_soft.actions.field_action`), which moves the grid as well as the channels;
* an input made of two objects, each with its own symmetry: a product group acting on
  regions (:func:`~escnn_soft.actions.product_action`), here two digits side by side.

Nothing is trained; the page runs in a second or two.
"""

# %%
# The regular representation, as permutation matrices
# ----------------------------------------------------
# The regular representation of a finite group :math:`G` permutes a basis indexed by the
# group, :math:`\rho_\text{reg}(g) e_h = e_{gh}`: each :math:`\rho_\text{reg}(g)` is a
# :math:`|G| \times |G|` permutation matrix. ``regular_latent(G, |G|)`` is one copy;
# :meth:`~escnn_soft.latent.RegularLatent.matrix` draws its matrices, and the loss applies
# them as one gather, never as a matrix product. They are escnn's own
# ``G.regular_representation``, up to the rounding of escnn's floating point matrices.

import matplotlib.pyplot as plt
import numpy as np
import torch
from escnn import gspaces
from escnn import nn as enn
from escnn.group import Group, cyclic_group, dihedral_group, direct_product

from escnn_soft import equivariance_error, field_action, product_action, regular_latent
from escnn_soft.experiments.datasets import load_mnist


def draw_regular(G: Group, rows: int) -> None:
    one_copy = regular_latent(G, G.order())
    T = one_copy.group
    cols = G.order() // rows
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.9 * rows), layout="constrained")
    difference = 0.0
    for k, ax in enumerate(axes.flat):
        M = one_copy.matrix(k)
        difference = max(difference, np.abs(M.numpy() - G.regular_representation(T[k])).max())
        ax.imshow(M, cmap="Greys", vmin=0, vmax=1)
        ax.set_title(f"{k}: {T[k]!r}", fontsize=8)
        ax.set_xticks(range(G.order()), labels=[])
        ax.set_yticks(range(G.order()), labels=[])
        ax.grid(color="0.85", linewidth=0.4)
    fig.suptitle(f"regular representation of {G.name}: one permutation matrix per element (index: escnn element)",
                 fontsize=9)
    print(f"{G.name}: largest difference from escnn's regular_representation {difference:.1e}")


draw_regular(cyclic_group(4), rows=1)
plt.show()

# %%
# :math:`D_4`, the rotations and mirror flips of a square, has eight elements: its
# matrices are :math:`8 \times 8`. The first four (``+``) are the rotations, the last
# four (``-``) rotations after a flip.

draw_regular(dihedral_group(4), rows=2)
plt.show()

# %%
# A latent of any size
# --------------------
# A latent of dimension :math:`d` holds :math:`m = \lfloor d / |G| \rfloor` regular copies
# and :math:`r = d - m|G|` trivial coordinates, which no element moves. The padding is
# never silent: the ``repr`` shows it. Acting on a batch takes one element index per
# sample.

C4 = cyclic_group(4)
for dim in (32, 66):
    print(regular_latent(C4, dim))
print(regular_latent(C4, 66, multiplicity=4))

z = torch.arange(10.0).repeat(2, 1)            # two samples of a 10-dim latent: 2 copies of C4, 2 trivial
moved = regular_latent(C4, 10)(z, torch.tensor([0, 1]))
print("identity :", moved[0].tolist())
print("90°      :", moved[1].tolist())

# %%
# Use a vector latent where the encoder ends in a vector: after global pooling or a
# linear layer (page 1's CNN). The dimension is yours to choose; at least one regular
# copy is needed, and more copies give the encoder more room.
#
# A feature map as the latent
# ---------------------------
# If the latent is a feature map ``(B, C, H, W)``, rotating the input also rotates the
# map: an equivariant encoder's latent moves on its grid, not only across its channels.
# Its action is that of an escnn ``FieldType``, here 8 regular fields of
# :math:`C_4` on the plane, :math:`8 \times 4 = 32` channels. An escnn convolution from
# the image to those fields is exactly equivariant, and
# :func:`~escnn_soft.testing.equivariance_error` confirms it with the field action; a
# :class:`~escnn_soft.latent.RegularLatent` on the same 32 channels permutes channels
# but leaves the grid still, and calls the same convolution far from equivariant.
# (:class:`~escnn_soft.loss.SoftEquivarianceLoss` warns when it meets that mistake.)

torch.manual_seed(0)
r2 = gspaces.rot2dOnR2(4)
image_type = enn.FieldType(r2, [r2.trivial_repr])
latent_type = enn.FieldType(r2, [r2.regular_repr] * 8)
conv = enn.R2Conv(image_type, latent_type, kernel_size=5, padding=2)
encoder = torch.nn.Sequential(conv.export())     # a plain torch convolution with escnn's weights

digits = torch.as_tensor(load_mnist().x_test[:16], dtype=torch.float32)[:, None] / 255
rotate = field_action(image_type)
feature_action = field_action(latent_type)
with_grid = equivariance_error(encoder, digits, rotate, feature_action)
channels_only = equivariance_error(encoder, digits, rotate, regular_latent(r2.fibergroup, 32))
print(f"relative error with the field action:           {with_grid.relative_max.max():.1e}")
print(f"relative error permuting channels alone:        {channels_only.relative_mean[1:].mean():.2f}")

# %%
# One regular field is four channels, one per element of :math:`C_4`. Rotating the digit
# by 90° rotates each channel's map and shifts the four channels cyclically: channel
# :math:`k` of the rotated digit's features is channel :math:`k - 1` of the original's,
# rotated.

pair_of_views = torch.cat([digits[:1], rotate(digits[:1], torch.tensor([1]))])    # the digit, and rotated by 90°
with torch.no_grad():
    features = encoder(pair_of_views)
fig, axes = plt.subplots(2, 5, figsize=(8.5, 3.6), layout="constrained")
for row, label in enumerate(("digit", "rotated 90°")):
    axes[row, 0].imshow(pair_of_views[row, 0], cmap="gray")
    axes[row, 0].set_title(label, fontsize=9)
    for c in range(4):
        axes[row, c + 1].imshow(features[row, c], cmap="RdBu_r")
        axes[row, c + 1].set_title(f"channel {c}", fontsize=9)
for ax in axes.flat:
    ax.set_axis_off()
fig.suptitle("the first regular field of an escnn convolution's output", fontsize=10)
plt.show()

# %%
# Two objects, two rotations: a product group
# -------------------------------------------
# Double-digit MNIST puts two digits side by side; each may be rotated on its own. The
# symmetry is the direct product :math:`C_4 \times C_4`, 16 elements
# :math:`(g_1, g_2)`, acting on two regions of the canvas, each with the action of its
# factor. Its elements are indexed as escnn lists ``direct_product(C4, C4).elements``;
# ``pair_elements`` finds the index of a pair.

pair_group = direct_product(C4, C4)
one_digit = field_action(enn.FieldType(r2, [r2.trivial_repr]))
left, right = (slice(14, 42), slice(0, 28)), (slice(14, 42), slice(28, 56))
two_digits = product_action(pair_group, [one_digit, one_digit], [left, right])
print(two_digits)

canvas = torch.zeros(1, 1, 56, 56)
canvas[(0, 0) + left], canvas[(0, 0) + right] = digits[1, 0], digits[2, 0]
T = two_digits.group
shown = [(0, 0), (1, 0), (0, 1), (1, 3), (2, 2)]
fig, axes = plt.subplots(1, len(shown), figsize=(2.0 * len(shown), 2.3), layout="constrained")
for ax, (a, b) in zip(axes, shown):
    g = T.index(pair_group.pair_elements(C4.elements[a], C4.elements[b]))
    ax.imshow(two_digits(canvas, torch.tensor([g]))[0, 0], cmap="gray")
    ax.set_title(f"({a}·90°, {b}·90°): index {g}", fontsize=8)
    ax.set_axis_off()
plt.show()

# %%
# The latent of a model of two-digit images carries the regular representation of the
# product group. The paper's DDMNIST CNN has a 66-dimensional latent: 4 copies of the
# 16-dimensional regular representation of :math:`C_4 \times C_4` and 2 trivial
# coordinates. The input action and the latent must act with the same group table, which
# the loss checks.

ddmnist_latent = regular_latent(pair_group, 66)
print(ddmnist_latent, "| same group as the input action:", ddmnist_latent.group is two_digits.group)

# %%
# ``escnn-soft compare --task ddmnist`` trains that CNN with this latent next to strict
# escnn models (:mod:`escnn_soft.experiments.tasks.ddmnist`).
#
# What to read next
# -----------------
# * **Measuring equivariance** (page 3): the error of a model per group element, as
#   used above, in full.
# * **Learned actions and their characters** (page 5): learning :math:`\rho_Z` instead
#   of choosing it, and which representation training finds.
