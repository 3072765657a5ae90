"""Benjamini-Hochberg false-discovery-rate control across units.

Every per-unit test of the neural analyses (responsive, indicative, Th-excited and movement units) calls a
unit significant through :func:`benjamini_hochberg` at ``q`` = ``NeuralAnalysisConfig.fdr_q`` (0.05): among
the units called, the expected share of false calls is at most ``q``. When no unit has an effect, the
chance of calling any is at most ``q`` and the expected *fraction* called is far below it (about
``q / units``), so a fraction near 0 is the null, not a fraction near ``q``.
"""

from __future__ import annotations

import numpy as np


def benjamini_hochberg(p: np.ndarray, q: float) -> np.ndarray:
    """Which of the p-values ``p`` (any shape; NaN counts as 1) the Benjamini-Hochberg step-up procedure
    at false-discovery rate ``q`` rejects: the k smallest, with k the largest rank such that
    ``p_(k) <= k q / m``. Returns a bool array of ``p``'s shape."""
    p = np.nan_to_num(np.asarray(p, dtype=np.float64), nan=1.0)
    flat = p.ravel()
    m = flat.size
    if m == 0:
        return np.zeros(p.shape, dtype=bool)
    order = np.argsort(flat, kind="stable")
    passes = flat[order] <= q * np.arange(1, m + 1) / m
    rejected = np.zeros(m, dtype=bool)
    if passes.any():
        rejected[order[:np.flatnonzero(passes)[-1] + 1]] = True
    return rejected.reshape(p.shape)
