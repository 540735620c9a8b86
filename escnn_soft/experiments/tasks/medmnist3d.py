r"""MedMNIST3D under the rotations of the cube: one comparison task per 3D dataset.

Each of the six 3D datasets of MedMNIST v2 (:data:`~escnn_soft.experiments.datasets.MEDMNIST3D_LABELS`)
is a task of its own name, e.g. ``escnn-soft compare --task adrenalmnist3d``. An input is a
:math:`1 \times 28^3` volume, scaled to :math:`[-1, 1]` as the paper's code does
(:math:`x / 127.5 - 1` for :math:`x \in \{0, \dots, 255\}`); the classes are invariant. The
group is ``"O"``, the 24 rotations of the cube (escnn's :func:`~escnn.group.octa_group`,
which the paper calls :math:`S_4`), acting on the voxels by
:func:`~escnn_soft.field_action` of a trivial field of :func:`~escnn.gspaces.octaOnR3`: a
permutation, exactly as :meth:`escnn.nn.GeometricTensor.transform` moves them, so nothing
is interpolated.

Data: the source is the folder holding ``{flag}.npz`` (``--data-dir DIR``) or that file; by
default, AdrenalMNIST3D ships with the package (1,188 / 98 / 298 volumes) and the others
are looked for in the cache folder (:func:`~escnn_soft.experiments.datasets.load_medmnist3d`).
The training volumes are the first ``train_size`` of a random order of the training split,
fixed by the data seed. As in the paper's code, validation is on rotated volumes: each
validation and test volume comes in one rotation drawn from the data seed (the paper draws
them afresh at every evaluation). Every run is also scored on the test volumes upright,
the paper's test set: ``test_scores["upright"]``.

Models, on the 3D ResNet of :mod:`escnn_soft.experiments.models.medmnist3d`:

=============  ==========================================================================
model          training
=============  ==========================================================================
cnn            the plain CNN (:func:`~escnn_soft.experiments.models.medmnist3d_cnn`) on the
               upright volumes
cnn-aug        the plain CNN, every volume rotated by an element of :math:`O` drawn
               afresh for every volume drawn, every epoch
soft           cnn-aug plus :class:`~escnn_soft.SoftEquivarianceLoss` on the 48-dim latent
               (the output of the third residual block, before batch normalisation:
               ``latent="pre-bn"``, where the paper's code takes it), :math:`\rho_Z` =
               ``regular_latent(octa_group(), 48)``, two regular copies of :math:`O`. The
               loss is the paper's code's for this task:
               :math:`\tfrac12 \ell(D(E(x)), y) + \tfrac12 \ell(D(E(\rho_X(g)x)), y) +
               \lambda \operatorname{MSE}(\rho_Z(g) E(x), E(\rho_X(g) x))`, the task term of
               the transformed input taken from the loss' second pass
               (``task_weight = input_task_weight =`` :data:`SOFT_TASK_WEIGHT`, shifted
               weight 0)
soft-postbn    soft on the latent after the BatchNorm1d and ELU (``latent="post-bn"``)
cnn-aug-2view  soft without its latent term (:math:`\lambda = 0`, soft's task weights):
               :math:`\tfrac12 \ell(D(E(x)), y) + \tfrac12 \ell(D(E(\rho_X(g)x)), y)`, the
               task loss on each augmented volume and on a second view of it, rotated by a
               :math:`g` drawn afresh; the control that differs from soft by the latent term
               alone (cnn-aug trains on one view). It has no hyperparameter ``"lam"``:
               ``--lam``, ``--shifted-weight`` and ``--pair-fraction`` leave it as it is
scnn-octa      the strictly :math:`O`-invariant steerable 3D ResNet, two regular fields of
               :math:`O` per base width (:func:`~escnn_soft.experiments.models.medmnist3d_octa_scnn`),
               augmented like cnn-aug
scnn-so3       the :math:`SO(3)`-steerable 3D ResNet, band-limited fields with a Fourier ELU
               on a grid that :math:`O` permutes, so exactly :math:`O`-invariant on the voxel
               grid (:func:`~escnn_soft.experiments.models.medmnist3d_so3_scnn`), augmented
=============  ==========================================================================

Like ddmnist's, every CNN-based model here records its cut in the hyperparameter
``"latent"``; the plain CNNs are measured before batch normalisation, where soft acts. The
strict models have no latent; their output invariance is exact up to rounding.

Hyperparameters (Adam) follow Ali, Liò & Vicary (2025), Table 10 (:data:`LEARNING_RATES`,
:data:`SOFT_LAMBDA`): Nodule3D :math:`5 \cdot 10^{-5}` and :math:`\lambda = 1`, Synapse3D
:math:`10^{-4}` and 1, Organ3D :math:`10^{-4}` and 2, the same rate for every model of a
dataset (the strict ones too: the paper gives theirs no rate). The paper ran neither
Adrenal3D, Fracture3D nor Vessel3D: for them we chose :math:`10^{-4}` and :math:`\lambda = 1`. Batch 32, as the paper's code
(:attr:`~escnn_soft.experiments.specs.TaskSpec.default_batch_size`); its full budget is
``--epochs 150 --patience 20``.

Metrics (:meth:`MedMNIST3DTask.metrics`): the accuracy is the score; ``AUC`` is computed as
MedMNIST's ``Evaluator`` does, from the softmax of the logits: the ROC AUC of the last
class's probability for two classes, the mean over classes of the one-vs-rest ROC AUCs for
more. For datasets with left and right organs (Organ3D: kidney, femur, lung), ``mirror
confusion`` is the fraction of the test volumes of those classes classified as their
mirror image: rotations cannot turn a left organ into a right one, but they hide the
orientation that tells them apart, so augmentation should be expected to cost accuracy
there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import torch
from escnn import gspaces
from escnn.nn import FieldType
from torch import nn

from ...actions import FieldAction, field_action
from ...latent import regular_latent
from ...loss import SoftEquivarianceLoss
from ..datasets import MEDMNIST3D_LABELS, MedMNIST3D, load_medmnist3d
from ..models import medmnist3d_cnn, medmnist3d_octa_scnn, medmnist3d_so3_scnn
from ..models.medmnist3d import MEDMNIST3D_LATENT_DIM
from ..seeds import seeded_generator
from ..specs import TASK_SPECS
from ..task import Source, Task, TaskData, TrainingSetup
from .common import array_digest, check_names, cross_entropy_loss, latent_monitor, soft_loss

__all__ = [
    "LEARNING_RATES",
    "SOFT_LAMBDA",
    "SOFT_TASK_WEIGHT",
    "LATENTS",
    "MIRROR_PAIRS",
    "voxel_action",
    "medmnist3d_auc",
    "MedMNIST3DData",
    "MedMNIST3DTask",
    "MEDMNIST3D_TASKS",
]

_PAPER_RATES = {"nodulemnist3d": 5e-5, "synapsemnist3d": 1e-4, "organmnist3d": 1e-4}
_PAPER_LAMBDA = {"nodulemnist3d": 1.0, "synapsemnist3d": 1.0, "organmnist3d": 2.0}

LEARNING_RATES: Dict[str, float] = {flag: _PAPER_RATES.get(flag, 1e-4) for flag in MEDMNIST3D_LABELS}
r"""The Adam learning rate of every model, per dataset: Table 10 of the paper for Nodule3D,
Synapse3D and Organ3D; :math:`10^{-4}`, our choice, for the others."""

SOFT_LAMBDA: Dict[str, float] = {flag: _PAPER_LAMBDA.get(flag, 1.0) for flag in MEDMNIST3D_LABELS}
r""":math:`\lambda` of the soft models per dataset: Table 10 for Nodule3D, Synapse3D and Organ3D; 1, our
choice, for the others."""

SOFT_TASK_WEIGHT: float = 0.5
r"""The weight of each of soft's two task terms, on :math:`x` and on :math:`\rho_X(g)x`, as in the paper's code."""

LATENTS: Dict[str, str] = {"cnn": "pre-bn", "cnn-aug": "pre-bn", "soft": "pre-bn", "soft-postbn": "post-bn",
                           "cnn-aug-2view": "pre-bn"}
r"""The cut of the CNN's latent per model (the hyperparameter ``"latent"``)."""

MIRROR_PAIRS: Dict[str, Tuple[Tuple[int, int], ...]] = {
    flag: tuple((labels.index(name), labels.index(name.replace("-right", "-left")))
                for name in labels if name.endswith("-right"))
    for flag, labels in MEDMNIST3D_LABELS.items()
}
r"""The pairs of classes that are mirror images (a right and a left organ), per dataset, by
label index: ``((1, 2), (3, 4), (7, 8))`` for Organ3D, none for the others."""

_TRAIN_ORDER_CODE, _VAL_CODE, _TEST_CODE, _MONITOR_CODE = 1, 2, 3, 4


def voxel_action() -> FieldAction:
    r"""The 24 rotations of the cube on volumes of shape ``(B, 1, D, D, D)``: the action of a trivial
    field of :func:`~escnn.gspaces.octaOnR3`, a permutation of the voxels."""
    gspace = gspaces.octaOnR3()
    return field_action(FieldType(gspace, [gspace.trivial_repr]))


def medmnist3d_auc(output: torch.Tensor, target: torch.Tensor) -> float:
    r"""The ROC AUC of logits ``output`` ``(N, C)`` for labels ``target`` ``(N,)``, as MedMNIST's
    ``Evaluator`` computes it for single-label tasks: of :math:`\operatorname{softmax}(output)_{C-1}`
    for :math:`C = 2`, else the mean over classes of the one-vs-rest AUC of each class's probability.

    A class whose one-vs-rest AUC is undefined (all or none of the samples in it) is left out of
    the mean; ``nan`` if none is defined.

    Example:
        >>> medmnist3d_auc(torch.tensor([[2., 0.], [0., 1.], [1., 0.], [0., 3.]]), torch.tensor([0, 1, 1, 1]))
        1.0
    """
    from sklearn.metrics import roc_auc_score

    prob = torch.softmax(output.detach().double(), dim=1).cpu().numpy()
    y = target.detach().cpu().numpy()
    columns = [prob.shape[1] - 1] if prob.shape[1] == 2 else range(prob.shape[1])
    aucs = [roc_auc_score(y == c, prob[:, c]) for c in columns if 0 < np.sum(y == c) < y.size]
    return float(np.mean(aucs)) if aucs else float("nan")


def _scaled(volumes: torch.Tensor) -> torch.Tensor:
    r"""``uint8`` volumes ``(N, 28, 28, 28)`` as float ``(N, 1, 28, 28, 28)`` in :math:`[-1, 1]`."""
    return volumes.unsqueeze(1).float() / 127.5 - 1


class MedMNIST3DData(TaskData):
    r"""One MedMNIST 3D dataset under :math:`O`, kept on one device (see the module docstring).

    The training volumes are kept as ``uint8``, scaled and rotated batch by batch on the device;
    the validation and test volumes come in one rotation each, drawn from the data seed, and the
    test volumes also upright (:attr:`extra_test` ``["upright"]``).

    Args:
        data (MedMNIST3D): the arrays.
        train_size (int): training volumes, at most the training split's.
        data_seed (int): fixes the training subset and the evaluation rotations.
        device: where to keep everything.
    """

    def __init__(self, data: MedMNIST3D, *, train_size: int, data_seed: int, device: torch.device):
        self.device = torch.device(device)
        self.in_action = voxel_action()
        self.group = self.in_action.group
        self.out_action = None
        order = torch.randperm(len(data.y_train), generator=seeded_generator(data_seed, _TRAIN_ORDER_CODE))
        keep = order[:train_size]
        self.train_size = int(keep.numel())
        self.volumes = torch.from_numpy(data.x_train)[keep].to(self.device)
        self.labels = torch.from_numpy(data.y_train)[keep].to(self.device)
        self.val = self._rotated(data.x_val, data.y_val, seeded_generator(data_seed, _VAL_CODE))
        self.test = self._rotated(data.x_test, data.y_test, seeded_generator(data_seed, _TEST_CODE))
        self.extra_test = {"upright": (_scaled(torch.from_numpy(data.x_test)).to(self.device),
                                       torch.from_numpy(data.y_test).to(self.device))}
        g = self.group.sample(self.val[0].shape[0], generator=seeded_generator(data_seed, _MONITOR_CODE))
        self.monitor_batch: Tuple[torch.Tensor, torch.Tensor] = (self.val[0], g.to(self.device))

    def _rotated(self, x: np.ndarray, y: np.ndarray, generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        g = self.group.sample(len(y), generator=generator).to(self.device)
        return self.in_action(_scaled(torch.from_numpy(x).to(self.device)), g), torch.from_numpy(y).to(self.device)

    def train_batch(self, index: torch.Tensor, *, augment: bool, generator: torch.Generator
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
        x = _scaled(self.volumes[index])
        if augment:
            x = self.in_action(x, self.group.sample(index.numel(), device=self.device, generator=generator))
        return x, self.labels[index]


class MedMNIST3DTask(Task):
    r"""One MedMNIST 3D dataset under :math:`O` (see the module docstring); ``flag`` is a key of
    :data:`~escnn_soft.experiments.datasets.MEDMNIST3D_LABELS` and the task's name."""

    def __init__(self, flag: str):
        if flag not in MEDMNIST3D_LABELS:
            raise ValueError(f"unknown MedMNIST 3D flag {flag!r}; valid flags: {', '.join(MEDMNIST3D_LABELS)}")
        self.flag = flag
        self.spec = TASK_SPECS[flag]
        self.n_classes = len(MEDMNIST3D_LABELS[flag])

    def open(self, source: Optional[str]) -> Source:
        r"""``{flag}.npz`` from ``source``: the folder holding it, or the file; ``None``: the default
        folder (:func:`~escnn_soft.experiments.datasets.medmnist3d_path`).

        Raises:
            FileNotFoundError: if the folder, the file or ``{flag}.npz`` in the folder does not exist.
            ValueError: for a file of another name, or one that is not the dataset's.
        """
        root = None
        if source is not None:
            path = Path(source).expanduser()
            if path.suffix == ".npz":
                if path.name != f"{self.flag}.npz":
                    raise ValueError(f"the {self.flag} task reads {self.flag}.npz, got the file {path.name}: "
                                     f"pass the folder holding {self.flag}.npz, or that file")
                path = path.parent
            if not path.is_dir():
                raise FileNotFoundError(f"MedMNIST data folder {source!r} not found: pass the folder holding "
                                        f"{self.flag}.npz (--data-dir DIR)")
            root = path
        data = load_medmnist3d(self.flag, root)
        description = f"{self.flag}.npz" if source is None else f"{os.path.basename(os.path.normpath(source))}"
        return Source(data, array_digest(data[1:7], salt=data.flag), description)

    def check(self, source: Source, train_size: int) -> None:
        available = len(source.data.y_train)
        if not 2 <= train_size <= available:
            raise ValueError(f"train size must be between 2 and {available} ({source.description} has {available} "
                             f"training volumes), got {train_size}")

    def load(self, group: str, source: Source, *, train_size: int, data_seed: int,
             device: torch.device) -> MedMNIST3DData:
        if group not in self.groups:
            raise ValueError(f"unknown {self.name} group {group!r}; valid groups: {', '.join(self.groups)}")
        return MedMNIST3DData(source.data, train_size=train_size, data_seed=data_seed, device=device)

    def hyperparameters(self, model: str, group: str) -> Dict[str, Any]:
        check_names(self, model, group)
        params: Dict[str, Any] = {"lr": LEARNING_RATES[self.flag]}
        if model in LATENTS:
            params["latent"] = LATENTS[model]
        if model.startswith("soft"):
            params.update(lam=SOFT_LAMBDA[self.flag], shifted_weight=0.0)
        if model.startswith("soft") or model == "cnn-aug-2view":
            params.update(task_weight=SOFT_TASK_WEIGHT, input_task_weight=SOFT_TASK_WEIGHT)
        return params

    def build(self, model: str, group: str, hyperparameters: Mapping[str, Any]) -> TrainingSetup:
        r"""A freshly initialised ``model``; the CNN-based ones with their latent cut at
        ``hyperparameters["latent"]`` and a per-epoch ``monitor`` of the latent term on the
        validation volumes (``latent_term``, the unweighted MSE of soft's latent term, and
        ``relative_latent_error``, as ddmnist's). The models with ``"task_weight"`` train with
        :class:`~escnn_soft.SoftEquivarianceLoss`, at :math:`\lambda = 0` and shifted weight 0 where
        they have no ``"lam"`` and ``"shifted_weight"`` (cnn-aug-2view).

        Raises:
            ValueError: for unknown names.
        """
        check_names(self, model, group)
        strict = {"scnn-octa": medmnist3d_octa_scnn, "scnn-so3": medmnist3d_so3_scnn}
        if model in strict:
            net = strict[model](self.n_classes)
            return TrainingSetup(net, cross_entropy_loss(net), augment=True)
        net = medmnist3d_cnn(self.n_classes, latent=hyperparameters["latent"])
        in_action = voxel_action()
        rho_z = regular_latent(in_action.group, MEDMNIST3D_LATENT_DIM)
        latent = ("encoder", rho_z)
        monitor = latent_monitor(net.encoder, in_action, rho_z)

        if "task_weight" in hyperparameters:
            soft = SoftEquivarianceLoss(net.encoder, net.head, in_action=in_action, latent=rho_z,
                                        task_loss=nn.CrossEntropyLoss(), lam=hyperparameters.get("lam", 0.0),
                                        shifted_weight=hyperparameters.get("shifted_weight", 0.0),
                                        task_weight=hyperparameters["task_weight"],
                                        input_task_weight=hyperparameters["input_task_weight"],
                                        pair_fraction=hyperparameters.get("pair_fraction", 1.0))
            return TrainingSetup(net, soft_loss(soft), augment=True, latent=latent, monitor=monitor)
        return TrainingSetup(net, cross_entropy_loss(net), augment=model != "cnn", latent=latent, monitor=monitor)

    def example_batch(self, group: str, batch_size: int, hyperparameters: Mapping[str, Any]
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        r"""Zero volumes ``(B, 1, 28, 28, 28)`` and labels 0: a training batch's shapes, without the data."""
        return torch.zeros(batch_size, 1, 28, 28, 28), torch.zeros(batch_size, dtype=torch.long)

    def metrics(self, output: torch.Tensor, target: torch.Tensor) -> Dict[str, float]:
        r"""``AUC`` (:func:`medmnist3d_auc`) and, for datasets with :data:`MIRROR_PAIRS`, ``mirror
        confusion``: the fraction of the samples of those classes predicted as their mirror image
        (``nan`` if there are none)."""
        found = {"AUC": medmnist3d_auc(output, target)}
        pairs = MIRROR_PAIRS[self.flag]
        if pairs:
            twin = torch.arange(output.shape[1], device=target.device)
            for a, b in pairs:
                twin[a], twin[b] = b, a
            mirrored = twin != torch.arange(output.shape[1], device=target.device)
            chosen = mirrored[target]
            hits = (output.argmax(dim=1) == twin[target])[chosen]
            found["mirror confusion"] = hits.double().mean().item() if hits.numel() else float("nan")
        return found


MEDMNIST3D_TASKS: Tuple[MedMNIST3DTask, ...] = tuple(MedMNIST3DTask(flag) for flag in MEDMNIST3D_LABELS)
r"""One task per 3D dataset, named by its flag."""
