r"""The loss, the actions and the latent under ``torch.compile(fullgraph=True)``: one graph, and the same
numbers as eager mode, on grid shapes that eager mode has not seen."""

import warnings

import pytest
import torch
from escnn import gspaces
from escnn import nn as enn
from escnn.group import direct_product
from torch import nn

from escnn_soft import SoftEquivarianceLoss, field_action, group_table, product_action, regular_latent
from conftest import cuda_devices


@pytest.fixture(autouse=True)
def _fresh_compiler():
    r"""Each test traces anew: compiled code of earlier tests would count towards the recompile limit."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _loss(gspace, interpolation, tensor_weights, pair_fraction, fused):
    torch.manual_seed(0)
    scalar = enn.FieldType(gspace, [gspace.trivial_repr])
    encoder = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(8, 16))
    weights = dict(lam=0.5, shifted_weight=1.0, input_task_weight=0.3)
    if tensor_weights:
        weights = {name: torch.tensor(value) for name, value in weights.items()}
    return SoftEquivarianceLoss(encoder, nn.Sequential(nn.ReLU(inplace=True), nn.Linear(16, 10)),
                                in_action=field_action(scalar, interpolation=interpolation),
                                latent=regular_latent(gspace.fibergroup, 16), task_loss=nn.CrossEntropyLoss(),
                                pair_fraction=pair_fraction, fused=fused, **weights)


def _total_and_gradients(total_fn, loss_fn, x, y, g):
    torch.manual_seed(1)  # the subset of pair_fraction < 1 comes from torch's default generator
    total = total_fn(x, y, g)
    return total, torch.autograd.grad(total, list(loss_fn.parameters()))


_CASES = {  # gspace, interpolation, tensor weights, pair fraction, fused
    "C4-float": (lambda: gspaces.rot2dOnR2(4), None, False, 1.0, False),
    "C4-tensor-half": (lambda: gspaces.rot2dOnR2(4), None, True, 0.5, False),
    "D4-tensor-fused": (lambda: gspaces.flipRot2dOnR2(4), None, True, 1.0, True),
    "C8-spline-tensor": (lambda: gspaces.rot2dOnR2(8), "spline", True, 1.0, False),
    "C8-bilinear-float-half-fused": (lambda: gspaces.rot2dOnR2(8), "bilinear", False, 0.5, True),
}


@pytest.mark.parametrize("name", sorted(_CASES))
def test_compiled_loss_equals_eager(name):
    make_gspace, interpolation, tensor_weights, pair_fraction, fused = _CASES[name]
    loss_fn = _loss(make_gspace(), interpolation, tensor_weights, pair_fraction, fused)
    eager = lambda x, y, g: loss_fn(x, y, g=g).total  # noqa: E731
    compiled = torch.compile(eager, backend="eager", fullgraph=True)
    y, g = torch.randint(10, (6,)), torch.randint(loss_fn.group.order, (6,))
    for size in (9, 11):  # neither shape has been seen in eager mode when it is traced
        x = torch.randn(6, 1, size, size)
        total, grads = _total_and_gradients(compiled, loss_fn, x, y, g)
        eager_total, eager_grads = _total_and_gradients(eager, loss_fn, x, y, g)
        assert torch.equal(total, eager_total)
        for a, b in zip(grads, eager_grads):
            assert torch.equal(a, b)


def test_actions_and_latent_compile_on_unseen_shapes():
    d4 = gspaces.flipRot2dOnR2(4)
    digit = field_action(enn.FieldType(d4, [d4.trivial_repr]))
    pair = product_action(direct_product(d4.fibergroup, d4.fibergroup), [digit, digit],
                          [(slice(4, 12), slice(0, 8)), (slice(4, 12), slice(8, 16))])
    octa = gspaces.octaOnR3()
    flip = gspaces.flipRot2dOnR2(1)
    cases = [(pair, torch.randn(4, 1, 16, 16)),
             (field_action(enn.FieldType(octa, [octa.trivial_repr, octa.irrep(1)])), torch.randn(4, 4, 5, 5, 5)),
             (field_action(enn.FieldType(octa, [octa.trivial_repr]), interpolation="spline"), torch.randn(4, 1, 5, 5, 5)),
             (field_action(enn.FieldType(flip, [flip.regular_repr])), torch.randn(4, 2, 5, 8)),
             (regular_latent(pair.group, 66), torch.randn(4, 66, 3, 3))]
    for action, x in cases:
        g = torch.randint(action.group.order, (4,))
        compiled = torch.compile(lambda x, g: action(x, g), backend="eager", fullgraph=True)
        assert torch.equal(compiled(x, g), action(x, g)), repr(action)


def test_compiled_index_check_asserts_without_reading_the_values():
    table = group_table(gspaces.rot2dOnR2(4).fibergroup)

    def check(g):
        table.check_indices(g, 3)
        return g + 1

    compiled = torch.compile(check, backend="eager", fullgraph=True)
    assert torch.equal(compiled(torch.tensor([0, 1, 3])), torch.tensor([1, 2, 4]))
    with pytest.raises(RuntimeError, match=r"g holds an element index out of range for C4 \(valid indices are 0..3"):
        compiled(torch.tensor([0, 4, 1]))
    with pytest.raises(RuntimeError, match="out of range"):
        compiled(torch.tensor([0, -1, 1]))


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu"] + cuda_devices())
@pytest.mark.parametrize("tensor_weights", [False, True])
def test_inductor_compiled_training_step_equals_eager(tensor_weights, device):
    r"""A full compile (inductor) of loss, backward and optimiser step stays within float rounding of eager mode."""
    loss_fn = _loss(gspaces.rot2dOnR2(8), "spline", tensor_weights, 0.5, False).to(device)
    twin = _loss(gspaces.rot2dOnR2(8), "spline", tensor_weights, 0.5, False).to(device)
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (loss_fn, twin)]

    def step(total_fn, optimizer, x, y, g):
        torch.manual_seed(1)
        total = total_fn(x, y, g)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        return total

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = torch.compile(lambda x, y, g: loss_fn(x, y, g=g).total, fullgraph=True)
        for _ in range(3):
            x, y = torch.randn(8, 1, 13, 13, device=device), torch.randint(10, (8,), device=device)
            g = torch.randint(8, (8,), device=device)
            torch.testing.assert_close(step(compiled, optimizers[0], x, y, g),
                                       step(lambda x, y, g: twin(x, y, g=g).total, optimizers[1], x, y, g),
                                       rtol=1e-4, atol=1e-5)
    for p, q in zip(loss_fn.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_a_generator_is_refused_inside_a_compiled_call():
    loss_fn = _loss(gspaces.rot2dOnR2(4), None, False, 0.5, False)
    compiled = torch.compile(lambda x, y, generator: loss_fn(x, y, generator=generator).total, backend="eager",
                             fullgraph=True)
    with pytest.raises(Exception, match="generator= cannot be traced by torch.compile"):
        compiled(torch.randn(4, 1, 9, 9), torch.randint(10, (4,)), torch.Generator().manual_seed(0))
