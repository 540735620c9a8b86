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
  ``octaOnR3()``, ``fullOctaOnR3()``, ``no_base_space(G)``).
* :func:`trivial_action` — the identity, e.g. for invariant targets.
* :func:`product_action` — :math:`G_1 \times G_2` acting on two regions of the
  input independently, each with the action of its factor.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from escnn.group import Group
from escnn.gspaces import GSpace
from escnn.nn import FieldType

from .groups import GroupTable, group_table

__all__ = [
    "GroupAction",
    "FieldAction",
    "TrivialAction",
    "ProductAction",
    "ResampledAction",
    "ActionLike",
    "field_action",
    "trivial_action",
    "product_action",
    "resampled_action",
]

Region = Tuple[slice, ...]


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
    the base space :math:`\mathbb{R}^n` by :math:`x \mapsto g x`, a tensor of shape
    ``(B, C, *grid)`` is a field :math:`f` sampled on the grid and

    .. math::
        [g \cdot f](x) = \rho(g)\, f(g^{-1} x),

    exactly as :meth:`escnn.nn.FieldType.transform`. The base-space action must map
    the grid onto itself (its matrices are signed permutations: rotations by
    multiples of 90°, mirror flips, the 24 or 48 symmetries of the cube), so the
    spatial part is a permutation of the grid points, computed once per grid shape
    with escnn's own resampling applied to an index grid; it matches escnn bit for
    bit. If every fibre matrix :math:`\rho(g)` is a (signed) permutation — trivial,
    regular and quotient fields, the vector field of C4 — the whole action is one
    gather (times a sign); otherwise the fibres are mixed with one batched matrix
    product.

    Build it with :func:`field_action`.

    Args:
        field_type (FieldType): an escnn field type on a gspace of a finite group.
    """

    def __init__(self, field_type: FieldType):
        if not isinstance(field_type, FieldType):
            raise TypeError(f"field_action expects an escnn.nn.FieldType, got {type(field_type).__name__}")
        gspace = field_type.gspace
        super().__init__(gspace.fibergroup)
        self.field_type: FieldType = field_type
        self.size: int = field_type.size
        self.dimensionality: int = gspace.dimensionality
        elements = self.group.elements

        for e in elements if self.dimensionality else ():
            A = np.asarray(gspace.basespace_action(e), dtype=np.float64)
            if _signed_permutations(A[None], atol=1e-6) is None:
                raise ValueError(
                    f"{gspace} moves grid points off the grid for element {e} (base-space matrix "
                    f"{np.round(A, 3).tolist()}): field_action supports gspaces whose group maps the grid onto "
                    f"itself, e.g. rot2dOnR2(2 or 4), flipRot2dOnR2(1, 2 or 4), octaOnR3(), fullOctaOnR3()."
                )

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
        with ``transformed.flatten()[p] = field.flatten()[P[g, p]]`` (one channel)."""
        shape = tuple(int(s) for s in shape)
        hit = self._grid_index.get(shape)
        if hit is not None:
            return hit
        if len(shape) != self.dimensionality:
            raise ValueError(f"{self.field_type.gspace} acts on {self.dimensionality}-D grids, got grid shape {shape}")
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

    def _act(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        n = self.dimensionality
        if x.dim() != 2 + n or x.shape[1] != self.size:
            raise ValueError(
                f"expected a tensor of shape (B, {self.size}{', *grid' if n else ''}) with a {n}-D grid for "
                f"field type of size {self.size} on {self.field_type.gspace}, got {tuple(x.shape)}"
            )
        B, C = x.shape[0], self.size
        flat = x.reshape(B, C, -1)
        N = flat.shape[2]
        pixels = self._on(f"grid{tuple(x.shape[2:])}", self.grid_index(x.shape[2:]), x).index_select(0, g) if n else None
        if self._fibre_index is not None:
            channels = self._on("fibre_index", self._fibre_index, x).index_select(0, g)
            if pixels is None:
                out = flat.gather(1, channels[:, :, None].expand(B, C, N))
            else:
                batch = torch.arange(B, device=x.device)[:, None, None]
                out = flat[batch, channels[:, :, None], pixels[:, None, :]]
        elif pixels is not None:
            out = flat.gather(2, pixels[:, None, :].expand(B, C, N))
        else:
            out = flat
        if self._fibre_sign is not None:
            out = out * self._on("fibre_sign", self._fibre_sign, x, x.dtype).index_select(0, g)[:, :, None]
        if self._fibre_dense is not None:
            out = torch.bmm(self._on("fibre_dense", self._fibre_dense, x, x.dtype).index_select(0, g), out)
        return out.reshape(x.shape)

    def __repr__(self) -> str:
        return f"FieldAction({self.field_type.gspace}, size={self.size})"


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
        masks = []
        for r in self.regions:
            m = torch.zeros(shape[-len(r):], dtype=torch.bool)
            m[r] = True
            masks.append(m)
        if masks[0].shape == masks[1].shape and (masks[0] & masks[1]).any():
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


def field_action(field_type: FieldType) -> FieldAction:
    r"""The action of an escnn field type on plain tensors, as :class:`FieldAction`.

    Example:
        >>> import torch
        >>> from escnn import gspaces, nn
        >>> r2 = gspaces.rot2dOnR2(4)
        >>> act = field_action(nn.FieldType(r2, [r2.irrep(1)]))   # a vector field
        >>> x = torch.randn(3, 2, 9, 9)
        >>> y = act(x, torch.tensor([0, 1, 2]))
        >>> torch.equal(y[0], x[0])
        True
    """
    return FieldAction(field_type)


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


class ResampledAction(GroupAction):
    r"""A finite group of rotations and reflections acting on images by resampling.

    For a 2-D gspace of a finite group (``rot2dOnR2(N)``, ``flipRot2dOnR2(N)``) whose
    base-space matrices :math:`A_g` are escnn's ``gspace.basespace_action(g)``, every
    channel of a batch ``(B, C, H, W)`` is transformed as a scalar field,

    .. math::
        [g \cdot f](p) = f(A_g^{-1} p),

    the convention of :meth:`escnn.nn.FieldType.transform`, with escnn's layout of the
    plane on the pixel grid (columns along :math:`x`, rows along :math:`-y`, the centre
    of the image at the origin). The samples :math:`f(A_g^{-1} p)` between pixel centres
    are interpolated bilinearly (:func:`torch.nn.functional.grid_sample`, zero outside
    the image), one batched call for the whole batch.

    Where :math:`A_g` maps the grid onto itself (multiples of :math:`90^\circ`, flips)
    the result equals :func:`~escnn_soft.field_action` up to float rounding; for other
    angles (:math:`D_3`: :math:`120^\circ`) it is an *approximate* action: interpolation
    blurs, and the corners of a square image leave it. Content away from the corners
    (MNIST digits) is transformed faithfully.

    Build it with :func:`resampled_action`.

    Args:
        gspace (GSpace): a 2-D escnn gspace of a finite group.
    """

    def __init__(self, gspace: GSpace):
        if not isinstance(gspace, GSpace):
            raise TypeError(f"resampled_action expects an escnn gspace, e.g. flipRot2dOnR2(3); "
                            f"got {type(gspace).__name__}")
        if gspace.dimensionality != 2:
            raise ValueError(f"resampled_action acts on images: it needs a 2-D gspace, got {gspace} "
                             f"({gspace.dimensionality}-D)")
        super().__init__(gspace.fibergroup)
        self.gspace: GSpace = gspace
        flip = np.diag([1.0, -1.0])        # plane (x, y) <-> grid_sample's (column, row) coordinates
        thetas = []
        for e in self.group.elements:
            A = np.asarray(gspace.basespace_action(e), dtype=np.float64)
            thetas.append(flip @ np.linalg.inv(A) @ flip)
        theta = np.concatenate([np.stack(thetas), np.zeros((self.group.order, 2, 1))], axis=2)
        self.theta: torch.Tensor = torch.from_numpy(theta)       # (|G|, 2, 3): output -> input coordinates

    def _act(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"{self!r} acts on images of shape (B, C, H, W), got {tuple(x.shape)}")
        if x.shape[2] != x.shape[3]:
            raise ValueError(f"{self!r} rotates square images only, got {x.shape[2]}×{x.shape[3]}")
        if not x.is_floating_point():
            raise TypeError(f"{self!r} interpolates: it needs a floating point batch, got {x.dtype}")
        theta = self._on("theta", self.theta, x, x.dtype).index_select(0, g)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def __repr__(self) -> str:
        return f"ResampledAction({self.gspace})"


def resampled_action(gspace: GSpace) -> ResampledAction:
    r"""The action of a 2-D gspace's finite group on images by bilinear resampling, as :class:`ResampledAction`.

    Example (:math:`D_3`: rotations by :math:`120^\circ` and a reflection):
        >>> import torch
        >>> from escnn import gspaces
        >>> act = resampled_action(gspaces.flipRot2dOnR2(3))
        >>> act.group.order
        6
        >>> act(torch.rand(2, 1, 28, 28), torch.tensor([1, 3])).shape
        torch.Size([2, 1, 28, 28])
    """
    return ResampledAction(gspace)
