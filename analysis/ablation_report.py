"""From the finished runs of an ablation to its tables, figures and ``report.md``.

Neural analyses run per run on the sweep's backend and are cached in the run folder
(``neural.json``, ``embedding.npz``), so repeating the command redoes only what is missing. They cover the
full-length conditions (``intact``, ``block_2_4``, ``partial_block``), whose recordings start at
session 1; the expert conditions are behavioural comparisons with ``intact``'s same sessions.
"""

from __future__ import annotations

import csv
import json
import math
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from analysis import figures
from analysis.findings import Data, all_findings, expert_precue_line, partial_block_lines
from analysis.tables import (
    NOISE_OFF,
    behaviour_by_seed,
    collect_evaluations,
    collect_trials,
    evaluation_by_seed,
    success_by_seed,
    write_success_by_seed,
    write_summary,
)

NEURAL_CONDITIONS = ("intact", "block_2_4", "partial_block")
#: Bumped whenever the neural analyses change, so cached results of older code are recomputed.
NEURAL_ANALYSIS_VERSION = 3  # 3: the thalamic lead counts only lifts that follow the cue


def neural_job(run_dir: str, seed: int, reference_session: int) -> dict[str, Any]:
    """Neural metrics of one run, cached in its folder; never raises (a failure is returned)."""
    from analysis.neural import analyse_run

    directory = Path(run_dir)
    cache, embedding_file = directory / "neural.json", directory / "embedding.npz"
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
            handle = backend.submit(neural_job, str(spec.directory), spec.seed, config.expert_after)
            jobs[handle] = spec
    neural: dict[str, dict[int, dict[int, dict[str, float]]]] = {}
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
                    neural.setdefault(spec.condition, {}).setdefault(spec.seed, {})[session] = metrics
                    rows.append({"condition": spec.condition, "seed": spec.seed, "session": session,
                                 **metrics})
    if rows:
        columns = ["condition", "seed", "session"] + sorted({k for r in rows for k in r} -
                                                             {"condition", "seed", "session"})
        rows.sort(key=lambda r: (r["condition"], r["seed"], r["session"]))
        with open(out / "neural.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return neural, errors


def analyse_ablation(out: Path, config, specs: list, failed: dict[str, dict], backend,
                     progress: bool = True) -> Path:
    """Tables, neural analyses, figures and report of the finished runs in ``out``; returns the report."""
    from training.ablate import BLOCK_SESSIONS, finished_result

    finished = [s for s in specs if finished_result(s) is not None]
    runs = [(s.condition, s.seed, s.directory) for s in finished]
    rows = collect_trials(runs, out / "trials.csv")
    evaluations = collect_evaluations(runs, out / "evaluation.csv")
    evaluated = evaluation_by_seed(evaluations)
    write_success_by_seed(evaluated, out / "success_by_seed.csv")
    summary = write_summary(rows, out / "summary.csv", evaluations)
    neural, neural_errors = _neural(out, finished, config, backend, progress)
    data = Data(config.seed_list, success_by_seed(rows), neural, evaluated, behaviour_by_seed(rows))
    last = config.expert_after
    expert = range(config.expert_sessions_range[0], config.expert_sessions_range[1] + 1)
    figure_dir = out / "figures"
    figure_dir.mkdir(exist_ok=True)
    made = figures.learning_curves(data, config.sessions, BLOCK_SESSIONS, expert, figure_dir)
    made += figures.expert_effects(data, expert, figure_dir)
    if neural:
        made += figures.neural_metrics(data, config.sessions, BLOCK_SESSIONS, expert, figure_dir)
        first_seed = config.seed_list[0]
        embeddings = {}
        for condition in ("intact", "block_2_4"):
            path = out / "runs" / condition / f"seed_{first_seed:02d}" / "embedding.npz"
            embeddings[condition] = dict(np.load(path)) if path.exists() else None
        made += figures.diffusion_maps(embeddings, first_seed, figure_dir)
    findings = all_findings(data, last, config.sessions, expert)
    report = out / "report.md"
    report.write_text(render_report(config, finished, failed, neural_errors, data, findings,
                                    partial_block_lines(data), [p for p in made if p.suffix == ".png"], out,
                                    summary))
    return report


def _paired_start_check(data: Data) -> str:
    """Are session-1 success rates (training trials, and the noise-off evaluations before and after
    session 1) identical across the conditions that share them (the paired design)?"""
    def same_as_intact(condition: str) -> bool:
        return all(np.array_equal(np.nan_to_num(data.value(condition, metric, s), nan=-1),
                                  np.nan_to_num(data.value("intact", metric, s), nan=-1))
                   for metric, s in (("success", 1), (NOISE_OFF, 0), (NOISE_OFF, 1)))

    same = [c for c in ("block_2_4", "partial_block") if same_as_intact(c)]
    return (f"Session 1 (before any block) has the same success, seed by seed, in intact and "
            f"{', '.join(same) or 'no other condition'} (training trials, and noise-off evaluations before "
            "and after it): the conditions of a seed share their past exactly.")


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


def render_report(config, finished, failed, neural_errors, data: Data, findings, partial_lines,
                  pngs: list[Path], out: Path, summary: list[dict] | None = None) -> str:
    """``report.md`` as text."""
    from analysis.neural import METRICS

    walls = [json.loads((s.directory / "result.json").read_text()).get("wall_s", 0) for s in finished]
    lines = ["# dopareach ablation: intact vs blocked dopamine", "",
             f"{len(config.seed_list)} seeds ({config.seed_list[0]}..{config.seed_list[-1]}), "
             f"{config.sessions} sessions of {config.trials_per_session} trials; dopamine blocked in "
             "sessions "
             f"2-4 (block_2_4) or scaled by {config.partial_gain:g} (partial_block); expert manipulations in "
             f"sessions {config.expert_after + 1}-{config.expert_after + config.expert_sessions} after "
             f"{config.expert_after} intact sessions. {len(finished)} runs finished "
             f"({sum(walls) / 60:.1f} worker-minutes of training), {len(failed)} failed.", "",
             _paired_start_check(data), ""]
    if failed:
        lines += ["## Failed runs (left out of every statistic)", ""]
        lines += [f"- `{r['key']}`: {r['error']}" for r in failed.values()] + [""]
    if neural_errors:
        lines += ["## Failed neural analyses", ""] + [f"- {e}" for e in neural_errors] + [""]
    lines += ["## Verdicts", "", "| finding | claim | verdict |", "|---|---|---|"]
    lines += [f"| {f.number} | {f.claim} | **{f.verdict}** |" for f in findings]
    lines += ["", "Values are means across seeds with 95 % confidence intervals [low, high]; tests are "
                  "paired across seeds (the same seed in every condition). A verdict follows the rule "
                  "printed with it. Findings 1-4 measure success on the held-out evaluation trials with "
                  "exploration noise off (the mean policy; 'after session s' = the evaluation once s "
                  "sessions are complete, 'before session 1' = session 0) and are reproduced only if their "
                  "rule holds with the 95 % CI across seeds strictly excluding the null (ties fail); the "
                  "noise-on evaluations and the training trials are shown beside them.", ""]
    for f in findings:
        lines += [f"## Finding {f.number}: {f.verdict}", "", f"*{f.claim}*", "", f"Rule: {f.rule}.", ""]
        lines += [f"- {line}" for line in f.lines] + [""]
    lines += ["## Behaviour per session", "",
              "Mean across seeds [95 % CI]. Held-out evaluations follow the session (0: before session 1); "
              "training trials and pre-cue lifts (paw lifted at or before the cue onset) are those of the "
              "session; - where not measured.", ""]
    lines += _behaviour_table(summary or []) + ["", expert_precue_line(data, config.sessions), ""]
    lines += ["## Beyond the lab: a partial block", "",
              f"Dopamine delivered at gain {config.partial_gain:g} in sessions 2-4 instead of 0.", ""]
    lines += [f"- {line}" for line in partial_lines] + [""]
    lines += ["## Figures", "",
              "learning_curves: left, held-out evaluations (noise off solid, the primary measure; noise "
              "on dashed), without expert_thalamus_block (evaluations run with the thalamus intact); "
              "right, the training trials.", ""]
    lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in pngs] + [""]
    lines += ["## Neural metrics", "", "| metric | definition |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in METRICS.items()] + [""]
    lines += ["## Files", "",
              "- `trials.csv`: every trial of every run (condition, seed, session, episode, success, events, "
              "dopamine, precue_lift).",
              "- `evaluation.csv`: every held-out evaluation of every run (condition, seed, episode, "
              "session, noise off/on, trials, successes, success).",
              "- `success_by_seed.csv`: held-out success per condition x seed x evaluation point, noise "
              "off and on (empty where not evaluated).",
              "- `summary.csv`: per condition x session, mean and 95 % CI across seeds of the training-trial "
              "success, the noise-off and noise-on held-out success and the pre-cue lift rate.",
              "- `neural.csv`: every neural metric per condition x seed x session.",
              "- `runs/<condition>/seed_NN/`: the runs (TensorBoard in `tb/`, activity, checkpoints).", ""]
    return "\n".join(lines)
