"""The head-to-head with Stable-Baselines3 (``training.versus_sb3``, ``training.sb3_shaped``,
``analysis.versus_report``): the same start (demonstrations, criterion, action map), the same held-out
trials, the measures fixed in the report, its options' errors, and a tiny sweep end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

from agents.pretraining import Check, PretrainingConfig, shaping_demonstrations
from analysis import run_format
from analysis.versus_report import analyse_versus, summarise, trials_to_criterion
from reach_env import ENV_KWARGS, make_env
from tests.small_setups import SMALL_AGENT, TINY_RUN, tiny_config, usage_error
from training import sb3_resume, sb3_shaped
from training.protocol import build_run
from training.versus_sb3 import VersusConfig, execute_run, main, parse_args, plan_runs

TINY_TRAIN = {"agent": dict(SMALL_AGENT), "env": dict(TINY_RUN["env"]),
              "protocol": {"sessions": 2, "trials_per_session": 8, "batch": 2},
              "pretraining": {"demonstrations": 2, "updates": 2, "critic_warmup_batches": 1}}


def test_sb3_is_shown_the_cortex_demonstrations(tmp_path):
    """The SB3 agents clone the very trials the cortex's shaping clones: same task, seed and noise."""
    config = tiny_config(tmp_path, env={"pellet_jitter": 0.01})
    run = build_run(config.protocol, config.agent, config.pretraining, **config.env.make_kwargs())
    cortex_task = {k: v for k, v in run.envs[0].spec.kwargs.items()
                   if k not in ("render_mode", "width", "height")}
    sb3_task = config.env.task_arguments()
    assert sb3_task == cortex_task
    assert sb3_task["pellet_jitter"] == 0.01 and sb3_task["early_lift_aborts"] is True  # override, version
    assert make_env(config.env.env_id, **sb3_task).spec.kwargs == sb3_task
    a = shaping_demonstrations(config.pretraining, 3, cortex_task, progress=False)
    b = shaping_demonstrations(config.pretraining, 3, sb3_task, progress=False)
    assert np.array_equal(a.observations, b.observations) and np.array_equal(a.actions, b.actions)


def test_excitation_is_rescale_actions_map():
    """SB3 acts in [-1, 1] through Gymnasium's RescaleAction; the evaluations map its actions the same
    way, so a policy is evaluated on the excitations it trained with."""
    from gymnasium.wrappers import RescaleAction

    action = np.random.default_rng(0).uniform(-1, 1, 15).astype(np.float32)
    wrapped = RescaleAction(make_env("MousePelletReach-v1"), np.float32(-1.0), np.float32(1.0))
    plain = make_env("MousePelletReach-v1")
    wrapped.reset(seed=5)
    plain.reset(seed=5)
    a = wrapped.step(action)[0]
    b = plain.step(sb3_shaped.excitation(action))[0]
    assert np.allclose(a, b, atol=1e-6)
    assert np.array_equal(sb3_shaped.excitation(np.array([-1.0, 0.0, 1.0, 3.0])), [0.0, 0.5, 1.0, 1.0])


class _Model:
    """A stand-in SB3 model: a real PPO policy on the task's spaces."""

    def __init__(self, agent: str):
        config = tiny_config(Path("unused"))
        demos = shaping_demonstrations(config.pretraining, 0, dict(ENV_KWARGS[config.env.env_id]),
                                       progress=False)
        stats = (np.zeros(demos.observations.shape[-1]), np.ones(demos.observations.shape[-1]))
        self.venv = sb3_shaped.make_training_envs(config, stats)
        self.model = sb3_shaped.make_model(agent, config, self.venv, None)
        self.demos = demos


@pytest.mark.parametrize("agent", ["ppo", "recurrent_ppo"])
def test_exploration_size_reaches_the_policy(agent, tmp_path):
    """``sb3_log_std_init`` sets the SB3 policy's initial exploration; every run of the plan carries it."""
    built = _Model(agent)
    config = tiny_config(tmp_path)
    model = sb3_shaped.make_model(agent, config, built.venv, None, log_std_init=-2.5)
    assert torch.allclose(model.policy.log_std, torch.full_like(model.policy.log_std, -2.5))
    runs = plan_runs(VersusConfig(seeds=1, sb3_log_std_init=-2.5), tmp_path)
    assert {r.sb3_log_std_init for r in runs} == {-2.5}


@pytest.mark.parametrize("agent", ["ppo", "recurrent_ppo"])
def test_cloning_fits_the_demonstrations_and_keeps_the_critic(agent):
    """Cloning lowers the loss and changes only the actor: the critic is the warm-up's to train."""
    built = _Model(agent)
    policy = built.model.policy
    critic_before = {n: p.detach().clone() for n, p in policy.named_parameters()
                     if "value" in n or "critic" in n}
    losses = sb3_shaped.clone(built.model, built.demos, lambda o: o, PretrainingConfig(updates=30), 0, None)
    assert len(losses) == 30 and losses[-1] < 0.5 * losses[0]
    for name, value in policy.named_parameters():
        if name in critic_before:
            assert torch.equal(value, critic_before[name]), name


def test_cloning_stops_at_the_criterion_and_goes_back_when_past_it():
    """The cortex's shaping rule: STOP ends cloning at a check; TOO_FAR undoes the updates since the
    previous check and checks twice as often."""
    built = _Model("ppo")
    config = PretrainingConfig(updates=50, check_every=4)
    answers = iter([Check.CONTINUE, Check.TOO_FAR, Check.STOP])
    losses = sb3_shaped.clone(built.model, built.demos, lambda o: o, config, 0, lambda: next(answers))
    # checks after updates 4 (continue), 8 (too far: back to 4), then every 2: 6 (stop)
    assert len(losses) == 6
    stopped = sb3_shaped.clone(_Model("ppo").model, built.demos, lambda o: o, config, 0, lambda: Check.STOP)
    assert len(stopped) == 4


def test_trials_to_criterion_and_censoring():
    curve = {0: (0, 0.1), 1: (64, 0.4), 2: (128, 0.55), 3: (192, 0.45)}
    assert trials_to_criterion(curve, 0.5) == (128, True)
    assert trials_to_criterion(curve, 0.9) == (192, False)
    curves = {"cortex": {0: curve, 1: {0: (0, 0.0), 1: (64, 0.6), 2: (128, 0.7), 3: (192, 0.8)},
                         2: {0: (0, 0.0), 1: (64, 0.1), 2: (128, 0.2), 3: (192, 0.3)}}}
    (row,) = summarise(curves, [0, 1, 2], [128], 64, 0.5)
    assert row["reached_criterion"] == 2
    assert row["trials_to_criterion_by_seed"] == "128 64 >192"
    assert row["trials_to_criterion_median"] == 128  # of 64, 128 and never
    # the mean over seeds is 0.48 at block 2 and 0.52 at block 3
    assert row["mean_curve_trials_to_criterion"] == 192
    assert math.isclose(row["success_at_128"], round((0.55 + 0.7 + 0.2) / 3, 4))
    never = {"ppo": {0: curves["cortex"][2], 1: curves["cortex"][2]}}
    (most_fail,) = summarise(never, [0, 1], [128], 64, 0.5)
    assert most_fail["trials_to_criterion_median"] == "" and most_fail["reached_criterion"] == 0


def test_report_from_run_folders(tmp_path):
    """The report reads the runs' evaluation.csv files: the table, the long table and the figure."""
    run_dirs = {}
    for agent, level in (("cortex", 0.6), ("ppo", 0.2)):
        for seed in (0, 1):
            directory = run_format.run_dir(tmp_path, agent, seed)
            directory.mkdir(parents=True)
            rows = [{"episode": b * 4, "session": b, "noise": "off", "trials": 8, "successes": 0,
                     "success": level * b / 2 + 0.05 * seed, "thalamus_gain": 1.0} for b in range(3)]
            rows.append({"episode": 8, "session": 2, "noise": "on", "trials": 8, "successes": 0,
                         "success": 0.0, "thalamus_gain": 1.0})
            run_format.write_rows(directory / run_format.EVALUATION_FILE, run_format.EVALUATION_COLUMNS, rows)
            run_dirs[run_format.run_key(agent, seed)] = directory
    report = analyse_versus(tmp_path, ["cortex", "ppo"], [0, 1], [4, 8], 4, 0.5, run_dirs, {})
    table = {r["agent"]: r for r in run_format.read_rows(tmp_path / run_format.VERSUS_TABLE)}
    assert float(table["cortex"]["success_at_8"]) == pytest.approx(0.625)
    assert table["cortex"]["trials_to_criterion_by_seed"] == "8 8"
    assert table["ppo"]["reached_criterion"] == "0"
    long = run_format.read_rows(tmp_path / run_format.EVALUATION_TABLE)
    assert len(long) == 12  # noise-off rows only
    text = report.read_text()
    assert "vs SB3 PPO (MLP) at 8 trials: difference 0.40" in text
    assert (tmp_path / run_format.FIGURES_DIR / "versus_sb3.png").stat().st_size > 0


def test_config_plan_and_budgets(tmp_path):
    config = VersusConfig(seeds=2, budgets=(1000, 5000), train={})
    assert config.protocol_trials == 448 and config.all_budgets == [448, 1000, 5000]
    runs = plan_runs(config, tmp_path)
    assert [r.key for r in runs] == ["cortex/seed_00", "ppo/seed_00", "recurrent_ppo/seed_00",
                                     "cortex/seed_01", "ppo/seed_01", "recurrent_ppo/seed_01"]
    protocol = runs[0].config.protocol
    # 5,000 trials in whole blocks of 64: 78 sessions, each evaluated (noise off) on the same 64 trials.
    assert (protocol.sessions, protocol.trials_per_session, protocol.eval_trials) == (78, 64, 64)
    assert runs[0].config.output.record_activity is False and runs[0].config.output.video is False
    quick, _ = parse_args(["--quick"])
    assert quick.seeds == 1 and quick.all_budgets == [448]


def run_main(tmp_path: Path, capsys, *flags: str) -> str:
    return usage_error(main, tmp_path, capsys, *flags)


@pytest.mark.parametrize(("flags", "words"), [
    (["--agents", "cortex,dqn"], ["--agents", "dqn", "recurrent_ppo"]),
    (["--agents", "ppo,ppo"], ["--agents", "distinct"]),
    (["--budgets", "1000,lots"], ["--budgets", "'1000,lots'", "whole numbers"]),
    (["--budgets", "10"], ["--budgets", "eval_every=64"]),
    (["--seeds", "0"], ["--seeds", "versus.seeds=0"]),
    (["--workers", "0"], ["--workers=0"]),
])
def test_bad_flags(tmp_path, capsys, flags, words):
    line = run_main(tmp_path, capsys, *flags)
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"


@pytest.mark.parametrize(("content", "words"), [
    ("train: {agent: {policy_lr: fast}}\n", ["agent.policy_lr='fast'"]),
    ("eval_every: 4\n", ["versus.eval_every=4", ">= 8"]),
    ("criterion: 1.5\n", ["versus.criterion=1.5"]),
    ("train: {output: {video: true}}\n", ["'output' is not a config section"]),
])
def test_bad_config_file(tmp_path, capsys, content, words):
    path = tmp_path / "versus.yaml"
    path.write_text(content)
    line = run_main(tmp_path, capsys, "--config", str(path))
    assert "versus.yaml" in line
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"


@pytest.mark.slow
def test_tiny_sweep_end_to_end_and_repeat(tmp_path):
    """Every agent runs, is evaluated on the same held-out trials at the same blocks, and a repeat
    skips the finished runs."""
    import yaml

    config_file = tmp_path / "versus.yaml"
    config_file.write_text(yaml.safe_dump({"eval_every": 8, "eval_trials": 2, "budgets": [16],
                                           "train": TINY_TRAIN}))
    out = tmp_path / "out"
    assert main(["--config", str(config_file), "--seeds", "1", "--out", str(out), "--no-progress"]) == 0
    for agent in ("cortex", "ppo", "recurrent_ppo"):
        rows = [r for r in run_format.read_rows(out / "runs" / agent / "seed_00" / run_format.EVALUATION_FILE)
                if r["noise"] == "off"]
        assert [int(r["session"]) for r in rows] == [0, 1, 2], agent
        assert [int(r["trials"]) for r in rows] == [2, 2, 2]
    shaping = json.loads((out / "runs" / "ppo" / "seed_00" / run_format.SB3_SHAPING_FILE).read_text())
    assert shaping["behaviour_cloning_updates"] == 2
    assert (out / run_format.REPORT_FILE).exists() and (out / run_format.VERSUS_TABLE).exists()
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/seed_00/result.json")}
    assert main(["--config", str(config_file), "--seeds", "1", "--out", str(out), "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_env_id_is_registered():
    """The SB3 agents train on a registered task version, the one the cortex's config names."""
    assert VersusConfig().base_config("x", 0).env.env_id in gymnasium.registry


def _run_of(agent: str, out: Path):
    # The tiny task's trials end within a few steps when the paw lifts early: ~25 in a rollout.
    config = VersusConfig(eval_every=32, eval_trials=2, budgets=(96,), train=TINY_TRAIN)
    return next(run for run in plan_runs(config, out) if run.agent == agent)


@pytest.mark.parametrize("agent", ["ppo", pytest.param("recurrent_ppo", marks=pytest.mark.slow)])
def test_an_interrupted_sb3_run_goes_on_exactly(agent, tmp_path, monkeypatch):
    """Killed after its second rollout and started again, an SB3 run evaluates, updates and ends bit for
    bit as a run never stopped (its envs were mid-trial), and leaves no resume file."""
    from stable_baselines3.common.save_util import load_from_zip_file

    monkeypatch.setattr(sb3_shaped, "ROLLOUT_STEPS", 32)  # 8 envs x 32 steps: a few trials per rollout
    whole = _run_of(agent, tmp_path / "whole")
    assert execute_run(whole)["status"] == "done"

    class Killed(Exception):
        pass

    real_save, saves = sb3_resume.save, []

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        saves.append(args[3].num_timesteps)
        if len(saves) == 3:  # at the start, after one rollout, after two
            raise Killed

    monkeypatch.setattr(sb3_resume, "save", save_then_die)
    stopped = _run_of(agent, tmp_path / "stopped")
    killed = execute_run(stopped)
    assert killed["status"] == "failed" and "Killed" in killed["error"]
    assert saves == [0, 256, 512]
    monkeypatch.setattr(sb3_resume, "save", real_save)
    resumed = execute_run(stopped)
    assert resumed["status"] == "done"

    for key in ("trials", "steps"):
        assert resumed[key] == json.loads((whole.directory / run_format.RESULT_FILE).read_text())[key]
    assert ((stopped.directory / run_format.EVALUATION_FILE).read_text()
            == (whole.directory / run_format.EVALUATION_FILE).read_text())
    assert len(run_format.read_rows(whole.directory / run_format.EVALUATION_FILE)) == 4
    params = [load_from_zip_file(run.directory / run_format.SB3_MODEL_FILE)[1]["policy"]
              for run in (whole, stopped)]
    assert params[0].keys() == params[1].keys()
    assert all(torch.equal(params[0][name], params[1][name]) for name in params[0])
    assert not (stopped.directory / run_format.SB3_RESUME_FILE).exists()


def test_a_corrupt_resume_file_fails_the_run_naming_it(tmp_path):
    run = _run_of("ppo", tmp_path)
    run.directory.mkdir(parents=True)
    (run.directory / run_format.SB3_RESUME_FILE).write_bytes(b"not a resume file")
    result = execute_run(run)
    assert result["status"] == "failed"
    for words in ("resume.pt", "unreadable", "delete it"):
        assert words in result["error"]
    assert (run.directory / run_format.SB3_RESUME_FILE).exists()  # kept: the user decides
