"""Per-session neural metrics of one recorded run: the lab's analyses (shared/SCIENCE.md, findings 5-8).

Input: a run folder with ``activity/session_NN.npz`` (format in :mod:`agents.recording`; loading in
:mod:`analysis.sessions`), ``checkpoints/episode_EEEEEE.pt`` and, in circuit-v2 runs,
``probe/session_NN.npz``. The *first* session is the first recorded one; the *reference* ("expert")
session is the last recorded one unless given. Windows are half-open intervals on the midpoints of the
samples, and only valid samples enter anything. Every random choice (unit subset, label shuffles, CV
splits, sample subsets, trial halves) comes from generators seeded by ``seed`` and a fixed key per use
(:class:`analysis.sessions.RandomKey`). Every per-unit test is corrected across units by
Benjamini-Hochberg at ``fdr_q`` (:mod:`analysis.fdr`).

One module per analysis, each documenting its metrics in full (the one-line definitions are
:data:`METRICS`):

=============================  ====================================================================
module                         metrics
=============================  ====================================================================
:mod:`analysis.activity`       mean_activity, mean_correlation, correlation_sd, saturated_fraction
:mod:`analysis.geometry`       distance_to_expert, distance_to_first, diffusion_1 (+ the embedding)
:mod:`analysis.expert`         p_expert
:mod:`analysis.indicative`     indicative_fraction, indicative_fraction_shuffled, indicative_fraction_post
:mod:`analysis.responses`      cue_responsive_fraction, outcome_responsive_fraction, cue_outcome_index
:mod:`analysis.inputs`         input_r2_thalamus, input_r2_s1, input_r2_cue, input_lead_thalamus_s,
                               input_lead_s1_s
:mod:`analysis.currents`       th_movement_r2, rec_movement_r2, th_input_lead_s, th_movement_overlap
:mod:`analysis.probe`          th_excited_fraction, th_movement_given_excited,
                               th_excited_given_nonmovement, movement_unit_fraction (movement units:
                               :mod:`analysis.movement`)
=============================  ====================================================================

Circuit-v2 arrays that a run lacks (``mean_action``, ``s1``, ``cue_input``, the probe) make the metrics
that need them NaN; the movement target falls back to ``action`` (exploration noise included) without
``mean_action``. Every metric is NaN, never an error, when its data are missing (no lift, all trials of
one outcome, a silenced thalamus, a missing checkpoint or probe). The analysis runs on one BLAS thread
(runs are analysed in parallel processes); a run of 10 sessions x 64 trials x 256 cortical units x
62 samples (64 thalamic, 32 S1 units, 32 probe trials per session) takes about 10 s on one core.

With ``imaging`` set (a :class:`analysis.calcium.CalciumConfig`), every session is first imaged
(:func:`analysis.calcium.image_session`): the analyses run on the dF/F frames of the units in view, and
the other arrays resampled to the frames; the metrics imaging cannot give
(:data:`analysis.calcium.NOT_IMAGED`) are NaN, and :attr:`RunNeural.not_computed` says why. Thresholds in
rate units (``min_response``) then apply to dF/F.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from analysis import activity, calcium, currents, expert, geometry, indicative, inputs, probe, responses
from analysis.indicative import threshold_balanced_accuracy
from analysis.run_format import activity_files, checkpoint_files, probe_files
from analysis.sessions import cued_reach, load_session
from analysis.weights import inputs_at, load_weights

#: One-sentence definition of every per-session metric (the report prints these).
METRICS: dict[str, str] = {
    # finding 5
    "mean_activity": "Mean |rate| of all cortical units over the valid samples of the session's trials.",
    "mean_correlation": "Mean off-diagonal Pearson correlation between all cortical units within a trial, "
                        "averaged over trials (before shrinkage).",
    "correlation_sd": "SD over unit pairs of the within-trial Pearson correlations (the spread of their "
                      "distribution), averaged over trials.",
    "saturated_fraction": "Fraction of valid samples x units whose |rate| exceeds 0.95 (pinned near the "
                          "rate's bound).",
    "distance_to_expert": "Affine-invariant Riemannian distance between the session's Karcher-mean trial "
                          "correlation matrix (a fixed seeded subset of units) and the reference (expert) "
                          "session's.",
    "distance_to_first": "The same Riemannian distance to the first recorded session's mean correlation "
                         "matrix.",
    "diffusion_1": "Mean first diffusion-map coordinate of the session's trial correlation matrices (tangent "
                   "space at the grand mean), signed so that the reference session's mean is positive.",
    "p_expert": "Mean probability of 'expert' from per-time-window linear SVMs on units' mean rates, trained "
                "on first vs reference session (out-of-fold for those two sessions).",
    # finding 6
    "indicative_fraction": "Fraction of units whose mean rate in some cue-aligned window that ends before "
                           "the grab (the outcome in trials without one) predicts success vs failure "
                           "(cross-validated threshold accuracy above its label-shuffle null, Bonferroni "
                           "over windows, BH across units).",
    "indicative_fraction_shuffled": "The same fraction for one extra shuffled labelling: the empirical "
                                    "chance level of indicative_fraction.",
    "indicative_fraction_post": "The same rule on the post-outcome window alone, where the sensed outcome "
                                "itself may make a unit indicative.",
    "cue_responsive_fraction": "Fraction of units whose mean rate after the cue (until the lift at the "
                               "latest) differs from just before it, significantly (paired t-test across "
                               "trials, BH across units) and by at least min_response (0.05) on average.",
    "outcome_responsive_fraction": "Fraction of units whose mean rate after the outcome differs from just "
                                   "before it, significantly (paired t-test across trials, BH across units) "
                                   "and by at least min_response (0.05) on average.",
    "cue_outcome_index": "(outcome-responsive - cue-responsive) / (outcome-responsive + cue-responsive) "
                         "fraction: -1 all cue, +1 all outcome.",
    # finding 7
    "input_r2_thalamus": "Cross-validated (over trials) ridge R^2 of the mean muscle command from the motor "
                         "thalamus's rates, cue to outcome.",
    "input_r2_s1": "Cross-validated (over trials) ridge R^2 of the mean muscle command from the "
                   "somatosensory input's rates, cue to outcome.",
    "input_r2_cue": "Cross-validated (over trials) ridge R^2 of the mean muscle command from the cue "
                    "input's rates, cue to outcome.",
    "input_lead_thalamus_s": "Time (s) before the lift at which the thalamus's decoded command (projected on "
                             "the command's direction of movement, trial-averaged) reaches half its peak "
                             "(positive = before; NaN if input_r2_thalamus < 0.01).",
    "input_lead_s1_s": "The same lead (s) for the somatosensory input's decoded command.",
    "th_movement_r2": "Cross-validated (over trials) ridge R^2 of the mean muscle command from the thalamic "
                      "input currents onto cortical units, cue to outcome.",
    "rec_movement_r2": "Cross-validated (over trials) ridge R^2 of the mean muscle command from the "
                       "recurrent input currents onto cortical units, cue to outcome.",
    "th_input_lead_s": "Time (s) before the lift at which the trial-averaged thalamic drive onto movement "
                       "units first reaches half its peak (positive = before the lift), over trials whose "
                       "lift follows the cue.",
    # finding 8
    "th_excited_fraction": "Fraction of units that a thalamic stimulation pulse excites (probe at the "
                           "session's start: one-sided t-test across probe trials, against the pulse-free "
                           "control trials where recorded, BH across units, and a mean response of at "
                           "least probe_min_response = 0.05).",
    "th_movement_given_excited": "Fraction of the Th-excited units that are movement units.",
    "th_excited_given_nonmovement": "Fraction of the non-movement units that are Th-excited.",
    "movement_unit_fraction": "Fraction of units whose rate encodes the mean muscle command over the "
                              "movement period, significantly (split-half cross-validated prediction, t-test "
                              "across held-out trials, BH across units) and with a held-out R^2 of at least "
                              "min_movement_r2 = 0.1 of the unit's within-trial variance.",
    "th_movement_overlap": "Fraction of the most thalamus-excited units (top quantile of thalamic drive) "
                           "that are also movement units (top quantile of movement encoding); chance = "
                           "the quantile.",
}


class NeuralAnalysisConfig(BaseModel):
    """Knobs of :func:`analyse_run` (defaults: the lab's choices where it made one).

    A pydantic model like the run's config sections (frozen, unknown fields refused, strict types);
    each field's meaning is its docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    n_units_correlation: int = 48
    """units in the correlation field of view (fewer than samples per trial)."""
    shrinkage: float = 0.1
    """weight of the identity in each trial's correlation matrix."""
    riemann_tol: float = 1e-6
    """stopping tolerance of the Karcher-mean iteration (norm of the mean log-map; the error of a mean is
    of that order, in distance units)."""
    diffusion_neighbors: int = 5
    """nearest neighbours whose median distance sets the diffusion kernel width."""
    saturation: float = 0.95
    """|rate| above which a sample of a unit counts as saturated (rates are bounded by 1)."""
    window_s: float = 0.5
    """length (s) of the time windows of the expert classifier."""
    svm_c: float = 1.0
    """inverse regularisation of the linear SVM."""
    cv_folds: int = 5
    """folds of every stratified / grouped cross-validation (fewer if a class is smaller)."""
    min_trials_per_session: int = 5
    """fewest trials a session (or probe) needs for p_expert and the responsiveness and probe tests."""
    fdr_q: float = 0.05
    """false-discovery rate of the Benjamini-Hochberg correction of every per-unit test."""
    indicative_window_s: float = 0.3
    """length (s) of the cue-aligned windows of the pre-grab indicative units."""
    outcome_window_s: float = 0.3
    """length (s) of the post-outcome window of ``indicative_fraction_post``."""
    n_shuffles: int = 200
    """label shuffles of the indicative-unit null distribution."""
    min_trials_per_outcome: int = 5
    """fewest successes and fewest failures for indicative units."""
    response_window_s: float = 0.3
    """length (s) of the windows before / after cue and outcome for responsiveness."""
    min_response: float = 0.05
    """smallest |mean rate change| (rate units) of a cue- or outcome-responsive unit
    (:mod:`analysis.responses`; 0.05 = 5 % of the tanh rate's half-range, the model's counterpart of the
    lab's DF/F threshold for a responding cell)."""
    movement_quantile: float = 0.25
    """top fraction of units called movement units and Th-excited units by ``th_movement_overlap`` (only)."""
    command_variance: float = 0.95
    """share of the command's within-trial variance that its principal components carry into the
    movement-unit test."""
    probe_window_s: float = 0.06
    """length (s) of the windows before / after the probe pulse's onset."""
    probe_min_response: float = 0.05
    """smallest mean probe response (rate units; beyond the control trials' change where the probe has
    them) of a Th-excited unit (:mod:`analysis.probe`)."""
    min_movement_r2: float = 0.1
    """smallest held-out share of a unit's within-trial rate variance that the command explains for a
    movement unit (:mod:`analysis.movement`)."""
    max_regression_samples: int = 2000
    """movement-period samples (seeded subset) for the ridge regressions."""
    ridge_alphas: tuple[float, ...] = (1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4)
    """penalties the ridge regression chooses from."""
    lift_window_s: float = 0.6
    """half-width (s) of the lift-aligned window of the lead measurements."""
    min_lead_r2: float = 0.01
    """smallest ``input_r2_<X>`` for which the population's lead is measured."""
    imaging: calcium.CalciumConfig | None = None
    """run the analyses on simulated calcium imaging of the cortex (:mod:`analysis.calcium`) instead of its
    rates; None: on the rates."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        positive_int = {"n_units_correlation": 2, "diffusion_neighbors": 1, "cv_folds": 2,
                        "min_trials_per_session": 2, "n_shuffles": 20, "min_trials_per_outcome": 2,
                        "max_regression_samples": 10}
        for name, least in positive_int.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
                raise ValueError(f"NeuralAnalysisConfig.{name}={value!r} must be an integer >= {least}")
        open_unit = {"fdr_q": (0.0, 1.0), "movement_quantile": (0.0, 1.0), "shrinkage": (0.0, 1.0),
                     "saturation": (0.0, 1.0), "min_lead_r2": (0.0, 1.0),
                     "command_variance": (0.0, 1.0)}
        for name, (low, high) in open_unit.items():
            value = getattr(self, name)
            if not (isinstance(value, int | float) and low < value < high):
                raise ValueError(f"NeuralAnalysisConfig.{name}={value!r} must be in ({low}, {high})")
        for name in ("riemann_tol", "window_s", "svm_c", "outcome_window_s", "response_window_s",
                     "lift_window_s", "indicative_window_s", "probe_window_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"NeuralAnalysisConfig.{name}={value!r} must be a positive number")
        for name in ("probe_min_response", "min_response"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value)
                                               and value >= 0):
                raise ValueError(f"NeuralAnalysisConfig.{name}={value!r} must be a number >= 0")
        if isinstance(self.min_movement_r2, bool) or not (isinstance(self.min_movement_r2, int | float)
                                                          and 0 <= self.min_movement_r2 < 1):
            raise ValueError(f"NeuralAnalysisConfig.min_movement_r2={self.min_movement_r2!r} must be in "
                             f"[0, 1)")
        if (not isinstance(self.ridge_alphas, tuple) or not self.ridge_alphas
                or not all(isinstance(a, int | float) and a > 0 for a in self.ridge_alphas)):
            raise ValueError(f"NeuralAnalysisConfig.ridge_alphas={self.ridge_alphas!r} must be a non-empty "
                             f"tuple of positive numbers")
        return self

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
        not_computed: metrics left NaN by the analysis's design, with the reason (with ``imaging``:
            :data:`analysis.calcium.NOT_IMAGED`); empty on the rates.
    """

    sessions: list[dict[str, float]]
    embedding: dict[str, np.ndarray]
    first_session: int = 0
    reference_session: int = 0
    not_computed: dict[str, str] = field(default_factory=dict)


def analyse_run(run_dir: Path, *, seed: int, reference_session: int | None = None,
                config: NeuralAnalysisConfig = NeuralAnalysisConfig()) -> RunNeural:  # noqa: B008 - frozen
    """Every metric of :data:`METRICS` for every recorded session of the run in ``run_dir``.

    Args:
        run_dir: the run folder (``activity/``, ``checkpoints/``, ``probe/``).
        seed: seeds every random choice of the analysis.
        reference_session: the "expert" session (default: the last recorded one); it must be recorded.
        config: the analysis knobs.

    Raises:
        FileNotFoundError: if the run has no recorded session.
        ValueError: if ``reference_session`` was not recorded, or a checkpoint or probe does not match the
            recorded populations.
    """
    from threadpoolctl import threadpool_limits

    # One BLAS thread: runs are analysed in parallel processes, and threaded LAPACK on a busy machine
    # is slower than one thread by orders of magnitude (busy-waiting threads).
    with threadpool_limits(limits=1):
        return _analyse_run(Path(run_dir), seed, reference_session, config)


def _analyse_run(run_dir: Path, seed: int, reference_session: int | None,
                 config: NeuralAnalysisConfig) -> RunNeural:
    files = activity_files(run_dir)
    if not files:
        raise FileNotFoundError(f"{run_dir}: no activity/session_NN.npz")
    if reference_session is None:
        reference_session = max(files)
    if reference_session not in files:
        raise ValueError(f"{run_dir}: reference session {reference_session} was not recorded "
                         f"(recorded: {sorted(files)})")
    first = min(files)
    sessions = [load_session(path, number) for number, path in files.items()]
    imaging = config.imaging
    if imaging is not None:
        sessions = [calcium.image_session(s, imaging) for s in sessions]
    not_computed = dict(calcium.NOT_IMAGED) if imaging is not None else {}
    rows: dict[int, dict[str, float]] = {s.number: {} for s in sessions}

    shape, embedding = geometry.geometry(sessions, first, reference_session, config, seed)
    p_expert = expert.p_expert(sessions, first, reference_session, config, seed)
    found, loaded = checkpoint_files(run_dir), {}
    probes = probe_files(run_dir)
    for s in sessions:
        row = rows[s.number]
        row.update(activity.activity_metrics(s.cortex, s.valid, config.saturation))
        row.update(shape[s.number])
        row["p_expert"] = p_expert[s.number]
        row.update(indicative.indicative(s, config, seed))
        row.update(responses.responses(s, config))
        row.update(inputs.inputs(s, config, seed))
        # imaged sessions skip the checkpoint's currents and the probe (calcium.NOT_IMAGED): both are of
        # every unit's rates, which imaging does not see
        weights = inputs_at(int(s.episode.min()), found, loaded) if s.n and imaging is None else None
        row.update(currents.currents(s, weights, config, seed))
        recorded = (probe.load_probe(probes[s.number]) if s.number in probes and imaging is None
                    else None)
        row.update(probe.probe_metrics(s, recorded, config, seed))
        row.update(dict.fromkeys(not_computed, math.nan))
    ordered = [{"session": number, **{k: float(row[k]) for k in METRICS}} for number, row in rows.items()]
    return RunNeural(sessions=ordered, embedding=embedding, first_session=first,
                     reference_session=reference_session, not_computed=not_computed)


__all__ = ["METRICS", "NeuralAnalysisConfig", "RunNeural", "analyse_run", "cued_reach", "load_weights",
           "threshold_balanced_accuracy"]
