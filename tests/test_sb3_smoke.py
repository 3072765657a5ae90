"""Stable-Baselines3 trains on the env out of the box: the baseline a user would reach for.

What SB3 logs is checked against what the env did (an independent record of every episode), learning is
checked to move the weights, and the baseline's saved model, normalisation, config and evaluation are
checked to reproduce the run.
"""

from __future__ import annotations

import math

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest
import torch
import yaml
from small_setups import RecordedEnv
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import reach_env
import reach_env.pellet_reach_env
from reach_env import MUSCLES
from reach_env.scripted import ScriptedReachController

#: 40 control steps a trial, so that 128 training steps hold three whole episodes.
SHORT_TRIAL = dict(cue_time=0.4, platform_turn=0.2, response_window=0.3, post_outcome=0.1)
EPISODE_STEPS = 40


def scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the (single) TensorBoard event file under ``log_dir``: tag -> [(step, value)]."""
    files = list(log_dir.rglob("events.out.tfevents.*"))
    assert len(files) == 1, files
    acc = EventAccumulator(str(files[0].parent), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


class EpisodeLog(gym.Wrapper):
    """Records, independently of SB3, each finished episode: return, length, success, and the total step
    count at which it ended."""

    def __init__(self, env):
        super().__init__(env)
        self.steps, self.episodes, self._return, self._length = 0, [], 0.0, 0

    def reset(self, **kwargs):
        self._return, self._length = 0.0, 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        self._return += float(reward)
        self._length += 1
        if terminated or truncated:
            self.episodes.append({"return": self._return, "length": self._length,
                                  "success": bool(info["is_success"]), "end": self.steps})
        return obs, reward, terminated, truncated, info


def test_sb3_env_checker_accepts_env():
    sb3_check_env(gym.make(reach_env.ENV_ID).unwrapped, warn=False, skip_render_check=True)


@pytest.mark.parametrize("algo", [PPO, SAC])
def test_sb3_learns_and_logs_what_the_env_did(algo, tmp_path):
    env = EpisodeLog(gym.make(reach_env.ENV_ID, **SHORT_TRIAL))
    if algo is PPO:  # two rollouts of 64 steps; the losses of the first update are dumped at the second
        kwargs, losses = {"n_steps": 64, "batch_size": 32, "n_epochs": 2}, ("train/loss", "train/value_loss",
                                                                            "train/policy_gradient_loss")
    else:  # gradient steps from step 32 on; logs dumped at every episode's end (log_interval=1)
        kwargs, losses = {"learning_starts": 32, "batch_size": 32}, ("train/actor_loss", "train/critic_loss")
    model = algo("MlpPolicy", env, seed=0, device="cpu", tensorboard_log=str(tmp_path), **kwargs)
    before = {k: v.detach().clone() for k, v in model.policy.named_parameters()}
    model.learn(total_timesteps=128, log_interval=1)

    assert env.steps == model.num_timesteps == 128
    assert [e["end"] for e in env.episodes] == [40, 80, 120]
    assert all(e["length"] == EPISODE_STEPS for e in env.episodes)
    logged = scalars(tmp_path)
    dumps = [64, 128] if algo is PPO else [e["end"] for e in env.episodes]
    rewards = logged["rollout/ep_rew_mean"]
    assert [step for step, _ in rewards] == dumps
    for step, value in rewards:  # the mean return of the episodes finished by then
        finished = [e["return"] for e in env.episodes if e["end"] <= step]
        assert value == pytest.approx(np.mean(finished), rel=1e-5, abs=1e-6), step
    assert [value for _, value in logged["rollout/ep_len_mean"]] == [EPISODE_STEPS] * len(dumps)
    assert [value for _, value in logged["rollout/success_rate"]] == [0.0] * len(dumps)  # untrained
    for tag in losses:
        assert [step for step, _ in logged[tag]] == ([128] if algo is PPO else dumps), tag
        assert all(math.isfinite(value) for _, value in logged[tag]), tag

    # Learning moved every weight of the policy (and, for SAC, of both critics and their targets).
    after = dict(model.policy.named_parameters())
    unchanged = [name for name, value in before.items() if torch.equal(value, after[name])]
    assert not unchanged

    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    again, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(action, again)
    assert env.action_space.contains(np.asarray(action, dtype=np.float32))
    samples = [model.predict(obs, deterministic=False)[0] for _ in range(2)]
    assert not np.array_equal(*samples)  # so the deterministic flag is what made the two calls agree


@pytest.fixture
def recorded_env(monkeypatch):
    """Every MousePelletReachEnv the baseline makes (gym.make, and its evaluation) is a RecordedEnv."""
    RecordedEnv.made = []
    monkeypatch.setattr(reach_env.pellet_reach_env, "MousePelletReachEnv", RecordedEnv)
    monkeypatch.setattr(reach_env, "MousePelletReachEnv", RecordedEnv)
    return RecordedEnv.made


class _Identity:
    """Stands for a VecNormalize with nothing learnt."""

    def normalize_obs(self, obs):
        return obs


class AlternatingPolicy:
    """A stand-in model: the scripted reach on even trials, no excitation on odd ones (in SB3's [-1, 1]
    action scale), so that an evaluation has both successes and failures."""

    def __init__(self, envs: list[RecordedEnv]):
        self.envs, self.trial, self.controller = envs, -1, None

    def predict(self, obs, deterministic):
        assert deterministic
        env = self.envs[-1]
        if len(env.trials) - 1 != self.trial:
            self.trial = len(env.trials) - 1
            self.controller = ScriptedReachController(env)
            self.controller.reset()
        excitation = self.controller(obs) if self.trial % 2 == 0 else np.zeros(len(MUSCLES), np.float32)
        return 2.0 * np.asarray(excitation) - 1.0, None


def test_baseline_evaluation_counts_the_successes_of_its_trials(recorded_env, tmp_path):
    from training.baseline import BaselineConfig, _evaluate

    config = BaselineConfig(out=str(tmp_path), video=False, eval_episodes=4)
    figures = _evaluate(AlternatingPolicy(recorded_env), _Identity(), config, tmp_path)
    (env,) = recorded_env
    outcomes = [trial["success"] for trial in env.trials]
    assert len(outcomes) == 4 and None not in outcomes  # four trials, each run to its end
    assert len({trial["seed"] for trial in env.trials}) == 4
    assert outcomes[1::2] == [False, False] and any(outcomes[::2])  # scripted trials succeed
    assert figures == {"eval_success_rate": sum(outcomes) / 4, "eval_episodes": 4.0}


@pytest.mark.slow
def test_baseline_cli_runs_end_to_end(recorded_env, tmp_path):
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from training.baseline import BaselineConfig, train

    config = BaselineConfig(total_steps=256, n_envs=2, out=str(tmp_path), video=True, eval_episodes=1)
    figures = train(config)
    *training_envs, evaluation = recorded_env
    assert len(training_envs) == 2 and evaluation.render_mode == "rgb_array"

    # The files: the config round-trips, evaluation.txt holds the returned figures.
    assert BaselineConfig(**yaml.safe_load((tmp_path / "config.yaml").read_text())) == config
    assert (tmp_path / "evaluation.txt").read_text().splitlines() == [f"{k}: {v:.4g}"
                                                                      for k, v in figures.items()]
    assert figures["train_steps"] == 256 and figures["eval_episodes"] == 1

    # The evaluation: one deterministic trial, its outcome counted, and filmed frame by frame.
    (trial,) = evaluation.trials
    assert figures["eval_success_rate"] == float(trial["success"])
    with imageio.get_reader(tmp_path / "videos" / "final.mp4") as video:
        assert video.count_frames() == len(trial["actions"])

    # model.zip and vec_normalize.pkl reproduce the evaluated policy's every action.
    model = PPO.load(tmp_path / "model.zip", device="cpu")
    assert model.num_timesteps >= config.total_steps
    venv = DummyVecEnv([lambda: gym.wrappers.RescaleAction(gym.make(reach_env.ENV_ID), np.float32(-1.0),
                                                           np.float32(1.0))])
    normalize = VecNormalize.load(str(tmp_path / "vec_normalize.pkl"), venv)
    for obs, executed in zip(trial["obs"], trial["actions"], strict=True):
        action, _ = model.predict(normalize.normalize_obs(obs), deterministic=True)
        np.testing.assert_array_equal((np.clip(action, -1, 1) + 1) / 2, executed)

    # TensorBoard: the mean training return SB3 logged is that of the episodes the envs ran.
    logged = scalars(tmp_path / "tb")
    returns = [sum(t["rewards"]) for env in training_envs for t in env.trials if t["success"] is not None]
    assert returns
    ((step, value),) = logged["rollout/ep_rew_mean"]
    assert step == model.num_timesteps
    assert value == pytest.approx(np.mean(returns), rel=1e-5, abs=1e-6)


def test_baseline_config_rejects_bad_values():
    from training.baseline import BaselineConfig

    with pytest.raises(ValueError, match="algo"):
        BaselineConfig(algo="dqn")
    with pytest.raises(ValueError, match="total_steps"):
        BaselineConfig(total_steps=0)
