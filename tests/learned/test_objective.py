import doctest

import numpy as np
import pytest
import torch
from escnn import gspaces
from escnn import nn as enn
from escnn.group import cyclic_group, dihedral_group
from torch import nn

import escnn_soft.learned.objective as study
from escnn_soft import SoftEquivarianceLoss, field_action, regular_latent
from escnn_soft.learned import LearnedRepresentation
from escnn_soft import resampled_action
from escnn_soft.learned.objective import StudyLoss, StudyObjective, study_objective
from escnn_soft.experiments.runner import fit



def _synthetic(seed=0, dim=8, lambda_w=1.0):
    r"""An autoencoder on vectors carrying 2 copies of C4's regular representation."""
    torch.manual_seed(seed)
    G = cyclic_group(4)
    act = regular_latent(G, 8)
    rho = LearnedRepresentation(G, dim, seed=seed)
    objective = study_objective(nn.Linear(8, dim), nn.Linear(dim, 8), in_action=act, out_action=act,
                                representation=rho, task_loss=nn.MSELoss(), lambda_zy=1.0, lambda_xz=1.0,
                                lambda_w=lambda_w)
    x = torch.randn(256, 8)
    return objective, x


def _batches(x, batch=32, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def batches():
        return [(x[i], x[i]) for i in torch.randperm(len(x), generator=generator).split(batch)]
    return batches


# ------------------------------------------------------------------ the objective


def test_objective_is_soft_loss_plus_algebra():
    objective, x = _synthetic()
    g = torch.randint(4, (16,))
    out = objective(x[:16], x[:16], g)
    assert isinstance(out, StudyLoss)
    soft = SoftEquivarianceLoss(objective.encoder, objective.head, in_action=objective.soft.in_action,
                                latent=objective.representation, task_loss=nn.MSELoss(),
                                out_action=objective.soft.out_action, lam=1.0, shifted_weight=1.0)(x[:16], x[:16], g)
    torch.testing.assert_close(out.soft.total, soft.total)
    torch.testing.assert_close(out.algebra, objective.representation.algebra_loss())
    torch.testing.assert_close(out.total, soft.total + objective.lambda_w * out.algebra)
    assert set(out.terms()) == {"total", "task", "shifted", "equivariance", "algebra"}


def test_weights_reach_the_soft_loss():
    objective, _ = _synthetic()
    objective = study_objective(objective.encoder, objective.head, in_action=objective.soft.in_action,
                                representation=objective.representation, task_loss=nn.MSELoss(),
                                lambda_zy=0.25, lambda_xz=0.75, lambda_w=2.0, inverse=0.5)
    assert objective.soft.shifted_weight == 0.25 and objective.soft.lam == 0.75
    assert objective.lambda_w == 2.0 and objective.inverse == 0.5
    torch.testing.assert_close(objective.algebra_loss(), objective.representation.algebra_loss(inverse=0.5))


def test_learned_representation_is_trained():
    objective, _ = _synthetic()
    names = dict(objective.named_parameters())
    assert any(p is objective.representation.generators for p in names.values())
    assert "soft.latent.generators" in names


def test_every_part_gets_gradients():
    objective, x = _synthetic()
    objective(x[:32], x[:32]).total.backward()
    for name, p in objective.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_training_lowers_the_loss_and_the_algebra_loss():
    objective, x = _synthetic()
    history = fit(objective, _batches(x), epochs=25, lr=1e-2)
    first, last = history.losses[0], history.losses[-1]
    assert last["total"] < 0.5 * first["total"]
    assert last["task"] < first["task"]
    assert last["algebra"] < 0.1 * first["algebra"]
    assert history.steps == 25 * 8


def test_fit_records_eigenvalues():
    objective, x = _synthetic(dim=6)
    history = fit(objective, _batches(x), epochs=3, lr=1e-2)
    assert history.snapshot_steps == [0, 8, 16, 24]
    assert history.eigenvalues.shape == (4, 6) and np.iscomplexobj(history.eigenvalues)
    assert history.element == objective.representation.generator_elements[0]
    M = objective.representation.matrices()[history.element].detach().double().numpy()
    np.testing.assert_allclose(np.sort_complex(history.eigenvalues[-1]), np.sort_complex(np.linalg.eigvals(M)),
                               atol=1e-5)
    assert len(history.losses) == 3 and history.seconds > 0

    objective, x = _synthetic(dim=6)
    seen = []
    history = fit(objective, _batches(x), epochs=2, lr=1e-2, snapshot_every=5, element=2,
                  log=lambda epoch, losses: seen.append((epoch, losses["total"])))
    assert history.snapshot_steps == [0, 5, 10, 15, 16] and history.element == 2
    assert [e for e, _ in seen] == [1, 2]

    objective, x = _synthetic(dim=6)
    history = fit(objective, _batches(x), epochs=2, lr=1e-2, snapshot_at=[1, 2, 4, 8, 40])
    assert history.snapshot_steps == [0, 1, 2, 4, 8, 16]


def test_fit_rejects_bad_arguments():
    objective, x = _synthetic()
    with pytest.raises(ValueError, match="epochs"):
        fit(objective, _batches(x), epochs=-1)
    with pytest.raises(ValueError, match="snapshot_every"):
        fit(objective, _batches(x), epochs=1, snapshot_every=0)
    with pytest.raises(ValueError, match="not both"):
        fit(objective, _batches(x), epochs=1, snapshot_every=2, snapshot_at=[1])
    with pytest.raises(ValueError, match="snapshot_at"):
        fit(objective, _batches(x), epochs=1, snapshot_at=[0, 3])
    with pytest.raises(IndexError, match="out of range"):
        fit(objective, _batches(x), epochs=1, element=4)
    with pytest.raises(TypeError, match="callable"):
        fit(objective, _batches(x)(), epochs=1)
    with pytest.raises(ValueError, match="no batches"):
        fit(objective, lambda: [], epochs=1)


def test_objective_rejects_bad_arguments():
    G = cyclic_group(4)
    act = regular_latent(G, 8)
    kwargs = dict(in_action=act, task_loss=nn.MSELoss())
    with pytest.raises(TypeError, match="LearnedRepresentation"):
        StudyObjective(nn.Linear(8, 8), nn.Linear(8, 8), representation=regular_latent(G, 8), **kwargs)
    rho = LearnedRepresentation(G, 8)
    with pytest.raises(ValueError, match="lambda_w"):
        StudyObjective(nn.Linear(8, 8), nn.Linear(8, 8), representation=rho, lambda_w=-1.0, **kwargs)
    with pytest.raises(ValueError, match="inverse"):
        StudyObjective(nn.Linear(8, 8), nn.Linear(8, 8), representation=rho, inverse=float("nan"), **kwargs)
    with pytest.raises(ValueError, match="shifted_weight"):
        StudyObjective(nn.Linear(8, 8), nn.Linear(8, 8), representation=rho, lambda_zy=-0.5, **kwargs)
    with pytest.raises(ValueError, match="same group"):
        StudyObjective(nn.Linear(8, 8), nn.Linear(8, 8), representation=LearnedRepresentation(dihedral_group(3), 8),
                       **kwargs)
    objective = StudyObjective(nn.Linear(8, 5), nn.Linear(5, 8), representation=LearnedRepresentation(G, 6), **kwargs)
    with pytest.raises(ValueError, match="latent has shape"):
        objective(torch.randn(4, 8), torch.randn(4, 8))


# ------------------------------------------------------------------ images by resampling


@pytest.mark.parametrize("gspace", [gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4), gspaces.flipRot2dOnR2(2),
                                    gspaces.rot2dOnR2(2)], ids=str)
def test_resampling_equals_the_grid_permutation(gspace):
    exact = field_action(enn.FieldType(gspace, [gspace.trivial_repr] * 2))
    act = resampled_action(gspace)
    g = torch.arange(act.group.order)
    x = torch.rand(act.group.order, 2, 11, 11, dtype=torch.float64)
    torch.testing.assert_close(act(x, g), exact(x, g))


def test_d3_matches_escnn_interpolation():
    gspace = gspaces.flipRot2dOnR2(3)
    act = resampled_action(gspace)
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    blob = torch.exp(-((rows - 10) ** 2 + (cols - 17) ** 2) / 10)[None, None].double()
    for i, e in enumerate(act.group.elements):
        ours = act(blob, torch.tensor([i]))[0, 0].numpy()
        theirs = gspace._interpolate_transform_basespace(blob[0, 0].numpy(), e, order=1)
        np.testing.assert_allclose(ours, theirs, atol=2e-3)


def test_d3_is_approximately_an_action():
    act = resampled_action(gspaces.flipRot2dOnR2(3))
    T = act.group
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    x = torch.exp(-((rows - 12) ** 2 + (cols - 16) ** 2) / 18)[None, None].expand(T.order, 1, 28, 28)
    for h in range(T.order):
        g = torch.arange(T.order)
        hh = torch.full_like(g, h)
        composed = act(act(x, hh), g)
        direct = act(x, T.mul[g, hh])
        assert (composed - direct).abs().max() < 0.05


def test_resampling_rejects_bad_input():
    act = resampled_action(gspaces.flipRot2dOnR2(3))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        act(torch.rand(2, 28, 28), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="square"):
        act(torch.rand(2, 1, 28, 20), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="floating point"):
        act(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1]))
    with pytest.raises(IndexError, match="out of range"):
        act(torch.rand(2, 1, 8, 8), torch.tensor([0, 6]))
    with pytest.raises(ValueError, match="2-D gspace"):
        resampled_action(gspaces.octaOnR3())
    with pytest.raises(TypeError, match="gspace"):
        resampled_action(dihedral_group(3))


def test_docstring_examples():
    result = doctest.testmod(study, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


# ------------------------------------------------------------------ the exploration example, in miniature


@pytest.mark.parametrize("experiment", ["d3-autoencoder", "c2-typefaces", "c4-classifier"])
def test_exploration_example_runs_resumes_and_reports(experiment, tmp_path, monkeypatch, capsys):
    import importlib.util
    import json
    import sys
    from pathlib import Path

    monkeypatch.setenv("ESCNN_SOFT_CACHE", str(tmp_path / "cache"))
    path = Path(__file__).resolve().parents[2] / "examples" / "exploration.py"
    spec = importlib.util.spec_from_file_location("exploration_example", path)
    example = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, example)      # dataclasses look their module up there
    spec.loader.exec_module(example)
    out = tmp_path / "out"
    args = [experiment, "--out", str(out), "--seeds", "0", "--epochs", "1", "--n-train", "64", "--n-test", "32"]
    example.main(args)
    record = json.loads((out / "run_0.json").read_text())
    assert record["config"]["steps"] == 1 and record["latent_dim"] == example.EXPERIMENTS[experiment].dim
    irreps = record["decomposition"]["irreps"]
    assert len(irreps) == {"d3-autoencoder": 3, "c2-typefaces": 2, "c4-classifier": 3}[experiment]
    assert set(record["test"]) >= {"equivariance_mse", "equivariance_relative"}
    table = (out / "table.md").read_text()
    assert "## Control" in table and table.count("| seed 0 |") >= 3      # trained, control, initial
    assert (out / "eigenvalues.png").read_bytes()[:4] == b"\x89PNG"
    example.main(args)                                                       # resumes: the run is skipped
    assert "exists, skipped" in capsys.readouterr().out
