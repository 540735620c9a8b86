r"""Residual pathway convolutions (Finzi et al., 2021) on escnn field types.

A residual pathway prior (RPP) makes a layer *softly* equivariant by adding an
unconstrained layer to a strictly equivariant one,

.. math::
    W = W_\text{eq} + W_\text{free}, \qquad W_\text{eq} \in \operatorname{Hom}_G,
    \quad W_\text{free} \text{ unconstrained},

and placing a narrow Gaussian prior on :math:`W_\text{free}` (an L2 penalty with
a large coefficient) next to a broad one on :math:`W_\text{eq}`: the network is
equivariant unless the data pay for the deviation. The penalty is the model's
business (see :meth:`escnn_soft.experiments.models.DDMNISTRPP.prior_loss`); this module only
provides the layer.
"""

from __future__ import annotations

from typing import Iterator, Tuple

import torch
import torch.nn.functional as F
from escnn.nn import EquivariantModule, FieldType, GeometricTensor, R2Conv

__all__ = ["ResidualPathwayConv"]


class ResidualPathwayConv(EquivariantModule):
    r"""An :class:`~escnn.nn.R2Conv` plus an unconstrained convolution of the same shape.

    The layer computes :math:`y = (\kappa_\text{eq} + \kappa_\text{free}) \star x`,
    where :math:`\kappa_\text{eq}` is the steerable filter of :attr:`equivariant`
    (an :class:`~escnn.nn.R2Conv` from ``in_type`` to ``out_type``) and
    :math:`\kappa_\text{free}` the filter of :attr:`unconstrained`, a plain
    :class:`torch.nn.Conv2d` with ``in_type.size`` input and ``out_type.size``
    output channels, the same kernel size, stride and padding (with ``bias``, the free path
    always has a bias; escnn gives the equivariant one a bias only on trivial fields). Both paths are
    linear with the same geometry, so the two filters (and biases) are summed and
    a single convolution is run.

    The layer is typed like an :class:`~escnn.nn.EquivariantModule` so that it
    composes with escnn's batch norms, nonlinearities and pooling, but it is
    :math:`G`-equivariant only while :math:`\kappa_\text{free} = 0`.

    Args:
        in_type (FieldType): the type of the input field.
        out_type (FieldType): the type of the output field.
        kernel_size (int): the size of both filters.
        padding (int, optional): zero padding, as in :class:`~escnn.nn.R2Conv`.
        stride (int, optional): stride, as in :class:`~escnn.nn.R2Conv`.
        bias (bool, optional): whether both paths have a bias.

    Example:
        >>> from escnn import gspaces, nn
        >>> r2 = gspaces.rot2dOnR2(4)
        >>> conv = ResidualPathwayConv(nn.FieldType(r2, [r2.trivial_repr]),
        ...                            nn.FieldType(r2, [r2.regular_repr]), 3, padding=1)
        >>> tuple(conv.unconstrained.weight.shape)
        (4, 1, 3, 3)
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel_size: int,
                 padding: int = 0, stride: int = 1, bias: bool = True):
        super().__init__()
        self.in_type = in_type
        self.out_type = out_type
        self.equivariant = R2Conv(in_type, out_type, kernel_size, padding=padding, stride=stride, bias=bias)
        self.unconstrained = torch.nn.Conv2d(in_type.size, out_type.size, kernel_size,
                                             stride=stride, padding=padding, bias=bias)

    def unconstrained_parameters(self) -> Iterator[torch.nn.Parameter]:
        r"""The parameters of the unconstrained path (filter, then bias if any)."""
        return self.unconstrained.parameters()

    def forward(self, x: GeometricTensor) -> GeometricTensor:
        assert x.type == self.in_type, f"expected input of type {self.in_type}, got {x.type}"
        eq = self.equivariant
        if eq.training:
            filt, bias = eq.expand_parameters()
        else:
            # escnn caches the expanded filter and bias in eval mode
            filt, bias = eq.filter, eq.expanded_bias
        filt = filt + self.unconstrained.weight
        if self.unconstrained.bias is not None:
            # escnn drops the equivariant bias of types without trivial fields; the free one stays
            bias = self.unconstrained.bias if bias is None else bias + self.unconstrained.bias
        y = F.conv2d(x.tensor, filt, bias, stride=eq.stride, padding=eq.padding, dilation=eq.dilation)
        return GeometricTensor(y, self.out_type, coords=None)

    def evaluate_output_shape(self, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
        return self.equivariant.evaluate_output_shape(input_shape)
