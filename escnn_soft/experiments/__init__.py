r"""The comparison harness: tasks, their data and models, the one training loop, reports, the CLI.

It uses the library (:mod:`escnn_soft`) and is never imported by it:

* :mod:`escnn_soft.experiments.task` — the :class:`Task` interface and the task registry;
* :mod:`escnn_soft.experiments.tasks` — the tasks, one module each;
* :mod:`escnn_soft.experiments.datasets` and :mod:`escnn_soft.experiments.models` — their data and networks;
* :mod:`escnn_soft.experiments.runner` — resumable runs: the training loop;
* :mod:`escnn_soft.experiments.reports` — tables and plots of a comparison;
* :mod:`escnn_soft.experiments.cli` — the ``escnn-soft`` command.
"""

from .task import Source, Task, TaskData, TrainingSetup, get_task, register_task, task_names
from . import tasks  # noqa: F401  (registers the tasks)

__all__ = ["Source", "Task", "TaskData", "TrainingSetup", "get_task", "register_task", "task_names"]
