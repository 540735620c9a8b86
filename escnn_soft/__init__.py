r"""escnn_soft: parameter-free soft equivariance for plain networks, built on escnn.

The library, from groups to the loss:

* :mod:`escnn_soft.groups` — multiplication tables of finite escnn groups;
* :mod:`escnn_soft.actions` — batched actions on data (escnn field types, products);
* :mod:`escnn_soft.latent` — latent representations made of regular copies;
* :mod:`escnn_soft.loss` — the soft-equivariance loss;
* :mod:`escnn_soft.testing` — equivariance errors (measure) and assertions.

Beside it, :mod:`escnn_soft.learned` studies learned latent actions (the paper's
Section 4) and :mod:`escnn_soft.experiments` is the comparison harness (tasks, data,
models, the training loop, reports and the ``escnn-soft`` command); both use the library,
and importing :mod:`escnn_soft` loads neither the harness nor any dataset or model.
"""

from .groups import GroupTable, group_table
from .actions import (
    ActionLike,
    FieldAction,
    GroupAction,
    ProductAction,
    ResampledAction,
    TrivialAction,
    field_action,
    product_action,
    resampled_action,
    trivial_action,
)
from .latent import RegularLatent, regular_latent
from .loss import SoftEquivarianceLoss, SoftLoss
from .testing import equivariance_error
from .learned import Decomposition, LearnedRepresentation, decompose

__version__ = "0.1.0"

__all__ = [
    "GroupTable",
    "group_table",
    "GroupAction",
    "ActionLike",
    "FieldAction",
    "TrivialAction",
    "ProductAction",
    "ResampledAction",
    "field_action",
    "trivial_action",
    "product_action",
    "resampled_action",
    "RegularLatent",
    "regular_latent",
    "SoftEquivarianceLoss",
    "SoftLoss",
    "equivariance_error",
    "Decomposition",
    "decompose",
    "LearnedRepresentation",
]
