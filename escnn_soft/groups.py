r"""Finite group tables built from escnn groups.

Every other part of :mod:`escnn_soft` refers to group elements by an integer: the
**element index**, the position of the element in ``list(G.elements)`` of the escnn
group :math:`G`. This module turns an escnn :class:`~escnn.group.Group` into the
tables that make integer arithmetic on those indices possible.
"""

from __future__ import annotations

import operator
from collections import deque
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch
from escnn.group import Group, GroupElement

__all__ = ["GroupTable", "group_table"]


class GroupTable:
    r"""The multiplication table of a finite escnn group, with element indices.

    Index :math:`i` always denotes ``elements[i]``, the :math:`i`-th entry of
    ``list(G.elements)``. The table stores

    .. math::
        \texttt{mul}[i, j] = k \iff g_i \cdot g_j = g_k, \qquad
        \texttt{inv}[i] = k \iff g_i^{-1} = g_k,

    the index of the identity, the indices of escnn's ``G.generators`` and, for every
    element, a shortest word in those generators:
    :math:`g_i = s_{w_1} s_{w_2} \cdots s_{w_\ell}` with ``words[i] = (w_1, ..., w_l)``
    (positions in :attr:`generators`; the identity has the empty word). The words in
    any other generating set are :meth:`shortest_words`.

    Build it with :func:`group_table`, which caches one table per group.

    Args:
        G (Group): a finite escnn group.

    Raises:
        ValueError: if ``G`` is continuous (e.g. :math:`SO(2)`, :math:`O(3)`).

    Example:
        >>> from escnn.group import cyclic_group
        >>> T = group_table(cyclic_group(4))
        >>> T.order, T.identity, T.mul[1, 3].item()
        (4, 0, 0)
    """

    def __init__(self, G: Group):
        if not isinstance(G, Group):
            raise TypeError(f"expected an escnn Group (e.g. escnn.group.cyclic_group(4)), got {type(G).__name__}")
        if G.continuous or G.elements is None:
            raise ValueError(
                f"group {G.name} is continuous: escnn_soft needs a finite group. "
                f"Use a finite subgroup instead, e.g. cyclic_group(N) or dihedral_group(N) for SO(2)/O(2), "
                f"octa_group() or ico_group() for SO(3)/O(3)."
            )
        self.group: Group = G
        self.elements: List[GroupElement] = list(G.elements)
        self._index: Dict[GroupElement, int] = {g: i for i, g in enumerate(self.elements)}
        if len(self._index) != len(self.elements):
            raise ValueError(f"group {G.name} lists an element twice in G.elements")
        n = len(self.elements)

        mul = np.empty((n, n), dtype=np.int64)
        for i, a in enumerate(self.elements):
            for j, b in enumerate(self.elements):
                mul[i, j] = self._index[a @ b]
        self.mul: torch.Tensor = torch.from_numpy(mul)
        self.identity: int = self._index[G.identity]
        inv = np.argmax(mul == self.identity, axis=1)
        self.inv: torch.Tensor = torch.from_numpy(inv.astype(np.int64))

        self.generators: Tuple[int, ...] = self._find_generators(G)
        self.words: Tuple[Tuple[int, ...], ...] = self.shortest_words(self.generators)

    def _find_generators(self, G: Group) -> Tuple[int, ...]:
        try:
            gens = tuple(self._index[s] for s in G.generators)
        except (NotImplementedError, ValueError, AttributeError, TypeError):
            gens = ()
        if len(self._breadth_first(gens)) < self.order:
            # escnn gives no (complete) generating set for this group: pick elements greedily,
            # in element order, until they generate the whole group.
            gens, reached = (), {self.identity}
            for i in range(self.order):
                if i not in reached:
                    gens += (i,)
                    reached = self._breadth_first(gens)
                    if len(reached) == self.order:
                        break
        return gens

    def _breadth_first(self, generators: Sequence[int]) -> Dict[int, Tuple[int, ...]]:
        r"""Shortest words of the elements reachable from the identity, found breadth first."""
        mul = self.mul.numpy()
        words: Dict[int, Tuple[int, ...]] = {self.identity: ()}
        queue = deque([self.identity])
        while queue:
            g = queue.popleft()
            for k, s in enumerate(generators):
                h = int(mul[g, s])
                if h not in words:
                    words[h] = words[g] + (k,)
                    queue.append(h)
        return words

    def shortest_words(self, generators: Sequence[int]) -> Tuple[Tuple[int, ...], ...]:
        r"""A shortest word in ``generators`` for every element, in element order.

        Entry :math:`i` is a tuple :math:`(w_1, \dots, w_\ell)` of positions in
        ``generators`` with :math:`g_i = s_{w_1} s_{w_2} \cdots s_{w_\ell}`, where
        :math:`s_k` is the element of index ``generators[k]``; the identity has the empty
        word. The words are found breadth first on the Cayley graph (edges
        :math:`g \to g s_k`), so :math:`\ell` is the least number of generators whose
        product is :math:`g_i`; among words of that length the one that is smallest
        lexicographically, in the order of the positions, is kept. :attr:`words` is this
        function applied to :attr:`generators`.

        Args:
            generators (sequence of int): element indices of the generators.

        Returns:
            a tuple of ``order`` words, ``words[i]`` spelling element :math:`i`.

        Raises:
            TypeError: if a generator is not an integer element index.
            IndexError: if a generator is out of range.
            ValueError: if ``generators`` do not generate the whole group.

        Example:
            >>> from escnn.group import cyclic_group
            >>> T = group_table(cyclic_group(4))
            >>> T.shortest_words([1])
            ((), (0,), (0, 0), (0, 0, 0))
            >>> T.shortest_words([3])
            ((), (0, 0, 0), (0, 0), (0,))
        """
        gens = [self._element_index(s, "generator") for s in generators]
        words = self._breadth_first(gens)
        if len(words) < self.order:
            missing = [i for i in range(self.order) if i not in words]
            raise ValueError(f"the generators {tuple(gens)} do not generate {self.name}: they reach "
                             f"{len(words)} of its {self.order} elements (element index {missing[0]} is not a "
                             f"product of them); add generators, e.g. group_table(G).generators")
        return tuple(words[i] for i in range(self.order))

    def element_order(self, i: int) -> int:
        r"""The order of element :math:`g_i`: the least :math:`N \geq 1` with :math:`g_i^N = e`.

        Example:
            >>> from escnn.group import cyclic_group
            >>> T = group_table(cyclic_group(6))
            >>> [T.element_order(i) for i in range(6)]
            [1, 6, 3, 2, 3, 6]
        """
        i = self._element_index(i, "element")
        mul = self.mul.numpy()
        N, h = 1, i
        while h != self.identity:
            h, N = int(mul[h, i]), N + 1
        return N

    def _element_index(self, i: Any, what: str) -> int:
        try:
            if isinstance(i, (bool, np.bool_)):
                raise TypeError
            i = operator.index(i)
        except TypeError:
            raise TypeError(f"{what} must be an integer element index of {self.name} (use "
                            f"T.index(element) for an escnn element), got {i!r}") from None
        if not 0 <= i < self.order:
            raise IndexError(f"{what} element index {i} is out of range for {self.name} "
                             f"(valid indices are 0..{self.order - 1}, positions in list(G.elements))")
        return i

    @property
    def order(self) -> int:
        r"""The number of elements :math:`|G|`."""
        return len(self.elements)

    @property
    def name(self) -> str:
        r"""escnn's name of the group."""
        return self.group.name

    def index(self, element: GroupElement) -> int:
        r"""The index of an escnn element of this group."""
        try:
            return self._index[element]
        except (KeyError, TypeError):
            raise ValueError(f"{element!r} is not an element of {self.name}") from None

    def __getitem__(self, i: int) -> GroupElement:
        return self.elements[i]

    def __len__(self) -> int:
        return self.order

    def check_indices(self, g: torch.Tensor, batch: int | None = None, name: str = "g") -> None:
        r"""Raise a clear error unless ``g`` is a 1-D integer tensor of valid element indices.

        The type and shape are checked when the call is traced too. The range
        :math:`0 \leq g_b < |G|` depends on the values: in eager mode it is read on the
        host (a device synchronisation on CUDA) and raises an ``IndexError``; inside
        :func:`torch.compile` it becomes ``torch._assert_async``, which fails a
        compiled call with a ``RuntimeError`` on the CPU and with a device-side assertion on
        CUDA, without waiting for the device.

        Args:
            g (torch.Tensor): element indices, one per sample.
            batch (int, optional): the batch size ``g`` must have.
            name (str): how to call ``g`` in the error message.
        """
        if not isinstance(g, torch.Tensor):
            raise TypeError(f"{name} must be a torch.LongTensor of element indices of {self.name}, got {type(g).__name__}")
        if g.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"{name} must hold integer element indices of {self.name}, got dtype {g.dtype}")
        if g.dim() != 1:
            raise ValueError(f"{name} must be 1-D (one element index per sample), got shape {tuple(g.shape)}")
        if batch is not None and g.shape[0] != batch:
            raise ValueError(f"{name} has {g.shape[0]} element indices but the batch has {batch} samples")
        if torch.compiler.is_compiling():
            torch._assert_async(((g >= 0) & (g < self.order)).all(),
                                f"{name} holds an element index out of range for {self.name} (valid indices are "
                                f"0..{self.order - 1}, positions in list(G.elements))")
        elif g.numel() > 0:
            lo, hi = (int(v) for v in torch.aminmax(g))
            if lo < 0 or hi >= self.order:
                raise IndexError(
                    f"{name} holds element index {lo if lo < 0 else hi}, out of range for {self.name} "
                    f"(valid indices are 0..{self.order - 1}, positions in list(G.elements))"
                )

    def sample(self, batch: int, device: torch.device | str | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Draw ``batch`` element indices uniformly at random."""
        return torch.randint(self.order, (batch,), device=device, generator=generator)

    def __repr__(self) -> str:
        return f"GroupTable({self.name}, order={self.order}, generators={len(self.generators)})"


_TABLES: Dict[int, Tuple[Group, GroupTable]] = {}


def group_table(G: Group) -> GroupTable:
    r"""The cached :class:`GroupTable` of a finite escnn group.

    escnn's factories (``cyclic_group``, ``octa_group``, ``direct_product``, ...)
    return one object per group; so does this function: the table of a group is
    computed once.

    Args:
        G (Group): a finite escnn group, e.g. ``cyclic_group(4)``,
            ``direct_product(dihedral_group(4), dihedral_group(4))`` or a subgroup
            obtained with ``G.subgroup(...)[0]``.

    Returns:
        the group's :class:`GroupTable`.
    """
    if isinstance(G, GroupTable):
        return G
    hit = _TABLES.get(id(G))
    if hit is not None and hit[0] is G:
        return hit[1]
    table = GroupTable(G)
    _TABLES[id(G)] = (G, table)
    return table
