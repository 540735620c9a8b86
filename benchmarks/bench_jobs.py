r"""Throughput of ``escnn-soft compare --jobs 1`` against ``--jobs 2``: runs finished per minute.

Both train the same small grid (by default the mnist task, two models, four seeds, 512
training digits, 2 epochs, one thread per run) from scratch into fresh folders, each
time as a new ``escnn-soft compare`` process, so process start-up, imports and data
loading count as they do for a user. The two settings take turns (``--repeats`` rounds,
alternating which goes first) and their medians are compared:

.. math::
    \text{speed-up} = \frac{\text{runs per minute with } \texttt{--jobs 2}}
                           {\text{runs per minute with } \texttt{--jobs 1}}.

On a machine whose cores are busy with other work the figure says little; run it alone.

Run:  python benchmarks/bench_jobs.py [--repeats 3] [--seeds 0-3] [--train-size 512] [--epochs 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import header, publish  # noqa: E402


def grid(args: argparse.Namespace, out: Path, jobs: int) -> List[str]:
    r"""The ``escnn-soft compare`` command line of the benchmark grid with ``jobs`` processes."""
    return [sys.executable, "-m", "escnn_soft.experiments.cli", "compare", "--task", args.task, "--models",
            args.models, "--seeds", args.seeds, "--train-size", str(args.train_size), "--epochs", str(args.epochs),
            "--threads", "1", "--jobs", str(jobs), "--device", "cpu", "--no-progress", "--out", str(out)]


def runs_in(args: argparse.Namespace) -> int:
    from escnn_soft.experiments.cli import parse_args

    options = parse_args(grid(args, Path("unused"), 1)[4:])
    return len(options.groups) * len(options.models) * len(options.seeds)


def timed(command: Sequence[str]) -> float:
    r"""Seconds the command takes; it must succeed."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="mnist")
    parser.add_argument("--models", default="cnn,cnn-aug")
    parser.add_argument("--seeds", default="0-3")
    parser.add_argument("--train-size", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of both settings (default 3)")
    parser.add_argument("--out", default=None, help="also write the result (markdown) to this file")
    args = parser.parse_args(argv)
    runs = runs_in(args)
    seconds = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeats):
            for jobs in ((1, 2) if round_ % 2 == 0 else (2, 1)):
                seconds[jobs].append(timed(grid(args, Path(tmp) / f"jobs{jobs}-round{round_}", jobs)))
    rate = {jobs: 60 * runs / statistics.median(times) for jobs, times in seconds.items()}
    lines = header("benchmarks/bench_jobs.py") + [
        "", f"grid: {args.task}, models {args.models}, seeds {args.seeds}, train size {args.train_size}, "
            f"{args.epochs} epoch(s): {runs} runs; {args.repeats} round(s), medians", ""]
    for jobs in (1, 2):
        lines.append(f"- `--jobs {jobs}`: {rate[jobs]:.2f} runs/min "
                     f"({', '.join(f'{s:.1f}' for s in seconds[jobs])} s per grid)")
    lines += ["", f"speed-up of `--jobs 2`: {rate[2] / rate[1]:.2f}x"]
    publish("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
