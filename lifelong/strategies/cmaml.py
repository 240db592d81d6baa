"""Continual-MAML (Caccia et al. 2020, "Online Fast Adaptation and Knowledge Accumulation (OSAKA): a New
Approach to Continual Learning", NeurIPS, §4 and its Algorithm 2 with the prolonged adaptation phase):
slow weights meta-learned before and during the stream, fast weights adapted on the stream."""
import math

import torch
from torch.func import functional_call

from lifelong.config import NonNegFloat, PositiveFloat, PositiveInt
from lifelong.meta import core
from lifelong.models import evaluating
from lifelong.strategies.maml import MAML


class CMAML(MAML):
    """MAML pretraining of the slow weights φ (``pretrain``), then on the stream, for each incoming batch:

    1. its loss L under the fast weights θ (it was just predicted with them);
    2. a task switch is detected when L exceeds the previous batch's loss by more than ``shift_threshold``:
       φ is then meta-updated on the batches buffered since the last update and θ is reset to φ; φ is also
       meta-updated, without a reset, when ``buffer_batches`` batches are buffered;
    3. the batch joins the buffer, and θ takes ``inner_steps`` SGD steps on it (first order), from where it was.

    The meta-update is MAML's outer step on episodes that pair each buffered batch of the first half,
    as support, with one of the second half, as query (a single batch is both), its loss L_meta weighted
    by 1 − exp(−``lam`` · L_meta): a small loss barely moves φ (knowledge kept), a large one does (the
    paper's g_λ). Predictions use θ. Switches are counted in ``shifts``.
    """

    state_attrs = MAML.state_attrs + ("fast", "buffer", "last_loss", "shifts")

    def __init__(self, *, shift_threshold: NonNegFloat = 1.0, lam: PositiveFloat = 1.0,
                 buffer_batches: PositiveInt = 10, **kwargs):
        super().__init__(**kwargs)
        self.shift_threshold, self.lam, self.buffer_batches = shift_threshold, lam, buffer_batches

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.fast, self.buffer, self.last_loss, self.shifts = None, [], None, 0

    def learn_batch(self, x, y, t=None):
        self.see_labels(y)
        fast = self.fast if self.fast is not None else self.slow()
        with evaluating(self.net), torch.no_grad():
            loss = self.episode_loss(functional_call(self.net, fast, (x,)), y)
        shifted = self.last_loss is not None and loss.item() - self.last_loss > self.shift_threshold
        if (shifted or len(self.buffer) >= self.buffer_batches) and self.buffer:
            self.online_optimizer(self.meta_parameters())
            self.meta_step(self.buffered_episodes())
            self.buffer = []
        if shifted:
            self.shifts += 1
            fast = self.slow()
        if len(y) == self.info.online.batch_size:  # episodes are stacked: a short last batch stays out
            self.buffer.append((x, y))
        self.fast = core.adapt(self.net, fast, x, y, self.episode_loss, steps=self.inner_steps, lr=self.inner_lr,
                               first_order=True)  # from detached weights, first order: no graph is kept
        self.last_loss = loss.item()
        return loss

    def slow(self) -> dict:
        return {n: p.detach() for n, p in self.net.named_parameters()}

    def buffered_episodes(self):
        """Support/query pairs from the buffer: batch i of the first half with batch i of the second."""
        half = math.ceil(len(self.buffer) / 2)
        pairs = list(zip(self.buffer[:half], self.buffer[half:])) or [(self.buffer[0], self.buffer[0])]
        return tuple(torch.stack([p[i][j] for p in pairs]) for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))

    def outer_loss(self, params, episodes):
        loss = super().outer_loss(params, episodes)
        return loss if self.fast is None else (1 - torch.exp(-self.lam * loss.detach())) * loss

    def own_predict(self, x, info):
        if self.fast is None:
            return super().own_predict(x, info)
        with evaluating(self.net):
            return self.decide(functional_call(self.net, self.fast, (x,)), info)
