"""Action validation: shape, non-finite values, clipping, and stepping a finished episode."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from reach_env import MUSCLES

N = len(MUSCLES)


@pytest.fixture
def env(make_env):
    env = make_env()
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("shape", [(N - 1,), (N + 1,), (1, N), (N, 1), (), (0,)], ids=str)
def test_wrong_shape_raises_value_error_with_shape(env, shape):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        env.step(np.zeros(shape, np.float32))


@pytest.mark.parametrize(("index", "value"), [(0, np.nan), (7, np.inf), (N - 1, -np.inf)],
                         ids=lambda v: str(v))
def test_non_finite_excitation_raises_value_error_naming_muscle(env, index, value):
    action = np.full(N, 0.5, np.float32)
    action[index] = value
    with pytest.raises(ValueError, match=MUSCLES[index]) as error:
        env.step(action)
    others = [m for i, m in enumerate(MUSCLES) if i != index]
    assert not any(re.search(rf"\b{m}\b", str(error.value)) for m in others)


def test_rejected_action_leaves_episode_unchanged(make_env):
    a, b = make_env(), make_env()
    a.reset(seed=0)
    b.reset(seed=0)
    bad = np.full(N, np.nan)
    with pytest.raises(ValueError):
        a.step(bad)
    action = np.full(N, 0.3, np.float32)
    obs_a, *_, info_a = a.step(action)
    obs_b, *_, info_b = b.step(action)
    assert np.array_equal(obs_a, obs_b)
    assert info_a["time"] == info_b["time"] == a.control_timestep


def _mixed(high: float, low: float) -> np.ndarray:
    action = np.linspace(0.0, 1.0, N)
    action[::3] = high
    action[1::3] = low
    return action


@pytest.mark.parametrize(
    ("given", "clipped"),
    [(np.full(N, 5.0), np.ones(N)), (np.full(N, -3.0), np.zeros(N)),
     (_mixed(7.5, -0.5), _mixed(1.0, 0.0))],
    ids=["above", "below", "mixed"],
)
def test_out_of_range_excitation_is_clipped(make_env, given, clipped):
    a, b = make_env(), make_env()
    a.reset(seed=0)
    b.reset(seed=0)
    for _ in range(5):
        obs_a, reward_a, *_, info_a = a.step(given)
        obs_b, reward_b, *_, info_b = b.step(clipped)
        assert np.array_equal(obs_a, obs_b)
        assert reward_a == reward_b  # the effort cost uses the clipped excitation
        assert info_a == info_b
    np.testing.assert_array_equal(a.data.ctrl, b.data.ctrl)


HUGE = [1e200, 1e300, float(np.finfo(np.float64).max)]


@pytest.mark.parametrize("huge", HUGE, ids=str)
def test_huge_finite_excitation_is_clipped_without_warning(make_env, huge):
    # Fuzzed actions: squaring such values overflows; the action check must not (nor warn).
    a, b = make_env(), make_env()
    a.reset(seed=0)
    b.reset(seed=0)
    given = np.where(np.arange(N) % 2 == 0, huge, -huge)
    clipped = np.where(np.arange(N) % 2 == 0, 1.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            obs_a, reward_a, *_, info_a = a.step(given)
            obs_b, reward_b, *_, info_b = b.step(clipped)
            assert np.array_equal(obs_a, obs_b) and reward_a == reward_b and info_a == info_b
    np.testing.assert_array_equal(a.data.ctrl, b.data.ctrl)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=str)
def test_non_finite_among_huge_excitations_raises_naming_only_that_muscle(env, value):
    action = np.full(N, HUGE[-1])
    action[4] = value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=MUSCLES[4]) as error:
            env.step(action)
    assert not any(re.search(rf"\b{m}\b", str(error.value)) for i, m in enumerate(MUSCLES) if i != 4)


def test_step_does_not_modify_callers_action(env):
    action = np.full(N, 4.0)
    env.step(action)
    assert np.all(action == 4.0)


@pytest.mark.parametrize(
    "action", [[0.5] * N, np.full(N, 0.5, np.float64), np.full(N, 1, np.int64)],
    ids=["list", "float64", "int64"])
def test_array_likes_are_accepted(env, action):
    obs, *_ = env.step(action)
    assert obs.shape == (69,) and obs.dtype == np.float32


def test_step_after_termination_raises(make_env):
    env = make_env(response_window=0.2, post_outcome=0.1)
    env.reset(seed=0)
    terminated = False
    for _ in range(100):
        *_, terminated, truncated, _ = env.step(np.zeros(N, np.float32))
        if terminated:
            break
    assert terminated and not truncated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(N, np.float32))
    env.reset(seed=1)  # and reset revives it
    env.step(np.zeros(N, np.float32))


def test_step_before_first_reset_raises(make_env):
    with pytest.raises(RuntimeError, match="reset"):
        make_env().step(np.zeros(N, np.float32))
