"""The library's version, and the versions a result records."""
from __future__ import annotations

import platform

__version__ = "0.1.0"


def versions() -> dict:
    """The versions of lifelong, torch, numpy and Python, as a result records them."""
    import numpy
    import torch

    return {"lifelong": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}
