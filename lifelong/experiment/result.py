"""RunResult: everything one run produced, as a public JSON format."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lifelong.atomic import atomic_write_text

FORMAT_VERSION = 1


@dataclass
class RunResult:
    """One strategy on one stream with one seed.

    ``accuracy_matrix[i][j]``: accuracy on task j after training on task i (None where the run did not
    measure it: ``matrix_every``);
    ``random_init_accuracy[j]``: accuracy on task j before any training (both hold the test MSE
    when ``metric`` is ``mse``: a regression stream);
    ``metrics``: ``acc``, ``bwt``, ``fwt``, ``forgetting`` (None where not defined) and more;
    ``timings``: seconds, ``train_s`` and ``eval_s`` per task and ``total_s``.
    """

    scenario: str
    strategy: str
    seed: int
    setting: str
    stream_fingerprint: str
    config: dict
    versions: dict
    accuracy_matrix: list[list[float]]
    random_init_accuracy: list[float]
    metrics: dict
    timings: dict
    n_parameters: list[int] = field(default_factory=list)
    device: str = "cpu"
    metric: str = "accuracy"  # what the matrix holds: accuracy, or mse in a regression stream
    status: str = "finished"
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    def flat_metrics(self) -> dict[str, float]:
        """The metrics that are numbers, a nested one named ``outer/inner`` (``fewshot_at_arrival/5``)."""
        return flat_numbers(self.metrics)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON, atomically."""
        atomic_write_text(path, self.to_json() + "\n")
        return Path(path)

    @classmethod
    def from_dict(cls, d: dict) -> "RunResult":
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "RunResult":
        return cls.from_dict(json.loads(Path(path).read_text()))


def flat_numbers(values: dict, prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested mapping, an inner one's named ``outer/inner``."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_numbers(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[name] = float(value)
    return flat
