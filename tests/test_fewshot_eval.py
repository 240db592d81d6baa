"""The few-shot and learning-curve evaluators, regression streams, and the regression metrics."""
import math

import numpy as np
import pytest
import torch

import lifelong as ll
from lifelong.config import ConfigError, list_presets
from lifelong.evaluation import FewShot, LearningCurve, metrics, summaries, support_set
from lifelong.experiment.checkpoint import MemoryCheckpointer
from lifelong.meta.tasks import SinusoidFamily
from lifelong.scenarios.stream import Stream, Task
from conftest import fast


def sine_stream(n_tasks=4, n=40, held_out=2) -> Stream:
    g = torch.Generator().manual_seed(0)
    xs, ys, xq, yq = SinusoidFamily().sample(n_tasks + held_out, n, n, g)
    tasks = [Task(i, xs[i], ys[i], xq[i], yq[i], classes=(), task_label=i) for i in range(n_tasks + held_out)]
    return Stream("sines", "regression", tasks[:n_tasks], n_classes=1, held_out=tasks[n_tasks:])


def test_regression_summary_by_hand():
    E = [[1.0, 4.0, 3.0],
         [2.0, 0.5, 3.0],
         [3.0, 1.5, 0.2]]
    b = [5.0, 4.0, 3.0]
    m = summaries.regression_summary(E, b)
    assert m["mse"] == pytest.approx((3.0 + 1.5 + 0.2) / 3)
    assert m["bwt"] == pytest.approx(((1.0 - 3.0) + (0.5 - 1.5)) / 2)  # the error grew: negative
    assert m["fwt"] == pytest.approx(((4.0 - 4.0) + (3.0 - 3.0)) / 2)
    assert m["forgetting"] == pytest.approx(((3.0 - 1.0) + (1.5 - 0.5)) / 2)  # rise from the best error
    assert m["forgetting_first_based"] == pytest.approx(((3.0 - 1.0) + (1.5 - 0.5)) / 2)
    assert summaries.regression_summary([[2.0]], [1.0]) == {"mse": 2.0, "bwt": None, "fwt": None, "forgetting": None,
                                                          "forgetting_first_based": None}


def test_support_set_has_k_per_class_and_depends_only_on_the_generator(digits_stream):
    task = digits_stream[1]
    x, y = support_set(task, 5, torch.Generator().manual_seed(3), regression=False)
    assert sorted(y.tolist()) == sorted([c for c in task.classes for _ in range(5)])
    x2, y2 = support_set(task, 5, torch.Generator().manual_seed(3), regression=False)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    _, y3 = support_set(task, 10_000, torch.Generator().manual_seed(3), regression=False)
    assert len(y3) == task.n_train  # K larger than a class: all of it


def test_evaluators_observe_without_changing_the_run(digits_stream):
    plain = ll.run(fast("replay"), digits_stream, seed=1)
    watched = ll.run(fast("replay"), digits_stream, seed=1, evaluators=[FewShot(shots=(1, 5), draws=2),
                                                                         LearningCurve(3)])
    assert watched.accuracy_matrix == plain.accuracy_matrix
    fs = watched.extra["fewshot"]
    assert fs["metric"] == "accuracy" and fs["shots"] == [1, 5] and len(fs["tasks"]) == len(digits_stream)
    later = [t["k"]["5"]["mean"] for t in fs["tasks"][1:]]
    assert watched.metrics["fewshot_at_arrival"]["5"] == pytest.approx(np.mean(later))
    # at its arrival a task's classes are new: a 5-shot copy beats chance among the classes seen by then
    assert np.mean(later) > 0.5
    curves = watched.extra["learning_curves"]
    assert len(curves) == len(digits_stream) and all(len(c) == 4 for c in curves)
    assert curves[0][0] == pytest.approx(plain.random_init_accuracy[0])  # zero-shot: before the first step
    assert watched.metrics["lca"] == pytest.approx(metrics.lca(curves, 3))


def test_fewshot_scores_are_paired_across_strategies_and_reproducible(digits_stream):
    a = ll.run(fast("naive"), digits_stream, seed=0, evaluators=[FewShot(shots=(5,), draws=2)])
    b = ll.run(fast("naive"), digits_stream, seed=0, evaluators=[FewShot(shots=(5,), draws=2)])
    assert a.extra["fewshot"] == b.extra["fewshot"]


def test_resume_with_evaluators_gives_the_same_result(digits_stream):
    def evaluators():
        return [FewShot(shots=(1, 5), draws=2), LearningCurve(3)]

    saved = MemoryCheckpointer()
    full = ll.run(fast("replay"), digits_stream, seed=2, evaluators=evaluators(), checkpointer=saved)
    saved.resume_after = 1
    resumed = ll.run(fast("replay"), digits_stream, seed=2, evaluators=evaluators(), checkpointer=saved)
    assert resumed.accuracy_matrix == full.accuracy_matrix
    assert resumed.extra["fewshot"] == full.extra["fewshot"]
    assert resumed.metrics["lca"] == full.metrics["lca"]


def test_a_regression_stream_is_learned_with_mse_and_held_out_tasks_are_scored():
    stream = sine_stream()
    result = ll.run(ll.load_strategy("naive", model="mlp", epochs=20, batch_size=10), stream, seed=0,
                    evaluators=[FewShot(shots=(5,), draws=2), LearningCurve(3)])
    assert result.metric == "mse" and "acc" not in result.metrics
    E = np.array(result.accuracy_matrix)
    assert E[0, 0] < result.random_init_accuracy[0]  # it learned the first function
    assert result.metrics["mse"] == pytest.approx(E[-1].mean())
    held = result.extra["fewshot"]["held_out"]
    assert held["n_tasks"] == 2 and math.isfinite(held["k"]["5"]["mean"])
    assert result.metrics["fewshot_held_out"]["5"] == held["k"]["5"]["mean"]
    assert "lca" not in result.metrics  # an area under an accuracy curve: not defined for MSE


@pytest.mark.parametrize("name", ["lwf", "icarl", "gdumb", "er-ace"])
def test_classification_only_methods_refuse_a_regression_stream_in_one_line(name):
    stream = sine_stream()
    with pytest.raises(ConfigError) as e:
        ll.load_strategy(name).setup(stream.info)
    assert "classification" in str(e.value) and "\n" not in str(e.value)


def test_experiment_fewshot_and_lca_fields_are_validated(tmp_path):
    from lifelong.experiment.spec import load_experiment

    def write(extra):
        p = tmp_path / "e.yaml"
        p.write_text("name: e\nscenarios: [split-digits]\nstrategies: [naive]\n" + extra)
        return p

    e = load_experiment(write("fewshot: {shots: [2, 4], draws: 3}\nlca: 4\n"))
    assert e.fewshot == {"shots": [2, 4], "draws": 3} and e.lca == 4
    off = load_experiment(write("fewshot: false\nlca: false\n"))
    assert off.fewshot is None and off.lca is None
    assert load_experiment(write("")).fewshot == {"shots": [1, 5, 10], "draws": 5}
    for bad, field in (("fewshot: {shots: [0]}", "fewshot.shots"), ("fewshot: {draws: 0}", "fewshot.draws"),
                       ("fewshot: {k: 1}", "fewshot.k"), ("lca: -1", "lca")):
        with pytest.raises(ConfigError) as err:
            load_experiment(write(bad + "\n"))
        assert err.value.field.startswith(field)  # e.g. fewshot.shots[0]


def test_compare_refuses_an_incompatible_pair_before_running_anything(tmp_path, capsys):
    from lifelong.cli import main

    path = tmp_path / "e.yaml"
    path.write_text("name: e\nscenarios: [sine-stream]\nstrategies: [naive, protonet]\nseeds: 1\n")
    assert main(["compare", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("lifelong: error:") and "protonet" in err[-1] and "regression" in err[-1]
    assert not (tmp_path / "out").exists()


CLASSIFICATION_ONLY = {"agent", "cope", "er-ace", "gdumb", "gss", "icarl", "lamaml", "lwf", "mir", "protonet", "scr",
                       "osaka-agent", "osaka-protonet"}


@pytest.mark.parametrize("name", [n for n, _ in list_presets("strategies")
                                  if not n.startswith("avalanche-")])
def test_every_native_strategy_learns_a_regression_stream_or_refuses_it_in_one_line(name):
    stream = ll.load_scenario("sine-stream", seed=0, n_tasks=2, n_held_out=0)
    strategy = ll.load_strategy(name, epochs=1, **({"meta_steps": 10} if "meta_steps" in
                                                   ll.load_strategy(name).get_params() else {}),
                                # online ER's SGD at 0.1, tuned for online classification, diverges on sinusoids
                                **({"lr": 0.01} if name == "online-er" else {}))
    if name in CLASSIFICATION_ONLY:
        with pytest.raises(ConfigError) as e:
            ll.run(strategy, stream, seed=0)
        assert "classification" in str(e.value) and "\n" not in str(e.value)
        return
    result = ll.run(strategy, stream, seed=0)
    E = np.array(result.accuracy_matrix)
    assert result.metric == "mse" and np.isfinite(E).all() and math.isfinite(result.metrics["mse"])
