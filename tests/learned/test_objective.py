import pytest
import torch
from escnn.group import cyclic_group, dihedral_group
from torch import nn

from escnn_soft import SoftEquivarianceLoss, regular_latent
from escnn_soft.learned import LearnedRepresentation
from escnn_soft.learned.objective import StudyLoss, StudyObjective, study_objective



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
    optimizer = torch.optim.Adam(objective.parameters(), lr=1e-2)
    first = objective(x, x).terms()
    for epoch in range(25):
        for xb, yb in _batches(x)():
            out = objective(xb, yb)
            optimizer.zero_grad()
            out.total.backward()
            optimizer.step()
    last = objective(x, x).terms()
    assert last["total"] < 0.5 * first["total"]
    assert last["task"] < first["task"]
    assert last["algebra"] < 0.1 * first["algebra"]


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
