"""The ablation's conditions: one registry that the sweep plans its runs from (``training.ablate``) and that
the analyses, figures and report name them by.

=========================  =================================================================================
condition                  what is done
=========================  =================================================================================
``intact``                 shaping, then ``sessions`` sessions with dopamine intact
``block_2_4``              M1 dopamine blocked in sessions 2-4 (the lab's CNO_2..CNO_4), then released
``partial_block``          the same sessions at dopamine gain ``partial_gain`` (0 < g < 1), which the lab
                           could not do
``expert_block``           the intact run, after ``expert_after`` sessions, continued for
                           ``expert_sessions`` sessions with M1 dopamine blocked
``expert_thalamus_block``  the same, with the thalamic input silenced instead
=========================  =================================================================================

Why here: a condition is part of the experiment's design, which both the sweep and the analyses of what it
wrote must agree on; the analyses import nothing from training (see :mod:`analysis.run_format`), so the
design lives on this side and the sweep imports it. Each :class:`Condition` is a ``str`` (its name), so
it is the key of the tables' ``condition`` column as it is written.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

#: The lab's schedule: dopamine terminals in M1 silenced in sessions 2, 3 and 4 (1-based, inclusive).
BLOCK_SESSIONS = (2, 4)


class Condition(enum.StrEnum):
    """The name of a condition, as the run folders and the tables spell it."""

    INTACT = "intact"
    BLOCK_2_4 = "block_2_4"
    EXPERT_BLOCK = "expert_block"
    EXPERT_THALAMUS_BLOCK = "expert_thalamus_block"
    PARTIAL_BLOCK = "partial_block"

    @property
    def spec(self) -> ConditionSpec:
        """What the condition does (:data:`SPECS`)."""
        return SPECS[self]


class AblationDesign(BaseModel):
    """The sessions and seeds an ablation runs, as far as its conditions and analyses need them.

    A pydantic model like the run's config sections (frozen, unknown fields refused, strict types), so
    that ``training.ablate.AblationConfig`` extends it with how the runs are made. Each field's meaning
    is its docstring (``--help`` prints them)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    seeds: int = 10
    """number of seeds (``first_seed`` .. ``first_seed + seeds - 1``), each run in every condition."""
    first_seed: int = 0
    """the first seed."""
    sessions: int = 10
    """sessions of ``intact``, ``block_2_4`` and ``partial_block`` (the lab's 7, plus sessions to follow
    the catch-up after the block)."""
    trials_per_session: int = 64
    """trials per session."""
    partial_gain: float = 0.5
    """dopamine gain of ``partial_block`` in the block's sessions (0 < g < 1)."""
    expert_after: int = 7
    """the expert conditions fork from ``intact`` after this session."""
    expert_sessions: int = 2
    """sessions the expert manipulations last (compared with ``intact``'s same sessions)."""

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    @property
    def expert_sessions_range(self) -> tuple[int, int]:
        """First and last (1-based) session of the expert manipulations."""
        return self.expert_after + 1, self.expert_after + self.expert_sessions

    @property
    def expert_range(self) -> range:
        """The sessions of the expert manipulations."""
        first, last = self.expert_sessions_range
        return range(first, last + 1)


class Window(enum.Enum):
    """When a condition's manipulation falls."""

    BLOCK = "block"  # BLOCK_SESSIONS
    EXPERT = "expert"  # AblationDesign.expert_sessions_range

    def sessions(self, design: AblationDesign) -> tuple[int, int]:
        """First and last (1-based, inclusive) session of the window."""
        return BLOCK_SESSIONS if self is Window.BLOCK else design.expert_sessions_range


@dataclass(frozen=True)
class ConditionSpec:
    """What one condition does.

    Attributes:
        dopamine: sessions whose M1 dopamine is changed (None: intact throughout).
        partial: the dopamine there is scaled by the design's ``partial_gain`` instead of blocked (gain 0).
        thalamus: sessions whose thalamic input is silenced (None: never).
        forks_after_expert: the run starts from ``intact``'s checkpoint after ``expert_after`` sessions
            (else, for every condition but ``intact``, from its checkpoint after the shaping) and lasts
            to the end of the expert window.
        neural: its recorded activity is analysed (the expert conditions are behavioural comparisons, but
            finding 9 reads how much cortical activity thalamic silencing leaves).
        findings: the findings of ``shared/SCIENCE.md`` that compare it (partial_block answers a question
            beyond the lab).
        label: a short description for figures and reports.
        colour: its colour in every figure.
    """

    dopamine: Window | None
    partial: bool
    thalamus: Window | None
    forks_after_expert: bool
    neural: bool
    findings: tuple[int, ...]
    label: str
    colour: str

    def dopamine_block(self, design: AblationDesign) -> str:
        """The ``--da-block`` ranges of the condition's runs ("" = intact)."""
        if self.dopamine is None:
            return ""
        first, last = self.dopamine.sessions(design)
        return f"{first}-{last}" + (f":{design.partial_gain:g}" if self.partial else "")

    def thalamus_block(self, design: AblationDesign) -> str:
        """The ``--thalamus-block`` ranges of the condition's runs ("" = never silenced)."""
        if self.thalamus is None:
            return ""
        first, last = self.thalamus.sessions(design)
        return f"{first}-{last}"

    def fork_session(self, design: AblationDesign) -> int:
        """Sessions of ``intact`` the condition's runs start after (0: after the shaping)."""
        return design.expert_after if self.forks_after_expert else 0

    def last_session(self, design: AblationDesign) -> int:
        """The condition's runs' last session."""
        return design.expert_sessions_range[1] if self.forks_after_expert else design.sessions


SPECS: dict[Condition, ConditionSpec] = {
    Condition.INTACT: ConditionSpec(
        dopamine=None, partial=False, thalamus=None, forks_after_expert=False, neural=True,
        findings=(1, 2, 3, 4, 5, 6, 7, 8, 9), label="intact", colour="#1f77b4"),
    Condition.BLOCK_2_4: ConditionSpec(
        dopamine=Window.BLOCK, partial=False, thalamus=None, forks_after_expert=False, neural=True,
        findings=(2, 3, 5, 6), label="M1 dopamine blocked in sessions 2-4", colour="#d62728"),
    Condition.EXPERT_BLOCK: ConditionSpec(
        dopamine=Window.EXPERT, partial=False, thalamus=None, forks_after_expert=True, neural=False,
        findings=(4, 9), label="M1 dopamine blocked in experts", colour="#9467bd"),
    Condition.EXPERT_THALAMUS_BLOCK: ConditionSpec(
        dopamine=None, partial=False, thalamus=Window.EXPERT, forks_after_expert=True, neural=True,
        findings=(9,), label="thalamic input silenced in experts", colour="#2ca02c"),
    Condition.PARTIAL_BLOCK: ConditionSpec(
        dopamine=Window.BLOCK, partial=True, thalamus=None, forks_after_expert=False, neural=True,
        findings=(), label="M1 dopamine at partial gain in sessions 2-4", colour="#ff7f0e"),
}

#: Conditions run for the design's full length, from the shaping (their recordings start at session 1).
FULL_LENGTH = tuple(c for c in Condition if not c.spec.forks_after_expert)
#: The expert manipulations, forked from intact after ``expert_after`` sessions.
EXPERT = tuple(c for c in Condition if c.spec.forks_after_expert)
