"""The literature's robust ordering on Split MNIST, class-incremental, 5 tasks, 3 seeds
(van de Ven et al.): fine-tuning ≪ replay < joint. Uses the presets as shipped."""
import pytest

import lifelong as ll

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def acc():
    results = {}
    for name in ("naive", "replay", "joint"):
        results[name] = [ll.run(ll.load_strategy(name), ll.load_scenario("split-mnist", seed=s), seed=s).metrics["acc"]
                         for s in SEEDS]
    return results


def test_naive_forgets_everything_but_the_last_task(acc):
    assert all(a < 0.25 for a in acc["naive"]), acc["naive"]


def test_replay_with_200_samples_keeps_most(acc):
    assert all(a > 0.70 for a in acc["replay"]), acc["replay"]


def test_joint_is_the_upper_bound(acc):
    assert all(a > 0.85 for a in acc["joint"]), acc["joint"]
    assert min(acc["joint"]) > max(acc["replay"]) - 0.05
