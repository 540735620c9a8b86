r"""Digits in two typefaces, for the :math:`C_2` "swap the typeface" experiment.

The paper's Section 4 trains an autoencoder on pairs :math:`(x, x')` of the same digit,
rotated and scaled alike, in two typefaces; :math:`C_2` acts by swapping the typeface.
Its data are two fonts of TMNIST (a CSV of rendered digits). This module gives the same
pairs from either source:

* :func:`render_glyphs` draws the ten digits in fonts that ship with matplotlib (DejaVu
  Sans and Computer Modern Roman, cmr10, by default): offline, no download;
* :func:`read_tmnist_csv` reads two fonts of a TMNIST CSV file (columns ``names``,
  ``labels``, then the 784 pixels ``'1'`` … ``'784'``).

Both give :class:`TypefaceGlyphs`, one upright :math:`28 \times 28` image per font and
digit. :func:`typeface_pairs` draws augmented pairs from them: digit, typeface, rotation
angle and scale are random per sample; the swapped image shows the same digit at the same
angle and scale in the other typeface.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DEFAULT_FONTS",
    "TMNIST_FONTS",
    "TypefaceGlyphs",
    "TypefacePairs",
    "render_glyphs",
    "read_tmnist_csv",
    "load_typefaces",
    "typeface_pairs",
]

PathLike = Union[str, os.PathLike]

DEFAULT_FONTS: Tuple[str, str] = ("DejaVu Sans", "cmr10")
r"""The two font families :func:`render_glyphs` uses by default (both ship with matplotlib)."""

TMNIST_FONTS: Tuple[str, str] = ("IBMPlexSans-MediumItalic", "Bahianita-Regular")
r"""The two TMNIST fonts of the paper's experiment (values of the ``names`` column)."""

_SIZE = 28
_PIXELS = _SIZE * _SIZE


class TypefaceGlyphs(NamedTuple):
    r"""Upright digits in two typefaces.

    Attributes:
        images: float32 array ``(2, n_digits, 28, 28)`` in :math:`[0, 1]` (ink is 1):
            ``images[f, k]`` is digit ``digits[k]`` in typeface ``fonts[f]``.
        fonts: the two typeface names.
        digits: the digits, in order.
    """

    images: np.ndarray
    fonts: Tuple[str, str]
    digits: Tuple[int, ...]


class TypefacePairs(NamedTuple):
    r"""Augmented pairs :math:`(x, x')` of one digit in the two typefaces.

    Attributes:
        x: float32 array ``(N, 28, 28)`` in :math:`[0, 1]`.
        swapped: float32 array ``(N, 28, 28)``: the same digit, angle and scale in the other typeface.
        digits: int64 array ``(N,)``, the digit shown.
        fonts: int64 array ``(N,)``, the typeface of ``x`` (an index into ``TypefaceGlyphs.fonts``).
        angles: float array ``(N,)``, the rotation in degrees (counter-clockwise as displayed).
        scales: float array ``(N,)``, the scale factor.
    """

    x: np.ndarray
    swapped: np.ndarray
    digits: np.ndarray
    fonts: np.ndarray
    angles: np.ndarray
    scales: np.ndarray

    def stacked(self) -> np.ndarray:
        r"""``(N, 2, 28, 28)``: ``[x, swapped]`` per sample, the orbit of ``x`` under the swap.

        :math:`C_2` acts on a stacked pair by exchanging its two slots, i.e. by its regular
        representation (``regular_latent(cyclic_group(2), 2)`` acting on the slot axis).
        """
        return np.stack([self.x, self.swapped], axis=1)


def _checked_digits(digits: Sequence[int]) -> Tuple[int, ...]:
    digits = tuple(int(d) for d in digits)
    if not digits:
        raise ValueError("digits must name at least one digit (0..9)")
    if any(not 0 <= d <= 9 for d in digits) or len(set(digits)) != len(digits):
        raise ValueError(f"digits must be distinct digits 0..9, got {digits}")
    return digits


def _checked_fonts(fonts: Sequence[str]) -> Tuple[str, str]:
    if isinstance(fonts, str) or len(fonts) != 2 or not all(isinstance(f, str) and f for f in fonts):
        raise ValueError(f"fonts must be two font names, got {fonts!r}")
    if fonts[0] == fonts[1]:
        raise ValueError(f"the two fonts must differ, got {fonts[0]!r} twice")
    return tuple(fonts)


def _font_file(family: str) -> str:
    from matplotlib import font_manager

    try:
        return font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    except ValueError:
        known = sorted({f.name for f in font_manager.fontManager.ttflist})
        raise ValueError(f"matplotlib has no font family {family!r}; it knows {known}") from None


def _render(char: str, font_file: str, box: float) -> np.ndarray:
    r"""``char`` drawn white on black in a 28×28 image, its bounding box scaled to fit
    ``box`` pixels and centred (antialiased by Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    path = TextPath((0, 0), char, size=100, prop=FontProperties(fname=font_file))
    ext = path.get_extents()
    if ext.width <= 0 or ext.height <= 0:
        raise ValueError(f"the font {font_file!r} draws nothing for {char!r}")
    place = (Affine2D().translate(-(ext.x0 + ext.x1) / 2, -(ext.y0 + ext.y1) / 2)
             .scale(box / max(ext.width, ext.height)).translate(_SIZE / 2, _SIZE / 2))
    fig = Figure(figsize=(1, 1), dpi=_SIZE, facecolor="black")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, _SIZE)
    ax.set_ylim(0, _SIZE)
    ax.set_axis_off()
    ax.add_patch(PathPatch(place.transform_path(path), facecolor="white", edgecolor="none"))
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float32) / 255.0


def render_glyphs(fonts: Sequence[str] = DEFAULT_FONTS, digits: Sequence[int] = range(10),
                  box: float = 20.0) -> TypefaceGlyphs:
    r"""Draw the digits in two font families known to matplotlib, as :class:`TypefaceGlyphs`.

    Each digit's outline (:class:`matplotlib.textpath.TextPath`) is scaled so that its
    longer side spans ``box`` pixels (MNIST's 20 by default), centred in the
    :math:`28 \times 28` image and rasterised with Agg's antialiasing: white ink on black.

    Args:
        fonts: two font family names, e.g. ``("DejaVu Sans", "cmr10")`` (the default;
            both ship with matplotlib) or ``("DejaVu Sans", "DejaVu Sans Mono")``.
        digits: the digits to draw (default 0–9).
        box (float): the size of the longer side of every digit, in pixels (at most 28).

    Raises:
        ValueError: for an unknown font family, or bad digits or box.

    Example:
        >>> glyphs = render_glyphs()
        >>> glyphs.images.shape, glyphs.fonts
        ((2, 10, 28, 28), ('DejaVu Sans', 'cmr10'))
    """
    fonts = _checked_fonts(fonts)
    digits = _checked_digits(digits)
    if not 0 < box <= _SIZE:
        raise ValueError(f"box must be in (0, {_SIZE}] pixels, got {box}")
    files = [_font_file(f) for f in fonts]
    images = np.stack([np.stack([_render(str(d), file, box) for d in digits]) for file in files])
    return TypefaceGlyphs(images, fonts, digits)


def read_tmnist_csv(path: PathLike, fonts: Sequence[str] = TMNIST_FONTS,
                    digits: Sequence[int] = range(10)) -> TypefaceGlyphs:
    r"""Two fonts of a TMNIST CSV file, as :class:`TypefaceGlyphs`.

    The file has a header ``names, labels, 1, 2, ..., 784`` and one row per rendered
    digit: the font name, the digit, and its :math:`28 \times 28` pixels (0–255, row
    major, white ink on black). The first row of every (font, digit) is used.

    Args:
        path (path-like): the CSV file (e.g. ``TMNIST_Data.csv``).
        fonts: the two values of ``names`` to read (default: the paper's two fonts).
        digits: the digits to read (default 0–9).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for a header that is not TMNIST's, bad rows, or a font or digit missing.
    """
    fonts = _checked_fonts(fonts)
    digits = _checked_digits(digits)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no TMNIST CSV file at {path}")
    wanted = {(f, d) for f in fonts for d in digits}
    found = {}
    names_seen = set()
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        expected = ["names", "labels"] + [str(i) for i in range(1, _PIXELS + 1)]
        if header is None or [h.strip() for h in header] != expected:
            shown = None if header is None else header[:4] + (["..."] if len(header) > 4 else [])
            raise ValueError(f"{path} is not a TMNIST CSV: expected the columns names, labels, 1, ..., "
                             f"{_PIXELS}; got {shown}")
        for line, row in enumerate(reader, start=2):
            if len(row) != len(expected):
                raise ValueError(f"{path}, line {line}: {len(row)} fields, expected {len(expected)}")
            name = row[0]
            names_seen.add(name)
            try:
                key = (name, int(row[1]))
            except ValueError:
                raise ValueError(f"{path}, line {line}: label {row[1]!r} is not a digit") from None
            if key not in wanted or key in found:
                continue
            try:
                pixels = np.array(row[2:], dtype=np.float32)
            except ValueError:
                raise ValueError(f"{path}, line {line}: the pixels must be numbers 0..255") from None
            if not ((pixels >= 0) & (pixels <= 255)).all():
                raise ValueError(f"{path}, line {line}: pixel values must lie in 0..255")
            found[key] = pixels.reshape(_SIZE, _SIZE) / 255.0
    missing_fonts = [f for f in fonts if f not in names_seen]
    if missing_fonts:
        known = sorted(names_seen)
        raise ValueError(f"{path} has no font {missing_fonts[0]!r}; it has {len(known)} fonts, e.g. {known[:8]}")
    missing = sorted(wanted - set(found))
    if missing:
        raise ValueError(f"{path} has no image of digit {missing[0][1]} in font {missing[0][0]!r}")
    images = np.stack([np.stack([found[(f, d)] for d in digits]) for f in fonts]).astype(np.float32)
    return TypefaceGlyphs(images, fonts, digits)


def load_typefaces(source: Optional[PathLike] = None, fonts: Optional[Sequence[str]] = None,
                   digits: Sequence[int] = range(10)) -> TypefaceGlyphs:
    r"""Digits in two typefaces from one source string, as :class:`TypefaceGlyphs`.

    Args:
        source: ``None`` (the offline default): :func:`render_glyphs` with matplotlib's
            fonts; a path to a TMNIST CSV file: :func:`read_tmnist_csv`.
        fonts: the two fonts (default :data:`DEFAULT_FONTS` when rendering,
            :data:`TMNIST_FONTS` for a CSV file).
        digits: the digits (default 0–9).
    """
    if source is None:
        return render_glyphs(DEFAULT_FONTS if fonts is None else fonts, digits)
    return read_tmnist_csv(source, TMNIST_FONTS if fonts is None else fonts, digits)


def typeface_pairs(glyphs: TypefaceGlyphs, n: int, *, max_angle: float = 45.0,
                   scale: Tuple[float, float] = (0.8, 1.2), seed: int = 0) -> TypefacePairs:
    r"""Draw ``n`` augmented pairs :math:`(x, x')` from :class:`TypefaceGlyphs`.

    Per sample: a digit and the typeface of :math:`x` uniformly, an angle uniform in
    :math:`[-\text{max\_angle}, \text{max\_angle}]` degrees and a scale uniform in
    ``scale``; :math:`x` and :math:`x'` are the digit's two upright glyphs, typeface of
    :math:`x` first, rotated about the image centre and scaled by the same affine map
    (bilinear resampling, zero outside). Swapping the typeface therefore keeps digit,
    angle and scale.

    Args:
        glyphs (TypefaceGlyphs): the upright digits.
        n (int): the number of pairs.
        max_angle (float): the largest rotation, in degrees (0 for none).
        scale (tuple of float): the range of the scale factor (``(1, 1)`` for none).
        seed (int): the seed of the draw (numpy).

    Example:
        >>> pairs = typeface_pairs(render_glyphs(digits=[3, 7]), 5, seed=1)
        >>> pairs.x.shape, pairs.stacked().shape
        ((5, 28, 28), (5, 2, 28, 28))
    """
    if not isinstance(glyphs, TypefaceGlyphs):
        raise TypeError(f"glyphs must be TypefaceGlyphs (render_glyphs, read_tmnist_csv), got {type(glyphs).__name__}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if not max_angle >= 0:
        raise ValueError(f"max_angle must be >= 0 degrees, got {max_angle}")
    lo, hi = (float(s) for s in scale)
    if not 0 < lo <= hi:
        raise ValueError(f"scale must be a range (low, high) with 0 < low <= high, got {scale}")
    rng = np.random.default_rng(seed)
    k = rng.integers(len(glyphs.digits), size=n)
    font = rng.integers(2, size=n)
    angles = rng.uniform(-max_angle, max_angle, size=n)
    scales = rng.uniform(lo, hi, size=n)

    # output pixel -> input pixel, in grid_sample's (column, row) coordinates: rows point down,
    # so a counter-clockwise rotation on screen is a clockwise one in these coordinates
    a = np.deg2rad(angles)
    cos, sin = np.cos(a) / scales, np.sin(a) / scales
    theta = np.zeros((n, 2, 3))
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    theta = torch.from_numpy(theta).float()
    images = torch.from_numpy(glyphs.images)

    def warp(f: np.ndarray) -> np.ndarray:
        if n == 0:
            return np.zeros((0, _SIZE, _SIZE), dtype=np.float32)
        upright = images[torch.from_numpy(f), torch.from_numpy(k)][:, None]
        grid = F.affine_grid(theta, [n, 1, _SIZE, _SIZE], align_corners=False)
        return F.grid_sample(upright, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=False)[:, 0].numpy()

    return TypefacePairs(warp(font), warp(1 - font), np.asarray(glyphs.digits)[k].astype(np.int64),
                         font.astype(np.int64), angles, scales)
