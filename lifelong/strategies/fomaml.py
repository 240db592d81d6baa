"""First-order MAML (Finn, Abbeel & Levine 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of
Deep Networks", ICML, §5.2), meta-trained on the episodes of a stream (``lifelong.strategies.episodic``)."""
from lifelong.meta.core import meta_loss
from lifelong.strategies.episodic import InnerLoopStrategy


class FOMAML(InnerLoopStrategy):
    """MAML without second derivatives: the inner gradients are treated as constants, so the
    meta-gradient is the query-set gradient at the adapted parameters θ', applied to θ.

    Inner loop: θ' = θ − α ∇L_support(θ), ``inner_steps`` times; outer: θ ← Adam(θ, mean ∇_θ' L_query(θ')).
    ``predict`` uses θ; ``adapt`` is the inner loop on the given support set.
    """

    def outer_loss(self, params, episodes):
        return meta_loss(self.net, params, episodes, self.episode_loss, method="fomaml", steps=self.inner_steps,
                         lr=self.inner_lr, init=self.task_init())
