"""The ablation's figures on synthetic per-seed values: written and non-trivial, a line at 0 % drawn inside
the axes, spans only where their manipulation is shown, units and controls told apart; every figure the
report embeds has a caption; and the dopamine signature (beside the findings) found, absent or not
recorded."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

from analysis import figures
from analysis.ablation_report import figure_captions, render_report
from analysis.conditions import EXPERT, FULL_LENGTH, AblationDesign, Condition
from analysis.findings import Data, all_findings, dopamine_signature, partial_block_lines
from analysis.tables import NOISE_OFF, NOISE_ON, RPE_CUE, RPE_OUTCOME, THALAMUS_GAIN, rpe_by_seed

SEEDS = [0, 1, 2, 3, 4]
SESSIONS, BLOCK, EXPERT_SESSIONS = 10, (2, 4), range(8, 10)
FORK = EXPERT_SESSIONS.start - 1
DESIGN = AblationDesign(seeds=len(SEEDS), sessions=SESSIONS, trials_per_session=8, partial_gain=0.5,
                        expert_after=FORK, expert_sessions=len(EXPERT_SESSIONS))
#: Every metric the neural figure's panels draw first, and their controls.
NEURAL = ("mean_activity", "mean_correlation", "distance_to_expert", "p_expert", "indicative_fraction",
          "indicative_fraction_shuffled", "cue_outcome_index", "th_movement_given_excited",
          "input_r2_thalamus", "input_r2_s1", "input_lead_thalamus_s")


def _success(condition: str, k: int, session: int) -> float:
    """Intact learns; block_2_4 stands still in sessions 2-4; the thalamus-silenced experts fail (0)."""
    intact = min(0.1 + 0.07 * session + 0.01 * k, 0.95)
    if condition == Condition.EXPERT_THALAMUS_BLOCK and session in EXPERT_SESSIONS:
        return 0.0
    if condition == Condition.BLOCK_2_4 and 2 <= session <= 4:
        return min(0.1 + 0.07 + 0.01 * k, 0.95)
    return intact


def synthetic(*, silenced: bool = True, neural: tuple[str, ...] = NEURAL) -> Data:
    """Data of a whole ablation: evaluations (noise off and on, thalamic gain 0 under silencing where
    ``silenced``), training trials and the neural metrics ``neural`` of the full-length conditions."""
    evaluation, success, table = {}, {}, {}
    for condition in Condition:
        forked = condition in EXPERT
        evaluated = range(FORK, EXPERT_SESSIONS.stop) if forked else range(SESSIONS + 1)
        for k, seed in enumerate(SEEDS):
            for session in evaluated:
                value = _success(condition, k, session)
                cell = {NOISE_OFF: value, NOISE_ON: max(value - 0.05, 0.0)}
                if silenced:
                    cell[THALAMUS_GAIN] = 0.0 if (condition == Condition.EXPERT_THALAMUS_BLOCK
                                                  and session in EXPERT_SESSIONS) else 1.0
                evaluation.setdefault(condition, {}).setdefault(seed, {})[session] = cell
                if session >= 1 and (not forked or session in EXPERT_SESSIONS):
                    success.setdefault(condition, {}).setdefault(seed, {})[session] = value
                if condition in FULL_LENGTH and session >= 1:
                    metrics = {m: 0.3 + 0.02 * session + 0.01 * k + 0.05 * i for i, m in enumerate(neural)}
                    if "distance_to_expert" in metrics:
                        metrics["distance_to_expert"] = abs(FORK - session) * (0.3 + 0.01 * k)
                    table.setdefault(condition, {}).setdefault(seed, {})[session] = metrics
    return Data(SEEDS, success, table, evaluation, circuits=frozenset({2}))


def _rpe_rows(outcome_slope: float, cue_slope: float, columns: bool = True) -> list[dict[str, str]]:
    """Trial rows of intact (4 trials per session and seed) whose rpe_outcome / rpe_cue change by the given
    slopes per session (plus per-seed offsets and per-trial noise); an empty cell now and then (the event
    did not happen)."""
    rows = []
    for k, seed in enumerate(SEEDS):
        for session in range(1, SESSIONS + 1):
            for t in range(4):
                row = {"condition": "intact", "seed": str(seed), "session": str(session), "episode": str(t),
                       "success": "1"}
                if columns:
                    noise = 0.002 * ((t + k) % 3 - 1)
                    row[RPE_OUTCOME] = repr(0.5 + outcome_slope * session + 0.01 * k + noise)
                    row[RPE_CUE] = "" if t == 3 else repr(0.05 + cue_slope * session - 0.01 * k + noise)
                rows.append(row)
    return rows


@pytest.fixture(scope="module")
def data() -> Data:
    return synthetic()


def test_every_figure_is_written_and_non_trivial(tmp_path, data):
    embeddings = {c: {"coords": np.random.default_rng(0).normal(size=(40, 2)),
                      "session": np.repeat(np.arange(1, 11), 4), "success": np.arange(40) % 3 == 0}
                  for c in (Condition.INTACT, Condition.BLOCK_2_4)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        made = figures.learning_curves(data, SESSIONS, BLOCK, EXPERT_SESSIONS, tmp_path, partial_gain=0.5)
        made += figures.expert_effects(data, EXPERT_SESSIONS, tmp_path)
        made += figures.neural_metrics(data, SESSIONS, BLOCK, EXPERT_SESSIONS, tmp_path)
        made += figures.diffusion_maps(embeddings, SEEDS[0], tmp_path, seeds=len(SEEDS))
        made += figures.dopamine_signature(rpe_by_seed(_rpe_rows(-0.03, 0.02)), SEEDS, SESSIONS, tmp_path)
    assert sorted({p.stem for p in made}) == sorted(figures.ORDER)
    assert {p.suffix for p in made} == {".png", ".svg"}
    assert all(p.stat().st_size > 20_000 for p in made if p.suffix == ".png")
    # Nothing to draw: no file, not an empty figure.
    assert figures.diffusion_maps({"intact": None}, 0, tmp_path / "none") == []
    assert figures.dopamine_signature(None, SEEDS, SESSIONS, tmp_path / "none") == []
    assert figures.expert_effects(Data(SEEDS, {}, {}), EXPERT_SESSIONS, tmp_path / "none") == []


def _lines(ax, colour: str) -> list:
    import matplotlib.colors as mcolors

    return [line for line in ax.get_lines() if line.get_marker() not in ("None", "", None)
            and mcolors.same_color(line.get_color(), colour)]


def test_a_line_at_zero_is_drawn_inside_the_axes_above_the_x_axis(data):
    fig = figures.draw_learning_curves(data, SESSIONS, BLOCK, EXPERT_SESSIONS, partial_gain=0.5)
    silenced = figures.COLOURS[Condition.EXPERT_THALAMUS_BLOCK]
    found = 0
    for ax in fig.axes:
        low, high = ax.get_ylim()
        assert low < 0 and high > 1  # a margin below 0 and above 1
        for line in _lines(ax, silenced):
            y = np.asarray(line.get_ydata(), dtype=float)
            assert y.min() == 0 and y.min() > low  # the 0 % line lies inside, not on the axis
            assert not line.get_clip_on() and line.get_zorder() > 2  # drawn over the spans and bands
            found += 1
    # noise off, noise on and the training trials each show the silenced experts at 0
    assert found == 3
    figures._pyplot().close(fig)


def test_each_row_shades_only_its_own_manipulation(data):
    fig = figures.draw_learning_curves(data, SESSIONS, BLOCK, EXPERT_SESSIONS, partial_gain=0.5)
    for i, ax in enumerate(fig.axes[:6]):
        spans = [p.get_extents() for p in ax.patches]
        starts = sorted(round(ax.transData.inverted().transform((e.x0, 0))[0], 1) for e in spans)
        assert starts == ([BLOCK[0] - 0.5] if i < 3 else [EXPERT_SESSIONS.start - 0.5]), (i, starts)
    labels = [t.get_text() for legend in (ax.get_legend() for ax in fig.axes) if legend for t in legend.texts]
    assert any("gain 0.5" in label for label in labels)  # what partial_block means
    assert any("95 % CI" in label for label in labels)
    figures._pyplot().close(fig)


def test_unsilenced_evaluations_are_not_drawn_as_silencing():
    d = synthetic(silenced=False)  # no thalamus_gain: as circuit v1's record
    assert not figures.silenced_evaluations(d, EXPERT_SESSIONS)
    fig = figures.draw_learning_curves(d, SESSIONS, BLOCK, EXPERT_SESSIONS)
    silenced = figures.COLOURS[Condition.EXPERT_THALAMUS_BLOCK]
    bottom = fig.axes[3:6]
    assert [len(_lines(ax, silenced)) for ax in bottom] == [0, 0, 1]  # only the training trials
    assert all(any("not shown" in t.get_text() for t in ax.texts) for ax in bottom[:2])
    figures._pyplot().close(fig)


def test_expert_bars_label_a_zero_bar_and_say_the_interval(data):
    fig = figures.draw_expert_effects(data, EXPERT_SESSIONS)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]
    assert texts.count("0.00") == 2  # the silenced bar of each panel, printed above it
    assert any("95 % CI" in t for t in texts)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks[0].startswith("expert level") and ticks[-1].endswith("mean 0.00")
    figures._pyplot().close(fig)


def test_neural_panels_have_units_references_and_distinct_controls(data):
    fig = figures.draw_neural_metrics(data, SESSIONS, BLOCK, EXPERT_SESSIONS, partial_gain=0.5)
    panels = fig.axes[:9]
    assert [ax.get_title() for ax in panels] == [m.name for m in figures.neural_panel_metrics(data)]
    for ax in panels:
        label = ax.get_ylabel()
        assert re.search(r"a\.u\.|fraction|probability|Pearson|\(s\)|-1", label), label
        # no span for the expert manipulations, which these panels do not show
        starts = [round(ax.transData.inverted().transform((p.get_extents().x0, 0))[0], 1) for p in ax.patches]
        assert starts == [BLOCK[0] - 0.5]
    by_title = {ax.get_title(): ax for ax in panels}
    for name, sessions in (("distance_to_expert", [FORK]), ("p_expert", [1, FORK])):
        vertical = [line.get_xdata()[0] for line in by_title[name].get_lines() if line.get_linestyle() == ":"]
        assert vertical == sessions, name  # the reference session is marked
    assert "before the lift" in by_title["input_lead_thalamus_s"].get_ylabel()
    legend = fig.legends[0]
    controls = {t.get_text(): h for t, h in zip(legend.texts, legend.legend_handles, strict=True)
                if "control" in t.get_text() or "shuffled" in t.get_text()}
    assert len(controls) == 2
    styles = {(h.get_color(), h.get_linestyle(), h.get_marker()) for h in controls.values()}
    assert len(styles) == 2 and len({s[0] for s in styles}) == 2  # told apart by colour, line and marker
    figures._pyplot().close(fig)


def test_older_records_draw_their_own_metrics_and_say_what_is_missing():
    older = ("mean_activity", "th_movement_overlap", "th_movement_r2", "rec_movement_r2", "th_input_lead_s")
    fig = figures.draw_neural_metrics(synthetic(neural=older), SESSIONS, BLOCK, EXPERT_SESSIONS)
    titles = [ax.get_title() for ax in fig.axes[:9]]
    assert titles[0] == "mean_activity" and titles[6:] == ["th_movement_overlap", "th_movement_r2",
                                                           "th_input_lead_s"]
    assert any("not in this record" in t.get_text() for t in fig.axes[1].texts)
    figures._pyplot().close(fig)


def test_the_training_panel_falls_back_on_the_summary():
    d = synthetic()
    d.success = {}  # no trials.csv
    summary = [{"condition": "intact", "session": s, "seeds": 5, "success_mean": 0.5, "success_ci_low": 0.4,
                "success_ci_high": 0.6} for s in range(1, SESSIONS + 1)]
    fig = figures.draw_learning_curves(d, SESSIONS, BLOCK, EXPERT_SESSIONS, summary=summary)
    intact = _lines(fig.axes[2], figures.COLOURS[Condition.INTACT])
    assert len(intact) == 1 and list(intact[0].get_ydata()) == [0.5] * SESSIONS
    assert any("not in this record" in t.get_text() for t in figures.draw_learning_curves(
        d, SESSIONS, BLOCK, EXPERT_SESSIONS).axes[2].texts)
    figures._pyplot().close("all")


def test_every_embedded_figure_has_a_caption(tmp_path, data):
    findings = all_findings(data, FORK, SESSIONS, EXPERT_SESSIONS)
    signature = dopamine_signature(rpe_by_seed(_rpe_rows(-0.03, 0.02)), SEEDS, SESSIONS)
    pngs = [tmp_path / "figures" / f"{name}.png" for name in figures.ORDER]
    captions = figure_captions(DESIGN, data, findings, signature)
    assert set(captions) == set(figures.ORDER)
    text = render_report(DESIGN, [], {}, [], data, findings, partial_block_lines(data), pngs, tmp_path,
                         runs_line="synthetic.", captions=captions, signature=signature)
    lines = text.splitlines()
    embedded = [i for i, line in enumerate(lines) if line.startswith("![")]
    assert [re.match(r"!\[(\w+)\]", lines[i]).group(1) for i in embedded] == list(figures.ORDER)
    for i in embedded:
        name = re.match(r"!\[(\w+)\]", lines[i]).group(1)
        assert lines[i + 2].startswith(f"*{name}*: ") and len(lines[i + 2]) > 200
    assert "95 % CI" in captions["expert_effects"] and "-1 when" in captions["neural_metrics"]
    assert f"seed {SEEDS[0]}, the record's first seed" in captions["diffusion_maps"]
    assert "## Dopamine signature (beside the findings)" in text


# --- the dopamine signature ---------------------------------------------------------------------------


def test_a_planted_signature_is_found():
    signature = dopamine_signature(rpe_by_seed(_rpe_rows(outcome_slope=-0.03, cue_slope=0.02)), SEEDS)
    assert signature.recorded and signature.last == SESSIONS and signature.shown is True
    assert signature.outcome_change.difference.high < 0 < signature.cue_change.difference.low
    assert math.isclose(signature.outcome_change.difference.mean, -0.03 * (SESSIONS - 1), rel_tol=0.05)
    assert signature.sentence().startswith("The model shows the TD signature")
    lines = signature.lines()
    assert sum(line.startswith("| ") and line.split("|")[1].strip().isdigit() for line in lines) == len(SEEDS)
    assert any(line.startswith("| mean [95 % CI]") for line in lines)


def test_flat_rpes_show_no_signature_and_say_which_part_fails():
    flat = dopamine_signature(rpe_by_seed(_rpe_rows(0.0, 0.0)), SEEDS)
    assert flat.shown is False
    sentence = flat.sentence()
    assert sentence.startswith("The model does not show the TD signature")
    assert "outcome does not fall" in sentence and "cue does not rise" in sentence
    half = dopamine_signature(rpe_by_seed(_rpe_rows(-0.03, 0.0)), SEEDS)  # only the outcome falls
    assert half.shown is False
    assert "cue does not rise" in half.sentence() and "outcome does not fall" not in half.sentence()


def test_runs_without_the_columns_have_not_recorded_it():
    assert rpe_by_seed(_rpe_rows(-0.03, 0.02, columns=False)) is None and rpe_by_seed([]) is None
    signature = dopamine_signature(None, SEEDS, SESSIONS)
    assert not signature.recorded and signature.shown is None
    assert signature.lines() == [signature.sentence()]
    assert "not recorded by these runs" in signature.sentence().lower()
    assert figures.draw_dopamine_signature(None, SEEDS, SESSIONS) is None
