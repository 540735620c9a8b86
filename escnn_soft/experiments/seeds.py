r"""Random sources derived from a seed and a purpose, so that each draw of a task is fixed apart.

A task draws several things from one data seed: the training subset, the poses of the
validation and test images, the elements of the monitor batch. Each draw gets its own
source, seeded by :class:`numpy.random.SeedSequence` from the pair (or tuple)
``(seed, *purpose)`` of non-negative integers, so that adding a draw never changes another.

Example:
    >>> a = seeded_generator(0, 3)
    >>> b = seeded_generator(0, 3)
    >>> torch.equal(torch.randint(10, (5,), generator=a), torch.randint(10, (5,), generator=b))
    True
    >>> seeded_state(0, 3) == seeded_state(0, 4)
    False
    >>> seeded_rng(0, 1).permutation(3).shape
    (3,)
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["seeded_state", "seeded_generator", "seeded_rng"]


def seeded_state(seed: int, *purpose: int) -> int:
    r"""The first 32-bit word of ``numpy.random.SeedSequence([seed, *purpose])``.

    Args:
        seed (int): the seed (for instance a task's data seed).
        *purpose (int): the codes that tell this draw apart from the others of the same seed.

    Returns:
        int: a seed in :math:`[0, 2^{32})`.
    """
    return int(np.random.SeedSequence([seed, *purpose]).generate_state(1)[0])


def seeded_generator(seed: int, *purpose: int) -> torch.Generator:
    r"""A CPU :class:`torch.Generator` seeded with :func:`seeded_state` ``(seed, *purpose)``."""
    return torch.Generator().manual_seed(seeded_state(seed, *purpose))


def seeded_rng(seed: int, *purpose: int) -> np.random.Generator:
    r"""A :class:`numpy.random.Generator` on ``numpy.random.SeedSequence([seed, *purpose])``."""
    return np.random.default_rng(np.random.SeedSequence([seed, *purpose]))
