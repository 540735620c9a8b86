r"""Models for single MNIST digits under a finite group of the pixel grid.

An input is a :math:`1 \times 28 \times 28` digit. The groups are those of
double-digit MNIST (:data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`): ``"C4"``
(rotations by :math:`90^\circ`), ``"D1"`` (the left-right mirror) and ``"D4"`` (both),
acting on the whole digit as :meth:`escnn.nn.GeometricTensor.transform` does: each
permutes the pixels of the even :math:`28 \times 28` grid about its centre. Both models
share three convolution blocks (base width :math:`c`):

=========  ===============================================  =========================
layer      operation                                        output
=========  ===============================================  =========================
block1     conv :math:`5\times5`, pad 2; BN; ELU            :math:`c \times 28^2`
pool1      max :math:`2\times2`, stride 2                   :math:`c \times 14^2`
block2     conv :math:`3\times3`, pad 1; BN; ELU            :math:`2c \times 14^2`
pool2      max :math:`2\times2`, stride 2                   :math:`2c \times 7^2`
block3     conv :math:`3\times3`, pad 1; BN; ELU            :math:`4c \times 7^2`
=========  ===============================================  =========================

Every layer of the table maps
the grid symmetries of its input to those of its output: convolutions with odd kernels,
stride 1 and "same" padding keep the grid, and on an even grid the windows
:math:`\{2i, 2i + 1\}` of a :math:`2 \times 2` pooling with stride 2 are mapped onto
windows by every symmetry of the square. Then:

* :class:`MNISTCNN` (:func:`mnist_cnn`), the plain CNN, with :math:`c` scalar channels:
  max pooling to :math:`4c \times 3^2`, flatten, ``Linear(36c, d)``, BatchNorm1d and
  ELU give the latent vector :math:`z \in \mathbb{R}^d` of :attr:`MNISTCNN.encoder`;
  ``Linear(d, 10)`` is the classifier :attr:`MNISTCNN.head`.
* :class:`MNISTSteerableCNN` (:func:`mnist_scnn`), the strictly :math:`G`-invariant CNN,
  with :math:`c` *regular* fields of :math:`G` (:math:`c|G|` channels) in escnn
  (:class:`~escnn.nn.R2Conv`, :class:`~escnn.nn.InnerBatchNorm`, pointwise ELU and max
  pooling): :class:`~escnn.nn.GroupPooling` (the maximum over each regular field,
  invariant), the average over the grid, then ``Linear(4c, d)``, BatchNorm1d, ELU and
  ``Linear(d, 10)``.

The batch normalisations use the momentum :data:`BATCH_NORM_MOMENTUM` for their running
statistics, which the models use in eval mode.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from escnn.gspaces import GSpace2D
from escnn.nn import (
    ELU,
    FieldType,
    GeometricTensor,
    GroupPooling,
    InnerBatchNorm,
    PointwiseMaxPool2D,
    R2Conv,
    SequentialModule,
)

from .ddmnist import ddmnist_gspace

__all__ = [
    "MNIST_IMAGE_SIZE",
    "BATCH_NORM_MOMENTUM",
    "MNISTCNN",
    "MNISTSteerableCNN",
    "mnist_cnn",
    "mnist_scnn",
]

MNIST_IMAGE_SIZE: int = 28
r"""The side of an MNIST digit."""

BATCH_NORM_MOMENTUM: float = 0.5
r"""The momentum of the running statistics of every batch normalisation. A short run takes
few steps (16 an epoch on 4,000 digits in batches of 256) while the weights change fast;
with torch's default 0.1 the running statistics lag behind the weights. Measured on the
validation set of C4, in the first 8 epochs of cnn-aug: its accuracy in eval mode fell
up to 9 points short of that with batch statistics with momentum 0.1, at most 2.2
points with 0.5."""

#: (kernel size, width multiple) of the three convolutions.
_LAYERS = ((5, 1), (3, 2), (3, 4))


def _check_input(x: torch.Tensor) -> None:
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE):
        raise ValueError(f"expected MNIST digits of shape (B, 1, {MNIST_IMAGE_SIZE}, {MNIST_IMAGE_SIZE}), "
                         f"got {tuple(x.shape)}")


def _head(features: int, latent_dim: int) -> "OrderedDict[str, torch.nn.Module]":
    return OrderedDict([
        ("fc", torch.nn.Linear(features, latent_dim)),
        ("norm", torch.nn.BatchNorm1d(latent_dim, momentum=BATCH_NORM_MOMENTUM)),
        ("act", torch.nn.ELU()),
    ])


class MNISTCNN(torch.nn.Module):
    r"""The plain CNN for single digits, split into encoder and head (see the module docstring).

    :attr:`encoder` maps digits ``(B, 1, 28, 28)`` to the latent ``(B, d)``, the output
    of the last ELU right before the classifier: the layer the soft-equivariance loss
    acts on, with :math:`\rho_Z` = ``regular_latent(G, d)``. :attr:`head` maps the latent
    to logits, and ``forward(x)`` is ``head(encoder(x))``. With :math:`c = 16`,
    :math:`d = 66` and 10 classes it has **62,660** parameters (measured), 38,082 of them
    in ``Linear(576, 66)``.

    Args:
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        latent_dim (int, optional): the latent dimension :math:`d`.
    """

    def __init__(self, num_classes: int = 10, width: int = 16, latent_dim: int = 66):
        super().__init__()
        self.latent_dim = latent_dim
        layers: "OrderedDict[str, torch.nn.Module]" = OrderedDict()
        channels = 1
        for i, (kernel, multiple) in enumerate(_LAYERS, start=1):
            layers[f"block{i}"] = torch.nn.Sequential(
                torch.nn.Conv2d(channels, multiple * width, kernel, padding=kernel // 2),
                torch.nn.BatchNorm2d(multiple * width, momentum=BATCH_NORM_MOMENTUM),
                torch.nn.ELU(),
            )
            channels = multiple * width
            layers[f"pool{i}"] = torch.nn.MaxPool2d(2)  # 28 -> 14 -> 7 -> 3
        layers["flatten"] = torch.nn.Flatten()
        layers.update(_head(channels * 3 * 3, latent_dim))
        self.encoder = torch.nn.Sequential(layers)
        self.head = torch.nn.Linear(latent_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Logits of shape ``(B, num_classes)`` for digits of shape ``(B, 1, 28, 28)``."""
        _check_input(x)
        return self.head(self.encoder(x))


class MNISTSteerableCNN(torch.nn.Module):
    r"""The strictly :math:`G`-invariant CNN for single digits (see the module docstring).

    :attr:`equivariant` is the escnn part, an :class:`~escnn.nn.EquivariantModule` from
    :attr:`in_type` (one trivial field) to :math:`4c` trivial fields on the
    :math:`7 \times 7` grid (after group pooling), usable with escnn's tools such as
    :meth:`~escnn.nn.EquivariantModule.check_equivariance`; the global average over the
    grid and the plain head follow, so the logits are invariant up to float error.
    ``forward`` takes and returns plain tensors. With :math:`c = 4`, :math:`d = 66` and
    10 classes it has **5,892** parameters for :math:`C_4`, 3,972 for :math:`D_1` and
    9,732 for :math:`D_4` (measured); for :math:`C_4` its convolutions have the channels,
    and so the work, of :class:`MNISTCNN` with :math:`c = 16`. In train mode escnn's
    convolutions expand their filters at every call; in eval mode they cache them.

    Args:
        gspace (GSpace2D): the action of :math:`G` on the plane, e.g. from
            :func:`~escnn_soft.experiments.models.ddmnist_gspace`.
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`, in regular fields.
        latent_dim (int, optional): the width :math:`d` of the head's hidden layer.
    """

    def __init__(self, gspace: GSpace2D, num_classes: int = 10, width: int = 4, latent_dim: int = 66):
        super().__init__()
        self.gspace = gspace
        self.in_type = FieldType(gspace, [gspace.trivial_repr])
        modules = []
        t_in = self.in_type
        for i, (kernel, multiple) in enumerate(_LAYERS, start=1):
            t_out = FieldType(gspace, multiple * width * [gspace.regular_repr])
            modules += [R2Conv(t_in, t_out, kernel, padding=kernel // 2),
                        InnerBatchNorm(t_out, momentum=BATCH_NORM_MOMENTUM), ELU(t_out)]
            if i < len(_LAYERS):
                modules.append(PointwiseMaxPool2D(t_out, 2))
            t_in = t_out
        modules.append(GroupPooling(t_in))
        self.equivariant = SequentialModule(*modules)
        self.out_type = self.equivariant.out_type
        self.head = torch.nn.Sequential(OrderedDict([
            ("pool", torch.nn.AdaptiveAvgPool2d(1)),
            ("flatten", torch.nn.Flatten()),
            *_head(self.out_type.size, latent_dim).items(),
            ("classifier", torch.nn.Linear(latent_dim, num_classes)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Logits of shape ``(B, num_classes)`` for digits of shape ``(B, 1, 28, 28)``."""
        _check_input(x)
        return self.head(self.equivariant(GeometricTensor(x, self.in_type)).tensor)


def mnist_cnn(num_classes: int = 10, width: int = 16, latent_dim: int = 66) -> MNISTCNN:
    r"""The plain single-digit CNN; see :class:`MNISTCNN`."""
    return MNISTCNN(num_classes=num_classes, width=width, latent_dim=latent_dim)


def mnist_scnn(group_name: str, num_classes: int = 10, width: int = 4, latent_dim: int = 66) -> MNISTSteerableCNN:
    r"""The strictly :math:`G`-invariant single-digit CNN; see :class:`MNISTSteerableCNN`.

    Args:
        group_name (str): a key of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`.
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`, in regular fields.
        latent_dim (int, optional): the width of the head's hidden layer.

    Raises:
        ValueError: for an unknown group name.
    """
    return MNISTSteerableCNN(ddmnist_gspace(group_name), num_classes=num_classes, width=width,
                             latent_dim=latent_dim)
