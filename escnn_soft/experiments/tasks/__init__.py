r"""The registered comparison tasks, one module each:

* :mod:`escnn_soft.experiments.tasks.mnist` — single MNIST digits (``"mnist"``, the default);
* :mod:`escnn_soft.experiments.tasks.ddmnist` — double-digit MNIST (``"ddmnist"``);

and :mod:`escnn_soft.experiments.tasks.common`, what they share.

Importing this package registers them (:func:`~escnn_soft.experiments.task.register_task`).
"""

from ..task import register_task
from .ddmnist import DDMNISTTask
from .mnist import MNISTTask

__all__ = ["DEFAULT_TASK", "DDMNISTTask", "MNISTTask"]

DEFAULT_TASK: str = "mnist"
r"""The task of ``escnn-soft compare`` without ``--task``: a quick comparison that learns."""

register_task(MNISTTask())
register_task(DDMNISTTask())
