"""analysis.dose_fit: each curve recovers the shape planted in synthetic dose-response data, the choice
rule keeps the line when nothing beats it, and the bootstrap's interval covers the planted breakpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import dose_fit

DOSES = (0.0, 0.25, 0.5, 0.75, 1.0)


def planted(shape, seeds: int = 10, noise: float = 0.03, rng_seed: int = 0) -> dict[int, dict[float, float]]:
    """``{seed: {dose: gain}}`` with gain = shape(dose) + Gaussian noise."""
    rng = np.random.default_rng(rng_seed)
    return {s: {d: shape(d) + noise * rng.standard_normal() for d in DOSES} for s in range(seeds)}


def points(by_seed):
    dose = [d for cell in by_seed.values() for d in cell]
    gain = [g for cell in by_seed.values() for g in cell.values()]
    return dose, gain


@pytest.mark.parametrize(("shape", "model", "breakpoint"), [
    (lambda g: 0.02 + 0.4 * g, "linear", math.nan),
    (lambda g: 0.01 + 0.6 * max(0.0, g - 0.5), "threshold", 0.5),
    (lambda g: 0.6 * min(g, 0.3), "saturating", 0.3),
])
def test_the_planted_shape_is_chosen_and_its_breakpoint_recovered(shape, model, breakpoint):
    by_seed = planted(shape)
    fits = dose_fit.fit_all(*points(by_seed))
    assert dose_fit.best_model(fits) == model, {m: round(f.aicc, 1) for m, f in fits.items()}
    if model != "linear":
        # Five doses: the breakpoint is pinned between the doses around it.
        assert abs(fits[model].breakpoint - breakpoint) < 0.125
        low, high = dose_fit.bootstrap(model, by_seed, np.random.default_rng(1), resamples=200)["breakpoint"]
        assert low <= breakpoint + 0.05 and high >= breakpoint - 0.05 and high - low < 0.5


def test_flat_data_choose_the_line_with_a_slope_interval_around_zero():
    by_seed = planted(lambda g: 0.1, noise=0.05)
    fits = dose_fit.fit_all(*points(by_seed))
    assert dose_fit.best_model(fits) == "linear"
    low, high = dose_fit.bootstrap("linear", by_seed, np.random.default_rng(2), resamples=300)["slope"]
    assert low < 0 < high


def test_the_fit_is_exact_on_noiseless_data_and_predicts():
    dose = np.array(DOSES)
    curve = dose_fit.fit("threshold", dose, 0.1 + 0.8 * np.maximum(dose - 0.4, 0))
    assert curve.rss < 1e-20
    assert curve.breakpoint == pytest.approx(0.4, abs=dose_fit.GRID_STEP)
    assert curve.predict([0.0, 1.0]) == pytest.approx([0.1, 0.1 + 0.8 * 0.6], abs=1e-3)
    assert "max(0, g - 0.400)" in curve.describe()


def test_aicc_penalises_the_extra_parameter():
    a = dose_fit.CurveFit("linear", 0, 1, math.nan, rss=1.0, n=20, k=2)
    b = dose_fit.CurveFit("threshold", 0, 1, 0.5, rss=1.0, n=20, k=3)
    assert b.aicc > a.aicc


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least two doses"):
        dose_fit.fit("linear", [0.5, 0.5], [0.1, 0.2])
    with pytest.raises(ValueError, match="unknown dose-response model 'hill'"):
        dose_fit.fit("hill", [0, 1], [0, 1])
