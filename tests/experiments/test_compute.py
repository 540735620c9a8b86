r"""Training FLOPs (:mod:`escnn_soft.experiments.compute`), the scores at equal compute and the FLOPs plot."""

import pytest
import torch
from torch import nn

from escnn_soft.experiments.cli import parse_args
from escnn_soft.experiments.comparison import compare
from escnn_soft.experiments.compute import count_flops, epoch_flops, step_flops
from escnn_soft.experiments.options import UsageError
from escnn_soft.experiments.reports import write_reports
from escnn_soft.experiments.results import (best_so_far, check_budget, epochs_within_compute, planned_budget, run_name,
                                            score_at_best)
from escnn_soft.experiments.runner import RunConfig, train_step
from escnn_soft.experiments.task import TrainingSetup, get_task


def _net_setup():
    r"""A Conv2d(2→3, 3×3) on 6×6 images, then a Linear(48→5), trained with cross-entropy."""
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))

    def loss(x, y, generator):
        output = net(x)
        return nn.functional.cross_entropy(output, y), output, {}

    return TrainingSetup(net, loss, augment=False)


def test_a_training_step_of_a_conv_and_a_linear_layer_counts_as_by_hand():
    torch.manual_seed(0)
    setup = _net_setup()
    optimizer = torch.optim.Adam(setup.model.parameters())
    x, y = torch.randn(7, 2, 6, 6), torch.tensor([0, 1, 2, 3, 4, 0, 1])
    conv = 7 * 3 * 4 * 4 * (2 * 3 * 3)      # multiply-accumulates: outputs x (input channels x kernel)
    linear = 7 * 48 * 5
    forward = 2 * (conv + linear)            # two FLOPs each; biases add none
    assert count_flops(setup.model, x) == forward == 15456
    # backward: the weight gradients cost the forward again, the input gradient of the linear layer too,
    # the conv's input (the images) needs none; cross-entropy, the bias gradients and Adam are not counted
    step = forward + 2 * conv + 2 * 2 * linear
    assert count_flops(train_step, setup, optimizer, (x, y), torch.Generator()) == step == 3 * forward - 2 * conv


def _mnist(model, *, seed=0, batch_size=8, train_size=16, **hyper):
    task = get_task("mnist")
    return task, RunConfig(task="mnist", group="C4", model=model, seed=seed, epochs=3, train_size=train_size,
                           batch_size=batch_size, hyperparameters={**task.hyperparameters(model, "C4"), **hyper},
                           data="x")


def test_a_step_of_a_real_run_costs_the_same_for_every_seed_and_soft_costs_more_than_cnn_aug():
    # distinct learning rates key distinct counts, so that both seeds are counted afresh
    task, seed0 = _mnist("cnn-aug", seed=0, lr=0.0101)
    _, seed1 = _mnist("cnn-aug", seed=1, lr=0.0102)
    cnn_aug = step_flops(task, seed0)
    assert cnn_aug > 0 and step_flops(task, seed1) == cnn_aug
    assert step_flops(task, seed0.to_dict()) == cnn_aug          # the config of a result.json
    soft = step_flops(task, _mnist("soft")[1])
    quarter = step_flops(task, _mnist("soft", pair_fraction=0.25)[1])
    assert cnn_aug < quarter < soft


def test_an_epoch_counts_its_full_batches_and_a_last_partial_batch_of_two_or_more():
    task, config = _mnist("cnn-aug", train_size=20)
    full, part = step_flops(task, config), step_flops(task, config, batch_size=4)
    assert 0 < part < full
    assert epoch_flops(task, config) == 2 * full + part
    assert epoch_flops(task, _mnist("cnn-aug", train_size=17)[1]) == 2 * full    # a batch of one is dropped


def test_a_step_of_another_tasks_settings_is_refused():
    task, config = _mnist("cnn-aug")
    with pytest.raises(ValueError, match="task 'mnist', not of 'ddmnist'"):
        step_flops(get_task("ddmnist"), config)


def _scripted(model, epochs, vals, tests):
    config = {"task": "t", "group": "G", "model": model, "seed": 0, "epochs": epochs, "train_size": 10,
              "batch_size": 5, "hyperparameters": {"lr": 0.1}}
    return {"name": run_name(config), "config": config,
            "history": [{"epoch": k + 1, "val_score": v, **({} if t is None else {"test_score": t})}
                        for k, (v, t) in enumerate(zip(vals, tests))]}


def test_at_equal_compute_a_run_twice_as_costly_is_scored_within_half_its_epochs():
    cheap = _scripted("cheap", 6, [0.5, 0.6, 0.7, 0.65, 0.8, 0.9], [0.4, 0.5, 0.6, None, 0.7, 0.8])
    costly = _scripted("costly", 6, [0.6, 0.8, 0.7, 0.9, 0.95, 0.97], [0.5, 0.7, None, 0.8, 0.85, 0.9])
    flops = {cheap["name"]: 1e9, costly["name"]: 2e9}
    budget = planned_budget([cheap["config"], costly["config"]], flops)
    assert budget == 6e9                                                   # 6 epochs of the cheaper run
    within = [epochs_within_compute(r, flops[r["name"]], budget) for r in (cheap, costly)]
    assert within == [6, 3]
    assert score_at_best(cheap, within[0]) == 0.8 and score_at_best(costly, within[1]) == 0.7
    assert best_so_far(costly) == {"val": [0.6, 0.8, 0.8, 0.9, 0.95, 0.97], "test": [0.5, 0.7, 0.7, 0.8, 0.85, 0.9]}


def test_a_budget_below_one_epoch_of_some_run_names_the_option_and_the_smallest_valid_value():
    check_budget(2e9, {"cheap": 1e9, "costly": 2e9})
    with pytest.raises(ValueError, match=r"below one epoch of costly .*--compute-budget at least 2e\+09"):
        check_budget(1.5e9, {"cheap": 1e9, "costly": 2e9})


def test_compare_refuses_a_budget_below_one_epoch_before_any_training(tmp_path):
    argv = ["--task", "mnist", "--models", "cnn-aug,soft", "--train-size", "16", "--epochs", "1", "--batch-size", "8",
            "--device", "cpu", "--no-progress", "--out", str(tmp_path), "--compute-budget", "1000"]
    with pytest.raises(UsageError, match=r"--compute-budget at least \d"):
        compare(parse_args(argv))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _plotted(model, seed, flops_scale):
    history = [{"epoch": k + 1, "val_score": 0.5 + 0.1 * k + 0.01 * seed, "test_score": 0.45 + 0.1 * k}
               for k in range(3)]
    return {"name": f"{model}-{seed}", "config": {"task": "t", "group": "G", "model": model, "seed": seed, "epochs": 3,
                                                  "train_size": 100, "batch_size": 10, "hyperparameters": {"lr": 0.1}},
            "best_epoch": 3, "val_score": history[-1]["val_score"], "test_score": history[-1]["test_score"],
            "final_test_score": history[-1]["test_score"], "parameters": 1234, "seconds_per_epoch": 2.0,
            "train_seconds": 6.0, "latent_equivariance_error": None, "output_equivariance_error": 0.5,
            "device": "cpu", "history": history}


class _Metric:
    metric = "accuracy"


def test_the_reports_plot_the_scores_against_training_flops(tmp_path):
    results = [_plotted(m, s, f) for m, f in (("cnn-aug", 1), ("soft", 2)) for s in (0, 1)]
    compute = {r["name"]: (2e9 if r["config"]["model"] == "soft" else 1e9) for r in results}
    write_reports(results, tmp_path, _Metric(), compute=compute, compute_budget=3e9)
    assert (tmp_path / "compute.png").read_bytes()[:4] == b"\x89PNG"
    assert "FlopCounterMode" in (tmp_path / "summary.md").read_text()
    write_reports(results, tmp_path / "none", _Metric())
    assert not (tmp_path / "none" / "compute.png").exists()


def _shapes(batch):
    return [(tuple(v.shape), v.dtype) if torch.is_tensor(v) else {k: (tuple(w.shape), w.dtype) for k, w in v.items()}
            for v in batch]


@pytest.mark.parametrize("name, group, train_size, settings", [
    ("mnist", "D4", 16, {}),
    ("ddmnist", "D4", 100, {}),
    ("ddmnist", "C4", 100, {"c4_data": "paper"}),
    ("adrenalmnist3d", "O", 8, {}),
])
def test_a_batch_made_without_the_data_has_the_shapes_of_a_training_batch(name, group, train_size, settings):
    task = get_task(name)
    data = task.load(group, task.open(None), train_size=train_size, data_seed=0, device=torch.device("cpu"),
                     **settings)
    batch = data.train_batch(torch.arange(4), augment=True, generator=torch.Generator().manual_seed(0))
    hyperparameters = {**task.hyperparameters(task.default_models[0], group), **settings}
    assert _shapes(task.example_batch(group, 4, hyperparameters)) == _shapes(batch)


def test_a_smoke_batch_made_without_the_data_has_the_shapes_of_a_training_batch():
    import numpy as np

    from escnn_soft.experiments.datasets.smoke import SMOKE_RESOLUTION
    from escnn_soft.experiments.tasks.smoke import SMOKE_PRESETS, SmokeData

    task, preset = get_task("smoke-reduced"), SMOKE_PRESETS["smoke-reduced"]
    frames = np.zeros((309, 2, SMOKE_RESOLUTION, SMOKE_RESOLUTION), dtype=np.float32)
    data = SmokeData({key: frames for key in preset.train_simulations + preset.domain_simulations}, preset,
                     train_size=8, data_seed=0, device="cpu")
    batch = data.train_batch(torch.arange(4), augment=True, generator=torch.Generator().manual_seed(0))
    assert _shapes(task.example_batch("C4", 4, task.hyperparameters("soft", "C4"))) == _shapes(batch)


def test_a_default_budget_below_one_epoch_of_some_run_leaves_only_those_runs_without_a_score(tmp_path, capsys):
    r"""One epoch of cnn-aug is less than one of soft: soft has no score at equal compute, and is named."""
    argv = ["--task", "mnist", "--models", "cnn-aug,soft", "--train-size", "16", "--epochs", "1", "--batch-size", "8",
            "--device", "cpu", "--no-progress", "--out", str(tmp_path)]
    compare(parse_args(argv))
    printed = capsys.readouterr().out
    rows = {}
    for line in printed.splitlines():    # the summary's rows, before those of the reference table
        if line.startswith(("| cnn-aug |", "| soft |")):
            rows.setdefault(line.split(" | ")[0].strip("| "), line.split(" | "))
    assert rows["soft"][2] == "—" and rows["cnn-aug"][2] != "—"    # test accuracy, equal compute
    assert "no score at equal compute for 1 run(s), not one epoch of which fits" in printed
    assert "mnist-C4-soft-seed0-" in printed and "--compute-budget sets one budget for every run" in printed
