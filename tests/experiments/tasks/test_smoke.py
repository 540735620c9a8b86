r"""The SMOKE task on synthetic sequences and on the committed real pair: windows, channel order,
splits, the RMSE, the C4 action and its agreement with escnn, the loss against a hand computation,
the stopping rule, and a tiny comparison that resumes."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from escnn.nn import FieldType, GeometricTensor

from escnn_soft.experiments.cli import main
from escnn_soft.experiments.datasets.smoke import smoke_to_escnn
from escnn_soft.experiments.models import smoke_gspace
from escnn_soft.experiments.specs import TASK_SPECS
from escnn_soft.experiments.task import get_task
from escnn_soft.experiments.tasks.smoke import (
    SMOKE_EVAL_BATCH,
    SMOKE_LAMBDA,
    SMOKE_PRESETS,
    SmokeData,
    smoke_rmse,
    vector_field_action,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "smoke"
T = 309  # frames of a simulation as published


def _coded(key, size=4):
    r"""A synthetic simulation whose every value says where it is, ``100000·k + 10000·j + 10·t + c``
    (an integer, exact in float32), constant over the grid (so the row flip and pooling keep it)."""
    k, j = key
    t = np.arange(T, dtype=np.float32)[:, None, None, None]
    c = np.arange(2, dtype=np.float32)[None, :, None, None]
    return np.broadcast_to(100000 * k + 10000 * j + 10 * t + c, (T, 2, size, size)).astype(np.float32)


def _write(folder, preset, size=8, coded=False, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    for key in preset.train_simulations + preset.domain_simulations:
        frames = torch.from_numpy(_coded(key, size)) if coded else torch.randn(T, 2, size, size, generator=g)
        torch.save(frames, folder / f"raw_data_{key[0]}_{key[1]}.pt")
    return folder


def _decode(value):
    k, rest = divmod(round(float(value)), 100000)
    j, rest = divmod(rest, 10000)
    return k, j, rest // 10, rest % 10  # k, j, t, c


@pytest.mark.parametrize("name", ["smoke", "smoke-reduced"])
def test_windows_channel_order_and_split_sizes(name):
    preset = SMOKE_PRESETS[name]
    sims = {key: _coded(key, 2 * preset.pool) for key in preset.train_simulations + preset.domain_simulations}
    n_train, n_domain, stride = len(preset.train_simulations), len(preset.domain_simulations), preset.stride
    data = SmokeData(sims, preset, train_size=TASK_SPECS[name].default_train_size, data_seed=0, device="cpu")
    sizes = (data.train_size, data.val[0].shape[0], data.test[0].shape[0], data.extra_test["domain"][0].shape[0])
    assert sizes == (n_train * len(range(0, 160, stride)), n_train * len(range(160, 200, stride)),
                     n_train * len(range(200, 250, stride)), n_domain * len(range(0, 100, stride)))
    if name == "smoke":
        assert sizes == (4000, 1000, 1250, 1000)
    else:
        assert sizes == (320, 80, 104, 100) and data.val[0].shape[-1] == 2  # 4x4 pooled to 2x2
    x, y = data.train_batch(torch.arange(data.train_size), augment=False, generator=torch.Generator())
    assert x.shape[1:3] == (20, 2) and y.shape[1] == 12
    starts = set()
    for sample in range(x.shape[0]):
        k, j, t0, c = _decode(x[sample, 0, 0, 0])
        assert (k, j) in preset.train_simulations and c == 0
        starts.add((k, t0 - 2))
        for ch in range(20):  # frame-major: channel 2i + c is component c of frame s + 2 + i
            assert _decode(x[sample, ch, 0, 0]) == (k, j, t0 + ch // 2, ch % 2)
        for ch in range(12):  # then the 6 frames from s + 12
            assert _decode(y[sample, ch, 0, 0]) == (k, j, t0 + 10 + ch // 2, ch % 2)
    assert {s for _, s in starts} == set(range(0, 160, stride)) and len(starts) == data.train_size
    for (inputs, targets), first, frames in ((data.val, 160, 6), (data.test, 200, 20),
                                             (data.extra_test["domain"], 0, 20)):
        decoded = [_decode(v) for v in inputs[:, 0, 0, 0]]
        assert min(t for _, _, t, _ in decoded) == first + 2 and targets.shape[1] == 2 * frames
        assert _decode(targets[0, -1, 0, 0])[2] == decoded[0][2] + 10 + frames - 1
    assert {_decode(v)[:2] for v in data.extra_test["domain"][0][:, 0, 0, 0]} == set(preset.domain_simulations)


def test_the_training_subset_is_fixed_by_the_data_seed():
    preset = SMOKE_PRESETS["smoke-reduced"]
    sims = {key: _coded(key) for key in preset.train_simulations + preset.domain_simulations}
    a, b, c = (SmokeData(sims, preset, train_size=10, data_seed=s, device="cpu").train_windows for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == (10, 2)


def test_the_rmse_is_the_references_mean_over_batches_of_16():
    target = torch.zeros(17, 4, 2, 2)
    output = torch.ones(17, 4, 2, 2)
    output[16] = 3.0  # the last batch, of one sample, has MSE 9
    output[:16, 2:] = 2.0  # frame 2 of the first batch has MSE 4
    assert SMOKE_EVAL_BATCH == 16
    assert smoke_rmse(output, target) == pytest.approx(math.sqrt(((1 + 4) / 2 + 9) / 2))
    assert smoke_rmse(output, target, frames=1) == pytest.approx(math.sqrt((1 + 9) / 2))
    assert smoke_rmse(output, target, batch_size=17) == pytest.approx(math.sqrt((16 * 2.5 + 9) / 17))
    longer = torch.cat([output, torch.full((17, 4, 2, 2), 7.0)], dim=1)  # outputs beyond the target are ignored
    assert smoke_rmse(longer, target) == smoke_rmse(output, target)
    with pytest.raises(ValueError, match="frames must be between 1 and the target's 2"):
        smoke_rmse(output, target, frames=3)


def test_the_action_is_c4_on_vector_fields_as_escnn_moves_them_and_commutes_with_pooling():
    action = vector_field_action(3)
    raw = torch.randn(2, 6, 8, 8)
    x = smoke_to_escnn(raw)
    assert torch.equal(x, raw.flip(-2)) and torch.equal(smoke_to_escnn(x), raw)
    gspace = smoke_gspace()
    field_type = FieldType(gspace, 3 * [gspace.irrep(1)])
    for element in gspace.fibergroup.elements:
        g = torch.full((2,), action.group.index(element))
        expected = GeometricTensor(x, field_type).transform(element).tensor
        assert torch.equal(action(x, g), expected)
        torch.testing.assert_close(F.avg_pool2d(action(x, g), 2), action(F.avg_pool2d(x, 2), g))
    g = action.group.sample(2, generator=torch.Generator().manual_seed(0))
    once = x
    for _ in range(4):
        once = action(once, g)
    assert torch.equal(once, x)  # g^4 = e


def _relative_rmse(a, b):
    return (torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b)).item()


def test_the_task_action_maps_a_real_plume_onto_its_rotated_twin():
    with np.load(FIXTURES / "smoke_k10_j0.npz") as f0, np.load(FIXTURES / "smoke_k10_j3.npz") as f3:
        j0, j3 = (torch.from_numpy(f["frames"].astype(np.float32)) for f in (f0, f3))
    frames = j0.shape[0]
    x0, x3 = (smoke_to_escnn(a).reshape(1, 2 * frames, *a.shape[-2:]) for a in (j0, j3))
    action = vector_field_action(frames)
    errors = {r: _relative_rmse(action(x0, torch.tensor([r])), x3) for r in range(4)}
    physical = min(errors, key=errors.get)
    assert errors[physical] < 0.2 and all(e > 0.5 for r, e in errors.items() if r != physical)
    # on the raw layout (rows along +y) no element maps the plume onto its twin: the one that moves the
    # grid onto the twin's side turns the vectors the other way, and gives minus the twin (error near 2)
    raw0, raw3 = (a.reshape(1, 2 * frames, *a.shape[-2:]) for a in (j0, j3))
    wrong = {r: _relative_rmse(action(raw0, torch.tensor([r])), raw3) for r in range(4)}
    assert min(wrong.values()) > 0.5 and max(wrong.values()) > 1.5


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    task = get_task("smoke-reduced")
    folder = _write(tmp_path_factory.mktemp("smoke"), task.preset, size=8)
    return task, task.open(str(folder))


def test_the_tasks_settings_follow_the_reference_code(reduced):
    task, _ = reduced
    assert TASK_SPECS["smoke"].default_batch_size == 16 and TASK_SPECS["smoke"].default_epochs == 1000
    assert (get_task("smoke").preset.hidden, task.preset.hidden, task.preset.pool, task.preset.stride) == (92, 32, 2, 4)
    soft = get_task("smoke").hyperparameters("soft", "C4")
    assert soft == {"lr": 1e-3, "weight_decay": 4e-4, "lr_decay": 0.95, "hidden": 92, "stop_after": 100,
                    "stop_window": 5, "lam": SMOKE_LAMBDA, "first_frame_weight": 0.5, "input_task_weight": 0.5,
                    "latent_action": "grid"}
    assert get_task("smoke").hyperparameters("soft-regular", "C4")["latent_action"] == "regular"
    assert task.hyperparameters("cnn-aug", "C4")["lam"] == 0 and "stop_after" not in task.hyperparameters("cnn", "C4")
    assert task.hyperparameters("cnn", "C4")["first_frame_weight"] == 1.0 and "lam" not in task.hyperparameters(
        "e2cnn", "C4")


def _batch(task, source, n=4):
    data = task.load("C4", source, train_size=n, data_seed=0, device=torch.device("cpu"))
    x, y = data.train_batch(torch.arange(n), augment=False, generator=torch.Generator())
    return data, x, y


@pytest.mark.parametrize("model", ["soft", "soft-regular", "cnn-aug"])
def test_the_soft_loss_is_the_papers_with_no_term_counted_twice(reduced, model):
    task, source = reduced
    data, x, y = _batch(task, source)
    hyper = task.hyperparameters(model, "C4")
    torch.manual_seed(0)
    setup = task.build(model, "C4", hyper)
    net = setup.model.eval()  # batch norm in eval mode: every pass sees the same statistics
    total, output, parts = setup.loss(x, y, torch.Generator().manual_seed(3))
    g = data.group.sample(x.shape[0], generator=torch.Generator().manual_seed(3))
    rho_z = setup.latent[1]
    with torch.no_grad():
        frames = net(x, 6)
        mse = [F.mse_loss(frames[:, 2 * t:2 * t + 2], y[:, 2 * t:2 * t + 2]) for t in range(6)]
        rotated = net.step(data.in_action(x, g))
        z, z_g = net.step.encoder(x), net.step.encoder(data.in_action(x, g))
        expected = (0.5 * mse[0] + sum(mse[1:]) + 0.5 * F.mse_loss(rotated, vector_field_action(1)(y[:, :2], g))
                    + hyper["lam"] * F.mse_loss(rho_z(z, g), z_g))
    torch.testing.assert_close(total.detach(), expected)
    torch.testing.assert_close(output.detach(), frames)
    assert set(parts) == {"task", "input_task", "rollout", "equivariance"}


@pytest.mark.parametrize("model", ["cnn", "e2cnn", "e2cnn-narrow", "rpp"])
def test_the_plain_loss_is_the_sum_of_the_frames_mses(reduced, model):
    task, source = reduced
    _, x, y = _batch(task, source)
    setup = task.build(model, "C4", task.hyperparameters(model, "C4"))
    net = setup.model.eval()
    total, output, _ = setup.loss(x, y, torch.Generator())
    with torch.no_grad():
        frames = net(x, 6)
    expected = sum(F.mse_loss(frames[:, 2 * t:2 * t + 2], y[:, 2 * t:2 * t + 2]) for t in range(6))
    torch.testing.assert_close(total.detach(), expected)
    assert not setup.augment and setup.latent[0] == "step.encoder"


def test_the_reference_early_stopping_waits_100_epochs_then_compares_windows_of_5():
    setup = get_task("smoke").build("cnn", "C4", get_task("smoke").hyperparameters("cnn", "C4") | {"hidden": 4})

    def history(values):
        return [{"metrics": {"val": {"RMSE": v}}} for v in values]

    falling = list(np.linspace(2, 1, 120))
    assert not any(setup.stop(history(falling[:n])) for n in range(1, 121))
    flat_then_rising = [1.0] * 100 + [1.0, 1.0, 1.0, 1.0, 1.0]
    assert not setup.stop(history(flat_then_rising[:100])) and setup.stop(history(flat_then_rising))
    assert get_task("smoke-reduced").build("cnn", "C4", get_task("smoke-reduced").hyperparameters("cnn", "C4")).stop \
        is None


def test_bad_sources_and_sizes_are_refused(tmp_path, reduced):
    task, source = reduced
    with pytest.raises(FileNotFoundError, match="not found"):
        task.open(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="raw_data"):
        task.open(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="between 2 and 320"):
        task.check(source, 321)
    short = {key: np.zeros((100, 2, 8, 8), np.float32) for key in task.simulations}
    with pytest.raises(ValueError, match="T >= 281"):
        SmokeData(short, task.preset, train_size=4, data_seed=0, device="cpu")
    odd = {key: np.zeros((T, 2, 7, 7), np.float32) for key in task.simulations}
    with pytest.raises(ValueError, match="does not divide"):
        SmokeData(odd, task.preset, train_size=4, data_seed=0, device="cpu")
    with pytest.raises(ValueError, match="unknown smoke-reduced group"):
        task.load("D4", source, train_size=4, data_seed=0, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown latent action"):
        task.build("soft", "C4", task.hyperparameters("soft", "C4") | {"latent_action": "flatten"})


def test_tiny_compare_on_synthetic_sequences_reports_rmse_and_resumes(tmp_path, capsys, monkeypatch):
    folder = _write(tmp_path / "data", SMOKE_PRESETS["smoke-reduced"], size=4)
    out = tmp_path / "out"
    argv = ["compare", "--task", "smoke-reduced", "--data-dir", str(folder), "--models", "cnn,soft,e2cnn-narrow",
            "--epochs", "1", "--train-size", "8", "--batch-size", "4", "--out", str(out), "--no-progress",
            "--equivariance-batch", "2"]
    assert main(argv) == 0
    assert "3 run(s) trained, 0 reused" in capsys.readouterr().out
    table = (out / "summary.md").read_text()
    assert "test RMSE" in table and "domain test RMSE 6" in table
    results = {r["config"]["model"]: r for r in (json.loads(p.read_text()) for p in out.glob("runs/*/result.json"))}
    for r in results.values():
        assert set(r["metrics"]) == {"val", "test", "domain"} and set(r["metrics"]["test"]) == {"RMSE", "RMSE 6"}
        assert r["metrics"]["val"]["RMSE"] == r["metrics"]["val"]["RMSE 6"]
        assert len(r["analysis"]["rmse_per_step"]["future"]) == 20
        assert r["analysis"]["rmse_per_step"]["domain"][-1] > 0
    assert results["e2cnn-narrow"]["output_equivariance_error"] < 1e-4
    from escnn_soft.experiments import runner

    monkeypatch.setattr(runner, "train_run", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert main(argv) == 0
    assert "0 run(s) trained, 3 reused" in capsys.readouterr().out


class Interrupt(Exception):
    pass


def test_an_interrupted_smoke_run_resumes_with_its_schedule(tmp_path, capsys, monkeypatch):
    from escnn_soft.experiments import runner

    folder = _write(tmp_path / "data", SMOKE_PRESETS["smoke-reduced"], size=4)
    argv = ["compare", "--task", "smoke-reduced", "--data-dir", str(folder), "--models", "soft", "--epochs", "2",
            "--train-size", "8", "--batch-size", "4", "--out", str(tmp_path / "out"), "--no-progress",
            "--equivariance-batch", "2"]
    save = runner._atomic_save

    def save_then_stop(path, obj):
        save(path, obj)
        if path.name == "checkpoint.pt":
            raise Interrupt

    monkeypatch.setattr(runner, "_atomic_save", save_then_stop)
    with pytest.raises(Interrupt):
        main(argv)
    monkeypatch.setattr(runner, "_atomic_save", save)
    capsys.readouterr()
    assert main(argv) == 0
    assert "from epoch 2/2 (1 done)" in capsys.readouterr().out
    (result,) = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("runs/*/result.json")]
    assert result["resumed_from_epoch"] == 1 and result["epochs_trained"] == 2


@pytest.mark.slow
def test_the_full_preset_trains_and_evaluates_on_two_full_size_simulations():
    from dataclasses import replace

    from escnn_soft.experiments.runner import predict

    task = get_task("smoke")
    preset = replace(task.preset, train_simulations=task.preset.train_simulations[:1],
                     domain_simulations=task.preset.domain_simulations[:1])
    g = torch.Generator().manual_seed(0)
    sims = {key: torch.randn(T, 2, 64, 64, generator=g).numpy() for key in preset.train_simulations
            + preset.domain_simulations}
    data = SmokeData(sims, preset, train_size=16, data_seed=0, device="cpu")
    assert (data.train_size, data.val[0].shape, data.test[1].shape) == (16, (40, 20, 64, 64), (50, 40, 64, 64))
    setup = task.build("soft", "C4", task.hyperparameters("soft", "C4"))
    assert sum(p.numel() for p in setup.model.parameters()) == 247_850
    x, y = data.train_batch(torch.arange(16), augment=False, generator=torch.Generator())
    total, output, _ = setup.loss(x, y, torch.Generator().manual_seed(0))
    total.backward()
    assert output.shape == (16, 12, 64, 64) and torch.isfinite(total)
    rollout = predict(setup.model, data.extra_test["domain"][0][:4], 4)
    assert rollout.shape == (4, 40, 64, 64)
