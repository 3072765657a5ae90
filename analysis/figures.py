"""Figures of an ablation (matplotlib, PNG and SVG): behaviour, expert manipulations, neural metrics, the
trials' diffusion map and the dopamine signature.

Every curve is the mean across seeds with its 95 % Student-t interval (the unit of replication is the
seed, as the animal is in the lab), a light band where the points are consecutive sessions, error bars
where they are sparse. A shaded span marks the sessions of a manipulation, and only in panels that show
the conditions it manipulates. Each ``draw_*`` function returns the matplotlib Figure (tests inspect it);
the function of the figure's name draws, saves and closes it and returns the files written.
``analysis.ablation_report`` writes a caption for each figure into the report (what a reader should see).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.conditions import FULL_LENGTH, Condition
from analysis.findings import Data, span
from analysis.statistics import Estimate, mean_ci
from analysis.tables import NOISE_OFF, NOISE_ON, RPE_CUE, RPE_OUTCOME, THALAMUS_GAIN

COLOURS = {c: c.spec.colour for c in Condition}
#: The figures, in the order the report shows them.
ORDER = ("learning_curves", "expert_effects", "neural_metrics", "diffusion_maps", "dopamine_signature")
FORMATS = ("png", "svg")
#: Opacity of a CI band: light, so that two or three overlapping bands keep their colours apart.
BAND_ALPHA = 0.12
#: Success is a fraction in [0, 1]; the axes reach this far beyond, so that a line at 0 % (or 100 %) is
#: drawn inside the axes, above the x-axis, not hidden by it.
MARGIN = 0.06
SPAN_COLOURS = {"block": "0.92", "expert": "#f1e6f8"}
#: The two control lines of the neural figure: styles distinct from each other and from the conditions.
SHUFFLED_STYLE = {"color": "0.4", "ls": "--", "marker": "x", "ms": 4}
INPUT_CONTROL_STYLE = {"color": "#8c564b", "ls": "-.", "marker": "^", "ms": 3.5}
RPE_COLOURS = {RPE_CUE: "#138d90", RPE_OUTCOME: "#b5338a"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, name: str, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    paths = [Path(out) / f"{name}.{suffix}" for suffix in formats]
    for path in paths:
        fig.savefig(path, dpi=150)
    _pyplot().close(fig)
    return paths


def condition_label(condition: str, partial_gain: float | None = None) -> str:
    """``name: what it does`` for a legend; partial_block's says its dopamine gain where it is known."""
    text = Condition(condition).spec.label
    if condition == Condition.PARTIAL_BLOCK and partial_gain is not None:
        text = text.replace("at partial gain", f"at gain {partial_gain:g}")
    return str(condition) if text == condition else f"{condition}: {text}"


def _block_label(block: tuple[int, int], partial_gain: float | None) -> str:
    gain = f"{partial_gain:g}" if partial_gain is not None else "g < 1"
    return (f"sessions {block[0]}-{block[1]}: M1 dopamine blocked (block_2_4)\nor at gain {gain} "
            "(partial_block)")


def _band_label(d: Data) -> str:
    return f"band / error bars: 95 % CI across {len(d.seeds)} seeds"


def silenced_evaluations(d: Data, expert: range) -> bool:
    """Did expert_thalamus_block's held-out evaluations in the expert sessions run with the thalamus
    silenced (``thalamus_gain`` 0 in every one)? False without the column (as finding 9 reads it): they
    ran with the thalamus intact or it is not recorded, so they cannot show the silencing."""
    condition = Condition.EXPERT_THALAMUS_BLOCK
    evaluated = np.isfinite([d.value(condition, NOISE_OFF, s) for s in expert])
    gains = np.array([d.value(condition, THALAMUS_GAIN, s) for s in expert])
    return bool(evaluated.any()) and bool(np.all(gains[evaluated] == 0))


#: summary.csv's column prefix of a Data metric (its per-session mean and CI across seeds).
_SUMMARY_PREFIX = {"success": "success", NOISE_OFF: "success_noise_off", NOISE_ON: "success_noise_on",
                   "precue_lift": "precue_lift"}


def _estimates(d: Data, condition: str, metric: str, sessions: list[int],
               summary: list[dict] | None = None) -> list[tuple[int, Estimate]]:
    """Per session, the mean across seeds with its 95 % CI (sessions without a value left out): from the
    per-seed values of ``d``, or, where ``d`` has none of the condition's (a record without trials.csv),
    from summary.csv's per-session mean and CI, which were computed from the same per-seed values."""
    found = [(s, e) for s in sessions if (e := mean_ci(d.value(condition, metric, s))).n > 0]
    prefix = _SUMMARY_PREFIX.get(metric)
    if found or not summary or prefix is None:
        return found

    def number(row: dict, column: str) -> float:
        value = row.get(column, "")
        return np.nan if value in ("", None) else float(value)

    for row in summary:
        if row["condition"] == condition and int(row["session"]) in sessions:
            mean = number(row, f"{prefix}_mean")
            if np.isfinite(mean):
                found.append((int(row["session"]), Estimate(mean, number(row, f"{prefix}_ci_low"),
                                                              number(row, f"{prefix}_ci_high"),
                                                              int(row.get("seeds") or 0))))
    return sorted(found, key=lambda item: item[0])


def _curve(ax, points: list[tuple[int, Estimate]], colour: str, label: str | None = None, marker: str = "o",
           band: bool | None = None, **style) -> bool:
    """Draw means with their CIs: a band where the sessions are consecutive (``band=None``), else error
    bars (a band would interpolate between far-apart sessions). Returns whether anything was drawn.

    Lines and markers lie above the bands and spans and are not clipped at the axes, so that a value at
    an axis limit stays visible."""
    if not points:
        return False
    x = np.array([s for s, _ in points])
    mean = np.array([e.mean for _, e in points])
    low = np.array([e.low for _, e in points])
    high = np.array([e.high for _, e in points])
    if band is None:
        band = len(x) > 1 and bool(np.all(np.diff(x) == 1))
    style = {"ms": 3.5, "lw": 1.5, **style}
    ax.plot(x, mean, marker=marker, color=colour, label=label, zorder=3, clip_on=False, **style)
    if not np.isfinite(low).any():  # one seed: no interval
        return True
    if band:
        # light fill plus thin edges in the line's colour: where bands overlap, each stays traceable
        ax.fill_between(x, low, high, color=colour, alpha=BAND_ALPHA, lw=0, zorder=1)
        for edge in (low, high):
            ax.plot(x, edge, color=colour, lw=0.6, alpha=0.45, zorder=1.5)
    else:
        ax.errorbar(x, mean, yerr=[mean - low, high - mean], fmt="none", ecolor=colour, elinewidth=0.9,
                    capsize=2.5, alpha=0.7, zorder=2)
    return True


def _span(ax, sessions: tuple[int, int], kind: str) -> None:
    ax.axvspan(sessions[0] - 0.5, sessions[1] + 0.5, color=SPAN_COLOURS[kind], zorder=0, lw=0)


def _note(ax, text: str, y: float = 0.5) -> None:
    """Say in a panel what it lacks (a missing curve must not pass for a curve at 0)."""
    ax.text(0.5, y, text, transform=ax.transAxes, ha="center", va="center", fontsize=7.5, color="0.35",
            bbox={"facecolor": "white", "edgecolor": "0.8", "boxstyle": "round,pad=0.3"}, zorder=5)


def _marker(condition: str) -> str:
    """Squares for the expert manipulations (forked runs), circles for the others."""
    return "s" if Condition(condition).spec.forks_after_expert else "o"


def _success_axis(ax) -> None:
    """A success-rate axis with a margin below 0 and above 1: the spine spans 0-1, the margin is empty."""
    ax.set_ylim(-MARGIN, 1 + MARGIN)
    ax.spines["left"].set_bounds(0, 1)
    ax.axhline(0, color="0.75", lw=0.6, zorder=0.5)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)


def _patch(colour: str, label: str, alpha: float = 1.0):
    from matplotlib.patches import Patch

    return Patch(facecolor=colour, edgecolor="none", alpha=alpha, label=label)


def draw_learning_curves(d: Data, sessions: int, block: tuple[int, int], expert: range, *,
                         partial_gain: float | None = None, summary: list[dict] | None = None):
    """Success per session, one row per comparison and one column per measure; returns the Figure.

    Rows: learning with M1 dopamine blocked or at a partial gain in sessions ``block`` (intact,
    block_2_4, partial_block; the block's span shaded), and the expert manipulations in ``expert`` (intact,
    expert_block, expert_thalamus_block, from three sessions before them; their span shaded). Columns: the
    held-out evaluation after each session with exploration noise off (the primary measure; 0 = before
    session 1), the same with noise on, and the training trials during each session (noise on, while
    learning). expert_thalamus_block's evaluations are drawn only where they ran with the thalamus
    silenced (:func:`silenced_evaluations`). ``summary`` (summary.csv's rows) stands in for the per-seed
    values a record lacks (no trials.csv: the training trials)."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(2, 3, figsize=(14, 7.4), sharey=True)
    first_expert = max(1, expert.start - 3)
    rows = (((Condition.INTACT, Condition.BLOCK_2_4, Condition.PARTIAL_BLOCK), 0, "block"),
            ((Condition.INTACT, Condition.EXPERT_BLOCK, Condition.EXPERT_THALAMUS_BLOCK), first_expert,
             "expert"))
    columns = ((NOISE_OFF, "held-out evaluation, noise off (primary)"),
               (NOISE_ON, "held-out evaluation, noise on"),
               ("success", "training trials, during each session\n(exploration noise on, while learning)"))
    silenced = silenced_evaluations(d, expert)
    for (conditions, first, kind), row in zip(rows, axes, strict=True):
        for (metric, title), ax in zip(columns, row, strict=True):
            start = first if metric != "success" else max(first, 1)
            shown = list(range(start, sessions + 1))
            _span(ax, block if kind == "block" else (expert.start, expert.stop - 1), kind)
            drawn = False
            for condition in conditions:
                if (metric != "success" and condition == Condition.EXPERT_THALAMUS_BLOCK and not silenced):
                    _note(ax, "expert_thalamus_block not shown: its evaluations are\nnot recorded as run "
                              "with the thalamus silenced", y=0.12)
                    continue
                points = _estimates(d, condition, metric, shown, summary)
                drawn |= _curve(ax, points, COLOURS[condition], condition, marker=_marker(condition),
                                **({"mfc": "white"} if metric == NOISE_ON else {}))
            if not drawn:
                _note(ax, "not in this record")
            _success_axis(ax)
            ax.set_xlim(start - 0.5, sessions + 0.5)
            ax.set_xticks(shown)
            if kind == "block":
                ax.set_title(title, fontsize=9)
            before = " (0: before session 1)" if start == 0 else ""
            ax.set_xlabel("session" if metric == "success" else f"sessions completed{before}", fontsize=8.5)
        row[0].set_ylabel("success rate (fraction of trials)", fontsize=9)
        span_label = (_block_label(block, partial_gain) if kind == "block" else
                      f"{span(expert)}: expert manipulations\n(forked from intact after session "
                      f"{expert.start - 1})")
        handles = [Line2D([], [], color=COLOURS[c], marker=_marker(c), ms=4,
                          label=condition_label(c, partial_gain).replace(": ", ":\n", 1))
                   for c in conditions]
        handles += [_patch(SPAN_COLOURS[kind], span_label), _patch("0.3", _band_label(d), BAND_ALPHA * 2),
                    Line2D([], [], color="0.3", marker="o", mfc="white", ms=4,
                           label="open markers: noise on")]
        title = ("learning with M1 dopamine\nblocked or at a partial gain" if kind == "block" else
                 "experts: M1 dopamine blocked\nor thalamic input silenced")
        legend = row[-1].legend(handles=handles, loc="center left", bbox_to_anchor=(1.03, 0.5), frameon=False,
                                fontsize=7.5, labelspacing=0.9, title=title, title_fontsize=8.5)
        legend._legend_box.align = "left"  # the title above the entries, not centred over them
    fig.tight_layout()
    return fig


def learning_curves(d: Data, sessions: int, block: tuple[int, int], expert: range, out: Path, *,
                    partial_gain: float | None = None, summary: list[dict] | None = None,
                    formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """:func:`draw_learning_curves`, saved as ``learning_curves``; returns the files."""
    fig = draw_learning_curves(d, sessions, block, expert, partial_gain=partial_gain, summary=summary)
    return _save(fig, out, "learning_curves", formats)


@dataclass(frozen=True)
class _Bar:
    label: str
    colour: str
    values: np.ndarray  # per seed
    note: str = ""  # drawn instead of a bar where the values do not measure what the label says


def _bars(ax, bars: list[_Bar], title: str, ylabel: str) -> None:
    """Mean across seeds (bar; its value under the bar's name), 95 % CI (black error bar) and each seed (grey
    line across the bars). A bar that is (nearly) 0 has no visible area: a stroke in its colour and its
    value printed above it show that it was measured and is 0, not missing."""
    x = np.arange(len(bars))
    stack = np.array([b.values for b in bars])
    for seed_values in stack.T:
        ax.plot(x, seed_values, color="0.72", lw=0.8, marker=".", zorder=1, clip_on=False)
    names = []
    for i, bar in enumerate(bars):
        ci = mean_ci(bar.values)
        if bar.note or not ci.n:
            ax.text(i, 0.5, bar.note or "not in this record", ha="center", va="center", fontsize=7,
                    color="0.35", rotation=90)
            names.append(bar.label)
            continue
        names.append(f"{bar.label}\nmean {ci.mean:.2f}")
        ax.bar(i, ci.mean, width=0.6, color=bar.colour, alpha=0.75, zorder=0)
        ax.hlines(ci.mean, i - 0.3, i + 0.3, color=bar.colour, lw=2.5, zorder=2)
        if np.isfinite(ci.low):
            ax.errorbar(i, ci.mean, yerr=[[ci.mean - ci.low], [ci.high - ci.mean]], color="k", capsize=4,
                        zorder=3)
        if ci.mean < 0.05:
            top = ci.high if np.isfinite(ci.high) else ci.mean
            ax.text(i, top + 0.03, f"{ci.mean:.2f}", ha="center", va="bottom", fontsize=8.5,
                    fontweight="bold", color=bar.colour, zorder=4)
    ax.set_xticks(x, names, fontsize=7.5)
    _success_axis(ax)
    ax.set_xlim(-0.6, len(bars) - 0.4)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8.5)


def draw_expert_effects(d: Data, expert: range):
    """The experts' success under each manipulation, per seed; returns the Figure (None without data).

    Left: the held-out evaluations with noise off (finding 9's measure): the expert level (intact's
    evaluation after session ``expert.start - 1``, the fork) and, averaged over ``expert``, intact and the
    two manipulations (expert_thalamus_block only where its evaluations ran with the thalamus silenced).
    Right, where the record has per-seed training trials: their success over ``expert`` (noise on)."""
    plt = _pyplot()
    fork = expert.start - 1
    after = f"after {expert.start}" + (f"-{expert.stop - 1}" if len(expert) > 1 else "")
    held_out = [_Bar(f"expert level\n(intact,\nafter {fork})", "#9ec5e8",
                     d.value(Condition.INTACT, NOISE_OFF, fork)),
                _Bar(f"intact,\n{after}", COLOURS[Condition.INTACT],
                     d.mean_over(Condition.INTACT, NOISE_OFF, expert)),
                _Bar(f"M1 dopamine\nblocked,\n{after}", COLOURS[Condition.EXPERT_BLOCK],
                     d.mean_over(Condition.EXPERT_BLOCK, NOISE_OFF, expert)),
                _Bar(f"thalamic input\nsilenced,\n{after}", COLOURS[Condition.EXPERT_THALAMUS_BLOCK],
                     d.mean_over(Condition.EXPERT_THALAMUS_BLOCK, NOISE_OFF, expert),
                     "" if silenced_evaluations(d, expert) else "evaluated with the\nthalamus intact")]
    trained = [_Bar(Condition.INTACT.spec.label, COLOURS[Condition.INTACT],
                    d.mean_over(Condition.INTACT, "success", expert)),
               _Bar("M1 dopamine\nblocked", COLOURS[Condition.EXPERT_BLOCK],
                    d.mean_over(Condition.EXPERT_BLOCK, "success", expert)),
               _Bar("thalamic input\nsilenced", COLOURS[Condition.EXPERT_THALAMUS_BLOCK],
                    d.mean_over(Condition.EXPERT_THALAMUS_BLOCK, "success", expert))]
    panels = [(bars, title, label) for bars, title, label in (
        (held_out, "held-out evaluation, noise off (finding 9's measure)",
         "success rate (fraction of trials)"),
        (trained, f"training trials, {span(expert)} (noise on)", "success rate (fraction of trials)"))
        if any(np.isfinite(b.values).any() for b in bars)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.3), squeeze=False,
                             gridspec_kw={"width_ratios": [len(b) for b, _, _ in panels]})
    for ax, (bars, title, label) in zip(axes[0], panels, strict=True):
        _bars(ax, bars, title, label)
    fig.suptitle(f"experts: needed to learn vs needed to execute ({len(d.seeds)} seeds)", fontsize=10)
    over = f"; over {span(expert)}: each seed's mean over them" if len(expert) > 1 else ""
    fig.text(0.5, 0.01, f"bar: mean across seeds (value under its name{over}); error bar: 95 % CI across "
                        "seeds (Student t); grey line: one seed", ha="center", fontsize=7.5, color="0.3")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def expert_effects(d: Data, expert: range, out: Path, *, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """:func:`draw_expert_effects`, saved as ``expert_effects``; returns the files (none without data)."""
    fig = draw_expert_effects(d, expert)
    return [] if fig is None else _save(fig, out, "expert_effects", formats)


@dataclass(frozen=True)
class Metric:
    """A metric a neural panel can draw: its column, its y label (with its unit) and intact's control
    lines beside it (metric, legend label, style)."""

    name: str
    label: str
    controls: tuple[tuple[str, str, dict], ...] = ()


#: The neural figure's panels, each the first of its metrics that the record has: records made before a
#: metric existed carry its predecessor (circuit v1's tables: th_movement_overlap, th_movement_r2 and
#: rec_movement_r2, th_input_lead_s), which the panel then shows under its own name.
NEURAL_PANELS: tuple[tuple[Metric, ...], ...] = (
    (Metric("mean_activity", "mean |rate| (a.u.)"),),
    (Metric("mean_correlation", "mean correlation\n(Pearson r)"),),
    (Metric("distance_to_expert", "Riemannian distance to the\nreference session (a.u.)"),),
    (Metric("p_expert", "P(expert), linear SVM\n(probability)"),),
    (Metric("indicative_fraction", "indicative units\n(fraction of units)",
            (("indicative_fraction_shuffled", "intact, shuffled labels (chance level)", SHUFFLED_STYLE),)),),
    (Metric("cue_outcome_index", "cue -> outcome index\n(-1: all cue, +1: all outcome)"),),
    (Metric("th_movement_given_excited", "Th-excited units that encode\nmovement (fraction)"),
     Metric("th_movement_overlap", "most Th-driven units that are\nmovement units (fraction)")),
    (Metric("input_r2_thalamus", "R^2 of the motor command from\nthalamic rates (fraction of var.)",
            (("input_r2_s1", "intact, S1 input's R^2 (control)", INPUT_CONTROL_STYLE),)),
     Metric("th_movement_r2", "R^2 of the motor command from\nthalamic currents (fraction of var.)",
            (("rec_movement_r2", "intact, recurrent input's R^2 (control)", INPUT_CONTROL_STYLE),))),
    (Metric("input_lead_thalamus_s", "thalamic lead (s)\n+ = before the lift"),
     Metric("th_input_lead_s", "thalamic drive's lead (s)\n+ = before the lift")),
)


def _present(d: Data, metric: str) -> bool:
    return any(d.sessions(c, metric) for c in FULL_LENGTH)


def neural_panel_metrics(d: Data) -> list[Metric | None]:
    """The metric each panel of the neural figure draws from ``d`` (None: the record has none of them)."""
    return [next((m for m in panel if _present(d, m.name)), None) for panel in NEURAL_PANELS]


def draw_neural_metrics(d: Data, sessions: int, block: tuple[int, int], expert: range, *,
                        partial_gain: float | None = None):
    """Every neural metric per session of the full-length conditions (mean, 95 % CI across seeds);
    returns the Figure. The block's span is shaded (the expert manipulations are not in these panels: no
    span for them); the reference session (``expert.start - 1``, the expert of distance_to_expert and of
    p_expert's classifier) is marked."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    reference = expert.start - 1
    fig, axes = plt.subplots(3, 3, figsize=(11.5, 9.4), sharex=True)
    every = list(range(1, sessions + 1))
    controls = {}
    for ax, panel, metric in zip(axes.flat, NEURAL_PANELS, neural_panel_metrics(d), strict=True):
        _span(ax, block, "block")
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
        if metric is None:
            ax.set_title(" / ".join(m.name for m in panel), fontsize=7.5, family="monospace")
            _note(ax, "not in this record")
            continue
        ax.set_title(metric.name, fontsize=8, family="monospace")
        ax.set_ylabel(metric.label, fontsize=8.5)
        for condition in FULL_LENGTH:
            _curve(ax, _estimates(d, condition, metric.name, every), COLOURS[condition], condition)
        for name, label, style in metric.controls:
            rest = {k: v for k, v in style.items() if k not in ("color", "marker")}
            if _curve(ax, _estimates(d, Condition.INTACT, name, every), style["color"], label,
                      marker=style["marker"], **rest):
                controls[label] = style
        if metric.name in ("cue_outcome_index", "input_lead_thalamus_s", "th_input_lead_s"):
            ax.axhline(0, color="0.6", lw=0.7, zorder=0.5)
        if metric.name == "distance_to_expert":
            ax.axvline(reference, color="0.3", ls=":", lw=1, zorder=0.5)
            ax.text(reference + 0.2, 0.97, f"reference: session {reference}\n(0 there by construction)",
                    transform=ax.get_xaxis_transform(), fontsize=7, va="top", color="0.25")
        if metric.name == "p_expert":
            for session in (1, reference):
                ax.axvline(session, color="0.3", ls=":", lw=1, zorder=0.5)
            ax.text(0.98, 0.04, f"classifier trained on\nsessions 1 vs {reference} (dotted)",
                    transform=ax.transAxes, fontsize=7, ha="right", va="bottom", color="0.25")
    for ax in axes[-1]:
        ax.set_xlabel("session", fontsize=9)
        ax.set_xticks(every)
        ax.set_xlim(0.5, sessions + 0.5)
    handles = [Line2D([], [], color=COLOURS[c], marker="o", ms=4, label=condition_label(c, partial_gain))
               for c in FULL_LENGTH]
    handles += [Line2D([], [], lw=1.5, label=label, **style) for label, style in controls.items()]
    handles += [_patch(SPAN_COLOURS["block"], _block_label(block, partial_gain).replace("\n", " ")),
                _patch("0.3", _band_label(d).replace("band / error bars", "band"), BAND_ALPHA * 2),
                Line2D([], [], color="0.3", ls=":", label=f"dotted: reference session {reference} (and "
                                                          "session 1 for p_expert)")]
    fig.legend(handles=handles, loc="upper center", ncol=2, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def neural_metrics(d: Data, sessions: int, block: tuple[int, int], expert: range, out: Path, *,
                   partial_gain: float | None = None, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """:func:`draw_neural_metrics`, saved as ``neural_metrics``; returns the files."""
    fig = draw_neural_metrics(d, sessions, block, expert, partial_gain=partial_gain)
    return _save(fig, out, "neural_metrics", formats)


def draw_diffusion_maps(embeddings: dict[str, dict[str, np.ndarray]], seed: int, seeds: int | None = None):
    """Trials of one seed's runs in the first two diffusion coordinates, coloured by session, marked by
    outcome; returns the Figure (None without an embedding). ``seeds``: how many the record has, for the
    title."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    shown = {c: e for c, e in embeddings.items() if e is not None and len(e.get("session", []))}
    if not shown:
        return None
    fig, axes = plt.subplots(1, len(shown), figsize=(3.9 * len(shown), 3.7), squeeze=False)
    for ax, (condition, e) in zip(axes[0], shown.items(), strict=True):
        success = np.asarray(e["success"], dtype=bool)
        sessions = np.asarray(e["session"])
        for mask, marker in ((success, "o"), (~success, "x")):
            points = ax.scatter(e["coords"][mask, 0], e["coords"][mask, 1], c=sessions[mask], cmap="viridis",
                                vmin=sessions.min(), vmax=sessions.max(), s=7, marker=marker, lw=0.7)
        handles = [Line2D([], [], ls="", marker="o", color="0.3", ms=4, label="success"),
                   Line2D([], [], ls="", marker="x", color="0.3", ms=4, label="failure")]
        ax.legend(handles=handles, fontsize=7.5, frameon=False)
        ax.set_title(f"{condition}, seed {seed}", fontsize=9)
        ax.set_xlabel("diffusion coordinate 1 (a.u.)", fontsize=8.5)
        ax.set_ylabel("diffusion coordinate 2 (a.u.)", fontsize=8.5)
        ax.tick_params(labelsize=7.5)
        bar = fig.colorbar(points, ax=ax)
        bar.set_label("session", fontsize=8.5)
        bar.ax.tick_params(labelsize=7.5)
    which = f"the record's first seed, one of {seeds}" if seeds else "one seed"
    fig.suptitle(f"trials in diffusion-map coordinates: seed {seed} ({which}; no statistics)", fontsize=9.5)
    fig.tight_layout()
    return fig


def diffusion_maps(embeddings: dict[str, dict[str, np.ndarray]], seed: int, out: Path, *,
                   seeds: int | None = None, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """:func:`draw_diffusion_maps`, saved as ``diffusion_maps``; returns the files (none without data)."""
    fig = draw_diffusion_maps(embeddings, seed, seeds)
    return [] if fig is None else _save(fig, out, "diffusion_maps", formats)


def draw_dopamine_signature(rpe: dict | None, seeds: list[int], sessions: int):
    """intact's TD error summed over the 0.1 s after the cue and after the outcome, per session (mean and
    95 % CI across seeds, from :func:`analysis.tables.rpe_by_seed`); returns the Figure (None where the
    runs did not record it)."""
    if rpe is None:
        return None
    plt = _pyplot()
    table = rpe.get(Condition.INTACT, {})
    every = list(range(1, sessions + 1))

    def points(column: str) -> list[tuple[int, Estimate]]:
        values = {s: np.array([table.get(seed, {}).get(s, {}).get(column, np.nan) for seed in seeds])
                  for s in every}
        return [(s, e) for s in every if (e := mean_ci(values[s])).n > 0]

    found = {column: points(column) for column in (RPE_CUE, RPE_OUTCOME)}
    if not any(found.values()):
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    ax.axhline(0, color="0.6", lw=0.7, zorder=0.5)
    labels = {RPE_CUE: "at the cue (rpe_cue)", RPE_OUTCOME: "at the outcome of rewarded trials (rpe_outcome)"}
    markers = {RPE_CUE: "o", RPE_OUTCOME: "s"}
    for column, estimates in found.items():
        _curve(ax, estimates, RPE_COLOURS[column], labels[column], marker=markers[column])
    ax.set_xticks(every)
    ax.set_xlim(0.5, sessions + 0.5)
    ax.set_xlabel("session", fontsize=9)
    ax.set_ylabel("TD error summed over the 0.1 s\nafter the event (reward units)", fontsize=8.5)
    ax.set_title(f"intact: the dopamine signature ({len(seeds)} seeds; band: 95 % CI)", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def dopamine_signature(rpe: dict | None, seeds: list[int], sessions: int, out: Path, *,
                       formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """:func:`draw_dopamine_signature`, saved as ``dopamine_signature``; returns the files (none where not
    recorded)."""
    fig = draw_dopamine_signature(rpe, seeds, sessions)
    return [] if fig is None else _save(fig, out, "dopamine_signature", formats)
