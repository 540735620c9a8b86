import csv
import json
import subprocess
import sys
import time

import pytest
import torch
from conftest import cuda_devices

import escnn_soft.experiments.cli as cmp
from escnn_soft.experiments.cli import Options, compare, main, parse_args
from escnn_soft.experiments import get_task

TINY = ["--train-size", "200", "--epochs", "1", "--equivariance-batch", "16", "--no-progress", "--threads", "1"]



@pytest.fixture(autouse=True)
def small_evaluation_sets(monkeypatch):
    """Evaluate on the first 300 validation and test images only: evaluation dominates tiny runs."""
    task = get_task("ddmnist")
    load = task.load

    def small_load(*args, **kwargs):
        data = load(*args, **kwargs)
        data.val = tuple(t[:300] for t in data.val)
        data.test = tuple(t[:300] for t in data.test)
        return data

    monkeypatch.setattr(task, "load", small_load)


def _results(out):
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "runs").glob("*/result.json")}


def test_tiny_comparison_writes_reports_then_reuses_them(tmp_path, capsys, monkeypatch):
    out = tmp_path / "cmp"
    argv = ["compare", "--models", "cnn,soft", "--out", str(out), *TINY]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| model | test accuracy (%) | parameters | s/epoch | latent equiv. error | output equiv. error |" in printed
    assert "best validation accuracy" in printed and "2 run(s) trained, 0 reused" in printed

    results = _results(out)
    assert sorted(r["config"]["model"] for r in results.values()) == ["cnn", "soft"]
    for name, r in results.items():
        assert r["name"] == name and r["config"]["epochs"] == 1 and r["parameters"] == 33_742
        assert [h["epoch"] for h in r["history"]] == [1]
        assert {"val_score", "test_score", "train_seconds"} <= set(r["history"][0])
        assert r["latent_equivariance_error"] >= 0 and r["output_equivariance_error"] >= 0
        assert len(r["output_equivariance_error_per_element"]) == 15  # C4 x C4 without the identity
        assert r["device"].startswith("cuda" if torch.cuda.is_available() else "cpu") and r["metric"] == "accuracy"
        assert (out / "runs" / name / "model.pt").is_file()
        assert not (out / "runs" / name / "checkpoint.pt").exists()
    soft = next(r for r in results.values() if r["config"]["model"] == "soft")
    assert soft["config"]["hyperparameters"] == {"optimizer": "adam", "lr": 1e-3, "lam": 2.0, "shifted_weight": 0.0}

    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["cnn", "soft"] and "test_accuracy" in rows[0]
    with open(out / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 2
    assert "| soft |" in (out / "summary.md").read_text()
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the same command again: nothing is trained, no result is rewritten
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*")}
    monkeypatch.setattr(cmp, "train_run", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert main(argv) == 0
    assert "0 run(s) trained, 2 reused" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*")} == stamps


class Interrupt(Exception):
    pass


def _interrupt_after(epoch):
    def on_epoch(e, record):
        if e == epoch:
            raise Interrupt

    return on_epoch


def _comparable(history):
    return [{k: v for k, v in h.items() if not k.endswith("seconds")} for h in history]


@pytest.mark.parametrize("device", ["cpu"] + cuda_devices())
def test_interrupted_run_resumes_from_its_checkpoint(tmp_path, device):
    options = dict(task="ddmnist", groups=("C4",), models=("soft",), seeds=(0,), epochs=2, train_size=200,
                   batch_size=64, equivariance_batch=16, progress=False, device=device)
    reference = compare(Options(**options, out=tmp_path / "a"))[0]

    out = tmp_path / "b"
    with pytest.raises(Interrupt):
        compare(Options(**options, out=out), on_epoch=_interrupt_after(1))
    (run_dir,) = (out / "runs").iterdir()
    assert (run_dir / "checkpoint.pt").is_file() and not (run_dir / "result.json").exists()

    epochs = []
    resumed = compare(Options(**options, out=out), on_epoch=lambda e, r: epochs.append(e))[0]
    assert epochs == [2]  # the first epoch is not trained again
    assert resumed["resumed_from_epoch"] == 1 and reference["resumed_from_epoch"] is None
    assert resumed["name"] == reference["name"]
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert not (run_dir / "checkpoint.pt").exists()
    if device == "cpu":  # as if never interrupted (CUDA kernels need not be deterministic)
        assert _comparable(resumed["history"]) == pytest.approx(_comparable(reference["history"]), rel=1e-5)
        assert resumed["test_score"] == reference["test_score"]
        assert resumed["latent_equivariance_error"] == pytest.approx(reference["latent_equivariance_error"],
                                                                     rel=1e-5)


def test_killed_process_resumes_at_its_next_epoch(tmp_path):
    out = tmp_path / "cmp"
    argv = ["--models", "cnn", "--train-size", "200", "--epochs", "3", "--equivariance-batch", "8", "--no-progress",
            "--device", "cpu", "--threads", "1", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "escnn_soft.experiments.cli", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    try:
        while not list(out.glob("runs/*/checkpoint.pt")):
            assert proc.poll() is None, "the comparison ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 180 s"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    (checkpoint,) = out.glob("runs/*/checkpoint.pt")
    done = len(torch.load(checkpoint, weights_only=True)["history"])
    if done == 3:
        pytest.skip("the process finished its last epoch before it was killed")

    epochs = []
    (result,) = compare(parse_args(argv), on_epoch=lambda e, r: epochs.append(e))
    assert epochs == list(range(done + 1, 4))
    assert result["resumed_from_epoch"] == done and [h["epoch"] for h in result["history"]] == [1, 2, 3]


@pytest.mark.parametrize("argv, message", [
    (["--task", "nope"], "unknown task 'nope'"),
    (["--group", "C5"], "unknown group 'C5'"),
    (["--models", "cnn,mlp"], "unknown model 'mlp'"),
    (["--mnist", "{tmp}/missing.npz"], "not found"),
    (["--train-size", "100000"], "larger than available"),
    (["--train-size", "150"], "multiple of 100"),
    (["--epochs", "0"], "--epochs must be positive"),
    (["--threads", "0"], "--threads must be positive"),
    (["--epochs", "two"], "invalid int value"),
    (["--seeds", "a,b"], "--seeds"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_arguments_give_one_line_and_status_2(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["compare", *argv, "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("escnn-soft compare: error: ") and message in lines[0]
    assert captured.out == "" and not (tmp_path / "out").exists()


def test_module_entry_point_reports_bad_arguments():
    # -W ignore: a fresh install of escnn prints SyntaxWarnings while Python 3.12 compiles it
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "escnn_soft.experiments.cli", "--group", "C5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "escnn-soft compare: error: unknown group 'C5' for task ddmnist; valid: C4, D1, D4"]


def test_defaults_and_lists():
    options = parse_args([])
    assert (options.task, options.groups, options.models) == ("ddmnist", ("C4",), ("cnn-aug", "soft", "scnn"))
    assert (options.epochs, options.train_size, options.batch_size, options.seeds) == (3, 3000, 256, (0,))
    assert parse_args(["--seeds", "3"]).seeds == (0, 1, 2)
    assert parse_args(["--seeds", "0,2,2"]).seeds == (0, 2)
    assert parse_args(["--seeds", "5,"]).seeds == (5,)
    assert parse_args(["--group", "C4,D4"]).groups == ("C4", "D4")
    assert parse_args(["--models", "all"]).models == ("cnn", "cnn-aug", "soft", "scnn", "rpp")


def test_report_only_trains_nothing_and_lists_missing(tmp_path, capsys):
    from escnn_soft.experiments.cli import main

    out = tmp_path / "out"
    assert main(["--models", "cnn", "--epochs", "1", "--train-size", "200", "--out", str(out), "--no-progress",
                 "--threads", "1", "--equivariance-batch", "16"]) == 0
    capsys.readouterr()
    assert main(["--models", "cnn,soft", "--epochs", "1", "--train-size", "200", "--out", str(out), "--no-progress",
                 "--report-only"]) == 0
    printed = capsys.readouterr().out
    assert "0 run(s) trained, 1 reused" in printed
    assert "1 run(s) not finished, left out: C4 soft seed 0" in printed
    assert len(list((out / "runs").iterdir())) == 1


def test_shifted_weight_option(tmp_path):
    from escnn_soft.experiments.cli import UsageError, parse_args

    assert parse_args(["--shifted-weight", "1"]).shifted_weight == 1.0
    with pytest.raises(UsageError, match="--shifted-weight must be >= 0"):
        parse_args(["--shifted-weight", "-1"])


def test_checkpoint_from_another_device_resumes_with_a_reseeded_stream(tmp_path):
    r"""A checkpoint whose generator state comes from another kind of device (e.g. CUDA, 16 bytes)
    resumes on this one: same epoch, the run's random stream re-seeded and recorded."""
    from escnn_soft.experiments.cli import compare, parse_args

    out = tmp_path / "out"
    args = ["--models", "cnn", "--epochs", "2", "--train-size", "200", "--out", str(out), "--no-progress",
            "--threads", "1", "--equivariance-batch", "16", "--device", "cpu"]

    class Stop(Exception):
        pass

    def stop(epoch, record):
        raise Stop

    with pytest.raises(Stop):
        compare(parse_args(args), on_epoch=stop)
    (run_dir,) = (out / "runs").iterdir()
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    ckpt["random"]["generator"] = torch.zeros(16, dtype=torch.uint8)  # the size of a CUDA generator's state
    torch.save(ckpt, run_dir / "checkpoint.pt")
    (result,) = compare(parse_args(args))
    assert result["resumed_from_epoch"] == 1 and result["random_stream_reseeded_at_epoch"] == 2
    assert len(result["history"]) == 2
