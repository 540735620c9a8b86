r"""Learned latent actions: the paper's Section 4.

Before fixing :math:`\rho_Z` to copies of the regular representation, the paper lets a
network learn it and asks which representation it learned:

* :mod:`escnn_soft.learned.representation` — :class:`LearnedRepresentation`, one matrix per
  generator, and its algebra loss (:class:`Presentation` gives the relations);
* :mod:`escnn_soft.learned.objective` — :class:`StudyObjective`, the soft-equivariance loss
  with the learned :math:`\rho_Z` plus the algebra loss;
* :mod:`escnn_soft.learned.decompose` — :func:`decompose`, irrep multiplicities by characters;
* :mod:`escnn_soft.learned.reports` — tables of decompositions and eigenvalue plots.

It uses the library (groups, actions, the loss) and nothing of the experiments.
"""

from .decompose import Decomposition, decompose, matrix_stack
from .representation import LearnedRepresentation, Presentation
from .objective import StudyLoss, StudyObjective, study_objective

__all__ = [
    "Decomposition",
    "decompose",
    "matrix_stack",
    "LearnedRepresentation",
    "Presentation",
    "StudyLoss",
    "StudyObjective",
    "study_objective",
]
