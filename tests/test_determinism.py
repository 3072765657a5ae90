"""Seeding makes episodes reproducible bit for bit; returned observations are independent arrays."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from reach_env import MUSCLES

N_STEPS = 60  # 1.2 s: past the platform turn and the cue


def actions(seed: int, n: int = N_STEPS) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, len(MUSCLES))).astype(np.float32)


def trajectory(env, seed: int | None, action_seq: np.ndarray):
    obs, info = env.reset(seed=seed)
    observations, rewards, infos = [obs], [], [info]
    for action in action_seq:
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        assert not truncated
        if terminated:
            break
    return observations, rewards, infos


def assert_identical(a, b):
    obs_a, rew_a, info_a = a
    obs_b, rew_b, info_b = b
    assert len(obs_a) == len(obs_b)
    for x, y in zip(obs_a, obs_b, strict=True):
        assert x.dtype == y.dtype == np.float32
        assert np.array_equal(x, y)
    assert rew_a == rew_b  # exact float equality
    assert info_a == info_b


@pytest.mark.parametrize("seed", [0, 123])
def test_same_seed_same_episode_in_two_envs(make_env, seed):
    assert_identical(trajectory(make_env(), seed, actions(seed)),
                     trajectory(make_env(), seed, actions(seed)))


def test_reset_with_seed_erases_previous_episodes(make_env):
    fresh = trajectory(make_env(), 0, actions(0))
    used = make_env()
    trajectory(used, 5, actions(5))  # leave state behind: muscle activations, warm start, contacts
    used.step(np.ones(len(MUSCLES), np.float32))
    assert_identical(trajectory(used, 0, actions(0)), fresh)


def test_unseeded_resets_continue_the_seeded_stream(make_env):
    a, b = make_env(), make_env()
    a.reset(seed=9)
    b.reset(seed=9)
    assert_identical(trajectory(a, None, actions(1, 5)), trajectory(b, None, actions(1, 5)))


def test_different_seeds_different_initial_observations(make_env):
    env = make_env()
    initial = [env.reset(seed=seed)[0] for seed in range(5)]
    for x, y in itertools.combinations(initial, 2):
        assert not np.array_equal(x, y)


def test_returned_observations_do_not_share_memory(make_env):
    env = make_env()
    obs0, _ = env.reset(seed=0)
    obs1 = env.step(actions(0, 1)[0])[0]
    obs2 = env.step(actions(1, 1)[0])[0]
    for x, y in itertools.combinations((obs0, obs1, obs2), 2):
        assert not np.shares_memory(x, y)


def test_mutating_a_returned_observation_changes_nothing(make_env):
    # Two envs on the same seed and actions; in one, the caller scribbles over every observation.
    clean, scribbled = make_env(), make_env()
    expected = trajectory(clean, 0, actions(0, 10))[0]
    obs, _ = scribbled.reset(seed=0)
    got = [obs.copy()]
    obs.fill(1e6)
    for action in actions(0, 10):
        obs = scribbled.step(action)[0]
        got.append(obs.copy())
        obs.fill(1e6)
    for x, y in zip(got, expected, strict=True):
        assert np.array_equal(x, y)
