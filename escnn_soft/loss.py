r"""The soft-equivariance loss for plain networks.

A plain network is an encoder :math:`E` into a latent :math:`z = E(x)` followed by a
head :math:`D`. With :math:`g` drawn uniformly per sample, the method trains on

.. math::
    \mathcal{L} = \ell\big(D(E(x)),\, y\big)
    + w\, \ell\big(D(\rho_Z(g) E(x)),\, \rho_Y(g) y\big)
    + \lambda\, \mathrm{MSE}\big(E(\rho_X(g) x),\, \rho_Z(g) E(x)\big),

where :math:`\ell` is the task loss, :math:`\rho_X, \rho_Z, \rho_Y` are the actions
on inputs, latents and targets, and :math:`w = 1` in the paper. No parameters are
added: :math:`\rho_Z` is fixed (e.g. :func:`~escnn_soft.regular_latent`).

Some of the paper's tasks (MedMNIST3D, SMOKE) also train on the transformed input:
with the weights :math:`a` of the plain task term (default 1) and :math:`b` of the
transformed-input task term (default 0) the loss is

.. math::
    a\, \ell\big(D(E(x)),\, y\big) + b\, \ell\big(D(E(\rho_X(g) x)),\, \rho_Y(g) y\big)
    + w\, \ell\big(D(\rho_Z(g) E(x)),\, \rho_Y(g) y\big)
    + \lambda\, \mathrm{MSE}\big(E(\rho_X(g) x),\, \rho_Z(g) E(x)\big),

the second term decoded from the second pass the equivariance term runs anyway.

With ``relative=True`` the equivariance term is measured relative to the size of the
latent, which makes it invariant to the scale of :math:`E`:

.. math::
    \frac{\frac{1}{B} \sum_b \lVert E(\rho_X(g_b) x_b) - \rho_Z(g_b) E(x_b) \rVert^2}
         {\frac{1}{B} \sum_b \lVert E(x_b) \rVert^2}.

A single model can be split at a named layer with
:meth:`SoftEquivarianceLoss.from_layer`: :class:`LayerEncoder` is the model up to
that layer and :class:`LayerHead` the rest of it.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Set, Tuple, Union

import torch
import torch.nn.functional as F
from escnn.nn import EquivariantModule, GeometricTensor
from torch import nn

from .actions import ActionLike, FieldAction, GroupAction, ProductAction
from .groups import GroupTable
from .modes import eval_mode

__all__ = ["SoftLoss", "SoftEquivarianceLoss", "LayerEncoder", "LayerHead"]

Weight = Union[float, torch.Tensor]


@dataclass
class SoftLoss:
    r"""The terms of one evaluation of :class:`SoftEquivarianceLoss`.

    Attributes:
        total: the loss to minimise, ``task_weight * task + input_task_weight * input_task
            + shifted_weight * shifted + lam * equivariance``.
        task: :math:`\ell(D(E(x)), y)`.
        shifted: :math:`\ell(D(\rho_Z(g) E(x)), \rho_Y(g) y)` (zero when its weight is the number 0).
        input_task: :math:`\ell(D(E(\rho_X(g) x)), \rho_Y(g) y)`, the task loss of the
            transformed input, over the samples of the second pass (zero when its weight is
            the number 0).
        equivariance: :math:`\mathrm{MSE}(E(\rho_X(g)x), \rho_Z(g)E(x))`, or its relative
            form with ``relative=True``, over the samples of the second pass (zero when
            :math:`\lambda` is the number 0).
        output: the model's output :math:`D(E(x))` for the untransformed input.
        latent: the latent :math:`E(x)`.
        g: the element indices used, one per sample.
        pairs: the samples of the second encoder pass (``pair_fraction < 1``), ``None`` when it
            ran on all of them or did not run.
    """

    total: torch.Tensor
    task: torch.Tensor
    shifted: torch.Tensor
    equivariance: torch.Tensor
    output: torch.Tensor
    latent: torch.Tensor
    g: torch.Tensor
    input_task: torch.Tensor
    pairs: Optional[torch.Tensor] = None


class _Captured(BaseException):
    r"""Raised by :class:`LayerEncoder`'s hook to stop the model once the latent is captured
    (a ``BaseException``, so that a model's own ``except Exception`` does not swallow it)."""


def _same(a: Any, b: Any) -> bool:
    r"""Whether two model outputs (tensors, or tuples, lists and dicts of them) agree up to
    rounding: :math:`\sqrt{\epsilon}` of their dtype, relative and absolute."""
    if isinstance(a, torch.Tensor):
        if not isinstance(b, torch.Tensor) or a.shape != b.shape:
            return False
        if a.is_floating_point() or a.is_complex():
            tol = torch.finfo(a.dtype).eps ** 0.5
            return torch.allclose(a, b, rtol=tol, atol=tol, equal_nan=True)
        return torch.equal(a, b)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    raise TypeError(f"the model's output must be a tensor, or a tuple, list or dict of tensors, "
                    f"got {type(a).__name__}")


class LayerEncoder(nn.Module):
    r"""A model up to a named layer, as an encoder: :math:`E(x)` is the layer's output.

    ``encoder(x)`` runs ``model(x)`` with a forward hook on the layer that captures its
    output and stops the model there: nothing after the layer runs. The module holds
    the model as its submodule ``model``. With :class:`LayerHead` it splits one model
    into :math:`E` and :math:`D` (see :meth:`SoftEquivarianceLoss.from_layer`).

    Args:
        model (nn.Module): the whole network.
        layer (str): the name of the layer, as in ``model.named_modules()``.

    Attributes:
        layer: the layer's name.
        last_input: the input of the latest call, ``None`` before the first; the
            :class:`LayerHead` runs the model on it.
    """

    def __init__(self, model: nn.Module, layer: str):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        names = [name for name, _ in model.named_modules() if name]
        if layer not in names:
            raise ValueError(f"model has no layer named {layer!r}; its layers are {names}")
        self.model = model
        self.layer: str = layer
        self.last_input: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        captured = []

        def hook(module: nn.Module, args: Tuple, output: torch.Tensor) -> None:
            captured.append(output)
            raise _Captured

        handle = self.model.get_submodule(self.layer).register_forward_hook(hook)
        try:
            self.model(x)
        except _Captured:
            pass
        finally:
            handle.remove()
        if not captured:
            raise RuntimeError(f"layer {self.layer!r} was not called in the model's forward pass")
        self.last_input = x
        return captured[0]

    def extra_repr(self) -> str:
        return f"layer={self.layer!r}"


class LayerHead(nn.Module):
    r"""The rest of a model after a named layer, as a head: :math:`D(z)`.

    ``head(z)`` runs the model with the layer's output replaced by ``z``. A hooked
    model cannot start in the middle, so it runs on the input its :class:`LayerEncoder`
    saw last (``encoder.last_input``); the modules before the layer are switched to
    eval mode for that part of the pass, and their output is discarded, so batch
    statistics, running averages and random numbers (dropout) are exactly those of an
    encoder–head pair of modules. Their forward pass is still computed, once more per
    call.

    The layer must be a *cut point*: the model's output must depend on the input only
    through the layer's output. On the first call for every input shape the head checks
    that, in eval mode and without gradients, by running the model twice with the same
    ``z``, on the input and on a different one (plus Gaussian noise from a fixed seed
    for floating point inputs, the batch rolled by one sample otherwise); it raises a
    ``ValueError`` if the outputs differ (a skip connection around the layer) and on
    every call if the layer runs more than once in a pass.

    Args:
        encoder (LayerEncoder): the encoder of the same model and layer (a submodule
            of the head too, so ``.parameters()`` reaches the model).
    """

    def __init__(self, encoder: LayerEncoder):
        super().__init__()
        if not isinstance(encoder, LayerEncoder):
            raise TypeError(f"LayerHead needs the LayerEncoder of the same model, got {type(encoder).__name__}")
        self.encoder = encoder
        self._checked: Set[Tuple[Tuple[int, ...], torch.dtype]] = set()

    def forward(self, z: torch.Tensor) -> Any:
        x = self.encoder.last_input
        if x is None:
            raise RuntimeError("LayerHead runs the whole model, which needs an input: call its encoder on a batch first")
        key = (tuple(x.shape), x.dtype)
        if key not in self._checked:
            self._check_cut(x, z)
            self._checked.add(key)
        return self._run(x, z)

    def _run(self, x: torch.Tensor, z: torch.Tensor) -> Any:
        r"""``model(x)`` with the layer's output replaced by ``z``; the modules run in eval
        mode until the layer, in their own mode after it."""
        layer, model = self.encoder.layer, self.encoder.model
        calls = []
        with eval_mode(model) as restore:

            def hook(module: nn.Module, args: Tuple, output: Any) -> torch.Tensor:
                if calls:
                    raise ValueError(
                        f"layer {layer!r} is called more than once in the model's forward pass, so its output is "
                        f"no single latent: pass an explicit encoder and head instead, "
                        f"SoftEquivarianceLoss(encoder, head, ...)"
                    )
                calls.append(output)
                if isinstance(output, torch.Tensor) and output.shape != z.shape:
                    raise ValueError(
                        f"the latent has shape {tuple(z.shape)} but layer {layer!r} outputs {tuple(output.shape)} "
                        f"on the encoder's last input: encode a batch of the latent's shape first"
                    )
                restore()
                return z

            handle = model.get_submodule(layer).register_forward_hook(hook)
            try:
                output = model(x)
            finally:
                handle.remove()
        if not calls:
            raise RuntimeError(f"layer {layer!r} was not called in the model's forward pass")
        return output

    def _check_cut(self, x: torch.Tensor, z: torch.Tensor) -> None:
        r"""Raise unless the model's output, with the layer's output fixed to ``z``, is the
        same on ``x`` and on a different input."""
        if x.is_floating_point() or x.is_complex():
            noise = torch.Generator(device=x.device).manual_seed(0)
            other = x + torch.randn(x.shape, generator=noise, device=x.device, dtype=x.dtype)
        else:
            other = x.roll(1, dims=0)
        with torch.no_grad(), eval_mode(self.encoder.model):  # copies of z: the model may change it in place
            same = _same(self._run(x, z.detach().clone()), self._run(other, z.detach().clone()))
        if not same:
            raise ValueError(
                f"layer {self.encoder.layer!r} is not a cut point of the model: with its output held fixed, the "
                f"model's output still changes with the input, so part of the input bypasses the layer (a skip "
                f"connection around it, or a branch that does not pass through it). Name a layer that all of the "
                f"input passes through, or pass an explicit encoder and head instead, "
                f"SoftEquivarianceLoss(encoder, head, ...) with head(encoder(x)) == model(x)"
            )


def _weight(name: str, value: Any) -> Weight:
    r"""``value`` as a loss weight: a finite number :math:`\geq 0` (a float) or a 0-dim tensor
    that holds one and requires no gradient."""
    hint = f"{name} must be a finite number >= 0 (a float, an int or a 0-dim tensor)"
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{hint}, got a tensor of dtype {value.dtype}")
        if value.dim() != 0:
            raise ValueError(f"{hint}, got a tensor of shape {tuple(value.shape)}")
        if value.requires_grad:
            raise ValueError(f"{hint} that requires no gradient: an optimiser would drive a trainable {name} below "
                             f"zero, to shrink the loss. Pass {name}.detach(), or a float")
        number = float(value)
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{hint}, got {type(value).__name__} {value!r}")
    else:
        number = value = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{hint}, got {value!r}")
    return value


def _version(value: Weight) -> Optional[int]:
    r"""The version counter of a tensor weight (bumped by every in-place change), ``None`` for a
    float or an inference tensor (which cannot change in place outside inference mode)."""
    return value._version if isinstance(value, torch.Tensor) and not value.is_inference() else None


def _moves_grid(action: Any) -> bool:
    r"""Whether ``action`` moves the points of the sampling grid: a :class:`FieldAction` on a
    gspace with a base space, or a product with such a factor."""
    if isinstance(action, FieldAction):
        return action.dimensionality > 0
    if isinstance(action, ProductAction):
        return any(_moves_grid(factor) for factor in action.actions)
    return False


class _WeightAttribute:
    r"""A weight of the loss: read as it was given, checked by :func:`_weight` on every assignment
    and, for a tensor, again by :meth:`SoftEquivarianceLoss._recheck_weights` after an in-place change."""

    def __init__(self, doc: str):
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.slot = name, f"_{name}"

    def __get__(self, loss: Optional["SoftEquivarianceLoss"], owner: Optional[type] = None) -> Any:
        return self if loss is None else getattr(loss, self.slot)

    def __set__(self, loss: "SoftEquivarianceLoss", value: Weight) -> None:
        value = _weight(self.name, value)
        setattr(loss, self.slot, value)
        loss._weight_versions[self.name] = _version(value)


def _active(weight: Weight) -> bool:
    r"""Whether the term of ``weight`` is computed: always for a tensor (no branch on its value,
    which would wait for the device and cannot be traced), for a float when it is not 0."""
    return isinstance(weight, torch.Tensor) or weight > 0


def _tensor(value: Any, what: str, size: int) -> torch.Tensor:
    r"""A module's output as a plain tensor: a ``GeometricTensor``'s ``.tensor``, else the tensor itself."""
    if isinstance(value, GeometricTensor):
        return value.tensor
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"the {what} returned a {type(value).__name__}, but the loss needs the latent as one tensor "
            f"(B, {size}, ...): if the {what} returns several outputs, wrap it in a module whose forward returns the "
            f"latent alone, e.g. encoder(x)[0]"
        )
    return value


class SoftEquivarianceLoss(nn.Module):
    r"""Parameter-free soft equivariance for a plain encoder–head network.

    ``loss_fn(x, y)`` draws :math:`g` uniformly per sample (or takes ``g=``) and
    returns a :class:`SoftLoss`. It runs two passes: the plain one,
    :math:`z = E(x)` and :math:`D(z)`, and one more that encodes
    :math:`\rho_X(g) x` and decodes :math:`\rho_Z(g) z`, so a training step costs about
    two plain ones, and batch statistics (BatchNorm) are those of each pass. With
    ``lam=0``, ``shifted_weight=0`` and ``input_task_weight=0`` only the plain pass runs
    and the loss is ``task_weight`` times the task loss of plain training.

    ``loss_fn(x, y, g=g, x_g=x_g)`` takes the transformed input
    :math:`\rho_X(g) x` from the data pipeline instead of computing ``in_action(x, g)``;
    ``x_g`` needs the ``g`` it was made with and must have the shape of ``x``.

    The equivariance term is :math:`\mathrm{MSE}(E(\rho_X(g)x), \rho_Z(g)E(x))`, the mean
    over batch and coordinates of the squared difference. With ``relative=True`` it is

    .. math::
        \frac{\frac{1}{B} \sum_b \lVert E(\rho_X(g_b) x_b) - \rho_Z(g_b) E(x_b) \rVert^2}
             {\frac{1}{B} \sum_b \lVert E(x_b) \rVert^2},

    numerator and denominator batch means of squared norms; it does not change when
    :math:`E` is multiplied by a constant, so :math:`\lambda` does not depend on the
    scale of the latent. Gradients flow through both.

    **A cheaper second pass.** With ``pair_fraction`` :math:`\beta < 1` the second
    encoder pass runs on a random subset :math:`S` of :math:`k = \lceil \beta B \rceil`
    samples, drawn without replacement, anew each call, from the ``generator`` given to
    the call (torch's default generator of the batch's device if none). That pass feeds
    the equivariance term and the transformed-input task term, now means over
    :math:`S`; the plain and the shifted task terms, which need no second encoder pass,
    stay on all :math:`B` samples. With :math:`e_b` the squared error of sample
    :math:`b` summed over its :math:`d` latent coordinates, the subset mean is an
    unbiased estimate of the batch's: every sample is in :math:`S` with probability
    :math:`k / B`, so

    .. math::
        \mathbb{E}_S\Big[\frac{1}{k d} \sum_{b \in S} e_b\Big]
        = \frac{1}{k d} \sum_{b=1}^{B} \frac{k}{B}\, e_b = \frac{1}{B d} \sum_{b=1}^{B} e_b,

    and likewise for the transformed-input task term when the task loss is a mean over
    samples. With ``relative=True`` the ratio is taken over the subset,
    :math:`\sum_{b \in S} e_b / \sum_{b \in S} \lVert E(x_b) \rVert^2`: a ratio of two
    unbiased means, which is not unbiased itself but converges to the batch's ratio as
    :math:`k` grows (consistent). :math:`\beta = 1` (the default) draws no random
    numbers; neither does a :math:`\beta` with :math:`\lceil \beta B \rceil = B`.

    With ``fused=True`` the two encoder passes are one: :math:`E` runs once on the
    concatenation of :math:`x` and the :math:`k` transformed samples, which saves the
    launch and per-call overhead of a second pass. Batch statistics (BatchNorm in
    training mode) are then those of one batch of :math:`B + k` samples, both views
    mixed, instead of one per pass: the loss then differs from the unfused one, and
    running statistics see the transformed samples too. Without batch statistics the
    two agree up to float rounding.

    **Weights.** The weights ``lam``, ``shifted_weight``, ``task_weight`` and
    ``input_task_weight`` may be reassigned (e.g. by a schedule) to a finite number
    :math:`\geq 0` or a 0-dim tensor that requires no gradient; anything else raises.
    A term whose weight is the number 0 is skipped (and reported as 0); a tensor weight
    is never branched on, so its term is always computed, and its value is read on the
    host only when it is assigned (on CUDA, keep schedule tensors on the CPU to avoid
    even that synchronisation). The loss holds the tensor itself: an in-place change
    (``loss_fn.lam.fill_(0.5)``, or of the tensor that was assigned) takes effect, and
    every eager call checks the tensor again if its version counter moved, so that
    ``fill_(-5)``, ``fill_(nan)`` or ``requires_grad_()`` raise there. Calls traced by
    :func:`torch.compile` skip that re-check: assign a new value instead of changing
    one in place.

    **Heads that change their input in place.** Every call of :math:`D` receives its
    own copy of the latent it decodes, so a head that starts with an in-place
    operation (``nn.ReLU(inplace=True)``) changes neither the latent used by the other
    terms nor ``out.latent``; the copy costs one latent-sized memory copy per call of
    :math:`D`.

    **escnn modules.** An escnn ``EquivariantModule`` may be the encoder or the head:
    it receives ``GeometricTensor(t, module.in_type)`` and its output is unwrapped
    (``.tensor``), as is a ``GeometricTensor`` returned by any encoder or head. The
    input ``x`` (and ``x_g``) may be a ``GeometricTensor`` too; the actions receive
    its plain tensor.

    **torch.compile.** The loss compiles with ``fullgraph=True`` (an explicit encoder
    and head; :meth:`from_layer` stops the model with a hook and an exception, which
    the compiler cannot trace): no synchronisation and no NumPy or SciPy runs inside
    the step. The range check of ``g`` becomes ``torch._assert_async`` (see
    :meth:`~escnn_soft.groups.GroupTable.check_indices`), and the warning below is
    given by eager calls only. ``generator=`` cannot be traced and raises inside a
    compiled call: leave it out there, and ``g`` (unless given) and the subset of
    ``pair_fraction`` come from torch's default generator.

    When :math:`\rho_X` moves the points of the input's grid (a
    :class:`~escnn_soft.actions.FieldAction` on a gspace with a base space, exact or
    interpolating, or a :class:`~escnn_soft.actions.ProductAction` with such a factor) and the latent
    is a feature map ``(B, C, *grid)`` with more than one grid point, the grid of an
    equivariant encoder's latent moves too; the first call warns if :math:`\rho_Z` is
    not of one of those types (e.g. a :class:`~escnn_soft.latent.RegularLatent`, which
    only permutes channels), since the term would then penalise exactly equivariant
    encoders. The fix is a field action on the latent,
    ``field_action(FieldType(gspace, [G.regular_representation] * m))``.

    The module holds the encoder and head as submodules (so ``.to()``,
    ``.train()``, ``.parameters()`` reach them) and adds no parameters of its own.

    Args:
        encoder (nn.Module): :math:`E`, maps ``x`` to the latent ``(B, latent.size, ...)``.
        head (nn.Module): :math:`D`, maps the latent to the output.
        in_action: :math:`\rho_X`, an action on inputs (:mod:`escnn_soft.actions`) or a callable ``(x, g) -> x'``.
        latent: :math:`\rho_Z`, a :class:`~escnn_soft.latent.RegularLatent`, a
            :class:`~escnn_soft.actions.FieldAction` for feature-map latents, or any
            :class:`~escnn_soft.actions.GroupAction`; it fixes the group.
        task_loss: :math:`\ell(\text{output}, \text{target})`, e.g. ``nn.CrossEntropyLoss()``.
        out_action: :math:`\rho_Y`; ``None`` means the targets are invariant.
        lam (float or 0-dim tensor): :math:`\lambda \geq 0`, the weight of the equivariance term.
        shifted_weight (float or 0-dim tensor): :math:`w \geq 0`, the weight of the shifted
            task term (1 in the paper).
        relative (bool): measure the equivariance term relative to :math:`\lVert E(x) \rVert^2`.
        task_weight (float or 0-dim tensor): :math:`a \geq 0`, the weight of the plain task term (1).
        input_task_weight (float or 0-dim tensor): :math:`b \geq 0`, the weight of the task
            term of the transformed input, :math:`\ell(D(E(\rho_X(g) x)), \rho_Y(g) y)`
            (0; the paper's MedMNIST3D and SMOKE code use :math:`a = b = 0.5`).
        pair_fraction (float): :math:`\beta \in (0, 1]`, the fraction of the batch the
            second encoder pass runs on (1: all of it).
        fused (bool): run both encoder passes as one, on the concatenated batch.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from escnn import gspaces, nn as enn
        >>> from escnn_soft import field_action, regular_latent
        >>> r2 = gspaces.rot2dOnR2(4)
        >>> encoder = nn.Sequential(nn.Conv2d(1, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        >>> loss_fn = SoftEquivarianceLoss(encoder, nn.Linear(8, 10),
        ...     in_action=field_action(enn.FieldType(r2, [r2.trivial_repr])),
        ...     latent=regular_latent(r2.fibergroup, 8), task_loss=nn.CrossEntropyLoss(), lam=1.0)
        >>> out = loss_fn(torch.randn(5, 1, 9, 9), torch.randint(10, (5,)))
        >>> out.total.backward()
        >>> loss_fn.lam = torch.tensor(0.5)      # e.g. from a schedule
    """

    lam = _WeightAttribute(
        r""":math:`\lambda`, the weight of the equivariance term (a float or a 0-dim tensor).""")
    shifted_weight = _WeightAttribute(
        r""":math:`w`, the weight of the shifted task term (a float or a 0-dim tensor).""")
    task_weight = _WeightAttribute(
        r""":math:`a`, the weight of the plain task term (a float or a 0-dim tensor).""")
    input_task_weight = _WeightAttribute(
        r""":math:`b`, the weight of the transformed input's task term (a float or a 0-dim tensor).""")

    def __init__(
        self,
        encoder: nn.Module,
        head: nn.Module,
        *,
        in_action: ActionLike,
        latent: GroupAction,
        task_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        out_action: Optional[ActionLike] = None,
        lam: Weight = 1.0,
        shifted_weight: Weight = 1.0,
        relative: bool = False,
        task_weight: Weight = 1.0,
        input_task_weight: Weight = 0.0,
        pair_fraction: float = 1.0,
        fused: bool = False,
    ):
        super().__init__()
        self._weight_versions: Dict[str, Optional[int]] = {}
        if not isinstance(encoder, nn.Module) or not isinstance(head, nn.Module):
            raise TypeError("encoder and head must be torch.nn.Modules")
        if not isinstance(latent, GroupAction):
            raise TypeError(
                f"latent must be a GroupAction that fixes the group, e.g. regular_latent(G, dim); got {type(latent).__name__}"
            )
        for name, action in (("in_action", in_action), ("out_action", out_action)):
            if action is None and name == "out_action":
                continue
            if not callable(action):
                raise TypeError(f"{name} must be an action (x, g) -> x', got {type(action).__name__}")
            if isinstance(action, GroupAction) and action.group is not latent.group:
                raise ValueError(
                    f"{name} acts with {action.group.name} but the latent with {latent.group.name}: "
                    f"all actions must use the same group"
                )
        if not callable(task_loss):
            raise TypeError("task_loss must be a callable (output, target) -> scalar, e.g. nn.CrossEntropyLoss()")
        for name, flag in (("relative", relative), ("fused", fused)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        if fused and isinstance(encoder, LayerEncoder):
            raise ValueError("fused=True needs an explicit encoder and head: the head of from_layer runs the model on "
                             "the encoder's last input, which would be the fused batch. Pass "
                             "SoftEquivarianceLoss(encoder, head, ..., fused=True), or leave fused=False")
        self.encoder = encoder
        self.head = head
        self.in_action = in_action
        self.latent = latent
        self.out_action = out_action
        self.task_loss = task_loss
        self.lam = lam
        self.shifted_weight = shifted_weight
        self.task_weight = task_weight
        self.input_task_weight = input_task_weight
        self.relative: bool = relative
        self.pair_fraction = pair_fraction
        self.fused: bool = fused
        self._grid_checked = False

    @classmethod
    def from_layer(
        cls,
        model: nn.Module,
        latent_layer: str,
        **kwargs,
    ) -> "SoftEquivarianceLoss":
        r"""Attach the loss to a single model whose latent is the output of a named layer.

        The model is split into ``LayerEncoder(model, latent_layer)``, the model up to
        the layer, and its :class:`LayerHead`, the model after it with the layer's
        output replaced by the given latent; the loss then runs as for any encoder–head
        pair, and ``.parameters()`` yields the model's parameters once.

        The layer must be a *cut point*: everything the output depends on passes
        through it, once. A skip connection around the layer (e.g.
        ``h = stem(x); h = h + layer(h)``) or a second call of the layer raises a
        ``ValueError``; split such a model by hand into an encoder and a head and pass
        them to :class:`SoftEquivarianceLoss`. A skip connection *inside* the layer is
        fine.

        The head re-runs the modules before the layer (in eval mode, output
        discarded), so every call of :math:`D` also costs their forward pass; an
        explicit encoder and head avoid that.

        Args:
            model (nn.Module): the whole network.
            latent_layer (str): the name of the layer, as in ``model.named_modules()``.
            **kwargs: the keyword arguments of :class:`SoftEquivarianceLoss`.
        """
        encoder = LayerEncoder(model, latent_layer)
        return cls(encoder, LayerHead(encoder), **kwargs)

    @property
    def latent_layer(self) -> Optional[str]:
        r"""The name of the latent layer for a loss built by :meth:`from_layer`, else ``None``."""
        return self.encoder.layer if isinstance(self.encoder, LayerEncoder) else None

    @property
    def group(self) -> GroupTable:
        r"""The group of the latent representation."""
        return self.latent.group

    @property
    def pair_fraction(self) -> float:
        r""":math:`\beta \in (0, 1]`, the fraction of the batch the second encoder pass runs on."""
        return self._pair_fraction

    @pair_fraction.setter
    def pair_fraction(self, value: float) -> None:
        hint = ("pair_fraction must be a number in (0, 1], the fraction of the batch that the second encoder pass "
                "runs on")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{hint}, got {type(value).__name__} {value!r}")
        if not 0 < value <= 1:
            raise ValueError(f"{hint}, got {value!r}")
        self._pair_fraction = float(value)

    def forward(self, x: Union[torch.Tensor, GeometricTensor], y: Any, g: Optional[torch.Tensor] = None,
                x_g: Optional[Union[torch.Tensor, GeometricTensor]] = None, *,
                generator: Optional[torch.Generator] = None) -> SoftLoss:
        r"""The loss of a batch.

        Args:
            x (torch.Tensor or GeometricTensor): the inputs ``(B, ...)``, :math:`B \geq 1`.
            y: the targets (a tensor with ``B`` rows, or anything ``task_loss`` takes).
            g (torch.Tensor, optional): the element indices ``(B,)``; drawn uniformly if omitted.
            x_g (torch.Tensor or GeometricTensor, optional): :math:`\rho_X(g) x`, already
                transformed (needs ``g``).
            generator (torch.Generator, optional): the random numbers of this call, on the
                batch's device: ``g`` when omitted, and the subset of ``pair_fraction``.
        """
        x = self._plain_input(x, "x")
        B = x.shape[0]
        if B == 0:
            raise ValueError("x is an empty batch (0 samples): the loss needs at least one sample; skip empty "
                             "batches (e.g. DataLoader(..., drop_last=True) when the data set can leave one)")
        if isinstance(y, torch.Tensor) and (y.dim() == 0 or y.shape[0] != B):
            raise ValueError(f"x has {B} samples but y has shape {tuple(y.shape)}")
        if x_g is not None:
            if g is None:
                raise ValueError("x_g is the input transformed by the elements g: pass them too, loss_fn(x, y, g=g, x_g=x_g)")
            if isinstance(x_g, GeometricTensor):
                x_g = self._plain_input(x_g, "x_g")
            if not isinstance(x_g, torch.Tensor) or x_g.shape != x.shape:
                shape = tuple(x_g.shape) if isinstance(x_g, torch.Tensor) else type(x_g).__name__
                raise ValueError(f"x_g must be a tensor of the shape of x, {tuple(x.shape)}; got {shape}")
        if generator is not None:
            if torch.compiler.is_compiling():
                raise ValueError("generator= cannot be traced by torch.compile: inside a compiled call leave it out "
                                 "(g and the subset of pair_fraction then come from torch's default generator), or "
                                 "draw g outside and pass g=")
            if not isinstance(generator, torch.Generator):
                raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
            if (generator.device.type, generator.device.index or 0) != (x.device.type, x.device.index or 0):
                raise ValueError(f"generator must be on the batch's device, {x.device}; got one on {generator.device}")
        if g is None:
            g = self.group.sample(B, device=x.device, generator=generator)
        else:
            self.group.check_indices(g, B)
            g = g.to(device=x.device, dtype=torch.long)
        if not torch.compiler.is_compiling():
            self._recheck_weights()

        equivariant, shifted, input_task = _active(self._lam), _active(self._shifted_weight), _active(self._input_task_weight)
        second = equivariant or input_task                      # the second encoder pass runs
        pairs = self._draw_pairs(B, x.device, generator) if second else None  # None: on all B samples
        if second and self.fused:
            both = self._encode(torch.cat([x, self._transformed(x, g, x_g, pairs)]))
            z, z_g = both[:B], both[B:]
        else:
            z = self._encode(x)
        if not self._grid_checked and not torch.compiler.is_compiling():
            self._grid_checked = True
            self._warn_if_grid_is_fixed(z)
        output = self._decode(z)
        task = self.task_loss(output, y)
        shifted_term = equivariance_term = input_task_term = task.new_zeros(())
        if equivariant or shifted or input_task:
            rz = self.latent._act(z, g)
            y_g = y if self.out_action is None or not (shifted or input_task) else self._act(self.out_action, y, g)
            if pairs is not None and shifted:  # before the second pass gives a from_layer head an input of k rows
                shifted_term = self.task_loss(self._decode(rz), y_g)
            if second:
                # the second pass: encode rho_X(g) x (for the equivariance and transformed-input terms)
                if not self.fused:
                    z_g = self._encode(self._transformed(x, g, x_g, pairs))
                if equivariant:
                    z_s, rz_s = (z, rz) if pairs is None else (z[pairs], rz[pairs])
                    equivariance_term = self._equivariance(z_g, rz_s, z_s)
                if input_task:
                    input_task_term = self.task_loss(self._decode(z_g), y_g if pairs is None else self._rows(y_g, pairs))
            if pairs is None and shifted:  # decode rho_Z(g) E(x)
                shifted_term = self.task_loss(self._decode(rz), y_g)
        total = (self._task_weight * task + self._input_task_weight * input_task_term
                 + self._shifted_weight * shifted_term + self._lam * equivariance_term)
        return SoftLoss(total=total, task=task, shifted=shifted_term, equivariance=equivariance_term, output=output,
                        latent=z, g=g, input_task=input_task_term, pairs=pairs)

    def _plain_input(self, x: Any, name: str) -> torch.Tensor:
        r"""``x`` as a plain batched tensor; a ``GeometricTensor`` must have the encoder's type if
        the encoder is an escnn module."""
        if isinstance(x, GeometricTensor):
            if isinstance(self.encoder, EquivariantModule) and x.type != self.encoder.in_type:
                raise ValueError(f"{name} has field type {x.type} but the encoder takes {self.encoder.in_type}")
            x = x.tensor
        if not isinstance(x, torch.Tensor) or x.dim() < 1:
            raise TypeError(f"{name} must be a batched torch.Tensor (B, ...) or an escnn GeometricTensor, "
                            f"got {type(x).__name__}")
        return x

    def _recheck_weights(self) -> None:
        r"""Check again every tensor weight changed in place since it was checked (its version
        counter moved); the version counter lives on the host, so this waits for no device."""
        for name, version in self._weight_versions.items():
            value = getattr(self, f"_{name}")
            if isinstance(value, torch.Tensor) and (value.requires_grad or _version(value) != version):
                try:
                    _weight(name, value)
                except (TypeError, ValueError) as err:
                    raise type(err)(f"{err}; it was changed in place after it was assigned (e.g. "
                                    f"loss_fn.{name}.fill_(...)): assign a valid value, loss_fn.{name} = ...") from None
                self._weight_versions[name] = _version(value)

    def _draw_pairs(self, B: int, device: torch.device, generator: Optional[torch.Generator]) -> Optional[torch.Tensor]:
        r"""The samples of the second pass: ``None`` (all of them) or :math:`\lceil \beta B \rceil`
        indices drawn without replacement."""
        k = min(B, math.ceil(round(self._pair_fraction * B, 9)))  # rounded: 0.1 * 30 is 3, not 3.0000000000000004
        if k == B:
            return None
        return torch.randperm(B, device=device, generator=generator)[:k]

    @staticmethod
    def _rows(value: Any, rows: torch.Tensor) -> Any:
        r"""The given rows of a batched tensor (targets of the subset)."""
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"with pair_fraction < 1 and input_task_weight > 0 the targets of the subset are needed: y "
                            f"must be a tensor with one row per sample, got {type(value).__name__}")
        return value[rows]

    @staticmethod
    def _act(action: ActionLike, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        r"""``action(x, g)`` for indices already checked: a :class:`GroupAction` skips its check."""
        return action._act(x, g) if isinstance(action, GroupAction) else action(x, g)

    def _transformed(self, x: torch.Tensor, g: torch.Tensor, x_g: Optional[torch.Tensor],
                     pairs: Optional[torch.Tensor]) -> torch.Tensor:
        r""":math:`\rho_X(g) x` on the samples of the second pass."""
        if x_g is not None:
            return x_g if pairs is None else x_g[pairs]
        return self._act(self.in_action, x, g) if pairs is None else self._act(self.in_action, x[pairs], g[pairs])

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`E(x)` as a plain tensor of the latent's size."""
        if isinstance(self.encoder, EquivariantModule):
            z = self.encoder(GeometricTensor(x, self.encoder.in_type))
        else:
            z = self.encoder(x)
        z = _tensor(z, "encoder", self.latent.size)
        if z.dim() < 2 or z.shape[0] != x.shape[0] or z.shape[1] != self.latent.size:
            raise ValueError(
                f"the encoder's latent has shape {tuple(z.shape)} for {x.shape[0]} samples but {self.latent!r} needs "
                f"(B, {self.latent.size}, ...)"
            )
        return z

    def _decode(self, z: torch.Tensor) -> Any:
        r""":math:`D(z)` on a copy of ``z``, so that a head that changes its input in place
        leaves ``z`` as it is."""
        z = z.clone()
        out = self.head(GeometricTensor(z, self.head.in_type) if isinstance(self.head, EquivariantModule) else z)
        return out.tensor if isinstance(out, GeometricTensor) else out

    def _equivariance(self, z_g: torch.Tensor, rz: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        r"""The equivariance term: the MSE, or with ``relative`` the ratio of the batch sums
        (equal to the ratio of the batch means) of squared norms."""
        if not self.relative:
            return F.mse_loss(z_g, rz)
        scale = z.pow(2).sum()
        return (z_g - rz).pow(2).sum() / scale.clamp_min(torch.finfo(scale.dtype).tiny)

    def _warn_if_grid_is_fixed(self, z: torch.Tensor) -> None:
        r"""Warn if the input's grid moves but the latent's, a feature map, does not."""
        if z.dim() <= 2 or z.shape[2:].numel() == 1 or not _moves_grid(self.in_action) or _moves_grid(self.latent):
            return
        warnings.warn(
            f"the input action {self.in_action!r} moves grid points but the latent action {self.latent!r} does not, "
            f"while the latent is a feature map of shape {tuple(z.shape)}: the grid of an equivariant encoder's "
            f"latent moves with the input, so the equivariance term would penalise exactly equivariant encoders. "
            f"Use a field action on the latent's gspace, latent=field_action(FieldType(gspace, "
            f"[G.regular_representation] * m)) with m = {z.shape[1]} / |G|, or pool the grid away before the latent.",
            UserWarning,
            stacklevel=2,
        )

    def extra_repr(self) -> str:
        return (f"latent={self.latent!r}, lam={float(self.lam)}, shifted_weight={float(self.shifted_weight)}, "
                f"task_weight={float(self.task_weight)}, input_task_weight={float(self.input_task_weight)}, "
                f"relative={self.relative}, pair_fraction={self.pair_fraction}, fused={self.fused}")
