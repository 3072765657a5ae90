"""Finding 6's indicative units (analysis/indicative.py) on synthetic sessions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_runs import CUE, Plan, make_run

from analysis.indicative import indicative, threshold_balanced_accuracy, window_p_values
from analysis.neural import NeuralAnalysisConfig
from analysis.run_format import activity_files
from analysis.sessions import load_session

CONFIG = NeuralAnalysisConfig(n_shuffles=100)


def per_session(root, plan: Plan, config: NeuralAnalysisConfig = CONFIG) -> dict[int, dict[str, float]]:
    make_run(root, plan)
    return {number: indicative(load_session(path, number), config, seed=0)
            for number, path in activity_files(root).items()}


def test_threshold_accuracy_is_perfect_for_a_separating_unit_of_either_sign_and_chance_for_noise():
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2 == 0
    x = np.stack([labels + 0.1 * rng.standard_normal(40), -(labels + 0.1 * rng.standard_normal(40)),
                  np.ones(40)], 1)
    accuracy = threshold_balanced_accuracy(x, labels[None], 5, rng)
    np.testing.assert_allclose(accuracy[0], [1.0, 1.0, 0.5])  # a constant unit always calls one class


@pytest.mark.parametrize("kind", ["gaussian", "skewed and discrete"])
def test_the_normal_tail_of_the_shuffle_null_is_not_optimistic(kind):
    # Units without any relation to the labels: the share of p-values below alpha must not exceed alpha
    # (it is below: the cross-validated accuracy's null has lighter tails than the normal law).
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 1000))
    if kind != "gaussian":
        x = np.round(rng.exponential(1.0, (40, 1000)) * 2) / 2
    labels = np.arange(40) % 3 == 0
    p = window_p_values(x, labels, 100, 5, rng)
    for alpha in (0.05, 0.01):
        assert (p < alpha).mean() <= alpha * 1.3, alpha


def test_planted_pre_outcome_coding_emerges_with_learning(tmp_path):
    # 8 of 40 units differ by the coming outcome between cue and outcome, more with each session.
    plan = Plan(sessions=(1, 2), units=40, indicative_units=8, indicative_gain=(0.0, 0.5), probe=False)
    out = per_session(tmp_path, plan)
    assert out[1]["indicative_fraction"] <= 1 / 40
    assert out[2]["indicative_fraction"] == pytest.approx(8 / 40, abs=1 / 40)
    for row in out.values():
        assert row["indicative_fraction_shuffled"] <= 1 / 40
        assert row["indicative_fraction_post"] <= 1 / 40  # the units are back to baseline after the outcome


def test_a_post_outcome_sensory_copy_does_not_make_a_unit_indicative(tmp_path):
    # 8 of 40 units respond strongly to the taste of success from the outcome's exact time on. Every
    # success ends at 1.31 s, inside the sample (1.28, 1.32] whose midpoint comes before it: that sample
    # carries a quarter of the response, and a window that kept it would make the units indicative.
    plan = Plan(sessions=(1,), units=40, outcome_units=8, outcome_gain=(4.0, 4.0), lift_at=0.81,
                success_delay=(0.5, 0.5), probe=False)
    out = per_session(tmp_path, plan)[1]
    assert out["indicative_fraction"] <= 1 / 40
    assert out["indicative_fraction_post"] == pytest.approx(8 / 40, abs=1 / 40)


def test_touch_and_carry_after_the_grab_do_not_make_a_unit_indicative(tmp_path):
    # 8 of 40 units respond strongly from the grab on in successes (holding and carrying the pellet), a
    # difference by outcome well before the outcome event (successes and failures both grab, 0.3 s after
    # the lift; the outcome of a success comes 0.2-0.5 s later). Cut at the grab, they are not
    # indicative; cut at the outcome (as in trials without a grab), they would be.
    plan = Plan(sessions=(1,), units=40, carry_units=8, carry_gain=2.0, grab_delay=(0.3, 0.3), probe=False)
    make_run(tmp_path, plan)
    s = load_session(tmp_path / "activity" / "session_01.npz", 1)
    assert indicative(s, CONFIG, seed=0)["indicative_fraction"] <= 1 / 40
    s.events["grab"] = np.full(s.n, np.nan)
    assert indicative(s, CONFIG, seed=0)["indicative_fraction"] == pytest.approx(8 / 40, abs=1 / 40)


def test_a_window_cut_short_by_an_earlier_grab_does_not_make_a_time_course_indicative(tmp_path):
    # 10 of 40 units carry the reach's time course (rising over 0.3 s from the lift, 0.2 s after the
    # cue), the same in every trial; successes grab 0.25 s after the lift, failures 0.6 s. The second
    # window, [cue + 0.3, cue + 0.6), kept up to each trial's grab would hold less of the rise in a
    # success than in a failure (measured: 8 of the 10 units then called indicative); whole windows leave
    # the successes out of it.
    plan = Plan(sessions=(1,), units=40, trials=80, movement_units=10, movement_gain=1.0, lift_at=CUE + 0.2,
                grab_delay=(0.25, 0.6), probe=False)
    assert per_session(tmp_path, plan)[1]["indicative_fraction"] <= 1 / 40


def test_a_frozen_network_has_no_indicative_units(tmp_path):
    out = per_session(tmp_path, Plan(sessions=(1, 2), units=60, cue_jitter=0.2, probe=False, seed=4))
    for row in out.values():
        assert row["indicative_fraction"] <= 1 / 60 and row["indicative_fraction_post"] <= 1 / 60
        assert row["indicative_fraction_shuffled"] <= 1 / 60


def test_one_outcome_only_gives_nan(tmp_path):
    out = per_session(tmp_path, Plan(sessions=(1,), success_rate=1.0, indicative_units=4, probe=False))[1]
    assert all(math.isnan(v) for v in out.values())
