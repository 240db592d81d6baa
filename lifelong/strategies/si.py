"""Synaptic Intelligence (Zenke, Poole & Ganguli 2017, "Continual Learning Through Synaptic Intelligence")."""
import torch

from lifelong.config import NonNegFloat, PositiveFloat
from lifelong.strategies.base import SGDStrategy


class SI(SGDStrategy):
    """Penalise moving the weights whose motion lowered the loss of earlier tasks:
    loss + c Σ_i Ω_i (θ_i − θ*_i)², θ* the weights at the end of the previous task.

    During a task, each parameter's contribution to the drop in loss is integrated along the
    training path: ω_i += −g_i Δθ_i at every update, g the gradient of the task loss alone.
    At the end of the task, Ω_i += ω_i / (Δ_i² + ξ), with Δ_i the parameter's total move
    over the task; Ω is clipped at zero, as in the authors' code, so the penalty never rewards
    moving. The loop leaves each update's gradient in ``p.grad`` until the next step, so
    ``training_step`` first adds the last update's contribution, and ``after_task`` the final
    one; the penalty's share of that gradient, 2cΩ(θ − θ*), is subtracted exactly.
    """

    state_attrs = SGDStrategy.state_attrs + ("importance", "anchor")

    def __init__(self, *, si_c: NonNegFloat = 1.0, xi: PositiveFloat = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.si_c, self.xi = si_c, xi

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.importance: dict[str, torch.Tensor] = {}  # Ω; empty before the first task ends
        self.anchor: dict[str, torch.Tensor] = {}  # θ*
        self.omega: dict[str, torch.Tensor] = {}  # ω, the current task's path integral
        self.start: dict[str, torch.Tensor] = {}  # the weights when the current task began
        self.before_step: dict[str, torch.Tensor] | None = None  # the weights before the last update

    def before_task(self, task):
        super().before_task(task)
        self.start = self.current_weights()
        self.omega = {n: torch.zeros_like(p) for n, p in self.start.items()}
        self.before_step = None

    def training_step(self, x, y, t):
        self.integrate_last_step()
        self.before_step = self.current_weights()
        loss = super().training_step(x, y, t)
        if self.importance:
            loss = loss + self.si_c * self.penalty()
        return loss

    def penalty(self) -> torch.Tensor:
        return sum((self.importance[n] * (p - self.anchor[n]) ** 2).sum() for n, p in self.net.named_parameters())

    @torch.no_grad()
    def integrate_last_step(self) -> None:
        """ω += −g Δθ for the update the optimizer made since the last ``training_step``."""
        if self.before_step is None:
            return
        for n, p in self.net.named_parameters():
            if p.grad is None:
                continue
            before, g = self.before_step[n], p.grad
            if self.importance:  # the gradient of the task loss alone
                g = g - 2 * self.si_c * self.importance[n] * (before - self.anchor[n])
            self.omega[n] -= g * (p - before)
        self.before_step = None

    def after_task(self, task):
        self.integrate_last_step()
        for n, p in self.current_weights().items():
            delta = p - self.start[n]
            new = self.omega[n] / (delta ** 2 + self.xi)
            self.importance[n] = (self.importance[n] + new if n in self.importance else new).clamp(min=0)
            self.anchor[n] = p

    def current_weights(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.net.named_parameters()}
