import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from escnn import gspaces
from escnn.nn import FieldType, GeometricTensor

from escnn_soft.experiments.cli import main
from escnn_soft.experiments.datasets import MEDMNIST3D_LABELS, write_medmnist3d_fixture
from escnn_soft.experiments.models import medmnist3d_cnn
from escnn_soft.experiments.specs import MEDMNIST3D_TRAIN_SIZES, TASK_SPECS
from escnn_soft.experiments.task import get_task
from escnn_soft.experiments.tasks.medmnist3d import (
    LATENTS,
    LEARNING_RATES,
    MIRROR_PAIRS,
    SOFT_LAMBDA,
    MedMNIST3DTask,
    medmnist3d_auc,
    voxel_action,
)

TASK, TRAIN_SIZE = "adrenalmnist3d", 16  # the fixtures of conftest.py: the shipped AdrenalMNIST3D
SIZES = {"train": 12, "val": 6, "test": 8}


def _write(folder, flag, sizes=SIZES):
    with np.load(write_medmnist3d_fixture(folder, flag, tuple(sizes.values()))) as f:
        return dict(f)


@pytest.fixture(scope="module")
def organ(tmp_path_factory):
    folder = tmp_path_factory.mktemp("medmnist")
    arrays = _write(folder, "organmnist3d")
    task = get_task("organmnist3d")
    return task, task.open(str(folder)), arrays


def test_one_task_per_flag_with_the_papers_settings():
    assert set(MEDMNIST3D_TRAIN_SIZES) == set(MEDMNIST3D_LABELS)
    for flag in MEDMNIST3D_LABELS:
        task = get_task(flag)
        assert isinstance(task, MedMNIST3DTask) and task.name == flag and task.groups == ("O",)
        assert TASK_SPECS[flag].default_batch_size == 32
        assert TASK_SPECS[flag].default_train_size == MEDMNIST3D_TRAIN_SIZES[flag]
    assert (LEARNING_RATES["nodulemnist3d"], LEARNING_RATES["synapsemnist3d"], LEARNING_RATES["organmnist3d"]) == (
        5e-5, 1e-4, 1e-4)
    assert (SOFT_LAMBDA["nodulemnist3d"], SOFT_LAMBDA["synapsemnist3d"], SOFT_LAMBDA["organmnist3d"]) == (1, 1, 2)
    soft = get_task("adrenalmnist3d").hyperparameters("soft", "O")
    assert soft == {"lr": 1e-4, "latent": "pre-bn", "lam": 1.0, "shifted_weight": 0.0, "task_weight": 0.5,
                    "input_task_weight": 0.5}
    assert get_task("adrenalmnist3d").hyperparameters("soft-postbn", "O")["latent"] == "post-bn"
    # the two-view control has soft's task weights and no lambda (so --lam leaves it alone); not a default model
    assert get_task("adrenalmnist3d").hyperparameters("cnn-aug-2view", "O") == {
        "lr": 1e-4, "latent": "pre-bn", "task_weight": 0.5, "input_task_weight": 0.5}
    assert all("cnn-aug-2view" not in get_task(flag).default_models for flag in MEDMNIST3D_LABELS)
    assert set(get_task("adrenalmnist3d").models) == {*LATENTS, "scnn-octa", "scnn-so3"}
    for strict in ("scnn-octa", "scnn-so3"):
        assert get_task("organmnist3d").hyperparameters(strict, "O") == {"lr": 1e-4}
    assert MIRROR_PAIRS["organmnist3d"] == ((1, 2), (3, 4), (7, 8))
    assert all(not MIRROR_PAIRS[f] for f in MEDMNIST3D_LABELS if f != "organmnist3d")
    with pytest.raises(ValueError, match="valid flags"):
        MedMNIST3DTask("organmnist")


def test_voxel_action_is_escnns_transform_for_all_24_rotations():
    action = voxel_action()
    gspace = gspaces.octaOnR3()
    field_type = FieldType(gspace, [gspace.trivial_repr])
    assert action.group.order == 24
    x = torch.randn(24, 1, 28, 28, 28)
    moved = action(x, torch.arange(24))
    for i, element in enumerate(action.group.elements):
        expected = GeometricTensor(x[i:i + 1], field_type).transform(element).tensor
        assert torch.equal(moved[i:i + 1], expected)


def test_upsampling_commutes_with_the_rotations():
    net = medmnist3d_cnn(2).eval()
    upsample = net.encoder.upsample
    small, large = voxel_action(), voxel_action()
    x = torch.randn(24, 1, 28, 28, 28, dtype=torch.float64)
    g = torch.arange(24)
    torch.testing.assert_close(upsample(small(x, g)), large(upsample(x), g), rtol=0, atol=1e-12)


def test_open_reads_a_folder_or_its_file_and_names_what_is_missing(tmp_path, organ):
    task, source, _ = organ
    assert source.data.n_classes == 11 and len(source.data.y_train) == SIZES["train"]
    folder = tmp_path / "data"
    folder.mkdir()
    _write(folder, "organmnist3d")
    assert task.open(str(folder / "organmnist3d.npz")).fingerprint == source.fingerprint
    with pytest.raises(ValueError, match="reads organmnist3d.npz"):
        task.open(str(folder / "other.npz"))
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        task.open(str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="nodulemnist3d.npz not found"):
        get_task("nodulemnist3d").open(str(folder))
    with pytest.raises(ValueError, match="between 2 and 12"):
        task.check(source, 13)


def test_splits_rotations_and_training_batches(organ):
    task, source, arrays = organ
    data = task.load("O", source, train_size=10, data_seed=0, device=torch.device("cpu"))
    again = task.load("O", source, train_size=10, data_seed=0, device=torch.device("cpu"))
    other = task.load("O", source, train_size=10, data_seed=1, device=torch.device("cpu"))
    assert data.train_size == 10 and data.group.order == 24 and data.out_action is None
    scaled = torch.from_numpy(arrays["test_images"]).unsqueeze(1).float() / 127.5 - 1
    upright_x, upright_y = data.extra_test["upright"]
    assert torch.equal(upright_x, scaled) and upright_y.tolist() == arrays["test_labels"][:, 0].tolist()
    assert upright_x.min() >= -1 and upright_x.max() <= 1
    test_x, test_y = data.test
    assert torch.equal(test_y, upright_y)
    # each test volume is its upright volume under one rotation
    moved = voxel_action()(scaled.repeat_interleave(24, 0), torch.arange(24).repeat(len(scaled)))
    for i in range(len(scaled)):
        assert any(torch.equal(test_x[i], moved[24 * i + k]) for k in range(24))
    assert not torch.equal(test_x, scaled)
    assert torch.equal(data.val[0], again.val[0]) and not torch.equal(data.val[0], other.val[0])
    assert torch.equal(data.volumes, again.volumes) and not torch.equal(data.volumes, other.volumes)
    index = torch.arange(4)
    x, y = data.train_batch(index, augment=False, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, data.volumes[index].unsqueeze(1).float() / 127.5 - 1) and torch.equal(y, data.labels[:4])
    xa, _ = data.train_batch(index, augment=True, generator=torch.Generator().manual_seed(0))
    xb, _ = data.train_batch(index, augment=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(xa, xb) and not torch.equal(xa, x)
    with pytest.raises(ValueError, match="valid groups: O"):
        task.load("C4", source, train_size=10, data_seed=0, device=torch.device("cpu"))


def test_soft_adds_no_parameters_and_is_the_papers_loss(organ):
    task, source, _ = organ
    data = task.load("O", source, train_size=12, data_seed=0, device=torch.device("cpu"))
    counts = {}
    for model in LATENTS:
        torch.manual_seed(0)
        setup = task.build(model, "O", task.hyperparameters(model, "O"))
        counts[model] = sum(p.numel() for p in setup.model.parameters())
        assert setup.augment == (model != "cnn") and setup.latent[0] == "encoder"
    assert set(counts.values()) == {142439}
    torch.manual_seed(0)
    setup = task.build("soft", "O", task.hyperparameters("soft", "O"))
    net = setup.model.train()
    x, y = data.train_batch(torch.arange(8), augment=True, generator=torch.Generator().manual_seed(0))
    g = torch.arange(8) * 3
    state = {k: v.clone() for k, v in net.state_dict().items()}
    total, output, parts = setup.loss(x, y, torch.Generator().manual_seed(0), g=g)
    net.load_state_dict(state)
    rho_z = setup.latent[1]
    z, z_g = net.encoder(x), net.encoder(data.in_action(x, g))
    expected = (0.5 * F.cross_entropy(net.head(z), y) + 0.5 * F.cross_entropy(net.head(z_g), y)
                + 2.0 * F.mse_loss(rho_z(z, g), z_g))
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(output, net.head(z))


def test_the_two_view_control_trains_a_step_without_a_latent_term(one_step):
    setup, x, total, output, parts, changed, grads = one_step("cnn-aug-2view", 4)
    assert setup.augment and setup.latent[0] == "encoder" and setup.monitor is not None
    assert changed and grads and torch.isfinite(total) and output.shape == (4, 2)
    assert parts["equivariance"].item() == 0 and parts["shifted"].item() == 0


def test_the_two_view_control_is_the_mean_task_loss_of_the_two_views(task, data):
    torch.manual_seed(0)
    setup = task.build("cnn-aug-2view", "O", task.hyperparameters("cnn-aug-2view", "O"))
    net = setup.model.train()
    x, y = data.train_batch(torch.arange(8), augment=True, generator=torch.Generator().manual_seed(0))
    g = torch.arange(8) * 3
    state = {k: v.clone() for k, v in net.state_dict().items()}
    total, output, parts = setup.loss(x, y, torch.Generator().manual_seed(0), g=g)
    net.load_state_dict(state)      # the encoder passes again, each with its own batch statistics as in the loss
    view = data.in_action(x, g)
    expected = (0.5 * F.cross_entropy(net.head(net.encoder(x)), y)
                + 0.5 * F.cross_entropy(net.head(net.encoder(view)), y))
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(parts["task"], F.cross_entropy(output, y))
    assert parts["equivariance"].item() == 0


def test_the_soft_options_leave_the_two_view_control_as_it_is():
    from escnn_soft.experiments.cli import parse_args
    from escnn_soft.experiments.comparison import run_configs

    task = get_task("adrenalmnist3d")
    options = parse_args(["--task", task.name, "--models", "cnn-aug-2view,soft", "--lam", "0.5,2",
                          "--shifted-weight", "1", "--pair-fraction", "0.5"])
    configs = run_configs(task, options, "O", data="x")
    control = [c.hyperparameters for c in configs if c.model == "cnn-aug-2view"]
    assert control == [task.hyperparameters("cnn-aug-2view", "O")]           # one run, its own settings
    assert sorted(c.hyperparameters["lam"] for c in configs if c.model == "soft") == [0.5, 2.0]


def test_auc_as_medmnists_evaluator():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(size=(40, 2)))
    y = torch.from_numpy(rng.integers(0, 2, 40))
    prob = torch.softmax(logits, 1).numpy()
    assert medmnist3d_auc(logits, y) == pytest.approx(roc_auc_score(y.numpy(), prob[:, 1]))
    logits = torch.from_numpy(rng.normal(size=(60, 3)))
    y = torch.from_numpy(np.arange(60) % 3)
    prob = torch.softmax(logits, 1).numpy()
    expected = np.mean([roc_auc_score(y.numpy() == c, prob[:, c]) for c in range(3)])
    assert medmnist3d_auc(logits, y) == pytest.approx(expected)
    # a class absent from the labels has no one-vs-rest AUC: it is left out of the mean
    y2 = torch.from_numpy(np.arange(60) % 2)
    expected = np.mean([roc_auc_score(y2.numpy() == c, prob[:, c]) for c in range(2)])
    assert medmnist3d_auc(logits, y2) == pytest.approx(expected)
    assert np.isnan(medmnist3d_auc(logits[:3, :2], torch.zeros(3, dtype=torch.long)))


def test_mirror_confusion_only_where_there_are_mirror_pairs():
    organ_task, adrenal = get_task("organmnist3d"), get_task("adrenalmnist3d")
    y = torch.tensor([1, 2, 3, 0, 7, 5])
    predicted = torch.tensor([2, 2, 4, 0, 1, 6])    # 1 -> 2 and 3 -> 4 are mirror images; 7 -> 1 is not
    found = organ_task.metrics(F.one_hot(predicted, 11).double(), y)
    assert set(found) == {"AUC", "mirror confusion"} and found["mirror confusion"] == pytest.approx(2 / 4)
    assert set(adrenal.metrics(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))) == {"AUC"}


def test_tiny_compare_writes_reports_with_auc_and_resumes(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    _write(folder, "nodulemnist3d", sizes={"train": 8, "val": 4, "test": 4})
    out = tmp_path / "out"
    argv = ["compare", "--task", "nodulemnist3d", "--data-dir", str(folder), "--models", "cnn,soft", "--epochs", "1",
            "--train-size", "8", "--batch-size", "4", "--out", str(out), "--no-progress", "--equivariance-batch", "2"]
    assert main(argv) == 0
    assert "2 run(s) trained, 0 reused" in capsys.readouterr().out
    for name in ("summary.md", "summary.csv", "results.csv", "compare.png"):
        assert (out / name).is_file()
    table = (out / "summary.md").read_text()
    assert "test AUC" in table and "upright test AUC" in table and "batch 4" in table
    results = [json.loads(p.read_text()) for p in sorted(out.glob("runs/*/result.json"))]
    assert len(results) == 2
    for r in results:
        assert r["config"]["batch_size"] == 4 and set(r["metrics"]) == {"val", "test", "upright"}
        assert set(r["metrics"]["test"]) == {"AUC"} and "upright" in r["test_scores"]
        assert set(r["majority_rates"]) == {"test", "upright"} and 0.5 <= r["majority_rates"]["test"] <= 1
        assert r["parameters"] == 141998
    assert "test AUC" in (out / "summary.csv").read_text().splitlines()[0]
    from escnn_soft.experiments import runner

    monkeypatch.setattr(runner, "train_run", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert main(argv) == 0
    assert "0 run(s) trained, 2 reused" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("model", ["scnn-octa", "scnn-so3"])
def test_strict_models_are_invariant_under_the_24_rotations_as_built_by_the_task(organ, model):
    task, source, _ = organ
    data = task.load("O", source, train_size=12, data_seed=0, device=torch.device("cpu"))
    torch.manual_seed(0)
    setup = task.build(model, "O", task.hyperparameters(model, "O"))
    assert setup.augment and setup.latent is None
    net = setup.model.eval()
    x = data.test[0][:1].repeat(24, 1, 1, 1, 1)
    with torch.no_grad():
        out, moved = net(x), net(data.in_action(x, torch.arange(24)))
    torch.testing.assert_close(moved, out, rtol=1e-4, atol=1e-5)
