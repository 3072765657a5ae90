"""The dopamine channel: a reward-prediction error, gated per episode by a silencing schedule.

``DA_t = g(episode) * delta_t``. ``delta_t`` comes from the critic ("VTA value"); ``g`` is the
fraction of dopamine that reaches M1 in that episode: 1 intact, 0 fully blocked (the lab's DREADD/CNO
silencing of VTA terminals in M1), in between a partial block. The same schedule type silences the
motor thalamus's input to M1 (Ramot et al. 2025's inactivation in experts).

The channel also owns what a gain does to learning: :meth:`DopamineChannel.gate` returns a
:class:`BatchGating` for a batch of trials, whose methods are the rules the learner
(:mod:`agents.three_factor`) asks: which steps drive the cortical update, how the trials of a mixed
batch are weighted, how large the step is, what the outcome pathway and the critic learn from. What
silencing means is defined here and nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class GainRange:
    """Episodes ``first..last`` (0-based, inclusive) during which the gain is ``gain`` (in [0, 1])."""

    first: int
    last: int
    gain: float = 0.0
    #: How the range was written (``"2-4"``, ``"e100-179:0.5"``), for error messages only.
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.first < 0 or self.last < 0:
            raise ValueError(f"range {self.describe()}: episodes must be >= 0")
        if self.last < self.first:
            raise ValueError(f"range {self.describe()}: last episode comes before the first")
        if not (math.isfinite(self.gain) and 0.0 <= self.gain <= 1.0):
            raise ValueError(f"range {self.describe()}: gain must be in [0, 1]")

    def describe(self) -> str:
        return repr(self.label) if self.label else f"{self.first}-{self.last}:{self.gain:g}"


class SilencingSchedule:
    """Piecewise-constant gain over episodes: 1 outside the given ranges.

    Args:
        ranges: non-overlapping :class:`GainRange` (or ``(first, last, gain)`` tuples).

    Raises:
        ValueError: naming the offending range, if one is invalid or two overlap.
    """

    def __init__(self, ranges: Iterable[GainRange | tuple] = ()):
        parsed = [r if isinstance(r, GainRange) else GainRange(*r) for r in ranges]
        parsed.sort(key=lambda r: r.first)
        for before, after in zip(parsed, parsed[1:], strict=False):
            if after.first <= before.last:
                raise ValueError(
                    f"ranges {before.describe()} and {after.describe()} overlap (episodes are 0-based "
                    f"and inclusive)"
                )
        self.ranges: tuple[GainRange, ...] = tuple(parsed)

    @classmethod
    def parse(cls, spec: str, trials_per_session: int, total_trials: int | None = None) -> SilencingSchedule:
        """Parse the command line's range notation: sessions, episodes, or both.

        ``"2-4"`` is sessions 2 to 4 (1-based, inclusive: the lab's notation); ``"e100-179"`` is episodes
        100 to 179 (0-based, inclusive); either takes a gain after ``:`` (a partial block; default 0) and
        several are joined by commas: ``"2-4,e500-520:0.3"``. A single number (``"3"``, ``"e7"``) is a
        range of one.

        Args:
            spec: the ranges ("" = intact).
            trials_per_session: trials per session, to turn sessions into episodes.
            total_trials: the protocol's length; a range reaching past it is refused (None: no check).

        Raises:
            ValueError: naming the range as written, if one is malformed, out of range or overlaps
                another.
        """
        if trials_per_session < 1:
            raise ValueError(f"trials_per_session={trials_per_session} must be >= 1")
        ranges = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            by_episode = part[:1].lower() == "e"
            kind = "episode" if by_episode else "session"
            span, _, gain = part[1:].partition(":") if by_episode else part.partition(":")
            first, sep, last = span.partition("-")
            try:
                start, stop = int(first), int(last if sep else first)
                value = float(gain) if gain else 0.0
            except ValueError:
                form = "eA-B or eA-B:gain" if by_episode else "A-B or A-B:gain"
                raise ValueError(f"{kind} range {part!r} is not of the form {form}") from None
            if by_episode and (start < 0 or stop < 0):
                raise ValueError(f"episode range {part!r}: episodes are numbered from 0")
            if not by_episode and (start < 1 or stop < 1):
                raise ValueError(f"session range {part!r}: sessions are numbered from 1")
            if stop < start:
                raise ValueError(f"{kind} range {part!r}: last {kind} comes before the first")
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{kind} range {part!r}: gain must be in [0, 1]")
            if not by_episode:
                start, stop = (start - 1) * trials_per_session, stop * trials_per_session - 1
            if total_trials is not None and stop >= total_trials:
                raise ValueError(f"{kind} range {part!r} reaches past the protocol's last episode "
                                 f"({total_trials - 1}, session {-(-total_trials // trials_per_session)})")
            ranges.append(GainRange(start, stop, value, label=part))
        return cls(ranges)

    def gain(self, episode: int) -> float:
        """Gain in episode ``episode`` (0-based)."""
        for r in self.ranges:
            if r.first <= episode <= r.last:
                return r.gain
        return 1.0

    def gains(self, episodes: Sequence[int]) -> list[float]:
        """Gains of several episodes."""
        return [self.gain(e) for e in episodes]

    def to_list(self) -> list[list[float]]:
        """Plain data, for configs and checkpoints."""
        return [[r.first, r.last, r.gain] for r in self.ranges]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SilencingSchedule) and self.ranges == other.ranges

    def __repr__(self) -> str:
        return f"SilencingSchedule({', '.join(r.describe() for r in self.ranges) or 'intact'})"


@dataclass(frozen=True, eq=False)
class BatchGating:
    """The dopamine gating of one batch of trials: its per-trial gains and the rules they imply.

    Every rule keeps a blocked trial (``g = 0``) out of M1's learning entirely, and makes a partial
    gain scale that trial's contribution by ``g``.

    Args:
        gains: per-trial gains ``g`` (shape ``(B,)``, float32, each in [0, 1]).

    Raises:
        ValueError: if ``gains`` is not one-dimensional or holds a negative gain (``g > 0`` is what
            "receives dopamine" means below).
    """

    gains: torch.Tensor
    #: The batch's mean gain (a Python float: it scales optimiser step sizes).
    mean_gain: float = field(init=False)

    def __post_init__(self) -> None:
        if self.gains.dim() != 1:
            raise ValueError(f"gains must have shape (B,), not {tuple(self.gains.shape)}")
        if bool((self.gains < 0).any()):
            raise ValueError(f"gains must be >= 0, got {self.gains.tolist()}")
        object.__setattr__(self, "mean_gain", float(self.gains.mean()))

    def receives(self) -> torch.Tensor:
        """Per trial, 1.0 if any dopamine reaches M1 (``g > 0``), else 0.0 (shape ``(B,)``)."""
        return (self.gains > 0).float()

    def driving_steps(self, valid: torch.Tensor, deciding: torch.Tensor) -> torch.Tensor:
        """Which steps drive the cortical update: 1.0 where the trial runs, the cortex drew exploration
        noise, and the trial receives dopamine (``(T, B)`` masks in, ``(T, B)`` float mask out).

        Only these steps enter the policy update, its baseline, its normalisation and its gradient, so a
        blocked trial contributes exactly nothing, whatever its trajectory or length; and a step
        without fresh noise has no eligibility to credit.
        """
        return valid * deciding * self.receives()[None, :]

    def moves_cortex(self, driving_count: float) -> bool:
        """Whether the cortex takes a step at all, given the number of driving steps in the window.

        No step when no dopamine reaches M1 (an all-blocked batch: mean gain 0) or no step drives the
        update (every dopamine-receiving trial has ended, or none has drawn noise yet). Skipping, rather
        than stepping with a zero gradient, is what keeps a silenced weight bit-for-bit still: Adam's
        momentum would turn a zero gradient into a change.
        """
        return self.mean_gain > 0.0 and driving_count > 0.0

    def trial_weights(self) -> torch.Tensor:
        """Per-trial weights of the policy loss in a mixed batch: ``g / mean(g)`` (shape ``(B,)``).

        Relative weights only: the batch's overall dopamine goes into the step size
        (:meth:`cortical_step_gain`), where no optimiser normalisation can cancel it. Together a
        trial's share of the step is proportional to its own ``g``. Only call when
        :meth:`moves_cortex` (the mean gain is then > 0).
        """
        return self.gains / self.mean_gain

    def cortical_step_gain(self, step_scale: float) -> float:
        """Factor on the cortical optimiser's step sizes: ``mean(g) * step_scale``.

        ``step_scale`` is the learner's own factor (the exploration variance, say). Multiplying the step
        size, not the loss, makes less dopamine mean less learning for Adam too, whose normalisation
        would cancel a scaled gradient.
        """
        return self.mean_gain * step_scale

    def signal(self, delta: torch.Tensor) -> torch.Tensor:
        """The dopamine delivered to M1, ``g * delta`` (:meth:`DopamineChannel.signal`); ``delta`` has
        trials in its last dimension."""
        return DopamineChannel.signal(delta, self.gains)

    def outcome_dopamine(self, delta: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The third factor of the outcome (taste) pathway's Hebbian rule: ``g * delta`` on the steps
        where the trial runs (``(T, B)`` in and out).

        The delivered dopamine itself, not renormalised by the batch's mean gain: the pathway's change
        is the plain three-factor product, so a partial gain scales a trial's share by ``g`` and a
        blocked trial adds nothing. Every running step counts, not only those with fresh noise: the
        pathway's eligibility is a trace of rate x taste, not of a decision.
        """
        return self.signal(delta * valid)

    def critic_gain(self, blocked_with_dopamine: bool) -> float:
        """Factor on the critic's step sizes: 1, or the batch's mean gain with ``blocked_with_dopamine``
        (:attr:`agents.config.AgentConfig.critic_blocked_with_dopamine`); 0 means no critic step.

        The lab's block silences VTA terminals in M1, so by default the VTA's value learning, elsewhere,
        goes on; the switch models a block that reaches the critic too.
        """
        return self.mean_gain if blocked_with_dopamine else 1.0


class DopamineChannel:
    """Turns reward-prediction errors into the dopamine delivered to M1, and gates M1's learning.

    Args:
        schedule: gain per episode (M1 dopamine silencing).
    """

    def __init__(self, schedule: SilencingSchedule | None = None):
        self.schedule = schedule or SilencingSchedule()

    def gains(self, episodes: Sequence[int]) -> torch.Tensor:
        """Per-trial gains g (shape ``(B,)``) for a batch of trials."""
        return torch.tensor(self.schedule.gains(episodes), dtype=torch.float32)

    def gate(self, episodes: Sequence[int]) -> BatchGating:
        """The gating of a batch of trials (the protocol's episode numbers): its gains and their rules."""
        return BatchGating(self.gains(episodes))

    @staticmethod
    def signal(delta: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        """``DA = g * delta``; ``delta`` has trials in its last dimension or matches ``gains``."""
        return delta * gains
