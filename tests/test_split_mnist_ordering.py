"""The literature's robust ordering on Split MNIST, class-incremental, 5 tasks, 3 seeds
(van de Ven et al.): fine-tuning ≪ replay < joint; and the lifelong agent above replay at the same
200-sample memory. Uses the presets as shipped. Replay and the agent, whose comparison is a mean over
seeds, run 3 seeds; fine-tuning and joint, an order of magnitude below and above the others, run one. Joint's
accuracy after the last task is that of one network trained on the five tasks at once (it retrains
from scratch at every task), so it runs on Split MNIST as one task of the ten digits: the same
training and test data at a third of the cost."""
import pytest

import lifelong as ll

SEEDS = {"naive": (0,), "replay": (0, 1, 2), "joint": (0,), "agent": (0, 1, 2)}


def stream(name: str, seed: int):
    return ll.load_scenario("split-mnist", seed=seed, **({"n_tasks": 1} if name == "joint" else {}))


@pytest.fixture(scope="module")
def runs():
    return {name: [ll.run(ll.load_strategy(name), stream(name, s), seed=s).metrics for s in seeds]
            for name, seeds in SEEDS.items()}


@pytest.fixture(scope="module")
def acc(runs):
    return {name: [m["acc"] for m in ms] for name, ms in runs.items()}


def test_naive_forgets_everything_but_the_last_task(acc):
    assert all(a < 0.25 for a in acc["naive"]), acc["naive"]


def test_replay_with_200_samples_keeps_most(acc):
    assert all(a > 0.70 for a in acc["replay"]), acc["replay"]


def test_joint_is_the_upper_bound(acc):
    assert all(a > 0.85 for a in acc["joint"]), acc["joint"]
    assert min(acc["joint"]) > max(acc["replay"]) - 0.05


def test_the_agent_beats_replay_at_the_same_memory_and_forgets_less(runs, acc):
    forgetting = {name: [m["forgetting"] for m in runs[name]] for name in ("agent", "replay")}
    assert sum(acc["agent"]) / 3 > sum(acc["replay"]) / 3 + 0.02, acc
    assert sum(forgetting["agent"]) < sum(forgetting["replay"]), forgetting
