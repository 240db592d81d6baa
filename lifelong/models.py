"""Backbones. Every network is ``features`` (an embedding) followed by a linear ``head``,
so methods that need the embedding (prototypes, ANIL, iCaRL) can reach it.

A strategy preset picks one with ``model:``: ``auto`` (the default) gives an MLP for flat inputs,
a 2-D CNN for images (C, H, W) and a 1-D CNN for sequences (C, L) such as MNIST-1D; ``mlp``,
``cnn``, ``resnet18``, ``reduced-resnet18`` and ``resnet32`` (``lifelong.resnets``) name ours.
``torchvision:NAME`` and ``timm:NAME`` build an architecture of those libraries by name, without
weights, its classifier split off as the head (``model_args`` go to ``torchvision.models.get_model``
or ``timm.create_model``). ``model: mypackage.nets:make_net``
names a factory of the user's own, called as ours are:
``make_net(input_shape, n_outputs, **model_args)`` with the input shape as a tuple
(no batch axis); its keyword-only, annotated parameters are what ``model_args`` may
set. It returns a network with ``features``, a linear ``head`` and ``embedding_dim``
(the head's input width); ``Net(features, embedding_dim, n_outputs)`` makes one.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Annotated, Iterator

import torch
from torch import nn

from lifelong import resnets
from lifelong.config import ConfigError, PositiveInt, import_object, is_import_path


class _ModelChoice:
    """A built-in backbone's name, or the import path of a factory (checked when resolved)."""

    def check(self, v) -> str | None:
        if v in ("auto", *MODELS) or is_import_path(v) or (isinstance(v, str) and v.split(":")[0] in LIBRARIES):
            return None
        return "expected one of auto, " + ", ".join(MODELS) + ", torchvision:NAME, timm:NAME, or a factory's " \
            "import path module:function"


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


def _running_norms(net: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers of ``net`` that keep running statistics."""
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None]


@contextlib.contextmanager
def batch_statistics(net: nn.Module) -> Iterator[nn.Module]:
    """For the block, the BatchNorm layers of ``net`` that are in train mode normalise by the statistics
    of each batch they are given and leave their running statistics alone (those in eval mode use the
    running statistics, as always). ``torch.func``'s transforms cannot update buffers in place, so the
    functional inner loops of the meta-learners run under this, as in MAML (Finn et al. 2017), whose
    BatchNorm uses the batch's statistics; ``track_statistics`` then updates the running statistics,
    which predictions in eval mode use, with one ordinary forward pass. A network without BatchNorm is
    left as it is."""
    saved = [(m, m.running_mean, m.running_var, m.num_batches_tracked) for m in _running_norms(net) if m.training]
    for m, *_ in saved:
        m.track_running_stats = False
        m.running_mean = m.running_var = m.num_batches_tracked = None
    try:
        yield net
    finally:
        for m, mean, var, count in saved:
            m.track_running_stats = True
            m.running_mean, m.running_var, m.num_batches_tracked = mean, var, count


@torch.no_grad()
def track_statistics(net: nn.Module, x: torch.Tensor) -> None:
    """The running statistics of ``net``'s BatchNorm layers in train mode updated by a forward pass of
    ``x`` (nothing is run for a network without any)."""
    if any(m.training for m in _running_norms(net)):
        net(x)


def fresh_net(name: str, input_shape, n_outputs: int, model_args: dict | None, seed: int,
              weights: str | None = None) -> nn.Module:
    """``build_model``'s network with its weights drawn from ``seed`` alone (the global generator left as
    it was), then the checkpoint ``weights`` loaded when given (``load_weights``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_model(name, input_shape, n_outputs, **(model_args or {}))
    if weights is not None:
        load_weights(net, weights)
    return net


def channels_last(net: nn.Module) -> nn.Module:
    """``net`` with its 4-D weights in the channels-last layout, in place: 2-D convolutions and pooling
    then run several times faster on a CPU (max-pooling 8x, see benchmarks/continual_eval.py), for
    outputs that agree with the default layout's to float rounding (≈1e-7). Networks train and
    predict in it; other networks are returned as they are."""
    if any(p.dim() == 4 for p in net.parameters()) and not is_channels_last(net):
        _relayout(net, torch.channels_last)
    return net


def in_layout_of(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``t``, shaped like the 4-D weight ``ref`` or a stack of such, in ``ref``'s memory layout: a copy
    (differentiable) when the strides differ, else ``t`` itself (so too for any ``ref`` of other
    dimensions). Elementwise results give a dimension of size one the default layout's stride, so an
    SGD update of a channels-last convolution with one input channel comes back in the default
    layout, and the convolution and its max-pooling then run in it too, several times slower on a CPU."""
    if ref.dim() != 4 or t.stride()[-4:] == ref.stride():
        return t
    inner = ref.numel()
    lead = [inner * math.prod(t.shape[i + 1:-4]) for i in range(t.dim() - 4)]
    return torch.empty_strided(t.shape, lead + list(ref.stride()), dtype=t.dtype, device=t.device).copy_(t)


def is_channels_last(net: nn.Module) -> bool:
    """Whether every 4-D weight is in the channels-last layout (False when there is none). With one input
    channel both layouts hold the same numbers; the stride of that channel says which one it is in, and
    the convolution's output takes it."""
    images = [p for p in net.parameters() if p.dim() == 4]
    return bool(images) and all(p.is_contiguous(memory_format=torch.channels_last) and p.stride(1) == 1
                                for p in images)


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


MODELS = {"mlp": mlp, "cnn": cnn, "resnet18": resnets.resnet18, "reduced-resnet18": resnets.reduced_resnet18,
          "resnet32": resnets.resnet32}
LIBRARIES = {"torchvision": "pip install 'lifelong[torchvision]'", "timm": "pip install 'lifelong[timm]'"}


class External:
    """A ``torchvision:NAME`` or ``timm:NAME`` architecture as a factory; its ``model_args`` go to the
    library unchecked (``takes_any_args``), which refuses the ones it does not know."""

    takes_any_args = True

    def __init__(self, library: str, arch: str):
        self.library, self.arch, self.name = library, arch, f"{library}:{arch}"
        try:
            self.module = __import__(library)
        except ImportError:
            raise ConfigError(f"needs {library}, which is not installed: {LIBRARIES[library]}", field="model",
                              value=self.name) from None
        known = self.module.models.list_models() if library == "torchvision" else self.module.list_models()
        if arch not in known:
            raise ConfigError(f"not an architecture {library} knows (e.g. {', '.join(known[:4])})", field="model",
                              value=self.name)

    def __call__(self, input_shape, n_outputs: int, **kwargs) -> Net:
        try:
            if self.library == "timm":  # timm drops its classifier itself and says how wide its features are
                features = self.module.create_model(self.arch, pretrained=False, num_classes=0,
                                                    in_chans=input_shape[0], **kwargs)
                net = Net(features, features.num_features, n_outputs)
            else:
                net = _split_head(self.module.models.get_model(self.arch, weights=None, num_classes=n_outputs,
                                                               **kwargs), n_outputs)
            with torch.no_grad():  # a forward pass on two blank inputs: does the architecture take them?
                net.eval()(torch.zeros(2, *input_shape))
        except (TypeError, ValueError, RuntimeError) as e:
            raise ConfigError(f"cannot be built for inputs of shape {tuple(input_shape)}, {n_outputs} outputs and "
                              f"model_args {kwargs}: {str(e).splitlines()[0]}", field="model",
                              value=self.name) from None
        return net.train()


def _split_head(model: nn.Module, n_outputs: int) -> Net:
    """A classifier as ``features`` + ``head``: its last linear layer with ``n_outputs`` outputs becomes
    the head, an identity in its place."""
    found = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.out_features == n_outputs]
    if not found:
        raise ValueError(f"it has no linear layer with {n_outputs} outputs to take as the head")
    name = found[-1]
    head = model.get_submodule(name)
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent), leaf, nn.Identity())
    net = Net(model, head.in_features, n_outputs)
    net.head, net.split_from = head, name
    return net


def load_weights(net: nn.Module, path: str) -> None:
    """Pretrained weights the user has, from ``path``: a state dict (or a checkpoint holding one under
    ``state_dict`` or ``model``) of the whole network (keys ``features.*`` and ``head.*``) or of the
    backbone alone (a ``torchvision:`` network's own keys, whose classifier's are then left out: the
    head keeps its fresh initialisation). Keys or shapes that do not fit are one ConfigError."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError("no such file", field="weights", value=str(path))
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged or foreign file: pickle, zip and torch errors alike
        raise ConfigError(f"is not a PyTorch checkpoint of tensors ({type(e).__name__})", field="weights",
                          value=str(path)) from None
    if isinstance(state, dict):
        state = state.get("state_dict", state.get("model", state))
    if not (isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise ConfigError("holds no state dict of tensors", field="weights", value=str(path))
    whole = any(k.startswith(("features.", "head.")) for k in state)
    target = net if whole else net.features
    split = getattr(net, "split_from", None)
    state = state if whole or split is None else {k: v for k, v in state.items() if not k.startswith(split + ".")}
    own = target.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        if missing:
            what = f"lacks {missing[0]}"
        elif unexpected:
            what = f"has {unexpected[0]}, which the network does not"
        else:
            ours, theirs = tuple(own[wrong[0]].shape), tuple(state[wrong[0]].shape)
            what = f"gives {wrong[0]} the shape {theirs}, the network {ours}"
        n = len(missing) + len(unexpected) + len(wrong)
        raise ConfigError(f"does not fit the {'network' if whole else 'backbone'}: it {what} ({n} key(s) off)",
                          field="weights", value=str(path))
    target.load_state_dict(state)


def resolve(name: str, input_shape) -> str:
    """The backbone ``auto`` stands for on inputs of this shape."""
    if name != "auto":
        return name
    return "mlp" if len(input_shape) == 1 else "cnn"


def factory(name: str):
    """The function that builds the backbone ``name`` (``mlp``, ``cnn``, or ``module:function``)."""
    if name in MODELS:
        return MODELS[name]
    if name.split(":")[0] in LIBRARIES:
        return External(*name.split(":", 1))
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
