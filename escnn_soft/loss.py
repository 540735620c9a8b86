r"""The soft-equivariance loss for plain networks.

A plain network is an encoder :math:`E` into a latent :math:`z = E(x)` followed by a
head :math:`D`. With :math:`g` drawn uniformly per sample, the method trains on

.. math::
    \mathcal{L} = \ell\big(D(E(x)),\, y\big)
    + w\, \ell\big(D(\rho_Z(g) E(x)),\, \rho_Y(g) y\big)
    + \lambda\, \mathrm{MSE}\big(E(\rho_X(g) x),\, \rho_Z(g) E(x)\big),

where :math:`\ell` is the task loss, :math:`\rho_X, \rho_Z, \rho_Y` are the actions
on inputs, latents and targets, and :math:`w = 1` in the paper. No parameters are
added: :math:`\rho_Z` is fixed (e.g. :func:`~escnn_soft.regular_latent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .actions import ActionLike, GroupAction
from .groups import GroupTable

__all__ = ["SoftLoss", "SoftEquivarianceLoss"]


@dataclass
class SoftLoss:
    r"""The terms of one evaluation of :class:`SoftEquivarianceLoss`.

    Attributes:
        total: the loss to minimise, ``task + shifted_weight * shifted + lam * equivariance``.
        task: :math:`\ell(D(E(x)), y)`.
        shifted: :math:`\ell(D(\rho_Z(g) E(x)), \rho_Y(g) y)` (zero when its weight is 0).
        equivariance: :math:`\mathrm{MSE}(E(\rho_X(g)x), \rho_Z(g)E(x))` (zero when :math:`\lambda = 0`).
        output: the model's output :math:`D(E(x))` for the untransformed input.
        latent: the latent :math:`E(x)`.
        g: the element indices used, one per sample.
    """

    total: torch.Tensor
    task: torch.Tensor
    shifted: torch.Tensor
    equivariance: torch.Tensor
    output: torch.Tensor
    latent: torch.Tensor
    g: torch.Tensor


class SoftEquivarianceLoss(nn.Module):
    r"""Parameter-free soft equivariance for a plain encoder–head network.

    ``loss_fn(x, y)`` draws :math:`g` uniformly per sample (or takes ``g=``) and
    returns a :class:`SoftLoss`. It runs two passes: the plain one,
    :math:`z = E(x)` and :math:`D(z)`, and one more that encodes
    :math:`\rho_X(g) x` and decodes :math:`\rho_Z(g) z`, so a training step costs about
    two plain ones, and batch statistics (BatchNorm) are those of each pass. With
    ``lam=0`` and ``shifted_weight=0`` only the plain pass runs and the loss is
    exactly the task loss of plain training.

    The module holds the encoder and head as submodules (so ``.to()``,
    ``.train()``, ``.parameters()`` reach them) and adds no parameters of its own.

    Args:
        encoder (nn.Module): :math:`E`, maps ``x`` to the latent ``(B, latent.size, ...)``.
        head (nn.Module): :math:`D`, maps the latent to the output.
        in_action: :math:`\rho_X`, an action on inputs (:mod:`escnn_soft.actions`) or a callable ``(x, g) -> x'``.
        latent: :math:`\rho_Z`, a :class:`~escnn_soft.latent.RegularLatent`, a
            :class:`~escnn_soft.actions.FieldAction` for feature-map latents, or any
            :class:`~escnn_soft.actions.GroupAction`; it fixes the group.
        task_loss: :math:`\ell(\text{output}, \text{target})`, e.g. ``nn.CrossEntropyLoss()``.
        out_action: :math:`\rho_Y`; ``None`` means the targets are invariant.
        lam (float): :math:`\lambda \geq 0`, the weight of the equivariance term.
        shifted_weight (float): :math:`w \geq 0`, the weight of the shifted task term (1 in the paper).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from escnn import gspaces, nn as enn
        >>> from escnn_soft import field_action, regular_latent
        >>> r2 = gspaces.rot2dOnR2(4)
        >>> encoder = nn.Sequential(nn.Conv2d(1, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        >>> loss_fn = SoftEquivarianceLoss(encoder, nn.Linear(8, 10),
        ...     in_action=field_action(enn.FieldType(r2, [r2.trivial_repr])),
        ...     latent=regular_latent(r2.fibergroup, 8), task_loss=nn.CrossEntropyLoss(), lam=1.0)
        >>> out = loss_fn(torch.randn(5, 1, 9, 9), torch.randint(10, (5,)))
        >>> out.total.backward()
    """

    def __init__(
        self,
        encoder: nn.Module,
        head: nn.Module,
        *,
        in_action: ActionLike,
        latent: GroupAction,
        task_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        out_action: Optional[ActionLike] = None,
        lam: float = 1.0,
        shifted_weight: float = 1.0,
    ):
        super().__init__()
        if not isinstance(encoder, nn.Module) or not isinstance(head, nn.Module):
            raise TypeError("encoder and head must be torch.nn.Modules")
        self.encoder = encoder
        self.head = head
        self._setup(in_action, latent, task_loss, out_action, lam, shifted_weight)
        self.latent_layer: Optional[str] = None

    @classmethod
    def from_layer(
        cls,
        model: nn.Module,
        latent_layer: str,
        **kwargs,
    ) -> "SoftEquivarianceLoss":
        r"""Attach the loss to a single model whose latent is the output of a named layer.

        The layer's output is captured with a forward hook. In the second pass, on
        :math:`\rho_X(g) x`, the hook also replaces that output by :math:`\rho_Z(g) E(x)`,
        so the rest of the model acts as the head :math:`D`; the layer must therefore
        be a cut point of the model (no skip connection around it).

        Args:
            model (nn.Module): the whole network.
            latent_layer (str): the name of the layer, as in ``model.named_modules()``.
            **kwargs: the keyword arguments of :class:`SoftEquivarianceLoss`.
        """
        names = [name for name, _ in model.named_modules() if name]
        if latent_layer not in names:
            raise ValueError(f"model has no layer named {latent_layer!r}; its layers are {names}")
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.model = model
        self._setup(**{k: kwargs.pop(k) for k in ("in_action", "latent", "task_loss")}, **kwargs)
        self.latent_layer = latent_layer
        return self

    def _setup(self, in_action, latent, task_loss, out_action=None, lam=1.0, shifted_weight=1.0) -> None:
        if not isinstance(latent, GroupAction):
            raise TypeError(
                f"latent must be a GroupAction that fixes the group, e.g. regular_latent(G, dim); got {type(latent).__name__}"
            )
        for name, action in (("in_action", in_action), ("out_action", out_action)):
            if action is None and name == "out_action":
                continue
            if not callable(action):
                raise TypeError(f"{name} must be an action (x, g) -> x', got {type(action).__name__}")
            if isinstance(action, GroupAction) and action.group is not latent.group:
                raise ValueError(
                    f"{name} acts with {action.group.name} but the latent with {latent.group.name}: "
                    f"all actions must use the same group"
                )
        if not callable(task_loss):
            raise TypeError("task_loss must be a callable (output, target) -> scalar, e.g. nn.CrossEntropyLoss()")
        for name, value in (("lam", lam), ("shifted_weight", shifted_weight)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        self.in_action = in_action
        self.latent = latent
        self.out_action = out_action
        self.task_loss = task_loss
        self.lam = float(lam)
        self.shifted_weight = float(shifted_weight)

    @property
    def group(self) -> GroupTable:
        r"""The group of the latent representation."""
        return self.latent.group

    def forward(self, x: torch.Tensor, y: torch.Tensor, g: Optional[torch.Tensor] = None) -> SoftLoss:
        if not isinstance(x, torch.Tensor) or x.dim() < 1:
            raise TypeError("x must be a batched torch.Tensor (B, ...)")
        B = x.shape[0]
        if isinstance(y, torch.Tensor) and (y.dim() == 0 or y.shape[0] != B):
            raise ValueError(f"x has {B} samples but y has shape {tuple(y.shape)}")
        if g is None:
            g = self.group.sample(B, device=x.device)
        else:
            self.group.check_indices(g, B)
            g = g.to(device=x.device, dtype=torch.long)

        equivariant = self.lam > 0
        shifted = self.shifted_weight > 0
        if self.latent_layer is None:
            z = self.encoder(x)
            self._check_latent(z)
            output = self.head(z)
        else:
            z, output = self._hooked_pass(x)
        zero = output.new_zeros(())
        task = self.task_loss(output, y)
        shifted_term = equivariance_term = zero
        if equivariant or shifted:
            rz = self.latent._act(z, g)
            # the second pass: encode rho_X(g) x (when lam > 0), decode rho_Z(g) E(x) (when shifted)
            if self.latent_layer is None:
                z_g = self.encoder(self.in_action(x, g)) if equivariant else None
                output_g = self.head(rz) if shifted else None
            else:
                z_g, output_g = self._hooked_pass(self.in_action(x, g) if equivariant else x, rz if shifted else None)
            if equivariant:
                equivariance_term = F.mse_loss(z_g, rz)
            if shifted:
                y_g = y if self.out_action is None else self.out_action(y, g)
                shifted_term = self.task_loss(output_g, y_g)
        total = task + self.shifted_weight * shifted_term + self.lam * equivariance_term
        return SoftLoss(total, task, shifted_term, equivariance_term, output, z, g)

    def _hooked_pass(self, x: torch.Tensor, replace: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        r"""``model(x)`` with the latent layer's output captured and, if given, replaced."""
        captured = []

        def hook(module: nn.Module, args, output: torch.Tensor):
            self._check_latent(output)  # before the rest of the model sees it
            captured.append(output)
            return replace

        handle = self.model.get_submodule(self.latent_layer).register_forward_hook(hook)
        try:
            output = self.model(x)
        finally:
            handle.remove()
        if not captured:
            raise RuntimeError(f"layer {self.latent_layer!r} was not called in the model's forward pass")
        return captured[0], output

    def _check_latent(self, z: torch.Tensor) -> None:
        if z.dim() < 2 or z.shape[1] != self.latent.size:
            raise ValueError(
                f"the encoder's latent has shape {tuple(z.shape)} but {self.latent!r} needs (B, {self.latent.size}, ...)"
            )

    def extra_repr(self) -> str:
        return f"latent={self.latent!r}, lam={self.lam}, shifted_weight={self.shifted_weight}"
