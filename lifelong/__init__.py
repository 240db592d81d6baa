"""lifelong: continual learning and meta-learning on task streams.

    import lifelong as ll
    stream = ll.load_scenario("split-mnist", seed=0)
    result = ll.run(ll.load_strategy("replay"), stream, seed=0)
    print(result.metrics["acc"])
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from lifelong.version import __version__

# Each name is imported from its module on first use (PEP 562), so that a process that needs one small
# part of the library does not import all of it, torch included: the Ray executor's store owner
# (``lifelong.experiment.store_owner``) imports the result store alone.
_HOMES = {"load_scenario": "lifelong.scenarios", "Stream": "lifelong.scenarios", "Task": "lifelong.scenarios",
          "load_strategy": "lifelong.strategies", "run": "lifelong.experiment.run",
          "RunResult": "lifelong.experiment.result", "compare": "lifelong.experiment.compare",
          "report": "lifelong.experiment.compare", "results": "lifelong.experiment.results",
          "metrics": "lifelong.evaluation", "ConfigError": "lifelong.config"}

__all__ = [*_HOMES, "__version__"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'lifelong' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from lifelong.config import ConfigError
    from lifelong.evaluation import metrics
    from lifelong.experiment.compare import compare, report
    from lifelong.experiment.result import RunResult
    from lifelong.experiment.results import results
    from lifelong.experiment.run import run
    from lifelong.scenarios import Stream, Task, load_scenario
    from lifelong.strategies import load_strategy
