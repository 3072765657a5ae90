"""``python -m training.ablate``'s options: every mistake ends with exit status 2 and one line on stderr
naming the file or flag and the field, before any run starts or any folder is made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.small_setups import usage_error
from training.ablate import main


def run_main(tmp_path: Path, capsys, *flags: str) -> str:
    return usage_error(main, tmp_path, capsys, *flags)


@pytest.mark.parametrize(("flags", "words"), [
    (["--seeds", "0"], ["--seeds", "ablation.seeds=0", ">= 1"]),
    (["--seeds", "many"], ["--seeds", "many"]),
    (["--partial-gain", "1.5"], ["--partial-gain", "partial_gain"]),
    (["--sessions", "3"], ["--sessions", "ablation.sessions=3"]),
    (["--workers", "0"], ["--workers=0"]),
    (["--backend", "slurm"], ["--backend", "slurm"]),
    (["--experiment", "dose"], ["--experiment", "'dose'", "dose-response", "timing", "robustness"]),
    (["--experiment", "robustness", "--doses", "0,1.5"], ["--doses", "1.5", "[0, 1]"]),
    (["--experiment", "dose-response", "--doses", "0,1.5"], ["--doses", "ablation.doses", "1.5", "[0, 1]"]),
    (["--experiment", "dose-response", "--doses", "0,-0.1"], ["--doses", "-0.1", "[0, 1]"]),
    (["--experiment", "dose-response", "--doses", "0,0,1"], ["--doses", "repeat"]),
    (["--experiment", "dose-response", "--doses", "1"], ["--doses", "below 1"]),
    (["--experiment", "dose-response", "--doses", "0;1"], ["--doses", "'0;1'", "comma-separated"]),
])
def test_bad_flags(tmp_path, capsys, flags, words):
    line = run_main(tmp_path, capsys, *flags)
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"


@pytest.mark.parametrize(("content", "words"), [
    ("seed_count: 3\n", ["ablation.yaml", "seed_count", "seeds"]),
    ("seeds: abc\n", ["ablation.yaml", "ablation.seeds='abc'", "an integer"]),
    ("seeds: 2.5\n", ["ablation.yaml", "ablation.seeds", "an integer"]),
    ("train: 5\n", ["ablation.yaml", "ablation.train=5", "mapping"]),
    ("train: {protocol: {seed: 1}}\n", ["ablation.yaml", "'protocol' is not a config section"]),
    ("train: {agent: {policy_lr: fast}}\n", ["ablation.yaml", "agent.policy_lr='fast'", "a number"]),
    ("train: {agent: 3}\n", ["ablation.yaml", "section 'agent' must be a mapping"]),
    ("[1, 2]\n", ["ablation.yaml", "must be a mapping"]),
    ("seeds: [1\n", ["ablation.yaml", "not valid YAML"]),
    # The robustness experiment's doubled exploration floor above the file's noise amplitude.
    ("experiment: robustness\ntrain: {agent: {exploration_std: 0.15}}\n",
     ["ablation.yaml", "robustness variant exploration_floor_x2", "agent.exploration_floor=0.2"]),
])
def test_bad_config_files(tmp_path, capsys, content, words):
    path = tmp_path / "ablation.yaml"
    path.write_text(content)
    line = run_main(tmp_path, capsys, "--config", str(path))
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"


def test_missing_config_file(tmp_path, capsys):
    line = run_main(tmp_path, capsys, "--config", str(tmp_path / "nope.yaml"))
    assert "nope.yaml" in line and "does not exist" in line


def test_an_output_folder_of_another_ablation_is_refused(tmp_path, capsys):
    out = tmp_path / "other"
    out.mkdir()
    (out / "ablation.json").write_text(json.dumps({"seeds": 99}))
    with pytest.raises(SystemExit) as caught:
        main(["--out", str(out), "--no-progress", "--seeds", "2"])
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0]
    assert json.loads((out / "ablation.json").read_text()) == {"seeds": 99}  # nothing overwritten
    assert sorted(p.name for p in out.iterdir()) == ["ablation.json"]


def test_quick_and_file_and_flags_compose(tmp_path):
    from training.ablate import QUICK, parse_args

    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump({"sessions": 9, "partial_gain": 0.25}))
    config, _ = parse_args(["--quick", "--config", str(path), "--seeds", "4"])
    assert (config.seeds, config.sessions, config.partial_gain) == (4, 9, 0.25)
    assert config.trials_per_session == QUICK["trials_per_session"]


def test_quick_experiments_keep_their_arms_and_shrink_the_runs():
    from training.ablate import QUICK_EXPERIMENT, AblationConfig, parse_args

    quick, _ = parse_args(["--quick", "--experiment", "timing"])
    assert (quick.experiment, quick.seeds, quick.trials_per_session) == (
        "timing", QUICK_EXPERIMENT["seeds"], QUICK_EXPERIMENT["trials_per_session"])
    assert quick.sessions == AblationConfig().sessions  # the lab's quick preset is not applied
    doses, _ = parse_args(["--quick", "--experiment", "dose-response", "--doses", "0,0.5,1"])
    assert doses.doses == (0.0, 0.5, 1.0) and doses.seeds == QUICK_EXPERIMENT["seeds"]


def test_an_experiment_file_chooses_the_quick_preset_of_its_experiment(tmp_path):
    from training.ablate import QUICK_EXPERIMENT, parse_args

    path = tmp_path / "dose.yaml"
    path.write_text(yaml.safe_dump({"experiment": "dose-response", "doses": [0, 0.25, 1]}))
    config, _ = parse_args(["--quick", "--config", str(path)])
    assert config.doses == (0.0, 0.25, 1.0) and config.eval_trials == QUICK_EXPERIMENT["eval_trials"]
