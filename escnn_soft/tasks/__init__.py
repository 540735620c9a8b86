r"""The tasks :mod:`escnn_soft.compare` can run, by name.

A task (a :class:`~escnn_soft.training.Task`) says how to open and split its data,
which groups and models it has, each model's hyperparameters, and how to build it.
Add one with :func:`register_task`:

* :mod:`escnn_soft.tasks.ddmnist` — double-digit MNIST (``"ddmnist"``).
"""

from typing import Dict, Tuple

from ..training import Task
from .ddmnist import DDMNISTTask

__all__ = ["TASKS", "register_task", "get_task", "task_names", "DDMNISTTask"]

TASKS: Dict[str, Task] = {}
r"""Registered tasks by name."""


def register_task(task: Task) -> Task:
    r"""Make ``task`` available under ``task.name``; returns it.

    Raises:
        ValueError: if another task has that name.
    """
    if not isinstance(task, Task):
        raise TypeError(f"expected an escnn_soft.training.Task, got {type(task).__name__}")
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


register_task(DDMNISTTask())
