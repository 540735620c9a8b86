r"""A module in eval mode for a while, and every submodule's training flag restored afterwards.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout()).train()
    >>> net[1].eval()
    Dropout(p=0.5, inplace=False)
    >>> with eval_mode(net):
    ...     [m.training for m in net.modules()]
    [False, False, False]
    >>> [m.training for m in net.modules()]
    [True, True, False]
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from torch import nn

__all__ = ["eval_mode"]


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[Callable[[], None]]:
    r"""``module.eval()`` inside the block; on leaving it every submodule gets its own training
    flag back.

    The modes are set through :meth:`~torch.nn.Module.train`, so that modules which prepare
    themselves for evaluation (escnn's convolutions expand their filters once) do so. The
    block receives a function that restores the modes early (for instance from a forward
    hook, so that the rest of a forward pass runs in its own mode); they are restored on
    exit in any case.

    Args:
        module (torch.nn.Module): the module.
    """
    modes = [(m, m.training) for m in module.modules()]

    def restore() -> None:
        for m, mode in modes:  # parents first: a parent's train() resets its children, fixed after it
            if m.training != mode:
                m.train(mode)

    module.eval()
    try:
        yield restore
    finally:
        restore()
