"""ANIL, almost no inner loop (Raghu, Raghu, Bengio & Vinyals 2020, "Rapid Learning or Feature Reuse?
Towards Understanding the Effectiveness of MAML", ICLR), meta-trained on the episodes of a stream
(``lifelong.strategies.episodic``)."""
from lifelong.meta.core import head_names, meta_loss
from lifelong.strategies.episodic import InnerLoopStrategy


class ANIL(InnerLoopStrategy):
    """MAML whose inner loop adapts the head alone: the body (``net.features``) is a representation
    learned in the outer loop only, reused as is by every task.

    Inner loop: W' = W − α ∇_W L_support(θ, W), ``inner_steps`` times, W the head's parameters; outer:
    (θ, W) ← Adam(∇ mean L_query(θ, W')), second order through the head's steps.
    ``predict`` uses (θ, W); ``adapt`` fine-tunes the head alone on the support set.
    """

    def outer_loss(self, params, episodes):
        return meta_loss(self.net, params, episodes, self.episode_loss, method="anil", steps=self.inner_steps,
                         lr=self.inner_lr, only=head_names(self.net), init=self.task_init())

    def inner_args(self):
        return {"only": head_names(self.net)}
