"""The evaluators ``lifelong run`` and ``lifelong compare`` add to every run's accuracy matrix."""
from __future__ import annotations

from lifelong.evaluation.continual import ContinualEvaluation
from lifelong.evaluation.evaluators import Evaluator
from lifelong.evaluation.fewshot import FewShot, LearningCurve


def standard_evaluators(fewshot: dict | None = None, lca: int | None = None,
                        continual: dict | None = None) -> list[Evaluator]:
    """``FewShot(**fewshot)``, ``LearningCurve(lca)`` and ``ContinualEvaluation(**continual)``, each
    left out when its setting is None."""
    found: list[Evaluator] = []
    if fewshot is not None:
        found.append(FewShot(**fewshot))
    if lca is not None:
        found.append(LearningCurve(lca))
    if continual is not None:
        found.append(ContinualEvaluation(**continual))
    return found
