"""Ridge regression with leave-one-out penalty and its cross-validated R^2 (analysis/ridge.py)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.ridge import cross_validated_r2, ridge_fit, trial_folds

ALPHAS = (1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4)


@pytest.mark.parametrize("features", [1, 12, 40])
def test_ridge_predicts_as_scikit_learns_ridgecv_on_standardised_features(features):
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(features)
    x = rng.standard_normal((300, features)) * rng.uniform(0.1, 3.0, features) + 2.0
    y = x[:, :1] @ rng.standard_normal((1, 15)) + 2.0 * rng.standard_normal((300, 15))
    new = rng.standard_normal((50, features))
    reference = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)).fit(x, y).predict(new)
    np.testing.assert_allclose(ridge_fit(x, y, ALPHAS)(new), reference, atol=1e-9)


def test_ridge_equals_ridgecv_on_the_features_it_keeps():
    # The feature rule is the one difference from scikit-learn's pipeline: with the nearly silent features
    # left out of its input, RidgeCV predicts the same.
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from analysis.ridge import MIN_FEATURE_SD

    rng = np.random.default_rng(4)
    x = rng.standard_normal((500, 20)) * rng.uniform(0.1, 3.0, 20) + 1.0
    x[:, 0] = 0.25  # constant
    x[:, 1] = 0.0
    x[3, 1] = 1e-3  # active in one sample: SD 4.5e-5, below MIN_FEATURE_SD
    y = x[:, 2:5] @ rng.standard_normal((3, 6)) + rng.standard_normal((500, 6))
    new = rng.standard_normal((60, 20))
    kept = x.std(0) >= MIN_FEATURE_SD
    assert kept.tolist() == [False, False] + [True] * 18
    reference = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)).fit(x[:, kept], y)
    np.testing.assert_allclose(ridge_fit(x, y, ALPHAS)(new), reference.predict(new[:, kept]), atol=1e-9)


def test_folds_keep_each_trial_whole_and_balanced():
    trial = np.repeat(np.arange(10), 7)
    fold = trial_folds(trial, 3, np.random.default_rng(0))
    per_trial = fold.reshape(10, 7)
    assert (per_trial == per_trial[:, :1]).all()
    assert sorted(np.bincount(per_trial[:, 0])) == [3, 3, 4]


def test_r2_is_high_for_a_linear_code_and_about_zero_for_noise():
    rng = np.random.default_rng(1)
    trial = np.repeat(np.arange(30), 20)
    x = rng.standard_normal((600, 5))
    target = x @ rng.standard_normal((5, 3)) + 0.3 * rng.standard_normal((600, 3))
    assert cross_validated_r2(x, target, trial, 5, ALPHAS, np.random.default_rng(0)) > 0.9
    noise = rng.standard_normal((600, 5))
    assert abs(cross_validated_r2(noise, target, trial, 5, ALPHAS, np.random.default_rng(0))) < 0.03


def test_r2_is_nan_for_one_trial_or_a_constant_target():
    x = np.random.default_rng(2).standard_normal((40, 2))
    assert np.isnan(cross_validated_r2(x, x, np.zeros(40), 5, ALPHAS, np.random.default_rng(0)))
    assert np.isnan(cross_validated_r2(x, np.ones((40, 3)), np.arange(40) // 4, 5, ALPHAS,
                                       np.random.default_rng(0)))


def test_a_feature_nearly_silent_in_training_does_not_blow_up_a_held_out_prediction():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 5))
    y = x @ rng.standard_normal((5, 2)) + 0.5 * rng.standard_normal((400, 2))
    rare = np.zeros(400)
    rare[7] = 1e-4  # fires once, weakly, in the training samples
    train = np.column_stack([x, rare])
    held_out = np.column_stack([x[:20], np.full(20, 0.13)])  # and fires in every held-out sample
    with_rare = ridge_fit(train, y, (1e-2, 1.0, 1e2))(held_out)
    without = ridge_fit(x, y, (1e-2, 1.0, 1e2))(x[:20])
    np.testing.assert_allclose(with_rare, without, atol=1e-9)
    # Standardised by its tiny training scale it would have pushed the prediction far off.
    naive = ridge_fit(train, y, (1e-2, 1.0, 1e2), min_feature_sd=0.0)(held_out)
    assert np.abs(naive - without).max() > 1.0
