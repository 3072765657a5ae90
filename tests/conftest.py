"""Shared fixtures for the env's test suite.

``MUJOCO_GL`` must be set before MuJoCo is first imported (it picks its OpenGL backend at
import), so it is set here, at the top of the first module pytest imports.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from reach_env import MUSCLES, MousePelletReachEnv  # noqa: E402
from reach_env.scripted import ScriptedReachController  # noqa: E402

# --- environments and rollouts ---------------------------------------------------------------


@pytest.fixture
def make_env() -> Callable[..., MousePelletReachEnv]:
    """Factory for fresh envs (``make_env(**kwargs)``), closed after the test."""
    envs: list[MousePelletReachEnv] = []

    def make(**kwargs: Any) -> MousePelletReachEnv:
        env = MousePelletReachEnv(**kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


@dataclass(frozen=True)
class Episode:
    """A recorded episode. Index 0 of ``observations``/``infos`` is what ``reset`` returned; index
    k >= 1 is what the k-th ``step`` returned (``rewards[k - 1]`` is its reward)."""

    observations: np.ndarray
    rewards: np.ndarray
    infos: tuple[dict, ...]
    terminated: tuple[bool, ...]
    truncated: tuple[bool, ...]
    control_timestep: float

    @property
    def final(self) -> dict:
        return self.infos[-1]

    @property
    def steps(self) -> int:
        return len(self.rewards)


def policy_for(
    name: str, env: MousePelletReachEnv, seed: int
) -> Callable[[np.ndarray], np.ndarray]:
    """A fresh policy, already reset for a trial that has just been reset: ``"scripted"``,
    ``"random"`` (uniform on the action space, its own seeded stream) or ``"zero"``."""
    if name == "scripted":
        controller = ScriptedReachController(env)
        controller.reset()
        return controller
    if name == "random":
        rng = np.random.default_rng(10_000 + seed)
        return lambda obs: rng.uniform(0.0, 1.0, len(MUSCLES)).astype(np.float32)
    if name == "zero":
        return lambda obs: np.zeros(len(MUSCLES), np.float32)
    raise ValueError(name)


def rollout(
    env: MousePelletReachEnv, policy_name: str, seed: int, max_steps: int = 1000
) -> Episode:
    """Run one episode to its end (terminated or truncated) and record everything."""
    obs, info = env.reset(seed=seed)
    policy = policy_for(policy_name, env, seed)
    observations, infos, rewards, terminated, truncated = [obs], [info], [], [], []
    for _ in range(max_steps):
        obs, reward, term, trunc, info = env.step(policy(obs))
        observations.append(obs)
        infos.append(info)
        rewards.append(reward)
        terminated.append(term)
        truncated.append(trunc)
        if term or trunc:
            break
    else:
        raise AssertionError(f"episode did not end within {max_steps} steps")
    return Episode(np.array(observations), np.array(rewards), tuple(infos), tuple(terminated),
                   tuple(truncated), env.control_timestep)


@pytest.fixture(scope="session")
def run_episode() -> Callable[..., Episode]:
    """:func:`rollout` itself, for tests that need their own env."""
    return rollout


@pytest.fixture(scope="session")
def episode() -> Callable[..., Episode]:
    """``episode(policy, seed=0, **env_kwargs)``: a recorded episode, cached for the session (one
    env per kwargs set), so several tests can examine the same rollout. Do not mutate it."""
    envs: dict[tuple, MousePelletReachEnv] = {}
    cache: dict[tuple, Episode] = {}

    def get(policy: str, seed: int = 0, **env_kwargs: Any) -> Episode:
        env_key = tuple(sorted(env_kwargs.items()))
        key = (policy, seed, env_key)
        if key not in cache:
            if env_key not in envs:
                envs[env_key] = MousePelletReachEnv(**env_kwargs)
            cache[key] = rollout(envs[env_key], policy, seed)
        return cache[key]

    yield get
    for env in envs.values():
        env.close()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small matrices: one thread is fastest on 2 cores, and results do not depend on scheduling."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def envs():
    """Two envs with short trials (40 control steps), for the agent tests."""
    from small_setups import SHORT_TRIAL

    made = [MousePelletReachEnv(**SHORT_TRIAL) for _ in range(2)]
    yield made
    for env in made:
        env.close()
