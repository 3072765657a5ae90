"""Motor variability regulated by reward history, outside M1 (Dhawale et al. 2019).

Rats' trial-to-trial motor variability rises after poor outcomes and falls after good ones (Dhawale,
Miyamoto, Smith and Olveczky, Current Biology 29:3551, 2019). The model's counterpart: the standard
deviation of the exploration noise of the coming trials is

    sigma = floor + (initial - floor) * (1 - s),     s <- s + (success - s) / memory   after each trial

where ``s`` is an exponentially weighted success rate over the last ``memory`` trials or so. It is
regulated outside M1 (the exploration noise is added to the cortex's output), from outcomes, not from
M1's dopamine: blocking dopamine in M1 leaves it working, so a block stops learning without also
changing how the animal varies its movements.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class ExplorationRegulator:
    """The reward-history-dependent exploration amplitude.

    Attributes:
        initial: standard deviation (excitation units) with no success in memory (the start).
        floor: standard deviation with every recent trial a success (never below it).
        memory: trials over which successes are averaged (the time constant of ``s``).
        success_average: ``s``, the running success rate (state: saved in checkpoints).
    """

    initial: float
    floor: float
    memory: float
    success_average: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.initial) and self.initial > 0):
            raise ValueError(f"initial exploration {self.initial} must be a finite positive number")
        if not 0 <= self.floor <= self.initial:
            raise ValueError(f"exploration floor {self.floor} must be in [0, initial={self.initial}]")
        if not self.memory >= 1:
            raise ValueError(f"exploration memory {self.memory} must be >= 1 trial")

    def std(self) -> float:
        """Standard deviation of the exploration noise for the coming trials."""
        return self.floor + (self.initial - self.floor) * (1.0 - self.success_average)

    def observe(self, successes: Iterable[bool]) -> None:
        """Update the success history with finished trials, in order."""
        for success in successes:
            self.success_average += (float(success) - self.success_average) / self.memory

    def state_dict(self) -> dict[str, float]:
        return {"success_average": self.success_average}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.success_average = float(state["success_average"])
