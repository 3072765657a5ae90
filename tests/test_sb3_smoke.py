"""Stable-Baselines3 trains on the env out of the box: the baseline a user would reach for."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import reach_env


def test_sb3_env_checker_accepts_env():
    sb3_check_env(gym.make(reach_env.ENV_ID).unwrapped, warn=False, skip_render_check=True)


@pytest.mark.parametrize("algo", [PPO, SAC])
def test_sb3_learns_a_few_steps_and_writes_tensorboard(algo, tmp_path):
    env = gym.make(reach_env.ENV_ID)
    kwargs = {"n_steps": 64, "batch_size": 32} if algo is PPO else {"learning_starts": 32,
                                                                      "batch_size": 32}
    model = algo("MlpPolicy", env, seed=0, device="cpu", tensorboard_log=str(tmp_path), **kwargs)
    model.learn(total_timesteps=128)
    assert list(tmp_path.rglob("events.out.tfevents.*")), "no TensorBoard event file written"
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(np.asarray(action, dtype=np.float32))


def test_baseline_cli_runs_end_to_end(tmp_path):
    from training.baseline import BaselineConfig, train

    figures = train(BaselineConfig(total_steps=256, n_envs=2, out=str(tmp_path), video=True,
                                   eval_episodes=1))
    assert 0.0 <= figures["eval_success_rate"] <= 1.0
    assert (tmp_path / "videos" / "final.mp4").stat().st_size > 1000
    assert (tmp_path / "model.zip").exists()
    assert (tmp_path / "config.yaml").read_text().startswith("algo: ppo")


def test_baseline_config_rejects_bad_values():
    from training.baseline import BaselineConfig

    with pytest.raises(ValueError, match="algo"):
        BaselineConfig(algo="dqn")
    with pytest.raises(ValueError, match="total_steps"):
        BaselineConfig(total_steps=0)
