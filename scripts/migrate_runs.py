r"""Re-key finished runs after their settings changed names: rewrite their configs, rename the run folders.

A run's folder is named by :meth:`~escnn_soft.experiments.runner.RunConfig.name`, a hash of
its settings. When a task's settings change names (a hyperparameter that configures
nothing is removed, e.g. ``"optimizer": "adam"``; a model is renamed; a setting that was
implicit is recorded), the finished runs keep their results but no longer match their
key. This script changes the ``config`` of every run under the given folders (of the task
``--task`` if given), in its ``runs/*/result.json`` and ``checkpoint.pt``, so unfinished runs
too, and leaves alone the run folders claimed by a live process
(:func:`~escnn_soft.experiments.claims.holder`):

* ``--drop KEYS`` drops those hyperparameters;
* ``--rename OLD=NEW,...`` renames models;
* ``--set KEY=VALUE,...`` sets hyperparameters (``VALUE`` read as JSON, else as a string)
  of the models ``--models`` (named as after ``--rename``), which it requires;
* ``--default KEY=VALUE,...`` sets hyperparameters where a run has none of that name (of the
  models ``--models`` if given, else of every model; with ``--having NAME,...`` only in the runs whose
  hyperparameters have those names), e.g. a setting once left out at its default;
* ``--set-config KEY=VALUE,...`` sets the run settings outside the hyperparameters that a
  protocol change may need (:data:`CONFIG_SETTINGS`: ``protocol``, ``patience``, ``eval_size``,
  ``equivariance_elements``; ``null`` for none);
* ``--majority-rates`` adds to the ``result.json`` of each finished run of a classification task
  the ``majority_rates`` its run would record today (:func:`add_majority_rates`), computed from
  its task's data (``--data SOURCE`` or ``--mnist PATH``, as ``escnn-soft compare`` takes them),
  and changes nothing else, neither the file's other entries nor the run's key;

Every config is rebuilt as a :class:`~escnn_soft.experiments.runner.RunConfig`, which records
every setting: one a run does not record gets its default, ``null`` for ``patience`` (every
epoch), ``eval_size`` (the whole evaluation sets) and ``equivariance_elements`` (the default
elements). The script then renames each run folder to its new key and records the first old name in
``result.json`` as ``migrated_from``. Runs already migrated are left alone, so it can run
again; a new name that is taken stops it before anything is changed.

Run:  python scripts/migrate_runs.py --drop optimizer results/ddmnist results/ddmnist-5ep

The majority-class rates of the finished runs, task by task, each from the data it trained on:

    python scripts/migrate_runs.py --majority-rates --task ddmnist --mnist path/to/mnist.npz \
        results/ddmnist results/ddmnist-5ep

Protocol 2, every setting in the key: the runs record protocol 2 and the settings once left
out at their defaults, the ddmnist runs their C4 data, and the two soft runs of ddmnist from
before the setting ``shifted_weight`` the weight they trained with, 1:

    python scripts/migrate_runs.py --set-config protocol=2 results/*/ results/exploration/*/ \
        results/medmnist3d/fixtures/*/
    python scripts/migrate_runs.py --task ddmnist --default c4_data=corrected results/ddmnist*/
    python scripts/migrate_runs.py --task ddmnist --models soft-postbn --default shifted_weight=1.0 \
        results/ddmnist

The soft loss's :math:`\beta` in every key: the runs of the models with :math:`\lambda` record
``pair_fraction`` 1, the whole batch, where they record none:

    python scripts/migrate_runs.py --default pair_fraction=1.0 --having lam results/*/ \
        results/exploration/*/ results/medmnist3d/fixtures/*/

The DDMNIST latent choice (every earlier soft run had the post-BN latent, and the plain
CNNs were measured there):

    python scripts/migrate_runs.py --task ddmnist --rename soft=soft-postbn --set latent=post-bn \
        --models cnn,cnn-aug,soft-postbn results/ddmnist results/ddmnist-5ep
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from escnn_soft.experiments.claims import holder
from escnn_soft.records import atomic_write_text

CONFIG_SETTINGS: Tuple[str, ...] = ("protocol", "patience", "eval_size", "equivariance_elements")
r"""The settings of a run's config outside its hyperparameters that ``--set-config`` may set."""


@dataclass(frozen=True)
class Change:
    r"""What changes in the configs (see the module docstring).

    Raises:
        ValueError: for ``set`` without ``models``, and for a ``config`` setting not in
            :data:`CONFIG_SETTINGS`.
    """

    drop: Tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    set: Mapping[str, Any] = field(default_factory=dict)
    models: Tuple[str, ...] = ()
    task: Optional[str] = None
    default: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    having: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.set and not self.models:
            raise ValueError("--set needs --models: the models whose hyperparameters it sets")
        unknown = sorted(set(self.config) - set(CONFIG_SETTINGS))
        if unknown:
            raise ValueError(f"--set-config sets {', '.join(CONFIG_SETTINGS)}; got {', '.join(unknown)}")

    def __bool__(self) -> bool:
        return bool(self.drop or self.rename or self.set or self.default or self.config)

    def __call__(self, config: Dict[str, Any]) -> Dict[str, Any]:
        from escnn_soft.experiments.runner import RunConfig

        if self.task not in (None, config["task"]):
            return config
        model = self.rename.get(config["model"], config["model"])
        hyper = {k: v for k, v in config["hyperparameters"].items() if k not in self.drop}
        if model in self.models:
            hyper.update(self.set)
        if (not self.models or model in self.models) and all(name in hyper for name in self.having):
            hyper = {**self.default, **hyper}
        return RunConfig(**{**config, **self.config, "model": model, "hyperparameters": hyper}).to_dict()


def run_folders(folders: Sequence[Path]) -> List[Path]:
    r"""The run folders under ``folders`` (their ``runs/*/``) that hold a run: a ``result.json`` or a
    ``checkpoint.pt``."""
    return [run_dir for folder in folders for run_dir in sorted(Path(folder).glob("runs/*"))
            if (run_dir / "result.json").is_file() or (run_dir / "checkpoint.pt").is_file()]


def held_folders(folders: Sequence[Path]) -> List[Path]:
    r"""The run folders under ``folders`` claimed by a live process
    (:func:`~escnn_soft.experiments.claims.holder`): :func:`plan` leaves them alone."""
    return [run_dir for run_dir in run_folders(folders) if holder(run_dir) is not None]


def _config(run_dir: Path) -> Dict[str, Any]:
    r"""The settings a run folder records: those of its ``result.json``, else of its ``checkpoint.pt``."""
    result = run_dir / "result.json"
    if result.is_file():
        return json.loads(result.read_text(encoding="utf-8"))["config"]
    import torch

    return torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)["config"]


def plan(folders: Sequence[Path], change: Change) -> List[Tuple[Path, Path, Dict[str, Any]]]:
    r"""``(old folder, new folder, new config)`` for every run whose key changes: finished and diverged
    runs (``result.json``) and unfinished ones (``checkpoint.pt``), except those of :func:`held_folders`.

    Raises:
        FileExistsError: if a new folder is taken (or two runs would get the same one).
    """
    from escnn_soft.experiments.runner import RunConfig

    held = set(held_folders(folders))
    moves = []
    for run_dir in run_folders(folders):
        if run_dir in held:
            continue
        config = _config(run_dir)
        new = change(config)
        target = run_dir.with_name(RunConfig(**new).name())
        if new != config or target != run_dir:
            moves.append((run_dir, target, new))
    targets = [t for _, t, _ in moves]
    for old, target, _ in moves:
        if target.exists() or targets.count(target) > 1:
            raise FileExistsError(f"{old.name} would become {target.name}, which is taken: resolve it by hand")
    return moves


def migrate(folders: Sequence[Path], change: Change) -> List[Tuple[Path, Path, Dict[str, Any]]]:
    r"""Apply :func:`plan`: rewrite ``result.json`` and ``checkpoint.pt`` (where the run has them), rename
    the folders. A resumed run then finds its checkpoint under its new key."""
    moves = plan(folders, change)
    for old, target, config in moves:
        result_path = old / "result.json"
        if result_path.is_file():
            result = json.loads(result_path.read_text(encoding="utf-8"))
            result.update(name=target.name, config=config, migrated_from=result.get("migrated_from", old.name))
            atomic_write_text(result_path, json.dumps(result, indent=2, allow_nan=True) + "\n")
        checkpoint = old / "checkpoint.pt"
        if checkpoint.is_file():
            import torch

            from escnn_soft.records import atomic_write

            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            state["config"] = config
            atomic_write(checkpoint, lambda tmp: torch.save(state, tmp))
        old.rename(target)
    return moves


def add_majority_rates(folders: Sequence[Path], source: Optional[str], task_name: Optional[str] = None
                       ) -> Tuple[List[Path], List[Path]]:
    r"""Add ``majority_rates`` (:func:`~escnn_soft.experiments.runner.majority_rates`) to the ``result.json``
    of every finished run of a classification task under ``folders`` (of the task ``task_name`` if given)
    that has none: those of its task's data opened from ``source`` (``None``: the task's default), loaded
    on the CPU with the run's group, training size, data seed and data settings, and cut to its
    ``eval_size``. The entry is appended; the file's other entries stay as they were. Diverged runs,
    runs of regression tasks and the folders of :func:`held_folders` are left alone.

    Returns:
        ``(changed, other data)``: the run folders given their rates, and those left alone because they
        trained on other data than ``source`` holds (their recorded fingerprint is not its).

    Raises:
        ValueError, FileNotFoundError: if ``source`` cannot be opened as the data of a run's task.
    """
    import torch

    import escnn_soft.experiments.tasks  # noqa: F401  (registers the built-in tasks)
    from escnn_soft.experiments.results import is_diverged
    from escnn_soft.experiments.runner import evaluation_subset, majority_rates
    from escnn_soft.experiments.task import data_settings, get_task

    held = set(held_folders(folders))
    sources: Dict[str, Any] = {}
    loaded: Dict[str, Any] = {}
    changed, other = [], []
    for run_dir in run_folders(folders):
        path = run_dir / "result.json"
        if run_dir in held or not path.is_file():
            continue
        result = json.loads(path.read_text(encoding="utf-8"))
        config = result["config"]
        task = get_task(config["task"])
        if (task_name not in (None, task.name) or "majority_rates" in result or is_diverged(result)
                or task.metric != "accuracy"):
            continue
        if task.name not in sources:
            sources[task.name] = task.open(source)
        opened = sources[task.name]
        if opened.fingerprint != config["data"]:
            other.append(run_dir)
            continue
        settings = data_settings(task, config["hyperparameters"])
        key = json.dumps([task.name, config["group"], config["train_size"], config["data_seed"], settings,
                          config.get("eval_size")], sort_keys=True)
        if key not in loaded:
            data = task.load(config["group"], opened, train_size=config["train_size"], data_seed=config["data_seed"],
                             device=torch.device("cpu"), **settings)
            if config.get("eval_size") is not None:
                data = evaluation_subset(data, config["eval_size"], config["data_seed"])
            loaded[key] = majority_rates(task, data)
        result["majority_rates"] = loaded[key]
        atomic_write_text(path, json.dumps(result, indent=2, allow_nan=True) + "\n")
        changed.append(run_dir)
    return changed, other


def _list(text: Optional[str]) -> List[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _pairs(text: Optional[str], flag: str) -> Dict[str, str]:
    pairs = {}
    for part in _list(text):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SystemExit(f"{flag} takes KEY=VALUE pairs separated by commas, got {part!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="comparison folders (holding runs/)")
    parser.add_argument("--task", help="change only the runs of this task")
    parser.add_argument("--drop", help="comma-separated hyperparameters to drop, e.g. optimizer")
    parser.add_argument("--rename", help="comma-separated model renames OLD=NEW, e.g. soft=soft-postbn")
    parser.add_argument("--set", help="comma-separated hyperparameters KEY=VALUE to set on the models of --models")
    parser.add_argument("--models", help="comma-separated models (after --rename) that --set (and --default) "
                                         "apply to")
    parser.add_argument("--default", help="comma-separated hyperparameters KEY=VALUE to set where a run has none "
                                          "of that name")
    parser.add_argument("--having", help="comma-separated hyperparameters a run must have for --default to apply, "
                                         "e.g. lam (the models with the soft loss)")
    parser.add_argument("--set-config", help=f"comma-separated run settings KEY=VALUE to set, KEY one of "
                                             f"{', '.join(CONFIG_SETTINGS)} (VALUE null for none)")
    parser.add_argument("--majority-rates", action="store_true",
                        help="add majority_rates to the result.json of finished classification runs that have none, "
                             "from their task's data (--data or --mnist), after any re-keying")
    parser.add_argument("--data", metavar="SOURCE", help="with --majority-rates: the task's data source, as "
                                                         "escnn-soft compare --data takes it (default: the task's "
                                                         "offline data)")
    parser.add_argument("--mnist", metavar="PATH", help="with --majority-rates: MNIST as an mnist.npz file or a "
                                                        "folder of idx files (short for --data PATH)")
    parser.add_argument("--dry-run", action="store_true", help="list the renames, change nothing")
    args = parser.parse_args(argv)
    if args.data is not None and args.mnist is not None:
        parser.error("give --data or --mnist, not both")
    if (args.data is not None or args.mnist is not None) and not args.majority_rates:
        parser.error("--data and --mnist are the data of --majority-rates: give it too")
    if args.majority_rates and args.dry_run:
        parser.error("--dry-run lists renames; --majority-rates renames nothing: leave one out")
    try:
        change = Change(drop=tuple(_list(args.drop)), rename=_pairs(args.rename, "--rename"),
                        set={k: _value(v) for k, v in _pairs(args.set, "--set").items()},
                        models=tuple(_list(args.models)), task=args.task,
                        default={k: _value(v) for k, v in _pairs(args.default, "--default").items()},
                        having=tuple(_list(args.having)),
                        config={k: _value(v) for k, v in _pairs(args.set_config, "--set-config").items()})
    except ValueError as e:
        parser.error(str(e))
    if not change and not args.majority_rates:
        parser.error("nothing to change: give --drop, --rename, --set, --default, --set-config or --majority-rates")
    for run_dir in held_folders(args.folders):
        print(f"{run_dir} is claimed by a live process (claim.json): left alone; run again once it has finished")
    if change:
        moves = plan(args.folders, change) if args.dry_run else migrate(args.folders, change)
        for old, target, _ in moves:
            print(f"{old} -> {target.name}")
        print(f"{len(moves)} run(s) {'to re-key' if args.dry_run else 're-keyed'}")
    if args.majority_rates:
        try:
            changed, other = add_majority_rates(args.folders, args.mnist if args.data is None else args.data,
                                                args.task)
        except (ValueError, FileNotFoundError) as e:
            parser.error(f"{e}; give --task to add the rates of one task's runs, with its data")
        for run_dir in other:
            print(f"{run_dir} trained on other data than the source given: left alone; run again with its data")
        print(f"{len(changed)} run(s) given their majority-class rates")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
