"""The GPU path: training throughput on CUDA, and agreement with the CPU.

What it measures (on a machine with a CUDA device; without one it says so and exits 0)
-------------------------------------------------------------------------------------
1. Training images per second of replay (buffer 200, batch 32) with ``resnet18`` (Mammoth's CIFAR
   ResNet-18) on ``split-cifar10`` with its augmentation (crop 4, flip) and normalisation, 1 epoch,
   in float32 and with ``precision: bf16``. The data are CIFAR-10-format files of random images
   written to a temporary folder (``--images`` training images, default 10,000), so nothing is
   downloaded; speed does not depend on the pixels. Images per second count every image a step trains
   on (the incoming and the replayed ones).
2. Agreement: the accuracy matrices of replay and the agent on ``split-digits`` (MLP) on CUDA and
   on the CPU, same seed: the largest absolute difference.

The last line reads ``images/s fp32 = X  bf16 = Y  max |R_cuda - R_cpu| = Z``.

Usage: ``python benchmarks/gpu.py [--images 10000]``
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lifelong as ll  # noqa: E402


def write_cifar10(root: Path, n_train: int, n_test: int = 1000) -> None:
    """CIFAR-10's python batches (five training batches, a test batch, the class names) of random images."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def batch(n):
        return {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(rng.integers(0, 10, n))}

    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch(n_train // 5), protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps(batch(n_test), protocol=2))
    names = {"label_names": [f"class{i}" for i in range(10)]}  # torchvision's CIFAR10 reads it
    (folder / "batches.meta").write_bytes(pickle.dumps(names, protocol=2))


def throughput(precision: str) -> float:
    stream = ll.load_scenario("split-cifar10", seed=0)
    strategy = ll.load_strategy("replay", model="resnet18", epochs=1, precision=precision)
    result = ll.run(strategy, stream, seed=0, device="cuda")
    n = stream[0].n_train + sum(2 * t.n_train for t in stream.tasks[1:])  # a replayed batch per batch after task 1
    return n / sum(result.timings["train_s"])


def agreement() -> float:
    stream = ll.load_scenario("split-digits", seed=0)
    worst = 0.0
    for name in ("replay", "agent"):
        runs = [ll.run(ll.load_strategy(name, model="mlp"), stream, seed=0, device=d).accuracy_matrix
                for d in ("cpu", "cuda")]
        worst = max(worst, max(abs(a - b) for ra, rb in zip(*runs) for a, b in zip(ra, rb)))
    return worst


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="training images of the synthetic CIFAR-10")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device here: nothing measured (run this on a machine with a GPU)")
        return
    print(f"device: {torch.cuda.get_device_name()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_cifar10(Path(tmp), args.images)
        os.environ["LIFELONG_DATA"] = tmp
        throughput("fp32")  # warm-up: CUDA context, cuDNN's algorithms
        rates = {p: throughput(p) for p in ("fp32", "bf16")}
    for p, r in rates.items():
        print(f"replay, resnet18, split-cifar10 ({p}): {r:,.0f} training images/s", flush=True)
    worst = agreement()
    print(f"replay and agent on split-digits: largest |R_cuda - R_cpu| = {worst:.4f}")
    print(f"images/s fp32 = {rates['fp32']:.0f}  bf16 = {rates['bf16']:.0f}  max |R_cuda - R_cpu| = {worst:.4f}")


if __name__ == "__main__":
    main()
