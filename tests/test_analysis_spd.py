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


# --- pyriemann: the former hand-written formulas give the same results ----------------------------------
# Issue 13: distance, matrix functions, means and tangent vectors come from pyriemann. Before the switch, the
# former implementation's outputs on a fixed input were recorded (literals below), and a copy of its
# formulas is kept here; the pyriemann-backed functions must give both to 1e-10.


def _reference_function(mats: np.ndarray, function) -> np.ndarray:
    """The former analysis.spd.spd_function: V f(w) V^T of the symmetric part, symmetrised."""
    def symmetric(m):
        return 0.5 * (m + np.swapaxes(m, -1, -2))
    w, v = np.linalg.eigh(symmetric(mats))
    return symmetric((v * function(w)[..., None, :]) @ np.swapaxes(v, -1, -2))


def _reference_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The former riemann_distance: eigenvalues of A^-1/2 B A^-1/2."""
    a, b = np.broadcast_arrays(a, b)
    whiten = _reference_function(a, lambda w: 1.0 / np.sqrt(w))
    w = np.linalg.eigvalsh(0.5 * (whiten @ b @ whiten + np.swapaxes(whiten @ b @ whiten, -1, -2)))
    return np.sqrt((np.log(w) ** 2).sum(-1))


def _reference_karcher(mats: np.ndarray, tol: float, max_iter: int = 100) -> np.ndarray:
    """The former riemann_mean: undamped fixed-point iteration from the log-Euclidean mean."""
    mean = _reference_function(_reference_function(mats, np.log).mean(0), np.exp)
    for _ in range(max_iter):
        w, v = np.linalg.eigh(mean)
        root, inverse_root = (v * np.sqrt(w)) @ v.T, (v / np.sqrt(w)) @ v.T
        step = _reference_function(inverse_root @ mats @ inverse_root, np.log).mean(0)
        mean = root @ _reference_function(step, np.exp) @ root
        mean = 0.5 * (mean + mean.T)
        if np.linalg.norm(step) < tol:
            break
    return mean


def _reference_tangent(mats: np.ndarray, reference: np.ndarray) -> np.ndarray:
    whiten = _reference_function(reference, lambda w: 1.0 / np.sqrt(w))
    logs = _reference_function(whiten @ mats @ whiten, np.log)
    rows, cols = np.triu_indices(logs.shape[-1])
    return logs[..., rows, cols] * np.where(rows == cols, 1.0, np.sqrt(2.0))


def test_spd_geometry_gives_the_former_implementations_recorded_values():
    mats = random_spd(np.random.default_rng(21), 6, 5, spread=0.5)
    # recorded with the former (numpy eigh) implementation before the switch to pyriemann
    np.testing.assert_allclose(spd.riemann_distance(mats[0], mats[1:]),
                               [1.2300920319324096, 1.1108102855402866, 1.0391567500141452,
                                0.6074730593623816, 1.3237678914067816], rtol=0, atol=1e-10)
    np.testing.assert_allclose(spd.riemann_mean(mats, tol=1e-6)[0],
                               [0.8936313192398999, 0.02276533305229068, 0.01425281778927667,
                                0.08107283178317787, 0.09504388756297821], rtol=0, atol=1e-10)
    np.testing.assert_allclose(spd.log_euclidean_mean(mats)[0],
                               [0.8925784225327265, 0.02365392943392386, 0.01399266776245789,
                                0.08204301398375283, 0.09619079396486982], rtol=0, atol=1e-10)
    np.testing.assert_allclose(spd.tangent_vectors(mats[:2], spd.riemann_mean(mats, tol=1e-6))[:, :5],
                               [[0.01952919066748324, -0.17107679747704285, 0.00935044693325746,
                                 -0.04492101034906265, -0.1648183059209124],
                                [-0.16449443145771264, 0.09376714201330118, 0.31127413364527967,
                                 -0.00467141559601968, -0.02460261900571321]], rtol=0, atol=1e-10)


def correlation_like(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """Shrunk trial correlation matrices as analysis.geometry makes them (62 samples, 3 shared factors)."""
    activity = rng.standard_normal((count, 62, size)) + 0.5 * rng.standard_normal((count, 62, 3)) @ \
        rng.standard_normal((3, size))
    return spd.correlation_matrices(activity, np.ones((count, 62), bool), shrinkage=0.1)


@pytest.mark.parametrize("size", [5, 20, 60])
@pytest.mark.parametrize("kind", ["random", "correlation"])
def test_spd_geometry_agrees_with_the_former_formulas(kind, size):
    rng = np.random.default_rng(size)
    mats = random_spd(rng, 8, size, spread=0.5) if kind == "random" else correlation_like(rng, 8, size)
    tolerance = {"rtol": 0, "atol": 1e-10}
    for ours, function in ((spd.logm, np.log), (spd.expm, np.exp), (spd.sqrtm, np.sqrt),
                           (spd.invsqrtm, lambda w: 1.0 / np.sqrt(w))):
        argument = _reference_function(mats, np.log) if ours is spd.expm else mats
        np.testing.assert_allclose(ours(argument), _reference_function(argument, function), **tolerance)
    np.testing.assert_allclose(spd.riemann_distance(mats[:4], mats[4:]),
                               _reference_distance(mats[:4], mats[4:]), **tolerance)
    np.testing.assert_allclose(spd.riemann_distance(mats[0], mats), _reference_distance(mats[0], mats),
                               **tolerance)
    np.testing.assert_allclose(spd.log_euclidean_mean(mats),
                               _reference_function(_reference_function(mats, np.log).mean(0), np.exp),
                               **tolerance)
    for tol in (1e-6, 1e-10):  # the analysis's riemann_tol, and a tight one
        mean = spd.riemann_mean(mats, tol=tol)
        np.testing.assert_allclose(mean, _reference_karcher(mats, tol), **tolerance)
    np.testing.assert_allclose(spd.tangent_vectors(mats, mean), _reference_tangent(mats, mean), **tolerance)


@pytest.mark.parametrize("size", [5, 20, 48])
def test_karcher_mean_converges_to_pyriemanns_mean_riemann(size):
    # Same fixed point as the maintained implementation; only the iteration differs (riemann_mean's
    # docstring), so at a tight tolerance both agree.
    from pyriemann.geometry.mean import mean_riemann

    mats = correlation_like(np.random.default_rng(100 + size), 20, size)
    theirs = mean_riemann(mats, tol=1e-12, maxiter=500)
    np.testing.assert_allclose(spd.riemann_mean(mats, tol=1e-12, max_iter=500), theirs, rtol=0, atol=1e-10)


# --- diffusion map ------------------------------------------------------------------------------------------


def test_diffusion_map_separates_planted_clusters_and_accepts_distances():
    rng = np.random.default_rng(7)
    points = rng.standard_normal((60, 5))
    points[30:, 0] += 6.0  # two clusters, joined by weak affinities: one component
    coords, eigenvalues, parts = spd.diffusion_map(points, n_components=3, return_components=True)
    assert coords.shape == (60, 3) and eigenvalues.shape == (3,)
    np.testing.assert_array_equal(parts, 0)
    assert np.all(np.diff(eigenvalues) <= 1e-12) and 0 < eigenvalues[-1] and eigenvalues[0] < 1
    first = coords[:, 0]
    cluster = np.repeat([-1.0, 1.0], 30)
    assert abs(np.mean(np.sign(first) == cluster) - 0.5) > 0.45  # >= 95 % on the right side (either sign)
    # one slow mode, the jump between the clusters: far slower than any mode within a cluster
    assert eigenvalues[0] > 0.9 and eigenvalues[1] < 0.7
    assert 1 - eigenvalues[0] < 0.1 * (1 - eigenvalues[1])
    again, values = spd.diffusion_map(spd.pairwise_distances(points), 3, precomputed=True)
    np.testing.assert_allclose(again, coords, atol=1e-8)
    np.testing.assert_allclose(values, eigenvalues)


def test_pairwise_distances_are_exact_differences():
    rng = np.random.default_rng(8)
    points = 1e6 + rng.standard_normal((7, 3))  # |x|^2 + |y|^2 - 2 x.y would cancel catastrophically
    expected = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.testing.assert_allclose(spd.pairwise_distances(points), expected, rtol=1e-12, atol=0)
    assert np.all(np.diag(spd.pairwise_distances(points)) == 0)


def test_diffusion_map_orders_points_along_a_line():
    x = np.linspace(0.0, 1.0, 40)
    coords, _ = spd.diffusion_map(np.stack([x, 0 * x], 1), n_components=2, n_neighbors=3)
    assert abs(np.corrcoef(coords[:, 0], x)[0, 1]) > 0.95  # the slowest mode follows the line
    # The line is symmetric, so the slowest mode is odd and its two ends tie for the largest magnitude:
    # the sign convention resolves the tie to the lowest index on every machine.
    np.testing.assert_allclose(coords[::-1, 0], -coords[:, 0], atol=1e-8)
    assert coords[0, 0] > 0
    reversed_coords, _ = spd.diffusion_map(np.stack([x[::-1], 0 * x], 1), n_components=2, n_neighbors=3)
    np.testing.assert_allclose(reversed_coords, coords, atol=1e-8)


def test_diffusion_map_rejects_too_few_points():
    with pytest.raises(ValueError, match="cannot give"):
        spd.diffusion_map(np.zeros((4, 2)), n_components=3)


def outlier_and_two_clusters() -> np.ndarray:
    rng = np.random.default_rng(3)
    clusters = np.concatenate([rng.normal(0, 0.3, (40, 2)), rng.normal(0, 0.3, (40, 2)) + [4.0, 0.0]])
    return np.concatenate([clusters, [[2.0, 40.0]]])  # one trial far from everything


def test_diffusion_map_local_scaling_keeps_an_outlier_from_hiding_the_clusters():
    points = outlier_and_two_clusters()
    local, values, parts = spd.diffusion_map(points, 3, return_components=True)
    # The far trial, and here also the two clusters, are components of their own (largest first).
    np.testing.assert_array_equal(parts, np.r_[np.zeros(40), np.ones(40), 2])
    np.testing.assert_array_equal(values[:2], 1.0)
    assert values[2] < 0.99
    # The first coordinate separates the clusters (one value each) and leaves the far trial at 0 ...
    first = local[:, 0]
    assert np.ptp(first[:40]) < 1e-12 and np.ptp(first[40:80]) < 1e-12 and first[0] * first[40] < 0
    assert first[80] == 0
    # ... the second one is the far trial's own contrast, and it is 0 in the structure within a cluster:
    assert local[80, 1] > 10 * np.abs(local[:80, 1]).max()
    within = local[:80, 2]
    assert local[80, 2] == 0
    # that structure is spread over many trials, not filled by one barely connected trial:
    assert within.max() ** 2 < 0.2 * (within**2).sum()
    # One global width: a barely connected trial at a cluster's edge alone fills it.
    global_width, global_values = spd.diffusion_map(points, 3, local_scaling=False)
    assert global_values[2] < 1
    edge = global_width[:80, 2]
    assert np.abs(edge).max() ** 2 > 0.9 * (edge**2).sum()


def three_components(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two far-apart clusters of 30 and 20 points and one isolated point; the component of each point."""
    points = np.concatenate([rng.normal(0, 0.5, (30, 2)), rng.normal(0, 0.5, (20, 2)) + [10.0, 0.0],
                             [[0.0, 30.0]]])
    return points, np.r_[np.zeros(30), np.ones(20), 2].astype(int)


def test_diffusion_map_of_a_disconnected_graph_is_unique_and_embeds_each_component():
    points, parts = three_components(np.random.default_rng(11))
    big, small, alone = (parts == 0), (parts == 1), (parts == 2)
    coords, values, found = spd.diffusion_map(points, 8, return_components=True)
    np.testing.assert_array_equal(found, parts)  # numbered by size
    # Two contrasts of the three components, eigenvalue exactly 1, constant on every component:
    np.testing.assert_array_equal(values[:2], 1.0)
    assert np.all(values[2:] < 1 - 1e-3) and np.all(np.diff(values) <= 1e-12)
    for part in (big, small, alone):
        assert np.ptp(coords[part, :2], axis=0).max() < 1e-12
    # the first separates the two largest (the smaller one, of larger magnitude, positive), the isolated
    # point is 0 in it and has the second to itself
    assert coords[small, 0][0] > 0 > coords[big, 0][0] and coords[alone, 0] == 0
    assert coords[alone, 1] > 0 > coords[big, 1][0] and coords[big, 1][0] == coords[small, 1][0]
    # Every other coordinate is a mode of one component, 0 elsewhere, with that component's own
    # eigenvalues and eigenvectors: those of the component embedded alone, up to a positive scale.
    support = np.abs(coords[:, 2:]) > 0
    on_big = np.flatnonzero(support[big].any(0) & ~support[~big].any(0)) + 2
    on_small = np.flatnonzero(support[small].any(0) & ~support[~small].any(0)) + 2
    assert len(on_big) + len(on_small) == 6 and len(on_big) > 0 and len(on_small) > 0
    for members, columns in ((big, on_big), (small, on_small)):
        own, own_values = spd.diffusion_map(points[members], len(columns))
        np.testing.assert_allclose(values[columns], own_values, atol=1e-12)
        ratio = coords[members][:, columns] / own
        assert np.all(ratio > 0)
        np.testing.assert_allclose(ratio, ratio[:1].repeat(len(ratio), 0), rtol=1e-8)
    # Deterministic, and the same for the points in any order (nothing depends on the input order here).
    np.testing.assert_array_equal(spd.diffusion_map(points, 8)[0], coords)
    order = np.random.default_rng(12).permutation(len(points))
    shuffled, shuffled_values = spd.diffusion_map(points[order], 8)
    np.testing.assert_allclose(shuffled, coords[order], atol=1e-10)
    np.testing.assert_allclose(shuffled_values, values, atol=1e-12)


def test_diffusion_map_orders_tied_modes_of_identical_components_by_component():
    rng = np.random.default_rng(13)
    cluster = np.round(rng.normal(0, 0.5, (15, 2)) * 1024) / 1024  # dyadic: the copy's distances are exact
    points = np.concatenate([cluster, cluster + [64.0, 0.0]])
    coords, values, parts = spd.diffusion_map(points, 5, return_components=True)
    np.testing.assert_array_equal(parts, np.repeat([0, 1], 15))  # equal sizes: lowest index first
    assert values[0] == 1.0
    for j in (1, 3):  # the tied eigenvalue of the two copies: the first component's mode first
        assert values[j] == pytest.approx(values[j + 1], abs=1e-12)
        np.testing.assert_array_equal(coords[15:, j], 0.0)
        np.testing.assert_array_equal(coords[:15, j + 1], 0.0)
        np.testing.assert_allclose(coords[:15, j], coords[15:, j + 1], atol=1e-10)


def test_scikit_learns_spectral_embedding_is_the_operator_without_self_affinities():
    # Why diffusion_map is not sklearn's (its docstring): given the same affinity, spectral_embedding embeds
    # D'^-1 (K - I), not D^-1 K: its coordinates are the self-loop-free operator's, not ours.
    from sklearn.manifold import spectral_embedding

    rng = np.random.default_rng(7)
    points = rng.standard_normal((60, 5))
    points[30:, 0] += 6.0
    distances = spd.pairwise_distances(points)
    widths = np.sort(distances + np.diag(np.full(60, np.inf)), axis=1)[:, 4]
    kernel = np.exp(-(distances**2) / (widths[:, None] * widths[None, :]))  # diffusion_map's affinity,
    kernel[kernel / np.sqrt(np.outer(kernel.sum(1), kernel.sum(1))) < spd.AFFINITY_FLOOR] = 0.0  # pruned
    np.fill_diagonal(kernel, 1.0)  # (one connected component: test_diffusion_map_separates_planted_clusters)
    theirs = spectral_embedding(kernel, n_components=3, eigen_solver="arpack", random_state=0)
    ours, _ = spd.diffusion_map(points, 3)
    without_self = kernel - np.eye(60)
    degree = without_self.sum(1)
    _, vectors = np.linalg.eigh(without_self / np.sqrt(np.outer(degree, degree)))
    loop_free = vectors[:, ::-1][:, 1:4] / np.sqrt(degree)[:, None]

    def unit(columns):
        columns = columns / np.linalg.norm(columns, axis=0)
        return columns * np.sign(columns[np.argmax(np.abs(columns), 0), np.arange(columns.shape[1])])

    np.testing.assert_allclose(unit(theirs), unit(loop_free), atol=1e-8)
    assert np.abs(unit(theirs) - unit(ours)).max() > 1e-2


_OTHER_KERNEL = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from analysis import spd
import tests.test_analysis_spd as cases
a = spd.diffusion_map(cases.outlier_and_two_clusters(), 4)
b = spd.diffusion_map(cases.three_components(np.random.default_rng(11))[0], 8)
np.savez(sys.argv[2], a=a[0], av=a[1], b=b[0], bv=b[1])
"""


def _openblas_on_x86() -> bool:
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        config = np.show_config(mode="dicts")
    except TypeError:  # numpy < 1.26
        return False
    return "openblas" in str(config.get("Build Dependencies", {}).get("blas", {})).lower()


@pytest.mark.skipif(not _openblas_on_x86(), reason="needs numpy on OpenBLAS on x86-64")
def test_diffusion_map_does_not_depend_on_the_blas_kernel(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "other.npz"
    env = {**os.environ, "OPENBLAS_CORETYPE": "Sandybridge"}
    subprocess.run([sys.executable, "-c", _OTHER_KERNEL, str(root), str(out)], env=env, check=True,
                   cwd=root, timeout=60)
    other = np.load(out)
    a = spd.diffusion_map(outlier_and_two_clusters(), 4)
    b = spd.diffusion_map(three_components(np.random.default_rng(11))[0], 8)
    np.testing.assert_allclose(other["a"], a[0], atol=1e-8)
    np.testing.assert_allclose(other["av"], a[1], atol=1e-12)
    np.testing.assert_allclose(other["b"], b[0], atol=1e-8)
    np.testing.assert_allclose(other["bv"], b[1], atol=1e-12)
