r"""Reports of a comparison, and the committed results READMEs against their runs."""

import csv
import importlib.util
import json
import re
import statistics
from pathlib import Path

import pytest

from escnn_soft.experiments.reports import (best_epoch_cells, format_table, run_devices, seeds_text, span_text,
                                            summarize, write_reports)

ROOT = Path(__file__).resolve().parents[2]


class Metric:
    metric = "accuracy"


def _result(model, seed, test, device="cpu", history_devices=None, latent=None):
    history = [{"epoch": k + 1, **({"device": d} if d else {})} for k, d in enumerate(history_devices or [None])]
    return {"config": {"task": "t", "group": "G", "model": model, "seed": seed, "epochs": len(history),
                       "train_size": 100, "batch_size": 10, "hyperparameters": {"lr": 0.1}},
            "name": f"{model}-{seed}", "best_epoch": 1, "val_score": test, "test_score": test,
            "final_test_score": test, "parameters": 1234, "seconds_per_epoch": 2.0 + seed, "train_seconds": 4.0,
            "latent_equivariance_error": latent, "output_equivariance_error": 0.5, "device": device,
            "history": history}


def test_summary_means_and_sample_deviations_over_seeds():
    scores = [0.5, 0.625, 0.875]
    rows = summarize([_result("a", s, v) for s, v in enumerate(scores)] + [_result("b", 0, 0.25)])
    a, b = rows
    assert (a["model"], a["seeds"], b["seeds"]) == ("a", 3, 1)
    assert a["test_score_mean"] == pytest.approx(statistics.mean(scores))
    assert a["test_score_std"] == pytest.approx(statistics.stdev(scores))
    assert b["test_score_std"] is None and a["latent_equivariance_error_mean"] is None
    table = format_table(rows, Metric())
    assert (f"| a | {100 * statistics.mean(scores):.2f} ± {100 * statistics.stdev(scores):.2f} | 1,234 |" in table)
    assert "| b | 25.00 | 1,234 |" in table and "| — |" in table


def test_seeds_are_written_as_a_range_only_for_three_or_more_consecutive_ones():
    assert seeds_text([4, 2, 3]) == "2-4" and seeds_text(range(10)) == "0-9"
    assert seeds_text([1, 0]) == "0,1" and seeds_text([0, 2, 3]) == "0,2,3" and seeds_text([5]) == "5"
    assert seeds_text([]) == ""


def test_a_span_is_one_number_when_its_ends_print_alike():
    assert span_text([30, 7, 12], ".0f") == "7–30" and span_text([7.2, 6.9], ".0f") == "7"
    assert span_text([0.912, 0.9], ".1f", 100) == "90.0–91.2" and span_text([3], ".2f") == "3.00"


def _row_run(seed, tests, uprights, vals=(0.5, 0.7, 0.6)):
    history = [{"epoch": k + 1, "val_score": v, "test_score": t, "test_scores": {"upright": u}}
               for k, (v, t, u) in enumerate(zip(vals, tests, uprights))]
    return {"config": {"seed": seed}, "best_epoch": 2, "epochs_trained": len(history), "history": history}


def test_a_best_epoch_row_gives_seeds_epochs_and_each_test_set_at_both_budgets():
    runs = [_row_run(0, (0.4, 0.6, 0.9), (0.3, 0.5, 0.8)), _row_run(1, (0.2, 0.8, 0.9), (0.1, 0.7, 0.8)),
            _row_run(2, (0.3, 0.7, 0.9), (0.2, 0.6, 0.8), vals=(0.5, 0.7, 0.8))]
    runs[2]["best_epoch"] = 3
    cells = best_epoch_cells(runs, budget=2)
    assert cells[:3] == ["0-2", "2–3", "3"]
    # at the best epoch: 0.6, 0.8 and (seed 2's best is epoch 3) 0.9; within 2 epochs: 0.6, 0.8, 0.7
    assert cells[3:] == ["0.767 ± 0.153", "0.667 ± 0.153", "0.700 ± 0.100", "0.600 ± 0.100"]
    assert best_epoch_cells(runs[:1], budget=1, test_sets=(), spec=".2f") == ["0", "2", "3", "0.60", "0.40"]


def test_devices_come_from_the_epochs_or_from_old_results():
    old = _result("a", 0, 0.5, device="cuda (X)")
    resumed = _result("a", 1, 0.5, device="cpu", history_devices=["cuda (X)", "cuda (X)", "cpu"])
    old["config"]["epochs"] = resumed["config"]["epochs"]  # the same settings: one row
    assert run_devices(old) == ["cuda (X)"] and run_devices(resumed) == ["cuda (X)", "cpu"]
    (row,) = summarize([old, resumed])
    assert row["device"] == "cpu, cuda (X)"


def test_the_parameter_axis_is_labelled_over_a_narrow_range():
    from matplotlib.figure import Figure

    from escnn_soft.experiments.reports import _log_ticks

    for low, high in ((33_742, 38_134), (33_742, 137_734), (33_742, 1_673_350), (33_742, 33_742)):
        ax = Figure().subplots()
        ax.set_xscale("log")
        ax.plot([low, high], [0, 1], "o")
        _log_ticks(ax)
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.xaxis.get_major_locator()() if lo <= t <= hi]
        labels = [ax.xaxis.get_major_formatter()(t) for t in ticks]
        assert len(ticks) >= 2 and all(labels), (low, high, labels)


def test_write_reports_writes_every_file(tmp_path):
    write_reports([_result("a", 0, 0.5), _result("a", 1, 0.75)], tmp_path, Metric())
    assert {p.name for p in tmp_path.iterdir()} == {"results.csv", "summary.csv", "summary.md", "compare.png"}
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"


def _readme_script():
    spec = importlib.util.spec_from_file_location("results_readme", ROOT / "scripts" / "results_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_results_readmes_match_their_runs():
    readmes = _readme_script().readmes()
    assert {p.relative_to(ROOT).as_posix() for p in readmes} == {
        "results/README.md", "results/ddmnist/README.md", "results/ddmnist-5ep/README.md", "results/mnist/README.md",
        "results/medmnist3d/README.md", "results/smoke/README.md"}
    for path, text in readmes.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} differs from its runs: run python scripts/results_readme.py")


def test_the_committed_runs_are_keyed_by_their_settings():
    from escnn_soft.experiments.runner import RunConfig

    paths = sorted([*ROOT.glob("results/ddmnist*/runs/*/result.json"),
                    *ROOT.glob("results/medmnist3d/fixtures/*/runs/*/result.json")])
    assert any("medmnist3d" in str(p) for p in paths) and any("ddmnist-150" in str(p) for p in paths)
    for path in paths:
        result = json.loads(path.read_text(encoding="utf-8"))
        assert path.parent.name == result["name"] == RunConfig(**result["config"]).name()


def _budget_result(seed, vals, tests, uprights):
    history = [{"epoch": k + 1, "val_score": v, "test_score": t, "test_scores": {"upright": u}}
               for k, (v, t, u) in enumerate(zip(vals, tests, uprights))]
    best = max(range(len(history)), key=lambda i: (vals[i], -i))
    result = _result("a", seed, tests[best])
    result["config"].update(epochs=len(history), patience=2)
    result["config"]["hyperparameters"]["latent"] = "pre-bn"
    result.update(history=history, test_scores={"upright": uprights[best]}, device="cpu")
    return result


def test_extra_test_sets_and_the_budget_figure_come_from_the_histories(tmp_path):
    runs = [_budget_result(0, [0.5, 0.75, 0.625, 0.875], [0.25, 0.5, 0.5, 0.75], [0.125, 0.25, 0.375, 0.5]),
            _budget_result(1, [0.5, 0.25, 0.625, 0.5], [0.25, 0.5, 0.75, 0.5], [0.25, 0.5, 0.75, 0.5])]
    (row,) = summarize(runs, budget=2)
    assert row["test_score_mean"] == pytest.approx(0.75) and row["test_score_upright_mean"] == pytest.approx(0.625)
    # best validation within the first 2 epochs: epoch 2 for seed 0, epoch 1 for seed 1
    assert row["test_score_within_2_mean"] == pytest.approx(0.375)
    assert row["test_score_upright_within_2_mean"] == pytest.approx(0.25)
    assert (row["latent"], row["patience"], row["epochs_trained_mean"]) == ("pre-bn", 2, 4)
    table = format_table([row], Metric())
    assert ("| model | latent | test accuracy (%) | upright test accuracy (%) | test accuracy (%), best val. ≤ 2 ep. | "
            "upright test accuracy (%), best val. ≤ 2 ep. | epochs trained |") in table
    assert "| a | pre-bn | 75.00 ± 0.00 | 62.50 ± 17.68 | 37.50 ± 17.68 | 25.00 ± 0.00 | 4 |" in table
    assert "(early stopping, patience 2)" in table
    assert "upright" not in format_table(summarize([_result("b", 0, 0.5)]), Metric())
    write_reports(runs, tmp_path, Metric(), budget=2)
    header = (tmp_path / "results.csv").read_text().splitlines()[0].split(",")
    assert {"test_accuracy_upright", "test_accuracy_within_2", "latent", "patience"} <= set(header)


def _paper_protocol_run(model, seed, late, early):
    r"""A D4 run of 60 epochs whose best validation epoch is 55 (test score ``late``) and, among
    the first 50, epoch 40 (test score ``early``); upright scores are the test scores minus 0.01."""
    history = []
    for epoch in range(1, 61):
        val, test = {55: (0.9, late), 40: (0.8, early)}.get(epoch, (0.1, 0.0))
        history.append({"epoch": epoch, "device": "cpu", "val_score": val, "test_score": test,
                        "test_scores": {"upright": test - 0.01},
                        "monitor": {"expand_weight_norm": 4.0 + (model == "cnn-aug"), "latent_term_prebn": 0.01,
                                    "relative_latent_error_prebn": 1.5}})
    return {"config": {"task": "ddmnist", "group": "D4", "model": model, "seed": seed, "epochs": 150,
                       "hyperparameters": {"c4_data": "corrected"}},
            "best_epoch": 55, "epochs_trained": 60, "history": history, "device": "cpu"}


def test_the_paper_protocol_section_reads_both_budgets_and_answers_from_the_runs():
    module = _readme_script()
    runs = [_paper_protocol_run("soft", 0, 0.90, 0.70), _paper_protocol_run("soft", 1, 0.92, 0.72),
            _paper_protocol_run("cnn-aug", 0, 0.80, 0.75), _paper_protocol_run("cnn-aug", 1, 0.82, 0.73)]
    text = module.paper_protocol_section(runs, [])
    assert "| D4 | soft | 0,1 | 55 | 60 | 0.910 ± 0.014 | 0.900 ± 0.014 | 0.710 ± 0.014 | 0.700 ± 0.014 | 0.868 |" in text
    assert "| D4 | cnn-aug | 0,1 | 55 | 60 | 0.810 ± 0.014 | 0.800 ± 0.014 | 0.740 ± 0.014 | 0.730 ± 0.014 | 0.800 |" \
        in text
    assert re.search(r"- D4: soft 0\.910 ± 0\.014 against cnn-aug 0\.810 ± 0\.014 on the augmented test set, "
                     r"\+10\.0 points \[\+[\d.]+, \+[\d.]+\], p [\d.]+, higher", text)
    assert re.search(r"within 50 epochs -3\.0 points \[-[\d.]+, \+[\d.]+\], p [\d.]+, no detectable difference "
                     r"\(n = 2 and 2\)", text) and "; 2 and 2 seed(s)." in text
    assert "D4 soft (2 of 3)" in text and "Not yet: no run of soft-rel has finished." in text
    assert "norm 4.00 in soft and\n5.00 in cnn-aug: soft's is lower" in text
    one_seed = module.paper_protocol_section(runs[:1] + runs[2:3], [])
    assert "+10.0 points;\n  upright +10.0 points; within 50 epochs -5.0 points (upright -5.0 points); 1 and 1 " \
        "seed(s): too few for a verdict." in one_seed
    assert "No run has finished yet." in module.paper_protocol_section([], [])
    tie = module.paper_protocol_section([runs[0], _paper_protocol_run("cnn-aug", 0, 0.9002, 0.70)], [])
    assert "against cnn-aug 0.900 on the augmented test set, +0.0 points;" in tie and "-0.0" not in tie


def test_the_paper_protocol_section_lists_the_strict_runs_of_tier_3_and_the_commands_that_run_them():
    module = _readme_script()
    gxg = _paper_protocol_run("scnn-gxg", 0, 0.95, 0.93)
    text = module.paper_protocol_section([gxg], [])
    assert ("finished D4 scnn-gxg (0); not yet C4 restriction, D1 restriction, D4 restriction, C4 scnn-gxg, "
            "D1 scnn-gxg, which these commands run:") in text
    assert "--group C4 --models restriction,scnn-gxg --seeds 0 --epochs 50 " in text and "--patience 20" in text
    assert "--group D4 --models restriction --seeds 0 --epochs 50" in text and "--group D4 --models scnn-gxg" not in text
    every = [gxg] + [{**_paper_protocol_run(m, 0, 0.9, 0.9), "config": {**gxg["config"], "group": g, "model": m}}
                     for g, m in module.STRICT_PLAN if (g, m) != ("D4", "scnn-gxg")]
    done = module.paper_protocol_section(every, [])
    assert "D4 scnn-gxg (0)." in done and "which these commands run" not in done
    one_left = module.paper_protocol_section(
        [r for r in every if (r["config"]["group"], r["config"]["model"]) != ("D4", "restriction")], [])
    assert one_left.count("escnn-soft compare --task ddmnist --group D4 --models restriction") == 1
    assert "not yet D4 restriction, which this command runs:" in one_left
    speed = "[Speed](../../README.md#speed)"
    assert text.count(speed) == 1 and done.count(speed) == 1  # tier 1 and 2 or the paper's C4 data still missing
    complete = every + [{**run, "config": {**run["config"], "group": g, "model": m, "seed": seed}}
                        for g, m, n in module.PAPER_PROTOCOL_PLAN for seed in range(n)
                        for run in [_paper_protocol_run(m, seed, 0.9, 0.9)]] \
        + [_c4_run(m, 0.9, "paper") for m in ("cnn-aug", "soft")]
    finished = module.paper_protocol_section(complete, [_pilot(c, 4.0) for c in module.L2_PILOT_COEFFICIENTS])
    assert "Not finished yet" not in finished and "not yet" not in finished and "Every planned run" not in done
    assert finished.count("```bash") == 1 and finished.count(speed) == 1  # the commands that produce every run
    for command in ("--group C4,D1,D4 --models cnn-aug,soft,soft-rel --seeds 0-2 --epochs 150",
                    "--group D4 --models cnn-aug-l2,soft-postbn --seeds 0-2 --epochs 150",
                    "--group C4,D1,D4 --models restriction,scnn-gxg --seeds 0 --epochs 50",
                    "--group C4 --models cnn-aug,soft --seeds 0 --epochs 150", "--c4-data paper --patience"):
        assert finished.count(command) == 1
    assert "tier 3 also ran" not in finished
    more_seeds = complete + [{**gxg, "config": {**gxg["config"], "seed": 1}}]
    assert "tier 3 also ran D4 scnn-gxg with `--seeds 0,1`" in module.paper_protocol_section(more_seeds, [])


def _c4_run(model, late, c4_data="corrected"):
    run = _paper_protocol_run(model, 0, late, late - 0.1)
    hyper = {"c4_data": c4_data}
    return {**run, "config": {**run["config"], "group": "C4", "hyperparameters": hyper}}


def test_runs_on_the_papers_c4_data_are_kept_apart_and_compared_with_the_corrected_data():
    module = _readme_script()
    corrected = [_c4_run("soft", 0.85), _c4_run("cnn-aug", 0.87)]
    paper = [_c4_run("soft", 0.91, "paper")]
    text = module.paper_protocol_section(corrected + paper, [])
    assert "| C4 | soft | 0 | 55 | 60 | 0.850 | 0.840 | 0.750 | 0.740 | 0.915 |" in text  # main table: corrected data
    assert "| C4 | soft | 0 | 55 | 60 | 0.910 | 0.900 | 0.810 | 0.800 | 0.915 |" in text  # tier 3's table
    assert "- soft: paper's data 0.910 against corrected data 0.850 on the augmented test set, +6.0 points;" in text
    assert "Not finished yet: cnn-aug; this command runs it:" in text
    assert "--group C4 --models cnn-aug --seeds 0 --epochs 150 " in text and "--c4-data paper" in text
    both = module.paper_protocol_section(corrected + paper + [_c4_run("cnn-aug", 0.90, "paper")], [])
    assert "- paper's data: soft 0.910 against cnn-aug 0.900 on the augmented test set, +1.0 points;" in both
    assert "--c4-data paper --patience" not in both
    assert "Not run yet; this command runs them:" in module.paper_protocol_section(corrected, [])


def _adrenal_run(model, seed, scores, epochs=60, error=0.5):
    r"""An Adrenal3D run whose validation scores are ``scores`` (epoch: (val, test)), else 0.1 and 0.0;
    upright scores are the test scores minus 0.01."""
    history = []
    for epoch in range(1, epochs + 1):
        val, test = scores.get(epoch, (0.1, 0.0))
        history.append({"epoch": epoch, "device": "cpu", "val_score": val, "test_score": test,
                        "test_scores": {"upright": test - 0.01}})
    return {"config": {"task": "adrenalmnist3d", "group": "O", "model": model, "seed": seed, "epochs": epochs},
            "epochs_trained": epochs, "history": history, "device": "cpu", "output_equivariance_error": error}


def test_the_adrenal_findings_compare_soft_with_each_peer_at_its_budget():
    module = _readme_script()
    soft = [_adrenal_run("soft", s, {3: (0.7, 0.60 + s / 100), 40: (0.9, 0.82 + s / 100)}) for s in (0, 1)]
    aug = [_adrenal_run("cnn-aug", s, {30: (0.9, 0.80 + s / 100)}) for s in (0, 1)]
    so3 = _adrenal_run("scnn-so3", 0, {4: (0.8, 0.75)}, epochs=5, error=2e-7)
    text = "\n".join(module.adrenal_findings(soft + aug + [so3]))
    assert re.search(r"- soft 0\.825 ± 0\.007 against cnn-aug 0\.805 ± 0\.007 on the rotated test set, "
                     r"\+2\.0 points \[-[\d.]+, \+[\d.]+\], p [\d.]+, no detectable difference \(n = 2 and 2\)", text)
    assert "; 2 and 2 seed(s)." in text and "against cnn " not in text
    assert ("- scnn-so3 (1 seed(s), 5 epochs): 0.750 on the rotated test set, upright 0.740; output invariance "
            "error 2.0e-07. soft's best validation epoch among its first 5 gives 0.605 ± 0.007 (upright "
            "0.595 ± 0.007).") in text
    assert "Not yet: no strict model" in "\n".join(module.adrenal_findings(soft + aug))
    assert "Not yet: soft or the CNNs" in "\n".join(module.adrenal_findings([so3]))


def _pilot(l2, norm):
    run = _paper_protocol_run("cnn-aug-l2", 0, 0.8, 0.7)
    run["config"]["hyperparameters"] = {"l2": l2}
    for h in run["history"]:
        h["monitor"]["expand_weight_norm"] = norm
    return run


def test_the_l2_pilots_pick_the_norm_closest_to_softs_and_list_the_missing_ones():
    module = _readme_script()
    runs = [_paper_protocol_run("soft", 0, 0.9, 0.7), _paper_protocol_run("cnn-aug", 0, 0.8, 0.75)]
    some = module.paper_protocol_section(runs, [_pilot(1e-3, 3.0), _pilot(1e-4, 4.8)])
    assert "| 1e-4 | 4.80 | 0.100 |\n| 1e-3 | 3.00 | 0.100 |" in some
    assert "Of the pilots run so far, the norm closest to soft's 4.00 is 4.80, at 1e-4." in some
    assert "Not run yet: the pilot(s) at 1e-2:" in some and "--l2 0.01" in some and "--l2 0.001" not in some
    every = module.paper_protocol_section(runs, [_pilot(1e-3, 3.0), _pilot(1e-4, 4.8), _pilot(1e-2, 3.9)])
    assert "The norm closest to soft's 4.00 is 3.90, at 1e-2: cnn-aug-l2 takes it." in every
    assert "Not run yet: the pilot" not in every and "pilots that pick" not in every
    none = module.paper_protocol_section(runs, [])
    assert all(f"--models cnn-aug-l2 --seeds 0 --epochs 30 " in none and f"--l2 {l2}" in none
               for l2 in ("0.0001", "0.001", "0.01"))


def _diverged(model, seed, epoch):
    result = _result(model, seed, None)
    for key in ("best_epoch", "val_score", "test_score", "final_test_score", "seconds_per_epoch",
                "latent_equivariance_error", "output_equivariance_error"):
        del result[key]
    return {**result, "diverged_at_epoch": epoch, "history": [{"epoch": k + 1} for k in range(epoch)]}


def test_a_diverged_run_is_listed_as_diverged_and_left_out_of_every_mean(tmp_path):
    results = [_result("a", 0, 0.5), _diverged("a", 1, 3), _diverged("b", 0, 2)]
    a, b = summarize(results)
    (within,) = summarize([_diverged("c", 0, 2)], budget=1)
    assert within["test_score_within_1_mean"] is None and within["seeds"] == 0
    assert (a["seeds"], a["test_score_mean"], a["test_score_std"], a["diverged"]) == (1, 0.5, None, "seed 1 (epoch 3)")
    assert (b["seeds"], b["test_score_mean"], b["seconds_per_epoch_mean"], b["diverged"]) == (0, None, None,
                                                                                             "seed 0 (epoch 2)")
    table = format_table([a, b], Metric())
    assert "| model | test accuracy (%) |" in table and "| output equiv. error | device | diverged |" in table
    assert "| a | 50.00 |" in table and table.rstrip().endswith("| cpu | seed 0 (epoch 2) |")
    assert "| b | — |" in table
    assert "diverged" not in format_table(summarize([_result("a", 0, 0.5)]), Metric())  # no column without one
    write_reports(results, tmp_path, Metric())
    with open(tmp_path / "results.csv") as f:
        rows = {(r["model"], r["seed"]): r for r in csv.DictReader(f)}
    assert rows[("a", "1")]["diverged_at_epoch"] == "3" and rows[("a", "1")]["test_accuracy"] == ""
    assert rows[("a", "0")]["diverged_at_epoch"] == "" and rows[("a", "0")]["test_accuracy"] == "0.5"


def _write_runs(folder, results):
    for r in results:
        path = folder / "runs" / r["name"] / "result.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(r))


def test_the_results_readmes_list_diverged_runs_apart_from_every_figure(tmp_path):
    module = _readme_script()
    _write_runs(tmp_path, [_result("a", 0, 0.5), _diverged("a", 1, 3)])
    assert [r["config"]["seed"] for r in module.finished(tmp_path, required=True)] == [0]
    section = module.diverged_section(tmp_path)
    assert section.startswith("\n## Diverged runs\n") and "- `a-1` (G a seed 1): diverged at epoch 3 of 1" in section
    assert module.diverged_section(tmp_path / "none") == ""
