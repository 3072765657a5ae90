"""The env's per-step shortcuts give what the plain arithmetic gives, bit for bit.

``MousePelletReachEnv`` builds the observation in one gather and three array operations over all
blocks, and keeps the turntable's target once its turn is over (``benchmarks/env_throughput.py``
times them); these tests hold them to the block-by-block observation of
:class:`reach_env.forelimb.Forelimb`'s queries and to the target of every step.
"""

from __future__ import annotations

import numpy as np
import pytest

from reach_env import ENV_ID, ENV_ID_V1, MUSCLES, make_env
from reach_env.trial import Outcome, min_jerk


def block_observation(env) -> np.ndarray:
    """The observation block by block, from the Forelimb's queries (the env's arithmetic before the
    one-pass gather)."""
    limb, steps = env.forelimb, env._steps
    since_cue = max(steps - env.cue_step, 0) * env.control_timestep
    pellet = limb.pellet_position()
    return np.concatenate((
        limb.joint_angles(), limb.joint_velocities(), limb.muscle_lengths(), limb.muscle_velocities(),
        limb.muscle_forces(),
        (1.0 if env.tone_on(steps) else 0.0, min(since_cue, env.timing.response_window)),
        (pellet - limb.digit_tips_position()) * 1000.0, (pellet - limb.mouth_position()) * 1000.0,
        (float(env._touch), float(env._outcome == Outcome.SUCCESS)),
    )).astype(np.float32)


def excitations(seed: int, n: int) -> np.ndarray:
    """Random excitations past both bounds, with exact and negative zeros."""
    values = np.random.default_rng(seed).uniform(-0.3, 1.3, (n, len(MUSCLES))).astype(np.float32)
    values[::5] = -0.0
    values[1::5] = 0.0
    return values


@pytest.mark.parametrize("env_id", [ENV_ID, ENV_ID_V1])
@pytest.mark.parametrize("gathered", [True, False])
def test_the_observation_is_the_block_by_block_one(env_id, gathered):
    env = make_env(env_id)
    # False: the sources are gathered anew each step, as with a model whose indices are not contiguous.
    env._obs_sources_are_views = gathered
    for seed in range(2):
        obs, _ = env.reset(seed=seed)
        assert obs.tobytes() == block_observation(env).tobytes()
        for action in excitations(seed, env.max_steps):
            obs, _, terminated, truncated, _ = env.step(action)
            assert obs.tobytes() == block_observation(env).tobytes()
            if terminated or truncated:
                break
    env.close()


def test_the_turntable_target_stays_where_its_turn_ended():
    env = make_env(ENV_ID_V1)
    env.reset(seed=3)
    turntable = env.forelimb.turntable_actuator
    for step, action in enumerate(excitations(3, 40), start=1):
        env.step(action)
        turned = min_jerk(step / env._turn_steps)
        assert env.data.ctrl[turntable] == env._table_start + turned * env.timing.turn_angle
    env.close()
