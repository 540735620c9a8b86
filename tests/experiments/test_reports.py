r"""The statistics of the reports: a row per swept value, comparisons with a reference model (Welch's
t-test), the majority-class baseline, scores at equal compute and the sweep plot."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from scipy import stats

from escnn_soft.experiments.reports import (MAJORITY, compute_budgets, format_table, summarize, verdict_text,
                                           write_reports)
from escnn_soft.experiments.results import mean_difference

ROOT = Path(__file__).resolve().parents[2]


class Metric:
    metric = "accuracy"


def _run(model, seed, test, *, train_size=100, lam=None, pair_fraction=None, upright=None, vals=None, tests=None,
         majority=None):
    r"""A finished run whose best validation epoch gives ``test`` (a one-epoch history unless ``vals`` and
    ``tests`` give one)."""
    hyper = {"lr": 0.1, **({"lam": lam} if lam is not None else {}),
             **({"pair_fraction": pair_fraction} if pair_fraction is not None else {})}
    vals, tests = vals or [0.5], tests or [test]
    history = [{"epoch": k + 1, "val_score": v, "test_score": t,
                **({"test_scores": {"upright": upright}} if upright is not None else {})}
               for k, (v, t) in enumerate(zip(vals, tests))]
    result = {"config": {"task": "t", "group": "G", "model": model, "seed": seed, "epochs": len(history),
                         "train_size": train_size, "batch_size": 10, "hyperparameters": hyper, "data": f"d{seed}"},
              "name": f"{model}-{lam}-{train_size}-{seed}", "best_epoch": 1, "val_score": max(vals),
              "test_score": test, "final_test_score": tests[-1], "parameters": 1234, "seconds_per_epoch": 1.0,
              "train_seconds": 4.0, "latent_equivariance_error": None, "output_equivariance_error": 0.5,
              "device": "cpu", "history": history}
    if upright is not None:
        result["test_scores"] = {"upright": upright}
    if majority is not None:
        result["majority_rates"] = majority
    return result


AUG = (0.80, 0.82, 0.81)
r"""cnn-aug's test scores over three seeds."""


def test_the_words_follow_the_interval():
    higher = mean_difference([0.90, 0.91, 0.92], [0.80, 0.81, 0.82])
    assert higher["low"] > 0 and verdict_text(higher) == "higher"
    lower = mean_difference([0.80, 0.81, 0.82], [0.90, 0.91, 0.92])
    assert lower["high"] < 0 and verdict_text(lower) == "lower"
    # +1 point, but the interval includes 0
    unsure = mean_difference([0.80, 0.86, 0.83], [0.81, 0.83, 0.82])
    assert unsure["difference"] > 0 and unsure["low"] < 0 < unsure["high"]
    assert verdict_text(unsure) == "no detectable difference (n = 3 vs 3)"
    assert verdict_text(mean_difference([0.9], [0.8, 0.7])) == (
        "no test: Welch's t-test needs two seeds on each side (n = 1 vs 2)")


def test_a_single_setting_gives_one_row_per_model_without_sweep_or_reference_columns():
    rows = summarize([_run(m, s, 0.8) for s in range(2) for m in ("cnn-aug", "soft")])
    assert [r["model"] for r in rows] == ["cnn-aug", "soft"]
    assert not any(k in rows[0] for k in ("swept", "reference", "against", "test_score_difference"))
    assert "Against" not in format_table(rows, Metric())
    assert [r["seeds"] for r in summarize([_run("soft", s, 0.8) for s in range(3)], reference="cnn-aug")] == [3]


def _lam_sweep():
    return ([_run("cnn-aug", s, t) for s, t in enumerate(AUG)]
            + [_run("soft", s, t, lam=0.5) for s, t in enumerate((0.90, 0.91, 0.92))]
            + [_run("soft", s, t, lam=0.05) for s, t in enumerate((0.80, 0.86, 0.83))])


def test_each_lam_row_is_compared_with_the_one_cnn_aug_row():
    rows = summarize(_lam_sweep(), reference="cnn-aug")
    assert [(r["model"], r["swept"], r["lam"]) for r in rows] == [
        ("cnn-aug", None, None), ("soft", "lam=0.05", 0.05), ("soft", "lam=0.5", 0.5)]
    aug, low, high = rows
    assert aug["against"] is None and aug["test_score_difference"] is None
    assert low["against"] == high["against"] == "cnn-aug"
    welch = stats.ttest_ind([0.90, 0.91, 0.92], AUG, equal_var=False)
    interval = welch.confidence_interval(0.95)
    assert high["test_score_difference"] == pytest.approx(0.91 - 0.81)
    assert (high["test_score_low"], high["test_score_high"]) == pytest.approx((interval.low, interval.high))
    assert high["test_score_p"] == pytest.approx(welch.pvalue)
    assert (high["test_score_seeds"], high["test_score_verdict"]) == ("3 vs 3", "higher")
    assert low["test_score_verdict"] == "no detectable difference (n = 3 vs 3)"
    table = format_table(rows, Metric())
    assert "| soft (lam=0.05) | 1,234 |" not in table and "| soft (lam=0.05) | 83.00 ± 3.00 |" in table
    assert "Welch's t-test (`scipy.stats.ttest_ind(equal_var=False)`)" in table and "95 % confidence" in table
    assert (f"| soft (lam=0.5) | cnn-aug | test | +10.00 | [{100 * interval.low:+.2f}, {100 * interval.high:+.2f}] | "
            f"{welch.pvalue:.2g} | 3 vs 3 | higher |") in table
    assert "| soft (lam=0.05) | cnn-aug | test | +2.00 |" in table
    assert "| 3 vs 3 | no detectable difference (n = 3 vs 3) |" in table


def test_a_reference_fixed_at_lam_zero_is_compared_with_every_lam_but_a_recorded_train_size_still_matches():
    runs = ([_run("cnn-aug", s, t, lam=0.0, pair_fraction=1.0) for s, t in enumerate(AUG)]
            + [_run("soft", s, t + 0.05 * k, lam=lam, pair_fraction=1.0)
               for k, lam in enumerate((0.05, 0.5)) for s, t in enumerate(AUG)]
            + [_run("soft", s, t, lam=0.5, pair_fraction=1.0, train_size=50) for s, t in enumerate(AUG)])
    rows = summarize(runs, reference="cnn-aug")
    assert [(r["model"], r["lam"], r["train_size"], r["against"]) for r in rows] == [
        ("cnn-aug", 0.0, 100, None), ("soft", 0.5, 50, None), ("soft", 0.05, 100, "cnn-aug"),
        ("soft", 0.5, 100, "cnn-aug")]
    assert rows[1]["test_score_difference"] is None
    assert [r["test_score_difference"] for r in rows[2:]] == pytest.approx([0.0, 0.05])
    assert ("| soft (train_size=50, lam=0.5) | — | — | — | — | — | — "
            "| no run of cnn-aug with the same swept values |"
            in format_table(rows, Metric()))
    # a reference that sweeps lam itself is matched on it
    swept = summarize(runs + [_run("cnn-aug", s, t, lam=0.5, pair_fraction=1.0) for s, t in enumerate(AUG)],
                      reference="cnn-aug")
    assert [(r["model"], r["lam"], r["train_size"], r["against"]) for r in swept if r["model"] == "soft"] == [
        ("soft", 0.5, 50, None), ("soft", 0.05, 100, None), ("soft", 0.5, 100, "cnn-aug (lam=0.5)")]


def test_a_seed_trained_twice_on_different_data_is_refused_not_counted_twice():
    again = _run("soft", 0, 0.9)
    again["config"]["data"], again["name"] = "regenerated", "soft-regenerated"
    with pytest.raises(ValueError, match=r"seed 0: soft-None-100-0 and soft-regenerated, on data d0 and regenerated"):
        summarize([_run("soft", s, 0.8) for s in range(2)] + [again])


def test_a_train_size_sweep_compares_rows_of_the_same_size_and_says_where_the_reference_is_missing():
    runs = [_run(m, s, score + (0.1 if size == 1000 else 0) + (0.05 if m == "soft" else 0) + s / 100,
                 train_size=size)
            for size in (1000, 250) for m in ("cnn-aug", "soft") for s, score in enumerate((0.7, 0.7))]
    runs.append(_run("soft", 0, 0.95, train_size=4000))
    rows = summarize(runs, reference="cnn-aug")
    assert [(r["model"], r["train_size"], r["against"]) for r in rows] == [
        ("cnn-aug", 250, None), ("cnn-aug", 1000, None), ("soft", 250, "cnn-aug (train_size=250)"),
        ("soft", 1000, "cnn-aug (train_size=1000)"), ("soft", 4000, None)]
    assert [r["test_score_difference"] for r in rows[2:4]] == pytest.approx([0.05, 0.05])
    table = format_table(rows, Metric())
    assert "## t G: 1/2 seed(s), 1 epochs, train size 250/1,000/4,000, batch 10" in table
    assert ("| soft (train_size=4000) | — | — | — | — | — | — | no run of cnn-aug with the same swept values |"
            in table)


def test_the_majority_class_row_holds_the_rates_in_the_score_columns(tmp_path):
    rates = {"test": 0.6, "upright": 0.55}
    runs = [_run(m, s, 0.8 + s / 100, upright=0.7 + s / 50, majority=rates, vals=[0.5, 0.6], tests=[0.7 + s / 10, 0.8])
            for m in ("cnn-aug", "soft") for s in range(2)]
    rows = summarize(runs, budget=1, reference="cnn-aug")
    assert [r["model"] for r in rows] == ["cnn-aug", "soft", MAJORITY]
    majority = rows[-1]
    assert (majority["test_score_mean"], majority["test_score_upright_mean"]) == (0.6, 0.55)
    assert (majority["test_score_within_1_mean"], majority["seeds"], majority["parameters"]) == (0.6, None, None)
    table = format_table(rows, Metric())
    assert "| majority class | 60.00 | 55.00 | 60.00 | 55.00 | — | — | — | — | — |" in table
    assert "majority class: the share of the most common class in each test set" in table
    assert "| majority class | cnn-aug |" not in table
    write_reports(runs, tmp_path, Metric(), budget=1, reference="cnn-aug")
    with open(tmp_path / "summary.csv") as f:
        assert [r["model"] for r in csv.DictReader(f)] == ["cnn-aug", "soft", MAJORITY]


def test_no_majority_row_without_recorded_rates():
    assert MAJORITY not in [r["model"] for r in summarize([_run("soft", 0, 0.5), _run("cnn", 0, 0.6)])]


def _compute_runs():
    r"""cnn-aug (1e9 FLOPs per epoch) and soft (2e9), two seeds each, over four epochs."""
    vals = [0.5, 0.7, 0.6, 0.9]
    aug = [_run("cnn-aug", s, 0.8 + s / 100, vals=vals, tests=[0.5, 0.6 + s / 100, 0.7, 0.8 + s / 100])
           for s in range(2)]
    soft = [_run("soft", s, 0.9 + s / 100, vals=vals, tests=[0.6, 0.85 + s / 100, 0.8, 0.9 + s / 100])
            for s in range(2)]
    compute = {**{r["name"]: 1e9 for r in aug}, **{r["name"]: 2e9 for r in soft}}
    return aug + soft, compute


def test_scores_at_equal_compute_come_from_the_epochs_that_fit_the_budget():
    runs, compute = _compute_runs()
    rows = summarize(runs, reference="cnn-aug", compute=compute, compute_budget=4e9)
    aug, soft = rows
    # cnn-aug fits 4 epochs (best validation: epoch 4), soft 2 (best validation: epoch 2)
    assert aug["test_score_equal_compute_mean"] == pytest.approx(0.805)
    assert soft["test_score_equal_compute_mean"] == pytest.approx(0.855)
    assert soft["test_score_mean"] == pytest.approx(0.905) and soft["compute_budget"] == 4e9
    expected = mean_difference([0.85, 0.86], [0.80, 0.81])
    assert soft["test_score_equal_compute_difference"] == pytest.approx(expected["difference"])
    assert soft["test_score_equal_compute_low"] == pytest.approx(expected["low"])
    table = format_table(rows, Metric())
    assert "| test accuracy (%) | test accuracy (%), equal compute |" in table
    assert "| soft | 90.50 ± 0.71 | 85.50 ± 0.71 |" in table
    assert "training FLOPs fit a budget of 4e+09 FLOPs" in table
    assert "| soft | cnn-aug | test, equal compute (4e+09 FLOPs) | +5.00 |" in table


def test_equal_compute_input_is_checked():
    runs, compute = _compute_runs()
    with pytest.raises(ValueError, match="compute_budget needs compute"):
        summarize(runs, compute_budget=4e9)
    with pytest.raises(KeyError, match="no training FLOPs per epoch .* soft-None-100-0"):
        summarize(runs, compute={k: v for k, v in compute.items() if k != "soft-None-100-0"}, compute_budget=4e9)
    with pytest.raises(KeyError, match="compute budget for the run.* cnn-aug-None-100-1"):
        summarize(runs, compute=compute, compute_budget={r["name"]: 4e9 for r in runs[:1]})
    short = {r["model"]: r for r in summarize(runs, reference="cnn-aug", compute=compute, compute_budget=1.5e9)}
    assert short["soft"]["test_score_equal_compute_mean"] is None        # not one epoch of soft fits 1.5e9
    assert short["cnn-aug"]["test_score_equal_compute_mean"] is not None
    assert short["soft"]["test_score_equal_compute_verdict"].startswith("not one epoch of a side fits the budget")
    assert short["soft"]["test_score_verdict"] == "higher"


def _size_sweep():
    r"""cnn-aug (1e9 FLOPs per epoch per 100 digits) and soft (twice that) at 100 and 400 training digits,
    two seeds each, four planned epochs: each soft run has its best validation at epoch 4, each cnn-aug run
    at epoch 2."""
    runs = []
    for size in (100, 400):
        runs += [_run("cnn-aug", s, 0.6 + s / 100, train_size=size, vals=[0.5, 0.9, 0.6, 0.7],
                      tests=[0.5, 0.6 + s / 100, 0.7, 0.7]) for s in range(2)]
        runs += [_run("soft", s, 0.9 + s / 100, lam=0.5, train_size=size, vals=[0.5, 0.7, 0.8, 0.9],
                      tests=[0.5, 0.7 + s / 100, 0.8, 0.9 + s / 100]) for s in range(2)]
    compute = {r["name"]: r["config"]["train_size"] * 1e7 * (2 if r["config"]["model"] == "soft" else 1) for r in runs}
    return runs, compute


def test_each_size_of_a_train_size_sweep_is_read_at_its_own_compute_budget():
    runs, compute = _size_sweep()
    rows = summarize(runs, reference="cnn-aug", compute=compute)
    budgets = {(r["model"], r["train_size"]): r["compute_budget"] for r in rows}
    # the smallest planned budget of each size's pair: cnn-aug's 4 epochs
    assert budgets == {("cnn-aug", 100): 4e9, ("cnn-aug", 400): 16e9, ("soft", 100): 4e9, ("soft", 400): 16e9}
    for row in rows:     # soft fits 2 of its 4 epochs at each size, cnn-aug all 4 (best validation: epoch 2)
        assert row["test_score_equal_compute_mean"] == pytest.approx(0.705 if row["model"] == "soft" else 0.605)
        if row["model"] == "soft":
            assert row["against"] == f"cnn-aug (train_size={row['train_size']})"
            assert row["test_score_equal_compute_difference"] == pytest.approx(0.1)
    table = format_table(rows, Metric())
    assert "compute budget (FLOPs)" in table and "the row's compute budget" in table
    assert "| 1.6e+10 |" in table and "| 4e+09 |" in table
    # one budget for every run when given, and without a reference the smallest of the task and group
    assert {r["compute_budget"] for r in summarize(runs, compute=compute, compute_budget=8e9)} == {8e9}
    assert {r["compute_budget"] for r in summarize(runs, compute=compute)} == {4e9}


def test_compute_budgets_give_the_rows_without_a_reference_row_a_budget_of_their_own():
    runs, compute = _size_sweep()
    runs = [r for r in runs if (r["config"]["model"], r["config"]["train_size"]) != ("cnn-aug", 400)]
    scnn = _run("scnn", 0, 0.95, vals=[0.5, 0.6, 0.7, 0.8], tests=[0.5, 0.6, 0.7, 0.95])   # 100 digits
    budgets = compute_budgets(runs + [scnn], {**compute, scnn["name"]: 5e9}, reference="cnn-aug")
    # cnn-aug, soft and scnn at 100 digits: cnn-aug's 4 epochs of 1e9; soft at 400 has no cnn-aug row: its own
    assert budgets == {**{r["name"]: 4e9 if r["config"]["train_size"] == 100 else 3.2e10 for r in runs},
                       scnn["name"]: 4e9}
    # a cheaper scnn (4 epochs of 2.5e8) is compared at its own planned budget, where cnn-aug fits one epoch
    compute = {**compute, scnn["name"]: 2.5e8}
    rows = summarize(runs + [scnn], reference="cnn-aug", compute=compute)
    rows = {r["model"] + str(r["train_size"]): r for r in rows}
    assert rows["scnn100"]["compute_budget"] == 1e9 and rows["cnn-aug100"]["compute_budget"] == 4e9
    assert rows["scnn100"]["test_score_equal_compute_difference"] == pytest.approx(0.95 - 0.5)
    assert rows["cnn-aug100"]["test_score_equal_compute_mean"] == pytest.approx(0.605)
    assert "| scnn | cnn-aug | test, equal compute (1e+09 FLOPs) | +45.00 |" in (
        format_table(list(rows.values()), Metric()))
    with pytest.raises(KeyError, match="no training FLOPs per epoch for the run"):
        compute_budgets([scnn], {})


def test_the_sweep_plot_and_csv_columns_are_written_for_a_sweep_only(tmp_path):
    sweep, single = tmp_path / "sweep", tmp_path / "single"
    write_reports(_lam_sweep(), sweep, Metric(), reference="cnn-aug")
    assert (sweep / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["swept"], r["lam"], r["against"]) for r in rows] == [
        ("cnn-aug", "", "", ""), ("soft", "lam=0.05", "0.05", "cnn-aug"), ("soft", "lam=0.5", "0.5", "cnn-aug")]
    assert rows[2]["test_accuracy_verdict"] == "higher"
    write_reports(_lam_sweep()[:6], single, Metric())
    assert not (single / "sweep.png").exists()


def test_a_pair_fraction_sweep_gives_a_row_per_value_against_the_one_cnn_aug_row(tmp_path):
    runs = [_run("soft", s, 0.8 + s / 100, lam=0.5, pair_fraction=b) for s in range(2) for b in (1.0, 0.25)]
    runs += [_run("cnn-aug", s, 0.7 + s / 50) for s in range(2)]
    rows = summarize(runs, reference="cnn-aug")
    assert [(r["model"], r["swept"], r["pair_fraction"], r["against"]) for r in rows] == [
        ("soft", "pair_fraction=0.25", 0.25, "cnn-aug"), ("soft", "pair_fraction=1", 1.0, "cnn-aug"),
        ("cnn-aug", None, None, None)]
    write_reports(runs, tmp_path, Metric())
    with open(tmp_path / "results.csv") as f:
        assert [(r["model"], r["pair_fraction"]) for r in csv.DictReader(f)][:2] == [("soft", "1.0"), ("soft", "0.25")]


def test_half_widths_of_the_plot_are_the_t_intervals_of_the_mean():
    from escnn_soft.experiments.reports import _half_width

    (row,) = summarize([_run("soft", s, t) for s, t in enumerate((0.80, 0.86, 0.83))])
    welch = stats.ttest_1samp([0.80, 0.86, 0.83], 0.83).confidence_interval(0.95)
    assert _half_width(row) == pytest.approx((welch.high - welch.low) / 2)
    assert _half_width({"seeds": 1, "test_score_std": None}) == 0.0


def test_the_comparison_prints_its_reference_table(tmp_path, capsys):
    from escnn_soft.experiments.cli import main

    for p in (ROOT / "results" / "ddmnist" / "runs").glob("ddmnist-D4-*"):
        if json.loads((p / "result.json").read_text())["config"]["model"] in ("cnn", "cnn-aug"):
            shutil.copytree(p, tmp_path / "runs" / p.name)
    argv = ["compare", "--task", "ddmnist", "--group", "D4", "--models", "cnn,cnn-aug", "--seeds", "0-2",
            "--epochs", "50", "--train-size", "10000", "--out", str(tmp_path), "--report-only", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Against cnn-aug:" in printed and "| cnn | cnn-aug | test |" in printed and "3 vs 3 |" in printed
    alone = argv.copy()
    alone[alone.index("cnn,cnn-aug")] = "cnn"  # no cnn-aug, no --reference: nothing to compare with
    assert main(alone) == 0
    assert "Against" not in capsys.readouterr().out
