"""Task streams: types, data sources, builders, and the preset loader.

A scenario preset (``scenarios/*.yaml``) names a data ``source``, a ``builder``
and the builder's fields; ``load_scenario`` turns it into a ``Stream``. Builders
that generate their own tasks (``sinusoids``) need no source.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from lifelong.config import Choice, ConfigError, check_params, defaults, find_preset, load_yaml, pop_field
from lifelong.scenarios.avalanche import from_avalanche
from lifelong.scenarios.builders import BUILDERS, Built
from lifelong.scenarios.sources import SOURCES, Dataset, from_arrays, from_file
from lifelong.scenarios.stream import SETTINGS, LazyTask, Stream, StreamInfo, Task, TaskInfo, TensorCache

__all__ = ["Task", "LazyTask", "TensorCache", "TaskInfo", "Stream", "StreamInfo", "Dataset", "SETTINGS",
           "load_scenario", "build_stream", "from_arrays", "from_file", "from_avalanche", "SOURCES", "BUILDERS", "Built"]


def build_stream(spec: dict, *, seed: int = 0, name: str = "stream", file: str | Path | None = None,
                 data: Dataset | None = None) -> Stream:
    """Build a Stream from a scenario spec (the fields of a preset).

    ``source`` is a built-in pool name or the path of an ``.npz`` file (relative
    to the preset's folder); pass ``data`` to use a pool you built in Python.
    Builders that generate their own data (``sinusoids``) take no source.
    """
    spec = dict(spec)
    try:
        spec.pop("description", None)
        builder_name = pop_field(spec, "builder", Annotated[str, Choice(*BUILDERS)])
        builder = BUILDERS[builder_name]
        if getattr(builder, "generates_data", False):
            if "source" in spec or data is not None:
                raise ConfigError(f"the {builder_name} builder generates its own data and takes no source",
                                  field="source", value=spec.get("source", data.name if data is not None else None))
            source = None
        elif data is None:
            source = pop_field(spec, "source", str)
            if source in SOURCES:
                data = SOURCES[source]()
            elif source.endswith(".npz"):
                path = Path(source) if file is None or Path(source).is_absolute() else Path(file).parent / source
                data = from_file(path)
            else:
                raise ConfigError(f"unknown source (known: {', '.join(SOURCES)}, or a path to an .npz file)",
                                  field="source", value=source)
        else:
            source = spec.pop("source", data.name)
        if "seed" in spec:
            raise ConfigError("the seed is chosen per run (load_scenario(..., seed=N), --seed), not in the preset",
                              field="seed", value=spec["seed"])
        params = {**defaults(builder), **check_params(builder, spec)}
        built = builder(data, seed, **params)
    except ConfigError as e:
        raise (e.in_file(file) if file else e) from None
    if not isinstance(built, Built):
        built = Built(built)
    n_classes = built.n_classes if built.n_classes is not None else data.n_classes
    # options left off (None) stay out of the definition: existing streams keep their fingerprints
    definition = {**({"source": source} if source is not None else {}), "builder": builder_name,
                  **{k: v for k, v in params.items() if v is not None}, "seed": seed}
    return Stream(name=name, setting=params["setting"], tasks=built.tasks, n_classes=n_classes,
                  definition=definition, held_out=built.held_out)


def load_scenario(name_or_path: str | Path, seed: int = 0, **overrides) -> Stream:
    """Load a scenario preset by name (``"split-mnist"``) or path, with optional field overrides."""
    path = find_preset("scenarios", name_or_path)
    spec = load_yaml(path)
    return build_stream({**spec, **overrides}, seed=seed, name=path.stem, file=f"{path} (with overrides)" if overrides else path)
