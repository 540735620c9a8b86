r"""Models for double-digit MNIST (DDMNIST).

An input is a :math:`1 \times 56 \times 56` image holding two :math:`28 \times 28`
digits side by side; the label is one of 100 digit pairs. Every model here first
upsamples the image to :math:`57 \times 57`, an odd size, so that the centre of
the image is a pixel and the rotations by :math:`90^\circ` and the mirror
reflections of the square grid (the group :math:`D_4` and its subgroups) map the
pixel grid onto itself. Upsampling is bilinear with ``align_corners=True``: it
samples the input at :math:`i \cdot 55/56`, a map that commutes with reversing
either axis and with transposing, hence with the whole action of :math:`D_4`.

Three architectures:

* :class:`DDMNISTCNN` (:func:`ddmnist_cnn`), the plain CNN of Ali, Liò and Vicary
  (2025), appendix C.1;
* :class:`DDMNISTSteerableCNN` (:func:`ddmnist_scnn`), the same layer structure made
  strictly :math:`G`-equivariant with escnn, as in Veefkind and Cesa (2024);
* :class:`DDMNISTRPP` (:func:`ddmnist_rpp`), the steerable CNN with a residual pathway
  (Finzi et al., 2021) in every convolution.

The models of the comparison (plain, augmented, soft, strict, residual-pathway) and
how each of them trains are named by the task,
:class:`~escnn_soft.experiments.tasks.ddmnist.DDMNISTTask`. The group :math:`G` is one
of the keys of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`: ``"C4"``
(rotations by :math:`90^\circ`), ``"D1"`` (the left-right mirror,
``torch.flip(x, dims=[-1])``) and ``"D4"`` (both), acting on the whole image; see
:func:`ddmnist_gspace`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterator, List

import torch
from escnn.gspaces import GSpace2D
from escnn.nn import (
    ELU,
    EquivariantModule,
    FieldType,
    GeometricTensor,
    InnerBatchNorm,
    PointwiseAvgPoolAntialiased,
    R2Conv,
    R2Upsampling,
    SequentialModule,
)

from ..datasets.ddmnist import DDMNIST_GROUPS
from .rpp import ResidualPathwayConv

__all__ = [
    "DDMNISTCNN",
    "DDMNISTSteerableCNN",
    "DDMNISTRPP",
    "ddmnist_gspace",
    "ddmnist_cnn",
    "ddmnist_scnn",
    "ddmnist_rpp",
]

#: Image size of the dataset and size after upsampling.
_IMAGE_SIZE = 56
_UPSAMPLED_SIZE = 57


def ddmnist_gspace(group_name: str) -> GSpace2D:
    r"""A fresh escnn gspace of a DDMNIST group acting on the image plane.

    Built by the factory of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`, the
    one definition of the groups: ``"C4"`` is :func:`~escnn.gspaces.rot2dOnR2` with
    :math:`N = 4`; ``"D1"`` and ``"D4"`` are :func:`~escnn.gspaces.flipRot2dOnR2` with
    :math:`N = 1, 4` and the reflection axis at :math:`\pi/2`, so that on a tensor of
    shape ``(B, C, H, W)`` the reflection is ``torch.flip(x, dims=[-1])`` (left and
    right swap) and the rotation by :math:`90^\circ` is
    ``torch.rot90(x, 1, dims=(-2, -1))``, as :meth:`escnn.nn.GeometricTensor.transform`
    applies them.

    Args:
        group_name (str): a key of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`.

    Raises:
        ValueError: for any other name.
    """
    if group_name not in DDMNIST_GROUPS:
        raise ValueError(f"unknown DDMNIST group {group_name!r}; valid groups: {', '.join(DDMNIST_GROUPS)}")
    return DDMNIST_GROUPS[group_name]()


def _check_input(x: torch.Tensor) -> None:
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, _IMAGE_SIZE, _IMAGE_SIZE):
        raise ValueError(f"expected DDMNIST images of shape (B, 1, {_IMAGE_SIZE}, {_IMAGE_SIZE}), "
                         f"got {tuple(x.shape)}")


def _conv_block(c_in: int, c_out: int, kernel_size: int, stride: int = 1, padding: int = 0) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding),
        torch.nn.BatchNorm2d(c_out),
        torch.nn.ELU(),
    )


class DDMNISTCNN(torch.nn.Module):
    r"""The plain DDMNIST CNN of Ali, Liò and Vicary (2025), split into encoder and head.

    The layer structure is that of the paper's DDMNIST model (its appendix C.1 and
    ``DDMNISTCNN`` in its public code), itself the double-MNIST CNN of Veefkind
    and Cesa (2024) with a wider last convolution. With base width :math:`c`:

    =========  ===============================================  ======================
    layer      operation                                        output
    =========  ===============================================  ======================
    upsample   bilinear, ``align_corners=True``                 :math:`1 \times 57^2`
    block1     conv :math:`7\times7`, pad 2; BN; ELU            :math:`c \times 55^2`
    block2     conv :math:`5\times5`, pad 2; BN; ELU            :math:`2c \times 55^2`
    pool1      average :math:`5\times5`, stride 2, pad 1        :math:`2c \times 27^2`
    block3     conv :math:`3\times3`, stride 2, pad 2; BN; ELU  :math:`4c \times 15^2`
    pool2      average :math:`5\times5`, stride 2, pad 1        :math:`4c \times 7^2`
    block4     conv :math:`3\times3`, stride 2; BN; ELU         :math:`6c \times 3^2`
    block5     conv :math:`3\times3`, pad 1; BN; ELU            :math:`6c \times 3^2`
    pool3      average :math:`5\times5`, pad 1 (global)         :math:`6c \times 1^2`
    expand     conv :math:`1\times1`                            :math:`d \times 1^2`
    flatten                                                     :math:`d`
    norm, act  BatchNorm1d; ELU                                 :math:`d`
    =========  ===============================================  ======================

    followed by the classifier ``Linear(d, num_classes)``. The paper uses
    :math:`c = 6` and :math:`d = 11c = 66`, which gives **33,742** parameters for
    100 classes.

    :attr:`encoder` maps an image to the :math:`d`-dimensional latent vector, the
    output of the last ELU right before the classifier: the layer the paper's
    soft-equivariance loss acts on (its ``equivariant_layer_id = 12``).
    :attr:`head` maps the latent vector to logits, and ``forward(x)`` is
    ``head(encoder(x))``.

    One deliberate change from the paper's code: it upsamples by nearest
    neighbour, which repeats the first row and column and so does not commute
    with the group action; bilinear interpolation with aligned corners does, and
    has no parameters either.

    Args:
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        latent_dim (int, optional): the latent dimension :math:`d`.
    """

    def __init__(self, num_classes: int = 100, width: int = 6, latent_dim: int = 66):
        super().__init__()
        c = width
        self.latent_dim = latent_dim
        self.encoder = torch.nn.Sequential(OrderedDict([
            ("upsample", torch.nn.Upsample(size=(_UPSAMPLED_SIZE, _UPSAMPLED_SIZE), mode="bilinear",
                                           align_corners=True)),
            ("block1", _conv_block(1, c, 7, padding=2)),
            ("block2", _conv_block(c, 2 * c, 5, padding=2)),
            ("pool1", torch.nn.AvgPool2d(5, stride=2, padding=1)),
            ("block3", _conv_block(2 * c, 4 * c, 3, stride=2, padding=2)),
            ("pool2", torch.nn.AvgPool2d(5, stride=2, padding=1)),
            ("block4", _conv_block(4 * c, 6 * c, 3, stride=2)),
            ("block5", _conv_block(6 * c, 6 * c, 3, padding=1)),
            ("pool3", torch.nn.AvgPool2d(5, stride=1, padding=1)),
            ("expand", torch.nn.Conv2d(6 * c, latent_dim, 1)),
            ("flatten", torch.nn.Flatten()),
            ("norm", torch.nn.BatchNorm1d(latent_dim)),
            ("act", torch.nn.ELU()),
        ]))
        self.head = torch.nn.Linear(latent_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Logits of shape ``(B, num_classes)`` for images of shape ``(B, 1, 56, 56)``."""
        _check_input(x)
        return self.head(self.encoder(x))


_ConvFactory = Callable[..., EquivariantModule]


class DDMNISTSteerableCNN(torch.nn.Module):
    r"""The DDMNIST CNN made strictly :math:`G`-equivariant with escnn.

    The steerable CNN of Veefkind and Cesa (2024) for double MNIST, restricted to
    a finite group :math:`G` acting on the whole image: the layers of
    :class:`DDMNISTCNN`, with every scalar channel of its convolutions replaced by a
    *regular* feature field of :math:`G` (:math:`|G|` channels that :math:`G`
    permutes), so the five convolutions output :math:`c, 2c, 4c, 6c, 6c` regular
    fields. Batch normalisation is :class:`~escnn.nn.InnerBatchNorm` (one mean and
    variance per field, shared by its :math:`|G|` channels; on regular fields it
    matches the :class:`~escnn.nn.IIDBatchNorm2d` of their model up to the variance
    estimator, at half the cost), the nonlinearity a pointwise
    :class:`~escnn.nn.ELU` (equivariant on regular fields) and the average poolings
    are :class:`~escnn.nn.PointwiseAvgPoolAntialiased` with :math:`\sigma = 0.66` (a
    :math:`5 \times 5` Gaussian window), as in their model. On the odd grids that the upsampling to :math:`57 \times 57` produces
    (57, 55, 27, 15, 7, 3, 1), every strided layer samples a grid centred on the
    image centre, so the whole network is exactly equivariant, up to float error.

    The last layer is a :math:`1 \times 1` :class:`~escnn.nn.R2Conv` from the
    :math:`6c` regular fields to :math:`8c` trivial (invariant) fields without
    bias. An equivariant linear map from a regular field to a trivial one
    averages the field over :math:`G`, so this layer is an average group pooling
    followed by a learned linear map; after the global spatial pooling ``pool3``
    its :math:`8c` outputs are :math:`G`-invariant. The head, as in the CNN, is
    BatchNorm1d, ELU and a linear classifier, so the logits are invariant.

    Parameters for :math:`c = 6` and 100 classes, measured: **69,094** for
    :math:`C_4`, **38,134** for :math:`D_1`, **131,014** for :math:`D_4`. The
    steerable filters use escnn's default bandlimited basis (Veefkind and Cesa
    use their own basis, hence somewhat larger counts); the circular mask of
    their model is left out, as it only matters for continuous rotations.

    :attr:`equivariant` is the escnn part (an :class:`~escnn.nn.EquivariantModule`
    from :attr:`in_type` to :math:`8c` trivial fields of size :math:`1 \times 1`),
    usable with escnn's tools such as
    :meth:`~escnn.nn.EquivariantModule.check_equivariance`; ``forward`` takes
    and returns plain tensors. In train mode escnn's convolutions expand their
    filters at every call; in eval mode they cache them.

    Args:
        gspace (GSpace2D): the action of :math:`G` on the plane, e.g. from
            :func:`ddmnist_gspace`.
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        conv (callable, optional): builds each convolution from
            ``(in_type, out_type, kernel_size, padding=, stride=, bias=)``;
            :class:`~escnn.nn.R2Conv` by default.
    """

    def __init__(self, gspace: GSpace2D, num_classes: int = 100, width: int = 6, conv: _ConvFactory = R2Conv):
        super().__init__()
        c = width
        self.gspace = gspace
        self.in_type = FieldType(gspace, [gspace.trivial_repr])
        fields = [FieldType(gspace, n * [gspace.regular_repr]) for n in (c, 2 * c, 4 * c, 6 * c, 6 * c)]
        self.out_type = FieldType(gspace, 8 * c * [gspace.trivial_repr])

        def block(t_in: FieldType, t_out: FieldType, kernel_size: int, stride: int = 1,
                  padding: int = 0) -> List[EquivariantModule]:
            return [conv(t_in, t_out, kernel_size, padding=padding, stride=stride, bias=True),
                    InnerBatchNorm(t_out), ELU(t_out)]

        def pool(t: FieldType, stride: int) -> EquivariantModule:
            return PointwiseAvgPoolAntialiased(t, sigma=0.66, stride=stride, padding=1)

        self.equivariant = SequentialModule(
            R2Upsampling(self.in_type, size=_UPSAMPLED_SIZE, mode="bilinear", align_corners=True),
            *block(self.in_type, fields[0], 7, padding=2),
            *block(fields[0], fields[1], 5, padding=2),
            pool(fields[1], stride=2),
            *block(fields[1], fields[2], 3, stride=2, padding=2),
            pool(fields[2], stride=2),
            *block(fields[2], fields[3], 3, stride=2),
            *block(fields[3], fields[4], 3, padding=1),
            pool(fields[4], stride=1),
            conv(fields[4], self.out_type, 1, padding=0, stride=1, bias=False),
        )
        self.head = torch.nn.Sequential(
            torch.nn.BatchNorm1d(self.out_type.size),
            torch.nn.ELU(),
            torch.nn.Linear(self.out_type.size, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Logits of shape ``(B, num_classes)`` for images of shape ``(B, 1, 56, 56)``."""
        _check_input(x)
        z = self.equivariant(GeometricTensor(x, self.in_type)).tensor
        return self.head(z.flatten(1))


class DDMNISTRPP(DDMNISTSteerableCNN):
    r"""The steerable DDMNIST CNN with a residual pathway prior in every convolution.

    Each :class:`~escnn.nn.R2Conv` of :class:`DDMNISTSteerableCNN` becomes a
    :class:`~escnn_soft.experiments.models.ResidualPathwayConv`: the strict layer plus an
    unconstrained :class:`torch.nn.Conv2d` with the same input and output channels
    (in the plain tensor view), kernel, stride and padding, as in the RPP baseline
    of Veefkind and Cesa (2024). The prior is an L2 penalty on the unconstrained
    path,

    .. math::
        \mathcal{L}_\text{prior} = \lambda \sum_\ell \lVert \theta^{(\ell)}_\text{free} \rVert_2^2,

    returned by :meth:`prior_loss`, to be added to the task loss: the negative log
    of a Gaussian prior of variance :math:`1/(2\lambda)` on the unconstrained
    weights and biases. The default :math:`\lambda = 10^{-3}` is Veefkind and
    Cesa's value for double MNIST (their ``basic_wd``), inside the range
    :math:`10^{-4}` to :math:`10^{-1}` that Finzi et al. sweep for image models.
    Both also put a much broader prior on the equivariant weights (Veefkind and
    Cesa: :math:`10^{-5}`, their ``conv_wd``); that is plain weight decay and is left
    to the optimiser, e.g. a parameter group of all parameters but
    :meth:`unconstrained_parameters` with Adam's ``weight_decay=2e-5``.

    Parameters for :math:`c = 6` and 100 classes, measured: **458,950** for
    :math:`C_4`, **137,734** for :math:`D_1`, **1,673,350** for :math:`D_4`.

    Args:
        gspace (GSpace2D): the action of :math:`G` on the plane.
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        prior_weight (float, optional): :math:`\lambda`.
    """

    def __init__(self, gspace: GSpace2D, num_classes: int = 100, width: int = 6, prior_weight: float = 1e-3):
        super().__init__(gspace, num_classes=num_classes, width=width, conv=ResidualPathwayConv)
        self.prior_weight = prior_weight

    def unconstrained_parameters(self) -> Iterator[torch.nn.Parameter]:
        r"""The parameters of all unconstrained paths."""
        for m in self.equivariant.modules():
            if isinstance(m, ResidualPathwayConv):
                yield from m.unconstrained_parameters()

    def prior_loss(self) -> torch.Tensor:
        r"""The penalty :math:`\lambda \sum_\ell \lVert \theta^{(\ell)}_\text{free} \rVert_2^2`, a scalar."""
        return self.prior_weight * sum(p.pow(2).sum() for p in self.unconstrained_parameters())


def ddmnist_cnn(num_classes: int = 100, width: int = 6, latent_dim: int = 66) -> DDMNISTCNN:
    r"""The plain DDMNIST CNN (33,742 parameters by default); see :class:`DDMNISTCNN`."""
    return DDMNISTCNN(num_classes=num_classes, width=width, latent_dim=latent_dim)


def ddmnist_scnn(group_name: str, num_classes: int = 100, width: int = 6) -> DDMNISTSteerableCNN:
    r"""The strictly :math:`G`-equivariant DDMNIST CNN; see :class:`DDMNISTSteerableCNN`.

    Args:
        group_name (str): a key of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`.
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
    """
    return DDMNISTSteerableCNN(ddmnist_gspace(group_name), num_classes=num_classes, width=width)


def ddmnist_rpp(group_name: str, num_classes: int = 100, width: int = 6, prior_weight: float = 1e-3) -> DDMNISTRPP:
    r"""The residual-pathway DDMNIST CNN for :math:`G`; see :class:`DDMNISTRPP`.

    Args:
        group_name (str): a key of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`.
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        prior_weight (float, optional): the coefficient of the L2 prior on the
            unconstrained paths.
    """
    return DDMNISTRPP(ddmnist_gspace(group_name), num_classes=num_classes, width=width, prior_weight=prior_weight)
