r"""``scripts/migrate_runs.py`` re-keys finished runs: hyperparameters dropped, renamed, set or filled in where
missing, and the run settings a protocol change needs (protocol, patience, ...)."""

import importlib.util
import json
import sys
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
