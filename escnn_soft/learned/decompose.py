r"""Decomposition of a (learned, approximate) representation into escnn's irreps.

Every representation :math:`\rho` of a finite group :math:`G` over the reals is, up to
a change of basis, a direct sum of the real irreducible representations
:math:`\psi` that escnn lists in ``G.irreps()``:

.. math::
    \rho \cong \bigoplus_\psi n_\psi \, \psi, \qquad
    n_\psi = \frac{\langle \chi_\rho, \chi_\psi \rangle}{\langle \chi_\psi, \chi_\psi \rangle}, \qquad
    \langle a, b \rangle = \frac{1}{|G|} \sum_{g \in G} a(g)\, b(g^{-1}),

with :math:`\chi(g) = \operatorname{tr} \rho(g)` the character. A real irrep of real
type has :math:`\langle \chi_\psi, \chi_\psi \rangle = 1`; one of *complex* type (e.g.
the 2-dimensional irreps of :math:`C_N`, :math:`N > 2`, rotations by
:math:`2\pi k / N`) has :math:`\langle \chi_\psi, \chi_\psi \rangle = 2` and one of
quaternionic type :math:`4`, hence the division. The formula is evaluated in real
arithmetic, so a learned matrix stack that is only *close* to a representation gives
multiplicities close to integers; :func:`decompose` also measures how far the stack is
from being a representation at all, and says whether it is one within a tolerance
(:attr:`Decomposition.is_representation`). Only then do the multiplicities describe it:
the character inner products of matrices that are not a representation need not be
integers, and when they happen to round to those of a regular representation they
still say nothing.

Matrix stacks are always indexed by **element index**: ``stack[i]`` is
:math:`\rho(g_i)` for ``g_i = list(G.elements)[i]``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from escnn.group import Group, GroupElement, Representation

from ..groups import GroupTable, group_table

__all__ = ["Decomposition", "decompose", "matrix_stack", "summary_of"]

GroupLike = Union[Group, GroupTable]


@dataclass(frozen=True, repr=False)
class Decomposition:
    r"""The multiplicities of escnn's irreps in a representation, and how exact they are.

    Entry :math:`\psi` of every per-irrep array refers to ``G.irreps()[ψ]``. First read
    :attr:`is_representation`: when it is ``False`` the matrices are not a
    representation (within :attr:`tol`), the multiplicities are mere character inner
    products, and :attr:`summary`, ``repr`` and ``str`` say so instead of naming a
    decomposition.

    Attributes:
        group: the :class:`~escnn_soft.groups.GroupTable` of :math:`G`.
        dim: the dimension :math:`d` of the representation.
        irrep_names: escnn's names of the irreps (``irrep.name``).
        irrep_dims: their dimensions :math:`\dim\psi`.
        irrep_types: their types, ``'R'``, ``'C'`` or ``'H'`` (real, complex, quaternionic).
        multiplicities: the real multiplicities :math:`n_\psi` (float array).
        rounded: the nearest integers :math:`\operatorname{round}(n_\psi)`.
        regular: the multiplicity of each irrep in escnn's ``G.regular_representation``
            (:math:`\dim\psi / \langle\chi_\psi,\chi_\psi\rangle`), obtained by decomposing it.
        homomorphism_defect_max: :math:`\max_{g,h} \|\rho(g)\rho(h) - \rho(gh)\|_F / s`,
            with :math:`s = (\frac{1}{|G|}\sum_g \|\rho(g)\|_F^2)^{1/2}` the RMS norm of the stack.
        homomorphism_defect_mean: the same, averaged over all :math:`|G|^2` pairs.
        identity_defect: :math:`\|\rho(e) - I\|_F / \sqrt{d}`.
        tol: the tolerance of :attr:`is_representation` on both defects above.
        character_residual: :math:`\max_g |\chi_\rho(g) - \sum_\psi \operatorname{round}(n_\psi)\chi_\psi(g)| / d`,
            how far the character is from that of the integer decomposition.
        regular_copies: :math:`m`, the number of regular copies in the closest
            :math:`m\,\rho_\text{reg} \oplus t \cdot 1` (computed from the
            multiplicities whether or not :attr:`is_representation`).
        trivial_copies: :math:`t`, its number of extra trivial copies.
        regular_distance: :math:`\sum_\psi \dim\psi \, |n_\psi - m\, r_\psi - t\,[\psi = 1]|`,
            the number of dimensions by which :math:`\rho` differs from it (0 when equal).
        complex_labels: abelian groups only: the complex 1-dimensional irreps
            :math:`\lambda`, each as the tuple :math:`(k_1, \dots, k_q)` with
            :math:`\lambda(s_j) = e^{2\pi i k_j / N_j}` on the generators
            (``group.generators``, of orders :attr:`generator_orders`); ``None`` otherwise.
        complex_counts: how many times each complex irrep of :attr:`complex_labels`
            occurs in :math:`\rho \otimes \mathbb{C}`. For a group with one generator
            (cyclic) these are the eigenvalues of :math:`\rho(s)` counted at the nearest
            :math:`N`-th root of unity :math:`e^{2\pi i k/N}`; for several generators the
            rounded complex character inner products :math:`\langle\chi_\rho, \lambda\rangle`.
        generator_orders: the orders :math:`N_j` of the generators (abelian groups only).
    """

    group: GroupTable
    dim: int
    irrep_names: Tuple[str, ...]
    irrep_dims: Tuple[int, ...]
    irrep_types: Tuple[str, ...]
    multiplicities: np.ndarray
    rounded: np.ndarray
    regular: np.ndarray
    homomorphism_defect_max: float
    homomorphism_defect_mean: float
    identity_defect: float
    tol: float
    character_residual: float
    regular_copies: int
    trivial_copies: int
    regular_distance: float
    complex_labels: Optional[Tuple[Tuple[int, ...], ...]] = None
    complex_counts: Optional[Tuple[int, ...]] = None
    generator_orders: Optional[Tuple[int, ...]] = None

    @property
    def residual(self) -> float:
        r"""How far :math:`\rho` is from a true representation: the largest of
        :attr:`homomorphism_defect_max`, :attr:`identity_defect` and :attr:`character_residual`."""
        return max(self.homomorphism_defect_max, self.identity_defect, self.character_residual)

    @property
    def is_representation(self) -> bool:
        r"""Whether the matrices are a representation of :math:`G` within :attr:`tol`.

        True when :attr:`homomorphism_defect_max` and :attr:`identity_defect` are both at
        most :attr:`tol`: :math:`\rho(g)\rho(h) = \rho(gh)` for every pair, relative to
        the size of the matrices, and :math:`\rho(e) = I` (a homomorphism alone allows
        :math:`\rho(e)` to be any projection, e.g. :math:`\rho \oplus 0`).
        """
        return self.homomorphism_defect_max <= self.tol and self.identity_defect <= self.tol

    @property
    def dimension_matches(self) -> bool:
        r"""Whether :math:`\sum_\psi \operatorname{round}(n_\psi) \dim\psi = d`."""
        return int(np.dot(self.rounded, self.irrep_dims)) == self.dim

    @property
    def is_regular_plus_trivial(self) -> bool:
        r"""Whether :attr:`is_representation` and the rounded multiplicities are exactly
        those of :math:`m\,\rho_\text{reg} \oplus t \cdot 1` with :math:`m \geq 1`."""
        return (self.is_representation and self.regular_copies >= 1
                and _rounds_to(self.rounded, self.regular, self.regular_copies, self.trivial_copies))

    @property
    def summary(self) -> str:
        r""":math:`m\,\rho_\text{reg} \oplus t \cdot 1` when the rounded multiplicities are exactly
        those (:math:`m = 0` included), e.g. ``'5×regular(D3) ⊕ 0×trivial'``; for another
        representation the closest such sum and how far it is, e.g.
        ``'closest to 1×regular(D3) ⊕ 0×trivial (2 dimensions off)'``; when not
        :attr:`is_representation`, the defect that fails, e.g.
        ``'not a representation (homomorphism defect 1.5 > tol 0.001)'``."""
        return summary_of(self.group.name, homomorphism_defect_max=self.homomorphism_defect_max,
                          identity_defect=self.identity_defect, tol=self.tol, regular_copies=self.regular_copies,
                          trivial_copies=self.trivial_copies, regular_distance=self.regular_distance,
                          rounded=self.rounded, regular=self.regular)

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}({d}) {n:.2f}" for name, d, n in zip(self.irrep_names, self.irrep_dims,
                                                                      self.multiplicities))
        return f"{self.group.name}: {parts} — residual {self.residual:.2g} — {self.summary}"

    def __str__(self) -> str:
        width = max(len("irrep"), *(len(f"{n}({d})") for n, d in zip(self.irrep_names, self.irrep_dims)))
        if not self.is_representation:
            head = (f"{self.group.name}: matrices of dimension {self.dim}, {self.summary}; "
                    f"their character inner products:")
        elif self.is_regular_plus_trivial:
            head = f"{self.group.name} representation of dimension {self.dim}: {self.summary}"
        else:
            head = f"{self.group.name} representation of dimension {self.dim}, {self.summary}"
        lines = [head,
                 f"  {'irrep':<{width}}  type  multiplicity  rounded  in regular"]
        for name, d, t, n, r, reg in zip(self.irrep_names, self.irrep_dims, self.irrep_types,
                                         self.multiplicities, self.rounded, self.regular):
            lines.append(f"  {f'{name}({d})':<{width}}  {t:>4}  {n:12.2f}  {r:7d}  {reg:9d}")
        total = int(np.dot(self.rounded, self.irrep_dims))
        lines.append(f"residual {self.residual:.2g} (homomorphism defect max {self.homomorphism_defect_max:.2g}, "
                     f"mean {self.homomorphism_defect_mean:.2g}; identity {self.identity_defect:.2g}; "
                     f"character {self.character_residual:.2g}); "
                     f"dimensions {total} {'=' if total == self.dim else '≠'} {self.dim}")
        if self.complex_counts is not None:
            labels = ",".join("".join(map(str, k)) if len(k) == 1 else "(" + ",".join(map(str, k)) + ")"
                              for k in self.complex_labels)
            how = ("eigenvalues of ρ(s) at exp(2πik/N)" if len(self.generator_orders) == 1
                   else "complex characters λ(s_j) = exp(2πi k_j/N_j)")
            lines.append(f"complex counts ({how}, N = {'×'.join(map(str, self.generator_orders))}, "
                         f"k = {labels}): {':'.join(map(str, self.complex_counts))}")
        return "\n".join(lines)


def _rounds_to(rounded: Sequence[int], regular: Sequence[int], m: int, t: int) -> bool:
    r"""Whether the rounded multiplicities are those of :math:`m\,\rho_\text{reg} \oplus t \cdot 1`
    (``regular``: each irrep's multiplicity in the regular representation, the trivial one first)."""
    target = m * np.asarray(regular)
    target[0] += t
    return bool((np.asarray(rounded) == target).all())


def summary_of(group: str, *, homomorphism_defect_max: float, identity_defect: float, tol: float,
               regular_copies: int, trivial_copies: int, regular_distance: float, rounded: Sequence[int],
               regular: Sequence[int]) -> str:
    r"""The text of :attr:`Decomposition.summary` from its fields, as
    :func:`~escnn_soft.learned.reports.decomposition_record` stores them: the defect that fails,
    else :math:`m\,\rho_\text{reg} \oplus t \cdot 1` when the ``rounded`` multiplicities are
    those (``regular``: each irrep's in the regular representation), else the closest such sum and
    ``regular_distance``, the dimensions it is off by."""
    if homomorphism_defect_max > tol:
        return f"not a representation (homomorphism defect {homomorphism_defect_max:.2g} > tol {tol:.2g})"
    if identity_defect > tol:
        return f"not a representation (identity defect {identity_defect:.2g} > tol {tol:.2g})"
    closest = f"{regular_copies}×regular({group}) ⊕ {trivial_copies}×trivial"
    exact = _rounds_to(rounded, regular, regular_copies, trivial_copies)
    return closest if exact else f"closest to {closest} ({regular_distance:.3g} dimensions off)"


# ------------------------------------------------------------------ input conversion


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_complex():
            return x.numpy()
        return x.double().numpy()
    return np.asarray(x)


def _table_of(rep: Any, G: Optional[GroupLike]) -> GroupTable:
    own = None
    if isinstance(rep, Representation):
        own = group_table(rep.group)
    elif isinstance(getattr(rep, "group", None), (Group, GroupTable)):
        own = group_table(rep.group)
    if G is None:
        if own is None:
            raise ValueError(f"cannot tell the group of a {type(rep).__name__}: pass it, "
                             f"e.g. decompose(rep, cyclic_group(4))")
        return own
    table = group_table(G)
    if own is not None and own is not table:
        raise ValueError(f"the representation is one of {own.name}, but the group given is {table.name}")
    return table


def _from_elements(rep: Any, table: GroupTable) -> list:
    r"""Call (or index) ``rep`` with escnn elements, or with element indices if that fails."""
    if isinstance(rep, Mapping):
        keys = list(rep.keys())
        by_index = bool(keys) and all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in keys)
        if not by_index and not all(isinstance(k, GroupElement) for k in keys):
            raise TypeError(f"a mapping representation must be keyed by element indices (int) or by escnn "
                            f"GroupElements of {table.name}")
        wanted = range(table.order) if by_index else table.elements
        missing = [i for i, k in enumerate(wanted) if k not in rep]
        if missing:
            raise ValueError(f"the mapping has no matrix for element indices {missing[:8]}"
                             f"{'...' if len(missing) > 8 else ''} of {table.name} (it needs all {table.order})")
        if len(rep) != table.order:
            raise ValueError(f"the mapping has {len(rep)} entries, but {table.name} has {table.order} elements")
        return [rep[k] for k in wanted]
    try:
        return [rep(e) for e in table.elements]
    except Exception as by_element:
        try:
            return [rep(i) for i in range(table.order)]
        except Exception:
            raise TypeError(f"could not evaluate the callable on the elements of {table.name}, neither as "
                            f"rep(GroupElement) nor as rep(element index)") from by_element


def matrix_stack(rep: Any, G: Optional[GroupLike] = None) -> np.ndarray:
    r"""The matrices :math:`\rho(g_i)` of a representation, as a float64 array ``(|G|, d, d)``.

    ``stack[i]`` is :math:`\rho(g_i)` for the :math:`i`-th element of ``list(G.elements)``.

    Args:
        rep: one of

            * an escnn :class:`~escnn.group.Representation` of :math:`G`;
            * an object with a ``matrices()`` method returning that stack, e.g.
              :class:`~escnn_soft.learned.representation.LearnedRepresentation`;
            * a numpy array or torch tensor of shape ``(|G|, d, d)`` in element order;
            * a mapping keyed by element indices or by escnn elements;
            * a callable taking an escnn element (or, failing that, an element index).

        G (Group, optional): the finite escnn group (or its table); may be left out
            when ``rep`` knows its group (a ``Representation``, or an object with ``.group``).

    Raises:
        ValueError: for a stack of the wrong shape, non-square or non-finite matrices, or
            a representation of another group.
        TypeError: for complex matrices or inputs of an unknown kind.
    """
    table = _table_of(rep, G)
    n = table.order
    if isinstance(rep, Representation):
        mats = [rep(e) for e in table.elements]
    elif callable(getattr(rep, "matrices", None)):
        mats = rep.matrices()
    elif isinstance(rep, (np.ndarray, torch.Tensor)):
        mats = rep
    elif isinstance(rep, Mapping) or callable(rep):
        mats = _from_elements(rep, table)
    else:
        raise TypeError(f"cannot read a representation from a {type(rep).__name__}: give an escnn Representation, "
                        f"a ({n}, d, d) stack, a mapping or a callable on the elements of {table.name}")
    if isinstance(mats, (list, tuple)):
        shapes = {np.shape(_numpy(m)) for m in mats}
        if len(shapes) != 1:
            raise ValueError(f"the matrices of the representation have different shapes: {sorted(shapes)}")
        stack = np.stack([_numpy(m) for m in mats])
    else:
        stack = _numpy(mats)
    if np.iscomplexobj(stack):
        raise TypeError("decompose works with real representations (escnn's irreps are real); got complex matrices")
    if stack.ndim != 3 or stack.shape[0] != n:
        raise ValueError(f"expected a stack of shape ({n}, d, d), one matrix per element of {table.name} in "
                         f"list(G.elements) order, got shape {stack.shape}")
    if stack.shape[1] != stack.shape[2]:
        raise ValueError(f"the matrices of a representation must be square, got {stack.shape[1]}×{stack.shape[2]}")
    stack = stack.astype(np.float64)
    if not np.isfinite(stack).all():
        raise ValueError("the representation has non-finite (nan or inf) entries")
    return stack


# ------------------------------------------------------------------ irreps


@dataclass(frozen=True)
class _Irreps:
    names: Tuple[str, ...]
    dims: Tuple[int, ...]
    types: Tuple[str, ...]
    characters: np.ndarray      # (n_irreps, |G|): chi_psi(g_i)
    norms: np.ndarray           # <chi_psi, chi_psi>: 1, 2 or 4
    regular: np.ndarray         # multiplicities in G.regular_representation


def _real_multiplicities(chi: np.ndarray, characters: np.ndarray, norms: np.ndarray, inv: np.ndarray) -> np.ndarray:
    return characters[:, inv] @ chi / len(chi) / norms


@functools.lru_cache(maxsize=None)
def _irreps(table: GroupTable) -> _Irreps:
    G = table.group
    irreps = G.irreps()
    inv = table.inv.numpy()
    characters = np.array([[irrep.character(e) for e in table.elements] for irrep in irreps], dtype=np.float64)
    norms = np.einsum("pg,pg->p", characters, characters[:, inv]) / table.order
    regular = matrix_stack(G.regular_representation, table)
    regular = _real_multiplicities(np.trace(regular, axis1=1, axis2=2), characters, norms, inv)
    if irreps[0] != G.trivial_representation:
        raise ValueError(f"escnn lists {irreps[0].name} first among the irreps of {G.name}, not the trivial one")
    return _Irreps(
        names=tuple(irrep.name for irrep in irreps),
        dims=tuple(irrep.size for irrep in irreps),
        types=tuple(irrep.type for irrep in irreps),
        characters=characters,
        norms=norms,
        regular=np.rint(regular).astype(np.int64),
    )


# ------------------------------------------------------------------ residuals


def _homomorphism_defect(stack: np.ndarray, table: GroupTable) -> Tuple[float, float]:
    mul = table.mul.numpy()
    scale = np.sqrt(np.mean(np.sum(stack ** 2, axis=(1, 2))))
    if scale == 0.0:
        return float("inf"), float("inf")
    n, d = stack.shape[:2]
    columns = stack.transpose(1, 0, 2).reshape(d, n * d)      # [rho(h_0) | rho(h_1) | ...]
    worst, total = 0.0, 0.0
    for i in range(n):                  # one row of the table at a time: |G| d^2 memory, not |G|^2 d^2
        products = (stack[i] @ columns).reshape(d, n, d).transpose(1, 0, 2)
        err = np.linalg.norm(products - stack[mul[i]], axis=(1, 2)) / scale
        worst, total = max(worst, float(err.max())), total + float(err.sum())
    return worst, total / table.order ** 2


def _closest_regular(n: np.ndarray, irreps: _Irreps, dim: int, order: int) -> Tuple[int, int, float]:
    dims = np.asarray(irreps.dims, dtype=np.float64)
    best = None
    for m in range(dim // order + 1):
        t = max(int(np.rint(n[0] - m * irreps.regular[0])), 0)
        target = m * irreps.regular.astype(np.float64)
        target[0] += t
        distance = float(np.dot(dims, np.abs(n - target)))
        if best is None or distance < best[2] - 1e-9 or (abs(distance - best[2]) <= 1e-9 and m > best[0]):
            best = (m, t, distance)
    return best


# ------------------------------------------------------------------ complex counts (abelian groups)


def _complex_counts(stack: np.ndarray, table: GroupTable
                    ) -> Tuple[Tuple[Tuple[int, ...], ...], Tuple[int, ...], Tuple[int, ...]]:
    gens = table.generators
    orders = tuple(table.element_order(s) for s in gens)
    if len(gens) == 1:
        # the paper's count: eigenvalues of rho(s) at the nearest N-th root of unity
        N = orders[0]
        angles = np.angle(np.linalg.eigvals(stack[gens[0]]))
        k = np.mod(np.rint(angles * N / (2 * np.pi)).astype(np.int64), N)
        return tuple((j,) for j in range(N)), tuple(int(c) for c in np.bincount(k, minlength=N)), orders
    # several generators: the complex characters lambda, lambda(s_j) = exp(2 pi i k_j / N_j),
    # evaluated on every element through its word, kept when they are homomorphisms
    exponents = np.zeros((table.order, len(gens)), dtype=np.int64)
    for i, word in enumerate(table.words):
        for j in word:
            exponents[i, j] += 1
    mul = table.mul.numpy()
    chi = np.trace(stack, axis1=1, axis2=2)
    labels, counts = [], []
    for k in itertools.product(*(range(N) for N in orders)):
        phase = np.exp(2j * np.pi * (exponents @ (np.array(k) / np.array(orders))))
        if not np.allclose(phase[:, None] * phase[None, :], phase[mul], atol=1e-9):
            continue
        labels.append(tuple(k))
        counts.append(int(np.rint(np.real(np.vdot(phase, chi)) / table.order)))
    return tuple(labels), tuple(counts), orders


# ------------------------------------------------------------------ decompose


def decompose(rep: Any, G: Optional[GroupLike] = None, *, tol: float = 1e-3) -> Decomposition:
    r"""The multiplicities of escnn's irreps of :math:`G` in ``rep``, with residuals.

    Computes :math:`n_\psi = \langle\chi_\rho,\chi_\psi\rangle / \langle\chi_\psi,\chi_\psi\rangle`
    for every irrep in ``G.irreps()`` (see the module documentation), their nearest
    integers, how far the stack is from a representation
    (:attr:`Decomposition.residual`) and whether it is one within ``tol``
    (:attr:`Decomposition.is_representation`), the closest
    :math:`m\,\rho_\text{reg} \oplus t \cdot 1` and, for abelian groups, the counts of
    the complex 1-dimensional irreps as reported in the paper (e.g. ``16:16:16:16`` for
    :math:`C_4` acting regularly on a 64-dimensional latent).

    Args:
        rep: the representation: an escnn ``Representation``, a stack ``(|G|, d, d)``
            (numpy or torch) in element order, a mapping or callable from elements (or
            element indices) to matrices, or an object with ``matrices()``, e.g. a
            :class:`~escnn_soft.learned.representation.LearnedRepresentation`. See :func:`matrix_stack`.
        G (Group, optional): the finite escnn group; may be left out when ``rep`` knows it.
        tol (float): the largest relative homomorphism defect
            :math:`\max_{g,h} \|\rho(g)\rho(h) - \rho(gh)\|_F / s` (``s`` the RMS Frobenius
            norm of the matrices), and the largest identity defect
            :math:`\|\rho(e) - I\|_F / \sqrt{d}`, of a stack still called a representation.
            Both are 0 up to rounding (about :math:`10^{-15}`) for an exact one; random
            orthogonal matrices have a homomorphism defect of order 1.

    Returns:
        a :class:`Decomposition`; ``print`` it for a table.

    Raises:
        ValueError: if ``tol`` is negative or not finite (and see :func:`matrix_stack`).

    Example:
        >>> from escnn.group import dihedral_group, directsum
        >>> G = dihedral_group(3)
        >>> d = decompose(directsum([G.regular_representation] * 5))
        >>> d.rounded.tolist(), d.summary
        ([5, 5, 10], '5×regular(D3) ⊕ 0×trivial')

        Random orthogonal matrices with :math:`\rho(e) = I` are no representation of
        :math:`C_6`, whatever their characters round to:

        >>> import numpy as np
        >>> from escnn.group import cyclic_group
        >>> rng = np.random.default_rng(0)
        >>> stack = np.stack([np.eye(4)] + [np.linalg.qr(rng.normal(size=(4, 4)))[0] for _ in range(5)])
        >>> d = decompose(stack, cyclic_group(6))           # element 0 is the identity
        >>> d.is_representation, d.is_regular_plus_trivial
        (False, False)
        >>> d.summary  # doctest: +ELLIPSIS
        'not a representation (homomorphism defect ... > tol 0.001)'
    """
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating, np.integer)) or not 0 <= tol < np.inf:
        raise ValueError(f"tol must be a finite number >= 0 (a relative defect, e.g. 1e-3), got {tol!r}")
    table = _table_of(rep, G)
    stack = matrix_stack(rep, table)
    irreps = _irreps(table)
    dim = stack.shape[1]
    inv = table.inv.numpy()

    chi = np.trace(stack, axis1=1, axis2=2)
    n = _real_multiplicities(chi, irreps.characters, irreps.norms, inv)
    rounded = np.rint(n).astype(np.int64)
    character_residual = float(np.max(np.abs(chi - rounded @ irreps.characters))) / dim
    defect_max, defect_mean = _homomorphism_defect(stack, table)
    identity_defect = float(np.linalg.norm(stack[table.identity] - np.eye(dim))) / np.sqrt(dim)
    m, t, distance = _closest_regular(n, irreps, dim, table.order)

    mul = table.mul
    labels = counts = orders = None
    if bool((mul == mul.T).all()) and table.order > 1:
        labels, counts, orders = _complex_counts(stack, table)

    return Decomposition(
        group=table, dim=dim, irrep_names=irreps.names, irrep_dims=irreps.dims, irrep_types=irreps.types,
        multiplicities=n, rounded=rounded, regular=irreps.regular.copy(),
        homomorphism_defect_max=defect_max, homomorphism_defect_mean=defect_mean, identity_defect=identity_defect,
        tol=float(tol), character_residual=character_residual, regular_copies=m, trivial_copies=t,
        regular_distance=distance,
        complex_labels=labels, complex_counts=counts, generator_orders=orders,
    )
