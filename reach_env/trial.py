"""The trial of the lab's reach task: its timeline, phases, events and outcome.

One episode is one trial. It follows the head-fixed reach task of Ghanayim et al. (2025): the platform
turns the pellet to the slot, a tone sounds, the mouse lifts its paw, reaches, grabs the pellet, lifts it
and brings it to the mouth. The trial goes on for a short post-outcome window so that a network can sense
and respond to the outcome (shared/SCIENCE.md, modelling notes).
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, fields


class TrialPhase(enum.IntEnum):
    """Phase of a trial, in the order a successful trial passes through them."""

    PLATFORM_TURN = 0  #: the turntable brings the pellet to the slot; no cue yet
    WAIT = 1  #: turntable at rest, before the cue (pre-cue baseline)
    CUE = 2  #: tone has sounded; paw still near the perch
    REACH = 3  #: paw lifted, pellet not held
    GRASP = 4  #: pellet held by the digits, still at the post
    RETRIEVE = 5  #: held pellet lifted off the post, on its way to the mouth
    POST_OUTCOME = 6  #: outcome decided; the network still acts and senses until the trial ends


class Outcome(enum.IntEnum):
    """How a trial ended. ``NONE`` while it is undecided."""

    NONE = 0
    SUCCESS = 1  #: pellet brought to the mouth
    DROPPED = 2  #: pellet knocked off its post or dropped on the way
    TIMEOUT = 3  #: response window over with the pellet neither eaten nor lost
    #: paw lifted at or before the cue onset, with the option ``early_lift_aborts``: the lab's early error.
    #: Last, so that the other codes keep their v0 values.
    EARLY = 4


#: Event names recorded per trial, in the order they can happen; the lab codes the same events.
EVENTS: tuple[str, ...] = ("cue", "lift", "grab", "at_mouth", "outcome")


@dataclass(frozen=True)
class TrialTiming:
    """Timeline of one trial, in seconds from the start of the episode.

    Attributes:
        platform_turn: duration of the turntable's turn that brings the pellet to the slot.
        cue_time: onset of the tone; the interval before it is the pre-cue baseline.
        tone_duration: how long the cue channel stays on.
        response_window: time after the cue to bring the pellet to the mouth before a timeout.
        post_outcome: how long the trial continues after its outcome is decided.
        turn_angle: angle (rad) the table turns through; the post starts this far from the slot.
        cue_jitter: half-range (s) of a per-trial shift of the cue onset: a trial's cue comes at
            ``cue_time`` plus a uniformly drawn whole number of control steps within
            ``[-cue_jitter, cue_jitter]`` (0: the cue always comes at ``cue_time``, as in v0). The
            earliest cue must not come before the platform has turned.
    """

    platform_turn: float = 0.4
    cue_time: float = 0.6
    tone_duration: float = 0.1
    response_window: float = 1.5
    post_outcome: float = 0.4
    turn_angle: float = math.pi / 2
    cue_jitter: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "cue_jitter":
                if not math.isfinite(value) or value < 0:
                    raise ValueError(f"TrialTiming.cue_jitter={value!r} must be a finite number >= 0")
            elif not math.isfinite(value) or value <= 0:
                raise ValueError(f"TrialTiming.{f.name}={value!r} must be a finite positive number")
        if self.cue_time < self.platform_turn:
            raise ValueError(
                f"TrialTiming.cue_time={self.cue_time} must not come before the platform has turned "
                f"(platform_turn={self.platform_turn})"
            )
        # 1 ns of slack: 0.6 - 0.2 is 0.39999999999999997 in floats.
        if self.cue_time - self.cue_jitter < self.platform_turn - 1e-9:
            raise ValueError(
                f"TrialTiming.cue_jitter={self.cue_jitter}: the earliest cue, cue_time - cue_jitter = "
                f"{self.cue_time - self.cue_jitter:.6g} s, must not come before the platform has turned "
                f"(platform_turn={self.platform_turn})"
            )

    @property
    def max_duration(self) -> float:
        """Longest possible trial (s): a timeout after the latest cue, then the post-outcome window."""
        return self.cue_time + self.cue_jitter + self.response_window + self.post_outcome

    def as_dict(self) -> dict[str, float]:
        """Plain dict, for logging."""
        return asdict(self)


def min_jerk(s: float) -> float:
    """Minimum-jerk profile: 0 at s <= 0, 1 at s >= 1, zero velocity and acceleration at both ends."""
    if s <= 0.0:
        return 0.0
    if s >= 1.0:
        return 1.0
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))
