r"""The registered comparison tasks, one module each:

* :mod:`escnn_soft.experiments.tasks.ddmnist` — double-digit MNIST (``"ddmnist"``).

Importing this package registers them (:func:`~escnn_soft.experiments.task.register_task`).
"""

from ..task import register_task
from .ddmnist import DDMNISTTask

__all__ = ["DDMNISTTask"]

register_task(DDMNISTTask())
