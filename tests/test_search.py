"""Hyperparameter search: validation data carved from the training sets, samplers, the choice, the report."""
import numpy as np
import pytest
import torch

import lifelong as ll
from lifelong.config import ConfigError
from lifelong.experiment.compare import run_experiment
from lifelong.experiment.search import Proposer, Search, best_of, validation_stream
from lifelong.experiment.spec import load_experiment
from lifelong.experiment.store import Store

EXPERIMENT = """
name: tuned
scenarios: [{scenario}]
strategies:
  - {{preset: naive, model: mlp, epochs: 1}}
  - {{preset: replay, model: mlp, epochs: 1, buffer_size: 50}}
seeds: 1
fewshot: false
lca: false
search:
  replay:                      # protocol (a), A-GEM's
    space: {{lr: {{log_uniform: [1.0e-4, 0.1]}}}}
    sampler: random
    budget: 2
    validation_tasks: 2
  naive:                       # protocol (b)
    space: {{lr: [0.0001, 0.1]}}
    protocol: split
    validation_split: 0.2
"""


def digits_npz(path, permute_test_labels=False):
    """The 8x8 digits as a user's .npz; optionally with the test labels shuffled."""
    stream = ll.load_scenario("split-digits", seed=0)
    arrays = {k: torch.cat([getattr(t, k) for t in stream]).numpy() for k in ("x_train", "y_train", "x_test", "y_test")}
    if permute_test_labels:
        arrays["y_test"] = np.random.default_rng(1).permutation(arrays["y_test"])
    np.savez(path, **arrays)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """The experiment on the digits, and on the same digits with their test labels permuted."""
    root = tmp_path_factory.mktemp("search")
    out = {}
    for name, permuted in (("clean", False), ("permuted", True)):
        digits_npz(root / f"{name}.npz", permuted)
        (root / f"{name}.yaml").write_text(f"source: {name}.npz\nbuilder: split\nn_tasks: 5\n"
                                           "setting: class-incremental\n")
        exp = root / f"exp-{name}.yaml"
        exp.write_text(EXPERIMENT.format(scenario=f"{name}.yaml"))
        run_experiment(load_experiment(exp), out=root / name, jobs=2)
        ll.report(root / name)
        out[name] = (exp, root / name)
    return out


def chosen(folder):
    """(strategy, seed, lr) of each final run, and every search run's (label, lr, validation matrix)."""
    store = Store(folder / "runs.sqlite")
    final = sorted((r.strategy, r.seed, r.config["strategy"]["params"]["lr"]) for r in store.results())
    search = sorted((r.strategy, r.config["strategy"]["params"]["lr"], r.accuracy_matrix)
                    for r in store.results(role="search"))
    return final, search


def test_the_choice_never_depends_on_the_test_sets(searched):
    clean, permuted = chosen(searched["clean"][1]), chosen(searched["permuted"][1])
    assert clean == permuted  # the same candidates, the same validation scores, the same choice
    assert len(clean[1]) == 4 and {lr for _, _, lr in clean[0]} <= {lr for _, lr, _ in clean[1]}
    tests = [Store(f / "runs.sqlite").results() for _, f in searched.values()]
    assert [r.metrics["acc"] for r in tests[0]] != [r.metrics["acc"] for r in tests[1]]  # the test sets do differ
    # the replay candidates learned the first 2 tasks only (protocol a); naive's, all 5 (protocol b)
    shapes = {label.split("-search")[0]: len(matrix) for label, _, matrix in clean[1]}
    assert shapes == {"replay": 2, "naive": 5}


def test_a_search_resumes_without_running_anything_again_and_reports_each_candidate(searched):
    exp, folder = searched["clean"]
    seen = []
    run_experiment(load_experiment(exp), out=folder, jobs=2, on_progress=seen.append)
    assert seen[-1].done == 0 and seen[-1].skipped == seen[-1].total == 6
    table = (folder / "tables" / "search.md").read_text()
    assert "Chaudhry et al. 2019" in table and "protocol" not in table.split("\n")[2]
    rows = [line for line in table.splitlines() if line.startswith("| clean")]
    assert len(rows) == 4 and sum("✓" in row for row in rows) == 2
    assert "naive on clean: lr=" in table and (folder / "figures" / "search_clean.png").is_file()
    assert "## Hyperparameter search" in (folder / "README.md").read_text()
    assert 'id="search"' in (folder / "index.html").read_text()


def test_a_validation_stream_holds_out_a_share_of_each_class_of_the_training_data(digits_stream):
    v = validation_stream(digits_stream, protocol="first-tasks", tasks=3, split=0.2, seed=7)
    assert len(v) == 3 and v.held_out == ()
    for task, original in zip(v, digits_stream):
        for c in original.classes:
            n = int((original.y_train == c).sum())
            assert int((task.y_test == c).sum()) == round(0.2 * n)
            assert int((task.y_train == c).sum()) == n - round(0.2 * n)
        rows = {tuple(x.flatten().tolist()) for x in original.x_train}
        assert all(tuple(x.flatten().tolist()) in rows for x in task.x_test)  # validation samples come from training data
        assert len(task.x_train) + len(task.x_test) == len(original.x_train)
    again = validation_stream(digits_stream, protocol="first-tasks", tasks=3, split=0.2, seed=7)
    assert again.fingerprint == v.fingerprint != digits_stream.fingerprint


def test_samplers_propose_deterministically_within_their_space():
    grid = Proposer(Search("s", {"lr": {"choices": [0.1, 0.01]}, "epochs": {"choices": [1, 2]}}, "grid", 4), 0)
    assert grid.ask() == [{"lr": 0.1, "epochs": 1}, {"lr": 0.1, "epochs": 2}, {"lr": 0.01, "epochs": 1},
                          {"lr": 0.01, "epochs": 2}]
    grid.tell([0.1, 0.3, 0.3, None])
    assert grid.ask() == [] and grid.best() == 1  # the earlier of two equal scores
    space = {"lr": {"log_uniform": [1e-4, 1e-1]}, "k": {"int": [1, 3]}}
    for sampler, budget in (("random", 6), ("tpe", 6)):
        runs = []
        for _ in range(2):
            p, seen = Proposer(Search("s", space, sampler, budget, parallel=2), 3), []
            while batch := p.ask():
                seen += batch
                p.tell([-abs(np.log10(c["lr"]) + 2) for c in batch])  # best near lr = 0.01
            runs.append(seen)
        assert runs[0] == runs[1] and len(runs[0]) == budget
        assert all(1e-4 <= c["lr"] <= 1e-1 and c["k"] in (1, 2, 3) for c in runs[0])
    assert best_of([None, None]) is None


@pytest.mark.parametrize("block, words", [
    ("{gem: {space: {lr: [0.1]}}}", ["search", "gem", "not one of the strategies"]),
    ("{replay: {space: {lr: {uniform: [0.1, 0.01]}}, budget: 2}}", ["search.replay.space.lr.uniform", "low < high"]),
    ("{replay: {space: {lr: [0.1, 0.01]}, budget: 3}}", ["search.replay.budget", "2 combinations"]),
    ("{replay: {space: {lr: {uniform: [0.1, 0.2]}}}}", ["search.replay.budget", "missing"]),
    ("{replay: {space: {lr: {uniform: [0.1, 0.2]}}, sampler: grid}}", ["search.replay.sampler", "list of values"]),
    ("{replay: {space: {buffer_size: [-5]}}}", ["search.replay.space.buffer_size", "-5"]),
    ("{replay: {space: {lr: [0.1]}, protocol: test}}", ["search.replay.protocol", "first-tasks, split"]),
    ("{replay: {space: {lr: [0.1]}, metric: speed}}", ["search.replay.metric", "speed"]),
])
def test_bad_search_blocks_name_the_field_and_value(tmp_path, block, words):
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: x\nscenarios: [split-digits]\nstrategies: [naive, replay]\nsearch: {block}\n")
    with pytest.raises(ConfigError) as e:
        load_experiment(path)
    assert all(w in str(e.value) for w in [str(path), *words])


def test_tpe_without_optuna_and_too_many_validation_tasks_are_one_line(tmp_path, monkeypatch):
    from lifelong.experiment import tpe
    from lifelong.experiment.compare import prepare

    path = tmp_path / "exp.yaml"
    path.write_text("name: x\nscenarios: [split-digits]\nstrategies: [replay]\n"
                    "search: {replay: {space: {lr: [0.1, 0.01]}, validation_tasks: 5}}\n")
    with pytest.raises(ConfigError, match="search.replay.validation_tasks: split-digits has 5 tasks"):
        prepare(load_experiment(path), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    path.write_text(path.read_text().replace("validation_tasks: 5", "sampler: tpe, budget: 2"))
    find_spec = tpe.importlib.util.find_spec
    monkeypatch.setattr(tpe.importlib.util, "find_spec", lambda name: None if name == "optuna" else find_spec(name))
    with pytest.raises(ConfigError, match=r"search.replay.sampler: needs the optuna package: pip install "
                                          r"'lifelong\[optuna\]'"):
        load_experiment(path)
