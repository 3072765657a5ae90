"""Findings 1 and 2 under variants of the training config (``training.ablate --experiment robustness``).

Each variant (:func:`analysis.experiments.robustness_variants`: the baseline, and ``agent.policy_lr``,
``agent.n_cortex`` and ``agent.exploration_floor`` each at 0.5x and 2x the sweep's value) ran, per seed,
the lab's intact condition for sessions 1-``last`` and block_2_4 for sessions 1-4, forked from the
variant's intact run after the shaping. Its findings 1 and 2 are judged by
:func:`analysis.findings.finding_1` (``last``) and :func:`analysis.findings.finding_2`, unchanged, on a
:class:`analysis.findings.Data` of its runs alone: the rules fixed there before any run, at whatever
number of seeds the variant has (fewer seeds widen the intervals; the rules are not loosened for it).

The robustness rule, fixed before the first run as well: a finding is *robust* to these changes when it
is reproduced in the baseline and in every variant. Each variant is a separate replication on its own
seeds, so the conjunction is stricter than any one verdict and needs no correction for the number of
variants; a variant where a finding is not reproduced is named, with its numbers beside it (too few seeds
and a changed result read alike in a verdict).

It writes, into the experiment's folder:

- ``trials.csv``, ``evaluation.csv`` and ``success_by_seed.csv``: the runs' trials and evaluations as the
  lab's ablation writes them (``condition`` = ``<variant>/<condition>``);
- ``robustness.csv``: one row per variant (:data:`ROBUSTNESS_COLUMNS`): the field changed and its value,
  each finding's verdict, labels and key numbers, and the seeds they rest on;
- ``figures/robustness.{png,svg}`` and ``report.md``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml

from analysis import figures, run_format
from analysis.conditions import BLOCK_SESSIONS, Condition
from analysis.experiments import ROBUSTNESS_CONDITIONS, Variant
from analysis.findings import (
    BARELY,
    INTACT,
    Data,
    Finding,
    finding_1,
    finding_2,
    gain,
    ratio_of_means,
)
from analysis.statistics import Estimate, mean_ci
from analysis.tables import (
    NOISE_OFF,
    collect_evaluations,
    collect_trials,
    evaluation_by_seed,
    success_by_seed,
    write_success_by_seed,
)

BLOCKED = Condition.BLOCK_2_4
#: The figure's file name (in ``figures/``).
FIGURE = "robustness"
#: The colour of a variant whose finding is not reproduced, in the figure.
NOT_REPRODUCED = "#c0392b"
ROBUSTNESS_COLUMNS = (
    "variant", "field", "factor", "value", "last_session",
    "finding_1", "finding_1_labels", "before_session_1", "after_last_session", "ratio", "difference",
    "difference_ci_low", "difference_ci_high", "finding_1_seeds",
    "finding_2", "finding_2_labels", "intact_gain", "intact_gain_ci_low", "intact_gain_ci_high", "block_gain",
    "block_gain_ci_low", "block_gain_ci_high", "margin", "margin_ci_low", "margin_ci_high", "finding_2_seeds")


def variant_data(variant: Variant, seeds: list[int], success: dict, evaluated: dict) -> Data:
    """The findings' per-seed values of one variant, its conditions under their own names (``intact``,
    ``block_2_4``), from the sweep's tables: ``success`` (:func:`analysis.tables.success_by_seed`) and
    ``evaluated`` (:func:`analysis.tables.evaluation_by_seed`), keyed by ``<variant>/<condition>``."""
    keys = {condition: variant.condition(condition) for condition in ROBUSTNESS_CONDITIONS}
    return Data(list(seeds), {c: success[k] for c, k in keys.items() if k in success}, {},
                {c: evaluated[k] for c, k in keys.items() if k in evaluated})


class Judged:
    """One variant's findings 1 and 2 (as :mod:`analysis.findings` decides them) and the numbers they rest
    on, computed from the same per-seed values with the same helpers."""

    def __init__(self, variant: Variant, data: Data, last: int, value: str):
        self.variant, self.data, self.last, self.value = variant, data, last, value
        self.finding_1: Finding = finding_1(data, last)
        self.finding_2: Finding = finding_2(data)
        before, after = data.value(INTACT, NOISE_OFF, 0), data.value(INTACT, NOISE_OFF, last)
        both = np.isfinite(before) & np.isfinite(after)
        self.before, self.after = mean_ci(before[both]), mean_ci(after[both])
        self.ratio = ratio_of_means(before, after)
        self.difference = mean_ci(after - before)
        gain_intact = gain(data, INTACT, NOISE_OFF, 1, BLOCK_SESSIONS[1])
        gain_block = gain(data, BLOCKED, NOISE_OFF, 1, BLOCK_SESSIONS[1])
        self.intact_gain, self.block_gain = mean_ci(gain_intact), mean_ci(gain_block)
        self.margin = mean_ci(BARELY * gain_intact - gain_block)

    def row(self) -> dict[str, object]:
        def number(x: float) -> object:
            return "" if not math.isfinite(x) else round(x, 4)

        def estimate(prefix: str, e: Estimate) -> dict[str, object]:
            return {prefix: number(e.mean), f"{prefix}_ci_low": number(e.low),
                    f"{prefix}_ci_high": number(e.high)}

        v = self.variant
        return {"variant": v.name, "field": v.path, "factor": f"{v.factor:g}", "value": self.value,
                "last_session": self.last,
                "finding_1": self.finding_1.verdict, "finding_1_labels": "; ".join(self.finding_1.labels),
                "before_session_1": number(self.before.mean), "after_last_session": number(self.after.mean),
                "ratio": number(self.ratio) if not math.isinf(self.ratio) else "inf",
                **estimate("difference", self.difference), "finding_1_seeds": self.difference.n,
                "finding_2": self.finding_2.verdict, "finding_2_labels": "; ".join(self.finding_2.labels),
                **estimate("intact_gain", self.intact_gain), **estimate("block_gain", self.block_gain),
                **estimate("margin", self.margin), "finding_2_seeds": self.margin.n}


def variant_value(variant: Variant, directories: list[Path]) -> str:
    """The value of the variant's field in its runs' ``config.yaml`` (what they ran with; values that
    differ, joined by ``/``; "" without a readable one). The baseline's is the sweep's own."""
    if variant.is_baseline:
        return ""
    found = []
    for directory in directories:
        path = Path(directory) / run_format.CONFIG_FILE
        if path.exists():
            config = yaml.safe_load(path.read_text()) or {}
            value = (config.get(variant.section) or {}).get(variant.field)
            if value is not None and f"{value:g}" not in found:
                found.append(f"{value:g}")
    return "/".join(found)


def robust(judged: list[Judged], number: int) -> tuple[bool, list[str]]:
    """The robustness rule: is finding ``number`` reproduced in every variant (the baseline included)?
    Returns (robust, the variants where it is not)."""
    failing = [j.variant.name for j in judged
               if getattr(j, f"finding_{number}").verdict != "reproduced"]
    return not failing, failing


def answer(judged: list[Judged]) -> str:
    """The answer to "do findings 1 and 2 survive 2x changes of these hyperparameters?"."""
    parts = []
    for number in (1, 2):
        holds, failing = robust(judged, number)
        baseline = next((j for j in judged if j.variant.is_baseline), None)
        base = None if baseline is None else getattr(baseline, f"finding_{number}").verdict
        if holds:
            parts.append(f"Finding {number} is robust: reproduced in the baseline and in all "
                         f"{len(judged) - 1} variants.")
        elif base != "reproduced":
            reproduced = [j.variant.name for j in judged if j.variant.name not in failing]
            parts.append(f"Finding {number} is not reproduced in the baseline itself, so its robustness is "
                         f"not tested (reproduced in {', '.join(reproduced) or 'no variant'}).")
        else:
            parts.append(f"Finding {number} is not robust: reproduced in the baseline but not in "
                         f"{', '.join(failing)}.")
    return " ".join(parts)


# --- figure ------------------------------------------------------------------------------------------------


def _points(ax, x: float, e: Estimate, colour: str, marker: str = "o", filled: bool = True,
            label: str | None = None) -> None:
    if e.n == 0:
        return
    yerr = None if not math.isfinite(e.low) else [[e.mean - e.low], [e.high - e.mean]]
    ax.errorbar([x], [e.mean], yerr=yerr, fmt=marker, color=colour, ms=5, capsize=3, lw=1.1,
                mfc=colour if filled else "white", label=label, zorder=3)


def draw_robustness(judged: list[Judged]):
    """Per variant: finding 1's intact success before session 1 and after the last (left), and finding
    2's gains over sessions 2-4, intact and block_2_4, with ``BARELY`` x intact's (right); means and 95 %
    CIs across seeds."""
    plt = figures._pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.0), constrained_layout=True)
    names = [j.variant.name for j in judged]
    intact, blocked = INTACT.spec.colour, BLOCKED.spec.colour
    last = judged[0].last if judged else 0
    for i, j in enumerate(judged):
        first = i == 0
        _points(left, i - 0.12, j.before, intact, filled=False, label="before session 1" if first else None)
        _points(left, i + 0.12, j.after, intact, label=f"after session {last}" if first else None)
        if math.isfinite(j.ratio):
            left.text(i, 1.0 + figures.MARGIN / 2, f"x{j.ratio:.2f}", ha="center", va="bottom", fontsize=7,
                      color="black" if j.finding_1.verdict == "reproduced" else NOT_REPRODUCED)
        _points(right, i - 0.15, j.intact_gain, intact, label=INTACT.value if first else None)
        _points(right, i + 0.15, j.block_gain, blocked, marker="s", label=BLOCKED.value if first else None)
        if math.isfinite(j.intact_gain.mean):
            right.plot([i - 0.3, i + 0.3], [BARELY * j.intact_gain.mean] * 2, color="0.4", lw=1, ls=":",
                       label=f"{BARELY:g} x intact's mean" if first else None, zorder=2)
    figures._success_axis(left)
    left.set_ylim(-figures.MARGIN, 1 + 3 * figures.MARGIN)
    left.set_ylabel("intact: noise-off success", fontsize=8)
    left.set_title(f"finding 1: intact before session 1 and after session {last} (above: ratio of means)",
                   fontsize=9)
    right.axhline(0, color="0.6", lw=0.8, zorder=1)
    right.spines[["top", "right"]].set_visible(False)
    right.tick_params(labelsize=8)
    right.set_ylabel("gain: success after 4 - after 1 (noise off)", fontsize=8)
    right.set_title("finding 2: learning during sessions 2-4", fontsize=9)
    for ax, number in ((left, 1), (right, 2)):
        ax.set_xticks(range(len(names)), names, fontsize=7.5, rotation=25, ha="right")
        # A variant whose finding is not reproduced: its name in red.
        for label, j in zip(ax.get_xticklabels(), judged, strict=True):
            if getattr(j, f"finding_{number}").verdict != "reproduced":
                label.set_color(NOT_REPRODUCED)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    return fig


# --- report ------------------------------------------------------------------------------------------------


def _number(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def _verdict_cell(finding: Finding) -> str:
    labels = ", ".join(finding.labels)
    return f"**{finding.verdict}**" + (f" ({labels})" if labels else "")


def verdict_table(judged: list[Judged]) -> list[str]:
    last = judged[0].last if judged else 0
    lines = [f"| variant | field | value | finding 1 | before 1 -> after {last} | ratio | after - before "
             f"[95 % CI] | finding 2 | intact gain 2-4 | block_2_4 gain 2-4 | {BARELY:g} x intact - "
             "block_2_4 | seeds (1 / 2) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for j in judged:
        v = j.variant
        lines.append(f"| {v.name} | {v.path or '-'} | {j.value or '-'} | {_verdict_cell(j.finding_1)} | "
                     f"{_number(j.before.mean)} -> {_number(j.after.mean)} | {_number(j.ratio)} | "
                     f"{j.difference.format()} | "
                     f"{_verdict_cell(j.finding_2)} | {j.intact_gain.format()} | {j.block_gain.format()} | "
                     f"{j.margin.format()} | {j.difference.n} / {j.margin.n} |")
    return lines


def render_report(judged: list[Judged], seeds: list[int], trials_per_session: int, failed: dict[str, dict],
                  figure_files: list[Path], out: Path) -> str:
    last = judged[0].last
    rules = judged[0]
    lines = ["# dopareach experiment: robustness of findings 1-2", "",
             f"{len(seeds)} seeds ({seeds[0]}..{seeds[-1]}) per variant, sessions of {trials_per_session} "
             f"trials. Per variant and seed, intact runs sessions 1-{last} and block_2_4 (M1 dopamine "
             f"blocked in sessions {BLOCK_SESSIONS[0]}-{BLOCK_SESSIONS[1]}) sessions 1-{BLOCK_SESSIONS[1]}, "
             "forked from the variant's intact run after the shaping, so the two conditions of a seed are "
             "paired. Each variant changes one field of the training config to 0.5x or 2x the sweep's "
             "value (the baseline changes none); everything else is the sweep's.", "",
             "Question: do findings 1 and 2 depend on the hyperparameters chosen, or do they survive halving "
             "and doubling the learning rate, the network's size and the exploration floor?", "",
             "## Rules (fixed before the runs; `analysis/findings.py`, `analysis/robustness_report.py`)", "",
             f"- Finding 1 ({rules.finding_1.claim.rstrip('.')}): {rules.finding_1.rule}.",
             f"- Finding 2 ({rules.finding_2.claim.rstrip('.')}): {rules.finding_2.rule}.",
             "- Each finding is judged per variant by these rules, unchanged, on that variant's seeds. A "
             "finding is **robust** to these changes when it is reproduced in the baseline and in every "
             "variant. The variants are separate replications, so requiring all of them is stricter than "
             "any one verdict and needs no correction for their number; with few seeds per variant, a "
             "finding not reproduced in a variant may be too few seeds as much as a changed result: read "
             "the intervals beside the verdict.", "",
             "## Verdicts", ""] + verdict_table(judged) + [
             "", "**Answer.** " + answer(judged), ""]
    lines += ["## Figure", ""]
    for path in figure_files:
        if path.suffix == ".png":
            lines += [f"![{path.stem}]({path.relative_to(out).as_posix()})", ""]
    lines += [f"Left: intact's noise-off success before session 1 (open) and after session {last} (filled), "
              "with the ratio of the seed means above (finding 1). Right: the gain over sessions 2-4 of "
              f"intact (circles) and block_2_4 (squares), and {BARELY:g} x intact's mean gain (dotted): "
              "finding 2 needs intact's interval above 0 and block_2_4's gain below the dotted line "
              "(paired by seed). Means with 95 % Student-t intervals across seeds; a variant's name in red: "
              "the finding is not reproduced there.", "",
              "## Details per variant", ""]
    for j in judged:
        lines += [f"### {j.variant.name}", ""]
        for finding in (j.finding_1, j.finding_2):
            lines += [f"Finding {finding.number}: {finding.verdict}"
                      + (f" ({', '.join(finding.labels)})" if finding.labels else "") + "."]
            lines += [f"- {line}" for line in finding.report_lines()] + [""]
    lines += ["## Tables", "",
              "`robustness.csv` (one row per variant: the verdicts and their numbers), `evaluation.csv` and "
              "`success_by_seed.csv` (every evaluation of every run, `condition` = `<variant>/<condition>`), "
              "`trials.csv` (every training trial).", ""]
    if failed:
        lines += ["## Failed runs", ""] + [f"- {r['key']}: {r.get('error')}" for r in failed.values()] + [""]
    return "\n".join(lines)


def analyse_robustness(out: Path, variants: list[Variant], seeds: list[int], last: int, specs: list,
                       failed: dict[str, dict], trials_per_session: int) -> Path:
    """Tables, figure and report of the finished runs of a robustness experiment in ``out``; returns the
    report. ``specs``: the sweep's runs, each with ``condition`` (``<variant>/<condition>``), ``seed`` and
    ``directory``; ``last``: the session finding 1 reads (intact's last)."""
    finished = [s for s in specs if run_format.read_result(s.directory) is not None]
    runs = [(str(s.condition), s.seed, s.directory) for s in finished]
    trials = collect_trials(runs, out / run_format.TRIALS_TABLE)
    evaluated = evaluation_by_seed(collect_evaluations(runs, out / run_format.EVALUATION_TABLE))
    write_success_by_seed(evaluated, out / run_format.SUCCESS_BY_SEED_TABLE)
    success = success_by_seed(trials)
    judged = []
    for variant in variants:
        mine = {variant.condition(c) for c in ROBUSTNESS_CONDITIONS}
        value = variant_value(variant, [s.directory for s in finished if s.condition in mine])
        judged.append(Judged(variant, variant_data(variant, seeds, success, evaluated), last, value))
    run_format.write_rows(out / run_format.ROBUSTNESS_TABLE, ROBUSTNESS_COLUMNS, [j.row() for j in judged])
    folder = out / run_format.FIGURES_DIR
    folder.mkdir(exist_ok=True)
    files = figures._save(draw_robustness(judged), folder, FIGURE)
    report = out / run_format.REPORT_FILE
    report.write_text(render_report(judged, seeds, trials_per_session, failed, files, out))
    return report
