r"""Models for double-digit MNIST (DDMNIST).

An input is a :math:`1 \times 56 \times 56` image holding two :math:`28 \times 28`
digits side by side; the label is one of 100 digit pairs. Every model here first
upsamples to an odd size, the whole image to :math:`57 \times 57` or each digit's
square to :math:`29 \times 29`, so that the centre is a pixel and the rotations by
:math:`90^\circ` and the mirror reflections of the square grid (the group :math:`D_4`
and its subgroups) map the pixel grid onto itself. Upsampling is bilinear with
``align_corners=True``: from :math:`n` to :math:`n + 1` pixels it samples the input at
:math:`i \cdot (n - 1)/n`, a map that commutes with reversing either axis and with
transposing, hence with the whole action of :math:`D_4`.

Five architectures:

* :class:`DDMNISTCNN` (:func:`ddmnist_cnn`), the plain CNN of Ali, Liò and Vicary
  (2025), appendix C.1;
* :class:`DDMNISTSteerableCNN` (:func:`ddmnist_scnn`), the same layer structure made
  strictly :math:`G`-equivariant with escnn, as in Veefkind and Cesa (2024);
* :class:`DDMNISTRPP` (:func:`ddmnist_rpp`), the steerable CNN with a residual pathway
  (Finzi et al., 2021) in every convolution;
* :class:`DDMNISTRestriction` (:func:`ddmnist_restriction`), the steerable CNN
  restricted to the trivial group in its last layers, Veefkind and Cesa's
  restriction model;
* :class:`DDMNISTGxGSteerableCNN` (:func:`ddmnist_scnn_gxg`), strictly invariant under
  the task's symmetry :math:`G \times G`: one steerable CNN, shared, embeds each digit.

The models of the comparison (plain, augmented, soft, strict, residual-pathway) and
how each of them trains are named by the task,
:class:`~escnn_soft.experiments.tasks.ddmnist.DDMNISTTask`. The group :math:`G` is one
of the keys of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`: ``"C4"``
(rotations by :math:`90^\circ`), ``"D1"`` (the left-right mirror,
``torch.flip(x, dims=[-1])``) and ``"D4"`` (both); see :func:`ddmnist_gspace`. It acts
on the whole image in all models but the last, and on each digit's square in
:class:`DDMNISTGxGSteerableCNN`.

The steerable models share five convolution blocks (base width :math:`c`): block
:math:`i` has :math:`m_i c` regular fields, :math:`m = (1, 2, 4, 6, 6)`, kernels
:math:`7, 5, 3, 3, 3`, strides :math:`1, 1, 2, 2, 1`, and is followed by an average
pooling (:math:`5 \times 5` Gaussian window) of stride 2 after blocks 2 and 3 and of
stride 1 after block 5; the paddings follow the grid, as in Veefkind and Cesa's
"double" (57) and "single" (29) models.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterator, List, Sequence

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
    RestrictionModule,
    SequentialModule,
)

from ..conventions import CNN_LATENTS, DDMNIST_GROUPS, DIGIT_REGIONS, cut_at_latent
from .restriction import UnconstrainedConv
from .rpp import ResidualPathwayConv

__all__ = [
    "DDMNISTCNN",
    "DDMNISTSteerableCNN",
    "DDMNISTRPP",
    "DDMNISTRestriction",
    "DDMNISTGxGSteerableCNN",
    "CNN_LATENTS",
    "ddmnist_gspace",
    "ddmnist_cnn",
    "ddmnist_scnn",
    "ddmnist_rpp",
    "ddmnist_restriction",
    "ddmnist_scnn_gxg",
]

#: Image size of the dataset and size after upsampling.
_IMAGE_SIZE = 56
_UPSAMPLED_SIZE = 57
#: Side of one digit's square and size after upsampling.
_DIGIT_SIZE = 28
_DIGIT_UPSAMPLED_SIZE = 29

#: (width multiple, kernel size, stride, stride of the pooling after it or 0 for none) of the
#: five convolution blocks of the steerable models.
_BLOCKS = ((1, 7, 1, 0), (2, 5, 1, 2), (4, 3, 2, 2), (6, 3, 2, 0), (6, 3, 1, 1))
#: Paddings of the five convolutions on the grid of a whole image (57: grids 55, 55, 27, 15,
#: 7, 3, 3, 1) and of one digit (29: grids 27, 27, 13, 7, 3, 3, 3, 1). Every strided layer
#: meets an odd grid with an even ``n + 2 * padding - kernel``, so it samples a grid centred
#: on the centre and the group keeps acting on it.
_PADDINGS = {_UPSAMPLED_SIZE: (2, 2, 2, 0, 1), _DIGIT_UPSAMPLED_SIZE: (2, 2, 1, 2, 1)}
#: The steerable models end in 8c trivial fields.
_EMBEDDING_MULTIPLE = 8


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
    and Cesa (2024) with a wider last convolution. With base width :math:`c`, and
    the index of each layer in the paper's code:

    ====  =========  ===============================================  ======================
    id    layer      operation                                        output
    ====  =========  ===============================================  ======================
    0     upsample   bilinear, ``align_corners=True``                 :math:`1 \times 57^2`
    1     block1     conv :math:`7\times7`, pad 2; BN; ELU            :math:`c \times 55^2`
    2     block2     conv :math:`5\times5`, pad 2; BN; ELU            :math:`2c \times 55^2`
    3     pool1      average :math:`5\times5`, stride 2, pad 1        :math:`2c \times 27^2`
    4     block3     conv :math:`3\times3`, stride 2, pad 2; BN; ELU  :math:`4c \times 15^2`
    5     pool2      average :math:`5\times5`, stride 2, pad 1        :math:`4c \times 7^2`
    6     block4     conv :math:`3\times3`, stride 2; BN; ELU         :math:`6c \times 3^2`
    7     block5     conv :math:`3\times3`, pad 1; BN; ELU            :math:`6c \times 3^2`
    8     pool3      average :math:`5\times5`, pad 1 (global)         :math:`6c \times 1^2`
    9     expand     conv :math:`1\times1`                            :math:`d \times 1^2`
    10    flatten                                                     :math:`d`
    11    norm       BatchNorm1d                                      :math:`d`
    12    act        ELU                                              :math:`d`
    13    fc         ``Linear(d, num_classes)``                       logits
    ====  =========  ===============================================  ======================

    The paper uses :math:`c = 6` and :math:`d = 11c = 66`, which gives **33,742**
    parameters for 100 classes, wherever the model is cut.

    :attr:`encoder` maps an image to the :math:`d`-dimensional latent vector
    :math:`z` that the soft-equivariance loss acts on, :attr:`head` maps :math:`z` to
    logits, and ``forward(x)`` is ``head(encoder(x))``. Where the cut lies is
    ``latent``:

    * ``"pre-bn"`` (the default, the paper's): :math:`z` is the output of
      ``expand``, flattened, before batch normalisation: layer 9, the default
      ``--equivariant_layer_id 9`` of the paper's code. The encoder ends with
      ``flatten``; the head is ``norm``, ``act`` and ``fc`` (BatchNorm1d, ELU,
      Linear).
    * ``"post-bn"``: :math:`z` is the output of the ELU right before the classifier
      (layer 12); the encoder ends with ``norm`` and ``act``, the head is the
      ``Linear`` alone.

    One deliberate change from the paper's code: it upsamples by nearest
    neighbour, which repeats the first row and column and so does not commute
    with the group action; bilinear interpolation with aligned corners does, and
    has no parameters either.

    The convolution weights are stored channels-last (``torch.channels_last``), so
    that every feature map after the first convolution is too: the same values, and
    about 1.25 times faster training steps on the CPU
    (``benchmarks/bench_memory_format.py``). ``to``, ``double`` and
    ``load_state_dict`` keep that layout.

    Args:
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        latent_dim (int, optional): the latent dimension :math:`d`.
        latent (str, optional): ``"pre-bn"`` or ``"post-bn"``, see above and
            :data:`CNN_LATENTS`.

    Raises:
        ValueError: for any other ``latent``.
    """

    def __init__(self, num_classes: int = 100, width: int = 6, latent_dim: int = 66, latent: str = "pre-bn"):
        super().__init__()
        c = width
        self.latent_dim = latent_dim
        self.latent = latent
        layers = OrderedDict([
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
        ])
        self.encoder, self.head = cut_at_latent(layers, latent_dim, num_classes, latent)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Logits of shape ``(B, num_classes)`` for images of shape ``(B, 1, 56, 56)``."""
        _check_input(x)
        return self.head(self.encoder(x))


_ConvFactory = Callable[..., EquivariantModule]


def _steerable_blocks(t_in: FieldType, width: int, paddings: Sequence[int], blocks: range,
                      conv: _ConvFactory) -> List[EquivariantModule]:
    r"""Convolution blocks ``blocks`` (0-based indices into :data:`_BLOCKS`) on ``t_in``'s gspace:
    each a convolution to :math:`m_i c` regular fields, InnerBatchNorm, ELU and its pooling."""
    gspace = t_in.gspace
    layers: List[EquivariantModule] = []
    for i in blocks:
        multiple, kernel_size, stride, pool_stride = _BLOCKS[i]
        t_out = FieldType(gspace, multiple * width * [gspace.regular_repr])
        layers += [conv(t_in, t_out, kernel_size, padding=paddings[i], stride=stride, bias=True),
                   InnerBatchNorm(t_out), ELU(t_out)]
        if pool_stride:
            layers.append(PointwiseAvgPoolAntialiased(t_out, sigma=0.66, stride=pool_stride, padding=1))
        t_in = t_out
    return layers


def _embedding_conv(t_in: FieldType, width: int, conv: _ConvFactory) -> EquivariantModule:
    r"""The last layer: a :math:`1 \times 1` convolution without bias to :math:`8c` trivial fields."""
    gspace = t_in.gspace
    return conv(t_in, FieldType(gspace, _EMBEDDING_MULTIPLE * width * [gspace.trivial_repr]), 1, padding=0,
                stride=1, bias=False)


def _invariant_head(features: int, num_classes: int) -> torch.nn.Sequential:
    r"""BatchNorm1d, ELU and ``Linear(features, num_classes)``."""
    return torch.nn.Sequential(
        torch.nn.BatchNorm1d(features),
        torch.nn.ELU(),
        torch.nn.Linear(features, num_classes),
    )


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
    :math:`5 \times 5` Gaussian window), as in their model. On the odd grids that
    the upsampling to :math:`57 \times 57` produces (57, 55, 27, 15, 7, 3, 1), every
    strided layer samples a grid centred on the image centre, so the whole network
    is exactly equivariant, up to float error.

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
        self.gspace = gspace
        self.in_type = FieldType(gspace, [gspace.trivial_repr])
        blocks = _steerable_blocks(self.in_type, width, _PADDINGS[_UPSAMPLED_SIZE], range(len(_BLOCKS)), conv)
        self.equivariant = SequentialModule(
            R2Upsampling(self.in_type, size=_UPSAMPLED_SIZE, mode="bilinear", align_corners=True),
            *blocks,
            _embedding_conv(blocks[-1].out_type, width, conv),
        )
        self.out_type = self.equivariant.out_type
        self.head = _invariant_head(self.out_type.size, num_classes)

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


class DDMNISTRestriction(torch.nn.Module):
    r"""The steerable DDMNIST CNN, restricted to the trivial group in its last layers.

    The restriction model of Veefkind and Cesa (2024): the layers of
    :class:`DDMNISTSteerableCNN` up to block :math:`k` (``restrict_at``) are
    :math:`G`-equivariant, on regular fields; then an escnn
    :class:`~escnn.nn.RestrictionModule` re-reads the :math:`m_k c` regular fields
    as fields of the trivial subgroup :math:`\{e\}`
    (:math:`\operatorname{Res}^G_{\{e\}} \rho_\text{reg} = |G|` trivial fields, the
    tensor unchanged), and the remaining layers are equivariant for :math:`\{e\}`
    only, i.e. unconstrained: ordinary convolutions
    (:class:`~escnn_soft.experiments.models.UnconstrainedConv`) with the widths of the
    plain CNN. With :math:`k = 4`, Veefkind and Cesa's choice (their ``--restrict``:
    "restricts the network to trivial in the last two layers"):

    ===========  =========================================  ======================================
    layer        operation                                  output
    ===========  =========================================  ======================================
    upsample     bilinear, ``align_corners=True``           :math:`1 \times 57^2`
    block1–4     :class:`DDMNISTSteerableCNN`'s             :math:`6c` regular fields, :math:`3^2`
    restriction  :math:`G \to \{e\}`                        :math:`6c|G|` channels, :math:`3^2`
    block5       conv :math:`3\times3`, pad 1; BN; ELU      :math:`6c \times 3^2`
    pool3        Gaussian :math:`5\times5`, pad 1 (global)  :math:`6c \times 1^2`
    expand       conv :math:`1\times1`, no bias             :math:`8c \times 1^2`
    head         BatchNorm1d; ELU; Linear                   logits
    ===========  =========================================  ======================================

    For a smaller :math:`k` the blocks :math:`k + 1, \dots, 5` after the restriction
    have :math:`m_i c` channels (their InnerBatchNorm on fields of size 1 is a
    BatchNorm2d); the pooling that follows block :math:`k` stays before the
    restriction. The layers before the restriction form :attr:`equivariant`, an
    :class:`~escnn.nn.EquivariantModule` from :attr:`in_type` to regular fields of
    :math:`G`, exactly equivariant up to float error; :attr:`restriction` and
    :attr:`restricted` follow, and the model as a whole is in general not invariant.
    A fixed change of basis that
    :class:`~escnn.nn.DisentangleModule` would apply after the restriction is left
    out: the next layer is an unconstrained linear map, which absorbs it.

    Before the restriction the layers differ from Veefkind and Cesa's as those of
    :class:`DDMNISTSteerableCNN` do. After it their model keeps steerable
    convolutions, now for the trivial group, in a bandlimited basis (escnn's has 6
    filters per pair of channels for :math:`3 \times 3`); ours are ordinary
    convolutions, with all 9.

    Parameters for :math:`c = 6`, 100 classes and :math:`k = 4`, measured:
    **84,646** for :math:`C_4`, **45,910** for :math:`D_1`, **162,118** for :math:`D_4`
    (for :math:`k = 1, \dots, 5`: 36,406, 40,150, 60,022, 84,646, 74,278 for :math:`C_4`).

    Args:
        gspace (GSpace2D): the action of :math:`G` on the plane, e.g. from
            :func:`ddmnist_gspace`.
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        restrict_at (int, optional): :math:`k`, the last block before the
            restriction, 1 to 5.

    Raises:
        ValueError: for ``restrict_at`` outside 1 to 5.
    """

    def __init__(self, gspace: GSpace2D, num_classes: int = 100, width: int = 6, restrict_at: int = 4):
        super().__init__()
        if restrict_at not in range(1, len(_BLOCKS) + 1):
            raise ValueError(f"restrict_at must be a block index in 1..{len(_BLOCKS)}, got {restrict_at!r}")
        self.gspace = gspace
        self.restrict_at = restrict_at
        self.in_type = FieldType(gspace, [gspace.trivial_repr])
        paddings = _PADDINGS[_UPSAMPLED_SIZE]
        self.equivariant = SequentialModule(
            R2Upsampling(self.in_type, size=_UPSAMPLED_SIZE, mode="bilinear", align_corners=True),
            *_steerable_blocks(self.in_type, width, paddings, range(restrict_at), R2Conv),
        )
        self.restriction = RestrictionModule(self.equivariant.out_type, gspace.fibergroup.subgroup_trivial_id)
        t = self.restriction.out_type
        blocks = _steerable_blocks(t, width, paddings, range(restrict_at, len(_BLOCKS)), UnconstrainedConv)
        self.restricted = SequentialModule(
            *blocks,
            _embedding_conv(blocks[-1].out_type if blocks else t, width, UnconstrainedConv),
        )
        self.out_type = self.restricted.out_type
        self.head = _invariant_head(self.out_type.size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Logits of shape ``(B, num_classes)`` for images of shape ``(B, 1, 56, 56)``."""
        _check_input(x)
        z = self.restricted(self.restriction(self.equivariant(GeometricTensor(x, self.in_type)))).tensor
        return self.head(z.flatten(1))


class DDMNISTGxGSteerableCNN(torch.nn.Module):
    r"""A DDMNIST model strictly invariant under :math:`G \times G`, one :math:`G` per digit.

    The task's symmetry moves the two digits independently,
    :math:`(g_1, g_2) \cdot x = [\, g_1 \cdot x_a \mid g_2 \cdot x_b \,]`, each in its own
    :math:`28 \times 28` square (the regions
    :data:`~escnn_soft.experiments.datasets.ddmnist.DIGIT_REGIONS`: rows 14–41,
    columns 0–27 for the left digit :math:`a` and 28–55 for the right digit
    :math:`b`; the rest of the canvas is blank and ignored). The model crops the two
    squares, embeds each with one shared :math:`G`-invariant steerable CNN
    :math:`\phi` (:attr:`embedding`) and classifies the concatenation, left digit
    first:

    .. math::
        f(x) = h\bigl(\phi(x_a) \oplus \phi(x_b)\bigr), \qquad
        \phi(g \cdot u) = \phi(u) \;\; \forall g \in G
        \quad\Longrightarrow\quad f\bigl((g_1, g_2) \cdot x\bigr) = f(x).

    :math:`\phi` has the blocks of :class:`DDMNISTSteerableCNN`, with the paddings of
    Veefkind and Cesa's single-digit model for the :math:`29 \times 29` grid:

    ==========  ================================================  =====================================
    layer       operation                                         output (one digit)
    ==========  ================================================  =====================================
    upsample    bilinear, ``align_corners=True``                  :math:`1 \times 29^2`
    block1      conv :math:`7\times7`, pad 2; BN; ELU             :math:`c` regular fields, :math:`27^2`
    block2      conv :math:`5\times5`, pad 2; BN; ELU             :math:`2c`, :math:`27^2`
    pool1       Gaussian :math:`5\times5`, stride 2, pad 1        :math:`2c`, :math:`13^2`
    block3      conv :math:`3\times3`, stride 2, pad 1; BN; ELU   :math:`4c`, :math:`7^2`
    pool2       Gaussian :math:`5\times5`, stride 2, pad 1        :math:`4c`, :math:`3^2`
    block4      conv :math:`3\times3`, stride 2, pad 2; BN; ELU   :math:`6c`, :math:`3^2`
    block5      conv :math:`3\times3`, pad 1; BN; ELU             :math:`6c`, :math:`3^2`
    pool3       Gaussian :math:`5\times5`, pad 1 (global)         :math:`6c`, :math:`1^2`
    expand      conv :math:`1\times1` to trivial fields, no bias  :math:`8c` invariants
    ==========  ================================================  =====================================

    As in :class:`DDMNISTSteerableCNN`, ``expand`` averages each regular field over
    :math:`G` (group pooling) and mixes the averages linearly, and on the
    :math:`1 \times 1` grid left by the global pooling its output is invariant. The
    head :math:`h` is an MLP on the :math:`16c` invariants: BatchNorm1d, ELU,
    ``Linear(16c, hidden_dim)``, BatchNorm1d, ELU, ``Linear(hidden_dim, num_classes)``.
    Both digits go through :math:`\phi` as one batch of :math:`2B` squares, so its
    batch normalisations see both.

    Parameters for :math:`c = 6`, hidden width 66 and 100 classes, measured:
    **77,524** for :math:`C_4`, **46,564** for :math:`D_1`, **139,444** for :math:`D_4`
    (:math:`\phi` alone has as many as the escnn part of
    :class:`DDMNISTSteerableCNN`). Its convolutions run on two :math:`29 \times 29`
    squares instead of one :math:`57 \times 57` image, about half the pixels.

    Args:
        gspace (GSpace2D): the action of :math:`G` on one digit's square, e.g. from
            :func:`ddmnist_gspace`.
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        hidden_dim (int, optional): the width of the head's hidden layer.
    """

    def __init__(self, gspace: GSpace2D, num_classes: int = 100, width: int = 6, hidden_dim: int = 66):
        super().__init__()
        self.gspace = gspace
        self.in_type = FieldType(gspace, [gspace.trivial_repr])
        blocks = _steerable_blocks(self.in_type, width, _PADDINGS[_DIGIT_UPSAMPLED_SIZE], range(len(_BLOCKS)),
                                   R2Conv)
        self.embedding = SequentialModule(
            R2Upsampling(self.in_type, size=_DIGIT_UPSAMPLED_SIZE, mode="bilinear", align_corners=True),
            *blocks,
            _embedding_conv(blocks[-1].out_type, width, R2Conv),
        )
        self.out_type = self.embedding.out_type
        features = len(DIGIT_REGIONS) * self.out_type.size
        self.head = torch.nn.Sequential(OrderedDict([
            ("norm", torch.nn.BatchNorm1d(features)),
            ("act", torch.nn.ELU()),
            ("fc", torch.nn.Linear(features, hidden_dim)),
            ("hidden_norm", torch.nn.BatchNorm1d(hidden_dim)),
            ("hidden_act", torch.nn.ELU()),
            ("classifier", torch.nn.Linear(hidden_dim, num_classes)),
        ]))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        r"""The :math:`G \times G`-invariant features :math:`\phi(x_a) \oplus \phi(x_b)`,
        shape ``(B, 16c)``, of images of shape ``(B, 1, 56, 56)``."""
        _check_input(x)
        squares = torch.stack([x[:, :, rows, cols] for rows, cols in DIGIT_REGIONS], dim=1)
        squares = squares.reshape(-1, 1, _DIGIT_SIZE, _DIGIT_SIZE)  # (2B, 1, 28, 28), left and right alternating
        z = self.embedding(GeometricTensor(squares, self.in_type)).tensor
        return z.reshape(x.shape[0], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Logits of shape ``(B, num_classes)`` for images of shape ``(B, 1, 56, 56)``."""
        return self.head(self.embed(x))


def ddmnist_cnn(num_classes: int = 100, width: int = 6, latent_dim: int = 66, latent: str = "pre-bn") -> DDMNISTCNN:
    r"""The plain DDMNIST CNN (33,742 parameters by default); see :class:`DDMNISTCNN`.

    Args:
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        latent_dim (int, optional): the latent dimension :math:`d`.
        latent (str, optional): the cut between encoder and head, ``"pre-bn"`` (the
            output of the :math:`1 \times 1` convolution ``expand``, the paper's layer 9)
            or ``"post-bn"`` (after the BatchNorm1d and ELU that follow it).

    Raises:
        ValueError: for an unknown ``latent``.
    """
    return DDMNISTCNN(num_classes=num_classes, width=width, latent_dim=latent_dim, latent=latent)


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


def ddmnist_restriction(group_name: str, num_classes: int = 100, width: int = 6,
                        restrict_at: int = 4) -> DDMNISTRestriction:
    r"""The DDMNIST CNN equivariant for :math:`G` up to block ``restrict_at`` and
    unconstrained after it; see :class:`DDMNISTRestriction`.

    .. math::
        f = h \circ \psi \circ \operatorname{Res}^G_{\{e\}} \circ \Phi, \qquad
        \Phi(g \cdot x) = \rho_\text{reg}(g)\, \Phi(x), \quad \psi \text{ unconstrained}.

    Args:
        group_name (str): a key of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`.
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        restrict_at (int, optional): the last equivariant block, 1 to 5; 4 by default,
            as in Veefkind and Cesa (2024).

    Raises:
        ValueError: for an unknown group name or ``restrict_at`` outside 1 to 5.
    """
    return DDMNISTRestriction(ddmnist_gspace(group_name), num_classes=num_classes, width=width,
                              restrict_at=restrict_at)


def ddmnist_scnn_gxg(group_name: str, num_classes: int = 100, width: int = 6,
                     hidden_dim: int = 66) -> DDMNISTGxGSteerableCNN:
    r"""The strictly :math:`G \times G`-invariant DDMNIST CNN; see :class:`DDMNISTGxGSteerableCNN`.

    .. math::
        f(x) = h\bigl(\phi(x_a) \oplus \phi(x_b)\bigr), \qquad f\bigl((g_1, g_2) \cdot x\bigr) = f(x)
        \quad \forall (g_1, g_2) \in G \times G.

    Args:
        group_name (str): a key of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`;
            :math:`G` acts on each digit's square.
        num_classes (int, optional): the number of classes.
        width (int, optional): the base width :math:`c`.
        hidden_dim (int, optional): the width of the head's hidden layer.

    Raises:
        ValueError: for an unknown group name.
    """
    return DDMNISTGxGSteerableCNN(ddmnist_gspace(group_name), num_classes=num_classes, width=width,
                                  hidden_dim=hidden_dim)
