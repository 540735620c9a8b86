import pytest
import torch
from escnn import gspaces, group
from escnn import nn as enn
from torch import nn

from escnn_soft import equivariance_error, field_action, group_table, regular_latent
from test_loss import SCALAR, R4, StrictEncoder, plain_encoder


def test_strict_encoder_into_latent_is_equivariant():
    enc = StrictEncoder().eval()
    err = equivariance_error(enc, torch.randn(6, 1, 15, 15), field_action(SCALAR), regular_latent(R4.fibergroup, 16))
    assert err.shape == (4,)
    assert err[0] == 0 and err.max() < 1e-5


def test_escnn_module_directly():
    hidden = enn.FieldType(R4, [R4.regular_repr] * 2)
    conv = enn.R2Conv(SCALAR, hidden, 5, padding=2).eval()
    err = equivariance_error(conv, torch.randn(3, 1, 11, 11), field_action(SCALAR), field_action(hidden))
    assert err.max() < 1e-5


def test_plain_cnn_error_and_definition():
    enc = plain_encoder().eval()
    x = torch.randn(5, 1, 15, 15)
    act, lat = field_action(SCALAR), regular_latent(R4.fibergroup, 16)
    err = equivariance_error(enc, x, act, lat, elements=[1, 2])
    assert err.shape == (2,) and (err > 1e-3).all()
    g = torch.full((5,), 2)
    expected = ((enc(act(x, g)) - lat(enc(x), g)).norm(dim=1) / enc(x).norm(dim=1)).mean()
    torch.testing.assert_close(err[1], expected.detach())


def test_invariance_of_outputs():
    enc, head = StrictEncoder().eval(), nn.Linear(4, 3)
    model = lambda x: head(enc(x).reshape(-1, 4, 4).mean(-1))  # pool each regular copy: invariant
    err = equivariance_error(model, torch.randn(4, 1, 15, 15), field_action(SCALAR))
    assert err.max() < 1e-5
    f = lambda x: x.flatten(1)[:, :3]
    err = equivariance_error(f, torch.randn(4, 1, 5, 5), lambda x, g: x.flip(-1), group=group_table(R4.fibergroup))
    assert err[0] > 0.1


def test_bad_inputs():
    act = field_action(SCALAR)
    x = torch.randn(2, 1, 5, 5)
    with pytest.raises(ValueError, match="group="):
        equivariance_error(lambda x: x, x, lambda x, g: x)
    with pytest.raises(ValueError, match="different groups"):
        equivariance_error(lambda x: x, x, act, regular_latent(group.cyclic_group(2), 2))
    with pytest.raises(IndexError, match="0..3"):
        equivariance_error(lambda x: x, x, act, elements=[4])
    with pytest.raises(ValueError, match="non-empty"):
        equivariance_error(lambda x: x, x[:0], act)


def test_plain_module_with_in_type_attribute_is_not_wrapped():
    class Wrapped(nn.Module):
        in_type = SCALAR  # a plain-tensor model that exposes its escnn input type

        def forward(self, x):
            assert isinstance(x, torch.Tensor)
            return 2 * x

    err = equivariance_error(Wrapped(), torch.randn(2, 1, 5, 5), field_action(SCALAR), field_action(SCALAR))
    assert err.shape == (4,) and err.max() < 1e-6
