"""The dopamine channel: a reward-prediction error, gated per episode by a silencing schedule.

``DA_t = g(episode) * delta_t``. ``delta_t`` comes from the critic ("VTA value"); ``g`` is the
fraction of dopamine that reaches M1 in that episode: 1 intact, 0 fully blocked (the lab's DREADD/CNO
silencing of VTA terminals in M1), in between a partial block. The same schedule type silences the
motor thalamus's input to M1 (Ramot et al. 2025's inactivation in experts).

A :class:`DopamineWindow` narrows the silencing to a part of each trial, relative to its events (cue to
lift, outcome to the end, or seconds from the cue): ``DA_t = g_t * delta_t`` with ``g_t`` the episode's
gain inside the window and 1 outside it. The lab's chemogenetic block lasts a session; a window is what
an optogenetic silencing timed to trial events would do, which the lab did not.

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


#: The named windows of ``--da-window``; any other value is ``START:END`` in seconds from the cue.
WINDOW_EVENTS = ("cue", "outcome")


@dataclass(frozen=True)
class DopamineWindow:
    """The part of a trial in which the schedule's gain applies (outside it M1 gets all its dopamine).

    A control step belongs to the window when the time at its end does: the RPE of the step whose end
    brings the tone, the lift or the outcome is that event's dopamine. Every test reads only what has
    happened by the step's end (the env's ``info``), as a closed-loop silencing triggered by the events
    would.

    Attributes:
        kind: ``"cue"`` (from the cue onset to the paw's lift, or to the trial's end if it does not lift
            after the cue), ``"outcome"`` (from the outcome to the trial's end), or ``"seconds"``.
        start, end: with ``"seconds"``, the window ``[start, end)`` in seconds from the cue onset
            (negative: before the cue).
    """

    kind: str
    start: float = math.nan
    end: float = math.nan

    @classmethod
    def parse(cls, spec: str) -> DopamineWindow | None:
        """``"cue"``, ``"outcome"``, ``"START:END"`` (seconds from the cue onset) or ``""`` (None: the
        whole trial).

        Raises:
            ValueError: naming the window as written, if it is none of these or ends before it starts.
        """
        spec = spec.strip()
        if not spec:
            return None
        if spec in WINDOW_EVENTS:
            return cls(spec)
        first, sep, last = spec.partition(":")
        try:
            if not sep:
                raise ValueError
            start, end = float(first), float(last)
        except ValueError:
            raise ValueError(f"dopamine window {spec!r} is not 'cue', 'outcome' or START:END in seconds "
                             f"from the cue onset (e.g. 0.0:0.5)") from None
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ValueError(f"dopamine window {spec!r}: its bounds must be finite numbers of seconds")
        if end <= start:
            raise ValueError(f"dopamine window {spec!r}: it must end after it starts")
        return cls("seconds", start, end)

    def check_within(self, earliest: float, latest: float) -> None:
        """Refuse a window of seconds that no trial reaches.

        Args:
            earliest: the earliest trial start, in seconds from the cue (negative).
            latest: the latest trial end, in seconds from the cue.

        Raises:
            ValueError: saying where trials lie, if ``[start, end)`` misses every trial.
        """
        if self.kind == "seconds" and (self.end <= earliest or self.start >= latest):
            raise ValueError(f"dopamine window {self.describe()} s from the cue is outside every trial, "
                             f"which lie within {earliest:g} to {latest:g} s of the cue")

    def contains(self, info: dict, control_timestep: float) -> bool:
        """Whether the control step that produced ``info`` (the env's step info: ``time``, ``cue_time``,
        ``events``) lies in the window; ``control_timestep`` in seconds."""
        events = info["events"]
        if self.kind == "outcome":
            return events["outcome"] is not None
        if self.kind == "cue":
            return events["cue"] is not None and events["lift"] is None
        # Whole control steps from the cue onset to the step's end: the times are sums of float steps.
        steps = round((info["time"] - info["cue_time"]) / control_timestep)
        return (math.ceil(self.start / control_timestep - 1e-9) <= steps
                < math.ceil(self.end / control_timestep - 1e-9))

    def describe(self) -> str:
        return self.kind if self.kind != "seconds" else f"{self.start:g}:{self.end:g}"


@dataclass(frozen=True, eq=False)
class BatchGating:
    """The dopamine gating of one batch of trials: its per-trial gains and the rules they imply.

    Every rule keeps a blocked trial (``g = 0``) out of M1's learning entirely, and makes a partial
    gain scale that trial's contribution by ``g``. With a :class:`DopamineWindow` the trials' gains are
    1 and the schedule's gains apply step by step, inside the window only (:meth:`step_gains`): a step
    that no delivered dopamine reaches then drives nothing (:meth:`reached`), so a trial silenced from
    start to end contributes exactly nothing, as a blocked one does.

    Args:
        gains: per-trial gains ``g`` (shape ``(B,)``, float32, each in [0, 1]).
        window_gains: with a window, the per-trial gains inside it (shape ``(B,)``; ``gains`` are then
            all 1); None without one.

    Raises:
        ValueError: if ``gains`` is not one-dimensional or holds a negative gain (``g > 0`` is what
            "receives dopamine" means below).
    """

    gains: torch.Tensor
    window_gains: torch.Tensor | None = None
    #: The batch's mean gain (a Python float: it scales optimiser step sizes).
    mean_gain: float = field(init=False)

    def __post_init__(self) -> None:
        for name in ("gains", "window_gains"):
            value = getattr(self, name)
            if value is None:
                continue
            if value.dim() != 1:
                raise ValueError(f"{name} must have shape (B,), not {tuple(value.shape)}")
            if bool((value < 0).any()):
                raise ValueError(f"{name} must be >= 0, got {value.tolist()}")
        object.__setattr__(self, "mean_gain", float(self.gains.mean()))

    @property
    def schedule_gains(self) -> torch.Tensor:
        """Per trial, the schedule's gain (inside the window, if there is one): what a trial's record
        calls its dopamine gain."""
        return self.gains if self.window_gains is None else self.window_gains

    def step_gains(self, in_window: torch.Tensor) -> torch.Tensor | None:
        """Per trial, the gain of one control step's dopamine: the schedule's gain where the step is in
        the window, 1 elsewhere (``(B,)`` bool in, ``(B,)`` float out); None without a window."""
        if self.window_gains is None:
            return None
        return torch.where(in_window, self.window_gains, torch.ones_like(self.window_gains))

    @staticmethod
    def reached(step_gains: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        """Which steps some delivered dopamine reaches: 1.0 at step ``k`` if a step ``t >= k`` of the same
        trial within the window has a gain > 0 (``(T, B)`` step gains and done flags in, ``(T, B)`` float
        out).

        The eligibility of step ``k`` is credited by the dopamine of every later step of its trial (the
        trace): silencing the cue's dopamine leaves the cue's eligibility to the outcome's dopamine, but
        a step after which every dopamine is silenced has nothing to learn from.
        """
        reach = torch.zeros_like(step_gains)
        running = torch.zeros(step_gains.shape[1], dtype=torch.bool)
        for t in reversed(range(step_gains.shape[0])):
            running = (step_gains[t] > 0) | (running & ~done[t].bool())
            reach[t] = running.float()
        return reach

    def receives(self) -> torch.Tensor:
        """Per trial, 1.0 if any dopamine reaches M1 (``g > 0``), else 0.0 (shape ``(B,)``)."""
        return (self.gains > 0).float()

    def driving_steps(self, valid: torch.Tensor, deciding: torch.Tensor,
                      reach: torch.Tensor | None = None) -> torch.Tensor:
        """Which steps drive the cortical update: 1.0 where the trial runs, the cortex drew exploration
        noise, and the trial receives dopamine (``(T, B)`` masks in, ``(T, B)`` float mask out); with a
        window, only where delivered dopamine reaches the step (``reach``, :meth:`reached`).

        Only these steps enter the policy update, its baseline, its normalisation and its gradient, so a
        blocked trial contributes exactly nothing, whatever its trajectory or length; and a step
        without fresh noise has no eligibility to credit.
        """
        driving = valid * deciding * self.receives()[None, :]
        return driving if reach is None else driving * reach

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

    def outcome_dopamine(self, delta: torch.Tensor, valid: torch.Tensor,
                         step_gains: torch.Tensor | None = None) -> torch.Tensor:
        """The third factor of the outcome (taste) pathway's Hebbian rule: ``g * delta`` on the steps
        where the trial runs (``(T, B)`` in and out).

        The delivered dopamine itself, not renormalised by the batch's mean gain: the pathway's change
        is the plain three-factor product, so a partial gain scales a trial's share by ``g`` and a
        blocked trial adds nothing. Every running step counts, not only those with fresh noise: the
        pathway's eligibility is a trace of rate x taste, not of a decision. With a window, each step's
        dopamine is also scaled by its ``step_gains`` (``(T, B)``).
        """
        delivered = self.signal(delta * valid)
        return delivered if step_gains is None else delivered * step_gains

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
        window: the part of each trial the schedule's gain applies to (None: the whole trial).
    """

    def __init__(self, schedule: SilencingSchedule | None = None, window: DopamineWindow | None = None):
        self.schedule = schedule or SilencingSchedule()
        self.window = window

    def gains(self, episodes: Sequence[int]) -> torch.Tensor:
        """Per-trial gains g (shape ``(B,)``) for a batch of trials."""
        return torch.tensor(self.schedule.gains(episodes), dtype=torch.float32)

    def gate(self, episodes: Sequence[int]) -> BatchGating:
        """The gating of a batch of trials (the protocol's episode numbers): its gains and their rules."""
        gains = self.gains(episodes)
        if self.window is None:
            return BatchGating(gains)
        return BatchGating(torch.ones_like(gains), window_gains=gains)

    @staticmethod
    def signal(delta: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        """``DA = g * delta``; ``delta`` has trials in its last dimension or matches ``gains``."""
        return delta * gains
