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

from importlib import import_module
from typing import Any, List

# the names below are loaded on first use (PEP 562), so that ``import escnn_soft.<module>``
# of a light module (e.g. the command line's argument checks) does not load torch and escnn
_EXPORTS = {
    "groups": ("GroupTable", "group_table"),
    "actions": ("ActionLike", "FieldAction", "GroupAction", "ProductAction", "TrivialAction",
                "field_action", "product_action", "trivial_action"),
    "latent": ("RegularLatent", "regular_latent"),
    "loss": ("SoftEquivarianceLoss", "SoftLoss"),
    "testing": ("EquivarianceError", "equivariance_error", "assert_equivariant"),
    "learned": ("Decomposition", "LearnedRepresentation", "decompose"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return import_module(f".{name}", __name__)
    if name in _MODULE_OF:
        value = getattr(import_module(f".{_MODULE_OF[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_MODULE_OF))


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
    "EquivarianceError",
    "equivariance_error",
    "assert_equivariant",
    "Decomposition",
    "decompose",
    "LearnedRepresentation",
]
