"""Tables of an ablation: every trial and every evaluation of every run, and per-session summaries.

- ``trials.csv``: the columns ``condition, seed`` followed by a run's ``episodes.csv`` columns
  (:data:`analysis.run_format.EPISODE_COLUMNS`:
  ``episode, session, success, ..., precue_lift``), one row per trial of every finished run.
- ``evaluation.csv``: ``condition, seed`` followed by :data:`analysis.run_format.EVALUATION_COLUMNS`
  (``episode, session, noise, trials, successes, success``), one row per evaluation of every finished run
  on its held-out trials (``session`` = sessions completed, 0 = before session 1; noise ``off``: the
  mean policy, ``on``: with exploration noise). A run folder without ``evaluation.csv`` (written before
  learning v2) adds no rows.
- ``success_by_seed.csv``: ``condition, seed, session, success_noise_off, success_noise_on``, one row per
  evaluation point of every run (a cell is empty where that noise condition was not evaluated).
- ``summary.csv``: one row per condition x session (:data:`SUMMARY_COLUMNS`). ``success_*`` is the success
  of the protocol's training trials *during* session ``session`` (exploration noise on, learning);
  ``success_noise_off_*`` / ``success_noise_on_*`` that of the held-out evaluation *after* ``session``
  sessions (0: before session 1); ``precue_lift_*`` the rate of trials of the session whose paw lifted
  at or before the cue onset. Each is the mean across seeds with its 95 % Student-t CI; a cell is empty
  where the measure does not exist (no trials in session 0, no noise-on evaluation after most sessions,
  no ``precue_lift`` column in old run folders).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from analysis.run_format import (
    EPISODES_FILE,
    EVALUATION_COLUMNS,
    EVALUATION_FILE,
    RPE_CUE,
    RPE_OUTCOME,
    write_rows,
)
from analysis.statistics import mean_ci

#: Per-seed evaluation metrics (``Data`` names): held-out success with noise off / on.
NOISE_OFF, NOISE_ON = "success_noise_off", "success_noise_on"
#: Per-seed evaluation metric: the thalamic gain the noise-off evaluation ran with (0: silenced, 1: intact),
#: from evaluation.csv's ``thalamus_gain`` column; absent in run folders written before that column.
THALAMUS_GAIN = "thalamus_gain"
SUCCESS_BY_SEED_COLUMNS = ("condition", "seed", "session", NOISE_OFF, NOISE_ON)
#: Per-trial columns of episodes.csv (hence trials.csv; :data:`analysis.run_format.EPISODE_COLUMNS`) for the
#: dopamine signature: the TD error summed over the first 0.1 s after the cue onset / after the outcome
#: (reward units), empty where the event did not happen. Runs written before these columns lack them.

SUMMARY_COLUMNS = ("condition", "session", "seeds", "trials", "success_mean", "success_ci_low",
                   "success_ci_high", "dopamine_gain", "thalamus_on",
                   "success_noise_off_mean", "success_noise_off_ci_low", "success_noise_off_ci_high",
                   "success_noise_on_mean", "success_noise_on_ci_low", "success_noise_on_ci_high",
                   "precue_lift_mean", "precue_lift_ci_low", "precue_lift_ci_high")


def collect_trials(runs: list[tuple[str, int, Path]], path: Path) -> list[dict[str, str]]:
    """Concatenate the runs' ``episodes.csv`` (``(condition, seed, run_dir)`` each) into ``path``."""
    return _concatenate(runs, EPISODES_FILE, path, ("episode", "session", "success"))


def collect_evaluations(runs: list[tuple[str, int, Path]], path: Path) -> list[dict[str, str]]:
    """Concatenate the runs' ``evaluation.csv`` into ``path`` (runs without one are left out)."""
    return _concatenate(runs, EVALUATION_FILE, path, EVALUATION_COLUMNS, optional=True)


def _concatenate(runs: list[tuple[str, int, Path]], name: str, path: Path, fallback: tuple[str, ...],
                 optional: bool = False) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    columns: list[str] | None = None
    for condition, seed, directory in runs:
        source = Path(directory) / name
        if optional and not source.exists():
            continue
        with open(source, newline="") as f:
            reader = csv.DictReader(f)
            columns = columns or ["condition", "seed", *reader.fieldnames]
            rows += [{"condition": condition, "seed": str(seed), **row} for row in reader]
    write_rows(path, columns or ["condition", "seed", *fallback], rows)
    return rows


def success_by_seed(rows: list[dict[str, str]]) -> dict[str, dict[int, dict[int, float]]]:
    """``{condition: {seed: {session: success rate}}}`` from trial rows."""
    return _rate_by_seed(rows, "success")


def _rate_by_seed(rows: list[dict[str, str]], column: str) -> dict[str, dict[int, dict[int, float]]]:
    """``{condition: {seed: {session: mean of column}}}`` over trial rows (rows whose cell is empty or
    missing, as in run folders older than the column, are left out)."""
    hits: dict[tuple[str, int, int], list[float]] = defaultdict(list)
    for row in rows:
        value = row.get(column)
        if value not in (None, ""):
            hits[row["condition"], int(row["seed"]), int(row["session"])].append(float(value))
    table: dict[str, dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for (condition, seed, session), values in hits.items():
        table[condition][seed][session] = float(np.mean(values))
    return {c: dict(v) for c, v in table.items()}


def evaluation_by_seed(rows: list[dict[str, str]]) -> dict[str, dict[int, dict[int, dict[str, float]]]]:
    """``{condition: {seed: {session: {"success_noise_off": x, "success_noise_on": y}}}}`` from evaluation
    rows (a noise condition that was not evaluated at a session is absent), with ``"thalamus_gain"``: the
    thalamic gain of the noise-off evaluation, where the rows have that column (finding 9 needs to know
    that an evaluation ran with the thalamus silenced)."""
    table: dict[str, dict[int, dict[int, dict[str, float]]]] = {}
    for row in rows:
        metric = {"off": NOISE_OFF, "on": NOISE_ON}.get(row["noise"])
        if metric is None:
            continue
        cell = table.setdefault(row["condition"], {}).setdefault(int(row["seed"]), {})
        values = cell.setdefault(int(row["session"]), {})
        values[metric] = float(row["success"])
        if metric == NOISE_OFF and row.get(THALAMUS_GAIN) not in (None, ""):
            values[THALAMUS_GAIN] = float(row[THALAMUS_GAIN])
    return table


def behaviour_by_seed(rows: list[dict[str, str]]) -> dict[str, dict[int, dict[int, dict[str, float]]]]:
    """Per-trial behaviour summarised per condition x seed x session, from trial rows:
    ``precue_lift`` (rate of trials with a pre-cue lift; absent in run folders without the column) and
    ``rpe_sd`` (standard deviation across the session's trials of ``mean_delta``, each trial's mean TD
    error; NaN with fewer than 2 trials)."""
    table: dict[str, dict[int, dict[int, dict[str, float]]]] = {}

    def cell(condition: str, seed: int, session: int) -> dict[str, float]:
        return table.setdefault(condition, {}).setdefault(seed, {}).setdefault(session, {})

    for condition, seeds in _rate_by_seed(rows, "precue_lift").items():
        for seed, sessions in seeds.items():
            for session, rate in sessions.items():
                cell(condition, seed, session)["precue_lift"] = rate
    deltas: dict[tuple[str, int, int], list[float]] = defaultdict(list)
    for row in rows:
        value = row.get("mean_delta")
        if value not in (None, "") and math.isfinite(float(value)):
            deltas[row["condition"], int(row["seed"]), int(row["session"])].append(float(value))
    for (condition, seed, session), values in deltas.items():
        sd = float(np.std(values, ddof=1)) if len(values) >= 2 else math.nan
        cell(condition, seed, session)["rpe_sd"] = sd
    return table


def rpe_by_seed(rows: list[dict[str, str]]) -> dict[str, dict[int, dict[int, dict[str, float]]]] | None:
    """``{condition: {seed: {session: {"rpe_cue": x, "rpe_outcome": y}}}}``: the mean over a session's
    trials of each trial's :data:`RPE_CUE`, and over its *rewarded* trials (successes) of
    :data:`RPE_OUTCOME` (trials where the event did not happen, an empty cell, are left out; a session
    without any has no value). Why only the rewarded trials at the outcome: the TD signature is about the
    response to the reward, which shrinks as the reward comes to be predicted; a mean over all trials
    mixes it with the failures' negative errors and so mostly follows the success rate (measured on a
    quick ablation: it rose by 0.35 from session 1 to 8 as success rose). None when the rows have
    neither column (runs written before them, or no trials at all): the signature is then not recorded,
    which differs from recorded but empty."""
    if not any(RPE_CUE in row or RPE_OUTCOME in row for row in rows):
        return None
    table: dict[str, dict[int, dict[int, dict[str, float]]]] = {}
    rewarded = [row for row in rows if row.get("success") == "1"]
    for column, subset in ((RPE_CUE, rows), (RPE_OUTCOME, rewarded)):
        for condition, seeds in _rate_by_seed(subset, column).items():
            for seed, sessions in seeds.items():
                for session, mean in sessions.items():
                    cells = table.setdefault(condition, {}).setdefault(seed, {})
                    cells.setdefault(session, {})[column] = mean
    return table


def write_success_by_seed(table: dict[str, dict[int, dict[int, dict[str, float]]]], path: Path) -> list[dict]:
    """``success_by_seed.csv`` from :func:`evaluation_by_seed`'s table; returns its rows."""
    rows = []
    for condition in sorted(table):
        for seed in sorted(table[condition]):
            for session, cell in sorted(table[condition][seed].items()):
                rows.append({"condition": condition, "seed": seed, "session": session,
                             **{m: repr(cell[m]) if m in cell else "" for m in (NOISE_OFF, NOISE_ON)}})
    write_rows(path, SUCCESS_BY_SEED_COLUMNS, rows)
    return rows


def _columns(prefix: str, values: list[float]) -> dict[str, object]:
    """``{prefix_mean, prefix_ci_low, prefix_ci_high}`` of per-seed values; empty cells without any."""
    estimate = mean_ci(values)
    if estimate.n == 0:
        return dict.fromkeys((f"{prefix}_mean", f"{prefix}_ci_low", f"{prefix}_ci_high"), "")
    return {f"{prefix}_mean": round(estimate.mean, 4), f"{prefix}_ci_low": round(estimate.low, 4),
            f"{prefix}_ci_high": round(estimate.high, 4)}


def _per_seed(table: dict, condition: str, session: int, metric: str | None = None) -> dict[int, float]:
    """``{seed: value}`` of ``table[condition][seed][session]`` (its ``[metric]`` if given), where present."""
    found = {}
    for seed, sessions in table.get(condition, {}).items():
        value = sessions.get(session)
        if metric is not None and value is not None:
            value = value.get(metric)
        if value is not None:
            found[seed] = value
    return found


def write_summary(rows: list[dict[str, str]], path: Path,
                  evaluations: list[dict[str, str]] = ()) -> list[dict[str, object]]:
    """Per condition x session summary of trial ``rows`` and evaluation rows into ``path``; returns it.

    A row exists for every condition x session with trials or an evaluation; ``seeds`` counts the seeds
    with either there.
    """
    by_seed = success_by_seed(rows)
    precue = _rate_by_seed(rows, "precue_lift")
    evaluated = evaluation_by_seed(list(evaluations))
    extra: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        cell = extra[row["condition"], int(row["session"])]
        cell["dopamine_gain"].append(float(row["dopamine_gain"]))
        cell["thalamus_on"].append(float(row["thalamus_on"]))
    keys = set(extra) | {(c, s) for c, seeds in evaluated.items() for cells in seeds.values() for s in cells}
    summary = []
    for condition, session in sorted(keys):
        success = _per_seed(by_seed, condition, session)
        off = _per_seed(evaluated, condition, session, NOISE_OFF)
        on = _per_seed(evaluated, condition, session, NOISE_ON)
        cell = extra.get((condition, session), {})
        trials = len(cell.get("dopamine_gain", []))
        row: dict[str, object] = {"condition": condition, "session": session,
                                  "seeds": len(set(success) | set(off) | set(on)), "trials": trials}
        if success:
            estimate = mean_ci([success[s] for s in sorted(success)])
            row.update({"success_mean": round(estimate.mean, 4), "success_ci_low": round(estimate.low, 4),
                        "success_ci_high": round(estimate.high, 4),
                        "dopamine_gain": round(float(np.mean(cell["dopamine_gain"])), 4),
                        "thalamus_on": round(float(np.mean(cell["thalamus_on"])), 4)})
        for prefix, values in (("success_noise_off", off), ("success_noise_on", on),
                               ("precue_lift", _per_seed(precue, condition, session))):
            row.update(_columns(prefix, [values[s] for s in sorted(values)]))
        summary.append(row)
    write_rows(path, SUMMARY_COLUMNS, summary)
    return summary
