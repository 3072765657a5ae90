"""The ablation's tables from run folders: evaluations, per-seed success, summary, per-trial behaviour."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from analysis.tables import (
    EVALUATION_COLUMNS,
    SUCCESS_BY_SEED_COLUMNS,
    SUMMARY_COLUMNS,
    behaviour_by_seed,
    collect_evaluations,
    collect_trials,
    evaluation_by_seed,
    write_success_by_seed,
    write_summary,
)

OLD_EPISODE_COLUMNS = ("episode", "session", "success", "mean_delta", "dopamine_gain", "thalamus_on")


def _write(path: Path, columns, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def runs(tmp_path):
    """A v2 run (evaluation.csv, precue_lift; 2 sessions of 2 trials) and an older one without either."""
    new, old = tmp_path / "intact" / "seed_00", tmp_path / "intact" / "seed_01"
    _write(new / "episodes.csv", (*OLD_EPISODE_COLUMNS, "precue_lift"),
           [(0, 1, 1, 0.1, 1, 1, 1), (1, 1, 0, 0.3, 1, 1, 0), (2, 2, 1, 0.2, 1, 1, 0),
            (3, 2, 1, 0.2, 1, 1, 0)])
    _write(new / "evaluation.csv", EVALUATION_COLUMNS,
           [(0, 0, "off", 4, 1, 0.25, 1.0), (0, 0, "on", 4, 0, 0.0, 1.0), (2, 1, "off", 4, 2, 0.5, 1.0),
            (4, 2, "off", 4, 3, 0.75, 1.0), (4, 2, "on", 4, 2, 0.5, 1.0)])
    _write(old / "episodes.csv", OLD_EPISODE_COLUMNS,
           [(0, 1, 0, 0.1, 1, 1), (1, 1, 0, 0.1, 1, 1), (2, 2, 1, 0.4, 1, 1), (3, 2, 0, 0.0, 1, 1)])
    return [("intact", 0, new), ("intact", 1, old)]


def test_evaluations_are_collected_and_old_runs_add_none(runs, tmp_path):
    rows = collect_evaluations(runs, tmp_path / "evaluation.csv")
    written = _read(tmp_path / "evaluation.csv")
    assert written == rows and len(rows) == 5
    assert list(written[0]) == ["condition", "seed", *EVALUATION_COLUMNS]
    assert {r["seed"] for r in rows} == {"0"}
    collect_evaluations(runs[1:], tmp_path / "none.csv")  # no run has one: the header alone
    assert (tmp_path / "none.csv").read_text().strip() == ",".join(["condition", "seed", *EVALUATION_COLUMNS])


def test_success_by_seed_has_one_row_per_evaluation_point(runs, tmp_path):
    table = evaluation_by_seed(collect_evaluations(runs, tmp_path / "evaluation.csv"))
    write_success_by_seed(table, tmp_path / "success_by_seed.csv")
    rows = _read(tmp_path / "success_by_seed.csv")
    assert tuple(rows[0]) == SUCCESS_BY_SEED_COLUMNS
    assert [(r["session"], r["success_noise_off"], r["success_noise_on"]) for r in rows] == \
        [("0", "0.25", "0.0"), ("1", "0.5", ""), ("2", "0.75", "0.5")]


def test_summary_carries_training_trials_evaluations_and_precue_lifts(runs, tmp_path):
    trials = collect_trials(runs, tmp_path / "trials.csv")
    evaluations = collect_evaluations(runs, tmp_path / "evaluation.csv")
    summary = write_summary(trials, tmp_path / "summary.csv", evaluations)
    written = {r["session"]: r for r in _read(tmp_path / "summary.csv")}
    assert tuple(_read(tmp_path / "summary.csv")[0]) == SUMMARY_COLUMNS and len(summary) == 3
    before = written["0"]  # the evaluation before session 1: no trials there
    assert (before["seeds"], before["trials"], before["success_mean"]) == ("1", "0", "")
    assert float(before["success_noise_off_mean"]) == 0.25 and float(before["success_noise_on_mean"]) == 0.0
    first = written["1"]
    assert (first["seeds"], first["trials"]) == ("2", "4")
    assert float(first["success_mean"]) == 0.25  # seeds 0.5 and 0.0
    assert float(first["success_noise_off_mean"]) == 0.5 and first["success_noise_on_mean"] == ""
    assert float(first["precue_lift_mean"]) == 0.5  # the old run has no precue_lift column: left out
    assert float(written["2"]["precue_lift_mean"]) == 0.0


def test_behaviour_per_session(runs, tmp_path):
    behaviour = behaviour_by_seed(collect_trials(runs, tmp_path / "trials.csv"))
    new, old = behaviour["intact"][0], behaviour["intact"][1]
    assert new[1]["precue_lift"] == 0.5 and "precue_lift" not in old[1]
    assert new[1]["rpe_sd"] == pytest.approx(math.sqrt(0.02)) and new[2]["rpe_sd"] == 0.0
    assert old[2]["rpe_sd"] == pytest.approx(math.sqrt(0.08))


def test_the_rpe_at_the_outcome_is_the_rewarded_trials_and_at_the_cue_all_trials():
    from analysis.tables import rpe_by_seed

    rows = [{"condition": "intact", "seed": "0", "session": "1", "success": success, "rpe_cue": cue,
             "rpe_outcome": outcome}
            for success, cue, outcome in (("1", "0.2", "0.9"), ("0", "0.0", "-0.5"), ("1", "0.4", "0.7"),
                                          ("0", "", "-0.3"))]
    cell = rpe_by_seed(rows)["intact"][0][1]
    assert cell["rpe_outcome"] == pytest.approx(0.8)  # the two rewarded trials only
    assert cell["rpe_cue"] == pytest.approx(0.2)  # every trial with a cue
    assert rpe_by_seed([{"condition": "intact", "seed": "0", "session": "1", "success": "1"}]) is None
