"""Findings 7-8 from the input *currents* onto cortical units (the analyses of circuit v1, kept).

With the weights of the checkpoint at the session's start (:mod:`analysis.weights`; the latest one at or
before the session's first episode; NaN without one), the currents onto cortical unit i are thalamic
``(W_tc thalamus)_i`` (``W_tc`` = thalamocortical * tc_mask) and recurrent ``(W_rec_eff r)_i``. The
movement period of a trial is [cue, outcome) (to its last valid sample if there is no outcome), the
baseline [0, cue); the movement is the session's target command (``mean_action``, or ``action`` in
runs that predate it).

- ``th_movement_overlap``: movement units here are the top ``movement_quantile`` of units by max over
  muscles of |Pearson r| between rate and command, pooled over the session's movement-period samples;
  Th-excited units the top ``movement_quantile`` by thalamic drive (trial mean of the movement-period
  thalamic current minus its baseline mean, averaged over trials); the metric is
  |Th-excited & movement| / |Th-excited| (chance = ``movement_quantile``; NaN if the thalamic input is
  silent). Fixed quantiles cannot change in size; :mod:`analysis.probe` defines both sets by tests.
- ``th_movement_r2`` / ``rec_movement_r2``: out-of-fold R^2 (:func:`analysis.ridge.cross_validated_r2`)
  of the command from the thalamic / recurrent current vector, on at most ``max_regression_samples``
  seeded movement-period samples, folds over trials. A silenced thalamus gives about 0, not NaN.
- ``th_input_lead_s``: :func:`analysis.lead.half_peak_lead` of the thalamic drive onto the movement units
  (their mean thalamic current). NaN with a silent thalamic input.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from analysis.lead import half_peak_lead
from analysis.ridge import cross_validated_r2
from analysis.sessions import RandomKey, Session, movement_samples, rng, window_mean

if TYPE_CHECKING:
    from analysis.neural import NeuralAnalysisConfig

KEYS = ("th_movement_overlap", "th_movement_r2", "rec_movement_r2", "th_input_lead_s")


def _top(score: np.ndarray, quantile: float) -> np.ndarray:
    k = max(1, int(round(quantile * score.size)))
    return np.argsort(-score, kind="stable")[:k]


def movement_scores(rates: np.ndarray, command: np.ndarray) -> np.ndarray:
    """Per unit, max over muscles of |Pearson r| between rate and command over the rows (samples)."""
    def standardised(a):
        a = a - a.mean(0)
        norm = np.sqrt((a**2).sum(0))
        return np.where(norm > 1e-12, a / np.where(norm > 1e-12, norm, 1.0), 0.0)
    return np.abs(standardised(rates).T @ standardised(command)).max(1)


def currents(s: Session, weights: dict[str, np.ndarray] | None, config: NeuralAnalysisConfig,
             seed: int) -> dict[str, float]:
    """The :data:`KEYS` of one session with the checkpoint ``weights`` (:func:`analysis.weights.load_inputs`).

    Raises:
        ValueError: if the weights do not match the recorded populations.
    """
    out = dict.fromkeys(KEYS, math.nan)
    if (weights is None or s.n == 0 or "thalamus" not in s.inputs or "thalamus" not in weights
            or "recurrent" not in weights):
        return out
    w_tc, w_rec = weights["thalamus"], weights["recurrent"]
    thalamus = s.inputs["thalamus"]
    units = s.cortex.shape[2]
    if w_tc.shape != (units, thalamus.shape[2]) or w_rec.shape != (units, units):
        raise ValueError(f"session {s.number}: checkpoint weights {w_tc.shape}, {w_rec.shape} do not match "
                         f"{units} cortical and {thalamus.shape[2]} thalamic units")
    cue = s.events["cue"]
    generator = rng(seed, RandomKey.REGRESSION, s.number)
    movement, subset, trials = movement_samples(s, config.max_regression_samples, generator)
    if len(subset) < 3:
        return out
    rates, command = s.cortex[movement].astype(np.float64), s.target[movement].astype(np.float64)
    movement_units = _top(movement_scores(rates, command), config.movement_quantile)
    thalamic = thalamus.astype(np.float64) @ w_tc.T  # (n, T, N)
    silent = not np.abs(thalamic[s.valid]).max(initial=0.0) > 1e-9
    during, _ = window_mean(thalamic, movement)
    baseline, _ = window_mean(thalamic, s.mask(0.0, cue))
    change = during - baseline
    has_change = np.isfinite(change).all(1)
    if not silent and has_change.any():
        excited = _top(change[has_change].mean(0), config.movement_quantile)
        out["th_movement_overlap"] = float(np.isin(excited, movement_units).mean())
    target = command[subset]  # the regressions use the seeded subset of movement-period samples
    out["th_movement_r2"] = cross_validated_r2(thalamic[movement][subset], target, trials, config.cv_folds,
                                               config.ridge_alphas, generator)
    out["rec_movement_r2"] = cross_validated_r2(rates[subset] @ w_rec.T, target, trials, config.cv_folds,
                                                config.ridge_alphas, generator)
    if not silent:
        drive = thalamic[:, :, movement_units].mean(2)  # (n, T)
        out["th_input_lead_s"] = half_peak_lead(drive, s, config.lift_window_s)
    return out
