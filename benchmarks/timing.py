r"""Interleaved timing: A and B measured in turns, medians compared, in one run."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import argparse
from typing import Callable, Dict

import torch

from escnn_soft.records import atomic_write_text, provenance

__all__ = ["interleaved", "environment", "header", "publish", "add_timing_options", "parse_timing_args"]


def _sync(device: torch.device | str | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int = 2, number: int = 1,
                device: torch.device | str | None = None) -> Dict[str, float]:
    r"""Median seconds per call of each function, calling them in turns ``repeats`` times.

    Each turn times ``number`` calls in a row (as ``timeit`` does), so that a function
    is not charged alone for the caches the previous one emptied.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    _sync(device)
    times: Dict[str, list] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            for _ in range(number):
                fn()
            _sync(device)
            times[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(t) for name, t in times.items()}


def environment(device: torch.device | str = "cpu") -> Dict[str, object]:
    r"""The code (:func:`escnn_soft.records.provenance`), machine and library versions a result was measured with."""
    import escnn

    device = torch.device(device)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    machine = f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    if device.type == "cuda":
        machine = f"{torch.cuda.get_device_name(device)}; host {machine}"
    code = provenance()
    env = {"escnn_soft": code["version"], "commit": code["commit"], "dirty": code["dirty"], "machine": machine,
           "python": platform.python_version(),
           "torch": torch.__version__, "escnn": escnn.__version__, "device": str(device)}
    env.update({k: v for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_") or k == "ATEN_CPU_CAPABILITY"})
    return env


def header(script: str, device: torch.device | str = "cpu") -> list:
    r"""The first lines of a result file: the command that made it, then :func:`environment`."""
    command = " ".join([f"python {script}"] + sys.argv[1:])
    return [f"command: `{command}`", "  ".join(f"{k}: {v}" for k, v in environment(device).items())]


def publish(text: str, out: str | None) -> None:
    r"""Prints a result and, with ``out``, writes it to that file."""
    print(text)
    if out:
        atomic_write_text(out, text + "\n")


def add_timing_options(parser: argparse.ArgumentParser, repeats: int) -> None:
    r"""The options every step benchmark takes: ``--repeats``, ``--threads`` and ``--out``."""
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", default=None, help="also write the table (markdown) to this file")


def parse_timing_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    r"""Parse the command line, set the torch threads of ``--threads`` and seed torch with 0."""
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return args
