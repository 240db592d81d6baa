"""Avalanche 0.6.0 benchmarks as lifelong Streams.

``from_avalanche(benchmark)`` turns any Avalanche benchmark with a train and a
test stream (``class_incremental_benchmark``, ``nc_benchmark``,
``ni_benchmark``, ``new_instances_benchmark``, ``tensors_benchmark``,
``benchmark_from_datasets``, the classic ones, ...) into a ``Stream``: one Task
per train experience.

Each experience's dataset is iterated through a ``DataLoader`` (``num_workers=0``,
no shuffling, batches of ``LOADER_BATCH``) and what it yields is stacked: the
Task holds the transforms' outputs. Random transforms (augmentation) are
therefore frozen into the tensors: dataset ``k`` (the train experiences, then the
test ones) is always loaded under the random seed ``MATERIALIZE_SEED + k``
(torch, numpy and Python's ``random``, restored afterwards), so the same
benchmark always gives the same tensors and the same fingerprint, whichever
experience is loaded first and however often.

Two ways to hold them (``materialize``):

* materialised: every Task holds its tensors in memory, loaded once. Fast; the
  whole stream must fit in ``materialize_limit`` bytes.
* streamed: every Task is a ``LazyTask`` that loads its train or its test set
  through the DataLoader when it is used, and a ``TensorCache`` shared by the
  stream keeps only the last ``cache_size`` sets loaded, so memory is bounded by
  about one experience instead of the whole benchmark. The price is time: a set
  dropped from the cache is loaded again (transforms included) when next used,
  and a run evaluates every test set after every task. Construction streams the
  data twice (the labels, which the stream's classes and setting need, then the
  fingerprint), one set at a time. Strategies that keep data (joint, cumulative,
  memories) keep what they keep, in memory.

Both give the same tensors, the same fingerprint and the same results.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from lifelong.config import ConfigError
from lifelong.interop.seeds import fixed_seeds
from lifelong.scenarios.stream import SETTINGS, LazyTask, Stream, Task, TensorCache

GiB = 2**30
DEFAULT_LIMIT = 2 * GiB
MATERIALIZE_SEED = 0
LOADER_BATCH = 256


def from_avalanche(benchmark: Any, *, name: str | None = None, setting: str | None = None,
                   materialize: bool | str = "auto", materialize_limit: int = DEFAULT_LIMIT,
                   cache_size: int = 2) -> Stream:
    """A Stream with one Task per train experience of an Avalanche benchmark.

    * Test sets: train experience ``i`` is paired with test experience ``i``.
      Benchmarks whose test stream is a single experience (``ni_benchmark``,
      ``new_instances_benchmark`` test on the whole test set at every step) share
      it: each task's test set is the part of it with the task's classes (and
      its task label, when train experiences have different ones), which is the
      whole test set in a new-instances stream. Any other difference in length
      is an error.
    * Classes: a Task's ``classes`` keep the benchmark's class order: from
      ``benchmark.classes_order`` where the benchmark has one (``nc_benchmark``;
      its experiences' ``classes_in_this_experience`` are sorted), else from
      ``classes_in_this_experience`` (a set in the 0.6.0 generators, so sorted),
      else the labels found in the data, sorted.
    * Task labels: the one each experience's samples carry (0 where the
      dataset has none). An experience mixing task labels is refused.
    * Setting, unless given: task labels that differ across experiences mean
      task-incremental; otherwise disjoint class sets mean class-incremental,
      and anything else domain-incremental (new instances of the same classes).
    * Inputs are stacked as the transforms return them; integer inputs (images
      without ``ToTensor``-like scaling) become float32. Labels become int64.

    ``materialize``: ``"auto"`` (default) holds the tensors in memory when they take at most
    ``materialize_limit`` bytes (estimated from each dataset's first sample) and streams them
    otherwise; ``True`` always holds them, and refuses a larger benchmark with ``ConfigError``
    before loading anything; ``False`` always streams. A streamed stream's tasks are
    ``LazyTask``s sharing a ``TensorCache`` of ``cache_size`` train or test sets
    (``stream[0].cache``).
    """
    if setting is not None and setting not in SETTINGS:
        raise ConfigError("expected one of " + ", ".join(SETTINGS), field="setting", value=setting)
    if not (materialize is True or materialize is False or materialize == "auto"):
        raise ConfigError("expected true, false or 'auto'", field="materialize", value=materialize)
    if isinstance(materialize_limit, bool) or not isinstance(materialize_limit, int) or materialize_limit <= 0:
        raise ConfigError("expected a positive number of bytes", field="materialize_limit", value=materialize_limit)
    if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size <= 0:
        raise ConfigError("expected a positive number of train or test sets", field="cache_size", value=cache_size)
    train_exps, test_exps = _streams(benchmark)
    if not train_exps:
        raise ConfigError("the benchmark's train stream has no experience", field="benchmark",
                          value=type(benchmark).__name__)
    shared_test = len(test_exps) == 1 and len(train_exps) > 1
    if len(test_exps) != len(train_exps) and not shared_test:
        raise ConfigError(
            f"the benchmark has {len(train_exps)} train experiences but {len(test_exps)} test experiences; "
            "from_avalanche pairs them by index, or shares a single test experience among all tasks",
            field="benchmark", value=type(benchmark).__name__)

    n = len(train_exps)
    datasets = [e.dataset for e in train_exps] + [e.dataset for e in (test_exps[:1] if shared_test else test_exps)]
    places = _places(n, len(datasets))
    lazy = materialize is False or _too_large(datasets, materialize_limit, refuse=materialize is True)
    # streamed: a first pass keeps the labels only (the inputs come back empty, with their shape)
    loaded = [_load(d, k, where, inputs=not lazy) for k, (d, where) in enumerate(zip(datasets, places))]

    labels = [_task_label(exp, loaded[i][2], i) for i, exp in enumerate(train_exps)]
    order = _class_order(benchmark, train_exps, [y for _, y, _ in loaded[:n]])
    cache = TensorCache(cache_size)
    tasks, test_labels = [], []
    for i, classes in enumerate(order):
        k = n if shared_test else n + i  # the test dataset of task i
        keep = None
        if shared_test:
            _, yt, tt = loaded[k]
            keep = torch.isin(yt, torch.tensor(classes, dtype=yt.dtype))
            if len(set(labels)) > 1 and tt is not None:
                keep &= tt == labels[i]
        test_labels.append(loaded[k][1] if keep is None else loaded[k][1][keep])
        metadata = {"avalanche_experience": i, "shared_test_experience": shared_test}
        if lazy:
            tasks.append(LazyTask(i, classes, labels[i], load_train=_Part(datasets[i], i, places[i]),
                                  load_test=_Part(datasets[k], k, places[k], keep), cache=cache,
                                  n_train=len(loaded[i][1]), input_shape=loaded[i][0].shape[1:],
                                  metadata=metadata))
        else:
            (x, y, _), (xt, yt, _) = loaded[i], loaded[k]
            if keep is not None:
                xt, yt = xt[keep], yt[keep]
            tasks.append(Task(i, x, y, xt, yt, classes=classes, task_label=labels[i], metadata=metadata))

    inferred = _infer_setting(labels, order)
    all_labels = torch.cat([y for _, y, _ in loaded[:n]] + test_labels)
    n_classes = int(all_labels.max()) + 1 if len(all_labels) else 0
    definition = {"source": "avalanche", "benchmark": type(benchmark).__name__, "n_experiences": len(tasks),
                  "test_pairing": "shared" if shared_test else "by index", "inferred_setting": inferred,
                  "materialize_seed": MATERIALIZE_SEED}
    stream = Stream(name=name or f"avalanche-{type(benchmark).__name__}", setting=setting or inferred,
                    tasks=tasks, n_classes=n_classes, definition=definition)
    if lazy:
        _ = stream.fingerprint  # streamed once now, one set at a time; the copies .to(device) makes keep it
        cache.clear()
    return stream


class _Part:
    """Loads one task's train or test set: dataset ``k``, with the rows ``keep`` of a shared test experience."""

    def __init__(self, dataset, k: int, where: str, keep: torch.Tensor | None = None):
        self.dataset, self.k, self.where, self.keep = dataset, k, where, keep

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, _ = _load(self.dataset, self.k, self.where)
        return (x, y) if self.keep is None else (x[self.keep], y[self.keep])


# --- streams and experiences -----------------------------------------------------------


def _streams(benchmark) -> tuple[list, list]:
    found = []
    for stream in ("train_stream", "test_stream"):
        s = getattr(benchmark, stream, None)
        if s is None:
            raise ConfigError(f"an Avalanche benchmark with a {stream} is expected", field="benchmark",
                              value=type(benchmark).__name__)
        found.append(list(s))  # new-style CLStreams may be generators without len()
    return found[0], found[1]


def _places(n_train: int, n_all: int) -> list[str]:
    return [f"train experience {i}" for i in range(n_train)] + [f"test experience {i}" for i in range(n_all - n_train)]


def _task_label(exp, t: torch.Tensor | None, i: int) -> int:
    if t is not None and len(t):
        found = sorted(set(t.tolist()))
        if len(found) > 1:
            raise ConfigError(f"train experience {i} mixes task labels {found}; a lifelong Task has one",
                              field="benchmark")
        return int(found[0])
    label = getattr(exp, "task_label", None)
    return int(label) if label is not None else 0


def _class_order(benchmark, exps, ys: list[torch.Tensor]) -> list[tuple[int, ...]]:
    present = [sorted(set(y.tolist())) for y in ys]
    order = getattr(benchmark, "classes_order", None)
    per_exp = getattr(benchmark, "n_classes_per_exp", None)
    if order is not None and per_exp is not None and len(per_exp) == len(exps):
        starts = np.cumsum([0, *per_exp])
        groups = [tuple(int(c) for c in order[starts[i]:starts[i + 1]]) for i in range(len(exps))]
        if all(set(g) >= set(p) for g, p in zip(groups, present)):
            return groups
    out = []
    for exp, p in zip(exps, present):
        declared = getattr(exp, "classes_in_this_experience", None)
        if declared is None:
            out.append(tuple(p))
        elif isinstance(declared, (set, frozenset)):
            out.append(tuple(sorted(int(c) for c in declared)))
        else:
            out.append(tuple(int(c) for c in declared))
    return out


def _infer_setting(labels: list[int], classes: list[tuple[int, ...]]) -> str:
    if len(set(labels)) > 1:
        return "task-incremental"
    seen: set[int] = set()
    for group in classes:
        if seen.intersection(group):
            return "domain-incremental"
        seen.update(group)
    return "class-incremental"


# --- materialisation -------------------------------------------------------------------


def _nbytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.numel()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 8  # a label or task label: one int64


def _too_large(datasets, limit: int, refuse: bool) -> bool:
    """Whether the stream's tensors would exceed ``limit`` bytes (estimated, before loading anything,
    from each dataset's first sample times its length); with ``refuse``, a ConfigError if they would."""
    total = 0
    with fixed_seeds(MATERIALIZE_SEED), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d in datasets:
            if len(d):
                total += _nbytes(d[0]) * len(d)
    if total > limit and refuse:
        raise ConfigError(
            f"the benchmark's tensors would take about {_size(total)}, above the limit of {_size(limit)}: "
            "materialize=True holds them in memory (raise the limit if it fits, or pass materialize='auto' "
            "to stream them one experience at a time)", field="materialize_limit", value=limit)
    return total > limit


def _size(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} bytes"


def _load(dataset, k: int, where: str, inputs: bool = True):
    """``_materialize`` dataset ``k`` under its own random seed, as normal (not inference) tensors."""
    with fixed_seeds(MATERIALIZE_SEED + k), warnings.catch_warnings(), torch.inference_mode(False):
        warnings.simplefilter("ignore")
        return _materialize(dataset, where, inputs)


def _materialize(dataset, where: str, inputs: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x, y, task labels or None): every sample the dataset yields, in order, transforms applied once.
    Without ``inputs``, x is empty: shape ``(0, *input shape)``, its dtype that of the inputs."""
    from torch.utils.data import DataLoader

    if len(dataset) == 0:
        raise ConfigError(f"{where} is empty", field="benchmark")
    loader = DataLoader(dataset, batch_size=LOADER_BATCH, shuffle=False, num_workers=0,
                        collate_fn=getattr(dataset, "collate_fn", None))
    xs, ys, ts = [], [], []
    try:
        for batch in loader:
            if not isinstance(batch, (list, tuple)) or len(batch) < 2:
                raise ConfigError(f"{where} yields {type(batch).__name__} batches; (input, label[, task label]) "
                                  "samples are expected", field="benchmark")
            x, y = batch[0], batch[1]
            if not isinstance(x, torch.Tensor):
                raise ConfigError(f"{where} yields inputs of type {type(x).__name__}; add a transform that returns "
                                  "tensors (e.g. torchvision.transforms.ToTensor())", field="benchmark")
            xs.append(x if inputs else x.new_empty((0, *x.shape[1:])))  # no view: the batch is freed
            ys.append(torch.as_tensor(y))
            if len(batch) > 2:
                ts.append(torch.as_tensor(batch[2]))
    except TypeError as e:  # default_collate on PIL images and other non-tensors
        raise ConfigError(f"{where} yields samples that cannot be stacked ({str(e).splitlines()[0]}); add a transform "
                          "that returns tensors (e.g. torchvision.transforms.ToTensor())", field="benchmark") from None
    except RuntimeError as e:
        if "stack expects each tensor to be equal size" not in str(e):
            raise
        raise ConfigError(f"{where} yields inputs of different shapes; add a transform that resizes them",
                          field="benchmark") from None
    x = torch.cat(xs)
    if not x.is_floating_point():
        x = x.float()
    y = torch.cat(ys).long()
    t = torch.cat(ts).long() if ts else None
    return x, y, t
