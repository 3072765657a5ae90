"""ActivityRecorder: one ``session_NN.npz`` per session with the documented arrays and shapes, trials
aligned with the time axis and the env's events, downsampling that averages (sums for reward), atomic
writes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from small_setups import SHORT_TRIAL, SMALL_AGENT_V2

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import DopamineChannel, SilencingSchedule
from agents.recording import ActivityRecorder
from agents.three_factor import BatchRecord, ThreeFactorLearner, TrialSummary
from reach_env import EVENTS, MUSCLES, MousePelletReachEnv, TrialPhase

ENV_KWARGS = SHORT_TRIAL
CONFIG = AgentConfig(**SMALL_AGENT_V2, update_every=5)
DT = 0.02
CUE_TIME = ENV_KWARGS["cue_time"]
TRIALS_PER_SESSION = 2

#: The module docstring's table: array -> shape, with n trials, T samples, N cortex, M thalamus.
DOCUMENTED = {
    "episode": ("n",), "success": ("n",), "outcome": ("n",), "steps": ("n",),
    "dopamine_gain": ("n",), "thalamus_gain": ("n",), "event_names": (5,), "event_times": ("n", 5),
    "time": ("T",), "valid": ("n", "T"), "cortex": ("n", "T", "N"), "thalamus": ("n", "T", "M"),
    "action": ("n", "T", 15), "noise": ("n", "T", 15), "reward": ("n", "T"), "value": ("n", "T"),
    "delta": ("n", "T"), "dopamine": ("n", "T"), "phase": ("n", "T"), "mean_action": ("n", "T", 15),
    "s1": ("n", "T", "S"), "cue_input": ("n", "T", 1), "outcome_input": ("n", "T", 1),
    "neural_noise": ("n", "T", "N"),
}


@pytest.fixture(scope="module")
def env_max_steps() -> int:
    """Longest trial in control steps, as the trainer computes it (timeout + post-outcome)."""
    env = MousePelletReachEnv(**ENV_KWARGS)
    steps = env.max_steps
    env.close()
    return steps


@pytest.fixture(scope="module")
def batches() -> list[tuple[list[int], BatchRecord]]:
    """Two learning batches of two trials: episodes 0-1 (session 1, dopamine gain 0.5 on episode 1)
    and 2-3 (session 2, thalamus silenced on episode 3)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    envs = [MousePelletReachEnv(**ENV_KWARGS) for _ in range(2)]
    circuit = CorticalCircuit(CONFIG, DT, seed=1)
    learner = ThreeFactorLearner(circuit, CONFIG, DopamineChannel(SilencingSchedule([(1, 1, 0.5)])),
                                 thalamus=SilencingSchedule([(3, 3, 0.0)]), seed=1)
    out = [([0, 1], learner.run_trials(envs, [0, 1], [10, 11])),
           ([2, 3], learner.run_trials(envs, [2, 3], [12, 13]))]
    for env in envs:
        env.close()
    torch.set_num_threads(threads)
    return out


def session_of(episode: int) -> int:
    return episode // TRIALS_PER_SESSION + 1


def finish(recorder: ActivityRecorder, sessions=(1, 2)) -> None:
    for session in sessions:
        recorder.finish_session(session)


def load(path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return dict(data)


def test_files_hold_the_documented_arrays_and_shapes(tmp_path, batches, env_max_steps):
    recorder = ActivityRecorder(tmp_path, env_max_steps, DT)
    for episodes, record in batches:
        recorder.add(record, [session_of(e) for e in episodes])
    finish(recorder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session_01.npz", "session_02.npz"]
    data = load(tmp_path / "session_01.npz")
    sizes = {"n": 2, "T": env_max_steps, "N": CONFIG.n_cortex, "M": CONFIG.n_thalamus, "S": CONFIG.n_s1}
    assert set(data) == set(DOCUMENTED)
    for name, shape in DOCUMENTED.items():
        expected = tuple(sizes.get(d, d) for d in shape)
        assert data[name].shape == expected, name
    assert list(data["event_names"]) == list(EVENTS)
    assert data["success"].dtype == bool and data["valid"].dtype == bool
    for name in ("cortex", "thalamus", "action", "noise"):
        assert data[name].dtype == np.float16, name
    assert len(MUSCLES) == 15


def test_one_file_per_session_with_only_its_trials(tmp_path, batches, env_max_steps):
    recorder = ActivityRecorder(tmp_path, env_max_steps, DT)
    (first_episodes, first), (second_episodes, second) = batches
    recorder.add(first, [session_of(e) for e in first_episodes])
    # Streamed: the batch is on disk as a part file before the session is finished.
    assert [p.name for p in tmp_path.iterdir()] == ["session_01.part_000000.npz"]
    assert recorder.finish_session(1) == tmp_path / "session_01.npz"
    recorder.add(second, [session_of(e) for e in second_episodes])
    assert recorder.finish_session(2) == tmp_path / "session_02.npz"
    assert recorder.finish_session(3) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session_01.npz", "session_02.npz"]

    for session, (episodes, record) in enumerate(batches, start=1):
        data = load(tmp_path / f"session_{session:02d}.npz")
        assert list(data["episode"]) == episodes
        assert list(data["steps"]) == [s.steps for s in record.summaries]
        assert list(data["outcome"]) == [s.outcome for s in record.summaries]
        np.testing.assert_array_equal(data["dopamine_gain"], [s.dopamine_gain for s in record.summaries])
        np.testing.assert_array_equal(data["thalamus_gain"], [s.thalamus_gain for s in record.summaries])
        for b in range(2):
            steps = record.summaries[b].steps
            np.testing.assert_array_equal(data["valid"][b], np.arange(env_max_steps) < steps)
            np.testing.assert_array_equal(data["reward"][b, :steps],
                                          record.reward[:steps, b].astype(np.float32))
            np.testing.assert_array_equal(data["delta"][b, :steps], record.delta[:steps, b])
            np.testing.assert_array_equal(data["dopamine"][b, :steps], record.dopamine[:steps, b])
            np.testing.assert_array_equal(data["phase"][b, :steps], record.phase[:steps, b])
            np.testing.assert_array_equal(data["cortex"][b, :steps],
                                          record.cortex[:steps, b].astype(np.float16))
            assert np.all(data["phase"][b, steps:] == -1)
            assert np.all(data["reward"][b, steps:] == 0) and np.all(data["cortex"][b, steps:] == 0)
    assert data["dopamine_gain"][0] == 1.0 and data["thalamus_gain"][1] == 0.0
    np.testing.assert_array_equal(load(tmp_path / "session_01.npz")["dopamine_gain"], [1.0, 0.5])


def test_a_batch_spanning_two_sessions_is_split(tmp_path, batches, env_max_steps):
    recorder = ActivityRecorder(tmp_path, env_max_steps, DT)
    _, record = batches[0]
    recorder.add(record, [1, 2])
    finish(recorder)
    assert list(load(tmp_path / "session_01.npz")["episode"]) == [0]
    assert list(load(tmp_path / "session_02.npz")["episode"]) == [1]


def test_event_times_are_aligned_with_time_and_phases(tmp_path, batches, env_max_steps):
    recorder = ActivityRecorder(tmp_path, env_max_steps, DT)
    for episodes, record in batches:
        recorder.add(record, [session_of(e) for e in episodes])
    finish(recorder)
    for session in (1, 2):
        data = load(tmp_path / f"session_{session:02d}.npz")
        time = data["time"]
        np.testing.assert_allclose(time, DT * np.arange(1, env_max_steps + 1), rtol=0, atol=1e-12)
        cue, outcome = list(EVENTS).index("cue"), list(EVENTS).index("outcome")
        np.testing.assert_allclose(data["event_times"][:, cue], CUE_TIME, rtol=0, atol=1e-9)
        for b in range(len(data["episode"])):
            phase = data["phase"][b]
            # The cue event is stamped at the end of the first sample in CUE (after PLATFORM_TURN and
            # WAIT), the outcome at the end of the first POST_OUTCOME sample.
            first_cue = np.flatnonzero(phase >= TrialPhase.CUE)[0]
            assert phase[first_cue - 1] == TrialPhase.WAIT
            assert time[first_cue] == pytest.approx(data["event_times"][b, cue], abs=1e-9)
            first_post = np.flatnonzero(phase == TrialPhase.POST_OUTCOME)[0]
            assert time[first_post] == pytest.approx(data["event_times"][b, outcome], abs=1e-9)
            assert data["steps"][b] * DT == pytest.approx(time[data["valid"][b]][-1], abs=1e-9)
            for k, name in enumerate(EVENTS):
                value = data["event_times"][b, k]
                assert math.isnan(value) or value in [pytest.approx(t, abs=1e-9) for t in time], name


def test_downsample_averages_and_sums_rewards(tmp_path, batches, env_max_steps):
    _, record = batches[0]
    k = 2
    recorder = ActivityRecorder(tmp_path, env_max_steps, DT, downsample=k)
    recorder.add(record, [1, 1])
    data = load(recorder.finish_session(1))
    samples = -(-env_max_steps // k)
    assert data["valid"].shape == (2, samples)
    np.testing.assert_allclose(data["time"], k * DT * np.arange(1, samples + 1), atol=1e-12)
    for b, summary in enumerate(record.summaries):
        steps = summary.steps
        assert data["valid"][b].sum() == -(-steps // k)
        # Rewards are summed: the total return survives.
        assert data["reward"][b].sum() == pytest.approx(summary.ret, rel=1e-5, abs=1e-6)
        raw_reward = np.zeros(samples * k)
        raw_reward[:steps] = record.reward[:steps, b]
        np.testing.assert_allclose(data["reward"][b], raw_reward.reshape(samples, k).sum(1), atol=1e-6)
        # Averages over the sample's valid steps: k * mean = the pair's sum, so a one-step delta
        # transient is kept at 1/k of its size, never skipped.
        for name in ("delta", "dopamine", "value"):
            raw = np.zeros(samples * k)
            raw[:steps] = getattr(record, name)[:steps, b]
            pairs = raw.reshape(samples, k)
            count = np.maximum(np.minimum(steps - k * np.arange(samples), k), 1)
            np.testing.assert_allclose(data[name][b], pairs.sum(1) / count, rtol=1e-5, atol=1e-6,
                                       err_msg=name)
        np.testing.assert_allclose(data["cortex"][b, 0].astype(np.float32),
                                   record.cortex[:2, b].mean(0), rtol=1e-2, atol=1e-3)
        last = (steps - 1) // k
        assert data["phase"][b, last] == record.phase[steps - 1, b]
        assert np.all(data["phase"][b, last + 1:] == -1)


def test_downsample_keeps_a_synthetic_dopamine_spike(tmp_path):
    """A single-step RPE spike at an odd step is recorded at half its size (k = 2), not dropped."""
    steps, batch = 7, 1
    delta = np.zeros((steps, batch), np.float32)
    delta[3, 0] = 1.0  # second step of sample 1
    record = BatchRecord(
        summaries=[_summary(steps)], valid=np.ones((steps, batch), bool),
        cortex=np.zeros((steps, batch, 4), np.float32), thalamus=np.zeros((steps, batch, 3), np.float32),
        action=np.zeros((steps, batch, 15), np.float32), noise=np.zeros((steps, batch, 15), np.float32),
        mean_action=np.zeros((steps, batch, 15), np.float32), s1=np.zeros((steps, batch, 2), np.float32),
        cue_input=np.zeros((steps, batch, 1), np.float32),
        outcome_input=np.zeros((steps, batch, 1), np.float32),
        neural_noise=np.zeros((steps, batch, 4), np.float32),
        reward=np.arange(steps, dtype=np.float64)[:, None], value=np.zeros((steps, batch), np.float32),
        delta=delta, dopamine=delta * 0.5, phase=np.arange(steps)[:, None])
    recorder = ActivityRecorder(tmp_path, 8, DT, downsample=2)
    recorder.add(record, [1])
    data = load(recorder.finish_session(1))
    np.testing.assert_array_equal(data["delta"][0], [0.0, 0.5, 0.0, 0.0])
    np.testing.assert_array_equal(data["dopamine"][0], [0.0, 0.25, 0.0, 0.0])
    np.testing.assert_array_equal(data["reward"][0], [1.0, 5.0, 9.0, 6.0])  # 0+1, 2+3, 4+5, 6
    np.testing.assert_array_equal(data["phase"][0], [1, 3, 5, 6])  # last phase of each sample
    np.testing.assert_array_equal(data["valid"][0], [True, True, True, True])


def _summary(steps: int) -> TrialSummary:
    return TrialSummary(episode=0, success=False, outcome=3, ret=21.0, success_reward=0.0, steps=steps,
                        events=dict.fromkeys(EVENTS, math.nan), mean_delta=0.0, mean_dopamine=0.0,
                        dopamine_gain=0.5, thalamus_gain=1.0, exploration_std=0.1,
                        lift_before_cue=False, precue_rise=0.0)


def test_resume_at_drops_later_parts_and_merges_complete_sessions(tmp_path, batches, env_max_steps):
    recorder = ActivityRecorder(tmp_path, env_max_steps, DT)
    for episodes, record in batches:
        recorder.add(record, [session_of(e) for e in episodes])
    (tmp_path / "session_02.part_000004.tmp.npz").write_bytes(b"half-written")
    recorder.resume_at(2, TRIALS_PER_SESSION)  # resuming from a checkpoint after 2 trials
    assert [p.name for p in tmp_path.iterdir()] == ["session_01.npz"]
    assert list(load(tmp_path / "session_01.npz")["episode"]) == [0, 1]


def test_resume_at_mid_session_keeps_the_session_open(tmp_path, batches, env_max_steps):
    recorder = ActivityRecorder(tmp_path, env_max_steps, DT)
    for _, record in batches:
        recorder.add(record, [1, 1])  # one session of four trials
    recorder.resume_at(2, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["session_01.part_000000.npz"]
    recorder.add(batches[1][1], [1, 1])  # the re-run trials
    assert list(load(recorder.finish_session(1))["episode"]) == [0, 1, 2, 3]


def test_writes_are_atomic(tmp_path, batches, env_max_steps, monkeypatch):
    recorder = ActivityRecorder(tmp_path, env_max_steps, DT)
    record = batches[0][1]
    recorder.add(record, [1, 1])
    recorder.finish_session(1)
    assert not list(tmp_path.glob("*.tmp.npz"))
    good = (tmp_path / "session_01.npz").read_bytes()

    # A write that dies half-way must leave the previous file untouched under its final name.
    def dying_write(member, array, **options):
        member.write(b"\x93NUMPY half an array")
        raise OSError("disk full")

    recorder.add(record, [1, 1])
    monkeypatch.setattr(np.lib.format, "write_array", dying_write)
    with pytest.raises(OSError, match="disk full"):
        recorder.finish_session(1)
    assert (tmp_path / "session_01.npz").read_bytes() == good


def test_rejects_bad_downsample_and_too_long_trials(tmp_path, batches):
    with pytest.raises(ValueError, match="downsample=0"):
        ActivityRecorder(tmp_path, 40, DT, downsample=0)
    recorder = ActivityRecorder(tmp_path, 10, DT)
    with pytest.raises(ValueError, match="max_steps=10"):
        recorder.add(batches[0][1], [1, 1])


def test_finish_session_merges_three_digit_sessions(tmp_path, batches, env_max_steps):
    recorder = ActivityRecorder(tmp_path, env_max_steps, DT)
    recorder.add(batches[0][1], [100, 100])
    assert recorder.finish_session(100) == tmp_path / "session_100.npz"
    assert [p.name for p in tmp_path.iterdir()] == ["session_100.npz"]
