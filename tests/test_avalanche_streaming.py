"""Streamed Avalanche benchmarks: ``from_avalanche(..., materialize=False)`` (or a benchmark above
``materialize_limit``) gives LazyTasks that load one train or test set at a time through a DataLoader.
They must give exactly the tensors, fingerprint and results of the materialised stream, while holding
at most ``cache_size`` sets. Everything is built from local tensors; nothing is downloaded.
"""
from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import torch

import lifelong as ll
from lifelong.config import ConfigError
from lifelong.interop.avalanche_streams import from_avalanche
from lifelong.scenarios.sources import digits
from lifelong.scenarios.stream import LazyTask, Task

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Avalanche warns on import
    from avalanche.benchmarks import nc_benchmark, ni_benchmark
    from avalanche.benchmarks.utils.classification_dataset import _make_taskaware_tensor_classification_dataset


def noisy(v):
    """A random transform: the streamed path must reproduce its outputs at every reload."""
    return v + 0.01 * torch.randn_like(v)


def benchmark(kind="nc", transform=noisy, n=600):
    d = digits()
    train = _make_taskaware_tensor_classification_dataset(d.x_train[:n], d.y_train[:n], transform=transform)
    test = _make_taskaware_tensor_classification_dataset(d.x_test[:n // 2], d.y_test[:n // 2], transform=transform)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "ni":  # one shared test experience
            return ni_benchmark(train, test, n_experiences=3, seed=0)
        return nc_benchmark(train, test, n_experiences=5, task_labels=kind == "nc-ti", seed=0)


def assert_same_tasks(a, b):
    assert (a.name, a.setting, a.n_classes, len(a), a.input_shape) == (b.name, b.setting, b.n_classes, len(b),
                                                                       b.input_shape)
    for s, t in zip(a, b):
        assert (s.index, s.classes, s.task_label, dict(s.metadata), s.n_train) == \
               (t.index, t.classes, t.task_label, dict(t.metadata), t.n_train)
        for field in ("x_train", "y_train", "x_test", "y_test"):
            u, v = getattr(s, field), getattr(t, field)
            assert u.dtype == v.dtype and torch.equal(u, v), (s.index, field)
    assert a.fingerprint == b.fingerprint


@pytest.mark.parametrize("kind", ["nc", "nc-ti", "ni"])
def test_streamed_tasks_are_the_materialised_tensors(kind):
    bm = benchmark(kind)
    held, streamed = from_avalanche(bm), from_avalanche(bm, materialize=False)
    assert all(type(t) is Task for t in held) and all(isinstance(t, LazyTask) for t in streamed)
    assert_same_tasks(held, streamed)
    assert_same_tasks(held, from_avalanche(bm, materialize=False, cache_size=1))  # reloads give the same tensors


@pytest.mark.parametrize("name", ["naive", "replay", "cumulative"])
def test_streamed_runs_give_the_materialised_results(name):
    bm = benchmark()
    held, streamed = from_avalanche(bm), from_avalanche(bm, materialize=False)
    a = ll.run(ll.load_strategy(name, epochs=1, model="mlp"), held, seed=3)
    b = ll.run(ll.load_strategy(name, epochs=1, model="mlp"), streamed, seed=3)
    assert a.accuracy_matrix == b.accuracy_matrix and a.random_init_accuracy == b.random_init_accuracy
    assert a.stream_fingerprint == b.stream_fingerprint == held.fingerprint


def test_at_most_two_sets_are_loaded_at_once():
    bm = benchmark()
    stream = from_avalanche(bm, materialize=False)
    cache, T = stream[0].cache, len(stream)
    assert cache.loads == 2 * T and cache.peak_live <= 2 and cache.live == 0  # the fingerprint pass, then none
    moved = stream.to("cpu")
    _ = (moved.info, moved.fingerprint, [t.n_train for t in moved], repr(moved[0]), moved[0].to("cpu"))
    assert cache.loads == 2 * T  # none of these loads anything
    result = ll.run(ll.load_strategy("replay", epochs=1, model="mlp"), stream, seed=0)
    # each train set once; every test set before training and after each task
    assert cache.loads == 2 * T + T + T * (T + 1)
    assert cache.peak_live <= 2 and cache.live <= 2, (cache.peak_live, cache.live)
    assert result.stream_fingerprint == stream.fingerprint


def test_a_limit_below_the_data_streams_and_materialize_true_refuses():
    calls = []

    def counting(v):
        calls.append(1)
        return v

    bm = benchmark(transform=counting)
    streamed = from_avalanche(bm, materialize_limit=1000)  # "auto": too large to hold, so streamed
    assert all(isinstance(t, LazyTask) for t in streamed)
    assert streamed.fingerprint == from_avalanche(bm).fingerprint
    calls.clear()
    with pytest.raises(ConfigError, match="materialize_limit") as e:
        from_avalanche(bm, materialize=True, materialize_limit=1000)
    assert "\n" not in str(e.value) and "materialize='auto'" in str(e.value)
    assert len(calls) <= 10  # one sample looked at per dataset, none loaded
    for bad in ({"materialize": "yes"}, {"materialize": 1}, {"cache_size": 0}, {"cache_size": True}):
        with pytest.raises(ConfigError, match=next(iter(bad))) as e:
            from_avalanche(bm, **bad)
        assert "\n" not in str(e.value)


def test_loads_leave_the_random_state_alone_and_give_trainable_tensors():
    stream = from_avalanche(benchmark(), materialize=False)
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    with torch.inference_mode():  # an evaluation may be the first to touch a set
        x = stream[1].x_train
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1]) and random.getstate() == before[2]
    assert not x.is_inference()
    w = torch.zeros(x[0].numel(), 1, requires_grad=True)
    (x.flatten(1) @ w).sum().backward()  # usable in training
    assert w.grad is not None
