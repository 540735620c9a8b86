r"""One run across processes: data-parallel training through the one runner.

Launched by ``torchrun`` (or a cluster job with several tasks), every process runs
``escnn-soft compare``; with ``WORLD_SIZE`` above 1 the comparison trains each of its
runs with all processes together, each through :func:`~escnn_soft.experiments.runner.train_run`:

* every process builds the model from the run's seed and wraps the model's **whole
  loss** (:attr:`~escnn_soft.experiments.task.TrainingSetup.loss`, both passes of a soft
  model) in one :class:`~torch.nn.parallel.DistributedDataParallel`, so each gradient is
  averaged over the processes once (see :mod:`escnn_soft.distributed`);
* every process draws the same batches from the run's generator and makes the whole
  batch (augmentation included), then trains on its contiguous share of it, so the
  random streams of the processes never part and the union of the shares is the batch
  of one process. Losses that draw from the generator themselves (the soft models'
  elements :math:`g`) draw per share: the processes stay in step, but those elements
  differ from a one-process run's;
* with ``sync_bn``, batch norms take the statistics of the whole batch
  (:func:`~escnn_soft.distributed.convert_sync_batchnorm`): then a model whose loss draws
  nothing (``cnn``, ``cnn-aug``, ``scnn``) trains as in one process, up to rounding.
  After every step the buffers (running statistics) of process 0 are copied to the
  others, so that every process evaluates the same model and early stopping stops
  them together;
* process 0 keeps the run's directory (checkpoints, ``result.json``, ``model.pt``); the
  others write theirs to ``.rank<k>`` inside it, start from process 0's checkpoint when
  the run resumes, and delete it at the end.

Batches must split evenly: the batch size, and the last batch of an epoch, must be
multiples of the number of processes
(:func:`~escnn_soft.experiments.options.check_split`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..distributed import convert_sync_batchnorm
from .options import World, check_split, world
from .results import load_result
from .runner import train_run as run

__all__ = ["init", "ShardedData", "DistributedTask", "train_run"]


def init(device: Optional[str]) -> Tuple[World, str]:
    r"""Join the process group (``nccl`` on CUDA, ``gloo`` otherwise, from the ``torchrun``
    variables) unless joined already; returns the world and this process's device (``cuda``
    becomes ``cuda:<local_rank>``)."""
    here = world()
    use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if use_cuda:
        device = f"cuda:{here.local_rank}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return here, device or "cpu"


class ShardedData:
    r"""A :class:`~escnn_soft.experiments.task.TaskData` whose training batches are this
    process's contiguous share of the batches of ``data``; everything else is ``data``'s."""

    def __init__(self, data: Any, here: World):
        self._data, self._world = data, here

    def __getattr__(self, name: str) -> Any:
        return getattr(self._data, name)

    def train_batch(self, index: torch.Tensor, *, augment: bool, generator: torch.Generator):
        whole = self._data.train_batch(index, augment=augment, generator=generator)
        n = index.numel()
        share = slice(self._world.rank * n // self._world.size, (self._world.rank + 1) * n // self._world.size)
        cut = lambda v: v[share] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == n else v  # noqa: E731
        x, y, *rest = whole
        return (cut(x), cut(y), *({k: cut(v) for k, v in rest[0].items()} for _ in rest))


class _Loss(nn.Module):
    r"""A training setup's loss as a module holding its model, so that DDP wraps the whole loss."""

    def __init__(self, model: nn.Module, loss: Any):
        super().__init__()
        self.model = model
        self._loss = loss

    def forward(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, **extras: Any):
        return self._loss(x, y, generator, **extras)


class DistributedTask:
    r"""A :class:`~escnn_soft.experiments.task.Task` whose :meth:`build` returns the setup for
    data-parallel training on ``device`` (see the module documentation); everything else is
    ``task``'s."""

    def __init__(self, task: Any, device: Union[str, torch.device], sync_bn: bool = False):
        self._task, self._device, self._sync_bn = task, torch.device(device), sync_bn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def build(self, model: str, group: str, hyperparameters: Mapping[str, Any]):
        setup = self._task.build(model, group, hyperparameters)
        network = setup.model.to(self._device)
        if self._sync_bn:
            network = convert_sync_batchnorm(network)
        ddp = DistributedDataParallel(_Loss(network, setup.loss), broadcast_buffers=False,
                                      device_ids=[self._device.index] if self._device.type == "cuda" else None)
        on_step = setup.on_step

        def step(count: int, total: int) -> Optional[Dict[str, Any]]:
            for buffer in network.buffers():
                dist.broadcast(buffer, 0)
            return None if on_step is None else on_step(count, total)

        return replace(setup, model=network, loss=ddp, on_step=step)


def train_run(task: Any, data: Any, config: Any, run_dir: Union[str, os.PathLike], *, device: str,
              sync_bn: bool = False, **kwargs: Any) -> Dict[str, Any]:
    r""":func:`~escnn_soft.experiments.runner.train_run` of one run by all processes of the group
    (see the module documentation); every process returns the result of process 0's files.

    Raises:
        ValueError: from :func:`~escnn_soft.experiments.options.check_split`, if the batches do not split evenly.
    """
    here = world()
    problem = check_split(config.batch_size, config.train_size, here.size)
    if problem is not None:
        raise ValueError(problem)
    run_dir = Path(run_dir)
    own = run_dir if here.main else run_dir / f".rank{here.rank}"
    dist.barrier()
    if not here.main:
        shutil.rmtree(own, ignore_errors=True)
        own.mkdir(parents=True)
        if (run_dir / "checkpoint.pt").is_file():
            shutil.copyfile(run_dir / "checkpoint.pt", own / "checkpoint.pt")
    result = run(DistributedTask(task, device, sync_bn), ShardedData(data, here), config, own, device=device,
                 **({**kwargs, "progress": False} if not here.main else kwargs))
    dist.barrier()
    if not here.main:
        shutil.rmtree(own, ignore_errors=True)
        result = load_result(run_dir)
    return result
