"""Augmentation on the device: batched random crops and flips as torchvision defines them, applied by
the network while it trains and never to what a memory stores; a preset's normalisation."""
import pytest
import torch
import torch.nn.functional as F

import lifelong as ll
from lifelong.augmentation import Augmentation, augment_inputs, random_crop, random_flip
from lifelong.config import ConfigError
from lifelong.experiment.checkpoint import MemoryCheckpointer
from lifelong.models import build_model
from lifelong.scenarios import build_stream, from_arrays

from conftest import fast

G = torch.Generator().manual_seed(0)
X, Y = torch.rand(120, 3, 8, 8, generator=G), torch.arange(120) % 4
AUGMENTED = {"builder": "split", "n_tasks": 2, "augment": {"crop": 2, "flip": True},
             "normalize": {"mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3]}}


def toy(**spec):
    return build_stream({"builder": "split", "n_tasks": 2, **spec}, data=from_arrays(X, Y, X[:40], Y[:40], name="toy"),
                        seed=0)


def test_a_random_crop_is_a_crop_of_the_padded_image_at_a_uniform_offset():
    x = torch.rand(400, 2, 5, 6, generator=torch.Generator().manual_seed(1))
    out = random_crop(x, torch.Generator().manual_seed(2), 2, fill=(-1.0, -2.0))
    padded = torch.stack([F.pad(x[:, c], (2, 2, 2, 2), value=v) for c, v in enumerate((-1.0, -2.0))], 1)
    offsets = []
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(out[i], padded[i, :, dy:dy + 5, dx:dx + 6])]
        assert found, i
        offsets.append(found[0])
    counts = torch.bincount(torch.tensor([dy * 5 + dx for dy, dx in offsets]), minlength=25)
    assert counts.min() > 4 and counts.max() < 35  # 25 offsets, 16 each on average


def test_a_random_flip_mirrors_about_half_the_images():
    x = torch.rand(200, 1, 3, 4, generator=torch.Generator().manual_seed(1))
    out = random_flip(x, torch.Generator().manual_seed(2))
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    assert all(torch.equal(o, i) or f for o, i, f in zip(out, x, flipped))
    assert 70 < int(flipped.sum()) < 130


def test_the_network_augments_its_batches_only_while_it_trains():
    net = augment_inputs(build_model("cnn", (3, 8, 8), 4), Augmentation(crop=2, flip=True), torch.Generator())
    x = X[:16]
    with torch.no_grad():
        clean = net.eval()(x)
    assert torch.equal(net(x), clean)  # eval mode: as it is
    net.train()
    with torch.no_grad():
        assert torch.equal(net(x), net(x))  # no gradients (teachers, statistics): as it is
    assert not torch.allclose(net(x), net(x))  # training: a fresh augmentation each pass


def test_a_preset_normalises_its_images_and_declares_its_augmentation():
    stream = toy(**{k: v for k, v in AUGMENTED.items() if k not in ("builder", "n_tasks")})
    raw = toy()
    mean, std = torch.tensor([0.5, 0.4, 0.3]).view(-1, 1, 1), torch.tensor([0.25, 0.2, 0.3]).view(-1, 1, 1)
    assert torch.allclose(stream[0].x_train, (raw[0].x_train - mean) / std)
    assert torch.allclose(stream[1].x_test, (raw[1].x_test - mean) / std)
    assert stream.info.augment == Augmentation(2, True, (-2.0, -2.0, -1.0))  # black, normalised
    assert stream.definition["augment"] == {"crop": 2, "flip": True} and stream.fingerprint != raw.fingerprint


@pytest.mark.parametrize("spec, words", [
    ({"normalize": {"mean": [0.5] * 3, "std": [0.2, 0.0, 0.2]}}, ["normalize.std", "positive"]),
    ({"normalize": {"mean": [0.5], "std": [0.2]}}, ["normalize.mean", "3 value"]),
    ({"augment": {"crop": 2, "rotate": 10}}, ["augment.rotate", "unknown field"]),
    ({"augment": {"crop": -1}}, ["augment.crop", "-1"]),
])
def test_bad_image_options_name_the_field(spec, words):
    with pytest.raises(ConfigError) as e:
        toy(**spec)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_augmentation_needs_images():
    with pytest.raises(ConfigError, match="augment: needs images"):
        build_stream({"builder": "split", "n_tasks": 2, "augment": {"flip": True}},
                     data=from_arrays(X.flatten(1), Y, X[:40].flatten(1), Y[:40], name="flat"), seed=0)


@pytest.mark.parametrize("name", ["replay", "der"])
def test_memories_store_the_samples_as_they_came_and_runs_resume_to_the_same_numbers(name):
    stream = toy(**{k: v for k, v in AUGMENTED.items() if k not in ("builder", "n_tasks")})
    s = fast(name, model="cnn", buffer_size=30)
    s.setup(stream.info, seed=0)
    s.fit_task(stream[0])
    stored = s.memory.stored()["x"]
    rows = stream[0].x_train.flatten(1)
    assert len(stored) and all((rows == r).all(1).any() for r in stored.flatten(1))
    checkpoints = MemoryCheckpointer()
    full = ll.run(fast(name, model="cnn"), stream, seed=1, checkpointer=checkpoints)
    checkpoints.resume_after = 0  # from the checkpoint after task 1
    torch.manual_seed(5)
    assert ll.run(fast(name, model="cnn"), stream, seed=1, checkpointer=checkpoints).accuracy_matrix == \
        full.accuracy_matrix
    unaugmented = toy(normalize=AUGMENTED["normalize"])
    plain = fast(name, model="cnn", buffer_size=30)
    plain.setup(unaugmented.info, seed=0)
    plain.fit_task(unaugmented[0])
    assert not torch.equal(plain.net.head.weight, s.net.head.weight)  # it trained on augmented batches


def test_eight_bit_images_give_the_numbers_of_float_ones():
    """A reader's images stay uint8 and become floats where the network begins, normalised per batch:
    the same numbers as the same images held as normalised floats."""
    import numpy as np

    from lifelong.scenarios.sources import from_images

    raw = (X * 255).round().to(torch.uint8)
    spec = {"builder": "split", "n_tasks": 2, "augment": {"flip": True}, "normalize": AUGMENTED["normalize"]}
    eight = build_stream(spec, data=from_images(raw, Y, raw[:40], Y[:40], name="toy"), seed=0)
    floats = build_stream(spec, data=from_arrays(raw.numpy() / np.float32(255), Y, raw[:40].numpy() / np.float32(255),
                                                 Y[:40], name="toy"), seed=0)
    assert eight[0].x_train.dtype == torch.uint8 and floats[0].x_train.dtype == torch.float32
    for name in ("replay", "der", "agent"):
        assert ll.run(fast(name, model="cnn"), eight, seed=0).accuracy_matrix == \
            ll.run(fast(name, model="cnn"), floats, seed=0).accuracy_matrix, name
