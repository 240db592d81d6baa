"""Readers of the field's datasets on disk: each checked against torchvision's own dataset class
(``download=False``) on files this test writes in the exact published format; missing files are
one line that names the path and where the dataset is published."""
import gzip
import io
import pickle
import struct

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import lifelong as ll
from lifelong.cli import main
from lifelong.config import ConfigError
from lifelong.scenarios import LazyTask, build_stream
from lifelong.scenarios.readers import READERS

RNG = np.random.default_rng(0)
pytestmark = pytest.mark.usefixtures("private_cache")  # decoded image folders are cached: not in ~/.cache


def test_decoded_images_are_cached_and_decoded_again_when_a_file_changes(tmp_path, monkeypatch):
    from lifelong.scenarios import readers

    for split in ("train", "test"):
        write_images(tmp_path / "folder" / split / "cat", 2)
    first = READERS["image-folder"](str(tmp_path / "folder"))
    decode = readers._load_images
    monkeypatch.setattr(readers, "_load_images", lambda paths: pytest.fail("decoded again"))
    assert torch.equal(READERS["image-folder"](str(tmp_path / "folder")).x_train, first.x_train)
    write_images(tmp_path / "folder" / "train" / "cat", 1, size=8)  # 0.png rewritten: other pixels
    monkeypatch.setattr(readers, "_load_images", decode)
    assert not torch.equal(READERS["image-folder"](str(tmp_path / "folder")).x_train, first.x_train)


def write_idx(path, array: np.ndarray, compress=False) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


def write_mnist_like(root, name, n_train=30, n_test=10, compress=False):
    folder = root / name / "raw"
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte", RNG.integers(0, 256, (n, 28, 28)), compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, compress)


@pytest.mark.parametrize("name, source, cls", [("MNIST", "mnist-full", torchvision.datasets.MNIST),
                                               ("FashionMNIST", "fashion-mnist", torchvision.datasets.FashionMNIST),
                                               ("KMNIST", "kmnist", torchvision.datasets.KMNIST)])
def test_idx_readers_give_torchvisions_tensors(tmp_path, name, source, cls):
    write_mnist_like(tmp_path, name)
    ours = READERS[source](str(tmp_path))
    for train, x, y in ((True, ours.x_train, ours.y_train), (False, ours.x_test, ours.y_test)):
        theirs = cls(str(tmp_path), train=train, download=False)
        assert x.dtype == torch.uint8 and torch.equal(x[:, 0], theirs.data)  # 8-bit, as published
        assert torch.equal(y, theirs.targets)
    gz = tmp_path / "gz"
    write_mnist_like(gz, name, compress=True)  # the same bytes gzipped read the same
    zipped = READERS[source](str(gz))
    assert zipped.x_train.shape == ours.x_train.shape and len(zipped.y_test) == 10


class Python2Pickler(pickle._Pickler):
    """Protocol 2 with bytes as Python 2 ``str`` (the ``BINSTRING`` opcode), as the published CIFAR files hold
    their keys and pixels."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_str2(self, obj):
        self.write(b"T" + struct.pack("<I", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_str2


def python2_pickle(content: dict) -> bytes:
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump({k.encode(): v for k, v in content.items()})
    return buffer.getvalue()


def write_cifar(root, hundred=False, n=20, python2=False):
    def batch(n):
        data = {"data": RNG.integers(0, 256, (n, 3072)).astype(np.uint8)}
        if hundred:
            fine = np.arange(n) % 100
            data.update(fine_labels=[int(c) for c in fine], coarse_labels=[int(c) for c in fine // 5 % 20])
        else:
            data["labels"] = [int(c) for c in np.arange(n) % 10]
        return data

    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    files = {"train": batch(5 * n), "test": batch(n)} if hundred else \
        {**{f"data_batch_{i}": batch(n) for i in range(1, 6)}, "test_batch": batch(n)}
    files["meta" if hundred else "batches.meta"] = {"fine_label_names" if hundred else "label_names":
                                                    [f"c{i}" for i in range(100 if hundred else 10)]}
    for name, content in files.items():
        (folder / name).write_bytes(python2_pickle(content) if python2 else pickle.dumps(content, protocol=2))


@pytest.mark.parametrize("hundred, python2", [(False, True), (True, True), (True, False)])
def test_cifar_readers_give_torchvisions_tensors(tmp_path, monkeypatch, hundred, python2):
    """On files pickled as the published ones are (Python 2), and as Python 3 pickles them."""
    cls = torchvision.datasets.CIFAR100 if hundred else torchvision.datasets.CIFAR10
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a: True)  # ours: other checksums
    write_cifar(tmp_path, hundred, python2=python2)
    ours = READERS["cifar100" if hundred else "cifar10"](str(tmp_path))
    for train, x, y in ((True, ours.x_train, ours.y_train), (False, ours.x_test, ours.y_test)):
        theirs = cls(str(tmp_path), train=train, download=False)
        assert torch.equal(x.permute(0, 2, 3, 1), torch.from_numpy(theirs.data))
        assert y.tolist() == list(theirs.targets)


def test_a_truncated_cifar_file_is_one_line_naming_it(tmp_path):
    write_cifar(tmp_path, hundred=True, python2=True)
    train = tmp_path / "cifar-100-python" / "train"
    train.write_bytes(train.read_bytes()[:5000])
    with pytest.raises(ConfigError, match="damaged") as e:
        READERS["cifar100"](tmp_path)
    assert str(train) in str(e.value) and "\n" not in str(e.value)


def test_cifar100_by_superclass_numbers_each_superclass_consecutively(tmp_path):
    write_cifar(tmp_path, hundred=True)
    fine = READERS["cifar100"](str(tmp_path))
    by_super = READERS["cifar100-superclass"](str(tmp_path))
    assert torch.equal(fine.x_train, by_super.x_train)
    coarse = (fine.y_train // 5) % 20  # how write_cifar assigned the superclasses
    assert torch.equal(by_super.y_train // 5, coarse)  # superclass k holds the labels 5k..5k+4
    assert sorted(set(by_super.y_train.tolist())) == list(range(100))


def write_images(folder, n, size=8, ext="png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(RNG.integers(0, 256, (size, size, 3)).astype(np.uint8)).save(folder / f"{i}.{ext}")


def test_image_folder_reads_as_torchvisions_imagefolder(tmp_path):
    for split in ("train", "test"):
        for c, n in (("cat", 3), ("dog", 2)):
            write_images(tmp_path / split / c, n)
    ours = READERS["image-folder"](str(tmp_path))
    for split, x, y in (("train", ours.x_train, ours.y_train), ("test", ours.x_test, ours.y_test)):
        theirs = torchvision.datasets.ImageFolder(str(tmp_path / split), transform=torchvision.transforms.ToTensor())
        assert torch.equal(x / 255, torch.stack([img for img, _ in theirs]))  # ToTensor: the 8-bit values / 255
        assert y.tolist() == [label for _, label in theirs]


def test_tinyimagenet_reads_train_folders_and_labels_val_by_its_annotations(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n02", "n01"]
    for w in wnids:
        write_images(root / "train" / w / "images", 2, size=64, ext="JPEG")
    write_images(root / "val" / "images", 3, size=64, ext="JPEG")
    (root / "val" / "val_annotations.txt").write_text("0.JPEG\tn02\t0\t0\t63\t63\n1.JPEG\tn01\t0\t0\t63\t63\n"
                                                      "2.JPEG\tn02\t0\t0\t63\t63\n")
    ours = READERS["tinyimagenet"](str(tmp_path))
    theirs = torchvision.datasets.ImageFolder(str(root / "train"), transform=torchvision.transforms.ToTensor())
    assert torch.equal(ours.x_train / 255, torch.stack([img for img, _ in theirs]))
    assert ours.y_train.tolist() == [label for _, label in theirs] == [0, 0, 1, 1]  # n01 < n02
    assert ours.y_test.tolist() == [1, 0, 1]
    first = torchvision.transforms.ToTensor()(Image.open(root / "val" / "images" / "0.JPEG").convert("RGB"))
    assert torch.equal(ours.x_test[0] / 255, first)


def test_a_missing_dataset_is_one_line_naming_the_path_and_where_it_is_published(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIFELONG_DATA", str(tmp_path))
    with pytest.raises(ConfigError, match=r"cifar-10-batches-py/data_batch_1.*cs\.toronto\.edu"):
        build_stream({"source": "cifar10", "builder": "split", "n_tasks": 5})
    preset = tmp_path / "my-cifar.yaml"
    preset.write_text("source: cifar10\nbuilder: split\nn_tasks: 5\nsetting: class-incremental\n")
    code = main(["run", "--scenario", str(preset), "--strategy", "naive"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "data_batch_1" in err[0] and "my-cifar.yaml" in err[0]
    with pytest.raises(ConfigError, match="root"):
        build_stream({"source": "mnist", "root": str(tmp_path), "builder": "split"})


def test_root_finds_the_files_and_a_stream_is_built_from_them(tmp_path):
    write_mnist_like(tmp_path / "data", "FashionMNIST", n_train=40, n_test=20)
    preset = tmp_path / "fashion.yaml"
    preset.write_text("source: fashion-mnist\nroot: data\nbuilder: split\nn_tasks: 5\n"
                      "setting: class-incremental\n")  # root relative to the preset
    stream = ll.load_scenario(str(preset), seed=0)
    assert len(stream) == 5 and stream.input_shape == (1, 28, 28) and sum(t.n_train for t in stream) == 40


def write_tinyimagenet(root, n_classes=200):
    folder = root / "tiny-imagenet-200"
    wnids = [f"n{i:08d}" for i in range(n_classes)]
    for w in wnids:
        write_images(folder / "train" / w / "images", 1, size=64, ext="JPEG")
    write_images(folder / "val" / "images", n_classes, size=64, ext="JPEG")
    (folder / "val" / "val_annotations.txt").write_text("".join(f"{i}.JPEG\t{w}\t0\t0\t63\t63\n"
                                                                for i, w in enumerate(wnids)))


#: every preset read from the user's files: (tasks, classes a task)
DATASET_PRESETS = {"split-cifar10": (5, 2), "split-cifar10-ti": (5, 2), "split-cifar100": (10, 10),
                   "split-cifar100-superclass": (20, 5), "split-tinyimagenet": (10, 20), "split-fashion-mnist": (5, 2),
                   "split-mnist-full": (5, 2), "permuted-mnist-full": (10, 10), "rotated-mnist-full": (20, 10)}


def test_every_dataset_preset_builds_on_test_made_files_and_list_marks_the_missing(tmp_path, monkeypatch, capsys):
    from lifelong.config import list_presets
    from lifelong.scenarios import data_missing

    monkeypatch.setenv("LIFELONG_DATA", str(tmp_path))
    listed = {name for name, _ in list_presets("scenarios") if data_missing(name) is not None}
    assert listed == set(DATASET_PRESETS)
    assert main(["list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert f"[data not found: {tmp_path / 'cifar-10-batches-py' / 'data_batch_1'}]" in lines["split-cifar10"]
    assert "data not found" not in lines["split-mnist"]
    write_cifar(tmp_path)
    write_cifar(tmp_path, hundred=True, n=100)
    write_tinyimagenet(tmp_path)
    for name in ("MNIST", "FashionMNIST"):
        write_mnist_like(tmp_path, name)
    assert not any(data_missing(name) for name in DATASET_PRESETS)
    for name, (n_tasks, per_task) in DATASET_PRESETS.items():
        stream = ll.load_scenario(name, seed=0)
        assert len(stream) == n_tasks, name
        assert all(len(t.y_train.unique()) == per_task for t in stream), name


def test_lifelong_run_on_a_cifar10_folder_the_test_wrote(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIFELONG_DATA", str(tmp_path / "data"))
    write_cifar(tmp_path / "data")
    out = tmp_path / "out"
    assert main(["run", "--scenario", "split-cifar10", "--strategy", "derpp", "--set", "epochs=1", "--shots", "none",
                 "--out", str(out)]) == 0
    result = ll.RunResult.load(out / "result.json")
    assert result.scenario == "split-cifar10" and len(result.accuracy_matrix) == 5


def test_a_cifar100_stream_holds_its_images_once_and_as_eight_bits(tmp_path, monkeypatch):
    """Images are never held as floats (the network normalises each batch where it begins), and each task
    is cut from the pool when it is used: beside the pool, at most two task parts are ever held."""
    monkeypatch.setenv("LIFELONG_DATA", str(tmp_path))
    write_cifar(tmp_path, hundred=True, n=100)
    stream = ll.load_scenario("split-cifar100", seed=0)
    pool = READERS["cifar100"](tmp_path)
    for task in stream:
        keep = torch.isin(pool.y_train, torch.tensor(task.classes))
        assert torch.equal(task.x_train, pool.x_train[keep]) and torch.equal(task.y_train, pool.y_train[keep])
        assert task.x_train.dtype == torch.uint8 and len(task.y_test) == 10
    assert stream.tasks[0].cache.peak_live <= 2
    assert stream.info.pixels.mean == (0.5071, 0.4865, 0.4409)
    subset = ll.load_scenario("split-cifar100", seed=0, test_subset=4)  # stays lazy, each test set cut to 4
    for full, cut in zip(stream, subset):
        assert isinstance(cut, LazyTask) and len(cut.y_test) == 4
        assert (cut.x_test.flatten(1)[:, None] == full.x_test.flatten(1)[None]).all(2).any(1).all()
    online = ll.load_scenario("split-cifar100", seed=0, online=True)  # an online stream holds its own order
    assert [t.n_train for t in online] == [t.n_train for t in stream]
