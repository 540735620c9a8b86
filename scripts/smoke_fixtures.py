r"""Write the two short SMOKE simulations that the tests compare under a rotation.

Both have buoyancy strength ``k = 10``, one with the inflow at the bottom (``j = 0``) and one on
the left (``j = 3``): the second is, up to the discretisation, the first turned by 90 degrees
clockwise. Each is simulated for 40 steps, average-pooled to 16x16 and stored as float16 by
:func:`~escnn_soft.experiments.datasets.smoke.write_smoke_fixture` (about 40 KB a file).
Needs PhiFlow 3.4.0 (``pip install escnn_soft[smoke]``); takes about a minute on one core.

Run:  OMP_NUM_THREADS=1 python scripts/smoke_fixtures.py [--out tests/fixtures/smoke]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Optional, Sequence

from escnn_soft.experiments.datasets.smoke import write_smoke_fixture

FIXTURES = ((10, 0), (10, 3))
r"""The ``(k, j)`` pairs written."""

STEPS = 40
POOL = 4


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "smoke",
                   help="the folder to write the files to (default: tests/fixtures/smoke of this repository)")
    args = p.parse_args(argv)
    for k, j in FIXTURES:
        path = write_smoke_fixture(k, j, args.out / f"smoke_k{k}_j{j}.npz", steps=STEPS, pool=POOL)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{path}  {path.stat().st_size} bytes  sha256 {digest}")


if __name__ == "__main__":
    main()
