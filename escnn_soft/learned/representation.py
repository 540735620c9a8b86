r"""A learnable linear action on the latent space, pushed towards a representation.

Instead of fixing the latent representation, the paper's Section 4 learns one matrix
per generator of :math:`G` and adds an *algebra loss* that vanishes exactly when the
matrices satisfy the relations of :math:`G`. :class:`LearnedRepresentation` holds one
matrix :math:`W_s \in \mathbb{R}^{d \times d}` per generator :math:`s` and defines

.. math::
    \rho(g) = W_{s_{w_1}} W_{s_{w_2}} \cdots W_{s_{w_\ell}}
    \qquad \text{for } g = s_{w_1} s_{w_2} \cdots s_{w_\ell},

a fixed shortest word of every element (``group_table(G).words``, or
:meth:`~escnn_soft.groups.GroupTable.shortest_words` in the generators of a
:class:`Presentation`). This :math:`\rho` is a representation if and only if the algebra
loss is zero; :func:`~escnn_soft.learned.decompose.decompose` then says which one it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Tuple, Union

import numpy as np
import torch
from escnn.group import Group
from torch import nn

from ..actions import GroupAction
from .decompose import matrix_stack
from ..groups import GroupTable

__all__ = ["Presentation", "LearnedRepresentation"]


@dataclass(frozen=True)
class Presentation:
    r"""A presentation :math:`\langle s_1, \dots, s_q \mid r_1, \dots, r_p \rangle` of a finite group.

    Generators are element indices (positions in ``list(G.elements)``); a relator is a
    word in the generators, a tuple of positions in :attr:`generators`, read left to
    right as a matrix product, that equals the identity. For :math:`D_3` with escnn's
    generators :math:`r` (rotation by :math:`2\pi/3`, position 0) and :math:`s`
    (reflection, position 1), the paper's presentation
    :math:`r^3 = s^2 = (rs)^2 = e` is::

        Presentation(group_table(G).generators, ((0, 0, 0), (1, 1), (0, 1, 0, 1)))

    Only positive words are allowed (:math:`s^{-1} = s^{N-1}` for an element of order
    :math:`N`). Whether the relators *define* :math:`G`, rather than a larger group
    that maps onto it, is the user's responsibility;
    :func:`~escnn_soft.learned.decompose.decompose` measures the homomorphism defect of
    the result on the whole group in any case.

    Args:
        generators (tuple of int): element indices of the generators.
        relators (tuple of tuple of int): the relator words.
    """

    generators: Tuple[int, ...]
    relators: Tuple[Tuple[int, ...], ...]

    def __post_init__(self):
        object.__setattr__(self, "generators", tuple(int(s) for s in self.generators))
        object.__setattr__(self, "relators", tuple(tuple(int(a) for a in r) for r in self.relators))

    def check(self, table: GroupTable) -> None:
        r"""Raise a clear error unless the generators generate ``table``'s group and every relator is trivial in it."""
        q = len(self.generators)
        table.shortest_words(self.generators)      # raises unless they generate the group
        if not self.relators and table.order > 1:
            raise ValueError(f"a presentation of the finite group {table.name} needs relators")
        mul = table.mul.numpy()
        for r in self.relators:
            if not r or not all(0 <= a < q for a in r):
                raise ValueError(f"relator {r} must be a non-empty word of positions 0..{q - 1} in the generators")
            g = table.identity
            for a in r:
                g = int(mul[g, self.generators[a]])
            if g != table.identity:
                raise ValueError(f"relator {r} is not the identity in {table.name}: it evaluates to element index {g}")


class LearnedRepresentation(nn.Module, GroupAction):
    r"""A learned action :math:`\rho(g) = W_{s_{w_1}} \cdots W_{s_{w_\ell}}` on a ``dim``-dimensional latent.

    **Matrices.** :meth:`matrices` returns all :math:`|G|` matrices at once, built
    level by level of the tree of shortest words: the elements with words of length
    :math:`\ell` are :math:`\rho(\text{prefix}) W_{\text{last}}` for their prefixes of
    length :math:`\ell - 1`, one batched product per level.

    **Algebra loss.** :meth:`algebra_loss` is a mean over *relations*
    :math:`(P, s, T)` meaning :math:`P W_s = T`:

    .. math::
        \mathcal{L}_\text{alg} = \frac{1}{|R|} \sum_{(P, s, T) \in R} \frac{1}{d} \| P W_s - T \|_F^2 .

    * Without a presentation, :math:`R` is the set of closing edges of the Cayley
      graph: :math:`(\rho(g), s, \rho(gs))` for every element :math:`g` and generator
      :math:`s` whose product :math:`gs` has a word other than ``words[g] + (s,)``
      (the others hold by construction). Together they say
      :math:`\rho(g)\rho(s) = \rho(gs)` for all :math:`g, s`, which holds if and only
      if :math:`\rho` is a homomorphism: no presentation needs to be known.
    * With a :class:`Presentation`, :math:`R` has one relation per relator
      :math:`r = a_1 \cdots a_\ell`: :math:`P = W_{a_1} \cdots W_{a_{\ell-1}}`,
      :math:`s = a_\ell`, :math:`T = I`, i.e. :math:`\rho(r) = I` as in the paper.

    Two regularisers follow the paper's code (weights ``inverse``, default 1 as in
    the paper, and ``orthogonality``, default 0):

    .. math::
        \mathcal{L}_\text{inv} = \frac{1}{|R|} \sum_{(P, s, T) \in R} \frac{1}{d} \| P - T W_s^{-1} \|_F^2,
        \qquad
        \mathcal{L}_\text{orth} = \frac{1}{q} \sum_{s} \frac{1}{d} \| W_s W_s^\top - I \|_F^2 .

    :math:`\mathcal{L}_\text{inv}` is each relation solved for its prefix with the
    inverse of the last generator (the paper's :math:`\|W^{N-1} - W^{-1}\|` next to
    :math:`\|W^N - I\|`): it penalises generators whose inverse is unstable, i.e.
    ill-conditioned :math:`W_s`. :math:`\mathcal{L}_\text{orth}` keeps the generators
    orthogonal; every representation of a finite group is equivalent to an orthogonal
    one, so it removes only the freedom of a change of basis. The paper's terms are
    unsquared Frobenius norms; squared ones, scaled by :math:`1/d`, are smooth at the
    solution and comparable across latent sizes.

    **Initialisation.** By default each :math:`W_s` is a random rotation (Haar on
    :math:`SO(d)`, from ``seed``) plus Gaussian noise of standard deviation ``noise``.
    Rotations rather than any orthogonal matrix: a generator of odd order needs
    :math:`\det W_s = 1`, and gradient descent cannot change the sign of a determinant
    without passing through a singular matrix. With
    ``init`` (anything :func:`~escnn_soft.learned.decompose.matrix_stack` reads: an escnn
    ``Representation`` of :math:`G`, a ``(|G|, dim, dim)`` stack, ...) it starts from
    that representation's generator matrices plus the same noise.

    The module can stand in for a fixed latent (it is a
    :class:`~escnn_soft.actions.GroupAction`, e.g. the ``latent`` of
    :class:`~escnn_soft.loss.SoftEquivarianceLoss`, whose parameters then include the
    generators; add :meth:`algebra_loss` to the training loss): :attr:`group` is the
    :class:`~escnn_soft.groups.GroupTable`, :attr:`size` the dimension, and
    ``apply(z, g)`` (or calling it) acts on a batch.

    Args:
        G (Group): a finite escnn group (or its table).
        dim (int): the latent dimension :math:`d`.
        presentation (Presentation, optional): generators and relators to use instead of
            ``group_table(G).generators`` and the Cayley-graph relations.
        init (optional): a representation to start from; random orthogonal if ``None``.
        noise (float): standard deviation of the Gaussian noise added to the initial matrices.
        seed (int): seed of the initialisation.
        dtype (torch.dtype, optional): parameter dtype (default: torch's default dtype).
        device (torch.device, optional): parameter device (default: CPU).

    Example:
        >>> from escnn.group import cyclic_group
        >>> rho = LearnedRepresentation(cyclic_group(4), 8)
        >>> rho.matrices().shape, rho.generators.shape
        (torch.Size([4, 8, 8]), torch.Size([1, 8, 8]))
    """

    def __init__(self, G: Union[Group, GroupTable], dim: int, presentation: Optional[Presentation] = None,
                 init: Any = None, noise: float = 0.01, seed: int = 0,
                 dtype: Optional[torch.dtype] = None, device: Union[torch.device, str, None] = None):
        nn.Module.__init__(self)
        GroupAction.__init__(self, G)
        table = self.group
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if presentation is not None:
            if not isinstance(presentation, Presentation):
                raise TypeError(f"presentation must be a Presentation, got {type(presentation).__name__}")
            presentation.check(table)
            gens = presentation.generators
            words = table.shortest_words(gens)
        else:
            gens, words = table.generators, table.words
        self.size: int = dim
        self.presentation: Optional[Presentation] = presentation
        self.generator_elements: Tuple[int, ...] = tuple(gens)

        self.generators = nn.Parameter(self._initial(table, dim, gens, init, noise, seed)
                                       .to(dtype=dtype or torch.get_default_dtype(), device=device))

        # the word tree, level by level: the level-l elements are (parent at level l-1) @ W[letter]
        index_of = {w: i for i, w in enumerate(words)}
        position = {table.identity: (0, 0)}
        levels: List[List[int]] = [[table.identity]]
        parents, letters = [], []
        for i in sorted(range(table.order), key=lambda i: len(words[i])):
            w = words[i]
            if not w:
                continue
            if len(w) == len(levels):
                levels.append([])
            parent = index_of[w[:-1]]
            position[i] = (len(w), len(levels[-1]))
            levels[-1].append(i)
            parents.append(position[parent][1])
            letters.append(w[-1])
        order = [i for level in levels for i in level]
        self._level_sizes: Tuple[int, ...] = tuple(len(level) for level in levels)
        self.register_buffer("_parents", torch.tensor(parents, dtype=torch.long), persistent=False)
        self.register_buffer("_letters", torch.tensor(letters, dtype=torch.long), persistent=False)
        self.register_buffer("_unsort", torch.argsort(torch.tensor(order)), persistent=False)

        if presentation is None:
            mul = table.mul.numpy()
            closing = [(g, k, int(mul[g, s])) for g in range(table.order) for k, s in enumerate(gens)
                       if words[int(mul[g, s])] != words[g] + (k,)]
            rel = torch.tensor(closing, dtype=torch.long).reshape(-1, 3)
            self.register_buffer("_rel_prefix", rel[:, 0].contiguous(), persistent=False)
            self.register_buffer("_rel_letter", rel[:, 1].contiguous(), persistent=False)
            self.register_buffer("_rel_target", rel[:, 2].contiguous(), persistent=False)
        else:
            self.register_buffer("_rel_letter", torch.tensor([r[-1] for r in presentation.relators],
                                                             dtype=torch.long), persistent=False)

    @staticmethod
    def _initial(table: GroupTable, dim: int, gens: Tuple[int, ...], init: Any, noise: float,
                 seed: int) -> torch.Tensor:
        rng = torch.Generator().manual_seed(seed)
        if init is None:
            A = torch.randn(len(gens), dim, dim, generator=rng, dtype=torch.float64)
            Q, R = torch.linalg.qr(A)
            W = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1))[:, None, :]   # Haar on O(d)
            W[:, :, 0] *= torch.sign(torch.linalg.det(W))[:, None]                # Haar on SO(d)
        else:
            stack = matrix_stack(init, table)
            if stack.shape[1] != dim:
                raise ValueError(f"init is a representation of dimension {stack.shape[1]}, but dim={dim}")
            W = torch.from_numpy(np.ascontiguousarray(stack[list(gens)]))
        return W + noise * torch.randn(W.shape, generator=rng, dtype=torch.float64)

    def matrices(self) -> torch.Tensor:
        r"""All matrices :math:`\rho(g_i)`, shape ``(|G|, dim, dim)``, in element order."""
        W = self.generators
        level = torch.eye(self.size, dtype=W.dtype, device=W.device)[None]
        built, start = [level], 0
        for size in self._level_sizes[1:]:
            parents = self._parents[start:start + size]
            letters = self._letters[start:start + size]
            level = level[parents] @ W[letters]
            built.append(level)
            start += size
        return torch.cat(built)[self._unsort]

    def apply(self, z: Any, g: Optional[torch.Tensor] = None) -> Any:
        r"""Act on a batch: ``apply(z, g)[b] =`` :math:`\rho(g_b)\, z_b`.

        Args:
            z (torch.Tensor): latents of shape ``(B, dim)`` or ``(B, dim, *spatial)``.
            g (torch.LongTensor): element indices, shape ``(B,)``.

        Called with a single function, as :meth:`torch.nn.Module.apply` (``model.apply(init_fn)``
        recursing into submodules), it does what that method does.
        """
        if g is None and callable(z) and not isinstance(z, torch.Tensor):
            return super().apply(z)
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"z must be a torch.Tensor of shape (B, {self.size}) or (B, {self.size}, *spatial), "
                            f"got {type(z).__name__}")
        if z.dim() < 2:
            raise ValueError(f"expected a latent of shape (B, {self.size}) or (B, {self.size}, *spatial) for "
                             f"{self!r}, got {tuple(z.shape)}")
        self.group.check_indices(g, z.shape[0])
        return self._act(z, g)

    def _act(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if z.dim() < 2 or z.shape[1] != self.size:
            raise ValueError(f"expected a latent of shape (B, {self.size}) or (B, {self.size}, *spatial) for "
                             f"{self!r}, got {tuple(z.shape)}")
        W = self.generators
        if z.dtype != W.dtype or z.device != W.device:
            raise TypeError(f"z is {z.dtype} on {z.device} but the representation is {W.dtype} on {W.device}; "
                            f"move one of them, e.g. rho.to(z)")
        rho = self.matrices()[g.to(device=W.device, dtype=torch.long)]
        return torch.bmm(rho, z.reshape(z.shape[0], self.size, -1)).reshape(z.shape)

    def forward(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        r"""Same as :meth:`apply`."""
        return self.apply(z, g)

    def _relations(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        r"""The prefixes :math:`P` and targets :math:`T` of every relation, stacked;
        ``T`` is ``None`` for :math:`T = I`. The letters :math:`s` are ``_rel_letter``."""
        W = self.generators
        if self.presentation is None:
            rho = self.matrices()
            return rho[self._rel_prefix], rho[self._rel_target]
        prefixes = []
        for r in self.presentation.relators:
            P = torch.eye(self.size, dtype=W.dtype, device=W.device)
            for a in r[:-1]:
                P = P @ W[a]
            prefixes.append(P)
        return torch.stack(prefixes), None

    def algebra_loss(self, inverse: float = 1.0, orthogonality: float = 0.0) -> torch.Tensor:
        r"""The algebra loss :math:`\mathcal{L}_\text{alg} + \text{inverse}\,\mathcal{L}_\text{inv}
        + \text{orthogonality}\,\mathcal{L}_\text{orth}` (see the class documentation).

        The default weights are the paper's: relation and inverse terms summed with equal
        weight, no orthogonality term. The loss is zero if and only if :math:`\rho` is a
        representation of :math:`G` (for a user presentation: if the generator matrices
        satisfy its relators), and, when ``orthogonality > 0``, an orthogonal one.

        Args:
            inverse (float): weight of :math:`\mathcal{L}_\text{inv}`. Without it, training from
                a random start often ends in a local minimum where a generator matrix is singular.
            orthogonality (float): weight of :math:`\mathcal{L}_\text{orth}`. It slows the final
                convergence (the change of basis to an orthogonal one is a flat direction of
                :math:`\mathcal{L}_\text{alg}`).
        """
        W = self.generators
        d = self.size
        P, T = self._relations()
        eye = torch.eye(d, dtype=W.dtype, device=W.device)
        if P.shape[0] == 0:
            loss = W.sum() * 0.0
        else:
            target = eye if T is None else T
            loss = ((P @ W[self._rel_letter] - target) ** 2).sum(dim=(1, 2)).mean() / d
            if inverse:
                W_inv = torch.linalg.inv(W)[self._rel_letter]
                loss = loss + inverse * ((P - target @ W_inv) ** 2).sum(dim=(1, 2)).mean() / d
        if orthogonality and W.shape[0]:
            loss = loss + orthogonality * ((W @ W.transpose(1, 2) - eye) ** 2).sum(dim=(1, 2)).mean() / d
        return loss

    def extra_repr(self) -> str:
        how = "Cayley relations" if self.presentation is None else f"{len(self.presentation.relators)} relators"
        return f"{self.group.name}, dim={self.size}, generators={len(self.generator_elements)}, {how}"
