r"""Generate the SMOKE simulations of a preset into the cache (or a folder), several at a time.

The ``smoke`` and ``smoke-reduced`` tasks generate what they lack on first use, one simulation
at a time; this script does the same ahead of time with ``--jobs`` worker processes of one
thread each. What is cached is never generated again
(:func:`~escnn_soft.experiments.datasets.generate_smoke`). Needs PhiFlow 3.4.0
(``pip install escnn_soft[smoke]``).

Run:  OMP_NUM_THREADS=1 python scripts/smoke_data.py --preset smoke-reduced --jobs 2 [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Optional, Sequence

from escnn_soft.experiments.datasets.smoke import generate_smoke
from escnn_soft.experiments.tasks.smoke import SMOKE_PRESETS


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(SMOKE_PRESETS), default="smoke-reduced")
    p.add_argument("--root", type=Path, help="the folder to write to (default: the cache folder the tasks read)")
    p.add_argument("--jobs", type=int, default=1, help="simulations at a time (default 1)")
    args = p.parse_args(argv)
    preset = SMOKE_PRESETS[args.preset]
    start = time.perf_counter()
    root = generate_smoke(preset.train_simulations + preset.domain_simulations, args.root, progress=True,
                          jobs=args.jobs)
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    for key in preset.train_simulations + preset.domain_simulations:
        entry = manifest["files"][f"raw_data_{key[0]}_{key[1]}.npy"]
        print(f"raw_data_{key[0]}_{key[1]}.npy  sha256 {entry['sha256']}  {entry['seconds']:.0f} s")
    print(f"{args.preset}: {time.perf_counter() - start:.0f} s in this call, {args.jobs} job(s)")


if __name__ == "__main__":
    main()
