"""Finding 6's event responses: which units respond to the cue, which to the outcome.

A unit responds to an event if its mean rate in the window after the event, [t, t + w), differs from its
mean rate in the window just before it, [t - w, t) (w = ``response_window_s``), across the trials that have
the event and valid samples in both windows, *both* significantly and by enough:

- **significance**: a two-sided paired t-test across those trials; the p-values of all units are corrected
  by Benjamini-Hochberg at ``fdr_q`` (:mod:`analysis.fdr`);
- **size**: the mean change over those trials (after minus before) is at least ``min_response`` (0.05)
  in magnitude. Rates are tanh, in [-1, 1]; 0.05 is 5 % of that half-range, the model's counterpart of
  the DF/F threshold with which the lab selects cells that respond strongly. Why: with 64 trials per
  session and private noise far below calcium imaging's, the t-test alone calls a change of a fraction
  of a percent, which is not what the lab means by a responsive neuron. (Measured on a 7-session
  circuit-v2 run: there most cue responses are large, median |change| 0.34, so the bar only takes
  cue-responsive units from about 92 % to 90 %; outcome responses are smaller, and it takes session 1's
  from 30 % to 23 %.)

The fraction of units called is reported (about 0 when no unit responds).

- ``cue_responsive_fraction``: t = the cue; the window before it is the pre-cue baseline. The window
  after it ends at the lift if the paw lifts sooner (the model reaches about 0.2 s after the cue): the
  movement the cue triggers is not a response to the cue, and the reaction time, which shortens with
  learning, would otherwise change how much movement the window holds. Trials whose paw lifted at or
  before the cue (pre-cue lifts: movement in the baseline) are left out.
- ``outcome_responsive_fraction``: t = the outcome (successes and failures alike). The baseline is the
  window just before the outcome, not the pre-cue one. Why: from the cue to the outcome the arm moves, and
  a unit that encodes where the arm is (or that a reach is under way) differs between the pre-cue rest and
  any moment after the reach, so against the pre-cue baseline it would count as outcome-responsive though
  the outcome changed nothing; just before and just after the outcome the arm is about where it was, so the
  contrast isolates what changes at the outcome (its sensing). The cost: a unit whose movement-related
  activity stops at the outcome is counted too, in every session alike.
- ``cue_outcome_index`` = (f_outcome - f_cue) / (f_outcome + f_cue): -1 all cue, +1 all outcome (NaN if
  both fractions are 0 or NaN).

Each fraction is NaN with fewer than ``min_trials_per_session`` usable trials.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from analysis.fdr import benjamini_hochberg
from analysis.sessions import Session, window_mean

if TYPE_CHECKING:
    from analysis.neural import NeuralAnalysisConfig

KEYS = ("cue_responsive_fraction", "outcome_responsive_fraction", "cue_outcome_index")


def event_response(s: Session, event: str, window: float,
                   stop: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The response of every unit to ``event`` across the usable trials (the event happened, valid
    samples in both windows): windows of ``window`` s before and after it, the after-window ending at
    ``stop`` (n,) where that is sooner (a trial with a NaN ``stop`` is left out).

    Returns the two-sided paired t-test p-value of after vs before (N,) (1 for a unit without variance,
    all 1 with fewer than 2 trials), the mean change after minus before (N,) (0 without usable trials)
    and the number of usable trials."""
    t = s.events[event]
    end = t + window if stop is None else np.minimum(t + window, stop)  # NaN stays NaN
    before, n_before = window_mean(s.cortex, s.mask(t - window, t))
    after, n_after = window_mean(s.cortex, s.mask(t, end))
    keep = np.isfinite(t) & np.isfinite(end) & (n_before > 0) & (n_after > 0)
    units = s.cortex.shape[2]
    if keep.sum() < 2:
        change = (after[keep] - before[keep]).mean(0) if keep.any() else np.zeros(units)
        return np.ones(units), change, int(keep.sum())
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = stats.ttest_rel(after[keep], before[keep], axis=0).pvalue
    return np.nan_to_num(p, nan=1.0), (after[keep] - before[keep]).mean(0), int(keep.sum())


def responsive_units(s: Session, event: str, config: NeuralAnalysisConfig) -> np.ndarray | None:
    """(N,) bool: the units responsive to ``event`` (module docstring); None with too few usable trials."""
    stop = None
    if event == "cue":  # up to the lift; a pre-cue lift (NaN) leaves the trial out
        cue, lift = s.events["cue"], s.events["lift"]
        stop = np.where(np.isnan(lift), np.inf, np.where(lift > cue, lift, np.nan))
    p, change, trials = event_response(s, event, config.response_window_s, stop)
    if trials < config.min_trials_per_session:
        return None
    return benjamini_hochberg(p, config.fdr_q) & (np.abs(change) >= config.min_response)


def responsive_fraction(s: Session, event: str, config: NeuralAnalysisConfig) -> float:
    """Fraction of units responsive to ``event`` (module docstring); NaN with too few usable trials."""
    called = responsive_units(s, event, config)
    return math.nan if called is None else float(called.mean())


def responses(s: Session, config: NeuralAnalysisConfig) -> dict[str, float]:
    """The :data:`KEYS` of one session."""
    cue = responsive_fraction(s, "cue", config)
    outcome = responsive_fraction(s, "outcome", config)
    total = cue + outcome
    index = (outcome - cue) / total if np.isfinite(total) and total > 0 else math.nan
    return {"cue_responsive_fraction": cue, "outcome_responsive_fraction": outcome,
            "cue_outcome_index": index}
