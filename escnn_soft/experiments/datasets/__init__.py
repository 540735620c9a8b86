r"""Datasets for the soft-equivariance experiments: MNIST sources, double-digit MNIST, two-typeface
digits (and the TMNIST CSV), CIFAR-10, the MedMNIST v2 3D datasets, the SMOKE simulations."""

from .mnist import *  # noqa: F401,F403
from .mnist import __all__ as _mnist_all
from .ddmnist import *  # noqa: F401,F403
from .ddmnist import __all__ as _ddmnist_all

from .typefaces import *  # noqa: F401,F403
from .typefaces import __all__ as _typefaces_all
from .cifar10 import *  # noqa: F401,F403
from .cifar10 import __all__ as _cifar10_all
from .medmnist import *  # noqa: F401,F403
from .medmnist import __all__ as _medmnist_all
from .smoke import *  # noqa: F401,F403
from .smoke import __all__ as _smoke_all

__all__ = (list(_mnist_all) + list(_ddmnist_all) + list(_typefaces_all) + list(_cifar10_all) + list(_medmnist_all)
           + list(_smoke_all))
