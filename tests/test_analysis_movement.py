"""Movement units (analysis/movement.py) on hand-made sessions: the command's components, the split-half
test, and when there is nothing to test. Runs with planted movement units, the calibration under
autocorrelated noise and the held-out R^2 threshold are in tests/test_analysis_probe.py."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.movement import (
    MIN_TRIALS,
    command_components,
    movement_unit_test,
    movement_units,
    split_half_test,
)
from analysis.neural import NeuralAnalysisConfig
from analysis.sessions import Session

CONFIG = NeuralAnalysisConfig()
DT, STEPS, CUE = 0.04, 75, 0.6


def session(trials: int, planted: int, units: int = 20, seed: int = 0) -> Session:
    """Trials of 3 s with a reach (lift 0.2-0.4 s after the cue, outcome 1 s after the lift): the command
    follows the reach's time course on 15 muscles, the first ``planted`` units follow it too (gain 0.5),
    every unit has independent noise (SD 0.3)."""
    rng = np.random.default_rng(seed)
    mid = np.arange(STEPS) * DT + DT / 2
    lift = CUE + rng.uniform(0.2, 0.4, trials)
    outcome = lift + 1.0
    rising, falling = (mid[None] - lift[:, None]) / 0.3, (outcome[:, None] - mid[None]) / 0.3
    course = np.clip(np.minimum(rising, falling), 0.0, 1.0)
    command = 0.2 + 0.5 * course[..., None] * rng.uniform(0.5, 1.0, 15) + 0.03 * rng.standard_normal(
        (trials, STEPS, 15))
    cortex = 0.3 * rng.standard_normal((trials, STEPS, units))
    cortex[:, :, :planted] += 0.5 * course[..., None]
    return Session(number=1, cortex=cortex.astype(np.float32), action=command.astype(np.float32),
                   mean_action=command.astype(np.float32), inputs={}, valid=np.ones((trials, STEPS), bool),
                   mid=mid, dt=DT, events={"cue": np.full(trials, CUE), "lift": lift, "outcome": outcome},
                   success=np.ones(trials, bool), episode=np.arange(trials))


def test_planted_movement_units_are_found_and_no_others():
    found = movement_units(session(40, planted=5), CONFIG, seed=0)
    np.testing.assert_array_equal(found, np.arange(20) < 5)


def test_a_command_without_movement_units_calls_none():
    assert not movement_units(session(40, planted=0, seed=1), CONFIG, seed=0).any()


def test_command_components_keep_the_share_of_variance_asked_for():
    rng = np.random.default_rng(2)
    scores = rng.standard_normal((500, 2)) * [3.0, 1.0]
    directions = np.linalg.qr(rng.standard_normal((15, 15)))[0][:2]
    command = scores @ directions + 0.05 * rng.standard_normal((500, 15))
    command -= command.mean(0)
    assert command_components(command, 0.95).shape == (500, 2)  # the two planted directions
    assert command_components(command, 0.5).shape == (500, 1)
    assert command_components(np.zeros((500, 15)), 0.95) is None


def test_split_half_test_separates_a_coding_unit_from_noise_and_a_constant_unit():
    rng = np.random.default_rng(3)
    trials, samples = 40, 30
    index = np.repeat(np.arange(trials), samples)
    component = rng.standard_normal((trials * samples, 1))
    noise = rng.standard_normal((trials * samples, 2))
    rates = np.column_stack([0.5 * component[:, 0] + noise[:, 0], noise[:, 1], np.zeros(trials * samples)])
    p, r2 = split_half_test(rates, component, index, trials, np.random.default_rng(0))
    assert p[0] < 1e-6 and r2[0] == pytest.approx(0.2, abs=0.05)  # a^2 / (a^2 + 1) with a = 0.5
    assert p[1] > 0.01 and abs(r2[1]) < 0.02
    assert p[2] == 1.0 and r2[2] == -np.inf


def test_nothing_is_tested_with_too_few_trials_or_a_command_that_does_not_vary():
    assert movement_unit_test(session(MIN_TRIALS - 1, planted=5), 0.95, np.random.default_rng(0)) is None
    assert movement_units(session(MIN_TRIALS - 1, planted=5), CONFIG, seed=0) is None
    still = session(20, planted=5)
    still.mean_action = np.full_like(still.mean_action, 0.2)
    assert movement_unit_test(still, 0.95, np.random.default_rng(0)) is None
