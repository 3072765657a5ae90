"""From the finished runs of an ablation to its tables, figures and ``report.md``; and
``python -m analysis.ablation_report DIR [--circuit N]``, which judges a recorded ablation again from its
tables alone, with the current rules (:func:`rejudge`).

Neural analyses run per run on the sweep's backend and are cached in the run folder
(``neural.json``, ``embedding.npz``), so repeating the command redoes only what is missing. They cover the
full-length conditions (``intact``, ``block_2_4``, ``partial_block``), whose recordings start at
session 1; the expert conditions are behavioural comparisons with ``intact``'s same sessions.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from analysis import figures, run_format
from analysis.conditions import BLOCK_SESSIONS, EXPERT, FULL_LENGTH, AblationDesign, Condition
from analysis.findings import (
    ALPHA,
    Data,
    DopamineSignature,
    Finding,
    all_findings,
    dopamine_signature,
    expert_precue_line,
    partial_block_lines,
    span,
)
from analysis.run_format import (
    EVALUATION_TABLE,
    FIGURES_DIR,
    NEURAL_TABLE,
    SUCCESS_BY_SEED_TABLE,
    SUMMARY_TABLE,
    TRIALS_TABLE,
    read_rows,
    write_rows,
)
from analysis.tables import (
    NOISE_OFF,
    NOISE_ON,
    THALAMUS_GAIN,
    behaviour_by_seed,
    collect_evaluations,
    collect_trials,
    evaluation_by_seed,
    rpe_by_seed,
    success_by_seed,
    write_success_by_seed,
    write_summary,
)

NEURAL_CONDITIONS = tuple(c for c in Condition if c.spec.neural)
#: Conditions analysed against their own last recorded session: they record only the expert sessions
#: (finding 9 reads how much cortical activity remains under thalamic silencing).
EXPERT_NEURAL_CONDITIONS = tuple(c for c in NEURAL_CONDITIONS if c.spec.forks_after_expert)
#: Bumped whenever the neural analyses change, so cached results of older code are recomputed.
NEURAL_ANALYSIS_VERSION = 5  # 5: ridge leaves out features nearly silent in training (4: circuit v2 metrics)


def neural_job(run_dir: str, seed: int, reference_session: int | None) -> dict[str, Any]:
    """Neural metrics of one run, cached in its folder; never raises (a failure is returned)."""
    from analysis.neural import analyse_run

    directory = Path(run_dir)
    cache, embedding_file = directory / run_format.NEURAL_CACHE_FILE, directory / run_format.EMBEDDING_FILE
    key = {"seed": seed, "reference_session": reference_session, "version": NEURAL_ANALYSIS_VERSION}
    if cache.exists() and embedding_file.exists():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return {"status": "done", "sessions": saved["sessions"]}
    started = time.perf_counter()
    try:
        result = analyse_run(directory, seed=seed, reference_session=reference_session)
    except Exception as error:  # noqa: BLE001 - reported in the report, the others go on
        return {"status": "failed", "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc()}
    np.savez_compressed(embedding_file, **result.embedding)
    sessions = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                for row in result.sessions]
    cache.write_text(json.dumps({"key": key, "sessions": sessions,
                                 "wall_s": round(time.perf_counter() - started, 1)}, indent=1))
    return {"status": "done", "sessions": sessions}


def _neural(out: Path, runs: list, config, backend, progress: bool) -> tuple[dict, list[str]]:
    """Run (or load) the neural analyses; returns ``{condition: {seed: {session: metrics}}}`` and errors."""
    jobs = {}
    for spec in runs:
        if spec.condition in NEURAL_CONDITIONS:
            reference = None if spec.condition in EXPERT_NEURAL_CONDITIONS else config.expert_after
            handle = backend.submit(neural_job, str(spec.directory), spec.seed, reference)
            jobs[handle] = spec
    errors = []
    rows = []
    with tqdm(total=len(jobs), unit="run", desc="neural analyses", disable=not progress) as bar:
        while jobs:
            for handle, result in backend.wait(list(jobs), timeout=2.0):
                spec = jobs.pop(handle)
                bar.update(1)
                if result.get("status") != "done":
                    errors.append(f"{spec.key}: {result.get('error')}")
                    continue
                for row in result["sessions"]:
                    metrics = {k: (math.nan if v is None else float(v)) for k, v in row.items()}
                    session = int(metrics.pop("session"))
                    rows.append({"condition": spec.condition, "seed": spec.seed, "session": session,
                                 **metrics})
    neural = neural_by_seed(rows)
    if rows:
        columns = ["condition", "seed", "session"] + sorted({k for r in rows for k in r} -
                                                             {"condition", "seed", "session"})
        rows.sort(key=lambda r: (r["condition"], r["seed"], r["session"]))
        write_rows(out / run_format.NEURAL_TABLE, columns,
                   ({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()} for row in rows))
    return neural, errors


def analyse_ablation(out: Path, config: AblationDesign, specs: list, failed: dict[str, dict], backend,
                     progress: bool = True) -> Path:
    """Tables, neural analyses, figures and report of the finished runs in ``out``; returns the report.

    ``specs``: the sweep's runs, each with ``condition``, ``seed``, ``key`` and its folder ``directory``;
    those whose ``result.json`` says they finished are analysed."""
    finished = [s for s in specs if run_format.read_result(s.directory) is not None]
    runs = [(s.condition, s.seed, s.directory) for s in finished]
    rows = collect_trials(runs, out / run_format.TRIALS_TABLE)
    evaluations = collect_evaluations(runs, out / run_format.EVALUATION_TABLE)
    evaluated = evaluation_by_seed(evaluations)
    write_success_by_seed(evaluated, out / run_format.SUCCESS_BY_SEED_TABLE)
    summary = write_summary(rows, out / run_format.SUMMARY_TABLE, evaluations)
    neural, neural_errors = _neural(out, finished, config, backend, progress)
    circuits = {version for s in finished if (version := circuit_version(s.directory)) is not None}
    data = ablation_data(config.seed_list, rows, evaluations, neural, circuits)
    expert = config.expert_range
    figure_dir = out / FIGURES_DIR
    figure_dir.mkdir(exist_ok=True)
    rpe = rpe_by_seed(rows)
    made = _table_figures(data, config, summary, rpe, figure_dir, neural=bool(neural), trials=True)
    if neural:
        first_seed = config.seed_list[0]
        embeddings = {}
        for condition in (Condition.INTACT, Condition.BLOCK_2_4):
            path = run_format.run_dir(out, condition, first_seed) / run_format.EMBEDDING_FILE
            embeddings[condition] = dict(np.load(path)) if path.exists() else None
        made += figures.diffusion_maps(embeddings, first_seed, figure_dir, seeds=len(config.seed_list))
    findings = all_findings(data, config.expert_after, config.sessions, expert)
    signature = dopamine_signature(rpe, config.seed_list, config.sessions)
    captions = figure_captions(config, data, findings, signature)
    report = out / run_format.REPORT_FILE
    report.write_text(render_report(config, finished, failed, neural_errors, data, findings,
                                    partial_block_lines(data), [p for p in made if p.suffix == ".png"], out,
                                    summary, captions=captions, signature=signature))
    return report


def _table_figures(data: Data, config: AblationDesign, summary: list[dict], rpe: dict | None, folder: Path, *,
                   neural: bool, trials: bool, formats: tuple[str, ...] = figures.FORMATS) -> list[Path]:
    """Draw every figure that the tables allow (all but the diffusion map, which needs the runs'
    embeddings): learning_curves; expert_effects only with per-seed training trials (``trials``: a record
    without trials.csv keeps the figure its runs' analysis drew); neural_metrics with a neural table; the
    dopamine signature where the trials recorded it. Returns the files written."""
    expert = config.expert_range
    made = figures.learning_curves(data, config.sessions, BLOCK_SESSIONS, expert, folder,
                                   partial_gain=config.partial_gain, summary=summary, formats=formats)
    if trials:
        made += figures.expert_effects(data, expert, folder, formats=formats)
    if neural:
        made += figures.neural_metrics(data, config.sessions, BLOCK_SESSIONS, expert, folder,
                                       partial_gain=config.partial_gain, formats=formats)
    made += figures.dopamine_signature(rpe, config.seed_list, config.sessions, folder, formats=formats)
    return made


def ablation_data(seeds: list[int], trials: list[dict], evaluations: list[dict], neural: dict,
                  circuits: set[int] | frozenset[int]) -> Data:
    """The findings' per-seed values of an ablation from its tables: ``trials`` (trials.csv's rows: the
    training trials' success, pre-cue lifts and RPE), ``evaluations`` (evaluation.csv's rows: held-out
    success and the evaluations' thalamic gain), ``neural`` (:func:`neural_by_seed`) and the runs' circuit
    versions. :func:`analyse_ablation` and :func:`rejudge` both build their ``Data`` here."""
    return Data(list(seeds), success_by_seed(trials), neural, evaluation_by_seed(evaluations),
                behaviour_by_seed(trials), frozenset(circuits))


def neural_by_seed(rows: list[dict]) -> dict[str, dict[int, dict[int, dict[str, float]]]]:
    """``{condition: {seed: {session: {metric: value}}}}`` from neural.csv's rows (an empty or None cell,
    a metric not measured there, is NaN)."""
    neural: dict[str, dict[int, dict[int, dict[str, float]]]] = {}
    for row in rows:
        metrics = {k: (math.nan if v in (None, "") else float(v)) for k, v in row.items()
                   if k not in ("condition", "seed", "session")}
        seeds = neural.setdefault(row["condition"], {})
        seeds.setdefault(int(row["seed"]), {})[int(row["session"])] = metrics
    return neural


def circuit_version(run_dir: Path) -> int | None:
    """The circuit a run was trained with: its ``config.yaml``'s ``agent.circuit`` (absent: 1, the circuit
    before v2 had no such field); None without a readable ``config.yaml``."""
    path = Path(run_dir) / run_format.CONFIG_FILE
    if not path.exists():
        return None
    config = yaml.safe_load(path.read_text()) or {}
    return int((config.get("agent") or {}).get("circuit", 1))


def verdict_table(findings: list[Finding]) -> list[str]:
    """The verdict table: one row per finding, its number, claim, key numbers and labels, and last the
    verdict cell, exactly ``reproduced`` or ``not reproduced``."""
    lines = ["| finding | claim | key numbers | labels | verdict |", "|---|---|---|---|---|"]
    lines += [f"| {f.number} | {f.claim} | {f.key or '-'} | {', '.join(f.labels) or '-'} | {f.verdict} |"
              for f in findings]
    return lines


def summary_line(findings: list[Finding]) -> str:
    """``"N of 9 findings reproduced."``, with how many more held only by construction."""
    reproduced = sum(f.verdict == "reproduced" for f in findings)
    constructed = [str(f.number) for f in findings if f.construction and f.holds]
    tail = (f" (finding{'s' if len(constructed) > 1 else ''} {', '.join(constructed)} also "
            f"held, by construction: not counted)" if constructed else "")
    return f"{reproduced} of {len(findings)} findings reproduced{tail}."


def _paired_start_check(data: Data) -> str:
    """Are session-1 success rates (training trials, and the noise-off evaluations before and after
    session 1) identical across the conditions that share them (the paired design)?"""
    trained = bool(data.success)  # no training trials in a record without trials.csv
    compared = ((("success", 1),) if trained else ()) + ((NOISE_OFF, 0), (NOISE_OFF, 1))

    def same_as_intact(condition: str) -> bool:
        return all(np.array_equal(np.nan_to_num(data.value(condition, metric, s), nan=-1),
                                  np.nan_to_num(data.value(Condition.INTACT, metric, s), nan=-1))
                   for metric, s in compared)

    same = [c for c in FULL_LENGTH if c is not Condition.INTACT and same_as_intact(c)]
    return (f"Session 1 (before any block) has the same success, seed by seed, in intact and "
            f"{', '.join(same) or 'no other condition'} ({'training trials, and ' if trained else ''}"
            "noise-off evaluations before and after it): the conditions of a seed share their past exactly.")


def _cell(row: dict, prefix: str) -> str:
    """``mean [low, high]`` of a summary row's measure, ``-`` where it was not measured."""
    mean = row.get(f"{prefix}_mean", "")
    if mean == "" or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    low, high = row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"]
    if isinstance(low, float) and math.isnan(low):
        return f"{mean:.2f}"
    return f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def _behaviour_table(summary: list[dict]) -> list[str]:
    """The summary's success measures and pre-cue lift rate per condition x session, as a table."""
    lines = ["| condition | session | noise off, after session | noise on, after session | "
             "training trials, during session | pre-cue lift rate, during session |",
             "|---|---|---|---|---|---|"]
    for row in summary:
        lines.append(f"| {row['condition']} | {row['session']} | {_cell(row, 'success_noise_off')} | "
                     f"{_cell(row, 'success_noise_on')} | {_cell(row, 'success')} | "
                     f"{_cell(row, 'precue_lift')} |")
    return lines


def render_report(config: AblationDesign, finished, failed, neural_errors, data: Data, findings,
                  partial_lines, pngs: list[Path], out: Path, summary: list[dict] | None = None, *,
                  runs_line: str | None = None, notes: list[str] = (), captions: dict[str, str] | None = None,
                  signature: DopamineSignature | None = None) -> str:
    """``report.md`` as text. ``runs_line`` replaces the sentence on the finished runs (read from their
    ``result.json``); ``notes`` (a section's lines) follow the opening paragraphs; ``captions``: each
    figure's caption by name (:func:`figure_captions`), printed under it; ``signature``: the dopamine
    signature's section (beside the findings; none without it)."""
    from analysis.neural import METRICS

    if runs_line is None:
        walls = [run_format.read_result(s.directory).get("wall_s", 0) for s in finished]
        runs_line = (f"{len(finished)} runs finished ({sum(walls) / 60:.1f} worker-minutes of training), "
                     f"{len(failed)} failed.")
    lines = ["# dopareach ablation: intact vs blocked dopamine", "",
             f"{len(config.seed_list)} seeds ({config.seed_list[0]}..{config.seed_list[-1]}), "
             f"{config.sessions} sessions of {config.trials_per_session} trials; dopamine blocked in "
             f"sessions {BLOCK_SESSIONS[0]}-{BLOCK_SESSIONS[1]} (block_2_4) or scaled by "
             f"{config.partial_gain:g} (partial_block); expert manipulations in "
             f"sessions {config.expert_after + 1}-{config.expert_after + config.expert_sessions} after "
             f"{config.expert_after} intact sessions. {runs_line}", "",
             _paired_start_check(data), ""]
    lines += list(notes)
    if failed:
        lines += ["## Failed runs (left out of every statistic)", ""]
        lines += [f"- `{r['key']}`: {r['error']}" for r in failed.values()] + [""]
    if neural_errors:
        lines += ["## Failed neural analyses", ""] + [f"- {e}" for e in neural_errors] + [""]
    lines += ["## Verdicts", ""] + verdict_table(findings) + ["", summary_line(findings), ""]
    lines += ["Values are means across seeds with 95 % confidence intervals [low, high]; tests are "
              "paired across seeds (the same seed in every condition). A verdict follows the rule "
              "printed with it; labels: 'not tested' (a statistic could not be computed), 'by "
              "construction' (the runs' circuit makes the claim true whatever is learned: not counted as "
              "reproduced), 'marginal' (every test passes on its own p, one fails after the Holm "
              "correction). Findings 1-4 measure success on the held-out evaluation trials with "
              "exploration noise off (the mean policy; 'after session s' = the evaluation once s "
              "sessions are complete, 'before session 1' = session 0) and are reproduced only if their "
              "rule holds with the 95 % CI across seeds strictly excluding the null (ties fail); the "
              "noise-on evaluations and the training trials are shown beside them. Findings 5-9 are made "
              "of tests (named 5a, 5b, ...: a one-sided paired t-test across seeds, or for a band two "
              "one-sided tests, TOST) and checks (an absence: the 95 % CI's lower bound of a change not "
              "above 0; no p). The p-values of all the tests of findings 5-9 are Holm-adjusted together "
              f"and printed beside the raw ones; a test passes only if its adjusted p < {ALPHA:g} and its "
              "95 % CI excludes the null strictly (ties fail).", ""]
    for f in findings:
        title = f.verdict + (f" ({', '.join(f.labels)})" if f.labels else "")
        lines += [f"## Finding {f.number}: {title}", "", f"*{f.claim}*", "", f"Rule: {f.rule}.", ""]
        lines += [f"- {line}" for line in f.report_lines()] + [""]
    lines += ["## Behaviour per session", "",
              "Mean across seeds [95 % CI]. Held-out evaluations follow the session (0: before session 1); "
              "training trials and pre-cue lifts (paw lifted at or before the cue onset) are those of the "
              "session; - where not measured.", ""]
    lines += _behaviour_table(summary or []) + ["", expert_precue_line(data, config.sessions), ""]
    lines += ["## Beyond the lab: a partial block", "",
              f"Dopamine delivered at gain {config.partial_gain:g} in sessions 2-4 instead of 0.", ""]
    lines += [f"- {line}" for line in partial_lines] + [""]
    if signature is not None:
        lines += ["## Dopamine signature (beside the findings)", "",
                  "Does the model's dopamine (its TD error) move from the outcome to the cue with learning, "
                  "as a reward-prediction error does? Not one of the findings: no verdict, not counted.", ""]
        lines += signature.lines() + [""]
    lines += ["## Figures", ""]
    for png in sorted(pngs, key=_figure_rank):
        caption = (captions or {}).get(png.stem, "")
        lines += [f"![{png.stem}]({png.relative_to(out).as_posix()})", ""]
        lines += [f"*{png.stem}*: {caption}", ""] if caption else []
    lines += ["## Neural metrics", "", "| metric | definition |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in METRICS.items()] + [""]
    files = {TRIALS_TABLE: "every trial of every run (condition, seed, session, episode, success, events, "
                           "dopamine, precue_lift).",
             EVALUATION_TABLE: "every held-out evaluation of every run (condition, seed, episode, session, "
                               "noise off/on, trials, successes, success, thalamus_gain).",
             SUCCESS_BY_SEED_TABLE: "held-out success per condition x seed x evaluation point, noise off "
                                    "and on (empty where not evaluated).",
             SUMMARY_TABLE: "per condition x session, mean and 95 % CI across seeds of the training-trial "
                            "success, the noise-off and noise-on held-out success and the pre-cue lift rate.",
             NEURAL_TABLE: "every neural metric per condition x seed x session.",
             run_format.RUNS_DIR: "the runs, `runs/<condition>/seed_NN/` (TensorBoard in `tb/`, activity, "
                                  "checkpoints)."}
    lines += ["## Files", ""]
    lines += [f"- `{name}`: {text}" for name, text in files.items() if (out / name).exists()] + [""]
    return "\n".join(lines)


def _figure_rank(png: Path) -> tuple[int, str]:
    """Figures in :data:`analysis.figures.ORDER`, others after them by name."""
    order = figures.ORDER
    return (order.index(png.stem) if png.stem in order else len(order), png.stem)


def _verdict(findings: dict[int, Finding], number: int) -> str:
    f = findings.get(number)
    if f is None:
        return f"finding {number}"
    return f"finding {number}: " + ", ".join([f.verdict, *f.labels])


def figure_captions(config: AblationDesign, data: Data, findings: list[Finding],
                    signature: DopamineSignature | None = None,
                    provenance: dict[str, str] | None = None) -> dict[str, str]:
    """A caption per figure: what is drawn (lines, bands, spans, markers, units) and what a reader should
    compare in it, with the verdicts of the findings it illustrates. ``provenance``: a sentence per figure
    on where it comes from, appended (the re-judge redraws some figures from the tables and keeps others)."""
    numbered = {f.number: f for f in findings}
    seeds, gain = len(data.seeds), config.partial_gain
    expert, fork = config.expert_range, config.expert_after
    expert_span = span(expert)
    block = f"{BLOCK_SESSIONS[0]}-{BLOCK_SESSIONS[1]}"
    key9 = numbered[9].key if 9 in numbered else ""
    silenced = figures.silenced_evaluations(data, expert)
    trained = bool(data.success)
    captions = {}
    captions["learning_curves"] = (
        f"Success rate (fraction of trials) per session: line = mean across the {seeds} seeds, light band "
        "with thin edges = its 95 % CI across seeds (error bars instead where the points are not "
        "consecutive sessions). Columns: the held-out evaluation after each session with exploration noise "
        "off (the mean policy, the primary measure of findings 1-4 and 9; x = sessions completed, 0 = "
        "before session 1), the same evaluation with noise on (open markers), and the training trials "
        "during each session (noise on, while learning). Top row: intact (blue), block_2_4 (red, M1 dopamine "
        f"blocked in sessions {block}) and partial_block (orange, M1 dopamine at gain {gain:g} in sessions "
        f"{block}), the grey span marking sessions {block}. Bottom row, from session "
        f"{max(1, expert.start - 3)}: the expert manipulations in {expert_span} (lilac span), "
        f"forked from intact after session {fork}: expert_block (purple squares, M1 dopamine blocked) and "
        "expert_thalamus_block (green squares, thalamic input silenced). Each row shows only its own "
        "manipulation's span. The y-axis reaches below 0 and above 1 so that a line at 0 % or 100 % is "
        "drawn inside the axes, above the x-axis. What to compare: in the grey span, red against blue "
        f"({_verdict(numbered, 2)}) and, after it, how late red reaches blue's level "
        f"({_verdict(numbered, 3)}); orange shows where a partial block falls between them. Below: purple "
        f"against intact's level at the fork ({_verdict(numbered, 4)}) and green against it "
        f"({_verdict(numbered, 9)}; {key9}).")
    if not silenced:
        captions["learning_curves"] += (
            " expert_thalamus_block is left out of the evaluation panels: its evaluations are not recorded "
            "as run with the thalamus silenced (thalamus_gain 0), so they cannot show the silencing; its "
            "training trials (right) can.")
    if not trained:
        captions["learning_curves"] += (
            " The training-trial panels are drawn from summary.csv's per-session mean and 95 % CI (this "
            "record has no trials.csv).")
    captions["expert_effects"] = (
        f"The experts' success (fraction of trials) per condition, {seeds} seeds: bar = mean across seeds "
        "(its value under the bar's name), black error bar = 95 % CI across seeds (Student t), grey line = "
        "one seed. A bar at 0 is a measured 0, drawn as a coloured stroke with its value printed above it, "
        "not a missing bar. Left, finding 9's measure: the noise-off held-out success, first the expert "
        f"level (intact's evaluation after session {fork}, the fork: the same network just before the "
        f"manipulation), then intact, expert_block and expert_thalamus_block, each seed's mean over the "
        f"evaluations after {expert_span}. Right: the training trials of {expert_span} "
        "(noise on). What to compare: the dopamine-blocked bar against the expert level (clause 9b: within "
        f"+-0.05; {_verdict(numbered, 4)}) and the thalamus-silenced bar against half the expert level "
        f"(clause 9a); {_verdict(numbered, 9)} ({key9}).")
    drawn = [m for m in figures.neural_panel_metrics(data) if m is not None]
    names = {m.name for m in drawn}
    control = ("the S1 input's R^2 (brown dash-dot, triangles)" if "input_r2_thalamus" in names else
               "the recurrent input's R^2 (brown dash-dot, triangles)")
    older = [m.name for m in drawn if m.name in ("th_movement_overlap", "th_movement_r2", "th_input_lead_s")]
    captions["neural_metrics"] = (
        "Nine neural metrics per session, the metric's column name above each panel (definitions in the "
        "table of neural metrics below), for the conditions recorded from session 1: intact (blue), "
        f"block_2_4 (red) and partial_block (orange); line = mean across the {seeds} seeds, band = its 95 % "
        f"CI across seeds (light fill, thin edges). The grey span marks sessions {block}, where block_2_4's "
        f"M1 dopamine is blocked and partial_block's is at gain {gain:g}; the expert manipulations are not "
        "in these panels, so they have no span. Units: a.u. where the quantity has no physical unit; "
        "'fraction' is a fraction of the units (of the command's variance for R^2). distance_to_expert "
        f"is measured to session {fork}'s correlation structure, the reference session (dotted line), where "
        f"it is 0 by construction; p_expert's classifier is trained on sessions 1 vs {fork} (dotted lines), "
        "so its values there are its own training sessions (held-out folds), not a result. The cue -> "
        "outcome index is (outcome-responsive - cue-responsive) / (outcome-responsive + cue-responsive) "
        "fraction of units: -1 when the responsive units respond only to the cue, +1 only to the outcome. "
        "The thalamic lead is positive when the thalamic signal reaches half its peak before the lift, "
        "negative after it (the sign used in finding 7). Control lines, on intact: indicative_fraction with "
        f"shuffled success labels (grey dashed, x markers: its chance level) and {control}. What to "
        "compare: mean |rate| and mean correlation level while the distance to the reference falls, and "
        f"red's distance not falling in the grey span ({_verdict(numbered, 5)}); the cue -> outcome index "
        f"moving from -1 towards +1 and the indicative fraction rising above its shuffled line "
        f"({_verdict(numbered, 6)}); the thalamic R^2 above the control and a lead that is positive and "
        f"grows ({_verdict(numbered, 7)}); the fraction of Th-excited units that encode movement rising "
        f"({_verdict(numbered, 8)}).")
    if older:
        captions["neural_metrics"] += (
            f" This record's neural table predates some metrics: {', '.join(older)} stand in for them, "
            "under their own names (see the table of neural metrics).")
    if "indicative_fraction_post" not in {m for c in data.neural.values() for s in c.values()
                                          for cells in s.values() for m in cells}:
        captions["neural_metrics"] += (" Its indicative_fraction is the earlier definition (decoded from "
                                       "post-outcome activity; see the notes above).")
    captions["diffusion_maps"] = (
        f"Every trial of seed {config.seed_list[0]}, the record's first seed (one seed of {seeds}: a "
        "picture, no statistics), in intact and block_2_4, placed by the first two diffusion-map "
        "coordinates of its cortical correlation matrix (a.u.); colour = session, dot = success, x = "
        "failure. What to look at: whether early (dark) and late (yellow) sessions occupy different regions, "
        f"and whether block_2_4's sessions {block} stay with session 1 (the reorganisation of finding 5, "
        "seen in one seed).")
    if signature is not None and signature.recorded:
        captions["dopamine_signature"] = (
            "intact's TD error summed over the 0.1 s after the cue onset (rpe_cue, teal circles) and after "
            "the outcome (rpe_outcome, magenta squares), per session: each seed's mean over the session's "
            f"trials (rewarded trials only at the outcome: the response to the reward), then the mean "
            f"across the {seeds} seeds (line) with its 95 % CI (band), in reward "
            "units. What to see: a TD reward-prediction error moves from the outcome to the cue with "
            "learning, so the magenta line should fall and the teal one rise. "
            + signature.sentence())
    for name, text in (provenance or {}).items():
        if name in captions:
            captions[name] += " " + text
    return captions


def _evaluation_rows(out: Path) -> list[dict[str, str]]:
    """evaluation.csv's rows; without it, success_by_seed.csv's as evaluation rows (no thalamic gain).
    With both, they must agree cell by cell."""
    by_seed = out / SUCCESS_BY_SEED_TABLE
    if not (out / EVALUATION_TABLE).exists():
        if not by_seed.exists():
            raise FileNotFoundError(f"{out} has neither evaluation.csv nor success_by_seed.csv")
        return [{"condition": row["condition"], "seed": row["seed"], "session": row["session"],
                 "noise": noise, "success": row[metric]}
                for row in read_rows(by_seed)
                for noise, metric in (("off", NOISE_OFF), ("on", NOISE_ON)) if row[metric] != ""]
    rows = read_rows(out / EVALUATION_TABLE)
    if by_seed.exists():
        evaluated = evaluation_by_seed(rows)
        for row in read_rows(by_seed):
            cell = evaluated.get(row["condition"], {}).get(int(row["seed"]), {}).get(int(row["session"]), {})
            for metric in (NOISE_OFF, NOISE_ON):
                recorded = math.nan if row[metric] == "" else float(row[metric])
                if not (math.isclose(recorded, cell.get(metric, math.nan))
                        or math.isnan(recorded) and metric not in cell):
                    raise ValueError("success_by_seed.csv and evaluation.csv disagree on "
                                     f"{row['condition']}, seed {row['seed']}, session {row['session']}, "
                                     f"{metric}")
    return rows


def _summary_rows(path: Path) -> list[dict]:
    """summary.csv's rows with their numbers as numbers (an empty cell stays empty), as write_summary
    returns them."""
    def number(column: str, text: str) -> object:
        if column == "condition" or text == "":
            return text
        return int(text) if column in ("session", "seeds", "trials") else float(text)

    return [{k: number(k, v) for k, v in row.items()} for row in read_rows(path)] if path.exists() else []


def recorded_config(evaluations: list[dict[str, str]], summary: list[dict]) -> AblationDesign:
    """The ablation's design as its tables show it: the seeds
    and sessions evaluated, the expert fork (the expert conditions' first evaluation) and manipulated
    sessions, and, from summary.csv, the trials per session and partial_block's dopamine gain (defaults
    where summary.csv lacks them)."""
    seeds = sorted({int(r["seed"]) for r in evaluations})
    if not seeds or seeds != list(range(seeds[0], seeds[-1] + 1)):
        raise ValueError(f"the tables' seeds {seeds} are not an ablation's consecutive seeds")
    sessions = {c: {int(r["session"]) for r in evaluations if r["condition"] == c}
                for c in {r["condition"] for r in evaluations}}
    fields: dict[str, Any] = {"seeds": len(seeds), "first_seed": seeds[0],
                              "sessions": max(sessions[Condition.INTACT])}
    expert = set().union(*(sessions.get(c, set()) for c in EXPERT))
    if expert:
        fields.update(expert_after=min(expert), expert_sessions=max(expert) - min(expert))
    for row in summary:
        if row["condition"] == Condition.INTACT and row["session"] == 1 and row["trials"]:
            fields["trials_per_session"] = row["trials"] // row["seeds"]
        if (row["condition"] == Condition.PARTIAL_BLOCK and row["session"] == BLOCK_SESSIONS[0]
                and row["dopamine_gain"] != ""):
            fields["partial_gain"] = row["dopamine_gain"]
    return AblationDesign(**fields)


#: The re-judge redraws PNGs only: the recorded folders in docs/ keep no SVG.
REJUDGE_FORMATS = ("png",)
#: Why the re-judge keeps a figure as the runs' analysis drew it.
KEPT_FIGURES = {
    "diffusion_maps": ("Not redrawn by the re-judge: it needs the runs' embedding.npz, which the tables do "
                       "not hold; this is the figure the analysis of the runs drew."),
    "expert_effects": ("Not redrawn by the re-judge: it needs the training trials per seed (trials.csv), "
                       "which this record lacks; this is the figure the analysis of the runs drew, with the "
                       "code of that time."),
}
#: The tables :func:`rejudge` reads.
TABLES = (EVALUATION_TABLE, SUCCESS_BY_SEED_TABLE, TRIALS_TABLE, NEURAL_TABLE, SUMMARY_TABLE)


def rejudge(directory: Path | str, circuit: int = 1) -> Path:
    """Judge a recorded ablation again from its tables alone (no run folders): the findings' ``Data`` built
    as :func:`analyse_ablation` builds it (:func:`ablation_data`) from ``evaluation.csv`` (or
    ``success_by_seed.csv``), ``neural.csv`` and, where present, ``trials.csv``; the configuration read off
    the tables (:func:`recorded_config`); the runs' circuit version ``circuit`` (the tables do not record
    it). Writes ``report.md`` over the old one, with the current rules, and always redraws into
    ``figures/`` (PNG only, as the recorded folders keep them) every figure the tables allow
    (:func:`_table_figures`); the others (the diffusion map, which needs the runs' embeddings; the expert
    effects without trials.csv) are kept as the runs' analysis drew them, and their captions say so.
    A metric the tables lack makes the clauses that need it "not tested". Returns the report's path."""
    from analysis.neural import METRICS

    out = Path(directory)
    evaluations = _evaluation_rows(out)
    trials = read_rows(out / TRIALS_TABLE) if (out / TRIALS_TABLE).exists() else []
    neural_rows = read_rows(out / NEURAL_TABLE) if (out / NEURAL_TABLE).exists() else []
    summary = _summary_rows(out / SUMMARY_TABLE)
    config = recorded_config(evaluations, summary)
    data = ablation_data(config.seed_list, trials, evaluations, neural_by_seed(neural_rows), {circuit})
    findings = all_findings(data, config.expert_after, config.sessions, config.expert_range)
    figure_dir = out / FIGURES_DIR
    figure_dir.mkdir(exist_ok=True)
    rpe = rpe_by_seed(trials)
    drawn = _table_figures(data, config, summary, rpe, figure_dir, neural=bool(neural_rows),
                           trials=bool(trials), formats=REJUDGE_FORMATS)
    redrawn = sorted({p.stem for p in drawn}, key=lambda name: _figure_rank(Path(name)))
    pngs = sorted(figure_dir.glob("*.png"))
    kept = [p.stem for p in sorted(pngs, key=_figure_rank) if p.stem not in redrawn]
    signature = dopamine_signature(rpe, config.seed_list, config.sessions,
                                   not_recorded=None if trials else "this record has no trials.csv")
    provenance = {name: "Redrawn from the tables by the re-judge." for name in redrawn}
    provenance |= {name: KEPT_FIGURES.get(name, "Kept as the analysis of the runs drew it.") for name in kept}
    captions = figure_captions(config, data, findings, signature, provenance)
    if "expert_effects" in kept:  # drawn by the code of its time: describe what any version of it shows
        captions["expert_effects"] = (
            f"The experts' success in {span(config.expert_range)} per condition: bar = mean across seeds, "
            "black error bar = 95 % CI across seeds (Student t), grey line = one seed; a bar at 0 (thalamic "
            "input silenced) is a measured 0, not a missing bar. " + KEPT_FIGURES["expert_effects"])
    runs = {(r["condition"], r["seed"]) for r in evaluations}
    columns = set(neural_rows[0]) - {"condition", "seed", "session"} if neural_rows else set()
    missing = [m for m in METRICS if m not in columns]
    has_gain = any(r.get(THALAMUS_GAIN, "") != "" for r in evaluations)
    read = ", ".join(name for name in TABLES if (out / name).exists())
    notes = ["## Re-judged from the tables", "",
             "This report was written by `python -m analysis.ablation_report` from the recorded tables "
             "alone, with the rules of `analysis/findings.py` as they are now; no run folder was read.", "",
             f"- Read: {read}; the configuration above is read off them.",
             f"- Circuit of the runs: v{circuit}, given with `--circuit {circuit}` (the tables do not "
             "record it).",
             "- " + ("trials.csv: read." if trials else
                     "No trials.csv: the training trials' success per seed, the pre-cue lifts per seed and "
                     "the RPE's spread (rpe_sd) are not in the record, so the clauses that need them are not "
                     "tested and the lines beside that show them are empty; summary.csv's per-session "
                     "means fill the behaviour table."),
             "- " + ("evaluation.csv has the evaluations' thalamus_gain." if has_gain else
                     "evaluation.csv has no thalamus_gain column: whether expert_thalamus_block's "
                     "evaluations ran with the thalamus silenced is not recorded, so clause 9a is not "
                     "tested."),
             "- neural.csv: " + (f"lacks {', '.join(f'`{m}`' for m in missing)}; the clauses that need "
                                 "them are not tested." if missing else "has every metric the rules use.")
             + (" Its values carry 6 significant digits." if neural_rows else ""),
             *(["- neural.csv has no `indicative_fraction_post`, so the neural analysis before version 4 "
                "wrote it: its `indicative_fraction` decodes post-outcome activity (what "
                "`indicative_fraction_post` is now) and its cue- and outcome-responsive fractions have no "
                "minimum effect size; finding 6 is judged on those earlier definitions, not on the ones in "
                "the table of neural metrics below."]
               if neural_rows and "indicative_fraction_post" not in columns else []),
             "- Figures: " + ", ".join(redrawn) + " redrawn from these tables by the current code"
             + (f"; {', '.join(kept)} kept as the analysis of the runs drew "
                f"{'them' if len(kept) > 1 else 'it'} (not in the tables: see the captions)" if kept else "")
             + ".", ""]
    report = out / run_format.REPORT_FILE
    report.write_text(render_report(config, [], {}, [], data, findings, partial_block_lines(data), pngs, out,
                                    summary, runs_line=f"{len(runs)} runs in the tables.", notes=notes,
                                    captions=captions, signature=signature))
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Judge a recorded ablation again, from its tables alone, "
                                                 "with the current rules; writes DIR/report.md.")
    parser.add_argument("directory", help="folder with evaluation.csv (or success_by_seed.csv), neural.csv, "
                                          "summary.csv and optionally trials.csv")
    parser.add_argument("--circuit", type=int, default=1,
                        help="circuit version the runs were trained with (default 1; the tables do not say)")
    args = parser.parse_args(argv)
    report = rejudge(args.directory, args.circuit)
    findings_line = next(line for line in report.read_text().splitlines() if "findings reproduced" in line)
    print(f"{report}: {findings_line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
