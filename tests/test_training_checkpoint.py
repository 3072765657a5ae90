"""Checkpoints: plain-data files that ``torch.load(weights_only=True)`` reads, with the gated cortical
weights under "cortex"; corrupt or foreign ones are refused before anything changes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from small_setups import TINY_RUN, tiny_config

from training.checkpoint import CheckpointError, load_checkpoint, newest_checkpoint, save_checkpoint
from training.config import TrainConfig
from training.protocol import Run, build_run
from training.train import Trainer

TINY = TINY_RUN


def fresh_run(config: TrainConfig) -> Run:
    return build_run(config.protocol, config.agent, config.pretraining, **config.env.make_kwargs())


def snapshot(run: Run) -> dict:
    """Everything load_checkpoint may change."""
    return {
        "episode": run.episode,
        "figures": dict(run.pretraining_figures),
        "cortex": {k: v.clone() for k, v in run.circuit.cortex.state_dict().items()},
        "thalamus": {k: v.clone() for k, v in run.circuit.thalamus.state_dict().items()},
        "critic": {k: v.clone() for k, v in run.circuit.critic.state_dict().items()},
        "generator": run.learner.generator.get_state().clone(),
        "torch_rng": torch.get_rng_state().clone(),
        "optimizer_state": len(run.learner.cortex_optimizer.state),
    }


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict) and a[key] and isinstance(next(iter(a[key].values())), torch.Tensor):
            assert a[key].keys() == b[key].keys()
            for name in a[key]:
                assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} changed"
        elif isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), f"{key} changed"
        else:
            assert a[key] == b[key], f"{key} changed"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, TrainConfig, Trainer]:
    out = tmp_path_factory.mktemp("ckpt") / "out"
    config = tiny_config(out)
    trainer = Trainer(config)
    trainer.train(progress=False)
    return out, config, trainer


def test_every_checkpoint_loads_weights_only_with_gated_weights(run):
    out, config, trainer = run
    paths = sorted((out / "checkpoints").glob("*.pt"))
    assert [p.name for p in paths] == [f"episode_{e:06d}.pt" for e in (0, 2, 4, 6, 8)]
    live = trainer.run.circuit.cortex.state_dict()
    assert {"recurrent", "thalamocortical", "readout"} <= live.keys()
    n, m = config.agent.n_cortex, config.agent.n_thalamus
    for path in paths:
        state = torch.load(path, weights_only=True)
        assert state["episode"] == int(path.stem.split("_")[1])
        cortex = state["cortex"]
        assert set(cortex) == set(live), path.name
        assert all(isinstance(v, torch.Tensor) for v in cortex.values())
        assert cortex["recurrent"].shape == (n, n)
        assert cortex["thalamocortical"].shape == (n, m)
        assert cortex["readout"].shape[1] == n
    final = torch.load(paths[-1], weights_only=True)["cortex"]
    for name, value in live.items():
        assert torch.equal(final[name], value), name
    first = torch.load(paths[0], weights_only=True)["cortex"]
    assert not torch.equal(first["readout"], final["readout"])  # learning happened between them


def test_load_restores_the_saved_state(run):
    out, config, _ = run
    path = out / "checkpoints" / "episode_000004.pt"
    saved = torch.load(path, weights_only=True)
    fresh = fresh_run(config)
    load_checkpoint(path, fresh, config.as_dict())
    assert fresh.episode == 4
    for name, value in fresh.circuit.cortex.state_dict().items():
        assert torch.equal(value, saved["cortex"][name]), name
    assert torch.equal(fresh.learner.generator.get_state(), saved["rng"]["exploration"])


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_checkpoint_is_refused_and_run_untouched(run, tmp_path, damage):
    out, config, _ = run
    path = tmp_path / "episode_000008.pt"
    data = (out / "checkpoints" / "episode_000008.pt").read_bytes()
    path.write_bytes({"garbage": b"\x00not a checkpoint\xff" * 64, "truncated": data[:len(data) // 2],
                      "empty": b""}[damage])
    fresh = fresh_run(config)
    before = snapshot(fresh)
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        load_checkpoint(path, fresh, config.as_dict())
    assert_same(before, snapshot(fresh))


def test_foreign_file_is_refused(run, tmp_path):
    out, config, _ = run
    path = tmp_path / "episode_000008.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    fresh = fresh_run(config)
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        load_checkpoint(path, fresh, config.as_dict())
    assert fresh.episode == 0


def test_resume_from_corrupt_newest_checkpoint_is_refused_and_folder_untouched(run, tmp_path):
    out, config, _ = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    newest = copy / "checkpoints" / "episode_000008.pt"
    newest.write_bytes(newest.read_bytes()[:1000])
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError, match=re.escape(str(newest))):
        Trainer(tiny_config(copy), resume=True)
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(("sections", "field"), [
    ({"agent": {"n_cortex": 48}}, "agent.n_cortex"),
    ({"protocol": {"seed": 1}}, "protocol.seed"),
    ({"protocol": {"da_block": "2-2"}}, "protocol.da_block"),
    ({"pretraining": {"updates": 3}}, "pretraining.updates"),
    ({"env": {"cue_time": 0.35}}, "env.cue_time"),
])
def test_checkpoint_of_a_different_config_is_refused(run, sections, field):
    out, _, _ = run
    other = tiny_config(out, **sections)
    fresh = fresh_run(other)
    before = snapshot(fresh)
    path = out / "checkpoints" / "episode_000004.pt"
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, fresh, other.as_dict())
    assert field in str(caught.value) and str(path) in str(caught.value)
    assert_same(before, snapshot(fresh))


def test_resume_with_a_different_seed_is_refused(run, tmp_path):
    out, _, _ = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with pytest.raises(CheckpointError, match="protocol.seed"):
        Trainer(tiny_config(copy, protocol={"seed": 3}), resume=True)


def test_output_and_length_may_change(run):
    out, _, _ = run
    other = tiny_config(out / "elsewhere", protocol={"sessions": 3}, output={"checkpoint_every": 0})
    fresh = fresh_run(other)
    load_checkpoint(out / "checkpoints" / "episode_000004.pt", fresh, other.as_dict())
    assert fresh.episode == 4


def test_newest_checkpoint_picks_the_largest_episode(run, tmp_path):
    out, _, _ = run
    assert newest_checkpoint(out / "checkpoints") == out / "checkpoints" / "episode_000008.pt"
    assert newest_checkpoint(tmp_path / "missing") is None
    assert newest_checkpoint(tmp_path) is None
    for name in ("episode_000002.pt", "episode_000010.pt", "episode_000009.pt", "episode_000099.pt.tmp",
                 "episode_1000000.pt", "notes.pt"):
        (tmp_path / name).write_bytes(b"")
    assert newest_checkpoint(tmp_path) == tmp_path / "episode_000010.pt"


def test_no_temporary_file_after_save(run, tmp_path):
    out, config, trainer = run
    assert not [p for p in (out / "checkpoints").iterdir() if p.suffix != ".pt"]
    path = save_checkpoint(trainer.run, tmp_path / "saved", config.as_dict())
    assert path == tmp_path / "saved" / "episode_000008.pt"
    assert [p.name for p in (tmp_path / "saved").iterdir()] == ["episode_000008.pt"]
    state = torch.load(path, weights_only=True)
    assert state["episode"] == 8


def test_a_fork_may_change_only_the_silencing_schedules(run, tmp_path):
    out, config, _ = run
    parent = out / "checkpoints" / "episode_000004.pt"
    fork = tiny_config(tmp_path / "fork", protocol={"da_block": "2-2", "thalamus_block": "2-2"})
    trainer = Trainer(fork, fork_from=parent)
    assert trainer.run.episode == 4
    assert torch.equal(trainer.run.circuit.cortex.recurrent, torch.load(parent)["cortex"]["recurrent"])
    trainer.train(progress=False)
    with open(tmp_path / "fork" / "episodes.csv") as f:
        rows = f.read().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [4, 5, 6, 7]  # the fork logs only its own trials
    other = tiny_config(tmp_path / "other", agent={"policy_lr": 1e-2})
    with pytest.raises(CheckpointError, match="agent.policy_lr"):
        Trainer(other, fork_from=parent)


def test_a_what_if_fork_changes_the_fields_it_names_and_no_others(run, tmp_path):
    out, _, _ = run
    parent = out / "checkpoints" / "episode_000004.pt"
    what_if = tiny_config(tmp_path / "what_if", agent={"precue_exploration": 0.0, "exploration_memory": 1e9})
    with pytest.raises(CheckpointError, match="agent.exploration_memory"):
        Trainer(what_if, fork_from=parent, fork_may_differ=frozenset({"precue_exploration"}))
    trainer = Trainer(what_if, fork_from=parent,
                      fork_may_differ=frozenset({"precue_exploration", "exploration_memory"}))
    assert trainer.run.episode == 4
    assert trainer.run.learner.config.precue_exploration == 0.0
    assert trainer.run.learner.exploration.memory == 1e9
    assert torch.equal(trainer.run.circuit.cortex.recurrent, torch.load(parent)["cortex"]["recurrent"])


@pytest.mark.parametrize(("version", "words"), [
    (1, ["format 1", "predates dopareach's learning v2", "(format 4)", "re-run"]),
    (2, ["format 2", "predates dopareach's learning v2", "(format 4)", "re-run"]),
    (3, ["format 3", "predates dopareach's circuit v2", "(format 4)", "re-run"]),
    (99, ["format 99", "cannot read"]),
])
def test_checkpoint_of_another_format_is_refused_saying_which(run, tmp_path, version, words):
    out, config, _ = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    path = copy / "checkpoints" / "episode_000008.pt"
    torch.save({**torch.load(path, weights_only=True), "format": version}, path)
    fresh = fresh_run(config)
    before = snapshot(fresh)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, fresh, config.as_dict())
    for word in [str(path), *words]:
        assert word in str(caught.value), (word, str(caught.value))
    assert_same(before, snapshot(fresh))
    with pytest.raises(CheckpointError, match="format"):
        Trainer(tiny_config(copy), resume=True)


def written_before_the_tone_hold(path: Path, circuit: int) -> None:
    """Rewrite ``path`` as a run of ``circuit`` saved before agent.cue_persistence and
    pretraining.forward_model existed, with the forward model's step of then (0.05)."""
    state = torch.load(path, weights_only=True)
    config = {section: dict(values) for section, values in state["config"].items()}
    del config["agent"]["cue_persistence"], config["pretraining"]["forward_model"]
    config["agent"].update(circuit=circuit, forward_lr=0.05)
    torch.save({**state, "config": config}, path)


def test_an_older_circuit_1_checkpoint_resumes_across_circuit_2_changes(run, tmp_path):
    out, config, _ = run
    path = tmp_path / "episode_000004.pt"
    shutil.copy(out / "checkpoints" / "episode_000004.pt", path)
    written_before_the_tone_hold(path, circuit=1)
    fresh = fresh_run(config)
    load_checkpoint(path, fresh, config.as_dict())  # circuit 1 reads none of the changed fields
    assert fresh.episode == 4
    # A field that circuit 1 reads still has to match.
    other = tiny_config(out, agent={"gamma": 0.9})
    with pytest.raises(CheckpointError, match="agent.gamma"):
        load_checkpoint(path, fresh_run(other), other.as_dict())


def test_an_older_circuit_2_checkpoint_is_refused_naming_what_changed_since(run, tmp_path):
    out, _, _ = run
    path = tmp_path / "episode_000004.pt"
    shutil.copy(out / "checkpoints" / "episode_000004.pt", path)
    written_before_the_tone_hold(path, circuit=2)
    now = tiny_config(out, agent={"circuit": 2})
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, fresh_run(now), now.as_dict())
    message = str(caught.value)
    for words in ("agent.cue_persistence: checkpoint 0.0, now 0.3",
                  "agent.forward_lr: checkpoint 0.05, now 0.01",
                  "pretraining.forward_model: checkpoint False, now True"):
        assert words in message, message
