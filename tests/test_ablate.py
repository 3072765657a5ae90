"""training.ablate: the sweep's plan, its paired design, skipping, failure isolation, outputs, Ray."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from small_setups import SMALL_AGENT

from analysis.ablation_report import EXPERT_NEURAL_CONDITIONS, NEURAL_CONDITIONS
from analysis.conditions import Condition
from analysis.neural import METRICS
from analysis.run_format import EPISODE_COLUMNS, EVALUATION_COLUMNS
from analysis.tables import SUCCESS_BY_SEED_COLUMNS, SUMMARY_COLUMNS
from training.ablate import QUICK, AblationConfig, main, parse_args, plan_runs

# The sweeps here (local process pool and Ray) take half a minute together: the whole module is slow.
pytestmark = pytest.mark.slow

#: Two seeds, 6 sessions of 4 short trials, experts after session 5: the whole sweep in ~20 s.
TINY_ABLATION = {
    "seeds": 2, "sessions": 6, "trials_per_session": 4, "batch": 2, "expert_after": 5, "expert_sessions": 1,
    "activity_downsample": 1, "eval_trials": 2,
    "train": {"agent": dict(SMALL_AGENT),
              "pretraining": {"demonstrations": 2, "updates": 2, "critic_warmup_batches": 1},
              # v0: an untrained network's early lift would end v1's trials before any decision, and
              # then intact and blocked runs could not differ.
              "env": {"env_id": "MousePelletReach-v0", "platform_turn": 0.2, "cue_time": 0.3,
                      "response_window": 0.4, "post_outcome": 0.1}},
}


def _config_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump({**TINY_ABLATION, **changes}))
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("changes, field", [
    ({"partial_gain": 1.0}, "partial_gain"),
    ({"partial_gain": 0.0}, "partial_gain"),
    ({"sessions": 4}, "sessions"),
    ({"expert_after": 9}, "expert_after + expert_sessions"),
    ({"expert_after": 3}, "expert_after"),
    ({"seeds": 0}, "seeds"),
    ({"train": {"protocol": {"sessions": 3}}}, "protocol"),
    ({"train": {"agent": {"policy_lr": "fast"}}}, "agent.policy_lr"),
])
def test_bad_settings_fail_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=field.replace("+", r"\+")):
        AblationConfig(**{**TINY_ABLATION, **changes})


def test_unknown_setting_and_settings_of_another_ablation_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown field.*seed_count.*'ablation'"):
        parse_args(["--config", str(_config_file(tmp_path, seed_count=3))])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "ablation.json").write_text(json.dumps({"seeds": 99}))
    with pytest.raises(SystemExit) as caught:
        main(["--config", str(_config_file(tmp_path)), "--out", str(tmp_path / "out")])
    assert caught.value.code == 2 and "other settings" in capsys.readouterr().err


def test_plan_is_paired_and_forks_from_intact():
    config = AblationConfig()
    specs = plan_runs(config, Path("out"))
    assert config.seeds >= 5
    assert sorted({s.condition for s in specs}) == sorted(Condition)
    for condition in Condition:
        assert [s.seed for s in specs if s.condition == condition] == config.seed_list
    by_key = {s.key: s for s in specs}
    for spec in specs:
        protocol = spec.config.protocol
        assert protocol.seed == spec.seed
        if spec.condition == "intact":
            assert spec.parent is None and protocol.sessions == config.sessions
            assert protocol.da_block == protocol.thalamus_block == ""
            continue
        parent = by_key[spec.parent]
        assert parent.condition == "intact" and parent.seed == spec.seed
        assert specs.index(parent) < specs.index(spec)
    schedules = {s.condition: (s.config.protocol.da_block, s.config.protocol.thalamus_block, s.fork_episode)
                 for s in specs if s.seed == 0}
    tps = config.trials_per_session
    assert schedules["block_2_4"] == ("2-4", "", 0)
    assert schedules["partial_block"] == ("2-4:0.5", "", 0)
    assert schedules["expert_block"] == ("8-9", "", 7 * tps)
    assert schedules["expert_thalamus_block"] == ("", "8-9", 7 * tps)


def test_quick_preset_is_smaller_but_keeps_the_lab_protocol():
    quick, _ = parse_args(["--quick"])
    default = AblationConfig()
    assert quick.seeds * quick.sessions * quick.trials_per_session < \
        default.seeds * default.sessions * default.trials_per_session / 3
    assert quick.expert_after == 7 and quick == AblationConfig(**QUICK)


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    """One tiny ablation, run once for the tests below (local process pool)."""
    tmp = tmp_path_factory.mktemp("ablate")
    out = tmp / "out"
    code = main(["--config", str(_config_file(tmp)), "--out", str(out), "--no-progress"])
    return out, code


def test_sweep_writes_every_output(tiny_sweep):
    out, code = tiny_sweep
    assert code == 0
    rows = _rows(out / "trials.csv")
    assert list(rows[0])[:2] == ["condition", "seed"] and set(EPISODE_COLUMNS) <= set(rows[0])
    counts = {c: sum(r["condition"] == c for r in rows) for c in Condition}
    assert counts == {"intact": 48, "block_2_4": 48, "partial_block": 48, "expert_block": 8,
                      "expert_thalamus_block": 8}
    summary = _rows(out / "summary.csv")
    assert {(r["condition"], r["session"]) for r in summary} >= {("intact", "1"), ("expert_block", "6")}
    assert all(r["seeds"] == "2" for r in summary)
    assert tuple(summary[0]) == SUMMARY_COLUMNS
    before = next(r for r in summary if (r["condition"], r["session"]) == ("intact", "0"))
    assert before["trials"] == "0" and before["success_noise_off_mean"] and before["success_noise_on_mean"]
    assert all(r["precue_lift_mean"] for r in summary if r["trials"] != "0")
    # Every evaluation of every run: noise off and on at the start (session 0, or the fork's session) and
    # after every session; one row per point per run.
    evaluations = _rows(out / "evaluation.csv")
    assert list(evaluations[0]) == ["condition", "seed", *EVALUATION_COLUMNS]

    def points(first: int, last: int) -> list[tuple[int, str]]:
        return sorted((s, noise) for s in range(first, last + 1) for noise in ("off", "on"))

    expected = {c: points(0, 6) for c in ("intact", "block_2_4", "partial_block")}
    expected |= {c: points(5, 6) for c in ("expert_block", "expert_thalamus_block")}
    by_seed = _rows(out / "success_by_seed.csv")
    assert list(by_seed[0]) == list(SUCCESS_BY_SEED_COLUMNS)
    for condition, wanted in expected.items():
        for seed in ("0", "1"):
            found = sorted((int(r["session"]), r["noise"]) for r in evaluations
                           if (r["condition"], r["seed"]) == (condition, seed))
            assert found == wanted, (condition, seed)
            table = [(int(r["session"]), bool(r["success_noise_off"]), bool(r["success_noise_on"]))
                     for r in by_seed if (r["condition"], r["seed"]) == (condition, seed)]
            assert table == [(s, True, (s, "on") in wanted) for s in sorted({s for s, _ in wanted})]
    assert len(by_seed) == 2 * sum(len({s for s, _ in w}) for w in expected.values())
    for name in ("learning_curves", "expert_effects", "neural_metrics", "diffusion_maps"):
        for suffix in (".png", ".svg"):
            assert (out / "figures" / f"{name}{suffix}").stat().st_size > 1000
    timing = json.loads((out / "timing.json").read_text())
    assert timing["wall_s"] >= timing["runs_s"] > 0 and timing["analyses_s"] >= 0
    report = (out / "report.md").read_text()
    for number in range(1, 10):
        assert f"## Finding {number}: " in report
    assert report.count("Rule: ") == 9 and "## Behaviour per session" in report
    assert "Experts' pre-cue lifts (intact, session 6" in report
    # Every figure the report embeds has its caption under it; the dopamine signature has its section.
    lines = report.splitlines()
    embedded = [(i, line[2:line.index("]")]) for i, line in enumerate(lines) if line.startswith("![")]
    assert {name for _, name in embedded} >= {"learning_curves", "expert_effects", "neural_metrics",
                                              "diffusion_maps"}
    for i, name in embedded:
        assert lines[i + 2].startswith(f"*{name}*: "), name
    assert "## Dopamine signature (beside the findings)" in report
    if "rpe_cue" in rows[0]:  # runs that record the TD error at the cue and the outcome
        assert (out / "figures" / "dopamine_signature.png").exists() and "TD signature" in report
    # Every neural metric for every session of each analysed run; the expert reference is at distance 0.
    neural = _rows(out / "neural.csv")
    assert set(METRICS) <= set(neural[0])
    sessions = {(c, s): sorted(int(r["session"]) for r in neural if (r["condition"], r["seed"]) == (c, s))
                for c in NEURAL_CONDITIONS for s in ("0", "1")}
    assert len(neural) == sum(map(len, sessions.values()))  # no rows of other conditions or seeds
    expert_first = TINY_ABLATION["expert_after"] + 1
    expert = list(range(expert_first, expert_first + TINY_ABLATION["expert_sessions"]))
    for (condition, _), found in sessions.items():
        # The expert manipulation's run records its own sessions only (analysed for finding 9).
        assert found == (expert if condition in EXPERT_NEURAL_CONDITIONS else list(range(1, 7))), sessions
    for r in neural:
        at_the_fork = r["session"] == str(TINY_ABLATION["expert_after"])
        if at_the_fork and r["condition"] not in EXPERT_NEURAL_CONDITIONS:
            assert abs(float(r["distance_to_expert"])) < 1e-6, r


def test_conditions_of_a_seed_share_their_past_and_differ_by_their_manipulation(tiny_sweep):
    out, _ = tiny_sweep
    rows = _rows(out / "trials.csv")

    def trials(condition, seed, session):
        return [{k: r[k] for k in ("episode", "success", "return", "steps")} for r in rows
                if r["condition"] == condition and r["seed"] == str(seed) and r["session"] == str(session)]

    for seed in (0, 1):
        assert trials("block_2_4", seed, 1) == trials("intact", seed, 1) == trials("partial_block", seed, 1)
        assert trials("block_2_4", seed, 3) != trials("intact", seed, 3)
    for r in rows:
        session = int(r["session"])
        if r["condition"] == "block_2_4" and 2 <= session <= 4:
            assert float(r["dopamine_gain"]) == 0 and float(r["cortical_update_norm"]) == 0
        if r["condition"] == "partial_block" and 2 <= session <= 4:
            assert float(r["dopamine_gain"]) == 0.5
        if r["condition"].startswith("expert"):
            assert session == 6
            assert (r["thalamus_on"] == "0") == (r["condition"] == "expert_thalamus_block")
            assert (float(r["dopamine_gain"]) == 0) == (r["condition"] == "expert_block")


def test_repeating_the_command_skips_finished_runs(tiny_sweep):
    out, _ = tiny_sweep
    logs = sorted(out.glob("runs/*/seed_*/episodes.csv"))
    before = {p: p.stat().st_mtime_ns for p in logs}
    assert main(["--config", str(out.parent / "ablation.yaml"), "--out", str(out), "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in logs} == before


def test_a_failed_run_is_reported_without_losing_the_others(tmp_path):
    out = tmp_path / "out"
    broken = out / "runs" / "intact" / "seed_01" / "checkpoints"
    broken.mkdir(parents=True)
    (broken / "episode_000004.pt").write_bytes(b"not a checkpoint")
    code = main(["--config", str(_config_file(tmp_path)), "--out", str(out), "--no-progress"])
    assert code == 1
    failures = {f["key"]: f["error"] for f in json.loads((out / "failures.json").read_text())}
    assert "unreadable" in failures["intact/seed_01"]
    forks = {f"{c}/seed_01" for c in Condition if c != "intact"}
    assert {k for k in failures if k != "intact/seed_01"} == forks
    assert all("intact/seed_01" in failures[f"{c}/seed_01"] for c in Condition if c != "intact")
    rows = _rows(out / "trials.csv")
    assert {r["seed"] for r in rows} == {"0"} and {r["condition"] for r in rows} == set(Condition)
    assert "intact/seed_01" in (out / "report.md").read_text()


def test_ray_backend_gives_the_same_trials(tiny_sweep, tmp_path):
    ray = pytest.importorskip("ray")
    out, _ = tiny_sweep
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        code = main(["--config", str(out.parent / "ablation.yaml"), "--out", str(tmp_path / "ray"),
                     "--backend", "ray", "--no-progress"])
    finally:
        ray.shutdown()
    assert code == 0
    assert _rows(tmp_path / "ray" / "trials.csv") == _rows(out / "trials.csv")


# --- experiments beyond the lab (dose-response, timing) ---------------------------------------------


@pytest.mark.parametrize(("experiment", "arms"), [
    ("dose-response", {"dose_1": ("", ""), "dose_0": ("2-4", ""), "dose_0.25": ("2-4:0.25", ""),
                       "dose_0.5": ("2-4:0.5", ""), "dose_0.75": ("2-4:0.75", "")}),
    ("timing", {"intact": ("", ""), "cue_window": ("2-4", "cue"), "outcome_window": ("2-4", "outcome"),
                "block_2_4": ("2-4", "")}),
])
def test_experiment_plan_forks_every_arm_from_its_seeds_intact_arm_after_shaping(experiment, arms):
    config = AblationConfig(experiment=experiment, seeds=2)
    specs = plan_runs(config, Path("out"))
    assert len(specs) == 2 * len(arms)
    by_key = {s.key: s for s in specs}
    for spec in specs:
        protocol = spec.config.protocol
        assert (protocol.da_block, protocol.da_window) == arms[spec.condition]
        assert protocol.sessions == 4 and protocol.thalamus_block == ""
        if protocol.da_block:
            parent = by_key[spec.parent]
            assert parent.seed == spec.seed and parent.config.protocol.da_block == ""
            assert spec.fork_episode == 0
            assert specs.index(parent) < specs.index(spec)
        else:
            assert spec.parent is None


@pytest.fixture(scope="module")
def tiny_timing(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("timing")
    out = tmp / "out"
    code = main(["--config", str(_config_file(tmp)), "--experiment", "timing", "--out", str(out),
                 "--no-progress"])
    return out, code


def test_timing_sweep_writes_its_tables_figure_and_report(tiny_timing):
    out, code = tiny_timing
    assert code == 0
    gains = _rows(out / "gains.csv")
    assert {(r["arm"], r["window"]) for r in gains} == {("intact", "none"), ("cue_window", "cue"),
                                                       ("outcome_window", "outcome"),
                                                       ("block_2_4", "whole trial")}
    assert len(gains) == 2 * 4
    assert (out / "figures" / "timing.png").exists() and (out / "figures" / "timing.svg").exists()
    report = (out / "report.md").read_text()
    assert "timed dopamine silencing" in report and "**Answer.**" in report
    assert list(_rows(out / "evaluation.csv")[0]) == ["condition", "seed", *EVALUATION_COLUMNS]


def test_timing_arms_share_session_1_and_differ_in_their_dopamine_after(tiny_timing):
    out, _ = tiny_timing
    episodes = {arm: _rows(out / "runs" / arm / "seed_00" / "episodes.csv")
                for arm in ("intact", "cue_window", "outcome_window", "block_2_4")}
    first = {arm: [(r["success"], r["return"], r["mean_delta"]) for r in rows if r["session"] == "1"]
             for arm, rows in episodes.items()}
    assert first["intact"] and all(rows == first["intact"] for rows in first.values())
    blocked = [r for r in episodes["block_2_4"] if r["session"] in ("2", "3", "4")]
    assert blocked and all(float(r["mean_dopamine"]) == 0.0 for r in blocked)
    for arm in ("cue_window", "outcome_window"):
        # Part of each trial's dopamine still reaches M1: not every trial's is zero.
        rows = [r for r in episodes[arm] if r["session"] in ("2", "3", "4")]
        assert any(float(r["mean_dopamine"]) != 0.0 for r in rows), arm
    config = yaml.safe_load((out / "runs" / "cue_window" / "seed_00" / "config.yaml").read_text())
    assert config["protocol"]["da_window"] == "cue" and config["protocol"]["da_block"] == "2-4"


def test_an_experiment_resumes_its_finished_runs_and_refuses_another_in_its_folder(tiny_timing, capsys):
    out, _ = tiny_timing
    results = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/*/result.json")}
    code = main(["--config", str(out.parent / "ablation.yaml"), "--experiment", "timing", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    assert {p: p.stat().st_mtime_ns for p in results} == results  # nothing re-run
    with pytest.raises(SystemExit) as caught:
        main(["--config", str(out.parent / "ablation.yaml"), "--experiment", "dose-response", "--out",
              str(out), "--no-progress"])
    assert caught.value.code == 2 and "other settings" in capsys.readouterr().err


def test_dose_response_sweep_fits_its_curves(tmp_path):
    out = tmp_path / "out"
    code = main(["--config", str(_config_file(tmp_path)), "--experiment", "dose-response", "--doses", "0,0.5",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["dose_0", "dose_0.5", "dose_1"]
    fits = _rows(out / "dose_fit.csv")
    assert [r["model"] for r in fits] == ["linear", "threshold", "saturating"]
    assert sum(r["chosen"] == "True" for r in fits) == 1
    assert (out / "figures" / "dose_response.png").exists()


def test_a_terminated_sweep_stops_its_workers_at_once(tmp_path):
    """SIGTERM (a scheduler's time limit) ends the sweep and its workers at once: no run folder changes
    after the command has exited, so a restarted sweep (which resumes, as tested above) is the only
    writer of its runs."""
    import os
    import signal
    import subprocess
    import sys
    import time

    config = _config_file(tmp_path, seeds=1, trials_per_session=40)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "training.ablate", "--config", str(config), "--out", str(out),
               "--no-progress", "--experiment", "timing"]
    env = {**os.environ, "MUJOCO_GL": "egl"}
    sweep = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size > 200 for p in out.glob("runs/*/*/episodes.csv")):
        assert sweep.poll() is None and time.monotonic() < deadline, "the sweep never got going"
        time.sleep(0.2)
    sweep.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert sweep.wait(timeout=30) == 128 + signal.SIGTERM
    # At once, not after the runs in flight (each has 160 trials and its shaping to go).
    assert time.monotonic() - signalled < 5
    def files():
        return {p: p.stat().st_mtime_ns for p in out.glob("runs/**/*") if p.is_file()}

    before = files()
    time.sleep(3)
    assert files() == before, "a worker went on writing after the sweep ended"
