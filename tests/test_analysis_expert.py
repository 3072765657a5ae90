"""Finding 5's probability of "expert" (analysis/expert.py): per-window SVMs, first vs reference session."""

from __future__ import annotations

import math

import pytest
from synthetic_runs import Plan, make_run

from analysis.expert import p_expert
from analysis.neural import NeuralAnalysisConfig
from analysis.run_format import activity_files
from analysis.sessions import load_session

CONFIG = NeuralAnalysisConfig()


def sessions_of(root, plan: Plan):
    make_run(root, plan)
    return [load_session(path, number) for number, path in activity_files(root).items()]


def test_planted_drift_moves_the_probability_of_expert_across_sessions(tmp_path):
    # Rate offsets and correlations drift linearly from session 1 (naive) to session 3 (expert).
    sessions = sessions_of(tmp_path, Plan(sessions=(1, 2, 3), drift=1.0, units=24, trials=24, probe=False))
    p = p_expert(sessions, 1, 3, CONFIG, seed=0)
    assert p[1] < 0.3 and p[3] > 0.7  # out-of-fold for the two training sessions
    assert p[1] < p[2] < p[3]


@pytest.mark.parametrize("seed", [0, 1])
def test_an_unchanging_network_gives_chance(tmp_path, seed):
    sessions = sessions_of(tmp_path, Plan(sessions=(1, 2, 3), units=24, trials=24, probe=False, seed=seed))
    for value in p_expert(sessions, 1, 3, CONFIG, seed=0).values():
        assert value == pytest.approx(0.5, abs=0.15)


def test_no_classifier_without_two_sessions_or_enough_trials(tmp_path):
    sessions = sessions_of(tmp_path, Plan(sessions=(1, 2), units=16, trials=6, probe=False))
    assert all(math.isnan(v) for v in p_expert(sessions, 1, 1, CONFIG, seed=0).values())  # first = reference
    too_few = NeuralAnalysisConfig(min_trials_per_session=7)
    assert all(math.isnan(v) for v in p_expert(sessions, 1, 2, too_few, seed=0).values())
    assert all(0 <= v <= 1 for v in p_expert(sessions, 1, 2, CONFIG, seed=0).values())


def test_the_probability_is_deterministic_given_the_seed(tmp_path):
    sessions = sessions_of(tmp_path, Plan(sessions=(1, 2), drift=1.0, units=16, trials=12, probe=False))
    assert p_expert(sessions, 1, 2, CONFIG, seed=4) == p_expert(sessions, 1, 2, CONFIG, seed=4)
