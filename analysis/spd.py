"""Geometry of neuron-by-neuron correlation matrices: the lab's Riemannian pipeline (shared/SCIENCE.md).

The lab (Ghanayim, Benisty et al. 2025; their public analysis code) computes one Pearson correlation
matrix per trial, averages the matrices of a session with a Riemannian mean, measures distances between
sessions, and embeds trials with a diffusion map. Their matrices come from more neurons than a trial has
independent samples, so they are rank-deficient, and the lab works on the manifold of symmetric positive
*semi*-definite matrices of fixed rank (Bonnabel & Sepulchre's quotient geometry).

We do not. Every trial matrix here is regularised to full rank by shrinkage toward the identity,
``(1 - s) C + s I`` (``s`` = 0.1 by default), and we use the affine-invariant metric on symmetric positive
definite (SPD) matrices, ``d(A, B) = ||log(A^-1/2 B A^-1/2)||_F``. Why: (i) the fixed-rank geometry
needs one rank for all matrices, which our trials of variable length (a success ends a trial early) do
not share, and the choice of that rank changes every distance; (ii) the SPD geometry has closed forms
(distance, exponential and logarithm maps, a Karcher mean that a fixed-point iteration finds reliably)
and is invariant to any rescaling of units, so per-unit gain changes alone do not move a matrix;
(iii) the analyses look at a field of view of fewer units than samples per trial (see
``analysis.neural``), so the shrinkage is a small regulariser, not the main content of a matrix.

All functions work on stacks (leading axes) and diagonalise with :func:`numpy.linalg.eigh`.
"""

from __future__ import annotations

import numpy as np

#: A unit whose variance within a trial is at or below this is treated as silent (correlation 0).
VARIANCE_FLOOR = 1e-12


def _symmetric(mats: np.ndarray) -> np.ndarray:
    return 0.5 * (mats + np.swapaxes(mats, -1, -2))


def spd_function(mats: np.ndarray, function) -> np.ndarray:
    """``V f(w) V^T`` for symmetric ``mats`` (..., N, N) with eigenvalues ``w`` and eigenvectors ``V``."""
    w, v = np.linalg.eigh(_symmetric(np.asarray(mats, dtype=np.float64)))
    return _symmetric((v * function(w)[..., None, :]) @ np.swapaxes(v, -1, -2))


def logm(mats: np.ndarray) -> np.ndarray:
    """Matrix logarithm of SPD matrices (..., N, N)."""
    return spd_function(mats, np.log)


def expm(mats: np.ndarray) -> np.ndarray:
    """Matrix exponential of symmetric matrices (..., N, N)."""
    return spd_function(mats, np.exp)


def sqrtm(mats: np.ndarray) -> np.ndarray:
    """Principal square root of SPD matrices (..., N, N)."""
    return spd_function(mats, np.sqrt)


def invsqrtm(mats: np.ndarray) -> np.ndarray:
    """Inverse principal square root of SPD matrices (..., N, N)."""
    return spd_function(mats, lambda w: 1.0 / np.sqrt(w))


def _centred(activity: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Activity centred per trial and unit over valid samples (invalid samples 0), variances and counts."""
    x = np.asarray(activity, dtype=np.float64)
    w = np.asarray(valid, dtype=bool)
    if x.ndim != 3 or w.shape != x.shape[:2]:
        raise ValueError(f"activity {x.shape} must be (n, T, N) and valid {w.shape} (n, T)")
    x = np.where(w[..., None], x, 0.0)
    count = w.sum(1).astype(np.float64)  # (n,)
    mean = x.sum(1) / np.maximum(count, 1.0)[:, None]
    centred = np.where(w[..., None], x - mean[:, None, :], 0.0)
    variance = (centred**2).sum(1) / np.maximum(count, 1.0)[:, None]
    return centred, variance, count


def correlation_matrices(activity: np.ndarray, valid: np.ndarray, shrinkage: float = 0.1) -> np.ndarray:
    """One shrunk Pearson correlation matrix per trial.

    Args:
        activity: (n, T, N) rates.
        valid: (n, T) which samples belong to the trial; only those enter a trial's correlations.
        shrinkage: ``s`` in ``(1 - s) C + s I``; in (0, 1] makes every matrix positive definite.

    Returns:
        (n, N, N): symmetric, unit diagonal. A unit without variance in a trial (or a trial with fewer
        than two valid samples) has correlation 0 with every other unit.
    """
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"shrinkage={shrinkage} must be in [0, 1]")
    centred, variance, count = _centred(activity, valid)
    n, _, units = centred.shape
    active = (variance > VARIANCE_FLOOR) & (count[:, None] >= 2)
    scale = np.where(active, 1.0 / np.sqrt(np.where(active, variance, 1.0) * np.maximum(count, 1.0)[:, None]),
                     0.0)
    z = centred * scale[:, None, :]  # unit-norm columns, zero for silent units
    corr = np.clip(np.swapaxes(z, 1, 2) @ z, -1.0, 1.0)
    diagonal = np.arange(units)
    corr[:, diagonal, diagonal] = 1.0
    return _symmetric((1.0 - shrinkage) * corr + shrinkage * np.eye(units)[None])


def mean_off_diagonal_correlation(activity: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean off-diagonal Pearson correlation (no shrinkage) per trial, (n,), without forming the matrices.

    With ``z_i`` unit ``i``'s centred, unit-norm time series (zero if silent), ``C_ij = z_i . z_j``, so the
    sum of all entries is ``||sum_i z_i||^2`` and the off-diagonal sum subtracts one per active unit;
    silent units count as correlation 0, as in :func:`correlation_matrices`. NaN for fewer than 2 units.
    """
    centred, variance, count = _centred(activity, valid)
    units = centred.shape[2]
    if units < 2:
        return np.full(centred.shape[0], np.nan)
    active = (variance > VARIANCE_FLOOR) & (count[:, None] >= 2)
    scale = np.where(active, 1.0 / np.sqrt(np.where(active, variance, 1.0) * np.maximum(count, 1.0)[:, None]),
                     0.0)
    total = ((centred * scale[:, None, :]).sum(2) ** 2).sum(1)
    return (total - active.sum(1)) / (units * (units - 1))


def riemann_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Affine-invariant distance ``||log(A^-1/2 B A^-1/2)||_F`` of SPD matrices, broadcast over stacks."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    whiten = invsqrtm(a)
    w = np.linalg.eigvalsh(_symmetric(whiten @ b @ whiten))
    return np.sqrt((np.log(w) ** 2).sum(-1))


def log_euclidean_mean(mats: np.ndarray) -> np.ndarray:
    """``expm(mean_k logm(C_k))`` of a stack (K, N, N)."""
    return expm(logm(mats).mean(0))


def riemann_mean(mats: np.ndarray, tol: float = 1e-8, max_iter: int = 100) -> np.ndarray:
    """Karcher (Frechet) mean of SPD matrices (K, N, N) under the affine-invariant metric.

    The standard fixed-point iteration ``G <- G^1/2 expm(mean_k logm(G^-1/2 C_k G^-1/2)) G^1/2``, started
    at the log-Euclidean mean, until the Frobenius norm of the mean log-map (the Riemannian gradient) is
    below ``tol`` or ``max_iter`` steps were taken.
    """
    mats = np.asarray(mats, dtype=np.float64)
    if mats.ndim != 3 or mats.shape[0] == 0:
        raise ValueError(f"need a non-empty stack (K, N, N), got {mats.shape}")
    mean = log_euclidean_mean(mats)
    for _ in range(max_iter):
        w, v = np.linalg.eigh(mean)
        root = (v * np.sqrt(w)) @ v.T
        inverse_root = (v / np.sqrt(w)) @ v.T
        step = logm(inverse_root @ mats @ inverse_root).mean(0)
        mean = _symmetric(root @ expm(step) @ root)
        if np.linalg.norm(step) < tol:
            break
    return mean


def tangent_vectors(mats: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Whitened log-map of SPD matrices at ``reference``, vectorised: (K, N (N + 1) / 2).

    ``log(R^-1/2 C R^-1/2)``, upper triangle with the diagonal, off-diagonal entries times sqrt(2) so
    that the Euclidean norm of a vector equals the Frobenius norm of the matrix: the distance of a vector
    from 0 is exactly the Riemannian distance of ``C`` from ``R``, and distances between vectors
    approximate Riemannian distances near ``R``.
    """
    whiten = invsqrtm(reference)
    logs = logm(whiten @ np.asarray(mats, dtype=np.float64) @ whiten)
    rows, cols = np.triu_indices(logs.shape[-1])
    weight = np.where(rows == cols, 1.0, np.sqrt(2.0))
    return logs[..., rows, cols] * weight


def pairwise_distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``points`` (K, D): (K, K), exact zeros on the diagonal."""
    points = np.asarray(points, dtype=np.float64)
    norms = (points**2).sum(1)
    squared = np.maximum(norms[:, None] + norms[None, :] - 2.0 * points @ points.T, 0.0)
    np.fill_diagonal(squared, 0.0)
    return np.sqrt(squared)


def diffusion_map(data: np.ndarray, n_components: int = 3, *, precomputed: bool = False,
                  n_neighbors: int = 5, t: int = 1,
                  local_scaling: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Diffusion-map embedding (Coifman & Lafon 2006) of points or of a distance matrix.

    Kernel width as in the lab's code (shared/SCIENCE.md: "Gaussian affinity, width from the median
    distance to nearest neighbours"; their ``CalcInitAff2D(d, 5)``): ``sigma`` = median over all points of
    the distances to each point's ``n_neighbors`` nearest neighbours, affinity
    ``exp(-d^2 / eps)`` with ``eps = 2 sigma^2``. (The lab's median also counts each point's zero distance
    to itself; we leave it out.) The affinity is row-normalised into a Markov matrix ``P = D^-1 K``; its
    right eigenvectors ``psi_k`` (normalised so that ``psi_0 = 1``, via the symmetric conjugate
    ``D^-1/2 K D^-1/2``) times ``lambda_k^t`` are the coordinates, the trivial ``k = 0`` left out.
    Each coordinate's sign is fixed so that its largest-magnitude entry is positive.

    With ``local_scaling`` (the default) each point gets its own width, ``sigma_i`` = distance to its
    ``n_neighbors``-th nearest neighbour, and ``K_ij = exp(-d_ij^2 / (sigma_i sigma_j))`` (self-tuning
    affinity, Zelnik-Manor & Perona 2004). On recorded runs the single global width left a few outlying
    trials (short trials, whose correlation matrices are noisy) almost disconnected; their huge
    coordinates then filled the leading components and hid the structure of all other trials.

    Args:
        data: (K, D) points (Euclidean distances between them), or (K, K) distances if ``precomputed``.
        n_components: coordinates to return (needs K >= n_components + 2).
        n_neighbors: nearest neighbours per point for the kernel width.
        t: diffusion time.

    Returns:
        ``(coords, eigenvalues)``: (K, n_components) and (n_components,), eigenvalues descending.
    """
    data = np.asarray(data, dtype=np.float64)
    if precomputed:
        if data.ndim != 2 or data.shape[0] != data.shape[1]:
            raise ValueError(f"a precomputed distance matrix must be square, got {data.shape}")
        distances = _symmetric(data)
    else:
        if data.ndim != 2:
            raise ValueError(f"points must be (K, D), got {data.shape}")
        distances = pairwise_distances(data)
    count = distances.shape[0]
    if n_components < 1 or count < n_components + 2:
        raise ValueError(f"{count} points cannot give {n_components} non-trivial diffusion coordinates")
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors={n_neighbors} must be >= 1")
    k = min(n_neighbors, count - 1)
    off_diagonal = distances + np.diag(np.full(count, np.inf))
    nearest = np.partition(off_diagonal, k - 1, axis=1)[:, :k]
    sigma = float(np.median(nearest))
    if not sigma > 0:  # duplicated points: fall back to the median positive distance
        positive = distances[distances > 0]
        sigma = float(np.median(positive)) if positive.size else 1.0
    if local_scaling:
        widths = np.sort(off_diagonal, axis=1)[:, k - 1]
        widths = np.where(widths > 0, widths, sigma)
        kernel = np.exp(-(distances**2) / (widths[:, None] * widths[None, :]))
    else:
        kernel = np.exp(-(distances**2) / (2.0 * sigma**2))
    degree = kernel.sum(1)
    inverse_root = 1.0 / np.sqrt(degree)
    symmetric = _symmetric(kernel * inverse_root[:, None] * inverse_root[None, :])
    eigenvalues, vectors = np.linalg.eigh(symmetric)
    order = np.argsort(eigenvalues)[::-1][1:n_components + 1]
    eigenvalues, vectors = eigenvalues[order], vectors[:, order]
    psi = vectors * inverse_root[:, None] * np.sqrt(degree.sum())
    largest = psi[np.argmax(np.abs(psi), axis=0), np.arange(n_components)]
    psi *= np.where(largest < 0, -1.0, 1.0)
    return psi * eigenvalues**t, eigenvalues
