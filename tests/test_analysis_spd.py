"""Geometry of correlation matrices (analysis/spd.py): closed forms, invariances, planted structure."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import spd


def random_spd(rng: np.random.Generator, count: int, size: int, spread: float = 1.0) -> np.ndarray:
    """SPD matrices with eigenvalues exp(spread * N(0, 1)) in random bases."""
    bases = np.linalg.qr(rng.standard_normal((count, size, size)))[0]
    values = np.exp(spread * rng.standard_normal((count, size)))
    return (bases * values[:, None, :]) @ np.swapaxes(bases, 1, 2)


# --- correlation matrices ---------------------------------------------------------------------------------


def test_correlations_match_numpy_on_each_trials_valid_samples_and_are_shrunk():
    rng = np.random.default_rng(0)
    activity = rng.standard_normal((3, 40, 5))
    activity[:, :, 1] += activity[:, :, 0]
    valid = np.ones((3, 40), bool)
    valid[1, 25:] = False
    activity[1, 25:] = 1e3  # invalid samples must not matter
    corr = spd.correlation_matrices(activity, valid, shrinkage=0.2)
    for trial in range(3):
        expected = np.corrcoef(activity[trial, valid[trial]].T)
        np.testing.assert_allclose(corr[trial], 0.8 * expected + 0.2 * np.eye(5), atol=1e-12)
    assert corr[0, 0, 1] > 0.5


def test_silent_units_get_zero_correlation_and_every_matrix_is_positive_definite():
    rng = np.random.default_rng(1)
    activity = rng.standard_normal((2, 6, 10))  # fewer samples than units: rank-deficient without shrinkage
    activity[:, :, 3] = 0.25  # constant unit
    corr = spd.correlation_matrices(activity, np.ones((2, 6), bool), shrinkage=0.1)
    np.testing.assert_allclose(corr[:, 3], np.eye(10)[3][None].repeat(2, 0))
    np.testing.assert_allclose(corr, np.swapaxes(corr, 1, 2))
    assert np.linalg.eigvalsh(corr).min() >= 0.1 - 1e-12


def test_mean_off_diagonal_correlation_equals_the_mean_of_the_matrices():
    rng = np.random.default_rng(2)
    activity = rng.standard_normal((4, 30, 7)) + rng.standard_normal((4, 30, 1))
    activity[2, :, 5] = 0.0
    valid = rng.random((4, 30)) < 0.8
    corr = spd.correlation_matrices(activity, valid, shrinkage=0.0)
    off = ~np.eye(7, dtype=bool)
    np.testing.assert_allclose(spd.mean_off_diagonal_correlation(activity, valid), corr[:, off].mean(1),
                               atol=1e-12)


# --- distance, mean, tangent space --------------------------------------------------------------------------


def test_distance_closed_form_for_commuting_matrices():
    a, b = np.diag([1.0, 2.0, 0.5]), np.diag([np.e, 2.0, 0.5 * np.e**-2])
    assert spd.riemann_distance(a, b) == pytest.approx(np.sqrt(1 + 4))
    assert spd.riemann_distance(np.eye(3), np.eye(3)) == pytest.approx(0.0, abs=1e-12)


def test_distance_is_symmetric_congruence_invariant_and_broadcasts():
    rng = np.random.default_rng(3)
    a, b = random_spd(rng, 4, 6), random_spd(rng, 4, 6)
    x = rng.standard_normal((6, 6))  # any invertible matrix
    d = spd.riemann_distance(a, b)
    assert d.shape == (4,) and np.all(d > 0)
    np.testing.assert_allclose(spd.riemann_distance(b, a), d, rtol=1e-9)
    np.testing.assert_allclose(spd.riemann_distance(x @ a @ x.T, x @ b @ x.T), d, rtol=1e-7)
    np.testing.assert_allclose(spd.riemann_distance(np.linalg.inv(a), np.linalg.inv(b)), d, rtol=1e-8)
    np.testing.assert_allclose(spd.riemann_distance(a[0], b), [spd.riemann_distance(a[0], m) for m in b])


def test_mean_of_two_matrices_is_the_geodesic_midpoint():
    rng = np.random.default_rng(4)
    a, b = random_spd(rng, 2, 5)
    root, inverse_root = spd.sqrtm(a), spd.invsqrtm(a)
    midpoint = root @ spd.sqrtm(inverse_root @ b @ inverse_root) @ root
    mean = spd.riemann_mean(np.stack([a, b]))
    np.testing.assert_allclose(mean, midpoint, rtol=1e-7, atol=1e-9)
    assert spd.riemann_distance(mean, a) == pytest.approx(spd.riemann_distance(a, b) / 2, rel=1e-7)


def test_mean_of_commuting_matrices_is_the_geometric_mean_and_is_congruence_equivariant():
    rng = np.random.default_rng(5)
    values = np.exp(rng.standard_normal((7, 4)))
    mean = spd.riemann_mean(np.stack([np.diag(v) for v in values]))
    np.testing.assert_allclose(mean, np.diag(np.exp(np.log(values).mean(0))), rtol=1e-8, atol=1e-12)
    mats, x = random_spd(rng, 6, 4, spread=0.7), rng.standard_normal((4, 4))
    np.testing.assert_allclose(spd.riemann_mean(x @ mats @ x.T), x @ spd.riemann_mean(mats) @ x.T,
                               rtol=1e-6, atol=1e-8)
    # the Karcher mean is where the log-maps of the samples average to zero (the gradient vanishes)
    assert np.abs(spd.tangent_vectors(mats, spd.riemann_mean(mats)).mean(0)).max() < 1e-7


def test_tangent_vectors_preserve_the_distance_to_the_reference():
    rng = np.random.default_rng(6)
    mats, reference = random_spd(rng, 5, 4), random_spd(rng, 1, 4)[0]
    vectors = spd.tangent_vectors(mats, reference)
    assert vectors.shape == (5, 10)
    distances = spd.riemann_distance(reference, mats)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), distances, rtol=1e-9)
    np.testing.assert_allclose(spd.tangent_vectors(reference[None], reference), 0.0, atol=1e-10)


# --- diffusion map ------------------------------------------------------------------------------------------


def test_diffusion_map_separates_planted_clusters_and_accepts_distances():
    rng = np.random.default_rng(7)
    points = rng.standard_normal((60, 5))
    points[30:, 0] += 6.0  # two clusters, joined by weak affinities (a disconnected graph has no order)
    coords, eigenvalues = spd.diffusion_map(points, n_components=3)
    assert coords.shape == (60, 3) and eigenvalues.shape == (3,)
    assert np.all(np.diff(eigenvalues) <= 1e-12) and 0 < eigenvalues[-1] and eigenvalues[0] <= 1 + 1e-12
    first = coords[:, 0]
    cluster = np.repeat([-1.0, 1.0], 30)
    assert abs(np.mean(np.sign(first) == cluster) - 0.5) > 0.45  # >= 95 % on the right side (either sign)
    assert eigenvalues[0] > 0.9 > 0.6 > eigenvalues[1]  # one slow mode: the jump between the clusters
    again, values = spd.diffusion_map(spd.pairwise_distances(points), 3, precomputed=True)
    np.testing.assert_allclose(again, coords, atol=1e-8)
    np.testing.assert_allclose(values, eigenvalues)


def test_diffusion_map_orders_points_along_a_line():
    x = np.linspace(0.0, 1.0, 40)
    coords, _ = spd.diffusion_map(np.stack([x, 0 * x], 1), n_components=2, n_neighbors=3)
    assert abs(np.corrcoef(coords[:, 0], x)[0, 1]) > 0.95  # the slowest mode follows the line


def test_diffusion_map_rejects_too_few_points():
    with pytest.raises(ValueError, match="cannot give"):
        spd.diffusion_map(np.zeros((4, 2)), n_components=3)


def test_diffusion_map_local_scaling_keeps_an_outlier_from_hiding_the_clusters():
    rng = np.random.default_rng(3)
    clusters = np.concatenate([rng.normal(0, 0.3, (40, 2)), rng.normal(0, 0.3, (40, 2)) + [4.0, 0.0]])
    points = np.concatenate([clusters, [[2.0, 40.0]]])  # one trial far from everything
    side = np.r_[np.zeros(40), np.ones(40)]

    local, _ = spd.diffusion_map(points, 2)
    first = local[:80, 0]
    assert abs(first[side == 0].mean() - first[side == 1].mean()) > 1.5 * first.std()
    assert abs(local[80, 0]) < np.abs(first).max()
    # One global width: the outlier alone fills the first coordinate.
    global_width, _ = spd.diffusion_map(points, 2, local_scaling=False)
    assert abs(global_width[80, 0]) > 10 * np.abs(global_width[:80, 0]).max()
