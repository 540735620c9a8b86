import importlib.util
import json
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
from escnn_soft.experiments.models.medmnist3d import MEDMNIST3D_LATENT_DIM
from escnn_soft.experiments.runner import RunConfig, train_run
from escnn_soft.experiments.specs import TASK_SPECS
from escnn_soft.experiments.task import Source
from escnn_soft.experiments.tasks import exploration
from escnn_soft.experiments.tasks.exploration import (EXPERIMENTS, EXPLORATION_TASKS, TEST_SIZE, VAL_SIZE, _Channelwise,
                                                      algebra_control)
from escnn_soft.experiments.tasks.medmnist3d import voxel_action
from escnn_soft.learned import LearnedRepresentation

ROOT = Path(__file__).resolve().parents[3]
TASKS = {t.name: t for t in EXPLORATION_TASKS}
PLANAR = [name for name in EXPERIMENTS if name != "o-adrenal"]     # the paper's three, in 2D


def _config(task, model="learned", epochs=2, train_size=96, batch_size=32, source=None):
    return RunConfig(task=task.name, group=task.default_group, model=model, seed=0, epochs=epochs,
                     train_size=train_size, batch_size=batch_size,
                     hyperparameters={**task.hyperparameters(model, task.default_group), "snapshots": 4},
                     data=source.fingerprint if source is not None else "test")


@pytest.fixture(scope="module")
def sources():
    return {name: TASKS[name].open(None) for name in PLANAR}


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
        assert task.metric == ("accuracy" if task.classifier else "negative reconstruction MSE")
    # the committed runs' keys depend on these: scripts/exploration_runs.py uses the default groups and epochs
    assert {t.name: (t.default_group, t.default_epochs, t.default_train_size) for t in EXPLORATION_TASKS} == {
        "d3-autoencoder": ("D3", 20, 3000), "c2-typefaces": ("C2", 20, 8000), "c4-classifier": ("C4", 8, 3000),
        "o-adrenal": ("O", 12, 1188)}
    with pytest.raises(ValueError, match="valid models"):
        TASKS["c2-typefaces"].hyperparameters("soft", "C2")
    with pytest.raises(ValueError, match="valid groups"):
        TASKS["c2-typefaces"].build("learned", "C4", TASKS["c2-typefaces"].hyperparameters("learned", "C2"))


def test_reconstruction_score_is_negative_mse():
    task = TASKS["c2-typefaces"]
    out, pair = torch.rand(3, 1, 4, 4), torch.rand(3, 2, 1, 4, 4)
    torch.testing.assert_close(task.score(out, pair), -((out - pair[:, 0]) ** 2).flatten(1).mean(1))
    torch.testing.assert_close(TASKS["d3-autoencoder"].score(out, out), torch.zeros(3))


@pytest.mark.parametrize("name", PLANAR)
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
    # every epoch records rho_Z's decomposition as it stands then: the best epoch's is the analysis's own
    best = result["history"][result["best_epoch"] - 1]["monitor"]
    assert best["decomposition"] == a["decomposition"] and best["algebra_loss"] == pytest.approx(a["algebra_loss"])
    assert a["final_epoch"] == 2 and a["final_decomposition"] == result["history"][-1]["monitor"]["decomposition"]
    assert a["final_algebra_loss"] == result["history"][-1]["monitor"]["algebra_loss"]
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
    assert resumed["analysis"]["final_decomposition"] == whole["analysis"]["final_decomposition"]


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


def test_the_readmes_list_diverged_runs_apart_from_every_table(tmp_path):
    readme = _module(ROOT / "scripts" / "exploration_readme.py", "exploration_readme")
    config = {"task": "d3-autoencoder", "group": "D3", "model": "learned", "seed": 4, "epochs": 20}
    run = tmp_path / "d3_autoencoder" / "runs" / "d3-autoencoder-D3-learned-seed4-0123456789"
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({"name": run.name, "config": config, "diverged_at_epoch": 7}))
    assert readme.runs_by_experiment(tmp_path)["d3-autoencoder"]["learned"] == []
    section = readme.diverged_section(tmp_path, ["d3-autoencoder"])
    assert f"- `{run.name}` (learned seed 4): diverged at epoch 7 of 20" in section
    assert readme.diverged_section(tmp_path, ["c2-typefaces"]) == ""


# ---------------------------------------------------------------- o-adrenal: the study on O in 3D

@pytest.fixture(scope="module")
def adrenal():
    r"""The o-adrenal task and a few volumes of each split of the shipped AdrenalMNIST3D."""
    task = TASKS["o-adrenal"]
    full = task.open(None)
    d = full.data
    small = d._replace(x_train=d.x_train[:6], y_train=d.y_train[:6], x_val=d.x_val[:4], y_val=d.y_val[:4],
                       x_test=d.x_test[:4], y_test=d.y_test[:4])
    return task, full, Source(small, "tiny", "a few adrenalmnist3d volumes")


def test_o_adrenal_is_registered_with_c4_classifiers_objective():
    task, c4 = TASKS["o-adrenal"], TASKS["c4-classifier"]
    assert get_task("o-adrenal") is task and task.spec is TASK_SPECS["o-adrenal"]
    assert (task.groups, task.models, task.metric) == (("O",), ("learned", "identity-init"), "accuracy")
    assert TASK_SPECS["o-adrenal"].default_batch_size == 16                 # twice the steps of batch 32
    assert EXPERIMENTS["o-adrenal"].dim == MEDMNIST3D_LATENT_DIM == 48 and EXPERIMENTS["o-adrenal"].relators is None
    for model in task.models:
        assert task.hyperparameters(model, "O") == c4.hyperparameters(model, "C4")
    assert list(TASK_SPECS).index("o-adrenal") == list(TASK_SPECS).index("c4-classifier") + 1


def test_o_adrenal_acts_by_the_exact_voxel_permutation(adrenal):
    task, _, source = adrenal
    data = task.load("O", source, train_size=6, data_seed=0, device=torch.device("cpu"))
    action, reference = data.in_action, voxel_action()
    assert action.group is reference.group and action.group.order == 24
    assert exploration._group(task.experiment) is reference.group          # rho_Z is learned for the same O
    x = torch.randn(24, 1, 28, 28, 28)
    g = torch.arange(24)
    moved = action(x, g)
    assert torch.equal(moved, reference(x, g))
    assert torch.equal(moved.flatten(1).sort(1).values, x.flatten(1).sort(1).values)   # a permutation of voxels
    assert torch.equal(action(moved, action.group.inv[g]), x)                          # undone exactly
    # the fixed evaluation rotations come from the data seed
    again = task.load("O", source, train_size=6, data_seed=0, device=torch.device("cpu"))
    other = task.load("O", source, train_size=6, data_seed=1, device=torch.device("cpu"))
    assert torch.equal(data.test[0], again.test[0]) and not torch.equal(data.test[0], other.test[0])
    assert data.val[0].min() >= -1 and data.val[0].max() <= 1 and data.test[0].shape == (4, 1, 28, 28, 28)


@pytest.mark.parametrize("model", ["learned", "identity-init"])
def test_o_adrenal_tiny_run_decomposes_on_O(adrenal, model, tmp_path):
    task, _, source = adrenal
    data = task.load("O", source, train_size=4, data_seed=0, device=torch.device("cpu"))
    config = _config(task, model=model, epochs=1, train_size=4, batch_size=2, source=source)
    run_dir = tmp_path / "o_adrenal" / "runs" / config.name()
    result = train_run(task, data, config, run_dir, device="cpu", progress=False, equivariance_batch=2)
    a = result["analysis"]
    assert a["steps"] == 2 and a["experiment"] == "o-adrenal" and a["latent_dim"] == 48
    for key in ("decomposition", "initial_decomposition", "control_decomposition"):
        d = a[key]
        assert d["group"] == "Octahedral" and d["dim"] == 48
        assert [i["dim"] for i in d["irreps"]] == [1, 3, 3, 2, 1]
    assert a["relations"] == "Cayley graph" and a["eigenvalues"]["element_order"] == 4
    assert a["eigenvalues"]["element"] == "rotation by 90° about (-1, 0, 0)"      # escnn's first generator of O
    assert set(a["test"]) == {"equivariance_mse", "shifted_accuracy"}
    assert result["equivariance_batch"] == 2 and result["latent_equivariance_error"] is not None
    assert set(result["test_scores"]) == {"upright"} and set(result["metrics"]["test"]) == {"AUC"}
    assert result["parameters"] == 141_998 + 3 * 48 * 48                # the 3D ResNet plus three generators
    state = torch.load(run_dir / "model.pt", weights_only=True)
    assert state["representation.generators"].shape == (3, 48, 48)
    # the READMEs list o-adrenal once it has runs, with 2 x regular as the reference
    readme = _module(ROOT / "scripts" / "exploration_readme.py", "exploration_readme")
    committed = any((ROOT / "results" / "exploration" / "o_adrenal" / "runs").glob("*/result.json"))
    assert readme.experiments(ROOT / "results" / "exploration") == readme.EXPERIMENTS + readme.BEYOND * committed
    pages = readme.render(tmp_path)
    page, top = pages[tmp_path / "o_adrenal" / "README.md"], pages[tmp_path / "README.md"]
    assert page.startswith("# O on AdrenalMNIST3D") and "Not in the paper" in page and "--shard 1/2" in page
    assert f"No finished `{'identity-init' if model == 'learned' else 'learned'}` runs." in page
    assert ("| 2 × regular | 2 | 6 | 6 | 4 | 2 |" in page) == (model == "learned")
    last = result["analysis"]["final_decomposition"]
    assert "| last epoch (rounded) |" in page and (
        f"| {' : '.join(str(i['rounded']) for i in last['irreps'])} (epoch 1, algebra loss "
        f"{result['analysis']['final_algebra_loss']:.2e}" in page)
    assert "[`o_adrenal`](o_adrenal/)" in top and "task `o-adrenal`" in top


def test_o_adrenal_bad_inputs(adrenal):
    task, full, source = adrenal
    with pytest.raises(ValueError, match="o-adrenal trains on adrenalmnist3d"):
        task.open("mnist")
    with pytest.raises(FileNotFoundError, match="pass the folder holding adrenalmnist3d.npz"):
        task.open("no/such/folder")
    with pytest.raises(ValueError, match="reads adrenalmnist3d.npz, got the file organmnist3d.npz"):
        task.open("somewhere/organmnist3d.npz")
    with pytest.raises(ValueError, match="between 2 and 1188"):
        task.check(full, 1189)
    with pytest.raises(ValueError, match="between 2 and 6"):
        task.load("O", source, train_size=1, data_seed=0, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="valid groups: O"):
        task.load("C4", source, train_size=4, data_seed=0, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="valid models: learned, identity-init"):
        task.hyperparameters("soft", "O")
    with pytest.raises(TypeError, match="it reads adrenalmnist3d"):
        task.check(Source(object(), "x", "MNIST digits"), 4)
    with pytest.raises(TypeError, match="it is a MedMNIST3D dataset"):
        TASKS["c4-classifier"].check(full, 4)
    with pytest.raises(TypeError, match="must be an Experiment"):
        exploration.ExplorationTask("o-adrenal")


def test_the_sweep_keeps_the_committed_runs_and_adds_o_adrenal():
    runs = _module(ROOT / "scripts" / "exploration_runs.py", "exploration_runs")
    plan = runs.planned(EXPLORATION_TASKS)
    assert [t.name for t, _, _ in plan[:len(plan) - 6]] == [n for n in PLANAR for _ in range(7)]
    committed = set()
    for path in sorted((ROOT / "results" / "exploration").glob("*/runs/*/result.json")):
        r = json.loads(path.read_text(encoding="utf-8"))
        config = runs.run_config(TASKS[r["config"]["task"]], r["config"]["model"], r["config"]["seed"],
                                 r["config"]["data"])
        assert config.to_dict() == r["config"] and config.name() == path.parent.name   # the sweep's key
        committed.add((r["config"]["task"], r["config"]["model"], r["config"]["seed"]))
    assert {run for run in committed if run[0] != "o-adrenal"} == {
        (t.name, m, s) for t, m, s in plan if t.name != "o-adrenal"}                  # all 21, nothing else
    assert committed <= {(t.name, m, s) for t, m, s in plan}
    adrenal_runs = [(m, s) for t, m, s in plan if t.name == "o-adrenal"]
    assert adrenal_runs == [("learned", 0), ("learned", 1), ("learned", 2),
                            ("identity-init", 0), ("identity-init", 1), ("identity-init", 2)]
    config = runs.run_config(TASKS["o-adrenal"], "learned", 0, "data")
    assert (config.epochs, config.train_size, config.batch_size) == (12, 1188, 16)
    assert config.batch_size == TASKS["o-adrenal"].default_batch_size
    with pytest.raises(SystemExit):
        runs.main(["--experiments", "o-adrenl"])
    with pytest.raises(SystemExit):
        runs.main(["--shard", "2/2"])
