import hashlib

import pytest
import torch

import lifelong as ll


def on_disk(name: str) -> bool:
    """Whether scenario preset ``name`` reads the user's files (CIFAR, TinyImageNet, ...), which tests do
    not have: tests/test_readers.py builds each of those presets on files it writes."""
    from lifelong.config import find_preset, load_yaml
    from lifelong.scenarios.readers import READERS

    return load_yaml(find_preset("scenarios", name)).get("source") in READERS


@pytest.fixture(scope="session", autouse=True)
def _threads():
    """One thread per test process: pytest runs two processes (setup.cfg), one per core."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits_stream():
    """Split digits, class-incremental: small and fast."""
    return ll.load_scenario("split-digits", seed=0)


@pytest.fixture(scope="session")
def digits_ti_stream():
    return ll.load_scenario("split-digits-ti", seed=0)


def fast(name, **overrides):
    """A strategy preset with few epochs and an MLP, for quick tests (and 20 outer steps a task for the
    meta-learners, whose epoch is ``meta_steps`` outer steps)."""
    quick = {"epochs": 1, "model": "mlp"}
    if "meta_steps" in ll.load_strategy(name).get_params():
        quick["meta_steps"] = 20
    return ll.load_strategy(name, **{**quick, **overrides})


@pytest.fixture
def private_cache(tmp_path_factory, monkeypatch):
    """Generated data goes to a throwaway cache, never the user's ~/.cache."""
    monkeypatch.setenv("LIFELONG_CACHE", str(tmp_path_factory.getbasetemp() / "lifelong-cache"))


def row_hashes(x: torch.Tensor) -> set[str]:
    """One hash per sample: for checking that two sets of samples are disjoint or equal."""
    flat = x.detach().cpu().contiguous().reshape(len(x), -1).numpy()
    return {hashlib.sha1(r.tobytes()).hexdigest() for r in flat}


# The longest test files start first, longest to shortest (measured with --durations), so that the
# two test processes end together: the last files to run are short ones.
LONGEST_FIRST = ("test_split_mnist_ordering.py", "test_compare.py", "test_presets.py", "test_search.py",
                 "test_extending.py", "test_reporting.py", "test_loggers.py", "test_meta_strategies.py",
                 "test_avalanche_interop.py", "test_cli.py", "test_zoo_settings.py", "test_online.py", "test_run.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST
               else len(LONGEST_FIRST))
