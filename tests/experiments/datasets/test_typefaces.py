import csv

import numpy as np
import pytest

from escnn_soft.experiments.datasets.typefaces import (
    DEFAULT_FONTS,
    TMNIST_FONTS,
    TypefaceGlyphs,
    load_typefaces,
    read_tmnist_csv,
    render_glyphs,
    typeface_pairs,
)


@pytest.fixture(scope="module")
def glyphs():
    return render_glyphs()


# ------------------------------------------------------------------ rendering


def test_rendered_glyphs(glyphs):
    assert glyphs.images.shape == (2, 10, 28, 28) and glyphs.images.dtype == np.float32
    assert glyphs.fonts == DEFAULT_FONTS and glyphs.digits == tuple(range(10))
    assert glyphs.images.min() >= 0 and glyphs.images.max() == pytest.approx(1.0, abs=0.02)
    # ink in the middle, none on the border (the longer side spans 20 of 28 pixels)
    border = np.concatenate([glyphs.images[..., :3, :].ravel(), glyphs.images[..., -3:, :].ravel()])
    assert border.max() < 0.05
    for f in range(2):
        for k in range(10):
            rows, cols = np.nonzero(glyphs.images[f, k] > 0.5)
            assert 17 <= max(np.ptp(rows), np.ptp(cols)) + 1 <= 21
    # the two typefaces differ, and so do the digits within one
    difference = np.abs(glyphs.images[0] - glyphs.images[1]).reshape(10, -1).mean(1)
    assert (difference > 0.02).all()
    within = np.abs(glyphs.images[0, :, None] - glyphs.images[0, None]).reshape(10, 10, -1).mean(-1)
    assert (within[~np.eye(10, dtype=bool)] > 0.05).all()


def test_render_options_and_errors():
    g = render_glyphs(("DejaVu Sans", "DejaVu Serif"), digits=[7, 1], box=14)
    assert g.images.shape == (2, 2, 28, 28) and g.digits == (7, 1)
    with pytest.raises(ValueError, match="no font family 'No Such Font'"):
        render_glyphs(("DejaVu Sans", "No Such Font"))
    with pytest.raises(ValueError, match="two font names"):
        render_glyphs(("DejaVu Sans",))
    with pytest.raises(ValueError, match="must differ"):
        render_glyphs(("DejaVu Sans", "DejaVu Sans"))
    with pytest.raises(ValueError, match="distinct digits"):
        render_glyphs(digits=[1, 1])
    with pytest.raises(ValueError, match="distinct digits"):
        render_glyphs(digits=[10])
    with pytest.raises(ValueError, match="box"):
        render_glyphs(box=30)


# ------------------------------------------------------------------ pairs


def test_pairs_are_one_digit_and_pose_in_both_typefaces(glyphs):
    pairs = typeface_pairs(glyphs, 64, seed=3)
    assert pairs.x.shape == pairs.swapped.shape == (64, 28, 28) and pairs.x.dtype == np.float32
    assert set(pairs.fonts) == {0, 1} and len(set(pairs.digits)) > 5
    assert np.abs(pairs.angles).max() <= 45 and ((pairs.scales >= 0.8) & (pairs.scales <= 1.2)).all()
    np.testing.assert_array_equal(pairs.stacked()[:, 0], pairs.x)
    np.testing.assert_array_equal(pairs.stacked()[:, 1], pairs.swapped)

    # without rotation and scaling, the images are the glyphs themselves
    still = typeface_pairs(glyphs, 32, max_angle=0, scale=(1, 1), seed=4)
    k = still.digits
    np.testing.assert_allclose(still.x, glyphs.images[still.fonts, k], atol=1e-5)
    np.testing.assert_allclose(still.swapped, glyphs.images[1 - still.fonts, k], atol=1e-5)

    # the pose is shared: with the second typeface twice as bright as the first, the
    # warp (linear in the image) gives swapped = 2 x or x / 2, whatever the angle and scale
    bright = TypefaceGlyphs(np.stack([glyphs.images[0], 2 * glyphs.images[0]]), ("a", "b"), glyphs.digits)
    pairs = typeface_pairs(bright, 32, seed=5)
    factor = np.where(pairs.fonts == 0, 2.0, 0.5)[:, None, None]
    np.testing.assert_allclose(pairs.swapped, factor * pairs.x, atol=1e-5)
    # and a rotated digit is no longer the upright glyph
    assert np.abs(pairs.x - bright.images[pairs.fonts, pairs.digits]).max() > 0.3


def test_pairs_are_reproducible_and_rotate_counter_clockwise(glyphs):
    a, b = typeface_pairs(glyphs, 8, seed=7), typeface_pairs(glyphs, 8, seed=7)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, typeface_pairs(glyphs, 8, seed=8).x)
    # a bar along the x axis, rotated by +90 degrees, points up (rows decrease upwards)
    bar = np.zeros((1, 1, 28, 28), np.float32)
    bar[..., 13:15, 14:24] = 1.0
    one = TypefaceGlyphs(np.concatenate([bar, bar]), ("a", "b"), (0,))
    turned = typeface_pairs(one, 1, max_angle=90, scale=(1, 1), seed=0)
    angle = turned.angles[0]
    rows, cols = np.nonzero(turned.x[0] > 0.5)
    direction = np.arctan2(-(rows.mean() - 13.5), cols.mean() - 13.5)
    assert np.rad2deg(direction) == pytest.approx(angle, abs=6)


def test_pairs_reject_bad_arguments(glyphs):
    with pytest.raises(TypeError, match="TypefaceGlyphs"):
        typeface_pairs(glyphs.images, 4)
    with pytest.raises(ValueError, match="n must be"):
        typeface_pairs(glyphs, -1)
    with pytest.raises(ValueError, match="max_angle"):
        typeface_pairs(glyphs, 4, max_angle=-5)
    with pytest.raises(ValueError, match="scale"):
        typeface_pairs(glyphs, 4, scale=(1.2, 0.8))
    assert typeface_pairs(glyphs, 0).x.shape == (0, 28, 28)


# ------------------------------------------------------------------ TMNIST CSV


def _write_tmnist(path, rows, header=None):
    header = header or ["names", "labels"] + [str(i) for i in range(1, 785)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for name, label, pixels in rows:
            w.writerow([name, label] + [int(p) for p in pixels.ravel()])
    return path


def _pixels(seed):
    return np.random.default_rng(seed).integers(0, 256, size=(28, 28))


def test_tmnist_csv(tmp_path):
    rows = [(font, d, _pixels(10 * f + d)) for f, font in enumerate(TMNIST_FONTS + ("Other-Font",)) for d in range(3)]
    rows.append((TMNIST_FONTS[0], 1, _pixels(99)))          # a second image of a (font, digit): ignored
    path = _write_tmnist(tmp_path / "TMNIST_Data.csv", rows)
    g = read_tmnist_csv(path, digits=[2, 0])
    assert g.fonts == TMNIST_FONTS and g.digits == (2, 0) and g.images.shape == (2, 2, 28, 28)
    np.testing.assert_allclose(g.images[0, 0], _pixels(2) / 255.0)
    np.testing.assert_allclose(g.images[1, 1], _pixels(10) / 255.0)
    g = load_typefaces(path, fonts=("Other-Font", TMNIST_FONTS[0]), digits=[1])
    np.testing.assert_allclose(g.images[:, 0], np.stack([_pixels(21), _pixels(1)]) / 255.0)
    assert load_typefaces(path, digits=[0, 1, 2]).fonts == TMNIST_FONTS
    assert load_typefaces(None, digits=[3]).fonts == DEFAULT_FONTS


def test_tmnist_csv_errors(tmp_path):
    good = [(font, d, _pixels(d)) for font in TMNIST_FONTS for d in range(2)]
    with pytest.raises(FileNotFoundError, match="no TMNIST CSV"):
        read_tmnist_csv(tmp_path / "missing.csv")
    path = _write_tmnist(tmp_path / "a.csv", good)
    with pytest.raises(ValueError, match="has no font 'Nope'"):
        read_tmnist_csv(path, fonts=("Nope", TMNIST_FONTS[0]), digits=[0])
    with pytest.raises(ValueError, match="no image of digit 5"):
        read_tmnist_csv(path, digits=[0, 5])
    header = ["name", "label"] + [str(i) for i in range(1, 785)]
    with pytest.raises(ValueError, match="not a TMNIST CSV"):
        read_tmnist_csv(_write_tmnist(tmp_path / "b.csv", good, header=header), digits=[0])
    (tmp_path / "c.csv").write_text(",".join(["names", "labels"] + [str(i) for i in range(1, 785)]) + "\nA,1,2,3\n")
    with pytest.raises(ValueError, match="line 2: 4 fields"):
        read_tmnist_csv(tmp_path / "c.csv", digits=[0])
    bad = good + [(TMNIST_FONTS[0], 3, np.full((28, 28), 300))]
    with pytest.raises(ValueError, match="0..255"):
        read_tmnist_csv(_write_tmnist(tmp_path / "d.csv", bad), digits=[3])
    bad = [("x", "seven", _pixels(0))]
    with pytest.raises(ValueError, match="label 'seven'"):
        read_tmnist_csv(_write_tmnist(tmp_path / "e.csv", bad), digits=[0])
