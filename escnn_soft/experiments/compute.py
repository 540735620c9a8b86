r"""The compute of a run: the floating-point operations of its training steps, counted by PyTorch.

A comparison at equal compute gives every model the same number of floating-point
operations (FLOPs) of training, not the same number of epochs: a soft step, which adds a
second encoder pass, must win against a baseline given more steps. The unit is counted, not
timed, because wall time is too noisy on shared machines.

**One step.** :func:`step_flops` counts one training step of a run as the runner takes it
(:func:`~escnn_soft.experiments.runner.train_step`: the loss on one batch, its backward pass
and the optimiser's step) with :class:`torch.utils.flop_counter.FlopCounterMode`, on the CPU,
on the model the task builds from the run's hyperparameters
(:meth:`~escnn_soft.experiments.task.Task.build`) and a batch of the run's ``batch_size`` that
the task makes from its shapes alone (:meth:`~escnn_soft.experiments.task.Task.example_batch`).
The count depends only on the task, group, model, hyperparameters and batch size, so finished
runs get theirs from their recorded settings, with no data and no retraining.

The counter counts matrix products and convolutions, each multiply–accumulate as two FLOPs:
:math:`2mkn` for an :math:`(m \times k)(k \times n)` product, and for a convolution with
:math:`C_\text{in}` input channels, a :math:`k_1 \times k_2` kernel and :math:`N` outputs of
:math:`C_\text{out}` channels, :math:`2 N C_\text{out} C_\text{in} k_1 k_2 / \text{groups}` (a
bias adds nothing). The backward pass of each costs the same again for the gradient of its
weight and once more for that of its input, where the input needs one (not for the first
layer's images). So for a network of convolutions and linear layers whose input needs no
gradient, with forward count :math:`F` and first-layer forward count :math:`F_1`,

.. math::
    F_\text{step} = F + 2F - F_1 = 3F - F_1 .

**Left out** (the reports' captions say so, :data:`~escnn_soft.experiments.results.FLOPS_LEFT_OUT`):
gathers and index operations (the permutations of exact group actions), ``grid_sample``
(interpolating actions), batch normalisation and elementwise operations (activations, losses, the
optimiser's update).

**One epoch.** The runner's epoch of :math:`N` training samples at batch size :math:`B` takes
:math:`\lfloor N/B \rfloor` batches of :math:`B` and, when the remainder :math:`r = N - B\lfloor
N/B \rfloor` is above one, a last batch of :math:`r` (a batch of one sample is dropped: batch
normalisation needs two), so (:func:`epoch_flops`)

.. math::
    F_\text{epoch} = \lfloor N/B \rfloor \, F_\text{step}(B) + [r > 1] \, F_\text{step}(r) .

**Budgets.** A compute budget :math:`C` scores each run at its best-validation epoch among its
first :math:`\lfloor C / F_\text{epoch} \rfloor` epochs
(:func:`~escnn_soft.experiments.results.epochs_within_compute`). The default is the smallest
planned budget among the runs compared, :math:`\min_\text{runs} E \, F_\text{epoch}` for
:math:`E` planned epochs (:func:`~escnn_soft.experiments.results.planned_budget`): those of a row
and the reference row it is compared with (:func:`~escnn_soft.experiments.reports.compute_budgets`),
so that each size of a ``--train-size`` sweep has its own; a budget below
one epoch of a run is an error (:func:`~escnn_soft.experiments.results.check_budget`).

Counts are cached per process by the settings that set them (:func:`step_settings`): the seeds
of one setting, and the runs of a report, are counted once. :func:`flops_entry` gives a run's
entry of a table of counts that readers load without torch
(:func:`~escnn_soft.experiments.results.load_flops`).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch
from torch.utils.flop_counter import FlopCounterMode

from .results import flops_settings, run_name, settings_key
from .runner import RunConfig, train_step
from .task import Task

__all__ = ["step_settings", "count_flops", "step_flops", "epoch_flops", "epoch_flops_by_run", "flops_entry"]

Settings = Union[RunConfig, Mapping[str, Any]]

_STEP_FLOPS: Dict[str, int] = {}


def _settings(config: Settings) -> Dict[str, Any]:
    return config.to_dict() if isinstance(config, RunConfig) else dict(config)


def step_settings(config: Settings, batch_size: int) -> Dict[str, Any]:
    r"""The settings of a run that set the FLOPs of one of its steps on ``batch_size`` samples: its
    task, group, model, hyperparameters, protocol and the batch size (not its seed, data, epochs or
    training-set size); their :func:`~escnn_soft.experiments.results.settings_key` keys the cache.

    Example:
        >>> config = {"task": "mnist", "group": "C4", "model": "soft", "seed": 3, "data": "ab",
        ...           "hyperparameters": {"lr": 1e-3}, "protocol": 2, "batch_size": 64}
        >>> step_settings(config, 64)  # doctest: +NORMALIZE_WHITESPACE
        {'task': 'mnist', 'group': 'C4', 'model': 'soft', 'hyperparameters': {'lr': 0.001}, 'protocol': 2,
         'batch_size': 64}
    """
    settings = _settings(config)
    return {**{k: settings.get(k) for k in ("task", "group", "model", "hyperparameters", "protocol")},
            "batch_size": batch_size}


def count_flops(fn: Any, *args: Any, **kwargs: Any) -> int:
    r"""The FLOPs :class:`torch.utils.flop_counter.FlopCounterMode` counts while ``fn(*args, **kwargs)``
    runs (see the module docstring for what it counts and leaves out)."""
    with FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def _count_step(task: Task, config: Mapping[str, Any], batch_size: int) -> int:
    r"""Count one training step of the run ``config`` on ``batch_size`` samples, on the CPU, as the
    runner takes it; the global random state is left as it was."""
    hyperparameters = config["hyperparameters"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.get("seed", 0))
        setup = task.build(config["model"], config["group"], hyperparameters)
        model = setup.model.to("cpu").train()
        optimizer = torch.optim.Adam(model.parameters(), lr=hyperparameters["lr"],
                                     weight_decay=hyperparameters.get("weight_decay", 0.0))
        generator = torch.Generator().manual_seed(config.get("seed", 0))
        batch = task.example_batch(config["group"], batch_size, hyperparameters)
        return count_flops(train_step, setup, optimizer, batch, generator)


def step_flops(task: Task, config: Settings, batch_size: Optional[int] = None) -> int:
    r"""The FLOPs of one training step of the run ``config`` (forward, backward and the optimiser's
    step, :func:`~escnn_soft.experiments.runner.train_step`) on one batch of ``batch_size`` samples
    (``None``: the run's ``batch_size``), counted on the CPU (see the module docstring).

    Args:
        task (Task): the run's task; it must give a batch without its data
            (:meth:`~escnn_soft.experiments.task.Task.example_batch`).
        config: the run's settings, a :class:`~escnn_soft.experiments.runner.RunConfig` or the
            ``config`` of its ``result.json``.
        batch_size (int, optional): the samples of the batch.

    Raises:
        ValueError: for a ``config`` of another task than ``task``, or a batch size below 1.
        NotImplementedError: for a task that gives no batch without its data.
    """
    settings = _settings(config)
    if settings.get("task") != task.name:
        raise ValueError(f"the run settings are of the task {settings.get('task')!r}, not of {task.name!r}: pass "
                         f"get_task({settings.get('task')!r})")
    batch_size = settings["batch_size"] if batch_size is None else batch_size
    if batch_size < 1:
        raise ValueError(f"a training step takes at least one sample, got batch_size={batch_size}")
    key = settings_key(step_settings(settings, batch_size))
    if key not in _STEP_FLOPS:
        _STEP_FLOPS[key] = _count_step(task, settings, batch_size)
    return _STEP_FLOPS[key]


def epoch_flops(task: Task, config: Settings) -> int:
    r"""The FLOPs of one training epoch of the run ``config``: its full batches and its last partial
    batch, as the runner takes them (:math:`F_\text{epoch}` of the module docstring).

    Raises:
        ValueError, NotImplementedError: as :func:`step_flops`.
    """
    settings = _settings(config)
    full, rest = divmod(settings["train_size"], settings["batch_size"])
    return full * step_flops(task, settings) + (step_flops(task, settings, rest) if rest > 1 else 0)


def epoch_flops_by_run(task: Task, configs: Sequence[Settings]) -> Dict[str, int]:
    r"""The :func:`epoch_flops` of each run of ``configs`` (each a
    :class:`~escnn_soft.experiments.runner.RunConfig` or a ``result.json``'s ``config``), keyed by
    its name (:meth:`~escnn_soft.experiments.runner.RunConfig.name`, a result's ``"name"``)."""
    return {run_name(_settings(c)): epoch_flops(task, c) for c in configs}


def flops_entry(task: Task, config: Settings) -> Dict[str, Any]:
    r"""The entry of the run ``config`` in a table of training FLOPs
    (:func:`~escnn_soft.experiments.results.load_flops`): its
    :func:`~escnn_soft.experiments.results.flops_settings` (``"settings"``), the FLOPs of one step at
    its batch size (``"step_flops"``, :func:`step_flops`) and of one epoch (``"epoch_flops"``,
    :func:`epoch_flops`).

    Raises:
        ValueError, NotImplementedError: as :func:`step_flops`.
    """
    settings = _settings(config)
    return {"settings": flops_settings(settings), "step_flops": step_flops(task, settings),
            "epoch_flops": epoch_flops(task, settings)}
