r"""``scripts/migrate_runs.py`` re-keys finished runs: hyperparameters dropped, renamed, set or filled in where
missing, and the run settings a protocol change needs (protocol, patience, ...)."""

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from escnn_soft.experiments.runner import RunConfig

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("migrate_runs", ROOT / "scripts" / "migrate_runs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module        # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _run(folder: Path, **settings) -> RunConfig:
    config = RunConfig(**{"task": "ddmnist", "group": "C4", "model": "soft", "seed": 0, "epochs": 2, "train_size": 8,
                          "batch_size": 4, "hyperparameters": {"lam": 1.0}, "data": "d", **settings})
    run_dir = folder / "runs" / config.name()
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").write_text(json.dumps({"name": config.name(), "config": config.to_dict()}))
    return config


def _configs(folder: Path):
    return {p.parent.name: json.loads(p.read_text())["config"] for p in folder.glob("runs/*/result.json")}


def test_set_config_and_default_rekey_the_runs_once(tmp_path):
    migrate = _script()
    plain = _run(tmp_path)
    paper = _run(tmp_path, hyperparameters={"lam": 1.0, "c4_data": "paper"}, seed=1)
    assert migrate.main(["--set-config", "protocol=7,patience=20", "--default", "c4_data=corrected",
                         str(tmp_path)]) == 0
    configs = _configs(tmp_path)
    want = [RunConfig(**{**plain.to_dict(), "protocol": 7, "patience": 20,
                         "hyperparameters": {"lam": 1.0, "c4_data": "corrected"}}),
            RunConfig(**{**paper.to_dict(), "protocol": 7, "patience": 20})]
    assert configs == {c.name(): c.to_dict() for c in want}
    for name in configs:
        result = json.loads((tmp_path / "runs" / name / "result.json").read_text())
        assert result["name"] == name and result["migrated_from"] in (plain.name(), paper.name())
    assert migrate.main(["--set-config", "protocol=7,patience=20", "--default", "c4_data=corrected",
                         str(tmp_path)]) == 0
    assert _configs(tmp_path) == configs                                 # migrated runs are left alone


def test_set_config_refuses_settings_that_name_the_run(tmp_path):
    migrate = _script()
    with pytest.raises(SystemExit):
        migrate.main(["--set-config", "seed=3", str(tmp_path)])
    with pytest.raises(ValueError, match="--set-config sets protocol, patience, eval_size, equivariance_elements"):
        migrate.Change(config={"model": "cnn"})


def _v1(config: RunConfig) -> dict:
    r"""``config`` as protocol 1 recorded it: the settings at their defaults left out."""
    return {**{k: v for k, v in config.to_dict().items() if v is not None}, "protocol": 1}


def test_protocol_2_records_every_setting_of_finished_and_unfinished_runs_but_not_of_claimed_ones(tmp_path):
    import torch

    from escnn_soft.experiments.claims import claim
    from escnn_soft.experiments.results import run_name

    migrate = _script()
    runs = tmp_path / "runs"
    finished, unfinished, held = (RunConfig(task="ddmnist", group="C4", model="soft", seed=seed, epochs=2,
                                            train_size=8, batch_size=4, hyperparameters={"lam": 1.0}, data="d")
                                  for seed in (0, 1, 2))
    for config in (finished, unfinished, held):
        (runs / run_name(_v1(config))).mkdir(parents=True)
    (runs / run_name(_v1(finished)) / "result.json").write_text(json.dumps({"name": run_name(_v1(finished)),
                                                                             "config": _v1(finished)}))
    torch.save({"config": _v1(unfinished), "history": []}, runs / run_name(_v1(unfinished)) / "checkpoint.pt")
    torch.save({"config": _v1(held)}, runs / run_name(_v1(held)) / "checkpoint.pt")
    claimed = claim(runs / run_name(_v1(held)))
    try:
        assert migrate.main(["--set-config", "protocol=2", str(tmp_path)]) == 0
    finally:
        claimed.release()
    finished, unfinished = replace(finished, protocol=2), replace(unfinished, protocol=2)
    assert sorted(p.name for p in runs.iterdir()) == sorted([finished.name(), unfinished.name(), run_name(_v1(held))])
    result = json.loads((runs / finished.name() / "result.json").read_text())
    assert result["config"] == finished.to_dict() and result["config"]["patience"] is None
    assert result["migrated_from"] == run_name(_v1(replace(finished, protocol=1)))
    state = torch.load(runs / unfinished.name() / "checkpoint.pt", weights_only=True)
    assert state["config"] == unfinished.to_dict() and state["history"] == []   # train_run resumes it
    assert torch.load(runs / run_name(_v1(held)) / "checkpoint.pt", weights_only=True)["config"] == _v1(held)


def _finished(folder: Path, config: RunConfig, **entries) -> Path:
    r"""A finished run's folder, its ``result.json`` written as the runner writes it."""
    run_dir = folder / "runs" / config.name()
    run_dir.mkdir(parents=True)
    result = {"name": config.name(), "config": config.to_dict(), "test_score": 0.875, "history": [{"epoch": 1}],
              **entries}
    (run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return run_dir


def test_majority_rates_are_added_from_the_runs_data_and_nothing_else_changes(tmp_path):
    import torch

    from escnn_soft.experiments.runner import evaluation_subset
    from escnn_soft.experiments.tasks import MNISTTask

    migrate = _script()
    task = MNISTTask()
    source = task.open(None)                                         # the offline digits
    mnist = dict(task="mnist", group="C4", model="cnn-aug", seed=0, epochs=1, train_size=50, batch_size=16,
                 hyperparameters={"lr": 3e-3}, data=source.fingerprint)
    whole, cut = RunConfig(**mnist), RunConfig(**mnist, eval_size=30)
    other_data = RunConfig(**{**mnist, "data": "another source"})
    smoke = RunConfig(**{**mnist, "task": "smoke-reduced", "hyperparameters": {"lr": 1e-3}})
    runs = {"whole": whole, "cut": cut, "other data": other_data, "smoke": smoke,
            "diverged": replace(whole, seed=1)}
    folders = {what: _finished(tmp_path, c, **({"diverged_at_epoch": 1} if what == "diverged" else {}))
               for what, c in runs.items()}
    before = {what: (path / "result.json").read_text() for what, path in folders.items()}

    assert migrate.main(["--majority-rates", str(tmp_path)]) == 0
    data = task.load("C4", source, train_size=50, data_seed=0, device=torch.device("cpu"))
    for what, scored in (("whole", data), ("cut", evaluation_subset(data, 30, 0))):
        labels = scored.test[1].tolist()
        text = (folders[what] / "result.json").read_text()
        result = json.loads(text)
        assert result.pop("majority_rates") == {"test": max(map(labels.count, range(10))) / len(labels)}
        assert result == json.loads(before[what])                            # every other entry as it was
        assert text.startswith(before[what].rstrip()[:-1].rstrip())          # and written as it was
        assert folders[what].name == runs[what].name()                       # under the same key
    for what in ("other data", "smoke", "diverged"):
        assert (folders[what] / "result.json").read_text() == before[what]
    added = {what: (folders[what] / "result.json").read_text() for what in ("whole", "cut")}
    assert migrate.main(["--majority-rates", "--task", "mnist", str(tmp_path)]) == 0
    assert {what: (folders[what] / "result.json").read_text() for what in ("whole", "cut")} == added  # once


def test_majority_rates_name_what_is_wrong_with_their_options(tmp_path, capsys):
    migrate = _script()
    for argv, message in ((["--mnist", "m.npz"], "--data and --mnist are the data of --majority-rates"),
                          (["--majority-rates", "--data", "a", "--mnist", "b"], "--data or --mnist, not both"),
                          (["--majority-rates", "--task", "mnist", "--mnist", str(tmp_path / "absent.npz")],
                           "not found")):
        _finished(tmp_path, RunConfig(task="mnist", group="C4", model="cnn", seed=len(message), epochs=1,
                                      train_size=8, batch_size=4, hyperparameters={"lr": 1e-3}, data="d"))
        with pytest.raises(SystemExit):
            migrate.main([*argv, str(tmp_path)])
        assert message in capsys.readouterr().err
