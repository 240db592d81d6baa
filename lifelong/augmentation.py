"""Batched data augmentation on the device: one call transforms a whole batch, each sample drawn apart."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_resized_crop(x: torch.Tensor, generator: torch.Generator, scale: tuple[float, float] = (0.2, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Each sample's random crop resized back to its shape (torchvision's ``RandomResizedCrop``, batched):
    a crop of a share of the area drawn from ``scale`` and an aspect ratio drawn log-uniformly from
    ``ratio``, at a random place, resampled bilinearly. Images ``(N, C, H, W)``, or sequences
    ``(N, C, L)`` cropped along their length (``scale`` then the share of the length)."""
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
