"""Task streams: types, data sources, builders, and the preset loader.

A scenario preset (``scenarios/*.yaml``) names a data ``source``, a ``builder``
and the builder's fields; ``load_scenario`` turns it into a ``Stream``. Builders
that generate their own tasks (``sinusoids``) need no source. ``builder:
mypackage.streams:build`` names a builder of the user's own, a function with the
signature of ours (``lifelong.scenarios.builders``). The fields ``online`` and
``boundaries`` make the stream online (``lifelong.scenarios.online``); ``test_subset: N`` keeps a
fixed random N of each task's test samples (``subset_tests``). Avalanche
benchmarks become streams through ``lifelong.interop.from_avalanche``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from lifelong.augmentation import Augmentation, Pixels
from lifelong.config import ConfigError, NonNegInt, PositiveInt, check_params, check_value, defaults, find_preset, \
    import_object, is_import_path, keyword_params, load_yaml, pop_field
from lifelong.scenarios.builders import Built, episodes, permute, rotate, sinusoids, split
from lifelong.scenarios.online import BOUNDARIES, present_online
from lifelong.scenarios.osaka import osaka
from lifelong.scenarios.readers import READERS, missing
from lifelong.scenarios.sources import SOURCES, Dataset, from_arrays, from_file
from lifelong.scenarios.stream import SETTINGS, LazyTask, Online, Stream, StreamInfo, Task, TaskInfo, TensorCache

BUILDERS = {"split": split, "permute": permute, "rotate": rotate, "sinusoids": sinusoids, "episodes": episodes,
            "osaka": osaka}

__all__ = ["Task", "LazyTask", "TensorCache", "TaskInfo", "Stream", "StreamInfo", "Online", "Dataset", "SETTINGS",
           "load_scenario", "build_stream", "from_arrays", "from_file", "SOURCES", "BUILDERS", "BOUNDARIES", "Built"]


def _root(root: str | None, file: str | Path | None) -> str | None:
    """A scenario's ``root:``, relative to its preset's folder unless absolute."""
    if root is not None and file is not None and not Path(root).expanduser().is_absolute():
        return str(Path(file).parent / root)
    return root


def data_missing(preset: str) -> Path | None:
    """For a scenario preset whose source is read from the user's files: the first file it needs that
    is not there (``lifelong.scenarios.readers.missing``); None when all are, for the other sources and
    for a preset that does not parse (``lifelong list`` shows why)."""
    try:
        file = find_preset("scenarios", preset)
        spec = load_yaml(file)
    except ConfigError:
        return None
    source, root = spec.get("source"), spec.get("root")
    if source not in READERS or not (root is None or isinstance(root, str)):
        return None
    return missing(source, _root(root, file))


def build_stream(spec: dict, *, seed: int = 0, name: str = "stream", file: str | Path | None = None,
                 data: Dataset | None = None) -> Stream:
    """Build a Stream from a scenario spec (the fields of a preset).

    ``source`` is a built-in pool name or the path of an ``.npz`` file (relative
    to the preset's folder), or one read from the user's files (``lifelong.scenarios.readers``, found
    under ``root``); pass ``data`` to use a pool you built in Python.
    Builders that generate their own data (``sinusoids``) take no source.
    """
    spec = dict(spec)
    try:
        spec.pop("description", None)
        builder_name = pop_field(spec, "builder", str)
        builder = builder_by_name(builder_name)
        if getattr(builder, "generates_data", False):
            if "source" in spec or data is not None:
                raise ConfigError(f"the {builder_name} builder generates its own data and takes no source",
                                  field="source", value=spec.get("source", data.name if data is not None else None))
            source = None
        elif data is None:
            source = pop_field(spec, "source", str)
            root = _root(pop_field(spec, "root", str, None), file)
            if source in READERS:
                data = READERS[source](root)
            elif root is not None:
                raise ConfigError(f"only the sources read from disk ({', '.join(READERS)}) take a root",
                                  field="root", value=root)
            elif source in SOURCES:
                data = SOURCES[source]()
            elif source.endswith(".npz"):
                path = Path(source) if file is None or Path(source).is_absolute() else Path(file).parent / source
                data = from_file(path)
            else:
                raise ConfigError(f"unknown source (known: {', '.join([*SOURCES, *READERS])}, or a path to an "
                                  ".npz file)",
                                  field="source", value=source)
        else:
            source = spec.pop("source", data.name)
        if "seed" in spec:
            raise ConfigError("the seed is chosen per run (load_scenario(..., seed=N), --seed), not in the preset",
                              field="seed", value=spec["seed"])
        online, boundaries = spec.pop("online", None), spec.pop("boundaries", None)
        test_subset = pop_field(spec, "test_subset", PositiveInt, None)
        augment, normalize = spec.pop("augment", None), spec.pop("normalize", None)
        params = {**defaults(builder), **check_params(builder, spec)}
        built = builder(data, seed, **params)
        if not isinstance(built, Built):
            built = Built(built)
        tasks = list(built.tasks) if test_subset is None else subset_tests(built.tasks, test_subset, seed)
        tasks, presented, presentation = present_online(tasks, seed, params["setting"], online, boundaries)
        held_out, pretraining = list(built.held_out), built.pretraining
        eight_bit = tasks[0].x_train.dtype == torch.uint8
        augmentation, pixels, images = image_options(augment, normalize, tasks[0].input_shape, eight_bit)
        if normalize is not None and not eight_bit:  # float images: normalised here, once
            tasks, held_out = normalized(tasks, images["normalize"]), normalized(held_out, images["normalize"])
            pretraining = None if pretraining is None else normalized([pretraining], images["normalize"])[0]
    except ConfigError as e:
        raise (e.in_file(file) if file else e) from None
    n_classes = built.n_classes if built.n_classes is not None else data.n_classes
    # options left off (None) stay out of the definition: existing streams keep their fingerprints
    definition = {**({"source": source} if source is not None else {}), "builder": builder_name,
                  **{k: v for k, v in params.items() if v is not None}, **presentation,
                  **({"test_subset": test_subset} if test_subset is not None else {}), **images, "seed": seed}
    return Stream(name=name, setting=params["setting"], tasks=tasks, n_classes=n_classes,
                  definition=definition, held_out=held_out, online=presented, augment=augmentation, pixels=pixels,
                  pretraining=pretraining)


def image_options(augment, normalize, input_shape, eight_bit: bool = False) -> tuple:
    """A preset's ``augment: {crop: P, flip: true}`` and ``normalize: {mean: [...], std: [...]}``
    (``lifelong.augmentation``), checked: the augmentation, how 8-bit images become floats (with
    ``eight_bit``: ``Pixels``, normalising each batch where the network begins; else None), and the
    fields as the definition keeps them."""
    pixels = Pixels() if eight_bit else None
    if augment is None and normalize is None:
        return None, pixels, {}
    if len(input_shape) != 3:
        raise ConfigError(f"needs images (C, H, W); this stream's inputs have shape {tuple(input_shape)}",
                          field="augment" if augment is not None else "normalize")
    out: dict = {}
    if normalize is not None:
        normalize = check_value("normalize", normalize, dict)
        unknown = sorted(set(normalize) - {"mean", "std"})
        if unknown or set(normalize) != {"mean", "std"}:
            raise ConfigError("expected mean and std, one value per channel", field=f"normalize.{unknown[0]}"
                              if unknown else "normalize", value=normalize)
        for key in ("mean", "std"):
            values = check_value(f"normalize.{key}", normalize[key], list[float])
            if len(values) != input_shape[0] or (key == "std" and min(values) <= 0):
                raise ConfigError(f"expected {input_shape[0]} value(s), one per channel" + (", all positive"
                                  if key == "std" else ""), field=f"normalize.{key}", value=values)
        out["normalize"] = {"mean": list(normalize["mean"]), "std": list(normalize["std"])}
        if eight_bit:
            pixels = Pixels(tuple(normalize["mean"]), tuple(normalize["std"]))
    if augment is None:
        return None, pixels, out
    augment = check_value("augment", augment, dict)
    unknown = sorted(set(augment) - {"crop", "flip"})
    if unknown:
        raise ConfigError("unknown field (known: crop, flip)", field=f"augment.{unknown[0]}")
    crop = check_value("augment.crop", augment.get("crop", 0), NonNegInt)
    flip = check_value("augment.flip", augment.get("flip", False), bool)
    mean, std = (out["normalize"]["mean"], out["normalize"]["std"]) if normalize is not None else (None, None)
    fill = None if mean is None or eight_bit else tuple(-m / s for m, s in zip(mean, std))  # black, normalised
    out["augment"] = {"crop": crop, "flip": flip}
    return Augmentation(crop, flip, fill), pixels, out


def normalized(tasks: list, normalize: dict) -> list:
    """The tasks' images, each channel less its mean and over its std."""
    out = []
    for t in tasks:
        if isinstance(t, LazyTask):
            raise ConfigError("needs a stream held in memory; this one loads its tasks lazily", field="normalize")
        mean = torch.tensor(normalize["mean"], dtype=t.x_train.dtype, device=t.x_train.device).view(-1, 1, 1)
        std = torch.tensor(normalize["std"], dtype=t.x_train.dtype, device=t.x_train.device).view(-1, 1, 1)
        out.append(dataclasses.replace(t, x_train=(t.x_train - mean) / std, x_test=(t.x_test - mean) / std))
    return out


def subset_tests(tasks, n: int, seed: int) -> list[Task]:
    """Each task with at most ``n`` of its test samples, a fixed random subset (in their order) drawn
    from the stream's seed and the task's position: what keeps the score matrix of a stream of hundreds
    of tasks affordable (every row scores every task)."""
    out = []
    for t in tasks:
        if len(t.y_test) > n:
            t = t.with_test_rows(torch.from_numpy(np.sort(np.random.default_rng((seed, t.index)).permutation(
                len(t.y_test))[:n])))
        out.append(t)
    return out


def builder_by_name(name: str):
    """The builder a preset's ``builder`` names: a built-in one, or ``module:function``."""
    if is_import_path(name):
        builder = import_object(name, field="builder")
        if not callable(builder):
            raise ConfigError("not a function", field="builder", value=name)
        if "setting" not in keyword_params(builder):
            raise ConfigError("a builder needs a keyword-only setting parameter (the settings it can produce)",
                              field="builder", value=name)
        return builder
    if name not in BUILDERS:
        raise ConfigError(f"expected one of {', '.join(BUILDERS)}, or a builder of your own as module:function",
                          field="builder", value=name)
    return BUILDERS[name]


def load_scenario(name_or_path: str | Path, seed: int = 0, **overrides) -> Stream:
    """Load a scenario preset by name (``"split-mnist"``) or path, with optional field overrides."""
    path = find_preset("scenarios", name_or_path)
    spec = load_yaml(path)
    return build_stream({**spec, **overrides}, seed=seed, name=path.stem, file=f"{path} (with overrides)" if overrides else path)
