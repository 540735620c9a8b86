r"""The soft loss under :class:`~torch.nn.parallel.DistributedDataParallel`, and batch statistics across processes.

:class:`~escnn_soft.SoftEquivarianceLoss` runs the encoder twice (and the head up to
twice) before one backward pass. The pattern that gives the gradients of one process
on the union of the shards is to wrap the **whole loss module** in DDP, so that one DDP
forward computes both passes::

    loss_fn = DDP(SoftEquivarianceLoss(encoder, head, ...))
    out = loss_fn(x_shard, y_shard, g=g_shard)
    out.total.backward()                 # each parameter's gradient is reduced once

Every parameter's gradient is summed over both passes by autograd before DDP's hook on
it fires, so it is averaged over the processes exactly once: the update is that of one
process on the mean of the shard losses, which for equal shards and losses that are
batch means is the loss of the union batch.

Batch normalisation computes its statistics per process (per shard, and per pass).
:func:`convert_sync_batchnorm` replaces every ``BatchNorm*d`` by :class:`SyncBatchNorm`,
whose statistics in training are those of the union of the shards (still per pass), on
any device, the CPU with the gloo backend included (by all-reduces of the per-channel
sums). The documentation page *Scaling* lists what was checked, and what breaks.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["SyncBatchNorm", "convert_sync_batchnorm"]


class _AllReduceSum(torch.autograd.Function):
    r"""The sum over the processes of a group, differentiable: the gradient of every process's
    input is the sum of the gradients of the output over the processes."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: dist.ProcessGroup) -> torch.Tensor:
        ctx.group = group
        tensor = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(tensor, group=group)
        return tensor

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[torch.Tensor, None]:
        return _AllReduceSum.apply(grad, ctx.group), None


class SyncBatchNorm(_BatchNorm):
    r"""Batch normalisation with the statistics of the union of the processes' batches, on any device.

    In training, with a process group initialised, the mean and the biased variance
    over the batch, the spatial positions and all processes,

    .. math::
        \mu = \frac{1}{N} \sum_{r} \sum_{i \in \text{shard}_r} x_i, \qquad
        \sigma^2 = \frac{1}{N} \sum_{r} \sum_{i \in \text{shard}_r} (x_i - \mu)^2,

    are computed by two differentiable all-reduces of per-channel sums, so gradients
    flow to every process's inputs as they do through one process's batch norm on the
    union batch. The running statistics take the unbiased variance, as
    :class:`~torch.nn.BatchNorm2d` does. Outside training, or without a process group,
    it is plain batch norm. Its parameters and buffers are those of the batch norm it
    replaces, so checkpoints load either way. Build it with :func:`convert_sync_batchnorm`.

    It is not a :class:`torch.nn.SyncBatchNorm`, whose statistics need a GPU (DDP
    refuses that class on the CPU); on GPUs the two compute the same statistics.

    Args:
        num_features (int): the channels :math:`C` of inputs ``(B, C, ...)``.
        eps, momentum, affine, track_running_stats: as :class:`~torch.nn.BatchNorm2d`.
        process_group (ProcessGroup, optional): the processes to synchronise; the whole world by default.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Optional[dist.ProcessGroup] = None, device=None,
                 dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an input of shape (B, C, ...), got {input.dim()}D input")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or not (dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        self._check_input_dim(input)
        group = self.process_group or dist.group.WORLD
        dims = [0, *range(2, input.dim())]
        shape = (1, -1) + (1,) * (input.dim() - 2)
        count = input.new_full((1,), input.numel() // input.shape[1])
        sums = _AllReduceSum.apply(torch.cat([input.sum(dims), count]), group)
        total = sums[-1]
        mean = sums[:-1] / total
        centered = input - mean.view(shape)
        var = _AllReduceSum.apply(centered.pow(2).sum(dims), group) / total
        out = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * (total / (total - 1).clamp_min(1))
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
        return out


def convert_sync_batchnorm(module: nn.Module, process_group: Optional[dist.ProcessGroup] = None) -> nn.Module:
    r"""``module`` with every ``BatchNorm1d``, ``2d`` and ``3d`` (also those inside escnn's
    :class:`~escnn.nn.InnerBatchNorm`) replaced by a :class:`SyncBatchNorm` holding its
    parameters and buffers; ``module`` itself is returned when it has children, as
    :meth:`torch.nn.SyncBatchNorm.convert_sync_batchnorm` does. Call it before wrapping
    the model in DDP. Batch norms of other kinds (e.g. escnn's ``IIDBatchNorm2d``) are
    left as they are.

    Args:
        module (nn.Module): the model (or a loss module holding it).
        process_group (ProcessGroup, optional): the processes to synchronise; the whole world by default.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"convert_sync_batchnorm takes a torch.nn.Module, got {type(module).__name__}")
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        synced = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats, process_group)
        if module.affine:
            synced.weight, synced.bias = module.weight, module.bias
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(synced, name, getattr(module, name))
        synced.train(module.training)
        return synced
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child, process_group))
    return module
