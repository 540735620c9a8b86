r"""Learn a latent action and decompose it: the paper's Section 4 in a few lines.

A linear autoencoder on vectors of :math:`\mathbb{R}^8` carrying two copies of the
regular representation of :math:`C_4` learns, together with its encoder and decoder, a
latent action :math:`\rho_Z` (:class:`~escnn_soft.learned.LearnedRepresentation`, one
matrix per generator) under the objective of
:func:`~escnn_soft.learned.study_objective` (reconstruction, shifted reconstruction,
input–latent equivariance and algebra loss). :func:`~escnn_soft.learned.decompose` then
says which representation of :math:`C_4` was learned, in escnn's irreps.

The paper's three exploration experiments (D3 on MNIST, C2 swapping typefaces, C4 on
MNIST or CIFAR-10) are tasks of the comparison harness,
:mod:`escnn_soft.experiments.tasks.exploration`, trained by its one runner like any task::

    escnn-soft compare --task d3-autoencoder --models learned,identity-init
    escnn-soft compare --task c4-classifier --data cifar10 --data-dir path/to/folder

``scripts/exploration_runs.py`` trains the committed runs (``results/exploration``).

Run:  python examples/exploration.py [--steps 400] [--dim 8]
"""

import argparse

import torch
from escnn.group import cyclic_group
from torch import nn

from escnn_soft import regular_latent
from escnn_soft.learned import LearnedRepresentation, decompose, study_objective


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400, help="Adam steps (default 400)")
    parser.add_argument("--dim", type=int, default=8, help="latent dimension (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    G = cyclic_group(4)
    act = regular_latent(G, 8)                     # C4 on R^8: two copies of its regular representation
    rho = LearnedRepresentation(G, args.dim, seed=args.seed)
    objective = study_objective(nn.Linear(8, args.dim), nn.Linear(args.dim, 8), in_action=act, out_action=act,
                                representation=rho, task_loss=nn.MSELoss(), lambda_zy=1.0, lambda_xz=1.0,
                                lambda_w=1.0)
    x = torch.randn(512, 8)
    print(f"before: {decompose(rho)!r}")
    optimizer = torch.optim.Adam(objective.parameters(), lr=1e-2)
    for step in range(1, args.steps + 1):
        batch = x[torch.randint(len(x), (64,))]
        out = objective(batch, batch)                # an autoencoder: the target is the input
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()
        if step % max(1, args.steps // 4) == 0:
            print(f"step {step}: " + ", ".join(f"{k} {v:.3g}" for k, v in out.terms().items()))
    learned = decompose(rho)
    print(f"after:  {learned!r}")
    return learned


if __name__ == "__main__":
    main()
