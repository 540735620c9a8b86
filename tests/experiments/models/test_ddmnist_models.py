from functools import lru_cache

import pytest
import torch
from escnn import nn
from escnn.nn import GeometricTensor

from escnn_soft import assert_equivariant, field_action
from escnn_soft.experiments.datasets import DDMNIST_GROUPS
from escnn_soft.experiments.models import (
    DDMNISTRPP,
    ResidualPathwayConv,
    ddmnist_cnn,
    ddmnist_gspace,
    ddmnist_rpp,
    ddmnist_scnn,
    medmnist3d_cnn,
)

# measured, 100 classes, base width 6
PARAMETER_COUNTS = {
    ("cnn", "C4"): 33_742, ("cnn", "D1"): 33_742, ("cnn", "D4"): 33_742,
    ("scnn", "C4"): 69_094, ("scnn", "D1"): 38_134, ("scnn", "D4"): 131_014,
    ("rpp", "C4"): 458_950, ("rpp", "D1"): 137_734, ("rpp", "D4"): 1_673_350,
}

ARCHITECTURES = {"cnn": lambda group_name: ddmnist_cnn(), "scnn": ddmnist_scnn, "rpp": ddmnist_rpp}



def images(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 1, 56, 56, generator=torch.Generator().manual_seed(seed))


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@lru_cache(maxsize=None)
def shared_model(name: str, group_name: str) -> torch.nn.Module:
    """One model per (name, group) for the tests that only read it or only train it."""
    return ARCHITECTURES[name](group_name)


def warmed_up_eval(model: torch.nn.Module) -> torch.nn.Module:
    """One train-mode pass, so batch norms hold non-trivial running statistics, then eval."""
    model.train()
    with torch.no_grad():
        model(images(8, seed=1))
    return model.eval()


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_forward_backward(name, group_name):
    model = shared_model(name, group_name)
    model.train()
    model.zero_grad(set_to_none=True)
    logits = model(images(2))
    assert logits.shape == (2, 100)
    assert torch.isfinite(logits).all()
    logits.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
@pytest.mark.parametrize("name", ["cnn", "scnn", "rpp"])
def test_parameter_counts(name, group_name):
    assert n_parameters(shared_model(name, group_name)) == PARAMETER_COUNTS[name, group_name]


def test_cnn_encoder_and_head():
    model = ddmnist_cnn().eval()
    x = images(3)
    z = model.encoder(x)
    assert z.shape == (3, model.latent_dim) == (3, 66)
    torch.testing.assert_close(model.head(z), model(x), rtol=0, atol=0)
    assert model(x).shape == (3, 100)


@pytest.mark.parametrize("build, x, layout", [
    (ddmnist_cnn, lambda: images(4), torch.channels_last),
    (medmnist3d_cnn, lambda: torch.rand(2, 1, 28, 28, 28, generator=torch.Generator().manual_seed(0)),
     torch.channels_last_3d),
])
def test_plain_cnns_keep_channels_last_weights_with_the_values_of_the_contiguous_layout(build, x, layout):
    """Conversions and loading keep the layout; the outputs and gradients are the contiguous model's
    (in float64, to rounding)."""
    torch.manual_seed(0)
    model = build()
    convs = lambda m: [p for p in m.parameters() if p.dim() >= 4]
    assert convs(model) and all(p.is_contiguous(memory_format=layout) for p in convs(model))
    plain = build().to(memory_format=torch.contiguous_format)
    plain.load_state_dict(model.state_dict())
    assert all(p.is_contiguous() for p in convs(plain))
    fresh = build()
    fresh.load_state_dict(plain.state_dict())
    assert all(p.is_contiguous(memory_format=layout) for p in convs(fresh.double()))
    inputs = x().double()  # in float64, so that the two layouts' different sums round alike
    outputs = [m.double().train()(inputs) for m in (model, plain)]
    for out in outputs:
        out.square().sum().backward()
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-10, atol=1e-10)
    for a, b in zip(model.parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-8)


GROUP_AS_TORCH_OPS = {
    "C4": [(False, k) for k in range(4)],
    "D1": [(False, 0), (True, 0)],
    "D4": [(f, k) for f in (False, True) for k in range(4)],
}


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
def test_gspace_acts_like_torch(group_name):
    """The flip is torch.flip(x, dims=[-1]), the rotation torch.rot90(x, 1, dims=(-2, -1))."""
    gspace = ddmnist_gspace(group_name)
    in_type = nn.FieldType(gspace, [gspace.trivial_repr])
    x = images(2)
    expected = [torch.rot90(torch.flip(x, dims=[-1]) if flip else x, k, dims=(-2, -1))
                for flip, k in GROUP_AS_TORCH_OPS[group_name]]
    got = [GeometricTensor(x, in_type).transform(g).tensor for g in gspace.fibergroup.elements]
    assert len(got) == len(expected)
    assert all(any(torch.equal(y, e) for e in expected) for y in got)
    assert all(any(torch.equal(y, e) for y in got) for e in expected)


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
def test_upsampling_commutes_with_the_group(group_name):
    scnn = ddmnist_scnn(group_name)
    escnn_up = scnn.equivariant[0]
    torch_up = ddmnist_cnn().encoder.upsample
    x = GeometricTensor(images(2), scnn.in_type)
    torch.testing.assert_close(torch_up(x.tensor), escnn_up(x).tensor)
    out_type = escnn_up.out_type
    for g in scnn.gspace.fibergroup.elements:
        up_then_g = GeometricTensor(torch_up(x.tensor), out_type).transform(g).tensor
        g_then_up = torch_up(x.transform(g).tensor)
        torch.testing.assert_close(g_then_up, up_then_g, rtol=0, atol=1e-5)


def assert_invariant(model):
    r"""The logits do not change when the input moves by any element of the model's group (escnn's transform)."""
    assert_equivariant(model, images(2), field_action(model.in_type))


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
def test_scnn_is_invariant(group_name):
    model = warmed_up_eval(ddmnist_scnn(group_name))
    assert_invariant(model)


def test_scnn_passes_escnn_check_equivariance():
    model = warmed_up_eval(ddmnist_scnn("C4"))
    with torch.no_grad():
        errors = model.equivariant.check_equivariance(atol=1e-5, rtol=1e-4)
    assert max(e for _, e in errors) < 1e-5


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
def test_rpp_prior_loss(group_name):
    model = ddmnist_rpp(group_name)
    prior = model.prior_loss()
    assert prior.dim() == 0 and prior.item() > 0
    convs = [m for m in model.modules() if isinstance(m, ResidualPathwayConv)]
    assert len(convs) == 6
    expected = 1e-3 * sum(p.square().sum() for m in convs for p in m.unconstrained.parameters())
    torch.testing.assert_close(prior, expected)
    prior.backward()
    free = {id(p) for p in model.unconstrained_parameters()}
    assert len(free) == 2 * 6 - 1  # six convolutions, the last without bias
    for name, p in model.named_parameters():
        if id(p) in free:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
def test_rpp_without_residual_is_the_scnn(group_name):
    model = ddmnist_rpp(group_name)
    with torch.no_grad():
        for p in model.unconstrained_parameters():
            p.zero_()
    assert model.prior_loss().item() == 0
    model = warmed_up_eval(model)
    assert_invariant(model)


@pytest.mark.parametrize("train", [True, False])
def test_residual_pathway_conv_is_the_sum_of_its_paths(train):
    gspace = ddmnist_gspace("D4")
    in_type = nn.FieldType(gspace, 2 * [gspace.regular_repr])
    out_type = nn.FieldType(gspace, 3 * [gspace.regular_repr])
    conv = ResidualPathwayConv(in_type, out_type, 3, padding=2, stride=2).train(train)
    x = GeometricTensor(torch.randn(2, in_type.size, 9, 9), in_type)
    y = conv(x)
    assert y.type == out_type
    assert y.shape == (2, out_type.size, *conv.evaluate_output_shape(x.shape)[2:])
    torch.testing.assert_close(y.tensor, conv.equivariant(x).tensor + conv.unconstrained(x.tensor))


def test_rpp_default_prior_weight():
    assert isinstance(ddmnist_rpp("C4"), DDMNISTRPP)
    assert ddmnist_rpp("C4").prior_weight == 1e-3


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown DDMNIST group 'C8'; valid groups: C4, D1, D4"):
        ddmnist_rpp("C8")
    with pytest.raises(ValueError, match="C4, D1, D4"):
        ddmnist_scnn("O2")


@pytest.mark.parametrize("shape", [(2, 56, 56), (2, 3, 56, 56), (2, 1, 28, 56)])
def test_wrong_input_shape(shape):
    with pytest.raises(ValueError, match="56, 56"):
        ddmnist_cnn()(torch.zeros(shape))
