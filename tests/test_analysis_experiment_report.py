"""analysis.experiment_report on synthetic runs: a planted dose threshold and a planted timing effect are
found and stated, equal arms are not called different, and every table and figure is written."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from analysis import run_format
from analysis.experiment_report import analyse_experiment
from analysis.experiments import Experiment, experiment_arms


@dataclass(frozen=True)
class Spec:
    condition: str
    seed: int
    directory: Path


def write_run(directory: Path, success_by_session: list[float], change: float = 1.0) -> None:
    """A finished run folder whose noise-off evaluations after sessions 0.. have these success rates, and
    whose trials of sessions 2-4 report a cortical change of ``change`` (2.0 in session 1)."""
    directory.mkdir(parents=True)
    rows = [{"episode": s * 8, "session": s, "noise": "off", "trials": 50, "successes": round(x * 50),
             "success": x, "thalamus_gain": 1.0} for s, x in enumerate(success_by_session)]
    run_format.write_rows(directory / run_format.EVALUATION_FILE, run_format.EVALUATION_COLUMNS, rows)
    trials = [{"episode": e, "session": e // 4 + 1, "cortical_update_norm": 2.0 if e < 4 else change,
               "rpe_cue": 0.1 if e % 2 else "", "rpe_outcome": 0.5} for e in range(16)]
    run_format.write_rows(directory / run_format.EPISODES_FILE, run_format.EPISODE_COLUMNS, trials)
    run_format.write_result(directory, {"status": "done"})


def make_experiment(out: Path, experiment: Experiment, gain_of, seeds=range(8), change_of=lambda arm: 1.0,
                    **arms_kwargs):
    """Runs whose success after session 1 is 0.2 and after session 4 is 0.2 + gain_of(arm, seed)."""
    arms = experiment_arms(experiment, **arms_kwargs)
    specs = []
    for arm in arms:
        for seed in seeds:
            directory = run_format.run_dir(out, arm.name, seed)
            gain = gain_of(arm, seed)
            write_run(directory, [0.1, 0.2, 0.2 + gain / 3, 0.2 + 2 * gain / 3, 0.2 + gain], change_of(arm))
            specs.append(Spec(arm.name, seed, directory))
    return arms, list(seeds), specs


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_planted_dose_threshold_is_found(tmp_path):
    rng = np.random.default_rng(0)
    noise = {(d, s): 0.02 * rng.standard_normal() for d in (0, 0.25, 0.5, 0.75, 1) for s in range(8)}
    arms, seeds, specs = make_experiment(
        tmp_path, Experiment.DOSE_RESPONSE,
        lambda arm, seed: 0.6 * max(0.0, arm.dose - 0.5) / 0.5 + noise[arm.dose, seed],
        doses=(0, 0.25, 0.5, 0.75, 1))
    report = analyse_experiment(tmp_path, Experiment.DOSE_RESPONSE, arms, seeds, specs, {}, 64).read_text()
    fits = {r["model"]: r for r in rows(tmp_path / run_format.DOSE_FIT_TABLE)}
    assert fits["threshold"]["chosen"] == "True"
    assert 0.4 <= float(fits["threshold"]["breakpoint"]) <= 0.6
    assert "a threshold: no learning below a gain of 0.5" in report
    gains = rows(tmp_path / run_format.GAINS_TABLE)
    assert len(gains) == 5 * 8 and {r["arm"] for r in gains} == {a.name for a in arms}
    assert (tmp_path / "figures" / "dose_response.png").stat().st_size > 10_000
    assert "![dose_response](figures/dose_response.png)" in report
    # Table rows go by dose.
    table = [line.split("|")[1].strip() for line in report.splitlines() if line.startswith("| dose_")]
    assert table == ["dose_0", "dose_0.25", "dose_0.5", "dose_0.75", "dose_1"]


def test_doses_that_do_not_matter_keep_the_line_and_say_so(tmp_path):
    rng = np.random.default_rng(3)
    arms, seeds, specs = make_experiment(tmp_path, Experiment.DOSE_RESPONSE,
                                         lambda arm, seed: 0.3 + 0.05 * rng.standard_normal(),
                                         doses=(0, 0.5, 1))
    report = analyse_experiment(tmp_path, Experiment.DOSE_RESPONSE, arms, seeds, specs, {}, 64).read_text()
    assert "No dose dependence is resolved" in report


def test_a_planted_timing_effect_is_attributed_to_its_window(tmp_path):
    rng = np.random.default_rng(1)
    loss = {"intact": 0.0, "cue_window": 0.0, "outcome_window": 0.4, "block_2_4": 0.5}
    change = {"intact": 1.0, "cue_window": 0.9, "outcome_window": 0.25, "block_2_4": 0.0}
    arms, seeds, specs = make_experiment(
        tmp_path, Experiment.TIMING, lambda arm, seed: 0.5 - loss[arm.name] + 0.03 * rng.standard_normal(),
        change_of=lambda arm: change[arm.name])
    report = analyse_experiment(tmp_path, Experiment.TIMING, arms, seeds, specs, {}, 64).read_text()
    # The plasticity each arm left, over intact's (sessions 2-4 only: session 1's 2.0 is left out).
    outcome_row = next(line for line in report.splitlines() if line.startswith("| outcome_window"))
    assert "| 0.25 [0.25, 0.25] |" in outcome_row
    assert "at the cue 0.100 [0.100, 0.100], at the outcome 0.500 [0.500, 0.500]" in report
    answer = next(line for line in report.splitlines() if line.startswith("**Answer.**"))
    assert "outcome_window loses 0.4" in answer and "block_2_4 loses 0.5" in answer
    outcome = answer.split("outcome_window")[1].split(";")[1]
    cue = answer.split("cue_window")[1].split(";")[1]
    assert "excludes 0" in outcome and "not resolved" in cue
    assert (tmp_path / "figures" / "timing.png").exists()


def test_failed_runs_are_listed_and_left_out(tmp_path):
    arms, seeds, specs = make_experiment(tmp_path, Experiment.TIMING, lambda arm, seed: 0.3, seeds=range(3))
    lost = specs[-1]
    (lost.directory / run_format.RESULT_FILE).unlink()
    failed = {"x": {"key": f"{lost.condition}/seed_{lost.seed:02d}", "error": "RuntimeError: boom"}}
    report = analyse_experiment(tmp_path, Experiment.TIMING, arms, seeds, specs, failed, 64).read_text()
    assert "## Failed runs" in report and "RuntimeError: boom" in report
    assert len(rows(tmp_path / run_format.GAINS_TABLE)) == 4 * 3 - 1


@pytest.mark.parametrize("experiment", [Experiment.LAB])
def test_the_lab_has_no_arms(experiment):
    with pytest.raises(ValueError, match="conditions, not arms"):
        experiment_arms(experiment)


def test_write_result_marks_runs_done(tmp_path):
    write_run(tmp_path / "r", [0.1, 0.2])
    assert json.loads((tmp_path / "r" / run_format.RESULT_FILE).read_text())["status"] == "done"
