"""Tables of an ablation: every trial of every run, and success per session x condition.

``trials.csv`` has the columns ``condition, seed`` followed by ``training.train.EPISODE_COLUMNS``
(``episode, session, success, ...``), one row per trial of every finished run. ``summary.csv`` has one
row per condition x session: seeds, trials, mean success with its 95 % CI across seeds, and the mean
dopamine gain and thalamic state of those trials.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from analysis.statistics import mean_ci

SUMMARY_COLUMNS = ("condition", "session", "seeds", "trials", "success_mean", "success_ci_low",
                   "success_ci_high", "dopamine_gain", "thalamus_on")


def collect_trials(runs: list[tuple[str, int, Path]], path: Path) -> list[dict[str, str]]:
    """Concatenate the runs' ``episodes.csv`` (``(condition, seed, run_dir)`` each) into ``path``."""
    rows: list[dict[str, str]] = []
    columns: list[str] | None = None
    for condition, seed, directory in runs:
        with open(directory / "episodes.csv", newline="") as f:
            reader = csv.DictReader(f)
            columns = columns or ["condition", "seed", *reader.fieldnames]
            rows += [{"condition": condition, "seed": str(seed), **row} for row in reader]
    with open(path, "w", newline="") as f:
        fallback = ["condition", "seed", "episode", "session", "success"]
        writer = csv.DictWriter(f, fieldnames=columns or fallback)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def success_by_seed(rows: list[dict[str, str]]) -> dict[str, dict[int, dict[int, float]]]:
    """``{condition: {seed: {session: success rate}}}`` from trial rows."""
    hits: dict[tuple[str, int, int], list[int]] = defaultdict(list)
    for row in rows:
        hits[row["condition"], int(row["seed"]), int(row["session"])].append(int(row["success"]))
    table: dict[str, dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for (condition, seed, session), values in hits.items():
        table[condition][seed][session] = float(np.mean(values))
    return {c: dict(v) for c, v in table.items()}


def seed_matrix(table: dict[int, dict[int, float]], seeds: list[int], sessions: list[int]) -> np.ndarray:
    """(seeds x sessions) array of one condition's values, NaN where a run or session is missing."""
    return np.array([[table.get(seed, {}).get(s, np.nan) for s in sessions] for seed in seeds], dtype=float)


def write_summary(rows: list[dict[str, str]], path: Path) -> list[dict[str, object]]:
    """Per condition x session summary of ``rows`` into ``path``; returns the summary rows."""
    by_seed = success_by_seed(rows)
    extra: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        cell = extra[row["condition"], int(row["session"])]
        cell["dopamine_gain"].append(float(row["dopamine_gain"]))
        cell["thalamus_on"].append(float(row["thalamus_on"]))
    summary = []
    for (condition, session), cell in sorted(extra.items()):
        values = [by_seed[condition][seed][session] for seed in sorted(by_seed[condition])
                  if session in by_seed[condition][seed]]
        estimate = mean_ci(values)
        summary.append({"condition": condition, "session": session, "seeds": estimate.n,
                        "trials": len(cell["dopamine_gain"]), "success_mean": round(estimate.mean, 4),
                        "success_ci_low": round(estimate.low, 4), "success_ci_high": round(estimate.high, 4),
                        "dopamine_gain": round(float(np.mean(cell["dopamine_gain"])), 4),
                        "thalamus_on": round(float(np.mean(cell["thalamus_on"])), 4)})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        writer.writerows(summary)
    return summary
