r"""Resumable training runs: one task, one group, one model, one seed.

A comparison is a grid of runs. Each run trains with Adam on batches drawn on the
device (no ``DataLoader``), evaluates the validation and test sets after every epoch
and reports the test score at the epoch with the best validation score, a figure far
more stable than the last epoch's. At the end it measures, on that best model and a
fixed batch of test inputs, the mean relative equivariance errors

.. math::
    \bar\epsilon = \frac{1}{|G| - 1} \sum_{g \neq e} \epsilon(g)

of the output (invariance of the logits when the targets are invariant) and, for
models with a latent representation :math:`\rho_Z`, of the encoder (see
:func:`~escnn_soft.equivariance_error`).

A run lives in its own directory, named by :meth:`RunConfig.name` from everything
that changes its result. After every epoch a checkpoint (model, optimiser, history,
best model so far, random states) replaces the previous one atomically; the finished
run writes ``result.json`` and ``model.pt`` the same way and drops the checkpoint. So
:func:`train_run` returns a finished run without training, continues an interrupted
one from its last finished epoch with the same random stream, and starts the others.

What a task provides is written down by :class:`Task`, :class:`TaskData` and
:class:`TrainingSetup`; the tasks themselves live in :mod:`escnn_soft.experiments.tasks`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..actions import ActionLike
from ..groups import GroupTable
from ..learned import LearnedRepresentation, StudyObjective
from ..learned.objective import LOSS_TERMS
from ..testing import equivariance_error
from .task import Task, TaskData, TrainingSetup

__all__ = [
    "PROTOCOL_VERSION",
    "RunConfig",
    "train_run",
    "load_result",
    "evaluate",
    "mean_equivariance_error",
    "atomic_write_text",
    "TrainingHistory",
    "fit",
]

PROTOCOL_VERSION: int = 1
r"""Part of every run's key; bumped when the training protocol changes, so that old
results are not reused for new ones."""

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class RunConfig:
    r"""Everything that changes the result of a run: its key.

    The device is left out on purpose: a run finished on one device is reused on
    another.
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

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["hyperparameters"] = dict(sorted(self.hyperparameters.items()))
        return d

    def digest(self) -> str:
        r"""A short hash of :meth:`to_dict`."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def name(self) -> str:
        r"""The run's directory name: readable settings and :meth:`digest`."""
        return f"{self.task}-{self.group}-{self.model}-seed{self.seed}-{self.digest()}"


def _atomic(path: Path, write: Callable[[str], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: PathLike, text: str) -> None:
    r"""Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    _atomic(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _atomic_save(path: Path, obj: Any) -> None:
    _atomic(path, lambda tmp: torch.save(obj, tmp))


def load_result(run_dir: PathLike) -> Optional[Dict[str, Any]]:
    r"""The ``result.json`` of a finished run, or ``None``."""
    path = Path(run_dir) / "result.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def evaluate(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
             score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batch_size: int = 500) -> float:
    r"""The mean score of ``model`` in eval mode on ``(inputs, targets)``, in batches."""
    model.eval()
    total = inputs.new_zeros((), dtype=torch.float64)
    for start in range(0, inputs.shape[0], batch_size):
        out = model(inputs[start:start + batch_size])
        total += score(out, targets[start:start + batch_size]).sum(dtype=torch.float64)
    return total.item() / inputs.shape[0]


def mean_equivariance_error(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, in_action: ActionLike,
                            out_action: Optional[ActionLike], group: GroupTable) -> Tuple[float, List[float]]:
    r"""The equivariance error of ``f`` averaged over the non-identity elements, and per element."""
    elements = [e for e in range(group.order) if e != group.identity]
    errors = equivariance_error(f, x, in_action, out_action, group=group, elements=elements)
    per_element = [float(e) for e in errors.cpu()]
    return sum(per_element) / len(per_element), per_element


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
                 progress: Optional[bool]) -> Dict[str, float]:
    setup.model.train()
    order = torch.randperm(data.train_size, generator=generator, device=device)
    batches = [b for b in order.split(batch_size) if b.numel() > 1]  # batch norm needs two samples
    sums: Dict[str, torch.Tensor] = {}
    correct = torch.zeros((), dtype=torch.float64, device=device)
    seen = 0
    for index in tqdm(batches, desc="steps", leave=False, disable=None if progress is None else not progress):
        x, y = data.train_batch(index, augment=setup.augment, generator=generator)
        total, output, parts = setup.loss(x, y, generator)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        n = index.numel()
        for key, value in {"loss": total, **parts}.items():
            sums[key] = sums.get(key, 0) + value.detach().double() * n
        correct += score(output.detach(), y).sum(dtype=torch.float64)
        seen += n
    record = {f"train_{key}": value.item() / seen for key, value in sums.items()}
    record["train_score"] = correct.item() / seen
    return record


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def train_run(task: Task, data: TaskData, config: RunConfig, run_dir: PathLike, *,
              device: Union[torch.device, str], equivariance_batch: int = 256, eval_batch_size: int = 500,
              extra: Optional[Mapping[str, Any]] = None,
              on_epoch: Optional[Callable[[int, Dict[str, Any]], None]] = None,
              progress: Optional[bool] = None) -> Dict[str, Any]:
    r"""Train one run to the end, or return it if it has finished; resume it if it was interrupted.

    Args:
        task (Task): the task.
        data (TaskData): its splits for ``config.group``, on ``device``.
        config (RunConfig): the run's settings (its directory should be ``config.name()``).
        run_dir (path-like): the run's directory.
        device: where to train.
        equivariance_batch (int): how many test inputs (the first ones) the
            equivariance errors are measured on.
        eval_batch_size (int): batch size of evaluation.
        extra (mapping, optional): more facts to record in ``result.json`` (e.g. the
            data source, the commit).
        on_epoch (callable, optional): ``on_epoch(epoch, record)`` after each epoch's
            checkpoint is saved; ``epoch`` counts from 1.
        progress (bool, optional): show progress bars; ``None``: only on a terminal.

    Returns:
        the run's result, as written to ``result.json``: ``config``, per-epoch
        ``history``, ``best_epoch``, ``val_score``, ``test_score`` (both at the best
        epoch), ``final_test_score``, ``parameters``, ``seconds_per_epoch`` (training
        only, mean), ``train_seconds``, the equivariance errors and ``device``.
    """
    run_dir = Path(run_dir)
    done = load_result(run_dir)
    if done is not None:
        return done
    device = torch.device(device)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / "checkpoint.pt"

    torch.manual_seed(config.seed)
    setup = task.build(config.model, config.group, config.hyperparameters)
    model = setup.model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.hyperparameters["lr"])
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    history: List[Dict[str, Any]] = []
    best_state: Optional[Dict[str, torch.Tensor]] = None
    started = _now()
    resumed_from = 0
    reseeded_at: Optional[int] = None
    if checkpoint_path.is_file():
        ckpt = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if ckpt["config"] != config.to_dict():
            raise RuntimeError(f"{checkpoint_path} belongs to other settings; delete it to start the run afresh")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        history, best_state, started = ckpt["history"], ckpt["best_state"], ckpt["started"]
        resumed_from = len(history)
        reseeded_at = ckpt.get("reseeded_at")
        if not _set_random_states(ckpt["random"], generator, device, reseed=config.seed * 1_000_003 + resumed_from):
            reseeded_at = resumed_from + 1

    score = task.score
    val_x, val_y = data.val
    test_x, test_y = data.test
    epochs = tqdm(range(resumed_from + 1, config.epochs + 1), desc=f"{config.model} seed {config.seed}",
                  initial=resumed_from, total=config.epochs, leave=False,
                  disable=None if progress is None else not progress)
    for epoch in epochs:
        _sync(device)
        t0 = time.perf_counter()
        record: Dict[str, Any] = {"epoch": epoch}
        record.update(_train_epoch(setup, data, optimizer, config.batch_size, generator, score, device, progress))
        _sync(device)
        t1 = time.perf_counter()
        record["val_score"] = evaluate(model, val_x, val_y, score, eval_batch_size)
        record["test_score"] = evaluate(model, test_x, test_y, score, eval_batch_size)
        _sync(device)
        record["train_seconds"] = t1 - t0
        record["eval_seconds"] = time.perf_counter() - t1
        if best_state is None or record["val_score"] > max(r["val_score"] for r in history):
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        history.append(record)
        _atomic_save(checkpoint_path, {
            "config": config.to_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "history": history, "best_state": best_state, "started": started,
            "random": _random_states(generator, device), "reseeded_at": reseeded_at,
        })
        epochs.set_postfix(val=f"{record['val_score']:.3f}", test=f"{record['test_score']:.3f}")
        if on_epoch is not None:
            on_epoch(epoch, record)

    best = max(range(len(history)), key=lambda i: (history[i]["val_score"], -i))
    model.load_state_dict(best_state)
    model.eval()
    x = test_x[:equivariance_batch]
    output_error, output_per_element = mean_equivariance_error(model, x, data.in_action, data.out_action, data.group)
    latent_error = latent_per_element = None
    if setup.latent is not None:
        encoder, rho_z = setup.latent
        latent_error, latent_per_element = mean_equivariance_error(
            model.get_submodule(encoder), x, data.in_action, rho_z, data.group)

    train_seconds = [r["train_seconds"] for r in history]
    result = {
        "name": config.name(),
        "config": config.to_dict(),
        "metric": task.metric,
        "best_epoch": history[best]["epoch"],
        "val_score": history[best]["val_score"],
        "test_score": history[best]["test_score"],
        "final_test_score": history[-1]["test_score"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds_per_epoch": sum(train_seconds) / len(train_seconds),
        "train_seconds": sum(train_seconds),
        "eval_seconds": sum(r["eval_seconds"] for r in history),
        "latent_equivariance_error": latent_error,
        "output_equivariance_error": output_error,
        "latent_equivariance_error_per_element": latent_per_element,
        "output_equivariance_error_per_element": output_per_element,
        "equivariance_batch": int(x.shape[0]),
        "history": history,
        "device": _describe(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "started": started,
        "finished": _now(),
        "resumed_from_epoch": resumed_from or None,
        "random_stream_reseeded_at_epoch": reseeded_at,
        **dict(extra or {}),
    }
    _atomic_save(run_dir / "model.pt", best_state)
    atomic_write_text(run_dir / "result.json", json.dumps(result, indent=2, allow_nan=True) + "\n")
    checkpoint_path.unlink(missing_ok=True)
    return result


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


# ------------------------------------------------------------------ the study's loop

@dataclass
class TrainingHistory:
    r"""What :func:`fit` recorded.

    Attributes:
        losses: per epoch, the mean of every term of :class:`StudyLoss` over its steps
            (``total``, ``task``, ``shifted``, ``equivariance``, ``algebra``).
        element: the element index whose eigenvalues were recorded.
        snapshot_steps: the optimisation steps of the snapshots (0 = before training).
        eigenvalues: complex array ``(snapshots, dim)``, the eigenvalues of
            :math:`\rho_Z(\text{element})` at each snapshot.
        seconds: wall-clock time of the training loop.
    """

    losses: List[Dict[str, float]] = field(default_factory=list)
    element: int = 0
    snapshot_steps: List[int] = field(default_factory=list)
    eigenvalues: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.complex128))
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        r"""The number of optimisation steps taken."""
        return self.snapshot_steps[-1] if self.snapshot_steps else 0


def _eigenvalues(representation: LearnedRepresentation, element: int) -> np.ndarray:
    with torch.no_grad():
        M = representation.matrices()[element].detach().cpu().double().numpy()
    return np.linalg.eigvals(M)


def fit(objective: StudyObjective, batches: Callable[[], Iterable[Tuple[torch.Tensor, torch.Tensor]]], *,
        epochs: int, lr: float = 3e-3, element: Optional[int] = None, snapshot_every: Optional[int] = None,
        snapshot_at: Optional[Iterable[int]] = None, optimizer: Optional[torch.optim.Optimizer] = None,
        log: Optional[Callable[[int, Dict[str, float]], None]] = None) -> TrainingHistory:
    r"""Train a :class:`StudyObjective` with Adam, recording its losses and the eigenvalues of :math:`\rho_Z(g)`.

    Args:
        objective (StudyObjective): the objective (encoder, head and learned :math:`\rho_Z`).
        batches: called once per epoch, returns an iterable of ``(x, y)`` batches (e.g. a
            freshly shuffled split).
        epochs (int): the number of epochs.
        lr (float): Adam's learning rate (the paper's: 0.003); ignored with ``optimizer``.
        element (int, optional): the element index whose eigenvalues are recorded; default
            the first generator of :math:`\rho_Z`.
        snapshot_every (int, optional): record the eigenvalues every this many steps (and
            before the first and after the last step); default: after every epoch.
        snapshot_at (iterable of int, optional): record them after exactly these steps instead
            (e.g. geometrically spaced, to resolve the fast early phase), and before the first
            and after the last step.
        optimizer (torch.optim.Optimizer, optional): an optimiser over ``objective.parameters()``.
        log: called after every epoch with the epoch number (from 1) and its mean losses.

    Returns:
        the :class:`TrainingHistory`.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if snapshot_every is not None and (isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int)
                                       or snapshot_every < 1):
        raise ValueError(f"snapshot_every must be an int >= 1 or None, got {snapshot_every!r}")
    at = None
    if snapshot_at is not None:
        if snapshot_every is not None:
            raise ValueError("give snapshot_every or snapshot_at, not both")
        at = {int(k) for k in snapshot_at}
        if any(k < 1 for k in at):
            raise ValueError(f"snapshot_at must hold steps >= 1, got {sorted(at)[:3]}...")
    if not callable(batches):
        raise TypeError("batches must be a callable returning an iterable of (x, y) batches, one call per epoch")
    rho = objective.representation
    if element is None:
        element = rho.generator_elements[0]
    if not 0 <= int(element) < rho.group.order:
        raise IndexError(f"element {element} out of range for {rho.group.name} (0..{rho.group.order - 1})")
    if optimizer is None:
        optimizer = torch.optim.Adam(objective.parameters(), lr=lr)

    history = TrainingHistory(element=int(element))
    eigenvalues = [_eigenvalues(rho, history.element)]
    history.snapshot_steps.append(0)

    def snapshot() -> None:
        eigenvalues.append(_eigenvalues(rho, history.element))
        history.snapshot_steps.append(step)

    step, start = 0, time.perf_counter()
    for epoch in range(1, epochs + 1):
        objective.train()
        sums: Dict[str, float] = dict.fromkeys(LOSS_TERMS, 0.0)
        count = 0
        for x, y in batches():
            out = objective(x, y)
            optimizer.zero_grad(set_to_none=True)
            out.total.backward()
            optimizer.step()
            step, count = step + 1, count + 1
            for k, v in out.terms().items():
                sums[k] += v
            if (snapshot_every is not None and step % snapshot_every == 0) or (at is not None and step in at):
                snapshot()
        if count == 0:
            raise ValueError("batches() returned no batches")
        if snapshot_every is None and at is None:
            snapshot()
        history.losses.append({k: v / count for k, v in sums.items()})
        if log is not None:
            log(epoch, history.losses[-1])
    if history.snapshot_steps[-1] != step:
        snapshot()
    history.eigenvalues = np.stack(eigenvalues)
    history.seconds = time.perf_counter() - start
    return history
