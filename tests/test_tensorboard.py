"""TensorBoard as a user sees it, and the TD error at events.

The slow test serves two finished tiny runs, laid out as an ablation's (``runs/<condition>/seed_SS``), with
TensorBoard on 127.0.0.1 and reads over HTTP what its dashboards would show: the runs' names, the tags,
their steps, the images and the HParams tab. The fast ones check ``episodes.csv``'s ``rpe_cue`` /
``rpe_outcome`` (:func:`training.event_rpe.event_rpe`) on hand-made TD errors and against the env's
timing, the folder layout and the hparams.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from small_setups import SHORT_TRIAL, tiny_config
from torch.utils.tensorboard import SummaryWriter

from analysis import run_format
from analysis.run_format import read_rows, shaping_tensorboard_dir, tensorboard_dir
from reach_env import MousePelletReachEnv
from training.event_rpe import RPE_WINDOW, aligned_delta, event_row, event_rpe, trial_rpe
from training.train import HPARAM_METRICS, Trainer, _holds_hparams, hparams_of

DT = 0.02

# --- the TD error at events ------------------------------------------------------------------------------


def test_event_rpe_sums_the_steps_from_the_event_on():
    """Rows k-1 .. k+3 for an event at k steps (0.1 s at 20 ms), within the trial; NaN without the event."""
    delta = np.arange(1, 37, dtype=np.float32).reshape(12, 3)  # delta[t, b] = 3t + b + 1
    valid = np.ones((12, 3), bool)
    valid[11:, 2] = False  # trial 2 ended after 11 steps
    times = np.array([3 * DT, math.nan, 10 * DT])
    rpe = event_rpe(delta, valid, times, DT)
    assert RPE_WINDOW == 0.1
    assert rpe[0] == sum(3 * t + 1 for t in range(2, 7))
    assert math.isnan(rpe[1])
    assert rpe[2] == sum(3 * t + 3 for t in (9, 10))  # the trial's steps only
    assert event_rpe(delta, valid, times, DT, window=DT)[0] == delta[2, 0]
    assert rpe.dtype == np.float64


def test_trial_rpe_reads_a_batch_record():
    delta = np.zeros((30, 2), np.float32)
    delta[9, 0], delta[13, 0], delta[14, 0] = 0.5, 0.25, 7.0  # cue at 0.2 s (row 9), 14 is past the window
    delta[19, 1], delta[20, 1] = -1.0, 0.5  # trial 1: outcome at 0.4 s (row 19), no cue
    summaries = [SimpleNamespace(events={"cue": 0.2, "outcome": math.nan}),
                 SimpleNamespace(events={"cue": math.nan, "outcome": 0.4})]
    record = SimpleNamespace(delta=delta, valid=np.ones((30, 2), bool), summaries=summaries)
    rpe = trial_rpe(record, DT)
    assert rpe["cue"][0] == pytest.approx(0.75) and math.isnan(rpe["cue"][1])
    assert math.isnan(rpe["outcome"][0]) and rpe["outcome"][1] == pytest.approx(-0.5)


def test_aligned_delta_puts_the_event_row_at_zero():
    delta = np.arange(20, dtype=np.float32)[:, None].repeat(2, 1)
    valid = np.ones((20, 2), bool)
    valid[15:, 1] = False
    offsets, sums, counts = aligned_delta(delta, valid, np.array([5 * DT, 10 * DT]), DT, span=(-0.1, 0.2))
    assert offsets == pytest.approx(np.arange(-5, 11) * DT)
    # trial 0's event row is 4, trial 1's 9; rows before 0 and trial 1's rows from 15 on count nothing
    assert counts.tolist() == [1] + [2] * 10 + [1] * 5
    assert sums[5] == 4 + 9 and sums[0] == 9 - 5 and sums[-1] == 4 + 10
    # rpe_* is the sum over the first RPE_WINDOW of offsets
    window = (offsets >= 0) & (offsets < RPE_WINDOW - 1e-9)
    assert sums[window].sum() == pytest.approx(event_rpe(delta, valid, np.array([5 * DT, 10 * DT]), DT).sum())


def test_event_row_is_the_step_whose_td_error_sees_the_event():
    """In the env, the cue and outcome events are stamped with the end of the step they happen in: row
    k - 1 is the first whose next state has the tone on and whose info holds the outcome."""
    env = MousePelletReachEnv(**SHORT_TRIAL)
    try:
        env.reset(seed=3)
        infos, done = [], False
        while not done:
            _, _, terminated, truncated, info = env.step(np.zeros(env.action_space.shape))
            infos.append(info)
            done = terminated or truncated
        events = infos[-1]["events"]
        tone_rows = [t for t in range(len(infos)) if env.tone_on(t + 1)]
        outcome_rows = [t for t, info in enumerate(infos) if info["events"]["outcome"] is not None]
        assert tone_rows[0] == event_row(events["cue"], env.control_timestep)
        assert outcome_rows[0] == event_row(events["outcome"], env.control_timestep)
    finally:
        env.close()


# --- layout and hparams --------------------------------------------------------------------------------


def test_tensorboard_dir_names_the_run_and_keeps_an_old_layout(tmp_path):
    run = tmp_path / "runs" / "intact" / "seed_03"
    assert run_format.run_name(run) == "seed_03"
    assert tensorboard_dir(run) == run / "tb" / "seed_03"
    assert shaping_tensorboard_dir(run) == run / "tb" / "seed_03" / "shaping"
    legacy = tmp_path / "legacy"
    (legacy / "tb").mkdir(parents=True)
    (legacy / "tb" / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    assert tensorboard_dir(legacy) == legacy / "tb"  # a run written before: resuming goes on there


def test_hparams_of_tells_conditions_apart(tmp_path):
    intact = hparams_of(tiny_config(tmp_path / "a"))
    partial = hparams_of(tiny_config(tmp_path / "b", protocol={"da_block": "2-2:0.5", "thalamus_block": "1"}))
    assert intact["da_block"] == "none" and intact["da_block_gain"] == 1.0
    assert partial["da_block"] == "2-2:0.5" and partial["da_block_gain"] == 0.5
    assert partial["thalamus_block"] == "1" and partial["thalamus_block_gain"] == 0.0
    for key in ("seed", "circuit", "env_id", "sessions", "trials_per_session", "policy_lr",
                "exploration_std"):
        assert key in intact
    assert all(isinstance(v, (int, float, str, bool)) for v in intact.values())


def test_holds_hparams(tmp_path):
    from torch.utils.tensorboard.summary import hparams

    with SummaryWriter(str(tmp_path / "plain")) as writer:
        writer.add_scalar("a", 1.0, 0)
    assert not _holds_hparams(tmp_path / "plain")
    with SummaryWriter(str(tmp_path / "with")) as writer:
        for summary in hparams({"seed": 0}, dict.fromkeys(HPARAM_METRICS, 0.0)):
            writer.file_writer.add_summary(summary, 0)
    assert _holds_hparams(tmp_path / "with")


# --- a run, served -------------------------------------------------------------------------------------

#: Two runs of an ablation-like folder: (condition, protocol overrides).
CONDITIONS = {"intact": {}, "block": {"da_block": "2"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, body: dict | None = None):
    """GET ``url`` (POST ``body`` as JSON, as the HParams tab does) and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _series(base: str, plugin: str, run: str, tag: str) -> list:
    """A tag's samples as a dashboard fetches them (scalars: ``[wall time, step, value]``)."""
    route = {"scalars": "scalars/scalars", "images": "images/images"}[plugin]
    return _get(f"{base}/data/plugin/{route}?{urllib.parse.urlencode({'run': run, 'tag': tag})}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """``runs/<condition>/seed_00`` for :data:`CONDITIONS`, each a finished tiny run."""
    root = tmp_path_factory.mktemp("ablation") / "runs"
    for condition, protocol in CONDITIONS.items():
        Trainer(tiny_config(root / condition / "seed_00", protocol=protocol)).train(progress=False)
    return root


@pytest.fixture(scope="module")
def served(runs):
    """TensorBoard serving ``runs`` on 127.0.0.1: its base URL, once every run is loaded."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(runs),
                               "--host", "127.0.0.1", "--port", str(port), "--load_fast", "false",
                               "--reload_interval", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"TensorBoard exited: {server.stderr.read().decode()[-2000:]}")
            try:
                if len(_get(f"{base}/data/plugin/scalars/tags")) == 2 * len(CONDITIONS):
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("TensorBoard did not serve the runs within 120 s")
            time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()


NEW_SCALARS = ("dopamine/rpe_at_cue", "dopamine/rpe_at_outcome", "behaviour/exploration_std",
               "behaviour/exploration_success_average", "manipulation/dopamine_gain",
               "manipulation/thalamus_gain", "plasticity/update_norm_cortex",
               "plasticity/update_norm_readout", "plasticity/update_norm_bias",
               "behaviour/success_rate_session", "eval/success_noise_off", "eval/success_noise_on")
OLD_SCALARS = ("dopamine/delta_mean", "dopamine/dopamine_mean", "dopamine/gain", "behaviour/thalamus_on",
               "exploration/std", "plasticity/update_norm", "plasticity/readout", "plasticity/bias")


@pytest.mark.slow  # two tiny runs (~4 s each) and a TensorBoard server (~5 s to start)
def test_tensorboard_serves_named_runs_on_one_step_axis(runs, served):
    names = {c: f"{c}/seed_00/tb/seed_00" for c in CONDITIONS}
    assert sorted(_get(f"{served}/data/runs")) == sorted([*names.values(),
                                                          *(f"{n}/shaping" for n in names.values())])
    scalars = _get(f"{served}/data/plugin/scalars/tags")
    trials = 8  # 2 sessions of 4
    for condition, name in names.items():
        tags = scalars[name]
        assert set(NEW_SCALARS) <= set(tags), sorted(tags)
        assert not set(OLD_SCALARS) & set(tags)
        assert not any(t.startswith("pretraining/") for t in tags)
        for tag in tags:  # every tag at trials completed
            steps = [step for _, step, _ in _series(served, "scalars", name, tag)]
            assert set(steps) <= set(range(trials + 1)), (tag, steps)
        sessions = _series(served, "scalars", name, "behaviour/success_rate_session")
        assert [step for _, step, _ in sessions] == [4, 8]  # a session's value at its last trial
        gains = _series(served, "scalars", name, "manipulation/dopamine_gain")
        assert [value for _, _, value in gains] == ([1.0] * 4 if condition == "intact" else [1, 1, 0, 0])
        # the shaping is a run of its own, at the cloning update
        loss = _series(served, "scalars", f"{name}/shaping", "pretraining/behaviour_cloning_loss")
        assert [step for _, step, _ in loss] == [1, 2]  # TINY_RUN clones for 2 updates
        images = _get(f"{served}/data/plugin/images/tags")[name]
        assert "dopamine/rpe_aligned" in images
        assert [f["step"] for f in _series(served, "images", name, "dopamine/rpe_aligned")] == [4, 8]
        histograms = _get(f"{served}/data/plugin/histograms/tags")[name]
        assert "dopamine/delta" in histograms


@pytest.mark.slow  # shares the runs and the server of the test above
def test_hparams_tab_compares_the_runs(runs, served):
    experiment = _get(f"{served}/data/plugin/hparams/experiment", {"experimentName": ""})
    infos = {h["name"]: h for h in experiment["hparamInfos"]}
    assert {"seed", "da_block", "da_block_gain", "thalamus_block", "circuit", "env_id", "sessions",
            "trials_per_session", "policy_lr", "exploration_std"} <= set(infos)
    assert {m["name"]["tag"] for m in experiment["metricInfos"]} == set(HPARAM_METRICS)
    groups = _get(f"{served}/data/plugin/hparams/session_groups",
                  {"experimentName": "", "startIndex": 0, "sliceSize": 10, "colParams": [],
                   "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                       "STATUS_RUNNING"]})["sessionGroups"]
    by_block = {g["hparams"]["da_block"]: g for g in groups}
    assert set(by_block) == {"none", "2"}
    assert by_block["2"]["hparams"]["da_block_gain"] == 0.0
    for condition, block in (("intact", "none"), ("block", "2")):
        group = by_block[block]
        assert [s["name"] for s in group["sessions"]] == [f"{condition}/seed_00/tb/seed_00"]
        final = {m["name"]["tag"]: m for m in group["metricValues"]}
        assert set(final) == set(HPARAM_METRICS)
        assert all(m["trainingStep"] == 8 for m in final.values())
        evaluation = read_rows(runs / condition / "seed_00" / "evaluation.csv")
        off = [float(r["success"]) for r in evaluation if r["noise"] == "off"]
        assert final["eval/success_noise_off"]["value"] == pytest.approx(off[-1])


# --- episodes.csv and the scalars agree -----------------------------------------------------------------


@pytest.mark.slow  # shares the runs above
def test_rpe_columns_and_scalars(runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = runs / "intact" / "seed_00"
    rows = read_rows(out / run_format.EPISODES_FILE)
    for event in ("cue", "outcome"):
        for r in rows:  # empty exactly where the trial had no such event
            assert (r[f"rpe_{event}"] == "") == (r[f"{event}_time"] == "")
        acc = EventAccumulator(str(tensorboard_dir(out)), size_guidance={"scalars": 0})
        acc.Reload()
        logged = {e.step: e.value for e in acc.Scalars(f"dopamine/rpe_at_{event}")}
        for step, value in logged.items():  # the mean over the batch (2 trials) ending there
            cells = [float(r[f"rpe_{event}"]) for r in rows[step - 2:step] if r[f"rpe_{event}"]]
            assert value == pytest.approx(np.mean(cells), rel=1e-5, abs=1e-6)


def test_resuming_a_run_of_the_old_layout(tmp_path, monkeypatch):
    """A run folder written before runs were named (events directly in tb/) resumes there, and gets the
    HParams tab's summaries it lacked."""
    out = tmp_path / "old"
    with monkeypatch.context() as old:  # what an earlier version wrote: events in tb/, no hparams
        old.setattr(run_format, "tensorboard_dir", lambda run_dir: Path(run_dir) / "tb")
        old.setattr("training.train._holds_hparams", lambda folder: True)
        Trainer(tiny_config(out, protocol={"sessions": 1})).train(progress=False)
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 1
    assert not _holds_hparams(out / "tb")
    Trainer(tiny_config(out, protocol={"sessions": 2}), resume=True).train(progress=False)
    assert tensorboard_dir(out) == out / "tb"
    assert not (out / "tb" / "old").exists()
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 2
    assert _holds_hparams(out / "tb")
