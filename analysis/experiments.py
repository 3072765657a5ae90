"""The experiments beyond the lab's: their arms, as the sweep plans them (``training.ablate
--experiment``) and as their analyses (:mod:`analysis.experiment_report`) name them.

=================  ==================================================================================
experiment         arms (every arm of a seed forks from its intact arm's shaped network)
=================  ==================================================================================
``lab``            the lab's conditions (:mod:`analysis.conditions`)
``dose-response``  M1 dopamine at gain ``d`` in sessions 2-4, one arm per dose (``dose_0.25``, ...);
                   dose 1 is intact dopamine, the arms' common parent, and is always run
``timing``         intact; M1 dopamine silenced in sessions 2-4 from the cue to the lift
                   (``cue_window``), from the outcome to the trial's end (``outcome_window``), or in the
                   whole trial (``block_2_4``, the lab's block, for reference)
``robustness``     per variant of the training config (:func:`robustness_variants`: the learning rate,
                   the network's size and the exploration floor at half and twice the sweep's value,
                   and the baseline), the lab's intact and block_2_4 conditions
=================  ==================================================================================

The lab could block dopamine only fully and for whole sessions; dose-response and timing ask what it
could not: how learning scales with the amount of dopamine, and which part of a trial's RPE carries the
learning. Their runs last the block's sessions (1-4): the question is the learning during sessions 2-4,
read as the noise-off success after session 4 minus after session 1 (as finding 2 reads it).

Robustness asks whether findings 1 and 2 depend on the hyperparameters chosen: each variant runs, per
seed, intact for the lab's training sessions (1 to ``expert_after``, 7: finding 1 reads the success
after the last) and block_2_4 for sessions 1-4 (finding 2), forked from the variant's intact run after
the shaping; the findings' rules are applied to each variant unchanged (:mod:`analysis.robustness_report`).

Why here: as for the conditions, the sweep and the analyses of what it wrote must agree on the arms,
and the analyses import nothing from training.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from analysis import run_format
from analysis.conditions import BLOCK_SESSIONS, Condition


class Experiment(enum.StrEnum):
    """The name of an experiment, as ``--experiment`` takes it."""

    LAB = "lab"
    DOSE_RESPONSE = "dose-response"
    TIMING = "timing"
    ROBUSTNESS = "robustness"


#: The doses of ``--experiment dose-response`` unless ``--doses`` chooses others.
DEFAULT_DOSES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Arm:
    """One arm of an experiment beyond the lab.

    Attributes:
        name: the arm's folder and table name.
        da_block: its ``--da-block`` ranges ("" = intact).
        da_window: its ``--da-window`` ("" = the whole trial).
        label: a short description for figures and reports.
        colour: its colour in every figure.
        dose: the dopamine gain in sessions 2-4 (dose-response arms; None otherwise).
    """

    name: str
    da_block: str
    da_window: str
    label: str
    colour: str
    dose: float | None = None

    @property
    def is_parent(self) -> bool:
        """The arm every other arm of its seed forks from (intact dopamine throughout)."""
        return self.da_block == ""


def block_ranges(gain: float) -> str:
    """The ``--da-block`` of sessions 2-4 at ``gain`` ("" at 1: intact)."""
    first, last = BLOCK_SESSIONS
    if gain >= 1.0:
        return ""
    return f"{first}-{last}" + (f":{gain:g}" if gain > 0 else "")


def dose_name(dose: float) -> str:
    """``dose_0``, ``dose_0.25``, ..., ``dose_1``."""
    return f"dose_{dose:g}"


def check_doses(doses: tuple[float, ...]) -> None:
    """Refuse doses outside [0, 1], repeated, or fewer than two.

    Raises:
        ValueError: naming the offending dose.
    """
    for dose in doses:
        if not 0.0 <= dose <= 1.0:
            raise ValueError(f"dose {dose:g} is outside [0, 1] (a dopamine gain)")
    if len(set(doses)) != len(doses):
        raise ValueError(f"doses {', '.join(f'{d:g}' for d in doses)} repeat a dose")
    if len(set(doses) | {1.0}) < 2:
        raise ValueError("the dose-response needs at least one dose below 1 (dose 1 is always run)")


def dose_arms(doses: tuple[float, ...]) -> list[Arm]:
    """The dose-response arms, dose 1 (the parent) first, then the others in increasing dose."""
    check_doses(doses)
    ordered = [1.0] + sorted(d for d in set(doses) if d < 1.0)
    colours = _ramp(len(ordered))
    return [Arm(dose_name(d), block_ranges(d), "", f"dopamine gain {d:g} in sessions 2-4", colour, d)
            for d, colour in zip(ordered, colours, strict=True)]


def _ramp(n: int) -> list[str]:
    """``n`` colours from dark (dose 1) to light (dose 0), so that a figure reads as a dose scale."""
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [matplotlib.colors.to_hex(cmap(0.9 * i / max(n - 1, 1))) for i in range(n)]


#: The timing experiment's arms: intact first (the parent).
TIMING_ARMS = (
    Arm(Condition.INTACT.value, "", "", Condition.INTACT.spec.label, Condition.INTACT.spec.colour),
    Arm("cue_window", block_ranges(0.0), "cue", "silenced from cue to lift, sessions 2-4", "#17becf"),
    Arm("outcome_window", block_ranges(0.0), "outcome", "silenced from outcome to trial end, sessions 2-4",
        "#e377c2"),
    Arm(Condition.BLOCK_2_4.value, block_ranges(0.0), "", "silenced in the whole trial, sessions 2-4",
        Condition.BLOCK_2_4.spec.colour),
)


def experiment_arms(experiment: Experiment, doses: tuple[float, ...] = DEFAULT_DOSES) -> list[Arm]:
    """The arms of an experiment beyond the lab, the parent first."""
    if experiment is Experiment.DOSE_RESPONSE:
        return dose_arms(doses)
    if experiment is Experiment.TIMING:
        return list(TIMING_ARMS)
    if experiment is Experiment.ROBUSTNESS:
        raise ValueError("experiment 'robustness' has variants of the lab's conditions, not arms "
                         "(robustness_variants)")
    raise ValueError(f"experiment {experiment.value!r} has conditions, not arms (analysis.conditions)")


# --- robustness -----------------------------------------------------------------------------------------

#: The training-config fields the robustness experiment varies, as ``(section, field)``.
ROBUSTNESS_FIELDS = (("agent", "policy_lr"), ("agent", "n_cortex"), ("agent", "exploration_floor"))
#: Each field at these multiples of the value the sweep's runs would otherwise have.
ROBUSTNESS_FACTORS = (0.5, 2.0)
#: The lab's conditions each variant runs: finding 1 reads intact, finding 2 compares the two.
ROBUSTNESS_CONDITIONS = (Condition.INTACT, Condition.BLOCK_2_4)


@dataclass(frozen=True)
class Variant:
    """One variant of the training config in the robustness experiment.

    Attributes:
        name: its folder and table name (``baseline``, ``policy_lr_x2``, ...).
        section, field: the training-config field it changes ("" for the baseline, which changes none).
        factor: that field's value relative to the sweep's (1 for the baseline).
    """

    name: str
    section: str = ""
    field: str = ""
    factor: float = 1.0

    @property
    def is_baseline(self) -> bool:
        return not self.field

    @property
    def path(self) -> str:
        """``section.field`` ("" for the baseline)."""
        return f"{self.section}.{self.field}" if self.field else ""

    def condition(self, condition: Condition) -> str:
        """The condition key of the variant's runs of ``condition`` (their folder: ``runs/<key>/seed_SS``)."""
        return run_format.variant_condition(self.name, condition)


def robustness_variants() -> list[Variant]:
    """The baseline, then each field of :data:`ROBUSTNESS_FIELDS` at each factor of
    :data:`ROBUSTNESS_FACTORS` (``policy_lr_x0.5``, ``policy_lr_x2``, ...)."""
    return [Variant("baseline")] + [Variant(f"{field}_x{factor:g}", section, field, factor)
                                    for section, field in ROBUSTNESS_FIELDS for factor in ROBUSTNESS_FACTORS]
