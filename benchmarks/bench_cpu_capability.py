r"""PyTorch's default CPU kernels against its AVX2 kernels: one training step of DDMNIST's and MedMNIST3D's plain CNNs.

PyTorch picks the vectorised kernels of its elementwise operations once per process, from
the CPU and the environment variable ``ATEN_CPU_CAPABILITY`` (``default``, ``avx2`` or
``avx512``). The kernel set matters for these models: their ELUs evaluate ``expm1`` on every
activation, and some builds' AVX-512 ``expm1`` is far slower than their AVX2 one on some
CPUs. Since the choice is made per process, each setting runs in its own worker process,
the two workers take their steps in turns, timed from the main process (the round trip
through the pipe included), and the medians are compared, in one run.

One step is what ``escnn-soft compare`` takes (as in ``bench_memory_format.py``, whose
models and batches this reuses): the task's loss, backward and an Adam step, in train mode,
on the same initial weights and batch in both workers. The loss of each worker's first
step is printed beside its time: the two kernel sets agree to float32 rounding.

Run:  python benchmarks/bench_cpu_capability.py [--capability avx2] [--threads N]
      [--ddmnist-batch 256] [--medmnist3d-batch 32] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory_format import CASES, batch, training_steps  # noqa: E402
from timing import add_timing_options, header, interleaved, parse_timing_args, publish  # noqa: E402

_WARMUP = 2


def _batches(args: argparse.Namespace) -> Dict[str, int]:
    return {"ddmnist": args.ddmnist_batch, "adrenalmnist3d": args.medmnist3d_batch}


def _worker(args: argparse.Namespace) -> None:
    r"""Build every case's step, report the capability and the first losses, then take one
    step of the case whose index each line read names, and answer when it is done. Only the
    answers go to standard output; whatever else is printed goes to standard error."""
    answers, sys.stdout = sys.stdout, sys.stderr
    steps, first = [], []
    batches = _batches(args)
    for task_name, group, models in CASES:
        x, y = batch(task_name, batches[task_name], torch.device("cpu"))
        for model in models:
            found, losses = training_steps(task_name, group, model, x, y)
            steps.append(found["channels-last"])
            first.append(losses["channels-last"])
    print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "first": first}), file=answers,
          flush=True)
    for line in sys.stdin:
        steps[int(line)]()
        print(json.dumps("done"), file=answers, flush=True)


def _spawn(capability: str | None, argv: List[str]) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("ATEN_CPU_CAPABILITY", None)
    if capability is not None:
        env["ATEN_CPU_CAPABILITY"] = capability
    return subprocess.Popen([sys.executable, __file__, "--worker", *argv], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


def _read(worker: subprocess.Popen) -> object:
    answer = worker.stdout.readline()
    if not answer:
        raise RuntimeError(f"a benchmark worker exited (code {worker.wait()}); see its error above")
    return json.loads(answer)


def _ask(worker: subprocess.Popen, line: str) -> object:
    worker.stdin.write(line + "\n")
    worker.stdin.flush()
    return _read(worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capability", default="avx2",
                        help="the ATEN_CPU_CAPABILITY compared with PyTorch's own choice (default: avx2)")
    parser.add_argument("--ddmnist-batch", type=int, default=256)
    parser.add_argument("--medmnist3d-batch", type=int, default=32)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    add_timing_options(parser, repeats=5)
    args = parse_timing_args(parser)
    if args.worker:
        _worker(args)
        return
    argv = [f"--ddmnist-batch={args.ddmnist_batch}", f"--medmnist3d-batch={args.medmnist3d_batch}"]
    if args.threads:
        argv.append(f"--threads={args.threads}")
    workers = {"default": _spawn(None, argv), args.capability: _spawn(args.capability, argv)}
    ready = {name: _read(worker) for name, worker in workers.items()}
    chosen, other = ready["default"]["capability"], ready[args.capability]["capability"]
    lines = header("benchmarks/bench_cpu_capability.py") + [
        f"Kernels: {chosen} with ATEN_CPU_CAPABILITY unset, {other} with ATEN_CPU_CAPABILITY={args.capability}.",
        "",
        f"Median seconds of one training step (the task's loss, backward, Adam) in train mode, each kernel set in "
        f"its own process, the two taking their steps in turns: {args.repeats} turns after {_WARMUP} warm-up "
        f"turns (the loss of each one's first step is printed).", "",
        f"| task | group | model | batch | {chosen} (s) | {other} (s) | {chosen} / {other} "
        f"| first loss, {chosen} | first loss, {other} |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    cases = [(t, g, m) for t, g, models in CASES for m in models]
    batches = _batches(args)
    for index, (task_name, group, model) in enumerate(cases):
        steps = {name: lambda worker=worker: _ask(worker, str(index)) for name, worker in workers.items()}
        medians = interleaved(steps, repeats=args.repeats, warmup=_WARMUP)
        a, b = (medians[name] for name in workers)
        print(task_name, model, f"{a:.3f} s / {b:.3f} s", flush=True)
        losses = [ready[name]["first"][index] for name in workers]
        lines.append(f"| {task_name} | {group} | {model} | {batches[task_name]} | {a:.3f} | {b:.3f} | "
                     f"{a / b:.2f}× | {losses[0]:.6f} | {losses[1]:.6f} |")
    for worker in workers.values():
        worker.stdin.close()
        worker.wait()
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
