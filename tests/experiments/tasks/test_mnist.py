import numpy as np
import pytest
import torch

from escnn_soft.testing import assert_equivariant
from escnn_soft.experiments.datasets import DDMNIST_GROUPS
from escnn_soft.experiments.models import MNISTCNN, MNISTSteerableCNN, mnist_cnn, mnist_scnn
from escnn_soft.experiments.runner import RunConfig, train_run
from escnn_soft.experiments.task import TrainingSetup, task_names
from escnn_soft.experiments.tasks import DEFAULT_TASK, MNISTTask
from escnn_soft.experiments.tasks.mnist import LATENT_DIM, MNIST_MEAN, MNIST_STD, MNISTData

CPU = torch.device("cpu")
TASK, TRAIN_SIZE = "mnist", 300  # the fixtures of conftest.py


def _normalized(digits: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(digits[:, None]).float() / 255 - MNIST_MEAN) / MNIST_STD


def _keys(images: torch.Tensor):
    return sorted(image.numpy().tobytes() for image in images)


def test_default_task_is_registered_with_consistent_defaults(task):
    assert DEFAULT_TASK == "mnist" and DEFAULT_TASK in task_names()
    assert isinstance(task, MNISTTask)
    assert task.groups == tuple(DDMNIST_GROUPS) and task.default_group in task.groups
    assert set(task.default_models) <= set(task.models)
    assert task.default_models == ("cnn-aug", "soft", "scnn")
    assert task.default_train_size == 4000 and task.default_epochs > 0 and task.metric == "accuracy"


def test_splits(task, source, data):
    assert isinstance(data, MNISTData)
    assert data.train_size == 300 and data.digits.shape == (300, 1, 28, 28) and data.digits.dtype == torch.uint8
    assert data.val[0].shape == data.test[0].shape == (500, 1, 28, 28)
    # the source's test split halved class by class: 50 + 50 digits of each class
    assert torch.bincount(data.val[1], minlength=10).tolist() == [50] * 10
    assert torch.bincount(data.test[1], minlength=10).tolist() == [50] * 10
    assert data.group.order == 4 and data.out_action is None
    full = task.load("C4", source, train_size=4000, data_seed=0, device=CPU)
    assert sorted(full.labels.tolist()) == sorted(source.data.y_train.tolist())


def test_evaluation_images_are_the_test_digits_each_in_its_pose(source, data):
    inverse = data.group.inv
    upright = [data.in_action(x, inverse[g]) for (x, _), g in ((data.val, data.val_elements),
                                                                 (data.test, data.test_elements))]
    both = torch.cat(upright)
    assert _keys(both) == _keys(_normalized(source.data.x_test))  # val and test split the test digits
    for images, labels in zip(upright, (data.val[1], data.test[1])):
        by_image = {x.numpy().tobytes(): int(y) for x, y in zip(_normalized(source.data.x_test), source.data.y_test)}
        assert [by_image[x.numpy().tobytes()] for x in images] == labels.tolist()
    assert len(set(data.val_elements.tolist())) == 4  # every pose occurs


def test_everything_is_fixed_by_the_data_seed(task, source, data):
    again = task.load("C4", source, train_size=400, data_seed=0, device=CPU)
    assert torch.equal(again.val[0], data.val[0]) and torch.equal(again.test[1], data.test[1])
    assert torch.equal(again.digits[:300], data.digits) and torch.equal(again.labels[:300], data.labels)
    assert torch.equal(again.fixed_elements[:300], data.fixed_elements)
    other = task.load("C4", source, train_size=300, data_seed=1, device=CPU)
    assert not torch.equal(other.test[0], data.test[0]) and not torch.equal(other.digits, data.digits)


def test_training_batches(data):
    index = torch.arange(64)
    gen = torch.Generator().manual_seed(0)
    fixed = [data.train_batch(index, augment=False, generator=gen) for _ in range(2)]
    fresh = [data.train_batch(index, augment=True, generator=gen)[0] for _ in range(2)]
    assert torch.equal(fixed[0][0], fixed[1][0]) and torch.equal(fixed[0][1], data.labels[:64])
    assert not torch.equal(fresh[0], fresh[1])
    # every augmented digit is its training digit in one of the four poses
    poses = torch.stack([data.train_batch(index, augment=False, generator=gen)[0]] +
                        [data._images(data.digits[index], torch.full((64,), e)) for e in range(4)])
    assert all(any(torch.equal(fresh[0][b], poses[p, b]) for p in range(1, 5)) for b in range(64))


MNIST_TEST_CLASSES = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # the full MNIST's test split


def test_the_full_mnist_gives_5001_test_digits(task, tmp_path):
    # an mnist.npz shaped as the full MNIST's test split: 10,000 digits with its class sizes, two of them odd
    rng = np.random.default_rng(0)
    y_test = rng.permutation(np.repeat(np.arange(10), MNIST_TEST_CLASSES))
    x_test = rng.integers(0, 256, (y_test.size, 28, 28), dtype=np.uint8)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_test[:50], y_train=y_test[:50], x_test=x_test, y_test=y_test)
    source = task.open(f"mnist:{path}")
    data = task.load("C4", source, train_size=50, data_seed=0, device=CPU)
    assert (len(data.val[1]), len(data.test[1])) == (4999, 5001)
    # each class halved, the extra digit of an odd class in the test set
    assert torch.bincount(data.val[1], minlength=10).tolist() == [n // 2 for n in MNIST_TEST_CLASSES]
    assert torch.bincount(data.test[1], minlength=10).tolist() == [(n + 1) // 2 for n in MNIST_TEST_CLASSES]
    upright = [data.in_action(x, data.group.inv[g]) for x, g in ((data.val[0], data.val_elements),
                                                                 (data.test[0], data.test_elements))]
    assert _keys(torch.cat(upright)) == _keys(_normalized(x_test))  # every test digit once, in val or test


def test_bad_settings(task, source, tmp_path):
    task.check(source, 4000)
    for bad in (0, -1, 4001):
        with pytest.raises(ValueError, match="train size must be between 1 and 4000"):
            task.check(source, bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        task.open(str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="unknown mnist model 'rpp'; valid models: cnn, cnn-aug, soft, scnn"):
        task.hyperparameters("rpp", "C4")
    with pytest.raises(ValueError, match="unknown mnist group 'C8'; valid groups: C4, D1, D4"):
        task.build("cnn", "C8", {"lr": 1e-3})


def test_hyperparameters(task):
    for group in task.groups:
        for model in task.models:
            params = task.hyperparameters(model, group)
            assert params["lr"] > 0 and "optimizer" not in params
            assert ({"lam", "shifted_weight"} <= set(params)) == (model == "soft")


@pytest.mark.parametrize("model", MNISTTask.models)
def test_every_model_builds_and_trains_a_step(one_step, model):
    setup, x, total, output, parts, changed, grads = one_step(model, 8)
    assert isinstance(setup, TrainingSetup)
    assert setup.augment == (model != "cnn")
    assert (setup.latent is not None) == (model != "scnn")
    assert output.shape == (8, 10) and total.dim() == 0 and torch.isfinite(total)
    assert grads and changed
    if model == "soft":
        assert set(parts) == {"task", "shifted", "equivariance"} and parts["equivariance"] > 0


@pytest.mark.parametrize("group, copies", [("C4", 16), ("D1", 33), ("D4", 8)])
def test_latent_fits_the_regular_latent(task, group, copies):
    setup = task.build("soft", group, task.hyperparameters("soft", group))
    name, rho = setup.latent
    assert (rho.size, rho.multiplicity, rho.padding) == (LATENT_DIM, copies, LATENT_DIM - copies * rho.group.order)
    assert rho.group.order == len(list(DDMNIST_GROUPS[group]().fibergroup.elements))
    z = setup.model.get_submodule(name)(torch.randn(3, 1, 28, 28))
    assert z.shape == (3, rho.size)


@pytest.mark.parametrize("group", tuple(DDMNIST_GROUPS))
def test_scnn_is_invariant(task, source, group):
    torch.manual_seed(0)
    data = task.load(group, source, train_size=16, data_seed=0, device=CPU)
    model = task.build("scnn", group, task.hyperparameters("scnn", group)).model
    model.train()
    with torch.no_grad():
        model(data.test[0][:16])  # batch norms with non-trivial running statistics
    x = data.test[0][:4]
    assert_equivariant(model, x, data.in_action)  # logits invariant
    assert_equivariant(model.equivariant, x)  # the escnn part, by its in_type and out_type
    plain = task.build("cnn-aug", group, task.hyperparameters("cnn-aug", group)).model
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(plain, x, data.in_action)


def test_a_short_run_end_to_end(task, source, tmp_path):
    data = task.load("C4", source, train_size=200, data_seed=0, device=CPU)
    results = {}
    for model in ("soft", "scnn"):
        config = RunConfig(task="mnist", group="C4", model=model, seed=0, epochs=1, train_size=200, batch_size=100,
                           hyperparameters=task.hyperparameters(model, "C4"), data=source.fingerprint)
        results[model] = train_run(task, data, config, tmp_path / config.name(), device=CPU, equivariance_batch=32,
                                   progress=False)
    for result in results.values():
        assert 0 <= result["test_score"] <= 1 and len(result["history"]) == 1
        assert result["parameters"] > 0
    assert results["soft"]["latent_equivariance_error"] > 0
    assert results["scnn"]["latent_equivariance_error"] is None
    assert results["scnn"]["output_equivariance_error"] < 1e-4 < results["soft"]["output_equivariance_error"]
    assert set(results["soft"]["history"][0]) >= {"train_task", "train_shifted", "train_equivariance"}


# measured, 10 classes, default widths
PARAMETER_COUNTS = {"cnn": 62_660, ("scnn", "C4"): 5_892, ("scnn", "D1"): 3_972, ("scnn", "D4"): 9_732}


def test_models():
    cnn = mnist_cnn().eval()
    assert isinstance(cnn, MNISTCNN) and sum(p.numel() for p in cnn.parameters()) == PARAMETER_COUNTS["cnn"]
    x = torch.randn(3, 1, 28, 28)
    z = cnn.encoder(x)
    assert z.shape == (3, LATENT_DIM) and cnn.head.in_features == LATENT_DIM and cnn.head.out_features == 10
    torch.testing.assert_close(cnn.head(z), cnn(x), rtol=0, atol=0)
    for group in DDMNIST_GROUPS:
        scnn = mnist_scnn(group)
        assert isinstance(scnn, MNISTSteerableCNN) and scnn(x).shape == (3, 10)
        assert sum(p.numel() for p in scnn.parameters()) == PARAMETER_COUNTS["scnn", group]
    with pytest.raises(ValueError, match="valid groups: C4, D1, D4"):
        mnist_scnn("C8")
    for model in (cnn, mnist_scnn("C4")):
        with pytest.raises(ValueError, match=r"expected MNIST digits of shape \(B, 1, 28, 28\), got \(2, 1, 56, 56\)"):
            model(torch.randn(2, 1, 56, 56))
