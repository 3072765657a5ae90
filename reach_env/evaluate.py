"""Success rate and event timing of the built-in policies (scripted controller, random, resting).

Run ``python -m reach_env.evaluate --policy scripted --episodes 100`` (add ``--video out.mp4`` to
record the first trial, ``--env-id MousePelletReach-v1`` for v1's trials; headless machines need
``MUJOCO_GL=egl``).
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from reach_env.pellet_reach_env import MousePelletReachEnv
from reach_env.scripted import ScriptedReachController
from reach_env.trial import EVENTS, Outcome
from reach_env.video import write_mp4

POLICIES = ("scripted", "random", "rest")


@dataclass
class Evaluation:
    """Outcomes of a batch of trials.

    Attributes:
        outcomes: count per :class:`reach_env.trial.Outcome` name.
        event_times: per event name, the times (s from trial start) of the trials where it happened.
        returns: episode returns.
        precue_lifts: trials whose paw lifted at or before the cue (``info["lift_before_cue"]``).
    """

    outcomes: Counter = field(default_factory=Counter)
    event_times: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in EVENTS})
    returns: list[float] = field(default_factory=list)
    precue_lifts: int = 0

    @property
    def episodes(self) -> int:
        return len(self.returns)

    @property
    def success_rate(self) -> float:
        return self.outcomes[Outcome.SUCCESS.name] / max(self.episodes, 1)

    def summary(self) -> str:
        """A human-readable report."""
        lines = [f"episodes: {self.episodes}", f"success rate: {self.success_rate:.3f}",
                 "outcomes: " + ", ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items())),
                 f"mean return: {np.mean(self.returns):.3f}",
                 f"pre-cue lift rate: {self.precue_lifts / max(self.episodes, 1):.3f}"]
        for event, times in self.event_times.items():
            if times:
                lines.append(f"{event:>9s}: {len(times):4d} trials, median {np.median(times):.2f} s")
        return "\n".join(lines)


def make_policy(name: str, env: MousePelletReachEnv) -> tuple[Callable, Callable[[], None]]:
    """A ``(policy(obs) -> action, reset())`` pair for one of :data:`POLICIES`."""
    if name == "scripted":
        controller = ScriptedReachController(env)
        return controller, controller.reset
    if name == "random":
        return (lambda obs: env.action_space.sample()), (lambda: None)
    if name == "rest":
        zeros = np.zeros(env.action_space.shape, np.float32)
        return (lambda obs: zeros), (lambda: None)
    raise ValueError(f"policy={name!r} is not one of {POLICIES}")


def evaluate(policy: str, episodes: int, seed: int = 0, video: str | None = None,
             progress: bool = True, env_id: str = "MousePelletReach-v0", **env_kwargs) -> Evaluation:
    """Run ``episodes`` trials of ``policy`` with seeds ``seed, seed + 1, ...``.

    Args:
        policy: one of :data:`POLICIES`.
        episodes: number of trials.
        seed: seed of the first trial (also seeds the random policy's action space).
        video: if given, an mp4 path where the first trial is recorded.
        progress: show a progress bar.
        env_id: task version (see :func:`reach_env.make_env`).
        **env_kwargs: passed to :class:`MousePelletReachEnv`, over the version's arguments.
    """
    from reach_env import make_env

    if episodes < 1:
        raise ValueError(f"episodes={episodes} must be >= 1")
    env = make_env(env_id, render_mode="rgb_array" if video else None, **env_kwargs)
    env.action_space.seed(seed)
    act, reset_policy = make_policy(policy, env)
    result = Evaluation()
    frames = []
    for episode in tqdm(range(episodes), desc=policy, disable=not progress):
        obs, info = env.reset(seed=seed + episode)
        reset_policy()
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(act(obs))
            total += reward
            done = terminated or truncated
            if video and episode == 0:
                frames.append(env.render())
        result.returns.append(total)
        result.outcomes[Outcome(info["outcome"]).name] += 1
        result.precue_lifts += bool(info["lift_before_cue"])
        for event, time in info["events"].items():
            if time is not None and not math.isnan(time):
                result.event_times[event].append(time)
    env.close()
    if video:
        write_mp4(video, frames, env.metadata["render_fps"])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", choices=POLICIES, default="scripted")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--video", default=None, help="mp4 path to record the first trial")
    parser.add_argument("--env-id", default="MousePelletReach-v0", help="task version")
    args = parser.parse_args(argv)
    print(evaluate(args.policy, args.episodes, args.seed, args.video, env_id=args.env_id).summary())


if __name__ == "__main__":
    main()
