"""End-of-stream summaries of a score matrix: every metric of one run, as a JSON-serialisable dict.

The catalogue of measures (``lifelong.evaluation.measures``) picks the summary of its measure:
``classification_summary`` for accuracy matrices, ``regression_summary`` for test-MSE matrices.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from lifelong.evaluation.arrays import matrix as _matrix, vector as _vector
from lifelong.evaluation.metrics import acc, bwt, diaz_rodriguez, forgetting, forgetting_first_based, fwt


def classification_summary(
    R: Any,
    b: Any,
    fwt_applicable: bool = True,
    model_sizes: Optional[Sequence[float]] = None,
) -> dict[str, Any]:
    """All end-of-stream metrics of one run as a JSON-serialisable dict.

    Keys:

    * ``acc`` — :func:`acc` (GEM).
    * ``bwt`` — :func:`bwt` (GEM, T-1 denominator).
    * ``fwt`` — :func:`fwt` (GEM), or ``None`` when ``fwt_applicable`` is
      False (e.g. class-incremental with disjoint classes, where a task cannot
      be predicted before it is trained).
    * ``forgetting`` — :func:`forgetting` at the last row (Chaudhry et al.
      2018, max-based).
    * ``forgetting_first_based`` — :func:`forgetting_first_based` at the last
      row (Avalanche 0.6.0 definition).
    * ``diaz_rodriguez`` — the dict of :func:`diaz_rodriguez`, with its
      ``fwt`` also set to ``None`` when ``fwt_applicable`` is False.

    ``b`` (random-initialisation accuracies, length T) must be given when
    ``fwt_applicable`` is True; when False it may be passed as ``None`` (if
    given, it is still validated).  Values are Python floats, ``None`` or nested dicts.
    """
    R = _matrix(R)
    T = R.shape[0]
    if b is None:
        if fwt_applicable:
            raise ValueError(
                "b (accuracy of the randomly initialised model on each task) "
                "is required when fwt_applicable=True"
            )
    else:
        _vector(b, T, "b")

    dr = diaz_rodriguez(R, model_sizes=model_sizes)
    if not fwt_applicable:
        dr["fwt"] = None

    return {
        "acc": acc(R),
        "bwt": bwt(R),
        "fwt": fwt(R, b) if fwt_applicable else None,
        "forgetting": forgetting(R),
        "forgetting_first_based": forgetting_first_based(R),
        "diaz_rodriguez": dr,
    }


# ---------------------------------------------------------------------------
# Regression streams
# ---------------------------------------------------------------------------


def regression_summary(E: Any, b: Any, **_) -> dict[str, Any]:
    """End-of-stream metrics when ``E[i, j]`` is the test MSE on task j after training on task i and
    ``b[j]`` that of the randomly initialised model (lower is better).

    The GEM and Chaudhry definitions with the sign turned so that their reading is unchanged:

    * ``mse`` — mean of the last row (the counterpart of ACC).
    * ``bwt`` — ``(1/(T-1)) Σ_{i<T} (E[i, i] − E[T, i])``: negative when the error on old tasks grew.
    * ``fwt`` — ``(1/(T-1)) Σ_{i≥2} (b[i] − E[i-1, i])``: positive when earlier tasks lowered the error
      on a task before it was trained.
    * ``forgetting`` — mean over j<T of ``E[T, j] − min_{l<T} E[l, j]`` (max-based: the error's rise from
      its best); ``forgetting_first_based`` — mean of ``E[T, j] − E[j, j]``.
    """
    E = np.asarray(E, dtype=float)  # None (not measured) becomes NaN, left out of the minima as in ``forgetting``
    if E.ndim != 2 or E.shape[0] != E.shape[1] or E.shape[0] == 0:
        raise ValueError(f"E must be a non-empty square matrix, got shape {E.shape}")
    b = np.asarray(b, dtype=float)
    T = E.shape[0]
    out: dict[str, Any] = {"mse": float(E[-1].mean()), "bwt": None, "fwt": None, "forgetting": None,
                           "forgetting_first_based": None}
    if T >= 2:
        j = np.arange(T - 1)
        out["bwt"] = float(np.mean(E[j, j] - E[-1, j]))
        out["fwt"] = float(np.mean(b[1:] - E[j, j + 1]))
        out["forgetting"] = float(np.mean(E[-1, j] - np.nanmin(E[:-1, :-1], axis=0)))
        out["forgetting_first_based"] = float(np.mean(E[-1, j] - E[j, j]))
    return out
