"""Peak memory of building Split CIFAR-100 from its files, against the images' uint8 size.

Writes a full-size CIFAR-100 in its published format (the python pickle batches ``train`` and
``test``: 50,000 and 10,000 images of 3,072 bytes, random pixels, labels as CIFAR-100 has them, 500
and 100 a class) into a temporary folder, pickled as Python 2 pickled the real files (protocol 2,
byte strings as ``BINSTRING``). Then, in a fresh process for each repeat: imports
lifelong, resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), loads ``split-cifar100``
from the folder and reads every task's training and test set once, as a run does; the peak
resident memory over the RSS before loading is the cost. Target: at most 1.5x the uint8 size
(labels included). Linux only. The last line reads ``peak/uint8 = X.XX`` (the largest over the
repeats).

Usage: ``python benchmarks/dataset_memory.py [--repeats 3]``
"""
import argparse
import io
import pickle
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import sys
sys.path.insert(0, {repo!r})
import lifelong as ll


def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024


ll.load_scenario("split-digits", seed=0)  # the modules a stream's building imports, imported before
open("/proc/self/clear_refs", "w").write("5")  # the peak RSS starts again from the current RSS
before = status("VmRSS")
stream = ll.load_scenario("split-cifar100", seed=0, root={root!r})
stream.fingerprint  # as a run checks it
for task in stream:
    task.x_train.max(), task.x_test.max()
print(status("VmHWM") - before, status("VmRSS") - before)
"""


class Python2Pickler(pickle._Pickler):
    """Protocol 2 with every bytes object a Python 2 ``str`` (the ``BINSTRING`` opcode), as in CIFAR's files."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_str2(self, obj: bytes) -> None:
        self.write(b"T" + struct.pack("<I", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_str2


def write_cifar100(folder: Path) -> int:
    """The two pickle batches of CIFAR-100, and their images' and labels' size in bytes (as uint8 and int64)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    size = 0
    for name, n in (("train", 50_000), ("test", 10_000)):
        fine = rng.permutation(np.arange(n) % 100)
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"fine_labels": fine.tolist(),
                 b"coarse_labels": (fine // 5).tolist()}
        buffer = io.BytesIO()
        Python2Pickler(buffer, protocol=2).dump(batch)
        (folder / name).write_bytes(buffer.getvalue())
        size += n * 3072 + n * 8
    return size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not Path("/proc/self/clear_refs").exists():
        sys.exit("needs Linux's /proc/self/clear_refs")
    repo = str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory() as tmp:
        size = write_cifar100(Path(tmp) / "cifar-100-python")
        ratios = []
        for r in range(args.repeats):
            out = subprocess.run([sys.executable, "-c", CHILD.format(repo=repo, root=tmp)], check=True,
                                 capture_output=True, text=True).stdout.split()
            peak, after = (int(v) for v in out[-2:])
            ratios.append(peak / size)
            print(f"  repeat {r + 1}: peak +{peak / 2**20:.0f} MiB, after +{after / 2**20:.0f} MiB "
                  f"(the images and labels: {size / 2**20:.0f} MiB)", flush=True)
    worst = max(ratios)
    print(f"target peak/uint8 <= 1.50: {'met' if worst <= 1.5 else 'NOT met'}")
    print(f"peak/uint8 = {worst:.2f}")


if __name__ == "__main__":
    main()
