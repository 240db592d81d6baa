"""MAML, model-agnostic meta-learning (Finn, Abbeel & Levine 2017, "Model-Agnostic Meta-Learning for
Fast Adaptation of Deep Networks", ICML), meta-trained on the episodes of a stream
(``lifelong.strategies.episodic``: each arriving task's data plus a balanced memory of earlier tasks)."""
from lifelong.meta.core import meta_loss
from lifelong.strategies.episodic import InnerLoopStrategy


class MAML(InnerLoopStrategy):
    """Learn an initialisation θ from which a few SGD steps on a task's support set do well on its query set.

    Inner loop, per episode: θ' = θ − α ∇L_support(θ), ``inner_steps`` times (α = ``inner_lr``).
    Outer step: θ ← Adam(θ, ∇_θ mean over episodes of L_query(θ')), differentiated through the inner
    steps (second order); ``lifelong.meta.core.meta_loss`` vmaps the inner loop over the meta-batch.
    ``predict`` uses θ itself; ``adapt`` is the inner loop on the given support set.
    """

    def outer_loss(self, params, episodes):
        return meta_loss(self.net, params, episodes, self.episode_loss, method="maml", steps=self.inner_steps,
                         lr=self.inner_lr, init=self.task_init())
