r"""Datasets for the soft-equivariance experiments: MNIST sources and double-digit MNIST."""

from .mnist import *  # noqa: F401,F403
from .mnist import __all__ as _mnist_all

__all__ = list(_mnist_all)
