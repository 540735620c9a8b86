r"""Models that use :mod:`escnn_soft`: plain, strictly equivariant and residual-pathway baselines.

* :mod:`escnn_soft.experiments.models.ddmnist` — the double-digit MNIST models;
* :mod:`escnn_soft.experiments.models.mnist` — the single-digit MNIST models;
* :mod:`escnn_soft.experiments.models.rpp` — residual pathway convolutions on escnn field types.

The names of the models of a comparison, and how each one trains, belong to its task
(:mod:`escnn_soft.experiments.tasks`).
"""

from .rpp import ResidualPathwayConv
from .ddmnist import (
    DDMNISTCNN,
    DDMNISTRPP,
    DDMNISTSteerableCNN,
    ddmnist_cnn,
    ddmnist_gspace,
    ddmnist_rpp,
    ddmnist_scnn,
)
from .mnist import MNIST_IMAGE_SIZE, MNISTCNN, MNISTSteerableCNN, mnist_cnn, mnist_scnn

__all__ = [
    "ResidualPathwayConv",
    "DDMNISTCNN",
    "DDMNISTSteerableCNN",
    "DDMNISTRPP",
    "ddmnist_gspace",
    "ddmnist_cnn",
    "ddmnist_scnn",
    "ddmnist_rpp",
    "MNIST_IMAGE_SIZE",
    "MNISTCNN",
    "MNISTSteerableCNN",
    "mnist_cnn",
    "mnist_scnn",
]
