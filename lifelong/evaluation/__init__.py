"""Evaluation: the catalogue of measures, metrics (pure functions of score matrices) and evaluators
(observers of a run)."""
from lifelong.evaluation import metrics
from lifelong.evaluation.evaluators import AccuracyMatrix, Evaluator
from lifelong.evaluation.continual import ContinualEvaluation
from lifelong.evaluation.fewshot import FewShot, LearningCurve, support_set
from lifelong.evaluation.measures import ACCURACY, MSE, Measure, accuracy, measure, squared_error
from lifelong.evaluation.online import OnlineAccuracy
from lifelong.evaluation.standard import standard_evaluators

__all__ = ["metrics", "Evaluator", "AccuracyMatrix", "FewShot", "LearningCurve", "ContinualEvaluation", "OnlineAccuracy",
           "Measure",
           "ACCURACY", "MSE", "measure", "accuracy", "squared_error", "standard_evaluators", "support_set"]
