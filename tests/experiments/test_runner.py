r"""The runner on a tiny fake task: best-validation selection, resuming, the checkpoint guard."""

import json

import pytest
import torch
from conftest import cuda_devices
from escnn.group import cyclic_group, dihedral_group, direct_product
from torch import nn

import escnn_soft.experiments.tasks  # noqa: F401  (registers the built-in tasks)
from escnn_soft import group_table, trivial_action
from escnn_soft.experiments.specs import TaskSpec
from escnn_soft.experiments.reports import is_diverged
from escnn_soft.experiments.results import run_name
from escnn_soft.experiments.runner import (PROTOCOL_VERSION, RunConfig, RunFolderError, equivariance_elements, evaluate,
                                           evaluation_subset, load_result, majority_rate, majority_rates, train_run)
from escnn_soft.experiments.task import Source, Task, TaskData, TrainingSetup, get_task
from escnn_soft.records import provenance

VAL, TEST = 7, 8  # the targets of the evaluation sets, which a scripted score recognises


class FakeData(TaskData):
    def __init__(self, device):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(96, 4, generator=g).to(device)
        self.y = (self.x[:, 0] > 0).long()
        self.train_size = 96
        self.val = (torch.randn(20, 4, generator=g).to(device), torch.full((20,), VAL, device=device))
        self.test = (torch.randn(30, 4, generator=g).to(device), torch.full((30,), TEST, device=device))
        self.group = group_table(cyclic_group(2))
        self.in_action = trivial_action(self.group)
        self.out_action = None

    def train_batch(self, index, *, augment, generator):
        return self.x[index], self.y[index]


class FakeTask(Task):
    r"""A linear classifier on random vectors; the evaluation scores follow ``script`` if given:
    ``{"val": [...], "test": [...]}``, one value per epoch (a test score is that of the epoch
    whose validation score was read last); ``calls`` counts the scorings of each set."""

    spec = TaskSpec("fake", groups=("C2",), models=("mlp",), default_group="C2", default_models=("mlp",),
                    default_epochs=2, default_train_size=96)

    def __init__(self, script=None):
        self.script = script
        self.calls = {"val": 0, "test": 0}
        self.model = None

    def open(self, source):
        return Source(None, "fake", "fake")

    def check(self, source, train_size):
        pass

    def load(self, group, source, *, train_size, data_seed, device):
        return FakeData(device)

    def hyperparameters(self, model, group):
        return {"lr": 1e-2}

    def build(self, model, group, hyperparameters):
        self.model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        net = self.model

        def loss(x, y, generator):
            out = net(x)
            task = nn.functional.cross_entropy(out, y)
            return task, out, {"task": task}

        return TrainingSetup(net, loss, augment=False)

    def score(self, output, target):
        split = {VAL: "val", TEST: "test"}.get(int(target[0]))
        if self.script is None or split is None:
            return (output.argmax(dim=1) == target).float()
        self.calls[split] += 1
        value = self.script[split][self.calls["val"] - 1]
        return torch.full((target.shape[0],), value, device=target.device)


def _config(epochs=3, lr=1e-2, seed=0):
    return RunConfig(task="fake", group="C2", model="mlp", seed=seed, epochs=epochs, train_size=96, batch_size=16,
                     hyperparameters={"lr": lr}, data="fake")


def _run(task, config, run_dir, device="cpu", **kwargs):
    return train_run(task, task.load("C2", None, train_size=96, data_seed=0, device=torch.device(device)), config,
                     run_dir, device=device, equivariance_batch=8, progress=False, **kwargs)


class Interrupt(Exception):
    pass


def _interrupt_after(epoch):
    def on_epoch(e, record):
        if e == epoch:
            raise Interrupt

    return on_epoch


def _comparable(history):
    return [{k: v for k, v in h.items() if not k.endswith("seconds")} for h in history]


def test_the_test_score_is_read_at_the_first_best_validation_epoch(tmp_path):
    script = {"val": [0.5, 0.75, 0.75, 0.625], "test": [0.125, 0.25, 0.375, 0.5]}  # exact in binary
    task = FakeTask(script)
    states = {}

    def keep(epoch, record):
        states[epoch] = {k: v.clone() for k, v in task.model.state_dict().items()}

    result = _run(task, _config(epochs=4), tmp_path / "run", on_epoch=keep)
    assert result["best_epoch"] == 2  # epochs 2 and 3 tie on validation: the earlier one counts
    assert (result["val_score"], result["test_score"]) == (script["val"][1], script["test"][1])
    assert result["final_test_score"] == script["test"][-1]
    assert [h["val_score"] for h in result["history"]] == script["val"]
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert all(torch.equal(saved[k], states[2][k]) for k in saved)
    assert not all(torch.equal(saved[k], states[4][k]) for k in saved)


def test_the_test_sets_are_scored_after_improving_epochs_and_on_the_last_model(tmp_path):
    script = {"val": [0.5, 0.75, 0.625, 0.875, 0.5], "test": [0.125, 0.25, 0.375, 0.5, 0.625]}
    task = FakeTask(script)
    result = _run(task, _config(epochs=5), tmp_path / "run")
    history = result["history"]
    assert [h["epoch"] for h in history if "test_score" in h] == [1, 2, 4]
    assert [h.get("test_score") for h in history] == [0.125, 0.25, None, 0.5, None]
    assert all("val_score" in h for h in history)
    assert task.calls == {"val": 5, "test": 4}  # epochs 1, 2 and 4, then the last epoch's model
    assert (result["best_epoch"], result["test_score"], result["final_test_score"]) == (4, 0.5, 0.625)


def test_the_final_test_score_is_that_of_the_last_epochs_model(tmp_path):
    task = FakeTask()
    states = {}
    result = _run(task, _config(epochs=4, lr=0.5), tmp_path / "run",
                  on_epoch=lambda e, r: states.update({e: {k: v.clone() for k, v in task.model.state_dict().items()}}))
    data = FakeData(torch.device("cpu"))
    task.model.load_state_dict(states[4])
    assert result["final_test_score"] == evaluate(task.model, *data.test, task.score)
    task.model.load_state_dict(states[result["best_epoch"]])
    assert result["test_score"] == evaluate(task.model, *data.test, task.score)


def test_a_finished_run_records_devices_and_code_and_is_not_trained_again(tmp_path):
    task = FakeTask()
    result = _run(task, _config(epochs=2), tmp_path / "run")
    assert [h["device"] for h in result["history"]] == ["cpu", "cpu"] and result["device"] == "cpu"
    code = provenance()
    assert {k: result[k] for k in code} == code and None not in code.values()
    assert load_result(tmp_path / "run") == result
    task.build = lambda *a: pytest.fail("a finished run was built again")
    assert _run(task, _config(epochs=2), tmp_path / "run") == result


@pytest.mark.parametrize("device", ["cpu"] + cuda_devices())
def test_an_interrupted_run_resumes_as_if_never_interrupted(tmp_path, capsys, device):
    reference = _run(FakeTask(), _config(), tmp_path / "a", device)
    with pytest.raises(Interrupt):
        _run(FakeTask(), _config(), tmp_path / "b", device, on_epoch=_interrupt_after(1))
    assert (tmp_path / "b" / "checkpoint.pt").is_file() and not (tmp_path / "b" / "result.json").exists()
    capsys.readouterr()

    epochs = []
    resumed = _run(FakeTask(), _config(), tmp_path / "b", device, on_epoch=lambda e, r: epochs.append(e))
    assert f"resuming {_config().name()} from epoch 2/3" in capsys.readouterr().out
    assert epochs == [2, 3]  # the first epoch is not trained again
    assert resumed["resumed_from_epoch"] == 1 and reference["resumed_from_epoch"] is None
    assert not (tmp_path / "b" / "checkpoint.pt").exists()
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    if device == "cpu":  # CUDA kernels need not be deterministic
        assert _comparable(resumed["history"]) == _comparable(reference["history"])
        assert resumed["test_score"] == reference["test_score"]
        a, b = (torch.load(tmp_path / d / "model.pt", weights_only=True) for d in "ab")
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_other_settings_is_refused(tmp_path):
    with pytest.raises(Interrupt):
        _run(FakeTask(), _config(lr=1e-2), tmp_path / "run", on_epoch=_interrupt_after(1))
    with pytest.raises(RuntimeError, match="belongs to other settings; delete it"):
        _run(FakeTask(), _config(lr=5e-3), tmp_path / "run")


def test_a_checkpoint_from_another_kind_of_device_resumes_with_a_reseeded_stream(tmp_path):
    r"""A generator state of another size (e.g. CUDA's 16 bytes on a CPU run) cannot be
    restored: the run goes on from its epoch with its random stream re-seeded, and says so."""
    with pytest.raises(Interrupt):
        _run(FakeTask(), _config(), tmp_path / "run", on_epoch=_interrupt_after(1))
    path = tmp_path / "run" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["random"]["generator"] = torch.zeros(16, dtype=torch.uint8)
    torch.save(ckpt, path)
    result = _run(FakeTask(), _config(), tmp_path / "run")
    assert result["resumed_from_epoch"] == 1 and result["random_stream_reseeded_at_epoch"] == 2
    assert len(result["history"]) == 3


def _patience_config(epochs, patience):
    return RunConfig(task="fake", group="C2", model="mlp", seed=0, epochs=epochs, train_size=96, batch_size=16,
                     hyperparameters={"lr": 1e-2}, data="fake", patience=patience)


def test_patience_stops_when_the_best_validation_is_that_many_epochs_old_and_tests_the_best(tmp_path):
    script = {"val": [0.5, 0.75, 0.625, 0.75, 0.5, 0.875], "test": [0.125, 0.25, 0.375, 0.5, 0.625, 0.75]}
    task = FakeTask(script)
    states = {}

    def keep(epoch, record):
        states[epoch] = {k: v.clone() for k, v in task.model.state_dict().items()}

    result = _run(task, _patience_config(epochs=6, patience=2), tmp_path / "run", on_epoch=keep)
    # best at epoch 2; epochs 3 and 4 do not beat it (a tie is no improvement): stop after epoch 4
    assert [h["epoch"] for h in result["history"]] == [1, 2, 3, 4] and sorted(states) == [1, 2, 3, 4]
    assert (result["epochs_trained"], result["stopped_early"], result["best_epoch"]) == (4, True, 2)
    assert result["test_score"] == script["test"][1] and result["final_test_score"] == script["test"][3]
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert all(torch.equal(saved[k], states[2][k]) for k in saved)
    assert result["config"]["patience"] == 2


def test_a_run_stopped_by_patience_before_it_finished_is_not_trained_further(tmp_path):
    script = {"val": [0.75, 0.5, 0.5, 0.875], "test": [0.25, 0.5, 0.5, 0.5]}
    with pytest.raises(Interrupt):  # killed after the epoch that triggers the stop, before the result
        _run(FakeTask(script), _patience_config(epochs=4, patience=2), tmp_path / "run",
             on_epoch=_interrupt_after(3))
    epochs = []
    result = _run(FakeTask(), _patience_config(epochs=4, patience=2), tmp_path / "run",
                  on_epoch=lambda e, r: epochs.append(e))
    assert epochs == [] and result["epochs_trained"] == 3 and result["best_epoch"] == 1


def test_every_setting_is_in_the_key_none_included():
    plain = _config()
    recorded = plain.to_dict()
    assert {"patience": None, "eval_size": None, "equivariance_elements": None,
            "protocol": PROTOCOL_VERSION}.items() <= recorded.items()
    assert run_name({k: v for k, v in recorded.items() if v is not None}) != plain.name()  # None is a value too
    assert RunConfig(**plain.to_dict()).name() == plain.name()
    assert _patience_config(3, 2).name() != plain.name() == _patience_config(3, None).name()
    assert RunConfig(**_patience_config(3, 2).to_dict()) == _patience_config(3, 2)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="patience must be a positive number of epochs"):
            _patience_config(3, bad)


class ExtraData(FakeData):
    def __init__(self, device):
        super().__init__(device)
        self.extra_test = {"upright": (self.x[:10], self.y[:10])}


def test_extra_test_sets_and_the_monitor_are_recorded_per_epoch(tmp_path):
    task = FakeTask()
    build = task.build
    modes = []

    def build_with_monitor(*args):
        setup = build(*args)

        def monitor(model, data):
            modes.append((model.training, torch.is_grad_enabled()))
            return {"weight_norm": float(model[0].weight.norm()), "n": data.train_size}

        setup.monitor = monitor
        return setup

    task.build = build_with_monitor
    data = ExtraData(torch.device("cpu"))
    result = train_run(task, data, _config(epochs=2), tmp_path / "run", device="cpu", equivariance_batch=8,
                       progress=False)
    assert modes == [(False, False), (False, False)] and task.model.training is False  # the best model, in eval
    assert "test_scores" in result["history"][0]  # the first epoch always improves
    for h in result["history"]:
        assert set(h.get("test_scores", {"upright": 0})) == {"upright"}
        assert h["monitor"]["n"] == 96 and h["monitor"]["weight_norm"] > 0
    best = result["best_epoch"] - 1
    assert result["test_scores"] == result["history"][best]["test_scores"]
    assert set(result["final_test_scores"]) == {"upright"} and 0 <= result["final_test_scores"]["upright"] <= 1
    plain = _run(FakeTask(), _config(epochs=1), tmp_path / "plain")
    assert plain["test_scores"] == {} and "monitor" not in plain["history"][0]


class ViewData(FakeData):
    r"""Batches with extras: a second view and one the loss does not take."""

    def train_batch(self, index, *, augment, generator):
        return self.x[index], self.y[index], {"x_g": -self.x[index], "unused": None}


def _taking(names, seen):
    task = FakeTask()
    build = task.build

    def build_taking(*args):
        setup = build(*args)
        plain = setup.loss

        def loss(x, y, generator, **extras):
            seen.append((x, extras))
            return plain(x, y, generator)

        setup.loss, setup.batch_extras = loss, names
        return setup

    task.build = build_taking
    return task


def test_the_loss_is_given_exactly_the_batch_extras_its_setup_names(tmp_path):
    seen = []
    train_run(_taking(("x_g",), seen), ViewData(torch.device("cpu")), _config(epochs=1), tmp_path / "views",
              device="cpu", equivariance_batch=8, progress=False)
    assert len(seen) == 6 and all(set(extras) == {"x_g"} and torch.equal(extras["x_g"], -x) for x, extras in seen)
    seen.clear()  # batches without extras, as before: loss(x, y, generator)
    _run(_taking((), seen), _config(epochs=1), tmp_path / "plain")
    assert len(seen) == 6 and all(extras == {} for _, extras in seen)
    with pytest.raises(ValueError, match="the loss takes the batch extras g, but the training batches carry x_g, "
                                         "unused"):
        train_run(_taking(("g", "x_g"), []), ViewData(torch.device("cpu")), _config(epochs=1), tmp_path / "missing",
                  device="cpu", equivariance_batch=8, progress=False)


class DecayingTask(FakeTask):
    r"""FakeTask whose runs stop by ``rule``."""

    def __init__(self, rule=None, script=None):
        super().__init__(script)
        self.rule = rule

    def build(self, model, group, hyperparameters):
        setup = super().build(model, group, hyperparameters)
        setup.stop = self.rule
        return setup


def _decay_config(epochs=3, **hyper):
    return RunConfig(task="fake", group="C2", model="mlp", seed=0, epochs=epochs, train_size=96, batch_size=16,
                     hyperparameters={"lr": 1e-2, **hyper}, data="fake")


def test_lr_decay_multiplies_the_rate_after_every_epoch_and_resumes_with_it(tmp_path):
    config = _decay_config(lr_decay=0.5, weight_decay=1e-3)
    reference = _run(FakeTask(), config, tmp_path / "a")
    with pytest.raises(Interrupt):
        _run(FakeTask(), config, tmp_path / "b", on_epoch=_interrupt_after(2))
    ckpt = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    group = ckpt["optimizer"]["param_groups"][0]
    assert group["lr"] == pytest.approx(1e-2 * 0.5 ** 2) and group["weight_decay"] == 1e-3
    assert ckpt["scheduler"]["last_epoch"] == 2
    resumed = _run(FakeTask(), config, tmp_path / "b")
    assert _comparable(resumed["history"]) == _comparable(reference["history"])
    plain = _run(FakeTask(), _decay_config(), tmp_path / "c")
    assert _comparable(plain["history"]) != _comparable(reference["history"])
    assert "lr_decay" not in _config().hyperparameters and _config().name() == _decay_config().name()


def test_a_task_stop_rule_ends_the_run_and_the_best_epoch_is_still_tested(tmp_path):
    script = {"val": [0.5, 0.75, 0.625, 0.5, 0.25], "test": [0.125, 0.25, 0.375, 0.5, 0.625]}
    asked = []

    def rule(history):
        asked.append(len(history))
        return len(history) >= 3

    result = _run(DecayingTask(rule, script), _decay_config(epochs=5), tmp_path / "run")
    assert asked == [1, 2, 3]  # before epochs 2, 3 and 4; never before the first
    assert (result["epochs_trained"], result["stopped_early"], result["best_epoch"]) == (3, True, 2)
    assert result["test_score"] == script["test"][1]


def _strict_json(path):
    return json.loads(path.read_text(), parse_constant=lambda token: pytest.fail(f"{path} holds {token}"))


class DivergingTask(FakeTask):
    r"""FakeTask whose loss is NaN from its step ``after + 1`` on (6 steps per epoch)."""

    def __init__(self, after):
        super().__init__()
        self.after, self.steps = after, 0

    def build(self, model, group, hyperparameters):
        setup = super().build(model, group, hyperparameters)
        plain = setup.loss

        def loss(x, y, generator):
            total, output, parts = plain(x, y, generator)
            self.steps += 1
            return total * float("nan") if self.steps > self.after else total, output, parts

        setup.loss = loss
        return setup


def test_a_run_whose_training_loss_is_not_finite_is_kept_as_diverged_and_retrained_only_on_request(tmp_path):
    config, run_dir = _config(epochs=3), tmp_path / "run"
    result = _run(DivergingTask(after=8), config, run_dir)
    assert is_diverged(result) and result["diverged_at_epoch"] == 2 and result["epochs_trained"] == 2
    assert "test_score" not in result and "val_score" in result["history"][0]
    assert result["history"][1]["train_loss"] is None  # NaN, written as null
    assert _strict_json(run_dir / "result.json") == result == load_result(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["result.json"]  # no checkpoint, no model
    unused = FakeTask()
    unused.build = lambda *a: pytest.fail("a diverged run was trained again")
    assert _run(unused, config, run_dir) == result
    again = DivergingTask(after=0)
    assert _run(again, config, run_dir, retrain_diverged=True)["diverged_at_epoch"] == 1 and again.steps == 6
    with pytest.raises(ValueError, match="hyperparameters must be finite numbers, got lr=inf"):
        _config(lr=float("inf"))
    at_chance = _run(FakeTask({"val": [0.5], "test": [0.5]}), _config(epochs=1), tmp_path / "chance")
    assert not is_diverged(at_chance) and at_chance["test_score"] == 0.5  # a finite loss is reported as it scores


@pytest.mark.parametrize("damage", ["truncated", "empty", "random bytes"])
def test_a_checkpoint_that_cannot_be_read_is_named_and_restarted_on_request(tmp_path, damage):
    with pytest.raises(Interrupt):
        _run(FakeTask(), _config(), tmp_path / "run", on_epoch=_interrupt_after(1))
    path = tmp_path / "run" / "checkpoint.pt"
    saved = path.read_bytes()
    path.write_bytes({"truncated": saved[:len(saved) // 2], "empty": b"",
                      "random bytes": bytes(range(256)) * 16}[damage])
    with pytest.raises(RunFolderError) as error:
        _run(FakeTask(), _config(), tmp_path / "run")
    message = str(error.value)
    assert message.startswith(f"{path} cannot be read") and "--restart-corrupt" in message
    assert "\n" not in message and "weights_only" not in message
    epochs = []
    result = _run(FakeTask(), _config(), tmp_path / "run", restart_corrupt=True, on_epoch=lambda e, r: epochs.append(e))
    assert epochs == [1, 2, 3] and result["resumed_from_epoch"] is None


@pytest.mark.parametrize("text", ["", "{\"config\": ", "[1, 2]"])
def test_a_result_that_cannot_be_read_is_named(tmp_path, text):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "result.json").write_text(text)
    with pytest.raises(RunFolderError) as error:
        _run(FakeTask(), _config(), tmp_path / "run")
    assert str(error.value).startswith(f"{tmp_path / 'run' / 'result.json'} cannot be read as a run result")


def test_a_result_of_other_settings_is_not_taken_for_the_run(tmp_path):
    _run(FakeTask(), _config(epochs=2), tmp_path / "run")
    with pytest.raises(RunFolderError, match="the folder is for epochs=3, the file has epochs=2; delete or move"):
        _run(FakeTask(), _config(epochs=3), tmp_path / "run")


def test_eval_size_scores_a_fixed_sample_of_each_evaluation_set(tmp_path):
    task, scored = FakeTask(), []
    score = task.score
    task.score = lambda output, target: scored.append((int(target[0]), target.shape[0])) or score(output, target)
    config = RunConfig(task="fake", group="C2", model="mlp", seed=0, epochs=2, train_size=96, batch_size=16,
                       hyperparameters={"lr": 1e-2}, data="fake", eval_size=10)
    result = _run(task, config, tmp_path / "run")
    assert {size for split, size in scored if split in (VAL, TEST)} == {10}  # of 20 validation and 30 test samples
    assert result["config"]["eval_size"] == 10 and _config().to_dict()["eval_size"] is None
    assert config.name() != _config(epochs=2).name()


class LabelledData(FakeData):
    r"""Test sets of known classes: 18 of the 30 test samples in class 1, 7 of the 10 upright ones in class 0."""

    def __init__(self, device):
        super().__init__(device)
        self.test = (self.test[0], torch.tensor([1, 0, 1] * 6 + [0, 1] * 6, device=device))
        self.extra_test = {"upright": (self.x[:10], torch.tensor([0, 0, 1] * 3 + [0], device=device))}


def _hand_count(targets):
    labels = targets.tolist()
    return max(labels.count(c) for c in set(labels)) / len(labels)


def test_a_classification_run_records_the_majority_class_rate_of_each_test_set_as_scored(tmp_path):
    data = LabelledData(torch.device("cpu"))
    result = train_run(FakeTask(), data, _config(epochs=1), tmp_path / "run", device="cpu", equivariance_batch=8,
                       progress=False)
    assert result["majority_rates"] == {"test": 18 / 30, "upright": 7 / 10}
    assert "majority_rates" not in result["config"] and result["name"] == _config(epochs=1).name()
    # with --eval-size, the rates of the samples scored
    config = RunConfig(**{**_config(epochs=1).to_dict(), "eval_size": 8})
    cut = train_run(FakeTask(), data, config, tmp_path / "cut", device="cpu", equivariance_batch=8, progress=False)
    scored = evaluation_subset(data, 8, 0)
    assert cut["majority_rates"] == {"test": _hand_count(scored.test[1]),
                                     "upright": _hand_count(scored.extra_test["upright"][1])}
    assert majority_rate(torch.tensor([[1, 2], [1, 2], [2, 1]])) == 2 / 3   # whole labels, e.g. digit pairs


class RegressionTask(FakeTask):
    spec = TaskSpec("fake-regression", groups=("C2",), models=("mlp",), default_group="C2", default_models=("mlp",),
                    default_epochs=2, default_train_size=96, metric="negative MSE")


def test_a_regression_run_records_no_majority_class_rate(tmp_path):
    result = _run(RegressionTask(), _config(epochs=1), tmp_path / "run")
    assert "majority_rates" not in result and "test_score" in result
    assert majority_rates(get_task("smoke-reduced"), LabelledData(torch.device("cpu"))) is None
    assert majority_rates(get_task("ddmnist"), LabelledData(torch.device("cpu"))) == {"test": 0.6, "upright": 0.7}


def test_the_evaluation_subset_is_fixed_by_the_data_seed_and_shared_by_test_sets_of_one_length():
    data = FakeData(torch.device("cpu"))
    data.extra_test = {"again": data.test}
    a, b, other = (evaluation_subset(data, 10, seed) for seed in (0, 0, 1))
    assert a.val[0].shape[0] == a.test[0].shape[0] == 10 and torch.equal(a.test[0], b.test[0])
    assert not torch.equal(a.test[0], other.test[0])
    assert torch.equal(a.extra_test["again"][0], a.test[0]) and torch.equal(a.extra_test["again"][1], a.test[1])
    assert all(any(torch.equal(row, full) for full in data.test[0]) for row in a.test[0])
    assert (a.train_size, a.group, a.settings) == (data.train_size, data.group, data.settings)
    assert torch.equal(evaluation_subset(data, 100, 0).test[0], data.test[0])


def test_the_equivariance_elements_are_all_for_groups_up_to_order_64_or_a_fixed_sample():
    d4xd4 = group_table(direct_product(dihedral_group(4), dihedral_group(4)))
    assert equivariance_elements(d4xd4) == [e for e in range(64) if e != d4xd4.identity]
    sample = equivariance_elements(d4xd4, 8)
    assert len(set(sample)) == 8 and d4xd4.identity not in sample and sample == sorted(sample)
    assert sample == equivariance_elements(d4xd4, 8, 0) != equivariance_elements(d4xd4, 8, 1)
    assert len(equivariance_elements(group_table(cyclic_group(100)))) == 63


class C8Data(FakeData):
    def __init__(self, device):
        super().__init__(device)
        self.group = group_table(cyclic_group(8))
        self.in_action = trivial_action(self.group)


def test_a_run_measures_its_equivariance_errors_at_the_sampled_elements(tmp_path):
    config = RunConfig(task="fake", group="C2", model="mlp", seed=0, epochs=1, train_size=96, batch_size=16,
                       hyperparameters={"lr": 1e-2}, data="fake", equivariance_elements=3)
    result = train_run(FakeTask(), C8Data(torch.device("cpu")), config, tmp_path / "run", device="cpu",
                       equivariance_batch=8, progress=False)
    assert result["equivariance_elements"] == equivariance_elements(group_table(cyclic_group(8)), 3)
    assert len(result["output_equivariance_error_per_element"]) == 3
    every = train_run(FakeTask(), C8Data(torch.device("cpu")), _config(epochs=1), tmp_path / "every", device="cpu",
                      equivariance_batch=8, progress=False)
    assert every["equivariance_elements"] == list(range(1, 8))
    assert RunConfig(**config.to_dict()) == config and config.name() != _config(epochs=1).name()
