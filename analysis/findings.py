"""The findings of shared/SCIENCE.md, each measured across seeds with a test and a verdict.

Every finding is decided by a rule written down here and printed in the report beside its numbers:
a directional claim ("improves", "is lower") needs a one-sided paired t-test across seeds with
p < ``ALPHA``; "does not reduce" is a non-inferiority test with a stated margin; "stays about the
same" needs the 95 % CI of the change inside a stated band. A finding whose statistic cannot be computed
(too few seeds, a metric that is NaN) is "not tested", never "reproduced".

Sessions are the protocol's (1-based). ``last`` is the lab's final training session (7 by default:
``AblationConfig.expert_after``); ``intact``, ``block_2_4`` and ``partial_block`` run longer to follow
the catch-up, and the expert conditions continue ``intact`` from session ``last + 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from analysis.statistics import format_p, mean_ci, non_inferiority_p, paired

ALPHA = 0.05
#: Largest loss of success rate (absolute) that still counts as "performance not reduced" (finding 4).
NON_INFERIORITY_MARGIN = 0.10
#: Band within which a relative change of mean activity counts as "about the same" (finding 5).
STABLE_RELATIVE_BAND = 0.20
#: Band within which a change of mean correlation counts as "about the same" (finding 5).
STABLE_CORRELATION_BAND = 0.05
#: Success ratio (last / first session) that counts as "nearly doubles" (finding 1).
NEARLY_DOUBLES = 1.5
#: Smallest success loss under thalamic silencing that counts as an impairment (finding 9).
IMPAIRMENT = 0.10


@dataclass
class Finding:
    """One numbered finding: what was measured, the statistics, and the verdict."""

    number: int
    claim: str
    rule: str
    lines: list[str] = field(default_factory=list)
    verdict: str = "not tested"

    def decide(self, *conditions: bool | None) -> None:
        """Reproduced if every condition holds; not tested if any is undecidable (None)."""
        if any(c is None for c in conditions):
            self.verdict = "not tested"
        else:
            self.verdict = "reproduced" if all(conditions) else "not reproduced"


class Data:
    """Per-seed values: ``value(condition, metric, session)`` -> array over seeds (NaN if missing).

    Args:
        seeds: the seeds, in the order every array follows.
        success: ``{condition: {seed: {session: success rate}}}``.
        neural: ``{condition: {seed: {session: {metric: value}}}}``.
    """

    def __init__(self, seeds: list[int], success: dict, neural: dict):
        self.seeds = seeds
        self.success = success
        self.neural = neural

    def value(self, condition: str, metric: str, session: int) -> np.ndarray:
        if metric == "success":
            table = self.success.get(condition, {})
            return np.array([table.get(s, {}).get(session, math.nan) for s in self.seeds], dtype=float)
        table = self.neural.get(condition, {})
        return np.array([table.get(s, {}).get(session, {}).get(metric, math.nan) for s in self.seeds],
                        dtype=float)

    def mean_over(self, condition: str, metric: str, sessions: range) -> np.ndarray:
        stack = np.array([self.value(condition, metric, s) for s in sessions])
        if not np.isfinite(stack).any():
            return np.full(len(self.seeds), math.nan)
        return nanmean(stack, axis=0)


def nanmean(x: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """np.nanmean without its "Mean of empty slice" warning: the mean of no values (a seed whose runs all
    failed, a condition not run) is NaN, silently."""
    present = ~np.isnan(x)
    with np.errstate(invalid="ignore"):  # 0 / 0
        return np.where(present, x, 0.0).sum(axis=axis) / present.sum(axis=axis)


def span(sessions: range) -> str:
    """``"session 8"`` or ``"sessions 8-9"``."""
    first, last = sessions.start, sessions.stop - 1
    return f"session {first}" if first == last else f"sessions {first}-{last}"


def _greater(a: np.ndarray, b: np.ndarray) -> tuple[bool | None, str]:
    """Is ``a`` > ``b`` across seeds (one-sided paired t-test)? Returns (decision, formatted statistics)."""
    test = paired(a, b)
    if test.difference.n < 2 or math.isnan(test.p_greater):
        return None, f"{test.difference.format()} (too few seeds for a test)"
    return test.p_greater < ALPHA, f"{test.format()}, one-sided p {format_p(test.p_greater)}"


def _fmt(values: np.ndarray, digits: int = 2) -> str:
    return mean_ci(values).format(digits)


def finding_1(d: Data, last: int) -> Finding:
    f = Finding(1, "Intact agents improve steadily; success nearly doubles from session 1 to the last "
                   "session.",
                f"intact success in session {last} > session 1 (one-sided paired t, p < {ALPHA}) and mean "
                f"per-seed ratio >= {NEARLY_DOUBLES}")
    first, final = d.value("intact", "success", 1), d.value("intact", "success", last)
    better, text = _greater(final, first)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(first > 0, final / first, np.nan)
    ratio_ci = mean_ci(ratio)
    f.lines = [f"success session 1: {_fmt(first)}; session {last}: {_fmt(final)}",
               f"session {last} - session 1: {text}",
               f"ratio session {last} / session 1 (per seed): {ratio_ci.format()}"]
    f.decide(better, None if math.isnan(ratio_ci.mean) else ratio_ci.mean >= NEARLY_DOUBLES)
    return f


def finding_2(d: Data) -> Finding:
    f = Finding(2, "With M1 dopamine blocked in sessions 2-4, success barely improves during those sessions.",
                "gain (session 4 - session 1) larger in intact than in block_2_4 (one-sided paired t, "
                f"p < {ALPHA}) and block_2_4's mean gain at most half of intact's")
    gain_intact = d.value("intact", "success", 4) - d.value("intact", "success", 1)
    gain_block = d.value("block_2_4", "success", 4) - d.value("block_2_4", "success", 1)
    larger, text = _greater(gain_intact, gain_block)
    f.lines = [f"gain sessions 1->4, intact: {_fmt(gain_intact)}; block_2_4: {_fmt(gain_block)}",
               f"intact gain - block gain: {text}"]
    mean_i, mean_b = nanmean(gain_intact), nanmean(gain_block)
    small = None if not np.isfinite([mean_i, mean_b]).all() else bool(mean_b <= 0.5 * max(mean_i, 0.0))
    f.decide(larger, small)
    return f


def finding_3(d: Data, last: int, sessions: int) -> Finding:
    f = Finding(3, "After the block is lifted learning resumes, but blocked agents need extra sessions to "
                   "reach the intact level.",
                f"block_2_4 success in session {sessions} > session 4 (learning resumes) and intact > "
                "block_2_4 "
                f"in session 5 (lag), both one-sided paired t, p < {ALPHA}")
    resumes, resume_text = _greater(d.value("block_2_4", "success", sessions),
                                    d.value("block_2_4", "success", 4))
    lags, lag_text = _greater(d.value("intact", "success", 5), d.value("block_2_4", "success", 5))
    target = d.value("intact", "success", last)
    extra = []
    for i, level in enumerate(target):
        reached = [s for s in range(5, sessions + 1) if d.value("block_2_4", "success", s)[i] >= level]
        extra.append(reached[0] - last if reached else math.nan)
    never = int(np.sum(np.isnan(extra) & np.isfinite(target)))
    f.lines = [f"block_2_4 session {sessions} - session 4: {resume_text}",
               f"intact - block_2_4 in session 5: {lag_text}",
               f"sessions after {last} until block_2_4 first reaches intact's session-{last} level: "
               f"{_fmt(np.array(extra), 1)} ({never} seed(s) never reached it by session {sessions})"]
    f.decide(resumes, lags)
    return f


def finding_4(d: Data, expert: range, last: int) -> Finding:
    f = Finding(4, "Blocking dopamine in experts does not reduce their performance.",
                f"expert_block success over {span(expert)} not lower than "
                "intact's "
                f"same sessions by {NON_INFERIORITY_MARGIN:g} or more (non-inferiority, one-sided paired t, "
                f"p < {ALPHA})")
    blocked = d.mean_over("expert_block", "success", expert)
    intact = d.mean_over("intact", "success", expert)
    diff = blocked - intact
    p = non_inferiority_p(diff, NON_INFERIORITY_MARGIN)
    test = paired(blocked, intact)
    f.lines = [f"success in {span(expert)}: intact {_fmt(intact)}, expert_block "
               f"{_fmt(blocked)} (intact session {last}: {_fmt(d.value('intact', 'success', last))})",
               f"expert_block - intact: {test.format()}",
               f"non-inferiority (margin {NON_INFERIORITY_MARGIN:g}): p {format_p(p)}"]
    f.decide(None if math.isnan(p) else p < ALPHA)
    return f


def finding_5(d: Data, last: int) -> Finding:
    f = Finding(5, "Mean activity and mean correlation stay about the same across sessions while the "
                   "correlation "
                   "structure converges to the expert configuration; with dopamine blocked the "
                   "reorganisation "
                   "stops.",
                f"intact: 95 % CI of the relative change of mean activity (session {last} vs 1) within "
                f"+-{STABLE_RELATIVE_BAND:g} and of the change of mean correlation within "
                f"+-{STABLE_CORRELATION_BAND:g}; Riemannian distance to session {last} smaller in session "
                f"{last - 1} than in session 1; and that distance falls more over sessions 1->4 in intact "
                "than in "
                f"block_2_4 (one-sided paired t, p < {ALPHA})")
    act1, actL = d.value("intact", "mean_activity", 1), d.value("intact", "mean_activity", last)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = (actL - act1) / act1
    corr_change = d.value("intact", "mean_correlation", last) - d.value("intact", "mean_correlation", 1)
    rel_ci, corr_ci = mean_ci(relative), mean_ci(corr_change)
    stable_activity = None if rel_ci.n < 2 else bool(-STABLE_RELATIVE_BAND <= rel_ci.low
                                                      and rel_ci.high <= STABLE_RELATIVE_BAND)
    stable_corr = None if corr_ci.n < 2 else bool(-STABLE_CORRELATION_BAND <= corr_ci.low
                                                  and corr_ci.high <= STABLE_CORRELATION_BAND)
    converges, conv_text = _greater(d.value("intact", "distance_to_expert", 1),
                                    d.value("intact", "distance_to_expert", last - 1))
    drop_intact = d.value("intact", "distance_to_expert", 1) - d.value("intact", "distance_to_expert", 4)
    drop_block = d.value("block_2_4", "distance_to_expert", 1) - d.value("block_2_4", "distance_to_expert", 4)
    stops, stop_text = _greater(drop_intact, drop_block)
    _, p_text = _greater(d.value("intact", "p_expert", 4), d.value("block_2_4", "p_expert", 4))
    f.lines = [f"mean activity, relative change session 1->{last}: {rel_ci.format()}",
               f"mean correlation, change session 1->{last}: {corr_ci.format(3)}",
               f"distance to session {last}: session 1 {_fmt(d.value('intact', 'distance_to_expert', 1))}, "
               f"session {last - 1} {_fmt(d.value('intact', 'distance_to_expert', last - 1))}; "
               f"session 1 - session {last - 1}: {conv_text}",
               f"fall of that distance over sessions 1->4, intact {_fmt(drop_intact)}, block_2_4 "
               f"{_fmt(drop_block)}; intact - block_2_4: {stop_text}",
               f"probability of expert in session 4, intact {_fmt(d.value('intact', 'p_expert', 4))}, "
               "block_2_4 "
               f"{_fmt(d.value('block_2_4', 'p_expert', 4))}; intact - block_2_4: {p_text}"]
    f.decide(stable_activity, stable_corr, converges, stops)
    return f


def finding_6(d: Data, last: int) -> Finding:
    f = Finding(6, "Early, units respond mainly to the cue, experts mainly to the outcome; indicative units "
                   "appear during learning and only with dopamine.",
                "intact: cue-outcome index (f_outcome - f_cue)/(f_outcome + f_cue) higher in session "
                f"{last} than "
                f"1, indicative fraction higher in session {last} than 1, and intact's indicative fraction "
                "above "
                f"block_2_4's in session 4 (all one-sided paired t, p < {ALPHA})")
    shift, shift_text = _greater(d.value("intact", "cue_outcome_index", last),
                                 d.value("intact", "cue_outcome_index", 1))
    grows, grow_text = _greater(d.value("intact", "indicative_fraction", last),
                                d.value("intact", "indicative_fraction", 1))
    needs_da, da_text = _greater(d.value("intact", "indicative_fraction", 4),
                                 d.value("block_2_4", "indicative_fraction", 4))
    f.lines = [f"cue-outcome index, session 1: {_fmt(d.value('intact', 'cue_outcome_index', 1))}, session "
               f"{last}: {_fmt(d.value('intact', 'cue_outcome_index', last))}; difference: {shift_text}",
               f"indicative fraction, session 1: {_fmt(d.value('intact', 'indicative_fraction', 1))}, "
               "session "
               f"{last}: {_fmt(d.value('intact', 'indicative_fraction', last))} (shuffled labels: "
               f"{_fmt(d.value('intact', 'indicative_fraction_shuffled', last))}); difference: {grow_text}",
               "indicative fraction in session 4, intact "
               f"{_fmt(d.value('intact', 'indicative_fraction', 4))}, "
               f"block_2_4 {_fmt(d.value('block_2_4', 'indicative_fraction', 4))}; difference: {da_text}"]
    f.decide(shift, grows, needs_da)
    return f


def finding_7(d: Data, last: int) -> Finding:
    f = Finding(7, "After learning the thalamic input is the input to M1 that best encodes the learned "
                   "movement, "
                   "and its movement-related input comes earlier.",
                f"intact, session {last}: cross-validated R^2 of the motor command from thalamic input "
                "currents > "
                "from recurrent input currents, and the lead of the thalamic drive onto movement units "
                "before lift "
                f"larger in session {last} than in session 1 (one-sided paired t, p < {ALPHA})")
    best, best_text = _greater(d.value("intact", "th_movement_r2", last),
                               d.value("intact", "rec_movement_r2", last))
    earlier, lead_text = _greater(d.value("intact", "th_input_lead_s", last),
                                  d.value("intact", "th_input_lead_s", 1))
    f.lines = [f"R^2 session {last}: thalamic {_fmt(d.value('intact', 'th_movement_r2', last))}, recurrent "
               f"{_fmt(d.value('intact', 'rec_movement_r2', last))}; thalamic - recurrent: {best_text}",
               "thalamic lead before lift (s), session 1: "
               f"{_fmt(d.value('intact', 'th_input_lead_s', 1), 3)}, "
               f"session {last}: {_fmt(d.value('intact', 'th_input_lead_s', last), 3)}; difference: "
               f"{lead_text}"]
    f.decide(best, earlier)
    return f


def finding_8(d: Data, last: int) -> Finding:
    f = Finding(8, "Learning makes the thalamic input recruit more movement-encoding units and fewer others.",
                f"intact: fraction of Th-excited units that are movement units higher in session {last} "
                "than in "
                f"session 1 (one-sided paired t, p < {ALPHA})")
    grows, text = _greater(d.value("intact", "th_movement_overlap", last),
                           d.value("intact", "th_movement_overlap", 1))
    f.lines = [f"Th-excited units that encode movement, session 1: "
               f"{_fmt(d.value('intact', 'th_movement_overlap', 1))}, session {last}: "
               f"{_fmt(d.value('intact', 'th_movement_overlap', last))}; difference: {text}"]
    f.decide(grows)
    return f


def finding_9(d: Data, expert: range) -> Finding:
    f = Finding(9, "Silencing the thalamic input in experts impairs the learned movement, unlike silencing "
                   "dopamine (double dissociation).",
                f"intact > expert_thalamus_block over {span(expert)} by at least "
                f"{IMPAIRMENT:g} on average, and expert_block > expert_thalamus_block (one-sided paired t, "
                f"p < {ALPHA})")
    intact = d.mean_over("intact", "success", expert)
    thalamus = d.mean_over("expert_thalamus_block", "success", expert)
    dopamine = d.mean_over("expert_block", "success", expert)
    impaired, text = _greater(intact, thalamus)
    dissociated, dis_text = _greater(dopamine, thalamus)
    loss = mean_ci(intact - thalamus)
    f.lines = [f"success in {span(expert)}: intact {_fmt(intact)}, expert_block "
               f"{_fmt(dopamine)}, expert_thalamus_block {_fmt(thalamus)}",
               f"intact - expert_thalamus_block: {text}",
               f"expert_block - expert_thalamus_block: {dis_text}"]
    large = None if math.isnan(loss.mean) else loss.mean >= IMPAIRMENT
    f.decide(impaired, large, dissociated)
    return f


def partial_block_lines(d: Data) -> list[str]:
    """Beyond the lab: where a partial block's learning during sessions 2-4 falls."""
    gains = {c: d.value(c, "success", 4) - d.value(c, "success", 1)
             for c in ("intact", "partial_block", "block_2_4")}
    _, above_block = _greater(gains["partial_block"], gains["block_2_4"])
    _, below_intact = _greater(gains["intact"], gains["partial_block"])
    return [f"gain sessions 1->4: intact {_fmt(gains['intact'])}, partial_block "
            f"{_fmt(gains['partial_block'])}, "
            f"block_2_4 {_fmt(gains['block_2_4'])}",
            f"partial_block - block_2_4: {above_block}",
            f"intact - partial_block: {below_intact}"]


def all_findings(d: Data, last: int, sessions: int, expert: range) -> list[Finding]:
    """Findings 1-9 of shared/SCIENCE.md, in order."""
    return [finding_1(d, last), finding_2(d), finding_3(d, last, sessions), finding_4(d, expert, last),
            finding_5(d, last), finding_6(d, last), finding_7(d, last), finding_8(d, last),
            finding_9(d, expert)]
