"""A diverging simulation truncates the episode and never leaks a non-finite observation."""

from __future__ import annotations

import numpy as np
import pytest

from reach_env import MUSCLES

ZERO = np.zeros(len(MUSCLES), np.float32)

MISSED_WARNING = (
    "env bug: step() only checks MuJoCo's mjWARN_BADQACC warning. A non-finite or huge qpos/qvel "
    "makes mj_step raise mjWARN_BADQPOS/mjWARN_BADQVEL instead and reset mjData to qpos0 (limb "
    "straight down, pellet teleported); the env then sees a finite state and silently continues "
    "the trial with physics_diverged=False")


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
    pytest.param("huge_qvel", marks=pytest.mark.xfail(strict=True, reason=MISSED_WARNING)),
    pytest.param("nan_qvel", marks=pytest.mark.xfail(strict=True, reason=MISSED_WARNING)),
    pytest.param("nan_qpos", marks=pytest.mark.xfail(strict=True, reason=MISSED_WARNING)),
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
