r"""The registered comparison tasks, one module each:

* :mod:`escnn_soft.experiments.tasks.mnist` — single MNIST digits (``"mnist"``, the default);
* :mod:`escnn_soft.experiments.tasks.ddmnist` — double-digit MNIST (``"ddmnist"``);
* :mod:`escnn_soft.experiments.tasks.exploration` — the paper's three exploration
  experiments (``"d3-autoencoder"``, ``"c2-typefaces"``, ``"c4-classifier"``);

and :mod:`escnn_soft.experiments.tasks.common`, what they share. Their names and quick
defaults are defined once, in :data:`~escnn_soft.experiments.specs.TASK_SPECS`.

Importing this package registers them (:func:`~escnn_soft.experiments.task.register_task`).
"""

from ..specs import DEFAULT_TASK
from ..task import register_task
from .ddmnist import DDMNISTTask
from .exploration import EXPLORATION_TASKS, ExplorationTask
from .mnist import MNISTTask

__all__ = ["DEFAULT_TASK", "DDMNISTTask", "ExplorationTask", "MNISTTask"]

for _task in (MNISTTask(), DDMNISTTask(), *EXPLORATION_TASKS):
    register_task(_task)
