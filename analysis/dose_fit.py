"""How learning depends on the dose of dopamine: three curves fitted to the per-seed learning gains.

The question a dose-response answers is the shape: does learning scale with dopamine, need a minimum
of it, or saturate? So three models, the simplest of each shape, are fitted by least squares to every
(dose, seed) point and compared by AICc (Akaike's criterion with the small-sample correction; lower is
better, and a difference under 2 does not tell two models apart, Burnham & Anderson 2002):

==============  ==============================  =============================================
model           learning gain at dose ``g``      reads as
==============  ==============================  =============================================
``linear``      ``a + b g``                      learning proportional to dopamine
``threshold``   ``a + b max(0, g - theta)``      no learning below a dose ``theta``
``saturating``  ``a + b min(g, s)``              no more learning above a dose ``s``
==============  ==============================  =============================================

Why these and not a Hill (Emax) curve, pharmacology's usual model: with five doses in [0, 1] a Hill
curve's four parameters are not identified (its half-maximal dose and steepness trade off), while
each broken line has one interpretable parameter more than the line, and its breakpoint answers the
question directly. Why the line is the null: in the model, the cortical step is ``mean(g)`` times the
learning rate (:meth:`agents.dopamine.BatchGating.cortical_step_gain`), so the weight change per
trial is proportional to the dose; a threshold or a ceiling in behaviour would come from how weight
changes become success, not from the rule. The breakpoint is found by a search over a grid of 0.005
(the sum of squares is piecewise smooth in it, with kinks at the doses, so a gradient method can stop
at a kink), with ``a`` and ``b`` solved exactly at each grid value; its 95 % interval is a percentile
bootstrap over seeds (seeds resampled with replacement: the seed is the unit of replication).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MODELS = ("linear", "threshold", "saturating")
#: Spacing of the breakpoint's search grid (dose units).
GRID_STEP = 0.005


@dataclass(frozen=True)
class CurveFit:
    """One model fitted to (dose, gain) points.

    Attributes:
        model: ``linear``, ``threshold`` or ``saturating``.
        intercept, slope: ``a`` and ``b`` (gain and gain per unit dose).
        breakpoint: ``theta`` or ``s`` (dose units); NaN for the line.
        rss: residual sum of squares; n: points; k: parameters (the breakpoint counts).
    """

    model: str
    intercept: float
    slope: float
    breakpoint: float
    rss: float
    n: int
    k: int

    @property
    def aicc(self) -> float:
        """Akaike's criterion with the small-sample correction (Gaussian errors, variance estimated)."""
        n, k = self.n, self.k + 1  # the error variance is a parameter too
        rss = max(self.rss, 1e-300)
        aic = n * math.log(rss / n) + 2 * k
        return aic + (2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else math.inf)

    def predict(self, dose) -> np.ndarray:
        """The fitted gain at ``dose`` (array-like)."""
        return self.intercept + self.slope * basis(self.model, np.asarray(dose, dtype=float), self.breakpoint)

    def describe(self) -> str:
        """The curve as an equation with its fitted numbers."""
        a, b = f"{self.intercept:.3f}", f"{self.slope:+.3f}"
        if self.model == "linear":
            return f"{a} {b[0]} {b[1:]} g"
        inner = (f"max(0, g - {self.breakpoint:.3f})" if self.model == "threshold"
                 else f"min(g, {self.breakpoint:.3f})")
        return f"{a} {b[0]} {b[1:]} {inner}"


def basis(model: str, dose: np.ndarray, breakpoint: float) -> np.ndarray:
    """The model's regressor at ``dose``: ``g``, ``max(0, g - theta)`` or ``min(g, s)``."""
    if model == "linear":
        return dose
    if model == "threshold":
        return np.maximum(dose - breakpoint, 0.0)
    if model == "saturating":
        return np.minimum(dose, breakpoint)
    raise ValueError(f"unknown dose-response model {model!r}; known: {', '.join(MODELS)}")


def _lines(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares ``y = a + b x`` for every row of ``x`` at once (``(G, n)`` regressors, ``(n,)``
    gains): arrays of a, b and the residual sum of squares; a constant row gives b = 0."""
    x = np.atleast_2d(x)
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean()
    sxx, sxy = (dx * dx).sum(axis=1), dx @ dy
    b = np.divide(sxy, sxx, out=np.zeros_like(sxy), where=sxx > 1e-15)
    a = y.mean() - b * x.mean(axis=1)
    residual = y[None, :] - a[:, None] - b[:, None] * x
    return a, b, (residual * residual).sum(axis=1)


def fit(model: str, dose, gain) -> CurveFit:
    """Fit one model to the points ``(dose[i], gain[i])`` (non-finite gains are left out).

    Raises:
        ValueError: for an unknown model, or with fewer than two distinct doses.
    """
    dose, gain = np.asarray(dose, dtype=float), np.asarray(gain, dtype=float)
    keep = np.isfinite(dose) & np.isfinite(gain)
    dose, gain = dose[keep], gain[keep]
    levels = np.unique(dose)
    if len(levels) < 2:
        raise ValueError(f"a dose-response needs at least two doses with data, got {levels.tolist()}")
    if model == "linear":
        a, b, rss = _lines(dose, gain)
        return CurveFit(model, float(a[0]), float(b[0]), math.nan, float(rss[0]), len(dose), 2)
    if model == "threshold":  # theta below the highest dose, else the regressor is 0 everywhere
        grid = np.arange(levels[0], levels[-1], GRID_STEP)
    elif model == "saturating":  # s above the lowest dose, else the regressor is constant
        grid = np.arange(levels[-1], levels[0], -GRID_STEP)[::-1]
    else:
        basis(model, dose, 0.0)  # raises naming the model
        raise AssertionError  # unreachable
    a, b, rss = _lines(np.stack([basis(model, dose, float(point)) for point in grid]), gain)
    # The first of the grid's smallest sums (ties within rounding go to the lowest breakpoint).
    best = int(np.flatnonzero(rss <= rss.min() + 1e-12)[0])
    return CurveFit(model, float(a[best]), float(b[best]), float(grid[best]), float(rss[best]), len(dose), 3)


def fit_all(dose, gain) -> dict[str, CurveFit]:
    """Every model of :data:`MODELS` fitted to the same points."""
    return {model: fit(model, dose, gain) for model in MODELS}


def best_model(fits: dict[str, CurveFit]) -> str:
    """The model with the lowest AICc; the line unless another beats it by at least 2 (the simplest
    model stands where the data cannot tell them apart)."""
    lowest = min(fits, key=lambda m: fits[m].aicc)
    if lowest != "linear" and fits["linear"].aicc - fits[lowest].aicc < 2.0:
        return "linear"
    return lowest


def bootstrap(model: str, by_seed: dict[int, dict[float, float]], rng: np.random.Generator,
              resamples: int = 1000, level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the model's parameters, resampling seeds with replacement.

    Args:
        by_seed: ``{seed: {dose: gain}}``.
        rng: the experiment's generator (seeded from its first seed).

    Returns:
        ``{"intercept" | "slope" | "breakpoint": (low, high)}`` (the breakpoint's NaN for the line).
    """
    seeds = sorted(by_seed)
    draws: dict[str, list[float]] = {"intercept": [], "slope": [], "breakpoint": []}
    for _ in range(resamples):
        chosen = rng.choice(seeds, size=len(seeds), replace=True)
        dose = [d for s in chosen for d in by_seed[int(s)]]
        gain = [g for s in chosen for g in by_seed[int(s)].values()]
        try:
            curve = fit(model, dose, gain)
        except ValueError:
            continue
        for name in draws:
            draws[name].append(getattr(curve, name))
    tail = 100 * (1 - level) / 2
    return {name: ((math.nan, math.nan) if not values or not np.isfinite(values).all()
                   else (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))))
            for name, values in draws.items()}
