r"""Tests of escnn_soft.experiments.plans: run plans as data, and the commands that train them."""

import csv
import json
import re
import shlex
from dataclasses import replace
from pathlib import Path
from typing import List

import pytest

import escnn_soft.experiments.comparison as comparison
from escnn_soft.experiments import get_task
from escnn_soft.experiments.cli import format_command, main, parse_args, plan_options
from escnn_soft.experiments.results import load_runs, setting
from escnn_soft.experiments.plans import (DATA_SETTINGS, compare_arguments, entry_folder, entry_settings, load_plans,
                                          part_setting, planned_runs)

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
            for name in ("epochs", "patience", "budget_report", "l2", "equivariance_batch", "jobs", "threads",
                         "c4_data"):
                if name in settings:
                    assert getattr(options, name) == settings[name], name
            for name, swept in (("train_size", "train_sizes"), ("lr", "lrs"), ("lam", "lams"),
                                ("pair_fraction", "pair_fractions")):
                if name in settings:
                    value = settings[name]
                    assert getattr(options, swept) == tuple(value if isinstance(value, list) else [value]), name


@pytest.mark.parametrize("text, problem", [("{", "not JSON"), (json.dumps({"p": {"settings": {}}}), "needs 'entries'"),
                                           (json.dumps({"p": {"entries": [{"models": ["cnn"]}]}}), "with a 'part'")])
def test_a_bad_plan_file_is_named_with_the_plan(tmp_path, text, problem):
    path = tmp_path / "plans.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as error:
        load_plans(path)
    assert str(path) in str(error.value)


def test_the_registered_runs_of_does_soft_pay_are_its_plan():
    r"""The commands of results/plans/does-soft-pay.md's registered (and finished) runs are those of its plans
    (``does-soft-pay`` and one ``does-soft-pay-<task>`` per other task), part by part, with the registration's one
    torch thread per run."""
    plans = {name: plan for name, plan in load_plans(ROOT / "results" / "plans.json").items()
             if name == "does-soft-pay" or name.startswith("does-soft-pay-")}
    rows = [line.split(" | ") for line in (ROOT / "results" / "plans" / "does-soft-pay.md").read_text().splitlines()
            if line.startswith("| ") and line.split(" | ")[-1].startswith(("registered", "finished"))]
    registered: dict = {}
    for row in rows:
        part, cell = row[0].strip("| "), row[2]
        named = re.findall(r"`escnn-soft plan ([\w-]+)", cell)
        commands = re.findall(r"`(escnn-soft compare [^`]*)`", cell)
        if named:   # a plan's name and its first command; "the same for" the others
            commands = [compare_arguments(plans[named[0]], entry) for entry in plans[named[0]]["entries"]]
            commands = [parse_args(c) for c in commands]
        else:
            commands = [replace(parse_args(shlex.split(c)[2:]), threads=1) for c in commands]
        registered[part] = sorted(map(repr, commands))
    expected: dict = {}
    for plan in plans.values():
        for entry in plan["entries"]:
            expected.setdefault(entry["part"], []).append(repr(parse_args(compare_arguments(plan, entry))))
    assert registered == {part: sorted(found) for part, found in expected.items()}
    first = {part: re.findall(r"`(escnn-soft compare [^`]*)`", row[2]) for row in rows
             for part in [row[0].strip("| ")]}
    for name, plan in plans.items():   # each named plan's first command is shown as its entry's
        if name != "does-soft-pay":
            part = plan["entries"][0]["part"]
            shown = parse_args(shlex.split(first[part][0])[2:])
            assert shown == parse_args(compare_arguments(plan, plan["entries"][0]))


def test_plan_reports_a_committed_plan_and_trains_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)   # the plan's --out is relative to the repository's root
    monkeypatch.setattr(comparison, "train_runs", lambda *a, **k: pytest.fail("--report-only trains nothing"))
    monkeypatch.setattr(get_task("ddmnist"), "open", lambda source: pytest.fail("--report-only reads no data"))
    assert main(["plan", "ddmnist-150:tier 3 strict", "--report-only", "--report-dir", str(tmp_path),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("escnn-soft compare --task ddmnist --group C4,D1,D4 --models restriction,scnn-gxg "
                              "--seeds 0 --epochs 50 --train-size 10000 --out results/ddmnist-150 --patience 20 "
                              "--budget-report 50 --report-only --report-dir")
    assert "0 run(s) trained, 6 reused" in printed and "not finished" not in printed
    assert (tmp_path / "summary.md").is_file()


PLAN_FILE = {"tiny": {"settings": {"task": "ddmnist", "epochs": 2, "mnist": "path/to/mnist.npz", "jobs": 2},
                      "entries": [{"part": "a", "models": ["cnn"], "seeds": [0, 1]},
                                  {"part": "b", "groups": ["D4"], "models": ["soft"], "seeds": [2], "lam": 0.5},
                                  {"part": "b", "groups": ["C4"], "models": ["soft"], "seeds": [2]}]}}


@pytest.mark.parametrize("extra, source, jobs", [([], "path/to/mnist.npz", 2), (["--report-only"], None, 2),
                                                 (["--data", "other.npz", "--jobs", "3"], "other.npz", 3)])
def test_plan_prints_the_command_of_every_entry_and_runs_none(tmp_path, capsys, monkeypatch, extra, source, jobs):
    r"""Options after the plan's name win over the plan's; its data source gives way to another, and to
    --report-only."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plans.json").write_text(json.dumps(PLAN_FILE), encoding="utf-8")
    monkeypatch.setattr(comparison, "compare", lambda *a, **k: pytest.fail("--print runs nothing"))
    assert main(["plan", "tiny:b", "--plans", "plans.json", "--print", *extra]) == 0
    commands = capsys.readouterr().out.splitlines()
    plan = PLAN_FILE["tiny"]
    leave_out = DATA_SETTINGS if extra else ()
    expected = [parse_args([*compare_arguments(plan, entry, leave_out=leave_out), *extra])
                for entry in plan["entries"][1:]]
    assert commands == [format_command(options) for options in expected] and len(commands) == 2
    assert [(o.groups, o.lams, o.jobs, o.source) for o in expected] == [(("D4",), (0.5,), jobs, source),
                                                                        (("C4",), (), jobs, source)]


@pytest.mark.parametrize("argv, message", [
    (["plan", "nope"], "no plan 'nope'; plans: tiny"),
    (["plan", "tiny:c"], "the plan 'tiny' has no part 'c'; its parts: 'a', 'b'"),
    (["plan", "tiny", "--plans", "missing.json"], "--plans missing.json: No such file or directory"),
    (["plan", "tiny", "--epochs", "0"], "--epochs must be positive, got 0"),
    (["plan", "tiny", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_plan_refuses_bad_names_and_options_in_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    Path("plans.json").write_text(json.dumps(PLAN_FILE), encoding="utf-8")
    monkeypatch.setattr(comparison, "compare", lambda *a, **k: pytest.fail("nothing runs"))
    assert main([*argv, "--plans", "plans.json"] if "--plans" not in argv else argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"escnn-soft plan: error: {message}") and "\n" not in error


def test_plan_with_one_report_dir_writes_each_entry_reports_into_its_own_subfolder(tmp_path, capsys, monkeypatch):
    r"""No entry's reports overwrite another's: each entry of the plan reports its own runs in its own folder."""
    monkeypatch.chdir(ROOT)   # the plan's --out is relative to the repository's root
    monkeypatch.setattr(comparison, "train_runs", lambda *a, **k: pytest.fail("--report-only trains nothing"))
    plan = load_plans(ROOT / "results" / "plans.json")["ddmnist-l2-pilots"]
    assert main(["plan", "ddmnist-l2-pilots", "--report-only", "--report-dir", str(tmp_path), "--no-progress"]) == 0
    capsys.readouterr()
    folders = [entry_folder(plan, entry) for entry in plan["entries"]]
    assert folders == ["1-pilot-D4", "2-pilot-D4", "3-pilot-D4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == folders
    l2 = {r["name"]: setting(r, "l2") for r in load_runs(ROOT / "results" / "ddmnist-l2-pilots")}
    for entry, folder in zip(plan["entries"], folders):
        with open(tmp_path / folder / "results.csv", encoding="utf-8") as f:
            assert [l2[row["name"]] for row in csv.DictReader(f)] == [entry["l2"]], folder
        assert (tmp_path / folder / "summary.md").is_file()


def test_plan_with_one_report_dir_for_one_entry_writes_into_it(tmp_path):
    plans = load_plans(ROOT / "results" / "plans.json")
    [options] = plan_options(plans, "ddmnist-150:tier 3 strict", ["--report-only", "--report-dir", str(tmp_path)])
    assert options.report_dir == tmp_path
    found = plan_options(plans, "ddmnist-l2-pilots", ["--report-only", "--report-dir", str(tmp_path)])
    assert [o.report_dir for o in found] == [tmp_path / f"{i}-pilot-D4" for i in (1, 2, 3)]
    assert [o.l2 for o in found] == [0.0001, 0.001, 0.01]


def test_entry_folder_refuses_an_entry_of_another_plan():
    with pytest.raises(ValueError, match="is not one of the plan's entries"):
        entry_folder(PLAN, {"part": "elsewhere"})


def _shown_commands(text: str) -> List[str]:
    r"""The commands of the bash blocks of a README, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        commands += [line.split("  #")[0].strip() for line in block.replace(" \\\n", " ").splitlines()]
    return [" ".join(command.split()) for command in commands if command and not command.startswith("#")]


def test_every_command_a_results_readme_shows_is_a_plan_or_as_format_command_writes_it(tmp_path, monkeypatch):
    r"""The ``escnn-soft compare`` commands of the committed results READMEs read back through the parser
    into themselves (``--device cuda`` is checked where the command runs), and their ``escnn-soft plan``
    commands name plans of results/plans.json."""
    plans = load_plans(ROOT / "results" / "plans.json")
    readmes = sorted((ROOT / "results").glob("**/README.md"))
    monkeypatch.chdir(tmp_path)
    shown = {"compare": 0, "plan": 0}
    for readme in readmes:
        for command in _shown_commands(readme.read_text(encoding="utf-8")):
            words = shlex.split(command)
            if words[:2] == ["escnn-soft", "plan"]:
                assert words[2].partition(":")[0] in plans, f"{readme}: {command}"
                shown["plan"] += 1
            elif words[:3] == ["escnn-soft", "compare", "..."]:
                continue   # the command above, with more options
            elif words[:2] == ["escnn-soft", "compare"]:
                device = words[words.index("--device") + 1] if "--device" in words else None
                argv = [w for i, w in enumerate(words[2:], 2) if "--device" not in (w, words[i - 1])]
                options = replace(parse_args(argv), device=device) if device else parse_args(argv)
                assert format_command(options) == command, f"{readme}: {command}"
                shown["compare"] += 1
            else:
                assert not command.startswith(("escnn-soft", "for ")), f"{readme}: {command}"
    assert shown["plan"] >= 3 and shown["compare"] >= 10
