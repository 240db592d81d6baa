"""GSS-greedy, gradient-based sample selection (Aljundi, Lin, Goujaud & Bengio, NeurIPS 2019,
"Gradient based sample selection for online continual learning")."""
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from lifelong.config import PositiveInt
from lifelong.models import evaluating
from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.memory import SlotMemory
from lifelong.strategies.rehearsal import Rehearsal


class GSSGreedy(Rehearsal, SGDStrategy):
    """Replay from a memory kept diverse in gradient space.

    Training is Experience Replay: each incoming batch joined by an equally large batch drawn from the
    memory. The memory is filled greedily (Alg. 2 of the paper; the authors' code): a sample's score is
    the largest cosine similarity of its gradient to the gradients of ``mem_strength`` random memory
    batches of ``gss_batch_size``. While there is room, samples are stored with their scores. Once the
    memory is full, a batch whose own gradient has no positive similarity to those is redundant with
    nothing: each of its samples then challenges a slot drawn with probability rising with the slot's
    score (scores rescaled to [0, 1]), and takes it with probability (s + 1) / ((s + 1) + (c + 1)), s the
    slot's score and c its own. Gradients are of the cross-entropy over all outputs. No task boundary is
    used.
    """

    handles_regression = False
    needs_boundaries = False

    def __init__(self, *, mem_strength: PositiveInt = 10, gss_batch_size: PositiveInt = 10, **kwargs):
        super().__init__(**kwargs)
        self.mem_strength, self.gss_batch_size = mem_strength, gss_batch_size

    def new_memory(self):
        return SlotMemory(self.buffer_size, self.device)

    def training_step(self, x, y, t):
        loss = super().training_step(*self.with_memory(x, y, t))
        self.select(x, y, t)
        return loss

    def select(self, x, y, t) -> None:
        """Offer the incoming batch to the memory by GSS-greedy's rule."""
        if self.buffer_size == 0:
            return
        params = {n: p.detach() for n, p in self.net.named_parameters()}
        with evaluating(self.net):  # per-sample gradients: BatchNorm on its running statistics
            raw = _flat(vmap(grad(self.sample_loss), in_dims=(None, 0, 0))(params, x, y))
            reference = self.memory_gradients(params)
        g = F.normalize(raw, dim=1)
        score = torch.zeros(len(y), device=self.device) if reference is None else (g @ reference.T).max(1).values
        extra = {} if t is None else {"t": t}
        n = self.memory.add(x=x, y=y, score=score, **extra)
        if n == len(y):
            return
        x, y, score, extra, raw = x[n:], y[n:], score[n:], {k: v[n:] for k, v in extra.items()}, raw[n:]
        if (F.normalize(raw.sum(0), dim=0) @ reference.T).max() >= 0:
            return  # the batch's gradient points the way of some memory batch: nothing new to keep
        s = self.memory.data["score"]
        weight = (s - s.min()) / (s.max() - s.min() + 0.01)
        slots = torch.multinomial(weight + 1e-12, len(y), replacement=False, generator=self.generator)
        p = (s[slots] + 1) / ((s[slots] + 1) + (score + 1))
        win = torch.rand(len(y), generator=self.generator, device=self.device) < p
        self.memory.replace(slots[win], x=x[win], y=y[win], score=score[win], **{k: v[win] for k, v in extra.items()})

    def memory_gradients(self, params):
        """Unit gradients of ``mem_strength`` random memory batches, (mem_strength, P); None while empty."""
        if not len(self.memory):
            return None
        m = self.memory.sample(self.mem_strength * self.gss_batch_size, self.generator)
        xs = m["x"].view(self.mem_strength, self.gss_batch_size, *m["x"].shape[1:])
        ys = m["y"].view(self.mem_strength, self.gss_batch_size)
        return F.normalize(_flat(vmap(grad(self.batch_loss), in_dims=(None, 0, 0))(params, xs, ys)), dim=1)

    def batch_loss(self, params, x, y):
        return F.cross_entropy(functional_call(self.net, params, (x,)), y)

    def sample_loss(self, params, x, y):
        return self.batch_loss(params, x[None], y[None])


def _flat(grads: dict) -> torch.Tensor:
    """Batched gradients (a dict of (B, *shape) tensors) as one (B, P) matrix."""
    return torch.cat([g.flatten(1) for g in grads.values()], dim=1)
