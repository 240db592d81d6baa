"""Every scenario preset runs with every foundation strategy (a task-free one refuses those that need
boundaries); the backbones fit every data source."""
import pytest

import lifelong as ll
from lifelong.config import ConfigError, find_preset, list_presets, load_yaml
from lifelong.models import resolve

from conftest import on_disk

SCENARIOS = [name for name, _ in list_presets("scenarios") if not on_disk(name)]  # test_readers: the others
ONLINE = {name for name in SCENARIOS if "online" in load_yaml(find_preset("scenarios", name))}
# tests/test_online.py runs the online learners (replay among them) on online streams
# the long streams cut to 2 tasks are the builders and sources of permuted-mnist and fewshot-mnist1d's class
# pool, which run here with every foundation strategy; test_scenarios builds them whole
LONG = {"permuted-mnist-100", "split-mnist1d-100"}
OSAKA = {name for name in SCENARIOS if load_yaml(find_preset("scenarios", name))["builder"] == "osaka"}  # test_osaka
PAIRS = [(sc, st) for sc in SCENARIOS for st in ("naive", "joint", "replay", "ewc") if (sc, st) not in
         {(o, "replay") for o in ONLINE} and sc not in LONG | OSAKA]


@pytest.mark.parametrize("scenario, strategy", PAIRS)
def test_preset_pair_runs(scenario, strategy):
    stream = ll.load_scenario(scenario, seed=0, n_tasks=2)
    if stream.info.task_free and strategy in ("joint", "ewc"):  # whole tasks; told the boundaries
        with pytest.raises(ConfigError, match="task-free|online stream"):
            ll.run(ll.load_strategy(strategy), stream, seed=0)
        return
    # an MLP barely learns 5-way MNIST-1D tasks, and the CNN needs 5 epochs; 2 suffice elsewhere
    model, epochs = ("cnn", 5) if "mnist1d" in scenario else ("mlp", 2)
    if stream.regression:
        epochs = 100  # 50 points a task: 2 mini-batches an epoch
    result = ll.run(ll.load_strategy(strategy, epochs=epochs, model=model), stream, seed=0)
    assert result.status == "finished" and len(result.accuracy_matrix) == 2
    if stream.regression:
        # it fitted the first function (two sinusoids on the same inputs conflict, so joint cannot fit both)
        assert result.accuracy_matrix[0][0] < 0.2 * result.random_init_accuracy[0]
        return
    chance = 1 / len(stream[1].classes)
    assert result.accuracy_matrix[1][1] > chance + 0.2  # it learned the task it just saw


@pytest.mark.parametrize("scenario, backbone", [("split-digits", "cnn"), ("split-mnist1d", "cnn")])
def test_auto_backbone_learns(scenario, backbone):
    stream = ll.load_scenario(scenario, seed=0, n_tasks=2)
    assert resolve("auto", stream.input_shape) == backbone
    result = ll.run(ll.load_strategy("naive", epochs=10), stream, seed=0)
    assert result.accuracy_matrix[0][0] > 0.8


def test_mlp_is_auto_for_flat_inputs():
    assert resolve("auto", (64,)) == "mlp"
    assert resolve("auto", (1, 28, 28)) == "cnn"
