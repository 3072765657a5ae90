"""``training.ablate --experiment robustness``: the plan (variants x conditions x seeds, forks, sessions,
overrides), its defaults and presets, the report's verdicts on synthetic runs with planted robust and
non-robust variants, and one tiny sweep end to end (slow)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from small_setups import SMALL_AGENT

from agents.config import AgentConfig
from analysis import run_format
from analysis.conditions import Condition
from analysis.experiments import Experiment, experiment_arms, robustness_variants
from analysis.robustness_report import ROBUSTNESS_COLUMNS, analyse_robustness
from training.ablate import QUICK_ROBUSTNESS, AblationConfig, main, parse_args, plan_runs

VARIANTS = ["baseline", "policy_lr_x0.5", "policy_lr_x2", "n_cortex_x0.5", "n_cortex_x2",
            "exploration_floor_x0.5", "exploration_floor_x2"]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- the plan -----------------------------------------------------------------------------------------------


def test_variants_are_the_baseline_and_each_field_halved_and_doubled():
    variants = robustness_variants()
    assert [v.name for v in variants] == VARIANTS
    assert variants[0].is_baseline and variants[0].path == "" and variants[0].factor == 1
    assert {(v.path, v.factor) for v in variants[1:]} == {
        (f"agent.{f}", k) for f in ("policy_lr", "n_cortex", "exploration_floor") for k in (0.5, 2.0)}
    assert variants[2].condition(Condition.INTACT) == "policy_lr_x2/intact"
    with pytest.raises(ValueError, match="variants"):
        experiment_arms(Experiment.ROBUSTNESS)


def test_plan_runs_every_variant_and_seed_intact_then_block_forked_after_shaping():
    config = AblationConfig(experiment="robustness")
    assert config.seeds == 5 and AblationConfig().seeds == 10  # robustness's own default, not the lab's
    specs = plan_runs(config, Path("out"))
    assert len(specs) == len(VARIANTS) * 2 * 5
    by_key = {s.key: s for s in specs}
    assert len(by_key) == len(specs)
    defaults = AgentConfig()
    expected = {"baseline": {}, "policy_lr_x0.5": {"policy_lr": 0.5 * defaults.policy_lr},
                "policy_lr_x2": {"policy_lr": 2 * defaults.policy_lr},
                "n_cortex_x0.5": {"n_cortex": defaults.n_cortex // 2},
                "n_cortex_x2": {"n_cortex": 2 * defaults.n_cortex},
                "exploration_floor_x0.5": {"exploration_floor": 0.5 * defaults.exploration_floor},
                "exploration_floor_x2": {"exploration_floor": 2 * defaults.exploration_floor}}
    assert expected["policy_lr_x2"] == {"policy_lr": 0.12} and expected["n_cortex_x0.5"] == {"n_cortex": 128}
    for spec in specs:
        variant, condition = spec.condition.split("/")
        protocol, agent = spec.config.protocol, spec.config.agent
        assert spec.directory == Path("out", "runs", variant, condition, f"seed_{spec.seed:02d}")
        assert protocol.seed == spec.seed and protocol.thalamus_block == ""
        assert protocol.eval_noise_on_every_session is False  # noise on: before session 1 and after last
        for name in ("policy_lr", "n_cortex", "exploration_floor"):
            wanted = expected[variant].get(name, getattr(defaults, name))
            assert getattr(agent, name) == wanted, (spec.key, name)
        if condition == "intact":
            assert spec.parent is None and protocol.sessions == config.expert_after == 7
            assert protocol.da_block == ""
        else:
            assert condition == "block_2_4" and protocol.sessions == 4 and protocol.da_block == "2-4"
            parent = by_key[spec.parent]
            assert parent.condition == f"{variant}/intact" and parent.seed == spec.seed
            assert spec.fork_episode == 0 and specs.index(parent) < specs.index(spec)
            assert parent.config.agent == spec.config.agent  # the fork loads the same network
    assert sorted({s.seed for s in specs}) == config.seed_list == [0, 1, 2, 3, 4]


def test_variants_scale_the_sweeps_own_training_overrides():
    config = AblationConfig(experiment="robustness", seeds=1,
                            train={"agent": {"policy_lr": 0.1, "n_cortex": 33, "exploration_std": 0.8}})
    agents = {s.condition: s.config.agent for s in plan_runs(config, Path("out"))}
    assert agents["baseline/intact"].policy_lr == 0.1 and agents["policy_lr_x2/intact"].policy_lr == 0.2
    assert agents["policy_lr_x0.5/block_2_4"].policy_lr == 0.05
    assert (agents["n_cortex_x0.5/intact"].n_cortex, agents["n_cortex_x2/intact"].n_cortex) == (16, 66)
    assert all(a.exploration_std == 0.8 for a in agents.values())  # the rest of train applies to every run
    assert agents["exploration_floor_x2/intact"].exploration_floor == 2 * AgentConfig().exploration_floor


def test_a_variant_the_training_config_refuses_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"variant exploration_floor_x2 .*agent.exploration_floor"):
        AblationConfig(experiment="robustness", train={"agent": {"exploration_std": 0.15}})
    AblationConfig(train={"agent": {"exploration_std": 0.15}})  # the lab does not run the variants


def test_defaults_quick_file_and_flags_compose(tmp_path):
    assert parse_args(["--experiment", "robustness"])[0].seeds == 5
    assert parse_args(["--experiment", "robustness", "--seeds", "3"])[0].seeds == 3
    assert parse_args([])[0].seeds == 10
    quick, _ = parse_args(["--quick", "--experiment", "robustness"])
    assert quick == AblationConfig(experiment="robustness", **QUICK_ROBUSTNESS)
    assert (quick.seeds, quick.trials_per_session, quick.eval_trials) == (2, 32, 32)
    assert quick.expert_after == 7  # finding 1 still reads after session 7
    path = tmp_path / "robustness.yaml"
    path.write_text(yaml.safe_dump({"experiment": "robustness", "seeds": 4}))
    assert parse_args(["--config", str(path)])[0].seeds == 4
    assert parse_args(["--quick", "--config", str(path)])[0].seeds == 4  # the file wins over --quick
    path.write_text(yaml.safe_dump({"experiment": "robustness"}))
    assert parse_args(["--quick", "--config", str(path)])[0].seeds == 2


def test_doses_are_checked_and_ignored_as_by_timing():
    plain, _ = parse_args(["--experiment", "robustness", "--seeds", "1"])
    dosed, _ = parse_args(["--experiment", "robustness", "--seeds", "1", "--doses", "0,0.5"])
    assert [(s.key, s.config) for s in plan_runs(plain, Path("o"))] == [
        (s.key, s.config) for s in plan_runs(dosed, Path("o"))]
    with pytest.raises(ValueError, match="doses"):
        parse_args(["--experiment", "robustness", "--doses", "0,1.5"])


# --- the report on synthetic runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    condition: str
    seed: int
    directory: Path


def write_run(directory: Path, success: list[float], agent: dict, finished: bool = True) -> None:
    """A run folder whose noise-off evaluations before session 1 and after each session have these success
    rates (training trials: 4 per session at the same rate, roughly), with its agent in config.yaml."""
    directory.mkdir(parents=True)
    rows = [{"episode": s * 4, "session": s, "noise": "off", "trials": 100, "successes": round(x * 100),
             "success": x, "thalamus_gain": 1.0} for s, x in enumerate(success)]
    run_format.write_rows(directory / run_format.EVALUATION_FILE, run_format.EVALUATION_COLUMNS, rows)
    trials = [{"episode": (s - 1) * 4 + i, "session": s, "success": int(i < round(4 * success[s]))}
              for s in range(1, len(success)) for i in range(4)]
    run_format.write_rows(directory / run_format.EPISODES_FILE, run_format.EPISODE_COLUMNS, trials)
    (directory / run_format.CONFIG_FILE).write_text(yaml.safe_dump({"agent": agent}))
    if finished:
        run_format.write_result(directory, {"status": "done"})


def make_robustness(out: Path, intact_of, block_of, seeds=range(6), unfinished=()):
    """Runs of every variant: intact's evaluations after sessions 0-7 ``intact_of(variant, seed)``, and
    block_2_4's after 0-4 ``block_of(variant, seed, intact)`` (its sessions 0-1 are intact's: it forks);
    the block runs of the variants in ``unfinished`` never finish."""
    variants = robustness_variants()
    specs = []
    for variant in variants:
        agent = {"policy_lr": 0.06 * variant.factor if variant.field == "policy_lr" else 0.06}
        for seed in seeds:
            intact = intact_of(variant.name, seed)
            block = block_of(variant.name, seed, intact)
            for condition, success in ((Condition.INTACT, intact), (Condition.BLOCK_2_4, block)):
                key = variant.condition(condition)
                directory = run_format.run_dir(out, key, seed)
                finished = not (condition is Condition.BLOCK_2_4 and variant.name in unfinished)
                write_run(directory, success, agent, finished)
                specs.append(Spec(key, seed, directory))
    return variants, list(seeds), specs


def learning(before: float, after_1: float, after_4: float, after_7: float, jitter: float) -> list[float]:
    """Evaluations after sessions 0-7: linear from session 1 to 4 and from 4 to 7."""
    return ([before + jitter, after_1 + jitter]
            + [after_1 + (after_4 - after_1) * k / 3 + jitter for k in (1, 2, 3)]
            + [after_4 + (after_7 - after_4) * k / 3 + jitter for k in (1, 2, 3)])


def intact_planted(variant: str, seed: int) -> list[float]:
    """Finding 1 holds (0.2 -> 0.5) everywhere but in policy_lr_x0.5 (0.25 -> 0.4, a ratio of 1.6); intact
    gains 0.15 in sessions 2-4 in every variant."""
    jitter = 0.01 * ((seed * 7) % 5 - 2)
    if variant == "policy_lr_x0.5":
        return learning(0.25, 0.25, 0.4, 0.4, jitter)
    return learning(0.2, 0.25, 0.4, 0.5, jitter)


def block_planted(variant: str, seed: int, intact: list[float]) -> list[float]:
    """block_2_4 barely learns in sessions 2-4, except in n_cortex_x2, where it learns as intact does."""
    if variant == "n_cortex_x2":
        return intact[:5]
    step = 0.005 * (seed % 3)
    return intact[:2] + [intact[1] + step, intact[1] + step, intact[1] + 2 * step]


def test_planted_robust_and_non_robust_variants_get_their_verdicts(tmp_path):
    variants, seeds, specs = make_robustness(tmp_path, intact_planted, block_planted,
                                             unfinished=("n_cortex_x0.5",))
    report = analyse_robustness(tmp_path, variants, seeds, 7, specs, {}, 32).read_text()
    table = _rows(tmp_path / run_format.ROBUSTNESS_TABLE)
    assert tuple(table[0]) == ROBUSTNESS_COLUMNS and [r["variant"] for r in table] == VARIANTS
    rows = {r["variant"]: r for r in table}
    finding_1 = {v: r["finding_1"] for v, r in rows.items()}
    finding_2 = {v: (r["finding_2"], r["finding_2_labels"]) for v, r in rows.items()}
    assert finding_1 == {v: "not reproduced" if v == "policy_lr_x0.5" else "reproduced" for v in VARIANTS}
    assert finding_2 == {v: ("not reproduced", "not tested") if v == "n_cortex_x0.5" else
                         ("not reproduced", "") if v == "n_cortex_x2" else ("reproduced", "")
                         for v in VARIANTS}
    base = rows["baseline"]
    assert abs(float(base["ratio"]) - 2.5) < 0.05 and float(base["difference_ci_low"]) > 0
    assert float(rows["policy_lr_x0.5"]["ratio"]) < 1.8
    assert (base["finding_1_seeds"], base["finding_2_seeds"]) == ("6", "6")
    assert rows["n_cortex_x0.5"]["finding_2_seeds"] == "0" and rows["n_cortex_x0.5"]["finding_1_seeds"] == "6"
    assert float(rows["n_cortex_x2"]["margin_ci_high"]) < 0 < float(base["margin_ci_low"])
    assert abs(float(base["intact_gain"]) - 0.15) < 1e-6 and float(base["block_gain"]) < 0.02
    values = (rows["policy_lr_x2"]["value"], rows["policy_lr_x0.5"]["value"], base["value"])
    assert values == ("0.12", "0.03", "")
    assert rows["policy_lr_x2"]["field"] == "agent.policy_lr" and rows["policy_lr_x2"]["factor"] == "2"
    assert ("Finding 1 is not robust: reproduced in the baseline but not in policy_lr_x0.5." in report)
    assert ("Finding 2 is not robust: reproduced in the baseline but not in n_cortex_x0.5, n_cortex_x2."
            in report)
    assert "![robustness](figures/robustness.png)" in report and "### exploration_floor_x2" in report
    assert report.count("| ") > 7 * 12
    assert (tmp_path / "figures" / "robustness.png").stat().st_size > 10_000
    assert (tmp_path / "figures" / "robustness.svg").exists()
    evaluations = _rows(tmp_path / run_format.EVALUATION_TABLE)
    assert {r["condition"] for r in evaluations} == {
        f"{v}/{c}" for v in VARIANTS for c in ("intact", "block_2_4")} - {"n_cortex_x0.5/block_2_4"}
    trials = _rows(tmp_path / run_format.TRIALS_TABLE)
    assert len(trials) == 6 * (7 * 7 * 4 + 6 * 4 * 4)


def test_every_variant_reproducing_is_robust_and_a_failing_baseline_is_not_tested(tmp_path):
    variants, seeds, specs = make_robustness(
        tmp_path / "robust", lambda v, s: intact_planted("baseline", s),
        lambda v, s, intact: block_planted("baseline", s, intact))
    report = analyse_robustness(tmp_path / "robust", variants, seeds, 7, specs, {}, 32).read_text()
    assert "Finding 1 is robust: reproduced in the baseline and in all 6 variants." in report
    assert "Finding 2 is robust: reproduced in the baseline and in all 6 variants." in report
    # No learning anywhere: finding 1 fails in the baseline too, and so does finding 2 (nothing to block).
    flat = make_robustness(tmp_path / "flat", lambda v, s: [0.3 + 0.01 * (s % 3)] * 8,
                           lambda v, s, intact: intact[:5])
    report = analyse_robustness(tmp_path / "flat", *flat[:2], 7, flat[2],
                                {"x/seed_00": {"key": "x/seed_00", "error": "boom"}}, 32).read_text()
    assert "Finding 1 is not reproduced in the baseline itself, so its robustness is not tested" in report
    assert "Finding 2 is not reproduced in the baseline itself" in report
    assert "## Failed runs" in report and "x/seed_00: boom" in report


# --- a tiny sweep end to end -------------------------------------------------------------------------------

#: One seed, sessions of 4 short trials, intact for 5 sessions (expert_after): 14 runs in 1-2 minutes.
TINY_ROBUSTNESS = {
    "experiment": "robustness", "seeds": 1, "sessions": 6, "trials_per_session": 4, "batch": 2,
    "expert_after": 5, "expert_sessions": 1, "activity_downsample": 1, "eval_trials": 2,
    "train": {"agent": dict(SMALL_AGENT),
              "pretraining": {"demonstrations": 2, "updates": 2, "critic_warmup_batches": 1},
              "env": {"env_id": "MousePelletReach-v0", "platform_turn": 0.2, "cue_time": 0.3,
                      "response_window": 0.4, "post_outcome": 0.1}},
}


@pytest.mark.slow
def test_tiny_robustness_sweep_end_to_end_and_a_repeat_skips_its_runs(tmp_path):
    path = tmp_path / "robustness.yaml"
    path.write_text(yaml.safe_dump(TINY_ROBUSTNESS))
    out = tmp_path / "out"
    command = ["--config", str(path), "--out", str(out), "--no-progress"]
    assert main(command) == 0
    runs = sorted(p.parent.relative_to(out / "runs").as_posix() for p in out.glob("runs/*/*/*/result.json"))
    assert runs == sorted(f"{v}/{c}/seed_00" for v in VARIANTS for c in ("intact", "block_2_4"))
    runs_dir = out / "runs"
    config = yaml.safe_load((runs_dir / "policy_lr_x2" / "block_2_4" / "seed_00" / "config.yaml").read_text())
    assert config["agent"]["policy_lr"] == 2 * AgentConfig().policy_lr
    assert config["protocol"]["da_block"] == "2-4" and config["protocol"]["sessions"] == 4
    small = yaml.safe_load((runs_dir / "n_cortex_x2" / "intact" / "seed_00" / "config.yaml").read_text())
    assert small["agent"]["n_cortex"] == 2 * SMALL_AGENT["n_cortex"] and small["protocol"]["sessions"] == 5
    for variant in ("baseline", "n_cortex_x0.5"):  # the fork shares the intact run's session 1
        episodes = {c: [(r["success"], r["return"]) for r in _rows(
            out / "runs" / variant / c / "seed_00" / "episodes.csv") if r["session"] == "1"]
            for c in ("intact", "block_2_4")}
        assert episodes["intact"] and episodes["intact"] == episodes["block_2_4"]
    evaluations = _rows(out / "evaluation.csv")
    noise_on = {(r["condition"], r["session"]) for r in evaluations if r["noise"] == "on"}
    assert noise_on == {(f"{v}/{c}", s) for v in VARIANTS for c, last in (("intact", "5"), ("block_2_4", "4"))
                        for s in ("0", last)}
    table = _rows(out / "robustness.csv")
    assert [r["variant"] for r in table] == VARIANTS
    assert all(r["finding_1"] in ("reproduced", "not reproduced") for r in table)
    assert all(r["finding_1_labels"] == "not tested" for r in table)  # one seed: no interval
    assert (out / "figures" / "robustness.png").exists() and "robustness of findings 1-2" in (
        out / "report.md").read_text()
    assert json.loads((out / "ablation.json").read_text())["experiment"] == "robustness"
    results = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/*/result.json")}
    logs = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/*/episodes.csv")}
    assert main(command) == 0
    assert {p: p.stat().st_mtime_ns for p in results} == results  # nothing re-run
    assert {p: p.stat().st_mtime_ns for p in logs} == logs
