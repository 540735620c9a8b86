r"""The strict MedMNIST3D baselines: octahedral and SO(3) steerable 3D ResNets.

Invariance is checked under all 24 rotations of the cube, which permute the voxels
(:func:`escnn_soft.field_action` of a scalar field on :func:`~escnn.gspaces.octaOnR3`),
in eval mode after one train-mode pass. The default widths are slow to build and to run
on a CPU, so the fast tests use narrow variants (one field, band limit 1) and the
default models are checked under ``-m slow``.
"""

import numpy as np
import pytest
import torch
from escnn import gspaces
from escnn.nn import FieldType

from escnn_soft import assert_equivariant, field_action
from escnn_soft.experiments.models.medmnist3d_scnn import (
    MedMNIST3DOctaSteerableCNN,
    MedMNIST3DSO3SteerableCNN,
    _GridFourierELU,
    medmnist3d_octa_scnn,
    medmnist3d_so3_scnn,
    octahedral_grid,
)

#: Measured, 2 and 11 classes (the plain CNN has 141,998 and 142,439).
PARAMETER_COUNTS = {
    "octa": (87_414, 87_855),         # fields=2, the default
    "octa-narrow": (23_740, 24_181),  # fields=1
    "so3": (21_513, 21_954),          # fields=1, band limit 2, the default
    "so3-narrow": (5_798, 6_239),     # fields=1, band limit 1
}

BUILDERS = {
    "octa": lambda k: medmnist3d_octa_scnn(k),
    "octa-narrow": lambda k: medmnist3d_octa_scnn(k, fields=1),
    "so3": lambda k: medmnist3d_so3_scnn(k),
    "so3-narrow": lambda k: medmnist3d_so3_scnn(k, max_frequency=1, grid_copies=1),
}

#: float32 and float64 tolerances (relative, absolute) on the logits' norms. Measured maxima
#: over the 24 rotations: about 3e-6 relative in float32 and 6e-10 in float64 (escnn samples
#: its filter bases in float32, so the filters are symmetric to about 1e-7 before training).
TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-8, 1e-10)}


def volumes(batch: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(batch, 1, 28, 28, 28, generator=torch.Generator().manual_seed(seed)).to(dtype)


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def models():
    r"""One model per name and class count, built on first use (escnn's 3D bases are slow to build)."""
    cache = {}

    def get(name: str, n_classes: int = 2) -> torch.nn.Module:
        if (name, n_classes) not in cache:
            torch.manual_seed(0)
            cache[name, n_classes] = BUILDERS[name](n_classes)
        return cache[name, n_classes]

    return get


@pytest.fixture(scope="module")
def rotate():
    octa = gspaces.octaOnR3()
    return field_action(FieldType(octa, [octa.trivial_repr]))


def warmed_up_eval(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    r"""In ``dtype``, after one train-mode pass (batch norms with non-trivial running statistics), in eval mode."""
    model = model.to(dtype).train()
    with torch.no_grad():
        model(volumes(3, seed=1, dtype=dtype))
    return model.eval()


def check_invariance(model: torch.nn.Module, rotate, batch: int, dtype: torch.dtype):
    rtol, atol = TOLERANCES[dtype]
    try:
        err = assert_equivariant(warmed_up_eval(model, dtype), volumes(batch, dtype=dtype), rotate,
                                 rtol=rtol, atol=atol)
    finally:
        model.float()
    assert len(err.elements) == 24
    return err


# --- fast: narrow variants -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["octa-narrow", "so3-narrow"])
def test_output_shape_and_gradients(models, name):
    model = models(name).train()
    x = volumes(2)
    logits = model(x)
    assert logits.shape == (2, 2) and logits.dtype == torch.float32
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum().item() for g in grads) > 0
    model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", ["octa-narrow", "so3-narrow"])
def test_parameter_counts_narrow(models, name):
    assert (n_parameters(models(name)), n_parameters(models(name, 11))) == PARAMETER_COUNTS[name]


def test_octa_invariant_under_the_24_rotations(models, rotate):
    check_invariance(models("octa-narrow"), rotate, batch=1, dtype=torch.float32)


def test_so3_invariant_under_the_24_rotations(models, rotate):
    check_invariance(models("so3-narrow"), rotate, batch=2, dtype=torch.float32)


def test_spatial_sizes(models):
    r"""Odd grids all the way down: 29 after upsampling, 27, 13, 3, 1."""
    model = models("octa-narrow").eval()
    from escnn.nn import GeometricTensor
    x = GeometricTensor(volumes(1), model.in_type)
    sizes = {}
    with torch.no_grad():
        for name, module in model.network.named_children():
            x = module(x)
            sizes[name] = tuple(x.shape[2:])
    assert sizes == {"upsample": (29,) * 3, "resblock1": (27,) * 3, "pool1": (13,) * 3,
                     "resblock2": (3,) * 3, "resblock3": (1,) * 3}
    assert model.embed(volumes(2)).shape == (2, 48)


def test_grid_is_closed_under_the_cube_rotations():
    so3 = gspaces.rot3dOnR3(maximum_frequency=4).fibergroup
    grid = octahedral_grid(so3, 3)
    assert len(grid) == 72
    octa, inclusion, _ = so3.subgroup("octa")

    def key(g):  # a rotation's quaternion up to sign, rounded
        q = g.to("Q")
        q = q if q[np.argmax(np.abs(q))] > 0 else -q
        return tuple(np.round(q, 9))

    keys = {key(g) for g in grid}
    assert len(keys) == 72
    for c in octa.elements:
        assert {key(inclusion(c) @ g) for g in grid} == keys


def test_fourier_elu_exact_for_the_cube_rotations():
    r"""The band-limit-2 nonlinearity on 3 cosets of O, in float64, on the fibre: f(ρ(g) v) = ρ(g) f(v)."""
    gspace = gspaces.rot3dOnR3(maximum_frequency=4)
    so3 = gspace.fibergroup
    act = _GridFourierELU(gspace, 2, so3.bl_irreps(2), octahedral_grid(so3, 3)).double()
    octa, inclusion, _ = so3.subgroup("octa")
    from escnn.nn import GeometricTensor
    v = torch.randn(4, act.in_type.size, 1, 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fv = act(GeometricTensor(v, act.in_type)).tensor
    for c in octa.elements:
        rho = torch.tensor(act.in_type.representation(inclusion(c)), dtype=torch.float64)
        moved = act(GeometricTensor(torch.einsum("ij,bj...->bi...", rho, v), act.in_type)).tensor
        torch.testing.assert_close(moved, torch.einsum("ij,bj...->bi...", rho, fv), rtol=1e-11, atol=1e-11)


def test_grid_too_small_for_the_band_limit_raises():
    gspace = gspaces.rot3dOnR3(maximum_frequency=4)
    so3 = gspace.fibergroup
    with pytest.raises(ValueError, match="cannot sample"):
        _GridFourierELU(gspace, 1, so3.bl_irreps(2), octahedral_grid(so3, 2))


@pytest.mark.parametrize("factory", [medmnist3d_octa_scnn, medmnist3d_so3_scnn])
@pytest.mark.parametrize("n_classes", [0, 1, -3, 2.0, True, "2"])
def test_bad_n_classes_raise(factory, n_classes):
    with pytest.raises(ValueError, match="n_classes"):
        factory(n_classes)


@pytest.mark.parametrize("cls, kwargs", [(MedMNIST3DOctaSteerableCNN, {"fields": 0}),
                                         (MedMNIST3DSO3SteerableCNN, {"fields": 0}),
                                         (MedMNIST3DSO3SteerableCNN, {"max_frequency": -1}),
                                         (MedMNIST3DSO3SteerableCNN, {"grid_copies": 0})])
def test_bad_widths_raise(cls, kwargs):
    with pytest.raises(ValueError):
        cls(2, **kwargs)


def test_wrong_input_shape_raises(models):
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28, 28\)"):
        models("so3-narrow")(torch.rand(2, 1, 29, 29, 29))


# --- slow: the default widths ----------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["octa", "so3"])
def test_parameter_counts(models, name):
    assert (n_parameters(models(name)), n_parameters(models(name, 11))) == PARAMETER_COUNTS[name]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["octa", "so3"])
def test_default_models_invariant_under_the_24_rotations(models, rotate, name, dtype):
    check_invariance(models(name), rotate, batch=2, dtype=dtype)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["octa", "so3"])
def test_default_models_shape_and_gradients(models, name):
    test_output_shape_and_gradients(models, name)
