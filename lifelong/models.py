"""Backbones. Every network is ``features`` (an embedding) followed by a linear ``head``,
so methods that need the embedding (prototypes, ANIL, iCaRL) can reach it.

A strategy preset picks one with ``model: auto | mlp | cnn``: ``auto`` (the
default) gives an MLP for flat inputs, a 2-D CNN for images (C, H, W) and a
1-D CNN for sequences (C, L) such as MNIST-1D. ``model: mypackage.nets:make_net``
names a factory of the user's own, called as ours are:
``make_net(input_shape, n_outputs, **model_args)`` with the input shape as a tuple
(no batch axis); its keyword-only, annotated parameters are what ``model_args`` may
set. It returns a network with ``features``, a linear ``head`` and ``embedding_dim``
(the head's input width); ``Net(features, embedding_dim, n_outputs)`` makes one.
"""
from __future__ import annotations

import contextlib
import math
from typing import Annotated, Iterator

import torch
from torch import nn

from lifelong.config import ConfigError, PositiveInt, import_object, is_import_path


class _ModelChoice:
    """A built-in backbone's name, or the import path of a factory (checked when resolved)."""

    def check(self, v) -> str | None:
        if v in ("auto", *MODELS) or is_import_path(v):
            return None
        return "expected one of auto, " + ", ".join(MODELS) + ", or a factory's import path module:function"


ModelName = Annotated[str, _ModelChoice()]


@contextlib.contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in eval mode for the block (BatchNorm's running statistics used, dropout off), its 4-D
    weights in the channels-last layout (``channels_last``), then back in the mode and layout it was in."""
    was_training = net.training
    relayout = not is_channels_last(net)
    net.eval()
    if relayout:
        _relayout(net, torch.channels_last)
    try:
        yield net
    finally:
        if relayout:
            _relayout(net, torch.contiguous_format)
        net.train(was_training)


def channels_last(net: nn.Module) -> nn.Module:
    """``net`` with its 4-D weights in the channels-last layout, in place: 2-D convolutions and pooling
    then run several times faster on a CPU (max-pooling 8x, see benchmarks/continual_eval.py), for
    outputs that agree with the default layout's to float rounding (≈1e-7). Networks train and
    predict in it; other networks are returned as they are."""
    if any(p.dim() == 4 for p in net.parameters()) and not is_channels_last(net):
        _relayout(net, torch.channels_last)
    return net


def is_channels_last(net: nn.Module) -> bool:
    """Whether every 4-D weight is in the channels-last layout (False when there is none)."""
    images = [p for p in net.parameters() if p.dim() == 4]
    return bool(images) and all(p.is_contiguous(memory_format=torch.channels_last) for p in images)


def _relayout(net: nn.Module, memory_format) -> None:
    """The weights' layout changed in place, as normal tensors even under inference mode (the network
    trains on afterwards)."""
    with torch.inference_mode(False), torch.no_grad():
        net.to(memory_format=memory_format)


class Net(nn.Module):
    def __init__(self, features: nn.Module, embedding_dim: int, n_outputs: int):
        super().__init__()
        self.features = features
        self.head = nn.Linear(embedding_dim, n_outputs)
        self.embedding_dim = embedding_dim

    def forward(self, x):
        return self.head(self.features(x))


def mlp(input_shape, n_outputs, *, hidden: list[PositiveInt] = (256, 256)) -> Net:
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return Net(nn.Sequential(*layers), width, n_outputs)


def cnn(input_shape, n_outputs, *, channels: list[PositiveInt] = (32, 64), embedding_dim: PositiveInt = 128) -> Net:
    """Conv (3x3, or 5 for 1-D) + max-pool + ReLU blocks, then a dense embedding layer. Pooling comes
    before the ReLU: max and ReLU commute, so the network computes the same function, gradients
    included, with the ReLU on a quarter of the values (a third less evaluation time on a CPU)."""
    if len(input_shape) not in (2, 3):
        raise ValueError(f"cnn needs inputs of shape (C, L) or (C, H, W), got {tuple(input_shape)}")
    two_d = len(input_shape) == 3
    conv, pool, k = (nn.Conv2d, nn.MaxPool2d, 3) if two_d else (nn.Conv1d, nn.MaxPool1d, 5)
    layers: list[nn.Module] = []
    c, spatial = input_shape[0], list(input_shape[1:])
    for out in channels:
        layers.append(conv(c, out, k, padding=k // 2))
        if min(spatial) >= 2:
            layers.append(pool(2))
            spatial = [s // 2 for s in spatial]
        layers.append(nn.ReLU())
        c = out
    layers += [nn.Flatten(), nn.Linear(c * math.prod(spatial), embedding_dim), nn.ReLU()]
    return Net(nn.Sequential(*layers), embedding_dim, n_outputs)


MODELS = {"mlp": mlp, "cnn": cnn}


def resolve(name: str, input_shape) -> str:
    """The backbone ``auto`` stands for on inputs of this shape."""
    if name != "auto":
        return name
    return "mlp" if len(input_shape) == 1 else "cnn"


def factory(name: str):
    """The function that builds the backbone ``name`` (``mlp``, ``cnn``, or ``module:function``)."""
    if name in MODELS:
        return MODELS[name]
    found = import_object(name, field="model")
    if not callable(found):
        raise ConfigError("not a function or class that builds a network", field="model", value=name)
    return found


def build_model(name: str, input_shape, n_outputs: int, **kwargs) -> nn.Module:
    """A freshly initialised network: ``factory(input_shape, n_outputs, **kwargs)``, which must return a
    network with ``features``, a linear ``head`` and ``embedding_dim``."""
    net = factory(resolve(name, input_shape))(tuple(input_shape), n_outputs, **kwargs)
    if not (isinstance(net, nn.Module) and isinstance(getattr(net, "head", None), nn.Linear)
            and isinstance(getattr(net, "features", None), nn.Module) and hasattr(net, "embedding_dim")):
        raise ConfigError("the factory must return a network with features, a linear head and embedding_dim "
                          "(lifelong.models.Net(features, embedding_dim, n_outputs) makes one)", field="model",
                          value=name)
    return net
