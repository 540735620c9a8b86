r"""What a comparison task is: its data, its models and how each one trains.

A task (:class:`Task`) says how to open and split its data, which groups and models it
has, each model's hyperparameters, and how to build it; :func:`register_task` makes it
known to the runner (:mod:`escnn_soft.experiments.runner`) and the command line by name.
The tasks themselves live in :mod:`escnn_soft.experiments.tasks`, one module each.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..actions import ActionLike, GroupAction
from ..groups import GroupTable
from .specs import TaskSpec

__all__ = [
    "LossFn",
    "Source",
    "TaskData",
    "TrainingSetup",
    "Task",
    "TASKS",
    "data_settings",
    "register_task",
    "get_task",
    "task_names",
]

#: ``loss(x, y, generator, **extras) -> (total, output, parts)``: the loss to minimise, the
#: model's output for ``x`` and named scalar terms to log; ``extras`` are the batch's extras
#: named in :attr:`TrainingSetup.batch_extras` (none by default).
LossFn = Callable[..., Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]]


@dataclass(frozen=True)
class Source:
    r"""The raw data of a task, opened once and shared by its groups and runs.

    Attributes:
        data: whatever the task loads its splits from (e.g. an
            :class:`~escnn_soft.experiments.datasets.MNIST` tuple).
        fingerprint (str): a digest of the content, part of every run's key: the
            same data read from another file or folder gives the same key.
        description (str): how the user named it (a file or folder name, not its path), for the records.
    """

    data: Any
    fingerprint: str
    description: str


class TaskData(abc.ABC):
    r"""The splits of one task for one group, on one device.

    Attributes:
        train_size (int): the number of training samples.
        val (tuple): ``(inputs, targets)`` of the validation set, fixed.
        test (tuple): ``(inputs, targets)`` of the test set, fixed.
        extra_test (mapping): more fixed test sets by name, ``{name: (inputs, targets)}``
            (e.g. ``"upright"``: the test pairs in their canonical pose); the runner scores
            each with the test set and reports them beside it. Empty by default.
        group (GroupTable): the symmetry group of the inputs.
        in_action: its action on inputs.
        out_action: its action on outputs; ``None`` when the targets are invariant.
        settings (mapping): the data settings it was loaded with, the keywords of
            :meth:`Task.load` named in :attr:`Task.data_hyperparameters` that were given
            (:func:`data_settings`); empty by default.
    """

    train_size: int
    val: Tuple[torch.Tensor, torch.Tensor]
    test: Tuple[torch.Tensor, torch.Tensor]
    extra_test: Mapping[str, Tuple[torch.Tensor, torch.Tensor]] = MappingProxyType({})
    group: GroupTable
    in_action: ActionLike
    out_action: Optional[ActionLike]
    settings: Mapping[str, Any] = MappingProxyType({})

    @abc.abstractmethod
    def train_batch(self, index: torch.Tensor, *, augment: bool, generator: torch.Generator
                    ) -> Union[Tuple[torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor, Dict[str, Any]]]:
        r"""The training samples ``index`` as ``(inputs, targets)`` on the data's device, or
        ``(inputs, targets, extras)``: ``extras`` more of the batch by name, e.g. a second
        view of the inputs and the group elements relating the two, ``{"g": g, "x_g": x_g}``,
        which the runner hands to the losses that take them (:attr:`TrainingSetup.batch_extras`).

        Args:
            index (torch.Tensor): sample indices, on the data's device.
            augment (bool): transform by group elements drawn afresh from
                ``generator``; otherwise every sample always comes in the same pose.
            generator (torch.Generator): the run's random source, on the data's device.
        """


@dataclass
class TrainingSetup:
    r"""A model ready to train: how its loss is computed and what to measure.

    Attributes:
        model (nn.Module): maps inputs to outputs; ``.to``, ``.train``, ``.eval`` and
            ``.parameters`` cover everything that trains.
        loss: ``loss(x, y, generator, **extras) -> (total, output, parts)``, ``extras`` those
            of :attr:`batch_extras` (:data:`LossFn`).
        augment (bool): train on freshly transformed samples, or on one fixed pose each.
        latent (tuple, optional): ``(name, rho_Z)`` when the model has a latent
            representation: the name of its encoder submodule (as in
            ``model.get_submodule``) and the action on the encoder's output.
        on_step (callable, optional): ``on_step(step, total) -> record or None``, called
            after every optimisation step with the run's step count (from 1) and its
            total number of steps; the records it returns are kept, with their ``step``,
            in the epoch's ``step_records`` of the history (so a resumed run keeps them).
        analysis (callable, optional): ``analysis(data, history) -> dict``, called at the
            end of the run on the best-validation model (in eval mode) with the task's
            data and the epoch history; the runner stores what it returns as the
            result's ``analysis``.
        monitor (callable, optional): ``monitor(model, data) -> dict``, called after every
            epoch's evaluation, in eval mode and without gradients (train mode is restored
            after it), with the task's data; what it returns (JSON-able: numbers, or records
            of them) is stored as the epoch's ``monitor`` record in the history.
        stop (callable, optional): ``stop(history) -> bool``, asked before every epoch after the
            first with the epoch records so far: ``True`` ends the run there (a task's own
            early-stopping rule, beside the runner's ``patience``; the best-validation model is
            still the one tested).
        batch_extras (tuple of str): the names of the batch extras (the third item of
            :meth:`TaskData.train_batch`) the loss takes as keywords, e.g. ``("g", "x_g")``; the
            runner passes exactly these. Empty by default: ``loss(x, y, generator)``.
    """

    model: nn.Module
    loss: LossFn
    augment: bool
    latent: Optional[Tuple[str, GroupAction]] = None
    on_step: Optional[Callable[[int, int], Optional[Dict[str, Any]]]] = None
    analysis: Optional[Callable[["TaskData", Sequence[Mapping[str, Any]]], Dict[str, Any]]] = None
    monitor: Optional[Callable[[nn.Module, "TaskData"], Dict[str, Any]]] = None
    stop: Optional[Callable[[Sequence[Mapping[str, Any]]], bool]] = None
    batch_extras: Tuple[str, ...] = ()


def _no_spec(task: object) -> str:
    return (f"{type(task).__name__} has no spec: give the task its names in a TaskSpec, e.g. "
            f"spec = TaskSpec(name=..., groups=..., models=..., ...) (from escnn_soft.experiments.specs)")


class _FromSpec:
    r"""A task attribute read from the task's :class:`~escnn_soft.experiments.specs.TaskSpec`
    (``task.groups`` is ``task.spec.groups``; ``MNISTTask.groups`` too, for a class spec), so that
    each name is defined once."""

    def __set_name__(self, owner: type, field: str) -> None:
        self.field = field

    def __get__(self, task: Optional["Task"], owner: Optional[type] = None) -> Any:
        spec = getattr(owner if task is None else task, "spec", None)
        if task is None and not isinstance(spec, TaskSpec):
            return self                  # a class whose instances set their spec
        if not isinstance(spec, TaskSpec):
            raise AttributeError(_no_spec(task))
        return getattr(spec, self.field)

    def __set__(self, task: "Task", value: Any) -> None:
        raise AttributeError(f"{type(task).__name__}.{self.field} is read from its spec; set it in the task's "
                             f"TaskSpec instead")


class Task(abc.ABC):
    r"""A learning task with finite group symmetry, as :mod:`escnn_soft.experiments.cli` runs it.

    A task names its groups and models, opens its data, splits it for a group, gives
    each model's hyperparameters and builds it. Its names and quick defaults,
    ``name``, ``groups``, ``models``, ``default_group``, ``default_models``,
    ``default_epochs``, ``default_train_size``, ``default_batch_size``, ``metric`` and ``c4_data``,
    are read-only attributes read from its :attr:`spec` (:class:`~escnn_soft.experiments.specs.TaskSpec`
    describes them), the one place they are defined. Register new tasks with :func:`register_task`.

    Attributes:
        spec (TaskSpec): the task's names and defaults (a class or instance attribute), e.g.
            ``TASK_SPECS["mnist"]`` (:data:`~escnn_soft.experiments.specs.TASK_SPECS`).
        data_hyperparameters (tuple of str): the hyperparameters that change the data rather
            than the model, each a keyword of :meth:`load` (e.g. ddmnist's ``"c4_data"``): a run
            whose hyperparameters have one trains on the data loaded with it
            (:func:`data_settings`). Empty by default.
    """

    spec: TaskSpec
    name = _FromSpec()
    groups = _FromSpec()
    models = _FromSpec()
    default_group = _FromSpec()
    default_models = _FromSpec()
    default_epochs = _FromSpec()
    default_train_size = _FromSpec()
    default_batch_size = _FromSpec()
    metric = _FromSpec()
    c4_data = _FromSpec()
    data_hyperparameters: Tuple[str, ...] = ()

    @abc.abstractmethod
    def open(self, source: Optional[str]) -> Source:
        r"""Open the raw data named ``source`` (``None``: the task's default).

        Raises:
            FileNotFoundError: if a named file or folder does not exist.
            ValueError: if it does not hold the task's data.
        """

    @abc.abstractmethod
    def check(self, source: Source, train_size: int) -> None:
        r"""Raise a ``ValueError`` that says why, if ``train_size`` does not fit ``source``."""

    @abc.abstractmethod
    def load(self, group: str, source: Source, *, train_size: int, data_seed: int,
             device: torch.device) -> TaskData:
        r"""The splits for ``group``, on ``device``; ``data_seed`` fixes everything but the training order.

        A task with :attr:`data_hyperparameters` also takes them as keywords, with defaults.
        """

    @abc.abstractmethod
    def hyperparameters(self, model: str, group: str) -> Dict[str, Any]:
        r"""The default hyperparameters of ``model`` for ``group`` (at least ``"lr"``)."""

    @abc.abstractmethod
    def build(self, model: str, group: str, hyperparameters: Mapping[str, Any]) -> TrainingSetup:
        r"""A freshly initialised ``model`` for ``group`` (from the global random state)."""

    def example_batch(self, group: str, batch_size: int, hyperparameters: Mapping[str, Any]
                      ) -> Union[Tuple[torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor, Dict[str, Any]]]:
        r"""A training batch of ``batch_size`` samples for ``group`` made without the data: the shapes,
        dtypes and extras :meth:`TaskData.train_batch` gives for the data settings of ``hyperparameters``
        (:func:`data_settings`), on the CPU, with zero inputs and valid targets. The operations of a
        training step depend on these shapes alone, so this is the batch they are counted on
        (:func:`~escnn_soft.experiments.compute.step_flops`).

        Raises:
            NotImplementedError: for a task that does not give one (the default), naming it.
        """
        raise NotImplementedError(f"the task {self.name} gives no training batch without its data: define "
                                  f"{type(self).__name__}.example_batch(group, batch_size, hyperparameters) to count "
                                  f"its training FLOPs")

    def score(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        r"""Per-sample scores whose mean is :attr:`metric`; by default correct classifications."""
        return (output.argmax(dim=1) == target).float()

    def metrics(self, output: torch.Tensor, target: torch.Tensor) -> Mapping[str, float]:
        r"""More figures of a whole evaluation set, from all its outputs at once, by name (e.g.
        ``{"AUC": 0.91}``, which a mean of per-sample scores cannot give); none by default.

        The runner computes them for the validation, test and extra test sets after every
        epoch, and the reports show the test sets' ones beside the :attr:`metric`.
        """
        return {}


def data_settings(task: Task, hyperparameters: Mapping[str, Any]) -> Dict[str, Any]:
    r"""The data settings of a run with ``hyperparameters``: those of ``task.data_hyperparameters``
    it has, as :meth:`Task.load` takes them and :attr:`TaskData.settings` records them."""
    return {name: hyperparameters[name] for name in task.data_hyperparameters if name in hyperparameters}


TASKS: Dict[str, Task] = {}
r"""Registered tasks by name."""


def register_task(task: Task) -> Task:
    r"""Make ``task`` available under ``task.name``; returns it.

    Raises:
        TypeError: if ``task`` is not a :class:`Task` with a :class:`~escnn_soft.experiments.specs.TaskSpec`.
        ValueError: if another task has that name.
    """
    if not isinstance(task, Task):
        raise TypeError(f"expected an escnn_soft.experiments.Task, got {type(task).__name__}")
    if not isinstance(getattr(task, "spec", None), TaskSpec):
        raise TypeError(_no_spec(task))
    if task.name in TASKS and TASKS[task.name] is not task:
        raise ValueError(f"a task named {task.name!r} is already registered")
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    r"""The task called ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(task_names())}")
    return TASKS[name]


def task_names() -> Tuple[str, ...]:
    r"""The names of the registered tasks."""
    return tuple(TASKS)
