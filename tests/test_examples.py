r"""The examples (the user guide's pages) run end to end on tiny settings, as a user starts them, and print
what their pages say."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _numbers(line: str) -> List[float]:
    return [float(v) for v in re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", line)]


def test_every_example_is_tested():
    tested = {"01_own_model.py", "02_choosing_the_latent.py", "03_measuring_equivariance.py", "04_does_it_pay.py",
              "05_learned_actions.py", "06_off_the_grid.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_own_model():
    out = _run("01_own_model.py", "--epochs", "1", "--train-size", "128")
    pair, cut = _numbers(next(line for line in out.splitlines() if line.startswith("encoder–head pair")))
    assert pair == cut                                           # from_layer gives the loss of the pair
    assert "parameters: model 14794, loss 14794" in out           # the loss adds none
    for model in ("cnn-aug", "soft"):
        line = next(line for line in out.splitlines() if line.startswith(model))
        accuracy, before, after = _numbers(line)
        assert "after 1 epochs" in line and 0 <= accuracy <= 1 and before > 0 and after > 0


def test_choosing_the_latent():
    out = _run("02_choosing_the_latent.py")
    for group in ("C4", "D4"):
        line = next(line for line in out.splitlines() if line.startswith(f"{group}: largest difference"))
        assert _numbers(line)[0] < 1e-12                          # escnn's regular representation
    assert "RegularLatent(16×regular(C4) ⊕ 2×trivial, dim=66)" in out
    assert "90°      : [3.0, 0.0, 1.0, 2.0, 7.0, 4.0, 5.0, 6.0, 8.0, 9.0]" in out
    exact = next(line for line in out.splitlines() if "with the field action" in line)
    channels = next(line for line in out.splitlines() if "permuting channels alone" in line)
    assert _numbers(exact)[0] < 1e-5 < 0.1 < _numbers(channels)[0]
    assert "RegularLatent(4×regular(C4 X C4) ⊕ 2×trivial, dim=66) | same group as the input action: True" in out


def test_measuring_equivariance():
    out = _run("03_measuring_equivariance.py")
    assert out.count("EquivarianceError(D4, 8 elements)") == 2
    assert "the escnn network passes" in out
    assert "the plain CNN fails: not equivariant within" in out
    assert _numbers(next(line for line in out.splitlines() if line.startswith("exported")))[0] < 1e-5


def test_does_it_pay(tmp_path):
    out = _run("04_does_it_pay.py", "--train-size", "64", "--epochs", "1", "--seeds", "0", "--out", str(tmp_path))
    assert "| cnn-aug |" in out and "| soft |" in out and "| scnn |" in out
    assert "3 run(s) trained, 0 reused" in out
    assert {"summary.md", "results.csv", "compare.png", "compute.png"} <= {p.name for p in tmp_path.iterdir()}
    assert "| soft | cnn-aug | test |" in out and "Welch's t-test" in out       # the reference comparison
    assert out.count("seed 0: test accuracy") == 6                # the runner's lines and the page's own
    lines = {model: next(line for line in out.splitlines() if line.startswith(f"{model} ") and "seed 0:" in line)
             for model in ("cnn-aug", "soft", "scnn")}
    for model in ("cnn-aug", "soft"):                             # the latent is measured for both
        assert len(_numbers(lines[model].split("latent equivariance error")[1].split(",")[0])) == 1
    assert "latent equivariance error —" in lines["scnn"]         # scnn declares no latent
    assert _numbers(lines["scnn"].split("output equivariance error")[1])[0] < 1e-5    # invariant by construction


def test_learned_actions():
    out = _run("05_learned_actions.py", "--steps", "20", "--runs", "2", "--dim", "6")
    assert "LearnedRepresentation(C4, dim=6" in out
    assert "seed 0: after 20 steps" in out and "seed 1: after 20 steps" in out
    assert "learned, seed 1" in out and "| seed 1 |" in out and "| 2 × regular |" in out


def test_off_the_grid():
    out = _run("06_off_the_grid.py")
    lines = out.splitlines()
    resampled = _numbers(next(line for line in lines if line.startswith("largest difference from escnn")))
    assert resampled[1] < resampled[0] / 5                     # spline, bilinear: the images rotated by 45°
    assert "closest to escnn's transform: spline" in out
    errors = {}
    for action in ("escnn transform", "bilinear field_action", "spline field_action"):
        errors[action] = _numbers(next(line for line in lines if line.startswith(action)))
        assert len(errors[action]) == 8
        assert max(errors[action][0::2]) < 1e-5                # multiples of 90° permute the grid
        assert min(errors[action][1::2]) > 1e-3                # 45° + k·90° resample it
    for k in range(1, 8, 2):                                   # the 45° elements
        escnn, bilinear, spline = (errors[action][k] for action in errors)
        assert escnn / 1.5 < spline < 1.5 * escnn and bilinear > max(escnn, spline)
    odd = {action: _numbers(next(line for line in lines if line.startswith(f"at 45° + k·90°: {action}")))
           for action in errors}
    assert odd["escnn transform"][1] == 1.0 and 1 / 1.5 < odd["spline field_action"][1] < 1.5
    assert odd["bilinear field_action"][1] > 1
    assert "closest to escnn's transform at 45°: spline field_action" in out
    table = [_numbers(line) for line in lines if line.startswith("σ = ")]
    assert len(table) == 5
    for column in range(1, 4):                                 # the error falls as the inputs get smoother
        assert all(a[column] > b[column] for a, b in zip(table, table[1:]))
    for sigma, escnn, bilinear, spline, bilinear_ratio, spline_ratio in table:
        assert bilinear > escnn and bilinear_ratio > 1 and 1 / 1.5 < spline_ratio < 1.5
