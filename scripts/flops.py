r"""Write or check results/flops.json, the training FLOPs of the committed runs that the READMEs compare.

One entry per distinct run setting (every setting but the seed, the data and the epochs:
:func:`~escnn_soft.experiments.results.flops_settings`) of the finished runs under
:data:`FOLDERS`: the FLOPs of one training step at the run's batch size and of one epoch, counted
by :func:`~escnn_soft.experiments.compute.flops_entry` (PyTorch's ``FlopCounterMode``, on the
CPU, with no data). The READMEs read the table (:func:`~escnn_soft.experiments.results.load_flops`)
instead of counting, which takes about a minute for the 3D steerable models.

``--write`` counts the settings the table lacks and keeps the entries it has (``--recount``: counts
every one again); ``--check`` writes nothing, fails if a run setting has no entry, and counts the
entries whose settings contain each ``--match`` text again (all without one) to compare them.

Run:  python scripts/flops.py --write | --check [--match TEXT ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

from escnn_soft.experiments.results import flops_settings, load_flops, load_runs, select, settings_key
from escnn_soft.records import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "results" / "flops.json"
FOLDERS = tuple(ROOT / "results" / name
                for name in ("ddmnist-150", "ddmnist-50", "mnist", "mnist-efficiency", "medmnist3d", "smoke",
                             "smoke-lambda"))
r"""The comparisons whose runs the READMEs' verdict tables compare."""


def run_settings() -> Dict[str, Dict[str, Any]]:
    r"""The :func:`~escnn_soft.experiments.results.flops_settings` of every finished run under
    :data:`FOLDERS`, by their key, sorted by task, group, model and key."""
    found = {settings_key(flops_settings(r["config"])): flops_settings(r["config"])
             for folder in FOLDERS for r in select(load_runs(folder), by_seed=False)}
    return dict(sorted(found.items(), key=lambda kv: (kv[1]["task"], kv[1]["group"], kv[1]["model"], kv[0])))


def count(settings: Dict[str, Any]) -> Dict[str, Any]:
    r"""The table entry of ``settings`` (:func:`~escnn_soft.experiments.compute.flops_entry`), and how
    long counting took, printed."""
    import escnn_soft.experiments.tasks  # noqa: F401  (registers the tasks)
    from escnn_soft.experiments.compute import flops_entry
    from escnn_soft.experiments.task import get_task

    start = time.perf_counter()
    entry = flops_entry(get_task(settings["task"]), settings)
    print(f"{settings['task']} {settings['group']} {settings['model']}: {entry['step_flops']:.4g} FLOPs per step, "
          f"{entry['epoch_flops']:.4g} per epoch ({time.perf_counter() - start:.1f} s)", flush=True)
    return entry


def write(recount: bool) -> int:
    table = {} if recount or not TABLE.is_file() else load_flops(TABLE)
    entries: List[Dict[str, Any]] = [table[key] if key in table else count(settings)
                                     for key, settings in run_settings().items()]
    lines = ",\n".join(f"  {json.dumps(e, sort_keys=True)}" for e in entries)
    atomic_write_text(TABLE, f'{{"entries": [\n{lines}\n]}}\n')   # one entry a line
    print(f"wrote {TABLE.relative_to(ROOT)}: {len(entries)} entries")
    return 0


def check(match: Sequence[str]) -> int:
    table = load_flops(TABLE)
    missing = [key for key in run_settings() if key not in table]
    chosen = [key for key in table if not match or any(text in key for text in match)]
    differ = [key for key in chosen if count(table[key]["settings"]) != table[key]]
    for key in missing:
        print(f"no entry for the run setting {key}", file=sys.stderr)
    for key in differ:
        print(f"counted again, the entry differs: {key}", file=sys.stderr)
    if missing or differ:
        print(f"{TABLE.relative_to(ROOT)} is out of date: run python scripts/flops.py --write", file=sys.stderr)
        return 1
    print(f"{len(chosen)} entries counted again: as in {TABLE.relative_to(ROOT)}")
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="count the run settings the table lacks and write it")
    mode.add_argument("--check", action="store_true", help="write nothing; count entries again and compare")
    parser.add_argument("--recount", action="store_true", help="with --write: count every entry again")
    parser.add_argument("--match", nargs="+", default=(), metavar="TEXT",
                        help="with --check: count again only the entries whose settings contain a TEXT")
    args = parser.parse_args(argv)
    if args.recount and not args.write:
        parser.error("--recount goes with --write")
    if args.match and not args.check:
        parser.error("--match goes with --check")
    return write(args.recount) if args.write else check(args.match)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
