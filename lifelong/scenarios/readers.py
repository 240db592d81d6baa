"""The field's datasets from the files users already have, in their published formats. Nothing is
downloaded: a missing or incomplete file is one line naming the path expected and where the dataset
is published.

Where: a scenario's ``root:`` field, else ``$LIFELONG_DATA``, else ``~/data``, laid out as
torchvision lays them out (so a folder torchvision downloaded into works as it is):

* ``MNIST/raw``, ``FashionMNIST/raw``, ``KMNIST/raw``: the IDX files, plain or gzipped;
* ``cifar-10-batches-py/``: ``data_batch_1``..``5`` and ``test_batch``; ``cifar-100-python/``:
  ``train`` and ``test`` (pickled dicts);
* ``tiny-imagenet-200/``: ``train/<wnid>/images/*.JPEG``, ``val/images/*.JPEG`` and
  ``val/val_annotations.txt``;
* an image folder (``<root>/<class>/*.png|jpg``, torchvision's ``ImageFolder``): the root itself,
  with ``<root>/train`` and ``<root>/test``.

Images stay 8-bit (uint8), (N, C, H, W): ``lifelong.scenarios.sources.from_images``.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
from pathlib import Path

import numpy as np

from lifelong.config import ConfigError
from lifelong.scenarios.sources import Dataset, disk_cached, from_images

PUBLISHED = {
    "MNIST": "http://yann.lecun.com/exdb/mnist/",
    "FashionMNIST": "https://github.com/zalandoresearch/fashion-mnist",
    "KMNIST": "https://github.com/rois-codh/kmnist",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar.html",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar.html",
    "tinyimagenet": "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
}
IMAGES = (".png", ".jpg", ".jpeg", ".bmp")


def data_root(root: str | Path | None = None) -> Path:
    """``root``, else ``$LIFELONG_DATA``, else ``~/data``."""
    return Path(root or os.environ.get("LIFELONG_DATA") or Path.home() / "data").expanduser()


def _missing(path: Path, dataset: str) -> ConfigError:
    return ConfigError(f"no such file: {path} ({dataset} is published at {PUBLISHED[dataset]}; put its files "
                       "there, or set root: or $LIFELONG_DATA; nothing is downloaded)", field="source", value=dataset)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (``path``, or ``path`` + ``.gz``): big-endian magic (0x0000 08 D, uint8 data in D
    dimensions), the D sizes, then the data."""
    gz = path.with_name(path.name + ".gz")
    found = path if path.is_file() else gz if gz.is_file() else None
    if found is None:
        raise FileNotFoundError(path)
    data = gzip.decompress(found.read_bytes()) if found.suffix == ".gz" else found.read_bytes()
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ConfigError(f"is not an IDX file of unsigned bytes ({found})", field="source", value=str(found))
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != np.prod(shape):
        raise ConfigError(f"holds {body.size} bytes of data, its header says {shape} ({found})", field="source",
                          value=str(found))
    return body.reshape(shape).copy()  # a writable array of its own


def _idx_files(name: str, root) -> list[Path]:
    folder = data_root(root) / name / "raw"
    return [folder / f"{split}-{kind}-ubyte" for split in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")]


def idx_images(name: str, root: str | Path | None = None) -> Dataset:
    """MNIST, Fashion-MNIST or KMNIST (``name``: ``MNIST``, ``FashionMNIST``, ``KMNIST``) from
    ``<root>/<name>/raw``: 60,000 training and 10,000 test images of 28x28."""
    arrays = []
    for path in _idx_files(name, root):
        try:
            arrays.append(read_idx(path))
        except FileNotFoundError:
            raise _missing(path, name) from None
    x, y, x_test, y_test = arrays
    return from_images(x[:, None], y, x_test[:, None], y_test,
                       name=name.lower())


def _unpickle(path: Path, dataset: str) -> dict:
    """A CIFAR batch: a Python 2 pickle of a dict of numpy arrays and lists, keys as ``str``."""
    if not path.is_file():
        raise _missing(path, dataset)
    try:
        with path.open("rb") as f:
            content = _Unpickler(f, encoding="bytes").load()
        if not isinstance(content, dict):
            raise pickle.UnpicklingError(f"holds a {type(content).__name__}, not a dict")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error) as e:
        raise ConfigError(f"is not a {dataset} batch as published, or is damaged ({e}; {path})", field="source",
                          value=dataset) from None
    return {k.decode("latin1") if isinstance(k, bytes) else k: v.array if isinstance(v, _Array) else v
            for k, v in content.items()}


class _Unpickler(pickle._Unpickler):
    """Reads a CIFAR batch holding its pixels once. Python's C unpickler copies a long string out of its
    read buffer, and numpy's unpickling copies it again into the array: reading CIFAR-100's 147 MiB of
    training images peaked at twice that. This one, pickle's own pure-Python unpickler, reads a long
    Python 2 string into a buffer of its own, and the array is made over that buffer (``_Array``)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, **kwargs):
        super().__init__(file, **kwargs)
        self.file = file

    def find_class(self, module, name):
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _Array
        return super().find_class(module, name)

    def load_binstring(self):
        (size,) = struct.unpack("<i", self.read(4))
        if size < 0:
            raise pickle.UnpicklingError("a string of negative length")
        if size < 2**16:  # keys and names: as pickle reads them
            self.append(self._decode_string(self.read(size)))
            return
        data = bytearray(size)  # read straight from the file (the unpickler's readinto copies): protocol 2 has no frames
        if self.file.readinto(data) != size:
            raise pickle.UnpicklingError("the file ends inside a string")
        self.append(data)

    dispatch[pickle.BINSTRING[0]] = load_binstring


class _Array:
    """What a pickled numpy array becomes in ``_Unpickler``: numpy's ``_reconstruct(ndarray, shape,
    typecode)`` then ``__setstate__((version, shape, dtype, fortran, data))``, with the array made over
    ``data`` (a writable copy when ``data`` came as an immutable string: a Python 3 pickle's)."""

    def __init__(self, cls, shape, typecode):
        self.array = None

    def __setstate__(self, state):
        _, shape, dtype, fortran, data = state
        data = bytearray(data) if isinstance(data, bytes) else data
        self.array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _cifar_images(rows: np.ndarray) -> np.ndarray:
    """N x 3072 uint8 rows (the R, G and B planes of 32x32, row-major) as N x 3 x 32 x 32."""
    return rows.reshape(-1, 3, 32, 32)


def _cifar10_files(root) -> list[Path]:
    folder = data_root(root) / "cifar-10-batches-py"
    return [*(folder / f"data_batch_{i}" for i in range(1, 6)), folder / "test_batch"]


def _cifar100_files(root) -> list[Path]:
    return [data_root(root) / "cifar-100-python" / name for name in ("train", "test")]


def cifar10(root: str | Path | None = None) -> Dataset:
    """CIFAR-10 from ``<root>/cifar-10-batches-py``: 50,000 training and 10,000 test images."""
    *train, test = (_unpickle(path, "cifar10") for path in _cifar10_files(root))
    x = np.concatenate([b["data"] for b in train])
    y = np.concatenate([b["labels"] for b in train])
    return from_images(_cifar_images(x), y, _cifar_images(test["data"]), np.asarray(test["labels"]),
                       name="cifar10")


def cifar100(root: str | Path | None = None, *, by_superclass: bool = False) -> Dataset:
    """CIFAR-100 from ``<root>/cifar-100-python``, its 100 fine labels. ``by_superclass``: the fine
    classes renumbered superclass by superclass (the 5 classes of superclass k become 5k..5k+4, each
    superclass's in their own order), so that 20 consecutive tasks of 5 are the 20 superclasses."""
    train, test = (_unpickle(path, "cifar100") for path in _cifar100_files(root))
    y, y_test = np.asarray(train["fine_labels"]), np.asarray(test["fine_labels"])
    if by_superclass:
        coarse = np.zeros(100, dtype=np.int64)
        coarse[y] = np.asarray(train["coarse_labels"])
        order = np.lexsort((np.arange(100), coarse))  # fine classes, superclass-major
        new = np.empty(100, dtype=np.int64)
        new[order] = np.arange(100)
        y, y_test = new[y], new[y_test]
    return from_images(_cifar_images(train["data"]), y, _cifar_images(test["data"]), y_test,
                       name="cifar100-superclass" if by_superclass else "cifar100")


def _load_images(paths: list[Path]) -> np.ndarray:
    """Images as uint8 N x C x H x W (greyscale kept as one channel, others as RGB)."""
    from PIL import Image

    out = []
    for p in paths:
        with Image.open(p) as im:
            im = im.convert("L") if im.mode in ("L", "1", "I;16") else im.convert("RGB")
            a = np.asarray(im, dtype=np.uint8)
        out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    if len({a.shape for a in out}) > 1:
        raise ConfigError("holds images of different sizes", field="source", value=str(paths[0].parent.parent))
    return np.stack(out) if out else np.zeros((0, 1, 1, 1), np.uint8)


def _folder_split(folder: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGES) \
            if (folder / name).is_dir() else []
        paths += files
        labels += [label] * len(files)
    return paths, np.asarray(labels, dtype=np.int64)


def image_folder(root: str | Path) -> Dataset:
    """``<root>/train/<class>/*`` and ``<root>/test/<class>/*``; classes in sorted name order, as
    torchvision's ``ImageFolder`` numbers them."""
    if root is None:
        raise ConfigError("an image folder needs root: (the folder holding train/ and test/)", field="root")
    root = Path(root).expanduser()
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise ConfigError(f"no such folder: {root / split} (an image folder holds train/<class>/ and "
                              "test/<class>/)", field="root", value=str(root))
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    (xp, y), (tp, y_test) = _folder_split(root / "train", classes), _folder_split(root / "test", classes)
    return from_images(*_decoded("image-folder", xp, y, tp, y_test), name=root.name)


def tinyimagenet(root: str | Path | None = None) -> Dataset:
    """TinyImageNet (200 classes of 64x64) from ``<root>/tiny-imagenet-200``: ``train/<wnid>/images``
    for training and, as the test set, ``val/images`` labelled by ``val/val_annotations.txt``;
    classes numbered in sorted wnid order."""
    absent = missing("tinyimagenet", root)
    if absent is not None:
        raise _missing(absent, "tinyimagenet")
    train, notes = _tinyimagenet_files(root)
    folder = train.parent
    wnids = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
    index = {w: i for i, w in enumerate(wnids)}
    paths, labels = [], []
    for w in wnids:
        files = sorted((folder / "train" / w / "images").glob("*.JPEG"))
        paths += files
        labels += [index[w]] * len(files)
    val = sorted(line.split("\t")[:2] for line in notes.read_text().splitlines() if line.strip())
    val_paths = [folder / "val" / "images" / name for name, _ in val]
    for p in val_paths:
        if not p.is_file():
            raise _missing(p, "tinyimagenet")
    return from_images(*_decoded("tinyimagenet", paths, np.asarray(labels), val_paths,
                                 np.asarray([index[w] for _, w in val])), name="tinyimagenet")


def _decoded(name: str, train: list[Path], y_train, test: list[Path], y_test) -> tuple[np.ndarray, ...]:
    """The images at ``train`` and ``test``, decoded once and then read from the cache
    (``lifelong.scenarios.sources.cache_dir``): decoding TinyImageNet's 120,000 JPEGs takes minutes. The
    cache's key covers every file's path, size and modification time, so changed files are decoded again."""
    h = hashlib.sha256()
    for p in (*train, *test):
        st = p.stat()
        h.update(f"{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    h.update(np.asarray(y_train).tobytes() + np.asarray(y_test).tobytes())
    return disk_cached(f"{name}-{h.hexdigest()[:16]}",
                        lambda: (_load_images(train), np.asarray(y_train), _load_images(test), np.asarray(y_test)))


def _tinyimagenet_files(root) -> list[Path]:
    folder = data_root(root) / "tiny-imagenet-200"
    return [folder / "train", folder / "val" / "val_annotations.txt"]


def _image_folder_files(root) -> list[Path]:
    return [] if root is None else [Path(root).expanduser() / split for split in ("train", "test")]


#: source name -> the files and folders its reader needs, given the scenario's ``root``
FILES = {"mnist-full": lambda root: _idx_files("MNIST", root),
         "fashion-mnist": lambda root: _idx_files("FashionMNIST", root),
         "kmnist": lambda root: _idx_files("KMNIST", root), "cifar10": _cifar10_files, "cifar100": _cifar100_files,
         "cifar100-superclass": _cifar100_files, "tinyimagenet": _tinyimagenet_files,
         "image-folder": _image_folder_files}


def missing(source: str, root: str | Path | None = None) -> Path | None:
    """The first file or folder that the reader of ``source`` needs and does not find (an IDX file may
    be gzipped), else None. What a missing dataset prints, without reading any of it."""
    for path in FILES[source](root):
        if not (path.exists() or path.with_name(path.name + ".gz").exists()):
            return path
    return None


#: source name -> reader, each called with the scenario's ``root`` (None: the default)
READERS = {
    "mnist-full": lambda root: idx_images("MNIST", root),
    "fashion-mnist": lambda root: idx_images("FashionMNIST", root),
    "kmnist": lambda root: idx_images("KMNIST", root),
    "cifar10": cifar10,
    "cifar100": cifar100,
    "cifar100-superclass": lambda root: cifar100(root, by_superclass=True),
    "tinyimagenet": tinyimagenet,
    "image-folder": image_folder,
}
