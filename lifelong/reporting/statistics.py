"""Numbers over seeds: summaries (mean, std, 95% CI) and paired tests against a reference.

Pure functions of plain numbers; nothing is printed or written.

* :func:`summarize` — n, mean, sample standard deviation and the half-width of
  the 95% confidence interval of the mean from Student's t distribution.
* :func:`paired_test` — a paired comparison over seeds (paired t-test by
  default, Wilcoxon signed-rank as an option).
* :func:`mean_ci` — the same mean and half-width per element of a stack of arrays (for curves).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import numpy as np
from scipy import stats as _sps

__all__ = ["Summary", "PairedTest", "summarize", "paired_test", "mean_ci", "clean", "TESTS"]

#: Names accepted by :func:`paired_test` (``test=``), with what they are called in a report.
TESTS = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test"}


@dataclass(frozen=True)
class Summary:
    """``n`` values: their mean, sample std (ddof=1; 0 when n=1) and 95% CI half-width (None when n<2).

    With n = 0 every field but ``n`` is None.
    """

    n: int
    mean: Optional[float]
    std: Optional[float]
    ci95: Optional[float]

    def as_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "std": self.std, "ci95": self.ci95}


EMPTY = Summary(0, None, None, None)


def clean(values: Iterable[Any]) -> list[float]:
    """``values`` as floats, ``None`` and NaN entries dropped."""
    out = []
    for v in values:
        if v is None:
            continue
        v = float(v)
        if not math.isnan(v):
            out.append(v)
    return out


def _t975(df: int) -> float:
    return float(_sps.t.ppf(0.975, df))


def summarize(values: Iterable[Any]) -> Summary:
    """Summary of a list of floats; ``None`` and NaN entries are dropped.

    ``ci95 = t.ppf(0.975, n-1) * std / sqrt(n)`` (Student's t), the half-width
    of the 95% confidence interval of the mean. For ``[0.8, 0.9, 1.0]``:
    mean 0.9, std 0.1, ci95 = 4.303 * 0.1 / sqrt(3) = 0.2484.
    """
    xs = clean(values)
    n = len(xs)
    if n == 0:
        return EMPTY
    arr = np.asarray(xs, dtype=float)
    mean = float(arr.mean())
    if n == 1:
        return Summary(1, mean, 0.0, None)
    std = float(arr.std(ddof=1))
    return Summary(n, mean, std, _t975(n - 1) * std / math.sqrt(n))


def mean_ci(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-element mean and 95% CI half-width over axis 0 (NaN where n < 2)."""
    n = stack.shape[0]
    mean = stack.mean(axis=0)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    std = stack.std(axis=0, ddof=1)
    return mean, _t975(n - 1) * std / math.sqrt(n)


@dataclass(frozen=True)
class PairedTest:
    """Outcome of a paired test: ``p`` (None when it cannot be computed; ``note`` says why), test name, n pairs."""

    p: Optional[float]
    test: str
    n: int
    note: Optional[str] = None

    def as_dict(self) -> dict:
        return {"p": self.p, "test": self.test, "n": self.n, "note": self.note}


def _pairs(a, b) -> list[tuple[float, float]]:
    if isinstance(a, Mapping) != isinstance(b, Mapping):
        raise ValueError("paired_test: give two sequences of the same length or two mappings seed -> value")
    if isinstance(a, Mapping):
        keys = [k for k in a if k in b]
        try:
            keys = sorted(keys)
        except TypeError:
            pass
        raw = [(a[k], b[k]) for k in keys]
    else:
        a, b = list(a), list(b)
        if len(a) != len(b):
            raise ValueError(f"paired_test: the two samples must have the same length (pairs); "
                             f"got {len(a)} and {len(b)}")
        raw = list(zip(a, b))
    out = []
    for x, y in raw:
        cx, cy = clean([x]), clean([y])
        if cx and cy:
            out.append((cx[0], cy[0]))
    return out


def paired_test(a, b, test: str = "t") -> PairedTest:
    """Paired comparison of ``a`` (a strategy) against ``b`` (the reference), pairs matched by seed.

    ``a`` and ``b`` are either two sequences of the same length (already
    paired) or two mappings ``seed -> value`` (paired on their common seeds).
    Pairs with a missing value (None or NaN) on either side are dropped.

    ``test="t"``: paired t-test (``scipy.stats.ttest_rel``);
    ``test="wilcoxon"``: Wilcoxon signed-rank test (``scipy.stats.wilcoxon``).
    Both two-sided.

    ``p`` is None, with ``note`` saying why, when there are fewer than two
    pairs or when every difference is zero. When the differences are all
    equal but not zero the t statistic is infinite and p is 0.0 (noted).
    """
    if test not in TESTS:
        raise ValueError(f"paired_test: test must be one of {sorted(TESTS)}; got {test!r}")
    name = TESTS[test]
    pairs = _pairs(a, b)
    n = len(pairs)
    if n < 2:
        return PairedTest(None, name, n, f"fewer than 2 paired seeds ({n})")
    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])
    d = x - y
    if np.all(d == 0):
        return PairedTest(None, name, n, "all differences are zero")
    note = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if test == "t":
            if np.all(d == d[0]):
                return PairedTest(0.0, name, n, "constant non-zero difference (zero variance)")
            p = float(_sps.ttest_rel(x, y).pvalue)
        else:
            p = float(_sps.wilcoxon(x, y).pvalue)
            if np.any(d == 0):
                note = f"{int(np.sum(d == 0))} zero difference(s) dropped"
    if math.isnan(p):
        return PairedTest(None, name, n, "the test is undefined for these values")
    return PairedTest(p, name, n, note)
