"""Finding 6's cue and outcome responses (analysis/responses.py) on synthetic sessions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_runs import CUE, Plan, make_run

from analysis.neural import NeuralAnalysisConfig
from analysis.responses import responses, responsive_units
from analysis.run_format import activity_files
from analysis.sessions import Session, load_session

CONFIG = NeuralAnalysisConfig()


def per_session(root, plan: Plan) -> dict[int, dict[str, float]]:
    make_run(root, plan)
    return {number: responses(load_session(path, number), CONFIG)
            for number, path in activity_files(root).items()}


def test_planted_shift_from_cue_to_outcome_responses_is_found(tmp_path):
    # 8 of 40 units respond to the cue in session 1 only, 8 others to the outcome (after successes) in
    # session 7 only, a linear hand-over between them.
    plan = Plan(sessions=(1, 4, 7), units=40, cue_units=8, cue_gain=(0.8, 0.0), outcome_units=8,
                outcome_gain=(0.0, 0.8), probe=False, seed=1)
    out = per_session(tmp_path, plan)
    share = 8 / 40
    assert out[1]["cue_responsive_fraction"] == pytest.approx(share, abs=1 / 40)
    assert out[1]["outcome_responsive_fraction"] <= 1 / 40
    assert out[7]["cue_responsive_fraction"] <= 1 / 40
    assert out[7]["outcome_responsive_fraction"] == pytest.approx(share, abs=1 / 40)
    index = [out[s]["cue_outcome_index"] for s in plan.sessions]
    assert index[0] < -0.8 and index[2] > 0.8 and index[0] < index[1] < index[2]


def test_the_movement_that_follows_the_cue_is_not_a_cue_response(tmp_path):
    # 10 of 40 units carry the movement from the lift on, 0.1 s after the cue: inside a 0.3 s window after
    # the cue, but the window stops at the lift.
    plan = Plan(sessions=(1,), units=40, movement_units=10, movement_gain=2.0, lift_at=CUE + 0.1, probe=False)
    assert per_session(tmp_path, plan)[1]["cue_responsive_fraction"] <= 1 / 40


def test_pre_cue_lifts_leave_the_cue_test_without_trials(tmp_path):
    out = per_session(tmp_path, Plan(sessions=(1,), lift_at=CUE - 0.1, cue_units=5, probe=False))[1]
    assert math.isnan(out["cue_responsive_fraction"]) and np.isfinite(out["outcome_responsive_fraction"])


def test_a_frozen_network_responds_to_nothing_in_any_session(tmp_path):
    out = per_session(tmp_path, Plan(sessions=(1, 2, 3), units=60, probe=False, seed=3))
    for row in out.values():
        # Benjamini-Hochberg at q = 0.05: with no effect, it calls any unit in at most 5 % of sessions
        assert row["cue_responsive_fraction"] <= 1 / 60 and row["outcome_responsive_fraction"] <= 1 / 60


def stepped_session(event: str, steps: list[float], noise: float = 0.002) -> Session:
    """30 trials of little noise in which unit i's rate steps by ``steps[i]`` at ``event`` (cue at 0.6 s,
    lift at 1.0 s, outcome at 1.5 s) and stays there."""
    generator = np.random.default_rng(0)
    n, samples, dt = 30, 60, 0.04
    mid = np.arange(samples) * dt + dt / 2
    events = {"cue": np.full(n, 0.6), "lift": np.full(n, 1.0), "grab": np.full(n, 1.2),
              "at_mouth": np.full(n, np.nan), "outcome": np.full(n, 1.5)}
    cortex = 0.2 + noise * generator.standard_normal((n, samples, len(steps)))
    cortex += (mid >= events[event][0])[None, :, None] * np.asarray(steps)[None, None, :]
    return Session(number=1, cortex=cortex.astype(np.float32), action=np.zeros((n, samples, 15), np.float32),
                   mean_action=None, inputs={}, valid=np.ones((n, samples), bool), mid=mid, dt=dt,
                   events=events, success=np.arange(n) % 2 == 0, episode=np.arange(n))


@pytest.mark.parametrize("event", ["cue", "outcome"])
def test_a_significant_response_below_the_minimum_size_is_not_counted(event):
    # Changes of 0.03 and 0.08 (either sign) are all significant with so little noise; only those of at
    # least min_response (0.05) in magnitude count.
    s = stepped_session(event, [0.03, -0.03, 0.08, -0.08, 0.0])
    assert CONFIG.min_response == 0.05
    np.testing.assert_array_equal(responsive_units(s, event, CONFIG), [False, False, True, True, False])
    no_minimum = NeuralAnalysisConfig(min_response=0.0)
    np.testing.assert_array_equal(responsive_units(s, event, no_minimum), [True, True, True, True, False])


def test_too_few_trials_give_nan(tmp_path):
    out = per_session(tmp_path, Plan(sessions=(1,), trials=4, cue_units=5, probe=False))
    assert math.isnan(out[1]["cue_responsive_fraction"]) and math.isnan(out[1]["cue_outcome_index"])
