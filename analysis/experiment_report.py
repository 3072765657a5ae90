"""Tables, figures and report of an experiment beyond the lab (dose-response, timing), from its runs.

What it measures is the learning during sessions 2-4, per arm and seed: the noise-off held-out success
after session 4 minus after session 1 (``evaluation.csv``; the mean policy, as finding 2 reads it).
Every arm of a seed forks from the same shaped network and shares its session 1 exactly, so arms are
compared paired by seed. It writes, into the experiment's folder:

- ``evaluation.csv`` and ``success_by_seed.csv``: the runs' evaluations (``condition`` = the arm), as
  the lab's ablation writes them;
- ``gains.csv``: one row per arm and seed (success after sessions 1 and 4, the gain, and the mean norm
  of the cortical weight change per batch in sessions 2-4, from ``episodes.csv``: the plasticity the
  arm's dopamine allowed, the mechanism between dopamine and learning);
- ``dose_fit.csv`` (dose-response): each model of :mod:`analysis.dose_fit` with its parameters, AICc
  and bootstrap intervals;
- ``figures/dose_response.{png,svg}`` or ``figures/timing.{png,svg}``, and ``report.md``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from analysis import dose_fit, figures, run_format
from analysis.conditions import BLOCK_SESSIONS
from analysis.experiments import Arm, Experiment
from analysis.statistics import Estimate, format_p, mean_ci, paired
from analysis.tables import NOISE_OFF, collect_evaluations, evaluation_by_seed, write_success_by_seed

#: The block's sessions as episodes.csv writes them.
_BLOCK = {str(s) for s in range(BLOCK_SESSIONS[0], BLOCK_SESSIONS[1] + 1)}

GAINS_COLUMNS = ("arm", "dose", "window", "seed", "success_after_1", "success_after_4", "gain",
                 "cortical_change")
FIT_COLUMNS = ("model", "intercept", "intercept_ci_low", "intercept_ci_high", "slope", "slope_ci_low",
               "slope_ci_high", "breakpoint", "breakpoint_ci_low", "breakpoint_ci_high", "rss", "points",
               "parameters", "aicc", "delta_aicc", "chosen")
#: Sessions whose noise-off evaluations bound the learning measured (after session 1, after session 4).
FIRST, LAST = BLOCK_SESSIONS[0] - 1, BLOCK_SESSIONS[1]
#: Bootstrap resamples of the dose-response fit.
RESAMPLES = 1000


def learning_gains(evaluated: dict, arms: list[Arm],
                   seeds: list[int]) -> dict[str, dict[int, dict[str, float]]]:
    """``{arm: {seed: {"after_1", "after_4", "gain"}}}`` from :func:`analysis.tables.evaluation_by_seed`
    (seeds without both evaluations are left out)."""
    gains: dict[str, dict[int, dict[str, float]]] = {}
    for arm in arms:
        for seed in seeds:
            cell = evaluated.get(arm.name, {}).get(seed, {})
            first, last = cell.get(FIRST, {}).get(NOISE_OFF), cell.get(LAST, {}).get(NOISE_OFF)
            if first is None or last is None:
                continue
            gains.setdefault(arm.name, {})[seed] = {"after_1": first, "after_4": last, "gain": last - first}
    return gains


def block_trials(runs: list[tuple[str, int, Path]]) -> dict[str, dict[int, list[dict[str, str]]]]:
    """``{arm: {seed: episodes.csv rows of sessions 2-4}}`` of the runs that have a trial log."""
    trials: dict[str, dict[int, list[dict[str, str]]]] = {}
    for arm, seed, directory in runs:
        path = Path(directory) / run_format.EPISODES_FILE
        if path.exists():
            rows = run_format.read_rows(path)
            trials.setdefault(arm, {})[seed] = [r for r in rows if r["session"] in _BLOCK]
    return trials


def add_plasticity(gains: dict, trials: dict) -> None:
    """Add ``cortical_change`` to each arm and seed of ``gains``: the mean over the trials of sessions 2-4
    of their batch's cortical weight-change norm (0 where dopamine never reached M1)."""
    for arm, by_seed in gains.items():
        for seed, cell in by_seed.items():
            norms = [float(r["cortical_update_norm"]) for r in trials.get(arm, {}).get(seed, [])]
            cell["cortical_change"] = float(np.mean(norms)) if norms else math.nan


def _gain_rows(gains: dict, arms: list[Arm]) -> list[dict]:
    return [{"arm": arm.name, "dose": "" if arm.dose is None else f"{arm.dose:g}",
             "window": arm.da_window or ("whole trial" if arm.da_block else "none"), "seed": seed,
             "success_after_1": repr(v["after_1"]), "success_after_4": repr(v["after_4"]),
             "gain": repr(v["gain"]), "cortical_change": repr(v.get("cortical_change", math.nan))}
            for arm in arms for seed, v in sorted(gains.get(arm.name, {}).items())]


def relative_plasticity(gains: dict, arm: Arm, parent: Arm) -> Estimate:
    """The arm's cortical change in sessions 2-4 over the parent's, per seed."""
    mine, theirs = gains.get(arm.name, {}), gains.get(parent.name, {})
    return mean_ci([mine[s].get("cortical_change", math.nan) / theirs[s]["cortical_change"]
                    for s in set(mine) & set(theirs) if theirs[s].get("cortical_change", 0) > 0])


def event_rpe(trials: dict, parent: Arm) -> dict[str, Estimate]:
    """The intact arm's TD error summed over 0.1 s from the cue and from the outcome (``rpe_cue``,
    ``rpe_outcome`` of episodes.csv), in sessions 2-4: per seed the mean over trials with the event."""
    estimates = {}
    for column in (run_format.RPE_CUE, run_format.RPE_OUTCOME):
        per_seed = []
        for rows in trials.get(parent.name, {}).values():
            values = [float(r[column]) for r in rows if r.get(column) not in (None, "")]
            per_seed.append(np.mean(values) if values else math.nan)
        estimates[column] = mean_ci(per_seed)
    return estimates


def _estimate(gains: dict, arm: Arm, key: str = "gain") -> Estimate:
    return mean_ci([v[key] for v in gains.get(arm.name, {}).values()])


def _versus_parent(gains: dict, arm: Arm, parent: Arm):
    """Paired test of the arm's gain against the parent's (intact), over seeds with both."""
    mine, theirs = gains.get(arm.name, {}), gains.get(parent.name, {})
    seeds = sorted(set(mine) & set(theirs))
    if len(seeds) < 2:
        return None
    return paired([mine[s]["gain"] for s in seeds], [theirs[s]["gain"] for s in seeds])


# --- dose-response -----------------------------------------------------------------------------------


def dose_points(gains: dict, arms: list[Arm]) -> dict[int, dict[float, float]]:
    """``{seed: {dose: gain}}`` of the dose-response arms."""
    by_seed: dict[int, dict[float, float]] = {}
    for arm in arms:
        for seed, v in gains.get(arm.name, {}).items():
            by_seed.setdefault(seed, {})[arm.dose] = v["gain"]
    return by_seed


def fit_doses(by_seed: dict[int, dict[float, float]], rng: np.random.Generator
              ) -> tuple[dict[str, dose_fit.CurveFit], str, dict[str, dict[str, tuple[float, float]]]]:
    """Every model fitted to the per-seed points, the chosen one, and every model's bootstrap intervals."""
    dose = [d for cell in by_seed.values() for d in cell]
    gain = [g for cell in by_seed.values() for g in cell.values()]
    fits = dose_fit.fit_all(dose, gain)
    chosen = dose_fit.best_model(fits)
    intervals = {model: dose_fit.bootstrap(model, by_seed, rng, RESAMPLES) for model in fits}
    return fits, chosen, intervals


def _fit_rows(fits, chosen, intervals) -> list[dict]:
    lowest = min(f.aicc for f in fits.values())
    rows = []
    for model, curve in fits.items():
        row = {"model": model, "rss": round(curve.rss, 6), "points": curve.n, "parameters": curve.k,
               "aicc": round(curve.aicc, 3), "delta_aicc": round(curve.aicc - lowest, 3),
               "chosen": model == chosen}
        for name in ("intercept", "slope", "breakpoint"):
            value = getattr(curve, name)
            low, high = intervals[model][name]
            row |= {name: "" if math.isnan(value) else round(value, 4),
                    f"{name}_ci_low": "" if math.isnan(low) else round(low, 4),
                    f"{name}_ci_high": "" if math.isnan(high) else round(high, 4)}
        rows.append(row)
    return rows


def dose_answer(fits: dict[str, dose_fit.CurveFit], chosen: str,
                intervals: dict[str, dict[str, tuple[float, float]]]) -> str:
    """The answer to "does learning scale with dopamine, or is there a threshold?", from the fits."""
    curve, (low, high) = fits[chosen], intervals[chosen]["breakpoint"]
    others = ", ".join(f"{m} {fits[m].aicc - curve.aicc:+.1f}" for m in fits if m != chosen)
    if chosen == "linear":
        slope_low, slope_high = intervals["linear"]["slope"]
        shape = ("Learning scales with the dose" if slope_low > 0 else
                 "No dose dependence is resolved (the slope's interval includes 0)")
        close = [m for m in fits if m != chosen and fits[m].aicc - curve.aicc < 2.0]
        tie = "".join(f" The data do not tell it from the {m} curve (within 2 AICc), whose breakpoint is "
                      f"{fits[m].breakpoint:.2f} [{intervals[m]['breakpoint'][0]:.2f}, "
                      f"{intervals[m]['breakpoint'][1]:.2f}]." for m in close)
        return (f"{shape}: the line is not beaten by at least 2 in AICc (AICc relative to it: {others}); "
                f"slope {curve.slope:.3f} [{slope_low:.3f}, {slope_high:.3f}] success per unit gain.{tie}")
    what = ("a threshold: no learning below a gain of" if chosen == "threshold"
            else "a ceiling: no further learning above a gain of")
    return (f"The {chosen} curve fits best (AICc relative to it: {others}): {what} {curve.breakpoint:.2f} "
            f"[{low:.2f}, {high:.2f}] (95 % bootstrap interval over seeds).")


# --- figures -----------------------------------------------------------------------------------------


def _curves_panel(ax, evaluated: dict, arms: list[Arm]) -> None:
    """Noise-off success after sessions 0-4 per arm: mean and 95 % CI across seeds (the lab figures'
    curves and success axis)."""
    figures._span(ax, BLOCK_SESSIONS, "block")
    for arm in arms:
        seeds = evaluated.get(arm.name, {})
        points = [(s, mean_ci([seeds[k][s][NOISE_OFF] for k in seeds if NOISE_OFF in seeds[k].get(s, {})]))
                  for s in range(0, LAST + 1)]
        figures._curve(ax, [(s, e) for s, e in points if e.n], arm.colour, arm.name)
    figures._success_axis(ax)
    ax.set_xlabel("evaluation after session (0: before session 1)", fontsize=8)
    ax.set_ylabel("noise-off success", fontsize=8)
    ax.set_xticks(range(0, LAST + 1))
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.set_title(f"learning curves (grey: sessions {BLOCK_SESSIONS[0]}-{BLOCK_SESSIONS[1]})", fontsize=9)


def _jitter(n: int, rng: np.random.Generator, width: float) -> np.ndarray:
    return rng.uniform(-width, width, n)


def draw_dose_response(gains: dict, evaluated: dict, arms: list[Arm], fits, chosen: str,
                       rng: np.random.Generator):
    """Learning gain against dopamine dose with the fitted curves, beside the learning curves."""
    plt = figures._pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8), constrained_layout=True)
    for arm in sorted(arms, key=lambda a: a.dose):
        values = [v["gain"] for v in gains.get(arm.name, {}).values()]
        if not values:
            continue
        left.scatter(arm.dose + _jitter(len(values), rng, 0.012), values, s=9, color=arm.colour, alpha=0.45,
                     lw=0, zorder=2)
        e = mean_ci(values)
        left.errorbar([arm.dose], [e.mean], yerr=None if not math.isfinite(e.low) else
                      [[e.mean - e.low], [e.high - e.mean]], fmt="o", color="black", ms=5, capsize=3,
                      zorder=4)
    grid = np.linspace(0, 1, 201)
    styles = {"linear": (":", "0.45"), "threshold": ("--", "#c0392b"), "saturating": ("-.", "#2471a3")}
    for model, curve in fits.items():
        ls, colour = styles[model]
        # The chosen curve solid and on top: a broken line at its limit (theta = 0, s = 1) lies on it.
        left.plot(grid, curve.predict(grid), ls="-" if model == chosen else ls, color=colour,
                  lw=2.2 if model == chosen else 1.1, zorder=3.5 if model == chosen else 3,
                  label=f"{model}{' (chosen)' if model == chosen else ''}: AICc {curve.aicc:.1f}")
    left.axhline(0, color="0.75", lw=0.6, zorder=0.5)
    left.set_xlabel("M1 dopamine gain in sessions 2-4", fontsize=8)
    left.set_ylabel("learning: success after 4 - after 1 (noise off)", fontsize=8)
    left.set_title("dose-response (dots: seeds; black: mean, 95 % CI)", fontsize=9)
    left.spines[["top", "right"]].set_visible(False)
    left.tick_params(labelsize=8)
    left.legend(fontsize=7, frameon=False, loc="upper left")
    _curves_panel(right, evaluated, sorted(arms, key=lambda a: -a.dose))
    return fig


def draw_timing(gains: dict, evaluated: dict, arms: list[Arm], rng: np.random.Generator):
    """Learning gain per arm (bars: mean, 95 % CI; dots: seeds), beside the learning curves."""
    plt = figures._pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8), constrained_layout=True)
    for i, arm in enumerate(arms):
        values = [v["gain"] for v in gains.get(arm.name, {}).values()]
        if not values:
            continue
        e = mean_ci(values)
        left.bar(i, e.mean, color=arm.colour, alpha=0.75, width=0.65, zorder=2)
        if math.isfinite(e.low):
            left.errorbar([i], [e.mean], yerr=[[e.mean - e.low], [e.high - e.mean]], fmt="none",
                          ecolor="black", capsize=3, zorder=4)
        left.scatter(i + _jitter(len(values), rng, 0.12), values, s=9, color="black", alpha=0.5, lw=0,
                     zorder=3)
    left.axhline(0, color="0.6", lw=0.8, zorder=1)
    left.set_xticks(range(len(arms)), [a.name for a in arms], fontsize=8, rotation=15)
    left.set_ylabel("learning: success after 4 - after 1 (noise off)", fontsize=8)
    left.set_title("which part of the RPE carries the learning", fontsize=9)
    left.spines[["top", "right"]].set_visible(False)
    left.tick_params(labelsize=8)
    _curves_panel(right, evaluated, arms)
    return fig


# --- the report --------------------------------------------------------------------------------------


def _arm_table(gains: dict, arms: list[Arm], parent: Arm, dose: bool) -> list[str]:
    head = "dose" if dose else "window"
    lines = [f"| arm | {head} | success after 1 | after 4 | gain (4 - 1) | minus intact's gain | "
             "cortical change / intact's | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    for arm in arms:
        test = None if arm is parent else _versus_parent(gains, arm, parent)
        versus = "-" if test is None else f"{test.difference.format()} (paired p {format_p(test.p)})"
        what = f"{arm.dose:g}" if dose else (arm.da_window or ("whole trial" if arm.da_block else "none"))
        plasticity = "1" if arm is parent else relative_plasticity(gains, arm, parent).format()
        lines.append(f"| {arm.name} | {what} | {_estimate(gains, arm, 'after_1').format()} | "
                     f"{_estimate(gains, arm, 'after_4').format()} | {_estimate(gains, arm).format()} | "
                     f"{versus} | {plasticity} | {len(gains.get(arm.name, {}))} |")
    return lines


def timing_answer(gains: dict, arms: list[Arm]) -> str:
    """Which window's silencing costs learning, as a share of intact's gain, from the paired tests."""
    parent = arms[0]
    intact = _estimate(gains, parent).mean
    parts = []
    for arm in arms[1:]:
        test = _versus_parent(gains, arm, parent)
        if test is None:
            continue
        share = f"{-test.difference.mean / intact:.0%}" if intact > 0 else "n/a: intact did not learn"
        resolved = test.difference.high < 0
        parts.append(f"{arm.name} loses {-test.difference.mean:.2f} of intact's {intact:.2f} "
                     f"({share}; {'an interval that excludes 0' if resolved else 'not resolved'})")
    return "; ".join(parts) + "." if parts else "No arm has paired seeds to compare."


def render_report(experiment: Experiment, arms: list[Arm], seeds: list[int], gains: dict,
                  failed: dict[str, dict], figure_files: list[Path], out: Path, trials_per_session: int,
                  fit: tuple | None = None, rpe: dict[str, Estimate] | None = None) -> str:
    parent = arms[0]
    dose = experiment is Experiment.DOSE_RESPONSE
    title = "dopamine dose-response" if dose else "timed dopamine silencing"
    lines = [f"# dopareach experiment: {title}", "",
             f"{len(seeds)} seeds ({seeds[0]}..{seeds[-1]}), sessions 1-{LAST} of {trials_per_session} "
             "trials; "
             f"every arm of a seed forks from the same shaped network ({parent.name}) and differs only in "
             f"M1 dopamine in sessions {BLOCK_SESSIONS[0]}-{BLOCK_SESSIONS[1]}. Learning is the noise-off "
             f"held-out success after session {LAST} minus after session {FIRST} (the mean policy; "
             f"`evaluation.csv`), per seed; values are means across seeds with 95 % Student-t intervals, "
             f"differences paired by seed.", ""]
    if dose:
        lines += ["Question: does learning scale with dopamine, or is there a threshold?", ""]
    else:
        lines += ["Question: which part of the trial's reward-prediction error carries the learning? "
                  "`cue_window` silences M1 dopamine from the cue onset to the lift, `outcome_window` from "
                  "the outcome to the trial's end (the step whose end brings the event included), "
                  "`block_2_4` the whole trial; the critic keeps learning from the whole RPE in every arm.",
                  ""]
    shown = sorted(arms, key=lambda a: a.dose) if dose else arms
    lines += ["## Learning in sessions 2-4", ""] + _arm_table(gains, shown, parent, dose) + [
        "", "Cortical change: the mean norm of the cortical weight change per batch over sessions 2-4 "
        "(`episodes.csv`'s `cortical_update_norm`), over intact's, per seed: how much plasticity the "
        "arm's dopamine left. Learning (noise off) follows from it only through what the changes do.", ""]
    if rpe:
        lines += [f"Where intact's RPE lies in sessions 2-4 (TD error summed over 0.1 s from the event, mean "
                  f"over trials with it): at the cue {rpe[run_format.RPE_CUE].format(3)}, at the outcome "
                  f"{rpe[run_format.RPE_OUTCOME].format(3)} (reward units).", ""]
    if dose and fit is not None:
        fits, chosen, intervals = fit
        lines += ["## Fitted curves", "",
                  "Least squares on every (dose, seed) point; models and the choice rule in "
                  "`analysis/dose_fit.py` (the line stands unless another curve beats it by >= 2 AICc); "
                  "intervals: 95 % bootstrap over seeds "
                  f"({RESAMPLES} resamples). Table: `dose_fit.csv`.", "",
                  "| model | curve | breakpoint [95 % CI] | AICc | chosen |", "|---|---|---|---|---|"]
        for model, curve in fits.items():
            low, high = intervals[model]["breakpoint"]
            point = "-" if math.isnan(curve.breakpoint) else f"{curve.breakpoint:.2f} [{low:.2f}, {high:.2f}]"
            lines.append(f"| {model} | {curve.describe()} | {point} | {curve.aicc:.1f} | "
                         f"{'yes' if model == chosen else ''} |")
        lines += ["", "**Answer.** " + dose_answer(fits, chosen, intervals), ""]
    elif not dose:
        lines += ["**Answer.** " + timing_answer(gains, arms), ""]
    lines += ["## Figure", ""]
    for path in figure_files:
        if path.suffix == ".png":
            lines += [f"![{path.stem}]({path.relative_to(out).as_posix()})", ""]
    lines += ["Left: " + ("each seed's learning at each dose (dots), the mean with its 95 % CI (black), and "
                          "the three fitted curves (the chosen one solid)." if dose else
                          "each arm's learning (bar: mean, 95 % CI; dots: seeds)."),
              "Right: noise-off success before session 1 and after each session, mean and 95 % CI per arm.",
              "", "## Tables", "",
              "`gains.csv` (one row per arm and seed), `evaluation.csv` and `success_by_seed.csv` (every "
              "evaluation of every run, `condition` = the arm)" + (", `dose_fit.csv`." if dose else "."), ""]
    if failed:
        lines += ["## Failed runs", ""] + [f"- {r['key']}: {r.get('error')}" for r in failed.values()] + [""]
    return "\n".join(lines)


def analyse_experiment(out: Path, experiment: Experiment, arms: list[Arm], seeds: list[int],
                       specs: list, failed: dict[str, dict], trials_per_session: int) -> Path:
    """Tables, figure and report of the finished runs of an experiment in ``out``; returns the report.

    ``specs``: the sweep's runs, each with ``condition`` (the arm's name), ``seed`` and ``directory``."""
    finished = [s for s in specs if run_format.read_result(s.directory) is not None]
    runs = [(str(s.condition), s.seed, s.directory) for s in finished]
    evaluations = collect_evaluations(runs, out / run_format.EVALUATION_TABLE)
    evaluated = evaluation_by_seed(evaluations)
    write_success_by_seed(evaluated, out / run_format.SUCCESS_BY_SEED_TABLE)
    gains = learning_gains(evaluated, arms, seeds)
    trials = block_trials(runs)
    add_plasticity(gains, trials)
    run_format.write_rows(out / run_format.GAINS_TABLE, GAINS_COLUMNS, _gain_rows(gains, arms))
    # Every random draw (bootstrap, the figure's jitter) from the experiment's first seed.
    rng = np.random.default_rng(seeds[0])
    folder = out / run_format.FIGURES_DIR
    folder.mkdir(exist_ok=True)
    fit = None
    if experiment is Experiment.DOSE_RESPONSE:
        points = dose_points(gains, arms)
        if len({d for cell in points.values() for d in cell}) >= 2:
            fit = fit_doses(points, rng)
            run_format.write_rows(out / run_format.DOSE_FIT_TABLE, FIT_COLUMNS, _fit_rows(*fit))
            files = figures._save(draw_dose_response(gains, evaluated, arms, fit[0], fit[1], rng), folder,
                          "dose_response")
        else:
            files = []
    else:
        files = figures._save(draw_timing(gains, evaluated, arms, rng), folder, "timing")
    report = out / run_format.REPORT_FILE
    rpe = event_rpe(trials, arms[0]) if experiment is Experiment.TIMING else None
    report.write_text(render_report(experiment, arms, seeds, gains, failed, files, out, trials_per_session,
                                    fit, rpe))
    return report
