r"""How many test errors of a DDMNIST model only swap the two digits.

A model that is strictly invariant to :math:`G` acting on the whole image cannot tell the
pair :math:`(a, b)` from :math:`(b, a)` when :math:`G` holds an element that moves the left
digit onto the right one (the mirror of D1, the half turn of C4 and D4): both images are
drawn with the same probability, so at most :math:`10\% + 90\% / 2 = 55\%` of the test pairs
can be right. This script reads finished runs whose weights are still beside their
``result.json`` (weights are not committed) and prints, per run, the test accuracy, the
accuracy up to swapping the digits, and the accuracy on pairs with equal and unequal digits.

Run:  python results/ddmnist/swap_analysis.py --mnist path/to/mnist.npz [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from escnn_soft.experiments.datasets import DoubleDigitMNIST, load_mnist
from escnn_soft.experiments.tasks import DDMNISTTask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", required=True, help="the mnist.npz (or idx folder) the runs were trained on")
    parser.add_argument("runs", nargs="*", help="run folders (default: every run of results/ddmnist/runs with weights)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [Path(r) for r in args.runs] or sorted(Path(__file__).parent.glob("runs/*"))
    runs = [r for r in runs if (r / "model.pt").exists() and (r / "result.json").exists()]
    if not runs:
        raise SystemExit("no finished run with its model.pt found: train one with escnn-soft compare first")
    mnist = load_mnist(args.mnist)
    task = DDMNISTTask()
    print("| run | test accuracy | correct up to swapping the digits | a = b | a ≠ b |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for run in runs:
        config = json.loads((run / "result.json").read_text())["config"]
        model, group = config["model"], config["group"]
        net = task.build(model, group, config["hyperparameters"]).model
        net.load_state_dict(torch.load(run / "model.pt", map_location="cpu"))
        net.eval()
        test = DoubleDigitMNIST(group, "test", source=mnist, seed=config["data_seed"])
        with torch.no_grad():
            pred = torch.cat([net(test.images[i:i + 500]).argmax(1) for i in range(0, len(test.labels), 500)])
        y = test.labels
        right = pred == y
        swapped = pred == (y % 10) * 10 + y // 10
        same = y // 10 == y % 10
        print(f"| {run.name} | {right.float().mean():.4f} | {(right | swapped).float().mean():.4f} | "
              f"{right[same].float().mean():.3f} | {right[~same].float().mean():.3f} |")


if __name__ == "__main__":
    main()
