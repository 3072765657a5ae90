"""Exact resume: a run killed with SIGKILL and resumed with --resume writes exactly what an uninterrupted
run writes (every episodes.csv and evaluation.csv row, every recorded array); resume continues up to the
configured length."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from small_setups import TINY_RUN, tiny_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import training.train as train_module
from analysis.run_format import tensorboard_dir
from training.train import Trainer, parse_args

REPO = Path(__file__).resolve().parents[1]

TINY = TINY_RUN


@pytest.fixture(scope="module")
def tiny_yaml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """Run A: the tiny protocol, uninterrupted."""
    out = tmp_path_factory.mktemp("A") / "out"
    Trainer(tiny_config(out)).train(progress=False)
    return out


def resume(*argv: str) -> None:
    config, resume_flag = parse_args(list(argv))
    assert resume_flag
    Trainer(config, resume=True).train(progress=False)


def assert_same_outputs(a: Path, b: Path) -> None:
    """Byte-identical episodes.csv and evaluation.csv, identical activity arrays and final networks."""
    for name in ("episodes.csv", "evaluation.csv"):
        assert (b / name).read_text() == (a / name).read_text(), name
        assert (b / name).read_bytes() == (a / name).read_bytes(), name
    files = sorted(p.name for p in (a / "activity").iterdir())
    assert sorted(p.name for p in (b / "activity").iterdir()) == files
    for name in files:
        x, y = np.load(a / "activity" / name), np.load(b / "activity" / name)
        assert set(x.files) == set(y.files), name
        for key in x.files:
            assert x[key].shape == y[key].shape, f"{name}:{key} shape {y[key].shape} != {x[key].shape}"
            assert np.array_equal(x[key], y[key], equal_nan=x[key].dtype.kind == "f"), f"{name}:{key}"
    final = sorted((a / "checkpoints").glob("*.pt"))[-1].name
    x = torch.load(a / "checkpoints" / final, weights_only=True)
    y = torch.load(b / "checkpoints" / final, weights_only=True)
    for part in ("cortex", "thalamus", "critic"):
        for key in x[part]:
            assert torch.equal(x[part][key], y[part][key]), f"{part}.{key}"
    assert torch.equal(x["rng"]["exploration"], y["rng"]["exploration"])


@pytest.mark.slow  # a training run in a subprocess, then its resume: ~4 s each
@pytest.mark.parametrize("kill_at", [4, 6])
def test_resume_after_sigkill_is_exact(reference, tiny_yaml, tmp_path, kill_at):
    out = tmp_path / "B"
    marker = out / "checkpoints" / f"episode_{kill_at:06d}.pt"
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "training.train", "--config", str(tiny_yaml),
                                    "--out", str(out)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 300
            while not marker.exists():
                if process.poll() is not None:
                    pytest.fail(f"run B ended (rc {process.returncode}) before {marker.name}:\n"
                                f"{log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"no {marker.name} within 300 s")
                time.sleep(0.002)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "checkpoints" / "episode_000008.pt").exists(), "run B finished before it was killed"
    resume("--config", str(tiny_yaml), "--out", str(out), "--resume")
    assert_same_outputs(reference, out)
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or ".part_" in p.name]


def test_resume_with_more_sessions_continues_to_the_new_length(reference, tiny_yaml, tmp_path):
    out = tmp_path / "C"
    config, _ = parse_args(["--config", str(tiny_yaml), "--out", str(out), "--sessions", "1"])
    Trainer(config).train(progress=False)
    assert len((out / "episodes.csv").read_text().splitlines()) == 1 + 4
    # noise on after what was the last session: a 2-session run has no such row, and drops it
    assert evaluation_rows(out) == [("0", "off"), ("0", "on"), ("4", "off"), ("4", "on")]
    resume("--config", str(tiny_yaml), "--out", str(out), "--sessions", "2", "--resume")
    assert_same_outputs(reference, out)


def test_resume_with_fewer_sessions_adds_the_last_sessions_noise_on_evaluation(tiny_yaml, tmp_path):
    one, stopped = tmp_path / "one", tmp_path / "stopped"
    config, _ = parse_args(["--config", str(tiny_yaml), "--out", str(one), "--sessions", "1"])
    Trainer(config).train(progress=False)

    class AtBoundary(_InterruptedAt):
        stop_at = 4

    with pytest.raises(KeyboardInterrupt):
        AtBoundary(tiny_config(stopped)).train(progress=False)  # 2 sessions, stopped after the first
    assert evaluation_rows(stopped) == [("0", "off"), ("0", "on"), ("4", "off")]
    resume("--config", str(tiny_yaml), "--out", str(stopped), "--sessions", "1", "--resume")
    for name in ("episodes.csv", "evaluation.csv"):
        assert (stopped / name).read_bytes() == (one / name).read_bytes(), name


def evaluation_rows(out: Path) -> list[tuple[str, str]]:
    with open(out / "evaluation.csv", newline="") as f:
        return [(r["episode"], r["noise"]) for r in csv.DictReader(f)]


def scalars(out: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a TensorBoard scalar, as TensorBoard shows it (purged events left out)."""
    acc = EventAccumulator(str(tensorboard_dir(out)), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_resume_of_a_finished_run_changes_nothing(reference, tmp_path):
    import shutil

    out = tmp_path / "done"
    shutil.copytree(reference, out)
    Trainer(tiny_config(out), resume=True).train(progress=False)
    assert_same_outputs(reference, out)


# --- known bugs ------------------------------------------------------------------------------------------


class _Stop(Exception):
    """Stands in for a kill at a chosen point of the run."""


class _InterruptedAt(Trainer):
    """A trainer that is interrupted (Ctrl-C) right after the batch that completes ``stop_at`` trials
    (its checkpoint, if one is due, already written)."""

    stop_at = 6

    def _on_batch(self, run, record, sessions):
        super()._on_batch(run, record, sessions)
        if run.episode == self.stop_at:
            raise KeyboardInterrupt


# A stopped run leaves the unfinished session's part files for --resume (it once merged them on exit).
def test_resume_after_ctrl_c_mid_session_keeps_all_activity(reference, tmp_path):
    out = tmp_path / "B"
    with pytest.raises(KeyboardInterrupt):
        _InterruptedAt(tiny_config(out)).train(progress=False)  # checkpoint 6 written, session 2 half done
    Trainer(tiny_config(out), resume=True).train(progress=False)
    assert (out / "episodes.csv").read_bytes() == (reference / "episodes.csv").read_bytes()
    assert (out / "evaluation.csv").read_bytes() == (reference / "evaluation.csv").read_bytes()
    episodes = np.load(out / "activity" / "session_02.npz")["episode"]
    assert np.array_equal(episodes, [4, 5, 6, 7]), f"session_02.npz holds episodes {episodes}"
    # TensorBoard keeps what was logged up to the checkpoint (the batch ending at 6 included), once;
    # the session resumed midway gets its rates over all its trials
    assert [step for step, _ in scalars(out, "behaviour/return")] == [2, 4, 6, 8]
    for tag in ("behaviour/return", "behaviour/success_rate_rolling", "eval/success_noise_off",
                "eval/success_noise_on", "behaviour/success_rate_session",
                "behaviour/precue_lift_rate_session"):
        assert scalars(out, tag) == scalars(reference, tag), tag


# A kill during a part-file write leaves session_NN.part_EEEEEE.tmp.npz: resume must ignore it.
def test_resume_ignores_a_half_written_part_file(reference, tmp_path):
    out = tmp_path / "B"

    class AtBoundary(_InterruptedAt):
        stop_at = 4  # session 1 complete and merged; nothing left for close() to merge

    with pytest.raises(KeyboardInterrupt):
        AtBoundary(tiny_config(out)).train(progress=False)
    # what SIGKILL during np.savez of the next batch's part leaves behind
    (out / "activity" / "session_02.part_000004.tmp.npz").write_bytes(b"PK\x03\x04 half written")
    Trainer(tiny_config(out), resume=True).train(progress=False)
    assert_same_outputs(reference, out)
    # the evaluation at 4 kept, not repeated
    assert [step for step, _ in scalars(out, "eval/success_noise_off")] == [0, 4, 8]


# A kill just before a session's boundary checkpoint: the session's parts must survive for resume.
def test_resume_after_kill_between_session_merge_and_checkpoint(reference, tmp_path, monkeypatch):
    out = tmp_path / "B"
    save = train_module.save_checkpoint

    def killed_at_4(run, directory, config):
        if run.episode == 4:
            raise _Stop  # session_01.npz is merged, episode_000004.pt not yet written
        return save(run, directory, config)

    monkeypatch.setattr(train_module, "save_checkpoint", killed_at_4)
    with pytest.raises(_Stop):
        Trainer(tiny_config(out)).train(progress=False)
    monkeypatch.setattr(train_module, "save_checkpoint", save)
    assert train_module.newest_checkpoint(out / "checkpoints").name == "episode_000002.pt"
    assert evaluation_rows(out) == [("0", "off"), ("0", "on"), ("4", "off")]  # before the checkpoint
    Trainer(tiny_config(out), resume=True).train(progress=False)
    assert (out / "episodes.csv").read_bytes() == (reference / "episodes.csv").read_bytes()
    assert (out / "evaluation.csv").read_bytes() == (reference / "evaluation.csv").read_bytes()
    episodes = np.load(out / "activity" / "session_01.npz")["episode"]
    assert np.array_equal(episodes, [0, 1, 2, 3]), f"session_01.npz holds episodes {episodes}"
