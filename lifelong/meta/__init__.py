"""Functional meta-learning core: inner loops as torch.func functions, vmapped over a batch of tasks;
episode samplers; prototypes."""
from lifelong.meta.core import METHODS, adapt, adapt_tasks, meta_loss, reptile_direction
from lifelong.meta.episodes import classification_episodes, episode_cross_entropy, regression_episodes
from lifelong.meta.tasks import SinusoidFamily

__all__ = ["METHODS", "adapt", "adapt_tasks", "meta_loss", "reptile_direction", "SinusoidFamily", "classification_episodes",
           "episode_cross_entropy", "regression_episodes"]
