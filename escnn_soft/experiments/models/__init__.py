r"""Models that use :mod:`escnn_soft`: plain, strictly equivariant, restriction and residual-pathway baselines.

* :mod:`escnn_soft.experiments.models.ddmnist` — the double-digit MNIST models;
* :mod:`escnn_soft.experiments.models.mnist` — the single-digit MNIST models;
* :mod:`escnn_soft.experiments.models.medmnist3d` — the MedMNIST3D 3D ResNet;
* :mod:`escnn_soft.experiments.models.medmnist3d_scnn` — its strictly invariant steerable
  versions, octahedral and :math:`SO(3)`;
* :mod:`escnn_soft.experiments.models.smoke` — the SMOKE one-step predictors (CNN, steerable,
  residual pathway) and their autoregressive rollout;
* :mod:`escnn_soft.experiments.models.rpp` — residual pathway convolutions on escnn field types;
* :mod:`escnn_soft.experiments.models.restriction` — unconstrained convolutions on fields of the
  trivial group, for the layers after a restriction.

The names of the models of a comparison, and how each one trains, belong to its task
(:mod:`escnn_soft.experiments.tasks`).
"""

from .rpp import ResidualPathwayConv
from .restriction import UnconstrainedConv
from .ddmnist import (
    CNN_LATENTS,
    DDMNISTCNN,
    DDMNISTRPP,
    DDMNISTGxGSteerableCNN,
    DDMNISTRestriction,
    DDMNISTSteerableCNN,
    ddmnist_cnn,
    ddmnist_gspace,
    ddmnist_restriction,
    ddmnist_rpp,
    ddmnist_scnn,
    ddmnist_scnn_gxg,
)
from .medmnist3d import MedMNIST3DCNN, medmnist3d_cnn
from .medmnist3d_scnn import (
    MedMNIST3DOctaSteerableCNN,
    MedMNIST3DSO3SteerableCNN,
    medmnist3d_octa_scnn,
    medmnist3d_so3_scnn,
)
from .smoke import (
    SMOKE_BLOCKS,
    SMOKE_IN_FRAMES,
    SmokeCNN,
    SmokeRollout,
    SmokeSteerableCNN,
    smoke_cnn,
    smoke_gspace,
    smoke_rpp,
    smoke_scnn,
)
from .mnist import MNIST_IMAGE_SIZE, MNISTCNN, MNISTSteerableCNN, mnist_cnn, mnist_scnn

__all__ = [
    "ResidualPathwayConv",
    "UnconstrainedConv",
    "CNN_LATENTS",
    "DDMNISTCNN",
    "DDMNISTSteerableCNN",
    "DDMNISTRPP",
    "DDMNISTRestriction",
    "DDMNISTGxGSteerableCNN",
    "ddmnist_gspace",
    "ddmnist_cnn",
    "ddmnist_scnn",
    "ddmnist_rpp",
    "ddmnist_restriction",
    "ddmnist_scnn_gxg",
    "MedMNIST3DCNN",
    "medmnist3d_cnn",
    "MedMNIST3DOctaSteerableCNN",
    "MedMNIST3DSO3SteerableCNN",
    "medmnist3d_octa_scnn",
    "medmnist3d_so3_scnn",
    "SMOKE_IN_FRAMES",
    "SMOKE_BLOCKS",
    "SmokeRollout",
    "SmokeCNN",
    "SmokeSteerableCNN",
    "smoke_gspace",
    "smoke_cnn",
    "smoke_scnn",
    "smoke_rpp",
    "MNIST_IMAGE_SIZE",
    "MNISTCNN",
    "MNISTSteerableCNN",
    "mnist_cnn",
    "mnist_scnn",
]
