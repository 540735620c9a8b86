r"""The SMOKE models: one-step predictors of 2D velocity fields, rolled out autoregressively.

An input is the last :math:`F = 10` frames of a velocity field, stacked frame-major into
:math:`2F` channels (frame :math:`t`'s :math:`u_x, u_y` in channels :math:`2t, 2t + 1`);
a one-step predictor maps it to the next frame, :math:`2` channels on the same grid.
:class:`SmokeRollout` predicts :math:`L` frames by feeding each prediction back,

.. math::
    \hat y_1 = f(x_{1:F}), \qquad
    \hat y_{t+1} = f(x_{t+1:F}, \hat y_1, \dots, \hat y_t),

and returns them stacked the same way, :math:`2L` channels: every model of the task is
rolled out by this one code.

* :class:`SmokeCNN` — the reference ConvNet with ``num_layers=5``: four blocks of a
  :math:`3 \times 3` convolution, :class:`~torch.nn.BatchNorm2d` and ReLU (:math:`2F \to h`,
  then :math:`h \to h`), then a plain :math:`3 \times 3` convolution :math:`h \to 2` (no batch
  norm, no ReLU: a ReLU would cut the velocities). Its encoder is the four blocks, so its
  latent is the :math:`h \times H \times W` output of the fourth block. At :math:`h = 92` it has
  247,850 parameters.
* :class:`SmokeSteerableCNN` — the same depth on escnn's :func:`~escnn.gspaces.rot2dOnR2`
  with :math:`N = 4`: the input is :math:`F` vector fields (``irrep(1)``), each hidden layer
  ``fields`` regular fields of :math:`C_4` with :class:`~escnn.nn.InnerBatchNorm` and ReLU,
  the output one vector field. Strictly :math:`C_4`-equivariant. With ``rpp=True`` every
  convolution is a :class:`~escnn_soft.experiments.models.ResidualPathwayConv` (the
  equivariant filter plus an unconstrained one) followed, as in the reference RPP blocks, by a
  plain :class:`~torch.nn.BatchNorm2d` and ReLU: a residual pathway network, only softly
  equivariant.
"""

from __future__ import annotations

from typing import Optional

import torch
from escnn import gspaces
from escnn.nn import FieldType, GeometricTensor, InnerBatchNorm, R2Conv, ReLU, SequentialModule
from torch import nn

from .rpp import ResidualPathwayConv

__all__ = [
    "SMOKE_IN_FRAMES",
    "SMOKE_BLOCKS",
    "SmokeRollout",
    "SmokeCNN",
    "SmokeSteerableCNN",
    "smoke_gspace",
    "smoke_cnn",
    "smoke_scnn",
    "smoke_rpp",
]

SMOKE_IN_FRAMES: int = 10
r"""The frames of an input."""

SMOKE_BLOCKS: int = 4
r"""The blocks of every encoder (the reference's ``num_layers=5``: four blocks and the output layer)."""


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def smoke_gspace() -> gspaces.GSpace2D:
    r"""The rotations by multiples of :math:`90^\circ` of the plane, escnn's ``rot2dOnR2(4)``."""
    return gspaces.rot2dOnR2(4)


class _TensorModule(nn.Module):
    r"""An escnn module on plain tensors of its input type (so encoders and latents are tensors)."""

    def __init__(self, module: nn.Module, in_type: FieldType):
        super().__init__()
        self.module = module
        self.in_type = in_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(GeometricTensor(x, self.in_type)).tensor


class SmokeRollout(nn.Module):
    r"""A one-step predictor rolled out autoregressively (see the module docstring).

    Args:
        step (nn.Module): maps :math:`(B, 2F, H, W)` to the next frame :math:`(B, 2, H, W)`;
            its submodules ``encoder`` and ``head`` are the latent's cut.
        steps (int): the frames :meth:`forward` predicts by default.
    """

    def __init__(self, step: nn.Module, steps: int = 20):
        super().__init__()
        _check_positive("steps", steps)
        self.step = step
        self.steps = steps

    def forward(self, x: torch.Tensor, steps: Optional[int] = None,
                first: Optional[torch.Tensor] = None) -> torch.Tensor:
        r"""The next ``steps`` frames (default :attr:`steps`) after the input ``x``, ``(B, 2·steps, H, W)``.

        ``first``, if given, is taken as the first predicted frame instead of computing
        ``step(x)`` again (a training loss that has it already).
        """
        steps = self.steps if steps is None else steps
        _check_positive("steps", steps)
        if x.dim() != 4 or x.shape[1] % 2:
            raise ValueError(f"expected frames stacked as (B, 2F, H, W), got shape {tuple(x.shape)}")
        frames = []
        for t in range(steps):
            y = first if t == 0 and first is not None else self.step(x)
            frames.append(y)
            if t + 1 < steps:
                x = torch.cat([x[:, 2:], y], dim=1)
        return torch.cat(frames, dim=1)


class SmokeCNN(nn.Module):
    r"""The reference one-step ConvNet (see the module docstring).

    Args:
        hidden (int): :math:`h`, the channels of every block.
        in_frames (int): :math:`F`.

    Example:
        >>> sum(p.numel() for p in SmokeCNN(92).parameters())
        247850
    """

    def __init__(self, hidden: int, in_frames: int = SMOKE_IN_FRAMES):
        super().__init__()
        _check_positive("hidden", hidden)
        _check_positive("in_frames", in_frames)
        widths = [2 * in_frames] + SMOKE_BLOCKS * [hidden]
        self.encoder = nn.Sequential(*(
            nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU())
            for a, b in zip(widths[:-1], widths[1:])))
        self.head = nn.Conv2d(hidden, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


class SmokeSteerableCNN(nn.Module):
    r"""The :math:`C_4`-steerable one-step predictor, or its residual pathway version (see the
    module docstring).

    Args:
        fields (int): the regular fields of every hidden layer (:math:`4 \times` as many channels).
        in_frames (int): :math:`F`, the input's vector fields.
        rpp (bool): residual pathway convolutions and plain batch norms.

    Attributes:
        in_type, latent_type, out_type (FieldType): the types of the input, of the encoder's output
            and of the output.
    """

    def __init__(self, fields: int, in_frames: int = SMOKE_IN_FRAMES, rpp: bool = False):
        super().__init__()
        _check_positive("fields", fields)
        _check_positive("in_frames", in_frames)
        gspace = smoke_gspace()
        self.in_type = FieldType(gspace, in_frames * [gspace.irrep(1)])
        self.latent_type = FieldType(gspace, fields * [gspace.regular_repr])
        self.out_type = FieldType(gspace, [gspace.irrep(1)])
        conv = ResidualPathwayConv if rpp else R2Conv
        blocks = []
        types = [self.in_type] + SMOKE_BLOCKS * [self.latent_type]
        for a, b in zip(types[:-1], types[1:]):
            if rpp:
                blocks.append(nn.Sequential(_TensorModule(conv(a, b, 3, padding=1), a), nn.BatchNorm2d(b.size),
                                            nn.ReLU()))
            else:
                blocks.append(_TensorModule(SequentialModule(conv(a, b, 3, padding=1), InnerBatchNorm(b), ReLU(b)), a))
        self.encoder = nn.Sequential(*blocks)
        self.head = _TensorModule(conv(self.latent_type, self.out_type, 3, padding=1), self.latent_type)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def smoke_cnn(hidden: int, steps: int = 20) -> SmokeRollout:
    r"""The rolled-out :class:`SmokeCNN` with ``hidden`` channels."""
    return SmokeRollout(SmokeCNN(hidden), steps)


def smoke_scnn(fields: int, steps: int = 20) -> SmokeRollout:
    r"""The rolled-out :class:`SmokeSteerableCNN` with ``fields`` regular fields per layer."""
    return SmokeRollout(SmokeSteerableCNN(fields), steps)


def smoke_rpp(fields: int, steps: int = 20) -> SmokeRollout:
    r"""The rolled-out residual pathway :class:`SmokeSteerableCNN` with ``fields`` regular fields per layer."""
    return SmokeRollout(SmokeSteerableCNN(fields, rpp=True), steps)
