r"""Re-key finished runs after a setting left the run key: drop hyperparameters, rename the run folders.

A run's folder is named by :meth:`~escnn_soft.experiments.runner.RunConfig.name`, a hash of
its settings. When a hyperparameter that configures nothing is removed from a task (e.g.
``"optimizer": "adam"``: every run trains with Adam), the finished runs keep their
results but no longer match their key. This script drops the named hyperparameters from
the ``config`` of every ``runs/*/result.json`` (and ``checkpoint.pt``) under the given
folders, renames each run folder to its new key and records the old name in
``result.json`` as ``migrated_from``. Runs already migrated are left alone, so it can run
again; a new name that is taken stops it before anything is changed.

Run:  python scripts/migrate_runs.py --drop optimizer results/ddmnist results/ddmnist-5ep
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from escnn_soft.records import atomic_write_text


def _rekeyed(config: Dict[str, Any], drop: Sequence[str]) -> Dict[str, Any]:
    from escnn_soft.experiments.runner import RunConfig

    hyper = {k: v for k, v in config["hyperparameters"].items() if k not in drop}
    return RunConfig(**{**config, "hyperparameters": hyper}).to_dict()


def plan(folders: Sequence[Path], drop: Sequence[str]) -> List[Tuple[Path, Path, Dict[str, Any]]]:
    r"""``(old folder, new folder, new config)`` for every run whose key changes.

    Raises:
        FileExistsError: if a new folder is taken (or two runs would get the same one).
    """
    from escnn_soft.experiments.runner import RunConfig

    moves = []
    for folder in folders:
        for path in sorted(Path(folder).glob("runs/*/result.json")):
            config = json.loads(path.read_text(encoding="utf-8"))["config"]
            new = _rekeyed(config, drop)
            target = path.parent.with_name(RunConfig(**new).name())
            if new != config or target != path.parent:
                moves.append((path.parent, target, new))
    targets = [t for _, t, _ in moves]
    for old, target, _ in moves:
        if target.exists() or targets.count(target) > 1:
            raise FileExistsError(f"{old.name} would become {target.name}, which is taken: resolve it by hand")
    return moves


def migrate(folders: Sequence[Path], drop: Sequence[str]) -> List[Tuple[Path, Path, Dict[str, Any]]]:
    r"""Apply :func:`plan`: rewrite ``result.json`` (and ``checkpoint.pt``), rename the folders."""
    moves = plan(folders, drop)
    for old, target, config in moves:
        result_path = old / "result.json"
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


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="comparison folders (holding runs/)")
    parser.add_argument("--drop", required=True, help="comma-separated hyperparameters to drop, e.g. optimizer")
    parser.add_argument("--dry-run", action="store_true", help="list the renames, change nothing")
    args = parser.parse_args(argv)
    drop = [d.strip() for d in args.drop.split(",") if d.strip()]
    moves = plan(args.folders, drop) if args.dry_run else migrate(args.folders, drop)
    for old, target, _ in moves:
        print(f"{old} -> {target.name}")
    print(f"{len(moves)} run(s) {'to re-key' if args.dry_run else 're-keyed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
