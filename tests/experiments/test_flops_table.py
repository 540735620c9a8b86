r"""The committed table of training FLOPs, results/flops.json (written by scripts/flops.py), against counts
made afresh by escnn_soft.experiments.compute."""

import importlib.util
from pathlib import Path

import pytest

import escnn_soft.experiments.tasks  # noqa: F401  (registers the tasks)
from escnn_soft.experiments.compute import flops_entry
from escnn_soft.experiments.results import load_flops
from escnn_soft.experiments.task import get_task

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("flops_script", ROOT / "scripts" / "flops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_committed_run_that_the_verdicts_compare_has_an_entry():
    table, module = load_flops(ROOT / "results" / "flops.json"), _script()
    settings = module.run_settings()
    assert {"ddmnist", "mnist", "adrenalmnist3d", "smoke-reduced"} <= {s["task"] for s in settings.values()}
    assert set(settings) <= set(table), "run python scripts/flops.py --write"


def test_the_committed_entry_of_mnist_cnn_aug_is_what_counting_it_again_gives():
    table = load_flops(ROOT / "results" / "flops.json")
    entries = [e for e in table.values() if e["settings"]["task"] == "mnist" and e["settings"]["model"] == "cnn-aug"]
    assert entries
    for entry in entries:
        assert flops_entry(get_task("mnist"), entry["settings"]) == entry


def test_the_script_refuses_options_of_the_other_mode(capsys):
    for argv in (["--check", "--recount"], ["--write", "--match", "cnn"], []):
        with pytest.raises(SystemExit):
            _script().main(argv)
    assert "--recount goes with --write" in capsys.readouterr().err


@pytest.mark.slow  # counts every entry again: minutes, most of them the 3D steerable models'
def test_every_committed_entry_is_what_counting_it_again_gives():
    assert _script().main(["--check"]) == 0
