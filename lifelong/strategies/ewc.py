"""Elastic Weight Consolidation (Kirkpatrick et al. 2017) and online EWC (Schwarz et al. 2018,
"Progress & Compress")."""
from typing import Annotated

import torch
from torch.func import functional_call, grad, vmap

from lifelong.config import Choice, Fraction, NonNegFloat, PositiveInt
from lifelong.models import evaluating
from lifelong.strategies.base import SGDStrategy


class EWC(SGDStrategy):
    """Penalise moving the weights that mattered for earlier tasks:
    loss + (λ/2) Σ_k Σ_i F_k,i (θ_i − θ*_k,i)², with F_k the diagonal (empirical) Fisher
    information of task k, computed from per-sample gradients at the end of the task.

    ``mode: separate`` (the original) keeps every task's quadratic. Their sum is one quadratic,
    A (θ − θ̄)² + const with A = Σ_k F_k and θ̄ = Σ_k F_k θ*_k / A, so a single (A, θ̄) pair is
    stored and the penalty costs the same whatever the number of tasks (its gradient is exact;
    its value omits the constant). ``mode: online`` (Schwarz et al.) decays the old
    importance instead, A ← γ A + F_new, and anchors at the latest weights, θ̄ ← θ*_new.
    """

    state_attrs = SGDStrategy.state_attrs + ("importance", "anchor")

    def __init__(self, *, ewc_lambda: NonNegFloat = 100.0, mode: Annotated[str, Choice("separate", "online")] = "separate",
                 decay: Fraction = 1.0, fisher_samples: PositiveInt = 1000, **kwargs):
        super().__init__(**kwargs)
        self.ewc_lambda, self.mode, self.decay, self.fisher_samples = ewc_lambda, mode, decay, fisher_samples

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.importance: dict[str, torch.Tensor] = {}  # A, per parameter; empty before the first task ends
        self.anchor: dict[str, torch.Tensor] = {}  # θ̄

    def training_step(self, x, y, t):
        loss = super().training_step(x, y, t)
        if self.importance:
            penalty = sum((self.importance[n] * (p - self.anchor[n]) ** 2).sum() for n, p in self.net.named_parameters())
            loss = loss + 0.5 * self.ewc_lambda * penalty
        return loss

    def after_task(self, task):
        fisher = self.fisher(task)
        for n, p in self.net.named_parameters():
            theta, f = p.detach().clone(), fisher[n]
            if n not in self.importance:
                self.importance[n], self.anchor[n] = f, theta
            elif self.mode == "online":
                self.importance[n], self.anchor[n] = self.decay * self.importance[n] + f, theta
            else:
                total = self.importance[n] + f
                mean = (self.importance[n] * self.anchor[n] + f * theta) / total
                self.importance[n], self.anchor[n] = total, torch.where(total > 0, mean, theta)

    def fisher(self, task) -> dict:
        """Mean squared per-sample gradient of the log-likelihood of the true label (empirical Fisher), of
        the network in eval mode: BatchNorm on its running statistics (one sample has no batch
        statistics), no dropout."""
        n = min(task.n_train, self.fisher_samples)
        idx = torch.randperm(task.n_train, generator=self.generator, device=self.device)[:n]
        x, y = task.x_train[idx], task.y_train[idx]
        mask = self.task_masks[task.task_label] if self.info.setting == "task-incremental" else None
        params = {k: v.detach() for k, v in self.net.named_parameters()}

        def nll(p, xi, yi):
            out = functional_call(self.net, p, (xi[None],))
            if mask is not None:
                out = out.masked_fill(~mask, float("-inf"))
            return self.loss(out, yi[None])

        fisher = {k: torch.zeros_like(v) for k, v in params.items()}
        per_sample = vmap(grad(nll), in_dims=(None, 0, 0))
        with evaluating(self.net):
            for start in range(0, n, 256):
                s = slice(start, start + 256)
                g = per_sample(params, x[s], y[s])
                for k in fisher:
                    fisher[k] += (g[k] ** 2).sum(0)
        return {k: f / n for k, f in fisher.items()}
