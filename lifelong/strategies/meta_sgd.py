"""Meta-SGD (Li, Zhou, Chen & Li 2017, "Meta-SGD: Learning to Learn Quickly for Few-Shot Learning"),
meta-trained on the episodes of a stream (``lifelong.strategies.episodic``)."""

from lifelong.meta.core import learned_rates, meta_loss
from lifelong.strategies.episodic import InnerLoopStrategy


class MetaSGD(InnerLoopStrategy):
    """MAML with a learned learning rate for every parameter entry: the inner step is
    θ' = θ − α ⊙ ∇L_support(θ), and the outer step learns θ and α together (Adam on the query loss,
    second order). α starts at ``inner_lr`` everywhere; it is meta-learned state (saved with the
    network). ``adapt`` takes ``adapt_steps`` (default ``inner_steps``) steps at the learned rates, or
    at the one rate ``adapt_lr`` when it is set.
    """

    state_attrs = InnerLoopStrategy.state_attrs + ("alpha",)

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.alpha = learned_rates(dict(self.net.named_parameters()), self.inner_lr)

    def meta_parameters(self):
        return [*self.net.parameters(), *self.alpha.values()]

    def outer_loss(self, params, episodes):
        return meta_loss(self.net, params, episodes, self.episode_loss, method="metasgd", steps=self.inner_steps,
                         per_param_lr=self.alpha, init=self.task_init())

    def inner_args(self):
        if self.adapt_lr is not None:
            return {}
        return {"per_param_lr": {n: a.detach() for n, a in self.alpha.items()}}
