"""Registration with Gymnasium, Gymnasium's own API checks, and constructor argument validation."""

from __future__ import annotations

import math
import re
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import reach_env
from reach_env import MousePelletReachEnv


def test_import_registers_env_id():
    assert reach_env.ENV_ID == "MousePelletReach-v0"
    spec = gymnasium.spec("MousePelletReach-v0")
    assert spec.entry_point == "reach_env.pellet_reach_env:MousePelletReachEnv"


def test_make_passes_kwargs_through():
    env = gymnasium.make("MousePelletReach-v0", response_window=2.0, post_outcome=0.2)
    try:
        assert isinstance(env.unwrapped, MousePelletReachEnv)
        assert env.unwrapped.timing.response_window == 2.0
        assert env.unwrapped.timing.post_outcome == 0.2
        obs, _ = env.reset(seed=0)
        assert obs in env.observation_space
    finally:
        env.close()


def test_gymnasium_check_env_passes():
    env = MousePelletReachEnv()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env, skip_render_check=True)
    finally:
        env.close()
    # The observation space is deliberately unbounded (documented as Box(-inf, inf)); any other
    # warning (observation outside its space, wrong dtype, non-deterministic reset, ...) fails.
    unexpected = [str(w.message) for w in caught if "infinity" not in str(w.message)]
    assert not unexpected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"control_timestep": 0.0155}, "control_timestep"),  # not a multiple of 1 ms
        ({"control_timestep": 0.0004}, "control_timestep"),  # shorter than a physics step
        ({"physics_timestep": 0.002}, "physics_timestep"),  # above 1 ms
        ({"physics_timestep": 0.0}, "physics_timestep"),
        ({"render_mode": "bogus"}, "render_mode"),
        ({"mouth_radius": -1}, "mouth_radius"),
        ({"lift_height": 0.0}, "lift_height"),
        ({"drop_height": 0.5}, "drop_height"),
        ({"grip_threshold": 1.5}, "grip_threshold"),
        ({"pellet_jitter": -0.1}, "pellet_jitter"),
        ({"posture_jitter": 1.0}, "posture_jitter"),
        ({"camera": "nope"}, "camera"),
        ({"cue_time": 0.3}, "cue_time"),  # before the platform has turned (platform_turn=0.4)
        ({"response_window": 0.0}, "response_window"),
        ({"tone_duration": math.nan}, "tone_duration"),
        ({"post_outcome": -0.4}, "post_outcome"),
        ({"success_reward": -1.0}, "success_reward"),
        ({"approach_weight": math.inf}, "approach_weight"),
        ({"effort_weight": -0.05}, "effort_weight"),
        ({"width": 0}, "width"),
        ({"height": -1}, "height"),
        ({"early_lift_aborts": "yes"}, "early_lift_aborts"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={v[k]}" for k in v),
)
def test_bad_constructor_args_raise_value_error_naming_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"\b{re.escape(field)}\b"):
        MousePelletReachEnv(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"control_timestep": 0.015, "physics_timestep": 0.001},
        {"control_timestep": 0.01, "physics_timestep": 0.0005},
        {"control_timestep": 0.001},
        {"cue_time": 0.4},  # cue exactly when the platform stops is allowed
    ],
    ids=lambda v: "-".join(f"{k}={v[k]}" for k in v),
)
def test_valid_constructor_args_are_accepted(kwargs):
    env = MousePelletReachEnv(**kwargs)
    try:
        if "control_timestep" in kwargs:
            assert env.control_timestep == pytest.approx(kwargs["control_timestep"], abs=1e-12)
            assert env.frame_skip * env.model.opt.timestep == pytest.approx(env.control_timestep)
        env.reset(seed=0)
        _, _, _, truncated, info = env.step(np.zeros(15, np.float32))
        assert info["time"] == pytest.approx(env.control_timestep)
        assert not truncated
    finally:
        env.close()
