r"""Tests of escnn_soft.experiments.results: loading, selecting and scoring finished runs."""

import json
import math
import subprocess
import sys

import pytest
from scipy import stats

from escnn_soft.experiments.results import (RunFolderError, at_best, best_epoch_index, best_scores, epoch_values,
                                            find_runs, group_by, is_diverged, load_result, load_runs,
                                            mean_difference, nearest, plan_progress, run_name, score_at_best,
                                            scores, scores_by_test_set, select, setting, shared_setting)
from escnn_soft.records import mean_std


def _run(model="soft", seed=0, group="C4", val=(0.5, 0.7, 0.6), test=(0.4, 0.6, 0.7), diverged_at=None, **hp):
    history = [{"epoch": k + 1, "val_score": v, "test_score": t, "test_scores": {"upright": t - 0.1}}
               for k, (v, t) in enumerate(zip(val, test))]
    best = best_epoch_index(history) if history else None
    config = {"task": "ddmnist", "group": group, "model": model, "seed": seed, "epochs": len(val),
              "train_size": 10, "batch_size": 2, "hyperparameters": {"lr": 1e-3, **hp}, "data": "abc"}
    result = {"name": run_name(config), "config": config, "history": history, "diverged_at_epoch": diverged_at,
              "test_score": None if diverged_at else history[best]["test_score"],
              "test_scores": {} if diverged_at else history[best]["test_scores"]}
    return result


def _write(folder, result):
    path = folder / "runs" / result["name"] / "result.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(result), encoding="utf-8")
    return path


# ---------------------------------------------------------------- load

def test_load_runs_reads_every_result_in_folder_order_diverged_included(tmp_path):
    written = [_run("soft", 1), _run("cnn", 0), _run("soft", 0, diverged_at=2)]
    for r in written:
        _write(tmp_path, r)
    (tmp_path / "runs" / "unfinished-run").mkdir()  # a run folder without result.json is not a run yet
    loaded = load_runs(tmp_path)
    assert [r["name"] for r in loaded] == sorted(r["name"] for r in written)
    assert sum(map(is_diverged, loaded)) == 1
    assert load_runs(tmp_path / "absent") == []


@pytest.mark.parametrize("text, problem", [("", "the file is empty"), ("{", "not JSON"), ("[1]", "no run settings")])
def test_a_result_that_cannot_be_read_is_named_with_what_to_do(tmp_path, text, problem):
    path = _write(tmp_path, _run())
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RunFolderError, match=problem) as error:
        load_runs(tmp_path)
    assert str(path) in str(error.value) and "delete or move the folder" in str(error.value)
    assert load_result(tmp_path / "runs" / "elsewhere") is None


def test_find_runs_trusts_a_folder_only_with_the_settings_of_its_name(tmp_path):
    from escnn_soft.experiments.runner import RunConfig

    config = RunConfig(task="ddmnist", group="C4", model="soft", seed=0, epochs=3, train_size=10, batch_size=2,
                       hyperparameters={"lr": 1e-3}, data="abc")
    assert run_name(config.to_dict()) == config.name()
    result = {**_run(), "name": config.name(), "config": config.to_dict()}
    _write(tmp_path, result)
    other_data = RunConfig(**{**config.to_dict(), "data": "xyz"})
    assert find_runs(tmp_path / "runs", [config, other_data]) == [[result], []]
    assert find_runs(tmp_path / "runs", [other_data], match_data=False) == [[result]]
    # the same result copied into the folder of a run with other settings is refused, naming the difference
    longer = RunConfig(**{**config.to_dict(), "epochs": 4})
    (tmp_path / "runs" / config.name()).rename(tmp_path / "runs" / longer.name())
    with pytest.raises(RunFolderError, match="the folder is for epochs=4, the file has epochs=3"):
        find_runs(tmp_path / "runs", [longer])


# ---------------------------------------------------------------- select

def test_select_matches_config_entries_and_hyperparameters_sorted_by_seed():
    runs = [_run("soft", 2, lam=0.1), _run("soft", 0, lam=0.1), _run("soft", 1, lam=1.0), _run("cnn", 0)]
    assert [r["config"]["seed"] for r in select(runs, model="soft", lam=0.1)] == [0, 2]
    assert [r["config"]["seed"] for r in select(runs, model="soft", lam=0.1, by_seed=False)] == [2, 0]
    assert select(runs, model="soft", group="D4") == []
    assert [r["config"]["seed"] for r in select(runs, where=lambda r: r["config"]["seed"] > 0)] == [1, 2]
    # cnn records no lam: it matches a given value only through defaults
    assert select(runs, model="cnn", lam=0.1) == []
    assert len(select(runs, model="cnn", lam=0.1, defaults={"lam": 0.1})) == 1


def test_diverged_runs_are_selected_apart_and_never_with_finished_ones():
    runs = [_run("soft", 0), _run("soft", 1, diverged_at=2), _run("soft", 2)]
    assert [r["config"]["seed"] for r in select(runs, model="soft")] == [0, 2]
    assert [r["config"]["seed"] for r in select(runs, model="soft", diverged=True)] == [1]
    assert None not in [r["test_score"] for r in select(runs)]


def test_setting_reads_the_config_then_the_hyperparameters_and_names_what_is_missing():
    run = _run("soft", 3, lam=0.5)
    assert (setting(run, "seed"), setting(run, "lam"), setting(run, "l2", 0.0)) == (3, 0.5, 0.0)
    with pytest.raises(KeyError, match="records no setting 'l2'"):
        setting(run, "l2")


def test_shared_setting_is_the_one_value_of_the_runs_or_an_error_naming_the_values():
    runs = [_run("soft", 0), _run("cnn", 1)]
    assert shared_setting(runs, "epochs") == 3 and shared_setting(runs, "lr") == 1e-3
    with pytest.raises(ValueError, match=r"do not share one value of 'model': \['\"cnn\"', '\"soft\"'\]"):
        shared_setting(runs, "model")
    with pytest.raises(ValueError, match="the 0 run"):
        shared_setting([], "epochs")


def test_group_by_keys_runs_by_their_settings_in_order_with_defaults_for_missing_ones():
    runs = [_run("soft", 0, lam=0.1), _run("cnn", 0), _run("soft", 1, lam=0.1), _run("soft", 2, lam=0.2)]
    found = group_by(runs, ("model", "lam"), defaults={"lam": None})
    assert list(found) == [("soft", 0.1), ("cnn", None), ("soft", 0.2)]
    assert [r["config"]["seed"] for r in found["soft", 0.1]] == [0, 1]
    assert group_by([], ("model",)) == {}
    with pytest.raises(KeyError, match="lam"):
        group_by(runs, ("lam",))


def test_nearest_is_the_first_run_whose_value_is_closest_to_the_target():
    runs = [_run("cnn", s, l2=c) for s, c in ((0, 1e-4), (1, 1e-3), (2, 1e-2))]
    norm = {0: 9.0, 1: 6.0, 2: 4.0}
    assert nearest(runs, lambda r: norm[r["config"]["seed"]], 4.8)["config"]["seed"] == 2
    assert nearest(runs, lambda r: norm[r["config"]["seed"]], 5.0)["config"]["seed"] == 1   # a tie: the first
    with pytest.raises(ValueError):
        nearest([], lambda r: 0.0, 1.0)


def test_plan_progress_counts_the_finished_runs_of_each_planned_group_and_model():
    runs = [_run("soft", 0, lam=0.1), _run("soft", 1, lam=0.1), _run("soft", 2, lam=0.2),
            _run("soft", 3, lam=0.1, diverged_at=2), _run("cnn", 0, lam=0.1), _run("cnn", 0, group="D4", lam=0.1)]
    plan = [("C4", "soft", 3), ("C4", "cnn", 1), ("D4", "soft", 1)]
    found = plan_progress(runs, plan, lam=0.1)  # lam=0.2 and the diverged run do not count
    assert found == [{"group": "C4", "model": "soft", "planned": 3, "finished": 2, "seeds": [0, 1]},
                     {"group": "C4", "model": "cnn", "planned": 1, "finished": 1, "seeds": [0]},
                     {"group": "D4", "model": "soft", "planned": 1, "finished": 0, "seeds": []}]
    assert [p["finished"] for p in plan_progress(runs, plan)] == [3, 1, 0]
    assert plan_progress(runs, []) == []


# ---------------------------------------------------------------- score

def test_the_best_epoch_is_the_first_with_the_best_validation_within_the_budget():
    history = [{"val_score": v} for v in (0.5, 0.75, 0.75, 0.875)]
    assert best_epoch_index(history) == 3
    assert best_epoch_index(history, within=3) == 1          # ties go to the earlier epoch
    assert best_epoch_index(history, within=100) == 3        # a budget beyond the history is the whole history
    for history, within in (([], None), (history, 0)):
        with pytest.raises(ValueError, match="no epoch to choose from"):
            best_epoch_index(history, within)


def test_scores_are_read_at_the_best_validation_epoch_of_each_run():
    a = _run("soft", 0, val=(0.5, 0.7, 0.6), test=(0.4, 0.6, 0.7))
    b = _run("soft", 1, val=(0.6, 0.5, 0.9), test=(0.5, 0.3, 0.8))
    assert at_best(a)["epoch"] == 2 and score_at_best(a) == 0.6 and score_at_best(a, within=1) == 0.4
    assert score_at_best(b, test_set="upright") == pytest.approx(0.7)
    assert scores([a, b]) == [0.6, 0.8] and scores([a, b], within=2) == [0.6, 0.5]
    assert mean_std(scores([a, b]))[0] == pytest.approx(0.7)


def test_scores_by_test_set_reads_each_test_set_at_the_best_epoch_within_the_budget():
    runs = [_run("soft", 1, test=(0.4, 0.8, 0.7)), _run("soft", 0)]
    assert scores_by_test_set(runs) == {"test": [0.8, 0.6], "upright": [pytest.approx(0.7), pytest.approx(0.5)]}
    assert scores_by_test_set(runs, within=1) == {"test": [0.4, 0.4],
                                                  "upright": [pytest.approx(0.3), pytest.approx(0.3)]}
    assert scores_by_test_set(runs, test_sets=()) == {"test": scores(runs)}
    assert scores_by_test_set([]) == {"test": [], "upright": []}


def test_epoch_values_read_one_entry_of_the_last_or_a_given_epoch_of_each_run():
    runs = [_run("soft", 0), _run("soft", 1, val=(0.5, 0.7), test=(0.3, 0.9))]
    assert epoch_values(runs, "test_score") == [0.7, 0.9]
    assert epoch_values(runs, "val_score", epoch=1) == [0.5, 0.5] and epoch_values([], "val_score") == []
    with pytest.raises(IndexError):
        epoch_values(runs, "val_score", epoch=3)   # the second run has two epochs
    with pytest.raises(IndexError):
        epoch_values(runs, "val_score", epoch=0)


def test_best_scores_name_the_budget_and_give_none_for_a_diverged_run():
    run = {**_run(val=(0.5, 0.7, 0.6), test=(0.4, 0.6, 0.7)),
           "metrics": {"test": {"AUC": 0.9}}}
    run["history"][0]["metrics"] = {"test": {"AUC": 0.8}}
    assert best_scores(run, ["upright"], within=1, metric_names=["AUC"]) == {
        "test_score": 0.6, "test_score_upright": pytest.approx(0.5), "test AUC": 0.9, "upright test AUC": None,
        "test_score_within_1": 0.4, "test_score_upright_within_1": pytest.approx(0.3), "test AUC within 1": 0.8,
        "upright test AUC within 1": None}
    diverged = _run(diverged_at=2)
    assert set(best_scores(diverged, ["upright"], within=1).values()) == {None}


def test_an_incomplete_set_of_scores_has_no_mean_only_when_asked():
    assert mean_std([0.5, None, 0.7]) == (pytest.approx(0.6), pytest.approx(0.1414, abs=1e-4))
    assert mean_std([0.5, None, 0.7], complete=True) == (None, None)


def test_results_and_reports_load_without_torch():
    code = ("import sys, escnn_soft.experiments.results, escnn_soft.experiments.reports; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mean_difference_is_welchs_interval_and_words_follow_it():
    a, b = [0.90, 0.92, 0.91], [0.80, 0.83, 0.81]
    found = mean_difference(a, b)
    test = stats.ttest_ind(a, b, equal_var=False)
    interval = test.confidence_interval(0.95)
    assert found["difference"] == pytest.approx(0.91 - 0.81333333)
    assert (found["low"], found["high"], found["p"]) == pytest.approx((interval.low, interval.high, test.pvalue))
    assert found["n"] == (3, 3) and found["verdict"] == "higher"
    assert mean_difference(b, a)["verdict"] == "lower"
    # worked by hand: means 0.91 and 0.81, each side's sample variance 2e-4 over 2 seeds, so 2 degrees of freedom
    hand = mean_difference([0.90, 0.92], [0.80, 0.82])
    se = math.sqrt(2e-4 / 2 + 2e-4 / 2)
    assert hand["low"] == pytest.approx(0.1 - stats.t.ppf(0.975, 2) * se)
    wide = mean_difference([0.90, 0.80], [0.86, 0.84])          # equal means, a wide spread
    assert wide["verdict"] == "no detectable difference" and wide["low"] < 0 < wide["high"]
    assert mean_difference([0.9], [0.8, 0.7]) == {"difference": pytest.approx(0.15), "low": None, "high": None,
                                                  "p": None, "n": (1, 2), "verdict": None}
    assert mean_difference([0.9, 0.9], [0.9, 0.9])["verdict"] is None   # equal means, no spread: no test


