r"""Batched group actions on tensors, one group element per sample.

An *action* of a finite group :math:`G` is a callable ``action(x, g)`` that takes a
batch ``x`` of shape ``(B, ...)`` and a LongTensor ``g`` of shape ``(B,)`` holding
element indices (positions in ``list(G.elements)``) and returns
:math:`\rho(g_b)\, x_b` for every sample :math:`b`. Any user callable with that
signature can serve as an action; the classes here add the group they act with,
input checks, and fast torch-native implementations:

* :func:`field_action` — the action of an escnn :class:`~escnn.nn.FieldType`,
  identical to :meth:`escnn.nn.GeometricTensor.transform`, for gspaces whose group
  maps the sampling grid onto itself (e.g. ``rot2dOnR2(4)``, ``flipRot2dOnR2(4)``,
  ``octaOnR3()``, ``fullOctaOnR3()``, ``no_base_space(G)``); with
  ``interpolation="spline"`` or ``"bilinear"``, an approximate action for any finite
  group on the plane or in space (e.g. ``rot2dOnR2(8)``, ``flipRot2dOnR2(3)``) that
  resamples the field.
* :func:`trivial_action` — the identity, e.g. for invariant targets.
* :func:`product_action` — :math:`G_1 \times G_2` acting on two regions of the
  input independently, each with the action of its factor.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from escnn.group import Group
from escnn.nn import FieldType

from .groups import GroupTable, group_table

__all__ = [
    "GroupAction",
    "FieldAction",
    "TrivialAction",
    "ProductAction",
    "ActionLike",
    "field_action",
    "trivial_action",
    "product_action",
]

Region = Tuple[slice, ...]
_INTERPOLATIONS = (None, "exact", "bilinear", "spline")
# the pole z of the cubic B-spline prefilter, the inverse of the filter (1, 4, 1) / 6: taps sqrt(3) z^|k|
_SPLINE_POLE = math.sqrt(3.0) - 2.0
# zeros around the grid before prefiltering: the coefficients the spline reads up to one pixel outside it
_SPLINE_MARGIN = 3


class GroupAction:
    r"""Base class of batched actions of a finite group.

    Subclasses implement :meth:`_act`; calling the action checks the element
    indices first. :attr:`group` is the :class:`~escnn_soft.groups.GroupTable`
    whose element indices ``g`` refers to.
    """

    def __init__(self, group: Union[Group, GroupTable]):
        self.group: GroupTable = group_table(group)
        self._device_cache: Dict[Tuple[str, torch.device, torch.dtype], torch.Tensor] = {}

    def __call__(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor batch, got {type(x).__name__}")
        if x.dim() < 1:
            raise ValueError(f"{type(self).__name__} expects a batch of shape (B, ...), got a scalar")
        self.group.check_indices(g, x.shape[0])
        return self._act(x, g.to(device=x.device, dtype=torch.long))

    def apply(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        r"""Alias of calling the action: :math:`\rho(g_b) x_b` for every sample."""
        return self(x, g)

    def _act(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _on(self, name: str, tensor: torch.Tensor, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        r"""``tensor`` moved to ``like``'s device (and ``dtype``), cached."""
        key = (name, like.device, dtype or tensor.dtype)
        hit = self._device_cache.get(key)
        if hit is None:
            hit = tensor.to(device=like.device, dtype=dtype or tensor.dtype)
            self._device_cache[key] = hit
        return hit


ActionLike = Union[GroupAction, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]


def _signed_permutations(mats: np.ndarray, atol: float) -> Tuple[np.ndarray, np.ndarray] | None:
    r"""If every matrix in the stack ``(n, d, d)`` is a signed permutation, return
    ``(index, sign)`` with ``(M x)[i] = sign[i] * x[index[i]]``; else ``None``."""
    rounded = np.round(mats)
    if not np.allclose(mats, rounded, rtol=0.0, atol=atol):
        return None
    nonzero = rounded != 0
    if not (nonzero.sum(axis=2) == 1).all() or not (nonzero.sum(axis=1) == 1).all():
        return None
    if not (np.abs(rounded[nonzero]) == 1).all():
        return None
    index = np.argmax(nonzero, axis=2)
    sign = np.take_along_axis(rounded, index[..., None], axis=2)[..., 0]
    return index.astype(np.int64), sign


class FieldAction(GroupAction):
    r"""The action of an escnn :class:`~escnn.nn.FieldType` on plain tensors.

    For a field type with representation :math:`\rho` on a gspace whose group acts on
    the base space :math:`\mathbb{R}^n` by :math:`x \mapsto A_g x`, a tensor of shape
    ``(B, C, *grid)`` is a field :math:`f` sampled on the grid and

    .. math::
        [g \cdot f](x) = \rho(g)\, f(A_g^{-1} x),

    the convention of :meth:`escnn.nn.GeometricTensor.transform` (the grid's centre at
    the origin, its last axis along :math:`x`, the axes before it along :math:`-y`
    and :math:`-z`). A field type of size 1 also takes a batch without the channel
    axis, ``(B, *grid)``, and returns the same shape: e.g. a segmentation target of
    class indices ``(B, H, W)`` (LongTensor, as :class:`~torch.nn.CrossEntropyLoss`
    takes it) under the scalar field's rotation.

    With ``interpolation=None`` (the *exact* action) the base-space action must map
    the grid onto itself (its matrices are signed permutations: rotations by
    multiples of 90°, mirror flips, the 24 or 48 symmetries of the cube), so the
    spatial part is a permutation of the grid points (:meth:`grid_index`), computed
    once per grid shape with integer torch operations from the matrices of escnn's
    ``basespace_action``; it matches escnn's ``transform`` bit for bit and takes any
    dtype, integer included (a pure gather). If every fibre matrix
    :math:`\rho(g)` is a (signed) permutation — trivial, regular and quotient fields,
    the vector field of C4 — the whole action is one gather (times a sign);
    otherwise the fibres are mixed with one batched matrix product.

    With ``interpolation="spline"`` or ``"bilinear"`` the group may move grid points
    off the grid (``rot2dOnR2(8)``, ``flipRot2dOnR2(3)``, …): every channel is
    resampled at :math:`A_g^{-1} x`, zero outside the grid, then the fibres are mixed by
    :math:`\rho(g)` as in the exact action; floating point batches only, half precision
    resampled in float32, batched on the batch's device. This is an *approximate*
    action: interpolation errs between grid points, so acting with :math:`h` and then
    :math:`g` differs from acting with :math:`gh`, and content that leaves the grid (the
    corners of a square image under a 45° rotation) is lost. Where :math:`A_g` maps the
    grid onto itself (C4, D4, the cube) both equal the exact action up to float rounding.

    * ``"spline"`` interpolates with the cubic B-spline through the samples, in 2D and
      3D: the spline's coefficients come from one matrix product per grid axis (the
      exact inverse of the B-spline's sampling filter for a field that is zero outside
      the grid), and the spline is evaluated as :math:`2^n` (bi/tri)linear samples of
      them in one :func:`~torch.nn.functional.grid_sample` call. escnn's
      :meth:`~escnn.nn.GeometricTensor.transform` interpolates with a quadratic spline
      (``scipy.ndimage.affine_transform``, ``order=2``, a base-space matrix rounded to
      float16). Measured: on Gaussian blobs of width :math:`\sigma` pixels well inside
      the disc inscribed in the grid the two agree to within :math:`0.015 / \sigma^2`
      of the field's largest value, and acting twice differs from acting with the
      product by :math:`3 \cdot 10^{-4}` of it (:math:`\sigma = 3`). A tiny strictly
      C8-equivariant escnn network (two ``R2Conv`` layers into regular fields, group
      pooling, a mean over the grid) on smoothed noise set to zero outside a disc
      has a latent error, at the 45° elements, of 0.0027 under this action against
      0.0026 under escnn's ``transform`` (D8: 0.0033 against 0.0035); on white noise
      in the disc, 0.017 against 0.026 (D8: 0.020 against 0.025). On one CPU thread
      it took 3–8 times as long as the bilinear resampling on 64 and 256 images of
      57×57, and 13 times the trilinear one on 16 volumes of 28³.
    * ``"bilinear"`` is (tri)linear interpolation, one ``grid_sample`` call, and blurs:
      on the blobs it agrees with escnn's ``transform`` to within
      :math:`0.3 / \sigma^2` of the field's largest value (about 0.06 for
      :math:`\sigma = 2`, 0.03 for :math:`\sigma = 3`), escnn's own ``order=1``
      resampling to within :math:`2 \cdot 10^{-3}`; acting twice differs from acting
      with the product by 0.04; the network above scores 0.038 (D8: 0.053) on smooth
      input and 0.19 (D8: 0.20) on white noise, 7 to 15 times the error under
      escnn's ``transform``, so it penalises an exactly equivariant encoder that much
      more.

    Groups that rotate the grid (an element whose base-space matrix is not diagonal,
    i.e. swaps grid axes: C4, D4, C8, the cube, …) need a square grid (cubic in 3D) in
    every mode, else a ``ValueError``; groups whose matrices are diagonal (mirrors, the
    half turn: ``flipRot2dOnR2(1)``, ``rot2dOnR2(2)``) act exactly on any grid.

    Build it with :func:`field_action`.

    Args:
        field_type (FieldType): an escnn field type on a gspace of a finite group.
        interpolation (str, optional): ``None`` or ``"exact"`` for the exact
            permutation action, ``"spline"`` or ``"bilinear"`` for the interpolating ones.
    """

    def __init__(self, field_type: FieldType, interpolation: Optional[str] = None):
        if not isinstance(field_type, FieldType):
            raise TypeError(f"field_action expects an escnn.nn.FieldType, got {type(field_type).__name__}")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
        gspace = field_type.gspace
        super().__init__(gspace.fibergroup)
        self.field_type: FieldType = field_type
        self.size: int = field_type.size
        self.dimensionality: int = gspace.dimensionality
        self.interpolation: Optional[str] = None if interpolation == "exact" else interpolation
        elements = self.group.elements

        if self.interpolation is not None and not self.dimensionality:
            raise ValueError(f"{gspace} has no base space, so there is nothing to interpolate: "
                             f"use field_action(field_type) without interpolation")
        # grid_sample's coordinates run along the last grid axis (x), then the ones before it (-y, -z)
        flip = np.diag([1.0] + [-1.0] * (self.dimensionality - 1)) if self.dimensionality else None
        sampling = []
        self._axis_swap: Optional[Tuple[int, np.ndarray]] = None  # an element that swaps grid axes, if any
        for i, e in enumerate(elements if self.dimensionality else ()):
            A = np.asarray(gspace.basespace_action(e), dtype=np.float64)
            if self.interpolation is None and _signed_permutations(A[None], atol=1e-6) is None:
                raise ValueError(
                    f"{gspace} moves grid points off the grid for element {e} (base-space matrix "
                    f"{np.round(A, 3).tolist()}): the exact field_action permutes grid points, so it needs a group "
                    f"that maps the grid onto itself, e.g. rot2dOnR2(2 or 4), flipRot2dOnR2(1, 2 or 4), octaOnR3(), "
                    f"fullOctaOnR3(). For this group use field_action(field_type, interpolation='spline'), which "
                    f"resamples the field (an approximate action; 'bilinear' is cheaper and blurs more), or pass any "
                    f"callable (x, g) -> x' as the action."
                )
            if self._axis_swap is None and not np.allclose(A, np.diag(np.diag(A)), rtol=0.0, atol=1e-9):
                self._axis_swap = (i, A)
            sampling.append(flip @ np.linalg.inv(A) @ flip)
        # output -> input displacement in grid_sample's coordinate order, per element; exact: integers
        self._sampling: torch.Tensor | None = torch.from_numpy(np.stack(sampling)) if sampling else None
        if self._sampling is not None and self.interpolation is None:
            self._sampling = self._sampling.round().long()

        fibres = np.stack([field_type.fiber_representation(e).detach().cpu().numpy() for e in elements])
        perm = _signed_permutations(fibres, atol=1e-9)
        self._fibre_dense: torch.Tensor | None = None
        self._fibre_index: torch.Tensor | None = None
        self._fibre_sign: torch.Tensor | None = None
        if perm is None:
            self._fibre_dense = torch.from_numpy(fibres)
        else:
            index, sign = perm
            if not (index == np.arange(self.size)).all():
                self._fibre_index = torch.from_numpy(index)
            if not (sign == 1).all():
                self._fibre_sign = torch.from_numpy(sign)
        self._grid_index: Dict[Tuple[int, ...], torch.Tensor] = {}

    @property
    def fibres_are_permutations(self) -> bool:
        r"""Whether every fibre matrix :math:`\rho(g)` is a signed permutation."""
        return self._fibre_dense is None

    def grid_index(self, shape: Sequence[int]) -> torch.Tensor:
        r"""The grid permutation of every element: ``(|G|, prod(shape))`` LongTensor ``P``
        with ``transformed.flatten()[p] = field.flatten()[P[g, p]]`` (one channel).
        Only the exact action has one.

        Point :math:`p` of the grid, at :math:`u_p` from the grid's centre, takes the
        value at :math:`A_g^{-1} u_p`, computed in integers (twice the offsets from the
        centre) from the signed permutation matrices :math:`A_g^{-1}` held since
        construction, with torch operations only. The result is cached per shape: the
        first call for a shape builds it (inside :func:`torch.compile`, in the traced
        graph, once), later calls read the cache."""
        if self.interpolation is not None:
            raise ValueError(f"{self!r} interpolates: it has no grid permutation")
        shape = tuple(int(s) for s in shape)
        hit = self._grid_index.get(shape)
        if hit is not None:
            return hit
        self._check_grid(shape)
        sizes = torch.tensor(shape[::-1])                         # in grid_sample's order: x first
        axes = torch.meshgrid(*[torch.arange(s) for s in shape], indexing="ij")
        doubled = 2 * torch.stack([a.reshape(-1) for a in axes[::-1]], dim=1) - (sizes - 1)  # (points, n)
        source = (self._sampling[:, None, :, :] * doubled[None, :, None, :]).sum(-1)       # (|G|, points, n)
        coords = torch.div(source + (sizes - 1), 2, rounding_mode="floor")
        strides = torch.tensor([math.prod(shape[len(shape) - k:]) for k in range(len(shape))])
        hit = (coords * strides).sum(-1)
        self._grid_index[shape] = hit
        return hit

    def _check_grid(self, shape: Tuple[int, ...]) -> None:
        if len(shape) != self.dimensionality:
            raise ValueError(f"{self.field_type.gspace} acts on {self.dimensionality}-D grids, got grid shape {shape}")
        if self._axis_swap is not None and len(set(shape)) > 1:
            i, A = self._axis_swap
            side = "square" if self.dimensionality == 2 else "cubic"
            raise ValueError(
                f"{self.field_type.gspace} rotates the grid: element {self.group.elements[i]} has the base-space "
                f"matrix {np.round(A, 3).tolist()}, which swaps grid axes, so the grid must be {side}; got grid shape "
                f"{shape}. Crop or pad the input to a {side} grid, e.g. {(max(shape),) * len(shape)} (pad) or "
                f"{(min(shape),) * len(shape)} (crop). Groups that only flip axes (e.g. flipRot2dOnR2(1)) act on "
                f"any grid."
            )

    def _fields(self, x: torch.Tensor) -> torch.Tensor:
        r"""``x`` as ``(B, C, *grid)``, after checking its shape and dtype."""
        n = self.dimensionality
        if self.size == 1 and x.dim() == 1 + n:
            x = x.unsqueeze(1)
        elif x.dim() != 2 + n or x.shape[1] != self.size:
            grid = ", *grid" if n else ""
            alone = f" (or (B{grid}) without the channel axis)" if self.size == 1 else ""
            raise ValueError(
                f"expected a tensor of shape (B, {self.size}{grid}){alone} with a {n}-D grid for "
                f"field type of size {self.size} on {self.field_type.gspace}, got {tuple(x.shape)}"
            )
        if self.interpolation is not None and not x.is_floating_point():
            raise TypeError(f"{self!r} interpolates: it needs a floating point batch, got {x.dtype}")
        if self._fibre_dense is not None and not (x.is_floating_point() or x.is_complex()):
            raise TypeError(f"the fibres of {self!r} mix channels with real matrices: "
                            f"it needs a floating point batch, got {x.dtype}")
        if self._fibre_sign is not None and not x.dtype.is_signed:
            raise TypeError(f"the fibres of {self!r} flip signs: it needs a signed dtype, got {x.dtype}")
        return x

    def _resample(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        r"""Every channel of ``x`` ``(B, C, *grid)`` sampled at :math:`A_{g_b}^{-1} p`, interpolated."""
        shape = tuple(x.shape[2:])
        self._check_grid(shape)
        # grid_sample's normalised coordinates scale the displacement from the centre by 2 / size per axis
        sizes = torch.tensor(shape[::-1], dtype=torch.float64)
        theta = self._sampling * sizes[None, None, :] / sizes[None, :, None]
        theta = torch.cat([theta, theta.new_zeros(theta.shape[0], self.dimensionality, 1)], dim=2)
        work = torch.promote_types(x.dtype, torch.float32)  # half precision would round the sampling points
        theta = self._on(f"theta{shape}", theta, x, work)
        if self.interpolation == "spline":
            return _spline_sample(x.to(work), theta, g).to(x.dtype)
        grid = F.affine_grid(theta.index_select(0, g), list(x.shape), align_corners=False)
        return F.grid_sample(x.to(work), grid, mode="bilinear", padding_mode="zeros", align_corners=False).to(x.dtype)

    def _act(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        fields = self._fields(x)
        B, C = fields.shape[0], self.size
        channels = None if self._fibre_index is None else self._on("fibre_index", self._fibre_index, x).index_select(0, g)
        if self.interpolation is not None:
            out = self._resample(fields, g).reshape(B, C, -1)
        elif self.dimensionality:
            flat = fields.reshape(B, C, -1)
            shape = tuple(fields.shape[2:])
            pixels = self._on(f"grid{shape}", self.grid_index(shape), x).index_select(0, g)
            if channels is None:
                out = flat.gather(2, pixels[:, None, :].expand(flat.shape))
            else:  # both permutations in one gather
                batch = torch.arange(B, device=x.device)[:, None, None]
                out, channels = flat[batch, channels[:, :, None], pixels[:, None, :]], None
        else:
            out = fields.reshape(B, C, 1)
        if channels is not None:
            out = out.gather(1, channels[:, :, None].expand(out.shape))
        if self._fibre_sign is not None:
            out = out * self._on("fibre_sign", self._fibre_sign, x, x.dtype).index_select(0, g)[:, :, None]
        if self._fibre_dense is not None:
            out = torch.bmm(self._on("fibre_dense", self._fibre_dense, x, x.dtype).index_select(0, g), out)
        return out.reshape(x.shape)

    def __repr__(self) -> str:
        mode = "" if self.interpolation is None else f", interpolation={self.interpolation!r}"
        return f"FieldAction({self.field_type.gspace}, size={self.size}{mode})"


def _spline_prefilter(x: torch.Tensor) -> torch.Tensor:
    r"""The cubic B-spline coefficients :math:`c` of ``x`` ``(N, *grid)``, zero outside its grid.

    Along every grid axis the samples are those of the spline, :math:`x_i = (c_{i-1} + 4 c_i
    + c_{i+1}) / 6`; with :math:`x` zero outside the grid the solution is the convolution
    :math:`c_i = \sum_j \sqrt{3}\, z^{|i - j|} x_j`, :math:`z = \sqrt{3} - 2`, one matrix product
    per axis over the grid (no truncation)."""
    for axis in range(1, x.dim()):
        index = torch.arange(x.shape[axis], device=x.device)
        distance = (index[:, None] - index[None, :]).abs().to(x.dtype)
        inverse = math.sqrt(3.0) * torch.full_like(distance, _SPLINE_POLE).pow(distance)  # symmetric
        x = (x.movedim(axis, -1) @ inverse).movedim(-1, axis)
    return x


def _spline_sample(x: torch.Tensor, theta: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    r"""``x`` ``(B, C, *grid)``, zero outside its grid, resampled by its interpolating cubic B-spline
    at the points of :func:`~torch.nn.functional.affine_grid` of ``theta[g]`` (``theta``: one
    affine map per element, ``align_corners=False``).

    Per axis, the four weights :math:`w_0 \ldots w_3` of the cubic B-spline at the offset
    :math:`t \in [0, 1)` from the pixel :math:`i` below the point are positive, so
    :math:`w_0 c_{i-1} + w_1 c_i` is one linear interpolation of the coefficients at
    :math:`i - 1 + w_1 / (w_0 + w_1)`, times :math:`w_0 + w_1`, and likewise for
    :math:`w_2 c_{i+1} + w_3 c_{i+2}`: the spline is :math:`2^n` (bi/tri)linear samples of the
    coefficients, taken in one :func:`~torch.nn.functional.grid_sample` call. The points and
    weights depend only on the element: they are computed for the elements (or the samples,
    when fewer) and gathered per sample."""
    B, C = x.shape[:2]
    n = x.dim() - 2
    shape = x.shape[2:]
    margin = _SPLINE_MARGIN
    per_element = B >= theta.shape[0]
    rows = theta if per_element else theta.index_select(0, g)
    grid = F.affine_grid(rows, [rows.shape[0], C, *shape], align_corners=False)       # (rows, *grid, n)
    # pixel coordinates in the array padded by the margin, in grid_sample's order (x, y, z)
    size = torch.tensor(shape[::-1], dtype=grid.dtype, device=grid.device)
    point = ((grid + 1) * size - 1) / 2 + margin
    below = point.floor()
    t = point - below
    w0, w1 = (1 - t) ** 3 / 6, (3 * t ** 3 - 6 * t ** 2 + 4) / 6
    w2, w3 = (-3 * t ** 3 + 3 * t ** 2 + 3 * t + 1) / 6, t ** 3 / 6
    weights = (w0 + w1, w2 + w3)
    size_padded = size + 2 * margin
    at = tuple((2 * q + 1) / size_padded - 1 for q in (below - 1 + w1 / weights[0], below + 1 + w3 / weights[1]))
    samples, factors = [], []
    for corner in itertools.product((0, 1), repeat=n):
        samples.append(torch.stack([at[c][..., k] for k, c in enumerate(corner)], dim=-1))
        factor = weights[corner[0]][..., 0]
        for k in range(1, n):
            factor = factor * weights[corner[k]][..., k]
        factors.append(factor)
    samples, factors = torch.cat(samples, dim=1), torch.stack(factors, dim=1)  # (rows, 2^n out_0, ...), (rows, 2^n, ...)
    if per_element:
        samples, factors = samples.index_select(0, g), factors.index_select(0, g)
    coefficients = _spline_prefilter(F.pad(x, [margin] * (2 * n)).reshape(B * C, *[s + 2 * margin for s in shape]))
    out = F.grid_sample(coefficients.reshape(B, C, *[s + 2 * margin for s in shape]), samples, mode="bilinear",
                        padding_mode="zeros", align_corners=False)
    return (out.reshape(B, C, 2 ** n, *shape) * factors[:, None]).sum(2)


class TrivialAction(GroupAction):
    r"""The trivial action :math:`\rho(g) = \mathrm{id}`: returns its input unchanged.

    Use it for targets that are invariant (class labels). Build it with
    :func:`trivial_action`.
    """

    def _act(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return x

    def __repr__(self) -> str:
        return f"TrivialAction({self.group.name})"


class ProductAction(GroupAction):
    r"""A direct product :math:`G_1 \times G_2` acting on two regions independently.

    For :math:`g = (g_1, g_2)`, region :math:`k` of the input (a tuple of slices over
    its trailing dimensions) is transformed by the action of its factor with
    :math:`g_k`; everything outside the regions is left as it is. This is the
    double-digit MNIST case: each factor rotates or flips its own digit.

    The factors may themselves be :class:`ProductAction`\ s, for nested products.
    Build it with :func:`product_action`.

    Args:
        group (Group): an escnn direct product, ``direct_product(G1, G2)``.
        actions (Sequence[GroupAction]): the actions of ``G1`` and ``G2``.
        regions (Sequence[tuple of slices]): the region each factor acts on.
    """

    def __init__(self, group: Group, actions: Sequence[GroupAction], regions: Sequence[Region]):
        G = group.group if isinstance(group, GroupTable) else group
        if not all(hasattr(G, a) for a in ("G1", "G2", "split_element")):
            raise TypeError(f"product_action needs an escnn direct product, direct_product(G1, G2); got {G.name}")
        super().__init__(G)
        if len(actions) != 2 or len(regions) != 2:
            raise ValueError(
                f"product_action needs exactly two actions and two regions (one per factor of {G.name}), "
                f"got {len(actions)} actions and {len(regions)} regions"
            )
        factors = (G.G1, G.G2)
        for k, (action, factor) in enumerate(zip(actions, factors)):
            if not isinstance(action, GroupAction):
                raise TypeError(f"action {k} must be a GroupAction (e.g. field_action(...)), got {type(action).__name__}")
            if action.group.group != factor:
                raise ValueError(f"action {k} acts with {action.group.name}, but factor {k} of {G.name} is {factor.name}")
        self.actions: Tuple[GroupAction, GroupAction] = tuple(actions)
        self.regions: Tuple[Region, Region] = tuple(tuple(r) if isinstance(r, (tuple, list)) else (r,) for r in regions)
        for r in self.regions:
            if not all(isinstance(s, slice) for s in r):
                raise TypeError(f"a region must be a tuple of slices, e.g. (slice(14, 42), slice(0, 28)); got {r}")
        split = [G.split_element(e) for e in self.group.elements]
        self._factor_index = torch.tensor(
            [[a.group.index(pair[k]) for k, a in enumerate(self.actions)] for pair in split], dtype=torch.long
        )
        self._checked_shapes: set = set()

    def _check_disjoint(self, shape: Tuple[int, ...]) -> None:
        if shape in self._checked_shapes:
            return
        depth = max(len(r) for r in self.regions)
        if depth > len(shape):
            raise ValueError(f"the regions {self.regions} index {depth} trailing dimensions, but inputs of shape "
                             f"{shape} (after the batch axis) have only {len(shape)}")
        trailing = shape[len(shape) - depth:]
        # boxes overlap when they meet along every axis; a region over fewer axes covers all of the ones before them
        meets = []
        for axis, size in enumerate(trailing):
            spans = [set(range(size)) if axis < depth - len(r) else set(range(*r[axis - depth + len(r)].indices(size)))
                     for r in self.regions]
            meets.append(bool(spans[0] & spans[1]))
        if all(meets):
            raise ValueError(f"the two regions {self.regions} overlap on inputs of shape {shape}: they must be disjoint")
        self._checked_shapes.add(shape)

    def _act(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        self._check_disjoint(tuple(x.shape[1:]))
        factor = self._on("factor_index", self._factor_index, x).index_select(0, g)
        out = x.clone()
        for k, (action, region) in enumerate(zip(self.actions, self.regions)):
            sl = (Ellipsis,) + region
            out[sl] = action._act(x[sl], factor[:, k])
        return out

    def __repr__(self) -> str:
        return f"ProductAction({self.group.name}: {self.actions[0]!r} on {self.regions[0]}, {self.actions[1]!r} on {self.regions[1]})"


def field_action(field_type: FieldType, interpolation: Optional[str] = None) -> FieldAction:
    r"""The action of an escnn field type on plain tensors, as :class:`FieldAction`.

    Args:
        field_type (FieldType): an escnn field type on a gspace of a finite group.
        interpolation (str, optional): ``None`` or ``"exact"`` (the default) for the
            exact action, a permutation of the grid points; ``"spline"`` (cubic B-spline,
            about as accurate as escnn's ``transform``) or ``"bilinear"`` (cheaper, blurs)
            to resample the field, for groups that move grid points off the grid.

    Example:
        >>> import torch
        >>> from escnn import gspaces, nn
        >>> r2 = gspaces.rot2dOnR2(4)
        >>> act = field_action(nn.FieldType(r2, [r2.irrep(1)]))   # a vector field
        >>> x = torch.randn(3, 2, 9, 9)
        >>> y = act(x, torch.tensor([0, 1, 2]))
        >>> torch.equal(y[0], x[0])
        True

        Rotations by :math:`45^\circ` resample the field:

        >>> r8 = gspaces.rot2dOnR2(8)
        >>> act = field_action(nn.FieldType(r8, [r8.irrep(1)]), interpolation="spline")
        >>> act(torch.randn(2, 2, 28, 28), torch.tensor([1, 3])).shape
        torch.Size([2, 2, 28, 28])
    """
    return FieldAction(field_type, interpolation)


def trivial_action(group: Union[Group, GroupTable]) -> TrivialAction:
    r"""The trivial action of ``group`` (the identity on every input)."""
    return TrivialAction(group)


def product_action(group: Group, actions: Sequence[GroupAction], regions: Sequence[Region]) -> ProductAction:
    r"""The product :math:`G_1 \times G_2` acting on two regions, as :class:`ProductAction`.

    Example (double-digit MNIST: each C4 factor rotates its own 28×28 digit):
        >>> from escnn import gspaces, nn
        >>> from escnn.group import direct_product
        >>> r2 = gspaces.rot2dOnR2(4)
        >>> digit = field_action(nn.FieldType(r2, [r2.trivial_repr]))
        >>> act = product_action(direct_product(r2.fibergroup, r2.fibergroup), [digit, digit],
        ...                      [(slice(14, 42), slice(0, 28)), (slice(14, 42), slice(28, 56))])
        >>> act.group.order
        16
    """
    return ProductAction(group, actions, regions)
