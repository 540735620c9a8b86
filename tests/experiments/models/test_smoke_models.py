r"""The SMOKE models: sizes, the shared rollout, strict and soft equivariance, gradients, dtypes, errors."""

import pytest
import torch
from conftest import cuda_devices

from escnn_soft.experiments.models import SmokeCNN, SmokeRollout, SmokeSteerableCNN, smoke_cnn, smoke_rpp, smoke_scnn
from escnn_soft.experiments.tasks.smoke import vector_field_action
from escnn_soft.testing import assert_equivariant, equivariance_error


def test_the_reference_sizes():
    # the paper's Table 6: CNN 0.25 M, E2CNN 0.62 M, RPP 4.36 M parameters at h = 92
    assert sum(p.numel() for p in SmokeCNN(92).parameters()) == 247_850
    assert sum(p.numel() for p in SmokeSteerableCNN(92).parameters()) == 622_656
    assert sum(p.numel() for p in SmokeSteerableCNN(92, rpp=True).parameters()) == 4_355_650
    assert SmokeSteerableCNN(23).latent_type.size == 92


def test_the_rollout_feeds_each_prediction_back():
    torch.manual_seed(0)
    rollout = smoke_cnn(8, steps=3).eval()
    x = torch.randn(2, 20, 8, 8)
    with torch.no_grad():
        out = rollout(x)
        y1 = rollout.step(x)
        y2 = rollout.step(torch.cat([x[:, 2:], y1], 1))
        y3 = rollout.step(torch.cat([x[:, 4:], y1, y2], 1))
        assert out.shape == (2, 6, 8, 8)
        torch.testing.assert_close(out, torch.cat([y1, y2, y3], 1), rtol=0, atol=0)
        assert torch.equal(rollout(x, 2), out[:, :4])
        first = torch.zeros(2, 2, 8, 8)
        continued = rollout(x, 2, first=first)
        assert torch.equal(continued[:, :2], first)
        torch.testing.assert_close(continued[:, 2:], rollout.step(torch.cat([x[:, 2:], first], 1)))


@pytest.mark.parametrize("build", [smoke_scnn, smoke_rpp], ids=["e2cnn", "rpp-without-free-filters"])
def test_the_steerable_rollout_is_c4_equivariant(build):
    torch.manual_seed(0)
    net = build(2, steps=3)
    if build is smoke_rpp:
        for module in net.modules():
            if hasattr(module, "unconstrained"):
                torch.nn.init.zeros_(module.unconstrained.weight)
                torch.nn.init.zeros_(module.unconstrained.bias)
    net.eval()
    x = torch.randn(3, 20, 12, 12)
    with torch.no_grad():  # escnn samples its filter bases in float32: exact to float32 rounding
        assert_equivariant(net, x, vector_field_action(10), vector_field_action(3))


def test_the_plain_cnn_and_the_rpp_are_not_equivariant():
    torch.manual_seed(0)
    x = torch.randn(2, 20, 12, 12)
    for net in (smoke_cnn(8, steps=2).eval(), smoke_rpp(2, steps=2).eval()):
        with torch.no_grad():
            errors = equivariance_error(net, x, vector_field_action(10), vector_field_action(2)).relative_mean
        assert errors.max() > 1e-2


@pytest.mark.parametrize("device", ["cpu", *cuda_devices()])
@pytest.mark.parametrize("build", [smoke_cnn, smoke_scnn, smoke_rpp], ids=["cnn", "e2cnn", "rpp"])
def test_gradients_reach_every_parameter_in_float32_and_float64(build, device):
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(0)
        net = build(4, steps=2).to(device=device, dtype=dtype)
        try:
            out = net(torch.randn(3, 20, 8, 8, device=device, dtype=dtype))
            assert out.dtype == dtype and out.device.type == torch.device(device).type
            out.pow(2).mean().backward()
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
        finally:  # escnn shares its filter bases between modules of the same types: hand them back as found
            net.to(device="cpu", dtype=torch.float32)


@pytest.mark.parametrize("make", [lambda: SmokeCNN(0), lambda: SmokeSteerableCNN(-1), lambda: SmokeCNN(8, in_frames=0),
                                  lambda: SmokeRollout(SmokeCNN(4), steps=0), lambda: smoke_rpp(2.5)])
def test_bad_sizes_are_refused(make):
    with pytest.raises(ValueError, match="must be a positive integer"):
        make()


def test_bad_inputs_to_the_rollout_are_refused():
    rollout = smoke_cnn(4)
    with pytest.raises(ValueError, match=r"stacked as \(B, 2F, H, W\)"):
        rollout(torch.randn(2, 19, 8, 8))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        rollout(torch.randn(2, 20, 8, 8), steps=0)
