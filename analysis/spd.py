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

The matrix functions, the distance, the log-Euclidean mean and the tangent vectors are pyriemann's
(``pyriemann.geometry``, 0.12 on): on random and trial-correlation SPD matrices of 5-60 units they give
the former hand-written formulas' values to 1e-13 or better (tests/test_analysis_spd.py pins them to
1e-10). Their results are made exactly symmetric, as before: pyriemann's products are symmetric only
up to rounding, and the consumers (eigensolvers, the upper triangle of a tangent vector) read one
triangle. The Karcher mean's iteration and the diffusion map stay ours; their docstrings say why.

All functions work on stacks (leading axes). pyriemann is imported where it is used: importing any
part of it imports all of it (with scikit-learn), seconds that the modules importing this one for a
constant should not pay.
"""

from __future__ import annotations

import numpy as np

#: A unit whose variance within a trial is at or below this is treated as silent (correlation 0).
VARIANCE_FLOOR = 1e-12


def _symmetric(mats: np.ndarray) -> np.ndarray:
    return 0.5 * (mats + np.swapaxes(mats, -1, -2))


def spd_function(mats: np.ndarray, function) -> np.ndarray:
    """``V f(w) V^T`` for symmetric ``mats`` (..., N, N) with eigenvalues ``w`` and eigenvectors ``V``
    (any ``f``; pyriemann's public functions are only log, exp, powers and square roots).

    Unique whatever basis (signs, rotations within repeated eigenvalues) the solver returns: ``f`` takes
    one value on each eigenspace, so the result is the same on every machine up to rounding.
    """
    w, v = np.linalg.eigh(_symmetric(np.asarray(mats, dtype=np.float64)))
    return _symmetric((v * function(w)[..., None, :]) @ np.swapaxes(v, -1, -2))


def logm(mats: np.ndarray) -> np.ndarray:
    """Matrix logarithm of SPD matrices (..., N, N) (pyriemann), exactly symmetric."""
    from pyriemann.geometry.base import logm as riemann_logm

    return _symmetric(riemann_logm(_symmetric(np.asarray(mats, dtype=np.float64))))


def expm(mats: np.ndarray) -> np.ndarray:
    """Matrix exponential of symmetric matrices (..., N, N) (pyriemann), exactly symmetric."""
    from pyriemann.geometry.base import expm as riemann_expm

    return _symmetric(riemann_expm(_symmetric(np.asarray(mats, dtype=np.float64))))


def sqrtm(mats: np.ndarray) -> np.ndarray:
    """Principal square root of SPD matrices (..., N, N) (pyriemann), exactly symmetric."""
    from pyriemann.geometry.base import sqrtm as riemann_sqrtm

    return _symmetric(riemann_sqrtm(_symmetric(np.asarray(mats, dtype=np.float64))))


def invsqrtm(mats: np.ndarray) -> np.ndarray:
    """Inverse principal square root of SPD matrices (..., N, N) (pyriemann), exactly symmetric."""
    from pyriemann.geometry.base import invsqrtm as riemann_invsqrtm

    return _symmetric(riemann_invsqrtm(_symmetric(np.asarray(mats, dtype=np.float64))))


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
    """Affine-invariant distance ``||log(A^-1/2 B A^-1/2)||_F`` of SPD matrices, broadcast over stacks
    (pyriemann's ``distance_riemann``)."""
    from pyriemann.geometry.distance import distance_riemann

    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return distance_riemann(a, b)


def log_euclidean_mean(mats: np.ndarray) -> np.ndarray:
    """``expm(mean_k logm(C_k))`` of a stack (K, N, N) (pyriemann's ``mean_logeuclid``)."""
    from pyriemann.geometry.mean import mean_logeuclid

    return _symmetric(mean_logeuclid(np.asarray(mats, dtype=np.float64)))


def riemann_mean(mats: np.ndarray, tol: float = 1e-8, max_iter: int = 100) -> np.ndarray:
    """Karcher (Frechet) mean of SPD matrices (K, N, N) under the affine-invariant metric.

    The standard fixed-point iteration ``G <- G^1/2 expm(mean_k logm(G^-1/2 C_k G^-1/2)) G^1/2``, started
    at the log-Euclidean mean, until the Frobenius norm of the mean log-map (the Riemannian gradient) is
    below ``tol`` or ``max_iter`` steps were taken.

    The steps are pyriemann's matrix functions, the iteration is ours. pyriemann's ``mean_riemann`` has
    the same fixed point (tested: they agree to 1e-10 at ``tol`` = 1e-12) but a different iteration: it
    starts at the Euclidean mean and damps each step by a factor ``nu`` that shrinks by 0.95 every
    iteration (halves when the gradient grows). So for the same ``tol`` it stops at a different point
    (measured at the analysis's ``riemann_tol`` = 1e-6): on a synthetic run of 5 sessions x 64 trials
    (48-unit field of view) its means differ from these by about 1e-8 and move ``distance_to_expert`` by
    up to 2e-8, and this undamped iteration ends closer to the exact mean (5e-10 from it, pyriemann's
    9e-9, on 30 random 5 x 5 matrices). Both cost the same (320 matrices of 48 units, one thread: 0.79 s
    here, 0.73 s pyriemann's). Keeping this iteration keeps every recorded metric as it was.
    """
    mats = np.asarray(mats, dtype=np.float64)
    if mats.ndim != 3 or mats.shape[0] == 0:
        raise ValueError(f"need a non-empty stack (K, N, N), got {mats.shape}")
    mean = log_euclidean_mean(mats)
    for _ in range(max_iter):
        root, inverse_root = sqrtm(mean), invsqrtm(mean)
        step = logm(inverse_root @ mats @ inverse_root).mean(0)
        mean = _symmetric(root @ expm(step) @ root)
        if np.linalg.norm(step) < tol:
            break
    return mean


def tangent_vectors(mats: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Whitened log-map of SPD matrices at ``reference``, vectorised: (K, N (N + 1) / 2) (pyriemann's
    ``tangent_space``).

    ``log(R^-1/2 C R^-1/2)``, upper triangle with the diagonal (row by row), off-diagonal entries times
    sqrt(2) so that the Euclidean norm of a vector equals the Frobenius norm of the matrix: the distance
    of a vector from 0 is exactly the Riemannian distance of ``C`` from ``R``, and distances between
    vectors approximate Riemannian distances near ``R``.
    """
    from pyriemann.geometry.tangentspace import tangent_space

    return tangent_space(np.asarray(mats, dtype=np.float64), np.asarray(reference, dtype=np.float64),
                         metric="riemann")


def pairwise_distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``points`` (K, D): (K, K), exact zeros on the diagonal.

    Summed squared differences (:func:`scipy.spatial.distance.pdist`), not the expansion
    ``|x|^2 + |y|^2 - 2 x.y``: no cancellation for close points, and no matrix product whose rounding
    depends on the BLAS kernel of the machine.
    """
    from scipy.spatial.distance import pdist, squareform

    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2:
        raise ValueError(f"points must be (K, D), got {points.shape}")
    return squareform(pdist(points))


#: Affinities of the symmetric diffusion operator below this are set to 0 (see :func:`diffusion_map`).
AFFINITY_FLOOR = float(np.sqrt(np.finfo(np.float64).eps))  # about 1.5e-8
#: Eigenvalues of different components closer than this count as tied (ordered by component).
_EIGENVALUE_TIE = 1e-12
#: Entries within this relative distance of a coordinate's largest magnitude count as tied for its sign.
_SIGN_TIE = 1e-6


def _components(adjacency: np.ndarray) -> np.ndarray:
    """Component of every point, numbered by size (descending), ties by their lowest point index."""
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import connected_components

    _, raw = connected_components(csr_array(adjacency != 0), directed=False)
    count = len(adjacency)
    sizes = np.bincount(raw)
    first = np.full(len(sizes), count)
    np.minimum.at(first, raw, np.arange(count))
    order = np.lexsort((first, -sizes))  # last key first: size descending, then lowest index
    rank = np.empty(len(sizes), dtype=np.int64)
    rank[order] = np.arange(len(sizes))
    return rank[raw]


def _fix_signs(psi: np.ndarray) -> np.ndarray:
    """Flip each column so that its first entry (lowest index) of largest magnitude is positive.

    Magnitudes within a relative ``_SIGN_TIE`` of the largest count as the largest, so that entries equal
    up to rounding (e.g. the two ends of a symmetric mode, or all points of a component in a component
    contrast) pick the same entry on every machine.
    """
    magnitude = np.abs(psi)
    peak = magnitude.max(0, keepdims=True)
    chosen = np.argmax(magnitude >= (1.0 - _SIGN_TIE) * peak, axis=0)
    signs = np.sign(psi[chosen, np.arange(psi.shape[1])])
    return psi * np.where(signs < 0, -1.0, 1.0)


def diffusion_map(data: np.ndarray, n_components: int = 3, *, precomputed: bool = False,
                  n_neighbors: int = 5, t: int = 1, local_scaling: bool = True,
                  return_components: bool = False):
    """Diffusion-map embedding (Coifman & Lafon 2006) of points or of a distance matrix.

    Kernel width as in the lab's code (shared/SCIENCE.md: "Gaussian affinity, width from the median
    distance to nearest neighbours"; their ``CalcInitAff2D(d, 5)``): ``sigma`` = median over all points of
    the distances to each point's ``n_neighbors`` nearest neighbours, affinity
    ``exp(-d^2 / eps)`` with ``eps = 2 sigma^2``. (The lab's median also counts each point's zero distance
    to itself; we leave it out.) The affinity is row-normalised into a Markov matrix ``P = D^-1 K``; its
    right eigenvectors ``psi_k``, normalised to ``sum_i pi_i psi_k(i)^2 = 1`` with the stationary
    distribution ``pi = D / sum(D)`` (computed via the symmetric conjugate ``S = D^-1/2 K D^-1/2``), times
    ``lambda_k^t`` are the coordinates, the trivial ``psi_0 = 1`` left out.

    With ``local_scaling`` (the default) each point gets its own width, ``sigma_i`` = distance to its
    ``n_neighbors``-th nearest neighbour, and ``K_ij = exp(-d_ij^2 / (sigma_i sigma_j))`` (self-tuning
    affinity, Zelnik-Manor & Perona 2004). On recorded runs the single global width left a few outlying
    trials (short trials, whose correlation matrices are noisy) almost disconnected; their huge
    coordinates then filled the leading components and hid the structure of all other trials.

    Disconnected graphs. A Gaussian affinity between far-apart groups underflows or is negligible, and the
    graph falls apart. Then the eigenvalue 1 of ``P`` is degenerate (one per component), and so is any
    eigenvalue two components share: an eigensolver returns an arbitrary basis of such an eigenspace, and
    which one depends on its rounding, i.e. on the machine's BLAS kernel. A group joined to the rest only
    by links of weight ``w`` (entries of ``S``) is no better: it splits the eigenvalue 1 into ``1`` and
    ``1 - g`` with ``g`` at most of order ``w`` (often far smaller), and a backward-stable solver gets an
    eigenvector only to about ``eps / gap`` (``||S|| = 1``). So:

    1. Entries of ``S`` below ``AFFINITY_FLOOR = sqrt(eps)`` (about 1.5e-8) are set to exactly 0 in ``K``,
       and the degrees recomputed. A link that weak would leave an eigenvector with fewer than half of
       its digits determined by the data (``eps / gap > sqrt(eps)``); dropping all of them changes ``S``
       by at most ``K sqrt(eps)`` in norm (row sums), far below the sampling noise of any embedding.
       Because the Gaussian decays so fast, the floor only decides for pairs about 4 widths apart
       (``d^2 / (sigma_i sigma_j)`` about 16 to 18 for degrees up to 10).
    2. Connected components of the pruned graph (:func:`scipy.sparse.csgraph.connected_components`) are
       numbered by size, descending, ties by their lowest point index. ``P`` is block diagonal, so its
       spectrum is the union of the blocks' spectra.
    3. The eigenvalue-1 eigenspace is spanned by the component indicators. Its non-trivial part gets a
       fixed basis: degree-weighted Helmert contrasts, the ``j``-th (``j = 1 .. C - 1``) constant on
       components ``0 .. j - 1`` together, another constant on component ``j``, 0 on later components,
       orthogonal to the constant and to each other, unit ``pi``-norm. So the first coordinate separates
       the two largest components, and smaller components (isolated outliers) are 0 in it and get
       later coordinates of their own.
    4. Every component's own non-trivial eigenvectors come from its own block, with its exactly known
       trivial eigenvector ``sqrt(D)`` projected out before diagonalising (so a barely connected block's
       slowest mode is not mixed with it), extended by 0 to the other components.
    5. All of them are sorted by eigenvalue, descending; eigenvalues of different components within
       1e-12 of each other are ordered by component number.
    6. Signs: each coordinate's first entry (lowest index) among those within a relative 1e-6 of its
       largest magnitude is positive (ties within rounding go to the lowest index, the same on every
       machine).

    The result is then unique and reproducible across machines to about ``eps / gap`` of the modes
    returned, except within a *connected* component whose own spectrum has a (near-)degenerate
    eigenvalue (a symmetric shape, e.g. a ring): there the coordinates of that eigenspace are defined
    only up to a rotation. Coordinates that contrast components are constant on each component; an
    isolated point lies at a large value (about ``sqrt(sum(D) / D_i)``) in its own contrast and at 0 in
    the contrasts of larger components.

    Why not a library's: neither of the maintained libraries the project uses computes this variant.
    pyriemann has no diffusion map. scikit-learn's
    ``SpectralEmbedding`` / ``spectral_embedding`` (also given this function's affinity as
    ``affinity="precomputed"``) (i) builds its Laplacian without the self-affinities ``K_ii = 1`` that
    belong to ``P = D^-1 K`` here (``scipy.sparse.csgraph.laplacian`` ignores the diagonal), so it embeds
    a different Markov matrix: on 60 points in two clusters its coordinates differ from these by up to
    0.04 (each column scaled to unit norm) and equal those of the self-loop-free operator to 1e-15
    (measured; tests/test_analysis_spd.py checks both);
    (ii) offers one global Gaussian width (``gamma``) or a binary nearest-neighbour graph, not the median
    nearest-neighbour width or the self-tuning widths; (iii) returns the eigenvectors without their
    eigenvalues, so without the ``lambda^t`` scaling; (iv) only warns on a disconnected graph and returns
    whatever basis of a degenerate eigenspace its solver (ARPACK from a random start) finds, signed by
    the first largest entry without a tie tolerance. Steps 1-6 above (pruning, component contrasts,
    per-component modes, tie order, signs within rounding) would all remain ours.

    Args:
        data: (K, D) points (Euclidean distances between them), or (K, K) distances if ``precomputed``.
        n_components: coordinates to return (needs K >= n_components + 2).
        n_neighbors: nearest neighbours per point for the kernel width.
        t: diffusion time.
        return_components: also return the component of every point (numbered as in step 2).

    Returns:
        ``(coords, eigenvalues)``: (K, n_components) and (n_components,), eigenvalues descending;
        with ``return_components`` also ``components`` (K,) int.
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
    kernel = _symmetric(kernel)
    degree = kernel.sum(1)
    kernel[kernel / np.sqrt(degree[:, None] * degree[None, :]) < AFFINITY_FLOOR] = 0.0
    np.fill_diagonal(kernel, 1.0)  # K_ii = exp(0) is never pruned: every point is its own neighbour
    degree = kernel.sum(1)
    root = np.sqrt(degree)
    volume = degree.sum()
    components = _components(kernel)
    n_parts = int(components.max()) + 1

    columns, values = [], []
    # 3. Helmert contrasts of the components: eigenvalue exactly 1 in the pruned graph
    part_volume = np.bincount(components, weights=degree, minlength=n_parts)
    for j in range(1, min(n_parts, n_components + 1)):
        before, own = part_volume[:j].sum(), part_volume[j]
        psi = np.zeros(count)
        psi[components < j] = -np.sqrt(volume * own / (before * (before + own)))
        psi[components == j] = np.sqrt(volume * before / (own * (before + own)))
        columns.append(psi)
        values.append(1.0)
    # 4. each component's own modes, trivial eigenvector projected out
    modes = []  # (eigenvalue, component, rank within component, psi)
    if len(columns) < n_components:
        for part in range(n_parts):
            members = np.flatnonzero(components == part)
            if len(members) < 2:
                continue
            block = kernel[np.ix_(members, members)] / (root[members, None] * root[None, members])
            block = _symmetric(block)
            trivial = root[members] / np.linalg.norm(root[members])
            basis = _complement(trivial)  # orthonormal basis of the complement of the trivial vector
            w, v = np.linalg.eigh(_symmetric(basis.T @ block @ basis))
            keep = np.argsort(w)[::-1][:n_components]
            for rank, index in enumerate(keep):
                psi = np.zeros(count)
                psi[members] = (basis @ v[:, index]) / root[members] * np.sqrt(volume)
                modes.append((float(w[index]), part, rank, psi))
    # 5. descending eigenvalue; near-ties by component, then rank within it
    modes.sort(key=lambda mode: -mode[0])
    ordered, start = [], 0
    while start < len(modes):
        stop = start + 1
        while stop < len(modes) and modes[start][0] - modes[stop][0] <= _EIGENVALUE_TIE:
            stop += 1
        ordered.extend(sorted(modes[start:stop], key=lambda mode: (mode[1], mode[2])))
        start = stop
    for value, _, _, psi in ordered[:n_components - len(columns)]:
        columns.append(psi)
        values.append(value)
    eigenvalues = np.asarray(values)
    coords = _fix_signs(np.stack(columns, 1)) * eigenvalues**t
    if return_components:
        return coords, eigenvalues, components
    return coords, eigenvalues


def _complement(unit: np.ndarray) -> np.ndarray:
    """(n, n - 1) orthonormal basis of the complement of the unit vector ``unit`` (a Householder reflector).

    Deterministic (no factorisation whose output depends on the BLAS kernel): the reflector ``H`` that maps
    ``unit`` to ``-+e_0`` is symmetric and orthogonal, and its other columns span the complement.
    """
    n = len(unit)
    v = unit.copy()
    v[0] += 1.0 if unit[0] >= 0 else -1.0  # no cancellation
    householder = np.eye(n) - 2.0 * np.outer(v, v) / (v @ v)
    return householder[:, 1:]
