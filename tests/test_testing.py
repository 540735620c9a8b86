import re

import pytest
import torch
from escnn import gspaces, group
from escnn import nn as enn
from torch import nn

from escnn_soft import (
    EquivarianceError,
    assert_equivariant,
    equivariance_error,
    field_action,
    group_table,
    regular_latent,
    trivial_action,
)
from test_loss import SCALAR, R4, StrictEncoder, plain_encoder

HIDDEN = enn.FieldType(R4, [R4.regular_repr] * 2)


def blobs(centres, size=29, sigma=3.0):
    r"""Smooth Gaussian blobs ``(len(centres), 1, size, size)``, well inside the grid."""
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                                indexing="ij")
    return torch.stack([torch.exp(-((rows - a) ** 2 + (cols - b) ** 2) / (2 * sigma ** 2)) for a, b in centres])[:, None]


def test_strict_encoder_into_latent_is_equivariant():
    enc = StrictEncoder().eval()
    err = assert_equivariant(enc, torch.randn(6, 1, 15, 15), field_action(SCALAR), regular_latent(R4.fibergroup, 16))
    assert isinstance(err, EquivarianceError) and err.elements == (0, 1, 2, 3)
    for t in (err.relative_mean, err.relative_max, err.absolute_mean, err.absolute_max):
        assert t.shape == (4,) and t[0] == 0
    assert err.relative_max.max() < 1e-5


def test_escnn_module_takes_its_actions_from_its_field_types():
    conv = enn.R2Conv(SCALAR, HIDDEN, 5, padding=2).eval()
    x = torch.randn(3, 1, 11, 11)
    default = assert_equivariant(conv, x)
    explicit = equivariance_error(conv, x, field_action(SCALAR), field_action(HIDDEN))
    torch.testing.assert_close(default.relative_max, explicit.relative_max, rtol=0, atol=0)
    assert default.relative_max.max() < 1e-5
    # out_action omitted: the regular output fields rotate by out_type, not invariance (which would read ~1.4)
    omitted = equivariance_error(conv, x, field_action(SCALAR))
    torch.testing.assert_close(omitted.relative_max, explicit.relative_max, rtol=0, atol=0)
    invariance = equivariance_error(conv, x, out_action=trivial_action(R4.fibergroup))  # regular fields rotate
    assert (invariance.relative_mean[1:] > 0.1).all()


def test_geometric_tensor_input():
    conv = enn.R2Conv(SCALAR, HIDDEN, 5, padding=2).eval()
    x = enn.GeometricTensor(torch.randn(3, 1, 11, 11), SCALAR)
    assert equivariance_error(conv, x).relative_max.max() < 1e-5
    pooled = lambda t: t.mean(dim=(1, 2, 3))  # noqa: E731  plain callable: gets x.tensor, invariant
    assert equivariance_error(pooled, x).relative_max.max() < 1e-6
    with pytest.raises(ValueError, match="field type"):
        equivariance_error(conv, enn.GeometricTensor(torch.randn(3, 8, 11, 11), HIDDEN))


def test_definition_of_the_errors():
    enc = plain_encoder().eval()
    x = torch.randn(5, 1, 15, 15)
    act, lat = field_action(SCALAR), regular_latent(R4.fibergroup, 16)
    err = equivariance_error(enc, x, act, lat, elements=[1, 2])
    assert err.elements == (1, 2) and (err.relative_mean > 1e-3).all()
    g = torch.full((5,), 2)
    with torch.no_grad():
        absolute = (enc(act(x, g)) - lat(enc(x), g)).double().norm(dim=1)
        relative = absolute / enc(x).double().norm(dim=1)
    torch.testing.assert_close(err.relative_mean[1], relative.mean())
    torch.testing.assert_close(err.relative_max[1], relative.max())
    torch.testing.assert_close(err.absolute_mean[1], absolute.mean())
    torch.testing.assert_close(err.absolute_max[1], absolute.max())
    assert (err.relative_max >= err.relative_mean).all() and (err.absolute_max >= err.absolute_mean).all()


def test_invariance_of_outputs():
    enc, head = StrictEncoder().eval(), nn.Linear(4, 3)
    model = lambda x: head(enc(x).reshape(-1, 4, 4).mean(-1))  # noqa: E731  pool each regular copy: invariant
    assert_equivariant(model, torch.randn(4, 1, 15, 15), field_action(SCALAR))
    f = lambda x: x.flatten(1)[:, :3]  # noqa: E731
    err = equivariance_error(f, torch.randn(4, 1, 5, 5), lambda x, g: x.flip(-1), group=group_table(R4.fibergroup))
    assert err.relative_mean[0] > 0.1


def test_module_is_measured_in_eval_mode_and_left_as_it_was():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Dropout(0.5))
    model.train()
    model(torch.randn(8, 1, 9, 9))  # non-trivial running statistics
    model[2].eval()  # one submodule in another mode than its parent
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scalars = field_action(enn.FieldType(R4, [R4.trivial_repr] * 4))
    err = equivariance_error(model, torch.randn(6, 1, 9, 9), field_action(SCALAR), scalars)
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert [k for k in before if not torch.equal(after[k], before[k])] == []  # running statistics untouched
    assert [m.training for m in model.modules()] == [True, True, True, False]
    assert err.relative_max[0] == 0  # no batch statistics, no dropout


def test_escnn_module_in_train_mode_is_restored():
    conv = enn.R2Conv(SCALAR, HIDDEN, 5, padding=2).train()
    assert_equivariant(conv, torch.randn(2, 1, 11, 11))
    assert conv.training and not hasattr(conv, "filter")  # escnn drops the cached filter in train mode
    model = enn.SequentialModule(conv, enn.ReLU(HIDDEN)).train()
    conv.eval()  # caches its filter, which the parent's train() would drop
    cached = conv.filter.clone()
    assert_equivariant(model, torch.randn(2, 1, 11, 11))
    assert model.training and not conv.training and torch.equal(conv.filter, cached)


def test_assert_equivariant_names_the_worst_element():
    enc = plain_encoder().eval()
    x = torch.randn(4, 1, 15, 15)
    act, lat = field_action(SCALAR), regular_latent(R4.fibergroup, 16)
    err = equivariance_error(enc, x, act, lat)
    worst = int(err.relative_max.argmax())
    name = re.escape(f"{worst} ({R4.fibergroup.elements[worst]!r})")
    with pytest.raises(AssertionError, match=f"worst element is {name} of C4") as info:
        assert_equivariant(enc, x, act, lat)
    assert f"{err.relative_max[worst].item():.3e}" in str(info.value)
    assert "rtol=0.0001" in str(info.value) and "float32" in str(info.value)
    loose = float(err.relative_max.max()) * 1.01
    assert_equivariant(enc, x, act, lat, rtol=loose, atol=0.0)


def test_tolerances_follow_the_dtype():
    act = field_action(SCALAR)
    x = torch.randn(3, 1, 7, 7, dtype=torch.float64)
    nudged = lambda t: t + 1e-7 * t[..., :1, :1]  # noqa: E731  relative error ~1e-7, not equivariant
    err = equivariance_error(nudged, x, act, act)
    assert 1e-9 < err.relative_max[1:].min()
    with pytest.raises(AssertionError, match="float64"):
        assert_equivariant(nudged, x, act, act)
    assert_equivariant(nudged, x.float(), act, act)  # within float32's default rtol=1e-4
    with pytest.raises(AssertionError):
        assert_equivariant(lambda t: t * float("nan"), x, act, act)
    labels = lambda t: (t > 0).long().flatten(1)[:, :3]  # noqa: E731  integer outputs: no tolerance
    with pytest.raises(AssertionError, match=r"atol=0 \+ rtol=0"):
        assert_equivariant(labels, x, act, trivial_action(R4.fibergroup))


def test_off_grid_groups_need_an_interpolating_action():
    r8 = gspaces.rot2dOnR2(8)
    scalar, regular = enn.FieldType(r8, [r8.trivial_repr]), enn.FieldType(r8, [r8.regular_repr])
    conv = enn.R2Conv(scalar, regular, 7, padding=3).eval()
    x = blobs([(10, 17), (14, 14), (17, 11)])
    with pytest.raises(ValueError, match="interpolation='spline'.*callable.*in_action="):
        equivariance_error(conv, x)
    err = equivariance_error(conv, x, field_action(scalar, interpolation="bilinear"),
                             field_action(regular, interpolation="bilinear"))
    # measured: 1.7e-2 at the odd multiples of 45°, float rounding of the resampling at the multiples of 90°
    assert err.relative_max[0::2].max() < 1e-5
    assert err.relative_max[1::2].max() < 0.03


def test_readable_repr():
    err = equivariance_error(StrictEncoder().eval(), torch.randn(2, 1, 9, 9), field_action(SCALAR),
                             regular_latent(R4.fibergroup, 16), elements=[0, 3])
    lines = repr(err).splitlines()
    assert lines[0] == "EquivarianceError(C4, 2 elements)"
    assert lines[1].split() == ["element", "relative", "mean", "relative", "max", "absolute", "mean", "absolute", "max"]
    assert lines[2].startswith("  0 (0[2pi/4])") and lines[3].startswith("  3 (3[2pi/4])")
    assert float(lines[3].split()[-1]) == pytest.approx(err.absolute_max[1].item(), rel=1e-3)


def test_bad_inputs():
    act = field_action(SCALAR)
    x = torch.randn(2, 1, 5, 5)
    with pytest.raises(ValueError, match="group="):
        equivariance_error(lambda x: x, x, lambda x, g: x)
    with pytest.raises(ValueError, match="pass in_action"):
        equivariance_error(lambda x: x, x)
    with pytest.raises(ValueError, match="different groups"):
        equivariance_error(lambda x: x, x, act, regular_latent(group.cyclic_group(2), 2))
    with pytest.raises(IndexError, match="0..3"):
        equivariance_error(lambda x: x, x, act, elements=[4])
    with pytest.raises(ValueError, match="at least one"):
        equivariance_error(lambda x: x, x, act, elements=[])
    with pytest.raises(ValueError, match="non-empty"):
        equivariance_error(lambda x: x, x[:0], act)


def test_plain_module_with_in_type_attribute_is_not_wrapped():
    class Wrapped(nn.Module):
        in_type = SCALAR  # a plain-tensor model that exposes its escnn input type

        def forward(self, x):
            assert isinstance(x, torch.Tensor)
            return 2 * x

    err = assert_equivariant(Wrapped(), torch.randn(2, 1, 5, 5), field_action(SCALAR), field_action(SCALAR))
    assert err.relative_max.max() < 1e-6
