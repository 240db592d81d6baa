"""Running strategies on streams and keeping what they produce."""
from lifelong.experiment.result import RunResult
from lifelong.experiment.run import run

__all__ = ["run", "RunResult"]
