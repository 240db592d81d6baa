"""Averaged Gradient Episodic Memory, A-GEM (Chaudhry, Ranzato, Rohrbach & Elhoseiny 2019,
"Efficient Lifelong Learning with A-GEM", ICLR)."""
import torch

from lifelong.config import PositiveInt
from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.rehearsal import Rehearsal


class AGEM(Rehearsal, SGDStrategy):
    """Never let an update increase the loss on a batch drawn from the memory of past tasks:
    with g the mini-batch gradient and g_ref the gradient of the loss on a memory batch,
    the step follows g̃ = g − (g·g_ref / g_ref·g_ref) g_ref when g·g_ref < 0, else g.

    The memory is a reservoir over the samples of the tasks already finished (it is filled
    at the end of each task), so it holds past tasks only. ``training_step`` computes both
    gradients at the current weights and returns the mini-batch loss rewired to have the
    gradient g̃: the SGD loop's ``loss.backward()`` then leaves g̃ in ``p.grad`` for the
    optimizer, and the loop itself is unchanged.
    """

    def __init__(self, *, memory_batch_size: PositiveInt = 256, **kwargs):
        super().__init__(**kwargs)
        self.memory_batch_size = memory_batch_size

    def training_step(self, x, y, t):
        loss = super().training_step(x, y, t)
        if not len(self.memory):
            return loss
        params = list(self.net.parameters())
        g = flat_grad(loss, params)
        m = self.memory.sample(self.memory_batch_size, self.generator)
        g_ref = flat_grad(super().training_step(m["x"], m["y"], m["t"] if t is not None else None), params)
        return with_gradient(loss, params, self.project(g, g_ref))

    @staticmethod
    def project(g: torch.Tensor, g_ref: torch.Tensor) -> torch.Tensor:
        dot = g @ g_ref
        return torch.where(dot < 0, g - dot / (g_ref @ g_ref) * g_ref, g)

    def after_task(self, task):
        self.remember_task(task)


def flat_grad(loss: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """The gradient of ``loss`` with respect to ``params``, as one flat vector."""
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(params, grads)])


def with_gradient(loss: torch.Tensor, params: list[torch.Tensor], grad: torch.Tensor) -> torch.Tensor:
    """A tensor with the value of ``loss`` whose gradient with respect to ``params`` is the flat ``grad``."""
    linear = torch.cat([p.flatten() for p in params]) @ grad.detach()
    return loss.detach() + linear - linear.detach()
