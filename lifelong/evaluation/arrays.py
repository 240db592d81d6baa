"""Validation of the arrays the metrics take: score matrices, per-task vectors, row indices.

Inputs outside [0, 1] (the metrics take accuracies as fractions), non-finite values (but for a score
matrix's unmeasured entries, NaN) and badly shaped inputs raise ``ValueError`` with what was given.
"""
from __future__ import annotations

import operator
from typing import Any

import numpy as np

# Slack allowed on the [0, 1] range check, for accuracies that went through floating-point averaging.
_RANGE_TOL = 1e-9


def floats(x: Any, name: str, unmeasured: bool = False) -> np.ndarray:
    """``x`` as a float array, refused when it is not numeric or holds NaN or inf. With
    ``unmeasured``, NaN (or None) entries are accepted: scores that were not measured."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric (array-like of floats): {exc}") from exc
    allowed = np.isfinite(arr) | (np.isnan(arr) if unmeasured else False)
    if not np.all(allowed):
        what = "finite values or NaN (not measured)" if unmeasured else "finite values (no NaN or inf)"
        raise ValueError(f"{name} must contain only {what}")
    return arr


def check_fractions(arr: np.ndarray, name: str) -> None:
    """Refuse values outside [0, 1]: accuracies are fractions, not percentages."""
    values = arr[~np.isnan(arr)]
    if values.size and (values.min() < -_RANGE_TOL or values.max() > 1.0 + _RANGE_TOL):
        raise ValueError(
            f"{name} must hold accuracies as fractions in [0, 1]; "
            f"got values in [{values.min():g}, {values.max():g}] (percentages?)"
        )


def matrix(R: Any) -> np.ndarray:
    """Return ``R`` as a validated square 2-D float array with T >= 1. Entries that were not measured
    (a run with ``matrix_every`` > 1) are NaN, or None in nested lists; a metric that needs one says so
    (``measured``)."""
    arr = floats(R, "R", unmeasured=True)
    if arr.ndim != 2:
        raise ValueError(f"R must be a 2-D T x T matrix; got {arr.ndim} dimension(s) with shape {arr.shape}")
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"R must be square (T x T); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("R must describe at least one task; got an empty matrix")
    check_fractions(arr, "R")
    return arr


def measured(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` of a score matrix, refused when one of them was not measured (NaN)."""
    if np.isnan(values).any():
        raise ValueError(f"R: {what} must be measured, but holds unmeasured (NaN) entries")
    return values


def vector(v: Any, T: int, name: str) -> np.ndarray:
    """Return ``v`` as a validated 1-D float array of length ``T``."""
    arr = floats(v, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of length T={T}; got shape {arr.shape}")
    if arr.shape[0] != T:
        raise ValueError(f"{name} must have length T={T} (one entry per task); got length {arr.shape[0]}")
    check_fractions(arr, name)
    return arr


def integer(v: Any, name: str, what: str) -> int:
    """``v`` as a Python int, refused (naming ``name`` and ``what`` it must be) when it is a bool or not
    an integer."""
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be {what}, got {v!r}")
    try:
        return operator.index(v)
    except TypeError as exc:
        raise ValueError(f"{name} must be {what}, got {v!r}") from exc


def row_index(k: Any, T: int) -> int:
    """Resolve the 0-based row index ``k`` (default: last row)."""
    if k is None:
        return T - 1
    k = integer(k, "k", "an integer row index")
    if not 0 <= k < T:
        raise ValueError(f"k must satisfy 0 <= k < T={T} (0-based row index); got {k}")
    return k
