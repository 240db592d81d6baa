"""GDumb (Prabhu et al. 2020, "GDumb: A Simple Approach that Questions Our Progress in Continual
Learning")."""

from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.memory import GreedyBalancedMemory
from lifelong.strategies.rehearsal import Rehearsal


class GDumb(Rehearsal, SGDStrategy):
    """A greedy class-balanced memory, and a network retrained from scratch on it alone.

    Sampler (``GreedyBalancedMemory``): a sample is stored while the memory has room; once it is
    full, a sample of a class holding fewer than ``buffer_size / (classes seen)`` slots replaces a
    random sample of the largest class. Each task's samples are offered in a random order. Learner: after
    sampling a task, a freshly initialised network (its seed drawn from the run's seed and the
    task's index alone) is trained for ``epochs`` on the memory, shuffled by a generator
    reseeded the same way, so the network depends on nothing but the memory and the seed.
    """

    learns_online = False  # it trains on its memory alone, not the incoming batch

    handles_regression = False

    def new_memory(self):
        return GreedyBalancedMemory(self.buffer_size)

    def training_data(self, task):
        self.remember_task(task)
        seed = self.seed + 7919 * (task.index + 1)
        self.net = self.new_net(seed)
        self.generator.manual_seed(seed)
        m = self.memory.stored()
        return m["x"], m["y"], m["t"] if self.info.setting == "task-incremental" else None
