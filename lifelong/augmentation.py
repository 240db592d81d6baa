"""Batched data augmentation on the device: one call transforms a whole batch, each sample drawn apart.

A scenario preset declares the augmentation its images get while a network trains (``augment: {crop:
4, flip: true}``: torchvision's ``RandomCrop(size, padding=4)`` and ``RandomHorizontalFlip``, batched)
and the normalisation of its inputs (``normalize: {mean: [...], std: [...]}``: for 8-bit images, applied
to each batch where the network's features begin, ``Pixels``; for float ones, once when the stream is
built). ``Augmentation`` is applied by the network itself in train mode, to every
batch it trains on (``augment_inputs``), as dropout is: the memories store the samples as they came,
and a replayed batch is augmented afresh when it is trained on, as in Mammoth (Buzzega et al. 2020).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Augmentation:
    """``crop``: pad each image by this many pixels (with ``fill``, a value per channel: black, 0 for
    8-bit images, normalised for float ones) and crop it back to its size at a random offset; ``flip``: mirror each image
    left to right with probability 1/2."""

    crop: int = 0
    flip: bool = False
    fill: tuple[float, ...] | None = None

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.crop:
            x = random_crop(x, generator, self.crop, self.fill)
        if self.flip:
            x = random_flip(x, generator)
        return x


def random_crop(x: torch.Tensor, generator: torch.Generator, padding: int, fill=None) -> torch.Tensor:
    """Each image ``(N, C, H, W)`` padded by ``padding`` pixels on every side (``fill`` per channel,
    default 0) and cropped back to H x W at an offset drawn uniformly for each image."""
    n, c, h, w = x.shape
    padded = x.new_empty(n, h + 2 * padding, w + 2 * padding, c)  # channels last: the gather copies whole pixels
    padded[:] = 0 if fill is None else torch.tensor(fill, dtype=x.dtype, device=x.device)
    padded[:, padding:padding + h, padding:padding + w] = x.permute(0, 2, 3, 1)
    offset = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator, device=x.device)
    rows = offset[:, :1] + torch.arange(h, device=x.device)
    cols = offset[:, 1:] + torch.arange(w, device=x.device)
    out = padded[torch.arange(n, device=x.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image mirrored left to right with probability 1/2."""
    flip = torch.rand(len(x), generator=generator, device=x.device) < 0.5
    return torch.where(flip.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)


@dataclass(frozen=True)
class Pixels:
    """How a stream's 8-bit images become the network's inputs: ``x / 255``, each channel less its
    ``mean`` and over its ``std`` (the preset's ``normalize``; none: 0 and 1)."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255
        if self.mean is None:
            return x
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        return (x - mean) / std


def convert_pixels(net: nn.Module, pixels: Pixels) -> nn.Module:
    """``net``, made to turn 8-bit input batches into floats (``pixels``) where its ``features`` begin,
    so that every way in (the whole network, the embedding, a functional call) gets them alike; float
    inputs pass as they are."""
    def hook(module, args):
        return (pixels(args[0]), *args[1:]) if args[0].dtype == torch.uint8 else None

    net.features.register_forward_pre_hook(hook)
    return net


class _Augmenter(nn.Module):
    """Holds the augmentation and its generator on the network, so that a copy of the network (a
    teacher, an adapted copy) draws from its own copy of the generator."""

    def __init__(self, augmentation: Augmentation, generator: torch.Generator):
        super().__init__()
        self.augmentation, self.generator = augmentation, generator

    def pre_hook(self, module: nn.Module, args):
        if module.training and torch.is_grad_enabled():
            return (self.augmentation(args[0], self.generator), *args[1:])
        return None


def augment_inputs(net: nn.Module, augmentation: Augmentation, generator: torch.Generator) -> nn.Module:
    """``net``, made to augment every input batch of its forward pass while it trains (train mode,
    gradients on), drawing from ``generator``; in eval mode, or without gradients (predictions,
    teachers, statistics), its inputs are left as they are. The meta-learners' embedding calls
    (``net.features``) are not augmented."""
    net.augmenter = _Augmenter(augmentation, generator)
    net.register_forward_pre_hook(net.augmenter.pre_hook)
    return net


def random_resized_crop(x: torch.Tensor, generator: torch.Generator, scale: tuple[float, float] = (0.2, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Each sample's random crop resized back to its shape (torchvision's ``RandomResizedCrop``, batched):
    a crop of a share of the area drawn from ``scale`` and an aspect ratio drawn log-uniformly from
    ``ratio``, at a random place, resampled bilinearly. Images ``(N, C, H, W)``, or sequences
    ``(N, C, L)`` cropped along their length (``scale`` then the share of the length)."""
    if x.dtype == torch.uint8:  # 8-bit images stay 8-bit
        return random_resized_crop(x.float(), generator, scale, ratio).round().clamp(0, 255).to(torch.uint8)
    n, device = len(x), x.device
    u = torch.rand(n, 4, generator=generator, device=device)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    if x.dim() == 3:
        w, h = area, torch.ones(n, device=device)
    else:
        r = torch.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1])
        w, h = (area * r).sqrt().clamp(max=1), (area / r).sqrt().clamp(max=1)
    theta = torch.zeros(n, 2, 3, device=device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1] = w, h
    theta[:, 0, 2], theta[:, 1, 2] = (1 - w) * (2 * u[:, 2] - 1), (1 - h) * (2 * u[:, 3] - 1)
    images = x.unsqueeze(2) if x.dim() == 3 else x
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.squeeze(2) if x.dim() == 3 else out


def take_inputs(net: nn.Module, pixels: "Pixels | None", augment: "Augmentation | None", generator) -> nn.Module:
    """``net`` with the hooks the stream's inputs need: 8-bit pixels made floats where its features begin
    (``convert_pixels``), and its training batches augmented from ``generator`` (``augment_inputs``)."""
    if pixels is not None:
        convert_pixels(net, pixels)
    if augment is not None:
        augment_inputs(net, augment, generator)
    return net
