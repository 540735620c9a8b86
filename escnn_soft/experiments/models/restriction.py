r"""Unconstrained convolutions for the layers of a model after a restriction to :math:`\{e\}`.

A *restriction model* (Veefkind and Cesa, 2024) is :math:`G`-equivariant in its first
layers and only :math:`H`-equivariant, for a subgroup :math:`H \le G`, in the last ones:
an escnn :class:`~escnn.nn.RestrictionModule` re-reads the features, unchanged, as
fields of :math:`H` (a representation :math:`\rho` of :math:`G` becomes
:math:`\operatorname{Res}^G_H \rho`), and the layers after it are steerable for
:math:`H` only. For the trivial subgroup :math:`H = \{e\}` every linear map is
equivariant, so those layers are ordinary convolutions: :class:`UnconstrainedConv`, a
:class:`torch.nn.Conv2d` typed as an :class:`~escnn.nn.EquivariantModule` between
fields of the trivial group, so that it composes with escnn's batch norms,
nonlinearities and poolings.

An :class:`~escnn.nn.R2Conv` between fields of the trivial group is not the same
thing: it expands its filters in escnn's bandlimited basis, 6 filters per pair of
channels for a :math:`3 \times 3` kernel instead of the 9 of an ordinary convolution.
"""

from __future__ import annotations

from typing import Tuple

import torch
from escnn.nn import EquivariantModule, FieldType, GeometricTensor

__all__ = ["UnconstrainedConv"]


class UnconstrainedConv(EquivariantModule):
    r"""A plain :class:`torch.nn.Conv2d` between field types of the trivial group.

    :attr:`conv` has ``in_type.size`` input and ``out_type.size`` output channels and
    the given kernel size, stride, padding and bias, and ``forward`` applies it to the
    plain tensor. The signature is that of :class:`~escnn.nn.R2Conv`, so it can stand
    in for it wherever a model takes a convolution factory.

    Args:
        in_type (FieldType): the input type, over a gspace whose fibre group is trivial
            (e.g. the output type of a :class:`~escnn.nn.RestrictionModule` to the
            subgroup ``fibergroup.subgroup_trivial_id``).
        out_type (FieldType): the output type, over the same gspace.
        kernel_size (int): the side of the filters.
        padding (int, optional): zero padding.
        stride (int, optional): stride.
        bias (bool, optional): whether the convolution has a bias.

    Raises:
        ValueError: if the types live on different gspaces or the group is not trivial.

    Example:
        >>> from escnn import gspaces, nn
        >>> r2 = gspaces.rot2dOnR2(4)
        >>> restricted = nn.RestrictionModule(nn.FieldType(r2, [r2.regular_repr]), 1).out_type
        >>> trivial = restricted.gspace
        >>> conv = UnconstrainedConv(restricted, nn.FieldType(trivial, 3 * [trivial.trivial_repr]), 3)
        >>> tuple(conv.conv.weight.shape)
        (3, 4, 3, 3)
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel_size: int,
                 padding: int = 0, stride: int = 1, bias: bool = True):
        super().__init__()
        if in_type.gspace != out_type.gspace:
            raise ValueError(f"in_type and out_type must share a gspace, got {in_type.gspace} and {out_type.gspace}")
        if in_type.fibergroup.order() != 1:
            raise ValueError(f"an unconstrained convolution is equivariant only for the trivial group, got "
                             f"{in_type.fibergroup}; restrict the field type first (escnn.nn.RestrictionModule)")
        self.in_type = in_type
        self.out_type = out_type
        self.conv = torch.nn.Conv2d(in_type.size, out_type.size, kernel_size, stride=stride, padding=padding,
                                    bias=bias)

    def forward(self, x: GeometricTensor) -> GeometricTensor:
        assert x.type == self.in_type, f"expected input of type {self.in_type}, got {x.type}"
        return GeometricTensor(self.conv(x.tensor), self.out_type, coords=None)

    def evaluate_output_shape(self, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
        b, _, *grid = input_shape
        c = self.conv
        return (b, self.out_type.size,
                *((n + 2 * p - k) // s + 1 for n, k, s, p in zip(grid, c.kernel_size, c.stride, c.padding)))
