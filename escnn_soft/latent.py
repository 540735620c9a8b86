r"""Latent representations made of copies of the regular representation.

The method fixes the action on the latent space of a plain network to

.. math::
    \rho_Z = \underbrace{\rho_\text{reg} \oplus \cdots \oplus \rho_\text{reg}}_{m}
    \oplus \underbrace{1 \oplus \cdots \oplus 1}_{r},
    \qquad \dim Z = m |G| + r,

:math:`m \geq 1` copies of the regular representation of :math:`G` followed by
:math:`r` copies of the trivial one. The regular representation permutes a basis
indexed by the group, :math:`\rho_\text{reg}(g) e_h = e_{gh}`, so
:math:`[\rho_\text{reg}(g) z]_k = z_{g^{-1} k}`: acting on the latent is a
re-indexing, never a dense matrix product.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import torch
from escnn import gspaces
from escnn.group import Group, Representation, directsum
from escnn.nn import FieldType

from .actions import GroupAction
from .groups import GroupTable, group_table

__all__ = ["RegularLatent", "regular_latent"]


class RegularLatent(GroupAction):
    r"""The latent representation :math:`m \rho_\text{reg} \oplus r \cdot 1` of a finite group.

    Coordinates ``[c |G|, (c+1) |G|)`` hold copy :math:`c` of the regular
    representation, indexed like ``G.elements``; the last :attr:`padding` coordinates
    are trivial (invariant). The first :math:`m |G|` coordinates therefore match an
    escnn ``FieldType(no_base_space(G), [G.regular_representation] * m)`` channel for
    channel.

    :meth:`apply` acts on a batch with one element per sample by a single gather
    with the precomputed index table :attr:`index`:
    ``apply(z, g)[b, k] = z[b, index[g[b], k]]``.

    Build it with :func:`regular_latent`.

    Args:
        group (Group): a finite escnn group.
        multiplicity (int): :math:`m \geq 1`, the number of regular copies.
        padding (int): :math:`r \geq 0`, the number of trivial copies.
    """

    def __init__(self, group: Union[Group, GroupTable], multiplicity: int, padding: int):
        super().__init__(group)
        n = self.group.order
        self.multiplicity: int = int(multiplicity)
        self.padding: int = int(padding)
        self.size: int = self.multiplicity * n + self.padding
        # [rho_reg(g) z]_k = z_{g^{-1} k}, copy by copy; trivial coordinates stay in place
        moved = self.group.mul[self.group.inv]                      # moved[g, k] = index of g^{-1} k
        offsets = torch.arange(self.multiplicity)[:, None] * n       # (m, 1)
        regular = (moved[:, None, :] + offsets[None]).reshape(n, -1)  # (|G|, m |G|)
        trivial = torch.arange(self.multiplicity * n, self.size).expand(n, self.padding)
        self.index: torch.Tensor = torch.cat([regular, trivial], dim=1).contiguous()
        self._representation: Optional[Representation] = None

    @property
    def representation(self) -> Representation:
        r"""The escnn representation :math:`m \rho_\text{reg} \oplus r \cdot 1` (a ``directsum``)."""
        if self._representation is None:
            G = self.group.group
            parts = [G.regular_representation] * self.multiplicity + [G.trivial_representation] * self.padding
            self._representation = directsum(parts, name=f"soft_latent_{self.multiplicity}x_regular_{self.padding}x_trivial")
        return self._representation

    @property
    def field_type(self) -> FieldType:
        r"""The matching escnn field type on ``no_base_space(G)``."""
        G = self.group.group
        return FieldType(gspaces.no_base_space(G),
                         [G.regular_representation] * self.multiplicity + [G.trivial_representation] * self.padding)

    def matrix(self, element: int) -> torch.Tensor:
        r"""The dense permutation matrix :math:`\rho_Z(g)` of an element index (for checks)."""
        if not 0 <= int(element) < self.group.order:
            raise IndexError(f"element index {element} out of range for {self.group.name} (0..{self.group.order - 1})")
        M = torch.zeros(self.size, self.size, dtype=torch.float64)
        M[torch.arange(self.size), self.index[int(element)]] = 1.0
        return M

    def _act(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if z.dim() < 2 or z.shape[1] != self.size:
            raise ValueError(
                f"expected a latent of shape (B, {self.size}) or (B, {self.size}, *spatial) for {self!r}, "
                f"got {tuple(z.shape)}"
            )
        index = self._on("index", self.index, z).index_select(0, g)
        if z.dim() == 2:
            return z.gather(1, index)
        return z[torch.arange(z.shape[0], device=z.device)[:, None], index]

    def __repr__(self) -> str:
        pad = f" ⊕ {self.padding}×trivial" if self.padding else ""
        return f"RegularLatent({self.multiplicity}×regular({self.group.name}){pad}, dim={self.size})"


_LATENTS: Dict[Tuple[int, int, int], Tuple[GroupTable, RegularLatent]] = {}


def regular_latent(group: Union[Group, GroupTable], dim: int, multiplicity: Optional[int] = None) -> RegularLatent:
    r"""The paper's latent representation of a ``dim``-dimensional latent space.

    :math:`m` copies of the regular representation then :math:`r = \text{dim} - m|G|`
    trivial ones, with :math:`m = \lfloor \text{dim} / |G| \rfloor` unless given.
    The padding is never silent: it is shown in the ``repr``. One object is built per
    ``(group, dim, multiplicity)``.

    Args:
        group (Group): a finite escnn group (or its :class:`~escnn_soft.groups.GroupTable`).
        dim (int): the latent dimension, at least :math:`|G|`.
        multiplicity (int, optional): the number of regular copies, :math:`1 \leq m \leq \text{dim}/|G|`.

    Example:
        >>> from escnn.group import cyclic_group, direct_product
        >>> regular_latent(direct_product(cyclic_group(4), cyclic_group(4)), 66)
        RegularLatent(4×regular(C4 X C4) ⊕ 2×trivial, dim=66)
    """
    table = group_table(group)
    n = table.order
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if dim < n:
        raise ValueError(
            f"dim={dim} is smaller than |G|={n} for {table.name}: the latent needs at least one full copy of the "
            f"regular representation, so the smallest valid dim is {n}"
        )
    if multiplicity is None:
        multiplicity = dim // n
    if isinstance(multiplicity, bool) or not isinstance(multiplicity, int) or multiplicity < 1:
        raise ValueError(f"multiplicity must be an int >= 1 (the method needs a regular copy), got {multiplicity!r}")
    if multiplicity * n > dim:
        raise ValueError(
            f"multiplicity={multiplicity} copies of the regular representation of {table.name} need "
            f"{multiplicity * n} dimensions, more than dim={dim}; use multiplicity <= {dim // n}"
        )
    key = (id(table), dim, multiplicity)
    hit = _LATENTS.get(key)
    if hit is not None and hit[0] is table:
        return hit[1]
    latent = RegularLatent(table, multiplicity, dim - multiplicity * n)
    _LATENTS[key] = (table, latent)
    return latent
