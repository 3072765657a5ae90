"""Per-session neural metrics of one recorded run: the lab's analyses (shared/SCIENCE.md, findings 5-8).

Input: a run folder with ``activity/session_NN.npz`` (format in :mod:`agents.recording`) and
``checkpoints/episode_EEEEEE.pt``. The *first* session is the first recorded one; the *reference*
("expert") session is the last recorded one unless given. Windows are half-open intervals on the
midpoints of the samples (``time`` holds sample ends; the sample length is read from it, never
assumed), and only valid samples enter anything. Every random choice (unit subset, label shuffles, CV
splits, sample subsets) comes from generators seeded by ``seed`` and a fixed key per use.

Metrics, per session (the one-line definitions are :data:`METRICS`):

1. Activity (finding 5). ``mean_activity``: mean |rate| over valid samples, trials and all units.
   ``mean_correlation``: per trial, the mean off-diagonal Pearson correlation between all units over its
   valid samples (no shrinkage; silent units count 0), averaged over trials.
2. Correlation geometry (finding 5; the lab's Riemannian pipeline, :mod:`analysis.spd`). A seeded subset
   of ``n_units_correlation`` units, the same in every session (a field of view smaller than the samples
   of a trial), gives one shrunk correlation matrix per trial; the Karcher mean per session under the
   affine-invariant metric; ``distance_to_expert`` / ``distance_to_first``: Riemannian distance of the
   session's mean to the reference / first session's mean. All trials of the run are mapped to the
   tangent space at their grand Karcher mean and embedded with a diffusion map (3 coordinates, the lab's
   kernel width rule); ``diffusion_1`` is the session's mean first coordinate, with the sign of that
   coordinate chosen so that the reference session's mean is positive. The coordinates of every trial
   are returned in :attr:`RunNeural.embedding`.
3. ``p_expert`` (finding 5, the lab's "probability of expert"). The trial timeline is cut into windows of
   ``window_s``; per window, each trial's features are the units' mean rates over its valid samples in
   the window. One linear SVM per window (standardised features, ``LinearSVC`` with sigmoid (Platt)
   calibration by an inner stratified CV) is trained on first-session (0) vs reference-session (1) trials.
   A session's ``p_expert`` is the mean predicted probability of "expert" over its trials and windows;
   trials of the first and reference sessions get out-of-fold predictions (stratified ``cv_folds``-fold),
   so their values are not inflated. A window is used only if both training sessions have at least
   ``min_trials_per_session`` trials with samples in it; NaN if no window is (or first = reference).
   (The lab used 1 s windows with a 0.5 s hop and hard labels; we use probabilities in adjacent windows.)
4. Outcome coding (finding 6). ``indicative_fraction``: per unit, the mean rate in
   [outcome, outcome + ``outcome_window_s``) is classified into success/failure by a threshold fitted on
   the training folds (midpoint between the class means, sign of their difference), scored by balanced
   accuracy over stratified ``cv_folds``-fold CV; the same procedure on ``n_shuffles`` label shuffles
   gives each unit's null; a unit is indicative if its accuracy exceeds its null's 95th percentile.
   ``indicative_fraction_shuffled``: the same fraction for one further shuffled labelling (the
   empirical chance level, at most about 0.05). Both NaN with fewer than ``min_trials_per_outcome``
   trials of either outcome. ``cue_responsive_fraction`` / ``outcome_responsive_fraction``: fraction of
   units whose mean rate in [event, event + ``response_window_s``) differs from that in
   [event - ``response_window_s``, event) across trials (two-sided paired t-test, p < ``alpha``, no
   correction: chance is about ``alpha``; NaN with fewer than ``min_trials_per_session`` trials that have
   the event); ``cue_outcome_index`` = (f_outcome - f_cue) / (f_outcome + f_cue) (NaN if both are 0).
5. Thalamus (findings 7-8), with the weights of the checkpoint at the session's start (the latest one at
   or before the session's first episode; NaN without one). Input currents onto cortical unit i:
   thalamic ``(W_tc thalamus)_i``, recurrent ``(W_rec_eff r)_i`` (``W_rec_eff`` = recurrent * mask, or
   relu(recurrent) * mask * sign under Dale's law). The movement period of a trial is [cue, outcome)
   (to its last valid sample if there is no outcome), the baseline [0, cue). Movement units: the top
   ``movement_quantile`` of units by max over muscles of |Pearson r| between rate and action, pooled over
   the session's movement-period samples. Th-excited units: the top ``movement_quantile`` by thalamic
   drive (trial mean of the movement-period thalamic current minus its baseline mean, averaged over
   trials). ``th_movement_overlap`` = |Th-excited & movement| / |Th-excited| (chance =
   ``movement_quantile``; NaN if the thalamic input is silent). ``th_movement_r2`` / ``rec_movement_r2``:
   out-of-fold R^2 (pooled over folds, variance-weighted over the 15 muscles) of a ridge regression
   (standardised features, penalty from ``ridge_alphas`` chosen by closed-form leave-one-out error on the
   training folds, as scikit-learn's ``RidgeCV`` does) predicting the action from the thalamic / recurrent
   current vector, on at most ``max_regression_samples`` seeded movement-period samples, with seeded
   folds over trials, not samples. A silenced thalamus gives ``th_movement_r2`` about 0 (or slightly
   below: out-of-fold), not NaN: a silent input predicts nothing.
   ``th_input_lead_s``: over the trials that count as a reach (:func:`cued_reach`: a lift strictly after
   the cue; a lift at or before the cue onset is a pre-cue lift, ``training.train.precue_lift``, the lab's
   early error, not a cued reach), the trial-average of the thalamic current onto movement units minus its
   trial's baseline, aligned to the lift sample within +-``lift_window_s``; the lead is minus the
   (interpolated) lag at which this trace, rising toward its largest-magnitude value, first reaches half
   of it (positive: before the lift). NaN without such trials or with a silent thalamic input.

Reaches: an analysis counts a reach only when the lift follows the cue (:func:`cued_reach`); the lift is
used by ``th_input_lead_s`` alone.

Every metric is NaN, never an error, when its data are missing (no lift, all trials of one outcome, a
silenced thalamus, a missing checkpoint). The correlation analyses use trials with at least 3 valid
samples. The analysis runs on one BLAS thread (runs are analysed in parallel processes); a run of 10
sessions x 64 trials x 256 units x 125 samples takes about 10-15 s on one core.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from analysis import spd

#: One-sentence definition of every per-session metric (the report prints these).
METRICS: dict[str, str] = {
    "mean_activity": "Mean |rate| of all cortical units over the valid samples of the session's trials.",
    "mean_correlation": "Mean off-diagonal Pearson correlation between all cortical units within a trial, "
                        "averaged over trials (before shrinkage).",
    "distance_to_expert": "Affine-invariant Riemannian distance between the session's Karcher-mean trial "
                          "correlation matrix (a fixed seeded subset of units) and the reference (expert) "
                          "session's.",
    "distance_to_first": "The same Riemannian distance to the first recorded session's mean correlation "
                         "matrix.",
    "diffusion_1": "Mean first diffusion-map coordinate of the session's trial correlation matrices (tangent "
                   "space at the grand mean), signed so that the reference session's mean is positive.",
    "p_expert": "Mean probability of 'expert' from per-time-window linear SVMs on units' mean rates, trained "
                "on first vs reference session (out-of-fold for those two sessions).",
    "indicative_fraction": "Fraction of units whose post-outcome mean rate alone predicts success vs failure "
                           "(cross-validated threshold, balanced accuracy above the 95th percentile of "
                           "label shuffles).",
    "indicative_fraction_shuffled": "The same fraction for one extra shuffled labelling: the empirical "
                                    "chance level of indicative_fraction.",
    "cue_responsive_fraction": "Fraction of units whose mean rate after the cue differs from before it "
                               "(paired t-test across trials, p < alpha).",
    "outcome_responsive_fraction": "Fraction of units whose mean rate after the outcome differs from before "
                                   "it (paired t-test across trials, p < alpha).",
    "cue_outcome_index": "(outcome-responsive - cue-responsive) / (outcome-responsive + cue-responsive) "
                         "fraction: -1 all cue, +1 all outcome.",
    "th_movement_overlap": "Fraction of the most thalamus-excited units (top quantile of thalamic drive) "
                           "that are also movement units (top quantile of movement encoding); chance = "
                           "the quantile.",
    "th_movement_r2": "Cross-validated (over trials) ridge R^2 of the muscle command from the thalamic input "
                      "currents onto cortical units, cue to outcome.",
    "rec_movement_r2": "Cross-validated (over trials) ridge R^2 of the muscle command from the recurrent "
                       "input currents onto cortical units, cue to outcome.",
    "th_input_lead_s": "Time (s) before the lift at which the trial-averaged thalamic drive onto movement "
                       "units first reaches half its peak (positive = before the lift), over trials whose "
                       "lift follows the cue.",
}

_SESSION_FILE = re.compile(r"^session_(\d{2,})\.npz$")
_CHECKPOINT_FILE = re.compile(r"^episode_(\d+)\.pt$")
#: Fixed keys that make the generator of each random choice independent of the others.
_UNITS, _SVM, _INDICATIVE, _REGRESSION = 1, 2, 3, 4


@dataclass(frozen=True)
class NeuralAnalysisConfig:
    """Knobs of :func:`analyse_run` (defaults: the lab's choices where it made one).

    Attributes:
        n_units_correlation: units in the correlation field of view (fewer than samples per trial).
        shrinkage: weight of the identity in each trial's correlation matrix.
        riemann_tol: stopping tolerance of the Karcher-mean iteration (norm of the mean log-map; the
            error of a mean is of that order, in distance units).
        diffusion_neighbors: nearest neighbours whose median distance sets the diffusion kernel width.
        window_s: length of the time windows of the expert classifier.
        svm_c: inverse regularisation of the linear SVM.
        cv_folds: folds of every stratified / grouped cross-validation (fewer if a class is smaller).
        min_trials_per_session: fewest trials a session needs for p_expert and responsiveness tests.
        outcome_window_s: post-outcome window whose mean rate defines indicative units.
        n_shuffles: label shuffles of the indicative-unit null distribution.
        min_trials_per_outcome: fewest successes and fewest failures for indicative units.
        response_window_s: length of the windows before / after cue and outcome for responsiveness.
        alpha: significance level of the responsiveness t-tests.
        movement_quantile: top fraction of units called movement units and Th-excited units.
        max_regression_samples: movement-period samples (seeded subset) for the ridge regressions.
        ridge_alphas: penalties the ridge regression chooses from.
        lift_window_s: half-width of the lift-aligned window of the thalamic-lead measurement.
    """

    n_units_correlation: int = 48
    shrinkage: float = 0.1
    riemann_tol: float = 1e-6
    diffusion_neighbors: int = 5
    window_s: float = 0.5
    svm_c: float = 1.0
    cv_folds: int = 5
    min_trials_per_session: int = 5
    outcome_window_s: float = 0.3
    n_shuffles: int = 200
    min_trials_per_outcome: int = 5
    response_window_s: float = 0.3
    alpha: float = 0.01
    movement_quantile: float = 0.25
    max_regression_samples: int = 2000
    ridge_alphas: tuple[float, ...] = (1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4)
    lift_window_s: float = 0.6

    def __post_init__(self) -> None:
        positive_int = {"n_units_correlation": 2, "diffusion_neighbors": 1, "cv_folds": 2,
                        "min_trials_per_session": 2, "n_shuffles": 20, "min_trials_per_outcome": 2,
                        "max_regression_samples": 10}
        for name, least in positive_int.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
                raise ValueError(f"NeuralAnalysisConfig.{name}={value!r} must be an integer >= {least}")
        open_unit = {"alpha": (0.0, 1.0), "movement_quantile": (0.0, 1.0), "shrinkage": (0.0, 1.0)}
        for name, (low, high) in open_unit.items():
            value = getattr(self, name)
            if not (isinstance(value, int | float) and low < value < high):
                raise ValueError(f"NeuralAnalysisConfig.{name}={value!r} must be in ({low}, {high})")
        for name in ("riemann_tol", "window_s", "svm_c", "outcome_window_s", "response_window_s",
                     "lift_window_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"NeuralAnalysisConfig.{name}={value!r} must be a positive number")
        if (not isinstance(self.ridge_alphas, tuple) or not self.ridge_alphas
                or not all(isinstance(a, int | float) and a > 0 for a in self.ridge_alphas)):
            raise ValueError(f"NeuralAnalysisConfig.ridge_alphas={self.ridge_alphas!r} must be a non-empty "
                             f"tuple of positive numbers")


@dataclass
class RunNeural:
    """Neural metrics of one run.

    Attributes:
        sessions: per recorded session, ``{"session": s, metric: value, ...}`` (keys of :data:`METRICS`;
            NaN where not computable).
        embedding: per trial of the correlation analysis: ``session`` (K,), ``episode`` (K,),
            ``success`` (K,), ``coords`` (K, 3) diffusion coordinates (first one signed as
            ``diffusion_1``).
        first_session, reference_session: the sessions the comparisons refer to.
    """

    sessions: list[dict[str, float]]
    embedding: dict[str, np.ndarray]
    first_session: int = 0
    reference_session: int = 0


@dataclass
class _Session:
    """One session's recording as float32 arrays, with event times by name."""

    number: int
    cortex: np.ndarray  # (n, T, N)
    thalamus: np.ndarray  # (n, T, M)
    action: np.ndarray  # (n, T, 15)
    valid: np.ndarray  # (n, T)
    mid: np.ndarray  # (T,) sample midpoints (s)
    dt: float
    events: dict[str, np.ndarray]  # name -> (n,)
    success: np.ndarray  # (n,) bool
    episode: np.ndarray  # (n,)

    @property
    def n(self) -> int:
        return self.cortex.shape[0]

    def mask(self, start, stop) -> np.ndarray:
        """(n, T) valid samples whose midpoint lies in [start, stop) (scalars or (n,); NaN: none)."""
        start = np.broadcast_to(np.asarray(start, dtype=np.float64), (self.n,))[:, None]
        stop = np.broadcast_to(np.asarray(stop, dtype=np.float64), (self.n,))[:, None]
        return self.valid & (self.mid[None, :] >= start) & (self.mid[None, :] < stop)

    def movement_stop(self) -> np.ndarray:
        """(n,) end of the movement period: the outcome, or the end of the last valid sample."""
        last_index = self.valid.shape[1] - 1 - np.argmax(self.valid[:, ::-1], 1)
        last = np.where(self.valid.any(1), self.mid[last_index], np.nan)
        outcome = self.events["outcome"]
        return np.where(np.isfinite(outcome), outcome, last + self.dt / 2)


def _load_session(path: Path, number: int) -> _Session:
    with np.load(path) as data:
        time = np.asarray(data["time"], dtype=np.float64)
        dt = float(time[1] - time[0]) if time.size > 1 else float(time[0])
        names = [str(name) for name in data["event_names"]]
        event_times = np.asarray(data["event_times"], dtype=np.float64).reshape(-1, len(names))
        return _Session(
            number=number,
            cortex=np.asarray(data["cortex"], dtype=np.float32),
            thalamus=np.asarray(data["thalamus"], dtype=np.float32),
            action=np.asarray(data["action"], dtype=np.float32),
            valid=np.asarray(data["valid"], dtype=bool),
            mid=time - dt / 2, dt=dt,
            events={name: event_times[:, i] for i, name in enumerate(names)},
            success=np.asarray(data["success"], dtype=bool),
            episode=np.asarray(data["episode"], dtype=np.int64))


def _window_mean(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``data`` (n, T, F) over the samples of ``mask`` (n, T): (n, F) (NaN if none) and counts."""
    count = mask.sum(1)
    total = np.einsum("nt,ntf->nf", mask.astype(data.dtype), data, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, None] > 0, total / count[:, None], np.nan), count


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


# --- 1. activity ---------------------------------------------------------------------------------------


def _activity(s: _Session) -> dict[str, float]:
    count = s.valid.sum()
    if count == 0:
        return {"mean_activity": math.nan, "mean_correlation": math.nan}
    mean_abs = float(np.abs(s.cortex[s.valid]).astype(np.float64).mean())
    has_samples = s.valid.sum(1) >= 2
    corr = spd.mean_off_diagonal_correlation(s.cortex[has_samples], s.valid[has_samples])
    return {"mean_activity": mean_abs, "mean_correlation": float(np.mean(corr)) if corr.size else math.nan}


# --- 2. correlation geometry ---------------------------------------------------------------------------


def _geometry(sessions: list[_Session], first: int, reference: int, config: NeuralAnalysisConfig,
              seed: int) -> tuple[dict[int, dict[str, float]], dict[str, np.ndarray]]:
    units = sessions[0].cortex.shape[2]
    chosen = np.sort(_rng(seed, _UNITS).choice(units, size=min(config.n_units_correlation, units),
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
    out = {s.number: {"distance_to_expert": math.nan, "distance_to_first": math.nan, "diffusion_1": math.nan}
           for s in sessions}
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


# --- 3. probability of expert ----------------------------------------------------------------------------


def _classifier(config: NeuralAnalysisConfig, random_state: int, smallest_class: int):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    inner = StratifiedKFold(n_splits=max(2, min(3, smallest_class)), shuffle=True, random_state=random_state)
    svm = LinearSVC(C=config.svm_c, dual=True, max_iter=20000, random_state=random_state)
    return make_pipeline(StandardScaler(), CalibratedClassifierCV(svm, method="sigmoid", cv=inner,
                                                                   ensemble=False))


def _p_expert(sessions: list[_Session], first: int, reference: int, config: NeuralAnalysisConfig,
              seed: int) -> dict[int, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold

    out = {s.number: math.nan for s in sessions}
    by_number = {s.number: s for s in sessions}
    if first == reference:
        return out
    end = max(float(s.mid[-1] + s.dt / 2) for s in sessions)
    starts = np.arange(0.0, end - 1e-9, config.window_s)
    # features[s][w]: (n, N) window means, NaN rows where the trial has no valid sample in the window
    features = {s.number: [_window_mean(s.cortex, s.mask(a, a + config.window_s))[0] for a in starts]
                for s in sessions}
    probabilities = {s.number: [] for s in sessions}
    rng = _rng(seed, _SVM)
    for w in range(len(starts)):
        x0, x1 = features[first][w], features[reference][w]
        x0, x1 = x0[np.isfinite(x0).all(1)], x1[np.isfinite(x1).all(1)]
        smallest = min(len(x0), len(x1))
        if smallest < config.min_trials_per_session:
            continue
        x = np.concatenate([x0, x1])
        y = np.r_[np.zeros(len(x0)), np.ones(len(x1))]
        folds = StratifiedKFold(n_splits=min(config.cv_folds, smallest), shuffle=True,
                                random_state=int(rng.integers(2**31)))
        state = int(rng.integers(2**31))
        held_out = np.empty(len(y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for train, test in folds.split(x, y):
                smallest_train = int(min((y[train] == 0).sum(), (y[train] == 1).sum()))
                model = _classifier(config, state, smallest_train).fit(x[train], y[train])
                held_out[test] = model.predict_proba(x[test])[:, 1]
            model = _classifier(config, state, smallest).fit(x, y)
        probabilities[first].append(held_out[:len(x0)])
        probabilities[reference].append(held_out[len(x0):])
        for number in by_number:
            if number in (first, reference):
                continue
            xs = features[number][w]
            xs = xs[np.isfinite(xs).all(1)]
            if len(xs):
                probabilities[number].append(model.predict_proba(xs)[:, 1])
    for number, chunks in probabilities.items():
        if chunks:
            out[number] = float(np.mean(np.concatenate(chunks)))
    return out


# --- 4. outcome coding -----------------------------------------------------------------------------------


def _stratified_folds(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Fold index (R, n) for each labelling row of ``labels`` (R, n) bool: every class spread evenly."""
    rows, n = labels.shape
    order = np.argsort(labels + rng.random((rows, n)), axis=1)  # class 0 first, each in random order
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
    Returns (R, U) balanced accuracy of the pooled held-out calls.
    """
    labels = np.asarray(labels, dtype=bool)
    folds = _stratified_folds(labels, k, rng)
    one_hot = folds[:, None, :] != np.arange(k)[None, :, None]  # (R, k, n): trial in the training set
    x64 = np.asarray(x, dtype=np.float64)
    means = []
    for cls in (False, True):
        train = (one_hot & (labels[:, None, :] == cls)).astype(np.float64)
        means.append((train @ x64) / np.maximum(train.sum(-1, keepdims=True), 1.0))  # (R, k, U)
    threshold = (means[0] + means[1]) / 2
    sign = np.sign(means[1] - means[0])
    held_threshold = np.take_along_axis(threshold, folds[:, :, None], axis=1)  # (R, n, U)
    held_sign = np.take_along_axis(sign, folds[:, :, None], axis=1)
    call = held_sign * (x64[None] - held_threshold) > 0
    positives = labels.sum(1)[:, None]
    negatives = (~labels).sum(1)[:, None]
    hit = (call & labels[:, :, None]).sum(1) / positives
    rejection = (~call & ~labels[:, :, None]).sum(1) / negatives
    return (hit + rejection) / 2


def _indicative(s: _Session, config: NeuralAnalysisConfig, seed: int) -> dict[str, float]:
    out = {"indicative_fraction": math.nan, "indicative_fraction_shuffled": math.nan}
    outcome = s.events["outcome"]
    x, count = _window_mean(s.cortex, s.mask(outcome, outcome + config.outcome_window_s))
    keep = (count > 0) & np.isfinite(outcome)
    x, y = x[keep], s.success[keep]
    wins, losses = int(y.sum()), int((~y).sum())
    if min(wins, losses) < config.min_trials_per_outcome:
        return out
    rng = _rng(seed, _INDICATIVE, s.number)
    shuffles = np.argsort(rng.random((config.n_shuffles + 1, len(y))), axis=1)
    labels = np.concatenate([y[None], y[shuffles]])
    accuracy = threshold_balanced_accuracy(x, labels, min(config.cv_folds, wins, losses), rng)
    null = np.percentile(accuracy[1:config.n_shuffles + 1], 95, axis=0)
    out["indicative_fraction"] = float(np.mean(accuracy[0] > null))
    out["indicative_fraction_shuffled"] = float(np.mean(accuracy[-1] > null))
    return out


def _responsive_fraction(s: _Session, event: str, config: NeuralAnalysisConfig) -> float:
    t = s.events[event]
    w = config.response_window_s
    before, n_before = _window_mean(s.cortex, s.mask(t - w, t))
    after, n_after = _window_mean(s.cortex, s.mask(t, t + w))
    keep = np.isfinite(t) & (n_before > 0) & (n_after > 0)
    if keep.sum() < config.min_trials_per_session:
        return math.nan
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = stats.ttest_rel(after[keep], before[keep], axis=0).pvalue
    return float(np.mean(np.nan_to_num(p, nan=1.0) < config.alpha))


def _responsiveness(s: _Session, config: NeuralAnalysisConfig) -> dict[str, float]:
    cue = _responsive_fraction(s, "cue", config)
    outcome = _responsive_fraction(s, "outcome", config)
    total = cue + outcome
    index = (outcome - cue) / total if np.isfinite(total) and total > 0 else math.nan
    return {"cue_responsive_fraction": cue, "outcome_responsive_fraction": outcome,
            "cue_outcome_index": index}


# --- 5. thalamus ------------------------------------------------------------------------------------------

_THALAMUS_KEYS = ("th_movement_overlap", "th_movement_r2", "rec_movement_r2", "th_input_lead_s")


def _numbered_files(folder: Path, pattern: re.Pattern) -> dict[int, Path]:
    """``{number: path}`` of the files in ``folder`` whose name matches ``pattern`` (group 1 = number)."""
    if not folder.is_dir():
        return {}
    found = {int(m.group(1)): path for path in folder.iterdir() if (m := pattern.match(path.name))}
    return dict(sorted(found.items()))


def _checkpoints(run_dir: Path) -> dict[int, Path]:
    return _numbered_files(run_dir / "checkpoints", _CHECKPOINT_FILE)


def load_weights(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(W_tc (N, M), W_rec_eff (N, N))`` of a checkpoint, the recurrent matrix as the network uses it."""
    import torch

    state = torch.load(path, weights_only=True, map_location="cpu")
    cortex = state["cortex"]
    dale = bool(state.get("config", {}).get("agent", {}).get("dale", False))
    recurrent = cortex["recurrent"].double().numpy() * cortex["mask"].double().numpy()
    if dale:
        recurrent = np.maximum(cortex["recurrent"].double().numpy(), 0.0) * cortex["mask"].double().numpy()
        recurrent = recurrent * cortex["sign"].double().numpy()[None, :]
    return cortex["thalamocortical"].double().numpy(), recurrent


def _top(score: np.ndarray, quantile: float) -> np.ndarray:
    k = max(1, int(round(quantile * score.size)))
    return np.argsort(-score, kind="stable")[:k]


def _movement_scores(rates: np.ndarray, action: np.ndarray) -> np.ndarray:
    """Per unit, max over muscles of |Pearson r| between rate and action over the rows (samples)."""
    def standardised(a):
        a = a - a.mean(0)
        norm = np.sqrt((a**2).sum(0))
        return np.where(norm > 1e-12, a / np.where(norm > 1e-12, norm, 1.0), 0.0)
    return np.abs(standardised(rates).T @ standardised(action)).max(1)


def _ridge_fit(x: np.ndarray, y: np.ndarray, alphas: tuple[float, ...]):
    """Ridge regression on standardised ``x`` with the penalty of least leave-one-out error.

    The closed-form leave-one-out residuals ``(y - y_hat) / (1 - h)`` (as in scikit-learn's ``RidgeCV``),
    from one eigendecomposition of ``X^T X``. Returns ``predict(x_new)``.
    """
    mean, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    xs = (x - mean) / scale
    y_mean = y.mean(0)
    yc = y - y_mean
    # Fits, leverages and coefficients are functions of X^T X (V g(w) V^T): independent of the eigenbasis.
    eigenvalues, vectors = np.linalg.eigh(xs.T @ xs)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    projected = xs @ vectors  # (m, p)
    projected_y = projected.T @ yc  # (p, targets)
    squared = projected**2
    best, best_error = None, np.inf
    for alpha in alphas:
        shrink = 1.0 / (eigenvalues + alpha)
        fitted = projected @ (shrink[:, None] * projected_y)
        leverage = squared @ shrink + 1.0 / len(x)  # the intercept's share
        error = (((yc - fitted) / (1.0 - leverage)[:, None]) ** 2).sum()
        if error < best_error:
            best, best_error = alpha, error
    coefficients = vectors @ ((1.0 / (eigenvalues + best))[:, None] * projected_y)

    def predict(x_new: np.ndarray) -> np.ndarray:
        return ((x_new - mean) / scale) @ coefficients + y_mean
    return predict


def _ridge_r2(features: np.ndarray, target: np.ndarray, trial: np.ndarray, config: NeuralAnalysisConfig,
              rng: np.random.Generator) -> float:
    """Out-of-fold R^2 (pooled over folds, variance-weighted over targets) of ridge, folds over trials."""
    trials = np.unique(trial)
    if len(trials) < 2:
        return math.nan
    total = ((target - target.mean(0)) ** 2).sum()
    if not total > 0:
        return math.nan
    k = min(config.cv_folds, len(trials))
    fold_of_trial = np.empty(len(trials), dtype=np.int64)
    fold_of_trial[rng.permutation(len(trials))] = np.arange(len(trials)) % k
    fold = fold_of_trial[np.searchsorted(trials, trial)]
    predicted = np.empty_like(target)
    for f in range(k):
        test = fold == f
        predicted[test] = _ridge_fit(features[~test], target[~test], config.ridge_alphas)(features[test])
    return float(1.0 - ((target - predicted) ** 2).sum() / total)


def cued_reach(lift: np.ndarray, cue: np.ndarray) -> np.ndarray:
    """Which trials count as a reach: a lift that follows the cue (``lift > cue``, both times known).

    A lift at or before the cue onset (or in a trial without a cue) is a pre-cue lift, as
    ``training.train.precue_lift`` and episodes.csv's ``precue_lift`` count it, not a cued reach.
    """
    lift, cue = np.asarray(lift, dtype=np.float64), np.asarray(cue, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(lift) & np.isfinite(cue) & (lift > cue)


def _lead(drive: np.ndarray, s: _Session, baseline: np.ndarray, config: NeuralAnalysisConfig) -> float:
    """Lead (s) before the lift of the half-peak crossing of the lift-aligned drive onto movement units,
    over the trials whose lift follows the cue (:func:`cued_reach`)."""
    lift = s.events["lift"]
    usable = cued_reach(lift, s.events["cue"]) & np.isfinite(baseline)
    if not usable.any():
        return math.nan
    half_width = max(1, int(round(config.lift_window_s / s.dt)))
    lags = np.arange(-half_width, half_width + 1)
    # the sample in which the lift happened: the first whose end is at or after it
    ends = s.mid + s.dt / 2
    lift_sample = np.searchsorted(ends, lift[usable] - 1e-9)
    index = lift_sample[:, None] + lags[None, :]
    inside = (index >= 0) & (index < s.valid.shape[1])
    index = np.clip(index, 0, s.valid.shape[1] - 1)
    rows = np.flatnonzero(usable)[:, None]
    aligned = np.where(inside & s.valid[rows, index], drive[rows, index] - baseline[usable][:, None], np.nan)
    present = np.isfinite(aligned).sum(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        trace = np.where(present > 0, np.nansum(aligned, 0) / np.maximum(present, 1), np.nan)
    if not np.isfinite(trace).any():
        return math.nan
    peak = int(np.nanargmax(np.abs(trace)))
    signed = trace * np.sign(trace[peak])
    if not signed[peak] > 0:
        return math.nan
    half = signed[peak] / 2
    onset = peak
    while onset > 0 and np.isfinite(signed[onset - 1]) and signed[onset - 1] >= half:
        onset -= 1
    crossing = float(lags[onset])
    if onset > 0 and np.isfinite(signed[onset - 1]):  # interpolate between the last sample below and it
        below, above = signed[onset - 1], signed[onset]
        crossing -= (above - half) / (above - below)
    return -crossing * s.dt


def _thalamus(s: _Session, weights: tuple[np.ndarray, np.ndarray] | None, config: NeuralAnalysisConfig,
              seed: int) -> dict[str, float]:
    out = dict.fromkeys(_THALAMUS_KEYS, math.nan)
    if weights is None or s.n == 0:
        return out
    w_tc, w_rec = weights
    units = s.cortex.shape[2]
    if w_tc.shape != (units, s.thalamus.shape[2]) or w_rec.shape != (units, units):
        raise ValueError(f"session {s.number}: checkpoint weights {w_tc.shape}, {w_rec.shape} do not match "
                         f"{units} cortical and {s.thalamus.shape[2]} thalamic units")
    cue = s.events["cue"]
    movement = s.mask(cue, s.movement_stop())
    if movement.sum() < 3:
        return out
    rates, action = s.cortex[movement].astype(np.float64), s.action[movement].astype(np.float64)
    movement_units = _top(_movement_scores(rates, action), config.movement_quantile)
    thalamic = s.thalamus.astype(np.float64) @ w_tc.T  # (n, T, N)
    silent = not np.abs(thalamic[s.valid]).max(initial=0.0) > 1e-9
    during, _ = _window_mean(thalamic, movement)
    baseline, _ = _window_mean(thalamic, s.mask(0.0, cue))
    change = during - baseline
    has_change = np.isfinite(change).all(1)
    if not silent and has_change.any():
        excited = _top(change[has_change].mean(0), config.movement_quantile)
        out["th_movement_overlap"] = float(np.isin(excited, movement_units).mean())
    # regressions on a seeded subset of movement-period samples
    rng = _rng(seed, _REGRESSION, s.number)
    trial_of = np.broadcast_to(np.arange(s.n)[:, None], movement.shape)[movement]
    size = min(len(rates), config.max_regression_samples)
    subset = np.sort(rng.choice(len(rates), size=size, replace=False))
    target, trials = action[subset], trial_of[subset]
    out["th_movement_r2"] = _ridge_r2(thalamic[movement][subset], target, trials, config, rng)
    out["rec_movement_r2"] = _ridge_r2(rates[subset] @ w_rec.T, target, trials, config, rng)
    if not silent:
        drive = thalamic[:, :, movement_units].mean(2)  # (n, T)
        base = _window_mean(drive[:, :, None], s.mask(0.0, cue))[0][:, 0]
        out["th_input_lead_s"] = _lead(drive, s, base, config)
    return out


# --- the run ----------------------------------------------------------------------------------------------


def recorded_sessions(run_dir: Path) -> dict[int, Path]:
    """``{session: path}`` of the merged session files of a run, by session number."""
    return _numbered_files(Path(run_dir) / "activity", _SESSION_FILE)


def analyse_run(run_dir: Path, *, seed: int, reference_session: int | None = None,
                config: NeuralAnalysisConfig = NeuralAnalysisConfig()) -> RunNeural:  # noqa: B008 - frozen
    """Every metric of :data:`METRICS` for every recorded session of the run in ``run_dir``.

    Args:
        run_dir: the run folder (``activity/``, ``checkpoints/``).
        seed: seeds every random choice of the analysis.
        reference_session: the "expert" session (default: the last recorded one); it must be recorded.
        config: the analysis knobs.

    Raises:
        FileNotFoundError: if the run has no recorded session.
        ValueError: if ``reference_session`` was not recorded.
    """
    from threadpoolctl import threadpool_limits

    # One BLAS thread: runs are analysed in parallel processes, and threaded LAPACK on a busy machine
    # is slower than one thread by orders of magnitude (busy-waiting threads).
    with threadpool_limits(limits=1):
        return _analyse_run(Path(run_dir), seed, reference_session, config)


def _analyse_run(run_dir: Path, seed: int, reference_session: int | None,
                 config: NeuralAnalysisConfig) -> RunNeural:
    files = recorded_sessions(run_dir)
    if not files:
        raise FileNotFoundError(f"{run_dir}: no activity/session_NN.npz")
    if reference_session is None:
        reference_session = max(files)
    if reference_session not in files:
        raise ValueError(f"{run_dir}: reference session {reference_session} was not recorded "
                         f"(recorded: {sorted(files)})")
    first = min(files)
    sessions = [_load_session(path, number) for number, path in files.items()]
    rows: dict[int, dict[str, float]] = {s.number: {} for s in sessions}

    geometry, embedding = _geometry(sessions, first, reference_session, config, seed)
    p_expert = _p_expert(sessions, first, reference_session, config, seed)
    checkpoints = _checkpoints(run_dir)
    loaded: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for s in sessions:
        row = rows[s.number]
        row.update(_activity(s))
        row.update(geometry[s.number])
        row["p_expert"] = p_expert[s.number]
        row.update(_indicative(s, config, seed))
        row.update(_responsiveness(s, config))
        weights = None
        if s.n and checkpoints:
            earlier = [e for e in checkpoints if e <= int(s.episode.min())]
            if earlier:
                episode = max(earlier)
                if episode not in loaded:
                    loaded[episode] = load_weights(checkpoints[episode])
                weights = loaded[episode]
        row.update(_thalamus(s, weights, config, seed))
    ordered = [{"session": number, **{k: float(row[k]) for k in METRICS}} for number, row in rows.items()]
    return RunNeural(sessions=ordered, embedding=embedding, first_session=first,
                     reference_session=reference_session)


__all__ = ["METRICS", "NeuralAnalysisConfig", "RunNeural", "analyse_run", "cued_reach", "load_weights",
           "recorded_sessions", "threshold_balanced_accuracy"]
