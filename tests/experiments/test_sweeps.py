r"""Sweeps: ``--train-size``, ``--lr``, ``--lam`` and ``--pair-fraction`` with lists of values, their run keys,
their reuse, their command lines and their plans."""

import json
import shlex

import pytest

import escnn_soft.experiments.comparison as comparison
import escnn_soft.experiments.execution as execution
import escnn_soft.experiments.runner as runner
from escnn_soft.experiments import get_task
from escnn_soft.experiments.cli import format_command, main, parse_args
from escnn_soft.experiments.comparison import compare, run_configs
from escnn_soft.experiments.options import UsageError

MNIST = ["--task", "mnist", "--models", "cnn-aug,soft,scnn", "--seeds", "0,1"]


def _keys(argv, group="C4"):
    return [c.name() for c in run_configs(get_task("mnist"), parse_args(argv), group, data="x")]


def _settings(argv):
    return [(c.seed, c.model, c.train_size, c.hyperparameters.get("lr"), c.hyperparameters.get("lam"),
             c.hyperparameters.get("pair_fraction"))
            for c in run_configs(get_task("mnist"), parse_args(argv), "C4", data="x")]


def test_a_list_is_parsed_in_its_order_and_one_value_stays_one():
    options = parse_args(["--train-size", "1000, 250,4000", "--lr", "1e-3", "--lam", "1,0", "--pair-fraction",
                          "0.25,1"])
    assert (options.train_sizes, options.lrs, options.lams, options.pair_fractions) == (
        (1000, 250, 4000), (1e-3,), (1.0, 0.0), (0.25, 1.0))
    assert (parse_args([]).lrs, parse_args([]).lams, parse_args([]).pair_fractions) == ((), (), ())


def test_a_sweep_is_seeds_by_models_by_values_and_a_model_without_the_setting_runs_once():
    soft = get_task("mnist").hyperparameters("soft", "C4")
    assert _settings(MNIST + ["--lam", "0.1,1,10"]) == [
        (seed, model, 4000, 0.003, lam, None if lam is None else 1.0) for seed in (0, 1)
        for model, lams in (("cnn-aug", [None]), ("soft", [0.1, 1.0, 10.0]), ("scnn", [None])) for lam in lams]
    assert soft["lam"] == 1.0   # the task's own lambda is among them: that run is the run without --lam
    assert _settings(MNIST + ["--pair-fraction", "0.25,1"]) == [
        (seed, model, 4000, 0.003, lam, beta) for seed in (0, 1)
        for model, lam, betas in (("cnn-aug", None, [None]), ("soft", 1.0, [0.25, 1.0]), ("scnn", None, [None]))
        for beta in betas]
    assert _settings(MNIST + ["--train-size", "250,1000", "--lr", "1e-3,3e-3", "--lam", "0,1"]) == [
        (seed, model, size, lr, lam, None if lam is None else 1.0) for seed in (0, 1)
        for model in ("cnn-aug", "soft", "scnn")
        for size in (250, 1000) for lr in (1e-3, 3e-3) for lam in ((0.0, 1.0) if model == "soft" else (None,))]


@pytest.mark.parametrize("sweep", [["--lam", "0.1,1,10"], ["--pair-fraction", "0.25,0.5,1"],
                                   ["--train-size", "250,1000,4000"], ["--lr", "1e-3,3e-3"],
                                   ["--train-size", "250,1000", "--lam", "0,1", "--pair-fraction", "0.5,1"]])
def test_each_run_of_a_sweep_has_the_key_its_values_give_alone(sweep):
    r"""A sweep's keys are the union of the keys of the commands with one value each, every key once: a sweep
    reuses the runs of single values (the committed ones among them) and theirs."""
    flags, lists = sweep[::2], [text.split(",") for text in sweep[1::2]]
    singles = [[]]
    for flag, values in zip(flags, lists):
        singles = [argv + [flag, value] for argv in singles for value in values]
    keys = _keys(MNIST + sweep)
    assert len(keys) == len(set(keys))
    assert set(keys) == {key for argv in singles for key in _keys(MNIST + argv)}


def test_pair_fraction_1_and_the_tasks_own_values_keep_the_keys_of_no_option():
    r"""The models with the soft loss record their β, 1 when none is given; the others record none."""
    assert [c.hyperparameters.get("pair_fraction") for c in run_configs(get_task("mnist"), parse_args(MNIST), "C4",
                                                                          data="x")] == [None, 1.0, None] * 2
    plain = _keys(MNIST)
    assert _keys(MNIST + ["--pair-fraction", "1"]) == plain
    assert _keys(MNIST + ["--lam", "1"]) == plain and _keys(MNIST + ["--train-size", "4000"]) == plain
    assert set(plain) < set(_keys(MNIST + ["--pair-fraction", "0.5,1"]))


def test_every_group_sweeps_alike():
    argv = ["--task", "ddmnist", "--group", "C4,D4", "--models", "cnn-aug,soft", "--lam", "0.5,2"]
    task, options = get_task("ddmnist"), parse_args(argv)
    for group in options.groups:
        configs = run_configs(task, options, group, data="x")
        assert [(c.group, c.model, c.hyperparameters.get("lam")) for c in configs] == [
            (group, "cnn-aug", None), (group, "soft", 0.5), (group, "soft", 2.0)]


TINY = ["--task", "mnist", "--models", "cnn-aug,soft", "--epochs", "1", "--batch-size", "16", "--eval-size", "16",
        "--equivariance-batch", "8", "--equivariance-elements", "1", "--device", "cpu", "--threads", "1",
        "--no-progress"]


def test_a_sweep_trains_each_run_once_and_its_rerun_trains_nothing(tmp_path, capsys, monkeypatch):
    argv = TINY + ["--out", str(tmp_path), "--train-size", "32,48", "--lam", "0,1"]
    sizes = []    # (the run's training size, that of the data it trained on)
    train_run = runner.train_run

    def recording(task, data, config, *args, **kwargs):
        sizes.append((config.train_size, data.train_size))
        return train_run(task, data, config, *args, **kwargs)

    monkeypatch.setattr(runner, "train_run", recording)
    trained = compare(parse_args(argv))
    assert sorted(sizes) == [(32, 32)] * 3 + [(48, 48)] * 3     # each run on its own training set
    printed = capsys.readouterr().out
    assert "6 run(s) trained, 0 reused" in printed   # cnn-aug at 2 sizes, soft at 2 sizes × 2 λ
    assert "C4 cnn-aug seed 0, train_size 32: " in printed and "C4 soft seed 0, train_size 48, lam 0: " in printed
    assert sorted((r["config"]["model"], r["config"]["train_size"], r["config"]["hyperparameters"].get("lam"))
                  for r in trained) == [("cnn-aug", 32, None), ("cnn-aug", 48, None), ("soft", 32, 0.0),
                                        ("soft", 32, 1.0), ("soft", 48, 0.0), ("soft", 48, 1.0)]
    assert len({r["name"] for r in trained}) == 6 == len(list((tmp_path / "runs").iterdir()))
    monkeypatch.setattr(execution, "train_one", lambda *a, **k: pytest.fail("a rerun trains nothing"))
    again = compare(parse_args(argv))
    assert "0 run(s) trained, 6 reused" in capsys.readouterr().out
    assert [r["name"] for r in again] == [r["name"] for r in trained]
    one = compare(parse_args(TINY + ["--out", str(tmp_path), "--train-size", "48", "--lam", "1"]))
    assert "0 run(s) trained, 2 reused" in capsys.readouterr().out   # one value of the sweep: its runs
    assert {r["name"] for r in one} <= {r["name"] for r in trained}
    found = compare(parse_args(argv + ["--report-only"]))
    assert "0 run(s) trained, 6 reused" in capsys.readouterr().out and len(found) == 6


@pytest.mark.parametrize("argv, message", [
    (["--task", "mnist", "--train-size", "48,10000000"], "train size must be between 1 and 4000"),
    (["--task", "ddmnist", "--train-size", "200,150"], "train size must be a positive multiple of 100"),
])
def test_every_training_size_of_a_sweep_is_checked_against_the_data(tmp_path, capsys, argv, message):
    assert main(["compare", *argv, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("escnn-soft compare: error: ") and message in line
    assert not (tmp_path / "out" / "runs").exists()


@pytest.mark.parametrize("argv", [
    ["--task", "mnist", "--train-size", "250,1000,4000", "--models", "cnn-aug,soft,scnn", "--seeds", "0-4",
     "--epochs", "40", "--pair-fraction", "0.25,1"],
    ["--task", "ddmnist", "--group", "C4,D4", "--lr", "0.0005,0.001", "--lam", "1e-07,0.5,5", "--reference", "soft",
     "--compute-budget", "2.5e14"],
    ["--task", "mnist", "--lr", "0.1", "--lam", "0", "--reference", "cnn-aug", "--compute-budget", "1e+15"],
])
def test_format_command_writes_the_lists_back(argv):
    options = parse_args(argv)
    command = format_command(options)
    assert parse_args(shlex.split(command)[2:]) == options and format_command(parse_args(shlex.split(command)[2:])) \
        == command
    for flag in ("--train-size", "--lr", "--lam", "--pair-fraction"):
        if flag in argv and "," in argv[argv.index(flag) + 1]:
            assert f"{flag} {argv[argv.index(flag) + 1]}" in command


def test_a_plan_entry_may_sweep(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plans = {"efficiency": {"settings": {"task": "mnist", "epochs": 40, "models": ["cnn-aug", "soft", "scnn"],
                                         "seeds": [0, 1, 2, 3, 4]},
                            "entries": [{"part": "sizes", "train_size": [250, 1000, 4000]},
                                        {"part": "beta", "train_size": 1000, "pair_fraction": [0.25, 0.5],
                                         "lam": [1, 10], "models": ["soft"]}]}}
    (tmp_path / "plans.json").write_text(json.dumps(plans), encoding="utf-8")
    monkeypatch.setattr(comparison, "compare", lambda *a, **k: pytest.fail("--print runs nothing"))
    assert main(["plan", "efficiency", "--plans", "plans.json", "--print"]) == 0
    sizes, beta = capsys.readouterr().out.splitlines()
    assert sizes == ("escnn-soft compare --task mnist --group C4 --models cnn-aug,soft,scnn --seeds 0-4 --epochs 40 "
                     "--train-size 250,1000,4000")
    assert beta == ("escnn-soft compare --task mnist --group C4 --models soft --seeds 0-4 --epochs 40 "
                    "--train-size 1000 --lam 1,10 --pair-fraction 0.25,0.5")
    options = parse_args(shlex.split(beta)[2:])
    assert (options.train_sizes, options.lams, options.pair_fractions) == ((1000,), (1.0, 10.0), (0.25, 0.5))
    assert len(run_configs(get_task("mnist"), options, "C4", data="x")) == 5 * 2 * 2


@pytest.mark.parametrize("argv, message", [
    (["--lam", ""], "--lam got no value; give a finite number >= 0, or a comma-separated list of them"),
    (["--lam", " , "], "--lam got no value"),
    (["--lam", "0.1,,1"], "--lam '0.1,,1' has an empty item; give a finite number >= 0, or a comma-separated list"),
    (["--lr", "0.1,"], "--lr '0.1,' has an empty item"),
    (["--lam", "0.1,1e-1"], "--lam '0.1,1e-1' gives the value 0.1 twice; give each value once"),
    (["--train-size", "250,1000,250"], "--train-size '250,1000,250' gives the value 250 twice"),
    (["--pair-fraction", "1,1.0"], "--pair-fraction '1,1.0' gives the value 1 twice"),
    (["--lr", "0.1,-1"], "--lr must be a finite number > 0, got '-1' in '0.1,-1'"),
    (["--lr", "nan"], "--lr must be a finite number > 0, got 'nan'"),
    (["--lam", "1,-0.5"], "--lam must be a finite number >= 0, got '-0.5' in '1,-0.5'"),
    (["--lam", "1,x"], "--lam must be a finite number >= 0, got 'x'"),
    (["--train-size", "0"], "--train-size must be a whole number of training samples > 0, got '0'"),
    (["--train-size", "250,1e3"], "--train-size must be a whole number of training samples > 0, got '1e3' in"),
    (["--pair-fraction", "0.5,1.5"], "--pair-fraction must be a number in (0, 1], the fraction of each batch that "
                                     "the soft loss's second encoder pass runs on, got '1.5' in '0.5,1.5'"),
    (["--pair-fraction", "0.5,inf"], "--pair-fraction must be a number in (0, 1]"),
    (["--models", "cnn-aug,soft", "--reference", "scnn"],
     "the reference model 'scnn' of --reference is not among the models run: cnn-aug, soft; add it to --models"),
    (["--reference", "transformer"], "the reference model 'transformer' of --reference is not among the models run"),
    (["--compute-budget", "0"], "--compute-budget must be a finite number > 0 of training FLOPs per run, e.g. 1e15, "
                                "got '0'"),
    (["--compute-budget=-1e12"], "--compute-budget must be a finite number > 0"),
    (["--compute-budget", "inf"], "--compute-budget must be a finite number > 0"),
    (["--compute-budget", "nan"], "--compute-budget must be a finite number > 0"),
    (["--compute-budget", "lots"], "--compute-budget must be a finite number > 0 of training FLOPs per run, e.g. "
                                   "1e15, got 'lots'"),
])
def test_bad_sweeps_references_and_budgets_give_one_line_and_status_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setattr(comparison, "compare", lambda *a, **k: pytest.fail("nothing runs"))
    assert main(["compare", "--task", "mnist", *argv, "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("escnn-soft compare: error: ") and message in line
    assert captured.out == "" and not (tmp_path / "out").exists()


def test_reference_and_compute_budget_are_parsed():
    options = parse_args(["--models", "cnn-aug,soft", "--reference", "soft", "--compute-budget", "2.5e14"])
    assert (options.reference, options.compute_budget) == ("soft", 2.5e14)
    assert (parse_args([]).reference, parse_args([]).compute_budget) == (None, None)


def test_every_training_size_of_a_sweep_must_split_over_the_processes_of_a_run(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert parse_args(["--batch-size", "60", "--train-size", "180,240"]).train_sizes == (180, 240)
    with pytest.raises(UsageError, match=r"the last batch of 20 samples \(--train-size 200\)"):
        parse_args(["--batch-size", "60", "--train-size", "180,200"])


def test_a_control_at_lambda_zero_keeps_it_under_a_lambda_sweep():
    r"""SMOKE's cnn-aug is the soft loss at λ = 0: ``--lam`` must not turn it into soft; it runs once."""
    options = parse_args(["--task", "smoke-reduced", "--models", "cnn-aug,soft", "--lam", "0.05,0.5"])
    configs = run_configs(get_task("smoke-reduced"), options, "C4", data="x")
    assert sorted((c.model, c.hyperparameters["lam"]) for c in configs) == [("cnn-aug", 0.0), ("soft", 0.05),
                                                                           ("soft", 0.5)]
