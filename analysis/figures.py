"""Figures of an ablation (matplotlib, PNG and SVG): behaviour, expert manipulations, neural metrics.

Behaviour: ``learning_curves`` shows the held-out evaluation (noise off solid, the primary measure; noise
on dashed) and the training trials; ``expert_effects`` the training trials of the expert manipulations.
Every curve is the mean across seeds with its 95 % Student-t interval (the unit of replication is the
seed, as the animal is in the lab); blocked sessions are shaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.conditions import EXPERT, FULL_LENGTH, Condition
from analysis.findings import Data, span
from analysis.statistics import mean_ci
from analysis.tables import NOISE_OFF, NOISE_ON

COLOURS = {c: c.spec.colour for c in Condition}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, name: str) -> list[Path]:
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    _pyplot().close(fig)
    return paths


def _shade(ax, block: tuple[int, int], expert: range) -> None:
    ax.axvspan(block[0] - 0.5, block[1] + 0.5, color="0.88", zorder=0, lw=0)
    ax.axvspan(expert.start - 0.5, expert.stop - 0.5, color="#efe3f7", zorder=0, lw=0)


def _curve(ax, d: Data, condition: str, metric: str, sessions: list[int], label: str | None = None,
           marker: str = "o", band: bool = True, **style) -> None:
    """Mean across seeds per session with its 95 % CI: a shaded band, or error bars (``band=False``, for
    sparse points whose band would interpolate between far-apart sessions)."""
    cis = [mean_ci(d.value(condition, metric, s)) for s in sessions]
    x = np.array([s for s, c in zip(sessions, cis, strict=True) if c.n > 0])
    if len(x) == 0:
        return
    kept = [c for c in cis if c.n > 0]
    mean = np.array([c.mean for c in kept])
    low = np.array([c.low for c in kept])
    high = np.array([c.high for c in kept])
    colour = COLOURS.get(condition, "0.3")
    ax.plot(x, mean, marker=marker, ms=3.5, color=colour, label=label or condition, **style)
    if band:
        ax.fill_between(x, low, high, color=colour, alpha=0.18, lw=0)
    elif np.isfinite(low).any():
        ax.errorbar(x, mean, yerr=[mean - low, high - mean], fmt="none", ecolor=colour, elinewidth=0.8,
                    capsize=2, alpha=0.6)


def learning_curves(d: Data, sessions: int, block: tuple[int, int], expert: range, out: Path) -> list[Path]:
    """Success per session of every condition, mean and 95 % CI across seeds, in two panels.

    Left (primary): held-out evaluation after each session (0 = before session 1), noise off solid,
    noise on dashed with open markers (evaluated before session 1 and after a run's last session). The
    thalamus-silenced experts are left out there: evaluations run with the thalamus intact. Right: the
    training trials during each session (exploration noise on, while learning), every condition.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D

    fig, (ax, ax_train) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    # The evaluation after session s follows the trials of session s: block / expert shading as there.
    for axis in (ax, ax_train):
        _shade(axis, block, expert)
    evaluated = list(range(0, sessions + 1))
    for condition in (Condition.INTACT, Condition.BLOCK_2_4, Condition.PARTIAL_BLOCK, Condition.EXPERT_BLOCK):
        _curve(ax, d, condition, NOISE_OFF, evaluated)
        _curve(ax, d, condition, NOISE_ON, evaluated, label=f"{condition}, noise on", ls="--",
               mfc="white", band=False)
    every = list(range(1, sessions + 1))
    for condition in FULL_LENGTH:
        _curve(ax_train, d, condition, "success", every)
    for condition in EXPERT:
        _curve(ax_train, d, condition, "success", list(expert), marker="s")
    for axis in (ax, ax_train):
        axis.text(np.mean(block), 1.02, "M1 dopamine\nblocked", ha="center", va="bottom", fontsize=7,
                  transform=axis.get_xaxis_transform())
        axis.text((expert.start + expert.stop - 1) / 2, 1.02, "expert\nmanipulation", ha="center",
                  va="bottom", fontsize=7, transform=axis.get_xaxis_transform())
        axis.spines[["top", "right"]].set_visible(False)
    ax.set(xlabel="sessions completed (0: before session 1)", ylabel="success rate", xticks=evaluated,
           ylim=(0, 1), xlim=(-0.5, sessions + 0.5))
    ax.set_title("held-out evaluation: noise off (solid, primary), noise on (dashed)", fontsize=8, pad=22)
    ax_train.set(xlabel="session", xticks=every, xlim=(0.5, sessions + 0.5))
    ax_train.set_title("training trials (exploration noise on, while learning)", fontsize=8, pad=22)
    conditions = {}
    for axis in (ax, ax_train):
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            if not label.endswith(", noise on"):
                conditions.setdefault(label, Line2D([], [], color=handle.get_color(), marker="o", ms=3.5))
    if conditions:  # no curve at all when every run failed: no legend to draw
        styles = [Line2D([], [], color="0.3", marker="o", ms=3.5), Line2D([], [], color="0.3", ls="--",
                                                                           marker="o", mfc="white", ms=3.5)]
        fig.legend(list(conditions.values()) + styles,
                   list(conditions) + ["evaluation, noise off", "evaluation, noise on"],
                   frameon=False, fontsize=7, loc="lower center", ncol=4,
                   title=f"mean, 95 % CI across {len(d.seeds)} seeds", title_fontsize=7)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return _save(fig, out, "learning_curves")


def expert_effects(d: Data, expert: range, out: Path) -> list[Path]:
    """Experts' success in the manipulated sessions: intact vs dopamine blocked vs thalamus silenced.

    Success of the training trials (finding 9): the held-out evaluations run with the thalamus intact and
    cannot show the silencing."""
    plt = _pyplot()
    conditions = (Condition.INTACT, Condition.EXPERT_BLOCK, Condition.EXPERT_THALAMUS_BLOCK)
    labels = (Condition.INTACT.spec.label, "M1 dopamine\nblocked", "thalamic input\nsilenced")
    values = np.array([d.mean_over(c, "success", expert) for c in conditions])  # (3, seeds)
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    x = np.arange(len(conditions))
    for seed_values in values.T:
        ax.plot(x, seed_values, color="0.75", lw=0.8, marker=".", zorder=1)
    for i, condition in enumerate(conditions):
        ci = mean_ci(values[i])
        if ci.n:
            yerr = None if np.isnan(ci.low) else [[ci.mean - ci.low], [ci.high - ci.mean]]
            ax.bar(i, ci.mean, width=0.55, color=COLOURS[condition], alpha=0.7, zorder=0)
            ax.errorbar(i, ci.mean, yerr=yerr, color="k", capsize=4, zorder=2)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set(ylabel=f"success rate, training trials, {span(expert)}", ylim=(0, 1))
    ax.set_title("experts: needed to learn vs needed to execute", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _save(fig, out, "expert_effects")


#: Metric panels of the neural figure: (key, y label).
NEURAL_PANELS = (
    ("mean_activity", "mean |rate|"),
    ("mean_correlation", "mean correlation"),
    ("distance_to_expert", "Riemannian distance\nto expert session"),
    ("p_expert", "P(expert), linear SVM"),
    ("indicative_fraction", "indicative units (fraction)"),
    ("cue_outcome_index", "cue -> outcome index"),
    ("th_movement_given_excited", "probe Th-excited units\nthat encode movement"),
    ("input_r2_thalamus", "R^2 of motor command\nfrom thalamic rates"),
    ("input_lead_thalamus_s", "thalamic lead\nbefore lift (s)"),
)


def neural_metrics(d: Data, sessions: int, block: tuple[int, int], expert: range, out: Path) -> list[Path]:
    """Every neural metric per session of the full-length conditions (mean, 95 % CI across seeds)."""
    plt = _pyplot()
    fig, axes = plt.subplots(3, 3, figsize=(10, 8), sharex=True)
    every = list(range(1, sessions + 1))
    for ax, (metric, label) in zip(axes.flat, NEURAL_PANELS, strict=True):
        _shade(ax, block, expert)
        # Only the full-length conditions are analysed (analysis.ablation_report.NEURAL_CONDITIONS).
        for condition in FULL_LENGTH:
            _curve(ax, d, condition, metric, every)
        if metric == "input_r2_thalamus":
            _curve(ax, d, Condition.INTACT, "input_r2_s1", every, label="intact, S1 input", ls=":")
        if metric == "indicative_fraction":
            _curve(ax, d, Condition.INTACT, "indicative_fraction_shuffled", every,
                   label="intact, shuffled labels", ls=":", alpha=0.6)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("session")
        ax.set_xticks(every)
    legend = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), loc="upper center", ncol=4, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return _save(fig, out, "neural_metrics")


def diffusion_maps(embeddings: dict[str, dict[str, np.ndarray]], seed: int, out: Path) -> list[Path]:
    """Trials in the first two diffusion coordinates, coloured by session, marked by outcome."""
    plt = _pyplot()
    shown = {c: e for c, e in embeddings.items() if e is not None and len(e.get("session", []))}
    if not shown:
        return []
    fig, axes = plt.subplots(1, len(shown), figsize=(3.4 * len(shown), 3.2), squeeze=False)
    for ax, (condition, e) in zip(axes[0], shown.items(), strict=True):
        success = np.asarray(e["success"], dtype=bool)
        sessions = np.asarray(e["session"])
        for mask, marker, label in ((success, "o", "success"), (~success, "x", "failure")):
            points = ax.scatter(e["coords"][mask, 0], e["coords"][mask, 1], c=sessions[mask], cmap="viridis",
                                vmin=sessions.min(), vmax=sessions.max(), s=7, marker=marker, lw=0.7,
                                label=label)
        ax.legend(fontsize=7, frameon=False)
        ax.set(title=f"{condition}, seed {seed}", xlabel="diffusion 1", ylabel="diffusion 2")
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=7)
        fig.colorbar(points, ax=ax, label="session")
    fig.tight_layout()
    return _save(fig, out, "diffusion_maps")
