"""The rules of findings 1-4 on synthetic per-seed evaluations: where each must hold, where it must fail
(a tie included), where it cannot be decided, and where it holds by construction (finding 4, circuit v1)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from analysis import figures
from analysis.findings import (
    BARELY,
    EQUIVALENCE_MARGIN,
    NEARLY_DOUBLES,
    Data,
    Finding,
    expert_precue_line,
    finding_1,
    finding_2,
    finding_3,
    finding_4,
    partial_block_lines,
    sessions_to_reach,
)
from analysis.tables import NOISE_OFF, NOISE_ON

SEEDS = [0, 1, 2, 3, 4]
#: Per-seed offsets that are exact in binary, so that planted ties stay exact.
OFFSETS = (0.0, 1 / 64, -1 / 64, 1 / 32, -1 / 32)


def _per_seed(values: float | list[float]) -> list[float]:
    return list(values) if isinstance(values, list) else [values + o for o in OFFSETS]


def evaluation(table: dict[str, dict[int, float | list[float]]], noise: str = NOISE_OFF) -> dict:
    """``{condition: {session: value (plus OFFSETS per seed) or per-seed list}}`` -> Data's evaluation."""
    out: dict = {}
    for condition, sessions in table.items():
        for session, values in sessions.items():
            for seed, value in zip(SEEDS, _per_seed(values), strict=True):
                out.setdefault(condition, {}).setdefault(seed, {}).setdefault(session, {})[noise] = value
    return out


def curve(values: list[float]) -> dict[int, float]:
    """Evaluations after sessions 0, 1, 2, ... (the same per-seed offset at every session)."""
    return dict(enumerate(values))


def data(table: dict, behaviour: dict | None = None) -> Data:
    return Data(SEEDS, {}, {}, evaluation(table), behaviour)


def not_tested(finding: Finding) -> bool:
    """An undecidable finding: the verdict cell says ``not reproduced``, the label says why."""
    return finding.verdict == "not reproduced" and finding.labels == ["not tested"]


# --- finding 1: noise-off success after session 7 / before session 1 -----------------------------------


def test_finding_1_rule_is_printed_with_its_constants():
    f = finding_1(Data(SEEDS, {}, {}), 7)
    assert not_tested(f)
    assert f"{NEARLY_DOUBLES:g}" in f.rule and "noise-off" in f.rule and "after session 7" in f.rule


def test_finding_1_reproduced_when_success_doubles():
    f = finding_1(data({"intact": {0: 0.25, 7: 0.55}}), 7)
    assert f.verdict == "reproduced", f.lines


def test_finding_1_fails_when_the_ratio_is_too_small_though_the_gain_is_significant():
    f = finding_1(data({"intact": {0: 0.3, 7: 0.45}}), 7)  # ratio 1.5
    assert f.verdict == "not reproduced"
    assert any("does not hold" in line and "ratio" in line for line in f.lines)


def test_finding_1_ratio_threshold_is_inclusive_but_a_zero_difference_is_a_tie():
    assert finding_1(data({"intact": {0: 0.25, 7: 0.45}}), 7).verdict == "reproduced"  # ratio 1.8
    assert finding_1(data({"intact": {0: 0.5, 7: 0.5}}), 7).verdict == "not reproduced"  # tie
    # 0 -> 0 in every seed: no ratio, no gain
    assert finding_1(data({"intact": {0: [0.0] * 5, 7: [0.0] * 5}}), 7).verdict == "not reproduced"


def test_finding_1_needs_two_seeds():
    one = Data(SEEDS, {}, {}, {"intact": {0: {0: {NOISE_OFF: 0.2}, 7: {NOISE_OFF: 0.6}}}})
    assert not_tested(finding_1(one, 7))


def test_finding_1_uses_noise_off_and_shows_noise_on_beside():
    table = evaluation({"intact": {0: 0.25, 7: 0.55}})
    noise_on = evaluation({"intact": {0: 0.1, 7: 0.12}}, NOISE_ON)  # noise on barely improves
    for seed in SEEDS:
        for session, cell in noise_on["intact"][seed].items():
            table["intact"][seed].setdefault(session, {}).update(cell)
    f = finding_1(Data(SEEDS, {}, {}, table), 7)
    assert f.verdict == "reproduced"
    assert any(line.startswith("noise on") and "after session 7 0.12" in line
               and "ratio of seed means 1.20" in line for line in f.lines)


# --- finding 2: gain over sessions 2-4 blocked <= 1/4 of intact's -------------------------------------


def test_finding_2_reproduced_when_the_blocked_gain_is_small():
    f = finding_2(data({"intact": {1: 0.2, 4: [0.5, 0.55, 0.45, 0.6, 0.5]},
                        "block_2_4": {1: 0.2, 4: [0.2, 0.21, 0.19, 0.22, 0.2]}}))
    assert f.verdict == "reproduced", f.lines
    assert f"{BARELY:g} x intact" in f.rule


def test_finding_2_fails_when_the_blocked_gain_exceeds_a_quarter():
    f = finding_2(data({"intact": {1: 0.2, 4: [0.5, 0.55, 0.45, 0.6, 0.5]},
                        "block_2_4": {1: 0.2, 4: [0.4, 0.45, 0.35, 0.5, 0.4]}}))
    assert f.verdict == "not reproduced"


def test_finding_2_a_blocked_gain_of_exactly_a_quarter_is_a_tie_and_fails():
    gains = [0.5, 0.25, 0.75, 0.5, 0.25]
    f = finding_2(data({"intact": {1: [0.0] * 5, 4: gains},
                        "block_2_4": {1: [0.0] * 5, 4: [g / 4 for g in gains]}}))
    assert f.verdict == "not reproduced"


def test_finding_2_fails_without_intact_learning():
    f = finding_2(data({"intact": {1: 0.4, 4: 0.4}, "block_2_4": {1: 0.4, 4: 0.3}}))
    assert f.verdict == "not reproduced"


# --- finding 3: learning resumes; extra sessions to reach intact's session-7 level ---------------------

INTACT = [0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.72, 0.74, 0.75]
BLOCKED = [0.2, 0.3, 0.3, 0.3, 0.3, 0.45, 0.55, 0.62, 0.68, 0.72, 0.74]


def test_finding_3_reproduced_when_blocked_agents_catch_up_late():
    d = data({"intact": curve(INTACT), "block_2_4": curve(BLOCKED)})
    target = d.value("intact", NOISE_OFF, 7)
    np.testing.assert_array_equal(sessions_to_reach(d, "intact", target, 10)[0], [7] * 5)
    np.testing.assert_array_equal(sessions_to_reach(d, "block_2_4", target, 10)[0], [9] * 5)
    f = finding_3(d, 7, 10)
    assert f.verdict == "reproduced", f.lines
    assert "10 sessions" in f.rule and "counts as 11" in f.rule


def test_finding_3_no_lag_is_a_tie_and_fails():
    f = finding_3(data({"intact": curve(INTACT), "block_2_4": curve(INTACT)}), 7, 10)
    assert f.verdict == "not reproduced"


def test_finding_3_fails_when_learning_does_not_resume_and_counts_never_as_one_more_session():
    d = data({"intact": curve(INTACT), "block_2_4": curve([0.2, 0.3] + [0.3] * 9)})
    needed, censored = sessions_to_reach(d, "block_2_4", d.value("intact", NOISE_OFF, 7), 10)
    assert censored == 5 and list(needed) == [11] * 5
    f = finding_3(d, 7, 10)
    assert f.verdict == "not reproduced"  # gain over sessions 5-7 is 0: a tie
    assert any("5 seed(s) never reached" in line for line in f.lines)


# --- finding 4: experts keep noise-off success within +-0.05 while their RPE varies -------------------

EXPERT = range(8, 10)


def _rpe(sd: float | list[float]) -> dict:
    return {"expert_block": {seed: {s: {"rpe_sd": v} for s in EXPERT}
                             for seed, v in zip(SEEDS, _per_seed(sd), strict=True)}}


def _expert(change: float | list[float], rpe_sd: float | list[float] = 0.1, fork: bool = True) -> Data:
    changes = _per_seed(change) if isinstance(change, list) else [change] * 5
    start = {7: 0.8} if fork else {}
    table = {"expert_block": {**start, 8: [0.8 + o + c for o, c in zip(OFFSETS, changes, strict=True)],
                              9: [0.8 + o + c for o, c in zip(OFFSETS, changes, strict=True)]},
             "intact": {7: 0.8}}
    return data(table, _rpe(rpe_sd))


def test_finding_4_reproduced_when_success_stays_and_rpe_varies():
    f = finding_4(_expert([0.01, -0.01, 0.0, 0.005, -0.005]), EXPERT, 7)
    assert f.verdict == "reproduced", f.lines
    assert f"{EQUIVALENCE_MARGIN:g}" in f.rule and "mean_delta" in f.rule


def test_finding_4_fails_when_success_drops():
    assert finding_4(_expert(-0.2), EXPERT, 7).verdict == "not reproduced"


def test_finding_4_a_change_exactly_at_the_margin_is_a_tie_and_fails():
    assert finding_4(_expert(-EQUIVALENCE_MARGIN), EXPERT, 7).verdict == "not reproduced"
    assert finding_4(_expert(EQUIVALENCE_MARGIN), EXPERT, 7).verdict == "not reproduced"


def test_finding_4_fails_when_the_rpe_does_not_vary_in_some_seed():
    assert finding_4(_expert(0.0, rpe_sd=[0.0] * 5), EXPERT, 7).verdict == "not reproduced"
    assert finding_4(_expert(0.0, rpe_sd=[0.1, 0.12, 0.11, 0.0, 0.1]), EXPERT, 7).verdict == "not reproduced"


def test_finding_4_takes_intacts_evaluation_at_the_fork_when_the_fork_has_none():
    assert finding_4(_expert(0.0, fork=False), EXPERT, 7).verdict == "reproduced"
    assert not_tested(finding_4(Data(SEEDS, {}, {}), EXPERT, 7))


@pytest.mark.parametrize("circuits, construction",
                         [({1}, True), ({1, 2}, True), ({2}, False), (set(), False)])
def test_finding_4_holds_by_construction_when_nothing_outside_m1_learns(circuits, construction):
    d = _expert([0.01, -0.01, 0.0, 0.005, -0.005])
    f = finding_4(Data(SEEDS, {}, {}, d.evaluation, d.behaviour, frozenset(circuits)), EXPERT, 7)
    assert f.holds  # the rule itself holds either way
    assert f.verdict == ("not reproduced" if construction else "reproduced")
    assert f.labels == (["by construction"] if construction else [])
    assert any(line.startswith("by construction: circuit v1") for line in f.report_lines()) == construction


# --- the rest of the report's behaviour --------------------------------------------------------------


def test_expert_precue_check_and_partial_block_lines():
    behaviour = {"intact": {seed: {10: {"precue_lift": v}} for seed, v in zip(SEEDS, _per_seed(0.1),
                                                                            strict=True)}}
    d = Data(SEEDS, {}, {}, evaluation({"intact": {1: 0.2, 4: 0.5}, "partial_block": {1: 0.2, 4: 0.35},
                                        "block_2_4": {1: 0.2, 4: 0.2}}), behaviour)
    assert "check mean <= 0.15: holds" in expert_precue_line(d, 10)
    assert "not measured" in expert_precue_line(Data(SEEDS, {}, {}), 10)
    lines = partial_block_lines(d)
    assert lines[0].startswith("noise-off gain") and "partial_block 0.15" in lines[0]


def test_learning_curves_draw_both_noise_conditions_without_warnings(tmp_path):
    table = evaluation({"intact": curve(INTACT[:7]), "block_2_4": curve(BLOCKED[:7]),
                        "expert_block": {5: 0.6, 6: 0.6}})
    noise_on = evaluation({"intact": {0: 0.1, 6: 0.3}}, NOISE_ON)
    for seed in SEEDS:
        for session, cell in noise_on["intact"][seed].items():
            table["intact"][seed][session].update(cell)
    d = Data(SEEDS, {"intact": {s: {1: 0.3, 2: 0.4} for s in SEEDS}}, {}, table)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = figures.learning_curves(d, 6, (2, 4), range(6, 7), tmp_path)
    assert all(p.stat().st_size > 1000 for p in paths)


@pytest.mark.parametrize("finding", [finding_1, finding_2, finding_3, finding_4])
def test_findings_1_to_4_are_not_tested_without_evaluations(finding):
    args = {finding_1: (7,), finding_2: (), finding_3: (7, 10), finding_4: (EXPERT, 7)}[finding]
    d = Data(SEEDS, {"intact": {s: {1: 0.2, 7: 0.6} for s in SEEDS}}, {})  # training trials only
    assert not_tested(finding(d, *args))
