"""lifelong: continual learning and meta-learning on task streams.

    import lifelong as ll
    stream = ll.load_scenario("split-mnist", seed=0)
    result = ll.run(ll.load_strategy("replay"), stream, seed=0)
    print(result.metrics["acc"])
"""
from lifelong.version import __version__  # noqa: E402
from lifelong.config import ConfigError  # noqa: E402
from lifelong.evaluation import metrics  # noqa: E402
from lifelong.experiment import RunResult, run  # noqa: E402
from lifelong.experiment.compare import compare, report  # noqa: E402
from lifelong.experiment.results import results  # noqa: E402
from lifelong.scenarios import Stream, Task, load_scenario  # noqa: E402
from lifelong.strategies import load_strategy  # noqa: E402

__all__ = ["load_scenario", "load_strategy", "run", "compare", "report", "results", "RunResult", "Stream", "Task", "metrics", "ConfigError",
           "__version__"]
