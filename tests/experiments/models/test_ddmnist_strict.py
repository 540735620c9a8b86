r"""The DDMNIST CNN's latent cut, the restriction model and the G×G-invariant steerable CNN."""

from functools import lru_cache

import pytest
import torch
from escnn import nn
from escnn.nn import GeometricTensor

from escnn_soft import assert_equivariant, equivariance_error
from escnn_soft.experiments.datasets import DDMNIST_GROUPS
from escnn_soft.experiments.datasets.ddmnist import DIGIT_REGIONS, ddmnist_group
from escnn_soft.experiments.models import (
    CNN_LATENTS,
    DDMNISTGxGSteerableCNN,
    DDMNISTRestriction,
    UnconstrainedConv,
    ddmnist_cnn,
    ddmnist_gspace,
    ddmnist_restriction,
    ddmnist_scnn_gxg,
)

# measured, 100 classes, base width 6 (restriction at block 4, hidden width 66)
PARAMETER_COUNTS = {
    ("restriction", "C4"): 84_646, ("restriction", "D1"): 45_910, ("restriction", "D4"): 162_118,
    ("scnn-gxg", "C4"): 77_524, ("scnn-gxg", "D1"): 46_564, ("scnn-gxg", "D4"): 139_444,
}
RESTRICTION_C4_COUNTS = {1: 36_406, 2: 40_150, 3: 60_022, 4: 84_646, 5: 74_278}

ARCHITECTURES = {"restriction": ddmnist_restriction, "scnn-gxg": ddmnist_scnn_gxg}

#: Tolerances of the equivariance checks in float64: escnn samples its filter bases in float32,
#: so the filters are symmetric to about 1e-7 (measured: relative errors up to 1.2e-7).
TOLERANCES = {"rtol": 1e-6, "atol": 1e-9}


def images(batch: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(batch, 1, 56, 56, generator=torch.Generator().manual_seed(seed)).to(dtype)


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@lru_cache(maxsize=None)
def shared_model(name: str, group_name: str) -> torch.nn.Module:
    """One model per (name, group) for the tests that only read it or only train it."""
    return ARCHITECTURES[name](group_name)


def warmed_up_eval(model: torch.nn.Module, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    """In ``dtype``, after one train-mode pass (batch norms with non-trivial running statistics), in eval mode."""
    model = model.to(dtype).train()
    with torch.no_grad():
        model(images(8, seed=1, dtype=dtype))
    return model.eval()


def captured(module: torch.nn.Module, run) -> torch.Tensor:
    """The output of ``module`` while ``run()`` runs."""
    outputs = []
    handle = module.register_forward_hook(lambda m, args, out: outputs.append(out))
    try:
        run()
    finally:
        handle.remove()
    assert len(outputs) == 1
    return outputs[0]


# ---------------------------------------------------------------- the CNN's latent


def test_cnn_latent_default_is_the_papers():
    model = ddmnist_cnn()
    assert model.latent == "pre-bn" == CNN_LATENTS[0]
    assert list(model.encoder)[-2:] == [model.encoder.expand, model.encoder.flatten]


def test_pre_bn_latent_is_the_output_of_expand():
    model = warmed_up_eval(ddmnist_cnn(latent="pre-bn"))
    x = images(3, dtype=torch.float64)
    expanded = captured(model.encoder.expand, lambda: model.encoder(x))
    z = model.encoder(x)
    assert z.shape == (3, 66)
    torch.testing.assert_close(z, expanded.flatten(1), rtol=0, atol=0)
    normalised = captured(model.head.norm, lambda: model(x))
    assert not torch.allclose(z, normalised)
    torch.testing.assert_close(model.head(z), model(x), rtol=0, atol=0)


def test_post_bn_latent_is_after_batch_norm_and_elu():
    model = warmed_up_eval(ddmnist_cnn(latent="post-bn"))
    x = images(3, dtype=torch.float64)
    expanded = captured(model.encoder.expand, lambda: model.encoder(x))
    z = model.encoder(x)
    torch.testing.assert_close(z, torch.nn.functional.elu(model.encoder.norm(expanded.flatten(1))))
    assert not torch.allclose(z, expanded.flatten(1))
    assert isinstance(model.head, torch.nn.Linear)
    torch.testing.assert_close(model.head(z), model(x), rtol=0, atol=0)


def test_both_cuts_have_the_same_parameters():
    pre, post = ddmnist_cnn(latent="pre-bn"), ddmnist_cnn(latent="post-bn")
    assert n_parameters(pre) == n_parameters(post) == 33_742
    shapes = lambda m: sorted(tuple(p.shape) for p in m.parameters())  # noqa: E731
    assert shapes(pre) == shapes(post)


def test_unknown_latent():
    with pytest.raises(ValueError, match="unknown latent 'post'; valid latents: pre-bn, post-bn"):
        ddmnist_cnn(latent="post")


# ---------------------------------------------------------------- restriction


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
def test_restriction_is_equivariant_before_the_restriction(group_name):
    model = warmed_up_eval(ddmnist_restriction(group_name))
    assert model.restrict_at == 4
    assert model.equivariant.out_type == model.restriction.in_type
    x = GeometricTensor(images(2, dtype=torch.float64), model.in_type)
    assert_equivariant(model.equivariant, x, **TOLERANCES)  # actions of in_type and of the regular fields out


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
def test_restriction_is_not_invariant(group_name):
    model = warmed_up_eval(ddmnist_restriction(group_name))
    err = equivariance_error(model, GeometricTensor(images(2, dtype=torch.float64), model.in_type))
    assert err.elements[0] == 0 and err.relative_max[0] == 0  # the identity
    assert (err.relative_max[1:] > 1e-3).all()


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
def test_restriction_restricts_to_the_trivial_group(group_name):
    model = shared_model("restriction", group_name)
    G = model.gspace.fibergroup
    t = model.restriction.out_type
    assert t.fibergroup.order() == 1 and t.size == model.equivariant.out_type.size == 36 * G.order()
    unconstrained = [m for m in model.restricted.modules() if isinstance(m, UnconstrainedConv)]
    assert [tuple(m.conv.weight.shape) for m in unconstrained] == [(36, 36 * G.order(), 3, 3), (48, 36, 1, 1)]
    assert not any(isinstance(m, nn.R2Conv) for m in model.restricted.modules())


@pytest.mark.parametrize("restrict_at", range(1, 6))
def test_restriction_at_every_block(restrict_at):
    model = warmed_up_eval(ddmnist_restriction("C4", restrict_at=restrict_at))
    assert n_parameters(model) == RESTRICTION_C4_COUNTS[restrict_at]
    assert model(images(2, dtype=torch.float64)).shape == (2, 100)
    assert_equivariant(model.equivariant, GeometricTensor(images(2, dtype=torch.float64), model.in_type), **TOLERANCES)


@pytest.mark.parametrize("restrict_at", [0, 6, 4.5])
def test_restriction_rejects_bad_blocks(restrict_at):
    with pytest.raises(ValueError, match=r"restrict_at must be a block index in 1\.\.5"):
        ddmnist_restriction("C4", restrict_at=restrict_at)


def test_unconstrained_conv():
    r2 = ddmnist_gspace("C4")
    restricted = nn.RestrictionModule(nn.FieldType(r2, 2 * [r2.regular_repr]), 1).out_type
    trivial = restricted.gspace
    conv = UnconstrainedConv(restricted, nn.FieldType(trivial, 3 * [trivial.trivial_repr]), 3, padding=2, stride=2)
    x = GeometricTensor(torch.randn(2, 8, 9, 7), restricted)
    y = conv(x)
    assert y.shape == tuple(conv.evaluate_output_shape(x.shape)) == (2, 3, 6, 5)
    torch.testing.assert_close(y.tensor, conv.conv(x.tensor))
    with pytest.raises(ValueError, match="only for the trivial group"):
        UnconstrainedConv(nn.FieldType(r2, [r2.regular_repr]), nn.FieldType(r2, [r2.regular_repr]), 3)
    with pytest.raises(ValueError, match="share a gspace"):
        UnconstrainedConv(restricted, nn.FieldType(r2, [r2.trivial_repr]), 3)


# ---------------------------------------------------------------- G x G


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
def test_scnn_gxg_is_invariant_under_g_times_g(group_name):
    model = warmed_up_eval(ddmnist_scnn_gxg(group_name))
    action = ddmnist_group(group_name).input_action
    err = assert_equivariant(model, images(2, dtype=torch.float64), action, **TOLERANCES)
    assert err.group.order == ddmnist_group(group_name).group.order ** 2
    assert_equivariant(model.embed, images(2, dtype=torch.float64), action, **TOLERANCES)


def test_scnn_gxg_embeds_the_left_digit_first():
    model = warmed_up_eval(ddmnist_scnn_gxg("D1"))
    x = images(3, dtype=torch.float64)
    d = model.out_type.size
    z = model.embed(x)
    assert z.shape == (3, 2 * d) == (3, 96)
    for k, (rows, cols) in enumerate(DIGIT_REGIONS):
        digit = GeometricTensor(x[:, :, rows, cols].contiguous(), model.in_type)
        torch.testing.assert_close(z[:, k * d:(k + 1) * d], model.embedding(digit).tensor.flatten(1))
    swapped = x.clone()
    (r0, c0), (r1, c1) = DIGIT_REGIONS
    swapped[:, :, r0, c0], swapped[:, :, r1, c1] = x[:, :, r1, c1], x[:, :, r0, c0]
    torch.testing.assert_close(model.embed(swapped), torch.cat([z[:, d:], z[:, :d]], 1))
    assert not torch.allclose(model(swapped), model(x))


def test_scnn_gxg_ignores_the_blank_canvas():
    model = warmed_up_eval(ddmnist_scnn_gxg("C4"))
    x = images(2, dtype=torch.float64)
    blanked = torch.zeros_like(x)
    for rows, cols in DIGIT_REGIONS:
        blanked[:, :, rows, cols] = x[:, :, rows, cols]
    torch.testing.assert_close(model(blanked), model(x), rtol=0, atol=0)


def test_scnn_gxg_types():
    model = shared_model("scnn-gxg", "D4")
    assert isinstance(model, DDMNISTGxGSteerableCNN)
    assert model.embedding.in_type == model.in_type
    assert model.out_type.size == 48 and all(r.is_trivial() for r in model.out_type.representations)
    assert model.embedding.evaluate_output_shape((2, 1, 28, 28)) == (2, 48, 1, 1)


# ---------------------------------------------------------------- both


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_forward_backward(name, group_name):
    model = shared_model(name, group_name).float().train()
    model.zero_grad(set_to_none=True)
    logits = model(images(2))
    assert logits.shape == (2, 100) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    logits.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize("group_name", DDMNIST_GROUPS)
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_parameter_counts(name, group_name):
    assert n_parameters(shared_model(name, group_name)) == PARAMETER_COUNTS[name, group_name]


def test_classes():
    assert isinstance(shared_model("restriction", "C4"), DDMNISTRestriction)
    assert isinstance(shared_model("scnn-gxg", "C4"), DDMNISTGxGSteerableCNN)
    assert ddmnist_restriction("D1", num_classes=7, width=2)(images(2)).shape == (2, 7)
    assert ddmnist_scnn_gxg("D1", num_classes=7, width=2, hidden_dim=5)(images(2)).shape == (2, 7)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_unknown_group(name):
    with pytest.raises(ValueError, match="unknown DDMNIST group 'C8'; valid groups: C4, D1, D4"):
        ARCHITECTURES[name]("C8")


@pytest.mark.parametrize("shape", [(2, 56, 56), (2, 3, 56, 56), (2, 1, 28, 56), (2, 1, 28, 28)])
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_wrong_input_shape(name, shape):
    with pytest.raises(ValueError, match="56, 56"):
        shared_model(name, "C4")(torch.zeros(shape))
