"""The findings of shared/SCIENCE.md, each measured across seeds with a test and a verdict.

Every finding is decided by a rule written down here, before any result is seen, and printed in the report
beside its numbers. The verdict is ``reproduced`` or ``not reproduced``; labels say more: "not tested" (a
statistic could not be computed: too few seeds, a metric that is NaN, an evaluation that did not run as
the rule needs), "by construction" (the runs' circuit makes the claim true whatever is learned: it does not
count as reproduced), "marginal" (every test would pass on its own p but one fails after the Holm
correction).

Findings 1-4 (behaviour) follow the lab's words; their primary measure is the success of the mean policy
(exploration noise off) on the held-out evaluation trials (``evaluation.csv``; "after session s" is the
evaluation with ``session == s``, "before session 1" the one with ``session == 0``), and the report shows
the noise-on evaluations and the training trials beside it. Each is reproduced only if its rule holds
with the 95 % Student-t CI across seeds excluding the null: the bound must be strictly beyond it (a bound
within ``TIE`` of the null is a tie, and ties fail).

Findings 5-9 are made of tests and checks on per-seed values (paired by seed: the same seed in every
condition). A test is one claim with a one-sided p across seeds: a direction (a one-sided t-test of the
per-seed values' mean > 0) or an equivalence (two one-sided t-tests, TOST, of the mean inside a band; p =
the larger). The p-values of all the tests of findings 5-9 are Holm-adjusted together (the untestable
ones left out of the family), and a test passes only if its adjusted p < ``ALPHA`` AND its 95 % CI
across seeds excludes the null strictly (ties fail). A check states an absence ("not during the block"):
the 95 % CI's lower bound of a per-seed change is not above 0; it has no p and is not in the Holm family.
A finding holds when all its tests pass and all its checks hold. :func:`judge` applies Holm and decides.

Sessions are the protocol's (1-based). ``last`` is the lab's final training session (7 by default:
``AblationConfig.expert_after``); ``intact``, ``block_2_4`` and ``partial_block`` run longer to follow
the catch-up, and the expert conditions continue ``intact`` from session ``last + 1``. Neural metrics
(``analysis.neural``) are per condition x seed x session; ``distance_to_expert`` is measured to the run's
own session ``last``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from analysis.conditions import BLOCK_SESSIONS, Condition
from analysis.statistics import (
    Estimate,
    PairedTest,
    equivalence_p,
    format_p,
    holm,
    mean_ci,
    one_sided_p,
    paired,
)
from analysis.tables import NOISE_OFF, NOISE_ON, RPE_CUE, RPE_OUTCOME, THALAMUS_GAIN

#: The conditions the rules compare (:mod:`analysis.conditions`), by short names.
INTACT, BLOCKED, PARTIAL = Condition.INTACT, Condition.BLOCK_2_4, Condition.PARTIAL_BLOCK
EXPERT_BLOCK, EXPERT_THALAMUS = Condition.EXPERT_BLOCK, Condition.EXPERT_THALAMUS_BLOCK

ALPHA = 0.05
#: A CI bound within this of the null is a tie (float rounding of equal success rates), and fails.
TIE = 1e-9
#: Ratio of seed means, noise-off success after session ``last`` / before session 1, that counts as
#: "nearly doubles" (finding 1).
NEARLY_DOUBLES = 1.8
#: Largest fraction of intact's gain over sessions 2-4 that the blocked agents' gain may reach for
#: "barely improves" (finding 2).
BARELY = 0.25
#: Equivalence margin (absolute success rate) of "does not reduce their performance" (finding 4) and of
#: "the dopamine block leaves it within +-0.05" (finding 9).
EQUIVALENCE_MARGIN = 0.05
#: "Changes < 10 %" (finding 5): band of the relative change of mean rate and mean correlation, session 1
#: -> ``last``.
STABLE_BAND = 0.10
#: Smallest |mean correlation| in session 1 (every seed) for which finding 5 judges its relative change;
#: below it the ratio divides by noise, and the absolute change must lie within ``STABLE_BAND`` x this
#: floor (the relative band at the floor, so the rule does not jump there).
CORRELATION_FLOOR = 0.05
#: Largest indicative fraction in session 1 (finding 6: "indicative units <= 10 % in session 1").
INDICATIVE_EARLY = 0.10
#: Growth factor of the indicative fraction from session 1 to ``last`` (finding 6: ">= 3x that").
INDICATIVE_GROWTH = 3.0
#: The recorded sessions that span the block, for the neural clauses "not during the block" (5d, 5e, 6f):
#: the first block session's recording (the network frozen where session 1 left it) to the last's. Why not
#: from session 1: activity recorded in session 1 is recorded while both conditions still learn, so a
#: change from session 1 holds session 1's own learning, which the block cannot stop (the behavioural
#: counterpart, finding 2, runs from the evaluation after session 1, where the block starts, to that after
#: session 4). Fixed before circuit v2's record; the v1 record re-judged with it is in docs/ablation.
BLOCK_SPAN = BLOCK_SESSIONS
#: Largest fraction of the expert level left with the thalamus silenced (finding 9: "falls to <= 50 %").
SILENCED_FRACTION = 0.5
#: Largest rate of pre-cue lifts of experts (intact, last session): "experts lift before the cue in
#: at most 15 % of trials".
EXPERT_PRECUE_LIFT = 0.15


def _holds(decision: bool | None) -> str:
    return {None: "undecidable", True: "holds", False: "does not hold"}[decision]


@dataclass
class Test:
    """One tested claim of findings 5-9: a per-seed statistic, its 95 % CI across seeds and a one-sided p.

    ``p`` is the raw one-sided p (an equivalence: the TOST p), NaN when untestable; ``p_holm`` its
    Holm-adjusted value across all the tests of findings 5-9 (set by :func:`judge`); ``excludes`` whether
    the CI lies strictly beyond the null as ``criterion`` says (None: undecidable).
    """

    name: str
    claim: str
    estimate: Estimate
    p: float
    excludes: bool | None
    criterion: str
    digits: int = 2
    p_holm: float = math.nan

    @property
    def passes(self) -> bool | None:
        """Adjusted p < ALPHA and the CI excludes the null; None if untestable."""
        if self.excludes is None or math.isnan(self.p):
            return None
        return bool(self.excludes and self.p_holm < ALPHA)

    @property
    def marginal(self) -> bool:
        """Passes on its raw p and CI, fails on its Holm-adjusted p."""
        return bool(self.excludes) and self.p < ALPHA and not self.p_holm < ALPHA

    def format(self) -> str:
        outcome = {None: "untestable", True: "passes", False: "fails"}[self.passes]
        return (f"({self.name}) {self.claim}: {self.estimate.format(self.digits)} ({self.criterion}: "
                f"{_holds(self.excludes)}); one-sided p {format_p(self.p)}, Holm-adjusted p "
                f"{format_p(self.p_holm)}: {outcome}")


@dataclass
class Check:
    """An absence of change in findings 5-9 ("not during the block"): the 95 % CI across seeds of a
    per-seed change is not above 0 (its lower bound <= 0, or within ``TIE`` of it). No p, no Holm."""

    name: str
    claim: str
    estimate: Estimate
    holds: bool | None
    digits: int = 2

    def format(self) -> str:
        return (f"({self.name}) {self.claim}: {self.estimate.format(self.digits)} (CI lower bound <= 0: "
                f"{_holds(self.holds)})")


@dataclass
class Finding:
    """One numbered finding: what was measured, the statistics, and the verdict.

    Findings 1-4 are decided at once (:meth:`decide`); findings 5-9 carry ``tests`` whose p-values are
    Holm-adjusted across findings, so they are decided by :func:`judge`.

    Attributes:
        lines: the statistics beside the tests and checks, one per line.
        key: the key numbers, for the verdict table.
        construction: why the claim holds by construction in these runs ("" if it does not): the finding
            is then ``not reproduced`` whatever its rule says, labelled "by construction".
        holds: the rule's outcome (None: undecidable).
    """

    number: int
    claim: str
    rule: str
    lines: list[str] = field(default_factory=list)
    key: str = ""
    tests: list[Test] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    construction: str = ""
    holds: bool | None = None
    judged: bool = True

    def decide(self, *conditions: bool | None) -> None:
        """The rule holds if every condition holds; undecidable if any is (None)."""
        if any(c is None for c in conditions):
            self.holds = None
        else:
            self.holds = all(conditions)
        self.judged = True

    def _require_judged(self) -> None:
        if not self.judged:
            raise RuntimeError(f"finding {self.number}'s tests are not Holm-adjusted yet: pass it, with the "
                               "other findings' tests, through analysis.findings.judge()")

    @property
    def verdict(self) -> str:
        """``reproduced`` or ``not reproduced`` (a finding that holds by construction is not reproduced)."""
        self._require_judged()
        return "reproduced" if self.holds and not self.construction else "not reproduced"

    @property
    def marginal(self) -> bool:
        """Every test passes on its raw p (and CI) and every check holds, but a test fails after Holm."""
        self._require_judged()
        return (self.holds is False and bool(self.tests) and all(t.passes or t.marginal for t in self.tests)
                and all(c.holds for c in self.checks))

    @property
    def labels(self) -> list[str]:
        """What the verdict alone does not say: "not tested", "by construction", "marginal"."""
        self._require_judged()
        labels = []
        if self.holds is None:
            labels.append("not tested")
        if self.construction:
            labels.append("by construction")
        if self.marginal:
            labels.append("marginal")
        return labels

    def report_lines(self) -> list[str]:
        """The tests, the checks, the statistics beside them and the construction note, one per line."""
        self._require_judged()
        lines = [t.format() for t in self.tests] + [c.format() for c in self.checks] + self.lines
        if self.construction:
            lines.append(f"by construction: {self.construction}; the rule itself {_holds(self.holds)}, but "
                         "a claim the circuit makes true does not count as reproduced")
        return lines


def judge(findings: list[Finding]) -> list[Finding]:
    """Holm-adjust the p-values of all the tests of ``findings`` together and decide each finding (its
    tests pass and its checks hold). Returns ``findings``."""
    tests = [t for f in findings for t in f.tests]
    for test, adjusted in zip(tests, holm([t.p for t in tests]), strict=True):
        test.p_holm = float(adjusted)
    for f in findings:
        f.decide(*(t.passes for t in f.tests), *(c.holds for c in f.checks))
    return findings


class Data:
    """Per-seed values: ``value(condition, metric, session)`` -> array over seeds (NaN if missing).

    Args:
        seeds: the seeds, in the order every array follows.
        success: ``{condition: {seed: {session: success rate}}}`` of the training trials (metric
            ``"success"``).
        neural: ``{condition: {seed: {session: {metric: value}}}}``.
        evaluation: the same for the held-out evaluations after ``session`` sessions (metrics
            ``"success_noise_off"``, ``"success_noise_on"``; session 0: before session 1;
            ``"thalamus_gain"``: the gain of the noise-off evaluation, where evaluation.csv has it).
        behaviour: the same for per-session trial statistics (``"precue_lift"``, ``"rpe_sd"``).
        circuits: the circuit versions the runs were trained with (their config's ``agent.circuit``; 1
            where absent); empty if unknown.
    """

    def __init__(self, seeds: list[int], success: dict, neural: dict, evaluation: dict | None = None,
                 behaviour: dict | None = None, circuits: frozenset[int] = frozenset()):
        self.seeds = seeds
        self.success = success
        self.neural = neural
        self.evaluation = evaluation or {}
        self.behaviour = behaviour or {}
        self.circuits = frozenset(circuits)

    @property
    def learns_outside_m1(self) -> bool | None:
        """Does every run have a learning stage outside M1 (circuit v2 and later: a learning thalamic
        stage)? False if some run is circuit v1 (only M1 learns; the thalamus is its only input); None if
        the versions are unknown."""
        if not self.circuits:
            return None
        return min(self.circuits) >= 2

    def _table(self, metric: str) -> dict:
        if metric in (NOISE_OFF, NOISE_ON, THALAMUS_GAIN):
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


def ratio_of_means(before: np.ndarray, after: np.ndarray) -> float:
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
    before, after = d.value(INTACT, NOISE_OFF, 0), d.value(INTACT, NOISE_OFF, last)
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
               _noise_on(d, (INTACT,), (0, last)) + ", ratio of seed means "
               f"{ratio_of_means(d.value(INTACT, NOISE_ON, 0), d.value(INTACT, NOISE_ON, last)):.2f}",
               f"training trials (exploration noise on, while learning): session 1 "
               f"{_fmt(d.value(INTACT, 'success', 1))}, session {last} "
               f"{_fmt(d.value(INTACT, 'success', last))}"]
    f.key = (f"noise off {_fmt(before)} -> {_fmt(after)}; ratio of means {ratio:.2f}; difference "
             f"{_fmt(after - before)}")
    f.decide(up, doubles)
    return f


def gain(d: Data, condition: str, metric: str, first: int, last: int) -> np.ndarray:
    """Per seed, ``metric`` of ``condition`` after session ``last`` minus after session ``first``."""
    return d.value(condition, metric, last) - d.value(condition, metric, first)


def finding_2(d: Data) -> Finding:
    f = Finding(2, "With M1 dopamine blocked in sessions 2-4, success barely improves during those sessions.",
                "noise-off held-out success; gain over sessions 2-4 = after session 4 - after session 1, "
                "per seed: the 95 % CI across seeds of intact's gain > 0 (there is learning to block), and "
                f"of ({BARELY:g} x intact's gain - block_2_4's gain), paired by seed, > 0 (block_2_4 gains "
                f"at most {BARELY:g} of intact's)")
    gain_intact = gain(d, INTACT, NOISE_OFF, 1, BLOCK_SESSIONS[1])
    gain_block = gain(d, BLOCKED, NOISE_OFF, 1, BLOCK_SESSIONS[1])
    learns, intact_ci = ci_above(gain_intact)
    barely, margin_ci = ci_above(BARELY * gain_intact - gain_block)
    f.lines = [f"noise off (primary), gain sessions 2-4: intact {intact_ci.format()} (CI > 0: "
               f"{_holds(learns)}); block_2_4 {_fmt(gain_block)}",
               f"{BARELY:g} x intact gain - block_2_4 gain: {margin_ci.format()} (CI > 0: {_holds(barely)})",
               _noise_on(d, (INTACT, BLOCKED), (1, 4)),
               "training trials (exploration noise on, while learning), session 4 - session 1: intact "
               f"{_fmt(gain(d, INTACT, 'success', 1, 4))}, block_2_4 "
               f"{_fmt(gain(d, BLOCKED, 'success', 1, 4))}"]
    f.key = (f"gain sessions 2-4: intact {intact_ci.format()}, block_2_4 {_fmt(gain_block)}; {BARELY:g} x "
             f"intact - block_2_4 {margin_ci.format()}")
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
    resumes, resume_ci = ci_above(gain(d, BLOCKED, NOISE_OFF, 4, last))
    target = d.value(INTACT, NOISE_OFF, last)
    need_intact, _ = sessions_to_reach(d, INTACT, target, sessions)
    need_block, censored = sessions_to_reach(d, BLOCKED, target, sessions)
    lags, lag_ci = ci_above(need_block - need_intact)
    f.lines = [f"noise off (primary): block_2_4 after session 4 {_fmt(d.value(BLOCKED, NOISE_OFF, 4))}, "
               f"after session {last} {_fmt(d.value(BLOCKED, NOISE_OFF, last))}; gain sessions "
               f"5-{last}: {resume_ci.format()} (CI > 0: {_holds(resumes)})",
               f"sessions needed to reach intact's session-{last} level {_fmt(target)}: intact "
               f"{_fmt(need_intact, 1)}, block_2_4 {_fmt(need_block, 1)} ({censored} seed(s) never reached "
               f"it by session {sessions}, counted as {sessions + 1}); block_2_4 - intact "
               f"{lag_ci.format(1)} (CI > 0: {_holds(lags)})",
               _noise_on(d, (INTACT, BLOCKED), (4, last)),
               f"training trials (exploration noise on, while learning): block_2_4 session 4 "
               f"{_fmt(d.value(BLOCKED, 'success', 4))}, session {last} "
               f"{_fmt(d.value(BLOCKED, 'success', last))}; session 5 intact "
               f"{_fmt(d.value(INTACT, 'success', 5))}, block_2_4 "
               f"{_fmt(d.value(BLOCKED, 'success', 5))}"]
    f.key = (f"block_2_4 gain sessions 5-{last} {resume_ci.format()}; extra sessions to intact's level "
             f"{lag_ci.format(1)}")
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
    blocked = d.mean_over(EXPERT_BLOCK, NOISE_OFF, expert)
    fork = d.value(EXPERT_BLOCK, NOISE_OFF, last)
    # The fork evaluates its starting state; intact's evaluation there is the same network on the same trials.
    fork = np.where(np.isfinite(fork), fork, d.value(INTACT, NOISE_OFF, last))
    stable, change = ci_inside(blocked - fork, EQUIVALENCE_MARGIN)
    spread = d.mean_over(EXPERT_BLOCK, "rpe_sd", expert)
    varies, spread_ci = ci_above(spread)
    present = spread[np.isfinite(spread)]
    if varies is not None:
        varies = varies and bool(np.all(present > 0))
    f.lines = [f"noise off (primary): expert_block at the fork (after session {last}) {_fmt(fork)}, "
               f"averaged over the evaluations after {span(expert)} {_fmt(blocked)} (intact there: "
               f"{_fmt(d.mean_over(INTACT, NOISE_OFF, expert))})",
               f"change: {change.format(3)} (inside +-{EQUIVALENCE_MARGIN:g}: {_holds(stable)})",
               f"SD across trials of mean_delta in {span(expert)}: {spread_ci.format(4)}, smallest seed "
               f"{float(present.min()) if present.size else math.nan:.4g} (varies: {_holds(varies)})",
               _noise_on(d, (INTACT, EXPERT_BLOCK), (last, expert[-1])),
               f"training trials (exploration noise on) in {span(expert)}: intact "
               f"{_fmt(d.mean_over(INTACT, 'success', expert))}, expert_block "
               f"{_fmt(d.mean_over(EXPERT_BLOCK, 'success', expert))}"]
    f.key = f"change from the fork {change.format(3)}; RPE SD {spread_ci.format(4)}"
    if d.learns_outside_m1 is False:
        f.construction = ("circuit v1 runs: nothing outside M1 learns, so with M1's dopamine blocked nothing "
                          "in the expert can change and its mean policy performs as at the fork")
    f.lines.append("circuit of the runs: " + {None: "unknown", True: "every run learns outside M1 (v2)",
                                               False: "v1 (only M1 learns)"}[d.learns_outside_m1])
    f.decide(stable, varies)
    return f


def _above(name: str, claim: str, values: np.ndarray, digits: int = 2) -> Test:
    """Test of ``mean(values) > 0`` across seeds: 95 % CI lower bound strictly above 0, one-sided t p."""
    excludes, estimate = ci_above(values)
    return Test(name, claim, estimate, one_sided_p(values), excludes, "CI > 0", digits)


def _within(name: str, claim: str, values: np.ndarray, margin: float, digits: int = 3) -> Test:
    """Equivalence test of ``-margin < mean(values) < margin``: 95 % CI strictly inside, TOST p."""
    inside, estimate = ci_inside(values, margin)
    return Test(name, claim, estimate, equivalence_p(values, margin), inside, f"CI inside +-{margin:g}",
                digits)


def _not_above(name: str, claim: str, values: np.ndarray, digits: int = 2) -> Check:
    """Check that ``values`` do not rise: the 95 % CI's lower bound is not above 0."""
    above, estimate = ci_above(values)
    return Check(name, claim, estimate, None if above is None else not above, digits)


def finding_5(d: Data, last: int) -> Finding:
    absolute = STABLE_BAND * CORRELATION_FLOOR
    f = Finding(5, "Mean activity and mean correlation stay about the same across sessions while the "
                   "correlation structure converges to the expert configuration; with dopamine blocked the "
                   "reorganisation stops.",
                f"intact, per seed, session 1 -> {last}: (5a) relative change of mean_activity, (session "
                f"{last} - session 1) / session 1, inside +-{STABLE_BAND:g} (equivalence); (5b) "
                f"mean_correlation: the same relative change inside +-{STABLE_BAND:g} if every seed's "
                f"session-1 |mean_correlation| >= {CORRELATION_FLOOR:g}, else its absolute change inside "
                f"+-{absolute:g} (a ratio to a "
                f"near-zero correlation measures noise; +-{absolute:g} is the relative band at the floor); "
                f"(5c) distance_to_expert (to the run's session {last}) shrinks in intact: session 1 - "
                f"session {last - 1} > 0; (5d) and not during the block: its fall over the block's sessions "
                f"{BLOCK_SPAN[0]}->{BLOCK_SPAN[1]} (session {BLOCK_SPAN[0]} - session {BLOCK_SPAN[1]}; "
                f"session {BLOCK_SPAN[0]}'s recording is the first under the block) larger in intact than "
                "in block_2_4, intact - block_2_4 > 0 paired by seed; check (5e): block_2_4's fall over "
                f"sessions {BLOCK_SPAN[0]}->{BLOCK_SPAN[1]} is not above 0. p_expert, "
                "correlation_sd and saturated_fraction are shown beside, not tested",
                judged=False)
    act_1, act_last = (d.value(INTACT, "mean_activity", s) for s in (1, last))
    corr_1, corr_last = (d.value(INTACT, "mean_correlation", s) for s in (1, last))
    with np.errstate(divide="ignore", invalid="ignore"):  # a silent session: inf or NaN, dropped
        activity_change = (act_last - act_1) / act_1
        relative_corr = (corr_last - corr_1) / corr_1
    present = corr_1[np.isfinite(corr_1)]
    if present.size and bool(np.all(np.abs(present) >= CORRELATION_FLOOR)):
        correlation = _within("5b", f"intact mean_correlation, relative change session 1 -> {last}",
                              relative_corr, STABLE_BAND)
    else:
        correlation = _within("5b", f"intact mean_correlation, absolute change session 1 -> {last} (a "
                                    f"seed's session-1 value is below {CORRELATION_FLOOR:g})",
                              corr_last - corr_1, absolute, digits=4)

    def distance(condition: str, session: int) -> np.ndarray:
        return d.value(condition, "distance_to_expert", session)

    first, end = BLOCK_SPAN
    fall_intact, fall_block = distance(INTACT, first) - distance(INTACT, end), \
        distance(BLOCKED, first) - distance(BLOCKED, end)
    f.tests = [_within("5a", f"intact mean_activity, relative change session 1 -> {last}", activity_change,
                       STABLE_BAND),
               correlation,
               _above("5c", f"intact distance_to_expert, session 1 - session {last - 1}",
                      distance(INTACT, 1) - distance(INTACT, last - 1)),
               _above("5d", f"fall of distance_to_expert over sessions {first}->{end}, intact - block_2_4",
                      fall_intact - fall_block)]
    f.checks = [_not_above("5e", f"block_2_4's fall of distance_to_expert over sessions {first}->{end}",
                           fall_block)]
    f.lines = [f"mean_activity, intact: session 1 {_fmt(act_1, 3)}, session {last} {_fmt(act_last, 3)}",
               f"mean_correlation, intact: session 1 {_fmt(corr_1, 4)}, session {last} {_fmt(corr_last, 4)}",
               f"distance_to_expert: intact sessions 1 / {first} / {end} / {last - 1}: "
               f"{_fmt(distance(INTACT, 1))} / {_fmt(distance(INTACT, first))} / "
               f"{_fmt(distance(INTACT, end))} / {_fmt(distance(INTACT, last - 1))}; block_2_4 sessions "
               f"1 / {first} / {end}: {_fmt(distance(BLOCKED, 1))} / "
               f"{_fmt(distance(BLOCKED, first))} / {_fmt(distance(BLOCKED, end))}; "
               f"fall {first}->{end} intact {_fmt(fall_intact)}",
               f"p_expert in session 4 (beside): intact {_fmt(d.value(INTACT, 'p_expert', 4))}, block_2_4 "
               f"{_fmt(d.value(BLOCKED, 'p_expert', 4))}",
               *(f"{metric}, intact (beside): session 1 {_fmt(d.value(INTACT, metric, 1), 3)}, session "
                 f"{last} {_fmt(d.value(INTACT, metric, last), 3)}"
                 for metric in ("correlation_sd", "saturated_fraction"))]
    f.key = (f"rate change {_percent(f.tests[0].estimate)}; correlation change "
             f"{f.tests[1].estimate.format(f.tests[1].digits)}; distance fall 1->{last - 1} "
             f"{f.tests[2].estimate.format()}; fall {first}->{end} intact - block_2_4 "
             f"{f.tests[3].estimate.format()}, "
             f"block_2_4 {f.checks[0].estimate.format()}")
    return f


def _percent(e: Estimate) -> str:
    """A relative change's estimate in per cent, ``+3.0 % [0.1, 6.0]``."""
    if e.n < 2:
        return e.format()
    return f"{100 * e.mean:+.1f} % [{100 * e.low:.1f}, {100 * e.high:.1f}]"


def finding_6(d: Data, last: int) -> Finding:
    f = Finding(6, "Early, units respond mainly to the cue, experts mainly to the outcome; indicative units "
                   "appear during learning and only with dopamine.",
                "intact, per seed: (6a) session 1: cue_responsive_fraction - outcome_responsive_fraction "
                "> 0; "
                f"(6b) session {last}: outcome_responsive_fraction - cue_responsive_fraction > 0; (6c) "
                f"indicative units <= {INDICATIVE_EARLY:g} in session 1: {INDICATIVE_EARLY:g} - "
                f"indicative_fraction > 0 (the CI's upper bound of the fraction strictly below "
                f"{INDICATIVE_EARLY:g}); (6d) >= {INDICATIVE_GROWTH:g}x that by session {last}: "
                f"indicative_fraction in session {last} - {INDICATIVE_GROWTH:g} x that in session 1 > 0 (the "
                f"ratio of seed means >= {INDICATIVE_GROWTH:g} is the same claim; tested on this per-seed "
                "difference, Fieller's construction, it needs no division by a near-zero session-1 "
                f"fraction; the ratio is shown beside); (6e) session {last}: indicative_fraction - "
                "indicative_fraction_shuffled > 0 (the units are indicative beyond the label-shuffle chance "
                "level); check (6f): block_2_4's indicative_fraction over the block's sessions, session "
                f"{BLOCK_SPAN[1]} - session {BLOCK_SPAN[0]}, is not above 0 "
                "(not rising during the block). indicative_fraction is decoded from pre-outcome activity; "
                "the post-outcome fraction and the cue-outcome index are shown beside",
                judged=False)

    def value(condition: str, metric: str, session: int) -> np.ndarray:
        return d.value(condition, metric, session)

    cue_1, cue_last = (value(INTACT, "cue_responsive_fraction", s) for s in (1, last))
    out_1, out_last = (value(INTACT, "outcome_responsive_fraction", s) for s in (1, last))
    ind_1, ind_last = (value(INTACT, "indicative_fraction", s) for s in (1, last))
    first, end = BLOCK_SPAN
    block_rise = (value(BLOCKED, "indicative_fraction", end)
                  - value(BLOCKED, "indicative_fraction", first))
    f.tests = [_above("6a", "intact session 1, cue- minus outcome-responsive fraction", cue_1 - out_1),
               _above("6b", f"intact session {last}, outcome- minus cue-responsive fraction",
                      out_last - cue_last),
               _above("6c", f"{INDICATIVE_EARLY:g} - intact indicative_fraction in session 1",
                      INDICATIVE_EARLY - ind_1, 3),
               _above("6d", f"intact indicative_fraction, session {last} - {INDICATIVE_GROWTH:g} x "
                            "session 1", ind_last - INDICATIVE_GROWTH * ind_1, 3),
               _above("6e", f"intact session {last}, indicative_fraction - indicative_fraction_shuffled",
                      ind_last - value(INTACT, "indicative_fraction_shuffled", last), 3)]
    f.checks = [_not_above("6f", f"block_2_4's indicative_fraction, session {end} - session {first}",
                           block_rise, 3)]
    ratio = ratio_of_means(ind_1, ind_last)
    f.lines = [f"cue-/outcome-responsive fraction, intact: session 1 {_fmt(cue_1)} / {_fmt(out_1)}, session "
               f"{last} {_fmt(cue_last)} / {_fmt(out_last)}",
               f"indicative_fraction, intact: session 1 {_fmt(ind_1, 3)}, session 4 "
               f"{_fmt(value(INTACT, 'indicative_fraction', 4), 3)}, session {last} {_fmt(ind_last, 3)} "
               f"(ratio of seed means {last}/1: {ratio:.2f}); shuffled labels, session {last}: "
               f"{_fmt(value(INTACT, 'indicative_fraction_shuffled', last), 3)}",
               f"indicative_fraction, block_2_4: session 1 "
               f"{_fmt(value(BLOCKED, 'indicative_fraction', 1), 3)}, session {first} "
               f"{_fmt(value(BLOCKED, 'indicative_fraction', first), 3)}, session {end} "
               f"{_fmt(value(BLOCKED, 'indicative_fraction', end), 3)}",
               f"beside: indicative_fraction_post (post-outcome activity), intact session 1 "
               f"{_fmt(value(INTACT, 'indicative_fraction_post', 1), 3)}, session {last} "
               f"{_fmt(value(INTACT, 'indicative_fraction_post', last), 3)}; cue_outcome_index session 1 "
               f"{_fmt(value(INTACT, 'cue_outcome_index', 1))}, session {last} "
               f"{_fmt(value(INTACT, 'cue_outcome_index', last))}"]
    f.key = (f"cue - outcome, session 1 {f.tests[0].estimate.format()}; outcome - cue, session {last} "
             f"{f.tests[1].estimate.format()}; indicative {_fmt(ind_1, 3)} -> {_fmt(ind_last, 3)} (ratio "
             f"{ratio:.2f}); block_2_4 rise {first}->{end} {f.checks[0].estimate.format(3)}")
    return f


def finding_7(d: Data, last: int) -> Finding:
    f = Finding(7, "After learning the thalamic input is the input to M1 that best encodes the learned "
                   "movement, and its movement-related input comes earlier.",
                f"intact, per seed, session {last} (after learning): the thalamus is the best encoder of the "
                "movement among the inputs (cross-validated R^2 of the movement from each input): (7a) "
                "input_r2_thalamus - input_r2_s1 > 0 and (7b) input_r2_thalamus - input_r2_cue > 0; its "
                "movement-related activity leads the lift by more than before learning: (7c) "
                f"input_lead_thalamus_s, session {last} - session 1 > 0, and (7d) it leads at all: "
                f"input_lead_thalamus_s in session {last} > 0 (s, positive = before the lift). S1's lead is "
                "shown beside",
                judged=False)

    def value(metric: str, session: int) -> np.ndarray:
        return d.value(INTACT, metric, session)

    r2_th = value("input_r2_thalamus", last)
    lead_1, lead_last = value("input_lead_thalamus_s", 1), value("input_lead_thalamus_s", last)
    f.tests = [_above("7a", f"session {last}, input_r2_thalamus - input_r2_s1",
                      r2_th - value("input_r2_s1", last), 3),
               _above("7b", f"session {last}, input_r2_thalamus - input_r2_cue",
                      r2_th - value("input_r2_cue", last), 3),
               _above("7c", f"input_lead_thalamus_s, session {last} - session 1 (s)", lead_last - lead_1, 3),
               _above("7d", f"input_lead_thalamus_s, session {last} (s)", lead_last, 3)]
    inputs = ("thalamus", "s1", "cue")
    f.lines = [f"R^2 of the movement, session {session}: "
               + ", ".join(f"{name} {_fmt(value(f'input_r2_{name}', session))}" for name in inputs)
               for session in (1, last)]
    f.lines.append(f"lead before lift (s), session 1 / {last}: thalamus {_fmt(lead_1, 3)} / "
                   f"{_fmt(lead_last, 3)}; s1 (beside) {_fmt(value('input_lead_s1_s', 1), 3)} / "
                   f"{_fmt(value('input_lead_s1_s', last), 3)}")
    f.key = (f"R^2 session {last}: thalamus {_fmt(r2_th)} vs s1 {_fmt(value('input_r2_s1', last))}, cue "
             f"{_fmt(value('input_r2_cue', last))}; thalamic lead {_fmt(lead_1, 3)} -> "
             f"{_fmt(lead_last, 3)} s")
    return f


def finding_8(d: Data, last: int) -> Finding:
    f = Finding(8, "Learning makes the thalamic input recruit more movement-encoding units and fewer others.",
                "intact, per seed: (8a) th_movement_given_excited (the fraction of the probe-defined "
                f"Th-excited units that encode the movement) rises: session {last} - session 1 > 0; (8b) "
                "th_excited_given_nonmovement (the fraction of the units that do not encode the movement "
                f"that are Th-excited) falls: session 1 - session {last} > 0. (The fraction of Th-excited "
                "units that do not encode the movement is 1 - 8a's and would fall by construction; 8b asks "
                "whether the thalamus recruits fewer of the others.) movement_unit_fraction and "
                "th_excited_fraction are shown beside: a rise of 8a that only follows a rise of "
                "movement_unit_fraction is not recruitment",
                judged=False)

    def value(metric: str, session: int) -> np.ndarray:
        return d.value(INTACT, metric, session)

    given_excited = {s: value("th_movement_given_excited", s) for s in (1, last)}
    given_other = {s: value("th_excited_given_nonmovement", s) for s in (1, last)}
    f.tests = [_above("8a", f"th_movement_given_excited, session {last} - session 1",
                      given_excited[last] - given_excited[1], 3),
               _above("8b", f"th_excited_given_nonmovement, session 1 - session {last}",
                      given_other[1] - given_other[last], 3)]
    f.lines = [f"session {s}: th_movement_given_excited {_fmt(given_excited[s])}, "
               f"th_excited_given_nonmovement {_fmt(given_other[s])}, movement_unit_fraction "
               f"{_fmt(value('movement_unit_fraction', s))}, "
               f"th_excited_fraction {_fmt(value('th_excited_fraction', s))}; enrichment "
               f"(th_movement_given_excited - movement_unit_fraction) "
               f"{_fmt(given_excited[s] - value('movement_unit_fraction', s))}" for s in (1, last)]
    f.key = (f"movement units among Th-excited {_fmt(given_excited[1])} -> {_fmt(given_excited[last])}; "
             f"Th-excited among the others {_fmt(given_other[1])} -> {_fmt(given_other[last])}")
    return f


def finding_9(d: Data, expert: range, last: int) -> Finding:
    f = Finding(9, "Silencing the thalamic input in experts impairs the learned movement, unlike silencing "
                   "dopamine (double dissociation).",
                "noise-off held-out success (evaluation.csv), per seed: each expert condition's averaged "
                f"over the evaluations after {span(expert)}; the expert level is intact's after session "
                f"{last} (the fork: the same network the moment before the manipulation, on the same "
                "held-out trials). Why the fork: the lab compares the same animals before and during the "
                "manipulation ('falls', 'leaves it'), and intact's own evaluations over those sessions keep "
                "learning and drifting with dopamine on, so against them the dopamine block would be "
                "charged with learning it merely did not do, which is not execution; finding 4 uses the "
                "same reference. Aggregated by the 95 % CI across seeds: (9a) thalamus silenced: "
                f"{SILENCED_FRACTION:g} x expert level - expert_thalamus_block > 0 (success at most "
                f"{SILENCED_FRACTION:g} of the expert level; the ratio is shown beside), and only if "
                "expert_thalamus_block's evaluations ran with the thalamus silenced (thalamus_gain 0 in "
                "evaluation.csv; else not tested); (9b) dopamine blocked: expert_block - expert level inside "
                f"+-{EQUIVALENCE_MARGIN:g} (equivalence). Shown beside: intact over the same sessions, the "
                "seeds meeting each clause alone, the training trials, and the cortical activity left under "
                "thalamic silencing (mean_activity of expert_thalamus_block / intact)",
                judged=False)
    level = d.value(INTACT, NOISE_OFF, last)
    silenced = d.mean_over(EXPERT_THALAMUS, NOISE_OFF, expert)
    blocked = d.mean_over(EXPERT_BLOCK, NOISE_OFF, expert)
    evaluated = np.isfinite([d.value(EXPERT_THALAMUS, NOISE_OFF, s) for s in expert])
    gains = np.array([d.value(EXPERT_THALAMUS, THALAMUS_GAIN, s) for s in expert])
    ran_silenced = bool(evaluated.any()) and bool(np.all(gains[evaluated] == 0))  # NaN (no column): False
    loss = SILENCED_FRACTION * level - silenced if ran_silenced else np.full(len(d.seeds), math.nan)
    f.tests = [_above("9a", f"{SILENCED_FRACTION:g} x expert level - expert_thalamus_block", loss),
               _within("9b", "expert_block - expert level", blocked - level, EQUIVALENCE_MARGIN)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = silenced / level
        activity = (d.mean_over(EXPERT_THALAMUS, "mean_activity", expert)
                    / d.mean_over(INTACT, "mean_activity", expert))
    ratio[~np.isfinite(ratio)] = math.nan
    alone_a = np.isfinite(ratio) & (silenced <= SILENCED_FRACTION * level)
    alone_b = np.isfinite(blocked - level) & (np.abs(blocked - level) <= EQUIVALENCE_MARGIN)
    n = int(np.sum(np.isfinite(level)))
    f.lines = [f"noise off: expert level (intact after session {last}) {_fmt(level)}; over {span(expert)}: "
               f"expert_block {_fmt(blocked)}, expert_thalamus_block {_fmt(silenced)}, intact (beside) "
               f"{_fmt(d.mean_over(INTACT, NOISE_OFF, expert))}",
               "thalamus_gain of expert_thalamus_block's evaluations: "
               + ("0 (silenced)" if ran_silenced else
                  f"{'missing' if not np.isfinite(gains).any() else 'not 0 in every one'}: they did not run "
                  "with the thalamus silenced, so 9a is not tested"),
               f"per seed, expert_thalamus_block / expert level: {_fmt(ratio)}; seeds with <= "
               f"{SILENCED_FRACTION:g}: {int(alone_a.sum())} of {n}; seeds with |expert_block - expert "
               "level| <= "
               f"{EQUIVALENCE_MARGIN:g}: "
               f"{int(alone_b.sum())} of {n}; both: {int((alone_a & alone_b).sum())}",
               f"training trials (exploration noise on), {span(expert)}: intact "
               f"{_fmt(d.mean_over(INTACT, 'success', expert))}, expert_block "
               f"{_fmt(d.mean_over(EXPERT_BLOCK, 'success', expert))}, expert_thalamus_block "
               f"{_fmt(d.mean_over(EXPERT_THALAMUS, 'success', expert))}",
               "cortical activity left under thalamic silencing (mean_activity, expert_thalamus_block / "
               f"intact, {span(expert)}): "
               + (_fmt(activity) if np.isfinite(activity).any() else "not measured (no neural analysis of "
                                                                      "expert_thalamus_block)")]
    f.key = (f"silenced / expert level {_fmt(ratio)}; expert_block - expert level "
             f"{f.tests[1].estimate.format(3)}")
    if d.learns_outside_m1 is False:
        f.construction = ("circuit v1 runs: the thalamus is the cortex's only input, so silencing it cuts M1 "
                          "off from every sense and the movement must fail")
    return f


def partial_block_lines(d: Data) -> list[str]:
    """Beyond the lab: where a partial block's learning during sessions 2-4 falls (noise-off held-out
    success after session 4 - after session 1; the training trials beside it)."""
    conditions = (INTACT, PARTIAL, BLOCKED)
    gains = {c: gain(d, c, NOISE_OFF, 1, 4) for c in conditions}
    _, above_block = _greater(gains[PARTIAL], gains[BLOCKED])
    _, below_intact = _greater(gains[INTACT], gains[PARTIAL])
    trained = {c: gain(d, c, "success", 1, 4) for c in conditions}
    return [f"noise-off gain sessions 2-4 (after 4 - after 1): intact {_fmt(gains[INTACT])}, partial_block "
            f"{_fmt(gains[PARTIAL])}, block_2_4 {_fmt(gains[BLOCKED])}",
            f"partial_block - block_2_4: {above_block}",
            f"intact - partial_block: {below_intact}",
            "training trials (exploration noise on), session 4 - session 1: "
            + ", ".join(f"{c} {_fmt(trained[c])}" for c in conditions)]


def expert_precue_line(d: Data, sessions: int) -> str:
    """The check of "experts lift before the cue in at most 15 % of trials" (not a numbered finding):
    intact's pre-cue lift rate in its last session, mean across seeds."""
    rate = mean_ci(d.value(INTACT, "precue_lift", sessions))
    if rate.n == 0:
        return (f"Experts' pre-cue lifts (intact, session {sessions}): not measured (no precue_lift column "
                "in the runs' episodes.csv).")
    holds = rate.mean <= EXPERT_PRECUE_LIFT
    return (f"Experts' pre-cue lifts (intact, session {sessions}, rate of trials whose paw lifted at or "
            f"before the cue onset): {rate.format()} across seeds; check mean <= {EXPERT_PRECUE_LIFT:g}: "
            f"{'holds' if holds else 'does not hold'}.")


def all_findings(d: Data, last: int, sessions: int, expert: range) -> list[Finding]:
    """Findings 1-9 of shared/SCIENCE.md, in order, decided (Holm across the tests of findings 5-9)."""
    return [finding_1(d, last), finding_2(d), finding_3(d, last, sessions), finding_4(d, expert, last),
            *judge([finding_5(d, last), finding_6(d, last), finding_7(d, last), finding_8(d, last),
                    finding_9(d, expert, last)])]


# --- Beside the findings: the dopamine signature ---------------------------------------------------------
# Not a finding of shared/SCIENCE.md and not a verdict: nothing here enters the verdict table, the Holm
# family or the count of reproduced findings. It asks whether the model's dopamine (its TD error) behaves
# as a TD reward-prediction error does with learning: the response moves from the outcome to the cue.


#: Why the signature is not recorded, where the trials lack its columns.
NOT_RECORDED = ("their trials carry no rpe_cue / rpe_outcome columns (the runs were made before those "
                "columns were written)")


@dataclass
class DopamineSignature:
    """intact's TD error at the cue and at the outcome (per seed, mean over a session's trials of
    ``rpe_cue`` and over its rewarded trials of ``rpe_outcome``), in session 1 and in ``last``;
    ``recorded`` False where the runs did not record those columns (every array is then empty).

    The signature is shown when, across seeds (paired by seed), the RPE at the outcome falls (the 95 % CI
    of last - session 1 lies strictly below 0) AND the RPE at the cue rises (its CI strictly above 0)."""

    recorded: bool
    seeds: list[int]
    last: int
    outcome: dict[int, np.ndarray] = field(default_factory=dict)  # session -> per-seed values
    cue: dict[int, np.ndarray] = field(default_factory=dict)
    not_recorded: str = NOT_RECORDED  # why, where not recorded

    RULE = ("intact, per seed: the mean over a session's rewarded trials (successes) of rpe_outcome (the TD "
            "error summed over the 0.1 s after the outcome: the response to the reward) and over all its "
            "trials of rpe_cue (the same after the cue onset), in session 1 and in "
            "the last session; the model shows the TD signature if the RPE at the outcome falls (95 % CI "
            "across seeds of last - session 1 strictly below 0) and the RPE at the cue rises (its 95 % CI "
            "strictly above 0), paired by seed")

    @property
    def outcome_change(self) -> PairedTest:
        """Paired test of rpe_outcome, last session vs session 1 (difference last - 1)."""
        return paired(self.outcome[self.last], self.outcome[1])

    @property
    def cue_change(self) -> PairedTest:
        """Paired test of rpe_cue, last session vs session 1 (difference last - 1)."""
        return paired(self.cue[self.last], self.cue[1])

    def _parts(self) -> tuple[bool | None, bool | None]:
        """(the outcome's RPE falls, the cue's RPE rises), each None when it cannot be decided (fewer than
        2 seeds with both sessions)."""
        if not self.recorded:
            return None, None
        falls, rises = self.outcome_change.difference, self.cue_change.difference
        fall = None if falls.n < 2 or math.isnan(falls.high) else bool(falls.high < -TIE)
        rise = None if rises.n < 2 or math.isnan(rises.low) else bool(rises.low > TIE)
        return fall, rise

    @property
    def shown(self) -> bool | None:
        """True: the TD signature (outcome falls and cue rises); False: a part fails; None: not recorded,
        or a part cannot be decided while the other holds."""
        fall, rise = self._parts()
        if fall is False or rise is False:
            return False
        if fall is None or rise is None:
            return None
        return True

    def sentence(self) -> str:
        """One plain sentence: does the model show the TD signature, and if not, which part fails."""
        if not self.recorded:
            return (f"Not recorded by these runs: {self.not_recorded}, so the signature cannot be read from "
                    "this record.")
        fall, rise = self._parts()
        span_text = f"from session 1 to session {self.last}"
        if fall and rise:
            return (f"The model shows the TD signature: {span_text} the RPE at the outcome falls and the RPE "
                    "at the cue rises, each change's 95 % CI excluding 0.")
        outcome_ci = self.outcome_change.difference.format(_digits(list(self.outcome.values())))
        cue_ci = self.cue_change.difference.format(_digits(list(self.cue.values())))
        failing = []
        parts = ((fall, "the RPE at the outcome does not fall", outcome_ci, "below"),
                 (rise, "the RPE at the cue does not rise", cue_ci, "above"))
        for holds, what, ci, direction in parts:
            if holds is False:
                failing.append(f"{what} (change {ci}: the 95 % CI does not lie {direction} 0)")
            elif holds is None:
                failing.append(f"{what.replace('does not', 'cannot be shown to')} (too few seeds: {ci})")
        verb = "does not show" if self.shown is False else "cannot be shown to have"
        return f"The model {verb} the TD signature {span_text}: " + "; ".join(failing) + "."

    def lines(self) -> list[str]:
        """The report section's body: the rule, a per-seed table, the paired changes and the sentence."""
        if not self.recorded:
            return [self.sentence()]
        digits = _digits([*self.outcome.values(), *self.cue.values()])
        last = self.last

        def cell(x: float) -> str:
            return "-" if not math.isfinite(x) else f"{x:.{digits}f}"

        lines = [f"Rule (no verdict, not counted among the findings): {self.RULE}.", "",
                 f"| seed | rpe_outcome, session 1 | rpe_outcome, session {last} | change | "
                 f"rpe_cue, session 1 | rpe_cue, session {last} | change |",
                 "|---|---|---|---|---|---|---|"]
        for i, seed in enumerate(self.seeds):
            o1, ol, c1, cl = (self.outcome[1][i], self.outcome[last][i], self.cue[1][i], self.cue[last][i])
            lines.append(f"| {seed} | {cell(o1)} | {cell(ol)} | {cell(ol - o1)} | {cell(c1)} | {cell(cl)} | "
                         f"{cell(cl - c1)} |")
        summary = (mean_ci(self.outcome[1]), mean_ci(self.outcome[last]), self.outcome_change.difference,
                   mean_ci(self.cue[1]), mean_ci(self.cue[last]), self.cue_change.difference)
        lines.append("| mean [95 % CI] | " + " | ".join(e.format(digits) for e in summary) + " |")
        lines += ["", f"- rpe_outcome, session {last} - session 1: {self.outcome_change.format(digits)}",
                  f"- rpe_cue, session {last} - session 1: {self.cue_change.format(digits)}", "",
                  self.sentence()]
        return lines


def _digits(arrays) -> int:
    """Decimals that give the largest magnitude among ``arrays`` about 3 significant digits (2 at least)."""
    values = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.array([])
    values = np.abs(values[np.isfinite(values)])
    if not len(values) or values.max() == 0:
        return 2
    return int(max(2, min(8, 2 - math.floor(math.log10(values.max())))))


def dopamine_signature(rpe: dict | None, seeds: list[int], last: int | None = None,
                       not_recorded: str | None = None) -> DopamineSignature:
    """The dopamine signature of intact from :func:`analysis.tables.rpe_by_seed`'s table (None: not
    recorded, for the reason ``not_recorded``, default :data:`NOT_RECORDED`). ``last``: the last session
    (default: intact's last session with a value)."""
    if rpe is None:
        return DopamineSignature(False, list(seeds), last or 0, not_recorded=not_recorded or NOT_RECORDED)
    table = rpe.get(INTACT, {})
    if last is None:
        last = max((s for sessions in table.values() for s in sessions), default=1)

    def values(column: str, session: int) -> np.ndarray:
        return np.array([table.get(seed, {}).get(session, {}).get(column, math.nan) for seed in seeds],
                        dtype=float)

    return DopamineSignature(True, list(seeds), last,
                             outcome={s: values(RPE_OUTCOME, s) for s in (1, last)},
                             cue={s: values(RPE_CUE, s) for s in (1, last)})
