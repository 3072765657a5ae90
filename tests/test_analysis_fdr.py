"""Benjamini-Hochberg correction across units (analysis/fdr.py)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.fdr import benjamini_hochberg


def test_step_up_rejects_up_to_the_largest_rank_under_its_line():
    # m = 5, q = 0.05: lines k q / m = 0.01, 0.02, 0.03, 0.04, 0.05. The 3rd smallest (0.025) is under
    # its line, so the 2nd (0.021, above its line 0.02) is rejected too: step-up, not step-down.
    p = np.array([0.045, 0.005, 0.021, 0.025, 0.5])
    np.testing.assert_array_equal(benjamini_hochberg(p, 0.05), [False, True, True, True, False])


def test_nan_counts_as_one_and_the_shape_is_kept():
    p = np.array([[np.nan, 1e-6], [0.9, 0.2]])
    np.testing.assert_array_equal(benjamini_hochberg(p, 0.05), [[False, True], [False, False]])
    assert benjamini_hochberg(np.zeros(0), 0.05).shape == (0,)


@pytest.mark.parametrize("q", [0.05, 0.2])
def test_under_the_global_null_any_rejection_is_rare(q):
    rng = np.random.default_rng(0)
    rejections = np.array([benjamini_hochberg(rng.random(200), q).any() for _ in range(400)])
    assert rejections.mean() <= q + 0.03  # family-wise error at most q when every null is true
