import numpy as np
import pytest
import torch
from escnn import gspaces, group
from escnn import nn as enn
from escnn.group import change_basis, direct_product

from escnn_soft import field_action, group_table, product_action, trivial_action
from conftest import cuda_devices


def _rotation(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def _tilted_vector(r4):
    return change_basis(r4.irrep(1), _rotation(0.5), name="tilted_vector")


def _full_octa_vectors(fo):
    return [r for r in fo.fibergroup.irreps() if r.size == 3][:2]


_CASES = {
    "C4-scalar": (lambda: gspaces.rot2dOnR2(4), lambda s: [s.trivial_repr], (9, 9)),
    "C4-regular": (lambda: gspaces.rot2dOnR2(4), lambda s: [s.regular_repr, s.trivial_repr], (8, 8)),
    "C4-vector": (lambda: gspaces.rot2dOnR2(4), lambda s: [s.irrep(1)], (7, 7)),
    "C4-dense": (lambda: gspaces.rot2dOnR2(4), lambda s: [_tilted_vector(s)], (7, 7)),
    "C2": (lambda: gspaces.rot2dOnR2(2), lambda s: [s.regular_repr, s.irrep(1)], (6, 6)),
    "D1": (lambda: gspaces.flipRot2dOnR2(1), lambda s: [s.trivial_repr, s.regular_repr, s.irrep(1)], (6, 6)),
    "D1-vertical": (lambda: gspaces.flipRot2dOnR2(1, axis=np.pi / 2), lambda s: [s.regular_repr], (5, 5)),
    "D2": (lambda: gspaces.flipRot2dOnR2(2), lambda s: [s.regular_repr, s.irrep(1, 1)], (6, 6)),
    "D4": (lambda: gspaces.flipRot2dOnR2(4),
           lambda s: [s.trivial_repr, s.regular_repr, s.irrep(1, 1), s.quotient_repr((None, 4))], (7, 7)),
    "octa": (gspaces.octaOnR3, lambda s: [s.trivial_repr, s.irrep(1), s.regular_repr], (4, 4, 4)),
    "full_octa": (gspaces.fullOctaOnR3, lambda s: [s.trivial_repr] + _full_octa_vectors(s), (4, 4, 4)),
    "ico-fibre": (lambda: gspaces.no_base_space(group.ico_group()), lambda s: [s.regular_repr], ()),
    "C5-fibre-dense": (lambda: gspaces.no_base_space(group.cyclic_group(5)), lambda s: [s.irrep(1), s.irrep(2)], ()),
}
CASES = list(_CASES)


def _case(name):
    r"""The gspace, fibre representations and grid of a named case, built on first use."""
    make_gspace, reps, grid = _CASES[name]
    gspace = make_gspace()
    return gspace, reps(gspace), grid


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_escnn_transform(name):
    gspace, reps, grid = _case(name)
    ft = enn.FieldType(gspace, reps)
    act = field_action(ft)
    T = act.group
    x = torch.randn(T.order, ft.size, *grid)
    out = act(x, torch.arange(T.order))
    for i, e in enumerate(T.elements):
        ref = enn.GeometricTensor(x[i:i + 1], ft).transform(e).tensor[0]
        if act.fibres_are_permutations:
            # escnn's own fibre matrices carry ~1e-16 round-off; anything above it would be a wrong permutation
            torch.testing.assert_close(out[i], ref, rtol=0, atol=1e-12)
        else:
            torch.testing.assert_close(out[i], ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["C4-scalar", "D1", "D4", "octa", "full_octa"])
def test_scalar_fields_bit_for_bit(name):
    gspace, _, grid = _case(name)
    ft = enn.FieldType(gspace, [gspace.trivial_repr] * 2)
    act = field_action(ft)
    x = torch.randn(1, 2, *grid)
    for i, e in enumerate(act.group.elements):
        assert torch.equal(act(x, torch.tensor([i])), enn.GeometricTensor(x, ft).transform(e).tensor)


@pytest.mark.parametrize("name", ["C4-vector", "D4", "octa", "C4-dense"])
def test_homomorphism(name):
    gspace, reps, grid = _case(name)
    act = field_action(enn.FieldType(gspace, reps))
    T = act.group
    x = torch.randn(T.order, act.size, *grid, dtype=torch.float64)
    g = torch.arange(T.order)
    for h in range(T.order):
        hh = torch.full_like(g, h)
        torch.testing.assert_close(act(act(x, hh), g), act(x, T.mul[g, hh]), rtol=0, atol=1e-12)


def test_c4_vector_field_turns_vectors():
    r4 = gspaces.rot2dOnR2(4)
    act = field_action(enn.FieldType(r4, [r4.irrep(1)]))
    x = torch.zeros(1, 2, 3, 3)
    x[0, 0, 1, 2] = 1.0  # a vector (1, 0) at the point right of the centre (x-axis)
    y = act(x, torch.tensor([1]))  # rotate by 90 degrees
    assert y[0, :, 1, 1].abs().sum() == 0
    assert torch.nonzero(y[0].abs().sum(0)).tolist() == [[0, 1]]  # moved to the point above the centre
    assert y[0, :, 0, 1].tolist() == [0.0, 1.0]  # and now points along y


def test_gradients_and_batching():
    d4 = gspaces.flipRot2dOnR2(4)
    act = field_action(enn.FieldType(d4, [d4.regular_repr, d4.irrep(1, 1)]))
    x = torch.randn(5, 10, 5, 5, requires_grad=True)
    g = torch.tensor([0, 3, 7, 7, 2])
    w = torch.randn(5, 10, 5, 5)
    (act(x, g) * w).sum().backward()
    for b in range(5):
        xb = x[b:b + 1].detach().requires_grad_()
        (act(xb, g[b:b + 1]) * w[b:b + 1]).sum().backward()
        torch.testing.assert_close(x.grad[b:b + 1], xb.grad)


@pytest.mark.parametrize("device", ["cpu"] + cuda_devices())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_device(device, dtype):
    for name in ("C4-vector", "C4-dense", "octa"):
        gspace, reps, grid = _case(name)
        act = field_action(enn.FieldType(gspace, reps))
        x = torch.randn(2, act.size, *grid, dtype=dtype, device=device)
        out = act(x, torch.tensor([1, 2], device=device))
        assert out.dtype == dtype and out.device.type == device
        cpu = act(x.cpu(), torch.tensor([1, 2]))
        torch.testing.assert_close(out.cpu(), cpu)


def test_trivial_action():
    act = trivial_action(group.cyclic_group(4))
    y = torch.randint(10, (3,))
    assert act(y, torch.tensor([0, 1, 3])) is y
    with pytest.raises(IndexError):
        act(y, torch.tensor([0, 1, 4]))


def _ddmnist_action(gspace):
    digit = field_action(enn.FieldType(gspace, [gspace.trivial_repr]))
    G = gspace.fibergroup
    P = direct_product(G, G)
    regions = [(slice(14, 42), slice(0, 28)), (slice(14, 42), slice(28, 56))]
    return P, digit, product_action(P, [digit, digit], regions)


@pytest.mark.parametrize("gspace", [gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(1), gspaces.flipRot2dOnR2(4)], ids=str)
def test_product_action_on_two_digits(gspace):
    P, digit, act = _ddmnist_action(gspace)
    T, TG = group_table(P), digit.group
    x = torch.randn(1, 1, 56, 56)
    for i, e in enumerate(T.elements):
        g1, g2 = P.split_element(e)
        out = act(x, torch.tensor([i]))
        left = digit(x[..., 14:42, 0:28], torch.tensor([TG.index(g1)]))
        right = digit(x[..., 14:42, 28:56], torch.tensor([TG.index(g2)]))
        assert torch.equal(out[..., 14:42, 0:28], left)
        assert torch.equal(out[..., 14:42, 28:56], right)
        assert torch.equal(out[..., :14, :], x[..., :14, :]) and torch.equal(out[..., 42:, :], x[..., 42:, :])
    g = torch.randint(T.order, (6,))
    h = torch.randint(T.order, (6,))
    xb = torch.randn(6, 1, 56, 56)
    assert torch.equal(act(act(xb, h), g), act(xb, T.mul[g, h]))


def test_bad_inputs():
    r4 = gspaces.rot2dOnR2(4)
    act = field_action(enn.FieldType(r4, [r4.regular_repr]))
    with pytest.raises(ValueError, match=r"\(B, 4, \*grid\)"):
        act(torch.randn(2, 3, 5, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="2-D grid"):
        act(torch.randn(2, 4, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="square"):
        act(torch.randn(2, 4, 5, 6), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="batch has 2"):
        act(torch.randn(2, 4, 5, 5), torch.tensor([0]))
    with pytest.raises(IndexError, match="out of range"):
        act(torch.randn(2, 4, 5, 5), torch.tensor([0, 4]))
    r8 = gspaces.rot2dOnR2(8)
    with pytest.raises(ValueError, match="off the grid"):
        field_action(enn.FieldType(r8, [r8.trivial_repr]))
    with pytest.raises(ValueError, match="continuous"):
        field_action(enn.FieldType(gspaces.rot2dOnR2(-1), [gspaces.rot2dOnR2(-1).trivial_repr]))
    with pytest.raises(TypeError, match="FieldType"):
        field_action(r4)
    with pytest.raises(TypeError, match="torch.Tensor"):
        act(np.zeros((2, 4, 5, 5)), torch.tensor([0, 1]))

    P, digit, _ = _ddmnist_action(r4)
    d1 = field_action(enn.FieldType(gspaces.flipRot2dOnR2(1), [gspaces.flipRot2dOnR2(1).trivial_repr]))
    with pytest.raises(ValueError, match="factor 1"):
        product_action(P, [digit, d1], [(slice(0, 5),), (slice(5, 10),)])
    with pytest.raises(TypeError, match="direct product"):
        product_action(r4.fibergroup, [digit, digit], [(slice(0, 5),), (slice(5, 10),)])
    with pytest.raises(ValueError, match="exactly two"):
        product_action(P, [digit], [(slice(0, 5),)])
    with pytest.raises(TypeError, match="tuple of slices"):
        product_action(P, [digit, digit], [(0, 5), (5, 10)])
    overlapping = product_action(P, [digit, digit], [(slice(0, 5), slice(0, 5)), (slice(3, 8), slice(3, 8))])
    with pytest.raises(ValueError, match="overlap"):
        overlapping(torch.randn(1, 1, 8, 8), torch.tensor([0]))
