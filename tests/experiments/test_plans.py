r"""Tests of escnn_soft.experiments.plans: run plans as data, and the commands that train them."""

import json
from pathlib import Path

import pytest

from escnn_soft.experiments.cli import parse_args
from escnn_soft.experiments.plans import compare_arguments, entry_settings, load_plans, part_setting, planned_runs

ROOT = Path(__file__).resolve().parents[2]

PLAN = {"settings": {"task": "ddmnist", "epochs": 150, "patience": 20, "out": "results/x"},
        "entries": [{"part": "tier 1", "groups": ["D4", "C4"], "models": ["cnn-aug", "soft"], "seeds": [0, 1, 2]},
                    {"part": "strict", "groups": ["C4"], "models": ["scnn"], "seeds": [0], "epochs": 50},
                    {"part": "strict", "groups": ["D4"], "models": ["scnn"], "seeds": [0], "epochs": 50}]}


def test_planned_runs_expand_each_entry_models_before_groups_with_its_own_settings():
    runs = planned_runs(PLAN)
    assert [(r["part"], r["group"], r["model"]) for r in runs] == [
        ("tier 1", "D4", "cnn-aug"), ("tier 1", "C4", "cnn-aug"), ("tier 1", "D4", "soft"), ("tier 1", "C4", "soft"),
        ("strict", "C4", "scnn"), ("strict", "D4", "scnn")]
    assert [r["epochs"] for r in runs] == [150] * 4 + [50] * 2 and runs[0]["seeds"] == [0, 1, 2]
    assert [r["group"] for r in planned_runs(PLAN, "strict")] == ["C4", "D4"]
    assert entry_settings(PLAN, PLAN["entries"][1])["patience"] == 20
    assert part_setting(PLAN, "strict", "epochs") == 50
    with pytest.raises(ValueError, match=r"'tier 1' of the plan do not share one value of 'nope': \['1', 'null'\]"):
        part_setting({"entries": [{"part": "tier 1", "nope": 1}, {"part": "tier 1"}]}, "tier 1", "nope")


def test_every_committed_plan_entry_is_a_command_the_parser_reads_back(tmp_path, monkeypatch):
    plans = load_plans(ROOT / "results" / "plans.json")
    assert {"ddmnist-150", "ddmnist-l2-pilots", "medmnist3d", "smoke"} <= set(plans)
    monkeypatch.chdir(tmp_path)   # the plans' --out folders are relative: keep them out of the checkout
    for plan in plans.values():
        for entry in plan["entries"]:
            settings = entry_settings(plan, entry)
            options = parse_args(compare_arguments(plan, entry))
            assert options.task == settings["task"] and options.models == tuple(settings["models"])
            assert options.seeds == tuple(settings["seeds"]) and str(options.out) == settings["out"]
            assert options.groups == tuple(settings.get("groups", options.groups))
            for name in ("epochs", "patience", "budget_report", "train_size", "l2", "equivariance_batch", "jobs",
                         "threads", "c4_data"):
                if name in settings:
                    assert getattr(options, name) == settings[name], name


@pytest.mark.parametrize("text, problem", [("{", "not JSON"), (json.dumps({"p": {"settings": {}}}), "needs 'entries'"),
                                           (json.dumps({"p": {"entries": [{"models": ["cnn"]}]}}), "with a 'part'")])
def test_a_bad_plan_file_is_named_with_the_plan(tmp_path, text, problem):
    path = tmp_path / "plans.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as error:
        load_plans(path)
    assert str(path) in str(error.value)
