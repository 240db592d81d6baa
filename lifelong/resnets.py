"""The residual networks continual-learning papers train on CIFAR-scale images (He et al. 2016, "Deep
Residual Learning for Image Recognition"), as ``features`` + ``head`` networks (``lifelong.models.Net``).

* ``resnet18``: ResNet-18 for small images as Mammoth trains it (Buzzega et al. 2020): a 3x3 stem
  with no max-pooling, four stages of two basic blocks of widths w, 2w, 4w, 8w (w = ``width``, 64),
  strides 1, 2, 2, 2, projection shortcuts (1x1 convolution and BatchNorm) where the shape changes,
  global average pooling: an 8w-wide embedding.
* ``reduced-resnet18``: the same at ``width`` 20, GEM's reduced ResNet-18 (Lopez-Paz & Ranzato 2017),
  160 wide.
* ``resnet32``: the CIFAR ResNet-32 of iCaRL and PyCIL (Rebuffi et al. 2017; Zhou et al. 2023): a 3x3
  stem of w = 16 channels, three stages of five basic blocks of widths w, 2w, 4w, strides 1, 2, 2,
  parameter-free shortcuts (subsampled, the new channels zero: He et al.'s option A), a 4w-wide
  embedding.

Convolutions have no bias (each is followed by BatchNorm); the pooling is adaptive, so any image
size of at least 8x8 (32x32 for the ResNet-18s' full depth of downsampling) works.
"""
from __future__ import annotations

import torch
from torch import nn

from lifelong.config import PositiveInt


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class ZeroPadShortcut(nn.Module):
    """He et al.'s option A: the input subsampled by ``stride``, its missing channels zero."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.extra, self.stride = c_out - c_in, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return torch.cat([x, x.new_zeros(x.shape[0], self.extra, *x.shape[2:])], 1)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm, and the shortcut added before the last ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int, zero_pad: bool):
        super().__init__()
        self.conv1, self.bn1 = _conv3x3(c_in, c_out, stride), nn.BatchNorm2d(c_out)
        self.conv2, self.bn2 = _conv3x3(c_out, c_out), nn.BatchNorm2d(c_out)
        if stride == 1 and c_in == c_out:
            self.shortcut = nn.Identity()
        elif zero_pad:
            self.shortcut = ZeroPadShortcut(c_in, c_out, stride)
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def _resnet(input_shape, n_outputs: int, widths: list[int], blocks: int, strides: list[int], zero_pad: bool):
    from lifelong.models import Net

    if len(input_shape) != 3:
        raise ValueError(f"a ResNet needs images of shape (C, H, W), got inputs of shape {tuple(input_shape)}")
    layers: list[nn.Module] = [_conv3x3(input_shape[0], widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c = widths[0]
    for width, stride in zip(widths, strides):
        for b in range(blocks):
            layers.append(BasicBlock(c, width, stride if b == 0 else 1, zero_pad))
            c = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Net(nn.Sequential(*layers), c, n_outputs)


def resnet18(input_shape, n_outputs: int, *, width: PositiveInt = 64):
    """ResNet-18 for small images (Mammoth's); ``width`` 20 is GEM's reduced one."""
    return _resnet(input_shape, n_outputs, [width, 2 * width, 4 * width, 8 * width], 2, [1, 2, 2, 2], zero_pad=False)


def reduced_resnet18(input_shape, n_outputs: int, *, width: PositiveInt = 20):
    """GEM's reduced ResNet-18: ``resnet18`` at width 20."""
    return resnet18(input_shape, n_outputs, width=width)


def resnet32(input_shape, n_outputs: int, *, width: PositiveInt = 16):
    """The CIFAR ResNet-32 of iCaRL and PyCIL, with parameter-free shortcuts."""
    return _resnet(input_shape, n_outputs, [width, 2 * width, 4 * width], 5, [1, 2, 2], zero_pad=True)
