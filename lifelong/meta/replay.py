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

* every module of the network is a ``torch.nn`` layer or one of lifelong's backbones, whose forward
  reads no Python state that changes (a module of the user's may: it runs through vmap, as always);
* no module has forward hooks (augmentation draws its transforms in one), and no global ones are set;
* the recording reads no tensor besides its inputs (BatchNorm in eval mode reads its running
  statistics, which change) and writes none in place; and recording succeeds (an op that ``make_fx``
  cannot trace leaves the call to vmap).

The signature is each module's class, train/eval flag and which buffers are set (``batch_statistics``
unsets them); each parameter's name, shape, strides, dtype, device, and whether it is per task; the
input's shape, strides, dtype and device; grad mode. A recording takes 0.03–0.6 s (the first in a
process imports torch._dynamo, about 2 s), worth it for meta-training's thousands of calls and not
for a few: a signature is recorded at its 50th call. A network keeps at most ``MAX_RECORDINGS``;
calls with other signatures run through vmap.
"""
from __future__ import annotations

import weakref

import torch
from torch import fx, nn
from torch.func import functional_call, vmap
from torch.nn.modules import module as torch_module

RECORD_AT, MAX_RECORDINGS = 50, 8
PURE_LOSSES = ("torch.nn.functional", "lifelong.meta.episodes")
_OURS = ("torch.nn.", "lifelong.")
_IDENTITY_CANDIDATES = {torch.ops.aten.expand.default, torch.ops.aten.view.default,
                        torch.ops.aten._unsafe_view.default, torch.ops.aten.reshape.default,
                        torch.ops.aten.alias.default, torch.ops.aten.mul.Scalar}
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
    if getattr(loss_fn, "__module__", None) not in PURE_LOSSES:
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
    return entry(*args) if isinstance(entry, fx.GraphModule) else vmapped(*args)


def _signature(model: nn.Module, args: tuple, in_dims) -> tuple | None:
    """What a recording depends on besides the tensors' values, or None where no recording may hold."""
    if torch.is_inference_mode_enabled() or torch_module._global_forward_hooks \
            or torch_module._global_forward_pre_hooks:
        return None
    modules = []
    for m in model.modules():
        if not type(m).__module__.startswith(_OURS) or m._forward_hooks or m._forward_pre_hooks:
            return None
        modules.append((type(m), m.training, tuple(n for n, b in m._buffers.items() if b is not None)))
    params, *data = args
    tensors = tuple((n, _meta(t), in_dims[n]) for n, t in params.items())
    return tuple(modules), tensors, tuple(_meta(d) for d in data), torch.is_grad_enabled()


def _meta(t: torch.Tensor) -> tuple:
    return tuple(t.shape), t.stride(), t.dtype, t.device, t.requires_grad


def _record(vmapped, args: tuple) -> fx.GraphModule | str:
    """The aten ops of ``vmapped(*args)``, identities dropped; ``_NOT_REPLAYABLE`` if the recording
    reads a tensor that is not an input, or writes one in place."""
    from torch.fx.experimental.proxy_tensor import make_fx  # its first call imports torch._dynamo (2 s)

    params, *data = args
    inputs = {n: t.detach().requires_grad_(t.requires_grad) for n, t in params.items()}
    try:
        graph = make_fx(vmapped)(inputs, *(d.detach() for d in data))
    except Exception:  # noqa: BLE001 - vmap ran this call 49 times: only the recording is out of reach
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
