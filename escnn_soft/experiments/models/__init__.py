r"""Models that use :mod:`escnn_soft`: plain, strictly equivariant and residual-pathway baselines.

* :mod:`escnn_soft.experiments.models.ddmnist` — the double-digit MNIST models and their registry;
* :mod:`escnn_soft.experiments.models.rpp` — residual pathway convolutions on escnn field types.
"""

from .rpp import ResidualPathwayConv
from .ddmnist import (
    DDMNIST_GROUPS,
    DDMNIST_MODELS,
    DDMNISTCNN,
    DDMNISTRPP,
    DDMNISTSteerableCNN,
    build_ddmnist_model,
    ddmnist_cnn,
    ddmnist_gspace,
    ddmnist_rpp,
    ddmnist_scnn,
)

__all__ = [
    "ResidualPathwayConv",
    "DDMNIST_GROUPS",
    "DDMNIST_MODELS",
    "DDMNISTCNN",
    "DDMNISTSteerableCNN",
    "DDMNISTRPP",
    "ddmnist_gspace",
    "ddmnist_cnn",
    "ddmnist_scnn",
    "ddmnist_rpp",
    "build_ddmnist_model",
]
