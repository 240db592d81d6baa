"""Functional meta-learning core: losses written for one task and vmapped over a batch of tasks, inner
loops differentiating their sum; episode samplers; prototypes."""
from lifelong.meta.core import METHODS, adapt, adapt_tasks, learned_rates, meta_loss, reptile_direction
from lifelong.meta.episodes import classification_episodes, episode_cross_entropy, regression_episodes
from lifelong.meta.tasks import SinusoidFamily

__all__ = ["METHODS", "adapt", "adapt_tasks", "learned_rates", "meta_loss", "reptile_direction", "SinusoidFamily",
           "classification_episodes", "episode_cross_entropy", "regression_episodes"]
