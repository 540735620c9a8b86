import numpy as np
import pytest
import torch
from escnn import group

from escnn_soft import GroupTable, group_table


def test_table_axioms(finite_group):
    T = group_table(finite_group)
    n = T.order
    assert n == len(list(finite_group.elements)) == len(T)
    els = T.elements
    assert [T.index(e) for e in els] == list(range(n))
    assert T.elements[T.identity] == finite_group.identity
    mul = T.mul
    assert mul.dtype == torch.long and mul.shape == (n, n)
    # Latin square, identity row/column, inverses, associativity
    assert all(sorted(r) == list(range(n)) for r in mul.tolist())
    assert torch.equal(mul[T.identity], torch.arange(n))
    assert torch.equal(mul[:, T.identity], torch.arange(n))
    assert torch.equal(mul[torch.arange(n), T.inv], torch.full((n,), T.identity))
    i, j, k = torch.meshgrid(torch.arange(n), torch.arange(n), torch.arange(n), indexing="ij")
    assert torch.equal(mul[mul[i, j], k], mul[i, mul[j, k]])
    # products agree with escnn
    for a in range(0, n, max(1, n // 7)):
        for b in range(0, n, max(1, n // 5)):
            assert els[a] @ els[b] == els[int(mul[a, b])]
            assert ~els[a] == els[int(T.inv[a])]


def test_generators_and_words(finite_group):
    T = group_table(finite_group)
    for i, word in enumerate(T.words):
        e = T.identity
        for k in word:
            e = int(T.mul[e, T.generators[k]])
        assert e == i
    assert T.words[T.identity] == ()
    if T.order > 1:
        gens = {T.index(s) for s in finite_group.generators}
        assert set(T.generators) == gens


def test_cached_once():
    G = group.dihedral_group(6)
    assert group_table(G) is group_table(group.dihedral_group(6))
    assert group_table(group_table(G)) is group_table(G)


@pytest.mark.parametrize("G", [group.so2_group(), group.o2_group(), group.so3_group(), group.o3_group()], ids=str)
def test_continuous_group_rejected(G):
    with pytest.raises(ValueError, match="continuous"):
        group_table(G)


def test_not_a_group():
    with pytest.raises(TypeError, match="escnn Group"):
        GroupTable("C4")


def test_index_of_foreign_element():
    T = group_table(group.cyclic_group(4))
    with pytest.raises(ValueError, match="not an element"):
        T.index(group.cyclic_group(5).elements[1])


def test_check_indices():
    T = group_table(group.cyclic_group(4))
    T.check_indices(torch.tensor([0, 3]), 2)
    with pytest.raises(IndexError, match="out of range.*0..3"):
        T.check_indices(torch.tensor([0, 4]), 2)
    with pytest.raises(IndexError, match="-1"):
        T.check_indices(torch.tensor([-1, 0]), 2)
    with pytest.raises(ValueError, match="batch has 3"):
        T.check_indices(torch.tensor([0, 1]), 3)
    with pytest.raises(TypeError, match="dtype"):
        T.check_indices(torch.tensor([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match="1-D"):
        T.check_indices(torch.tensor([[0, 1]]), 1)
    with pytest.raises(TypeError, match="LongTensor"):
        T.check_indices([0, 1], 2)


def test_sample_uniform_and_seeded():
    T = group_table(group.dihedral_group(4))
    gen = torch.Generator().manual_seed(1)
    g = T.sample(8000, generator=gen)
    counts = torch.bincount(g, minlength=8).float()
    assert g.min() >= 0 and g.max() < 8
    assert (counts / 1000 - 1).abs().max() < 0.1
    assert torch.equal(T.sample(5, generator=torch.Generator().manual_seed(3)),
                       T.sample(5, generator=torch.Generator().manual_seed(3)))
    assert "D4" in repr(T)


def _product(T, generators, word):
    g = T.identity
    for k in word:
        g = int(T.mul[g, generators[k]])
    return g


def _distances(T, generators):
    r"""The word length of every element, by growing the balls {products of <= l generators}."""
    distance = {T.identity: 0}
    ball, length = {T.identity}, 0
    while len(ball) < T.order:
        length += 1
        ball = ball | {int(T.mul[g, s]) for g in ball for s in generators}
        for g in ball:
            distance.setdefault(g, length)
    return [distance[i] for i in range(T.order)]


def _generating_sets(T):
    r"""escnn's generators, their inverses in reverse order, and every element but the identity."""
    yield T.generators
    yield tuple(int(T.inv[s]) for s in reversed(T.generators))
    yield tuple(i for i in range(T.order) if i != T.identity)


def test_shortest_words(finite_group):
    T = group_table(finite_group)
    assert T.shortest_words(T.generators) == T.words
    for gens in _generating_sets(T):
        words = T.shortest_words(gens)
        assert len(words) == T.order and words[T.identity] == ()
        assert [_product(T, gens, w) for w in words] == list(range(T.order))
        assert [len(w) for w in words] == _distances(T, gens)


@pytest.mark.parametrize("G", [group.dihedral_group(3), group.octa_group(),
                               group.direct_product(group.cyclic_group(2), group.dihedral_group(3))], ids=str)
def test_shortest_words_are_the_lexicographically_first(G):
    import itertools

    T = group_table(G)
    for gens in _generating_sets(T):
        words = T.shortest_words(gens)
        for i, w in enumerate(words):                 # all words of that length: at most 81 here
            spelled = [v for v in itertools.product(range(len(gens)), repeat=len(w)) if _product(T, gens, v) == i]
            assert w == min(spelled)


def test_shortest_words_errors():
    T = group_table(group.dihedral_group(3))
    rotation = T.generators[0]
    with pytest.raises(ValueError, match=r"do not generate D3: they reach 3 of its 6 elements"):
        T.shortest_words([rotation])
    with pytest.raises(ValueError, match="do not generate C4"):
        group_table(group.cyclic_group(4)).shortest_words([])
    with pytest.raises(IndexError, match=r"generator element index 6 is out of range for D3 \(valid indices are 0..5"):
        T.shortest_words([rotation, 6])
    with pytest.raises(TypeError, match="integer element index"):
        T.shortest_words([1.0])
    with pytest.raises(TypeError, match="integer element index"):
        T.shortest_words([True])
    with pytest.raises(TypeError, match=r"T.index\(element\)"):
        T.shortest_words(list(T.elements[:2]))
    assert T.shortest_words(np.array(T.generators)) == T.words      # numpy integers are indices too
    assert group_table(group.cyclic_group(1)).shortest_words([]) == ((),)


def test_element_order(finite_group):
    T = group_table(finite_group)
    for i in range(T.order):
        N = T.element_order(i)
        powers = [T.identity]
        for _ in range(N):
            powers.append(int(T.mul[powers[-1], i]))
        assert powers[-1] == T.identity and T.identity not in powers[1:-1]
        assert T.order % N == 0 and N == T.element_order(int(T.inv[i]))
    assert T.element_order(T.identity) == 1
    with pytest.raises(IndexError, match="out of range"):
        T.element_order(T.order)
