"""Continual evaluation (De Lange et al. 2023): the metrics on hand-computed curves, the evaluator in a run,
its resume, and its configuration from YAML and the command line."""
import json

import pytest
import torch

import lifelong as ll
from lifelong.config import ConfigError
from lifelong.evaluation import ContinualEvaluation
from lifelong.evaluation import continual_metrics as cm
from lifelong.experiment.checkpoint import MemoryCheckpointer
from lifelong.experiment.spec import load_experiment
from lifelong.models import build_model, evaluating

from conftest import fast

# Two tasks; task 1 (0-based 0) ends at step 4, task 2 at step 8. Task 1 rises to 0.9, dips to 0.5 right
# after the switch and recovers to 0.7: its final accuracy (0.7) is not its minimum (0.5).
CURVE = [(0, 0, 0.1), (2, 0, 0.8), (4, 0, 0.9), (6, 0, 0.5), (6, 1, 0.2), (8, 0, 0.7), (8, 1, 0.9)]
ENDS = [4, 8]


def test_min_acc_is_the_lowest_accuracy_after_a_tasks_own_training():
    assert cm.task_min_acc(CURVE, ENDS) == {0: 0.5}  # the last task has no evaluation after it ended
    assert cm.min_acc(CURVE, ENDS) == pytest.approx(0.5)
    assert cm.min_acc(CURVE, ENDS) < CURVE[-2][2]  # below the final accuracy on that task: the gap


def test_wc_acc_weighs_the_last_task_by_one_over_k():
    # k = 2: (1/2) * 0.9 (task 2 at the end) + (1/2) * 0.5 (task 1's min-ACC)
    assert cm.wc_acc(CURVE, ENDS) == pytest.approx(0.7)
    assert cm.wc_acc([(0, 0, 0.3), (5, 0, 0.6)], [5]) == pytest.approx(0.6)  # one task: its accuracy


def test_windowed_forgetting_and_plasticity():
    # task 1: largest drop 0.9 -> 0.5 = 0.4; task 2 only rises: 0. Mean 0.2
    assert cm.windowed_forgetting(CURVE, 10) == pytest.approx(0.2)
    # rises: task 1 0.1 -> 0.9 = 0.8, task 2 0.2 -> 0.9 = 0.7. Mean 0.75
    assert cm.windowed_plasticity(CURVE, 10) == pytest.approx(0.75)
    falling = [(i, 0, a) for i, a in enumerate([0.9, 0.8, 0.7, 0.1])]
    # the window bounds how far apart the two evaluations may be
    assert [cm.windowed_forgetting(falling, w) for w in (2, 3, 4)] == pytest.approx([0.6, 0.7, 0.8])
    with pytest.raises(ValueError):
        cm.windowed_forgetting(falling, 1)


def test_undefined_metrics_are_none():
    assert cm.min_acc([(0, 0, 0.5)], [0]) is None and cm.wc_acc([], []) is None
    assert cm.windowed_forgetting([]) is None


@pytest.fixture(scope="module")
def stream():
    return ll.load_scenario("split-digits", seed=0, n_tasks=3)


def test_the_evaluator_records_every_seen_task_and_leaves_the_matrix_unchanged(stream):
    plain = ll.run(fast("replay"), stream, seed=1)
    result = ll.run(fast("replay"), stream, seed=1, evaluators=[ContinualEvaluation(every=4, subset=50)])
    assert result.accuracy_matrix == plain.accuracy_matrix
    data = result.extra["continual"]
    steps = [-(-len(t.y_train) // 32) for t in stream]  # mini-batches of 32, 1 epoch
    assert data["task_ends"] == [sum(steps[:i + 1]) for i in range(3)]
    by_step = {}
    for step, task, score in data["curve"]:
        by_step.setdefault(step, []).append(task)
        assert 0.0 <= score <= 1.0
    learning = lambda s: next(i for i, end in enumerate(data["task_ends"]) if s <= end)  # noqa: E731
    expected = sorted({0, *range(4, data["task_ends"][-1] + 1, 4), *data["task_ends"]})
    assert sorted(by_step) == expected  # before training, every 4 steps, and at each task's end
    assert all(by_step[s] == list(range(learning(s) + 1)) for s in by_step)  # the tasks seen, no others
    # the evaluation at the end of the last task scores the same model as the matrix's last row, on a subset
    assert {k: v for s, k, v in data["curve"] if s == data["task_ends"][-1]}.keys() == {0, 1, 2}
    m = result.metrics
    assert m["min_acc"] == pytest.approx(cm.min_acc(data["curve"], data["task_ends"]))
    assert {"wc_acc", "wf10", "wp10"} <= set(m)
    json.dumps(result.to_dict())


def test_the_subset_is_fixed_and_seeded(stream):
    ev = ContinualEvaluation(every=1000, subset=20)
    ll.run(fast("naive"), stream, seed=3, evaluators=[ev])
    first = {t: ev._subsets[t] for t in range(3)}
    assert all(len(y) == 20 for _, y in first.values())
    again = ContinualEvaluation(every=1000, subset=20)
    ll.run(fast("naive"), stream, seed=3, evaluators=[again])
    assert all(torch.equal(first[t][0], again._subsets[t][0]) for t in range(3))
    other = ContinualEvaluation(every=1000, subset=20)
    ll.run(fast("naive"), stream, seed=4, evaluators=[other])
    assert not torch.equal(first[0][0], other._subsets[0][0])


def test_a_resumed_run_gives_the_same_curves(stream):
    saved = MemoryCheckpointer()
    full = ll.run(fast("replay"), stream, seed=2, evaluators=[ContinualEvaluation(every=3, subset=40)],
                  checkpointer=saved)
    saved.resume_after = 1  # as if killed during the third task
    resumed = ll.run(fast("replay"), stream, seed=2, evaluators=[ContinualEvaluation(every=3, subset=40)],
                     checkpointer=saved)
    assert resumed.extra["continual"] == full.extra["continual"]
    assert resumed.metrics == full.metrics and resumed.accuracy_matrix == full.accuracy_matrix


def test_a_regression_stream_gets_curves_but_no_accuracy_metrics():
    sine = ll.load_scenario("sine-stream", seed=0, n_tasks=2)
    result = ll.run(fast("naive", epochs=2), sine, seed=0, evaluators=[ContinualEvaluation(every=1)])
    assert result.extra["continual"]["curve"] and "min_acc" not in result.metrics


def test_evaluating_restores_the_mode_it_found():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    for mode in (True, False):
        net.train(mode)
        with evaluating(net):
            assert not net.training
        assert net.training is mode


def test_a_cnn_predicts_in_channels_last_as_it_would_otherwise_and_trains_on_afterwards():
    net = build_model("cnn", (1, 8, 8), 4)
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        plain = net.eval()(x)
        with evaluating(net):
            assert net.features[0].weight.is_contiguous(memory_format=torch.channels_last)
            fast_out = net(x)
    assert torch.allclose(fast_out, plain, atol=1e-6) and (fast_out.argmax(1) == plain.argmax(1)).all()
    assert all(p.is_contiguous() and not p.is_inference() for p in net.parameters())
    net.train()
    torch.nn.functional.cross_entropy(net(x), torch.zeros(16, dtype=torch.long)).backward()  # no inference tensors


@pytest.mark.parametrize("value, expected", [
    (True, {"every": 10, "subset": 1000, "window": 10}),
    (False, None),
    ({"every": 5}, {"every": 5, "subset": 1000, "window": 10}),
])
def test_the_experiment_field(tmp_path, value, expected):
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: x\nscenarios: [split-digits]\nstrategies: [naive]\ncontinual: {json.dumps(value)}\n")
    e = load_experiment(path)
    assert e.continual == expected
    assert ("continual" in e.definition()) is (expected is not None)


@pytest.mark.parametrize("value, words", [
    ("{every: 0}", ["continual.every", "0"]),
    ("{window: 1}", ["continual.window", "1"]),
    ("{evry: 5}", ["continual.evry", "unknown field"]),
    ("often", ["continual", "often"]),
])
def test_bad_experiment_values_name_the_field(tmp_path, value, words):
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: x\nscenarios: [split-digits]\nstrategies: [naive]\ncontinual: {value}\n")
    with pytest.raises(ConfigError) as e:
        load_experiment(path)
    assert all(w in str(e.value) for w in [str(path), *words]), str(e.value)


def test_the_cli_flag(tmp_path, capsys):
    from lifelong.cli import main

    args = ["run", "--scenario", "split-digits", "--strategy", "naive", "--set", "epochs=1", "--set", "model=mlp",
            "--shots", "none", "--out", str(tmp_path / "o")]
    assert main([*args, "--every", "0"]) == 2
    assert "--every" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert main([*args, "--every", "5", "--subset", "30"]) == 0
    assert "min-ACC" in capsys.readouterr().out
    data = json.loads((tmp_path / "o" / "result.json").read_text())["extra"]["continual"]
    assert data["every"] == 5 and data["subset"] == 30
