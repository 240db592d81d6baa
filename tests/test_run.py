"""The run: accuracy matrix, random-initialisation reference, determinism, the result format."""
import json
import math

import pytest
import torch

import lifelong as ll
from lifelong.experiment.checkpoint import MemoryCheckpointer
from lifelong.config import list_presets
from lifelong.evaluation import metrics

from conftest import fast


@pytest.fixture(scope="module")
def replay_result(digits_stream):
    return ll.run(fast("replay", epochs=5), digits_stream, seed=3)


def test_matrix_is_t_by_t_and_rows_follow_training(replay_result, digits_stream):
    R = replay_result.accuracy_matrix
    T = len(digits_stream)
    assert len(R) == T and all(len(row) == T for row in R)
    assert len(replay_result.random_init_accuracy) == T
    for i in range(T):
        assert R[i][i] > 0.5  # just learned
        for j in range(i + 1, T):
            assert R[i][j] == 0.0  # class-incremental: unseen classes cannot be predicted


def test_metrics_are_computed_from_the_matrix(replay_result):
    R = replay_result.accuracy_matrix
    m = replay_result.metrics
    assert m["acc"] == pytest.approx(metrics.acc(R))
    assert m["bwt"] == pytest.approx(metrics.bwt(R))
    assert m["forgetting"] == pytest.approx(metrics.forgetting(R))
    assert m["fwt"] is None  # disjoint class-incremental tasks


def test_fwt_is_a_number_in_domain_incremental_streams():
    pool = ll.scenarios.SOURCES["digits"]()
    stream = ll.scenarios.build_stream({"builder": "permute", "n_tasks": 3}, data=pool, seed=0)
    result = ll.run(fast("naive"), stream, seed=0)
    assert isinstance(result.metrics["fwt"], float)
    b = result.random_init_accuracy
    assert all(0.0 <= v <= 0.3 for v in b)  # an untrained network is near chance (10%)


def test_same_seed_same_numbers_other_seed_other_numbers(digits_stream):
    a = ll.run(fast("replay"), digits_stream, seed=5)
    b = ll.run(fast("replay"), digits_stream, seed=5)
    c = ll.run(fast("replay"), digits_stream, seed=6)
    assert a.accuracy_matrix == b.accuracy_matrix
    assert a.random_init_accuracy == b.random_init_accuracy
    assert a.accuracy_matrix != c.accuracy_matrix


def test_a_run_does_not_depend_on_global_random_state(digits_stream):
    torch.manual_seed(123)
    a = ll.run(fast("ewc"), digits_stream, seed=1)
    torch.manual_seed(456)
    torch.rand(1000)
    b = ll.run(fast("ewc"), digits_stream, seed=1)
    assert a.accuracy_matrix == b.accuracy_matrix


def test_result_json_is_the_public_format(replay_result, tmp_path):
    path = replay_result.save(tmp_path / "result.json")
    data = json.loads(path.read_text())
    T = len(data["accuracy_matrix"])
    assert all(len(row) == T and all(isinstance(v, float) for v in row) for row in data["accuracy_matrix"])
    assert len(data["random_init_accuracy"]) == T
    assert {"acc", "bwt", "fwt", "forgetting"} <= set(data["metrics"])
    assert data["metrics"]["fwt"] is None
    assert data["seed"] == 3 and data["stream_fingerprint"] == replay_result.stream_fingerprint
    assert data["config"]["strategy"]["params"]["buffer_size"] == 200
    assert data["config"]["scenario"]["source"] == "digits"
    assert {"lifelong", "torch", "numpy", "python"} <= set(data["versions"])
    assert len(data["timings"]["train_s"]) == T and data["timings"]["total_s"] > 0
    assert data["status"] == "finished"
    assert ll.RunResult.load(path) == replay_result
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary left behind


def test_save_is_atomic_when_writing_fails(replay_result, tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    replay_result.save(path)
    before = path.read_text()
    monkeypatch.setattr(ll.RunResult, "to_json", lambda self: json.dumps({"acc": math.nan}, allow_nan=False))
    with pytest.raises(ValueError):
        replay_result.save(path)
    monkeypatch.undo()
    broken = ll.RunResult(**{**replay_result.to_dict(), "metrics": {"acc": math.nan}})
    with pytest.raises(ValueError):
        broken.save(path)  # NaN is not JSON: refused, and the old file stays whole
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_progress_callback_sees_each_task(digits_stream):
    seen = []
    result = ll.run(fast("naive"), digits_stream, seed=0, progress=lambda i, scores, train_s: seen.append((i, scores)))
    assert seen == list(enumerate(result.accuracy_matrix))


def test_diverging_training_is_reported(digits_stream):
    with pytest.raises(ll.strategies.NonFiniteLoss):
        ll.run(fast("naive", optimizer="sgd", lr=1e6), digits_stream, seed=0)


# the online learners' state is checked inside a task by tests/test_online.py, the harder case
ONLINE_ONLY = {"online-er", "mir", "gss", "scr", "cope"}
NATIVE = [name for name, _ in list_presets("strategies") if not name.startswith("avalanche-")]


@pytest.mark.parametrize("scenario", ["split-digits", "split-digits-ti"])
@pytest.mark.parametrize("name", [n for n in NATIVE if n not in ONLINE_ONLY])
def test_resuming_from_a_checkpoint_gives_the_uninterrupted_numbers(name, scenario):
    """Every native strategy; task-incremental too, so that memories and masks carry task labels."""
    stream = ll.load_scenario(scenario, seed=0, n_tasks=3)
    checkpoints = MemoryCheckpointer()  # bytes, loaded as a store loads them: nothing but plain data
    full = ll.run(fast(name), stream, seed=2, checkpointer=checkpoints)
    assert sorted(checkpoints.saved) == [(1, 0), (2, 0)]  # after every task but the last
    checkpoints.resume_after = 1
    torch.manual_seed(999)  # a fresh process would start from other global random state
    resumed = ll.run(fast(name), stream, seed=2, checkpointer=checkpoints)
    assert resumed.accuracy_matrix == full.accuracy_matrix
    assert resumed.random_init_accuracy == full.random_init_accuracy
    assert resumed.metrics == full.metrics
    assert len(resumed.timings["train_s"]) == len(stream)


def test_a_matrix_measured_every_k_tasks_keeps_the_exact_metrics(tmp_path):
    """Long streams: whole rows after every k-th task (and the last), only the task just learned and
    the next one in between; ACC, BWT, FWT and first-based forgetting need no other entry."""
    pool = ll.scenarios.SOURCES["digits"]()
    stream = ll.scenarios.build_stream({"builder": "permute", "n_tasks": 5}, data=pool, seed=0)
    full = ll.run(fast("naive", model="mlp"), stream, seed=0)
    part = ll.run(fast("naive", model="mlp"), stream, seed=0, matrix_every=2)
    R, P = full.accuracy_matrix, part.accuracy_matrix
    for i in range(5):
        whole = i in (1, 3, 4)
        assert P[i] == [R[i][j] if whole or j in (i, i + 1) else None for j in range(5)]
    for key in ("acc", "bwt", "fwt", "forgetting_first_based"):
        assert part.metrics[key] == pytest.approx(full.metrics[key])
    assert part.metrics["forgetting"] <= full.metrics["forgetting"] + 1e-12  # its maxima over fewer rows
    saved = ll.RunResult.load(part.save(tmp_path / "result.json"))
    assert saved.accuracy_matrix == P  # unmeasured entries are JSON nulls


def test_matrix_every_is_refused_below_one(tmp_path, capsys):
    from lifelong.cli import main
    from lifelong.config import ConfigError
    from lifelong.experiment.spec import load_experiment

    out = tmp_path / "o"
    assert main(["run", "--scenario", "split-digits", "--strategy", "naive", "--matrix-every", "0",
                 "--out", str(out)]) == 2
    assert "--matrix-every" in capsys.readouterr().err and not out.exists()
    path = tmp_path / "exp.yaml"
    path.write_text("name: x\nscenarios: [split-digits]\nstrategies: [naive]\nmatrix_every: 0\n")
    with pytest.raises(ConfigError, match="matrix_every") as e:
        load_experiment(path)
    assert str(path) in str(e.value)


def test_an_experiments_matrix_every_reaches_its_runs_and_their_keys(tmp_path):
    from lifelong.experiment.executors import execute
    from lifelong.experiment.spec import load_experiment

    def experiment(extra=""):
        path = tmp_path / "exp.yaml"
        path.write_text("name: x\nscenarios: [split-digits]\nstrategies: [{preset: naive, epochs: 1, model: mlp}]\n"
                        "seeds: 1\nfewshot: false\nlca: false\n" + extra)
        return load_experiment(path)

    fingerprints = {("split-digits", 0): ll.load_scenario("split-digits", seed=0).fingerprint}
    plain, one, every = (experiment(x).runs(fingerprints)[0] for x in ("", "matrix_every: 1\n", "matrix_every: 3\n"))
    assert one.key == plain.key != every.key  # stores written before the field still match
    assert "matrix_every" not in experiment().definition()
    outcome = execute(every, MemoryCheckpointer(), tmp_path / "logs")
    R = outcome.result.accuracy_matrix
    assert [row.count(None) for row in R] == [len(R) - 2, len(R) - 2, 0, len(R) - 2, 0]  # 5 tasks, whole at 3, 5
