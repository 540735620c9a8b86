import copy

import pytest
import torch
from escnn import gspaces, group
from escnn import nn as enn
from torch import nn

from escnn_soft import SoftEquivarianceLoss, equivariance_error, field_action, regular_latent, trivial_action
from conftest import cuda_devices

R4 = gspaces.rot2dOnR2(4)
SCALAR = enn.FieldType(R4, [R4.trivial_repr])


class StrictEncoder(nn.Module):
    r"""An exactly C4-equivariant escnn encoder: R2Conv layers into regular fields, then global pooling."""

    def __init__(self, copies=4):
        super().__init__()
        hidden = enn.FieldType(R4, [R4.regular_repr] * copies)
        self.net = enn.SequentialModule(
            enn.R2Conv(SCALAR, hidden, 5, padding=2), enn.ReLU(hidden),
            enn.R2Conv(hidden, hidden, 3, padding=1), enn.ReLU(hidden),
        )

    def forward(self, x):
        return self.net(enn.GeometricTensor(x, SCALAR)).tensor.mean(dim=(2, 3))


def plain_encoder(width=16):
    return nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.Conv2d(8, width, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def make_loss(encoder, head=None, **kw):
    kw.setdefault("lam", 1.0)
    return SoftEquivarianceLoss(encoder, head or nn.Linear(16, 10), in_action=field_action(SCALAR),
                                latent=regular_latent(R4.fibergroup, 16), task_loss=nn.CrossEntropyLoss(), **kw)


def batch(n=8, size=15):
    return torch.randn(n, 1, size, size), torch.randint(10, (n,))


def test_strict_escnn_network_has_zero_equivariance_term():
    loss_fn = make_loss(StrictEncoder().eval())
    x, y = batch()
    for _ in range(3):
        assert loss_fn(x, y).equivariance.item() < 1e-5


def test_random_plain_cnn_has_positive_equivariance_term():
    loss_fn = make_loss(plain_encoder())
    x, y = batch()
    out = loss_fn(x, y)
    assert out.equivariance.item() > 1e-3
    assert out.total.item() == pytest.approx(out.task.item() + out.shifted.item() + out.equivariance.item(), rel=1e-5)


def test_gradients_reach_encoder_and_head():
    loss_fn = make_loss(plain_encoder(), lam=2.0)
    x, y = batch()
    loss_fn(x, y).total.backward()
    for name, p in loss_fn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_adds_no_parameters():
    enc, head = plain_encoder(), nn.Linear(16, 10)
    n = sum(p.numel() for p in list(enc.parameters()) + list(head.parameters()))
    assert sum(p.numel() for p in make_loss(enc, head).parameters()) == n


def test_plain_training_when_weights_are_zero():
    torch.manual_seed(1)
    enc, head = plain_encoder(), nn.Linear(16, 10)
    enc2, head2 = copy.deepcopy(enc), copy.deepcopy(head)
    loss_fn = make_loss(enc, head, lam=0.0, shifted_weight=0.0)
    opt = torch.optim.SGD(loss_fn.parameters(), lr=0.1)
    opt2 = torch.optim.SGD(list(enc2.parameters()) + list(head2.parameters()), lr=0.1)
    for _ in range(3):
        x, y = batch()
        out = loss_fn(x, y)
        plain = nn.functional.cross_entropy(head2(enc2(x)), y)
        assert torch.equal(out.total, plain)
        assert out.shifted.item() == 0 and out.equivariance.item() == 0
        opt.zero_grad(), opt2.zero_grad()
        out.total.backward(), plain.backward()
        opt.step(), opt2.step()
    for p, q in zip(loss_fn.parameters(), list(enc2.parameters()) + list(head2.parameters())):
        assert torch.equal(p, q)


def test_terms_match_their_definition():
    enc, head = plain_encoder().eval(), nn.Linear(16, 10)
    loss_fn = make_loss(enc, head, lam=0.5, shifted_weight=2.0)
    lat, act = loss_fn.latent, loss_fn.in_action
    x, y = batch()
    g = torch.randint(4, (8,))
    out = loss_fn(x, y, g=g)
    z = enc(x)
    ce = nn.functional.cross_entropy
    torch.testing.assert_close(out.task, ce(head(z), y))
    torch.testing.assert_close(out.shifted, ce(head(lat(z, g)), y))
    torch.testing.assert_close(out.equivariance, nn.functional.mse_loss(enc(act(x, g)), lat(z, g)))
    torch.testing.assert_close(out.total, out.task + 2.0 * out.shifted + 0.5 * out.equivariance)
    assert torch.equal(out.g, g)
    torch.testing.assert_close(out.output, head(z))


def test_from_layer_equals_encoder_head_split():
    enc, head = plain_encoder().eval(), nn.Linear(16, 10)
    model = nn.Sequential(enc, head)
    split = make_loss(enc, head, lam=1.5)
    hooked = SoftEquivarianceLoss.from_layer(model, "0", in_action=field_action(SCALAR),
                                             latent=regular_latent(R4.fibergroup, 16),
                                             task_loss=nn.CrossEntropyLoss(), lam=1.5)
    x, y = batch()
    for lam, w in [(1.5, 1.0), (0.0, 1.0), (1.5, 0.0), (0.0, 0.0)]:
        split.lam = hooked.lam = lam
        split.shifted_weight = hooked.shifted_weight = w
        g = torch.randint(4, (8,))
        a, b = split(x, y, g=g), hooked(x, y, g=g)
        for name in ("total", "task", "shifted", "equivariance", "output", "latent"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name))
    assert not model[0]._forward_hooks
    assert sum(p.numel() for p in hooked.parameters()) == sum(p.numel() for p in model.parameters())


def test_equivariant_targets_and_user_callable_actions():
    r"""Regression with equivariant targets: the head must map rho_Z(g) z to rho_Y(g) y."""
    lat = regular_latent(R4.fibergroup, 8)
    loss_fn = SoftEquivarianceLoss(
        nn.Sequential(nn.Flatten(), nn.Linear(9, 8)), nn.Identity(),
        in_action=lambda x, g: field_action(SCALAR)(x, g), latent=lat, out_action=lat,
        task_loss=nn.MSELoss(), lam=1.0)
    x = torch.randn(4, 1, 3, 3)
    y = torch.randn(4, 8)
    g = torch.tensor([1, 2, 3, 0])
    out = loss_fn(x, y, g=g)
    torch.testing.assert_close(out.shifted, nn.functional.mse_loss(lat(out.latent, g), lat(y, g)))


@pytest.mark.parametrize("device", ["cpu"] + cuda_devices())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_device(device, dtype):
    loss_fn = make_loss(plain_encoder()).to(device=device, dtype=dtype)
    x, y = batch()
    out = loss_fn(x.to(device, dtype), y.to(device))
    for t in (out.total, out.task, out.shifted, out.equivariance, out.output, out.latent):
        assert t.dtype == dtype and t.device.type == device
    assert out.g.device.type == device
    out.total.backward()


def test_bad_inputs():
    x, y = batch()
    with pytest.raises(ValueError, match="latent has shape"):
        make_loss(plain_encoder(width=12), nn.Linear(12, 10))(x, y)
    head_calls = []
    head = nn.Linear(12, 10)
    head.register_forward_hook(lambda *args: head_calls.append(1))
    with pytest.raises(ValueError, match="latent has shape"):  # the hooked latent, before the head runs
        SoftEquivarianceLoss.from_layer(nn.Sequential(plain_encoder(width=12), head), "0",
                                        in_action=field_action(SCALAR), latent=regular_latent(R4.fibergroup, 16),
                                        task_loss=nn.CrossEntropyLoss())(x, y)
    assert not head_calls
    with pytest.raises(ValueError, match="same group"):
        SoftEquivarianceLoss(plain_encoder(), nn.Linear(16, 10), in_action=field_action(SCALAR),
                             latent=regular_latent(group.dihedral_group(4), 16), task_loss=nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="out_action acts with"):
        SoftEquivarianceLoss(plain_encoder(), nn.Linear(16, 10), in_action=field_action(SCALAR),
                             latent=regular_latent(R4.fibergroup, 16), out_action=trivial_action(group.cyclic_group(2)),
                             task_loss=nn.CrossEntropyLoss())
    with pytest.raises(TypeError, match="GroupAction"):
        SoftEquivarianceLoss(plain_encoder(), nn.Linear(16, 10), in_action=field_action(SCALAR),
                             latent=torch.eye(16), task_loss=nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="lam must be"):
        make_loss(plain_encoder(), lam=-1.0)
    with pytest.raises(ValueError, match="but y has shape"):
        make_loss(plain_encoder())(x, y[:3])
    with pytest.raises(ValueError, match="batch has 8"):
        make_loss(plain_encoder())(x, y, g=torch.tensor([0, 1]))
    with pytest.raises(IndexError, match="out of range"):
        make_loss(plain_encoder())(x, y, g=torch.full((8,), 4))
    with pytest.raises(ValueError, match="no layer named 'encoder'"):
        SoftEquivarianceLoss.from_layer(nn.Sequential(plain_encoder()), "encoder", in_action=field_action(SCALAR),
                                        latent=regular_latent(R4.fibergroup, 16), task_loss=nn.CrossEntropyLoss())


class _StrictFieldEncoder(nn.Module):
    r"""One escnn convolution from a scalar field to regular fields: an exactly equivariant feature map."""

    def __init__(self, scalar, hidden, three_d):
        super().__init__()
        self.scalar = scalar
        self.conv = (enn.R3Conv if three_d else enn.R2Conv)(scalar, hidden, 3, padding=1)

    def forward(self, x):
        return self.conv(enn.GeometricTensor(x, self.scalar)).tensor


class _GridPooling(nn.Module):
    def forward(self, z):
        return z.flatten(2).mean(-1)


@pytest.mark.parametrize("gspace_factory, grid", [(lambda: gspaces.rot2dOnR2(4), (9, 9)),
                                                  (lambda: gspaces.flipRot2dOnR2(4), (9, 9)),
                                                  (gspaces.octaOnR3, (5, 5, 5))], ids=["C4", "D4", "octa"])
def test_feature_map_latent_from_a_field_type(gspace_factory, grid):
    r"""A C×H×W (or C×D×H×W) latent whose action is an escnn FieldType: the grid moves and the fibres permute."""
    gspace = gspace_factory()
    scalar = enn.FieldType(gspace, [gspace.trivial_repr])
    hidden = enn.FieldType(gspace, [gspace.regular_repr] * 2)
    in_action, latent = field_action(scalar), field_action(hidden)
    x, y = torch.randn(3, 1, *grid), torch.randn(3, hidden.size)

    strict = SoftEquivarianceLoss(_StrictFieldEncoder(scalar, hidden, len(grid) == 3).eval(), _GridPooling(),
                                  in_action=in_action, latent=latent, task_loss=nn.MSELoss(), lam=1.0)
    assert strict(x, y).equivariance.item() < 1e-10

    plain = (nn.Conv3d if len(grid) == 3 else nn.Conv2d)(1, hidden.size, 3, padding=1)
    soft = SoftEquivarianceLoss(plain, _GridPooling(), in_action=in_action, latent=latent,
                                task_loss=nn.MSELoss(), lam=1.0)
    out = soft(x, y)
    assert out.equivariance.item() > 1e-3
    out.total.backward()
    assert plain.weight.grad.abs().sum() > 0
