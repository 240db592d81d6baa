"""Naive fine-tuning: plain SGD on each task in turn, nothing against forgetting (the lower bound)."""
from lifelong.strategies.base import SGDStrategy


class Naive(SGDStrategy):
    """Fine-tunes the same network on every new task; it forgets by design. It needs no task boundary:
    in a task-free stream it learns the incoming batches, one SGD step each."""

    needs_boundaries = False
