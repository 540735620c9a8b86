r"""The networks of the paper's exploration experiments (its Section 4 and appendix B).

Each experiment trains a plain encoder :math:`E` and head :math:`D` together with a
*learned* latent action :math:`\rho_Z` (a :class:`~escnn_soft.learned.LearnedRepresentation`);
:class:`LearnedLatentModel` holds all three, so that one optimiser, one checkpoint and
one ``state_dict`` cover the generator matrices of :math:`\rho_Z` with the network.

==================  ======================================  =================================
experiment          encoder                                 head
==================  ======================================  =================================
``d3-autoencoder``  :class:`MLPEncoder` 784-512-256-128-30  :class:`MLPDecoder`, the mirror
``c2-typefaces``    :class:`ConvEncoder` (on slot 0 of a    :class:`ConvDecoder`, the mirror
                    pair, :class:`FirstOfPair`), latent 42
``c4-classifier``   :class:`CNNEncoder`, the paper's        linear 64 → 10 without bias
                    CIFAR-10 encoder, latent 64
``o-adrenal``       the MedMNIST3D 3D ResNet                BatchNorm1d, ELU, linear 48 → 2,
                    (:class:`~escnn_soft.experiments.       the same network's head
                    models.medmnist3d.MedMNIST3DCNN`) to
                    its latent before batch normalisation,
                    48
==================  ======================================  =================================

``o-adrenal``, beyond the paper, reuses the MedMNIST3D comparison's network
(:mod:`escnn_soft.experiments.models.medmnist3d`) as it is, cut where its soft models act.
"""

from __future__ import annotations

import torch
from torch import nn

from ...learned import LearnedRepresentation

__all__ = [
    "MLPEncoder",
    "MLPDecoder",
    "ConvEncoder",
    "ConvDecoder",
    "CNNEncoder",
    "FirstOfPair",
    "LearnedLatentModel",
]


class MLPEncoder(nn.Sequential):
    r"""784 → 512 → 256 → 128 → ``latent``, ReLU between (no activation on the latent)."""

    def __init__(self, latent: int):
        super().__init__(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, latent))


class MLPDecoder(nn.Sequential):
    r"""``latent`` → 128 → 256 → 512 → 784, ReLU between, sigmoid output, shaped ``(1, 28, 28)``."""

    def __init__(self, latent: int):
        super().__init__(nn.Linear(latent, 128), nn.ReLU(), nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 512),
                         nn.ReLU(), nn.Linear(512, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))


class ConvEncoder(nn.Sequential):
    r""":math:`28 \times 28` → :math:`14 \times 14` (``latent // 2`` channels) → :math:`7 \times 7`
    (``latent``) → :math:`1 \times 1` (``2 latent``) → ``latent``, ReLU between."""

    def __init__(self, latent: int):
        h = latent // 2
        super().__init__(nn.Conv2d(1, h, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(h, latent, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(latent, 2 * latent, 7), nn.ReLU(), nn.Flatten(), nn.Linear(2 * latent, latent))


class ConvDecoder(nn.Sequential):
    r"""The mirror of :class:`ConvEncoder` with transposed convolutions, sigmoid output."""

    def __init__(self, latent: int):
        h = latent // 2
        super().__init__(nn.Linear(latent, 2 * latent), nn.Unflatten(1, (2 * latent, 1, 1)),
                         nn.ConvTranspose2d(2 * latent, latent, 7), nn.ReLU(),
                         nn.ConvTranspose2d(latent, h, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(h, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())


class CNNEncoder(nn.Sequential):
    r"""The paper's CIFAR-10 encoder: GELU, convolutions of ``width``, ``width``, ``2 width``,
    ``2 width``, ``2 width`` channels, three of them with stride 2, then a linear map to the latent.

    On :math:`32 \times 32` CIFAR-10 images the stride-2 layers give 16, 8, 4 pixels, on
    :math:`28 \times 28` MNIST digits 14, 7, 4: the flattened size :math:`4 \cdot 4 \cdot 2\,\text{width}`
    is the same. The first convolution is lazy (:class:`torch.nn.LazyConv2d`): it takes its
    input channels (1 or 3) from the first batch.
    """

    def __init__(self, latent: int, width: int = 32):
        c = width
        super().__init__(nn.LazyConv2d(c, 3, padding=1, stride=2), nn.GELU(),
                         nn.Conv2d(c, c, 3, padding=1), nn.GELU(),
                         nn.Conv2d(c, 2 * c, 3, padding=1, stride=2), nn.GELU(),
                         nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.GELU(),
                         nn.Conv2d(2 * c, 2 * c, 3, padding=1, stride=2), nn.GELU(),
                         nn.Flatten(), nn.Linear(2 * 16 * c, latent))


class FirstOfPair(nn.Module):
    r"""Wraps a module on images so that it reads slot 0 of a stacked pair ``(B, 2, ...)``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.module(pair[:, 0])


class LearnedLatentModel(nn.Module):
    r"""A plain network :math:`D \circ E` with its learned latent action :math:`\rho_Z`.

    ``model(x)`` is :math:`D(E(x))`; :attr:`representation` is not used by the forward
    pass but trains with the rest (a
    :class:`~escnn_soft.learned.objective.StudyObjective` built on :attr:`encoder`,
    :attr:`head` and :attr:`representation` shares their parameters).

    Args:
        encoder (nn.Module): :math:`E`, into the latent of dimension ``representation.size``.
        head (nn.Module): :math:`D`, the decoder or classifier head.
        representation (LearnedRepresentation): the learned :math:`\rho_Z`.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, representation: LearnedRepresentation):
        super().__init__()
        if not isinstance(representation, LearnedRepresentation):
            raise TypeError(f"representation must be a LearnedRepresentation, got {type(representation).__name__}")
        self.encoder = encoder
        self.head = head
        self.representation = representation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))
