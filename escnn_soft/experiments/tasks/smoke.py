r"""SMOKE: :math:`C_4` on smoke-plume velocity fields, predicted autoregressively.

The paper's third benchmark (Ali, Liò & Vicary 2025, Table 6; the data of Wang, Walters & Yu
2022) is only approximately symmetric: each simulation's buoyancy has its own strength, and
the inflow on the top side is 10 % stronger. :math:`C_4` rotates the grid *and turns the
vectors*: the input action is :func:`~escnn_soft.field_action` of vector fields
(``irrep(1)``) of :func:`~escnn.gspaces.rot2dOnR2`, exactly as
:meth:`escnn.nn.GeometricTensor.transform` moves them. The data's rows run along :math:`+y`;
they are flipped on loading (:func:`~escnn_soft.experiments.datasets.smoke_to_escnn`), so
that the escnn action is the physical rotation. (The reference code rotates the raw layout,
which turns the grid and the vectors in opposite directions.)

Two tasks share this module: ``smoke``, the protocol of the reference code, and
``smoke-reduced``, a preset that generates and trains in minutes on a CPU
(:data:`SMOKE_PRESETS`):

=================  =========================  ==========================
setting            ``smoke``                  ``smoke-reduced``
=================  =========================  ==========================
training sims      25                         8 (two per inflow side)
Domain sims        10                         4 (one per inflow side)
windows            every start :math:`s`      every 4th start
grid               :math:`64^2`               :math:`32^2` (2x2 mean)
hidden width       :math:`h = 92`             :math:`h = 32`
epochs             up to 1000                 30
=================  =========================  ==========================

A sample of a simulation is the 10 frames :math:`[s + 2, s + 12)`, stacked frame-major into
20 channels, and the frames after them: training :math:`s \in [0, 160)` with 6 frames,
validation :math:`s \in [160, 200)` with 6, **Future** :math:`s \in [200, 250)` with 20 (the
test set), all on the training simulations, and **Domain** :math:`s \in [0, 100)` on the
Domain simulations with 20 (``extra_test["domain"]``). No normalisation. The 2x2 mean pool of
the reduced preset commutes with :math:`C_4`.

Models (:mod:`escnn_soft.experiments.models.smoke`, all rolled out by the same code):

=============  ============================================================================
model          training
=============  ============================================================================
cnn            the reference ConvNet on the upright data, the reference code's rollout loss
               :math:`\sum_t \operatorname{MSE}(\hat y_t, y_t)`
cnn-aug        the ConvNet with the paper's code's loss at :math:`\lambda = 0`:
               :math:`\tfrac12 \operatorname{MSE}(f(g x), g y_1) + \tfrac12
               \operatorname{MSE}(\hat y_1, y_1) + \sum_{t \geq 2} \operatorname{MSE}(\hat y_t,
               y_t)`, :math:`g` uniform per sample
soft           cnn-aug plus :math:`\lambda \operatorname{MSE}(\rho_Z(g) E(x), E(g x))`,
               :math:`\lambda = 0.005`, on the output of the fourth block,
               :math:`\rho_Z` rotating the grid only (``latent_action="grid"``, as the
               paper's README runs it)
soft-regular   soft with :math:`\rho_Z` = :math:`h/4` regular fields of :math:`C_4` on the grid
               (``latent_action="regular"``, "the regular representation in each channel", as
               the paper's text says)
e2cnn          the :math:`C_4`-steerable network, :math:`h` regular fields per layer (16 times the
               CNN's FLOPs), trained like cnn
e2cnn-narrow   the same with :math:`h/4` regular fields: the CNN's channel count
rpp            the residual pathway network at :math:`h` regular fields, trained like cnn
=============  ============================================================================

The first frame's terms of cnn-aug and soft are those of
:class:`~escnn_soft.SoftEquivarianceLoss` (``task_weight = input_task_weight = 0.5``, shifted
weight 0), whose output :math:`\hat y_1` the rollout continues from: no term is counted twice.
cnn, e2cnn and rpp train as the original code of Wang et al. does (the rows of Table 6 come from
it); the paper's code adds no prior to RPP's free filters, and neither do we.

Training (the reference code): Adam with learning rate :math:`10^{-3}` and weight decay
:math:`4 \cdot 10^{-4}`, the rate times 0.95 after every epoch, batch 16. The full preset stops
after epoch 100 as soon as the mean validation RMSE of the last 5 epochs is no lower than that
of the 5 before. The original keeps a reference to the model as its "best", so it tests the
last one; the runner keeps a copy of the best-validation weights and tests those.

Scores: the score is the negative rollout MSE (higher is better); the reports' figure is the
RMSE of the metrics (:meth:`SmokeTask.metrics`), computed as the reference does: for each batch
of 16 in order, :math:`\frac1L \sum_t` the MSE of frame :math:`t` over the batch, and the square
root of the mean over batches. ``RMSE`` is over all the frames of the set (20 for Future and
Domain, 6 for validation), ``RMSE 6`` over the first 6. The per-step RMSE of the best model is
in the result's ``analysis``.

Data: regenerated with PhiFlow (``pip install escnn_soft[smoke]``;
:func:`~escnn_soft.experiments.datasets.generate_smoke`), so only statistically equal to the
published files: the flow is chaotic, and the RMSEs of the paper cannot be matched digit for
digit. ``--data-dir DIR`` reads the published ``raw_data_{k}_{j}.pt`` files or a cache folder;
without it the simulations are generated into the cache folder on first use.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from escnn.nn import FieldType
from torch import nn

from ...actions import FieldAction, field_action
from ...loss import SoftEquivarianceLoss
from ..datasets.smoke import (
    SMOKE_DOMAIN_SIMULATIONS,
    SMOKE_REDUCED_DOMAIN_SIMULATIONS,
    SMOKE_REDUCED_TRAIN_SIMULATIONS,
    SMOKE_RESOLUTION,
    SMOKE_TRAIN_SIMULATIONS,
    generate_smoke,
    load_smoke_simulations,
    smoke_to_escnn,
)
from ..models.smoke import SMOKE_IN_FRAMES, SmokeRollout, smoke_cnn, smoke_gspace, smoke_rpp, smoke_scnn
from ..seeds import seeded_generator
from ..specs import TASK_SPECS
from ..task import Source, Task, TaskData, TrainingSetup
from .common import array_digest, check_names, latent_monitor

__all__ = [
    "SmokePreset",
    "SMOKE_PRESETS",
    "SMOKE_LAMBDA",
    "SMOKE_TRAIN_FRAMES",
    "SMOKE_TEST_FRAMES",
    "SMOKE_EVAL_BATCH",
    "vector_field_action",
    "smoke_rmse",
    "SmokeData",
    "SmokeTask",
    "SMOKE_TASKS",
]

SMOKE_LAMBDA: float = 0.005
r""":math:`\lambda` of the soft models, the paper's."""

SMOKE_TRAIN_FRAMES: int = 6
r"""The frames predicted in training and validation."""

SMOKE_TEST_FRAMES: int = 20
r"""The frames predicted on the Future and Domain test sets."""

SMOKE_EVAL_BATCH: int = 16
r"""The batch size of the reference's evaluation loaders, over whose batches its RMSE is averaged."""

_TRAIN_STARTS, _VAL_STARTS, _FUTURE_STARTS, _DOMAIN_STARTS = range(0, 160), range(160, 200), range(200, 250), range(100)
_OFFSET = 2                                    # a sample's input starts at frame s + 2
_TRAIN_ORDER_CODE, _MONITOR_CODE = 1, 2


@dataclass(frozen=True)
class SmokePreset:
    r"""The scale of a SMOKE task.

    Attributes:
        train_simulations, domain_simulations (tuple): the ``(k, j)`` of the simulations.
        stride (int): every how many window starts a sample is taken.
        pool (int): the side of the mean pool applied to the grid.
        hidden (int): :math:`h`, the CNN's channels (and the steerable models' fields).
        stop_after (int, optional): the reference's early stopping starts after this many epochs
            (``None``: never).
    """

    train_simulations: Tuple[Tuple[int, int], ...]
    domain_simulations: Tuple[Tuple[int, int], ...]
    stride: int
    pool: int
    hidden: int
    stop_after: Optional[int]


SMOKE_PRESETS: Mapping[str, SmokePreset] = {
    "smoke": SmokePreset(SMOKE_TRAIN_SIMULATIONS, SMOKE_DOMAIN_SIMULATIONS, stride=1, pool=1, hidden=92,
                         stop_after=100),
    "smoke-reduced": SmokePreset(SMOKE_REDUCED_TRAIN_SIMULATIONS, SMOKE_REDUCED_DOMAIN_SIMULATIONS, stride=4, pool=2,
                                 hidden=32, stop_after=None),
}
r"""The presets by task name (see the module docstring)."""

_STOP_WINDOW = 5
_LATENT_ACTIONS = {"soft": "grid", "soft-regular": "regular"}


def vector_field_action(frames: int) -> FieldAction:
    r""":math:`C_4` on ``frames`` velocity frames stacked frame-major, ``(B, 2·frames, H, W)``: the
    action of ``frames`` vector fields (``irrep(1)``) of :func:`~escnn.gspaces.rot2dOnR2`."""
    gspace = smoke_gspace()
    return field_action(FieldType(gspace, frames * [gspace.irrep(1)]))


def _frame_mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Per sample and frame, the MSE over the two components and the grid, ``(N, L)`` for ``L`` target frames."""
    n, channels = target.shape[:2]
    diff = (output[:, :channels] - target).double().reshape(n, channels // 2, -1)
    return diff.pow(2).mean(dim=2)


def smoke_rmse(output: torch.Tensor, target: torch.Tensor, frames: Optional[int] = None,
               batch_size: int = SMOKE_EVAL_BATCH) -> float:
    r"""The reference's rollout RMSE of the first ``frames`` frames (default: all of ``target``'s).

    With :math:`m_{b,t}` the MSE of frame :math:`t` over batch :math:`b` (consecutive batches of
    ``batch_size`` samples, the last one possibly smaller),

    .. math::
        \mathrm{RMSE} = \Big(\frac{1}{n_b} \sum_b \frac{1}{L} \sum_{t=1}^{L} m_{b,t}\Big)^{1/2}.

    Example:
        >>> smoke_rmse(torch.ones(1, 4, 2, 2), torch.zeros(1, 4, 2, 2))
        1.0
    """
    per_frame = _frame_mse(output, target)
    if frames is not None:
        if not 1 <= frames <= per_frame.shape[1]:
            raise ValueError(f"frames must be between 1 and the target's {per_frame.shape[1]}, got {frames}")
        per_frame = per_frame[:, :frames]
    batches = [chunk.mean() for chunk in per_frame.split(batch_size)]
    return math.sqrt(torch.stack(batches).mean().item())


def _pooled(frames: np.ndarray, pool: int) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(smoke_to_escnn(frames), dtype=np.float32))
    return F.avg_pool2d(x, pool) if pool > 1 else x


class SmokeData(TaskData):
    r"""The windows of SMOKE simulations for :math:`C_4`, on one device (see the module docstring).

    Args:
        simulations (mapping): ``{(k, j): frames}``, each ``(T, 2, H, W)`` in the data's raw layout
            (rows along :math:`+y`); at least the preset's.
        preset (SmokePreset): which simulations, windows, pooling.
        train_size (int): training windows, at most the preset's; the first of a random order fixed
            by ``data_seed``.
        data_seed (int): fixes the training subset and the monitor's elements.
        device: where to keep everything.

    Raises:
        ValueError: for a simulation too short for its windows, or a grid the pool does not divide.
    """

    def __init__(self, simulations: Mapping[Tuple[int, int], np.ndarray], preset: SmokePreset, *, train_size: int,
                 data_seed: int, device: torch.device):
        self.device = torch.device(device)
        self.preset = preset
        self.in_action = vector_field_action(SMOKE_IN_FRAMES)
        self.out_action = vector_field_action(SMOKE_TEST_FRAMES)
        self.target_action = vector_field_action(SMOKE_TRAIN_FRAMES)
        self.group = self.in_action.group
        train = self._stack(simulations, preset.train_simulations, _FUTURE_STARTS)
        domain = self._stack(simulations, preset.domain_simulations, _DOMAIN_STARTS)
        self.frames = train
        stride = preset.stride
        windows = self._windows(len(preset.train_simulations), _TRAIN_STARTS[::stride])
        order = torch.randperm(len(windows), generator=seeded_generator(data_seed, _TRAIN_ORDER_CODE))
        self.train_windows = windows[order[:train_size]].to(self.device)
        self.train_size = int(self.train_windows.shape[0])
        self.val = self._samples(train, _VAL_STARTS[::stride], SMOKE_TRAIN_FRAMES)
        self.test = self._samples(train, _FUTURE_STARTS[::stride], SMOKE_TEST_FRAMES)
        self.extra_test = {"domain": self._samples(domain, _DOMAIN_STARTS[::stride], SMOKE_TEST_FRAMES)}
        g = self.group.sample(self.val[0].shape[0], generator=seeded_generator(data_seed, _MONITOR_CODE))
        self.monitor_batch: Tuple[torch.Tensor, torch.Tensor] = (self.val[0], g.to(self.device))

    def _stack(self, simulations: Mapping[Tuple[int, int], np.ndarray], keys: Sequence[Tuple[int, int]],
               starts: range) -> torch.Tensor:
        needed = starts[-1] + _OFFSET + SMOKE_IN_FRAMES + SMOKE_TEST_FRAMES
        arrays = []
        for key in keys:
            frames = simulations[key]
            if frames.ndim != 4 or frames.shape[1] != 2 or frames.shape[0] < needed:
                raise ValueError(f"simulation {key} has shape {frames.shape}; its windows need (T, 2, H, W) with "
                                 f"T >= {needed} frames")
            if frames.shape[2] % self.preset.pool or frames.shape[3] % self.preset.pool:
                raise ValueError(f"simulation {key} has a {frames.shape[2]}x{frames.shape[3]} grid, which the "
                                 f"{self.preset.pool}x{self.preset.pool} pool of this preset does not divide")
            arrays.append(_pooled(frames[:needed], self.preset.pool))
        return torch.stack(arrays).to(self.device)

    @staticmethod
    def _windows(simulations: int, starts: range) -> torch.Tensor:
        return torch.tensor([(i, s) for i in range(simulations) for s in starts], dtype=torch.long)

    @staticmethod
    def _cut(frames: torch.Tensor, windows: torch.Tensor, out_frames: int) -> Tuple[torch.Tensor, torch.Tensor]:
        sim, start = windows[:, 0:1], windows[:, 1:2]
        t = start + _OFFSET + torch.arange(SMOKE_IN_FRAMES + out_frames, device=windows.device)
        clip = frames[sim, t]                                   # (B, F + L, 2, H, W)
        n, _, _, h, w = clip.shape
        return (clip[:, :SMOKE_IN_FRAMES].reshape(n, 2 * SMOKE_IN_FRAMES, h, w),
                clip[:, SMOKE_IN_FRAMES:].reshape(n, 2 * out_frames, h, w))

    def _samples(self, frames: torch.Tensor, starts: range, out_frames: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return self._cut(frames, self._windows(frames.shape[0], starts).to(self.device), out_frames)

    def train_batch(self, index: torch.Tensor, *, augment: bool, generator: torch.Generator
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
        x, y = self._cut(self.frames, self.train_windows[index], SMOKE_TRAIN_FRAMES)
        if augment:
            g = self.group.sample(index.numel(), device=self.device, generator=generator)
            x, y = self.in_action(x, g), self.target_action(y, g)
        return x, y


def _rollout_loss(rollout: SmokeRollout, x: torch.Tensor, y: torch.Tensor, first: torch.Tensor,
                  first_weight: float) -> Tuple[torch.Tensor, torch.Tensor]:
    r"""``first_weight`` times the MSE of the first frame ``first`` plus the MSE of every later frame
    of the rollout continued from it; and the rollout."""
    output = rollout(x, y.shape[1] // 2, first=first)
    per_frame = [F.mse_loss(output[:, 2 * t:2 * t + 2], y[:, 2 * t:2 * t + 2]) for t in range(y.shape[1] // 2)]
    return first_weight * per_frame[0] + sum(per_frame[1:], torch.zeros_like(per_frame[0])), output


class SmokeTask(Task):
    r"""SMOKE at one preset (see the module docstring); ``name`` is a key of :data:`SMOKE_PRESETS`."""

    def __init__(self, name: str):
        if name not in SMOKE_PRESETS:
            raise ValueError(f"unknown SMOKE preset {name!r}; valid presets: {', '.join(SMOKE_PRESETS)}")
        self.spec = TASK_SPECS[name]
        self.preset = SMOKE_PRESETS[name]

    @property
    def simulations(self) -> Tuple[Tuple[int, int], ...]:
        r"""The ``(k, j)`` of the preset's simulations, training then Domain."""
        return self.preset.train_simulations + self.preset.domain_simulations

    def open(self, source: Optional[str]) -> Source:
        r"""The preset's simulations from the folder ``source`` (the published ``raw_data_{k}_{j}.pt``
        files or a cache of :func:`~escnn_soft.experiments.datasets.generate_smoke`); ``None``: the
        cache folder, generating what it lacks (needs ``pip install escnn_soft[smoke]``).

        Raises:
            FileNotFoundError: if the folder does not exist or lacks some simulations.
        """
        if source is None:
            root = generate_smoke(self.simulations)
        else:
            root = Path(source).expanduser()
            if not root.is_dir():
                raise FileNotFoundError(f"SMOKE data folder {source!r} not found: pass the folder of the "
                                        f"raw_data_{{k}}_{{j}} files (--data-dir DIR)")
        sims = load_smoke_simulations(self.simulations, root)
        arrays = [sims[key] for key in self.simulations]
        description = "smoke (generated)" if source is None else os.path.basename(os.path.normpath(source))
        return Source(sims, array_digest(arrays, salt="smoke"), description)

    def check(self, source: Source, train_size: int) -> None:
        available = len(self.preset.train_simulations) * len(_TRAIN_STARTS[::self.preset.stride])
        if not 2 <= train_size <= available:
            raise ValueError(f"train size must be between 2 and {available} (the {self.name} preset has {available} "
                             f"training windows), got {train_size}")

    def load(self, group: str, source: Source, *, train_size: int, data_seed: int, device: torch.device) -> SmokeData:
        if group not in self.groups:
            raise ValueError(f"unknown {self.name} group {group!r}; valid groups: {', '.join(self.groups)}")
        return SmokeData(source.data, self.preset, train_size=train_size, data_seed=data_seed, device=device)

    def hyperparameters(self, model: str, group: str) -> Dict[str, Any]:
        check_names(self, model, group)
        params: Dict[str, Any] = {"lr": 1e-3, "weight_decay": 4e-4, "lr_decay": 0.95, "hidden": self.preset.hidden}
        if self.preset.stop_after is not None:
            params.update(stop_after=self.preset.stop_after, stop_window=_STOP_WINDOW)
        if model in ("cnn-aug", "soft", "soft-regular"):
            params.update(lam=0.0 if model == "cnn-aug" else SMOKE_LAMBDA, first_frame_weight=0.5,
                          input_task_weight=0.5)
        else:
            params["first_frame_weight"] = 1.0
        if model in _LATENT_ACTIONS:
            params["latent_action"] = _LATENT_ACTIONS[model]
        return params

    def build(self, model: str, group: str, hyperparameters: Mapping[str, Any]) -> TrainingSetup:
        r"""A freshly initialised ``model``: its rollout, loss, latent (the encoder's output, under the
        grid-only action for the CNNs and the regular fields for the steerable ones), a per-epoch
        ``monitor`` of the latent term on the validation inputs and the reference's early stopping.

        Raises:
            ValueError: for unknown names, or a latent action other than ``"grid"`` or ``"regular"``.
        """
        check_names(self, model, group)
        hidden = hyperparameters["hidden"]
        if model in ("e2cnn", "e2cnn-narrow", "rpp"):
            fields = hidden if model != "e2cnn-narrow" else max(1, hidden // 4)
            net = (smoke_rpp if model == "rpp" else smoke_scnn)(fields, SMOKE_TEST_FRAMES)
            rho_z: FieldAction = field_action(net.step.latent_type)
        else:
            net = smoke_cnn(hidden, SMOKE_TEST_FRAMES)
            gspace = smoke_gspace()
            action = hyperparameters.get("latent_action", "grid")
            if action == "grid":
                rho_z = field_action(FieldType(gspace, hidden * [gspace.trivial_repr]))
            elif action == "regular":
                if hidden % 4:
                    raise ValueError(f"the regular latent needs a hidden width divisible by |C4| = 4, got {hidden}")
                rho_z = field_action(FieldType(gspace, (hidden // 4) * [gspace.regular_repr]))
            else:
                raise ValueError(f"unknown latent action {action!r}; valid: 'grid', 'regular'")
        in_action = vector_field_action(SMOKE_IN_FRAMES)
        first_weight = hyperparameters["first_frame_weight"]

        if "lam" in hyperparameters:
            soft = SoftEquivarianceLoss(net.step.encoder, net.step.head, in_action=in_action, latent=rho_z,
                                        out_action=vector_field_action(1), task_loss=nn.MSELoss(),
                                        lam=hyperparameters["lam"], shifted_weight=0.0, task_weight=first_weight,
                                        input_task_weight=hyperparameters["input_task_weight"],
                                        pair_fraction=hyperparameters.get("pair_fraction", 1.0))

            def loss(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
                out = soft(x, y[:, :2], generator=generator)
                later, output = _rollout_loss(net, x, y, out.output, 0.0)
                return out.total + later, output, {"task": out.task, "input_task": out.input_task,
                                                   "rollout": later, "equivariance": out.equivariance}
        else:
            def loss(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
                total, output = _rollout_loss(net, x, y, net.step(x), first_weight)
                return total, output, {"task": total}

        monitor = latent_monitor(net.step.encoder, in_action, rho_z)
        stop = None
        if "stop_after" in hyperparameters:
            after, window = hyperparameters["stop_after"], hyperparameters["stop_window"]

            def stop(history: Sequence[Mapping[str, Any]]) -> bool:
                valid = [r["metrics"]["val"]["RMSE"] for r in history]
                return len(valid) > after and np.mean(valid[-window:]) >= np.mean(valid[-2 * window:-window])

        return TrainingSetup(net, loss, augment=False, latent=("step.encoder", rho_z), monitor=monitor, stop=stop,
                             analysis=_per_step_analysis(net))

    def example_batch(self, group: str, batch_size: int, hyperparameters: Mapping[str, Any]
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        r"""Zero inputs ``(B, 2F, n, n)`` and targets ``(B, 2L, n, n)`` (``F`` input and ``L`` training target
        frames, ``n`` the preset's grid): a training batch's shapes, without the data."""
        n = SMOKE_RESOLUTION // self.preset.pool
        return torch.zeros(batch_size, 2 * SMOKE_IN_FRAMES, n, n), torch.zeros(batch_size, 2 * SMOKE_TRAIN_FRAMES, n, n)

    def score(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        r"""Per sample, minus its rollout MSE over the target's frames."""
        return -_frame_mse(output, target).mean(dim=1).to(output.dtype)

    def metrics(self, output: torch.Tensor, target: torch.Tensor) -> Dict[str, float]:
        r"""``RMSE`` over all the target's frames and ``RMSE 6`` over the first 6 (:func:`smoke_rmse`)."""
        return {"RMSE": smoke_rmse(output, target), f"RMSE {SMOKE_TRAIN_FRAMES}": smoke_rmse(output, target,
                                                                                              SMOKE_TRAIN_FRAMES)}


def _per_step_analysis(net: SmokeRollout):
    r"""The RMSE of each rollout step of the best model on the Future and Domain sets (for the plot)."""
    from ..runner import predict

    def analysis(data: SmokeData, history: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        found: Dict[str, List[float]] = {}
        for name, (x, y) in {"future": data.test, "domain": data.extra_test["domain"]}.items():
            output = predict(net, x, SMOKE_EVAL_BATCH)
            found[name] = [smoke_rmse(output[:, 2 * t:2 * t + 2], y[:, 2 * t:2 * t + 2])
                           for t in range(y.shape[1] // 2)]
        return {"rmse_per_step": found}

    return analysis


SMOKE_TASKS: Tuple[SmokeTask, ...] = tuple(SmokeTask(name) for name in SMOKE_PRESETS)
r"""The full protocol (``smoke``) and the reduced preset (``smoke-reduced``)."""
