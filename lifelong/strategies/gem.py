"""Gradient Episodic Memory, GEM (Lopez-Paz & Ranzato 2017, "Gradient Episodic Memory for
Continual Learning", NeurIPS)."""
import numpy as np
import quadprog
import torch

from lifelong.config import NonNegFloat, PositiveInt
from lifelong.strategies.agem import flat_grad, with_gradient
from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.rehearsal import Rehearsal


class GEM(Rehearsal, SGDStrategy):
    """Never let an update increase the loss on any past task's memory: with g the mini-batch
    gradient and G the matrix whose row k is the gradient of the loss on task k's memory, if
    some ⟨g, g_k⟩ < 0 the step follows the closest g̃ to g with G g̃ ≥ 0. It is found from
    the paper's dual QP, one variable per past task: v* = argmin_v ½ vᵀ G Gᵀ v + (G g)ᵀ v
    subject to v ≥ γ, and g̃ = Gᵀ v* + g, solved by quadprog (Goldfarb-Idnani) as in the
    authors' code. The margin γ (``memory_strength``) bounds the dual variables from below,
    as the authors' code does: it biases the step towards backward transfer, and γ = 0 gives
    the exact projection.

    Each task keeps ``buffer_size // n_tasks`` of its training samples, drawn at random when it
    ends (the authors' code keeps the last ones seen). As in A-GEM, ``training_step`` returns
    the mini-batch loss rewired to have the gradient g̃, so the SGD loop is unchanged.

    A step costs one memory gradient per past task, so GEM's per-task cost grows with the task
    index by design (on a 100-task stream its last task's steps take 99 backward passes each).
    ``max_constraints: K`` bounds it: only the K most recent past tasks constrain a step (None, the
    default: all of them, the paper's method).
    """

    def __init__(self, *, memory_strength: NonNegFloat = 0.5, max_constraints: PositiveInt | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.memory_strength, self.max_constraints = memory_strength, max_constraints

    def new_memory(self) -> list[dict[str, torch.Tensor]]:
        return []  # one per finished task: x, y, t

    def training_step(self, x, y, t):
        loss = super().training_step(x, y, t)
        if not self.memory:
            return loss
        params = list(self.net.parameters())
        g = flat_grad(loss, params)
        rows = []  # g_k, the gradient on task k's memory
        for m in self.memory[-self.max_constraints:] if self.max_constraints else self.memory:
            rows.append(flat_grad(super().training_step(m["x"], m["y"], m["t"] if t is not None else None), params))
        G = torch.stack(rows)
        if bool((G @ g < 0).any()):
            g = self.project(g, G)
        return with_gradient(loss, params, g)

    def project(self, g: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
        """g̃ = Gᵀ v* + g, v* solving the dual QP (computed in float64; a ridge of 1e-10 times the
        Gram matrix's trace makes it strictly convex, as quadprog needs)."""
        G64, g64 = G.double(), g.double()
        gram = (G64 @ G64.T).cpu().numpy()
        k = len(gram)
        ridge = 1e-10 * np.trace(gram) + 1e-30
        v = quadprog.solve_qp(gram + ridge * np.eye(k), -(G64 @ g64).cpu().numpy(), np.eye(k),
                              np.full(k, self.memory_strength))[0]
        return (torch.from_numpy(v).to(G64) @ G64 + g64).to(g.dtype)

    def after_task(self, task):
        n = min(self.buffer_size // self.info.n_tasks, task.n_train)
        if n == 0:
            return
        keep = torch.randperm(task.n_train, generator=self.generator, device=self.device)[:n]
        t = torch.full((n,), task.task_label, dtype=torch.long, device=self.device)
        self.memory.append({"x": task.x_train[keep], "y": task.y_train[keep], "t": t})
