"""Finding 6's indicative units: units whose activity alone tells a success from a failure.

The lab's rule (shared/SCIENCE.md: per unit and 1 s window, cross-validated single-unit classification
accuracy, significant above chance) as the data allow:

1. **Windows.** ``indicative_fraction`` uses only activity *before the grab*: windows of
   ``indicative_window_s`` aligned to the cue, [cue + k w, cue + (k + 1) w), k = 0, 1, ..., and a
   trial enters a window only if every valid sample of the window (midpoint inside it) *ends* at or
   before the trial's cut-off, min(``grab``, ``outcome``) (the ``outcome`` alone in a trial without a
   grab; a sample straddling the cut-off excludes the trial from that window). Why the grab: the paw
   touches the pellet at the grab, and a successful trial then holds and carries it to the mouth
   before the outcome event, so from the grab on touch and arm movement differ by outcome *because*
   the trial succeeds (a sensory and motor consequence of success, which would make units across the
   whole cortex "indicative"); the outcome input (the taste) switches on at the outcome, later still.
   What remains is activity that differs with the coming outcome while the reach is still under way,
   as the lab's indicative neurons do. Why whole windows: a window cut short at the grab would average
   over an earlier part of the trial in trials that grab earlier, and the grab's timing differs by
   outcome. A window is used if it has at least ``min_trials_per_outcome`` successes and failures.
   The cost: an expert's grab comes soon after the cue (measured on a circuit-v2 run: a median of
   0.26-0.30 s after it from session 2 on, 0.56 s in session 1), so few trials fill even the first
   window (5-14 successes in it), and shorter windows (0.1-0.15 s, tried) found no more indicative
   units there.
   ``indicative_fraction_post`` applies steps 2-4 to the single post-outcome window [outcome,
   outcome + ``outcome_window_s``) (the trial's valid samples with their midpoint there, a trial
   entering with any), where the sensed outcome itself is allowed (for display).
2. **Accuracy.** Per unit and window, the feature is the unit's mean rate over the trial's samples in the
   window; a threshold classifier (:func:`threshold_balanced_accuracy`, the single-feature form of the
   lab's linear SVM) is scored by balanced accuracy over stratified ``cv_folds``-fold CV.
3. **Null.** The same on ``n_shuffles`` label shuffles of the window's trials. The unit's p-value is the
   upper tail, under a normal law with the null's mean and SD, of its accuracy: the shuffles fix the null's
   centre and spread (both differ between units and windows), the normal law its far tail, which a few
   hundred shuffles cannot resolve (the smallest empirical p, 1 / (shuffles + 1), is too coarse for a
   correction across 256 units: Benjamini-Hochberg could then call no unit unless more than about 10 % are
   indicative). The null tests of tests/test_analysis_indicative.py check that this tail is not
   optimistic. Why not :func:`scipy.stats.permutation_test`: it computes the empirical p (never below
   1 / 201 with 200 shuffles), not this normal tail; wrapped around the same vectorised classifier (it
   would only shuffle; the statistic stays :func:`threshold_balanced_accuracy`) it saves neither code nor
   time (measured on 64 trials x 256 units, 200 shuffles, one thread: 48 ms, this module 42 ms). Taking
   the normal tail from its null distribution instead would draw other shuffles (its own permutations,
   not this module's seeded ones, and without the extra shuffle of ``indicative_fraction_shuffled``) and
   so change every recorded fraction.
4. **Correction.** A unit's p-value over several windows is the smallest one times the number of windows
   used (Bonferroni within the unit); units are called by Benjamini-Hochberg across units at ``fdr_q``
   (:mod:`analysis.fdr`). The fraction of units called is reported.

Departures from the lab and why: a threshold classifier with a normal-tail p-value instead of a linear SVM
with a t-bound on fold accuracies (the same decision for one feature, vectorised over units and
shuffles); windows of 0.3 s, not 1 s, and one window suffices instead of two consecutive ones (the model's
cue-to-outcome period is 0.5-1.5 s, the lab's 8 s); the FDR correction across units (the lab's rule set
fixed p levels per unit).

``indicative_fraction_shuffled``: the pre-grab rule applied to one further shuffled labelling per window
(not one of the null's), the empirical chance level of ``indicative_fraction`` (about 0: the normal tail
is, if anything, conservative; on noise, 0.2 % of p-values fall below 0.01). All three are NaN when no
window has enough trials of both outcomes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from analysis.fdr import benjamini_hochberg
from analysis.sessions import RandomKey, Session, rng, window_mean

if TYPE_CHECKING:
    from analysis.neural import NeuralAnalysisConfig

KEYS = ("indicative_fraction", "indicative_fraction_shuffled", "indicative_fraction_post")


def _stratified_folds(labels: np.ndarray, k: int, generator: np.random.Generator) -> np.ndarray:
    """Fold index (R, n) for each labelling row of ``labels`` (R, n) bool: every class spread evenly."""
    rows, n = labels.shape
    order = np.argsort(labels + generator.random((rows, n)), axis=1)  # class 0 first, each in random order
    negatives = (~labels).sum(1, keepdims=True)
    position = np.arange(n)[None, :]
    rank = np.where(position < negatives, position, position - negatives)
    folds = np.empty((rows, n), dtype=np.int64)
    np.put_along_axis(folds, order, rank % k, axis=1)
    return folds


def threshold_balanced_accuracy(x: np.ndarray, labels: np.ndarray, k: int,
                                rng: np.random.Generator) -> np.ndarray:
    """Cross-validated balanced accuracy of a per-unit threshold classifier, for many labellings at once.

    For each labelling (row of ``labels``, (R, n) bool) and unit (column of ``x``, (n, U)): stratified
    k-fold; on the training folds the threshold is the midpoint between the class means and the sign is
    that of their difference; held-out trials are called positive if ``sign * (x - threshold) > 0``.
    Returns (R, U) balanced accuracy of the pooled held-out calls. (float32 arithmetic: the rates are
    recorded as float16.)
    """
    labels = np.asarray(labels, dtype=bool)
    rows, n = labels.shape
    folds = _stratified_folds(labels, k, rng)
    training = folds[:, None, :] != np.arange(k)[None, :, None]  # (R, k, n): trial in the training set
    x32 = np.asarray(x, dtype=np.float32)
    units = x32.shape[1]
    means = []
    for cls in (False, True):
        train = (training & (labels[:, None, :] == cls)).astype(np.float32)
        means.append((train @ x32) / np.maximum(train.sum(-1, keepdims=True), 1.0))  # (R, k, U)
    sign = np.sign(means[1] - means[0])
    # each held-out trial's rule (sign, sign * threshold) from its fold: one row gather (fast, unlike
    # take_along_axis on the middle axis)
    rule = np.concatenate([sign, sign * (means[0] + means[1]) / 2], axis=2).reshape(rows * k, 2 * units)
    held = np.take(rule, (np.arange(rows)[:, None] * k + folds).ravel(), axis=0).reshape(rows, n, 2 * units)
    call = held[:, :, :units] * x32[None] > held[:, :, units:]  # (R, n, U)
    calls = call.sum(1)
    hits = (call & labels[:, :, None]).sum(1)
    positives = labels.sum(1)[:, None]
    negatives = n - positives
    return (hits / positives + (negatives - (calls - hits)) / negatives) / 2


def window_p_values(x: np.ndarray, y: np.ndarray, n_shuffles: int, folds: int,
                    generator: np.random.Generator) -> np.ndarray:
    """One-sided p-values (2, U) of the units' CV accuracy on ``x`` (n, U) for the labels ``y`` (n,) (row 0)
    and for one extra shuffle of them (row 1), each against the normal law of the ``n_shuffles`` null
    shuffles' mean and SD (per unit; p = 1 for a unit whose null has no spread)."""
    shuffles = np.argsort(generator.random((n_shuffles + 1, len(y))), axis=1)
    labels = np.concatenate([y[None], y[shuffles]])  # the labels, the null's shuffles, the extra one
    accuracy = threshold_balanced_accuracy(x, labels, folds, generator)
    null = accuracy[1:n_shuffles + 1]
    centre, spread = null.mean(0), null.std(0, ddof=1)
    tested = accuracy[[0, n_shuffles + 1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (tested - centre) / spread
    return np.where(spread > 1e-12, stats.norm.sf(z), 1.0)


def cut_off(s: Session) -> np.ndarray:
    """(n,) the end of each trial's pre-grab activity: min(grab, outcome), the outcome where the paw
    did not grab (NaN without an outcome)."""
    outcome = s.events["outcome"]
    grab = s.events.get("grab")
    return outcome if grab is None else np.where(np.isfinite(outcome), np.fmin(grab, outcome), np.nan)


def _window_p(s: Session, mask: np.ndarray, config: NeuralAnalysisConfig,
              generator: np.random.Generator) -> np.ndarray | None:
    """p-values (2, U) of one window (``mask`` (n, T)), None with too few trials of either outcome."""
    x, count = window_mean(s.cortex, mask)
    keep = (count > 0) & np.isfinite(s.events["outcome"])
    y = s.success[keep]
    wins, losses = int(y.sum()), int((~y).sum())
    if min(wins, losses) < config.min_trials_per_outcome:
        return None
    return window_p_values(x[keep], y, config.n_shuffles, min(config.cv_folds, wins, losses), generator)


def indicative(s: Session, config: NeuralAnalysisConfig, seed: int) -> dict[str, float]:
    """The :data:`KEYS` of one session (module docstring)."""
    out = dict.fromkeys(KEYS, math.nan)
    if s.n == 0:
        return out
    generator = rng(seed, RandomKey.INDICATIVE, s.number)
    cue, outcome, end = s.events["cue"], s.events["outcome"], cut_off(s)
    after_end = s.valid & ~s.ended_by(end)
    width = config.indicative_window_s
    timed = np.isfinite(cue) & np.isfinite(end)
    span = float(np.max(end[timed] - cue[timed])) if timed.any() else 0.0
    windows = []
    for k in range(max(0, int(math.ceil(span / width)))):
        window = s.mask(cue + k * width, cue + (k + 1) * width)
        whole = ~(window & after_end).any(1)  # the trial's window ends by its cut-off
        p = _window_p(s, window & whole[:, None], config, generator)
        if p is not None:
            windows.append(p)
    if windows:
        p_unit = np.minimum(1.0, len(windows) * np.min(windows, axis=0))  # (2, U)
        called = benjamini_hochberg(p_unit[0], config.fdr_q), benjamini_hochberg(p_unit[1], config.fdr_q)
        out["indicative_fraction"], out["indicative_fraction_shuffled"] = (float(c.mean()) for c in called)
    post = _window_p(s, s.mask(outcome, outcome + config.outcome_window_s), config, generator)
    if post is not None:
        out["indicative_fraction_post"] = float(benjamini_hochberg(post[0], config.fdr_q).mean())
    return out
