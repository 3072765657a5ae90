"""Statistics across seeds (intervals, paired and one-sided tests, equivalence, Holm) and how the findings
treat missing runs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from analysis import figures
from analysis.findings import Data, finding_2
from analysis.statistics import (
    equivalence_p,
    holm,
    mean_ci,
    non_inferiority_p,
    one_sided_p,
    paired,
    sign_flip_p,
)


def test_mean_ci_is_the_student_t_interval():
    x = np.array([0.2, 0.4, 0.5, 0.3, 0.6])
    ci = mean_ci(x)
    low, high = stats.t.interval(0.95, 4, loc=x.mean(), scale=stats.sem(x))
    assert ci.n == 5
    assert ci.mean == pytest.approx(0.4)
    assert (ci.low, ci.high) == pytest.approx((low, high))


def test_mean_ci_ignores_nan_and_handles_tiny_samples():
    assert mean_ci([np.nan, 0.5, 0.7]).n == 2
    one = mean_ci([0.3])
    assert one.mean == 0.3 and math.isnan(one.low)
    assert mean_ci([]).format() == "n/a"


def test_sign_flip_p_is_exact():
    # All 5 differences positive: only the all-plus and all-minus patterns are as extreme.
    assert sign_flip_p([0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(2 / 32)
    assert sign_flip_p([0.1, -0.1]) == 1.0


def _former_sign_flip_p(differences) -> float:
    """The hand-written exact sign-flip test that scipy.stats.permutation_test replaced (issue 13)."""
    import itertools

    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) == 0 or len(d) > 16:
        return math.nan
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
    return float(np.mean(np.abs(signs @ d / len(d)) >= abs(d.mean()) - 1e-12))


def test_sign_flip_p_gives_the_former_exact_enumeration():
    # n = 10: all 2^10 sign patterns; 90 of the 1,024 means are as far from 0 (recorded before the switch).
    d = np.random.default_rng(10).normal(0.5, 1.0, 10)
    assert sign_flip_p(d) == 90 / 1024 == _former_sign_flip_p(d)
    rng = np.random.default_rng(0)
    cases = [rng.normal(0.3, 1.0, n) for n in (2, 3, 5, 8, 10, 12, 16) for _ in range(5)]
    cases += [[0.1, -0.1], [0.2] * 5, [0.0] * 4, [1.0, -1.0, 2.0, -2.0, 0.5], [0.1, 0.1, -0.2, 0.3, -0.3],
              [0.3, np.nan, 0.1, 0.2]]
    for differences in cases:
        assert sign_flip_p(differences) == _former_sign_flip_p(differences), differences
    assert sign_flip_p([0.4]) == 1.0  # one value: both of its patterns are as extreme
    assert math.isnan(sign_flip_p([])) and math.isnan(sign_flip_p(np.ones(17)))


def test_paired_test_matches_scipy_and_drops_incomplete_pairs():
    a = np.array([0.5, 0.6, 0.7, 0.55, np.nan])
    b = np.array([0.3, 0.45, 0.4, 0.5, 0.2])
    test = paired(a, b)
    reference = stats.ttest_rel(a[:4], b[:4])
    assert test.difference.n == 4
    assert test.t == pytest.approx(reference.statistic)
    assert test.p == pytest.approx(reference.pvalue)
    assert test.p_greater == pytest.approx(reference.pvalue / 2)
    with pytest.raises(ValueError, match="same shape"):
        paired([1, 2], [1, 2, 3])


def test_paired_test_of_constant_differences():
    test = paired([0.5, 0.6, 0.7], [0.4, 0.5, 0.6])
    assert test.p_greater == 0.0
    assert paired([0.5, 0.6], [0.5, 0.6]).p == 1.0


def test_non_inferiority():
    assert non_inferiority_p([0.01, -0.02, 0.0, 0.02, -0.01], margin=0.1) < 0.001
    assert non_inferiority_p([-0.3, -0.25, -0.35, -0.2, -0.3], margin=0.1) > 0.9


def test_one_sided_p_matches_scipy_and_fails_ties():
    x = np.array([0.1, 0.3, -0.05, 0.2, 0.15])
    assert one_sided_p(x) == pytest.approx(stats.ttest_1samp(x, 0.0, alternative="greater").pvalue)
    assert one_sided_p(x, null=0.1) == pytest.approx(stats.ttest_1samp(x, 0.1, alternative="greater").pvalue)
    assert one_sided_p([0.2, 0.2, 0.2]) == 0.0 and one_sided_p([0.0, 0.0, 0.0]) == 1.0  # no spread; a tie
    assert math.isnan(one_sided_p([0.3, np.nan]))


def test_equivalence_p_is_the_larger_of_two_one_sided_tests():
    d = np.array([0.01, -0.02, 0.0, 0.03, -0.01])
    lower = stats.ttest_1samp(d, -0.05, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, 0.05, alternative="less").pvalue
    assert equivalence_p(d, 0.05) == pytest.approx(max(lower, upper))
    assert equivalence_p(d + 0.2, 0.05) > 0.5  # outside the band
    assert equivalence_p([0.05] * 4, 0.05) == 1.0  # constant at the margin: a tie


def test_holm_against_a_hand_computed_example():
    # Sorted: 0.005 (x4) = 0.02; 0.01 (x3) = 0.03; 0.03 (x2) = 0.06; 0.04 (x1) = 0.04 -> max(0.06, 0.04).
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # NaN (untestable) stays NaN and is not counted: m = 2.
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1, monotone
    np.testing.assert_allclose(holm([0.2]), [0.2])
    assert holm([]).shape == (0,)


SEEDS = [0, 1, 2, 3, 4]


def _success(curves: dict[str, list[list[float]]], first_session: dict[str, int] | None = None) -> dict:
    first_session = first_session or {}
    return {c: {seed: {first_session.get(c, 1) + i: v for i, v in enumerate(values)}
                for seed, values in zip(SEEDS, rows, strict=True)}
            for c, rows in curves.items()}


def _jitter(values: list[float], scale: float = 0.03) -> list[list[float]]:
    rng = np.random.default_rng(0)
    return [list(np.clip(np.array(values) + rng.normal(0, scale, len(values)), 0, 1)) for _ in SEEDS]


def test_missing_runs_give_nan_means_and_empty_figures_without_warnings(tmp_path):
    # A seed whose runs all failed, or a sweep with nothing finished: NaN, "not tested", figures drawn.
    partly = Data([0, 1], {"intact": {0: {1: 0.2, 4: 0.5}, 1: {1: 0.3, 4: 0.4}},
                           "block_2_4": {0: {1: 0.2, 4: 0.3}}}, {})
    empty = Data(SEEDS, {}, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(partly.mean_over("block_2_4", "success", range(1, 5)), [0.25, np.nan])
        for undecidable in (Data(SEEDS, _success({"intact": [[0.2] * 4] * 5}), {}), partly, empty):
            f = finding_2(undecidable)
            assert (f.verdict, f.labels) == ("not reproduced", ["not tested"])
        assert all(math.isnan(v) for v in empty.mean_over("intact", "success", range(1, 5)))
        for data in (partly, empty):
            assert figures.learning_curves(data, 6, (2, 4), range(6, 7), tmp_path)
            # no expert session in the data: no bars to draw, so no figure (rather than empty axes)
            assert figures.expert_effects(data, range(6, 7), tmp_path) == []
