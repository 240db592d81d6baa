"""Task families for meta-learning, sampled as batched tensors."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SinusoidFamily:
    """Sinusoid regression (Finn et al. 2017, §5.1): y = A sin(x − φ), one (A, φ) per task,
    A ~ U(amplitude), φ ~ U(phase), x ~ U(x_range).

    ``sample`` returns ``(xs, ys, xq, yq)`` of shapes ``(n_tasks, k_support, 1)`` and
    ``(n_tasks, k_query, 1)``, deterministic given the ``torch.Generator``.
    """

    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, math.pi)
    x_range: tuple[float, float] = (-5.0, 5.0)

    def sample(self, n_tasks: int, k_support: int, k_query: int, generator: torch.Generator | None = None, *,
               dtype: torch.dtype = torch.float32, device=None):
        def uniform(shape, bounds):
            lo, hi = bounds
            return lo + (hi - lo) * torch.rand(shape, generator=generator, dtype=dtype, device=device)

        amp = uniform((n_tasks, 1, 1), self.amplitude)
        phase = uniform((n_tasks, 1, 1), self.phase)
        x = uniform((n_tasks, k_support + k_query, 1), self.x_range)
        y = amp * torch.sin(x - phase)
        return x[:, :k_support], y[:, :k_support], x[:, k_support:], y[:, k_support:]
