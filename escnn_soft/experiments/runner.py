r"""Resumable training runs: one task, one group, one model, one seed.

A comparison is a grid of runs. Each run trains with Adam on batches drawn on the
device (no ``DataLoader``), scores the validation set after every epoch and reports the
test scores at the epoch with the best validation score, a figure far more stable than the
last epoch's. The test set and the task's extra test sets
(:attr:`~escnn_soft.experiments.task.TaskData.extra_test`) are scored where a report can
read them: after every epoch that beats the best validation score so far (so at the best
epoch of every shorter budget too) and, for ``final_test_score``, on the model of the last
epoch. Scoring draws no random numbers, so it changes no trained weight. With ``patience``
(:attr:`RunConfig.patience`) a run stops early, after the first epoch :math:`e` with

.. math::
    e - e^\ast \geq \text{patience}, \qquad e^\ast = \text{the first epoch with the best validation score so far},

and the best-validation model is still the one tested. At the end it measures, on that
best model and a fixed batch of test inputs, the mean relative equivariance errors

.. math::
    \bar\epsilon = \frac{1}{|S|} \sum_{g \in S} \epsilon(g)

of the output (invariance of the logits when the targets are invariant) and, for
models with a latent representation :math:`\rho_Z`, of the encoder (see
:func:`~escnn_soft.equivariance_error`), over the non-identity elements :math:`S` of
:func:`equivariance_elements`: all of them for groups of order up to 64, or a fixed sample
(:attr:`RunConfig.equivariance_elements`). With :attr:`RunConfig.eval_size` the validation
and test sets are a fixed sample of that many (:func:`evaluation_subset`). A run of a
classification task (metric ``"accuracy"``) also records the majority-class rate of each test
set it is scored on (:func:`majority_rates`), the accuracy of always predicting the most
common class: the baseline its scores are read against.

A run **diverges** when the mean training loss of an epoch is not finite: it stops there
and its ``result.json`` records ``diverged_at_epoch`` and the history up to that epoch,
without scores. :func:`train_run` returns a diverged run as it is, like a finished one,
and trains it afresh only with ``retrain_diverged`` (the same seed diverges again unless
the code or settings change). Every ``result.json`` is strict JSON: a number that is not
finite (a NaN loss, say) is written as ``null``.

Each run trains with Adam at the learning rate ``"lr"`` of its hyperparameters, with the L2
penalty ``"weight_decay"`` (Adam's, default 0) where they have one, and with ``"lr_decay"``
the rate is multiplied by it after every epoch (:class:`torch.optim.lr_scheduler.StepLR`
with step 1, as the SMOKE reference code). A task may add its own stopping rule
(:attr:`~escnn_soft.experiments.task.TrainingSetup.stop`).

A run lives in its own directory, named by :meth:`RunConfig.name` from everything
that changes its result. After every epoch a checkpoint (model, optimiser, history,
best model so far, random states) replaces the previous one atomically; the finished
run writes ``result.json`` and ``model.pt`` the same way and drops the checkpoint. So
:func:`train_run` returns a finished run without training, continues an interrupted
one from its last finished epoch with the same random stream, and starts the others.
Every epoch of the history records the device it was trained on (a run resumed on
another device says so), and ``result.json`` the code it was finished with
(:func:`~escnn_soft.records.provenance`).

A run folder is trusted only if its ``result.json`` records the settings of its name
(:func:`finished_run`, :func:`find_runs`): a result copied into the folder of other settings,
a checkpoint of other settings and a file that cannot be read (empty, truncated, not JSON)
raise :class:`RunFolderError`, which names the file and what to do.

What a task provides is written down by :class:`Task`, :class:`TaskData` and
:class:`TrainingSetup`; the tasks themselves live in :mod:`escnn_soft.experiments.tasks`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from tqdm.auto import tqdm

from ..actions import ActionLike
from ..groups import GroupTable
from ..modes import eval_mode
from ..records import atomic_write, atomic_write_text, provenance
from ..testing import equivariance_error
from .results import (RunFolderError, best_epoch_index, find_runs, finished_run, is_diverged, load_result, run_name,
                      settings_differences, settings_digest, settings_key)
from .task import Task, TaskData, TrainingSetup, data_settings

__all__ = [
    "PROTOCOL_VERSION",
    "EQUIVARIANCE_ELEMENTS",
    "RunConfig",
    "RunFolderError",
    "train_run",
    "train_step",
    "train_one",
    "load_result",
    "finished_run",
    "find_runs",
    "predict",
    "evaluate",
    "evaluation_subset",
    "majority_rate",
    "majority_rates",
    "equivariance_elements",
    "mean_equivariance_error",
]

PROTOCOL_VERSION: int = 2
r"""Part of every run's key; bumped when the training protocol changes, so that old
results are not reused for new ones."""

EQUIVARIANCE_ELEMENTS: int = 63
r"""How many non-identity elements the equivariance errors are measured at by default
(:func:`equivariance_elements`): all of them for groups of order up to 64, such as
:math:`D_4 \times D_4`; a fixed sample of this many for larger groups."""

PathLike = Union[str, os.PathLike]

@dataclass(frozen=True)
class RunConfig:
    r"""Everything that changes the result of a run: its key.

    The device is left out on purpose: a run finished on one device is reused on
    another.

    ``patience`` (early stopping, see the module documentation; ``None``: train all
    ``epochs``), ``eval_size`` (the validation and test sets cut to a fixed sample of this
    many, :func:`evaluation_subset`; ``None``: whole) and ``equivariance_elements`` (the
    equivariance errors measured at a fixed sample of this many non-identity elements,
    :func:`equivariance_elements`; ``None``: the default, all of them for groups of order up
    to 64) are part of the key like every other setting, ``None`` included (:meth:`to_dict`
    records every field).

    Raises:
        ValueError: for a ``patience``, ``eval_size`` or ``equivariance_elements`` that is not
            a positive integer, and for hyperparameters that are not finite (``inf``, ``nan``).
    """

    task: str
    group: str
    model: str
    seed: int
    epochs: int
    train_size: int
    batch_size: int
    hyperparameters: Mapping[str, Any]
    data: str
    data_seed: int = 0
    protocol: int = PROTOCOL_VERSION
    patience: Optional[int] = None
    eval_size: Optional[int] = None
    equivariance_elements: Optional[int] = None

    def __post_init__(self) -> None:
        for field, unit in (("patience", "epochs"), ("eval_size", "samples"),
                            ("equivariance_elements", "group elements")):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{field} must be a positive number of {unit} or None, got {value!r}")
        infinite = [f"{k}={v}" for k, v in self.hyperparameters.items()
                    if isinstance(v, float) and not math.isfinite(v)]
        if infinite:
            raise ValueError(f"hyperparameters must be finite numbers, got {', '.join(infinite)}")

    def to_dict(self) -> Dict[str, Any]:
        r"""Every setting of the run, the hyperparameters sorted by name: what its key hashes."""
        d = asdict(self)
        d["hyperparameters"] = dict(sorted(self.hyperparameters.items()))
        return d

    def digest(self) -> str:
        r"""A short hash of :meth:`to_dict`."""
        return settings_digest(self.to_dict())

    def name(self) -> str:
        r"""The run's directory name: readable settings and :meth:`digest`."""
        return run_name(self.to_dict())


def _atomic_save(path: Path, obj: Any) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, batch_size: int = 500, *,
            progress: Optional[bool] = False, desc: str = "evaluation") -> torch.Tensor:
    r"""The outputs of ``model`` in eval mode on ``inputs``, computed in batches and concatenated.

    ``progress`` shows a bar over the batches (``None``: only on a terminal), titled ``desc``.
    """
    model.eval()
    starts = range(0, inputs.shape[0], batch_size)
    return torch.cat([model(inputs[start:start + batch_size])
                      for start in tqdm(starts, desc=desc, leave=False,
                                        disable=None if progress is None else not progress)])


def evaluate(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
             score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batch_size: int = 500, *,
             progress: Optional[bool] = False, desc: str = "evaluation") -> float:
    r"""The mean score of ``model`` in eval mode on ``(inputs, targets)``, in batches (:func:`predict`)."""
    return _mean_score(score, predict(model, inputs, batch_size, progress=progress, desc=desc), targets)


def _mean_score(score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], outputs: torch.Tensor,
                targets: torch.Tensor) -> float:
    return score(outputs, targets).sum(dtype=torch.float64).item() / targets.shape[0]


def _score_sets(task: Task, model: nn.Module, sets: Mapping[str, Tuple[torch.Tensor, torch.Tensor]],
                record: Dict[str, Any], batch_size: int, progress: Optional[bool]) -> None:
    r"""Score ``model`` on ``sets`` (``{name: (inputs, targets)}``) into ``record`` as an epoch
    records it: ``val_score``, ``test_score``, ``test_scores[name]`` for the extra sets, and
    ``metrics[name]`` for a task with :meth:`~escnn_soft.experiments.task.Task.metrics`."""
    for name, (x, y) in sets.items():
        outputs = predict(model, x, batch_size, progress=progress,
                          desc={"val": "validation", "test": "test"}.get(name, f"{name} test"))
        found = task.metrics(outputs, y)
        if found:
            record.setdefault("metrics", {})[name] = dict(found)
        value = _mean_score(task.score, outputs, y)
        if name in ("val", "test"):
            record[f"{name}_score"] = value
        else:
            record.setdefault("test_scores", {})[name] = value


def majority_rate(targets: torch.Tensor) -> float:
    r"""The fraction of ``targets`` in their most common class, :math:`\max_c |\{i : y_i = c\}| / N`:
    the accuracy of a classifier that always predicts that class. A target is a row of ``targets``
    (``(N,)`` class indices, or ``(N, ...)`` whole labels, each row one class).

    Example:
        >>> majority_rate(torch.tensor([2, 0, 2, 1]))
        0.5
    """
    counts = torch.unique(targets, dim=0, return_counts=True)[1]
    return counts.max().item() / targets.shape[0]


def majority_rates(task: Task, data: TaskData) -> Optional[Dict[str, float]]:
    r"""The :func:`majority_rate` of each test set of ``data``, as a run scores it, ``{"test": r, name: r,
    ...}`` with the extra test sets by name, for a classification task
    (:attr:`~escnn_soft.experiments.task.Task.metric` ``"accuracy"``); ``None`` for the others (regression
    tasks), whose runs record none.

    A run records those of the data it is scored on, after :func:`evaluation_subset` where it has an
    ``eval_size``.
    """
    if task.metric != "accuracy":
        return None
    return {name: majority_rate(y) for name, (_, y) in {"test": data.test, **data.extra_test}.items()}


def _seed(data_seed: int, what: str) -> int:
    r"""A seed for the fixed draw ``what`` of a run with ``data_seed``: the same in every run of that data seed."""
    return int(hashlib.sha256(f"{data_seed}:{what}".encode()).hexdigest()[:15], 16)


def _fixed_sample(n: int, size: int, seed: int) -> List[int]:
    r"""``size`` of ``range(n)`` drawn from ``seed``, in increasing order (all of them if ``size >= n``)."""
    if size >= n:
        return list(range(n))
    return sorted(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].tolist())


def equivariance_elements(group: GroupTable, count: Optional[int] = None, data_seed: int = 0) -> List[int]:
    r"""The non-identity elements of ``group`` the equivariance errors of a run are measured at.

    All of them when there are at most ``count`` (:data:`EQUIVARIANCE_ELEMENTS` when ``None``,
    so all for groups of order up to 64); otherwise a fixed sample of ``count`` of them, drawn
    from ``data_seed`` alone, so that every run of a comparison is measured at the same ones.

    Returns:
        the element indices of ``group``, in increasing order.

    Example:
        >>> from escnn.group import cyclic_group
        >>> from escnn_soft import group_table
        >>> equivariance_elements(group_table(cyclic_group(4)))
        [1, 2, 3]
        >>> len(equivariance_elements(group_table(cyclic_group(128)))), len(equivariance_elements(
        ...     group_table(cyclic_group(128)), 8))
        (63, 8)
    """
    others = [e for e in range(group.order) if e != group.identity]
    count = EQUIVARIANCE_ELEMENTS if count is None else count
    return [others[i] for i in _fixed_sample(len(others), count, _seed(data_seed, "equivariance elements"))]


def mean_equivariance_error(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, in_action: ActionLike,
                            out_action: Optional[ActionLike], group: GroupTable,
                            elements: Optional[Sequence[int]] = None) -> Tuple[float, List[float]]:
    r"""The equivariance error of ``f`` averaged over ``elements`` (``None``: every non-identity
    element), and per element."""
    if elements is None:
        elements = [e for e in range(group.order) if e != group.identity]
    errors = equivariance_error(f, x, in_action, out_action, group=group, elements=list(elements)).relative_mean
    per_element = [float(e) for e in errors.cpu()]
    return sum(per_element) / len(per_element), per_element


class _EvaluationSubset(TaskData):
    r"""A task's data with fixed samples of its evaluation sets (see :func:`evaluation_subset`);
    everything else, the task's own attributes included, is the data's."""

    def __init__(self, data: TaskData, size: int, data_seed: int):
        self.data = data
        for name in ("train_size", "group", "in_action", "out_action", "settings"):
            setattr(self, name, getattr(data, name))
        self.val = _cut(data, "val", size, _seed(data_seed, "evaluation subset val"))
        self.test = _cut(data, "test", size, _seed(data_seed, "evaluation subset test"))
        self.extra_test = {name: _cut(data, name, size, _seed(data_seed, "evaluation subset test"))
                           for name in data.extra_test}

    def __getattr__(self, name: str) -> Any:
        if "data" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["data"], name)

    def train_batch(self, index: torch.Tensor, *, augment: bool, generator: torch.Generator):
        return self.data.train_batch(index, augment=augment, generator=generator)


def _cut(data: TaskData, name: str, size: int, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    r"""The fixed sample of evaluation set ``name`` (``"val"``, ``"test"`` or a key of ``extra_test``);
    data with ``evaluation_length(name)`` and ``evaluation_sample(name, index)`` draw only those samples."""
    if hasattr(data, "evaluation_sample"):
        index = torch.tensor(_fixed_sample(data.evaluation_length(name), size, seed), dtype=torch.long)
        return data.evaluation_sample(name, index)
    x, y = data.val if name == "val" else data.test if name == "test" else data.extra_test[name]
    index = torch.tensor(_fixed_sample(x.shape[0], size, seed), dtype=torch.long, device=x.device)
    return x[index], y[index.to(y.device)]


def evaluation_subset(data: TaskData, size: int, data_seed: int = 0) -> TaskData:
    r"""``data`` with its validation set, its test set and each extra test set cut to a fixed
    sample of ``size`` samples (a set no larger is kept whole), for quick runs.

    The samples are drawn from ``data_seed`` alone, so every run of a comparison is scored on
    the same ones, and an extra test set of the test set's length keeps the test set's samples
    (e.g. ddmnist's upright pairs remain the test pairs, upright). Training is ``data``'s own.
    """
    return _EvaluationSubset(data, size, data_seed)


def _random_states(generator: torch.Generator, device: torch.device) -> Dict[str, Any]:
    states = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def _set_random_states(states: Mapping[str, Any], generator: torch.Generator, device: torch.device,
                       reseed: int) -> bool:
    r"""Restore the random states of a checkpoint; returns ``False`` when the run's
    generator was saved on another kind of device, whose state this one cannot take:
    then it is seeded with ``reseed`` instead."""
    torch.set_rng_state(states["torch"].cpu())
    if states["generator"].numel() != generator.get_state().numel():
        generator.manual_seed(reseed)
        return False
    generator.set_state(states["generator"].cpu())
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"].cpu(), device)
    return True


def _train_epoch(setup: TrainingSetup, data: TaskData, optimizer: torch.optim.Optimizer, batch_size: int,
                 generator: torch.Generator, score: Callable, device: torch.device,
                 progress: Optional[bool], step: int = 0, total_steps: int = 0) -> Dict[str, Any]:
    setup.model.train()
    order = torch.randperm(data.train_size, generator=generator, device=device)
    batches = [b for b in order.split(batch_size) if b.numel() > 1]  # batch norm needs two samples
    sums: Dict[str, torch.Tensor] = {}
    correct = torch.zeros((), dtype=torch.float64, device=device)
    seen = 0
    step_records: List[Dict[str, Any]] = []
    for index in tqdm(batches, desc="steps", leave=False, disable=None if progress is None else not progress):
        batch = data.train_batch(index, augment=setup.augment, generator=generator)
        total, output, parts = train_step(setup, optimizer, batch, generator)
        y = batch[1]
        step += 1
        if setup.on_step is not None:
            found = setup.on_step(step, total_steps)
            if found is not None:
                step_records.append({"step": step, **found})
        n = index.numel()
        for key, value in {"loss": total, **parts}.items():
            sums[key] = sums.get(key, 0) + value.detach().double() * n
        correct += score(output.detach(), y).sum(dtype=torch.float64)
        seen += n
    record = {f"train_{key}": value.item() / seen for key, value in sums.items()}
    record["train_score"] = correct.item() / seen
    record["train_steps"] = len(batches)
    if setup.on_step is not None:
        record["step_records"] = step_records
    return record


def train_step(setup: TrainingSetup, optimizer: torch.optim.Optimizer, batch: Sequence[Any],
               generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]:
    r"""One optimisation step of a run: the setup's loss on one batch, backward, and the optimiser's step.

    Args:
        setup (TrainingSetup): the model and its loss (:meth:`~escnn_soft.experiments.task.Task.build`).
        optimizer (torch.optim.Optimizer): the optimiser of ``setup.model``'s parameters.
        batch (sequence): ``(x, y)`` or ``(x, y, extras)``, as
            :meth:`~escnn_soft.experiments.task.TaskData.train_batch` returns it; the loss gets the
            extras it takes (:attr:`~escnn_soft.experiments.task.TrainingSetup.batch_extras`).
        generator (torch.Generator): the run's random source, passed to the loss.

    Returns:
        the loss's ``(total, output, parts)``.

    Raises:
        ValueError: if the batch lacks extras the loss takes.
    """
    x, y, *rest = batch
    total, output, parts = setup.loss(x, y, generator, **_extras(setup, rest[0] if rest else {}))
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return total, output, parts


def _extras(setup: TrainingSetup, extras: Mapping[str, Any]) -> Dict[str, Any]:
    r"""The batch extras the loss of ``setup`` takes (:attr:`~escnn_soft.experiments.task.TrainingSetup.batch_extras`).

    Raises:
        ValueError: if the batch lacks some of them.
    """
    missing = [name for name in setup.batch_extras if name not in extras]
    if missing:
        raise ValueError(f"the loss takes the batch extras {', '.join(missing)}, but the training batches carry "
                         f"{', '.join(extras) or 'none'}: load the data that provides them (e.g. ddmnist with "
                         f"c4_data='paper' for a soft model built with it)")
    return {name: extras[name] for name in setup.batch_extras}


def _stops(history: Sequence[Mapping[str, Any]], patience: Optional[int]) -> bool:
    r"""Whether a run with ``patience`` stops after ``history``: the best validation score is
    ``patience`` or more epochs old."""
    return patience is not None and bool(history) and len(history) - 1 - best_epoch_index(history) >= patience


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _read_checkpoint(path: Path, device: torch.device, config: RunConfig, restart_corrupt: bool
                     ) -> Optional[Dict[str, Any]]:
    r"""The checkpoint of the run ``config`` at ``path``; ``None`` if it is corrupt and
    ``restart_corrupt`` (it is then deleted, and the run starts afresh).

    Raises:
        RunFolderError: for a checkpoint that cannot be read (empty, truncated, not a checkpoint)
            without ``restart_corrupt``, and for one of other settings.
    """
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError):
        ckpt = None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict):
        size = path.stat().st_size
        what = "it is empty" if size == 0 else f"{size:,} bytes, truncated or not a checkpoint"
        if restart_corrupt:
            path.unlink()
            tqdm.write(f"{path} could not be read ({what}): deleted; {config.name()} starts afresh")
            return None
        raise RunFolderError(f"{path} cannot be read ({what}): delete it to start its run afresh, or give "
                             f"--restart-corrupt to start afresh every run whose checkpoint cannot be read")
    if settings_key(ckpt["config"]) != settings_key(config.to_dict()):
        ours, theirs = settings_differences(config.to_dict(), ckpt["config"])
        raise RunFolderError(f"{path} belongs to other settings; delete it to start the run afresh (the run has "
                             f"{ours}, the checkpoint {theirs})")
    return ckpt


def _finite(value: Any) -> Any:
    r"""``value`` with every float that is not finite replaced by ``None`` (JSON's ``null``), in
    nested dicts and lists too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _write_result(run_dir: Path, result: Dict[str, Any]) -> Dict[str, Any]:
    r"""Write ``result`` as ``run_dir/result.json``, strict JSON (:func:`_finite`); returns what was written."""
    result = _finite(result)
    atomic_write_text(run_dir / "result.json", json.dumps(result, indent=2, allow_nan=False) + "\n")
    return result


def train_run(task: Task, data: TaskData, config: RunConfig, run_dir: PathLike, *,
              device: Union[torch.device, str], equivariance_batch: int = 256, eval_batch_size: int = 500,
              extra: Optional[Mapping[str, Any]] = None,
              on_epoch: Optional[Callable[[int, Dict[str, Any]], None]] = None,
              progress: Optional[bool] = None, retrain_diverged: bool = False,
              restart_corrupt: bool = False) -> Dict[str, Any]:
    r"""Train one run to the end, or return it if it has finished (or diverged); resume it if it was interrupted.

    Args:
        task (Task): the task.
        data (TaskData): its splits for ``config.group``, on ``device``.
        config (RunConfig): the run's settings (its directory should be ``config.name()``).
        run_dir (path-like): the run's directory.
        device: where to train.
        equivariance_batch (int): how many test inputs (the first ones) the
            equivariance errors are measured on, at the elements of :func:`equivariance_elements`.
        eval_batch_size (int): batch size of evaluation.
        extra (mapping, optional): more facts to record in ``result.json`` (e.g. the
            data source, the commit).
        on_epoch (callable, optional): ``on_epoch(epoch, record)`` after each epoch's
            checkpoint is saved; ``epoch`` counts from 1. (The training setup's own
            per-epoch measurements are :attr:`~escnn_soft.experiments.task.TrainingSetup.monitor`.)
        progress (bool, optional): show progress bars; ``None``: only on a terminal.
        retrain_diverged (bool): train a run that has diverged again, from the start, instead
            of returning it.
        restart_corrupt (bool): delete a checkpoint that cannot be read and start the run
            afresh, instead of raising.

    Returns:
        the run's result, as written to ``result.json``. A run that diverged has ``config``,
        ``diverged_at_epoch`` (the first epoch whose mean training loss is not finite, recorded
        as ``null``), its ``history`` up to that epoch, ``epochs_trained``, ``parameters``,
        ``train_seconds``, devices and code, and no scores. A finished run has ``config``, per-epoch
        ``history`` (each epoch with its ``device``, its ``val_score`` and its ``monitor``
        record where the setup has one; each epoch that beat the best validation score so far
        also with its ``test_score`` and its ``test_scores`` on the extra test sets), ``best_epoch``,
        ``val_score``, ``test_score`` and ``test_scores`` (all at the best epoch),
        ``final_test_score`` and ``final_test_scores`` (the last epoch's), ``metrics`` and
        ``final_metrics`` (the task's :meth:`~escnn_soft.experiments.task.Task.metrics` of each
        evaluation set, ``{"val": {...}, "test": {...}, name: {...}}``, at the best and the last
        epoch; empty for tasks without them, whose epochs record none), for a classification task
        ``majority_rates`` (:func:`majority_rates`, of the test sets as scored),
        ``epochs_trained`` and ``stopped_early``, ``parameters``,
        ``seconds_per_epoch`` (training only, mean), ``train_seconds``, the equivariance
        errors and the ``equivariance_elements`` they are measured at, ``device`` (where it
        finished), ``threads`` and ``cpu_capability`` (the CPU kernels PyTorch chose, which
        ``ATEN_CPU_CAPABILITY`` sets) of the process that finished it,
        and the code it finished with: ``version``,
        ``commit`` and ``dirty`` (:func:`~escnn_soft.records.provenance`).

    Raises:
        RunFolderError: for a ``result.json`` or checkpoint in ``run_dir`` that cannot be read
            or belongs to other settings (:func:`finished_run`).
        ValueError: for data loaded with other data settings or another training size than the run's.
    """
    run_dir = Path(run_dir)
    done = finished_run(run_dir, config)
    if done is not None and not (retrain_diverged and is_diverged(done)):
        return done
    needed = data_settings(task, config.hyperparameters)
    if dict(data.settings) != needed:
        raise ValueError(f"{config.name()} trains on data loaded with {needed or 'the defaults'}, but this data was "
                         f"loaded with {dict(data.settings) or 'the defaults'}: load it with "
                         f"task.load(..., **data_settings(task, config.hyperparameters))")
    if data.train_size != config.train_size:
        raise ValueError(f"{config.name()} trains on {config.train_size} samples, but this data was loaded with "
                         f"{data.train_size}: load it with task.load(..., train_size={config.train_size})")
    if config.eval_size is not None:
        data = evaluation_subset(data, config.eval_size, config.data_seed)
    device = torch.device(device)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / "checkpoint.pt"
    if done is not None:
        (run_dir / "result.json").unlink()   # a diverged run, trained again from the start

    torch.manual_seed(config.seed)
    setup = task.build(config.model, config.group, config.hyperparameters)
    model = setup.model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.hyperparameters["lr"],
                                 weight_decay=config.hyperparameters.get("weight_decay", 0.0))
    lr_decay = config.hyperparameters.get("lr_decay")
    scheduler = None if lr_decay is None else torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=lr_decay)
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    history: List[Dict[str, Any]] = []
    best_state: Optional[Dict[str, torch.Tensor]] = None
    started = _now()
    resumed_from = 0
    reseeded_at: Optional[int] = None
    ckpt = _read_checkpoint(checkpoint_path, device, config, restart_corrupt) if checkpoint_path.is_file() else None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        history, best_state, started = ckpt["history"], ckpt["best_state"], ckpt["started"]
        resumed_from = len(history)
        reseeded_at = ckpt.get("reseeded_at")
        if not _set_random_states(ckpt["random"], generator, device, reseed=config.seed * 1_000_003 + resumed_from):
            reseeded_at = resumed_from + 1
        tqdm.write(f"resuming {config.name()} from epoch {resumed_from + 1}/{config.epochs} "
                   f"({resumed_from} done)")

    full, rest = divmod(data.train_size, config.batch_size)
    total_steps = config.epochs * (full + (rest > 1))      # _train_epoch drops a last batch of one
    test_sets = {"test": data.test, **data.extra_test}
    epochs = tqdm(range(resumed_from + 1, config.epochs + 1), desc=f"{config.model} seed {config.seed}",
                  initial=resumed_from, total=config.epochs, leave=False,
                  disable=None if progress is None else not progress)
    diverged_at: Optional[int] = None
    for epoch in epochs:
        if _stops(history, config.patience) or (setup.stop is not None and history and setup.stop(history)):
            break
        _sync(device)
        t0 = time.perf_counter()
        record: Dict[str, Any] = {"epoch": epoch, "device": _describe(device)}
        record.update(_train_epoch(setup, data, optimizer, config.batch_size, generator, task.score, device, progress,
                                   step=sum(r.get("train_steps", 0) for r in history), total_steps=total_steps))
        _sync(device)
        t1 = time.perf_counter()
        if not math.isfinite(record["train_loss"]):
            record["train_seconds"] = t1 - t0
            history.append(record)
            diverged_at = epoch
            break
        _score_sets(task, model, {"val": data.val}, record, eval_batch_size, progress)
        improved = not history or record["val_score"] > max(r["val_score"] for r in history)
        if improved:
            _score_sets(task, model, test_sets, record, eval_batch_size, progress)
        if setup.monitor is not None:
            with torch.no_grad(), eval_mode(model):
                record["monitor"] = setup.monitor(model, data)
        _sync(device)
        record["train_seconds"] = t1 - t0
        record["eval_seconds"] = time.perf_counter() - t1
        if improved:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        history.append(record)
        if scheduler is not None:
            scheduler.step()
        _atomic_save(checkpoint_path, {
            "config": config.to_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            **({} if scheduler is None else {"scheduler": scheduler.state_dict()}),
            "history": history, "best_state": best_state, "started": started,
            "random": _random_states(generator, device), "reseeded_at": reseeded_at,
        })
        epochs.set_postfix(val=f"{record['val_score']:.3f}")
        if on_epoch is not None:
            on_epoch(epoch, record)

    epochs.close()
    train_seconds = [r["train_seconds"] for r in history]
    if diverged_at is not None:
        result = _write_result(run_dir, {
            "name": config.name(), "config": config.to_dict(), "metric": task.metric,
            "diverged_at_epoch": diverged_at, "epochs_trained": len(history),
            "parameters": sum(p.numel() for p in model.parameters()), "train_seconds": sum(train_seconds),
            "history": history, **_ending(device, started, resumed_from, reseeded_at, extra)})
        checkpoint_path.unlink(missing_ok=True)
        return result
    final = {**history[-1], "metrics": dict(history[-1].get("metrics", {}))}
    if "test_score" not in final:  # the last epoch did not improve: score its model now
        _score_sets(task, model, test_sets, final, eval_batch_size, progress)
    best = best_epoch_index(history)
    model.load_state_dict(best_state)
    model.eval()
    x = data.test[0][:equivariance_batch]
    elements = equivariance_elements(data.group, config.equivariance_elements, config.data_seed)
    output_error, output_per_element = mean_equivariance_error(model, x, data.in_action, data.out_action, data.group,
                                                               elements)
    latent_error = latent_per_element = None
    if setup.latent is not None:
        encoder, rho_z = setup.latent
        latent_error, latent_per_element = mean_equivariance_error(
            model.get_submodule(encoder), x, data.in_action, rho_z, data.group, elements)

    result = {
        "name": config.name(),
        "config": config.to_dict(),
        "metric": task.metric,
        "best_epoch": history[best]["epoch"],
        "val_score": history[best]["val_score"],
        "test_score": history[best]["test_score"],
        "final_test_score": final["test_score"],
        "test_scores": history[best].get("test_scores", {}),
        "final_test_scores": final.get("test_scores", {}),
        "metrics": history[best].get("metrics", {}),
        "final_metrics": final["metrics"],
        "epochs_trained": len(history),
        "stopped_early": len(history) < config.epochs,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds_per_epoch": sum(train_seconds) / len(train_seconds),
        "train_seconds": sum(train_seconds),
        "eval_seconds": sum(r["eval_seconds"] for r in history),
        "latent_equivariance_error": latent_error,
        "output_equivariance_error": output_error,
        "latent_equivariance_error_per_element": latent_per_element,
        "output_equivariance_error_per_element": output_per_element,
        "equivariance_batch": int(x.shape[0]),
        "equivariance_elements": elements,
        "history": history,
        **_ending(device, started, resumed_from, reseeded_at, extra),
    }
    rates = majority_rates(task, data)
    if rates is not None:
        result["majority_rates"] = rates
    if setup.analysis is not None:
        result["analysis"] = setup.analysis(data, history)
    _atomic_save(run_dir / "model.pt", best_state)
    result = _write_result(run_dir, result)
    checkpoint_path.unlink(missing_ok=True)
    return result


def _ending(device: torch.device, started: str, resumed_from: int, reseeded_at: Optional[int],
            extra: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    r"""Where, when and with what code a run ends, as its ``result.json`` records it."""
    return {
        "device": _describe(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "started": started,
        "finished": _now(),
        "resumed_from_epoch": resumed_from or None,
        "random_stream_reseeded_at_epoch": reseeded_at,
        **provenance(),
        **dict(extra or {}),
    }


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def train_one(task: Task, source: Any, config: RunConfig, out: PathLike, *, data: Optional[TaskData] = None,
              device: Optional[str] = None, equivariance_batch: int = 256, progress: Optional[bool] = None,
              retrain_diverged: bool = False, restart_corrupt: bool = False,
              on_epoch: Optional[Callable[[int, Dict[str, Any]], None]] = None,
              trainer: Optional[Callable[..., Dict[str, Any]]] = None) -> Tuple[TaskData, Dict[str, Any]]:
    r"""Train one run of a comparison in ``out/runs/<config.name()>``, loading its data from ``source``
    unless ``data`` (of the same group, training size and data settings) is given.

    Args:
        task (Task): the task.
        source (Source): its opened data source (:meth:`Task.open`).
        config (RunConfig): the run.
        out (path-like): the comparison's output folder.
        data (TaskData, optional): the data of ``config.group``, its training size and its data settings
            (:func:`~escnn_soft.experiments.task.data_settings`), loaded when ``None``.
        device (str, optional): where to train; ``None``: CUDA if available, else the CPU.
        equivariance_batch, progress, retrain_diverged, restart_corrupt, on_epoch: as in :func:`train_run`.
        trainer (callable, optional): what trains the run, :func:`train_run` (the default) or
            :func:`escnn_soft.experiments.distributed.train_run`.

    Returns:
        ``(data, result)``: the data the run trained on, for the next run of the same data, and its result.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if data is None:
        data = task.load(config.group, source, train_size=config.train_size, data_seed=config.data_seed,
                         device=torch.device(device), **data_settings(task, config.hyperparameters))
    result = (trainer or train_run)(task, data, config, Path(out) / "runs" / config.name(), device=device,
                                    equivariance_batch=equivariance_batch, extra={"source": source.description},
                                    on_epoch=on_epoch, progress=progress, retrain_diverged=retrain_diverged,
                                    restart_corrupt=restart_corrupt)
    return data, result
