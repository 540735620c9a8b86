r"""Learning the latent action: the objective of the paper's Section 4.

Before fixing :math:`\rho_Z` to copies of the regular representation, the paper lets the
network *learn* it. :math:`\rho_Z` is a :class:`~escnn_soft.learned.LearnedRepresentation`
(one matrix per generator) and the objective is

.. math::
    \mathcal{L} = \ell\big(D(E(x)),\, y\big)
    + \lambda_{ZY}\, \ell\big(D(\rho_Z(g) E(x)),\, \rho_Y(g) y\big)
    + \lambda_{XZ}\, \mathrm{MSE}\big(E(\rho_X(g) x),\, \rho_Z(g) E(x)\big)
    + \lambda_W\, \mathcal{L}_\text{alg}(\rho_Z),

the soft-equivariance loss (:class:`~escnn_soft.loss.SoftEquivarianceLoss`, with the
learned :math:`\rho_Z` as its latent, ``shifted_weight`` :math:`=\lambda_{ZY}` and
``lam`` :math:`=\lambda_{XZ}`) plus the algebra loss
(:meth:`~escnn_soft.learned.LearnedRepresentation.algebra_loss`), which vanishes exactly
when :math:`\rho_Z` is a representation. After training,
:func:`~escnn_soft.learned.decompose` says which representation was learned.

For an autoencoder the output is the reconstruction: ``y = x`` and
:math:`\rho_Y = \rho_X`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import nn

from ..actions import ActionLike
from ..loss import SoftEquivarianceLoss, SoftLoss
from .representation import LearnedRepresentation

__all__ = ["LOSS_TERMS", "StudyLoss", "StudyObjective", "study_objective"]

LOSS_TERMS: Tuple[str, ...] = ("total", "task", "shifted", "equivariance", "algebra")




@dataclass
class StudyLoss:
    r"""The terms of one evaluation of :class:`StudyObjective`.

    Attributes:
        total: :math:`\text{soft.total} + \lambda_W \mathcal{L}_\text{alg}`, the loss to minimise.
        soft: the :class:`~escnn_soft.loss.SoftLoss` of the soft-equivariance part
            (task, shifted and equivariance terms, the output, the latent, the elements used).
        algebra: :math:`\mathcal{L}_\text{alg}(\rho_Z)`.
    """

    total: torch.Tensor
    soft: SoftLoss
    algebra: torch.Tensor

    def terms(self) -> Dict[str, float]:
        r"""The scalar terms as floats: ``total``, ``task``, ``shifted``, ``equivariance``, ``algebra``."""
        return {"total": float(self.total), "task": float(self.soft.task), "shifted": float(self.soft.shifted),
                "equivariance": float(self.soft.equivariance), "algebra": float(self.algebra)}


class StudyObjective(nn.Module):
    r"""The soft-equivariance loss with a *learned* latent action, plus its algebra loss.

    Holds a :class:`~escnn_soft.loss.SoftEquivarianceLoss` (attribute :attr:`soft`) whose
    latent is the :class:`~escnn_soft.learned.LearnedRepresentation`, so
    :meth:`parameters` yields the encoder's, the head's and the generator matrices of
    :math:`\rho_Z`: one optimiser trains all three. ``objective(x, y)`` returns a
    :class:`StudyLoss` (see the module documentation for the formula).

    Args:
        encoder (nn.Module): :math:`E`, into the latent of dimension ``representation.size``.
        head (nn.Module): :math:`D`, the decoder or classifier head.
        in_action: :math:`\rho_X`, an action on inputs (its group must be the representation's).
        representation (LearnedRepresentation): the learned :math:`\rho_Z`.
        task_loss: :math:`\ell(\text{output}, \text{target})`.
        out_action: :math:`\rho_Y`; ``None`` for invariant targets (class labels). For an
            autoencoder pass the input action and call ``objective(x, x)``.
        lambda_zy (float): :math:`\lambda_{ZY} \geq 0`, the weight of the shifted task term.
        lambda_xz (float): :math:`\lambda_{XZ} \geq 0`, the weight of the input–latent MSE.
        lambda_w (float): :math:`\lambda_W \geq 0`, the weight of the algebra loss.
        inverse (float): the ``inverse`` weight passed to ``algebra_loss``.
        orthogonality (float): the ``orthogonality`` weight passed to ``algebra_loss``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from escnn.group import cyclic_group
        >>> from escnn_soft import regular_latent
        >>> from escnn_soft.learned import LearnedRepresentation
        >>> G = cyclic_group(2)
        >>> swap = regular_latent(G, 2)          # C2 swapping the two halves of a pair
        >>> objective = study_objective(nn.Sequential(nn.Flatten(1), nn.LazyLinear(4)), nn.Linear(4, 3),
        ...     in_action=swap, representation=LearnedRepresentation(G, 4), task_loss=nn.MSELoss(),
        ...     lambda_zy=0.5, lambda_xz=0.5, lambda_w=1.0)
        >>> out = objective(torch.randn(8, 2, 3), torch.randn(8, 3))
        >>> out.total.backward()
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, *, in_action: ActionLike,
                 representation: LearnedRepresentation,
                 task_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 out_action: Optional[ActionLike] = None, lambda_zy: float = 1.0, lambda_xz: float = 1.0,
                 lambda_w: float = 1.0, inverse: float = 1.0, orthogonality: float = 0.0):
        super().__init__()
        if not isinstance(representation, LearnedRepresentation):
            raise TypeError(f"representation must be a LearnedRepresentation (the learned latent action), "
                            f"got {type(representation).__name__}; for a fixed one use SoftEquivarianceLoss")
        for name, value in (("lambda_w", lambda_w), ("inverse", inverse), ("orthogonality", orthogonality)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        self.soft = SoftEquivarianceLoss(encoder, head, in_action=in_action, latent=representation,
                                         task_loss=task_loss, out_action=out_action, lam=lambda_xz,
                                         shifted_weight=lambda_zy)
        self.lambda_w = float(lambda_w)
        self.inverse = float(inverse)
        self.orthogonality = float(orthogonality)

    @property
    def representation(self) -> LearnedRepresentation:
        r"""The learned :math:`\rho_Z` (a submodule: trained with the rest)."""
        return self.soft.latent

    @property
    def encoder(self) -> nn.Module:
        r""":math:`E`."""
        return self.soft.encoder

    @property
    def head(self) -> nn.Module:
        r""":math:`D`."""
        return self.soft.head

    def algebra_loss(self) -> torch.Tensor:
        r""":math:`\mathcal{L}_\text{alg}(\rho_Z)` with this objective's ``inverse`` and ``orthogonality`` weights."""
        return self.representation.algebra_loss(inverse=self.inverse, orthogonality=self.orthogonality)

    def forward(self, x: torch.Tensor, y: torch.Tensor, g: Optional[torch.Tensor] = None, *,
                generator: Optional[torch.Generator] = None) -> StudyLoss:
        soft = self.soft(x, y, g, generator=generator)
        algebra = self.algebra_loss()
        return StudyLoss(soft.total + self.lambda_w * algebra, soft, algebra)

    def extra_repr(self) -> str:
        return f"lambda_w={self.lambda_w}, inverse={self.inverse}, orthogonality={self.orthogonality}"


def study_objective(encoder: nn.Module, head: nn.Module, *, in_action: ActionLike,
                    representation: LearnedRepresentation,
                    task_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    out_action: Optional[ActionLike] = None, lambda_zy: float = 1.0, lambda_xz: float = 1.0,
                    lambda_w: float = 1.0, inverse: float = 1.0, orthogonality: float = 0.0) -> StudyObjective:
    r"""The objective of the paper's Section 4, as :class:`StudyObjective` (same arguments)."""
    return StudyObjective(encoder, head, in_action=in_action, representation=representation, task_loss=task_loss,
                          out_action=out_action, lambda_zy=lambda_zy, lambda_xz=lambda_xz, lambda_w=lambda_w,
                          inverse=inverse, orthogonality=orthogonality)


