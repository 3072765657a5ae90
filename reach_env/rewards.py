"""Reward of the reach task: a success reward plus optional, separately reported shaping terms.

The success reward is what a dopamine signal should respond to; the shaping terms only help learning
and are reported apart (``info["reward_<term>"]``) so that analyses can keep them out of the RPE.

Shaping is potential based (Ng, Harada and Russell 1999): each term pays the change of a bounded
potential between two control steps, so it cannot create a better policy than solving the task.
The staged potential is
``approach * closeness(digit tips, pellet) + grasp * held + retrieve * held * closeness(pellet, mouth)``,
where ``closeness(a, b) = 1 - min(|a - b| / scale, 1)``; it is counted only after the cue and until the
outcome, so reaching before the tone or acting after the outcome earns no shaping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

#: Names of the reward terms, in the order they are reported.
REWARD_TERMS: tuple[str, ...] = ("success", "approach", "grasp", "retrieve", "effort")


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward terms.

    Attributes:
        success: paid once, at the step the pellet reaches the mouth.
        approach: potential weight for bringing the digit tips to the pellet.
        grasp: potential weight for holding the pellet.
        retrieve: potential weight for bringing a held pellet to the mouth.
        effort: cost per second of mean squared muscle excitation.
        approach_scale: distance (m) over which approach closeness goes from 0 to 1.
        retrieve_scale: distance (m) over which retrieve closeness goes from 0 to 1.
    """

    success: float = 1.0
    approach: float = 0.3
    grasp: float = 0.3
    retrieve: float = 0.4
    effort: float = 0.01
    # Larger than the ~19 mm from the resting digit tips to the pellet, so that every reach
    # direction is graded from the first step.
    approach_scale: float = 0.025
    retrieve_scale: float = 0.025

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"reward weight {f.name}={value!r} must be finite and >= 0")
        for name in ("approach_scale", "retrieve_scale"):
            if getattr(self, name) == 0:
                raise ValueError(f"reward weight {name} must be > 0 (a distance in metres)")


def closeness(distance: float, scale: float) -> float:
    """1 at zero distance, falling linearly to 0 at ``scale`` metres and beyond."""
    return 1.0 - min(distance / scale, 1.0)


def shaping_potentials(
    weights: RewardWeights, tips_to_pellet: float, held: bool, pellet_to_mouth: float
) -> tuple[float, float, float]:
    """The three shaping potentials (approach, grasp, retrieve) of one state."""
    approach = weights.approach * closeness(tips_to_pellet, weights.approach_scale)
    grasp = weights.grasp * float(held)
    retrieve = weights.retrieve * float(held) * closeness(pellet_to_mouth, weights.retrieve_scale)
    return approach, grasp, retrieve


def reward_terms(
    weights: RewardWeights,
    succeeded: bool,
    potentials_before: tuple[float, float, float],
    potentials_after: tuple[float, float, float],
    shaping_on: bool,
    excitation: np.ndarray,
    dt: float,
) -> dict[str, float]:
    """All reward terms of one control step; the reward is their sum.

    Args:
        weights: the reward weights.
        succeeded: whether the pellet reached the mouth during this step.
        potentials_before: shaping potentials at the start of the step.
        potentials_after: shaping potentials at its end.
        shaping_on: whether the step lies between cue and outcome.
        excitation: the muscle excitations applied during the step, in [0, 1].
        dt: control time step (s).
    """
    effort = -weights.effort * float(excitation @ excitation) / len(excitation) * dt
    success = weights.success if succeeded else 0.0
    if not shaping_on:
        return {"success": success, "approach": 0.0, "grasp": 0.0, "retrieve": 0.0, "effort": effort}
    (approach0, grasp0, retrieve0), (approach1, grasp1, retrieve1) = potentials_before, potentials_after
    return {"success": success, "approach": approach1 - approach0, "grasp": grasp1 - grasp0,
            "retrieve": retrieve1 - retrieve0, "effort": effort}
