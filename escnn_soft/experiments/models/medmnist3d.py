r"""The plain 3D ResNet of the MedMNIST3D comparison.

An input is a batch of :math:`1 \times 28 \times 28 \times 28` volumes. The network first
upsamples them to :math:`29^3`, so that the centre is a voxel and the 24 rotations of the
cube (escnn's :func:`~escnn.group.octa_group`, acting by
:func:`~escnn.gspaces.octaOnR3`) map the voxel grid onto itself. Upsampling is trilinear
with ``align_corners=True``: from :math:`n` to :math:`n + 1` voxels along each axis it
samples the input at :math:`i (n - 1) / n`, a map that commutes with reversing and
permuting the axes, hence with every rotation of the cube. (The paper's code upsamples by
nearest neighbour, which repeats the first slice along each axis and does not commute
with them.)

The models of the comparison and how each trains are named by the task,
:class:`~escnn_soft.experiments.tasks.medmnist3d.MedMNIST3DTask`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..conventions import cut_at_latent

__all__ = ["MEDMNIST3D_SIDE", "MEDMNIST3D_LATENT_DIM", "ResidualBlock", "MedMNIST3DCNN", "medmnist3d_cnn"]

MEDMNIST3D_SIDE: int = 28
r"""The side of a MedMNIST3D volume."""

_UPSAMPLED_SIDE = 29

MEDMNIST3D_LATENT_DIM: int = 48
r"""The width of :class:`MedMNIST3DCNN`'s latent at the paper's :math:`c = 6`: :math:`8c`,
two copies of the regular representation of the 24-element rotation group of the cube."""


def _check_input(x: torch.Tensor) -> None:
    side = MEDMNIST3D_SIDE
    if x.dim() != 5 or tuple(x.shape[1:]) != (1, side, side, side):
        raise ValueError(f"expected MedMNIST3D volumes of shape (B, 1, {side}, {side}, {side}), got {tuple(x.shape)}")


def _check_count(name: str, value: int, minimum: int = 1) -> None:
    r"""Raise a ``ValueError`` naming ``name`` unless ``value`` is an integer of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")


def _conv_block(c_in: int, c_out: int, kernel_size: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("conv", nn.Conv3d(c_in, c_out, kernel_size, stride=stride, padding=padding)),
        ("norm", nn.BatchNorm3d(c_out)),
        ("act", nn.ELU()),
    ]))


class ResidualBlock(nn.Module):
    r"""``block(x) + skip(x)``: a residual block whose shortcut is a module of its own."""

    def __init__(self, block: nn.Module, skip: nn.Module):
        super().__init__()
        self.block = block
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + self.skip(x)


class MedMNIST3DCNN(nn.Module):
    r"""The 3D ResNet of Ali, Liò and Vicary (2025) for MedMNIST3D, split into encoder and head.

    The layer structure is the paper's (its appendix C.2 and ``CNN3DResnet`` in its public
    code), itself Veefkind and Cesa's (2024) 3D CNN: three residual blocks of base width
    :math:`c`. Sizes on the :math:`29^3` grid:

    =========  =======================================================  ===========================
    layer      operation                                                output
    =========  =======================================================  ===========================
    upsample   trilinear, ``align_corners=True``                        :math:`1 \times 29^3`
    res1       conv :math:`7^3`, pad 2; BN; ELU; conv :math:`5^3`, pad  :math:`2c \times 27^3`
               2; BN; ELU; skip: conv :math:`7^3`, pad 2
    pool1      average :math:`5^3`, stride 2, pad 1                     :math:`2c \times 13^3`
    res2       conv :math:`3^3`, stride 2, pad 1; BN; ELU; average      :math:`6c \times 3^3`
               :math:`5^3`, stride 2, pad 1; conv :math:`3^3`, stride
               2, pad 2; BN; ELU; skip: average :math:`5^3`, stride 2;
               conv :math:`3^3`
    res3       conv :math:`3^3`, pad 1; BN; ELU; average :math:`3^3`;   :math:`8c \times 1^3`
               conv :math:`1^3`; skip: conv :math:`3^3`
    flatten                                                             :math:`8c`
    norm, act  BatchNorm1d, ELU                                         :math:`8c`
    fc         ``Linear(8c, num_classes)``                              logits
    =========  =======================================================  ===========================

    At :math:`c = 6` it has **141,998** parameters for 2 classes and 142,439 for 11, the
    count of the paper's class too (its Table 5 prints 0.19 M).

    :attr:`encoder` maps a volume to the :math:`8c`-dimensional latent :math:`z`,
    :attr:`head` maps :math:`z` to logits, ``forward(x)`` is ``head(encoder(x))``. The cut
    is ``latent`` (:data:`~escnn_soft.experiments.conventions.CNN_LATENTS`):

    * ``"pre-bn"`` (the default, the paper's: its ``forward`` always returns the output of
      the third residual block as the latent, whatever ``equivariant_layer_id`` says):
      :math:`z` is ``res3``'s output, flattened; the head is ``norm``, ``act``, ``fc``.
    * ``"post-bn"``: :math:`z` is after the BatchNorm1d and ELU; the head is ``fc`` alone.

    The convolution weights are stored channels-last (``torch.channels_last_3d``), so that
    every feature map after the first convolution is too: the same values, and about 1.2 times
    faster training steps on the CPU (``benchmarks/bench_memory_format.py``). ``to``,
    ``double`` and ``load_state_dict`` keep that layout.

    Args:
        num_classes (int): the number of classes, at least 2.
        width (int): the base width :math:`c`.
        latent (str): ``"pre-bn"`` or ``"post-bn"``.

    Raises:
        ValueError: for fewer than 2 classes, a width below 1 or another ``latent``.
    """

    def __init__(self, num_classes: int = 2, width: int = 6, latent: str = "pre-bn"):
        super().__init__()
        _check_count("num_classes", num_classes, 2)
        _check_count("width", width)
        c = width
        self.latent = latent
        self.latent_dim = 8 * c
        side = _UPSAMPLED_SIDE
        layers = OrderedDict([
            ("upsample", nn.Upsample(size=(side, side, side), mode="trilinear", align_corners=True)),
            ("res1", ResidualBlock(
                nn.Sequential(_conv_block(1, c, 7, padding=2), _conv_block(c, 2 * c, 5, padding=2)),
                nn.Conv3d(1, 2 * c, 7, padding=2))),
            ("pool1", nn.AvgPool3d(5, stride=2, padding=1)),
            ("res2", ResidualBlock(
                nn.Sequential(_conv_block(2 * c, 4 * c, 3, stride=2, padding=1),
                              nn.AvgPool3d(5, stride=2, padding=1),
                              _conv_block(4 * c, 6 * c, 3, stride=2, padding=2)),
                nn.Sequential(nn.AvgPool3d(5, stride=2), nn.Conv3d(2 * c, 6 * c, 3)))),
            ("res3", ResidualBlock(
                nn.Sequential(_conv_block(6 * c, 6 * c, 3, padding=1), nn.AvgPool3d(3, stride=1),
                              nn.Conv3d(6 * c, 8 * c, 1)),
                nn.Conv3d(6 * c, 8 * c, 3))),
            ("flatten", nn.Flatten()),
        ])
        self.encoder, self.head = cut_at_latent(layers, 8 * c, num_classes, latent)
        self.to(memory_format=torch.channels_last_3d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Logits of shape ``(B, num_classes)`` for volumes of shape ``(B, 1, 28, 28, 28)``."""
        _check_input(x)
        return self.head(self.encoder(x))


def medmnist3d_cnn(num_classes: int = 2, *, width: int = 6, latent: str = "pre-bn") -> MedMNIST3DCNN:
    r"""A freshly initialised :class:`MedMNIST3DCNN` (see there for the arguments).

    Example:
        >>> net = medmnist3d_cnn(2)
        >>> sum(p.numel() for p in net.parameters()), net(torch.zeros(2, 1, 28, 28, 28)).shape
        (141998, torch.Size([2, 2]))
        >>> net.encoder(torch.zeros(2, 1, 28, 28, 28)).shape
        torch.Size([2, 48])
    """
    return MedMNIST3DCNN(num_classes, width, latent)
