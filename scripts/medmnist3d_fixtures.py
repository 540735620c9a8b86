r"""Write small MedMNIST 3D files of random volumes, to try the MedMNIST3D tasks without the real data.

Each ``{flag}.npz`` is written by :func:`~escnn_soft.experiments.datasets.write_medmnist3d_fixture`:
the keys of the official files, random ``uint8`` volumes and labels cycling through the
dataset's classes. The volumes carry no signal: a run on them checks the pipeline, not the model.

Run:  python scripts/medmnist3d_fixtures.py --out runs/medmnist3d-fixtures
      [--flags nodulemnist3d,synapsemnist3d,organmnist3d] [--sizes 16,8,8]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from escnn_soft.experiments.datasets import MEDMNIST3D_LABELS, write_medmnist3d_fixture

PAPER_FLAGS = ("nodulemnist3d", "synapsemnist3d", "organmnist3d")
r"""The three datasets of the paper's Table 5."""


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="the folder to write the files to")
    p.add_argument("--flags", default=",".join(PAPER_FLAGS), help="comma-separated flags (default: the paper's three)")
    p.add_argument("--sizes", default="16,8,8", help="volumes per split: train,val,test (default 16,8,8)")
    args = p.parse_args(argv)
    sizes = [int(v) for v in args.sizes.split(",")]
    if len(sizes) != 3 or min(sizes) < 2:
        p.error(f"--sizes takes three numbers of at least 2 (train,val,test; batch norm needs two), "
                f"got {args.sizes!r}")
    for flag in args.flags.split(","):
        if flag not in MEDMNIST3D_LABELS:
            p.error(f"unknown flag {flag!r}; valid flags: {', '.join(MEDMNIST3D_LABELS)}")
        print(write_medmnist3d_fixture(args.out, flag, sizes))


if __name__ == "__main__":
    main()
