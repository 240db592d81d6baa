import pytest
import torch

import lifelong as ll


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
    """A strategy preset with few epochs and an MLP, for quick tests."""
    return ll.load_strategy(name, **{"epochs": 1, "model": "mlp", **overrides})
