"""Functional meta-learning core: inner loops as torch.func functions, vmapped over a batch of tasks."""
from lifelong.meta.core import METHODS, adapt, meta_loss, reptile_direction
from lifelong.meta.tasks import SinusoidFamily

__all__ = ["METHODS", "adapt", "meta_loss", "reptile_direction", "SinusoidFamily"]
