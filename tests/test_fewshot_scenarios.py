"""Tests for generated and few-shot streams: the sinusoid family, the MNIST-1D class pool, N-way
episode streams, and split streams whose later classes are few-shot.

What a result depends on: the same stream for the same seed, meta-train / stream / held-out
classes that never meet, held-out tasks that no training task touches, exact shot counts, and
one-line errors naming the field and the value.
"""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

import lifelong as ll
from lifelong.config import list_presets
from lifelong.scenarios import build_stream, sources
from conftest import row_hashes

SMALL_EPISODES = {"source": "mnist1d-classes", "builder": "episodes", "n_tasks": 4, "n_way": 5, "train_per_class": 10,
                  "test_per_class": 5, "meta_train_classes": 20, "held_out_classes": 30, "n_held_out": 3}


pytestmark = pytest.mark.usefixtures("private_cache")  # generated data goes to a throwaway cache


def same_tasks(a, b) -> bool:
    return all(ta.classes == tb.classes and torch.equal(ta.x_train, tb.x_train) and torch.equal(ta.y_train, tb.y_train)
               and torch.equal(ta.x_test, tb.x_test) and torch.equal(ta.y_test, tb.y_test) for ta, tb in zip(a, b))


def config_error(spec: dict, **kwargs) -> str:
    with pytest.raises(ll.ConfigError) as e:
        build_stream(spec, **kwargs)
    message = str(e.value)
    assert "\n" not in message, "a config error is one line"
    return message


# --- presets ------------------------------------------------------------------------------------


def test_new_presets_load_by_name_and_are_listed_with_a_description():
    listed = dict(list_presets("scenarios"))
    for name in ("sine-stream", "fewshot-mnist1d", "split-mnist-fewshot"):
        assert listed.get(name), f"{name} has no description"
    sine = ll.load_scenario("sine-stream", seed=0)
    assert (sine.setting, len(sine), len(sine.held_out), sine.n_classes) == ("regression", 100, 50, 1)
    fewshot = ll.load_scenario("fewshot-mnist1d", seed=0)
    assert fewshot.setting == "task-incremental" and len(fewshot) == 11 and len(fewshot.held_out) == 20
    assert fewshot[0].metadata["base"] and len(fewshot[0].classes) == 100
    assert all(len(t.classes) == 5 for t in (*fewshot.tasks[1:], *fewshot.held_out))
    split = ll.load_scenario("split-mnist-fewshot", seed=0)
    assert split.setting == "class-incremental" and len(split) == 5 and split.n_classes == 10
    assert [t.n_train for t in split][2:] == [20, 20, 20]


# --- sinusoids ----------------------------------------------------------------------------------


def test_sinusoid_tasks_are_float_regression_tasks_of_the_stated_functions():
    stream = build_stream({"builder": "sinusoids", "n_tasks": 5, "n_train": 7, "n_test": 9, "n_held_out": 3}, seed=0)
    assert stream.setting == "regression" and stream.regression and stream.measure.name == "mse"
    assert stream.n_classes == 1 and stream.input_shape == (1,)
    assert "source" not in stream.definition
    for i, task in enumerate((*stream.tasks, *stream.held_out)):
        assert task.x_train.shape == task.y_train.shape == (7, 1)
        assert task.x_test.shape == task.y_test.shape == (9, 1)
        assert {t.dtype for t in (task.x_train, task.y_train, task.x_test, task.y_test)} == {torch.float32}
        assert task.classes == () and task.index == task.task_label == i
        a, phase = task.metadata["amplitude"], task.metadata["phase"]
        assert 0.1 <= a <= 5.0 and 0 <= phase <= math.pi
        for x, y in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
            assert x.min() >= -5 and x.max() <= 5
            assert torch.allclose(y, a * torch.sin(x.double() - phase).float(), atol=1e-5)


def test_sinusoid_held_out_functions_are_new_and_do_not_depend_on_the_stream_length():
    short = build_stream({"builder": "sinusoids", "n_tasks": 3, "n_held_out": 4}, seed=2)
    long = build_stream({"builder": "sinusoids", "n_tasks": 8, "n_held_out": 4}, seed=2)
    functions = {(t.metadata["amplitude"], t.metadata["phase"]) for t in long}
    held = [(t.metadata["amplitude"], t.metadata["phase"]) for t in long.held_out]
    assert len(held) == len(set(held)) == 4 and not functions & set(held)
    assert same_tasks(short.held_out, long.held_out)
    assert same_tasks(short.tasks, long.tasks[:3])


def test_sinusoids_are_fixed_by_the_seed():
    spec = {"builder": "sinusoids", "n_tasks": 3, "n_held_out": 2}
    a, again, other = build_stream(spec, seed=5), build_stream(spec, seed=5), build_stream(spec, seed=6)
    assert same_tasks(a, again) and same_tasks(a.held_out, again.held_out) and a.fingerprint == again.fingerprint
    assert not torch.equal(a[0].y_train, other[0].y_train) and a.fingerprint != other.fingerprint


def test_sinusoid_ranges_are_applied_and_held_out_tasks_enter_the_fingerprint():
    stream = build_stream({"builder": "sinusoids", "n_tasks": 4, "amplitude": [2, 2], "phase": [0, 0],
                           "x_range": [0, 1]}, seed=0)
    for task in stream:
        assert task.metadata["amplitude"] == 2 and task.metadata["phase"] == 0
        assert task.x_train.min() >= 0 and task.x_train.max() <= 1
    spec = {"builder": "sinusoids", "n_tasks": 2}
    assert build_stream({**spec, "n_held_out": 1}).fingerprint != build_stream({**spec, "n_held_out": 2}).fingerprint


def test_a_small_network_learns_a_sine_stream_and_is_scored_on_held_out_functions():
    from lifelong.evaluation.fewshot import FewShot

    stream = build_stream({"builder": "sinusoids", "n_tasks": 2, "n_held_out": 2}, seed=0)
    result = ll.run(ll.load_strategy("naive", epochs=1, model="mlp"), stream, seed=0,
                    evaluators=[FewShot(shots=(5,), draws=1)])
    assert result.status == "finished" and len(result.accuracy_matrix) == 2
    assert result.metrics["fewshot_held_out"]["5"] >= 0


# --- the MNIST-1D class pool ----------------------------------------------------------------


def test_mnist1d_class_pool_has_hundreds_of_classes_with_exact_splits():
    pool = sources.SOURCES["mnist1d-classes"]()
    assert pool.classes == list(range(300))
    assert pool.x_train.shape == (300 * 80, 1, 40) and pool.x_test.shape == (300 * 20, 1, 40)
    assert pool.x_train.dtype == torch.float32 and pool.y_train.dtype == torch.int64
    assert set(np.bincount(pool.y_train.numpy()).tolist()) == {80}
    assert set(np.bincount(pool.y_test.numpy()).tolist()) == {20}
    assert not row_hashes(pool.x_train) & row_hashes(pool.x_test)


def test_random_templates_are_distinct_curves_like_the_digit_templates():
    from mnist1d.data import get_templates

    t = sources.random_templates(50, seed=0)
    again = sources.random_templates(50, seed=0)
    assert np.array_equal(t, again) and not np.array_equal(t, sources.random_templates(50, seed=1))
    assert t.shape == (50, 12)
    assert np.allclose(t[:, 0], 0) and np.allclose(t[:, -1], 0)
    assert np.allclose(t.std(1), 1 / 6) and np.abs(t).max() < 1
    distances = np.linalg.norm(np.concatenate([t, get_templates()["x"]])[:, None] - t[None], axis=-1)
    distances[np.arange(50), np.arange(50)] = np.inf
    assert distances.min() >= 0.35


def test_mnist1d_class_pool_is_cached_on_disk_and_leaves_global_generators_alone(tmp_path, monkeypatch):
    import mnist1d.data

    monkeypatch.setenv("LIFELONG_CACHE", str(tmp_path))
    small = dict(n_classes=6, per_class=10, test_per_class=3)
    np.random.seed(3)
    random.seed(3)
    first = sources.mnist1d_classes.__wrapped__(**small)
    after = (np.random.random(), random.random())
    np.random.seed(3)
    random.seed(3)
    assert after == (np.random.random(), random.random())
    assert [f.name.startswith("mnist1d-classes-") for f in tmp_path.iterdir()] == [True]

    def no_regeneration(*a, **k):
        raise AssertionError("the pool was generated again instead of read from the cache")

    monkeypatch.setattr(mnist1d.data, "make_dataset", no_regeneration)
    second = sources.mnist1d_classes.__wrapped__(**small)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(first, name), getattr(second, name)), name
    assert first.x_train.shape == (6 * 7, 1, 40) and first.x_test.shape == (6 * 3, 1, 40)


# --- episode streams -----------------------------------------------------------------------------


def pool_classes(tasks) -> list[set[int]]:
    return [set(t.metadata["pool_classes"]) for t in tasks]


def test_episode_pools_are_disjoint_and_every_stream_task_brings_new_classes():
    stream = build_stream(SMALL_EPISODES, seed=0)
    base, *rest = stream.tasks
    assert base.metadata["base"] and len(base.classes) == 20 and len(stream) == 4
    stream_sets = pool_classes(rest)
    held_sets = pool_classes(stream.held_out)
    assert all(len(s) == 5 for s in stream_sets + held_sets)
    seen = set(pool_classes([base])[0])
    for s in stream_sets:
        assert not seen & s, "a stream task repeats a class"
        seen |= s
    assert not seen & set().union(*held_sets), "a held-out class was trained on"
    assert set().union(*held_sets) <= set(range(300))


def test_held_out_tasks_are_untouched_by_training_tasks():
    stream = build_stream(SMALL_EPISODES, seed=1)
    trained = set().union(*(row_hashes(t.x_train) for t in stream), *(row_hashes(t.x_test) for t in stream))
    for task in stream.held_out:
        assert not (row_hashes(task.x_train) | row_hashes(task.x_test)) & trained
        assert task.index >= len(stream) and task.task_label >= len(stream)
    info = stream.info_of(stream.held_out[0])
    assert info.classes == stream.held_out[0].classes and info.task_label == stream.held_out[0].task_label


def test_episode_tasks_have_exact_sizes_and_labels_in_one_label_space():
    stream = build_stream(SMALL_EPISODES, seed=0)
    pool = sources.mnist1d_classes()
    to_pool: dict[int, int] = {}
    for task in (*stream.tasks, *stream.held_out):
        assert task.classes == tuple(sorted(task.classes))
        assert torch.isin(task.y_train, torch.tensor(task.classes)).all()
        if not task.metadata["base"]:
            for y, per in ((task.y_train, 10), (task.y_test, 5)):
                assert np.bincount(y.numpy(), minlength=stream.n_classes)[list(task.classes)].tolist() == [per] * 5
        else:
            assert task.n_train == 20 * 80 and len(task.y_test) == 20 * 20
        assert not row_hashes(task.x_train) & row_hashes(task.x_test), "a test example is also a training example"
        assert row_hashes(task.x_train) <= row_hashes(pool.x_train)
        assert row_hashes(task.x_test) <= row_hashes(pool.x_test)
        for label, original in zip(task.classes, task.metadata["pool_classes"]):
            assert to_pool.setdefault(label, original) == original, "one label names two pool classes"
    assert sorted(to_pool) == list(range(stream.n_classes)), "labels are 0..n_classes-1, held-out ones included"
    assert len(set(to_pool.values())) == stream.n_classes


def test_episode_streams_are_fixed_by_the_seed_but_the_pool_is_not():
    a, again, other = (build_stream(SMALL_EPISODES, seed=s) for s in (0, 0, 4))
    assert same_tasks(a, again) and same_tasks(a.held_out, again.held_out) and a.fingerprint == again.fingerprint
    assert pool_classes(a) != pool_classes(other) and a.fingerprint != other.fingerprint
    pool = sources.mnist1d_classes()
    for stream in (a, other):  # a pool class's data is the same whatever the run seed
        task = stream[1]
        c = task.metadata["pool_classes"][0]
        assert row_hashes(task.x_train[task.y_train == task.classes[0]]) <= row_hashes(pool.x_train[pool.y_train == c])


def test_held_out_episodes_do_not_change_with_the_stream_length():
    short = build_stream({**SMALL_EPISODES, "n_tasks": 2}, seed=0)
    long = build_stream({**SMALL_EPISODES, "n_tasks": 6}, seed=0)
    assert pool_classes(short.held_out) == pool_classes(long.held_out)
    assert all(torch.equal(a.x_train, b.x_train) for a, b in zip(short.held_out, long.held_out))


def test_episodes_over_the_digits_may_repeat_classes():
    stream = build_stream({"source": "digits", "builder": "episodes", "n_tasks": 6, "n_way": 3, "new_classes": False,
                           "held_out_classes": 4, "n_held_out": 2, "setting": "class-incremental"}, seed=0)
    stream_classes = set().union(*pool_classes(stream))
    assert stream_classes <= set(range(10)) and len(stream_classes) <= 6
    assert not stream_classes & set().union(*pool_classes(stream.held_out))
    assert sum(len(s) for s in pool_classes(stream)) == 18 and stream.setting == "class-incremental"
    assert stream.task_info(0).classes is None


def test_episodes_without_a_base_task_start_with_an_n_way_task():
    stream = build_stream({**SMALL_EPISODES, "meta_train_classes": 0, "n_tasks": 3}, seed=0)
    assert len(stream) == 3 and all(len(t.classes) == 5 and not t.metadata["base"] for t in stream)
    assert [t.classes for t in stream] == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9), (10, 11, 12, 13, 14)]


# --- split with few-shot later classes -----------------------------------------------------------


def test_split_keeps_exactly_shots_per_class_from_fewshot_from_on():
    plain = ll.load_scenario("split-digits", seed=0)
    fewshot = ll.load_scenario("split-digits", seed=0, fewshot_from=2, shots=4)
    for t, (p, f) in enumerate(zip(plain, fewshot)):
        assert p.classes == f.classes
        assert torch.equal(p.x_test, f.x_test) and torch.equal(p.y_test, f.y_test), "the test set must stay whole"
        if t < 2:
            assert torch.equal(p.x_train, f.x_train) and torch.equal(p.y_train, f.y_train)
            assert "shots" not in f.metadata
        else:
            assert np.bincount(f.y_train.numpy(), minlength=10)[list(f.classes)].tolist() == [4, 4]
            assert row_hashes(f.x_train) <= row_hashes(p.x_train) and f.metadata["shots"] == 4


def test_a_stream_shortened_before_fewshot_from_has_no_few_shot_task():
    short = ll.load_scenario("split-mnist-fewshot", seed=0, n_tasks=2)
    plain = ll.load_scenario("split-mnist", seed=0, n_tasks=2)
    assert same_tasks(short, plain) and not any("shots" in t.metadata for t in short)


def test_few_shot_examples_depend_on_the_seed():
    a = ll.load_scenario("split-digits", seed=0, fewshot_from=1, shots=3)
    again = ll.load_scenario("split-digits", seed=0, fewshot_from=1, shots=3)
    other = ll.load_scenario("split-digits", seed=1, fewshot_from=1, shots=3)
    assert same_tasks(a, again)
    assert any(not torch.equal(x.x_train, y.x_train) for x, y in zip(a.tasks[1:], other.tasks[1:]))


def test_plain_split_streams_keep_their_fingerprints():
    # the values the library gave before few-shot options existed: stored results are keyed by them
    assert ll.load_scenario("split-digits", seed=0).fingerprint == "c9f56bc22dc5fae2"
    assert ll.load_scenario("split-digits-ti", seed=0).fingerprint == "e3c4a9552d711e3e"
    assert ll.load_scenario("split-mnist", seed=0).fingerprint == "72bf885638d3cdef"
    definition = ll.load_scenario("split-digits", seed=0).definition
    assert "fewshot_from" not in definition and "shots" not in definition


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, field, shown", [
    ({"builder": "sinusoids", "n_tasks": 0}, "n_tasks", "0"),
    ({"builder": "sinusoids", "amplitude": [5, 1]}, "amplitude", "[5.0, 1.0]"),
    ({"builder": "sinusoids", "phase": [1]}, "phase", "[1.0]"),
    ({"builder": "sinusoids", "x_range": "wide"}, "x_range", "'wide'"),
    ({"builder": "sinusoids", "setting": "class-incremental"}, "setting", "'class-incremental'"),
    ({"builder": "sinusoids", "source": "digits"}, "source", "'digits'"),
    ({"builder": "episodes", "source": "digits", "n_way": 1}, "n_way", "1"),
    ({"builder": "episodes", "source": "digits", "n_way": 11, "n_tasks": 1}, "n_way", "11"),
    ({"builder": "episodes", "source": "digits", "n_tasks": 3}, "n_tasks", "3"),
    ({"builder": "episodes", "source": "digits", "n_tasks": 1, "train_per_class": 500}, "train_per_class", "500"),
    ({"builder": "episodes", "source": "digits", "n_tasks": 1, "test_per_class": 90}, "test_per_class", "90"),
    ({"builder": "episodes", "source": "digits", "n_tasks": 1, "meta_train_classes": 1}, "meta_train_classes", "1"),
    ({"builder": "episodes", "source": "digits", "n_tasks": 1, "n_held_out": 2, "held_out_classes": 3},
     "held_out_classes", "3"),
    ({"builder": "episodes", "source": "digits", "n_tasks": 1, "meta_train_classes": 8, "held_out_classes": 4},
     "meta_train_classes", "8"),
    ({"builder": "episodes", "source": "digits", "setting": "regression"}, "setting", "'regression'"),
    ({"builder": "episodes", "n_tasks": 1}, "source", "missing"),
    ({"builder": "split", "source": "digits", "shots": 5}, "shots", "5"),
    ({"builder": "split", "source": "digits", "fewshot_from": 1}, "fewshot_from", "1"),
    ({"builder": "split", "source": "digits", "fewshot_from": 1, "shots": 1000}, "shots", "1000"),
    ({"builder": "split", "source": "digits", "fewshot_from": -1, "shots": 5}, "fewshot_from", "-1"),
])
def test_bad_fields_name_the_field_and_the_value(spec, field, shown):
    message = config_error(spec)
    assert field in message and shown in message, message


def test_errors_in_a_preset_file_name_the_file(tmp_path):
    path = tmp_path / "sine.yaml"
    path.write_text("builder: sinusoids\nsource: mnist\n")
    with pytest.raises(ll.ConfigError) as e:
        ll.load_scenario(str(path))
    assert str(path) in str(e.value) and "source" in str(e.value) and "'mnist'" in str(e.value)


def test_too_many_new_classes_says_how_many_are_left():
    message = config_error({"source": "digits", "builder": "episodes", "n_tasks": 3, "n_way": 3,
                            "held_out_classes": 3})
    assert "7 of the 10 classes" in message and "new_classes" in message
