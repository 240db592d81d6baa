"""Evaluation: metrics (pure functions of the accuracy matrix) and evaluators (hooks into a run)."""
from lifelong.evaluation import metrics
from lifelong.evaluation.evaluators import AccuracyMatrix, Evaluator, accuracy

__all__ = ["metrics", "Evaluator", "AccuracyMatrix", "accuracy"]
