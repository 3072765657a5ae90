"""Statistics across seeds: means with confidence intervals and paired tests (SciPy).

Seeds are the unit of replication (as animals are in the lab): every statistic here takes one value
per seed. Intervals are Student-t intervals of the mean; paired designs are tested on the per-seed
differences, with a paired t-test and an exact sign-flip permutation test (all 2^n sign patterns, no
normality assumed, :func:`scipy.stats.permutation_test`; with 5 seeds its smallest two-sided p is
2/32 = 0.0625, so the t-test carries the verdicts and the permutation p is reported beside it). Several
claims tested together are corrected with Holm's step-down method (:func:`holm`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    """Mean of per-seed values with its confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    def format(self, digits: int = 2) -> str:
        if self.n == 0 or math.isnan(self.mean):
            return "n/a"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class PairedTest:
    """Per-seed differences ``a - b``: their mean with CI, paired t-test and sign-flip permutation test."""

    difference: Estimate
    t: float
    p: float  # two-sided paired t-test
    p_permutation: float  # two-sided exact sign-flip test
    p_greater: float  # one-sided t-test of mean difference > 0

    def format(self, digits: int = 2) -> str:
        return (f"difference {self.difference.format(digits)}, paired t({self.difference.n - 1}) = "
                f"{self.t:.2f}, "
                f"p {format_p(self.p)} (sign-flip p {format_p(self.p_permutation)})")


def format_p(p: float) -> str:
    """``"= 0.012"``, ``"< 1e-4"`` or ``"n/a"``, to follow a ``p``."""
    return "n/a" if math.isnan(p) else (f"= {p:.2g}" if p >= 1e-4 else "< 1e-4")


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def mean_ci(values, level: float = 0.95) -> Estimate:
    """Mean and Student-t confidence interval of the finite entries of ``values``."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Estimate(mean, mean - half, mean + half, n)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def sign_flip_p(differences) -> float:
    """Exact two-sided sign-flip permutation p-value of the mean of the finite ``differences``.

    :func:`scipy.stats.permutation_test` of one sample with ``permutation_type="samples"`` (each value's
    sign flipped), enumerating all ``2^n`` patterns. Its two-sided p, twice the smaller tail, is for this
    symmetric null the fraction of patterns whose mean lies at least as far from 0 as the observed one
    (the former hand-written enumeration; tested equal). NaN without values or with more than 16
    (65,536 patterns; seeds are fewer); 1 for a single value (its two patterns are equally extreme;
    scipy needs two).
    """
    d = _finite(differences)
    n = len(d)
    if n == 0 or n > 16:
        return math.nan
    if n == 1:
        return 1.0
    result = stats.permutation_test((d,), _mean, permutation_type="samples", vectorized=True,
                                    n_resamples=np.inf, alternative="two-sided")
    return float(result.pvalue)


def paired(a, b, level: float = 0.95) -> PairedTest:
    """Compare per-seed values ``a`` and ``b`` (same seeds, same order); pairs with a NaN are dropped."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same shape, got {a.shape} and {b.shape}")
    d = (a - b)[np.isfinite(a) & np.isfinite(b)]
    estimate = mean_ci(d, level)
    if len(d) < 2:
        return PairedTest(estimate, math.nan, math.nan, math.nan, math.nan)
    if np.allclose(d, d[0]):  # no variance: t undefined; the permutation test still speaks
        t = math.copysign(math.inf, d[0]) if d[0] != 0 else 0.0
        p = 0.0 if d[0] != 0 else 1.0
        return PairedTest(estimate, t, p, sign_flip_p(d), 0.0 if d[0] > 0 else 1.0)
    result = stats.ttest_1samp(d, 0.0)
    greater = stats.ttest_1samp(d, 0.0, alternative="greater")
    return PairedTest(estimate, float(result.statistic), float(result.pvalue), sign_flip_p(d),
                      float(greater.pvalue))


def one_sided_p(values, null: float = 0.0) -> float:
    """One-sided t-test p of ``mean(values) > null`` over the finite entries (NaN with fewer than 2).

    Values without spread have no t: p is 0 if they lie above ``null`` and 1 otherwise (a tie fails).
    """
    d = _finite(values)
    if len(d) < 2:
        return math.nan
    if np.allclose(d, d[0]):
        return 0.0 if d[0] > null else 1.0
    return float(stats.ttest_1samp(d, null, alternative="greater").pvalue)


def non_inferiority_p(differences, margin: float) -> float:
    """One-sided t-test p of ``mean(differences) > -margin`` (small p: not worse by ``margin`` or more)."""
    return one_sided_p(differences, -margin)


def equivalence_p(differences, margin: float) -> float:
    """Two one-sided tests (TOST) of ``-margin < mean(differences) < +margin``: the larger of the two
    one-sided p-values (small p: the mean lies inside the band)."""
    d = _finite(differences)
    return max(one_sided_p(d, -margin), one_sided_p(-d, -margin))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the order given.

    The ``m`` finite p-values are sorted ascending; the k-th smallest (k = 1..m) becomes
    ``max over j <= k of min(1, (m - j + 1) p_(j))``. NaN entries (untestable claims) stay NaN and do not
    count in ``m``. Rejecting where the adjusted p < alpha is Holm's procedure at level alpha.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    present = np.flatnonzero(np.isfinite(p))
    m = len(present)
    running = 0.0
    for rank, index in enumerate(present[np.argsort(p[present], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * float(p[index])))
        adjusted[index] = running
    return adjusted
