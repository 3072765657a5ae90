"""Re-judging a recorded ablation from its tables alone (``python -m analysis.ablation_report DIR``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from analysis.ablation_report import main, recorded_config, rejudge, verdict_table
from analysis.findings import Data, all_findings
from analysis.tables import (
    NOISE_OFF,
    NOISE_ON,
    THALAMUS_GAIN,
    evaluation_by_seed,
    write_success_by_seed,
    write_summary,
)

SEEDS = [3, 4, 5, 6, 7]
SESSIONS, LAST, EXPERT = 10, 7, range(8, 10)
FULL = ("intact", "block_2_4", "partial_block")
FINDING_5_METRICS = ("mean_activity", "mean_correlation", "distance_to_expert")


def _intact(k: int, session: int) -> float:
    return min(0.05 + (0.08 + 0.01 * k) * session, 0.95)


def _noise_off(condition: str, k: int, session: int) -> float:
    """Held-out success: intact learns; block_2_4 stands still in sessions 2-4 and lags 3 sessions after;
    partial_block lags 2; the experts fork from intact after session 7 (dopamine block: nearly unchanged;
    thalamus silenced: near 0)."""
    if condition == "intact":
        return _intact(k, session)
    if condition in ("block_2_4", "partial_block"):
        lag = 3 if condition == "block_2_4" else 2
        return _intact(k, min(session, 1) if session <= 4 else session - lag)
    if session == LAST:
        return _intact(k, LAST)
    if condition == "expert_block":
        return _intact(k, LAST) + 0.004 * (k - 2) * (session - LAST)
    return 0.02 + 0.01 * k  # expert_thalamus_block


def _sessions(condition: str) -> range:
    return range(SESSIONS + 1) if condition in FULL else range(LAST, EXPERT[-1] + 1)


def _neural(condition: str, k: int, session: int) -> dict[str, float]:
    """Finding 5's metrics: stable rate and correlation; distance to the expert falls in intact (and after
    the block) but not during it."""
    slope = 0.3 + 0.02 * k
    if condition == "block_2_4" and session <= 4:
        distance = 6 * slope + 0.01 * (session - 1) * (k + 1)
    else:
        lag = {"intact": 0, "block_2_4": 3, "partial_block": 1}[condition]
        distance = max(LAST - max(session - lag, 1), 0) * slope if session > 1 else 6 * slope
    return {"mean_activity": 0.5 + 0.001 * k * session, "mean_correlation": 0.1 + 0.0002 * k * session,
            "distance_to_expert": distance}


def _write(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _record(directory: Path, trials: bool = True) -> Data:
    """Write a recorded ablation's tables (as the ablation writes them) into ``directory``; return the
    ``Data`` they hold, built here by hand, for circuit v1."""
    directory.mkdir(parents=True, exist_ok=True)
    evaluation, neural, success, behaviour = {}, {}, {}, {}
    evaluation_rows, neural_rows, trial_rows = [], [], []
    for condition in (*FULL, "expert_block", "expert_thalamus_block"):
        for k, seed in enumerate(SEEDS):
            for session in _sessions(condition):
                off = _noise_off(condition, k, session)
                gain = 0.0 if condition == "expert_thalamus_block" and session in EXPERT else 1.0
                evaluation.setdefault(condition, {}).setdefault(seed, {})[session] = {
                    NOISE_OFF: off, NOISE_ON: min(off + 0.05, 1.0), THALAMUS_GAIN: gain}
                for noise, value in (("off", off), ("on", min(off + 0.05, 1.0))):
                    evaluation_rows.append({"condition": condition, "seed": seed, "episode": 64 * session,
                                            "session": session, "noise": noise, "trials": 64,
                                            "successes": round(64 * value), "success": repr(value),
                                            "thalamus_gain": gain})
                if session == 0 or (condition not in FULL and session == LAST):
                    continue  # no trials before session 1; the experts' trials start after the fork
                if condition in FULL:
                    metrics = _neural(condition, k, session)
                    neural.setdefault(condition, {}).setdefault(seed, {})[session] = metrics
                    neural_rows.append({"condition": condition, "seed": seed, "session": session,
                                        **{m: repr(v) for m, v in metrics.items()}})
                blocked = session in EXPERT or 2 <= session <= 4
                dopamine = {"block_2_4": 0.0, "partial_block": 0.5, "expert_block": 0.0}.get(condition, 1.0)
                dopamine = dopamine if blocked else 1.0
                thalamus = 0.0 if condition == "expert_thalamus_block" else 1.0
                deltas = [0.01 * (1 + k) * (-1) ** t + 0.001 * t for t in range(4)]
                outcomes = [t < 2 for t in range(4)]
                for t, (delta, won) in enumerate(zip(deltas, outcomes, strict=True)):
                    trial_rows.append({"condition": condition, "seed": str(seed), "episode": str(t),
                                       "session": str(session), "success": str(int(won)),
                                       "mean_delta": repr(delta), "dopamine_gain": str(dopamine),
                                       "thalamus_on": str(thalamus), "precue_lift": "0"})
                success.setdefault(condition, {}).setdefault(seed, {})[session] = 0.5
                behaviour.setdefault(condition, {}).setdefault(seed, {})[session] = {
                    "precue_lift": 0.0, "rpe_sd": float(np.std(deltas, ddof=1))}
    columns = ["condition", "seed", "episode", "session", "noise", "trials", "successes", "success",
               "thalamus_gain"]
    _write(directory / "evaluation.csv", evaluation_rows, columns)
    as_read = [{k: str(v) for k, v in row.items()} for row in evaluation_rows]
    write_success_by_seed(evaluation_by_seed(as_read), directory / "success_by_seed.csv")
    _write(directory / "neural.csv", neural_rows, ["condition", "seed", "session", *FINDING_5_METRICS])
    if trials:
        _write(directory / "trials.csv", trial_rows, list(trial_rows[0]))
    write_summary(trial_rows if trials else [], directory / "summary.csv", as_read)
    if not trials:
        success, behaviour = {}, {}
    return Data(SEEDS, success, neural, evaluation, behaviour, circuits=frozenset({1}))


def _table(report: Path) -> list[str]:
    lines = report.read_text().splitlines()
    start = lines.index("| finding | claim | key numbers | labels | verdict |")
    return lines[start:start + 11]


def _verdicts(report: Path) -> dict[int, tuple[str, str]]:
    """``{finding: (labels, verdict)}`` of a report's verdict table."""
    rows = [[c.strip() for c in row.strip("|").split("|")] for row in _table(report)[2:]]
    return {int(r[0]): (r[-2], r[-1]) for r in rows}


def test_the_verdicts_are_those_of_the_tables(tmp_path):
    data = _record(tmp_path)
    (tmp_path / "report.md").write_text("| 6 | stale | - | - | reproduced |\n")  # the old report is not read
    report = rejudge(tmp_path)
    assert _table(report) == verdict_table(all_findings(data, LAST, SESSIONS, EXPERT))
    assert _verdicts(report) == {1: ("-", "reproduced"), 2: ("-", "reproduced"), 3: ("-", "reproduced"),
                                 4: ("by construction", "not reproduced"), 5: ("-", "reproduced"),
                                 6: ("not tested", "not reproduced"), 7: ("not tested", "not reproduced"),
                                 8: ("not tested", "not reproduced"),
                                 9: ("by construction", "not reproduced")}
    text = report.read_text()
    assert "\n4 of 9 findings reproduced (findings 4, 9 also held, by construction: not counted).\n" in text
    assert "5 seeds (3..7), 10 sessions of 4 trials" in text
    assert "scaled by 0.5 (partial_block); expert manipulations in sessions 8-9" in text


def test_a_changed_table_changes_the_verdict(tmp_path):
    _record(tmp_path)
    path = tmp_path / "evaluation.csv"
    rows = list(csv.DictReader(open(path, newline="")))
    for row in rows:  # block_2_4 learns during the block as intact does: finding 2 fails, 3 with it
        if row["condition"] == "block_2_4":
            match = next(r for r in rows if (r["condition"], r["seed"], r["session"], r["noise"])
                         == ("intact", row["seed"], row["session"], row["noise"]))
            row["success"] = match["success"]
    _write(path, rows, list(rows[0]))
    (tmp_path / "success_by_seed.csv").unlink()
    verdicts = _verdicts(rejudge(tmp_path))
    assert verdicts[1] == ("-", "reproduced") and verdicts[2] == ("-", "not reproduced")


def test_the_circuit_flag_decides_by_construction(tmp_path, capsys):
    _record(tmp_path)
    assert main([str(tmp_path), "--circuit", "2"]) == 0
    assert "6 of 9 findings reproduced." in capsys.readouterr().out
    verdicts = _verdicts(tmp_path / "report.md")
    assert verdicts[4] == verdicts[9] == ("-", "reproduced")
    assert "Circuit of the runs: v2, given with `--circuit 2`" in (tmp_path / "report.md").read_text()
    assert main([str(tmp_path)]) == 0  # default: circuit v1
    assert "Circuit of the runs: v1, given with `--circuit 1`" in (tmp_path / "report.md").read_text()


def _captions(text: str) -> dict[str, str]:
    """``{figure: caption}`` of a report: the line ``*name*: ...`` that follows each embedded figure."""
    lines = text.splitlines()
    found = {}
    for i, line in enumerate(lines):
        if line.startswith("!["):
            name = line[2:line.index("]")]
            assert lines[i + 2].startswith(f"*{name}*: "), f"{name} has no caption"
            found[name] = lines[i + 2]
    return found


def test_missing_trials_and_metrics_are_not_tested_and_figures_are_redrawn_or_kept(tmp_path):
    data = _record(tmp_path, trials=False)
    (tmp_path / "figures").mkdir()
    original = b"\x89PNG original"
    for name in ("learning_curves", "expert_effects", "diffusion_maps"):
        (tmp_path / "figures" / f"{name}.png").write_bytes(original)
    report = rejudge(tmp_path)
    assert _table(report) == verdict_table(all_findings(data, LAST, SESSIONS, EXPERT))
    verdicts = _verdicts(report)
    assert verdicts[4] == ("not tested, by construction", "not reproduced")  # rpe_sd needs trials.csv
    assert verdicts[5] == ("-", "reproduced") and verdicts[7] == ("not tested", "not reproduced")
    figures = tmp_path / "figures"
    # Redrawn from the tables: the learning curves and the neural metrics (PNG only, as docs/ keeps them).
    assert (figures / "learning_curves.png").read_bytes() != original
    assert (figures / "neural_metrics.png").stat().st_size > 20_000
    assert not list(figures.glob("*.svg"))
    # Kept: the diffusion map (the runs' embeddings) and, without trials.csv, the expert effects.
    for kept in ("diffusion_maps", "expert_effects"):
        assert (figures / f"{kept}.png").read_bytes() == original
    text = report.read_text()
    captions = _captions(text)
    assert list(captions) == ["learning_curves", "expert_effects", "neural_metrics", "diffusion_maps"]
    assert "Redrawn from the tables" in captions["learning_curves"]
    assert "Not redrawn" in captions["diffusion_maps"] and "embedding.npz" in captions["diffusion_maps"]
    assert f"seed {SEEDS[0]}, the record's first seed" in captions["diffusion_maps"]
    assert "Not redrawn" in captions["expert_effects"] and "95 % CI" in captions["expert_effects"]
    assert "learning_curves, neural_metrics redrawn" in text and "No trials.csv" in text
    assert "Not recorded by these runs: this record has no trials.csv" in text
    assert "lacks `correlation_sd`" in text and "`input_r2_thalamus`" in text
    assert "the neural analysis before version 4 wrote it" in text  # no indicative_fraction_post


def test_success_by_seed_alone_has_no_thalamic_gain(tmp_path):
    _record(tmp_path)
    (tmp_path / "evaluation.csv").unlink()
    report = rejudge(tmp_path)
    assert _verdicts(report)[9] == ("not tested, by construction", "not reproduced")  # 9a needs the gain
    assert _verdicts(report)[1] == ("-", "reproduced")
    assert "no thalamus_gain column" in report.read_text()


def test_tables_that_disagree_are_refused(tmp_path):
    _record(tmp_path)
    path = tmp_path / "success_by_seed.csv"
    rows = list(csv.DictReader(open(path, newline="")))
    rows[5][NOISE_OFF] = "0.999"
    _write(path, rows, list(rows[0]))
    with pytest.raises(ValueError, match="disagree"):
        rejudge(tmp_path)


def test_the_configuration_is_read_off_the_tables(tmp_path):
    _record(tmp_path)
    evaluations = list(csv.DictReader(open(tmp_path / "evaluation.csv", newline="")))
    config = recorded_config(evaluations, [])
    assert (config.seed_list, config.sessions, config.expert_after, config.expert_sessions) == \
        (SEEDS, SESSIONS, LAST, len(EXPERT))


def test_the_dopamine_signature_is_read_from_the_trials(tmp_path):
    _record(tmp_path)
    text = rejudge(tmp_path).read_text()
    before = _verdicts(tmp_path / "report.md")
    section = text[text.index("## Dopamine signature (beside the findings)"):text.index("## Figures")]
    assert "Not recorded by these runs: their trials carry no rpe_cue / rpe_outcome columns" in section
    assert "dopamine_signature" not in _captions(text)
    # the same trials with the columns: outcome RPE falling, cue RPE rising over the sessions
    path = tmp_path / "trials.csv"
    rows = list(csv.DictReader(open(path, newline="")))
    for row in rows:
        k, session, t = SEEDS.index(int(row["seed"])), int(row["session"]), int(row["episode"])
        row["rpe_outcome"] = repr(0.4 - 0.03 * session + 0.002 * ((k + t) % 3))
        row["rpe_cue"] = repr(0.02 * session + 0.002 * ((k * t) % 4))
    _write(path, rows, list(rows[0]))
    text = rejudge(tmp_path).read_text()
    assert "The model shows the TD signature: from session 1 to session 10" in text
    assert "TD signature" in _captions(text)["dopamine_signature"]
    assert (tmp_path / "figures" / "dopamine_signature.png").stat().st_size > 10_000
    assert _verdicts(tmp_path / "report.md") == before  # beside the findings: no verdict changes
