import importlib.util
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from escnn import gspaces
from escnn import nn as enn
from escnn.group import cyclic_group

from escnn_soft import field_action
from escnn_soft.experiments import get_task
from escnn_soft.experiments.runner import RunConfig, train_run
from escnn_soft.experiments.specs import TASK_SPECS
from escnn_soft.experiments.tasks import exploration
from escnn_soft.experiments.tasks.exploration import (EXPERIMENTS, EXPLORATION_TASKS, TEST_SIZE, VAL_SIZE, _Channelwise,
                                                      algebra_control)
from escnn_soft.learned import LearnedRepresentation

ROOT = Path(__file__).resolve().parents[2]
TASKS = {t.name: t for t in EXPLORATION_TASKS}


def _config(task, model="learned", epochs=2, train_size=96, batch_size=32, source=None):
    return RunConfig(task=task.name, group=task.default_group, model=model, seed=0, epochs=epochs,
                     train_size=train_size, batch_size=batch_size,
                     hyperparameters={**task.hyperparameters(model, task.default_group), "snapshots": 4},
                     data=source.fingerprint if source is not None else "test")


@pytest.fixture(scope="module")
def sources():
    return {name: task.open(None) for name, task in TASKS.items()}


def test_tasks_follow_the_experiments():
    assert [t.name for t in EXPLORATION_TASKS] == list(EXPERIMENTS)
    for task in EXPLORATION_TASKS:
        e = EXPERIMENTS[task.name]
        assert task.spec is TASK_SPECS[task.name] and get_task(task.name) is task
        assert task.groups == (task.default_group,) and task.models == ("learned", "identity-init")
        h = task.hyperparameters("learned", task.default_group)
        assert (h["lambda_zy"], h["lambda_xz"], h["lambda_w"], h["inverse"], h["lr"]) == \
            (e.lambda_zy, e.lambda_xz, e.lambda_w, e.inverse, 3e-3)
        assert task.hyperparameters("identity-init", task.default_group)["init"] == "identity"
        assert task.metric == ("accuracy" if task.name == "c4-classifier" else "negative reconstruction MSE")
    # the committed runs' keys depend on these: scripts/exploration_runs.py uses the default groups and epochs
    assert {t.name: (t.default_group, t.default_epochs, t.default_train_size) for t in EXPLORATION_TASKS} == {
        "d3-autoencoder": ("D3", 20, 3000), "c2-typefaces": ("C2", 20, 8000), "c4-classifier": ("C4", 8, 3000)}
    with pytest.raises(ValueError, match="valid models"):
        TASKS["c2-typefaces"].hyperparameters("soft", "C2")
    with pytest.raises(ValueError, match="valid groups"):
        TASKS["c2-typefaces"].build("learned", "C4", TASKS["c2-typefaces"].hyperparameters("learned", "C2"))


def test_reconstruction_score_is_negative_mse():
    task = TASKS["c2-typefaces"]
    out, pair = torch.rand(3, 1, 4, 4), torch.rand(3, 2, 1, 4, 4)
    torch.testing.assert_close(task.score(out, pair), -((out - pair[:, 0]) ** 2).flatten(1).mean(1))
    torch.testing.assert_close(TASKS["d3-autoencoder"].score(out, out), torch.zeros(3))


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_a_tiny_run_adds_the_analysis(name, sources, tmp_path):
    task, source = TASKS[name], sources[name]
    data = task.load(task.default_group, source, train_size=96, data_seed=0, device=torch.device("cpu"))
    assert data.train_size == 96 and data.val[0].shape[0] == VAL_SIZE and data.test[0].shape[0] == TEST_SIZE
    config = _config(task, source=source)
    result = train_run(task, data, config, tmp_path / config.name(), device="cpu", progress=False)
    a = result["analysis"]
    assert a["steps"] == 6 and [r["train_steps"] for r in result["history"]] == [3, 3]
    assert len(a["decomposition"]["irreps"]) == {"d3-autoencoder": 3, "c2-typefaces": 2, "c4-classifier": 3}[name]
    assert a["decomposition"]["dim"] == EXPERIMENTS[name].dim
    assert {"control_decomposition", "initial_decomposition", "algebra_loss", "test"} <= set(a)
    eig = a["eigenvalues"]
    assert eig["steps"][0] == 0 and eig["steps"][-1] == 6 and eig["steps"] == sorted(set(eig["steps"]))
    assert len(eig["real"]) == len(eig["steps"]) and len(eig["real"][0]) == EXPERIMENTS[name].dim
    assert eig["element_order"] == {"d3-autoencoder": 3, "c2-typefaces": 2, "c4-classifier": 4}[name]
    assert result["latent_equivariance_error"] is not None
    state = torch.load(tmp_path / config.name() / "model.pt", weights_only=True)
    assert "representation.generators" in state        # checkpoints cover the learned rho_Z


def test_resume_keeps_the_eigenvalue_snapshots(sources, tmp_path):
    task, source = TASKS["d3-autoencoder"], sources["d3-autoencoder"]
    data = task.load("D3", source, train_size=96, data_seed=0, device=torch.device("cpu"))
    config = _config(task, source=source)
    whole = train_run(task, data, config, tmp_path / "whole", device="cpu", progress=False)

    class Stop(Exception):
        pass

    def stop(epoch, record):
        raise Stop

    with pytest.raises(Stop):
        train_run(task, data, config, tmp_path / "parts", device="cpu", progress=False, on_epoch=stop)
    resumed = train_run(task, data, config, tmp_path / "parts", device="cpu", progress=False)
    assert resumed["resumed_from_epoch"] == 1
    assert resumed["analysis"]["eigenvalues"] == whole["analysis"]["eigenvalues"]
    assert resumed["analysis"]["decomposition"] == whole["analysis"]["decomposition"]


def test_the_no_data_control_lowers_only_the_algebra_loss():
    rho = LearnedRepresentation(cyclic_group(4), 6, seed=1)
    before = rho.generators.detach().clone()
    control = algebra_control(rho, 50, lr=1e-2, inverse=1.0)
    assert control.group is rho.group
    torch.testing.assert_close(rho.generators.detach(), before)              # the original is left alone
    assert float(control.algebra_loss().detach()) < 0.1 * float(rho.algebra_loss().detach())
    torch.testing.assert_close(algebra_control(rho, 0, lr=1e-2, inverse=1.0).generators, rho.generators)


def test_channelwise_rotation_is_the_field_action_of_trivial_fields():
    r2 = gspaces.rot2dOnR2(4)
    act = _Channelwise(field_action(enn.FieldType(r2, [r2.trivial_repr])))
    exact = field_action(enn.FieldType(r2, [r2.trivial_repr] * 3))
    x, g = torch.rand(8, 3, 6, 6), torch.arange(8) % 4
    assert torch.equal(act(x, g), exact(x, g))


def _cifar_folder(root: Path, n_train: int, n_test: int) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{k}", n_train) for k in range(1, 6)] + [("test_batch", n_test)]:
        batch = {b"labels": [int(v) for v in rng.integers(0, 10, n)],
                 b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def test_c4_classifier_trains_on_cifar10(tmp_path):
    task = TASKS["c4-classifier"]
    folder = _cifar_folder(tmp_path, n_train=(VAL_SIZE + 40) // 5, n_test=TEST_SIZE)
    source = task.open(f"cifar10:{folder}")
    assert source.description.startswith("CIFAR-10")
    with pytest.raises(ValueError, match="larger than available"):
        task.check(source, 41)
    data = task.load("C4", source, train_size=40, data_seed=0, device=torch.device("cpu"))
    assert data.val[0].shape == (VAL_SIZE, 3, 32, 32) and data.test[0].shape == (TEST_SIZE, 3, 32, 32)
    assert data.val[0].min() >= -1 and data.val[0].max() <= 1
    config = _config(task, epochs=1, train_size=40, batch_size=20, source=source)
    result = train_run(task, data, config, tmp_path / "run", device="cpu", progress=False, equivariance_batch=8)
    assert result["analysis"]["steps"] == 2 and result["parameters"] > 3 * 32 * 9


def test_a_folder_holding_the_cifar10_archive_is_read_by_its_archive(tmp_path):
    folder = _cifar_folder(tmp_path / "batches", n_train=1, n_test=1)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.raises(ValueError, match="cifar-10-python.tar.gz: md5 is .* not CIFAR-10's"):  # a fake archive
        TASKS["c4-classifier"].open(f"cifar10:{tmp_path}")


def test_cifar10_that_cannot_be_downloaded_says_how_to_get_it(monkeypatch):
    def offline(source):
        raise RuntimeError("could not download CIFAR-10") from OSError("no network")

    monkeypatch.setattr(exploration, "load_cifar10", offline)
    with pytest.raises(OSError, match=r"not in the cache .* could not be downloaded \(no network\); download https://"):
        TASKS["c4-classifier"].open("cifar10")


def test_bad_sources(tmp_path):
    with pytest.raises(ValueError, match="trains on MNIST"):
        TASKS["d3-autoencoder"].open("cifar10")
    with pytest.raises(FileNotFoundError, match="CIFAR-10 not found at .*: download https://.*cifar-10-python.tar.gz"):
        TASKS["c4-classifier"].open(f"cifar10:{tmp_path / 'nothing'}")
    with pytest.raises(FileNotFoundError, match="holds neither cifar-10-python.tar.gz nor its extracted"):
        TASKS["c4-classifier"].open(f"cifar10:{tmp_path}")
    with pytest.raises(FileNotFoundError, match="no data at 'cifar'; its sources are 'mnist:PATH'.* 'cifar10'"):
        TASKS["c4-classifier"].open("cifar")
    with pytest.raises(FileNotFoundError, match="TMNIST CSV not found"):
        TASKS["c2-typefaces"].open(str(tmp_path / "tmnist.csv"))
    with pytest.raises(ValueError, match="TMNIST CSV"):
        TASKS["c2-typefaces"].open("mnist")
    with pytest.raises(ValueError, match="positive"):
        TASKS["c2-typefaces"].check(TASKS["c2-typefaces"].open(None), 0)


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_readmes_match_the_runs():
    readme = _module(ROOT / "scripts" / "exploration_readme.py", "exploration_readme")
    out = ROOT / "results" / "exploration"
    for path, text in readme.render(out).items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is out of date: run {readme.README_COMMAND}"
