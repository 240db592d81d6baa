"""A network's forward vmapped over tasks, recorded once as its sequence of aten ops and replayed.

On small networks a meta-gradient's time goes to per-op overhead more than to arithmetic
(``benchmarks/meta_throughput.py``). ``vmap`` batches an ``nn.Linear`` with per-task weights in 10 ops
of which 6 change nothing (an ``expand`` and a ``view`` to the shape a tensor already has, a product
of the bias with 1); autograd records each, and second order differentiates each again. And
``functional_call`` swaps the parameters in and out at every call. ``batched_forward`` records the
vmapped ``functional_call`` with ``make_fx`` (torch.fx) at the ``RECORD_AT``-th call with the same
signature, drops those identities, and from then on replays the recording: the same kernels on the
same tensors in the same order, so outputs and gradients are bit-identical to vmap's, and autograd
records the replay as it records any eager code (second order included). ``batched_losses`` records
the loss with the forward when the loss is a function of ``torch.nn.functional`` or
``lifelong.meta.episodes`` (pure: it reads its arguments alone); another loss, such as a method
reading its strategy's state, is vmapped over the replayed forward's outputs.

A recording holds only for calls whose forward depends on nothing but the parameters, the input and
the signature. So it is used only where:

* every module of the network is a ``torch.nn`` layer of ``_LAYERS`` (linear, convolution,
  activation, normalisation, pooling, dropout, padding, containers; not multi-head attention or
  transformers, which pick kernels from global flags) or one of lifelong's backbones, and holds no
  attribute a signature cannot compare (a function, a tensor, a list): a module of the user's runs
  through vmap, as always, since its forward may read any Python state;
* no module has hooks, and no global ones are set (augmentation draws its transforms in one);
* autocast is off;
* the recording reads no tensor besides its inputs (BatchNorm in eval mode reads its running
  statistics, which change) and writes none in place; and recording succeeds (under an outer
  ``torch.func`` transform, or with an op that ``make_fx`` cannot trace, the call stays with vmap).

The signature is each module's name (every place it is used), class, which buffers are set (``batch_statistics`` unsets them) and
public attributes (train flag and settings: a slope, an epsilon, a padding); each parameter's name,
shape, strides, dtype, device, and whether it is per task; the input's shape, strides, dtype and
device; grad mode. A recording takes 0.03–0.6 s (the first in a process imports torch._dynamo, about
2 s), worth it for meta-training's thousands of calls and not for a few: a signature is recorded at
its 50th call. A network keeps at most ``MAX_RECORDINGS``; calls with other signatures run through
vmap. (torch.fx keeps each recording's generated source, a few KB, for the process's life.)
"""
from __future__ import annotations

import sys
import weakref

import torch
from torch import fx, nn
from torch.func import functional_call, vmap
from torch.nn.modules import module as torch_module

RECORD_AT, MAX_RECORDINGS = 50, 8
PURE_LOSSES = ("torch.nn.functional", "lifelong.meta.episodes")
# modules whose forward is their class's code on their parameters, buffers and public attributes
# (multi-head attention, also in torch.nn.modules.activation, picks its kernel from global flags)
_LAYERS = {f"torch.nn.modules.{m}" for m in ("linear", "conv", "activation", "batchnorm", "normalization",
                                             "instancenorm", "pooling", "flatten", "container", "dropout",
                                             "padding")} | {"lifelong.models", "lifelong.resnets"}
_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks")
_IDENTITY_CANDIDATES = {torch.ops.aten.expand.default, torch.ops.aten.view.default,
                        torch.ops.aten._unsafe_view.default, torch.ops.aten.reshape.default,
                        torch.ops.aten.alias.default, torch.ops.aten.mul.Scalar}
_SCALARS = {bool, int, float, str, type(None)}
_NOT_REPLAYABLE = "not replayable"

# network -> {signature: calls so far (int), its recording (fx.GraphModule) or _NOT_REPLAYABLE}
_books: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()


def batched_forward(model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor,
                    in_dims: dict[str, int | None]) -> torch.Tensor:
    """``functional_call(model, params_b, (x_b,))`` for each task b, stacked: ``x`` is (B, ...), and
    the entries of ``params`` with ``in_dims`` 0 hold one tensor per task, the others are shared.
    Replayed from a recording where one holds (module docstring), else vmapped."""
    return _replayed(model, lambda p, x: functional_call(model, p, (x,)), (params, x), in_dims, key=None)


def batched_losses(model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                   loss_fn, in_dims: dict[str, int | None]) -> torch.Tensor:
    """``loss_fn(functional_call(model, params_b, (x_b,)), y_b)`` for each task b, stacked. A loss of
    ``PURE_LOSSES``' modules, which reads nothing but its arguments, is recorded with the forward; any
    other is vmapped over the forward's outputs."""
    if not _pure(loss_fn):
        return vmap(loss_fn)(batched_forward(model, params, x, in_dims), y)
    return _replayed(model, lambda p, x, y: loss_fn(functional_call(model, p, (x,)), y), (params, x, y), in_dims,
                     key=loss_fn)


def _replayed(model: nn.Module, fn, args: tuple, in_dims: dict[str, int | None], key):
    """``fn(params_b, *data_b)`` vmapped over the tasks, or replayed from the recording of the call's
    signature (and ``key``) where one holds."""
    def vmapped(*args):
        return vmap(fn, in_dims=(in_dims,) + (0,) * (len(args) - 1))(*args)

    signature = _signature(model, args, in_dims)
    if signature is None:
        return vmapped(*args)
    signature = signature + (key,)
    book = _books.setdefault(model, {})
    seen = book.get(signature, 0)
    if isinstance(seen, int):  # not recorded yet: counted, and recorded at its RECORD_AT-th call
        if seen + 1 < RECORD_AT:
            if seen or len(book) < 4 * MAX_RECORDINGS:
                book[signature] = seen + 1
        elif sum(isinstance(e, fx.GraphModule) for e in book.values()) < MAX_RECORDINGS:
            book[signature] = _record(vmapped, args)
    entry = book.get(signature)
    return entry.forward(*args) if isinstance(entry, fx.GraphModule) else vmapped(*args)


def _signature(model: nn.Module, args: tuple, in_dims) -> tuple | None:
    """What a recording depends on besides the tensors' values, or None where no recording may hold."""
    if torch.is_inference_mode_enabled() or any(torch.is_autocast_enabled(d) for d in ("cpu", "cuda")) \
            or any(getattr(torch_module, hooks) for hooks in _GLOBAL_HOOKS):
        return None
    modules = []
    for name, m in model.named_modules(remove_duplicate=False):  # a module used twice is listed twice
        state = _module_state(m)
        if state is None:
            return None
        modules.append((name, state))
    params, *data = args
    tensors = tuple((n, _meta(t), in_dims[n]) for n, t in params.items())
    return tuple(modules), tensors, tuple(_meta(d) for d in data), torch.is_grad_enabled()


def _module_state(m: nn.Module) -> tuple | None:
    """The module's class, which buffers are set, and its public attributes (its train flag and its
    settings: a slope, an epsilon, a padding); None if the module is not one of ``_LAYERS``, has hooks,
    or holds an attribute whose value a signature cannot compare (a function, a tensor, a list)."""
    if type(m).__module__ not in _LAYERS or isinstance(m, nn.MultiheadAttention) \
            or m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks:
        return None
    settings = tuple((k, v) for k, v in vars(m).items() if k[0] != "_")
    if not all(_comparable(v) for _, v in settings):
        return None
    return type(m), tuple(n for n, b in m._buffers.items() if b is not None), settings


def _comparable(v) -> bool:
    return type(v) in _SCALARS or isinstance(v, (torch.dtype, torch.device)) \
        or type(v) is tuple and all(_comparable(e) for e in v)


def _pure(loss_fn) -> bool:
    """Whether ``loss_fn`` is a function of ``PURE_LOSSES``' modules, itself (``functools.wraps`` copies
    a function's module and name onto another)."""
    module, name = getattr(loss_fn, "__module__", None), getattr(loss_fn, "__name__", None)
    return module in PURE_LOSSES and getattr(sys.modules[module], name, None) is loss_fn


def _meta(t: torch.Tensor) -> tuple:
    return tuple(t.shape), t.stride(), t.dtype, t.device, t.requires_grad


def _record(vmapped, args: tuple) -> fx.GraphModule | str:
    """The aten ops of ``vmapped(*args)``, identities dropped; ``_NOT_REPLAYABLE`` if the recording
    reads a tensor that is not an input, or writes one in place."""
    from torch.fx.experimental.proxy_tensor import make_fx  # its first call imports torch._dynamo (2 s)

    params, *data = args
    try:  # under an outer torch.func transform, say, or an op make_fx cannot trace
        inputs = {n: t.detach().requires_grad_(t.requires_grad) for n, t in params.items()}
        graph = make_fx(vmapped)(inputs, *(d.detach() for d in data))
    except Exception:  # noqa: BLE001 - vmap has run this call before: only the recording is out of reach
        return _NOT_REPLAYABLE
    for node in list(graph.graph.nodes):
        schema = getattr(node.target, "_schema", None)
        if node.op == "get_attr" or schema is not None and schema.is_mutable:
            return _NOT_REPLAYABLE
        if node.op == "call_function" and node.target in _IDENTITY_CANDIDATES and _is_identity(node):
            node.replace_all_uses_with(node.args[0])
            graph.graph.erase_node(node)
    graph.graph.eliminate_dead_code()
    for node in graph.graph.nodes:  # the values seen while recording: dropped, they hold every activation
        node.meta.clear()
    graph.recompile()
    return graph


def _is_identity(node: fx.Node) -> bool:
    """Whether the node returns its first argument's values in its layout: a view or expansion to the
    same shape and strides, or a product with 1."""
    source = node.args[0]
    if not isinstance(source, fx.Node) or node.target is torch.ops.aten.mul.Scalar and node.args[1] != 1:
        return False
    a, b = source.meta.get("val"), node.meta.get("val")
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape \
        and a.stride() == b.stride() and a.dtype == b.dtype and a.storage_offset() == b.storage_offset()
