"""The trial timeline: phases, events, outcomes, episode end, and the cue/taste observation
channels."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from reach_env import MUSCLES, Outcome, TrialPhase, TrialTiming, observation_labels

LABELS = observation_labels()
CUE, SINCE_CUE = LABELS.index("cue"), LABELS.index("time_since_cue")
TOUCH, TASTE = LABELS.index("touch"), LABELS.index("taste")
ZERO = np.zeros(len(MUSCLES), np.float32)
DT = 0.02


def steps_of(seconds: float) -> int:
    """Number of control steps in a duration that lies on the control grid."""
    k = round(seconds / DT)
    assert abs(k * DT - seconds) < 1e-9, f"{seconds} s is not on the {DT} s grid"
    return k


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_phases_progress_in_order_in_a_successful_trial(episode, seed):
    ep = episode("scripted", seed=seed)
    assert ep.final["outcome"] == Outcome.SUCCESS
    phases = [info["phase"] for info in ep.infos]
    assert phases[0] == TrialPhase.PLATFORM_TURN
    assert all(a <= b for a, b in zip(phases, phases[1:], strict=False)), phases
    assert set(phases) == set(TrialPhase)  # the scripted reach passes through every phase
    assert phases[-1] == TrialPhase.POST_OUTCOME


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_phase_boundaries_follow_timeline_and_events(episode, seed):
    ep = episode("scripted", seed=seed)
    timing, events = TrialTiming(), ep.final["events"]
    for info in ep.infos[1:]:
        t, phase = info["time"], info["phase"]
        assert (phase == TrialPhase.PLATFORM_TURN) == (t < timing.platform_turn - 1e-9)
        assert (phase >= TrialPhase.CUE) == (t >= timing.cue_time - 1e-9)
        assert (phase == TrialPhase.POST_OUTCOME) == (t >= events["outcome"] - 1e-9)
        if phase in (TrialPhase.GRASP, TrialPhase.RETRIEVE):
            assert info["held"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_events_in_order_in_a_successful_trial(episode, seed):
    ep = episode("scripted", seed=seed)
    events = ep.final["events"]
    assert ep.final["is_success"] is True
    assert events["cue"] == TrialTiming().cue_time
    assert events["cue"] < events["lift"] < events["grab"] < events["at_mouth"] == events["outcome"]
    for value in events.values():  # event times lie on the control grid
        steps_of(value)
    # events are recorded once and never change afterwards
    for info in ep.infos:
        for name, value in info["events"].items():
            assert value is None or value == events[name]


@pytest.mark.parametrize("post_outcome", [0.4, 0.1, 0.26])
def test_episode_terminates_post_outcome_after_the_outcome(episode, post_outcome):
    ep = episode("scripted", seed=0, post_outcome=post_outcome)
    outcome = ep.final["events"]["outcome"]
    assert ep.final["outcome"] == Outcome.SUCCESS
    assert ep.terminated[-1] and not any(ep.terminated[:-1]) and not any(ep.truncated)
    assert ep.steps == steps_of(outcome) + steps_of(post_outcome)
    assert ep.final["time"] == pytest.approx(outcome + post_outcome, abs=1e-9)


@pytest.mark.parametrize("response_window", [1.5, 0.5])
def test_zero_action_trial_times_out(episode, response_window):
    ep = episode("zero", seed=0, response_window=response_window)
    timing = TrialTiming(response_window=response_window)
    assert ep.final["outcome"] == Outcome.TIMEOUT
    outcome = ep.final["events"]["outcome"]
    assert outcome == pytest.approx(timing.cue_time + response_window, abs=1e-9)
    assert ep.final["events"]["lift"] is None and ep.final["events"]["grab"] is None
    assert ep.terminated[-1] and not any(ep.truncated)
    assert ep.steps == steps_of(timing.max_duration)
    assert ep.final["time"] == pytest.approx(outcome + timing.post_outcome, abs=1e-9)
    undecided = [info["outcome"] for info in ep.infos if info["time"] < outcome - 1e-9]
    assert set(undecided) == {Outcome.NONE}


@pytest.mark.parametrize(
    ("cue_time", "tone_duration"),
    [
        (0.6, 0.1),  # 0.7 - 0.6 < 0.1 in floats: the env must count steps, not subtract times
        (1.0, 0.1),
        (0.6, 0.2),
    ],
)
def test_cue_channel_on_exactly_during_tone(episode, cue_time, tone_duration):
    ep = episode("zero", seed=0, cue_time=cue_time, tone_duration=tone_duration,
                 response_window=0.4, post_outcome=0.02)
    first, end = steps_of(cue_time), steps_of(cue_time + tone_duration)
    expected = [1.0 if first <= k < end else 0.0 for k in range(ep.steps + 1)]
    assert list(ep.observations[:, CUE]) == expected


def test_time_since_cue_channel(episode):
    ep = episode("zero", seed=0)
    timing = TrialTiming()
    times = np.array([info["time"] for info in ep.infos])
    expected = np.clip(times - timing.cue_time, 0.0, timing.response_window)
    np.testing.assert_allclose(ep.observations[:, SINCE_CUE], expected, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_taste_only_after_success(episode, seed):
    ep = episode("scripted", seed=seed)
    at_mouth = ep.final["events"]["at_mouth"]
    for obs, info in zip(ep.observations, ep.infos, strict=True):
        assert obs[TASTE] == (1.0 if info["time"] >= at_mouth - 1e-9 else 0.0)
        assert obs[TASTE] == float(info["outcome"] == Outcome.SUCCESS)


@pytest.mark.parametrize("policy", ["zero", "random"])
def test_no_taste_without_success(episode, policy):
    ep = episode(policy, seed=0)
    assert not ep.observations[:, TASTE].any()


def test_touch_channel_while_held(episode):
    ep = episode("scripted", seed=0)
    held = np.array([info["held"] for info in ep.infos])
    assert held.any()
    assert (ep.observations[held, TOUCH] == 1.0).all()  # holding requires touching
    assert (ep.observations[:steps_of(TrialTiming().cue_time), TOUCH] == 0.0).all()


def knock_below_post(env) -> None:
    """Teleport the pellet 15 mm down, under the turntable's rim."""
    env.data.qpos[env.forelimb.pellet_qpos + 2] -= 0.015
    mujoco.mj_forward(env.model, env.data)


def flick_sideways(env) -> None:
    """Give the resting pellet a 0.3 m/s sideways flick, so it rolls off the post."""
    env.data.qvel[env.forelimb.pellet_qvel + 1] = 0.3


@pytest.mark.parametrize("knock", [knock_below_post, flick_sideways], ids=lambda f: f.__name__)
@pytest.mark.parametrize("at_step", [25, 45])  # before the cue (waiting), and during the response
def test_knocked_pellet_is_dropped(make_env, knock, at_step):
    env = make_env()
    env.reset(seed=0)
    for _ in range(at_step):
        env.step(ZERO)
    knock(env)
    infos, terminated = [], False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(ZERO)
        assert not truncated
        infos.append(info)
    outcome_time = info["events"]["outcome"]
    assert info["outcome"] == Outcome.DROPPED and not info["is_success"]
    # decided within 0.1 s of the knock, then the post-outcome window runs to the end
    assert at_step * DT < outcome_time <= at_step * DT + 0.1 + 1e-9
    assert info["time"] == pytest.approx(outcome_time + TrialTiming().post_outcome, abs=1e-9)
    assert info["phase"] == TrialPhase.POST_OUTCOME
    assert obs[TASTE] == 0.0
    assert all(i["reward_success"] == 0.0 for i in infos)
