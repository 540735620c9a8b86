r"""Does soft pay: the verdicts of escnn_soft.experiments.results (the soft setting picked by validation against
cnn-aug and the strict models, at equal epochs and at equal compute) and the table of training FLOPs they read."""

import importlib.util
import json
from pathlib import Path

import pytest
from scipy import stats

from escnn_soft.experiments.results import (MissingFlops, best_by_validation, by_settings, compare_at_equal_cost,
                                            flops_of, flops_settings, load_flops, run_name, settings_key,
                                            soft_verdicts)


def _run(model, seed, vals, tests=None, *, epochs=None, group="C4", **hyperparameters):
    config = {"task": "t", "group": group, "model": model, "seed": seed, "epochs": epochs or len(vals),
              "train_size": 10, "batch_size": 5, "protocol": 2, "data": f"d{seed}",
              "hyperparameters": {"lr": 1e-3, **hyperparameters}}
    tests = vals if tests is None else tests
    return {"name": run_name(config), "config": config,
            "history": [{"val_score": v, "test_score": t} for v, t in zip(vals, tests)]}


def test_settings_group_every_setting_but_the_seed_and_data_and_the_best_mean_validation_wins():
    runs = [_run("soft", 1, [0.9], lam=1.0), _run("soft", 0, [0.5], lam=1.0),       # mean 0.7
            _run("soft", 0, [0.8], lam=0.1), _run("soft", 1, [0.7], lam=0.1),       # mean 0.75
            _run("soft", 0, [0.99], lam=5.0)]                                       # one seed only
    assert [[r["config"]["seed"] for r in g] for g in by_settings(runs)] == [[0, 1], [0, 1], [0]]
    best = best_by_validation(runs)
    assert [r["config"]["hyperparameters"]["lam"] for r in best] == [0.1, 0.1]
    assert best_by_validation(runs, min_seeds=1)[0]["config"]["hyperparameters"]["lam"] == 5.0
    assert best_by_validation(runs, min_seeds=3) is None


def test_one_seed_of_one_setting_twice_is_refused_by_name_whatever_its_data():
    first, again = _run("soft", 0, [0.5], lam=1.0), _run("soft", 0, [0.6], lam=1.0)
    first["config"]["data"], again["config"]["data"] = "aaaa", "bbbb"
    again["name"] = "soft-again"
    with pytest.raises(ValueError, match=r"seed 0: .* and soft-again, on data aaaa and bbbb; keep the runs of one"):
        by_settings([first, _run("soft", 1, [0.7], lam=1.0), again])
    with pytest.raises(ValueError, match="seed 0"):
        best_by_validation([first, again], min_seeds=1)
    # the data may differ from seed to seed
    other = _run("soft", 1, [0.7], lam=1.0)
    other["config"]["data"] = "cccc"
    assert [len(g) for g in by_settings([first, other])] == [2]


def test_equal_epochs_scores_within_the_fewer_planned_epochs_and_equal_compute_within_the_smaller_budget():
    # soft: 4 planned epochs at 2 FLOPs each; cnn-aug: 2 planned epochs at 1 FLOP each: the budget is 2 FLOPs,
    # one epoch of soft, both of cnn-aug; equal epochs is 2 epochs each
    soft = [_run("soft", s, [0.1, 0.2, 0.3, 0.4], [0.50 + s / 100, 0.60 + s / 50, 0.9, 0.9], lam=1.0)
            for s in (0, 1, 2)]
    aug = [_run("cnn-aug", s, [0.1, 0.2], [0.52 + s / 50, 0.55 + s / 100]) for s in (0, 1, 2)]
    flops = {**{r["name"]: 2.0 for r in soft}, **{r["name"]: 1.0 for r in aug}}
    found = compare_at_equal_cost(soft, aug, flops)
    assert found["epochs"] == 2 and found["budget"] == 2.0 and found["fitting"] == (1, 2)
    at_epochs = ([0.60, 0.62, 0.64], [0.55, 0.56, 0.57])
    at_compute = ([0.50, 0.51, 0.52], [0.55, 0.56, 0.57])
    for key, (a, b) in (("equal_epochs", at_epochs), ("equal_compute", at_compute)):
        test = stats.ttest_ind(a, b, equal_var=False)
        interval = test.confidence_interval(0.95)
        assert found[key]["difference"] == pytest.approx(sum(a) / 3 - sum(b) / 3)
        assert (found[key]["low"], found[key]["high"], found[key]["p"]) == pytest.approx(
            (interval.low, interval.high, test.pvalue))
        assert found[key]["n"] == (3, 3)
    assert (found["equal_epochs"]["verdict"], found["equal_compute"]["verdict"]) == ("higher", "lower")


def test_soft_is_a_model_with_a_latent_term_and_cnn_aug_with_lam_zero_is_the_reference_not_soft():
    runs = [_run(m, s, [v + s / 100], **hp) for m, v, hp in (
        ("soft", 0.80, {"lam": 0.005}), ("soft-regular", 0.85, {"lam": 0.005}), ("cnn-aug", 0.95, {"lam": 0.0}),
        ("e2cnn", 0.70, {}), ("scnn", 0.75, {})) for s in (0, 1)]
    runs.append(_run("scnn", 2, [0.99]))                                  # scnn's third seed: its own run
    found = soft_verdicts(runs, {r["name"]: 1.0 for r in runs}, strict=("e2cnn", "scnn"))
    assert found["soft"][0]["config"]["model"] == "soft-regular" and found["settings"] == 2
    assert found["reference"]["runs"][0]["config"]["model"] == "cnn-aug"
    assert [r["config"]["seed"] for r in found["strict"]["runs"]] == [0, 1, 2]
    assert found["reference"]["comparison"]["equal_epochs"]["verdict"] == "lower"


def test_a_side_without_two_seeds_of_one_setting_has_no_verdict():
    runs = [_run("soft", 0, [0.8], lam=1.0), _run("soft", 1, [0.8], lam=1.0), _run("cnn-aug", 0, [0.7]),
            _run("scnn", 0, [0.7]), _run("scnn", 1, [0.7], lr=0.1)]
    found = soft_verdicts(runs, {r["name"]: 1.0 for r in runs}, strict=("scnn",))
    assert found["soft"] is not None and found["reference"] is None and found["strict"] is None
    assert soft_verdicts(runs[2:], {}, strict=("scnn",)) == {"soft": None, "settings": 0, "reference": None,
                                                             "strict": None}


def test_verdicts_refuse_runs_of_several_groups_and_a_reference_among_the_strict_models():
    runs = [_run("soft", 0, [0.8], lam=1.0), _run("soft", 0, [0.8], group="D4", lam=1.0)]
    with pytest.raises(ValueError, match=r"one task and group at a time.*'C4'.*'D4'"):
        soft_verdicts(runs, {})
    with pytest.raises(ValueError, match="reference model 'scnn' cannot also be a strict model"):
        soft_verdicts(runs[:1], {}, reference="scnn", strict=("scnn",))


def test_runs_trained_on_other_data_are_not_compared():
    soft = [_run("soft", s, [0.8], lam=1.0) for s in (0, 1)]
    aug = [_run("cnn-aug", s, [0.7]) for s in (0, 1)]
    aug[1]["config"]["data"] = "regenerated"
    with pytest.raises(ValueError, match=r"seed 1 compared were trained on different data \(d1, regenerated\)"):
        compare_at_equal_cost(soft, aug, {r["name"]: 1.0 for r in soft + aug})


def test_equal_compute_needs_the_flops_of_every_run_compared():
    soft, aug = [_run("soft", 0, [0.8], lam=1.0)], [_run("cnn-aug", 0, [0.7])]
    with pytest.raises(KeyError):
        compare_at_equal_cost(soft, aug, {soft[0]["name"]: 1.0})
    with pytest.raises(ValueError, match="runs on both sides, got 1 and 0"):
        compare_at_equal_cost(soft, [], {})


def test_a_flops_table_is_read_by_each_runs_settings_whatever_its_seed_data_and_epochs(tmp_path):
    a, b = _run("soft", 0, [0.5], lam=1.0), _run("soft", 3, [0.5, 0.6], lam=1.0)
    path = tmp_path / "flops.json"
    path.write_text(json.dumps({"entries": [{"settings": flops_settings(a["config"]), "step_flops": 7,
                                             "epoch_flops": 14}]}))
    table = load_flops(path)
    assert list(table) == [settings_key(flops_settings(a["config"]))]
    assert flops_of(a, table) == flops_of(b, table) == flops_of(b["config"], table) == 14
    with pytest.raises(MissingFlops, match=r"no entry for the run t-C4-cnn-aug-seed0-.*count it"):
        flops_of(_run("cnn-aug", 0, [0.5]), table)
    assert issubclass(MissingFlops, KeyError)


@pytest.mark.parametrize("text, problem", [
    ('{"entries": [{"settings": {}}]}', "needs positive integer step_flops and epoch_flops"),
    ('{"rows": []}', "is not a table of training FLOPs"),
    ("not json", "is not a table of training FLOPs")])
def test_a_malformed_flops_table_is_refused_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "flops.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=problem):
        load_flops(path)
    with pytest.raises(FileNotFoundError, match="no table of training FLOPs"):
        load_flops(tmp_path / "missing.json")


def _readme_script():
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("results_readme", root / "scripts" / "results_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_readme_says_plainly_whether_a_soft_setting_beats_cnn_aug_at_equal_compute():
    module = _readme_script()
    # soft costs twice cnn-aug's epoch: at equal compute it gets its first epoch, cnn-aug both
    soft = [_run("soft", s, [0.1, 0.2], [0.80 + s / 100, 0.90 + s / 100], lam=1.0) for s in (0, 1, 2)]
    aug = [_run("cnn-aug", s, [0.1, 0.2], [0.84 + s / 50, 0.85 + s / 100]) for s in (0, 1, 2)]
    flops = {**{r["name"]: 2.0 for r in soft}, **{r["name"]: 1.0 for r in aug}}
    losing = {"T": {"C4": soft_verdicts(soft + aug, flops)}}
    text = module.results_readme(losing, {"T": "accuracy"})
    assert "**No soft setting beats cnn-aug at equal compute** on any of the 1 task(s) and group(s) compared " \
        "(T C4)" in text
    # at equal epochs soft's 0.91 against 0.86; at equal compute its first epoch's 0.81
    assert "| T | C4 | soft (λ 1, lr 0.001, 2 epochs) | +5.0 [+2.7, +7.3], higher | -5.0 [-7.3, -2.7], lower |" in text
    winning = {"T": {"C4": soft_verdicts(soft + aug, {r["name"]: 1.0 for r in soft + aug})}}
    text = module.results_readme(winning, {"T": "accuracy"})
    assert "At equal compute, soft beats cnn-aug on T C4, soft (λ 1, lr 0.001, 2 epochs): +5.0 [+2.7, +7.3]" in text
    assert "(n = 3 vs 3 seeds). The interval is Welch's" in text


def test_results_readme_names_the_command_that_counts_a_setting_the_flops_table_lacks(monkeypatch, capsys):
    module = _readme_script()

    def lacking():
        raise MissingFlops("the table of training FLOPs has no entry for the run t-C4-soft-seed0-0")

    monkeypatch.setattr(module, "readmes", lacking)
    assert module.main(["--check"]) == 1
    assert "no entry for the run t-C4-soft-seed0-0; python scripts/flops.py --write counts" in capsys.readouterr().err


def test_the_smoke_readme_gives_each_lambda_of_soft_its_own_row():
    module = _readme_script()

    def run(model, seed, **hyper):
        return {"config": {"model": model, "seed": seed, "data": "d", "hyperparameters": {"lr": 1e-3, **hyper}}}

    runs = [run("soft", s, lam=lam) for lam in (0.5, 0.005) for s in (0, 1, 2)] + [run("cnn-aug", 0, lam=0.0)]
    found = module.smoke_settings(runs)
    assert [(label, [r["config"]["seed"] for r in group]) for label, group in found] == [
        ("cnn-aug", [0]), ("soft (lam=0.005)", [0, 1, 2]), ("soft (lam=0.5)", [0, 1, 2])]


def test_a_paired_table_names_both_sides_and_their_epochs_at_equal_compute_and_lists_the_pairs_it_lacks(monkeypatch):
    module = _readme_script()
    cost = {"soft": 2.0, "cnn-aug-2view": 2.0, "cnn-aug": 1.0}
    monkeypatch.setattr(module, "load_flops", lambda path: {})
    monkeypatch.setattr(module, "flops_of", lambda run, table: cost[run["config"]["model"]])
    two_view = [_run("cnn-aug-2view", s, [0.1, 0.2], [0.80 + s / 100, 0.90 + s / 100]) for s in (0, 1, 2)]
    aug = [_run("cnn-aug", s, [0.1, 0.2], [0.84 + s / 50, 0.85 + s / 100]) for s in (0, 2)]
    soft = [_run("soft", 0, [0.5], lam=1.0)]
    table, missing = module._paired_table("O", [(("cnn-aug-2view", two_view), ("cnn-aug", aug)),
                                                (("soft", soft), ("cnn-aug-2view", two_view))], "accuracy")
    lines = table.splitlines()
    assert lines[0] == ("| group | model | against | compared at | model's | other's | Δ | 95 % interval | p | n "
                        "| verdict |")
    # at equal epochs 0.91 against mean(0.85, 0.87) = 0.86; at equal compute (2 FLOPs) the two-view's first epoch
    assert lines[2].startswith("| O | cnn-aug-2view (seeds 0-2) | cnn-aug (seeds 0,2) | 2 epochs | 91.00 | 86.00 "
                               "| +5.0 |")
    assert lines[3].startswith("| O | cnn-aug-2view (seeds 0-2) | cnn-aug (seeds 0,2) | 2 FLOPs: cnn-aug-2view 1 "
                               "epochs, cnn-aug 2 | 81.00 | 86.00 | -5.0 |")
    assert missing == ("- soft against cnn-aug-2view: not yet two finished seeds on each side (soft 1, cnn-aug-2view "
                       "3).\n\n")
