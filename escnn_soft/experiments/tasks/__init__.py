r"""The registered comparison tasks, one module each:

* :mod:`escnn_soft.experiments.tasks.mnist` — single MNIST digits (``"mnist"``, the default);
* :mod:`escnn_soft.experiments.tasks.ddmnist` — double-digit MNIST (``"ddmnist"``);
* :mod:`escnn_soft.experiments.tasks.exploration` — the paper's three exploration
  experiments (``"d3-autoencoder"``, ``"c2-typefaces"``, ``"c4-classifier"``) and the
  learned action of the cube's rotations on AdrenalMNIST3D (``"o-adrenal"``);
* :mod:`escnn_soft.experiments.tasks.medmnist3d` — the six MedMNIST3D datasets under the
  rotations of the cube, one task each, named by its flag (``"adrenalmnist3d"``, ...);
* :mod:`escnn_soft.experiments.tasks.smoke` — smoke plumes under :math:`C_4`, the full protocol
  (``"smoke"``) and a reduced preset (``"smoke-reduced"``);

and :mod:`escnn_soft.experiments.tasks.common`, what they share. Their names and quick
defaults are defined once, in :data:`~escnn_soft.experiments.specs.TASK_SPECS`.

Importing this package registers them (:func:`~escnn_soft.experiments.task.register_task`).
"""

from ..specs import DEFAULT_TASK
from ..task import register_task
from .ddmnist import DDMNISTTask
from .exploration import EXPLORATION_TASKS, ExplorationTask
from .medmnist3d import MEDMNIST3D_TASKS, MedMNIST3DTask
from .mnist import MNISTTask
from .smoke import SMOKE_TASKS, SmokeTask

__all__ = ["DEFAULT_TASK", "DDMNISTTask", "ExplorationTask", "MedMNIST3DTask", "MNISTTask", "SmokeTask"]

for _task in (MNISTTask(), DDMNISTTask(), *EXPLORATION_TASKS, *MEDMNIST3D_TASKS, *SMOKE_TASKS):
    register_task(_task)
