"""Augmented training throughput: lifelong's batched augmentation on the device against a DataLoader.

What it measures
----------------
Training images per second on the CPU, GEM's reduced ResNet-18 (``reduced-resnet18``), Adam at
0.001, one epoch, with CIFAR-10's augmentation (random crop with 4 pixels of padding, horizontal
flip) and normalisation, two ways, interleaved over ``--repeats`` rounds in one process:

1. lifelong: replay (buffer 200, batches of 32 incoming and 32 replayed samples) on ``split-cifar10``,
   whose preset declares the augmentation: each whole batch is cropped and flipped by tensor
   operations where it trains (``lifelong.augmentation``). Its images are every image a step trains
   on, incoming and replayed.
2. A plain PyTorch loop over a ``DataLoader`` with 2 worker processes and torchvision's per-sample
   transforms (``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, ``ToTensor``,
   ``Normalize``) on torchvision's ``CIFAR10`` dataset read from the same files, training the same
   network in batches of 64 (a replay step's size).
3. For the ceiling, the same loop with no input pipeline: normalised tensors in memory, no
   augmentation, the network channels-last as lifelong trains it. Its speed over the DataLoader
   loop's is what any way of feeding the network can gain on this machine (up to noise).

The data are CIFAR-10-format files of random images (``--images`` training images, default 5,000)
written to a temporary folder: speed does not depend on the pixels, and nothing is downloaded. Both
ways use every core for the network (``torch.get_num_threads()``); the DataLoader's workers share
them. The last line reads ``lifelong/dataloader = X.XX``: the median over rounds of lifelong's
images per second over the loop's. Target: >= 2. A line before it gives the median ceiling.

Usage: ``python benchmarks/augment_throughput.py [--repeats 3] [--images 5000]``
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lifelong as ll  # noqa: E402
from lifelong.models import build_model, channels_last  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu import write_cifar10  # noqa: E402

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def lifelong_way() -> float:
    stream = ll.load_scenario("split-cifar10", seed=0)
    result = ll.run(ll.load_strategy("replay", model="reduced-resnet18", epochs=1), stream, seed=0, device="cpu")
    images = stream[0].n_train + sum(2 * t.n_train for t in stream.tasks[1:])  # incoming + replayed
    return images / sum(result.timings["train_s"])


def dataloader_way(root: str) -> float:
    import torchvision
    from torchvision import transforms

    augment = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                  transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    data = torchvision.datasets.CIFAR10(root, train=True, transform=augment, download=False)
    loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True, num_workers=2,
                                         generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    return trained_per_second(build_model("reduced-resnet18", (3, 32, 32), 10), loader)


def in_memory_way(root: str) -> float:
    """The same loop with no input pipeline at all: the images already normalised tensors in memory, not
    augmented, the network channels-last as lifelong trains it: the network's own speed."""
    import torchvision

    data = torchvision.datasets.CIFAR10(root, train=True, download=False)
    x = torch.from_numpy(data.data).permute(0, 3, 1, 2).float().div(255)
    x = ((x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1))
    x, y = x.contiguous(memory_format=torch.channels_last), torch.tensor(data.targets)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0)).split(64)
    torch.manual_seed(0)
    return trained_per_second(channels_last(build_model("reduced-resnet18", (3, 32, 32), 10)),
                              ((x[i], y[i]) for i in order))


def trained_per_second(net, batches) -> float:
    """Images per second of a plain training loop (Adam at 0.001) over ``batches``, drawn as it goes."""
    opt = torch.optim.Adam(net.parameters(), lr=0.001)
    start, images = time.perf_counter(), 0
    for x, y in batches:
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        images += len(y)
    return images / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=5_000)
    args = parser.parse_args(argv)
    import torchvision.datasets.cifar as cifar

    cifar.check_integrity = lambda *a, **k: True  # the files are ours: torchvision's md5 sums are CIFAR's
    ratios, ceilings = [], []
    with tempfile.TemporaryDirectory() as tmp:
        write_cifar10(Path(tmp), args.images)
        os.environ["LIFELONG_DATA"] = tmp
        for r in range(args.repeats):
            ours, theirs, bare = lifelong_way(), dataloader_way(tmp), in_memory_way(tmp)
            ratios.append(ours / theirs)
            ceilings.append(bare / theirs)
            print(f"round {r + 1}: lifelong {ours:.0f} images/s, DataLoader loop {theirs:.0f} images/s, "
                  f"ratio {ratios[-1]:.2f}; in memory, no augmentation {bare:.0f} images/s, "
                  f"ceiling {ceilings[-1]:.2f}", flush=True)
    print(f"no input pipeline at all (tensors in memory) over the DataLoader loop: {statistics.median(ceilings):.2f} "
          "(median), what any way of feeding this network can gain on this machine")
    print(f"target lifelong/dataloader >= 2: {'met' if statistics.median(ratios) >= 2 else 'NOT met'}")
    print(f"lifelong/dataloader = {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
