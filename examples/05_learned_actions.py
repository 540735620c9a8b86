r"""
Learned actions and their characters
====================================

The soft loss fixes the latent action :math:`\rho_Z` to copies of the regular
representation (page 2). What if it were learned instead? This page learns it, as the
paper's Section 4 does: a :class:`~escnn_soft.learned.representation.LearnedRepresentation` holds one
matrix per generator of the group, trained with an encoder and a decoder under the
soft loss plus an *algebra loss* that pushes the matrices towards a representation.
:func:`~escnn_soft.learned.decompose.decompose` then reads what was learned through characters, in
escnn's irreps, and says whether it is a representation at all. The character table,
the multiplicities over seeds and the eigenvalues over training show the answer.

The setting is the smallest one with something to learn: a linear autoencoder on
:math:`\mathbb{R}^8`, where :math:`C_4` acts by two copies of its regular representation,
with an 8-dimensional latent; three runs of 400 steps take seconds. The paper's three
experiments (D3 on MNIST, C2 swapping typefaces, C4 classifying MNIST or CIFAR-10) are
tasks of ``escnn-soft compare``, e.g. ``escnn-soft compare --task d3-autoencoder --models
learned,identity-init``.
"""

# %%
# A learned action
# ----------------
# ``LearnedRepresentation(G, dim)`` starts from a random rotation matrix for each of
# escnn's generators of :math:`G` (one for :math:`C_4`, the rotation by 90°) and builds
# :math:`\rho(g)` for every element as the product along a shortest word in the
# generators. Nothing makes it a representation yet: :math:`\rho(s)^4` is not the
# identity, and ``decompose`` says so.

import argparse
import tempfile
from pathlib import Path
from typing import Tuple

import matplotlib.pyplot as plt
import numpy as np
import torch
from escnn.group import cyclic_group
from torch import nn

from escnn_soft import regular_latent
from escnn_soft.learned import LearnedRepresentation, decompose, multiplicity_table, plot_eigenvalues, study_objective

parser = argparse.ArgumentParser(description="Learn a latent action of C4 and decompose it into irreps.")
parser.add_argument("--steps", type=int, default=400, help="Adam steps per run")
parser.add_argument("--dim", type=int, default=8, help="latent dimension")
parser.add_argument("--runs", type=int, default=3, help="runs, with seeds 0, 1, ...")
args = parser.parse_args()

G = cyclic_group(4)
data_action = regular_latent(G, 8)           # C4 on the inputs: two regular copies, 8 coordinates
rho = LearnedRepresentation(G, args.dim, seed=0)
print(rho)
print(decompose(rho))

# %%
# Training
# --------
# :func:`~escnn_soft.learned.objective.study_objective` is the soft loss with the learned
# :math:`\rho_Z` as latent, plus :math:`\lambda_W` times the algebra loss: the encoder
# must map rotated inputs to :math:`\rho_Z(g)`-moved latents, the decoder must undo
# both, and the matrices must multiply like the group. Every few steps we keep the
# eigenvalues of :math:`\rho(s)`, the generator's matrix; those of a representation are
# 4th roots of unity, since :math:`\rho(s)^4 = I`.

generator = rho.group.generators[0]          # the element index of escnn's generator
log_steps = np.unique(np.geomspace(1, args.steps, 40).astype(int))


def learn(seed: int) -> Tuple[LearnedRepresentation, np.ndarray]:
    torch.manual_seed(seed)
    representation = LearnedRepresentation(G, args.dim, seed=seed)
    objective = study_objective(nn.Linear(8, args.dim), nn.Linear(args.dim, 8), in_action=data_action,
                                out_action=data_action, representation=representation, task_loss=nn.MSELoss(),
                                lambda_zy=1.0, lambda_xz=1.0, lambda_w=1.0)
    x = torch.randn(512, 8)
    optimizer = torch.optim.Adam(objective.parameters(), lr=1e-2)
    eigenvalues = [torch.linalg.eigvals(representation.matrices()[generator].detach()).numpy()]
    for step in range(1, args.steps + 1):
        batch = x[torch.randint(len(x), (64,))]
        out = objective(batch, batch)        # an autoencoder: the target is the input
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()
        if step in log_steps:
            eigenvalues.append(torch.linalg.eigvals(representation.matrices()[generator].detach()).numpy())
    print(f"seed {seed}: after {args.steps} steps, reconstruction {out.soft.task.item():.3g}, "
          f"algebra loss {out.algebra.item():.2g}")
    return representation, np.stack(eigenvalues)


runs = [learn(seed) for seed in range(args.runs)]
decompositions = [decompose(representation) for representation, _ in runs]
for seed, d in enumerate(decompositions):
    print(f"seed {seed}: {d!r}")

# %%
# The character table
# -------------------
# A representation is determined, up to a change of basis, by its character
# :math:`\chi_\rho(g) = \operatorname{tr} \rho(g)`, and the multiplicity of each irrep
# :math:`\psi` is an inner product of characters,
# :math:`n_\psi = \langle \chi_\rho, \chi_\psi \rangle / \langle \chi_\psi, \chi_\psi \rangle`
# with :math:`\langle \chi, \chi' \rangle = \frac{1}{|G|} \sum_g \chi(g) \chi'(g)`.
# The irreps and their characters are escnn's. Two regular copies have character
# :math:`(8, 0, 0, 0)`: every element but the identity moves every basis vector.

T = rho.group
header = "".join(f"{repr(T[k]):>11}" for k in range(T.order))
print(f"{'':22}{header}")
for psi in G.irreps():
    print(f"{psi.name + f' (dim {psi.size})':22}" + "".join(f"{psi.character(T[k]):11.2f}" for k in range(T.order)))
print(f"{'2 × regular':22}" + "".join(f"{np.trace(data_action.representation(T[k])):11.2f}" for k in range(T.order)))
for seed, (representation, _) in enumerate(runs):
    characters = representation.matrices().detach().diagonal(dim1=1, dim2=2).sum(1)
    print(f"{f'learned, seed {seed}':22}" + "".join(f"{c:11.2f}" for c in characters.tolist()))

# %%
# ``decompose`` prints the multiplicities with the verdict, and for an abelian group the
# eigenvalues of :math:`\rho(s)` counted at the roots of unity :math:`e^{2\pi i k / 4}`:

print(decompositions[0])

# %%
# Over the seeds, :func:`~escnn_soft.learned.reports.multiplicity_table` tabulates the
# multiplicities with their mean and standard deviation (markdown, as the harness writes
# it for the exploration tasks), here with the regular representation as reference:

regular_multiplicities = decompose(data_action.representation).multiplicities
print(multiplicity_table(decompositions, labels=[f"seed {s}" for s in range(args.runs)],
                         reference=regular_multiplicities, reference_label="2 × regular"))

# %%
# The eigenvalues over training
# -----------------------------
# :func:`~escnn_soft.learned.reports.plot_eigenvalues` draws the eigenvalues of
# :math:`\rho(s)` at every kept step on the unit circle, with the 4th roots of unity as
# red crosses: a representation must end on them. It writes a PNG file, shown here.

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "eigenvalues.png"
    plot_eigenvalues([trajectory for _, trajectory in runs], path, order=T.element_order(generator),
                     titles=[f"seed {s}: " + (d.summary if d.is_representation else "not a representation")
                             for s, d in enumerate(decompositions)],
                     steps=[np.concatenate([[0], log_steps])] * args.runs,
                     suptitle=f"eigenvalues of the learned ρ({T[generator]!r}) over {args.steps} steps")
    image = plt.imread(path)
fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
ax.imshow(image)
ax.set_axis_off()
plt.show()

# %%
# Reading it
# ----------
# Which representation training finds depends on the seed. A run may end on the
# regular one, the action of the inputs, with eigenvalues spread evenly over the roots
# of unity; another may settle near a different sum of irreps, its eigenvalues bunched
# on some roots and missing from others, its reconstruction worse, and its matrices
# still a few percent from multiplying like the group, which ``decompose`` reports as
# the homomorphism defect above its tolerance. A fixed regular latent, as the soft loss
# uses, needs no parameters and cannot settle on another representation.
#
# What to read next
# -----------------
# * **Choosing the latent** (page 2): the fixed latents the soft loss uses instead.
# * The API of the study: :mod:`escnn_soft.learned.representation`,
#   :mod:`escnn_soft.learned.objective`, :mod:`escnn_soft.learned.decompose` and
#   :mod:`escnn_soft.learned.reports`; :mod:`escnn_soft.experiments.tasks.exploration` for
#   the paper's three experiments.
