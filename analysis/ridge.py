"""Ridge regression with a penalty chosen by leave-one-out error, and its R^2 cross-validated over trials.

:func:`ridge_fit` gives the same predictions as scikit-learn's
``make_pipeline(StandardScaler(), RidgeCV(alphas))`` fitted on the features it keeps (to about 1e-13;
tests/test_analysis_ridge.py checks it to 1e-9, with and without features it leaves out). It stays
hand-written for two reasons: speed, and the feature rule. Measured on one thread (the analysis's) at
2,000 samples x 128 features x 6 targets with 7 penalties, that pipeline, given the kept features, takes
4.5-6 times as long per fit (34 ms against 152 ms; 4-4.5 times at 2,000 x 64 x 15 and 1,500 x 256 x 15),
and an ablation runs thousands of fits. Both diagonalise ``X^T X`` once (RidgeCV's "cov" mode), but
RidgeCV recomputes every sample's leverage from the samples for each penalty (most of its time,
profiled), where here the samples are projected onto the eigenvectors once and each penalty's leverages
are one matrix-vector product. And scikit-learn has no counterpart of ``min_feature_sd``:
``StandardScaler`` divides a nearly silent feature by its tiny scale (it leaves alone only features whose
scale is below 10 machine epsilons), the failure :func:`ridge_fit`'s docstring describes, so the mask
would have to be applied around it anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: Smallest training standard deviation of a feature the regression uses (rate units: below the
#: recordings' float16 resolution near 1, a feature carries no variance to regress on).
MIN_FEATURE_SD = 1e-3


def ridge_fit(x: np.ndarray, y: np.ndarray, alphas: tuple[float, ...],
              min_feature_sd: float = MIN_FEATURE_SD) -> Callable[[np.ndarray], np.ndarray]:
    """Ridge regression of ``y`` (m, targets) on standardised ``x`` (m, p) with an intercept, the penalty
    from ``alphas`` with the least leave-one-out squared error summed over targets.

    The closed-form leave-one-out residuals ``(y - y_hat) / (1 - h)`` (as in ``RidgeCV``), from one
    eigendecomposition of ``X^T X``. A feature whose training standard deviation is below
    ``min_feature_sd`` is left out (its coefficient is 0): a unit silent in all but a sample or two of
    the training folds would otherwise be standardised by a tiny scale and blow up the prediction of a
    held-out trial in which it fires (measured: a held-out R^2 of -124 in one fold of a circuit-2 S1
    population, a unit active in 1 of 1,735 training samples). Returns ``predict(x_new)``.
    """
    mean, scale = x.mean(0), x.std(0)
    used = scale >= min_feature_sd
    scale = np.where(used, scale, 1.0)
    xs = (x - mean) / scale * used
    y_mean = y.mean(0)
    yc = y - y_mean
    # Fits, leverages and coefficients are functions of X^T X (V g(w) V^T): independent of the eigenbasis.
    eigenvalues, vectors = np.linalg.eigh(xs.T @ xs)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    projected = xs @ vectors  # (m, p)
    projected_y = projected.T @ yc  # (p, targets)
    squared = projected**2
    best, best_error = alphas[0], np.inf
    for alpha in alphas:
        shrink = 1.0 / (eigenvalues + alpha)
        fitted = projected @ (shrink[:, None] * projected_y)
        leverage = squared @ shrink + 1.0 / len(x)  # the intercept's share
        error = (((yc - fitted) / (1.0 - leverage)[:, None]) ** 2).sum()
        if error < best_error:
            best, best_error = alpha, error
    coefficients = vectors @ ((1.0 / (eigenvalues + best))[:, None] * projected_y)

    def predict(x_new: np.ndarray) -> np.ndarray:
        return ((x_new - mean) / scale * used) @ coefficients + y_mean
    return predict


def trial_folds(trial: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Fold index (0..k-1) of each sample, whole trials to a fold (seeded, as even as possible)."""
    trials = np.unique(trial)
    fold_of_trial = np.empty(len(trials), dtype=np.int64)
    fold_of_trial[rng.permutation(len(trials))] = np.arange(len(trials)) % k
    return fold_of_trial[np.searchsorted(trials, trial)]


def cross_validated_r2(features: np.ndarray, target: np.ndarray, trial: np.ndarray, folds: int,
                       alphas: tuple[float, ...], rng: np.random.Generator) -> float:
    """Out-of-fold R^2 of :func:`ridge_fit`, folds over trials (never samples of one trial on both sides).

    Args:
        features: (m, p) predictors per sample.
        target: (m, targets) what they predict.
        trial: (m,) the trial of each sample.
        folds: number of folds (fewer with fewer trials).
        alphas: penalties to choose from (by leave-one-out error within the training folds).
        rng: seeds the assignment of trials to folds.

    Returns:
        ``1 - SSE / SST`` pooled over folds and summed over targets (so variance-weighted over them);
        about 0 (or slightly below) when the features predict nothing; NaN with fewer than 2 trials or a
        constant target.
    """
    if len(np.unique(trial)) < 2:
        return math.nan
    total = ((target - target.mean(0)) ** 2).sum()
    if not total > 0:
        return math.nan
    k = min(folds, len(np.unique(trial)))
    fold = trial_folds(trial, k, rng)
    predicted = np.empty_like(target, dtype=np.float64)
    for f in range(k):
        test = fold == f
        predicted[test] = ridge_fit(features[~test], target[~test], alphas)(features[test])
    return float(1.0 - ((target - predicted) ** 2).sum() / total)
