"""The head-to-head's tables, figure and report (``training.versus_sb3``), from its run folders.

Every run evaluates its agent's mean policy (exploration noise off) on the same held-out trials after
every block of ``eval_every`` training trials (``evaluation.csv``, block 0: after shaping, before any
learning). Two measures, fixed before the runs:

* **trials to criterion**: per seed, the trials completed at the first evaluation whose success reaches
  the criterion (0.5); a seed that never reaches it is censored at its last evaluation (written ``>N``),
  so the table gives the median over seeds with the number that reached it, and the first evaluation
  at which the mean over seeds reaches it;
* **success at equal budgets**: the evaluation after the last whole block within each budget (448, 1,000
  and 5,000 trials: blocks 7, 15 and 78 of 64, i.e. 448, 960 and 4,992 trials), mean over seeds with its
  95 % t-interval, and the cortex's paired difference from each SB3 agent (same seeds, same held-out
  trials).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from analysis import run_format
from analysis.statistics import Estimate, mean_ci, paired

#: The agents of the head-to-head, in the order tables and legends list them, with their labels.
CORTEX = "cortex"
AGENT_LABELS = {CORTEX: "dopamine-gated cortex", "ppo": "SB3 PPO (MLP)",
                "recurrent_ppo": "sb3-contrib RecurrentPPO (LSTM)"}
AGENTS = tuple(AGENT_LABELS)
AGENT_COLOURS = {CORTEX: "#1b6ca8", "ppo": "#d1495b", "recurrent_ppo": "#edae49"}
FIGURE = "versus_sb3"


def read_curves(run_dirs: dict[str, Path], agents: list[str],
                seeds: list[int]) -> dict[str, dict[int, dict[int, tuple[int, float]]]]:
    """agent -> seed -> block -> (trials completed, noise-off success) of every run that has evaluations."""
    curves: dict[str, dict[int, dict[int, tuple[int, float]]]] = {a: {} for a in agents}
    for agent in agents:
        for seed in seeds:
            path = run_dirs[run_format.run_key(agent, seed)] / run_format.EVALUATION_FILE
            if not path.exists():
                continue
            rows = [r for r in run_format.read_rows(path) if r["noise"] == "off"]
            curves[agent][seed] = {int(r["session"]): (int(r["episode"]), float(r["success"])) for r in rows}
    return curves


def steps_per_trial(run_dir: Path) -> float:
    """Mean control steps of a run's training trials (NaN if unknown): the cortex's ``episodes.csv``, an
    SB3 run's ``result.json`` (its steps over its trials). A trial that ends in an early lift is cut
    short at the lift, so short trials mean a policy that lifts before the cue."""
    episodes = Path(run_dir) / run_format.EPISODES_FILE
    if episodes.exists():
        steps = [int(r["steps"]) for r in run_format.read_rows(episodes)]
        return float(np.mean(steps)) if steps else math.nan
    result = run_format.read_result(Path(run_dir)) or {}
    if result.get("steps") and result.get("trials"):
        return result["steps"] / result["trials"]
    return math.nan


def trials_to_criterion(curve: dict[int, tuple[int, float]], criterion: float) -> tuple[int, bool]:
    """(trials, reached): the first evaluation at or above ``criterion``, or the last one (censored)."""
    for block in sorted(curve):
        trials, success = curve[block]
        if success >= criterion - 1e-12:
            return trials, True
    return (curve[max(curve)][0], False) if curve else (0, False)


def _blocks(budgets: list[int], eval_every: int) -> dict[int, int]:
    return {b: b // eval_every for b in budgets}


def summarise(curves, seeds: list[int], budgets: list[int], eval_every: int, criterion: float,
              trial_steps: dict[str, list[float]] | None = None) -> list[dict]:
    """One row per agent: trials to criterion (median of seeds, per seed, of the mean curve), success
    at every budget (mean [95 % CI] over the seeds whose run reached that budget) and, given
    ``trial_steps`` (agent -> per-seed :func:`steps_per_trial`), the mean length of its training trials."""
    rows = []
    for agent, by_seed in curves.items():
        row: dict = {"agent": agent, "seeds": len(by_seed)}
        lengths = [v for v in (trial_steps or {}).get(agent, []) if math.isfinite(v)]
        row["steps_per_training_trial"] = round(float(np.mean(lengths)), 1) if lengths else ""
        crossings = [trials_to_criterion(by_seed[s], criterion) for s in seeds if s in by_seed]
        reached = [t for t, ok in crossings if ok]
        row["reached_criterion"] = len(reached)
        # A censored seed reached it, if ever, after the budget: it sorts last, and the median is a
        # number only where more than half the seeds reached the criterion.
        ordered = sorted(t if ok else math.inf for t, ok in crossings)
        median = float(np.median(ordered)) if ordered else math.nan
        row["trials_to_criterion_median"] = round(median) if math.isfinite(median) else ""
        row["trials_to_criterion_by_seed"] = " ".join(f"{t}" if ok else f">{t}" for t, ok in crossings)
        mean_curve = _mean_curve(by_seed, seeds)
        row["mean_curve_trials_to_criterion"] = next(
            (trials for trials, success in mean_curve if success >= criterion - 1e-12), "")
        for budget, block in _blocks(budgets, eval_every).items():
            estimate = mean_ci([by_seed[s][block][1] for s in seeds if s in by_seed and block in by_seed[s]])
            row[f"success_at_{budget}"] = _cell(estimate.mean)
            row[f"success_at_{budget}_low"] = _cell(estimate.low)
            row[f"success_at_{budget}_high"] = _cell(estimate.high)
            row[f"success_at_{budget}_n"] = estimate.n
        rows.append(row)
    return rows


def _cell(value: float) -> float | str:
    return "" if math.isnan(value) else round(value, 4)


def _mean_curve(by_seed: dict[int, dict[int, tuple[int, float]]],
                seeds: list[int]) -> list[tuple[int, float]]:
    """(trials, mean success) at every block that all the agent's seeds evaluated (trials: block x
    eval_every, as the seeds' own counts may differ by a few trials in SB3's parallel envs)."""
    present = [by_seed[s] for s in seeds if s in by_seed]
    if not present:
        return []
    blocks = sorted(set.intersection(*(set(c) for c in present)))
    return [(int(np.median([c[b][0] for c in present])), float(np.mean([c[b][1] for c in present])))
            for b in blocks]


def _table_columns(budgets: list[int]) -> list[str]:
    columns = ["agent", "seeds", "reached_criterion", "trials_to_criterion_median",
               "trials_to_criterion_by_seed", "mean_curve_trials_to_criterion", "steps_per_training_trial"]
    for budget in budgets:
        columns += [f"success_at_{budget}", f"success_at_{budget}_low", f"success_at_{budget}_high",
                    f"success_at_{budget}_n"]
    return columns


def draw_curves(curves, seeds: list[int], budgets: list[int], eval_every: int, criterion: float):
    """Noise-off success against training trials, mean and 95 % CI over seeds, one line per agent: the
    protocol's trials (left) and every trial (right)."""
    from analysis.figures import _pyplot, _success_axis

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
    spans = [(0, min(budgets[0] + eval_every, budgets[-1])), (0, budgets[-1])]
    for ax, (start, stop) in zip(axes, spans, strict=True):
        for agent, by_seed in curves.items():
            present = [by_seed[s] for s in seeds if s in by_seed]
            if not present:
                continue
            blocks = sorted(set.union(*(set(c) for c in present)))
            x, mean, low, high = [], [], [], []
            for block in blocks:
                estimate: Estimate = mean_ci([c[block][1] for c in present if block in c])
                x.append(block * eval_every)
                mean.append(estimate.mean)
                low.append(estimate.low if math.isfinite(estimate.low) else estimate.mean)
                high.append(estimate.high if math.isfinite(estimate.high) else estimate.mean)
            colour = AGENT_COLOURS[agent]
            ax.fill_between(x, np.clip(low, 0, 1), np.clip(high, 0, 1), color=colour, alpha=0.18, lw=0)
            ax.plot(x, mean, color=colour, lw=1.5, label=f"{AGENT_LABELS[agent]} (n = {len(present)})")
        for budget in budgets:
            if start <= budget <= stop:
                ax.axvline(budget, color="0.6", lw=0.7, ls=":", zorder=0)
        ax.axhline(criterion, color="0.6", lw=0.7, ls="--", zorder=0)
        ax.set_xlim(start, stop)
        _success_axis(ax)
        ax.set_xlabel("training trials")
    axes[0].set_ylabel("held-out success, exploration noise off")
    axes[0].set_title("the protocol's trials", fontsize=9)
    axes[1].set_title("every trial (dotted: the budgets compared)", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7.5, frameon=False, loc="upper center", ncol=len(labels))
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig


def _report(rows: list[dict], curves, seeds: list[int], budgets: list[int], eval_every: int,
            criterion: float, failed: dict[str, dict]) -> str:
    lines = ["# The dopamine-gated cortex against Stable-Baselines3", "",
             f"Held-out success of each agent's mean policy (exploration noise off) on the same "
             f"{len(seeds)} seed(s), every agent shaped on the same demonstrations to the same criterion "
             f"before learning (`training/sb3_shaped.py`). Success at a budget is the evaluation after "
             f"the last whole block of {eval_every} trials within it; mean [95 % CI] over seeds. A "
             f"training trial with a lift before the cue ends there, as the lab's early error, so short "
             f"training trials mean a policy that lifts early while it explores.", ""]
    header = ["agent", f"trials to {criterion:g} (median; by seed)", "mean curve reaches it at",
              "control steps per training trial"]
    header += [f"success at {b:,} ({(b // eval_every) * eval_every:,} trials)" for b in budgets]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        median = row["trials_to_criterion_median"]
        cells = [AGENT_LABELS[row["agent"]],
                 f"{median if median != '' else 'not reached'} ({row['reached_criterion']} of {row['seeds']}"
                 f" reached; {row['trials_to_criterion_by_seed']})",
                 f"{row['mean_curve_trials_to_criterion'] or 'not reached'}",
                 f"{row['steps_per_training_trial']}"]
        for b in budgets:
            estimate = Estimate(*(math.nan if row[f"success_at_{b}{s}"] == "" else row[f"success_at_{b}{s}"]
                                  for s in ("", "_low", "_high")), row[f"success_at_{b}_n"])
            cells.append(estimate.format() + (f" (n = {estimate.n})" if estimate.n != row["seeds"] else ""))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if CORTEX in curves:
        lines += ["Paired differences, cortex minus each SB3 agent (same seeds, same held-out trials):", ""]
        for agent in curves:
            if agent == CORTEX:
                continue
            for budget, block in _blocks(budgets, eval_every).items():
                both = [s for s in seeds
                        if block in curves[CORTEX].get(s, {}) and block in curves[agent].get(s, {})]
                if not both:
                    continue
                test = paired([curves[CORTEX][s][block][1] for s in both],
                              [curves[agent][s][block][1] for s in both])
                lines.append(f"- vs {AGENT_LABELS[agent]} at {budget:,} trials: {test.format()}")
        lines.append("")
    if failed:
        lines += ["Runs that failed or did not finish: " + ", ".join(sorted(failed)), ""]
    lines += [f"![learning curves](figures/{FIGURE}.png)", ""]
    return "\n".join(lines)


def analyse_versus(out: Path, agents: list[str], seeds: list[int], budgets: list[int], eval_every: int,
                   criterion: float, run_dirs: dict[str, Path], failed: dict[str, dict]) -> Path:
    """Write ``versus.csv``, ``evaluation.csv``, the figure and ``report.md`` into ``out``; returns the
    report's path."""
    from analysis.figures import _save

    out = Path(out)
    curves = read_curves(run_dirs, agents, seeds)
    trial_steps = {a: [steps_per_trial(run_dirs[run_format.run_key(a, s)]) for s in seeds
                       if s in curves[a]] for a in agents}
    rows = summarise(curves, seeds, budgets, eval_every, criterion, trial_steps)
    run_format.write_rows(out / run_format.VERSUS_TABLE, _table_columns(budgets), rows)
    run_format.write_rows(out / run_format.EVALUATION_TABLE, ("agent", "seed", "block", "trials", "success"),
                          ({"agent": a, "seed": s, "block": b, "trials": t, "success": v}
                           for a, by_seed in curves.items() for s, curve in sorted(by_seed.items())
                           for b, (t, v) in sorted(curve.items())))
    figures = out / run_format.FIGURES_DIR
    figures.mkdir(exist_ok=True)
    _save(draw_curves(curves, seeds, budgets, eval_every, criterion), figures, FIGURE)
    report = out / run_format.REPORT_FILE
    report.write_text(_report(rows, curves, seeds, budgets, eval_every, criterion, failed))
    return report
