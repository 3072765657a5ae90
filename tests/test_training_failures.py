"""Runs under episode-range silencing (batches that mix gains) and runs whose weights go bad: a mixed run
stays finite with one gain per trial in episodes.csv; a NaN stops the run with an error naming the batch
and the parameter, and never reaches a checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from small_setups import tiny_config

from agents.three_factor import ThreeFactorLearner
from training.checkpoint import CheckpointError, newest_checkpoint, save_checkpoint
from training.protocol import NonFiniteWeightsError
from training.train import Trainer, main


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "episodes.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_episode_ranges_mix_gains_within_batches_and_stay_finite(tmp_path):
    # Batches of 2: episodes (0, 1), (2, 3), ...; e1-2 puts a blocked and an intact trial in each of
    # the first two batches, e5-5:0.5 a half gain beside a full one.
    out = tmp_path / "mixed"
    trainer = Trainer(tiny_config(out, protocol={"da_block": "e1-2,e5-5:0.5", "thalamus_block": "e6"}))
    trainer.train(progress=False)
    table = rows(out)
    assert [r["dopamine_gain"] for r in table] == ["1", "0", "0", "1", "1", "0.5", "1", "1"]
    assert [r["thalamus_on"] for r in table] == ["1"] * 6 + ["0", "1"]
    for r in table:
        assert float(r["mean_dopamine"]) == pytest.approx(float(r["dopamine_gain"]) * float(r["mean_delta"]),
                                                          rel=1e-4, abs=1e-9)
    assert trainer.run.circuit.non_finite() == []
    state = torch.load(newest_checkpoint(out / "checkpoints"), weights_only=True)
    assert state["schedules"]["dopamine"] == [[1, 2, 0.0], [5, 5, 0.5]]
    assert all(bool(torch.isfinite(v).all()) for v in state["cortex"].values())


def poison_after(monkeypatch, batches: int, parameter: str = "recurrent") -> None:
    """Make the ``batches``-th protocol batch leave a NaN in ``cortex.<parameter>``."""
    original = ThreeFactorLearner.run_trials
    calls = {"n": 0}

    def run_trials(self, envs, episodes, *args, **kwargs):
        record = original(self, envs, episodes, *args, **kwargs)
        # A protocol batch: shaping's critic warm-up uses episode -1, evaluations do not learn.
        if min(episodes) >= 0 and kwargs.get("learn", True):
            calls["n"] += 1
            if calls["n"] == batches:
                with torch.no_grad():
                    getattr(self.circuit.cortex, parameter).view(-1)[3] = float("nan")
        return record

    monkeypatch.setattr(ThreeFactorLearner, "run_trials", run_trials)


def test_non_finite_weights_stop_the_run_naming_batch_and_parameter(tmp_path, monkeypatch):
    out = tmp_path / "nan"
    config = tiny_config(out, output={"checkpoint_every": 2})
    poison_after(monkeypatch, batches=3)  # the batch of episodes 4-5, in session 2
    trainer = Trainer(config)
    with pytest.raises(NonFiniteWeightsError) as caught:
        trainer.train(progress=False)
    message = str(caught.value)
    for words in ("episodes 4-5", "session 2", "cortex.recurrent", "non-finite", "episode_000004.pt"):
        assert words in message, f"{words!r} not in {message!r}"
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints[-1] == "episode_000004.pt"  # nothing written after the bad batch
    for path in (out / "checkpoints").iterdir():
        state = torch.load(path, weights_only=True)
        assert all(bool(torch.isfinite(v).all()) for v in state["cortex"].values()), path.name
    assert [int(r["episode"]) for r in rows(out)] == [0, 1, 2, 3]  # the bad batch is not logged


def test_main_reports_non_finite_weights_in_one_line(tmp_path, monkeypatch, capsys):
    poison_after(monkeypatch, batches=1, parameter="thalamocortical")
    out = tmp_path / "nan_cli"
    with pytest.raises(SystemExit) as caught:
        main(["--sessions", "1", "--trials-per-session", "4", "--batch", "2", "--no-video", "--out",
              str(out), "--set", "agent.n_cortex=32", "--set", "agent.n_thalamus=16",
              "--set", "agent.critic_hidden=16", "--set", "pretraining.demonstrations=2",
              "--set", "pretraining.updates=2", "--set", "pretraining.critic_warmup_batches=1",
              "--set", "env.response_window=0.3", "--set", "protocol.eval_trials=2"])
    assert caught.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: the batch of episodes 0-1") and "cortex.thalamocortical" in err[-1]
    assert "episode_000000.pt" in err[-1]


def test_save_checkpoint_refuses_non_finite_weights(tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run"))
    with torch.no_grad():
        trainer.run.circuit.critic.net[0].weight[0, 0] = float("inf")
    bad = trainer.run.circuit.non_finite()
    assert bad and bad[0].startswith("critic.")
    with pytest.raises(CheckpointError, match="not finite"):
        save_checkpoint(trainer.run, tmp_path / "checkpoints", trainer.config.as_dict())
    assert not (tmp_path / "checkpoints").exists()
