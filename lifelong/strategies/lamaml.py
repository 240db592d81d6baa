"""La-MAML (Gupta, Yadav & Paull 2020, "La-MAML: Look-ahead Meta Learning for Continual Learning",
NeurIPS), the paper's Algorithm 1.

For each incoming batch b, sampled with as many memory samples m beforehand:
    θ_0 = θ,  θ_{n+1} = θ_n − α ⊙ ∇ℓ(θ_n, b_n)   for the k chunks b_n of b     (inner loop, from θ)
    α ← α − η ∇_α L(θ_k, b ∪ m)                                                (learning rates first)
    θ ← θ − max(0, α) ⊙ ∇_θ L(θ_k, b ∪ m)                                      (then the weights)
with α one learning rate per parameter entry, initialised to ``alpha_init``, η = ``alpha_lr``. A
weight whose rate is ≤ 0 does not move; the incoming samples are then offered to a reservoir memory
of ``buffer_size`` samples (in the first epoch only, so that no sample is offered twice).

Choices and simplifications: the paper takes one inner step per sample (k = batch size); here the
batch is split into ``inner_steps`` chunks. First-order by default (``second_order: false``, for
speed): the inner gradients are treated as constants, so ∇_θ L is the gradient at θ_k and
∇_α L = −Σ_n ∇ℓ(θ_n, b_n) ⊙ ∇L(θ_k) — α still learns, growing where the inner and meta gradients
agree; ``second_order: true`` differentiates through the inner loop, as the paper does. The meta-loss
is taken at θ_k only, as in the paper's algorithm (the authors' code averages it over the inner
steps and clips gradients; neither is done here). Everything is functional (``torch.func``): θ and
α are dicts of tensors, θ is written back to the network once per incoming batch.

Behaviour to expect (the paper evaluates task- and domain-incremental streams only): on a
class-incremental stream θ under-predicts the classes of the task being learned. The meta-loss is
taken after inner steps on current-task data alone, which always raise those classes' logits, so
its optimum leaves that rise to the look-ahead; predictions use θ. A task is caught up once it has
left the incoming stream for the memory, so the last task of a stream scores low. With
``alpha_init: 0.1`` θ and θ_k settled on either side of a minimum (MLP on split-digits) or training
diverged (CNN on split-mnist): the presets use 0.01.
"""
import torch
from torch.func import functional_call, grad, grad_and_value

from lifelong.config import NonNegInt, PositiveFloat, PositiveInt
from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.memory import ReservoirBuffer


class LaMAML(SGDStrategy):
    """Look-ahead MAML with learnable, per-parameter learning rates, online.

    The network trains with α alone: ``lr`` and ``optimizer`` serve only ``adapt``, the few-shot
    fine-tuning of the base class. Classification only: the paper evaluates no regression, and on
    sine-stream the learned rates (α_init 0.1) diverge on the first task's MSE.
    """

    handles_regression = False

    state_attrs = SGDStrategy.state_attrs + ("memory", "alpha")

    def __init__(self, *, buffer_size: NonNegInt = 200, inner_steps: PositiveInt = 5, alpha_init: PositiveFloat = 0.1,
                 alpha_lr: PositiveFloat = 0.1, second_order: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.buffer_size, self.inner_steps, self.second_order = buffer_size, inner_steps, second_order
        self.alpha_init, self.alpha_lr = alpha_init, alpha_lr

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.memory = ReservoirBuffer(self.buffer_size, self.device)
        self.alpha = {n: torch.full_like(p.detach(), self.alpha_init) for n, p in self.net.named_parameters()}

    def update(self, x, y, t, epoch):
        loss = self.observe(x, y, t)
        if epoch == 0:  # offer each incoming sample to the memory once, after learning from it
            self.memory.add(self.generator, x=x, y=y, t=torch.full_like(y, self.task_label))
        return loss

    def observe(self, x, y, t) -> torch.Tensor:
        """One La-MAML update for an incoming batch; returns its meta-loss."""
        xm, ym, tm = x, y, t  # the meta-batch: the incoming samples and as many remembered ones
        if len(self.memory):
            m = self.memory.sample(len(y), self.generator)
            xm, ym = torch.cat([x, m["x"]]), torch.cat([y, m["y"]])
            tm = None if t is None else torch.cat([t, m["t"]])
        theta = {n: p.detach() for n, p in self.net.named_parameters()}
        (g_theta, g_alpha), loss = grad_and_value(self.meta_loss, argnums=(0, 1))(
            theta, self.alpha, (x, y, t), (xm, ym, tm))
        self.alpha = {n: a - self.alpha_lr * g_alpha[n] for n, a in self.alpha.items()}
        with torch.no_grad():
            for n, p in self.net.named_parameters():
                p.sub_(self.alpha[n].clamp(min=0) * g_theta[n])
        return loss

    def meta_loss(self, theta, alpha, incoming, meta_batch):
        """L(θ_k): the loss on the meta-batch after the inner loop on the incoming batch's chunks."""
        fast = theta
        for xc, yc, tc in self.chunks(*incoming):
            g = grad(self.functional_loss)(fast, xc, yc, tc)
            if not self.second_order:
                g = {n: v.detach() for n, v in g.items()}
            fast = {n: fast[n] - alpha[n] * g[n] for n in fast}
        return self.functional_loss(fast, *meta_batch)

    def chunks(self, x, y, t):
        """The incoming batch in ``inner_steps`` consecutive, non-empty pieces (fewer if it is smaller)."""
        parts = [torch.tensor_split(v, self.inner_steps) if v is not None else [None] * self.inner_steps
                 for v in (x, y, t)]
        return [(xc, yc, tc) for xc, yc, tc in zip(*parts) if len(yc)]

    def functional_loss(self, params, x, y, t):
        return self.loss(self.masked(functional_call(self.net, params, (x,)), t), y)
