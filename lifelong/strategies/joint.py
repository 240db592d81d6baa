"""Joint training: the upper bound."""
from lifelong.strategies.cumulative import Cumulative


class Joint(Cumulative):
    """At task k, trains a freshly initialised network on the data of tasks 1..k at once.

    The last row of the accuracy matrix is therefore plain joint training on the
    whole stream, and row k is the model trained jointly on tasks 1..k, the
    reference a*_k of Chaudhry et al.'s intransigence (2018).
    """

    def before_task(self, task):
        super().before_task(task)
        self.net = self.new_net(self.seed + 7919 * (task.index + 1))
