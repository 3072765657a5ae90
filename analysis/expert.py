"""Finding 5's "probability of expert" (the lab's classifier of naive vs expert activity).

The trial timeline is cut into windows of ``window_s``; per window, each trial's features are the units'
mean rates over its valid samples in the window. One linear SVM per window (standardised features,
``LinearSVC`` with sigmoid (Platt) calibration by an inner stratified CV) is trained on first-session (0)
vs reference-session (1) trials. A session's ``p_expert`` is the mean predicted probability of "expert"
over its trials and windows; trials of the first and reference sessions get out-of-fold predictions
(stratified ``cv_folds``-fold), so their values are not inflated. A window is used only if both training
sessions have at least ``min_trials_per_session`` trials with samples in it; NaN if no window is (or
first = reference). (The lab used 1 s windows with a 0.5 s hop and hard labels; we use probabilities in
adjacent windows.)
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from analysis.sessions import RandomKey, Session, rng, window_mean

if TYPE_CHECKING:
    from analysis.neural import NeuralAnalysisConfig


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


def p_expert(sessions: list[Session], first: int, reference: int, config: NeuralAnalysisConfig,
             seed: int) -> dict[int, float]:
    """``{session: p_expert}`` (NaN where not computable)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold

    out = {s.number: math.nan for s in sessions}
    if first == reference:
        return out
    end = max(float(s.mid[-1] + s.dt / 2) for s in sessions)
    starts = np.arange(0.0, end - 1e-9, config.window_s)
    # features[s][w]: (n, N) window means, NaN rows where the trial has no valid sample in the window
    features = {s.number: [window_mean(s.cortex, s.mask(a, a + config.window_s))[0] for a in starts]
                for s in sessions}
    probabilities: dict[int, list[np.ndarray]] = {s.number: [] for s in sessions}
    generator = rng(seed, RandomKey.SVM)
    for w in range(len(starts)):
        x0, x1 = features[first][w], features[reference][w]
        x0, x1 = x0[np.isfinite(x0).all(1)], x1[np.isfinite(x1).all(1)]
        smallest = min(len(x0), len(x1))
        if smallest < config.min_trials_per_session:
            continue
        x = np.concatenate([x0, x1])
        y = np.r_[np.zeros(len(x0)), np.ones(len(x1))]
        folds = StratifiedKFold(n_splits=min(config.cv_folds, smallest), shuffle=True,
                                random_state=int(generator.integers(2**31)))
        state = int(generator.integers(2**31))
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
        for number in probabilities:
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
