r"""escnn_soft: parameter-free soft equivariance for plain networks, built on escnn.

The core, from groups to the loss:

* :mod:`escnn_soft.groups` — multiplication tables of finite escnn groups;
* :mod:`escnn_soft.latent` — latent representations made of regular copies;
* :mod:`escnn_soft.actions` — batched actions on data (escnn field types, products);
* :mod:`escnn_soft.loss` — the soft-equivariance loss;
* :mod:`escnn_soft.equivariance` — the equivariance error of any function;
* :mod:`escnn_soft.decompose` — irrep multiplicities of (learned) representations, by characters;
* :mod:`escnn_soft.learned` — latent representations learned with an algebra loss;
* :mod:`escnn_soft.study` — the objective that learns them (the paper's Section 4).

Models, datasets, reports and the command line live in :mod:`escnn_soft.models`,
:mod:`escnn_soft.datasets`, :mod:`escnn_soft.reports` and :mod:`escnn_soft.compare`,
which use the core.
"""

from .groups import GroupTable, group_table
from .actions import (
    ActionLike,
    FieldAction,
    GroupAction,
    ProductAction,
    TrivialAction,
    field_action,
    product_action,
    trivial_action,
)
from .latent import RegularLatent, regular_latent
from .loss import SoftEquivarianceLoss, SoftLoss
from .equivariance import equivariance_error
from .decompose import Decomposition, decompose, matrix_stack
from .learned import LearnedRepresentation, Presentation
from .study import StudyObjective, study_objective

__version__ = "0.1.0"

__all__ = [
    "GroupTable",
    "group_table",
    "GroupAction",
    "ActionLike",
    "FieldAction",
    "TrivialAction",
    "ProductAction",
    "field_action",
    "trivial_action",
    "product_action",
    "RegularLatent",
    "regular_latent",
    "SoftEquivarianceLoss",
    "SoftLoss",
    "equivariance_error",
    "Decomposition",
    "decompose",
    "matrix_stack",
    "LearnedRepresentation",
    "Presentation",
    "StudyObjective",
    "study_objective",
]
