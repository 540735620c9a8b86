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
  ``interpolation="bilinear"``, an approximate action for any finite group on the
  plane or in space (e.g. ``rot2dOnR2(8)``, ``flipRot2dOnR2(3)``) that resamples the
  field.
* :func:`trivial_action` — the identity, e.g. for invariant targets.
* :func:`product_action` — :math:`G_1 \times G_2` acting on two regions of the
  input independently, each with the action of its factor.
"""

from __future__ import annotations

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
_INTERPOLATIONS = (None, "exact", "bilinear")


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
    spatial part is a permutation of the grid points, computed once per grid shape
    with escnn's own resampling applied to an index grid; it matches escnn bit for
    bit and takes any dtype, integer included (a pure gather). If every fibre matrix
    :math:`\rho(g)` is a (signed) permutation — trivial, regular and quotient fields,
    the vector field of C4 — the whole action is one gather (times a sign);
    otherwise the fibres are mixed with one batched matrix product.

    With ``interpolation="bilinear"`` the group may move grid points off the grid
    (``rot2dOnR2(8)``, ``flipRot2dOnR2(3)``, …): every channel is resampled at
    :math:`A_g^{-1} x` by (tri)linear interpolation
    (:func:`torch.nn.functional.grid_sample`, one batched call, zero outside the
    grid; floating point batches only, half precision resampled in float32), then the
    fibres are mixed by :math:`\rho(g)` as in the exact action. This is an
    *approximate* action: interpolation blurs, so acting with :math:`h` and then
    :math:`g` differs from acting with :math:`gh` by the interpolation error, and
    content that leaves the grid (the corners of a square image under a 45° rotation)
    is lost. escnn's :meth:`~escnn.nn.GeometricTensor.transform` interpolates the
    same field with a quadratic spline (``scipy.ndimage.affine_transform``,
    ``order=2``, a base-space matrix rounded to float16). On band-limited fields well
    inside the disc inscribed in the grid — Gaussian blobs of width :math:`\sigma`
    pixels — the two agree to within :math:`0.3 / \sigma^2` of the field's largest
    value (about 0.06 for :math:`\sigma = 2`, 0.03 for :math:`\sigma = 3`): the
    difference is the blur of linear interpolation, and escnn's own ``order=1``
    resampling agrees with this action to within :math:`2 \cdot 10^{-3}`. Where
    :math:`A_g` maps the grid onto itself (C4, D4, the cube) the result equals the
    exact action up to float rounding.

    Build it with :func:`field_action`.

    Args:
        field_type (FieldType): an escnn field type on a gspace of a finite group.
        interpolation (str, optional): ``None`` or ``"exact"`` for the exact
            permutation action, ``"bilinear"`` for the interpolating one.
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
        for e in elements if self.dimensionality else ():
            A = np.asarray(gspace.basespace_action(e), dtype=np.float64)
            if self.interpolation is not None:
                sampling.append(flip @ np.linalg.inv(A) @ flip)
            elif _signed_permutations(A[None], atol=1e-6) is None:
                raise ValueError(
                    f"{gspace} moves grid points off the grid for element {e} (base-space matrix "
                    f"{np.round(A, 3).tolist()}): the exact field_action permutes grid points, so it needs a group "
                    f"that maps the grid onto itself, e.g. rot2dOnR2(2 or 4), flipRot2dOnR2(1, 2 or 4), octaOnR3(), "
                    f"fullOctaOnR3(). For this group use field_action(field_type, interpolation='bilinear'), which "
                    f"resamples the field (an approximate action), or pass any callable (x, g) -> x' as the action."
                )
        # output -> input displacement in grid_sample's coordinate order, per element
        self._sampling: torch.Tensor | None = torch.from_numpy(np.stack(sampling)) if sampling else None

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
        Only the exact action has one."""
        if self.interpolation is not None:
            raise ValueError(f"{self!r} interpolates: it has no grid permutation")
        shape = tuple(int(s) for s in shape)
        hit = self._grid_index.get(shape)
        if hit is not None:
            return hit
        self._check_grid(shape)
        gspace = self.field_type.gspace
        n = int(np.prod(shape))
        grid = np.arange(n, dtype=np.int64).reshape(1, 1, *shape)
        rows = []
        for e in self.group.elements:
            moved = gspace._interpolate_transform_basespace(grid, e)
            if moved.shape != grid.shape:
                raise ValueError(
                    f"grid of shape {shape} is not mapped onto itself by {e} of {gspace}: "
                    f"rotations need a square (cubic) grid, e.g. {(max(shape),) * len(shape)}"
                )
            rows.append(np.ascontiguousarray(moved).reshape(-1))
        hit = torch.from_numpy(np.stack(rows))
        self._grid_index[shape] = hit
        return hit

    def _check_grid(self, shape: Tuple[int, ...]) -> None:
        if len(shape) != self.dimensionality:
            raise ValueError(f"{self.field_type.gspace} acts on {self.dimensionality}-D grids, got grid shape {shape}")

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
        theta = self._on(f"theta{shape}", theta, x, work).index_select(0, g)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
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
        masks = []
        for r in self.regions:
            m = torch.zeros(trailing[depth - len(r):], dtype=torch.bool)
            m[r] = True
            masks.append(m.expand(trailing))  # a region over fewer axes covers all of the ones before them
        if (masks[0] & masks[1]).any():
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
            exact action, a permutation of the grid points; ``"bilinear"`` to resample
            the field, for groups that move grid points off the grid.

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
        >>> act = field_action(nn.FieldType(r8, [r8.irrep(1)]), interpolation="bilinear")
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
