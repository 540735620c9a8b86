r"""Learning the latent action: the objective and the training loop of the paper's Section 4.

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
:func:`~escnn_soft.decompose.decompose` says which representation was learned.

For an autoencoder the output is the reconstruction: ``y = x`` and
:math:`\rho_Y = \rho_X`.

The module also has :class:`ResampledAction`, the action of a finite rotation (and
reflection) group on images by resampling, for groups whose rotations do not map the
pixel grid onto itself (e.g. :math:`D_3`, rotations by :math:`120^\circ`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from escnn.gspaces import GSpace
from torch import nn

from .actions import ActionLike, GroupAction
from .learned import LearnedRepresentation
from .loss import SoftEquivarianceLoss, SoftLoss

__all__ = [
    "ResampledAction",
    "resampled_action",
    "StudyLoss",
    "StudyObjective",
    "study_objective",
    "TrainingHistory",
    "fit",
]

LOSS_TERMS: Tuple[str, ...] = ("total", "task", "shifted", "equivariance", "algebra")


# ------------------------------------------------------------------ image actions by resampling


class ResampledAction(GroupAction):
    r"""A finite group of rotations and reflections acting on images by resampling.

    For a 2-D gspace of a finite group (``rot2dOnR2(N)``, ``flipRot2dOnR2(N)``) whose
    base-space matrices :math:`A_g` are escnn's ``gspace.basespace_action(g)``, every
    channel of a batch ``(B, C, H, W)`` is transformed as a scalar field,

    .. math::
        [g \cdot f](p) = f(A_g^{-1} p),

    the convention of :meth:`escnn.nn.FieldType.transform`, with escnn's layout of the
    plane on the pixel grid (columns along :math:`x`, rows along :math:`-y`, the centre
    of the image at the origin). The samples :math:`f(A_g^{-1} p)` between pixel centres
    are interpolated bilinearly (:func:`torch.nn.functional.grid_sample`, zero outside
    the image), one batched call for the whole batch.

    Where :math:`A_g` maps the grid onto itself (multiples of :math:`90^\circ`, flips)
    the result equals :func:`~escnn_soft.field_action` up to float rounding; for other
    angles (:math:`D_3`: :math:`120^\circ`) it is an *approximate* action: interpolation
    blurs, and the corners of a square image leave it. Content away from the corners
    (MNIST digits) is transformed faithfully.

    Build it with :func:`resampled_action`.

    Args:
        gspace (GSpace): a 2-D escnn gspace of a finite group.
    """

    def __init__(self, gspace: GSpace):
        if not isinstance(gspace, GSpace):
            raise TypeError(f"resampled_action expects an escnn gspace, e.g. flipRot2dOnR2(3); "
                            f"got {type(gspace).__name__}")
        if gspace.dimensionality != 2:
            raise ValueError(f"resampled_action acts on images: it needs a 2-D gspace, got {gspace} "
                             f"({gspace.dimensionality}-D)")
        super().__init__(gspace.fibergroup)
        self.gspace: GSpace = gspace
        flip = np.diag([1.0, -1.0])        # plane (x, y) <-> grid_sample's (column, row) coordinates
        thetas = []
        for e in self.group.elements:
            A = np.asarray(gspace.basespace_action(e), dtype=np.float64)
            thetas.append(flip @ np.linalg.inv(A) @ flip)
        theta = np.concatenate([np.stack(thetas), np.zeros((self.group.order, 2, 1))], axis=2)
        self.theta: torch.Tensor = torch.from_numpy(theta)       # (|G|, 2, 3): output -> input coordinates

    def _act(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"{self!r} acts on images of shape (B, C, H, W), got {tuple(x.shape)}")
        if x.shape[2] != x.shape[3]:
            raise ValueError(f"{self!r} rotates square images only, got {x.shape[2]}×{x.shape[3]}")
        if not x.is_floating_point():
            raise TypeError(f"{self!r} interpolates: it needs a floating point batch, got {x.dtype}")
        theta = self._on("theta", self.theta, x, x.dtype).index_select(0, g)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def __repr__(self) -> str:
        return f"ResampledAction({self.gspace})"


def resampled_action(gspace: GSpace) -> ResampledAction:
    r"""The action of a 2-D gspace's finite group on images by bilinear resampling, as :class:`ResampledAction`.

    Example (:math:`D_3`: rotations by :math:`120^\circ` and a reflection):
        >>> import torch
        >>> from escnn import gspaces
        >>> act = resampled_action(gspaces.flipRot2dOnR2(3))
        >>> act.group.order
        6
        >>> act(torch.rand(2, 1, 28, 28), torch.tensor([1, 3])).shape
        torch.Size([2, 1, 28, 28])
    """
    return ResampledAction(gspace)


# ------------------------------------------------------------------ the objective


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

    def forward(self, x: torch.Tensor, y: torch.Tensor, g: Optional[torch.Tensor] = None) -> StudyLoss:
        soft = self.soft(x, y, g)
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


# ------------------------------------------------------------------ training


@dataclass
class TrainingHistory:
    r"""What :func:`fit` recorded.

    Attributes:
        losses: per epoch, the mean of every term of :class:`StudyLoss` over its steps
            (``total``, ``task``, ``shifted``, ``equivariance``, ``algebra``).
        element: the element index whose eigenvalues were recorded.
        snapshot_steps: the optimisation steps of the snapshots (0 = before training).
        eigenvalues: complex array ``(snapshots, dim)``, the eigenvalues of
            :math:`\rho_Z(\text{element})` at each snapshot.
        seconds: wall-clock time of the training loop.
    """

    losses: List[Dict[str, float]] = field(default_factory=list)
    element: int = 0
    snapshot_steps: List[int] = field(default_factory=list)
    eigenvalues: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.complex128))
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        r"""The number of optimisation steps taken."""
        return self.snapshot_steps[-1] if self.snapshot_steps else 0


def _eigenvalues(representation: LearnedRepresentation, element: int) -> np.ndarray:
    with torch.no_grad():
        M = representation.matrices()[element].detach().cpu().double().numpy()
    return np.linalg.eigvals(M)


def fit(objective: StudyObjective, batches: Callable[[], Iterable[Tuple[torch.Tensor, torch.Tensor]]], *,
        epochs: int, lr: float = 3e-3, element: Optional[int] = None, snapshot_every: Optional[int] = None,
        snapshot_at: Optional[Iterable[int]] = None, optimizer: Optional[torch.optim.Optimizer] = None,
        log: Optional[Callable[[int, Dict[str, float]], None]] = None) -> TrainingHistory:
    r"""Train a :class:`StudyObjective` with Adam, recording its losses and the eigenvalues of :math:`\rho_Z(g)`.

    Args:
        objective (StudyObjective): the objective (encoder, head and learned :math:`\rho_Z`).
        batches: called once per epoch, returns an iterable of ``(x, y)`` batches (e.g. a
            freshly shuffled split).
        epochs (int): the number of epochs.
        lr (float): Adam's learning rate (the paper's: 0.003); ignored with ``optimizer``.
        element (int, optional): the element index whose eigenvalues are recorded; default
            the first generator of :math:`\rho_Z`.
        snapshot_every (int, optional): record the eigenvalues every this many steps (and
            before the first and after the last step); default: after every epoch.
        snapshot_at (iterable of int, optional): record them after exactly these steps instead
            (e.g. geometrically spaced, to resolve the fast early phase), and before the first
            and after the last step.
        optimizer (torch.optim.Optimizer, optional): an optimiser over ``objective.parameters()``.
        log: called after every epoch with the epoch number (from 1) and its mean losses.

    Returns:
        the :class:`TrainingHistory`.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if snapshot_every is not None and (isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int)
                                       or snapshot_every < 1):
        raise ValueError(f"snapshot_every must be an int >= 1 or None, got {snapshot_every!r}")
    at = None
    if snapshot_at is not None:
        if snapshot_every is not None:
            raise ValueError("give snapshot_every or snapshot_at, not both")
        at = {int(k) for k in snapshot_at}
        if any(k < 1 for k in at):
            raise ValueError(f"snapshot_at must hold steps >= 1, got {sorted(at)[:3]}...")
    if not callable(batches):
        raise TypeError("batches must be a callable returning an iterable of (x, y) batches, one call per epoch")
    rho = objective.representation
    if element is None:
        element = rho.generator_elements[0]
    if not 0 <= int(element) < rho.group.order:
        raise IndexError(f"element {element} out of range for {rho.group.name} (0..{rho.group.order - 1})")
    if optimizer is None:
        optimizer = torch.optim.Adam(objective.parameters(), lr=lr)

    history = TrainingHistory(element=int(element))
    eigenvalues = [_eigenvalues(rho, history.element)]
    history.snapshot_steps.append(0)

    def snapshot() -> None:
        eigenvalues.append(_eigenvalues(rho, history.element))
        history.snapshot_steps.append(step)

    step, start = 0, time.perf_counter()
    for epoch in range(1, epochs + 1):
        objective.train()
        sums: Dict[str, float] = dict.fromkeys(LOSS_TERMS, 0.0)
        count = 0
        for x, y in batches():
            out = objective(x, y)
            optimizer.zero_grad(set_to_none=True)
            out.total.backward()
            optimizer.step()
            step, count = step + 1, count + 1
            for k, v in out.terms().items():
                sums[k] += v
            if (snapshot_every is not None and step % snapshot_every == 0) or (at is not None and step in at):
                snapshot()
        if count == 0:
            raise ValueError("batches() returned no batches")
        if snapshot_every is None and at is None:
            snapshot()
        history.losses.append({k: v / count for k, v in sums.items()})
        if log is not None:
            log(epoch, history.losses[-1])
    if history.snapshot_steps[-1] != step:
        snapshot()
    history.eigenvalues = np.stack(eigenvalues)
    history.seconds = time.perf_counter() - start
    return history
