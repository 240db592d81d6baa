"""Precision and devices: bfloat16 training steps on any device, and the CUDA path (skipped without a
GPU: benchmarks/gpu.py measures it at scale)."""
import pytest
import torch

import lifelong as ll
from lifelong.config import ConfigError

from conftest import fast

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_bf16_training_steps_learn_as_float32_does(digits_stream):
    fp32 = ll.run(fast("replay", epochs=3), digits_stream, seed=0)
    bf16 = ll.run(fast("replay", epochs=3, precision="bf16"), digits_stream, seed=0)
    assert bf16.accuracy_matrix != fp32.accuracy_matrix  # the steps did run in bfloat16
    assert abs(bf16.metrics["acc"] - fp32.metrics["acc"]) < 0.05
    assert ll.run(fast("replay", epochs=3, precision="bf16"), digits_stream, seed=0).accuracy_matrix == \
        bf16.accuracy_matrix


def test_avalanche_strategies_refuse_bf16():
    with pytest.raises(ConfigError, match="precision"):
        ll.load_strategy("avalanche-naive", precision="bf16")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("name", ["replay", "agent"])
def test_a_run_on_cuda_gives_the_cpu_numbers_within_rounding(name, digits_stream):
    cpu = ll.run(fast(name), digits_stream, seed=0, device="cpu")
    gpu = ll.run(fast(name), digits_stream, seed=0, device="cuda")
    assert gpu.device.startswith("cuda")
    assert max(abs(a - b) for ra, rb in zip(cpu.accuracy_matrix, gpu.accuracy_matrix) for a, b in zip(ra, rb)) <= 0.02


@pytest.mark.gpu
@needs_cuda
def test_bf16_and_augmentation_run_on_cuda():
    from lifelong.scenarios import build_stream, from_arrays

    x, y = torch.rand(60, 3, 8, 8), torch.arange(60) % 4
    stream = build_stream({"builder": "split", "n_tasks": 2, "augment": {"crop": 2, "flip": True}},
                          data=from_arrays(x, y, x[:20], y[:20], name="toy"), seed=0)
    result = ll.run(fast("der", model="reduced-resnet18", precision="bf16"), stream, seed=0, device="cuda")
    assert result.status == "finished"
