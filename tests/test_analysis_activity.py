"""Finding 5's population statistics (analysis/activity.py) on synthetic sessions."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_runs import Plan, make_run

from analysis import spd
from analysis.activity import activity_metrics, pair_correlation_moments
from analysis.run_format import activity_files
from analysis.sessions import load_session


def brute_force_pairs(activity: np.ndarray, valid: np.ndarray) -> list[np.ndarray]:
    """Per trial, the off-diagonal Pearson correlations (silent units: 0) by np.corrcoef."""
    out = []
    for x, v in zip(activity, valid, strict=True):
        rows = x[v]
        silent = rows.std(0) == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(rows, rowvar=False)
        corr[silent, :] = 0.0
        corr[:, silent] = 0.0
        out.append(corr[~np.eye(len(corr), dtype=bool)])
    return out


def test_pair_moments_match_the_correlation_matrices_with_silent_units_and_invalid_samples():
    rng = np.random.default_rng(0)
    activity = rng.standard_normal((3, 20, 6)) + rng.standard_normal((3, 20, 1))  # shared component
    activity[1, :, 2] = 0.4  # silent in trial 1
    valid = np.ones((3, 20), bool)
    valid[0, 15:] = False
    activity[0, 15:] = 99.0  # invalid samples must not count
    mean, sd = pair_correlation_moments(activity, valid)
    pairs = brute_force_pairs(activity, valid)
    np.testing.assert_allclose(mean, [p.mean() for p in pairs], atol=1e-12)
    np.testing.assert_allclose(sd, [p.std() for p in pairs], atol=1e-12)
    np.testing.assert_allclose(mean, spd.mean_off_diagonal_correlation(activity, valid), atol=1e-12)


def test_saturated_fraction_counts_valid_samples_beyond_the_threshold_only():
    cortex = np.zeros((2, 10, 5))
    cortex[0, :2, 0] = 0.99  # 2 saturated samples of one unit
    cortex[0, 3, 1] = -0.97  # negative saturation counts too
    cortex[1, 9, :] = 1.0  # invalid sample
    valid = np.ones((2, 10), bool)
    valid[1, 9] = False
    out = activity_metrics(cortex.astype(np.float32), valid, 0.95)
    assert out["saturated_fraction"] == pytest.approx(3 / (19 * 5))


def session_metrics(root, plan: Plan) -> dict[int, dict[str, float]]:
    make_run(root, plan)
    return {number: activity_metrics((s := load_session(path, number)).cortex, s.valid, 0.95)
            for number, path in activity_files(root).items()}


def test_planted_growth_of_shared_fluctuations_widens_the_correlation_distribution(tmp_path):
    plan = Plan(sessions=(1, 2, 3, 4), latent=(0.0, 0.4), trials=12, probe=False)
    metrics = session_metrics(tmp_path, plan)
    spread = [metrics[s]["correlation_sd"] for s in plan.sessions]
    assert spread == sorted(spread) and spread[-1] > 2 * spread[0]
    # random loadings: the pairs' correlations spread both ways, their mean stays near 0
    assert all(abs(metrics[s]["mean_correlation"]) < 0.05 for s in plan.sessions)


def test_a_frozen_network_keeps_its_activity_and_correlation_statistics(tmp_path):
    plan = Plan(sessions=(1, 2, 3), trials=16, probe=False, seed=2)
    metrics = session_metrics(tmp_path, plan)
    for key, tolerance in (("mean_activity", 0.01), ("mean_correlation", 0.01), ("correlation_sd", 0.01)):
        values = [metrics[s][key] for s in plan.sessions]
        assert max(values) - min(values) < tolerance, (key, values)
    assert all(metrics[s]["saturated_fraction"] < 0.01 for s in plan.sessions)


def test_a_session_without_valid_samples_gives_nan():
    out = activity_metrics(np.zeros((2, 5, 3), np.float32), np.zeros((2, 5), bool), 0.95)
    assert all(np.isnan(v) for v in out.values())
