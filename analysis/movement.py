"""Movement units (finding 8): cortical units whose rate encodes the movement command, by a test and a size.

Over the movement period [cue, outcome) of the session's trials (those with at least 2 such samples), a
unit's rate and the 15-muscle command (``mean_action``; ``action`` in older runs) are centred within
each trial. The command enters through its principal components that together hold
``command_variance`` (95 %) of its within-trial variance (the rest is mostly the command's own noise:
fitting it would cost power, not validity). The trials are split at random (seeded) into two halves;
the unit's rate is regressed on those components (least squares) in one half, and each trial of the
other half scores ``c`` = the covariance, summed over its samples, between the predicted and the actual
rate. A unit is a movement unit if, *both*,

- **significance**: the held-out trials' ``c`` are positive on average (one-sided one-sample t-test
  across them), in either direction of the split: the unit's p-value is twice the smaller of the two
  (Bonferroni), and Benjamini-Hochberg across units at ``fdr_q`` calls it; and
- **size**: the command explains at least ``min_movement_r2`` (0.1) of the unit's within-trial rate
  variance *out of sample*: R^2 = 1 - SSE / SST over the movement-period samples of all trials, each
  trial predicted by the coefficients of the half it is not in (so every trial is held out once; SST is
  the sum of squares of the within-trial centred rates, SSE that of their residuals). Why: the lab's
  movement neurons are those whose activity *follows* the movement; with 64 trials and little private
  noise, a unit of which the command explains 1 % is significant. 0.1 asks that the movement be a
  sizeable part of what the unit does during the reach, while leaving room for the unit's other inputs
  (cue, touch, noise); being held out, the R^2 of a unit unrelated to the command is about 0 or below
  (a fit on the components alone overfits little: a few of them, thousands of samples), so the bar is
  not met by chance. (Measured on a 7-session circuit-v2 run: the held-out R^2 has a median of 0.6-0.7
  and 97-99 % of units pass 0.1; the reach's time course dominates most units of that network.)

The fraction can so change between sessions, unlike a fixed top quantile.

Why this test: trials are the independent units of a session. Within a trial the rates and the command
are autocorrelated (a recurrent network's slow modes), so a null that shuffles or shifts samples
misjudges chance correlations (a within-trial circular shift, tried first, called 17 % of units at a
nominal 5 % with an autocorrelation of 0.9 per 40 ms sample). For a unit unrelated to the command, a
held-out trial's ``c`` has mean 0 given the other half's coefficients, and the held-out trials' scores
are independent given them, which is what the t-test needs, whatever the autocorrelation. (Scoring every
trial with K-fold coefficients does not work: each fold's coefficients contain the other folds' trials,
which correlates the scores and inflates t; measured: 11 % of null units called at 5 %.)
tests/test_analysis_probe.py checks the calibration at autocorrelations 0 and 0.9.

What counts: moment-to-moment co-variation with the command inside the movement period that holds
across trials, including a time course locked to the cue that the command shares (the command rests
between the cue and the lift, so a unit that responds to the cue alone can be called); as in the lab,
movement neurons are those whose activity follows the movement. A unit that only shifts its mean from
trial to trial with the command's mean (within-trial centring removes it) is not a movement unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from analysis.fdr import benjamini_hochberg
from analysis.sessions import RandomKey, Session, rng

if TYPE_CHECKING:
    from analysis.neural import NeuralAnalysisConfig

#: Fewest trials with movement-period samples for the test (at least 3 in each half).
MIN_TRIALS = 6


def _centred_within(values: np.ndarray, index: np.ndarray, trials: int) -> np.ndarray:
    """``values`` (m, F) minus the mean of their trial (``index`` (m,) in 0..trials-1)."""
    sums = np.zeros((trials, values.shape[1]))
    np.add.at(sums, index, values)
    return values - (sums / np.bincount(index, minlength=trials)[:, None])[index]


def command_components(command: np.ndarray, share: float) -> np.ndarray | None:
    """The command's principal-component scores (m, k) that together hold ``share`` of its variance
    (``command`` (m, C) already centred); None if it does not vary."""
    left, singular, _ = np.linalg.svd(command, full_matrices=False)
    if not singular.size or singular[0] <= 1e-9:
        return None
    explained = np.cumsum(singular**2) / np.sum(singular**2)
    k = int(np.searchsorted(explained, share - 1e-12) + 1)
    return left[:, :k] * singular[:k]


def split_half_test(rates: np.ndarray, components: np.ndarray, index: np.ndarray, trials: int,
                    generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, the p-value (U,) that held-out trials' prediction covariances are positive and the held-out
    R^2 (U,) (module docstring; -inf for a unit whose rate does not vary), from within-trial centred
    ``rates`` (m, U) and ``components`` (m, k), trial ``index``."""
    half = np.zeros(trials, dtype=bool)
    half[generator.permutation(trials)[:trials // 2]] = True
    p_values = []
    residual = np.zeros(rates.shape[1])
    for held in (half, ~half):
        test = held[index]
        coefficients, *_ = np.linalg.lstsq(components[~test], rates[~test], rcond=None)
        predicted = components[test] @ coefficients
        residual += ((rates[test] - predicted) ** 2).sum(0)
        scores = np.zeros((trials, rates.shape[1]))
        np.add.at(scores, index[test], predicted * rates[test])
        scores = scores[held]
        mean, sd = scores.mean(0), scores.std(0, ddof=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = stats.t.sf(mean / (sd / np.sqrt(len(scores))), len(scores) - 1)
        p_values.append(np.where(sd > 1e-12, p, 1.0))
    total = (rates**2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(total > 1e-12, 1.0 - residual / total, -np.inf)
    return np.minimum(1.0, 2.0 * np.minimum(*p_values)), r2


def movement_unit_test(s: Session, share: float, generator: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    """Per unit, the p-value (N,) of its encoding of the command and the command's held-out R^2 (N,) of
    its rate (module docstring); None with fewer than :data:`MIN_TRIALS` usable trials or a command that
    does not vary within trials."""
    movement = s.movement()
    usable = movement.sum(1) >= 2
    if usable.sum() < MIN_TRIALS:
        return None
    movement = movement & usable[:, None]
    index = np.cumsum(usable)[np.broadcast_to(np.arange(s.n)[:, None], movement.shape)[movement]] - 1
    trials = int(usable.sum())
    command = _centred_within(s.target[movement].astype(np.float64), index, trials)
    components = command_components(command, share)
    if components is None:
        return None
    rates = _centred_within(s.cortex[movement].astype(np.float64), index, trials)
    return split_half_test(rates, components, index, trials, generator)


def movement_units(s: Session, config: NeuralAnalysisConfig, seed: int) -> np.ndarray | None:
    """(N,) bool: the session's movement units (module docstring); None where not computable."""
    tested = movement_unit_test(s, config.command_variance, rng(seed, RandomKey.MOVEMENT, s.number))
    if tested is None:
        return None
    p, r2 = tested
    return benjamini_hochberg(p, config.fdr_q) & (r2 >= config.min_movement_r2)
