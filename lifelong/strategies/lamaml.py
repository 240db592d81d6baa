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
from torch.func import grad, grad_and_value

from lifelong.config import PositiveFloat, PositiveInt
from lifelong.strategies.rehearsal import OnlineRehearsal


class LaMAML(OnlineRehearsal):
    """Look-ahead MAML with learnable, per-parameter learning rates, online.

    The network trains with α alone (few-shot ``adapt`` takes plain SGD steps at ``adapt_lr``).
    Classification only: the paper evaluates no regression, and on
    sine-stream the learned rates (α_init 0.1) diverge on the first task's MSE.
    """

    handles_regression = False

    state_attrs = OnlineRehearsal.state_attrs + ("alpha",)

    def __init__(self, *, inner_steps: PositiveInt = 5, alpha_init: PositiveFloat = 0.1, alpha_lr: PositiveFloat = 0.1,
                 second_order: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.inner_steps, self.second_order = inner_steps, second_order
        self.alpha_init, self.alpha_lr = alpha_init, alpha_lr

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.alpha = {n: torch.full_like(p.detach(), self.alpha_init) for n, p in self.net.named_parameters()}

    def observe(self, x, y, t) -> torch.Tensor:
        """One La-MAML update for an incoming batch; returns its meta-loss."""
        meta_batch = self.with_memory(x, y, t)  # the incoming samples and as many remembered ones
        theta = {n: p.detach() for n, p in self.net.named_parameters()}
        (g_theta, g_alpha), loss = grad_and_value(self.meta_loss, argnums=(0, 1))(
            theta, self.alpha, (x, y, t), meta_batch)
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
