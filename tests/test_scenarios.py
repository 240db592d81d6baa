"""Tests for task streams: presets, the split / permute / rotate builders, fingerprints,
what a learner may know at test time, and user-supplied data.

The properties checked are the ones a continual-learning result depends on:
the right tasks with the right classes, no test sample seen in training, the
same stream for the same (definition, seed), and a fingerprint that tells
different streams apart.
"""
from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import lifelong as ll
from lifelong.config import ConfigError
from lifelong.scenarios import TaskInfo, build_stream, from_arrays, sources
from lifelong.scenarios.stream import Stream, Task
from conftest import on_disk, row_hashes

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SCENARIO_PRESETS = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml") if not on_disk(p.stem))


pytestmark = pytest.mark.usefixtures("private_cache")  # generated data goes to a throwaway cache


def tiny_pool(n_classes=4, per_class_train=6, per_class_test=3, shape=(1, 4, 4), seed=0):
    """A small labelled pool with distinct random rows."""
    g = np.random.default_rng(seed)
    y_tr = np.repeat(np.arange(n_classes), per_class_train)
    y_te = np.repeat(np.arange(n_classes), per_class_test)
    x_tr = g.random((len(y_tr), *shape), dtype=np.float32)
    x_te = g.random((len(y_te), *shape), dtype=np.float32)
    return x_tr, y_tr, x_te, y_te


# --- every preset ------------------------------------------------------------------------


def test_preset_folder_is_not_empty():
    assert "split-digits" in SCENARIO_PRESETS and "split-mnist" in SCENARIO_PRESETS
    assert len(SCENARIO_PRESETS) >= 10


@pytest.mark.parametrize("name", SCENARIO_PRESETS)
def test_every_preset_builds_the_stream_its_yaml_describes(name):
    spec = yaml.safe_load((SCENARIO_DIR / f"{name}.yaml").read_text())
    stream = ll.load_scenario(name, seed=0)

    assert isinstance(stream, Stream)
    assert stream.name == name
    assert stream.setting == spec["setting"]
    # an OSAKA stream's tasks are its runs of steps between switches, drawn (tests/test_osaka.py)
    assert len(stream) == spec.get("n_tasks", len(stream) if spec["builder"] == "osaka" else None) == stream.info.n_tasks
    assert (stream.online is not None) == ("online" in spec)
    assert [t.index for t in stream] == list(range(len(stream)))
    assert [t.task_label for t in stream] == list(range(len(stream)))
    shape = stream.input_shape
    if stream.regression:  # one function per task: float inputs and targets of shape (n, 1)
        assert stream.n_classes == 1
        for task in (*stream, *stream.held_out):
            for x, y in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
                assert x.dtype == y.dtype == torch.float32 and x.shape == y.shape == (len(x), 1)
                assert torch.isfinite(y).all() and task.classes == ()
        return
    assert stream.n_classes == (10 if spec.get("source") in ("mnist", "digits", "mnist1d") else stream.n_classes)
    for task in (*stream, *stream.held_out):
        assert max(task.classes) < stream.n_classes
        for x, y in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
            assert len(x) == len(y) > 0
            assert x.dtype == torch.float32
            assert y.dtype == torch.int64
            assert x.ndim in (3, 4) and x.shape[1] == 1, "inputs need a channel axis: (N, 1, L) or (N, 1, H, W)"
            assert tuple(x.shape[1:]) == shape, "every task has inputs of the same shape"
            assert torch.isfinite(x).all()
            if y is task.y_test or "boundaries" not in spec:  # blurry and gradual ones mix training sets
                assert torch.isin(y, torch.tensor(task.classes)).all(), "a label outside the task's classes"
            if x.ndim == 4:  # images are documented as [0, 1]
                assert x.min() >= 0 and x.max() <= 1
        # every class the task announces is actually trained on (with others', in a mixed stream) and tested on
        trained = set(task.y_train.tolist())
        assert trained == set(task.classes) if "boundaries" not in spec else trained >= set(task.classes)
        assert set(task.y_test.tolist()) == set(task.classes)


@pytest.mark.parametrize("name", ["split-digits", "split-mnist"])
def test_split_presets_use_every_pool_sample_exactly_once(name):
    stream = ll.load_scenario(name, seed=0)
    pool = sources.SOURCES[stream.definition["source"]]()
    assert sum(t.n_train for t in stream) == len(pool.y_train)
    assert sum(len(t.y_test) for t in stream) == len(pool.y_test)


# --- split builder -------------------------------------------------------------------------


def test_split_tasks_have_disjoint_classes_covering_all_ten():
    stream = ll.load_scenario("split-digits", seed=0)
    seen: set[int] = set()
    for task in stream:
        assert len(task.classes) == 2
        assert not seen & set(task.classes), f"task {task.index} repeats a class"
        seen |= set(task.classes)
    assert seen == set(range(10))


def test_split_class_order_is_fixed_by_default_whatever_the_seed():
    a = ll.load_scenario("split-digits", seed=0)
    b = ll.load_scenario("split-digits", seed=7)
    assert [t.classes for t in a] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert [t.classes for t in b] == [t.classes for t in a]
    for ta, tb in zip(a, b):
        assert torch.equal(ta.x_train, tb.x_train) and torch.equal(ta.y_test, tb.y_test)


def test_split_shuffled_class_order_depends_on_the_seed():
    def order(seed):
        stream = ll.load_scenario("split-digits", seed=seed, shuffle_classes=True)
        return [t.classes for t in stream]

    orders = {s: order(s) for s in range(4)}
    assert order(0) == orders[0], "same seed, same class order"
    assert len({tuple(o) for o in orders.values()}) > 1, "the class order never changed with the seed"
    for o in orders.values():
        assert sorted(c for classes in o for c in classes) == list(range(10))
    assert any(o != [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)] for o in orders.values())


def test_split_uneven_classes_give_the_first_tasks_one_more():
    stream = ll.load_scenario("split-digits", seed=0, n_tasks=3)
    assert [len(t.classes) for t in stream] == [4, 3, 3]
    assert sorted(c for t in stream for c in t.classes) == list(range(10))


def test_split_with_one_task_per_class():
    stream = ll.load_scenario("split-digits", seed=0, n_tasks=10)
    assert [t.classes for t in stream] == [(c,) for c in range(10)]


def test_split_uses_the_labels_present_not_a_range():
    x_tr, y_tr, x_te, y_te = tiny_pool(n_classes=6)
    keep_tr, keep_te = np.isin(y_tr, [0, 2, 3, 5]), np.isin(y_te, [0, 2, 3, 5])
    pool = from_arrays(x_tr[keep_tr], y_tr[keep_tr], x_te[keep_te], y_te[keep_te])
    stream = build_stream({"builder": "split", "n_tasks": 2}, data=pool)
    assert [t.classes for t in stream] == [(0, 2), (3, 5)]
    assert stream.n_classes == 6  # the output layer must still reach label 5


# --- train / test separation -------------------------------------------------------------


@pytest.mark.parametrize("name", ["split-digits", "split-mnist"])
def test_no_test_input_appears_in_training(name):
    stream = ll.load_scenario(name, seed=0)
    train = set().union(*(row_hashes(t.x_train) for t in stream))
    test = set().union(*(row_hashes(t.x_test) for t in stream))
    assert train and test
    assert not train & test, f"{len(train & test)} test inputs also appear in training"


def test_no_test_input_appears_in_training_within_a_permuted_task():
    stream = build_stream({"source": "digits", "builder": "permute", "n_tasks": 2}, seed=0)
    for task in stream:
        assert not row_hashes(task.x_train) & row_hashes(task.x_test)


def test_the_test_set_does_not_depend_on_the_seed():
    a = ll.load_scenario("split-digits", seed=0)
    b = ll.load_scenario("split-digits", seed=123)
    assert set().union(*(row_hashes(t.x_test) for t in a)) == set().union(*(row_hashes(t.x_test) for t in b))


# --- permute ---------------------------------------------------------------------------------


def test_permuted_tasks_are_permutations_of_the_same_data():
    stream = ll.load_scenario("permuted-mnist", seed=0)
    assert len({t.classes for t in stream}) == 1 and stream[0].classes == tuple(range(10))
    first = stream[0]
    for task in stream:
        assert torch.equal(task.y_train, first.y_train) and torch.equal(task.y_test, first.y_test)
        for x, x0 in ((task.x_train, first.x_train), (task.x_test, first.x_test)):
            for i in (0, 1, len(x) - 1):
                assert torch.equal(x[i].flatten().sort().values, x0[i].flatten().sort().values)
    for i in range(len(stream)):
        for j in range(i + 1, len(stream)):
            assert not torch.equal(stream[i].x_train, stream[j].x_train), f"tasks {i} and {j} are identical"


def test_each_permuted_task_applies_one_permutation_to_train_and_test():
    # every row is its own offset plus 0..15, so a row's values reveal the permutation applied to it
    n_features = 16
    base_tr = np.arange(20)[:, None] * 100 + np.arange(n_features)
    base_te = np.arange(20, 26)[:, None] * 100 + np.arange(n_features)
    pool = from_arrays(base_tr.reshape(-1, 1, 4, 4), np.arange(20) % 2, base_te.reshape(-1, 1, 4, 4), np.arange(6) % 2)
    stream = build_stream({"builder": "permute", "n_tasks": 3}, data=pool, seed=0)
    perms = []
    for task in stream:
        assert task.x_train.shape == (20, 1, 4, 4)
        perm = task.x_train[0].flatten().long()
        assert sorted(perm.tolist()) == list(range(n_features))
        for x, base in ((task.x_train, base_tr), (task.x_test, base_te)):
            offsets = torch.as_tensor(base[:, :1])
            assert torch.equal(x.flatten(1).long() - offsets, perm.expand(len(x), -1)), \
                "samples of one task were permuted differently"
        perms.append(perm)
    assert len({tuple(p.tolist()) for p in perms}) == 3


def test_permutations_depend_on_the_seed():
    a0 = build_stream({"source": "digits", "builder": "permute", "n_tasks": 2}, seed=0)
    a0_again = build_stream({"source": "digits", "builder": "permute", "n_tasks": 2}, seed=0)
    a1 = build_stream({"source": "digits", "builder": "permute", "n_tasks": 2}, seed=1)
    for t, t_again, t1 in zip(a0, a0_again, a1):
        assert torch.equal(t.x_train, t_again.x_train) and torch.equal(t.x_test, t_again.x_test)
        assert not torch.equal(t.x_train, t1.x_train)
        assert t.classes == t1.classes


# --- rotate ----------------------------------------------------------------------------------


def test_rotated_task_zero_is_the_unrotated_data_and_angles_increase():
    stream = ll.load_scenario("rotated-mnist", seed=0)
    pool = sources.mnist()
    assert torch.equal(stream[0].x_train, pool.x_train)
    assert torch.equal(stream[0].x_test, pool.x_test)
    angles = [t.metadata["angle"] for t in stream]
    assert angles[0] == 0 and angles[-1] == 180
    assert all(a < b for a, b in zip(angles, angles[1:])), angles
    for task in stream:
        assert torch.equal(task.y_train, pool.y_train) and task.classes == tuple(range(10))
    # rotating about the centre by 90 / 180 degrees moves pixel centres onto pixel centres
    x = pool.x_test
    assert angles[2] == 90 and angles[4] == 180
    assert torch.allclose(stream[4].x_test, torch.flip(x, [-2, -1]), atol=1e-4)
    assert torch.allclose(stream[2].x_test, torch.rot90(x, 1, [-2, -1]), atol=1e-4) or \
        torch.allclose(stream[2].x_test, torch.rot90(x, -1, [-2, -1]), atol=1e-4)


def test_rotation_angles_follow_max_angle_and_n_tasks():
    stream = build_stream({"source": "digits", "builder": "rotate", "n_tasks": 4, "max_angle": 90}, seed=0)
    assert [t.metadata["angle"] for t in stream] == pytest.approx([0, 30, 60, 90])
    assert not torch.equal(stream[1].x_train, stream[0].x_train)


def test_rotation_is_refused_for_one_dimensional_inputs():
    with pytest.raises(ll.ConfigError) as e:
        build_stream({"source": "mnist1d", "builder": "rotate", "n_tasks": 2}, seed=0)
    assert "builder" in str(e.value) and "rotate" in str(e.value)
    assert "(1, 40)" in str(e.value)


# --- fingerprint ---------------------------------------------------------------------------


def test_fingerprint_is_stable_across_loads():
    a, b = ll.load_scenario("split-digits", seed=0), ll.load_scenario("split-digits", seed=0)
    assert isinstance(a.fingerprint, str) and len(a.fingerprint) >= 8
    assert a.fingerprint == b.fingerprint


def test_fingerprint_depends_on_content_not_on_the_cached_pool():
    # the same definition on a freshly re-read copy of the data gives the same fingerprint
    loaded = ll.load_scenario("split-digits", seed=0)
    fresh = build_stream({"builder": "split", "n_tasks": 5, "setting": "class-incremental"},
                         data=sources.digits.__wrapped__(), seed=0, name="anything")
    assert fresh.fingerprint == loaded.fingerprint


def test_fingerprint_changes_with_n_tasks():
    assert ll.load_scenario("split-digits", n_tasks=2).fingerprint != ll.load_scenario("split-digits").fingerprint


def test_fingerprint_changes_with_the_setting():
    assert ll.load_scenario("split-digits").fingerprint != ll.load_scenario("split-digits-ti").fingerprint


def test_fingerprint_changes_when_one_data_value_changes():
    x_tr, y_tr, x_te, y_te = tiny_pool()
    changed = x_te.copy()
    changed[3, 0, 2, 1] += 0.5
    spec = {"builder": "split", "n_tasks": 2}
    a = build_stream(spec, data=from_arrays(x_tr, y_tr, x_te, y_te))
    a_again = build_stream(spec, data=from_arrays(x_tr, y_tr, x_te, y_te))
    b = build_stream(spec, data=from_arrays(x_tr, y_tr, changed, y_te))
    assert a.fingerprint == a_again.fingerprint
    assert a.fingerprint != b.fingerprint


def test_fingerprint_changes_with_the_seed_of_a_permuted_stream():
    spec = {"source": "digits", "builder": "permute", "n_tasks": 2}
    assert build_stream(spec, seed=0).fingerprint == build_stream(spec, seed=0).fingerprint
    assert build_stream(spec, seed=0).fingerprint != build_stream(spec, seed=1).fingerprint


def test_moving_a_stream_keeps_its_fingerprint():
    stream = ll.load_scenario("split-digits", seed=0)
    moved_before_hashing = stream.to("cpu")
    expected = stream.fingerprint
    moved_after_hashing = stream.to("cpu")
    assert moved_before_hashing.fingerprint == expected
    assert moved_after_hashing.fingerprint == expected
    assert len(moved_after_hashing) == len(stream) and moved_after_hashing.setting == stream.setting
    assert torch.equal(moved_before_hashing[1].x_test, stream[1].x_test)


# --- what a learner may know ------------------------------------------------------------


def test_class_incremental_task_info_hides_task_label_and_classes():
    stream = ll.load_scenario("split-digits", seed=0)
    for i in range(len(stream)):
        info = stream.task_info(i)
        assert info.task_label is None and info.classes is None


def test_domain_incremental_task_info_hides_task_label_and_classes():
    stream = build_stream({"source": "digits", "builder": "permute", "n_tasks": 2}, seed=0)
    assert stream.setting == "domain-incremental"
    for i in range(len(stream)):
        assert stream.task_info(i) == TaskInfo(None, None)


def test_task_incremental_task_info_gives_task_label_and_classes():
    stream = ll.load_scenario("split-digits-ti", seed=0)
    for i, task in enumerate(stream):
        info = stream.task_info(i)
        assert info.task_label == i == task.task_label
        assert info.classes == task.classes
    assert stream.task_info(1).classes != stream.task_info(0).classes


def test_fwt_applicability():
    assert ll.load_scenario("split-digits").fwt_applicable() is False
    assert ll.load_scenario("split-digits-ti").fwt_applicable() is True
    assert build_stream({"source": "digits", "builder": "permute", "n_tasks": 2}).fwt_applicable() is True


def test_fwt_applicable_for_class_incremental_streams_that_revisit_classes():
    x = torch.zeros(4, 1, 2)
    y0, y1 = torch.tensor([0, 1, 0, 1]), torch.tensor([1, 2, 1, 2])
    tasks = [Task(0, x, y0, x, y0, (0, 1), 0), Task(1, x, y1, x, y1, (1, 2), 1)]
    assert Stream("revisit", "class-incremental", tasks, n_classes=3).fwt_applicable() is True
    y2 = torch.tensor([2, 3, 2, 3])
    tasks[1] = Task(1, x, y2, x, y2, (2, 3), 1)
    assert Stream("disjoint", "class-incremental", tasks, n_classes=4).fwt_applicable() is False


# --- immutability ------------------------------------------------------------------------


def test_task_attributes_cannot_be_reassigned():
    task = ll.load_scenario("split-digits", seed=0)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.classes = (0, 1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.x_train = task.x_test
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.task_label = 3
    assert task.classes == (0, 1)


def test_task_metadata_is_read_only_and_copied():
    given = {"angle": 45.0}
    x, y = torch.zeros(2, 1, 2), torch.tensor([0, 1])
    task = Task(0, x, y, x, y, (0, 1), 0, metadata=given)
    with pytest.raises(TypeError):
        task.metadata["angle"] = 90.0
    with pytest.raises(TypeError):
        del task.metadata["angle"]
    given["angle"] = 90.0
    assert task.metadata["angle"] == 45.0, "the task shares the caller's metadata dict"
    rotated = build_stream({"source": "digits", "builder": "rotate", "n_tasks": 2})
    with pytest.raises(TypeError):
        rotated[1].metadata["angle"] = 0.0
    assert rotated[1].to("cpu").metadata["angle"] == 180.0


def test_stream_definition_and_tasks_are_read_only():
    stream = ll.load_scenario("split-digits", seed=0)
    with pytest.raises(TypeError):
        stream.definition["n_tasks"] = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        stream.setting = "task-incremental"
    assert isinstance(stream.tasks, tuple)


def test_stream_refuses_unknown_setting_and_empty_task_list():
    x, y = torch.zeros(2, 1, 2), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="setting"):
        Stream("s", "online", [Task(0, x, y, x, y, (0, 1), 0)], n_classes=2)
    with pytest.raises(ValueError, match="task"):
        Stream("s", "class-incremental", [], n_classes=2)


# --- user data -----------------------------------------------------------------------------


def test_from_arrays_converts_dtypes_and_builds_a_stream():
    x_tr, y_tr, x_te, y_te = tiny_pool()
    pool = from_arrays((x_tr * 255).astype(np.uint8), y_tr.astype(np.int32), x_te, y_te.tolist(), name="mine")
    assert pool.x_train.dtype == torch.float32 and pool.y_train.dtype == torch.int64
    assert pool.y_test.dtype == torch.int64 and pool.classes == [0, 1, 2, 3]
    stream = build_stream({"builder": "split", "n_tasks": 2, "setting": "task-incremental"}, data=pool, seed=0)
    assert stream.setting == "task-incremental"
    assert [t.classes for t in stream] == [(0, 1), (2, 3)]
    assert stream.input_shape == (1, 4, 4)
    assert stream.definition["source"] == "mine"


def test_from_arrays_refuses_mismatched_lengths_and_bad_labels():
    x_tr, y_tr, x_te, y_te = tiny_pool()
    with pytest.raises(ValueError, match="train"):
        from_arrays(x_tr, y_tr[:-1], x_te, y_te)
    with pytest.raises(ValueError, match="test"):
        from_arrays(x_tr, y_tr, x_te[:-2], y_te)
    with pytest.raises(ValueError):
        from_arrays(x_tr, -np.ones_like(y_tr), x_te, y_te)
    with pytest.raises(ValueError, match="shape"):
        from_arrays(x_tr, y_tr, x_te[:, :, :2], y_te)


def test_npz_source_is_found_relative_to_the_yaml_file(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    x_tr, y_tr, x_te, y_te = tiny_pool()
    np.savez(folder / "pool.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    preset = folder / "my-split.yaml"
    preset.write_text("source: pool.npz\nbuilder: split\nn_tasks: 2\nsetting: task-incremental\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the path must be resolved against the YAML, not the working directory

    stream = ll.load_scenario(str(preset), seed=0)
    assert stream.name == "my-split" and stream.setting == "task-incremental"
    assert [t.classes for t in stream] == [(0, 1), (2, 3)]
    assert torch.equal(stream[0].x_train, torch.as_tensor(x_tr[np.isin(y_tr, [0, 1])]))
    assert torch.equal(stream[1].y_test, torch.as_tensor(y_te[np.isin(y_te, [2, 3])]))
    same = build_stream({"builder": "split", "n_tasks": 2, "setting": "task-incremental", "source": "pool.npz"},
                        data=from_arrays(x_tr, y_tr, x_te, y_te), seed=0)
    assert torch.equal(same[1].x_test, stream[1].x_test)


def test_npz_source_with_mismatched_lengths_is_a_config_error(tmp_path):
    x_tr, y_tr, x_te, y_te = tiny_pool()
    np.savez(tmp_path / "bad.npz", x_train=x_tr, y_train=y_tr[:-1], x_test=x_te, y_test=y_te)
    preset = tmp_path / "bad.yaml"
    preset.write_text("source: bad.npz\nbuilder: split\nn_tasks: 2\n")
    with pytest.raises(ll.ConfigError) as e:
        ll.load_scenario(str(preset))
    assert "bad.npz" in str(e.value) and "labels" in str(e.value)


def test_npz_source_missing_arrays_is_a_config_error(tmp_path):
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((2, 1, 3)), y_train=np.zeros(2))
    preset = tmp_path / "partial.yaml"
    preset.write_text("source: partial.npz\nbuilder: split\nn_tasks: 1\n")
    with pytest.raises(ll.ConfigError) as e:
        ll.load_scenario(str(preset))
    assert "partial.npz" in str(e.value) and "x_test" in str(e.value) and "y_test" in str(e.value)


# --- MNIST-1D disk cache -----------------------------------------------------------------


def test_mnist1d_is_cached_on_disk_and_reloaded_identically(tmp_path, monkeypatch):
    import mnist1d.data

    cache = tmp_path / "cache"
    monkeypatch.setenv("LIFELONG_CACHE", str(cache))
    np.random.seed(11)
    random.seed(11)
    first = sources.mnist1d.__wrapped__()
    # generating the data must leave the global generators as they were
    np_next, py_next = np.random.random(), random.random()
    np.random.seed(11)
    random.seed(11)
    assert (np_next, py_next) == (np.random.random(), random.random())

    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz" and files[0].name.startswith("mnist1d-")

    def no_regeneration(*a, **k):
        raise AssertionError("mnist1d was generated again instead of read from the cache")

    monkeypatch.setattr(mnist1d.data, "make_dataset", no_regeneration)
    second = sources.mnist1d.__wrapped__()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(first, name), getattr(second, name)), name
    assert first.x_train.shape == (4000, 1, 40) and first.x_test.shape == (1000, 1, 40)
    assert first.classes == list(range(10))


def test_test_subset_keeps_a_fixed_seeded_subset_of_every_tasks_test_set():
    full = ll.load_scenario("split-digits", seed=0)
    cut = ll.load_scenario("split-digits", seed=0, test_subset=20)
    assert [len(t.y_test) for t in cut] == [20] * len(full)
    for a, b in zip(full, cut):
        assert row_hashes(b.x_test) <= row_hashes(a.x_test) and torch.equal(a.x_train, b.x_train)
    again = ll.load_scenario("split-digits", seed=0, test_subset=20)
    assert all(torch.equal(a.x_test, b.x_test) for a, b in zip(cut, again))
    other = ll.load_scenario("split-digits", seed=1, test_subset=20)
    assert cut.fingerprint not in (full.fingerprint, other.fingerprint)
    assert [len(t.y_test) for t in ll.load_scenario("split-digits", seed=0, test_subset=10_000)] == \
        [len(t.y_test) for t in full]  # a task with fewer samples keeps them all
    with pytest.raises(ConfigError, match="test_subset"):
        ll.load_scenario("split-digits", seed=0, test_subset=0)

