r"""Datasets for the soft-equivariance experiments: MNIST sources and double-digit MNIST."""

from .mnist import *  # noqa: F401,F403
from .mnist import __all__ as _mnist_all
from .ddmnist import *  # noqa: F401,F403
from .ddmnist import __all__ as _ddmnist_all

__all__ = list(_mnist_all) + list(_ddmnist_all)
