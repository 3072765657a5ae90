"""A diverging simulation truncates the episode and never leaks a non-finite observation."""

from __future__ import annotations

import numpy as np
import pytest

from reach_env import MUSCLES

ZERO = np.zeros(len(MUSCLES), np.float32)

def blow_up(env, how: str) -> None:
    """Corrupt the simulator state the way a divergence does, before the next step."""
    data = env.data
    if how == "huge_force":  # finite state, but the next qacc is ~1e17: mjWARN_BADQACC
        data.qfrc_applied[:] = 1e12
    elif how == "huge_qvel":
        data.qvel[:] = 1e12
    elif how == "nan_qvel":
        data.qvel[env.forelimb.joint_qvel[3]] = np.nan
    elif how == "nan_qpos":
        data.qpos[env.forelimb.pellet_qpos + 2] = np.nan
    else:
        raise ValueError(how)


CASES = [
    "huge_force",
    "huge_qvel",  # MuJoCo flags these with its bad-velocity/position warnings and resets the
    "nan_qvel",  # data itself: the env must read those warnings too, not only bad acceleration
    "nan_qpos",
]


@pytest.fixture(autouse=True)
def _mujoco_log_in_tmp(tmp_path, monkeypatch):
    # MuJoCo appends its instability warnings to ./MUJOCO_LOG.TXT: keep that out of the checkout.
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("how", CASES)
def test_divergence_truncates_with_last_finite_observation(make_env, how):
    env = make_env()
    obs, _ = env.reset(seed=0)
    observations = [obs]
    for _ in range(35):  # past the cue
        observations.append(env.step(ZERO)[0])
    previous = observations[-1].copy()
    observations[-1].fill(np.nan)  # the caller's copy is theirs to scribble on
    blow_up(env, how)
    obs, reward, terminated, truncated, info = env.step(ZERO)
    observations.append(obs)
    assert truncated and not terminated
    assert info["physics_diverged"] is True
    assert np.array_equal(obs, previous)  # the last finite observation, returned again
    assert reward == 0.0
    assert all(info[key] == 0.0 for key in info if key.startswith("reward_"))
    assert all(np.isfinite(o).all() for o in observations[:-2] + observations[-1:])
    with pytest.raises(RuntimeError):
        env.step(ZERO)


@pytest.mark.parametrize("how", ["huge_force", "huge_qvel", "nan_qpos"])
def test_no_non_finite_observation_and_reset_recovers(make_env, how):
    env = make_env()
    env.reset(seed=0)
    env.step(ZERO)
    blow_up(env, how)
    obs, reward, terminated, truncated, info = env.step(ZERO)
    assert np.isfinite(obs).all() and np.isfinite(reward)
    # After a reset the trial is a normal one again: no stale warning counts truncate it.
    obs, info = env.reset(seed=0)
    assert np.isfinite(obs).all()
    for _ in range(10):
        obs, _, terminated, truncated, info = env.step(ZERO)
        assert np.isfinite(obs).all()
        assert not truncated and not info["physics_diverged"]
