r"""Strictly invariant steerable CNNs for MedMNIST3D: the octahedral group and SO(3).

An input is a :math:`1 \times 28^3` volume. Both models have the depth and layout of the
paper's 3D ResNet (Ali, Liò and Vicary, 2025, appendix C.2; ``CNN3DResnet`` in its code,
itself the 3D ResNet of Veefkind and Cesa, 2024), made strictly invariant with escnn:

* :class:`MedMNIST3DOctaSteerableCNN` (:func:`medmnist3d_octa_scnn`), on
  :func:`~escnn.gspaces.octaOnR3`: regular fields of the 24 rotations of the cube
  (the group :math:`O`, which the paper calls :math:`S_4`);
* :class:`MedMNIST3DSO3SteerableCNN` (:func:`medmnist3d_so3_scnn`), on
  :func:`~escnn.gspaces.rot3dOnR3`: band-limited fields of :math:`SO(3)` with a
  Fourier ELU, as in Veefkind and Cesa's MedMNIST networks, on a sampling grid of
  :math:`SO(3)` that :math:`O` maps onto itself, so that the model is exactly invariant
  under the 24 cube rotations of the voxel grid (and approximately under the others).

Spatial layout, shared by both (and by the plain CNN), on the grid that the
upsampling produces:

===========  =============================================================  ==========
layer        operation                                                      grid
===========  =============================================================  ==========
upsample     trilinear, ``align_corners=True``                              :math:`29^3`
resblock1    block1: conv :math:`7^3`, pad 2; BN; act                       :math:`27^3`
             block2: conv :math:`5^3`, pad 2; BN; act                       :math:`27^3`
             + skip1: conv :math:`7^3`, pad 2                               :math:`27^3`
pool1        average :math:`5^3`, stride 2, pad 1                           :math:`13^3`
resblock2    block3: conv :math:`3^3`, stride 2, pad 1; BN; act             :math:`7^3`
             pool2: average :math:`5^3`, stride 2, pad 1                    :math:`3^3`
             block4: conv :math:`3^3`, stride 2, pad 2; BN; act             :math:`3^3`
             + skip2: average :math:`5^3`, stride 2; conv :math:`3^3`       :math:`5^3, 3^3`
resblock3    block5: conv :math:`3^3`, pad 1; BN; act                       :math:`3^3`
             pool3: average :math:`3^3`                                     :math:`1^3`
             block6: conv :math:`1^3` to invariant (trivial) fields         :math:`1^3`
             + skip3: conv :math:`3^3` to invariant fields                  :math:`1^3`
head         BatchNorm1d; ELU; ``Linear(features, n_classes)``              logits
===========  =============================================================  ==========

Every grid is odd and every strided layer meets a grid :math:`n` with
:math:`n + 2p - k` even, so each samples a grid centred on the volume's centre; the
paddings are symmetric and the average poolings are uniform windows. Trilinear
upsampling from :math:`n` to :math:`n + 1` with aligned corners samples the input at
:math:`i (n - 1)/n`, a map that commutes with reversing and with permuting the axes,
hence with the 24 rotations of the cube, which permute the voxels. The nearest-neighbour
upsampling of the paper's code does not commute with them.

The last two convolutions map to ``features`` trivial (invariant) fields. An
equivariant linear map to a trivial field averages its input over the group, so they
are an average group pooling fused with a learned linear map, and on the
:math:`1^3` grid left after ``pool3`` their sum is an invariant vector of
``features`` entries (48 by default, the width of the CNN's latent).

Parameter counts, measured for 2 classes (the plain CNN, ``CNN3DResnet`` at
:math:`c = 6`, has 141,998 for 2 classes and 142,439 for 11): **87,414** for the
octahedral model at its default of two regular fields (:class:`MedMNIST3DOctaSteerableCNN`),
**21,513** for the SO(3) model at its default of one band-limited field
(:class:`MedMNIST3DSO3SteerableCNN`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, List, Tuple

import numpy as np
import torch
from escnn import gspaces
from escnn.group import SO3, GroupElement
from escnn.gspaces import GSpace3D
from escnn.nn import (
    ELU,
    EquivariantModule,
    FieldType,
    FourierELU,
    GeometricTensor,
    IIDBatchNorm3d,
    InnerBatchNorm,
    PointwiseAvgPool3D,
    R3Conv,
    R3Upsampling,
    SequentialModule,
)

from .medmnist3d import MEDMNIST3D_LATENT_DIM, _UPSAMPLED_SIDE, _check_count, _check_input

__all__ = [
    "MedMNIST3DOctaSteerableCNN",
    "MedMNIST3DSO3SteerableCNN",
    "medmnist3d_octa_scnn",
    "medmnist3d_so3_scnn",
    "octahedral_grid",
]

#: Width multiples of blocks 1 to 5 (and of the skips to blocks 2 and 4), as in the CNN.
_MULTIPLES = (1, 2, 4, 6, 6)


class _ResBlock(EquivariantModule):
    r"""``block(x) + skip(x)``, two equivariant modules with the same input and output types."""

    def __init__(self, block: EquivariantModule, skip: EquivariantModule):
        super().__init__()
        if block.in_type != skip.in_type or block.out_type != skip.out_type:
            raise ValueError("the block and the skip of a residual block need the same input and output types")
        self.in_type, self.out_type = block.in_type, block.out_type
        self.block, self.skip = block, skip

    def forward(self, x: GeometricTensor) -> GeometricTensor:
        return self.block(x) + self.skip(x)

    def evaluate_output_shape(self, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
        return self.block.evaluate_output_shape(input_shape)


#: A layer factory: (output multiple) -> (field type to convolve to, batch norm + nonlinearity after it).
_Activation = Callable[[int], Tuple[FieldType, List[EquivariantModule]]]


def _network(in_type: FieldType, activation: _Activation, features: int) -> SequentialModule:
    r"""Upsampling and the three residual blocks, on ``in_type``'s gspace; ``activation(m)`` gives the
    type of block :math:`i`'s convolution for multiple :math:`m` and the modules that follow it."""
    gspace = in_type.gspace

    def block(t_in: FieldType, multiple: int, kernel_size: int, stride: int, padding: int) -> SequentialModule:
        t_out, after = activation(multiple)
        return SequentialModule(R3Conv(t_in, t_out, kernel_size, padding=padding, stride=stride), *after)

    def pool(t: FieldType, kernel_size: int, stride: int, padding: int) -> PointwiseAvgPool3D:
        return PointwiseAvgPool3D(t, kernel_size, stride=stride, padding=padding)

    m1, m2, m3, m4, m5 = _MULTIPLES
    block1 = block(in_type, m1, 7, 1, 2)
    block2 = block(block1.out_type, m2, 5, 1, 2)
    skip1 = R3Conv(in_type, block2.out_type, 7, padding=2)
    resblock1 = _ResBlock(SequentialModule(block1, block2), skip1)
    pool1 = pool(resblock1.out_type, 5, 2, 1)

    block3 = block(pool1.out_type, m3, 3, 2, 1)
    pool2 = pool(block3.out_type, 5, 2, 1)
    block4 = block(pool2.out_type, m4, 3, 2, 2)
    skip2 = SequentialModule(pool(pool1.out_type, 5, 2, 0), R3Conv(pool1.out_type, block4.out_type, 3))
    resblock2 = _ResBlock(SequentialModule(block3, pool2, block4), skip2)

    block5 = block(resblock2.out_type, m5, 3, 1, 1)
    pool3 = pool(block5.out_type, 3, 1, 0)
    invariant = FieldType(gspace, features * [gspace.trivial_repr])
    block6 = R3Conv(pool3.out_type, invariant, 1)
    skip3 = R3Conv(resblock2.out_type, invariant, 3)
    resblock3 = _ResBlock(SequentialModule(block5, pool3, block6), skip3)

    upsample = R3Upsampling(in_type, size=_UPSAMPLED_SIDE, mode="trilinear", align_corners=True)
    return SequentialModule(OrderedDict([("upsample", upsample), ("resblock1", resblock1), ("pool1", pool1),
                                         ("resblock2", resblock2), ("resblock3", resblock3)]))


def _invariant_head(features: int, n_classes: int) -> torch.nn.Sequential:
    r"""BatchNorm1d, ELU and ``Linear(features, n_classes)``, as the CNN's classifier."""
    return torch.nn.Sequential(OrderedDict([
        ("norm", torch.nn.BatchNorm1d(features)),
        ("act", torch.nn.ELU()),
        ("fc", torch.nn.Linear(features, n_classes)),
    ]))


def octahedral_grid(so3: SO3, copies: int) -> List[GroupElement]:
    r"""A grid of :math:`24 \cdot` ``copies`` rotations that the octahedral group maps onto itself.

    The grid is :math:`O \cdot H = \{ c h : c \in O, h \in H \}`, the cosets of the 24 rotations
    of the cube (escnn's octahedral subgroup of ``so3``, the rotations that permute the voxels
    of :func:`~escnn.gspaces.octaOnR3`'s grid) through ``copies`` fixed rotations :math:`h_j`:
    :math:`h_j` is the rotation by :math:`2 \pi j / (\text{copies} + 2)` about the generic axis
    :math:`(1, 2, 3) / \sqrt{14}`, :math:`j = 0, \dots, \text{copies} - 1` (:math:`h_0` the
    identity). Left multiplication by any :math:`c \in O` permutes the grid exactly (it permutes
    each coset), which is what makes a Fourier nonlinearity sampled on it exactly
    :math:`O`-equivariant.

    How many copies a band limit :math:`L` needs, measured by the condition number of the
    sampling matrix of :class:`~escnn.nn.FourierELU` (35 coefficients per field for
    :math:`L = 2`, 10 for :math:`L = 1`): :math:`L = 1`, one copy, 1.0 (the cube's rotations
    alone sample frequencies up to 1 perfectly); :math:`L = 2`, two copies are always rank
    deficient (a coset of :math:`O` carries at most 13 independent samples of the
    frequency-2 part, which has 25 coefficients), three copies 2.4.
    """
    octa, inclusion, _ = so3.subgroup("octa")
    axis = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    angles = [2 * np.pi * j / (copies + 2) for j in range(copies)]
    cosets = [so3.element(np.concatenate([np.sin(a / 2) * axis, [np.cos(a / 2)]]), "Q") for a in angles]
    return [inclusion(c) @ h for h in cosets for c in octa.elements]


class _GridFourierELU(FourierELU):
    r"""escnn's :class:`~escnn.nn.FourierELU` sampled on a given list of group elements.

    escnn builds the sampling matrix :math:`A` (row :math:`i`: :math:`\rho(g_i) k` for a fixed
    vector :math:`k`) and its regularised pseudo-inverse from a named grid; here they are built,
    in float64, from ``grid``. If left multiplication by :math:`g` permutes the grid, then
    :math:`A \rho(g) = P_g A` for a permutation :math:`P_g`, the pointwise ELU commutes with
    :math:`P_g`, and so does the pseudo-inverse: the module is exactly equivariant under :math:`g`.
    """

    def __init__(self, gspace: GSpace3D, channels: int, irreps: List, grid: List[GroupElement]):
        super().__init__(gspace, channels, irreps, "cube")  # escnn's A on the 24 cube rotations; replaced
        first = gspace.fibergroup.grid("cube")[0]
        kernel = self.rho(first).T @ self.A[0].double().numpy()  # the vector k, as escnn normalised it
        A = np.stack([self.rho(g) @ kernel for g in grid])
        singular = np.linalg.svd(A, compute_uv=False)
        if singular[-1] < 1e-6 * singular[0]:
            raise ValueError(f"a grid of {len(grid)} rotations cannot sample fields of these frequencies "
                             f"(condition number {singular[0] / max(singular[-1], 1e-300):.3g}); use a larger grid")
        Ainv = np.linalg.solve(A.T @ A + 1e-8 * np.eye(A.shape[1]), A.T)
        dtype = self.A.dtype
        self.A = torch.tensor(A, dtype=dtype)
        self.Ainv = torch.tensor(Ainv, dtype=dtype)
        # Rounded to float32, A and Ainv are permuted by the group only to about 1e-7; a float64
        # input is sampled with the float64 matrices, kept here, so it stays exact to float64.
        self._exact = (torch.from_numpy(A), torch.from_numpy(Ainv))

    def forward(self, input: GeometricTensor) -> GeometricTensor:
        r"""Samples each field on the grid, applies the ELU and projects back (as escnn's
        :class:`~escnn.nn.FourierELU`, with the float64 matrices for a float64 input)."""
        assert input.type == self.in_type
        x = input.tensor
        A, Ainv = self.A, self.Ainv
        if x.dtype == torch.float64:
            A, Ainv = (m.to(x.device) for m in self._exact)
        fields = x.view(x.shape[0], len(self.in_type), self.rho.size, *x.shape[2:])
        samples = torch.nn.functional.elu(torch.einsum("bcf...,gf->bcg...", fields, A))
        y = torch.einsum("bcg...,fg->bcf...", samples, Ainv).reshape(x.shape[0], self.out_type.size, *x.shape[2:])
        return GeometricTensor(y, self.out_type, input.coords)


class _SteerableResNet3D(torch.nn.Module):
    r"""Shared forward: plain volume in, escnn network to invariant fields, head."""

    in_type: FieldType
    network: SequentialModule
    head: torch.nn.Sequential

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        r"""The invariant feature vector, shape ``(B, features)``, of volumes of shape ``(B, 1, 28, 28, 28)``."""
        _check_input(x)
        return self.network(GeometricTensor(x, self.in_type)).tensor.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Logits of shape ``(B, n_classes)`` for volumes of shape ``(B, 1, 28, 28, 28)``."""
        return self.head(self.embed(x))


class MedMNIST3DOctaSteerableCNN(_SteerableResNet3D):
    r"""The 3D ResNet made strictly invariant under the 24 rotations of the cube.

    The layers of the module docstring on :func:`~escnn.gspaces.octaOnR3`, with every
    scalar channel of the CNN's convolutions replaced by a *regular* field of :math:`O`
    (24 channels that the group permutes). With ``fields`` :math:`= f`, the five
    convolutions ``block1`` to ``block5`` (and the skips to blocks 2 and 4) output
    :math:`f, 2f, 4f, 6f, 6f` regular fields, where the CNN has :math:`c, 2c, 4c, 6c, 6c`
    channels (:math:`c = 6`); batch normalisation is :class:`~escnn.nn.InnerBatchNorm` (one
    mean and variance per field), the nonlinearity a pointwise :class:`~escnn.nn.ELU` (which
    commutes with permutations) and the average poolings are
    :class:`~escnn.nn.PointwiseAvgPool3D`. ``block6`` and ``skip3`` map to ``features``
    trivial fields: an average over the group of each regular field, mixed linearly, so the
    output of ``resblock3`` on its :math:`1^3` grid is invariant. Every layer is exactly
    equivariant under the 24 rotations, which permute the voxels of every grid, so the
    logits are invariant up to float error (measured over the 24 rotations, two volumes, in
    eval mode: relative error at most :math:`3 \cdot 10^{-6}` in float32 and
    :math:`3 \cdot 10^{-10}` in float64).

    Parameters, measured, with ``features = 48``: **87,414** for 2 classes and 87,855 for 11
    at :math:`f = 2` (the default); 23,740 and 24,181 at :math:`f = 1`. The plain CNN has
    141,998 and 142,439: escnn's 3D filter bases are band-limited, so a pair of regular fields
    costs fewer than :math:`24 k^3` parameters for a :math:`k^3` kernel, and :math:`f = 2` is
    the nearer of one or two fields (three would pass the CNN). A :math:`5^3` convolution
    between regular fields runs on :math:`24\times` the channels of the CNN's, so a step costs
    far more than the CNN's (see ``benchmarks/results/medmnist3d_step_cpu.md``).

    Args:
        n_classes (int): the number of classes, at least 2.
        fields (int, optional): :math:`f`, the regular fields of the first block.
        features (int, optional): the invariant features the head receives.

    Raises:
        ValueError: for fewer than 2 classes or a width below 1.
    """

    def __init__(self, n_classes: int, fields: int = 2, features: int = MEDMNIST3D_LATENT_DIM):
        super().__init__()
        _check_count("n_classes", n_classes, 2)
        _check_count("fields", fields)
        _check_count("features", features)
        self.gspace = gspaces.octaOnR3()
        self.fields, self.features = fields, features
        self.in_type = FieldType(self.gspace, [self.gspace.trivial_repr])

        def activation(multiple: int) -> Tuple[FieldType, List[EquivariantModule]]:
            t = FieldType(self.gspace, multiple * fields * [self.gspace.regular_repr])
            return t, [InnerBatchNorm(t), ELU(t)]

        self.network = _network(self.in_type, activation, features)
        self.head = _invariant_head(features, n_classes)


class MedMNIST3DSO3SteerableCNN(_SteerableResNet3D):
    r"""The 3D ResNet as an :math:`SO(3)`-steerable CNN, exactly invariant under the cube's rotations.

    The steerable 3D ResNet of Veefkind and Cesa (2024) on :func:`~escnn.gspaces.rot3dOnR3`,
    with the layers of the module docstring. Its features are band-limited functions on
    :math:`SO(3)`: each field holds the Fourier coefficients of frequencies up to
    :math:`L` = ``max_frequency`` (:math:`\sum_{l \le L} (2l + 1)^2` channels: 35 for
    :math:`L = 2`, 10 for :math:`L = 1`), and the five convolutions output
    :math:`f, 2f, 4f, 6f, 6f` such fields (``fields`` :math:`= f`). Batch normalisation is
    :class:`~escnn.nn.IIDBatchNorm3d`; the nonlinearity is a Fourier ELU: the coefficients
    are evaluated at a grid of rotations, the ELU is applied there and the result is
    projected back, as :class:`~escnn.nn.FourierELU` does. Veefkind and Cesa sample on
    escnn's ``"thomson"`` grid, with which the network is only approximately equivariant
    under every rotation, the 24 that permute the voxels included. Here the grid is
    :func:`octahedral_grid`, ``grid_copies`` cosets of the cube's rotations :math:`O`, which
    :math:`O` permutes: the nonlinearity is then exactly :math:`O`-equivariant. The
    convolutions sample :math:`SO(3)`-steerable filters on the voxel grid, which the 24
    rotations map onto itself, so they are exactly :math:`O`-equivariant too, and the logits
    are invariant under the 24 rotations up to float error (measured, two volumes, eval
    mode, relative error at most :math:`1.4 \cdot 10^{-6}` in float32 at the defaults). Under
    other rotations, which move voxels off the grid, the model is invariant only approximately.

    Parameters, measured, with ``features = 48``: **21,513** for 2 classes and 21,954 for 11 at
    the defaults (:math:`f = 1`, :math:`L = 2`, 3 copies, 72 grid points); 78,548 at
    :math:`f = 2`; 5,798 at :math:`f = 1`, :math:`L = 1`. The plain CNN has 141,998 (Table 5 of
    the paper prints 0.13 M for its SO(3) SCNN, at :math:`c = 6` fields, which cannot train on
    this CPU: at :math:`f = 1` one step at batch 32 already costs far more than the CNN's).

    Args:
        n_classes (int): the number of classes, at least 2.
        fields (int, optional): :math:`f`, the fields of the first block.
        max_frequency (int, optional): :math:`L`, the band limit of the fields.
        grid_copies (int, optional): the cosets of :math:`O` in the nonlinearity's grid; at
            least 3 for :math:`L = 2`, 1 suffices for :math:`L = 1`.
        features (int, optional): the invariant features the head receives.

    Raises:
        ValueError: for fewer than 2 classes, a width below 1, a negative band limit, or a
            grid too small to sample fields of frequency :math:`L`.
    """

    def __init__(self, n_classes: int, fields: int = 1, max_frequency: int = 2, grid_copies: int = 3,
                 features: int = MEDMNIST3D_LATENT_DIM):
        super().__init__()
        _check_count("n_classes", n_classes, 2)
        _check_count("fields", fields)
        _check_count("features", features)
        _check_count("grid_copies", grid_copies)
        if isinstance(max_frequency, bool) or not isinstance(max_frequency, int) or max_frequency < 0:
            raise ValueError(f"max_frequency must be a non-negative integer, got {max_frequency!r}")
        self.gspace = gspaces.rot3dOnR3(maximum_frequency=2 * max_frequency)
        self.fields, self.max_frequency, self.grid_copies, self.features = fields, max_frequency, grid_copies, features
        self.in_type = FieldType(self.gspace, [self.gspace.trivial_repr])
        irreps = self.gspace.fibergroup.bl_irreps(max_frequency)
        grid = octahedral_grid(self.gspace.fibergroup, grid_copies)

        def activation(multiple: int) -> Tuple[FieldType, List[EquivariantModule]]:
            act = _GridFourierELU(self.gspace, multiple * fields, irreps, grid)
            return act.in_type, [IIDBatchNorm3d(act.in_type), act]

        self.network = _network(self.in_type, activation, features)
        self.head = _invariant_head(features, n_classes)


def medmnist3d_octa_scnn(n_classes: int, fields: int = 2,
                         features: int = MEDMNIST3D_LATENT_DIM) -> MedMNIST3DOctaSteerableCNN:
    r"""The strictly :math:`O`-invariant 3D ResNet (87,414 parameters for 2 classes by default);
    see :class:`MedMNIST3DOctaSteerableCNN`.

    Args:
        n_classes (int): the number of classes, at least 2.
        fields (int, optional): the regular fields of the first block (1 or 2 fit a CPU).
        features (int, optional): the invariant features the head receives.

    Raises:
        ValueError: for fewer than 2 classes or a width below 1.

    Example:
        >>> model = medmnist3d_octa_scnn(2, fields=1)
        >>> model(torch.rand(2, 1, 28, 28, 28)).shape
        torch.Size([2, 2])
    """
    return MedMNIST3DOctaSteerableCNN(n_classes, fields=fields, features=features)


def medmnist3d_so3_scnn(n_classes: int, fields: int = 1, max_frequency: int = 2, grid_copies: int = 3,
                        features: int = MEDMNIST3D_LATENT_DIM) -> MedMNIST3DSO3SteerableCNN:
    r"""The :math:`SO(3)`-steerable 3D ResNet, exactly invariant under the 24 cube rotations
    (21,513 parameters for 2 classes by default); see :class:`MedMNIST3DSO3SteerableCNN`.

    Args:
        n_classes (int): the number of classes, at least 2.
        fields (int, optional): the fields of the first block.
        max_frequency (int, optional): the band limit :math:`L` of the fields.
        grid_copies (int, optional): the cosets of :math:`O` in the nonlinearity's grid.
        features (int, optional): the invariant features the head receives.

    Raises:
        ValueError: for fewer than 2 classes, a width below 1, a negative band limit or a
            grid too small for it.

    Example:
        >>> model = medmnist3d_so3_scnn(2, max_frequency=1, grid_copies=1)
        >>> model(torch.rand(2, 1, 28, 28, 28)).shape
        torch.Size([2, 2])
    """
    return MedMNIST3DSO3SteerableCNN(n_classes, fields=fields, max_frequency=max_frequency,
                                     grid_copies=grid_copies, features=features)
