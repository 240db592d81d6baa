"""Avalanche 0.6.0 benchmarks as lifelong Streams.

``from_avalanche(benchmark)`` turns any Avalanche benchmark with a train and a
test stream (``class_incremental_benchmark``, ``nc_benchmark``,
``ni_benchmark``, ``new_instances_benchmark``, ``tensors_benchmark``,
``benchmark_from_datasets``, the classic ones, ...) into a ``Stream``: one Task
per train experience.

Each experience's dataset is iterated once through a ``DataLoader``
(``num_workers=0``, no shuffling) and what it yields is stacked, so the
datasets' transforms run exactly once and their outputs are what the Task
holds. Random transforms (augmentation) are therefore frozen into the tensors:
the materialisation runs under fixed random seeds (torch, numpy and Python's
``random``, restored afterwards), so the same benchmark always gives the same
tensors and the same fingerprint.

Tasks hold tensors in memory (DESIGN.md allows a Dataset for data that does not
fit, but ``Task`` and ``SGDStrategy`` do not support one yet), so the whole
stream must fit in ``materialize_limit`` bytes; a larger benchmark is refused
before anything is loaded.
"""
from __future__ import annotations

import contextlib
import random
import warnings
from typing import Any

import numpy as np
import torch

from lifelong.config import ConfigError
from lifelong.scenarios.stream import SETTINGS, Stream, Task

GiB = 2**30
DEFAULT_LIMIT = 2 * GiB
MATERIALIZE_SEED = 0
LOADER_BATCH = 256


def from_avalanche(benchmark: Any, *, name: str | None = None, setting: str | None = None,
                   materialize_limit: int = DEFAULT_LIMIT) -> Stream:
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

    ``materialize_limit`` bounds the bytes of all tensors together; a benchmark
    above it raises ``ConfigError`` before loading anything.
    """
    if setting is not None and setting not in SETTINGS:
        raise ConfigError("expected one of " + ", ".join(SETTINGS), field="setting", value=setting)
    if isinstance(materialize_limit, bool) or not isinstance(materialize_limit, int) or materialize_limit <= 0:
        raise ConfigError("expected a positive number of bytes", field="materialize_limit", value=materialize_limit)
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

    datasets = [e.dataset for e in train_exps] + [e.dataset for e in (test_exps[:1] if shared_test else test_exps)]
    _check_size(datasets, materialize_limit)
    with fixed_seeds(MATERIALIZE_SEED), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = [_materialize(d, where) for d, where in zip(datasets, _places(len(train_exps), len(datasets)))]
    train, test = loaded[: len(train_exps)], loaded[len(train_exps):]

    labels = [_task_label(exp, t, i) for i, (exp, (_, _, t)) in enumerate(zip(train_exps, train))]
    order = _class_order(benchmark, train_exps, [y for _, y, _ in train])
    tasks = []
    for i, ((x, y, _), classes) in enumerate(zip(train, order)):
        if shared_test:
            xt, yt, tt = test[0]
            keep = torch.isin(yt, torch.tensor(classes, dtype=yt.dtype))
            if len(set(labels)) > 1 and tt is not None:
                keep &= tt == labels[i]
            xt, yt = xt[keep], yt[keep]
        else:
            xt, yt, _ = test[i]
        tasks.append(Task(i, x, y, xt, yt, classes=classes, task_label=labels[i],
                          metadata={"avalanche_experience": i, "shared_test_experience": shared_test}))

    inferred = _infer_setting(labels, order)
    all_labels = torch.cat([t.y_train for t in tasks] + [t.y_test for t in tasks])
    n_classes = int(all_labels.max()) + 1 if len(all_labels) else 0
    definition = {"source": "avalanche", "benchmark": type(benchmark).__name__, "n_experiences": len(tasks),
                  "test_pairing": "shared" if shared_test else "by index", "inferred_setting": inferred,
                  "materialize_seed": MATERIALIZE_SEED}
    return Stream(name=name or f"avalanche-{type(benchmark).__name__}", setting=setting or inferred,
                  tasks=tasks, n_classes=n_classes, definition=definition)


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


def _check_size(datasets, limit: int) -> None:
    """Refuse, before loading anything, a stream whose tensors would exceed ``limit`` bytes
    (estimated from each dataset's first sample times its length)."""
    total = 0
    with fixed_seeds(MATERIALIZE_SEED), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d in datasets:
            if len(d):
                total += _nbytes(d[0]) * len(d)
    if total > limit:
        raise ConfigError(
            f"the benchmark's tensors would take about {_size(total)}, above the limit of {_size(limit)}: "
            "lifelong Tasks hold their data in memory (raise the limit if it fits)",
            field="materialize_limit", value=limit)


def _size(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} bytes"


def _materialize(dataset, where: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x, y, task labels or None): every sample the dataset yields, in order, transforms applied once."""
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
            xs.append(x)
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


@contextlib.contextmanager
def fixed_seeds(seed: int):
    """Seed torch (CPU, and CUDA when in use), numpy and ``random`` for the block, then put their states back."""
    py, npy = random.getstate(), np.random.get_state()
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)
