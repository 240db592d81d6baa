"""RunResult: everything one run produced, as a public JSON format."""
from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def versions() -> dict:
    import numpy
    import torch

    from lifelong import __version__

    return {"lifelong": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


@dataclass
class RunResult:
    """One strategy on one stream with one seed.

    ``accuracy_matrix[i][j]``: accuracy on task j after training on task i;
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
