r"""Learned latent actions: the paper's Section 4.

Before fixing :math:`\rho_Z` to copies of the regular representation, the paper lets a
network learn it and asks which representation it learned:

* :mod:`escnn_soft.learned.representation` —
  :class:`~escnn_soft.learned.representation.LearnedRepresentation`, one matrix per
  generator, and its algebra loss
  (:class:`~escnn_soft.learned.representation.Presentation` gives the relations);
* :mod:`escnn_soft.learned.objective` —
  :class:`~escnn_soft.learned.objective.StudyObjective`, the soft-equivariance loss with
  the learned :math:`\rho_Z` plus the algebra loss;
* :mod:`escnn_soft.learned.decompose` — :func:`~escnn_soft.learned.decompose.decompose`,
  irrep multiplicities by characters, and whether the matrices are a representation at all;
* :mod:`escnn_soft.learned.reports` — tables of decompositions and eigenvalue plots
  (matplotlib is imported only to draw).

Every name listed in ``__all__`` can be imported from :mod:`escnn_soft.learned`. It uses
the library (groups, actions, the loss) and nothing of the experiments.
"""

from .decompose import Decomposition, decompose, matrix_stack, summary_of
from .representation import LearnedRepresentation, Presentation
from .objective import LOSS_TERMS, StudyLoss, StudyObjective, study_objective
from .reports import decomposition_record, multiplicity_table, plot_eigenvalues, record_summary

__all__ = [
    "Decomposition",
    "decompose",
    "matrix_stack",
    "summary_of",
    "LearnedRepresentation",
    "Presentation",
    "LOSS_TERMS",
    "StudyLoss",
    "StudyObjective",
    "study_objective",
    "decomposition_record",
    "multiplicity_table",
    "plot_eigenvalues",
    "record_summary",
]
