"""Continual-learning metrics computed from accuracy matrices.

Every function here is a pure function of numpy arrays (or of nested lists,
which are converted).  Nothing is printed and nothing is mutated.

Conventions
-----------
``R`` is the T x T accuracy matrix: ``R[i, j]`` is the test accuracy on task
``j`` measured right after training on task ``i``.  Row ``i`` is therefore the
evaluation of the model after the ``i``-th task on *every* task of the stream,
including tasks it has not seen yet (the upper triangle).

``b`` is a length-T vector: ``b[j]`` is the accuracy on task ``j`` of the model
at random initialisation (before any training).

Indices in code are **0-based**.  The papers cited below number tasks from 1,
so a paper's ``R_{T,i}`` is ``R[T - 1, i - 1]`` here.  Each docstring states the
formula in the paper's 1-based notation and then how it maps onto the arrays.

Accuracies are fractions in [0, 1] (not percentages); inputs outside that
range, non-finite values and badly shaped inputs raise ``ValueError``.

A run may measure whole rows of ``R`` only every k tasks (``matrix_every``,
for long streams): the rows in between hold the diagonal entry ``R[i, i]``
and the next task's ``R[i, i+1]`` only, the others NaN (not measured).  ACC,
BWT, FWT, first-based forgetting and intransigence use only entries every
row has, so they are exact; max-based forgetting takes its maximum, and the
Díaz-Rodríguez metrics their means, over the measured entries; a metric
whose entries were not measured raises ``ValueError``.

Every scalar result is a built-in Python ``float`` (never a numpy scalar), and a
quantity that is not defined (for example backward transfer with a single
task) is returned as ``None``, so that results can be passed straight to
``json.dumps``.

References
----------
* GEM: D. Lopez-Paz and M. Ranzato, "Gradient Episodic Memory for Continual
  Learning", NeurIPS 2017.
* RWalk: A. Chaudhry, P. K. Dokania, T. Ajanthan and P. H. S. Torr,
  "Riemannian Walk for Incremental Learning: Understanding Forgetting and
  Intransigence", ECCV 2018.
* A-GEM: A. Chaudhry, M. Ranzato, M. Rohrbach and M. Elhoseiny, "Efficient
  Lifelong Learning with A-GEM", ICLR 2019.
* N. Díaz-Rodríguez, V. Lomonaco, D. Filliat and D. Maltoni, "Don't forget,
  there is more than forgetting: new metrics for Continual Learning",
  NeurIPS 2018 Continual Learning Workshop (arXiv:1810.13166).
* Avalanche 0.6.0 (``avalanche.evaluation.metrics.forgetting_bwt``), used only
  as a cross-check definition of forgetting.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from lifelong.evaluation import arrays

_matrix, _vector, _row_index, _integer = arrays.matrix, arrays.vector, arrays.row_index, arrays.integer
_measured = arrays.measured
_as_float_array, _check_fractions = arrays.floats, arrays.check_fractions

__all__ = [
    "acc",
    "bwt",
    "fwt",
    "forgetting",
    "forgetting_first_based",
    "intransigence",
    "lca",
    "diaz_rodriguez",
    "fewshot_at_arrival",
]

# ---------------------------------------------------------------------------
# GEM (Lopez-Paz & Ranzato, 2017)
# ---------------------------------------------------------------------------


def acc(R: Any) -> float:
    """Average accuracy after the last task (GEM, Lopez-Paz & Ranzato 2017).

    Paper (1-based): ``ACC = (1/T) * sum_{i=1..T} R_{T,i}``.
    Here: the mean of the last row, ``R[T-1, :]``.  Defined for any T >= 1.
    """
    R = _matrix(R)
    return float(np.mean(_measured(R[-1, :], "the last row")))


def bwt(R: Any) -> Optional[float]:
    """Backward transfer (GEM, Lopez-Paz & Ranzato 2017).

    Paper (1-based): ``BWT = 1/(T-1) * sum_{i=1..T-1} (R_{T,i} - R_{i,i})``.
    Here: the mean over ``j < T-1`` of ``R[T-1, j] - R[j, j]``.
    Negative values mean forgetting.  Returns ``None`` when T < 2.

    Note: the GEM authors' released code (``metrics/metrics.py`` in
    facebookresearch/GradientEpisodicMemory) takes the mean of the length-T
    vector ``R[T-1, :] - diag(R)``, whose last entry is always zero, i.e. it
    divides by T instead of T-1 (a factor (T-1)/T smaller in magnitude).
    This function implements the paper's T-1 denominator.
    """
    R = _matrix(R)
    T = R.shape[0]
    if T < 2:
        return None
    diffs = _measured(R[T - 1, : T - 1], "the last row") - _measured(np.diag(R)[: T - 1], "the diagonal")
    return float(np.sum(diffs) / (T - 1))


def fwt(R: Any, b: Any) -> Optional[float]:
    """Forward transfer (GEM, Lopez-Paz & Ranzato 2017).

    Paper (1-based): ``FWT = 1/(T-1) * sum_{i=2..T} (R_{i-1,i} - b_i)``, where
    ``b_i`` is the accuracy on task i at random initialisation.
    Here: the mean over ``j = 1..T-1`` of ``R[j-1, j] - b[j]`` (the first
    super-diagonal minus the matching entries of ``b``).  ``b[0]`` is
    validated but not used.  Returns ``None`` when T < 2.

    As for :func:`bwt`, the GEM repository's code averages a length-T vector
    whose first entry is zero (dividing by T); this implements the paper's
    T-1 denominator.

    FWT is undefined when a task's classes cannot be predicted before that
    task is trained, e.g. class-incremental streams with disjoint classes and
    a growing / masked head: ``R[j-1, j]`` is then 0 by construction, not a
    measure of transfer.  This function cannot tell; the caller reports
    ``None`` instead, which :func:`summary` does for ``fwt_applicable=False``.
    """
    R = _matrix(R)
    T = R.shape[0]
    b = _vector(b, T, "b")
    if T < 2:
        return None
    j = np.arange(1, T)
    return float(np.sum(_measured(R[j - 1, j], "the first super-diagonal") - b[j]) / (T - 1))


# ---------------------------------------------------------------------------
# Forgetting and intransigence (Chaudhry et al., 2018 — RWalk)
# ---------------------------------------------------------------------------


def forgetting(R: Any, k: Optional[int] = None) -> Optional[float]:
    """Average forgetting after task ``k`` (Chaudhry et al. 2018, RWalk), max-based.

    Paper (1-based): for ``j < k``,
    ``f_j^k = max_{l in {1..k-1}} a_{l,j} - a_{k,j}`` and
    ``F_k = 1/(k-1) * sum_{j=1..k-1} f_j^k``.
    Here (0-based): ``f[k, j] = max_{l < k} R[l, j] - R[k, j]`` for ``j < k``
    and ``F_k`` is the mean of ``f[k, j]`` over ``j < k``.  As in the paper,
    the maximum runs over *all* earlier rows ``l < k`` (including rows before
    task ``j`` was trained), or over the rows that measured task ``j`` when
    some did not (``R[j, j]`` always did).

    ``k`` is a 0-based row index; default: the last row (``T-1``).
    Returns ``None`` when ``k == 0`` (no earlier task to forget), so also for
    T = 1 with the default ``k``.
    """
    R = _matrix(R)
    T = R.shape[0]
    k = _row_index(k, T)
    if k == 0:
        return None
    _measured(np.diag(R)[:k], "the diagonal")  # so that every column below has a measured entry
    best_before = np.nanmax(R[:k, :k], axis=0)  # max_{l<k} R[l, j] for j < k
    f = best_before - _measured(R[k, :k], f"row {k}")
    return float(np.mean(f))


def forgetting_first_based(R: Any, k: Optional[int] = None) -> Optional[float]:
    """Average forgetting as defined by Avalanche 0.6.0 (for cross-checks).

    Avalanche's forgetting of task ``j`` is the accuracy measured right after
    training on ``j`` minus the current accuracy; the stream value averages it
    over the previously trained tasks.  Here (0-based):
    ``mean_{j < k} (R[j, j] - R[k, j])``.

    Difference from :func:`forgetting` (Chaudhry et al. 2018): the reference
    point is the *first* accuracy after training on ``j`` (``R[j, j]``), not
    the *best* accuracy seen before row ``k`` (``max_{l<k} R[l, j]``).  The two
    agree when accuracies on old tasks never rise; when a later task improves
    an old one (backward transfer), the max-based value is larger, e.g. task
    0 at 0.9 -> 0.95 -> 0.6 gives 0.35 max-based vs 0.3 first-based.
    The first-based value is also the negative of the per-task GEM BWT term
    averaged over ``j < k``.

    ``k`` is a 0-based row index; default: the last row.  Returns ``None``
    when ``k == 0``.
    """
    R = _matrix(R)
    T = R.shape[0]
    k = _row_index(k, T)
    if k == 0:
        return None
    return float(np.mean(_measured(np.diag(R)[:k], "the diagonal") - _measured(R[k, :k], f"row {k}")))


def intransigence(R: Any, joint: Any) -> list[float]:
    """Intransigence per task (Chaudhry et al. 2018, RWalk).

    Paper (1-based): ``I_k = a*_k - a_{k,k}``, where ``a*_k`` is the accuracy
    on task k of a reference model trained jointly on tasks 1..k (all their
    data available at once) and ``a_{k,k}`` the continual learner's accuracy
    on task k right after training on it.
    Here: ``[joint[k] - R[k, k] for k in 0..T-1]``; ``joint`` is a length-T
    vector of those reference accuracies.  Larger means the learner is less
    able to learn new tasks.

    Returns a list of T floats.
    """
    R = _matrix(R)
    T = R.shape[0]
    joint = _vector(joint, T, "joint")
    return [float(x) for x in joint - _measured(np.diag(R), "the diagonal")]


# ---------------------------------------------------------------------------
# Learning curve area (Chaudhry et al., 2019 — A-GEM)
# ---------------------------------------------------------------------------


def lca(curves: Any, beta: int = 10) -> float:
    """Learning curve area LCA_beta (A-GEM, Chaudhry et al. 2019).

    ``curves`` has shape ``(T, n)`` with ``n >= beta + 1``: ``curves[k, m]`` is
    the accuracy on task k after the m-th mini-batch of task k (``m = 0``:
    before any mini-batch of task k, i.e. zero-shot).

    Paper: ``Z_b = (1/T) * sum_k a_{k,b,k}`` (average over tasks of the
    accuracy after b mini-batches) and
    ``LCA_beta = 1/(beta+1) * integral_0^beta Z_b db``, computed in its
    discrete form ``1/(beta+1) * sum_{b=0..beta} Z_b``.
    Only the first ``beta + 1`` columns are used; extra columns are ignored.

    Raises ``ValueError`` if ``curves`` is not 2-D with at least one row, or
    has fewer than ``beta + 1`` columns, or ``beta`` is not a non-negative
    integer.
    """
    beta = _integer(beta, "beta", "a non-negative integer")
    if beta < 0:
        raise ValueError(f"beta must be a non-negative integer, got {beta}")
    arr = _as_float_array(curves, "curves")
    if arr.ndim != 2:
        raise ValueError(f"curves must be a 2-D array of shape (T, beta+1 or more); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("curves must have at least one task (row)")
    if arr.shape[1] < beta + 1:
        raise ValueError(
            f"curves needs at least beta+1 = {beta + 1} columns "
            f"(mini-batches 0..{beta}); got {arr.shape[1]}"
        )
    _check_fractions(arr, "curves")
    z = np.mean(arr[:, : beta + 1], axis=0)  # Z_b for b = 0..beta
    return float(np.sum(z) / (beta + 1))


# ---------------------------------------------------------------------------
# Díaz-Rodríguez et al., 2018
# ---------------------------------------------------------------------------


def diaz_rodriguez(R: Any, model_sizes: Optional[Sequence[float]] = None) -> dict[str, Optional[float]]:
    """Metrics of Díaz-Rodríguez et al. 2018, "Don't forget, there is more than forgetting".

    With N = T tasks and the paper's 1-based ``R_{i,j}`` (train step i, test task j):

    * ``a``   — accuracy over the whole run, lower triangle with diagonal:
      ``A = sum_{i>=j} R_{i,j} / (N(N+1)/2)``.
    * ``bwt`` — ``sum_{i=2..N} sum_{j=1..i-1} (R_{i,j} - R_{j,j}) / (N(N-1)/2)``
      (all rows, not only the last one as in GEM).  ``None`` if N < 2.
    * ``rem`` — remembering, ``1 - |min(BWT, 0)|``.  ``None`` if N < 2.
    * ``bwt_plus`` — positive backward transfer, ``max(BWT, 0)``.  ``None`` if N < 2.
    * ``fwt`` — ``sum_{i<j} R_{i,j} / (N(N-1)/2)``, the mean of the strict
      upper triangle (accuracy on tasks not trained yet; no random-init
      baseline is subtracted, unlike GEM).  ``None`` if N < 2.
    * ``ms`` — model-size efficiency,
      ``MS = min(1, (1/N) * sum_i Mem(theta_1) / Mem(theta_i))`` from
      ``model_sizes`` (length-N parameter counts after each task, all > 0).
      ``None`` if ``model_sizes`` is None.

    The 0-based array entries are the same sets of entries (``i >= j``,
    ``i > j``, ``i < j``); where some were not measured, each mean runs over
    the measured ones (its count in place of the paper's).  The paper's other criteria (samples storage size,
    computational efficiency) need quantities not in ``R`` and are not computed.
    """
    R = _matrix(R)
    T = R.shape[0]
    rows, cols = np.indices((T, T))
    diag = _measured(np.diag(R), "the diagonal")
    a = float(np.nanmean(R[rows >= cols]))  # the means run over the measured entries

    bwt_val: Optional[float] = None
    rem: Optional[float] = None
    bwt_plus: Optional[float] = None
    fwt_val: Optional[float] = None
    if T >= 2:
        lower = rows > cols
        bwt_val = float(np.nanmean(R[lower] - diag[cols[lower]]))
        rem = float(1.0 - abs(min(bwt_val, 0.0)))
        bwt_plus = float(max(bwt_val, 0.0))
        fwt_val = float(np.nanmean(R[rows < cols]))

    ms: Optional[float] = None
    if model_sizes is not None:
        sizes = _as_float_array(model_sizes, "model_sizes")
        if sizes.ndim != 1 or sizes.shape[0] != T:
            raise ValueError(
                f"model_sizes must be a 1-D sequence of length T={T} "
                f"(size after each task); got shape {sizes.shape}"
            )
        if np.any(sizes <= 0):
            raise ValueError("model_sizes must all be positive parameter counts")
        ms = float(min(1.0, float(np.mean(sizes[0] / sizes))))

    return {"a": a, "bwt": bwt_val, "rem": rem, "bwt_plus": bwt_plus, "fwt": fwt_val, "ms": ms}


# ---------------------------------------------------------------------------
# Few-shot adaptation at arrival
# ---------------------------------------------------------------------------


def fewshot_at_arrival(tasks: Sequence[dict], shots: Sequence[int]) -> Optional[dict[str, float]]:
    """Per K, the mean K-shot score at arrival over the tasks after the first (over the only task
    when there is one): the first task arrives at a model that has learned nothing yet.

    ``tasks[i]["k"][str(K)]["mean"]`` is task i's score after K-shot adaptation, averaged over the
    draws (``lifelong.evaluation.FewShot``). ``None`` when no task was scored.
    """
    later = list(tasks[1:]) or list(tasks)
    if not later:
        return None
    return {str(k): float(np.mean([t["k"][str(k)]["mean"] for t in later])) for k in shots}
