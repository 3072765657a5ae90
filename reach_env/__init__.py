"""dopareach's MuJoCo mouse-forelimb reach task, as a Gymnasium environment.

Importing the package registers two task versions of :class:`MousePelletReachEnv` (the class
docstring's "Version history" says how they differ and why):

* ``MousePelletReach-v0`` (:data:`ENV_ID`): the first release, the class defaults; kept unchanged for
  old runs.
* ``MousePelletReach-v1`` (:data:`ENV_ID_V1`): trials vary as the lab's do (pellet +-3 mm sideways,
  posture +-0.1 rad, cue +-0.2 s), and a lift at or before the cue (the lab's early error,
  ``info["lift_before_cue"]``) ends the trial as ``Outcome.EARLY`` (``early_lift_aborts``). Its
  arguments are :data:`ENV_KWARGS` ``[ENV_ID_V1]``. The training runs' default task.

::

    import gymnasium, reach_env
    env = gymnasium.make("MousePelletReach-v1", response_window=2.0)
    env = reach_env.make_env("MousePelletReach-v1", response_window=2.0)  # unwrapped
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gymnasium.envs.registration import register, registry

from reach_env.forelimb import LIMB_JOINTS, MUSCLES, Forelimb, load_model, model_path
from reach_env.pellet_reach_env import (
    OBSERVATION_BLOCKS,
    EnvSnapshot,
    MousePelletReachEnv,
    observation_labels,
)
from reach_env.rewards import REWARD_TERMS, RewardWeights
from reach_env.trial import EVENTS, Outcome, TrialPhase, TrialTiming

ENV_ID = "MousePelletReach-v0"
ENV_ID_V1 = "MousePelletReach-v1"

#: Constructor arguments each registered task version sets (on top of the class defaults, which are
#: v0's). Documented, with reasons, in the "Version history" of :class:`MousePelletReachEnv`.
ENV_KWARGS: dict[str, dict[str, Any]] = {
    ENV_ID: {},
    ENV_ID_V1: {
        "pellet_jitter": 0.0,
        "pellet_offset": 0.003,
        "posture_jitter": 0.1,
        "posture_max_penetration": 0.0002,
        "cue_jitter": 0.2,
        "early_lift_aborts": True,
    },
}

_ENTRY_POINT = "reach_env.pellet_reach_env:MousePelletReachEnv"

for _env_id, _kwargs in ENV_KWARGS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_ENTRY_POINT, kwargs=dict(_kwargs))


def task_arguments(env_id: str, **overrides: Any) -> dict[str, Any]:
    """The constructor arguments of :class:`MousePelletReachEnv` for task version ``env_id``: its
    registered ones (:data:`ENV_KWARGS`) updated with ``overrides``. The one place a version and a run's
    changes to it are merged, so that every agent given the same version and overrides gets the same task.

    Raises:
        ValueError: ``env_id`` is not a task version of reach_env.
    """
    if env_id not in ENV_KWARGS:
        raise ValueError(f"env_id={env_id!r} is not a task version of reach_env; known: {sorted(ENV_KWARGS)}")
    return {**ENV_KWARGS[env_id], **overrides}


def make_env(env_id: str, **overrides: Any) -> MousePelletReachEnv:
    """An unwrapped :class:`MousePelletReachEnv` of task version ``env_id``: its registered arguments
    (:data:`ENV_KWARGS`), updated with ``overrides`` (e.g. ``render_mode``, timing). Like
    ``gymnasium.make``, it sets ``env.spec`` (its ``id`` names the version, its ``kwargs`` are the
    arguments used), without wrappers."""
    kwargs = task_arguments(env_id, **overrides)
    env = MousePelletReachEnv(**kwargs)
    env.spec = dataclasses.replace(registry[env_id], kwargs=kwargs)
    return env


__all__ = [
    "ENV_ID", "ENV_ID_V1", "ENV_KWARGS", "EVENTS", "LIMB_JOINTS", "MUSCLES", "OBSERVATION_BLOCKS",
    "REWARD_TERMS", "EnvSnapshot", "Forelimb", "MousePelletReachEnv", "Outcome", "RewardWeights",
    "TrialPhase", "TrialTiming", "load_model", "make_env", "model_path", "observation_labels",
    "task_arguments",
]
