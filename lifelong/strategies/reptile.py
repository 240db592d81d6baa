"""Reptile (Nichol, Achiam & Schulman 2018, "On First-Order Meta-Learning Algorithms"), meta-trained on
the episodes of a stream (``lifelong.strategies.episodic``)."""
from lifelong.meta.core import reptile_direction
from lifelong.strategies.episodic import InnerLoopStrategy


class Reptile(InnerLoopStrategy):
    """Move the initialisation towards the weights SGD reaches on each task.

    Per episode: θ̃ = ``inner_steps`` SGD steps at ``inner_lr`` from θ on the episode's support and
    query sets together; the outer step treats θ − mean(θ̃) as a gradient and hands it to the outer
    optimizer (§3 of the paper: Adam by default; with ``optimizer: sgd`` it is θ ← θ + ε (θ̃ − θ),
    ε = ``lr``). ``predict`` uses θ; ``adapt`` is the inner loop on the given support set.
    """

    def outer_step(self, episodes):
        params = dict(self.net.named_parameters())
        direction = reptile_direction(self.net, params, episodes, self.episode_loss, steps=self.inner_steps,
                                      lr=self.inner_lr)
        self.opt.zero_grad(set_to_none=True)
        for n, p in params.items():
            p.grad = -direction[n]
        self.opt.step()
        return sum(d.square().sum() for d in direction.values())  # its size: non-finite if training diverged
