"""The findings of shared/SCIENCE.md, each measured across seeds with a test and a verdict.

Every finding is decided by a rule written down here and printed in the report beside its numbers.

Findings 1-4 (behaviour) follow the lab's words; their primary measure is the success of the mean policy
(exploration noise off) on the held-out evaluation trials (``evaluation.csv``; "after session s" is the
evaluation with ``session == s``, "before session 1" the one with ``session == 0``), and the report shows
the noise-on evaluations and the training trials beside it. Each is reproduced only if its rule holds
with the 95 % Student-t CI across seeds excluding the null: the bound must be strictly beyond it (a bound
within ``TIE`` of the null is a tie, and ties fail).

Findings 5-9: a directional claim ("improves", "is lower") needs a one-sided paired t-test across seeds
with p < ``ALPHA``; "stays about the same" needs the 95 % CI of the change inside a stated band.

A finding whose statistic cannot be computed (too few seeds, a metric that is NaN) is "not tested",
never "reproduced".

Sessions are the protocol's (1-based). ``last`` is the lab's final training session (7 by default:
``AblationConfig.expert_after``); ``intact``, ``block_2_4`` and ``partial_block`` run longer to follow
the catch-up, and the expert conditions continue ``intact`` from session ``last + 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from analysis.statistics import Estimate, format_p, mean_ci, paired
from analysis.tables import NOISE_OFF, NOISE_ON

ALPHA = 0.05
#: A CI bound within this of the null is a tie (float rounding of equal success rates), and fails.
TIE = 1e-9
#: Ratio of seed means, noise-off success after session ``last`` / before session 1, that counts as
#: "nearly doubles" (finding 1).
NEARLY_DOUBLES = 1.8
#: Largest fraction of intact's gain over sessions 2-4 that the blocked agents' gain may reach for
#: "barely improves" (finding 2).
BARELY = 0.25
#: Equivalence margin (absolute success rate) of "does not reduce their performance" (finding 4).
EQUIVALENCE_MARGIN = 0.05
#: Band within which a relative change of mean activity counts as "about the same" (finding 5).
STABLE_RELATIVE_BAND = 0.20
#: Band within which a change of mean correlation counts as "about the same" (finding 5).
STABLE_CORRELATION_BAND = 0.05
#: Smallest success loss under thalamic silencing that counts as an impairment (finding 9).
IMPAIRMENT = 0.10
#: Largest rate of pre-cue lifts of experts (intact, last session): "experts lift before the cue in
#: at most 15 % of trials".
EXPERT_PRECUE_LIFT = 0.15


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
        success: ``{condition: {seed: {session: success rate}}}`` of the training trials (metric
            ``"success"``).
        neural: ``{condition: {seed: {session: {metric: value}}}}``.
        evaluation: the same for the held-out evaluations after ``session`` sessions (metrics
            ``"success_noise_off"``, ``"success_noise_on"``; session 0: before session 1).
        behaviour: the same for per-session trial statistics (``"precue_lift"``, ``"rpe_sd"``).
    """

    def __init__(self, seeds: list[int], success: dict, neural: dict, evaluation: dict | None = None,
                 behaviour: dict | None = None):
        self.seeds = seeds
        self.success = success
        self.neural = neural
        self.evaluation = evaluation or {}
        self.behaviour = behaviour or {}

    def _table(self, metric: str) -> dict:
        if metric in (NOISE_OFF, NOISE_ON):
            return self.evaluation
        if metric in ("precue_lift", "rpe_sd"):
            return self.behaviour
        return self.neural

    def value(self, condition: str, metric: str, session: int) -> np.ndarray:
        if metric == "success":
            table = self.success.get(condition, {})
            return np.array([table.get(s, {}).get(session, math.nan) for s in self.seeds], dtype=float)
        table = self._table(metric).get(condition, {})
        return np.array([table.get(s, {}).get(session, {}).get(metric, math.nan) for s in self.seeds],
                        dtype=float)

    def sessions(self, condition: str, metric: str) -> list[int]:
        """Sessions at which ``metric`` of ``condition`` has a value for some seed."""
        if metric == "success":
            return sorted({s for sessions in self.success.get(condition, {}).values() for s in sessions})
        table = self._table(metric).get(condition, {})
        return sorted({s for sessions in table.values() for s, cell in sessions.items() if metric in cell})

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


def ci_above(values: np.ndarray, null: float = 0.0) -> tuple[bool | None, Estimate]:
    """Does the 95 % CI across seeds of ``values`` lie strictly above ``null`` (its lower bound more than
    ``TIE`` above it)? None (undecidable) with fewer than 2 seeds."""
    estimate = mean_ci(values)
    if estimate.n < 2 or math.isnan(estimate.low):
        return None, estimate
    return bool(estimate.low > null + TIE), estimate


def ci_inside(values: np.ndarray, margin: float) -> tuple[bool | None, Estimate]:
    """Does the 95 % CI across seeds of ``values`` lie strictly inside (-margin, +margin) (equivalence;
    a bound within ``TIE`` of the margin is a tie and fails)? None with fewer than 2 seeds."""
    estimate = mean_ci(values)
    if estimate.n < 2 or math.isnan(estimate.low):
        return None, estimate
    return bool(-margin + TIE < estimate.low and estimate.high < margin - TIE), estimate


def _fmt(values: np.ndarray, digits: int = 2) -> str:
    return mean_ci(values).format(digits)


def _holds(decision: bool | None) -> str:
    return {None: "undecidable", True: "holds", False: "does not hold"}[decision]


def _noise_on(d: Data, conditions: tuple[str, ...], sessions: tuple[int, ...]) -> str:
    """Beside the primary measure: the noise-on evaluations at ``sessions`` (0: before session 1), per
    condition, where the runs have them."""
    parts = []
    for condition in conditions:
        have = set(d.sessions(condition, NOISE_ON))
        points = [f"after session {s} {_fmt(d.value(condition, NOISE_ON, s))}" if s else
                  f"before session 1 {_fmt(d.value(condition, NOISE_ON, s))}"
                  for s in sessions if s in have]
        parts.append(f"{condition} {'; '.join(points) if points else 'not measured'}")
    return "noise on (beside): " + " | ".join(parts)


def _ratio_of_means(before: np.ndarray, after: np.ndarray) -> float:
    """Mean after / mean before over the seeds with both (inf when only the mean before is 0)."""
    both = np.isfinite(before) & np.isfinite(after)
    if not both.any():
        return math.nan
    mean_before, mean_after = float(before[both].mean()), float(after[both].mean())
    if mean_before > 0:
        return mean_after / mean_before
    return math.inf if mean_after > 0 else math.nan


def finding_1(d: Data, last: int) -> Finding:
    f = Finding(1, "Intact agents improve steadily; success nearly doubles from before session 1 to after "
                   f"session {last}.",
                f"intact, noise-off held-out success after session {last} (evaluation session {last}) and "
                "before session 1 (evaluation session 0), over the seeds with both: the ratio of the seed "
                f"means >= {NEARLY_DOUBLES:g} (inclusive), and the 95 % CI across seeds of the paired "
                f"difference (after {last} - before 1) > 0")
    before, after = d.value("intact", NOISE_OFF, 0), d.value("intact", NOISE_OFF, last)
    both = np.isfinite(before) & np.isfinite(after)
    up, _ = ci_above(after - before)
    ratio, doubles = math.nan, None
    if both.any():
        mean_before, mean_after = float(before[both].mean()), float(after[both].mean())
        if mean_before > 0:
            ratio = mean_after / mean_before
        elif mean_after > 0:
            ratio = math.inf
        doubles = bool(ratio >= NEARLY_DOUBLES - TIE)  # inclusive, as the lab's ">="; NaN (0 / 0): False
    f.lines = [f"noise off (primary): before session 1 {_fmt(before)}; after session {last} {_fmt(after)}",
               f"ratio of seed means {ratio:.2f} (>= {NEARLY_DOUBLES:g}: {_holds(doubles)}); after {last} - "
               f"before 1: {paired(after, before).format()} (CI > 0: {_holds(up)})",
               _noise_on(d, ("intact",), (0, last)) + ", ratio of seed means "
               f"{_ratio_of_means(d.value('intact', NOISE_ON, 0), d.value('intact', NOISE_ON, last)):.2f}",
               f"training trials (exploration noise on, while learning): session 1 "
               f"{_fmt(d.value('intact', 'success', 1))}, session {last} "
               f"{_fmt(d.value('intact', 'success', last))}"]
    f.decide(up, doubles)
    return f


def _gain(d: Data, condition: str, metric: str, first: int, last: int) -> np.ndarray:
    return d.value(condition, metric, last) - d.value(condition, metric, first)


def finding_2(d: Data) -> Finding:
    f = Finding(2, "With M1 dopamine blocked in sessions 2-4, success barely improves during those sessions.",
                "noise-off held-out success; gain over sessions 2-4 = after session 4 - after session 1, "
                "per seed: the 95 % CI across seeds of intact's gain > 0 (there is learning to block), and "
                f"of ({BARELY:g} x intact's gain - block_2_4's gain), paired by seed, > 0 (block_2_4 gains "
                f"at most {BARELY:g} of intact's)")
    gain_intact = _gain(d, "intact", NOISE_OFF, 1, 4)
    gain_block = _gain(d, "block_2_4", NOISE_OFF, 1, 4)
    learns, intact_ci = ci_above(gain_intact)
    barely, margin_ci = ci_above(BARELY * gain_intact - gain_block)
    f.lines = [f"noise off (primary), gain sessions 2-4: intact {intact_ci.format()} (CI > 0: "
               f"{_holds(learns)}); block_2_4 {_fmt(gain_block)}",
               f"{BARELY:g} x intact gain - block_2_4 gain: {margin_ci.format()} (CI > 0: {_holds(barely)})",
               _noise_on(d, ("intact", "block_2_4"), (1, 4)),
               "training trials (exploration noise on, while learning), session 4 - session 1: intact "
               f"{_fmt(_gain(d, 'intact', 'success', 1, 4))}, block_2_4 "
               f"{_fmt(_gain(d, 'block_2_4', 'success', 1, 4))}"]
    f.decide(learns, barely)
    return f


def sessions_to_reach(d: Data, condition: str, target: np.ndarray, sessions: int) -> tuple[np.ndarray, int]:
    """Per seed, the first evaluation session ``s`` in 0..``sessions`` at which ``condition``'s noise-off
    success is >= ``target`` (per seed); ``sessions + 1`` if it never is (censored: the true need is
    larger); NaN where the target or the run is missing. Returns (values, censored seeds)."""
    series = np.array([d.value(condition, NOISE_OFF, s) for s in range(sessions + 1)])  # (sessions+1, seeds)
    needed = np.full(len(d.seeds), math.nan)
    censored = 0
    for i, level in enumerate(target):
        values = series[:, i]
        if math.isnan(level) or not np.isfinite(values).any():
            continue
        reached = np.flatnonzero(np.isfinite(values) & (values >= level))
        if reached.size:
            needed[i] = float(reached[0])
        else:
            needed[i], censored = float(sessions + 1), censored + 1
    return needed, censored


def finding_3(d: Data, last: int, sessions: int) -> Finding:
    f = Finding(3, "After the block is lifted learning resumes, but blocked agents need extra sessions to "
                   "reach the intact level.",
                f"both cohorts run {sessions} sessions (the lab ran 10); noise-off held-out success. "
                "Learning resumes: the 95 % CI across seeds of block_2_4's gain over sessions "
                f"5-{last} (after session {last} - after session 4) > 0. Extra sessions: per seed, "
                f"sessions needed = the first evaluation session s in 0..{sessions} whose success >= "
                f"intact's after session {last} (a seed that never reaches it counts as {sessions + 1}, "
                "which can only shrink the difference); the 95 % CI across seeds of block_2_4's minus "
                "intact's sessions needed, paired by seed, > 0")
    resumes, resume_ci = ci_above(_gain(d, "block_2_4", NOISE_OFF, 4, last))
    target = d.value("intact", NOISE_OFF, last)
    need_intact, _ = sessions_to_reach(d, "intact", target, sessions)
    need_block, censored = sessions_to_reach(d, "block_2_4", target, sessions)
    lags, lag_ci = ci_above(need_block - need_intact)
    f.lines = [f"noise off (primary): block_2_4 after session 4 {_fmt(d.value('block_2_4', NOISE_OFF, 4))}, "
               f"after session {last} {_fmt(d.value('block_2_4', NOISE_OFF, last))}; gain sessions "
               f"5-{last}: {resume_ci.format()} (CI > 0: {_holds(resumes)})",
               f"sessions needed to reach intact's session-{last} level {_fmt(target)}: intact "
               f"{_fmt(need_intact, 1)}, block_2_4 {_fmt(need_block, 1)} ({censored} seed(s) never reached "
               f"it by session {sessions}, counted as {sessions + 1}); block_2_4 - intact "
               f"{lag_ci.format(1)} (CI > 0: {_holds(lags)})",
               _noise_on(d, ("intact", "block_2_4"), (4, last)),
               f"training trials (exploration noise on, while learning): block_2_4 session 4 "
               f"{_fmt(d.value('block_2_4', 'success', 4))}, session {last} "
               f"{_fmt(d.value('block_2_4', 'success', last))}; session 5 intact "
               f"{_fmt(d.value('intact', 'success', 5))}, block_2_4 "
               f"{_fmt(d.value('block_2_4', 'success', 5))}"]
    f.decide(resumes, lags)
    return f


def finding_4(d: Data, expert: range, last: int) -> Finding:
    f = Finding(4, "Blocking dopamine in experts does not reduce their performance, while their reward "
                   "prediction error still varies.",
                f"expert_block (M1 dopamine blocked in {span(expert)} after {last} intact sessions): the "
                "95 % CI across seeds of its noise-off held-out success averaged over the evaluations "
                f"after the blocked sessions minus its success at the fork (after session {last}) lies "
                f"inside (-{EQUIVALENCE_MARGIN:g}, +{EQUIVALENCE_MARGIN:g}) (equivalence); and the RPE still "
                "varies: per seed, the standard deviation across trials of mean_delta (each trial's mean TD "
                "error, episodes.csv) within each blocked session, averaged over those sessions, is > 0 for "
                "every seed, with its 95 % CI across seeds > 0")
    blocked = d.mean_over("expert_block", NOISE_OFF, expert)
    fork = d.value("expert_block", NOISE_OFF, last)
    # The fork evaluates its starting state; intact's evaluation there is the same network on the same trials.
    fork = np.where(np.isfinite(fork), fork, d.value("intact", NOISE_OFF, last))
    stable, change = ci_inside(blocked - fork, EQUIVALENCE_MARGIN)
    spread = d.mean_over("expert_block", "rpe_sd", expert)
    varies, spread_ci = ci_above(spread)
    present = spread[np.isfinite(spread)]
    if varies is not None:
        varies = varies and bool(np.all(present > 0))
    f.lines = [f"noise off (primary): expert_block at the fork (after session {last}) {_fmt(fork)}, "
               f"averaged over the evaluations after {span(expert)} {_fmt(blocked)} (intact there: "
               f"{_fmt(d.mean_over('intact', NOISE_OFF, expert))})",
               f"change: {change.format(3)} (inside +-{EQUIVALENCE_MARGIN:g}: {_holds(stable)})",
               f"SD across trials of mean_delta in {span(expert)}: {spread_ci.format(4)}, smallest seed "
               f"{float(present.min()) if present.size else math.nan:.4g} (varies: {_holds(varies)})",
               _noise_on(d, ("intact", "expert_block"), (last, expert[-1])),
               f"training trials (exploration noise on) in {span(expert)}: intact "
               f"{_fmt(d.mean_over('intact', 'success', expert))}, expert_block "
               f"{_fmt(d.mean_over('expert_block', 'success', expert))}"]
    f.decide(stable, varies)
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
                f"success of the training trials (episodes.csv; the held-out evaluations run with the "
                f"thalamus intact, so they cannot see the silencing): intact > expert_thalamus_block over "
                f"{span(expert)} by at least {IMPAIRMENT:g} on average, and expert_block > "
                f"expert_thalamus_block (one-sided paired t, p < {ALPHA})")
    intact = d.mean_over("intact", "success", expert)
    thalamus = d.mean_over("expert_thalamus_block", "success", expert)
    dopamine = d.mean_over("expert_block", "success", expert)
    impaired, text = _greater(intact, thalamus)
    dissociated, dis_text = _greater(dopamine, thalamus)
    loss = mean_ci(intact - thalamus)
    f.lines = [f"training-trial success in {span(expert)}: intact {_fmt(intact)}, expert_block "
               f"{_fmt(dopamine)}, expert_thalamus_block {_fmt(thalamus)}",
               f"intact - expert_thalamus_block: {text}",
               f"expert_block - expert_thalamus_block: {dis_text}"]
    large = None if math.isnan(loss.mean) else loss.mean >= IMPAIRMENT
    f.decide(impaired, large, dissociated)
    return f


def partial_block_lines(d: Data) -> list[str]:
    """Beyond the lab: where a partial block's learning during sessions 2-4 falls (noise-off held-out
    success after session 4 - after session 1; the training trials beside it)."""
    conditions = ("intact", "partial_block", "block_2_4")
    gains = {c: _gain(d, c, NOISE_OFF, 1, 4) for c in conditions}
    _, above_block = _greater(gains["partial_block"], gains["block_2_4"])
    _, below_intact = _greater(gains["intact"], gains["partial_block"])
    trained = {c: _gain(d, c, "success", 1, 4) for c in conditions}
    return [f"noise-off gain sessions 2-4 (after 4 - after 1): intact {_fmt(gains['intact'])}, partial_block "
            f"{_fmt(gains['partial_block'])}, block_2_4 {_fmt(gains['block_2_4'])}",
            f"partial_block - block_2_4: {above_block}",
            f"intact - partial_block: {below_intact}",
            "training trials (exploration noise on), session 4 - session 1: "
            + ", ".join(f"{c} {_fmt(trained[c])}" for c in conditions)]


def expert_precue_line(d: Data, sessions: int) -> str:
    """The check of "experts lift before the cue in at most 15 % of trials" (not a numbered finding):
    intact's pre-cue lift rate in its last session, mean across seeds."""
    rate = mean_ci(d.value("intact", "precue_lift", sessions))
    if rate.n == 0:
        return (f"Experts' pre-cue lifts (intact, session {sessions}): not measured (no precue_lift column "
                "in the runs' episodes.csv).")
    holds = rate.mean <= EXPERT_PRECUE_LIFT
    return (f"Experts' pre-cue lifts (intact, session {sessions}, rate of trials whose paw lifted at or "
            f"before the cue onset): {rate.format()} across seeds; check mean <= {EXPERT_PRECUE_LIFT:g}: "
            f"{'holds' if holds else 'does not hold'}.")


def all_findings(d: Data, last: int, sessions: int, expert: range) -> list[Finding]:
    """Findings 1-9 of shared/SCIENCE.md, in order."""
    return [finding_1(d, last), finding_2(d), finding_3(d, last, sessions), finding_4(d, expert, last),
            finding_5(d, last), finding_6(d, last), finding_7(d, last), finding_8(d, last),
            finding_9(d, expert)]
