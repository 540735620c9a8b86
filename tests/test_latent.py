import numpy as np
import pytest
import torch
from escnn import group

from escnn_soft import group_table, regular_latent
from conftest import cuda_devices


def _latent(G):
    return regular_latent(G, 2 * G.order() + 3, multiplicity=2)


def test_homomorphism_and_identity(finite_group):
    lat = _latent(finite_group)
    T, n = lat.group, lat.group.order
    z = torch.randn(n, lat.size, dtype=torch.float64)
    e = torch.full((n,), T.identity)
    assert torch.equal(lat(z, e), z)
    for h in range(n):
        g = torch.arange(n)
        hh = torch.full((n,), h)
        assert torch.equal(lat(lat(z, hh), g), lat(z, T.mul[g, hh]))


def test_matches_escnn_regular_plus_trivial(finite_group):
    lat = _latent(finite_group)
    assert (lat.multiplicity, lat.padding) == (2, 3)
    rep = lat.representation
    z = torch.randn(4, lat.size, dtype=torch.float64)
    for i, e in enumerate(lat.group.elements):
        M = lat.matrix(i)
        assert torch.equal(M, torch.from_numpy(np.round(rep(e))))
        assert torch.equal(lat(z, torch.full((4,), i)), z @ M.T)
    # channel for channel equal to the field type's representation
    assert lat.field_type.size == lat.size
    for e in list(lat.group.elements)[:5]:
        assert np.allclose(lat.field_type.representation(e), rep(e))


def test_character_multiplicities(finite_group):
    r"""The character inner product gives, for every escnn real irrep :math:`\psi`,
    :math:`m \dim\psi / \langle\chi_\psi,\chi_\psi\rangle` (+ r for the trivial one):
    m dim(psi) copies over the complex numbers, i.e. half as many real irreps of complex type."""
    G = finite_group
    lat = _latent(G)
    T = lat.group
    chi = np.array([np.trace(lat.matrix(i).numpy()) for i in range(T.order)])
    inv = T.inv.numpy()
    for psi in G.irreps():
        chi_psi = np.array([np.trace(psi(e)) for e in T.elements])
        norm = (chi_psi * chi_psi[inv]).sum() / T.order
        n_psi = (chi * chi_psi[inv]).sum() / T.order / norm
        expected = lat.multiplicity * psi.size / round(norm) + (lat.padding if psi == G.trivial_representation else 0)
        assert abs(n_psi - expected) < 1e-9, (psi.name, n_psi, expected)


def test_default_multiplicity_and_padding_in_repr():
    G = group.direct_product(group.cyclic_group(4), group.cyclic_group(4))
    lat = regular_latent(G, 66)
    assert (lat.multiplicity, lat.padding, lat.size) == (4, 2, 66)
    assert repr(lat) == "RegularLatent(4×regular(C4 X C4) ⊕ 2×trivial, dim=66)"
    assert repr(regular_latent(G, 32)) == "RegularLatent(2×regular(C4 X C4), dim=32)"
    lat1 = regular_latent(G, 66, multiplicity=1)
    assert (lat1.multiplicity, lat1.padding) == (1, 50)
    assert regular_latent(G, 66) is lat


def test_spatial_latent_permutes_channels_only():
    lat = regular_latent(group.dihedral_group(4), 19)
    z = torch.randn(3, 19, 5, 6)
    g = torch.tensor([1, 5, 7])
    out = lat(z, g)
    for b in range(3):
        assert torch.equal(out[b], torch.einsum("ij,jhw->ihw", lat.matrix(int(g[b])).float(), z[b]))


def test_gradients():
    lat = regular_latent(group.cyclic_group(3), 7)
    z = torch.randn(4, 7, requires_grad=True)
    w = torch.randn(4, 7)
    g = torch.tensor([0, 1, 2, 1])
    (lat(z, g) * w).sum().backward()
    expected = torch.stack([lat.matrix(int(i)).float().T @ w[b] for b, i in enumerate(g)])
    assert torch.equal(z.grad, expected)


@pytest.mark.parametrize("device", ["cpu"] + cuda_devices())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_dtype_device(device, dtype):
    lat = regular_latent(group.cyclic_group(4), 10)
    z = torch.randn(3, 10, device=device).to(dtype)
    out = lat(z, torch.tensor([0, 1, 3], device=device))
    assert out.dtype == dtype and out.device.type == device


def test_bad_inputs():
    C4 = group.cyclic_group(4)
    with pytest.raises(ValueError, match="smallest valid dim is 4"):
        regular_latent(C4, 3)
    with pytest.raises(ValueError, match="multiplicity"):
        regular_latent(C4, 8, multiplicity=0)
    with pytest.raises(ValueError, match="use multiplicity <= 2"):
        regular_latent(C4, 8, multiplicity=3)
    with pytest.raises(TypeError, match="dim must be an int"):
        regular_latent(C4, 8.0)
    with pytest.raises(ValueError, match="continuous"):
        regular_latent(group.so2_group(), 8)
    lat = regular_latent(C4, 8)
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        lat(torch.randn(2, 9), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="batch has 2"):
        lat(torch.randn(2, 8), torch.tensor([0, 1, 2]))
    with pytest.raises(IndexError, match="out of range"):
        lat(torch.randn(2, 8), torch.tensor([0, 4]))
    with pytest.raises(IndexError):
        lat.matrix(4)
