"""Findings 7-8 from the input currents onto cortical units (analysis/currents.py, circuit v1's analyses)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_runs import Plan, make_run

from analysis.currents import KEYS, currents, movement_scores
from analysis.lead import half_peak_lead
from analysis.neural import NeuralAnalysisConfig
from analysis.sessions import load_session
from analysis.weights import load_inputs

CONFIG = NeuralAnalysisConfig()


def session_and_weights(root, plan: Plan):
    make_run(root, plan)
    return (load_session(root / "activity" / "session_01.npz", 1),
            load_inputs(root / "checkpoints" / "episode_000000.pt"))


def test_planted_thalamic_drive_onto_the_movement_units_is_found(tmp_path):
    # Thalamic unit 0 carries the movement 0.2 s early and projects onto the 10 movement units (a quarter
    # of 40: the quantile of th_movement_overlap); the recurrent input carries no movement.
    plan = Plan(sessions=(1,), units=40, movement_units=10, probe=False)
    s, weights = session_and_weights(tmp_path, plan)
    out = currents(s, weights, CONFIG, seed=0)
    assert set(out) == set(KEYS)
    assert out["th_movement_overlap"] == 1.0
    assert out["th_movement_r2"] > 0.3 and out["rec_movement_r2"] < 0.05
    command_lead = half_peak_lead(s.target.mean(2), s, CONFIG.lift_window_s)
    assert out["th_input_lead_s"] - command_lead == pytest.approx(plan.thalamic_lead, abs=plan.dt / 2)


def test_a_thalamus_that_drives_other_units_has_no_overlap(tmp_path):
    s, weights = session_and_weights(tmp_path, Plan(sessions=(1,), units=40, movement_units=10,
                                                    thalamus_targets="other", probe=False))
    assert currents(s, weights, CONFIG, seed=0)["th_movement_overlap"] == 0.0


def test_a_silent_thalamus_gives_nothing(tmp_path):
    s, weights = session_and_weights(tmp_path, Plan(sessions=(1,), units=40, movement_units=10,
                                                    silent_thalamus=True, probe=False))
    out = currents(s, weights, CONFIG, seed=0)
    assert math.isnan(out["th_movement_overlap"]) and math.isnan(out["th_input_lead_s"])
    assert abs(out["th_movement_r2"]) < 0.01  # no features left: the mean, out of fold


def test_a_thalamus_that_carries_no_movement_predicts_about_nothing(tmp_path):
    s, weights = session_and_weights(tmp_path, Plan(sessions=(1,), units=40, movement_units=10,
                                                    encode_inputs=False, probe=False, seed=2))
    assert abs(currents(s, weights, CONFIG, seed=0)["th_movement_r2"]) < 0.03


def test_no_weights_give_nan_and_mismatched_weights_an_error(tmp_path):
    s, weights = session_and_weights(tmp_path, Plan(sessions=(1,), units=20, probe=False))
    assert all(math.isnan(v) for v in currents(s, None, CONFIG, seed=0).values())
    with pytest.raises(ValueError, match="do not match"):
        currents(s, {**weights, "recurrent": np.zeros((19, 19))}, CONFIG, seed=0)


def test_movement_scores_are_the_largest_absolute_correlation_with_a_muscle():
    rng = np.random.default_rng(0)
    command = rng.standard_normal((2000, 3))
    rates = np.column_stack([-2.0 * command[:, 1] + 0.1 * rng.standard_normal(2000),
                             rng.standard_normal(2000), np.full(2000, 0.3)])
    scores = movement_scores(rates, command)
    assert scores[0] > 0.99 and scores[1] < 0.1 and scores[2] == 0.0
