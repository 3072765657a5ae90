"""The reward is the sum of its reported terms; success is paid once; shaping only between cue and
outcome (reach_env.rewards)."""

from __future__ import annotations

import numpy as np
import pytest

from reach_env import REWARD_TERMS, MousePelletReachEnv, Outcome, TrialTiming
from reach_env.scripted import ScriptedReachController

SHAPING = ("approach", "grasp", "retrieve")
EPS = 1e-9


def shaping_of(info: dict) -> list[float]:
    return [info[f"reward_{term}"] for term in SHAPING]


@pytest.mark.parametrize("policy", ["scripted", "random", "zero"])
def test_reward_is_sum_of_reported_terms(episode, policy):
    ep = episode(policy, seed=0)
    for info in ep.infos:  # reset's info reports every term too (all zero)
        assert {f"reward_{term}" for term in REWARD_TERMS} <= set(info)
    assert all(ep.infos[0][f"reward_{term}"] == 0.0 for term in REWARD_TERMS)
    for reward, info in zip(ep.rewards, ep.infos[1:], strict=True):
        assert isinstance(reward, float)
        assert np.isclose(reward, sum(info[f"reward_{term}"] for term in REWARD_TERMS),
                          rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("success_reward", [1.0, 2.5])
def test_success_paid_exactly_once_at_the_mouth(episode, success_reward):
    ep = episode("scripted", seed=0, success_reward=success_reward)
    assert ep.final["outcome"] == Outcome.SUCCESS
    paid = [(info["time"], info["reward_success"]) for info in ep.infos[1:]
            if info["reward_success"] != 0.0]
    assert paid == [(ep.final["events"]["at_mouth"], success_reward)]


@pytest.mark.parametrize("policy", ["random", "zero"])
def test_success_never_paid_without_success(episode, policy):
    ep = episode(policy, seed=0)
    assert ep.final["outcome"] != Outcome.SUCCESS
    assert all(info["reward_success"] == 0.0 for info in ep.infos)


def shaping_outside(infos, dt, cue_time, before_cue_ends_at_cue=True):
    """(start, end, shaping) of the control steps that pay shaping outside [cue, outcome]. A step
    ending at time t covers [t - dt, t]; with ``before_cue_ends_at_cue`` False, the step ending
    exactly at the cue is not counted as before it."""
    outcome = infos[-1]["events"]["outcome"]
    assert outcome is not None
    bad = []
    for info in infos[1:]:
        t = info["time"]
        before = t - dt < cue_time - EPS if before_cue_ends_at_cue else t < cue_time - EPS
        after = t > outcome + EPS  # steps starting at or after the outcome
        if (before or after) and shaping_of(info) != [0.0, 0.0, 0.0]:
            bad.append((round(t - dt, 9), t, shaping_of(info)))
    return bad


@pytest.mark.parametrize("policy", ["scripted", "random", "zero"])
def test_shaping_zero_after_outcome_and_well_before_cue(episode, policy):
    ep = episode(policy, seed=0)
    assert not shaping_outside(ep.infos, ep.control_timestep, TrialTiming().cue_time,
                               before_cue_ends_at_cue=False)


def test_shaping_is_paid_during_a_scripted_reach(episode):
    # So that the tests of where shaping is zero are not vacuous for the scripted episode.
    ep = episode("scripted", seed=0)
    for term in SHAPING:
        assert any(info[f"reward_{term}"] > 0 for info in ep.infos), term


class _EarlyCueView:
    """The env as seen by a controller that believes the cue comes at ``cue_time``."""

    def __init__(self, env: MousePelletReachEnv, cue_time: float):
        self._env = env
        self.timing = TrialTiming(cue_time=cue_time)
        self.cue_time = cue_time  # the trial's cue, which the controller waits for

    def __getattr__(self, name):
        return getattr(self._env, name)


@pytest.mark.parametrize("case", ["zero_action", "reach_before_tone"])
def test_no_shaping_for_the_step_ending_at_the_cue(make_env, case):
    # zero_action: passive settling alone is paid. reach_before_tone: the scripted controller starts
    # reaching at 0.6 s but the tone sounds at 1.2 s; its last pre-cue step is paid ~5e-3.
    cue_time = 0.6 if case == "zero_action" else 1.2
    env = make_env(cue_time=cue_time)
    obs, info = env.reset(seed=0)
    if case == "zero_action":
        def policy(obs):
            return np.zeros(15, np.float32)
    else:
        policy = ScriptedReachController(_EarlyCueView(env, cue_time=0.6))
    infos = [info]
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, info = env.step(policy(obs))
        infos.append(info)
    assert not shaping_outside(infos, env.control_timestep, cue_time)


def test_return_with_shaping_and_effort_off_is_success_reward(episode):
    ep = episode("scripted", seed=0, approach_weight=0.0, grasp_weight=0.0, retrieve_weight=0.0,
                 effort_weight=0.0)
    assert ep.final["outcome"] == Outcome.SUCCESS
    assert sum(ep.rewards) == 1.0


@pytest.mark.parametrize("level", [0.0, 0.5, 1.0])
def test_effort_cost_is_mean_squared_excitation_per_second(make_env, level):
    env = make_env(effort_weight=0.05)
    env.reset(seed=0)
    action = np.full(15, level, np.float32)
    action[0] = 1.0
    _, _, _, _, info = env.step(action)
    expected = -0.05 * float(np.mean(action.astype(np.float64) ** 2)) * env.control_timestep
    assert info["reward_effort"] == pytest.approx(expected, rel=1e-12)
