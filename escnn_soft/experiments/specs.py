r"""What is known of a task before it is loaded: its names and quick defaults, defined once.

A :class:`TaskSpec` names a task, its groups and models, the quick default comparison
(group, models, epochs, training set size) and its score. :data:`TASK_SPECS` holds the
specs of the built-in tasks (:mod:`escnn_soft.experiments.tasks`); each task takes its
names from there (``spec = TASK_SPECS["mnist"]``, read through
:class:`~escnn_soft.experiments.task.Task`'s attributes), and ``escnn-soft compare``
checks its arguments against the same specs before torch, escnn or any task is loaded:
this module imports neither. A user-defined task gives its own :class:`TaskSpec`.

Example:
    >>> spec = TASK_SPECS["c4-classifier"]
    >>> spec.groups, spec.models, spec.default_epochs
    (('C4',), ('learned', 'identity-init'), 8)
    >>> TaskSpec("toy", groups=("C2",), models=("mlp",), default_group="C4", default_models=("mlp",),
    ...          default_epochs=1, default_train_size=10)
    Traceback (most recent call last):
    ...
    ValueError: task 'toy': default_group 'C4' is not one of its groups ('C2',)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Tuple

__all__ = ["TaskSpec", "TASK_SPECS", "DEFAULT_TASK", "DDMNIST_C4_DATA", "MEDMNIST3D_TRAIN_SIZES"]


@dataclass(frozen=True)
class TaskSpec:
    r"""The names and quick defaults of one task.

    Attributes:
        name (str): the task's name on the command line and in every run's key.
        groups (tuple of str): the valid group names.
        models (tuple of str): the valid model names.
        default_group (str): the group of the quick default comparison.
        default_models (tuple of str): its models.
        default_epochs (int): its epochs.
        default_train_size (int): its training set size.
        metric (str): the name of the score (higher is better); ``"accuracy"`` (a fraction,
            reported as a percentage) by default.
        default_batch_size (int): the training batch size of its runs; 256 by default.
        c4_data (mapping): the C4 data the task can load (its hyperparameter ``"c4_data"``, recorded
            in every run's key), each with the groups it has; the first is the default
            (:attr:`default_c4_data`). Empty (the default) for a task without that choice.

    Raises:
        ValueError: for an empty name or list, or defaults outside the lists or not positive.
    """

    name: str
    groups: Tuple[str, ...]
    models: Tuple[str, ...]
    default_group: str
    default_models: Tuple[str, ...]
    default_epochs: int
    default_train_size: int
    metric: str = "accuracy"
    default_batch_size: int = 256
    c4_data: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)

    @property
    def default_c4_data(self) -> Optional[str]:
        r"""The C4 data of runs that do not choose one: the first of :attr:`c4_data`, ``None`` for a
        task without that choice."""
        return next(iter(self.c4_data), None)

    def check_c4_data(self, c4_data: str, groups: Sequence[str]) -> None:
        r"""Check that the task loads the C4 data ``c4_data`` for each of ``groups``.

        Example:
            >>> TASK_SPECS["ddmnist"].check_c4_data("paper", ["C4", "D4"])
            Traceback (most recent call last):
            ...
            ValueError: c4_data 'paper' needs group C4, got D4; leave it out for D4

        Raises:
            ValueError: for a task without C4 data, an unknown ``c4_data``, or groups it does not have.
        """
        if not self.c4_data:
            raise ValueError(f"c4_data is a setting of the tasks {', '.join(_tasks_with_c4_data())}; task "
                             f"{self.name!r} has none: leave it out")
        if c4_data not in self.c4_data:
            raise ValueError(f"unknown c4_data {c4_data!r}; valid: {', '.join(self.c4_data)} (the default "
                             f"{self.default_c4_data})")
        others = [g for g in groups if g not in self.c4_data[c4_data]]
        if others:
            raise ValueError(f"c4_data {c4_data!r} needs group "
                             f"{','.join(self.c4_data[c4_data])}, got {','.join(others)}; leave it out for "
                             f"{','.join(others)}")

    def __post_init__(self) -> None:
        empty = [f for f in ("name", "groups", "models", "default_models", "metric") if not getattr(self, f)]
        if empty:
            raise ValueError(f"task {self.name!r}: {', '.join(empty)} must not be empty")
        if self.default_group not in self.groups:
            raise ValueError(f"task {self.name!r}: default_group {self.default_group!r} is not one of its groups "
                             f"{self.groups}")
        extra = [m for m in self.default_models if m not in self.models]
        if extra:
            raise ValueError(f"task {self.name!r}: default_models {extra} are not among its models {self.models}")
        for name in ("default_epochs", "default_train_size", "default_batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"task {self.name!r}: {name} must be positive, got {getattr(self, name)}")
        foreign = sorted({g for groups in self.c4_data.values() for g in groups} - set(self.groups))
        if foreign:
            raise ValueError(f"task {self.name!r}: c4_data names groups {foreign} that are not among its groups "
                             f"{self.groups}")


_DIGIT_GROUPS = ("C4", "D1", "D4")          # the keys of escnn_soft.experiments.datasets.DDMNIST_GROUPS
_EXPLORATION_MODELS = ("learned", "identity-init")
_SMOKE_MODELS = ("cnn", "cnn-aug", "soft", "soft-regular", "e2cnn", "e2cnn-narrow", "rpp")

MEDMNIST3D_TRAIN_SIZES: Mapping[str, int] = {
    "organmnist3d": 971, "nodulemnist3d": 1158, "adrenalmnist3d": 1188, "fracturemnist3d": 1027,
    "vesselmnist3d": 1335, "synapsemnist3d": 1230,
}
r"""The 3D datasets of MedMNIST v2 (each a task of its name,
:mod:`~escnn_soft.experiments.tasks.medmnist3d`) and the sizes of their training splits."""

TASK_SPECS: Mapping[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec("mnist", groups=_DIGIT_GROUPS, models=("cnn", "cnn-aug", "soft", "scnn"), default_group="C4",
             default_models=("cnn-aug", "soft", "scnn"), default_epochs=20, default_train_size=4000),
    TaskSpec("ddmnist", groups=_DIGIT_GROUPS,
             models=("cnn", "cnn-aug", "cnn-aug-l2", "soft", "soft-postbn", "soft-rel", "scnn", "scnn-gxg",
                     "restriction", "rpp"),
             default_group="C4", default_models=("cnn-aug", "soft", "scnn"), default_epochs=3,
             default_train_size=3000, c4_data={"corrected": _DIGIT_GROUPS, "paper": ("C4",)}),
    TaskSpec("d3-autoencoder", groups=("D3",), models=_EXPLORATION_MODELS, default_group="D3",
             default_models=("learned",), default_epochs=20, default_train_size=3000,
             metric="negative reconstruction MSE"),
    TaskSpec("c2-typefaces", groups=("C2",), models=_EXPLORATION_MODELS, default_group="C2",
             default_models=("learned",), default_epochs=20, default_train_size=8000,
             metric="negative reconstruction MSE"),
    TaskSpec("c4-classifier", groups=("C4",), models=_EXPLORATION_MODELS, default_group="C4",
             default_models=("learned",), default_epochs=8, default_train_size=3000),
    TaskSpec("o-adrenal", groups=("O",), models=_EXPLORATION_MODELS, default_group="O",
             default_models=("learned",), default_epochs=12,
             default_train_size=MEDMNIST3D_TRAIN_SIZES["adrenalmnist3d"], default_batch_size=16),
    *(TaskSpec(flag, groups=("O",),
               models=("cnn", "cnn-aug", "cnn-aug-2view", "soft", "soft-postbn", "scnn-octa", "scnn-so3"),
               default_group="O",
               default_models=("cnn-aug", "soft"), default_epochs=2, default_train_size=size, default_batch_size=32)
      for flag, size in MEDMNIST3D_TRAIN_SIZES.items()),
    *(TaskSpec(name, groups=("C4",), models=_SMOKE_MODELS, default_group="C4", default_models=("cnn-aug", "soft"),
               default_epochs=epochs, default_train_size=windows, metric="negative rollout MSE", default_batch_size=16)
      for name, epochs, windows in (("smoke", 1000, 25 * 160), ("smoke-reduced", 30, 8 * 40))),
)}
r"""The built-in tasks by name: single and double-digit MNIST (:mod:`~escnn_soft.experiments.tasks.mnist`,
:mod:`~escnn_soft.experiments.tasks.ddmnist`), the exploration experiments
(:mod:`~escnn_soft.experiments.tasks.exploration`: the paper's three and ``o-adrenal``), SMOKE at
two scales (:mod:`~escnn_soft.experiments.tasks.smoke`: ``smoke`` and ``smoke-reduced``) and the six
MedMNIST3D datasets
(:mod:`~escnn_soft.experiments.tasks.medmnist3d`, one task each: :data:`MEDMNIST3D_TRAIN_SIZES`)."""

DEFAULT_TASK: str = "mnist"
r"""The task of ``escnn-soft compare`` without ``--task``: a quick comparison that learns."""

DDMNIST_C4_DATA: Tuple[str, ...] = tuple(TASK_SPECS["ddmnist"].c4_data)
r"""The C4 data of the ddmnist task (:mod:`~escnn_soft.experiments.tasks.ddmnist`):
``"corrected"`` (the default, each digit rotated by :math:`\theta` and back, then by
:math:`g`) or ``"paper"`` (at :math:`g R_\theta`, with a second view), as the task and
``escnn-soft compare --c4-data`` take them."""


def _tasks_with_c4_data() -> Tuple[str, ...]:
    r"""The built-in tasks with a choice of C4 data (:attr:`TaskSpec.c4_data`)."""
    return tuple(name for name, spec in TASK_SPECS.items() if spec.c4_data)
