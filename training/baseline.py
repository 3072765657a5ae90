"""Stable-Baselines3 baseline (PPO or SAC) on ``MousePelletReach-v0``, watched in TensorBoard.

This is what a user would reach for instead of the dopamine-gated cortex. A run writes into ``--out``:
``tb/`` (TensorBoard event files), ``model.zip``, ``config.yaml`` (the resolved config),
``evaluation.txt`` and ``videos/final.mp4`` (one trial of the trained policy).

Example: ``MUJOCO_GL=egl python -m training.baseline --algo ppo --total-steps 20000 --out runs/ppo``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Self

import numpy as np
import yaml
from pydantic import model_validator

from agents.config import ConfigSection
from analysis import run_format
from training.config import ConfigError, build_section, fail

ALGOS = ("ppo", "sac")


class BaselineConfig(ConfigSection):
    """Settings of a baseline run.

    Each field's meaning is its docstring (``--help`` prints them)."""

    algo: str = "ppo"
    """``"ppo"`` or ``"sac"``."""
    total_steps: int = 20_000
    """environment (control) steps to train for, summed over environments."""
    n_envs: int = 4
    """parallel environments (PPO; SAC uses 1)."""
    seed: int = 0
    """seeds the environments, the policy and every random source of the run."""
    out: str = "runs/baseline"
    """output folder."""
    video: bool = True
    """record a trial of the trained policy."""
    eval_episodes: int = 20
    """deterministic evaluation trials after training."""
    torch_threads: int = 1
    """torch intra-op threads (1 is fastest for small networks on 2 cores)."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.algo not in ALGOS:
            raise ValueError(f"algo={self.algo!r} is not one of {ALGOS}")
        for name in ("total_steps", "n_envs", "torch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if self.eval_episodes < 0:
            raise ValueError(f"eval_episodes={self.eval_episodes} must be >= 0")
        return self

def train(config: BaselineConfig) -> dict[str, float]:
    """Train, evaluate and record one baseline run; returns the evaluation figures."""
    import torch
    from gymnasium.wrappers import RescaleAction
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    import reach_env  # registers the env id

    torch.set_num_threads(config.torch_threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / run_format.CONFIG_FILE).write_text(yaml.safe_dump(config.as_dict(), sort_keys=False))

    n_envs = config.n_envs if config.algo == "ppo" else 1
    # SB3's Gaussian policies assume actions in [-1, 1]: rescale the env's [0, 1] excitations.
    venv = make_vec_env(reach_env.ENV_ID, n_envs=n_envs, seed=config.seed, vec_env_cls=DummyVecEnv,
                        wrapper_class=RescaleAction,  # float32 bounds: the action space's dtype
                        wrapper_kwargs={"min_action": np.float32(-1.0), "max_action": np.float32(1.0)},
                        monitor_kwargs={"info_keywords": ("is_success",)})
    # Observations mix radians, optimal lengths and millimetres: normalise them online.
    venv = VecNormalize(venv, norm_obs=True, norm_reward=config.algo == "ppo", gamma=0.99)
    if config.algo == "ppo":
        model = PPO("MlpPolicy", venv, n_steps=256, batch_size=256, learning_rate=3e-4,
                    policy_kwargs={"log_std_init": -1.0}, seed=config.seed,
                    tensorboard_log=str(out / run_format.TENSORBOARD_DIR), verbose=0, device="cpu")
    else:
        model = SAC("MlpPolicy", venv, learning_starts=1_000, seed=config.seed,
                    tensorboard_log=str(out / run_format.TENSORBOARD_DIR), verbose=0, device="cpu")
    started = time.perf_counter()
    model.learn(total_timesteps=config.total_steps, tb_log_name=config.algo,
                callback=_ProgressBar(config.total_steps))
    wall = time.perf_counter() - started
    model.save(out / "model.zip")
    venv.save(str(out / "vec_normalize.pkl"))
    venv.training, venv.norm_reward = False, False

    figures = {"train_wall_s": wall, "train_steps": float(config.total_steps)}
    figures.update(_evaluate(model, venv, config, out))
    venv.close()
    lines = [f"{k}: {v:.4g}" for k, v in figures.items()]
    (out / "evaluation.txt").write_text("\n".join(lines) + "\n")
    return figures


def _progress_bar_class():
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    class ProgressBar(BaseCallback):
        """tqdm bar over environment steps, with the rolling success rate (SB3's own bar needs rich)."""

        def __init__(self, total: int):
            super().__init__()
            self._bar = tqdm(total=total, unit="step", desc="training")

        def _on_step(self) -> bool:
            self._bar.update(self.training_env.num_envs)
            buffer = self.model.ep_success_buffer
            if buffer and self.n_calls % 50 == 0:
                self._bar.set_postfix(success=f"{np.mean(buffer):.2f}")
            return True

        def _on_training_end(self) -> None:
            self._bar.close()

    return ProgressBar


def _ProgressBar(total: int):  # noqa: N802 - factory standing in for a class imported lazily
    return _progress_bar_class()(total)


def _evaluate(model, venv, config: BaselineConfig, out: Path) -> dict[str, float]:
    """Deterministic trials of the trained policy; the first is recorded if ``config.video``.

    ``venv`` supplies the frozen observation normalisation the policy was trained with.
    """
    from reach_env import MousePelletReachEnv
    from training.sb3_shaped import excitation

    env = MousePelletReachEnv(render_mode="rgb_array" if config.video else None)
    successes, frames = 0, []
    for episode in range(max(config.eval_episodes, 1 if config.video else 0)):
        obs, _ = env.reset(seed=10_000_000 + config.seed * 1_000 + episode)
        done = False
        while not done:
            action, _ = model.predict(venv.normalize_obs(obs), deterministic=True)
            obs, _, terminated, truncated, info = env.step(excitation(action))
            done = terminated or truncated
            if config.video and episode == 0:
                frames.append(env.render())
        successes += bool(info["is_success"])
    env.close()
    if frames:
        from training.video import write_mp4

        write_mp4(out / "videos" / "final.mp4", frames, env.metadata["render_fps"])
    episodes = max(config.eval_episodes, 1)
    return {"eval_success_rate": successes / episodes, "eval_episodes": float(episodes)}


def parse_args(argv: list[str] | None = None) -> BaselineConfig:
    """Map command-line flags onto :class:`BaselineConfig` (``--total-steps`` -> ``total_steps``)."""
    defaults = BaselineConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, info in BaselineConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        help_text = " ".join((info.description or "").split()) + f" (default {default!r})"
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        else:
            parser.add_argument(flag, type=type(default), default=default, help=help_text)
    try:
        return build_section(BaselineConfig, "baseline", vars(parser.parse_args(argv)))
    except ConfigError as error:
        fail(error)


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    figures = train(config)
    print(f"{config.algo}: {config.total_steps} steps in {figures['train_wall_s']:.1f} s, "
          f"deterministic success rate {figures['eval_success_rate']:.2f} "
          f"over {figures['eval_episodes']:.0f} trials")
    print(f"TensorBoard: tensorboard --logdir {Path(config.out) / 'tb'}")
    if config.video:
        print(f"video: {Path(config.out) / 'videos' / 'final.mp4'}")


if __name__ == "__main__":
    main()
