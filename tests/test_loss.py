import copy
import warnings

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


# --- from_layer: one encoder-head path, cut points ---------------------------------------------------------------


def _layer_loss(model, layer, **kw):
    kw.setdefault("lam", 1.0)
    return SoftEquivarianceLoss.from_layer(model, layer, in_action=field_action(SCALAR),
                                           latent=regular_latent(R4.fibergroup, 16), task_loss=nn.CrossEntropyLoss(),
                                           **kw)


def _batchnorm_dropout_model():
    encoder = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.3),
                            nn.Conv2d(8, 16, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return nn.Sequential(encoder, nn.Sequential(nn.BatchNorm1d(16), nn.Dropout(0.3), nn.Linear(16, 10)))


@pytest.mark.parametrize("lam, w", [(1.0, 1.0), (1.0, 0.0), (0.0, 1.0)])
def test_from_layer_equals_explicit_split_in_training_mode(lam, w):
    r"""With BatchNorm and dropout in training mode, the hooked split gives the very losses, gradients and
    running statistics of the explicit encoder-head pair: the same passes run, with the same random numbers."""
    torch.manual_seed(0)
    model = _batchnorm_dropout_model()
    twin = copy.deepcopy(model)
    hooked = _layer_loss(model, "0", lam=lam, shifted_weight=w)
    split = make_loss(twin[0], twin[1], lam=lam, shifted_weight=w)
    for step in range(2):
        x, y = batch()
        torch.manual_seed(step)
        a = hooked(x, y)
        torch.manual_seed(step)
        b = split(x, y)
        for name in ("total", "task", "shifted", "equivariance", "output", "latent", "g"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
        a.total.backward(), b.total.backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        assert torch.equal(p.grad, q.grad), name
    for (name, s), t in zip(model.state_dict().items(), twin.state_dict().values()):
        assert torch.equal(s, t), name
    assert all(m.training for m in model.modules())


def test_from_layer_holds_the_model_parameters_once():
    model = _batchnorm_dropout_model()
    loss_fn = _layer_loss(model, "0.4")
    assert loss_fn.latent_layer == "0.4"
    assert [id(p) for p in loss_fn.parameters()] == [id(p) for p in model.parameters()]
    assert make_loss(plain_encoder()).latent_layer is None


def test_layer_encoder_stops_at_the_layer():
    model = _batchnorm_dropout_model().eval()
    after = []
    model[1].register_forward_hook(lambda *args: after.append(1))
    loss_fn = _layer_loss(model, "0")
    x, _ = batch()
    with pytest.raises(RuntimeError, match="call its encoder on a batch first"):
        loss_fn.head(torch.randn(8, 16))
    z = loss_fn.encoder(x)
    assert not after
    torch.testing.assert_close(z, model[0](x))
    torch.testing.assert_close(loss_fn.head(z), model(x))


class _Shortcut(nn.Module):
    r"""``head(h + block(h))`` with ``h = stem(x)``, or (``around_all``) ``head(block(stem(x))) + shortcut(x)``."""

    def __init__(self, around_all=False):
        super().__init__()
        self.around_all = around_all
        self.stem, self.block, self.head = plain_encoder(), nn.Linear(16, 16), nn.Linear(16, 10)
        self.shortcut = nn.Sequential(nn.Flatten(), nn.Linear(15 * 15, 10)) if around_all else None

    def forward(self, x):
        h = self.stem(x)
        if self.around_all:
            return self.head(self.block(h)) + self.shortcut(x)
        return self.head(h + self.block(h))


@pytest.mark.parametrize("around_all", [False, True], ids=["residual", "input-shortcut"])
def test_from_layer_rejects_a_skip_connection_around_the_layer(around_all):
    x, y = batch()
    loss_fn = _layer_loss(_Shortcut(around_all), "block")
    with pytest.raises(ValueError, match="'block' is not a cut point.*explicit encoder and head"):
        loss_fn(x, y)
    assert not loss_fn.encoder.model.block._forward_hooks


class _ResidualHead(nn.Module):
    r"""The part of :class:`_Shortcut` after ``stem``: ``head(h + block(h))``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, h):
        return self.model.head(h + self.model.block(h))


class _ResidualBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(16, 16)

    def forward(self, h):
        return h + self.linear(h)


def test_from_layer_accepts_a_cut_point_with_skip_connections_elsewhere():
    r"""The residual sum after ``stem`` does not bypass ``stem``; a skip connection inside the layer is fine."""
    x, y = batch()
    g = torch.randint(4, (8,))
    shortcut = _Shortcut().eval()
    inside = nn.Sequential(nn.Sequential(plain_encoder(), _ResidualBlock()), nn.Linear(16, 10)).eval()
    for model, layer, encoder, head in [(shortcut, "stem", shortcut.stem, _ResidualHead(shortcut)),
                                        (inside, "0", inside[0], inside[1])]:
        a = _layer_loss(model, layer)(x, y, g=g)
        b = make_loss(encoder, head)(x, y, g=g)
        for name in ("total", "task", "shifted", "equivariance", "output"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name))


class _Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.block, self.head, self.unused = plain_encoder(), nn.Linear(16, 16), nn.Linear(16, 10), nn.Linear(1, 1)

    def forward(self, x):
        return self.head(self.block(self.block(self.stem(x))))


def test_from_layer_rejects_a_layer_called_twice_or_never():
    x, y = batch()
    with pytest.raises(ValueError, match="'block' is called more than once.*explicit encoder and head"):
        _layer_loss(_Twice(), "block")(x, y)
    with pytest.raises(RuntimeError, match="'unused' was not called"):
        _layer_loss(_Twice(), "unused")(x, y)
    with pytest.raises(ValueError, match="no layer named 'blocks'; its layers are"):
        _layer_loss(_Twice(), "blocks")


# --- the weights -------------------------------------------------------------------------------------------------

BAD_WEIGHTS = [(-5, ValueError), (float("nan"), ValueError), (float("inf"), ValueError), (True, TypeError),
               ("1", TypeError), (None, TypeError), (torch.tensor([0.5]), ValueError), (torch.tensor(-1.0), ValueError),
               (torch.tensor(float("nan")), ValueError), (torch.tensor(True), TypeError)]


WEIGHTS = ["lam", "shifted_weight", "task_weight", "input_task_weight"]


@pytest.mark.parametrize("name", WEIGHTS)
@pytest.mark.parametrize("value, error", BAD_WEIGHTS, ids=[repr(v) for v, _ in BAD_WEIGHTS])
def test_bad_weights_are_rejected_on_construction(name, value, error):
    with pytest.raises(error, match=f"{name} must be a finite number >= 0"):
        make_loss(plain_encoder(), **{name: value})


@pytest.mark.parametrize("name", WEIGHTS)
@pytest.mark.parametrize("value, error", BAD_WEIGHTS, ids=[repr(v) for v, _ in BAD_WEIGHTS])
def test_bad_weights_are_rejected_on_assignment(name, value, error):
    r"""``loss_fn.lam = -5`` after construction (e.g. a schedule gone wrong) raises and keeps the old weight."""
    loss_fn = make_loss(plain_encoder())
    before = getattr(loss_fn, name)
    with pytest.raises(error, match=f"{name} must be a finite number >= 0"):
        setattr(loss_fn, name, value)
    assert getattr(loss_fn, name) == before


def test_weights_may_be_numbers_or_scalar_tensors():
    scheduled = make_loss(plain_encoder(), lam=torch.tensor(0.25), shifted_weight=torch.tensor(0.0))
    assert torch.equal(scheduled.lam, torch.tensor(0.25)) and scheduled.shifted_weight == 0
    loss_fn = make_loss(plain_encoder().eval())
    x, y = batch()
    g = torch.randint(4, (8,))
    loss_fn.lam, loss_fn.shifted_weight = torch.tensor(0.5), 2
    out = loss_fn(x, y, g=g)
    torch.testing.assert_close(out.total, out.task + 2 * out.shifted + 0.5 * out.equivariance)
    assert out.equivariance > 0
    loss_fn.lam = torch.tensor(0.0)  # a tensor weight is never branched on: the term is computed, weighted by 0
    out = loss_fn(x, y, g=g)
    assert out.equivariance > 0
    torch.testing.assert_close(out.total, out.task + 2 * out.shifted)
    loss_fn.lam = 0.0                  # the number 0 skips the term
    assert loss_fn(x, y, g=g).equivariance.item() == 0


def test_transformed_input_task_term_by_hand():
    r"""With the plain and transformed-input task terms weighted 0.5 each, the shifted term off and
    :math:`\lambda = 2` (the paper's MedMNIST3D loss), the total is
    :math:`0.5\,\ell(D(E(x)), y) + 0.5\,\ell(D(E(\rho_X(g) x)), y) + 2\,\mathrm{MSE}(E(\rho_X(g) x), \rho_Z(g) E(x))`."""
    torch.manual_seed(0)
    encoder, head = plain_encoder().double().eval(), nn.Linear(16, 10).double()
    loss_fn = make_loss(encoder, head, lam=2.0, shifted_weight=0.0, task_weight=0.5, input_task_weight=0.5)
    x, y = batch()
    x, g = x.double(), torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    out = loss_fn(x, y, g=g)
    x_g = torch.stack([torch.rot90(x[b], int(g[b]), dims=(-2, -1)) for b in range(len(g))])
    z, z_g = encoder(x), encoder(x_g)
    rz = loss_fn.latent(z, g)
    ce = nn.functional.cross_entropy
    torch.testing.assert_close(out.input_task, ce(head(z_g), y))
    torch.testing.assert_close(out.total, 0.5 * ce(head(z), y) + 0.5 * ce(head(z_g), y)
                               + 2 * ((z_g - rz) ** 2).mean())
    assert out.shifted.item() == 0
    # the transformed-input term alone still runs the second pass
    alone = make_loss(encoder, head, lam=0.0, shifted_weight=0.0, input_task_weight=1.0)(x, y, g=g)
    torch.testing.assert_close(alone.total, ce(head(z), y) + ce(head(z_g), y))
    assert alone.equivariance.item() == 0


# --- feature-map latents whose grid does not move ------------------------------------------------------------------


def _grid_warnings(record):
    return [w for w in record if issubclass(w.category, UserWarning) and "moves grid points" in str(w.message)]


def test_warns_once_when_the_latent_grid_stays_put():
    r"""A strictly equivariant feature-map encoder measured with a channel-only latent action looks far from
    equivariant (the term is about twice the mean square of the latent, as for unrelated latents of equal norm);
    the same encoder with the field action of its output type scores zero."""
    hidden = enn.FieldType(R4, [R4.regular_repr] * 2)
    encoder = _StrictFieldEncoder(SCALAR, hidden, False).eval()
    x, y = torch.randn(3, 1, 9, 9), torch.randn(3, hidden.size)
    kw = dict(in_action=field_action(SCALAR), task_loss=nn.MSELoss())
    channels_only = SoftEquivarianceLoss(encoder, _GridPooling(), latent=regular_latent(R4.fibergroup, 8), **kw)
    fitting = SoftEquivarianceLoss(encoder, _GridPooling(), latent=field_action(hidden), **kw)
    g = torch.tensor([1, 2, 3])
    with pytest.warns(UserWarning, match=r"field_action\(FieldType\(gspace, \[G.regular_representation\] \* m\)\)"):
        wrong = channels_only(x, y, g=g)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        channels_only(x, y, g=g)
        right = fitting(x, y, g=g).equivariance
        make_loss(plain_encoder())(*batch())                        # a vector latent
        pooled = nn.Sequential(nn.Conv2d(1, 16, 3), nn.AdaptiveAvgPool2d(1))  # a 1x1 grid cannot move
        make_loss(pooled, nn.Sequential(nn.Flatten(), nn.Linear(16, 10)))(*batch())
    assert not _grid_warnings(record)
    assert right < 1e-10 and wrong.equivariance > wrong.latent.pow(2).mean()


# --- a transformed input from the data pipeline -------------------------------------------------------------------


def test_transformed_input_from_the_pipeline():
    loss_fn = make_loss(plain_encoder().eval())
    x, y = batch()
    g = torch.randint(4, (8,))
    a = loss_fn(x, y, g=g)
    b = loss_fn(x, y, g=g, x_g=loss_fn.in_action(x, g))
    for name in ("total", "task", "shifted", "equivariance", "output", "latent", "g"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name

    def refuse(x, g):
        raise AssertionError("in_action must not run when x_g is given")

    loss_fn.in_action = refuse
    other = torch.randn_like(x)
    torch.testing.assert_close(loss_fn(x, y, g=g, x_g=other).equivariance,
                               nn.functional.mse_loss(loss_fn.encoder(other), loss_fn.latent(a.latent, g)))
    with pytest.raises(ValueError, match="pass them too"):
        loss_fn(x, y, x_g=other)
    with pytest.raises(ValueError, match=r"x_g must be a tensor of the shape of x, \(8, 1, 15, 15\); got \(8, 1, 13, 13\)"):
        loss_fn(x, y, g=g, x_g=other[..., 1:-1, 1:-1])


# --- the relative equivariance term -------------------------------------------------------------------------------


def test_relative_equivariance_term_definition_and_scale_invariance():
    encoder = plain_encoder().eval()
    loss_fn = make_loss(encoder, relative=True)
    absolute = make_loss(encoder)
    x, y = batch()
    g = torch.randint(4, (8,))
    out = loss_fn(x, y, g=g)
    z, z_g = encoder(x), encoder(loss_fn.in_action(x, g))
    diff = (z_g - loss_fn.latent(z, g)).pow(2).sum(1).mean()
    torch.testing.assert_close(out.equivariance, diff / z.pow(2).sum(1).mean())
    before = absolute(x, y, g=g).equivariance
    with torch.no_grad():                      # ReLU and average pooling: the latent scales by 3
        encoder[2].weight.mul_(3.0), encoder[2].bias.mul_(3.0)
    torch.testing.assert_close(loss_fn(x, y, g=g).equivariance, out.equivariance)
    torch.testing.assert_close(absolute(x, y, g=g).equivariance, 9 * before)
    assert make_loss(StrictEncoder().eval(), relative=True)(x, y).equivariance < 1e-10
    with pytest.raises(TypeError, match="relative must be True or False"):
        make_loss(encoder, relative=1)


# --- heads that change their input in place ------------------------------------------------------------------------


def _signed_encoder():
    r"""A plain encoder whose latent has negative entries (a linear layer last), which an in-place ReLU would change."""
    return nn.Sequential(plain_encoder(), nn.Linear(16, 16))


def _in_place_pair(mode, in_place):
    r"""``(loss, reference)``-ready pieces of one network: an encoder and a head that starts with a ReLU, as an
    explicit pair or as one model cut by ``from_layer``."""
    torch.manual_seed(0)
    encoder, head = _signed_encoder().eval(), nn.Sequential(nn.ReLU(inplace=in_place), nn.Linear(16, 10))
    return encoder, head


@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("lam, w, b", [(1.0, 0.0, 0.0), (1.0, 1.0, 0.0), (1.0, 1.0, 0.5), (0.5, 2.0, 0.5)])
@pytest.mark.parametrize("mode", ["explicit", "from_layer"])
def test_a_head_that_starts_in_place_changes_nothing(mode, lam, w, b, relative):
    r"""``nn.ReLU(inplace=True)`` right after the cut gives the very terms, latent and gradients of ``nn.ReLU()``,
    before and after backward, and the equivariance term is the hand-computed one of the encoder's latent."""
    x, y = batch()
    g = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    outs, grads = [], []
    for in_place in (True, False):
        encoder, head = _in_place_pair(mode, in_place)
        kw = dict(lam=lam, shifted_weight=w, input_task_weight=b, relative=relative)
        if mode == "explicit":
            loss_fn = make_loss(encoder, head, **kw)
        else:
            loss_fn = _layer_loss(nn.Sequential(encoder, *head), "0", **kw)
        out = loss_fn(x, y, g=g)
        z = encoder(x)
        assert torch.equal(out.latent, z) and (z < 0).any()
        diff = (encoder(loss_fn.in_action(x, g)) - loss_fn.latent(z, g)).pow(2)
        expected = diff.sum() / z.pow(2).sum() if relative else diff.mean()
        torch.testing.assert_close(out.equivariance, expected, rtol=1e-6, atol=0)
        outs.append(out)
        out.total.backward()
        grads.append([p.grad.clone() for p in loss_fn.parameters()])
    for name in ("total", "task", "shifted", "equivariance", "input_task", "output", "latent"):
        assert torch.equal(getattr(outs[0], name), getattr(outs[1], name)), name
    for p, q in zip(*grads):
        assert torch.equal(p, q)


# --- tensor weights, checked at every eager call -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-5.0, float("nan"), float("inf")])
@pytest.mark.parametrize("name", WEIGHTS)
def test_tensor_weights_changed_in_place_are_checked_again(name, bad):
    loss_fn = make_loss(plain_encoder(), **{name: torch.tensor(1.0)})
    x, y = batch()
    getattr(loss_fn, name).fill_(bad)
    with pytest.raises(ValueError, match=f"{name} must be a finite number >= 0.*changed in place.*loss_fn.{name} ="):
        loss_fn(x, y)
    setattr(loss_fn, name, torch.tensor(0.5))  # a valid value again
    loss_fn(x, y)


def test_in_place_changes_of_a_valid_tensor_weight_take_effect():
    loss_fn = make_loss(plain_encoder().eval())
    x, y = batch()
    g = torch.randint(4, (8,))
    lam = torch.tensor(1.0)
    loss_fn.lam = lam
    lam.fill_(0.25)                   # the tensor that was assigned: the loss holds it, not a copy
    out = loss_fn(x, y, g=g)
    torch.testing.assert_close(out.total, out.task + out.shifted + 0.25 * out.equivariance)
    lam.fill_(-1.0)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        loss_fn(x, y, g=g)


def test_trainable_weights_are_refused():
    r"""A weight that requires a gradient would be pushed below zero by an optimiser: refused when it is
    assigned, and at the next call if it starts requiring one later."""
    with pytest.raises(ValueError, match="lam must be .* requires no gradient.*lam.detach"):
        make_loss(plain_encoder(), lam=torch.tensor(1.0, requires_grad=True))
    loss_fn = make_loss(plain_encoder(), lam=torch.tensor(1.0))
    with pytest.raises(ValueError, match="shifted_weight must be .* requires no gradient"):
        loss_fn.shifted_weight = torch.tensor(1.0, requires_grad=True)
    loss_fn.lam.requires_grad_()
    with pytest.raises(ValueError, match="requires no gradient"):
        loss_fn(*batch())


# --- clear errors for inputs the loss cannot take ------------------------------------------------------------------


def test_an_empty_batch_is_refused():
    with pytest.raises(ValueError, match=r"x is an empty batch \(0 samples\).*drop_last=True"):
        make_loss(plain_encoder())(torch.randn(0, 1, 15, 15), torch.randint(10, (0,)))


class _TupleEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = plain_encoder()

    def forward(self, x):
        z = self.net(x)
        return z, z.mean()


def test_an_encoder_that_returns_a_tuple_is_refused():
    with pytest.raises(TypeError, match=r"the encoder returned a tuple.*one tensor \(B, 16, \.\.\.\).*encoder\(x\)\[0\]"):
        make_loss(_TupleEncoder())(*batch())


def test_escnn_modules_and_geometric_tensors():
    r"""An escnn ``EquivariantModule`` encoder takes the plain batch wrapped in its input type and returns a
    ``GeometricTensor``: the loss equals that of the same network behind a plain wrapper, for a plain or a
    ``GeometricTensor`` input."""
    hidden = enn.FieldType(R4, [R4.regular_repr] * 4)
    escnn_encoder = enn.SequentialModule(enn.R2Conv(SCALAR, hidden, 5, padding=2), enn.ReLU(hidden),
                                         enn.PointwiseAdaptiveAvgPool2D(hidden, 1)).eval()

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = escnn_encoder

        def forward(self, x):
            return self.net(enn.GeometricTensor(x, SCALAR)).tensor

    head = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))
    x, y = batch()
    g = torch.randint(4, (8,))
    wrapped = make_loss(Wrapped(), head)(x, y, g=g)
    for loss_input in (x, enn.GeometricTensor(x, SCALAR)):
        out = make_loss(escnn_encoder, head)(loss_input, y, g=g)
        for name in ("total", "task", "shifted", "equivariance", "latent"):
            assert torch.equal(getattr(out, name), getattr(wrapped, name)), name
    assert out.equivariance < 1e-10
    with pytest.raises(ValueError, match="x has field type .* but the encoder takes"):
        make_loss(escnn_encoder, head)(enn.GeometricTensor(torch.randn(8, 16, 15, 15), hidden), y)


# --- pair_fraction: the second pass on a subset ----------------------------------------------------------------------


def _rows_seen(module):
    r"""The batch sizes ``module`` is called with, in order."""
    rows = []
    module.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    return rows


@pytest.mark.parametrize("relative", [False, True])
def test_pair_fraction_one_is_the_full_loss_and_draws_no_random_numbers(relative):
    r"""The default ``pair_fraction=1`` computes every term with the very operations of the full two-pass loss,
    bit for bit, and leaves torch's random number stream (and a given generator's) where it was."""
    encoder, head = _signed_encoder().eval(), nn.Linear(16, 10)
    loss_fn = make_loss(encoder, head, lam=0.5, shifted_weight=2.0, input_task_weight=0.3, relative=relative,
                        pair_fraction=1)
    x, y = batch(10)
    g = torch.randint(4, (10,))
    generator = torch.Generator().manual_seed(3)
    state, generator_state = torch.get_rng_state(), generator.get_state()
    out = loss_fn(x, y, g=g, generator=generator)
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(generator.get_state(), generator_state)
    assert out.pairs is None
    ce = nn.functional.cross_entropy
    z = encoder(x)
    rz = loss_fn.latent(z, g)
    z_g = encoder(loss_fn.in_action(x, g))
    equivariance = ((z_g - rz).pow(2).sum() / z.pow(2).sum().clamp_min(torch.finfo(z.dtype).tiny) if relative
                    else nn.functional.mse_loss(z_g, rz))
    task, shifted, input_task = ce(head(z), y), ce(head(rz), y), ce(head(z_g), y)
    assert torch.equal(out.total, 1.0 * task + 0.3 * input_task + 2.0 * shifted + 0.5 * equivariance)
    for name, value in (("task", task), ("shifted", shifted), ("input_task", input_task), ("equivariance", equivariance)):
        assert torch.equal(getattr(out, name), value), name


@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("beta, k", [(0.5, 5), (0.25, 3), (0.1, 1)])
def test_pair_fraction_runs_the_second_pass_on_a_subset(beta, k, relative):
    encoder, head = _signed_encoder().eval(), nn.Linear(16, 10)
    rows = _rows_seen(encoder)
    loss_fn = make_loss(encoder, head, lam=0.5, shifted_weight=2.0, input_task_weight=0.3, relative=relative,
                        pair_fraction=beta)
    x, y = batch(10)
    g = torch.randint(4, (10,))
    out = loss_fn(x, y, g=g, generator=torch.Generator().manual_seed(0))
    assert rows == [10, k]                                   # the plain pass on B samples, the second on ceil(beta B)
    p = out.pairs
    assert p.shape == (k,) and len(set(p.tolist())) == k and 0 <= p.min() and p.max() < 10
    rows.clear()
    ce = nn.functional.cross_entropy
    z = encoder(x)
    rz = loss_fn.latent(z, g)
    z_g = encoder(loss_fn.in_action(x[p], g[p]))
    diff = (z_g - rz[p]).pow(2)
    torch.testing.assert_close(out.equivariance, diff.sum() / z[p].pow(2).sum() if relative else diff.mean())
    torch.testing.assert_close(out.input_task, ce(head(z_g), y[p]))
    torch.testing.assert_close(out.shifted, ce(head(rz), y))              # all B samples: no encoder pass needed
    torch.testing.assert_close(out.task, ce(head(z), y))
    torch.testing.assert_close(out.total, out.task + 0.3 * out.input_task + 2.0 * out.shifted + 0.5 * out.equivariance)


def test_pair_fraction_gradients_reach_the_encoder_and_the_generator_fixes_the_subset():
    encoder = _signed_encoder()
    loss_fn = make_loss(encoder, lam=1.0, shifted_weight=0.0, task_weight=0.0, pair_fraction=0.25)
    x, y = batch(16)
    state = torch.get_rng_state()
    first = loss_fn(x, y, generator=torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state)                # g and the subset came from the generator
    again = loss_fn(x, y, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first.pairs, again.pairs) and torch.equal(first.g, again.g)
    assert first.total.item() == first.equivariance.item() > 0
    first.total.backward()
    for name, param in encoder.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    with pytest.raises(TypeError, match="generator must be a torch.Generator, got int"):
        loss_fn(x, y, generator=7)


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_fused_equals_unfused_without_batch_statistics(beta):
    torch.manual_seed(0)
    encoder, head = _signed_encoder(), nn.Linear(16, 10)
    rows = _rows_seen(encoder)
    kw = dict(lam=0.5, shifted_weight=1.0, input_task_weight=0.3, pair_fraction=beta)
    unfused, fused = make_loss(encoder, head, **kw), make_loss(encoder, head, fused=True, **kw)
    x, y = batch(10)
    g = torch.randint(4, (10,))
    results = []
    for loss_fn in (unfused, fused):
        encoder.zero_grad(), head.zero_grad()
        out = loss_fn(x, y, g=g, generator=torch.Generator().manual_seed(1))
        out.total.backward()
        results.append((out, [p.grad.clone() for p in loss_fn.parameters()]))
    k = 10 if beta == 1 else 5
    assert rows == [10, k, 10 + k]                            # unfused: two passes; fused: one over both
    (a, grads_a), (b, grads_b) = results
    for name in ("total", "task", "shifted", "equivariance", "input_task", "latent", "pairs"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-6, msg=name)
    for p, q in zip(grads_a, grads_b):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


BAD_FRACTIONS = [(0, ValueError), (0.0, ValueError), (-0.5, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                 (float("inf"), ValueError), ("0.5", TypeError), (True, TypeError), (None, TypeError)]


@pytest.mark.parametrize("value, error", BAD_FRACTIONS, ids=[repr(v) for v, _ in BAD_FRACTIONS])
def test_bad_pair_fractions_are_refused(value, error):
    with pytest.raises(error, match=r"pair_fraction must be a number in \(0, 1\]"):
        make_loss(plain_encoder(), pair_fraction=value)
    loss_fn = make_loss(plain_encoder())
    with pytest.raises(error, match=r"pair_fraction must be a number in \(0, 1\]"):
        loss_fn.pair_fraction = value
    assert loss_fn.pair_fraction == 1.0


def test_fused_needs_an_explicit_pair():
    with pytest.raises(ValueError, match="fused=True needs an explicit encoder and head"):
        _layer_loss(nn.Sequential(plain_encoder(), nn.Linear(16, 10)), "0", fused=True)
    with pytest.raises(TypeError, match="fused must be True or False"):
        make_loss(plain_encoder(), fused=1)


def test_from_layer_with_a_subset():
    r"""A hooked model decodes :math:`\rho_Z(g) z` on the full batch before the second pass changes the
    encoder's last input: the loss equals the explicit split's."""
    enc, head = _signed_encoder().eval(), nn.Linear(16, 10)
    x, y = batch(12)
    g = torch.randint(4, (12,))
    kw = dict(lam=1.0, shifted_weight=1.0, input_task_weight=0.5, pair_fraction=0.5)
    a = make_loss(enc, head, **kw)(x, y, g=g, generator=torch.Generator().manual_seed(2))
    b = _layer_loss(nn.Sequential(enc, head), "0", **kw)(x, y, g=g, generator=torch.Generator().manual_seed(2))
    for name in ("total", "task", "shifted", "equivariance", "input_task", "pairs"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name))
