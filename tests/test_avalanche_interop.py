"""Avalanche 0.6.0 interop: Avalanche benchmarks become Streams, Avalanche strategies run through
``ll.run``, and lifelong's metrics and native strategies are cross-checked against Avalanche's.

Everything is built from local tensors (scikit-learn's digits) or from files the tests write; nothing
is downloaded. The module runs torch on one thread: on the shared two-core machine these tests were
written on, two threads made Avalanche's many small per-batch operations up to 50 times slower.
"""
from __future__ import annotations

import importlib.util
import inspect
import random
import warnings

import numpy as np
import pytest
import torch

import lifelong as ll
from lifelong.config import ConfigError, list_presets
from lifelong.evaluation import metrics
from lifelong.experiment.checkpoint import MemoryCheckpointer
from lifelong.models import build_model
from lifelong.scenarios import TaskInfo
from lifelong.interop.avalanche_streams import from_avalanche
from lifelong.scenarios.sources import digits
from lifelong.strategies import build_strategy
from lifelong.interop.avalanche_strategies import SUPPORTED, AvalancheStrategy

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Avalanche warns on import (optional solvers, deprecations)
    from avalanche.benchmarks import (benchmark_from_datasets, class_incremental_benchmark, nc_benchmark,
                                      new_instances_benchmark, ni_benchmark, tensors_benchmark)
    from avalanche.benchmarks.utils import DataAttribute, TaskAwareSupervisedClassificationDataset, TaskLabels
    from avalanche.benchmarks.utils.classification_dataset import _make_taskaware_tensor_classification_dataset
    from avalanche.evaluation.metrics import (accuracy_metrics, bwt_metrics, forgetting_metrics,
                                              forward_transfer_metrics)
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

AVALANCHE_PRESETS = [name for name, _ in list_presets("strategies") if name.startswith("avalanche-")]
HAS_HIGHER = importlib.util.find_spec("higher") is not None


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tensor_pool(n_classes=6, per_class=10, shape=(1, 4, 4), seed=0):
    """A small labelled pool: class c's inputs are noise around c."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    x = torch.randn(len(y), *shape, generator=g) * 0.1 + y.view(-1, *[1] * len(shape)).float()
    return x, y


def avalanche_tensors(x, y, **kwargs):
    """A TensorDataset-based Avalanche classification dataset (what ``tensors_benchmark`` builds)."""
    return _make_taskaware_tensor_classification_dataset(x, y, **kwargs)


def rows(t: torch.Tensor) -> list:
    return sorted(tuple(r) for r in t.flatten(1).tolist())


# --- 1. from_avalanche ------------------------------------------------------------------------------


def test_tensors_benchmark_keeps_tensors_sizes_and_setting():
    x, y = tensor_pool()
    xt, yt = tensor_pool(per_class=3, seed=1)
    groups = [(0, 1), (2, 3), (4, 5)]
    train = [(x[torch.isin(y, torch.tensor(g))], y[torch.isin(y, torch.tensor(g))]) for g in groups]
    test = [(xt[torch.isin(yt, torch.tensor(g))], yt[torch.isin(yt, torch.tensor(g))]) for g in groups]
    train[2] = (train[2][0][::3], train[2][1][::3])  # experiences of different sizes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bm = tensors_benchmark(train_tensors=train, test_tensors=test, task_labels=[0, 0, 0])
    stream = from_avalanche(bm, name="toy")
    assert stream.name == "toy" and stream.setting == "class-incremental" and stream.n_classes == 6
    assert stream.input_shape == (1, 4, 4) and stream.definition["source"] == "avalanche"
    for task, (xs, ys), (xts, yts), g in zip(stream, train, test, groups):
        assert task.classes == g and task.task_label == 0
        assert torch.equal(task.x_train, xs) and torch.equal(task.y_train, ys)  # order kept, values untouched
        assert torch.equal(task.x_test, xts) and torch.equal(task.y_test, yts)
        assert task.y_train.dtype == torch.long and task.x_train.dtype == torch.float32
    again = from_avalanche(bm, name="toy")
    assert again.fingerprint == stream.fingerprint
    other = tensors_benchmark(train_tensors=[(a + 1, b) for a, b in train], test_tensors=test, task_labels=[0, 0, 0])
    assert from_avalanche(other, name="toy").fingerprint != stream.fingerprint
    assert from_avalanche(bm, setting="domain-incremental").setting == "domain-incremental"
    with pytest.raises(ConfigError, match="setting"):
        from_avalanche(bm, setting="online")


def test_class_incremental_benchmark_keeps_class_order_and_transform_outputs():
    x, y = tensor_pool()
    xt, yt = tensor_pool(per_class=3, seed=1)
    double = lambda v: v * 2 + 1  # noqa: E731 - the datasets' transform: its outputs must be what Tasks hold
    bm = class_incremental_benchmark({"train": avalanche_tensors(x, y, transform=double),
                                      "test": avalanche_tensors(xt, yt, transform=double)},
                                     class_order=[3, 1, 4, 0, 2, 5], num_experiences=3)
    stream = from_avalanche(bm)
    assert stream.setting == "class-incremental"
    # class_incremental_benchmark keeps the order across experiences; inside one it keeps a set
    assert [t.classes for t in stream] == [(1, 3), (0, 4), (2, 5)]
    for task in stream:
        for xs, ys, pool_x, pool_y in ((task.x_train, task.y_train, x, y), (task.x_test, task.y_test, xt, yt)):
            keep = torch.isin(pool_y, torch.tensor(task.classes))
            assert rows(xs) == rows(double(pool_x[keep])) and sorted(ys.tolist()) == sorted(pool_y[keep].tolist())
    assert from_avalanche(bm).fingerprint == stream.fingerprint


def test_nc_benchmark_with_task_labels_is_task_incremental_and_runs():
    x, y = tensor_pool()
    xt, yt = tensor_pool(per_class=3, seed=1)
    bm = nc_benchmark(avalanche_tensors(x, y), avalanche_tensors(xt, yt), n_experiences=3, task_labels=True,
                      fixed_class_order=[5, 1, 3, 0, 2, 4])
    stream = from_avalanche(bm)
    assert stream.setting == "task-incremental"
    # nc_benchmark sorts classes_in_this_experience; its classes_order keeps the order given
    assert [t.classes for t in stream] == [(5, 1), (3, 0), (2, 4)]
    assert [t.task_label for t in stream] == [0, 1, 2]
    for task in stream:
        assert set(task.y_train.tolist()) == set(task.classes) == set(task.y_test.tolist())
    assert stream.task_info(1) == TaskInfo(1, (3, 0))
    result = ll.run(ll.load_strategy("naive", epochs=1, model="mlp"), stream, seed=0)
    assert len(result.accuracy_matrix) == 3 and result.stream_fingerprint == stream.fingerprint


def test_ni_benchmark_shares_its_single_test_experience():
    x, y = tensor_pool()
    xt, yt = tensor_pool(per_class=3, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bm = ni_benchmark(avalanche_tensors(x, y), avalanche_tensors(xt, yt), n_experiences=3, seed=0,
                          balance_experiences=True)
    assert len(bm.train_stream) == 3 and len(bm.test_stream) == 1
    stream = from_avalanche(bm)
    assert stream.setting == "domain-incremental" and len(stream) == 3
    assert rows(torch.cat([t.x_train for t in stream])) == rows(x)  # the experiences partition the data
    for task in stream:
        assert task.classes == (0, 1, 2, 3, 4, 5) and task.metadata["shared_test_experience"]
        assert torch.equal(task.x_test, xt) and torch.equal(task.y_test, yt)  # the whole test set, every task
    newer = from_avalanche(new_instances_benchmark(avalanche_tensors(x, y), avalanche_tensors(xt, yt),
                                                   num_experiences=2, seed=0))
    assert newer.setting == "domain-incremental" and len(newer) == 2


def test_benchmark_from_datasets_takes_task_labels_from_the_data():
    x, y = tensor_pool()
    halves = [torch.isin(y, torch.tensor(g)) for g in ((0, 1, 2), (3, 4, 5))]
    bm = benchmark_from_datasets(
        train=[avalanche_tensors(x[h][::2], y[h][::2], task_labels=k) for k, h in enumerate(halves)],
        test=[avalanche_tensors(x[h][1::2], y[h][1::2], task_labels=k) for k, h in enumerate(halves)])
    stream = from_avalanche(bm)
    assert stream.setting == "task-incremental" and [t.task_label for t in stream] == [0, 1]
    assert [t.classes for t in stream] == [(0, 1, 2), (3, 4, 5)]  # no class list here: the labels found, sorted
    assert torch.equal(stream[1].x_test, x[halves[1]][1::2])


def test_test_streams_of_another_length_are_refused():
    x, y = tensor_pool()
    bm = tensors_benchmark(train_tensors=[(x[:20], y[:20]), (x[20:40], y[20:40]), (x[40:], y[40:])],
                           test_tensors=[(x[:20], y[:20]), (x[20:40], y[20:40])], task_labels=[0, 0, 0])
    with pytest.raises(ConfigError, match="3 train experiences but 2 test experiences"):
        from_avalanche(bm)


def write_image_folder(root, per_class):
    """Tiny RGB PNGs, one folder per class, each class dominated by its own colour channel."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog", "emu")):  # ImageFolder numbers them 0, 1, 2
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
            pixels[..., c] = 255
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def as_avalanche(folder):
    return TaskAwareSupervisedClassificationDataset(
        [folder], data_attributes=[DataAttribute(list(folder.targets), "targets"), TaskLabels([0] * len(folder))])


def test_image_folder_with_transforms(tmp_path):
    from PIL import Image
    from torchvision import transforms as T
    from torchvision.datasets import ImageFolder

    write_image_folder(tmp_path / "train", 4)
    write_image_folder(tmp_path / "test", 2)
    to_tensor = T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    train_tf = T.Compose([T.RandomHorizontalFlip(), to_tensor])  # random: frozen into the Task, reproducibly
    bm = class_incremental_benchmark(
        {"train": as_avalanche(ImageFolder(tmp_path / "train", transform=train_tf)),
         "test": as_avalanche(ImageFolder(tmp_path / "test", transform=to_tensor))},
        class_order=[2, 0, 1], num_experiences=3)
    rng_before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    stream = from_avalanche(bm)
    assert torch.equal(torch.get_rng_state(), rng_before[0])  # the caller's random state is left alone
    assert np.array_equal(np.random.get_state()[1], rng_before[1]) and random.getstate() == rng_before[2]
    assert stream.setting == "class-incremental" and stream.input_shape == (3, 5, 6)
    assert [t.classes for t in stream] == [(2,), (0,), (1,)]
    names = ("cat", "dog", "emu")
    for task in stream:
        (c,) = task.classes
        files = sorted((tmp_path / "test" / names[c]).glob("*.png"))
        assert rows(task.x_test) == rows(torch.stack([to_tensor(Image.open(f).convert("RGB")) for f in files]))
        images = [Image.open(f).convert("RGB") for f in sorted((tmp_path / "train" / names[c]).glob("*.png"))]
        allowed = {tuple(to_tensor(im).flatten().tolist()) for im in images}
        allowed |= {tuple(to_tensor(im.transpose(Image.FLIP_LEFT_RIGHT)).flatten().tolist()) for im in images}
        assert len(task.x_train) == 4 and all(tuple(r) in allowed for r in task.x_train.flatten(1).tolist())
    assert from_avalanche(bm).fingerprint == stream.fingerprint
    raw = as_avalanche(ImageFolder(tmp_path / "train"))  # PIL images, no ToTensor
    with pytest.raises(ConfigError, match="ToTensor"):
        from_avalanche(class_incremental_benchmark({"train": raw, "test": raw}, class_order=[0, 1, 2],
                                                   num_experiences=3))


def test_materialize_limit_refuses_before_loading_when_asked_to_materialize():
    x, y = tensor_pool()
    calls = []

    def counting(v):
        calls.append(1)
        return v

    bm = class_incremental_benchmark({"train": avalanche_tensors(x, y, transform=counting),
                                      "test": avalanche_tensors(x, y, transform=counting)},
                                     class_order=list(range(6)), num_experiences=2)
    with pytest.raises(ConfigError, match="materialize_limit") as e:
        from_avalanche(bm, materialize=True, materialize_limit=1000)
    assert "\n" not in str(e.value)
    assert len(calls) <= 4  # one sample looked at per dataset, none loaded
    assert len(from_avalanche(bm, materialize=True, materialize_limit=10**6)) == 2
    assert len(from_avalanche(bm, materialize_limit=1000)) == 2  # the default, "auto", streams it instead


# --- 2. Avalanche strategies through ll.run -----------------------------------------------------


@pytest.fixture(scope="module")
def two_digit_tasks():
    return ll.load_scenario("split-digits", seed=0, n_tasks=2)


@pytest.mark.parametrize("name", AVALANCHE_PRESETS)
def test_every_avalanche_preset_runs_and_is_never_checkpointed(name, two_digit_tasks):
    """Each preset learns split-digits (2 tasks, MLP, 1 epoch) through ``ll.run``. Its state can only be
    pickled, and loading a pickle can run code, so the run saves no checkpoint even when given a
    checkpointer; run again, it gives the same numbers."""
    if name == "avalanche-lamaml" and not HAS_HIGHER:
        pytest.skip("Avalanche's LaMAML needs the optional package higher (pip install higher)")
    checkpoints = MemoryCheckpointer()
    result = ll.run(ll.load_strategy(name, epochs=1, model="mlp"), two_digit_tasks, seed=0,
                    checkpointer=checkpoints)
    R = np.array(result.accuracy_matrix)
    assert result.status == "finished" and R.shape == (2, 2) and ((0 <= R) & (R <= 1)).all()
    assert R[0, 0] > 0.5, R  # 5 classes: it learned the first task
    assert checkpoints.saved == {}
    again = ll.run(ll.load_strategy(name, epochs=1, model="mlp"), two_digit_tasks, seed=0,
                   checkpointer=checkpoints)
    assert again.accuracy_matrix == result.accuracy_matrix


def test_supported_table_matches_avalanche_signatures():
    """The arguments a preset may set are the Avalanche class's own, with Avalanche's defaults."""
    from lifelong.interop.avalanche_strategies import _REQUIRED

    ours = {"model", "optimizer", "criterion", "train_mb_size", "train_epochs", "eval_mb_size", "device",
            "plugins", "evaluator", "eval_every", "peval_mode", "feature_extractor", "classifier",
            "buffer_transform"}
    for name, (module, schema, _) in SUPPORTED.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls = getattr(__import__(module, fromlist=[name]), name)
        params = {p.name: p for p in inspect.signature(cls.__init__).parameters.values()
                  if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        assert set(schema) == set(params) - ours, name
        for arg, (_, default) in schema.items():
            expected = params[arg].default
            assert default == (_REQUIRED if expected is inspect.Parameter.empty else expected), (name, arg)


@pytest.mark.parametrize("spec, field, shown", [
    ({"avalanche_class": "EWC", "args": {}}, "args.ewc_lambda", "needs this argument"),
    ({"avalanche_class": "EWC", "args": {"ewc_lambda": "big"}}, "args.ewc_lambda", "'big'"),
    ({"avalanche_class": "Naive", "args": {"mem_size": 10}}, "args.mem_size", "10"),
    ({"avalanche_class": "Replay", "args": {"mem_size": -1}}, "args.mem_size", "-1"),
    ({"avalanche_class": "CoPE"}, "avalanche_class", "'CoPE'"),
])
def test_bad_avalanche_arguments_are_one_line_errors(spec, field, shown):
    with pytest.raises(ConfigError) as e:
        build_strategy({"strategy": "avalanche", **spec})
    message = str(e.value)
    assert "\n" not in message and field in message and shown in message, message


def test_missing_optional_packages_ask_for_them(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("higher", "quadprog") else real(name, *a))
    for name, package in (("avalanche-lamaml", "higher"), ("avalanche-gem", "quadprog")):
        with pytest.raises(ConfigError) as e:
            ll.load_strategy(name)
        assert f"pip install {package}" in str(e.value) and "\n" not in str(e.value)


def test_task_labels_and_masks_follow_the_setting(two_digit_tasks):
    ti = ll.load_scenario("split-digits-ti", seed=0, n_tasks=2)
    for stream, label in ((two_digit_tasks, 0), (ti, 1)):
        strategy = ll.load_strategy("avalanche-naive", epochs=1, model="mlp")
        strategy.setup(stream.info, seed=0)
        strategy.fit_task(stream[0])
        exp = strategy._experience(stream[1])  # what Avalanche is told about task 1
        assert exp.task_label == label and exp.classes_in_this_experience == list(stream[1].classes)
        assert exp.current_experience == 1 and set(exp.dataset.targets_task_labels) == {label}
    strategy.fit_task(ti[1])
    for i, task in enumerate(ti):
        assert set(strategy.predict(task.x_test, ti.task_info(i)).tolist()) <= set(task.classes)


def test_icarl_predicts_with_its_class_means_and_adapt_leaves_it_alone(two_digit_tasks):
    strategy = ll.load_strategy("avalanche-icarl", epochs=1, model="mlp")
    strategy.setup(two_digit_tasks.info, seed=0)
    strategy.fit_task(two_digit_tasks[0])
    ncm = strategy.net.eval_classifier
    assert set(ncm.class_means_dict) >= set(two_digit_tasks[0].classes)
    x = two_digit_tasks[0].x_test
    strategy.net.eval()
    with torch.no_grad():
        out = strategy.net(x)
    strategy.net.train()
    seen = list(two_digit_tasks[0].classes)
    assert torch.equal(strategy.predict(x, TaskInfo()), torch.tensor(seen)[out[:, seen].argmax(1)])
    weights = {k: v.clone() for k, v in strategy.net.state_dict().items()}
    new = two_digit_tasks[1]
    support = torch.cat([torch.nonzero(new.y_train == c)[:5, 0] for c in new.classes])
    adapted = strategy.adapt(new.x_train[support], new.y_train[support], TaskInfo())
    assert (adapted.predict(new.x_test, TaskInfo()) == new.y_test).float().mean() > 0.5
    assert all(torch.equal(v, weights[k]) for k, v in strategy.net.state_dict().items())
    with pytest.raises(RuntimeError, match="adapt"):
        adapted.fit_task(new)


# --- 3a. lifelong's metrics against Avalanche's metric plugins -------------------------------------


@pytest.fixture(scope="module")
def avalanche_naive_run():
    """Avalanche's Naive on three domain-incremental experiences of digits whose test sets differ in size
    (60, 150, 300): a small clean subset (100 samples), more clean digits (600), then the digits with
    their pixels permuted (600). Avalanche's metric plugins evaluate the whole test stream before training
    (forward transfer needs it, with ``eval_every`` > -1) and after each experience; R and b are rebuilt
    from the per-experience accuracies they log."""
    d = digits()
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(0))

    def permuted(x):
        return x.flatten(1)[:, perm].reshape(x.shape)

    train = [(d.x_train[:100], d.y_train[:100]), (d.x_train[100:700], d.y_train[100:700]),
             (permuted(d.x_train[700:1300]), d.y_train[700:1300])]
    test = [(d.x_test[:60], d.y_test[:60]), (d.x_test[60:210], d.y_test[60:210]),
            (permuted(d.x_test[:300]), d.y_test[:300])]
    bm = tensors_benchmark(train_tensors=train, test_tensors=test, task_labels=[0, 0, 0])
    torch.manual_seed(0)
    net = build_model("mlp", (1, 8, 8), 10, hidden=[64])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator = EvaluationPlugin(accuracy_metrics(experience=True, stream=True), bwt_metrics(stream=True),
                                     forgetting_metrics(stream=True), forward_transfer_metrics(stream=True),
                                     loggers=[])
        strategy = Naive(model=net, optimizer=torch.optim.SGD(net.parameters(), lr=0.2),
                         criterion=torch.nn.CrossEntropyLoss(), train_mb_size=16, train_epochs=1, eval_mb_size=512,
                         evaluator=evaluator, eval_every=0)

        def per_experience():
            last = evaluator.get_last_metrics()
            return [last[f"Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp{j:03d}"] for j in range(3)], last

        strategy.eval(bm.test_stream)
        b, _ = per_experience()
        R, logged = [], []
        for experience in bm.train_stream:
            strategy.train(experience, eval_streams=[])
            strategy.eval(bm.test_stream)
            row, last = per_experience()
            R.append(row)
            logged.append(last)
    return {"R": np.array(R), "b": np.array(b), "logged": logged, "sizes": np.array([len(y) for _, y in test])}


def stream_metric(run, name, row=-1):
    return run["logged"][row][f"{name}/eval_phase/test_stream"]


def test_bwt_equals_avalanche_stream_bwt(avalanche_naive_run):
    """GEM's BWT (T-1 denominator) is Avalanche's StreamBWT when the whole test stream is evaluated after
    every experience: the mean over j < T of R[T, j] - R[j, j]."""
    R = avalanche_naive_run["R"]
    assert metrics.bwt(R) == pytest.approx(stream_metric(avalanche_naive_run, "StreamBWT"), abs=1e-9)
    assert metrics.bwt(R[:2, :2]) == pytest.approx(stream_metric(avalanche_naive_run, "StreamBWT", row=1), abs=1e-9)


def test_first_based_forgetting_equals_avalanche_and_max_based_differs(avalanche_naive_run):
    """Avalanche's StreamForgetting is first-based: accuracy right after training on j minus the current
    one (``metrics.forgetting_first_based``). Chaudhry et al.'s forgetting (``metrics.forgetting``) takes
    the best earlier accuracy instead. They differ when an old task's accuracy rises before it falls, as
    here: more clean digits raise the accuracy on the first (clean) test set, the permuted digits drop it,
    so for task 0 the first-based reference is R[0, 0] and the max-based one R[1, 0] > R[0, 0]."""
    R = avalanche_naive_run["R"]
    assert R[1, 0] > R[0, 0] and R[2, 0] < R[1, 0], R  # not monotone
    theirs = stream_metric(avalanche_naive_run, "StreamForgetting")
    assert metrics.forgetting_first_based(R) == pytest.approx(theirs, abs=1e-9)
    assert metrics.forgetting(R) > theirs + 0.05
    assert metrics.forgetting(R) == pytest.approx(np.mean([R[:2, j].max() - R[2, j] for j in range(2)]))


def test_forward_transfer_equals_avalanche(avalanche_naive_run):
    """Avalanche's StreamForwardTransfer is GEM's FWT with b = the same model before any training:
    the mean over j >= 1 of R[j-1, j] - b[j]."""
    run = avalanche_naive_run
    assert metrics.fwt(run["R"], run["b"]) == pytest.approx(stream_metric(run, "StreamForwardTransfer"), abs=1e-9)


def test_avalanche_stream_accuracy_is_size_weighted_not_gem_acc(avalanche_naive_run):
    """Avalanche's StreamAccuracy pools every test sample of the stream (future experiences included),
    so it is the size-weighted mean of a row of R, not GEM's ACC (the plain mean of the last row):
    the two differ when the test sets differ in size (60, 150 and 300 samples here)."""
    run, sizes = avalanche_naive_run, avalanche_naive_run["sizes"]
    for i, row in enumerate(run["R"]):
        pooled = run["logged"][i]["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
        assert pooled == pytest.approx(float(np.sum(row * sizes) / np.sum(sizes)), abs=1e-9)
    assert abs(metrics.acc(run["R"]) - pooled) > 0.01


# --- 3b. lifelong's Naive, EWC and Replay against Avalanche's --------------------------------------

SEEDS = (0, 1, 2)
EPOCHS = 2


@pytest.fixture(scope="module")
def split_digits():
    return ll.load_scenario("split-digits", seed=0)


@pytest.mark.parametrize("native", ["naive", "ewc", "replay"])
def test_native_strategies_match_avalanche(native, split_digits):
    """Final ACC of lifelong's strategy and Avalanche's, mean of three seeds, within 3 points: split-digits
    (5 class-incremental tasks), the same MLP and initial weights, Adam lr 1e-3, batch 32, 2 epochs.

    What is the same and what is not:

    * Both restart Adam at every task (Avalanche 0.6.0 keeps its moments across experiences unless told;
      ``AvalancheStrategy`` clears them, ``reset_optimizer``). Kept, Avalanche's Naive and EWC scored
      23.2 and 22.2 against lifelong's 14.7 and 15.9 on these seeds.
    * EWC: Avalanche adds lambda x penalty, lifelong lambda/2 x penalty, hence lambda 50 against 100;
      Avalanche's importance is the squared gradient of each mini-batch's mean loss, lifelong's the mean
      squared per-sample gradient (the empirical Fisher), so the penalties' strengths still differ.
    * Replay: lifelong's memory is a reservoir over every sample seen, Avalanche's ReplayPlugin splits
      its 200 samples equally among the experiences (checked below: 40 each after 5 tasks); both
      update the memory at the end of a task and add one memory batch as large as the current one.
      Seed-to-seed spread is large: over 10 seeds the difference of the means (lifelong - Avalanche)
      was -1.1 +- 2.5 points at 1 epoch, +4.9 +- 1.8 at 3 and +1.9 +- 2.1 at 5 (seeds 0-2 at 3 epochs:
      7.7), so a 3-point bound on 3 seeds sits within the noise.
    """
    ours, theirs = [], []
    for seed in SEEDS:
        ours.append(ll.run(ll.load_strategy(native, epochs=EPOCHS, model="mlp"), split_digits, seed=seed))
        theirs.append(ll.run(ll.load_strategy(f"avalanche-{native}", epochs=EPOCHS, model="mlp"), split_digits,
                             seed=seed))
    a = np.mean([r.metrics["acc"] for r in ours])
    b = np.mean([r.metrics["acc"] for r in theirs])
    assert abs(a - b) < 0.03, (native, a, b)
    assert all(r.stream_fingerprint == split_digits.fingerprint for r in ours + theirs)


def test_replay_buffers_hold_the_same_budget(split_digits):
    ours = ll.load_strategy("replay", epochs=1, model="mlp")
    theirs = ll.load_strategy("avalanche-replay", epochs=1, model="mlp")
    for strategy in (ours, theirs):
        strategy.setup(split_digits.info, seed=0)
        for task in split_digits:
            strategy.fit_task(task)
    (plugin,) = [p for p in theirs._av.plugins if type(p).__name__ == "ReplayPlugin"]
    assert {k: len(g.buffer) for k, g in plugin.storage_policy.buffer_groups.items()} == {i: 40 for i in range(5)}
    labels = ours.memory.stored()["y"]
    per_task = [int(torch.isin(labels, torch.tensor(t.classes)).sum()) for t in split_digits]
    assert len(labels) == 200 and min(per_task) >= 20, per_task  # reservoir: about 40 each


def test_presets_state_the_shared_budgets():
    """Each avalanche-* preset trains with the budgets of lifelong's preset of the same method (optimizer,
    lr, epochs, batch size) and a memory of 200 samples where the method has one."""
    for name in AVALANCHE_PRESETS:
        strategy = ll.load_strategy(name)
        assert isinstance(strategy, AvalancheStrategy)
        native = ll.load_strategy(name.removeprefix("avalanche-")).get_params()
        params = strategy.get_params()
        if name == "avalanche-mer":  # Avalanche's MER takes its per-sample steps with the optimizer
            native.update(optimizer="sgd", lr=native["inner_lr"])
        if name == "avalanche-lamaml":  # Avalanche's LaMAML trains with its learned rates: lr serves adapt
            native.update(optimizer="sgd", lr=native["adapt_lr"])
        assert all(params[k] == native[k] for k in ("optimizer", "lr", "epochs", "batch_size")), name
        args = strategy._class_args
        memory = args.get("mem_size", args.get("memory_size", strategy.replay_mem_size))
        if "patterns_per_exp" in args:
            memory = 5 * args["patterns_per_exp"]  # per experience: 200 over split-*'s 5 tasks
        if name not in ("avalanche-naive", "avalanche-ewc", "avalanche-si", "avalanche-lwf"):
            assert memory == 200, name
