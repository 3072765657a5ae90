"""Finding 5's population statistics that should stay put while the structure changes.

Per session, over all cortical units:

- ``mean_activity``: mean |rate| over the valid samples of its trials.
- ``mean_correlation`` / ``correlation_sd``: per trial, the Pearson correlations of all unit pairs over
  its valid samples (no shrinkage; a unit without variance in the trial counts 0 with every other, as in
  :func:`analysis.spd.correlation_matrices`); their mean and their SD over pairs (the spread of the
  distribution); each averaged over the trials with at least 2 valid samples.
- ``saturated_fraction``: fraction of valid samples x units with |rate| > ``saturation`` (0.95 of the
  rate's bound 1): a pinned unit has no correlation structure to reorganise.

Neither the mean nor the SD forms the N x N matrices: with ``z_i`` unit i's centred, unit-norm series in a
trial (T samples), ``C = Z^T Z``, so ``sum C = ||Z 1||^2`` and ``sum C^2 = ||Z Z^T||_F^2`` (a T x T Gram).
"""

from __future__ import annotations

import math

import numpy as np

from analysis.spd import VARIANCE_FLOOR


def pair_correlation_moments(activity: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per trial, the mean and SD (over the N(N-1) ordered pairs, ddof 0) of the off-diagonal Pearson
    correlations of ``activity`` (n, T, N) over its ``valid`` (n, T) samples: two (n,) arrays (NaN with
    fewer than 2 units)."""
    x = np.where(valid[..., None], np.asarray(activity, dtype=np.float64), 0.0)
    count = valid.sum(1).astype(np.float64)
    centred = np.where(valid[..., None], x - x.sum(1, keepdims=True) / np.maximum(count, 1.0)[:, None, None],
                       0.0)
    variance = (centred**2).sum(1) / np.maximum(count, 1.0)[:, None]
    units = x.shape[2]
    if units < 2:
        return np.full(len(x), np.nan), np.full(len(x), np.nan)
    active = (variance > VARIANCE_FLOOR) & (count[:, None] >= 2)
    scale = np.where(active, 1.0 / np.sqrt(np.where(active, variance, 1.0) * np.maximum(count, 1.0)[:, None]),
                     0.0)
    z = centred * scale[:, None, :]
    pairs = units * (units - 1)
    diagonal = active.sum(1)  # each active unit's own correlation 1
    mean = ((z.sum(2) ** 2).sum(1) - diagonal) / pairs
    gram = z @ np.swapaxes(z, 1, 2)  # (n, T, T)
    square_mean = ((gram**2).sum((1, 2)) - diagonal) / pairs
    return mean, np.sqrt(np.maximum(square_mean - mean**2, 0.0))


def activity_metrics(cortex: np.ndarray, valid: np.ndarray, saturation: float) -> dict[str, float]:
    """``mean_activity``, ``mean_correlation``, ``correlation_sd``, ``saturated_fraction`` of one session
    (``cortex`` (n, T, N), ``valid`` (n, T)); NaN without valid samples."""
    out = dict.fromkeys(("mean_activity", "mean_correlation", "correlation_sd", "saturated_fraction"),
                        math.nan)
    if not valid.any():
        return out
    magnitude = np.abs(cortex[valid]).astype(np.float64)
    out["mean_activity"] = float(magnitude.mean())
    out["saturated_fraction"] = float((magnitude > saturation).mean())
    enough = valid.sum(1) >= 2
    if enough.any():
        mean, sd = pair_correlation_moments(cortex[enough], valid[enough])
        out["mean_correlation"], out["correlation_sd"] = float(mean.mean()), float(sd.mean())
    return out
