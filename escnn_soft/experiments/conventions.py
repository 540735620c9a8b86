r"""What the datasets, models and tasks of the comparisons agree on, defined once.

* :data:`DDMNIST_GROUPS` — the groups of the MNIST tasks, as escnn gspace factories;
* :data:`DIGIT_REGIONS` — where the two digits of a double-digit MNIST image lie;
* :data:`CNN_LATENTS` and :func:`cut_at_latent` — where a plain CNN is cut into encoder and
  head, before or after the BatchNorm1d and ELU in front of its classifier.

Example:
    >>> sorted(DDMNIST_GROUPS), DDMNIST_GROUPS["C4"]().fibergroup.order()
    (['C4', 'D1', 'D4'], 4)
    >>> encoder, head = cut_at_latent(OrderedDict(flatten=torch.nn.Flatten()), 3, 2, "post-bn")
    >>> [name for name, _ in encoder.named_children()], head
    (['flatten', 'norm', 'act'], Linear(in_features=3, out_features=2, bias=True))
"""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import partial
from typing import Callable, Dict, Tuple

import torch
from escnn import gspaces
from escnn.gspaces import GSpace

__all__ = ["DDMNIST_GROUPS", "DIGIT_REGIONS", "CNN_LATENTS", "cut_at_latent"]

DDMNIST_GROUPS: Dict[str, Callable[[], GSpace]] = {
    "C4": partial(gspaces.rot2dOnR2, N=4),
    "D1": partial(gspaces.flipRot2dOnR2, N=1, axis=math.pi / 2),
    "D4": partial(gspaces.flipRot2dOnR2, N=4, axis=math.pi / 2),
}
r"""Group name :math:`\to` escnn gspace factory: the one definition of the groups of the
MNIST tasks, which their datasets, models (:func:`~escnn_soft.experiments.models.ddmnist_gspace`)
and tasks derive from. The axis :math:`\pi/2` (escnn's default) makes the flip of D1
and D4's flip ``(-, 0)`` the left–right mirror ``torch.flip(x, dims=[-1])``."""

DIGIT_REGIONS: Tuple[Tuple[slice, slice], Tuple[slice, slice]] = (
    (slice(14, 42), slice(0, 28)),
    (slice(14, 42), slice(28, 56)),
)
r"""(rows, columns) of the left and right digit on the :math:`56 \times 56` canvas."""

CNN_LATENTS = ("pre-bn", "post-bn")
r"""Where a plain CNN is cut into encoder and head (:func:`cut_at_latent`): before the
BatchNorm1d and ELU in front of the classifier (``"pre-bn"``) or after them (``"post-bn"``)."""


def cut_at_latent(layers: "OrderedDict[str, torch.nn.Module]", latent_dim: int, num_classes: int,
                  latent: str) -> Tuple[torch.nn.Sequential, torch.nn.Module]:
    r"""The encoder and head of a CNN whose ``layers`` end with a flat latent of width ``latent_dim``.

    The latent is followed by ``norm`` (BatchNorm1d), ``act`` (ELU) and ``fc`` (Linear to
    ``num_classes``). For ``latent="pre-bn"`` the encoder is ``layers`` and the head
    ``norm``, ``act``, ``fc``; for ``"post-bn"`` the encoder ends with ``norm`` and ``act``
    and the head is the Linear alone. The new modules are built in the order ``norm``,
    ``fc`` after ``layers``, whatever the cut, so both cuts draw the same initial weights.

    Raises:
        ValueError: for a ``latent`` not in :data:`CNN_LATENTS`.
    """
    if latent not in CNN_LATENTS:
        raise ValueError(f"unknown latent {latent!r}; valid latents: {', '.join(CNN_LATENTS)}")
    normalise = OrderedDict([("norm", torch.nn.BatchNorm1d(latent_dim)), ("act", torch.nn.ELU())])
    classifier = torch.nn.Linear(latent_dim, num_classes)
    if latent == "pre-bn":
        return torch.nn.Sequential(layers), torch.nn.Sequential(OrderedDict([*normalise.items(), ("fc", classifier)]))
    return torch.nn.Sequential(OrderedDict([*layers.items(), *normalise.items()])), classifier
