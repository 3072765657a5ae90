"""The command line of ``python -m training.train``: every flag of the issue maps onto the config, flags
override the YAML file, and bad values fail before any work starts, naming the field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from small_setups import TINY_RUN

from training.config import TrainConfig, build_config
from training.train import main, parse_args

REPO = Path(__file__).resolve().parents[1]

TINY = TINY_RUN


@pytest.fixture
def tiny_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def parse(tiny_yaml: Path, *flags: str) -> tuple[TrainConfig, bool]:
    return parse_args(["--config", str(tiny_yaml), *flags])


# --- flags and their meanings --------------------------------------------------------------------


def test_yaml_alone_gives_the_tiny_config(tiny_yaml):
    config, resume = parse(tiny_yaml)
    assert config == build_config(TINY)
    assert resume is False
    assert config.protocol.sessions == 2 and config.protocol.trials_per_session == 4
    assert config.agent.n_cortex == 32 and config.output.video is False


def test_out_seed_sessions_trials(tiny_yaml, tmp_path):
    config, _ = parse(tiny_yaml, "--out", str(tmp_path / "run"), "--seed", "7", "--sessions", "3",
                      "--trials-per-session", "5")
    assert config.output.out == str(tmp_path / "run")
    assert config.protocol.seed == 7
    assert config.protocol.sessions == 3
    assert config.protocol.trials_per_session == 5
    assert config.protocol.total_trials == 15


def test_da_block_partial(tiny_yaml):
    config, _ = parse(tiny_yaml, "--da-block", "2-2:0.3")
    schedule = config.protocol.dopamine_schedule()
    assert schedule.gain(3) == 1.0  # last trial of session 1
    assert schedule.gain(4) == 0.3  # first trial of session 2
    assert schedule.gain(7) == 0.3
    assert config.protocol.thalamus_schedule().gains(range(8)) == [1.0] * 8


def test_da_block_full_range_is_one_based_and_inclusive(tiny_yaml):
    config, _ = parse(tiny_yaml, "--sessions", "5", "--da-block", "2-4")
    gains = config.protocol.dopamine_schedule().gains(range(20))
    assert gains == [1.0] * 4 + [0.0] * 12 + [1.0] * 4


def test_da_block_several_ranges(tiny_yaml):
    config, _ = parse(tiny_yaml, "--sessions", "9", "--da-block", "2-4,9-9")
    gains = config.protocol.dopamine_schedule().gains(range(36))
    assert gains == [1.0] * 4 + [0.0] * 12 + [1.0] * 16 + [0.0] * 4


def test_episode_ranges_are_zero_based_inclusive_and_mix_with_sessions(tiny_yaml):
    config, _ = parse(tiny_yaml, "--sessions", "4", "--da-block", "e1-2:0.5,3-3,e13-13")
    gains = config.protocol.dopamine_schedule().gains(range(16))
    assert gains == [1.0, 0.5, 0.5, 1.0] + [1.0] * 4 + [0.0] * 4 + [1.0, 0.0, 1.0, 1.0]
    config, _ = parse(tiny_yaml, "--thalamus-block", "e7")  # a single episode, the last one
    assert config.protocol.thalamus_schedule().gains(range(8)) == [1.0] * 7 + [0.0]
    assert "e100-179" in subprocess.run([sys.executable, "-m", "training.train", "--help"], cwd=REPO,
                                        capture_output=True, text=True, timeout=120).stdout


def test_thalamus_block(tiny_yaml):
    config, _ = parse(tiny_yaml, "--thalamus-block", "2-2")
    assert config.protocol.thalamus_schedule().gains(range(8)) == [1.0] * 4 + [0.0] * 4
    assert config.protocol.dopamine_schedule().gains(range(8)) == [1.0] * 8


def test_no_video_and_resume(tmp_path):
    with_video = tmp_path / "video.yaml"
    with_video.write_text(yaml.safe_dump({**TINY, "output": {"video": True}}))
    config, resume = parse_args(["--config", str(with_video)])
    assert config.output.video is True and resume is False
    config, resume = parse_args(["--config", str(with_video), "--no-video", "--resume"])
    assert config.output.video is False and resume is True


def test_flags_override_yaml(tiny_yaml):
    config, _ = parse(tiny_yaml, "--sessions", "3", "--trials-per-session", "6", "--seed", "2")
    assert (config.protocol.sessions, config.protocol.trials_per_session, config.protocol.seed) == (3, 6, 2)
    # the rest of the YAML stays
    assert config.agent.n_cortex == 32 and config.protocol.batch == 2


def test_set_overrides_any_field(tiny_yaml):
    config, _ = parse(tiny_yaml, "--set", "agent.policy_lr=0.001", "--set", "agent.n_cortex=48",
                      "--set", "output.histograms=false", "--set", "env.cue_time=0.35")
    assert config.agent.policy_lr == 0.001 and isinstance(config.agent.policy_lr, float)
    assert config.agent.n_cortex == 48 and isinstance(config.agent.n_cortex, int)
    assert config.output.histograms is False
    assert config.env.cue_time == 0.35


def test_defaults_without_config():
    config, resume = parse_args([])
    assert config == TrainConfig() and resume is False


# --- bad values fail early, naming the field ---------------------------------------------------------


@pytest.mark.parametrize(("flags", "words"), [
    (["--set", "nosuch.field=1"], ["nosuch", "protocol", "agent", "pretraining", "env", "output"]),
    (["--set", "agent.nosuch=1"], ["nosuch", "agent", "n_cortex", "policy_lr"]),
    (["--set", "agent.n_cortex=abc"], ["agent.n_cortex", "abc", "an integer"]),
    (["--set", "agent.policy_lr=fast"], ["agent.policy_lr", "a number"]),
    (["--set", "output.video=maybe"], ["output.video", "true", "false"]),
    (["--set", "output.video_trials=sometimes"], ["video_trials", "sometimes", "first_last", "none"]),
    (["--set", "agent.policy_lr"], ["section.field=value"]),
    (["--da-block", "5-2"], ["da_block", "5-2"]),
    (["--da-block", "0-1"], ["da_block", "0-1", "from 1"]),
    (["--da-block", "x"], ["da_block", "'x'", "A-B"]),
    (["--da-block", "2-2:1.5"], ["da_block", "gain", "[0, 1]"]),
    (["--da-block", "1-2,2-2"], ["da_block", "overlap"]),
    (["--da-block", "2-3"], ["da_block", "2-3", "session 2"]),  # the tiny run has 2 sessions
    (["--thalamus-block", "3-3"], ["thalamus_block", "3-3", "session 2"]),
    (["--sessions", "0"], ["sessions", ">= 1"]),
    (["--da-block", "e3-9"], ["--da-block", "da_block", "'e3-9'", "reaches past", "7"]),
    (["--da-block", "e5-2"], ["da_block", "'e5-2'", "before the first"]),
    (["--da-block", "e-1-2"], ["da_block", "'e-1-2'", "eA-B"]),
    (["--da-block", "2-2,e5-5:0.5"], ["da_block", "'2-2'", "'e5-5:0.5'", "overlap"]),
    (["--da-block", "e0-1,e1-2"], ["da_block", "'e0-1'", "'e1-2'", "overlap"]),
    (["--da-block", "e1-2:2"], ["da_block", "'e1-2:2'", "gain", "[0, 1]"]),
    (["--thalamus-block", "e8-8"], ["--thalamus-block", "thalamus_block", "'e8-8'", "reaches past"]),
])
def test_bad_values_fail_naming_the_field(tiny_yaml, flags, words):
    with pytest.raises(ValueError) as caught:
        parse(tiny_yaml, *flags)
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.mark.parametrize(("text", "words"), [
    ("protocol: {sessions: 2}\nnosuch: {a: 1}\n", ["nosuch", "sections"]),
    ("agent: {n_cortex: 32, n_cortx: 16}\n", ["n_cortx", "n_cortex"]),
    ("agent: {n_cortex: abc}\n", ["agent.n_cortex", "int"]),
    ("agent: {n_cortex: 3.5}\n", ["agent.n_cortex", "int"]),
    ("protocol: {sessions: true}\n", ["protocol.sessions", "int"]),
    ("output: {video_trials: sometimes}\n", ["video_trials", "first_last", "none"]),
    ("protocol: {sessions: 2, da_block: '2-3'}\n", ["da_block", "session 2"]),
    ("- just a list\n", ["mapping"]),
    ("protocol: [1, 2\n", ["not valid YAML"]),
])
def test_bad_yaml_fails_naming_the_field(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as caught:
        parse_args(["--config", str(path)])
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_missing_config_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        parse_args(["--config", str(tmp_path / "nope.yaml")])


# --- main() and the module entry point: exit status 2, one line on stderr ---------------------------


def assert_one_line_error(caught, capsys, *words: str) -> str:
    assert caught.value.code == 2, caught.value.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]


@pytest.mark.parametrize(("flags", "words"), [
    (["--set", "agent.n_cortex=abc"], ["--set agent.n_cortex=abc", "agent.n_cortex", "an integer"]),
    (["--set", "agent.nosuch=1"], ["--set", "nosuch", "agent"]),
    (["--set", "nosuch.x=1"], ["--set", "nosuch", "sections"]),
    (["--set", "agent.policy_lr"], ["section.field=value"]),
    (["--da-block", "5-2"], ["--da-block", "protocol.da_block", "5-2"]),
    (["--da-block", "3-3"], ["--da-block", "'3-3'", "reaches past"]),
    (["--da-block", "2-2,e4-4"], ["--da-block", "overlap"]),
    (["--da-window", "later"], ["--da-window", "protocol.da_window", "'later'"]),
    (["--da-window", "0.5:0.1"], ["--da-window", "protocol.da_window", "end after it starts"]),
    (["--da-window", "9:10"], ["--da-window", "protocol.da_window", "outside every trial"]),
    (["--set", "output.video_trials=sometimes"], ["output.video_trials", "first_last"]),
    (["--sessions", "many"], ["--sessions", "many"]),
    (["--resume"], ["--resume", "no checkpoint"]),  # nothing to resume in a fresh folder
])
def test_main_with_bad_value_exits_2_with_one_line_and_creates_nothing(tiny_yaml, tmp_path, capsys, flags,
                                                                        words):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as caught:
        main(["--config", str(tiny_yaml), "--out", str(out), *flags])
    assert_one_line_error(caught, capsys, *words)
    assert not out.exists()


@pytest.mark.parametrize(("text", "words"), [
    ("seed: 3\n", ["bad.yaml", "'seed' is not a config section", "protocol.seed"]),
    ("seed: abc\n", ["bad.yaml", "'seed'", "protocol.seed"]),
    ("protocol: 3\n", ["bad.yaml", "section 'protocol' must be a mapping"]),
    ("protocol: [1, 2]\n", ["bad.yaml", "section 'protocol' must be a mapping"]),
    ("nosuch: {a: 1}\n", ["bad.yaml", "'nosuch' is not a config section"]),
    ("agent: {n_cortx: 16}\n", ["bad.yaml", "n_cortx", "'agent'", "n_cortex"]),
    ("agent: {n_cortex: abc}\n", ["bad.yaml", "agent.n_cortex='abc'", "an integer"]),
    ("agent: {policy_lr: -1.0}\n", ["bad.yaml", "agent.policy_lr", "positive"]),
    ("protocol: {sessions: 2, da_block: 'e200-200'}\n", ["bad.yaml", "protocol.da_block", "'e200-200'"]),
    ("- just a list\n", ["bad.yaml", "must be a mapping"]),
    ("protocol: [1, 2\n", ["bad.yaml", "not valid YAML", "line"]),
    ("\tprotocol: 1\n", ["bad.yaml", "not valid YAML"]),
])
def test_main_with_bad_yaml_exits_2_naming_file_section_and_field(tmp_path, capsys, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as caught:
        main(["--config", str(path), "--out", str(out)])
    assert_one_line_error(caught, capsys, *words)
    assert not out.exists()


def test_main_with_missing_or_unreadable_config_file(tmp_path, capsys):
    for path, words in ((tmp_path / "nope.yaml", ["nope.yaml", "does not exist"]),
                        (tmp_path, [str(tmp_path), "cannot be read"])):
        with pytest.raises(SystemExit) as caught:
            main(["--config", str(path), "--out", str(tmp_path / "never")])
        assert_one_line_error(caught, capsys, *words)


def test_module_entry_point_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 3\n")
    result = subprocess.run([sys.executable, "-m", "training.train", "--config", str(bad)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr


def test_help_runs():
    result = subprocess.run([sys.executable, "-m", "training.train", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")})
    assert result.returncode == 0, result.stderr
    for flag in ("--out", "--seed", "--sessions", "--trials-per-session", "--da-block", "--thalamus-block",
                 "--no-video", "--resume", "--config", "--set"):
        assert flag in result.stdout, flag


def test_console_scripts_run_the_same_jobs():
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("dopareach-train") == "training.train:main"
    assert scripts.get("dopareach-baseline") == "training.baseline:main"
    assert scripts.get("dopareach-evaluate") == "training.evaluate:main"


def test_env_id_selects_the_task_version(tiny_yaml, tmp_path, capsys):
    from reach_env import ENV_ID, ENV_ID_V1
    from training.protocol import build_run

    assert parse(tiny_yaml)[0].env.env_id == ENV_ID_V1  # the trainer's default task
    config, _ = parse_args(["--set", f"env.env_id={ENV_ID}", "--set", "protocol.batch=2"])
    run = build_run(config.protocol, config.agent, config.pretraining, **config.env.make_kwargs())
    assert {env.spec.id for env in run.envs} == {ENV_ID}  # v0 stays available for old runs
    assert run.envs[0].pellet_offset == 0 and run.envs[0].timing.cue_jitter == 0
    with pytest.raises(SystemExit) as caught:
        main(["--set", "env.env_id=MousePelletReach-v9", "--out", str(tmp_path / "never")])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--set env.env_id=MousePelletReach-v9" in err and ENV_ID_V1 in err
    # v1's cue comes up to 0.2 s early: a timeline whose platform still turns then is refused, named
    with pytest.raises(SystemExit):
        main(["--config", str(tiny_yaml), "--set", f"env.env_id={ENV_ID_V1}",
              "--set", "env.platform_turn=0.2", "--out", str(tmp_path / "n")])
    assert "env" in capsys.readouterr().err and not (tmp_path / "n").exists()


# --- the config layer: every field documented, every env argument reachable ------------------------


def test_help_lists_every_field_with_its_default_and_meaning():
    from training.config import SECTIONS, fields_help

    text = fields_help(SECTIONS)
    for section, cls in SECTIONS.items():
        for name, info in cls.model_fields.items():
            line = next(line for line in text.splitlines() if line.startswith(f"  {section}.{name} ("))
            assert f"default {info.get_default(call_default_factory=True)!r}" in line, line
            assert info.description and len(line.split("): ", 1)[1]) > 10, line
    assert "env.cue_time (float, default 0.6): onset (s from the trial start)" in text


def test_the_env_section_covers_every_constructor_argument():
    import inspect

    from reach_env.pellet_reach_env import MousePelletReachEnv
    from training.config import EnvConfig

    arguments = set(inspect.signature(MousePelletReachEnv.__init__).parameters) - {"self"}
    # render_mode, width and height are the output section's (filming), set by the trainer
    assert arguments - set(EnvConfig.model_fields) == {"render_mode", "width", "height"}


def test_an_env_field_set_on_the_command_line_reaches_the_env(tiny_yaml):
    from training.protocol import build_run

    config, _ = parse(tiny_yaml, "--set", "env.grip_threshold=0.45", "--set", "env.early_lift_aborts=false")
    assert config.env.make_kwargs()["grip_threshold"] == 0.45
    run = build_run(config.protocol, config.agent, config.pretraining, **config.env.make_kwargs())
    assert run.envs[0].spec.kwargs["grip_threshold"] == 0.45
    assert run.envs[0].spec.kwargs["early_lift_aborts"] is False
    # a field left null keeps the task version's value (v1's pellet offset)
    assert run.envs[0].spec.kwargs["pellet_offset"] == 0.003


@pytest.mark.parametrize(("flags", "words"), [
    (["--set", "env.grip_threshold=high"], ["env.grip_threshold", "'high'", "a number"]),
    (["--set", "env.camera=top"], ["env.camera", "'top'", "side", "front"]),
    (["--set", "env.mouth_radius=.inf"], ["env.mouth_radius", "finite"]),
])
def test_bad_env_fields_fail_naming_the_field(tiny_yaml, flags, words):
    with pytest.raises(ValueError) as caught:
        parse(tiny_yaml, *flags)
    for word in words:
        assert word in str(caught.value), str(caught.value)
