r"""Measuring how equivariant a function is.

Strict models are judged by an assertion; soft ones by how small their error is.
:func:`equivariance_error` measures, for every group element :math:`g`,

.. math::
    \epsilon(g) = \frac{1}{B} \sum_{b=1}^{B}
    \frac{\lVert f(\rho_\text{in}(g) x_b) - \rho_\text{out}(g) f(x_b) \rVert}{\lVert f(x_b) \rVert},

for a plain network, a soft-trained one, an encoder (with a latent representation
as :math:`\rho_\text{out}`) or a strict escnn model.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from .actions import ActionLike, GroupAction
from .groups import GroupTable

__all__ = ["equivariance_error"]


def _plain(f: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""Wrap an escnn ``EquivariantModule`` so that it maps plain tensors to plain tensors."""
    from escnn.nn import EquivariantModule, GeometricTensor

    if not isinstance(f, EquivariantModule):
        return f

    def call(x: torch.Tensor) -> torch.Tensor:
        out = f(GeometricTensor(x, f.in_type))
        return out.tensor if isinstance(out, GeometricTensor) else out

    return call


@torch.no_grad()
def equivariance_error(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    in_action: ActionLike,
    out_action: Optional[ActionLike] = None,
    *,
    group: Optional[GroupTable] = None,
    elements: Optional[Sequence[int]] = None,
    eps: float = 1e-12,
) -> torch.Tensor:
    r"""The relative equivariance error of ``f`` for every group element.

    Args:
        f: the function, e.g. a model, an encoder, or an escnn ``EquivariantModule``
            (plain tensors are wrapped in its ``in_type`` and its output unwrapped).
            Put models in ``eval()`` mode first: batch statistics differ between
            ``x`` and its transform.
        x (torch.Tensor): a batch of inputs ``(B, ...)``.
        in_action: :math:`\rho_\text{in}`, an action on the inputs.
        out_action: :math:`\rho_\text{out}`, an action on the outputs (e.g. a
            :func:`~escnn_soft.regular_latent` for an encoder); ``None`` for invariance.
        group (GroupTable, optional): the group, when neither action is a
            :class:`~escnn_soft.actions.GroupAction`.
        elements (sequence of int, optional): the element indices to test (all by default).
        eps (float): guards the division for outputs of norm zero.

    Returns:
        a tensor of shape ``(len(elements),)``: :math:`\epsilon(g)` per element,
        averaged over the batch (the identity gives 0).
    """
    tables = [a.group for a in (in_action, out_action) if isinstance(a, GroupAction)]
    if group is None:
        if not tables:
            raise ValueError("pass group=group_table(G): neither action says which group it acts with")
        group = tables[0]
    if any(t is not group for t in tables):
        raise ValueError(f"the actions act with different groups: {[t.name for t in tables]}")
    if elements is None:
        elements = range(group.order)
    elements = list(elements)
    if any(not 0 <= int(e) < group.order for e in elements):
        raise IndexError(f"elements must be indices in 0..{group.order - 1} of {group.name}, got {elements}")
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[0] == 0:
        raise ValueError("x must be a non-empty batch (B, ...) of inputs")

    f = _plain(f)
    B = x.shape[0]
    fx = f(x)
    norm = fx.reshape(B, -1).norm(dim=1).clamp_min(eps)
    errors = []
    for e in elements:
        g = torch.full((B,), int(e), dtype=torch.long, device=x.device)
        target = fx if out_action is None else out_action(fx, g)
        diff = (f(in_action(x, g)) - target).reshape(B, -1).norm(dim=1)
        errors.append((diff / norm).mean())
    return torch.stack(errors)
