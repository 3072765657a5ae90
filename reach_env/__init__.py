"""dopareach's MuJoCo mouse-forelimb reach task, as a Gymnasium environment.

Importing the package registers ``MousePelletReach-v0``::

    import gymnasium, reach_env
    env = gymnasium.make("MousePelletReach-v0", response_window=2.0)
"""

from gymnasium.envs.registration import register, registry

from reach_env.forelimb import LIMB_JOINTS, MUSCLES, Forelimb, load_model, model_path
from reach_env.pellet_reach_env import (
    OBSERVATION_BLOCKS,
    MousePelletReachEnv,
    observation_labels,
)
from reach_env.rewards import REWARD_TERMS, RewardWeights
from reach_env.trial import EVENTS, Outcome, TrialPhase, TrialTiming

ENV_ID = "MousePelletReach-v0"

if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="reach_env.pellet_reach_env:MousePelletReachEnv")

__all__ = [
    "ENV_ID", "EVENTS", "LIMB_JOINTS", "MUSCLES", "OBSERVATION_BLOCKS", "REWARD_TERMS", "Forelimb",
    "MousePelletReachEnv", "Outcome", "RewardWeights", "TrialPhase", "TrialTiming", "load_model",
    "model_path", "observation_labels",
]
