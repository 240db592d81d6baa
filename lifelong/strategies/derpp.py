"""DER++ (Buzzega et al. 2020, "Dark Experience for General Continual Learning: a Strong, Simple
Baseline"): Dark Experience Replay with a cross-entropy term on the stored labels as well."""

from lifelong.config import NonNegFloat
from lifelong.strategies.der import DER


class DERPP(DER):
    """DER's loss + β · CE(f(x''), y'') on a second, independently drawn memory batch.

    The labels correct logits stored before the network had learned their task.
    """

    def __init__(self, *, alpha: NonNegFloat = 1.0, beta: NonNegFloat = 1.0, **kwargs):
        super().__init__(alpha=alpha, **kwargs)
        self.beta = beta

    def replay_loss(self, n):
        dark = super().replay_loss(n)  # α · MSE on the first memory batch
        m = self.memory.sample(n, self.generator)
        return dark + self.beta * self.loss(self.masked(self.net(m["x"]), m.get("t")), m["y"])
