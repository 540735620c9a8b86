import numpy as np
import pytest
import torch
from escnn.group import cyclic_group, dihedral_group, direct_product, directsum, octa_group

from escnn_soft.learned.decompose import Decomposition, decompose, matrix_stack
from escnn_soft.groups import group_table


from conftest import FINITE_GROUPS


def _octa_c3():
    return octa_group().subgroup((False, 3))[0]


# every finite group family of the shared fixtures but full_ico (escnn needs ~10 s to build
# its regular representation), plus two groups with irreps of complex type
GROUPS = {name: G for name, G in FINITE_GROUPS.items() if name != "full_ico"}
GROUPS.update({"C3xD2": lambda: direct_product(cyclic_group(3), dihedral_group(2)), "C3<octa": _octa_c3})


def _random_sum(G, seed):
    r"""A direct sum of irreps with random multiplicities (1 or 2) under a random change of basis."""
    rng = np.random.default_rng(seed)
    mult = rng.integers(1, 3, size=len(G.irreps()))
    parts = [irrep for irrep, m in zip(G.irreps(), mult) for _ in range(m)]
    d = sum(p.size for p in parts)
    Q = rng.normal(size=(d, d)) + 2 * np.eye(d)          # invertible, not orthogonal
    return directsum(parts, change_of_basis=Q), mult


@pytest.mark.parametrize("name", GROUPS)
def test_exact_multiplicities_under_change_of_basis(name):
    G = GROUPS[name]()
    rep, mult = _random_sum(G, seed=len(name))
    d = decompose(rep, G)
    assert isinstance(d, Decomposition)
    assert d.irrep_names == tuple(irrep.name for irrep in G.irreps())
    assert d.rounded.tolist() == mult.tolist()
    np.testing.assert_allclose(d.multiplicities, mult, atol=1e-8)
    assert d.residual < 1e-8
    assert d.dimension_matches and d.dim == rep.size
    assert d.is_representation and "not a representation" not in repr(d) + str(d)


@pytest.mark.parametrize("N", [3, 4, 5, 8])
def test_complex_type_irreps_count_once(N):
    G = cyclic_group(N)
    for k, irrep in enumerate(G.irreps()):
        d = decompose(irrep)
        expected = np.eye(len(G.irreps()), dtype=int)[k]
        assert d.rounded.tolist() == expected.tolist()
        np.testing.assert_allclose(d.multiplicities, expected, atol=1e-10)
        assert d.irrep_types[k] == ("C" if irrep.size == 2 else "R")


@pytest.mark.parametrize("name", ["C4", "D3", "octa", "C3xD2"])
def test_near_integers_with_noise(name):
    G = GROUPS[name]()
    rep, mult = _random_sum(G, seed=1)
    stack = matrix_stack(rep)
    noisy = stack + 1e-4 * np.random.default_rng(0).normal(size=stack.shape)
    d = decompose(noisy, G)
    assert d.rounded.tolist() == mult.tolist()
    assert np.abs(d.multiplicities - mult).max() < 1e-2
    assert 1e-7 < d.residual < 1e-2


def test_random_stack_is_far_from_a_representation():
    G = dihedral_group(3)
    d = decompose(np.random.default_rng(0).normal(size=(6, 5, 5)), G)
    assert d.homomorphism_defect_max > 0.5 and d.residual > 0.5
    assert d.summary.startswith("not a representation (homomorphism defect ")
    assert not d.is_representation


def _random_orthogonal_c6(dim=18, seed=0):
    r"""Random orthogonal matrices for the elements of C6, with the identity matrix for the identity."""
    G = cyclic_group(6)
    rng = np.random.default_rng(seed)
    stack = np.stack([np.linalg.qr(rng.normal(size=(dim, dim)))[0] for _ in range(6)])
    stack[group_table(G).identity] = np.eye(dim)
    return stack, G


def test_random_orthogonal_matrices_are_not_a_representation():
    stack, G = _random_orthogonal_c6()
    d = decompose(stack, G)
    assert d.identity_defect == 0.0 and d.homomorphism_defect_max > 0.5
    # their characters alone would read as 3 regular copies: summary, repr and str must not say so
    assert (d.regular_copies, d.trivial_copies) == (3, 0)
    verdict = f"not a representation (homomorphism defect {d.homomorphism_defect_max:.2g} > tol 0.001)"
    assert d.summary == verdict
    assert repr(d).endswith(" — " + verdict)
    assert str(d).splitlines()[0] == f"C6: matrices of dimension 18, {verdict}; their character inner products:"
    assert "×regular" not in repr(d) + str(d)
    assert not d.is_representation and not d.is_regular_plus_trivial


def test_true_representation_under_a_random_change_of_basis():
    G = cyclic_group(6)
    rng = np.random.default_rng(1)
    Q = rng.normal(size=(18, 18)) + 3 * np.eye(18)          # invertible, not orthogonal
    d = decompose(directsum([G.regular_representation] * 3, change_of_basis=Q))
    assert d.is_representation and d.is_regular_plus_trivial
    assert d.homomorphism_defect_max < 1e-12 and d.identity_defect < 1e-12
    assert d.summary == "3×regular(C6) ⊕ 0×trivial"
    assert str(d).splitlines()[0] == "C6 representation of dimension 18: 3×regular(C6) ⊕ 0×trivial"


def _noisy_regular_c6(noise, seed=2):
    G = cyclic_group(6)
    Q = np.linalg.qr(np.random.default_rng(seed).normal(size=(18, 18)))[0]
    stack = matrix_stack(directsum([G.regular_representation] * 3, change_of_basis=Q))
    return stack + noise * np.random.default_rng(seed + 1).normal(size=stack.shape), G


@pytest.mark.parametrize("noise", [1e-6, 1e-4, 1e-2])
def test_noisy_representation_is_judged_by_the_tolerance(noise):
    stack, G = _noisy_regular_c6(noise)
    d = decompose(stack, G)
    defect = max(d.homomorphism_defect_max, d.identity_defect)
    assert d.is_representation == (defect <= 1e-3) == (noise < 1e-3)      # the default tol is 1e-3
    assert d.tol == 1e-3
    # either side of the measured defect
    above, below = decompose(stack, G, tol=defect), decompose(stack, G, tol=0.99 * defect)
    assert above.is_representation and above.is_regular_plus_trivial
    assert above.summary == "3×regular(C6) ⊕ 0×trivial"
    assert not below.is_representation and not below.is_regular_plus_trivial
    assert below.summary.startswith("not a representation (")
    assert below.tol == 0.99 * defect and f"> tol {below.tol:.2g})" in below.summary
    np.testing.assert_array_equal(above.multiplicities, below.multiplicities)


def test_homomorphism_onto_a_subspace_is_not_a_representation():
    # rho ⊕ 0 satisfies rho(g) rho(h) = rho(gh) exactly, but rho(e) is a projection, not I
    G = dihedral_group(3)
    stack = matrix_stack(directsum([G.regular_representation, G.trivial_representation]))
    stack[:, -1, -1] = 0.0
    d = decompose(stack, G)
    assert d.homomorphism_defect_max < 1e-12 and d.identity_defect == pytest.approx(1 / np.sqrt(7))
    assert d.summary == "not a representation (identity defect 0.38 > tol 0.001)"
    assert not d.is_representation and not d.is_regular_plus_trivial


@pytest.mark.parametrize("tol", [-1e-3, float("nan"), float("inf"), "1e-3", None, True])
def test_bad_tolerance(tol):
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        decompose(dihedral_group(3).regular_representation, tol=tol)


@pytest.mark.parametrize("name", GROUPS)
def test_regular_representation(name):
    G = GROUPS[name]()
    d = decompose(G.regular_representation)
    # each irrep psi occurs dim(psi) / <chi_psi, chi_psi> times: dim/2 for complex type
    norms = np.array([{"R": 1, "C": 2, "H": 4}[t] for t in d.irrep_types])
    assert d.rounded.tolist() == (np.array(d.irrep_dims) // norms).tolist() == d.regular.tolist()
    assert (d.regular_copies, d.trivial_copies) == (1, 0) and d.regular_distance < 1e-8
    assert d.is_representation and d.is_regular_plus_trivial
    assert d.summary.startswith("1×regular(")
    assert "1×regular" in str(d)


def test_regular_plus_trivial_summary():
    G = dihedral_group(3)
    parts = [G.regular_representation] * 3 + [G.trivial_representation] * 2
    Q = np.linalg.qr(np.random.default_rng(3).normal(size=(20, 20)))[0]
    d = decompose(directsum(parts, change_of_basis=Q))
    assert d.summary == "3×regular(D3) ⊕ 2×trivial"
    assert repr(d).startswith("D3: irrep_0,0(1) 5.00, irrep_1,0(1) 3.00, irrep_1,1(2) 6.00 — residual ")
    assert repr(d).endswith(" — 3×regular(D3) ⊕ 2×trivial")
    assert d.is_regular_plus_trivial
    assert d.rounded.tolist() == [5, 3, 6]
    text = str(d)
    for piece in ("irrep_0,0(1)", "irrep_1,0(1)", "irrep_1,1(2)", "3×regular(D3) ⊕ 2×trivial", "residual", "20 = 20"):
        assert piece in text


def test_not_regular():
    G = dihedral_group(3)
    d = decompose(directsum([G.regular_representation, G.irrep(1, 1)]))
    assert not d.is_regular_plus_trivial
    assert d.regular_copies == 1 and d.regular_distance == pytest.approx(2.0)
    assert d.summary == "closest to 1×regular(D3) ⊕ 0×trivial (2 dimensions off)"
    assert repr(d).endswith(" — closest to 1×regular(D3) ⊕ 0×trivial (2 dimensions off)")
    assert str(d).splitlines()[0] == ("D3 representation of dimension 8, "
                                      "closest to 1×regular(D3) ⊕ 0×trivial (2 dimensions off)")


def test_complex_counts_c4_regular_latent():
    G = cyclic_group(4)
    Q = np.linalg.qr(np.random.default_rng(0).normal(size=(64, 64)))[0]
    d = decompose(directsum([G.regular_representation] * 16, change_of_basis=Q))
    assert d.complex_labels == ((0,), (1,), (2,), (3,))
    assert d.complex_counts == (16, 16, 16, 16)
    assert d.generator_orders == (4,)
    assert "16:16:16:16" in str(d)
    assert d.summary == "16×regular(C4) ⊕ 0×trivial"


def test_complex_counts_of_complex_type_irrep():
    G = cyclic_group(5)
    d = decompose(directsum([G.irrep(2), G.trivial_representation]))
    # the rotation by 2*(2pi/5) has eigenvalues exp(±2pi i 2/5): k = 2 and 3
    assert d.complex_counts == (1, 0, 1, 1, 0)


def test_complex_counts_by_joint_characters():
    G = direct_product(cyclic_group(2), cyclic_group(2))
    table = group_table(G)
    irreps = G.irreps()
    d = decompose(directsum([irreps[0], irreps[1], irreps[1], irreps[3]]))
    assert len(d.complex_labels) == 4 and len(table.generators) == 2
    assert sorted(d.complex_counts) == [0, 1, 1, 2] and sum(d.complex_counts) == 4
    # the trivial character (all k = 0) occurs once
    assert d.complex_counts[d.complex_labels.index((0, 0))] == 1


def test_non_abelian_has_no_complex_counts():
    d = decompose(dihedral_group(3).regular_representation)
    assert d.complex_counts is None and d.complex_labels is None


def test_subgroup_restriction_matches_escnn():
    O = octa_group()
    H = _octa_c3()
    rep = O.irrep(1).restrict((False, 3))
    d = decompose(rep, H)
    expected = [sum(1 for i in rep.irreps if H.irrep(*i).name == irrep.name) for irrep in H.irreps()]
    assert d.rounded.tolist() == expected == [1, 1]


class _Matrices:
    def __init__(self, stack, G):
        self.stack, self.group = stack, group_table(G)

    def matrices(self):
        return torch.from_numpy(self.stack)


def test_all_input_forms_agree():
    G = dihedral_group(3)
    rep, _ = _random_sum(G, seed=5)
    table = group_table(G)
    stack = matrix_stack(rep)
    forms = [
        rep,
        lambda e: rep(e),                                    # callable on escnn elements
        lambda i: stack[i],                                  # callable on element indices
        {i: stack[i] for i in range(table.order)},           # mapping keyed by index
        {e: rep(e) for e in table.elements},                 # mapping keyed by element
        stack,
        torch.from_numpy(stack),
        torch.from_numpy(stack).float(),
        _Matrices(stack, G),
    ]
    reference = decompose(rep)
    for form in forms:
        d = decompose(form, G)
        assert d.rounded.tolist() == reference.rounded.tolist()
        np.testing.assert_allclose(d.multiplicities, reference.multiplicities, atol=1e-5)
    assert decompose(_Matrices(stack, G)).group is table       # the group is read from .group


def test_errors():
    G, C4 = dihedral_group(3), cyclic_group(4)
    with pytest.raises(ValueError, match=r"\(6, d, d\)"):
        decompose(np.zeros((5, 2, 2)), G)
    with pytest.raises(ValueError, match="square"):
        decompose(np.zeros((6, 3, 4)), G)
    with pytest.raises(ValueError, match="D3.*C4|C4.*D3"):
        decompose(G.regular_representation, C4)
    with pytest.raises(ValueError, match="pass it"):
        decompose(np.zeros((6, 2, 2)))
    with pytest.raises(ValueError, match="no matrix for element indices"):
        decompose({0: np.eye(2)}, G)
    with pytest.raises(TypeError, match="complex"):
        decompose(np.zeros((6, 2, 2), dtype=complex), G)
    with pytest.raises(ValueError, match="non-finite"):
        decompose(np.full((6, 2, 2), np.nan), G)
    with pytest.raises(TypeError, match="cannot read"):
        decompose("rho", G)
