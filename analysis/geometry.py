"""Finding 5's correlation geometry: the lab's Riemannian pipeline (:mod:`analysis.spd`) per session.

A seeded subset of ``n_units_correlation`` units, the same in every session (a field of view smaller than
the samples of a trial), gives one shrunk correlation matrix per trial (trials with at least 3 valid
samples); the Karcher mean per session under the affine-invariant metric; ``distance_to_expert`` /
``distance_to_first``: Riemannian distance of the session's mean to the reference / first session's
mean. All trials of the run are mapped to the tangent space at their grand Karcher mean and embedded with
a diffusion map (3 coordinates, the lab's kernel width rule); ``diffusion_1`` is the session's mean first
coordinate, with the sign of that coordinate chosen so that the reference session's mean is positive.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from analysis import spd
from analysis.sessions import RandomKey, Session, rng

if TYPE_CHECKING:
    from analysis.neural import NeuralAnalysisConfig

KEYS = ("distance_to_expert", "distance_to_first", "diffusion_1")


def geometry(sessions: list[Session], first: int, reference: int, config: NeuralAnalysisConfig,
             seed: int) -> tuple[dict[int, dict[str, float]], dict[str, np.ndarray]]:
    """``({session: {KEYS...}}, embedding)``; the embedding holds, per trial of the analysis, ``session``,
    ``episode``, ``success`` (K,) and the diffusion ``coords`` (K, 3), the first signed as ``diffusion_1``."""
    units = sessions[0].cortex.shape[2]
    chosen = np.sort(rng(seed, RandomKey.UNITS).choice(units, size=min(config.n_units_correlation, units),
                                                        replace=False))
    mats, labels, episodes, successes = [], [], [], []
    for s in sessions:
        keep = s.valid.sum(1) >= 3
        if keep.any():
            rates = s.cortex[keep][:, :, chosen]
            mats.append(spd.correlation_matrices(rates, s.valid[keep], config.shrinkage))
            labels.append(np.full(int(keep.sum()), s.number))
            episodes.append(s.episode[keep])
            successes.append(s.success[keep])
    out = {s.number: dict.fromkeys(KEYS, math.nan) for s in sessions}
    empty = {"session": np.zeros(0, np.int64), "episode": np.zeros(0, np.int64),
             "success": np.zeros(0, bool), "coords": np.zeros((0, 3))}
    if not mats:
        return out, empty
    mats_all, session_of = np.concatenate(mats), np.concatenate(labels)
    means = {int(number): spd.riemann_mean(mats_all[session_of == number], tol=config.riemann_tol)
             for number in np.unique(session_of)}
    for number, mean in means.items():
        if reference in means:
            out[number]["distance_to_expert"] = float(spd.riemann_distance(means[reference], mean))
        if first in means:
            out[number]["distance_to_first"] = float(spd.riemann_distance(means[first], mean))
    if len(mats_all) < 5:
        return out, empty
    vectors = spd.tangent_vectors(mats_all, spd.riemann_mean(mats_all, tol=config.riemann_tol))
    coords, _ = spd.diffusion_map(vectors, 3, n_neighbors=config.diffusion_neighbors)
    if reference in means and np.mean(coords[session_of == reference, 0]) < 0:
        coords[:, 0] *= -1.0
    for number in means:
        out[number]["diffusion_1"] = float(np.mean(coords[session_of == number, 0]))
    embedding = {"session": session_of.astype(np.int64), "episode": np.concatenate(episodes),
                 "success": np.concatenate(successes), "coords": coords}
    return out, embedding
