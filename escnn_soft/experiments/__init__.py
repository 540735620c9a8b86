r"""The comparison harness: tasks, their data and models, the one training loop, reports, the CLI.

It uses the library (:mod:`escnn_soft`) and is never imported by it:

* :mod:`escnn_soft.experiments.specs` — each task's names and quick defaults (:class:`TaskSpec`), defined once;
* :mod:`escnn_soft.experiments.task` — the :class:`Task` interface and the task registry;
* :mod:`escnn_soft.experiments.tasks` — the tasks, one module each;
* :mod:`escnn_soft.experiments.datasets` and :mod:`escnn_soft.experiments.models` — their data and networks;
* :mod:`escnn_soft.experiments.runner` — resumable runs: the training loop;
* :mod:`escnn_soft.experiments.reports` — tables and plots of a comparison;
* :mod:`escnn_soft.experiments.cli` — the ``escnn-soft`` command.

The names below are loaded on first use, those of the task interface with the tasks
registered, so that the command line checks its arguments before torch and escnn are loaded.
"""

from importlib import import_module
from typing import Any, List

__all__ = ["TaskSpec", "TASK_SPECS", "Source", "Task", "TaskData", "TrainingSetup", "get_task", "register_task",
           "task_names"]

_LIGHT = ("TaskSpec", "TASK_SPECS")


def __getattr__(name: str) -> Any:
    if name in _LIGHT:
        value = getattr(import_module(".specs", __name__), name)
    elif name in __all__:
        import_module(".tasks", __name__)  # registers the tasks
        value = getattr(import_module(".task", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
