"""What a full (tiny) training run writes: TensorBoard, episodes.csv, checkpoints, config.yaml, activity
files and videos; and that a second run into the same folder needs --resume."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from small_setups import TINY_RUN
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from analysis.run_format import EPISODE_COLUMNS, tensorboard_dir
from training.checkpoint import CheckpointError
from training.config import TrainConfig, build_config, load_yaml, merge
from training.train import Trainer

TINY = TINY_RUN
#: A much shorter trial timeline (5 control steps a trial) for the video run: rendering costs ~0.1 s a frame.
#: On v0, whose cue does not move (v1's moves by up to 0.2 s, longer than this whole trial).
SHORT_TRIALS = {"env_id": "MousePelletReach-v0", "platform_turn": 0.04, "cue_time": 0.04,
                "tone_duration": 0.04, "response_window": 0.06, "post_outcome": 0.02}

SCALARS = ("behaviour/success_rate_rolling", "behaviour/success_rate_session", "behaviour/return",
           "behaviour/exploration_std", "behaviour/exploration_success_average", "dopamine/rpe_at_cue",
           "dopamine/rpe_at_outcome", "manipulation/dopamine_gain", "manipulation/thalamus_gain",
           "plasticity/update_norm_cortex", "plasticity/update_norm_recurrent",
           "plasticity/update_norm_thalamocortical", "plasticity/update_norm_readout",
           "plasticity/update_norm_bias", "critic/value_mean", "behaviour/precue_lift_rate_session",
           "eval/success_noise_off", "eval/success_noise_on")


def tiny_config(out: Path, **sections: dict) -> TrainConfig:
    return build_config(merge(TINY, {**sections, "output": {**sections.get("output", {}), "out": str(out)}}))


def train(out: Path, **sections: dict) -> tuple[TrainConfig, Trainer]:
    config = tiny_config(out, **sections)
    trainer = Trainer(config)
    assert trainer.train(progress=False) == out
    return config, trainer


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def accumulator(out: Path) -> EventAccumulator:
    acc = EventAccumulator(str(tensorboard_dir(out)), size_guidance={"scalars": 0, "images": 0, "tensors": 0,
                                                                     "histograms": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, TrainConfig, Trainer]:
    out = tmp_path_factory.mktemp("run") / "out"
    config, trainer = train(out)
    return out, config, trainer


def test_tensorboard(run):
    out, config, _ = run
    assert tensorboard_dir(out) == out / "tb" / "out"  # the run is named after its folder
    assert len(list(tensorboard_dir(out).glob("events.out.tfevents.*"))) == 1
    acc = accumulator(out)
    tags = acc.Tags()
    missing = [t for t in SCALARS if t not in tags["scalars"]]
    assert not missing, f"missing scalars {missing}; have {tags['scalars']}"
    assert [e.step for e in acc.Scalars("behaviour/return")] == [2, 4, 6, 8]
    # One step axis, trials completed: a session's values at its last trial.
    assert [e.step for e in acc.Scalars("behaviour/success_rate_session")] == [4, 8]
    assert [e.step for e in acc.Scalars("behaviour/precue_lift_rate_session")] == [4, 8]
    assert [e.step for e in acc.Scalars("eval/success_noise_off")] == [0, 4, 8]  # step: trials completed
    assert [e.step for e in acc.Scalars("eval/success_noise_on")] == [0, 8]
    assert [e.value for e in acc.Scalars("manipulation/dopamine_gain")] == [1.0] * 4
    assert all(np.isfinite(e.value) for t in SCALARS for e in acc.Scalars(t))
    assert "dopamine/delta" in tags["histograms"]
    assert [e.step for e in acc.Histograms("dopamine/delta")] == [4, 8]
    assert [e.step for e in acc.Images("dopamine/rpe_aligned")] == [4, 8]
    text_tags = [t for t in tags["tensors"] if t.startswith("hyperparameters")]
    assert text_tags, tags["tensors"]
    text = acc.Tensors(text_tags[0])[0].tensor_proto.string_val[0].decode()
    assert "agent.n_cortex | 32" in text and "protocol.trials_per_session | 4" in text
    assert sorted(tags["images"]) == ["dopamine/rpe_aligned"]  # video off: no videos/ samples


def test_episodes_csv(run):
    out, config, _ = run
    header, rows = read_rows(out / "episodes.csv")
    assert tuple(header) == EPISODE_COLUMNS
    n = config.protocol.sessions * config.protocol.trials_per_session
    assert len(rows) == n == 8
    assert [int(r["episode"]) for r in rows] == list(range(n))
    assert [int(r["session"]) for r in rows] == [1] * 4 + [2] * 4
    assert {r["dopamine_gain"] for r in rows} == {"1"}
    assert {r["thalamus_on"] for r in rows} == {"1"}
    for r in rows:
        assert r["success"] in ("0", "1") and r["precue_lift"] in ("0", "1")
        assert int(r["steps"]) > 0
        assert np.isfinite(float(r["return"])) and np.isfinite(float(r["cortical_update_norm"]))
        assert float(r["mean_dopamine"]) == pytest.approx(float(r["mean_delta"]), rel=1e-5, abs=1e-12)


def test_blocked_sessions_in_csv_and_tensorboard(tmp_path):
    out = tmp_path / "blocked"
    train(out, protocol={"da_block": "1-1:0.3,2-2", "thalamus_block": "2-2"})
    _, rows = read_rows(out / "episodes.csv")
    assert [r["dopamine_gain"] for r in rows] == ["0.3"] * 4 + ["0"] * 4
    assert [r["thalamus_on"] for r in rows] == ["1"] * 4 + ["0"] * 4
    for r in rows[4:]:
        assert float(r["mean_dopamine"]) == 0.0  # no dopamine reaches M1
    for r in rows[:4]:
        assert float(r["mean_dopamine"]) == pytest.approx(0.3 * float(r["mean_delta"]), rel=1e-4, abs=1e-9)
    gains = [e.value for e in accumulator(out).Scalars("manipulation/dopamine_gain")]
    assert gains == pytest.approx([0.3, 0.3, 0.0, 0.0])
    assert [e.value for e in accumulator(out).Scalars("manipulation/thalamus_gain")] == [1, 1, 0, 0]
    activity = np.load(out / "activity" / "session_02.npz")
    assert np.array_equal(activity["dopamine_gain"], np.zeros(4, np.float32))
    assert np.array_equal(activity["thalamus_gain"], np.zeros(4, np.float32))
    assert not np.any(activity["dopamine"])


def checkpoint_episodes(out: Path) -> list[int]:
    return sorted(int(p.stem.split("_")[1]) for p in (out / "checkpoints").iterdir())


def test_checkpoints(run):
    out, _, _ = run
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == [f"episode_{e:06d}.pt" for e in (0, 2, 4, 6, 8)]


@pytest.mark.parametrize(("every", "expected"), [(0, [0, 4, 8]), (3, [0, 4, 6, 8])])
def test_checkpoint_schedule(tmp_path, every, expected):
    """The start, every session boundary, and each time the trial count crosses a multiple of ``every``."""
    out = tmp_path / "run"
    train(out, output={"checkpoint_every": every})
    assert checkpoint_episodes(out) == expected


def test_config_yaml_round_trips(run):
    out, config, _ = run
    assert build_config(load_yaml(out / "config.yaml")) == config


def test_activity_files(run):
    out, config, _ = run
    assert sorted(p.name for p in (out / "activity").iterdir()) == ["session_01.npz", "session_02.npz"]
    for session in (1, 2):
        data = np.load(out / "activity" / f"session_{session:02d}.npz")
        first = (session - 1) * 4
        assert np.array_equal(data["episode"], np.arange(first, first + 4))
        n, t = data["valid"].shape
        assert n == 4 and data["cortex"].shape == (4, t, config.agent.n_cortex)
        assert data["thalamus"].shape == (4, t, config.agent.n_thalamus)
        assert np.array_equal(data["valid"].sum(1), data["steps"])


def test_no_leftover_temporary_files(run):
    out, _, _ = run
    leftovers = [p for p in out.rglob("*") if ".tmp" in p.name or ".part_" in p.name]
    assert not leftovers


def test_second_run_without_resume_is_refused(run):
    out, config, _ = run
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError, match="--resume"):
        Trainer(config)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def check_videos(out: Path) -> dict[tuple[str, int], int]:
    """Check the mp4 files and TensorBoard samples of a 2 x 4-trial run; returns the frame count of each
    sample's animation by (tag, step)."""
    videos = sorted(p.name for p in (out / "videos").iterdir())
    assert videos == ["session_01_episode_000000.mp4", "session_01_episode_000003.mp4",
                      "session_02_episode_000004.mp4", "session_02_episode_000007.mp4"]
    for name in videos:
        assert (out / "videos" / name).stat().st_size > 1024, name
    # In TensorBoard: each filmed trial is a sample of its session's tag, at its own step (trials completed
    # once it ends: its 0-based episode + 1), encoded as a GIF.
    acc = accumulator(out)
    assert sorted(t for t in acc.Tags()["images"] if t.startswith("videos/")) == ["videos/session_01",
                                                                                  "videos/session_02"]
    frames = {}
    for tag, episodes in (("videos/session_01", [1, 4]), ("videos/session_02", [5, 8])):
        events = acc.Images(tag)
        assert [e.step for e in events] == episodes, tag
        for event in events:
            with Image.open(io.BytesIO(event.encoded_image_string)) as gif:
                assert gif.format == "GIF", (tag, event.step)
                frames[tag, event.step] = gif.n_frames
    return frames


def test_videos_short_trials(tmp_path):
    out = tmp_path / "video"
    train(out, env=SHORT_TRIALS, output={"video": True})
    check_videos(out)


def test_videos_of_a_session_filmed_in_one_batch_are_two_samples(tmp_path):
    # A batch as long as a session films its first and last trial together: each is logged at its own
    # step, not both at the batch's end (where the second overwrote the first).
    out = tmp_path / "video"
    # A frame every control step: enough frames in these 5-step trials for every animation to move.
    train(out, env=SHORT_TRIALS, protocol={"batch": 4}, output={"video": True, "video_stride": 1})
    frames = check_videos(out)
    assert all(n > 1 for n in frames.values()), frames


@pytest.mark.slow
def test_videos_tiny_config(tmp_path):
    out = tmp_path / "video"
    train(out, output={"video": True})
    check_videos(out)


def test_video_trials_none_films_nothing(tmp_path):
    out = tmp_path / "video"
    train(out, env=SHORT_TRIALS, output={"video": True, "video_trials": "none"})
    assert not list(out.glob("videos/*"))


def test_a_run_blocked_in_every_session_keeps_its_mean_policy_exactly(tmp_path):
    # The control the lab cannot run: dopamine blocked from the first trial to the last. The network
    # acts, its exploration goes on, the critic learns, but the cortical weights never change, so the
    # mean policy's held-out success is its start at every evaluation.
    out = tmp_path / "blocked_throughout"
    train(out, protocol={"da_block": "1-2", "eval_trials": 4})
    _, rows = read_rows(out / "episodes.csv")
    assert {r["dopamine_gain"] for r in rows} == {"0"}
    assert {float(r["cortical_update_norm"]) for r in rows} == {0.0}
    _, evaluations = read_rows(out / "evaluation.csv")
    off = [float(r["success"]) for r in evaluations if r["noise"] == "off"]
    assert len(off) == 3 and len(set(off)) == 1
    first, *later = sorted((out / "checkpoints").iterdir())
    start = torch.load(first, weights_only=False)["cortex"]
    for path in later:
        cortex = torch.load(path, weights_only=False)["cortex"]
        assert all(torch.equal(start[k], cortex[k]) for k in start), path.name
