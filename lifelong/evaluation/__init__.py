"""Evaluation: metrics (pure functions of the accuracy matrix) and evaluators (hooks into a run)."""
from lifelong.evaluation import metrics
from lifelong.evaluation.evaluators import AccuracyMatrix, Evaluator, accuracy, mse, score
from lifelong.evaluation.fewshot import FewShot, LearningCurve, standard_evaluators, support_set

__all__ = ["metrics", "Evaluator", "AccuracyMatrix", "FewShot", "LearningCurve", "accuracy", "mse", "score",
           "standard_evaluators", "support_set"]
