r"""Measuring how equivariant a function is, and asserting it.

:func:`equivariance_error` measures, for every group element :math:`g` and every
sample :math:`x_b` of a batch, the absolute and the relative error

.. math::
    a_b(g) = \lVert f(\rho_\text{in}(g) x_b) - \rho_\text{out}(g) f(x_b) \rVert, \qquad
    r_b(g) = \frac{a_b(g)}{\lVert f(x_b) \rVert},

and reports their mean and maximum over the batch, as an :class:`EquivarianceError`;
it serves a plain network, a soft-trained one, an encoder (with a latent representation
as :math:`\rho_\text{out}`) or a strict escnn model. :func:`assert_equivariant` turns the
same measurement into an assertion with tolerances chosen by the output's dtype, for
models that must be exactly equivariant.

A model is measured in eval mode, and left as it was: its training flags and all its
buffers (e.g. BatchNorm running statistics) are restored afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence, Tuple, Union

import torch
from escnn.nn import EquivariantModule, GeometricTensor
from torch import nn

from .actions import ActionLike, GroupAction, field_action
from .groups import GroupTable
from .modes import eval_mode

__all__ = ["EquivarianceError", "equivariance_error", "assert_equivariant"]


@dataclass(frozen=True, eq=False)
class EquivarianceError:
    r"""The equivariance errors of a function, one entry per tested group element.

    Each tensor has shape ``(len(elements),)``; entry :math:`k` belongs to the element
    of index ``elements[k]`` of :attr:`group` (the identity gives 0 with exact actions;
    an interpolating one rounds). ``print`` shows them as a table, one row per element.

    Attributes:
        group (GroupTable): the group the elements belong to.
        elements (tuple of int): the tested element indices.
        relative_mean: :math:`\frac{1}{B}\sum_b r_b(g)`, the mean relative error over the batch.
        relative_max: :math:`\max_b r_b(g)`.
        absolute_mean: :math:`\frac{1}{B}\sum_b a_b(g)`, the mean norm of the difference.
        absolute_max: :math:`\max_b a_b(g)`.
    """

    group: GroupTable
    elements: Tuple[int, ...]
    relative_mean: torch.Tensor
    relative_max: torch.Tensor
    absolute_mean: torch.Tensor
    absolute_max: torch.Tensor

    def __repr__(self) -> str:
        names = [_element_name(self.group, e) for e in self.elements]
        width = max([len("element")] + [len(n) for n in names])
        columns = ("relative mean", "relative max", "absolute mean", "absolute max")
        lines = [f"EquivarianceError({self.group.name}, {len(self.elements)} elements)",
                 f"  {'element':<{width}}  " + "  ".join(f"{c:>13}" for c in columns)]
        values = torch.stack([self.relative_mean, self.relative_max, self.absolute_mean, self.absolute_max], 1)
        for name, row in zip(names, values.tolist()):
            lines.append(f"  {name:<{width}}  " + "  ".join(f"{v:>13.3e}" for v in row))
        return "\n".join(lines)


def _element_name(group: GroupTable, index: int) -> str:
    r"""``"index (escnn element)"`` on one line."""
    return f"{index} ({' '.join(repr(group[index]).split())})"


@contextmanager
def _measuring(f: Callable) -> Iterator[None]:
    r"""Put a module ``f`` in eval mode; afterwards restore every submodule's training
    flag and every buffer as they were."""
    if not isinstance(f, nn.Module):
        yield
        return
    buffers = {name: b.detach().clone() for name, b in f.named_buffers()}
    try:
        with eval_mode(f):
            yield
    finally:
        current = dict(f.named_buffers())
        with torch.no_grad():
            for name, saved in buffers.items():
                owner, _, attr = name.rpartition(".")
                module = f.get_submodule(owner)
                if name in current and current[name].shape == saved.shape and current[name].dtype == saved.dtype:
                    current[name].copy_(saved)
                else:  # the module replaced or dropped it
                    module.register_buffer(attr, saved)


def _resolve(
    f: Callable,
    x: torch.Tensor,
    in_action: Optional[ActionLike],
    out_action: Optional[ActionLike],
) -> Tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, ActionLike, Optional[ActionLike]]:
    r"""The plain-tensor function, plain batch and actions of a measurement."""
    module, geometric = isinstance(f, EquivariantModule), isinstance(x, GeometricTensor)
    if module and geometric and x.type != f.in_type:
        raise ValueError(f"x has field type {x.type} but the module takes {f.in_type}")
    types = {"in": f.in_type, "out": f.out_type} if module else {"in": x.type} if geometric else {}
    x = x.tensor if geometric else x
    if module:
        def call(t: torch.Tensor) -> torch.Tensor:
            out = f(GeometricTensor(t, f.in_type))
            return out.tensor if isinstance(out, GeometricTensor) else out
    else:
        call = f
    actions = {"in": in_action, "out": out_action}
    for side, ft in types.items():
        if actions[side] is None:
            try:
                actions[side] = field_action(ft)
            except ValueError as err:
                raise ValueError(f"{side}_action from the {side}put field type: {err} Pass {side}_action= "
                                 f"explicitly.") from None
    if actions["in"] is None:
        raise ValueError("pass in_action (e.g. field_action(in_type)), a GeometricTensor x, or an escnn "
                         "EquivariantModule f: nothing says how the group acts on the inputs")
    return call, x, actions["in"], actions["out"]


@torch.no_grad()
def _measure(
    f: Callable,
    x: torch.Tensor,
    in_action: Optional[ActionLike],
    out_action: Optional[ActionLike],
    group: Optional[GroupTable],
    elements: Optional[Sequence[int]],
    eps: float,
) -> Tuple[EquivarianceError, torch.Tensor, torch.Tensor, torch.dtype]:
    r"""The errors, the absolute errors per element and sample ``(E, B)``, the output
    norms ``(B,)`` and the output dtype."""
    call, x, in_action, out_action = _resolve(f, x, in_action, out_action)
    tables = [a.group for a in (in_action, out_action) if isinstance(a, GroupAction)]
    if group is None:
        if not tables:
            raise ValueError("pass group=group_table(G): neither action says which group it acts with")
        group = tables[0]
    if any(t is not group for t in tables):
        raise ValueError(f"the actions act with different groups: {[t.name for t in tables]}")
    elements = tuple(int(e) for e in (range(group.order) if elements is None else elements))
    if not elements:
        raise ValueError(f"elements is empty: name at least one element index of {group.name}")
    if any(not 0 <= e < group.order for e in elements):
        raise IndexError(f"elements must be indices in 0..{group.order - 1} of {group.name}, got {list(elements)}")
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[0] == 0:
        raise ValueError("x must be a non-empty batch (B, ...) of inputs")

    B = x.shape[0]
    with _measuring(f):
        fx = call(x)
        flat = lambda t: t.reshape(B, -1).to(torch.promote_types(t.dtype, torch.float64))  # noqa: E731
        norm = flat(fx).norm(dim=1)
        absolute = []
        for e in elements:
            g = torch.full((B,), e, dtype=torch.long, device=x.device)
            target = fx if out_action is None else out_action(fx, g)
            absolute.append((flat(call(in_action(x, g))) - flat(target)).norm(dim=1))
    absolute = torch.stack(absolute)
    relative = absolute / norm.clamp_min(eps)
    result = EquivarianceError(group, elements, relative.mean(1), relative.max(1).values,
                               absolute.mean(1), absolute.max(1).values)
    return result, absolute, norm, fx.dtype


def equivariance_error(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: Union[torch.Tensor, GeometricTensor],
    in_action: Optional[ActionLike] = None,
    out_action: Optional[ActionLike] = None,
    *,
    group: Optional[GroupTable] = None,
    elements: Optional[Sequence[int]] = None,
    eps: float = 1e-12,
) -> EquivarianceError:
    r"""The equivariance errors of ``f`` for every group element.

    For every element :math:`g` and sample :math:`x_b`, the absolute error
    :math:`a_b(g) = \lVert f(\rho_\text{in}(g) x_b) - \rho_\text{out}(g) f(x_b) \rVert`
    (the Euclidean norm over all the output's entries) and the relative one
    :math:`r_b(g) = a_b(g) / \lVert f(x_b) \rVert`, reported as their mean and
    maximum over the batch.

    An :class:`~torch.nn.Module` ``f`` is measured in eval mode (batch statistics and
    dropout would make even the identity look non-equivariant), and then restored:
    the training flag of every submodule and every buffer (BatchNorm running
    statistics, ...) are as before. A plain callable is called as it is: put the
    models it uses in eval mode first.

    Args:
        f: the function, e.g. a model, an encoder, or an escnn ``EquivariantModule``
            (plain tensors are wrapped in its ``in_type`` and its output unwrapped).
        x (torch.Tensor or GeometricTensor): a batch of inputs ``(B, ...)``. A
            ``GeometricTensor`` gives the default ``in_action``, the action of its
            type; a plain callable ``f`` receives its plain tensor.
        in_action: :math:`\rho_\text{in}`, an action on the inputs; by default the
            :func:`~escnn_soft.field_action` of ``f.in_type`` (escnn module) or of ``x.type``.
        out_action: :math:`\rho_\text{out}`, an action on the outputs (e.g. a
            :func:`~escnn_soft.regular_latent` for an encoder). ``None`` means: for
            an escnn ``EquivariantModule``, the :func:`~escnn_soft.field_action` of
            its ``out_type``; for any other ``f``, invariance. To test an escnn
            module for invariance, pass :func:`~escnn_soft.trivial_action`.
        group (GroupTable, optional): the group, when neither action is a
            :class:`~escnn_soft.actions.GroupAction`.
        elements (sequence of int, optional): the element indices to test (all by default).
        eps (float): guards the division for outputs of norm zero.

    Returns:
        an :class:`EquivarianceError`, with one entry per element.

    Example:
        >>> import torch
        >>> from escnn import gspaces, nn as enn
        >>> r2 = gspaces.rot2dOnR2(4)
        >>> conv = enn.R2Conv(enn.FieldType(r2, [r2.trivial_repr]), enn.FieldType(r2, [r2.regular_repr]), 3)
        >>> err = equivariance_error(conv, torch.randn(2, 1, 9, 9))   # actions from in_type, out_type
        >>> err.elements, bool(err.relative_max.max() < 1e-5)
        ((0, 1, 2, 3), True)
    """
    return _measure(f, x, in_action, out_action, group, elements, eps)[0]


_TOLERANCES = {  # dtype: (rtol, atol), on the norms of a sample's output and of its error
    torch.float64: (1e-9, 1e-12),
    torch.complex128: (1e-9, 1e-12),
    torch.float32: (1e-4, 1e-5),
    torch.complex64: (1e-4, 1e-5),
    torch.float16: (1e-2, 1e-3),
    torch.bfloat16: (5e-2, 1e-2),
}


def assert_equivariant(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: Union[torch.Tensor, GeometricTensor],
    in_action: Optional[ActionLike] = None,
    out_action: Optional[ActionLike] = None,
    *,
    atol: Optional[float] = None,
    rtol: Optional[float] = None,
    group: Optional[GroupTable] = None,
    elements: Optional[Sequence[int]] = None,
) -> EquivarianceError:
    r"""Assert that ``f`` is equivariant on the batch ``x``, and return its errors.

    Measures as :func:`equivariance_error` (same arguments and defaults) and passes when,
    for every tested element :math:`g` and every sample :math:`x_b`,

    .. math::
        \lVert f(\rho_\text{in}(g) x_b) - \rho_\text{out}(g) f(x_b) \rVert
        \leq \mathrm{atol} + \mathrm{rtol} \, \lVert f(x_b) \rVert .

    The default tolerances follow the dtype of ``f``'s output: ``rtol, atol`` are
    ``1e-9, 1e-12`` for float64, ``1e-4, 1e-5`` for float32, ``1e-2, 1e-3`` for
    float16, ``5e-2, 1e-2`` for bfloat16, and 0 for integer outputs.

    Args:
        f, x, in_action, out_action, group, elements: as in :func:`equivariance_error`.
        atol (float, optional): the absolute tolerance, in the norm of a sample's output.
        rtol (float, optional): the relative tolerance.

    Returns:
        the :class:`EquivarianceError`.

    Raises:
        AssertionError: naming the worst element (its index and escnn element), its
            relative and absolute error and the sample where it is reached.

    Example:
        >>> import torch
        >>> from escnn import gspaces, nn as enn
        >>> from escnn_soft import trivial_action
        >>> r2 = gspaces.rot2dOnR2(4)
        >>> pool = enn.PointwiseAdaptiveAvgPool(enn.FieldType(r2, [r2.trivial_repr]), 1)
        >>> _ = assert_equivariant(pool, torch.randn(2, 1, 9, 9), out_action=trivial_action(r2.fibergroup))
    """
    result, absolute, norm, dtype = _measure(f, x, in_action, out_action, group, elements, 1e-12)
    default_rtol, default_atol = _TOLERANCES.get(dtype, (0.0, 0.0))
    rtol = default_rtol if rtol is None else float(rtol)
    atol = default_atol if atol is None else float(atol)
    bound = atol + rtol * norm
    failed = ~(absolute <= bound)  # a NaN error fails too
    if not failed.any():
        return result
    excess = torch.where(failed, (absolute / bound).nan_to_num(float("inf")), torch.full_like(absolute, -1.0))
    k, b = divmod(int(excess.argmax()), excess.shape[1])
    e = result.elements[k]
    per_element = ", ".join(f"{i}: {v:.3g}" for i, v in zip(result.elements, result.relative_max.tolist()))
    raise AssertionError(
        f"not equivariant within atol={atol:g} + rtol={rtol:g} * |f(x)| ({dtype}): the worst element is "
        f"{_element_name(result.group, e)} of {result.group.name}, with relative error "
        f"{float(absolute[k, b] / norm[b].clamp_min(1e-12)):.3e} (absolute {float(absolute[k, b]):.3e}) on sample {b}; "
        f"largest relative error per element: {per_element}"
    )
