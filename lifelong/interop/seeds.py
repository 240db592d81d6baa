"""Seeding a block of third-party code: what the Avalanche adapters run under, so that Avalanche's own
random draws (shuffling, transforms, memory sampling) are fixed by a lifelong seed and leave the
caller's generators as they were."""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch


@contextlib.contextmanager
def fixed_seeds(seed: int):
    """Seed torch (CPU, and CUDA when in use), numpy and ``random`` for the block, then put their states back."""
    py, npy = random.getstate(), np.random.get_state()
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)
