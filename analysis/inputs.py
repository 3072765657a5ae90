"""Finding 7: which input population onto the cortex best encodes the movement, and how early.

The input populations are the recorded rates of the motor thalamus (``thalamus``), the somatosensory
input (``s1``) and the auditory cue input (``cue_input``); the movement is the policy's noise-free mean
command ``mean_action`` (``action``, with its exploration noise, in runs that predate it). Like the
lab's axonal imaging, these read the inputs' own activity, not the currents they cause in the cortex
(those are :mod:`analysis.currents`).

- ``input_r2_<X>`` (X = thalamus, s1, cue): out-of-fold R^2 (:func:`analysis.ridge.cross_validated_r2`:
  ridge on standardised rates, penalty by leave-one-out error within the training folds, ``cv_folds``
  folds over trials, R^2 pooled over folds and summed over the 15 muscles) of the command from the
  population's rates in the same sample, over the movement period [cue, outcome) (to the trial's end
  without an outcome), on one seeded subset of at most ``max_regression_samples`` samples and one fold
  assignment shared by all populations (so their R^2 are paired). About 0 for a population that carries
  nothing of the command (slightly below: out-of-fold).
- ``input_lead_<X>_s`` (X = thalamus, s1): how long before the lift the population's *movement-related*
  activity rises. The population's decoder (the ridge fitted on all the subset's samples) turns its rates
  at every sample into a decoded command; that is projected onto the direction in which the command
  itself moves, ``d`` = the mean command over the movement period minus its mean over the pre-cue
  samples (unit length), and :func:`analysis.lead.half_peak_lead` times the half-peak crossing of the
  lift-aligned trial average (baseline-subtracted, cued reaches only; positive = before the lift).
  Why the decoder and not the population's |deviation| from baseline: a deviation counts everything that
  changes after the cue (a cue-evoked response, a posture signal, rectified noise), and the lead would
  then measure the earliest change of any kind; the decoder projection keeps only activity that looks
  like the command (a linear read-out, as a downstream cortex would use), and, being linear, lets noise
  average out across trials. NaN if the population's ``input_r2`` is below ``min_lead_r2`` (0.01: it
  carries no movement to time, and the half-peak of a decoded noise trace would be a random number), if
  the command does not move (``d`` = 0), or without cued reaches.

Absent populations (older runs) give NaN.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from analysis.lead import half_peak_lead
from analysis.ridge import cross_validated_r2, ridge_fit
from analysis.sessions import INPUT_ARRAYS, RandomKey, Session, movement_samples, rng

if TYPE_CHECKING:
    from analysis.neural import NeuralAnalysisConfig

#: Populations whose lead is measured (the cue input's timing is the cue's, by construction).
LEAD_POPULATIONS = ("thalamus", "s1")
KEYS = (*(f"input_r2_{name}" for name in INPUT_ARRAYS),
        *(f"input_lead_{name}_s" for name in LEAD_POPULATIONS))


def command_direction(s: Session, movement: np.ndarray) -> np.ndarray | None:
    """Unit vector (15,) from the mean pre-cue command to the mean movement-period command (None if they
    coincide)."""
    target = s.target
    rest = target[s.mask(0.0, s.events["cue"])].astype(np.float64)
    moving = target[movement].astype(np.float64)
    if not len(rest) or not len(moving):
        return None
    change = moving.mean(0) - rest.mean(0)
    norm = float(np.linalg.norm(change))
    return change / norm if norm > 1e-9 else None


def decoder_lead(s: Session, rates: np.ndarray, x: np.ndarray, y: np.ndarray, direction: np.ndarray,
                 config: NeuralAnalysisConfig) -> float:
    """Lead (s) of the command decoded from ``rates`` (n, T, F) by the ridge fitted on ``x`` -> ``y``,
    projected on ``direction`` (module docstring)."""
    predict = ridge_fit(x, y, config.ridge_alphas)
    n, steps, features = rates.shape
    decoded = predict(rates.reshape(-1, features).astype(np.float64)).reshape(n, steps, -1)
    return half_peak_lead(decoded @ direction, s, config.lift_window_s)


def inputs(s: Session, config: NeuralAnalysisConfig, seed: int) -> dict[str, float]:
    """The :data:`KEYS` of one session (module docstring)."""
    out = dict.fromkeys(KEYS, math.nan)
    if s.n == 0 or not s.inputs:
        return out
    movement, subset, trials = movement_samples(s, config.max_regression_samples,
                                                rng(seed, RandomKey.INPUTS, s.number))
    if len(subset) < 3:
        return out
    target = s.target[movement][subset].astype(np.float64)
    direction = command_direction(s, movement)
    for name, rates in s.inputs.items():
        x = rates[movement][subset].astype(np.float64)
        # the same fold assignment for every population: a fresh generator with the same key
        r2 = cross_validated_r2(x, target, trials, config.cv_folds, config.ridge_alphas,
                                rng(seed, RandomKey.INPUTS, s.number, 1))
        out[f"input_r2_{name}"] = r2
        if name in LEAD_POPULATIONS and direction is not None and r2 >= config.min_lead_r2:
            out[f"input_lead_{name}_s"] = decoder_lead(s, rates, x, target, direction, config)
    return out

