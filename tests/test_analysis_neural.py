"""Per-session neural metrics (analysis/neural.py) on synthetic runs with planted effects and nulls."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from analysis.neural import (
    METRICS,
    NeuralAnalysisConfig,
    analyse_run,
    cued_reach,
    load_weights,
    threshold_balanced_accuracy,
)

EVENTS = ("cue", "lift", "grab", "at_mouth", "outcome")
CUE = 0.6


@dataclass(frozen=True)
class Plan:
    """What a synthetic run contains (every effect off by default: a null run)."""

    sessions: tuple[int, ...] = (1, 2, 3)
    trials: int = 24
    units: int = 32
    thalamic: int = 8
    dt: float = 0.04
    success_rate: float = 0.5
    drift: float = 0.0  # rate offsets and correlation structure move from naive (first) to expert (last)
    cue_units: int = 0  # units 0..cue_units-1 respond to the cue
    outcome_units: int = 0  # the next outcome_units units fire after successes only
    movement_units: int = 8  # the last units: their rates carry the movement (as does the action)
    thalamus_targets: str = "movement"  # the movement thalamic unit projects onto "movement" or "other" units
    thalamic_lead: float = 0.2  # s: the thalamic movement unit switches on this long before the lift
    lift: bool = True
    lift_at: float | None = None  # every lift at this time (s) instead of 0.75-0.95 s
    silent_thalamus: bool = False
    checkpoints: tuple[int, ...] | None = None  # sessions with a checkpoint at their start (None: all)
    seed: int = 0


def write_session(path: Path, **arrays) -> None:
    """A session file with every key of agents/recording.py (the ones not given filled plausibly)."""
    n, steps = arrays["valid"].shape
    full = dict(
        episode=np.arange(n), success=np.zeros(n, bool), outcome=np.full(n, 3, np.int8),
        steps=arrays["valid"].sum(1).astype(np.int32), dopamine_gain=np.ones(n, np.float32),
        thalamus_gain=np.ones(n, np.float32), event_names=np.array(EVENTS),
        reward=np.zeros((n, steps), np.float32), phase=np.where(arrays["valid"], 1, -1).astype(np.int8),
        noise=np.zeros((n, steps, 15), np.float16), value=np.zeros((n, steps), np.float32),
        delta=np.zeros((n, steps), np.float32), dopamine=np.zeros((n, steps), np.float32))
    full.update(arrays)
    for name in ("cortex", "thalamus", "action"):
        full[name] = np.asarray(full[name], np.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **full)


def write_checkpoint(path: Path, thalamocortical: np.ndarray, recurrent: np.ndarray, dale: bool = False,
                     sign: np.ndarray | None = None) -> None:
    import torch

    n = recurrent.shape[0]
    mask = np.ones((n, n)) - np.eye(n)
    cortex = {"thalamocortical": torch.tensor(thalamocortical, dtype=torch.float32),
              "recurrent": torch.tensor(recurrent, dtype=torch.float32),
              "mask": torch.tensor(mask, dtype=torch.float32),
              "sign": torch.ones(n) if sign is None else torch.tensor(sign, dtype=torch.float32),
              "bias": torch.zeros(n), "readout": torch.zeros(15, n)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"cortex": cortex, "config": {"agent": {"dale": dale}}}, path)


def make_run(root: Path, plan: Plan = Plan()) -> Path:  # noqa: B008 - frozen dataclass
    """A run folder: sessions, and checkpoints whose weights match the planted thalamic effects."""
    rng = np.random.default_rng(plan.seed)
    n, units, m = plan.trials, plan.units, plan.thalamic
    steps = int(round(2.5 / plan.dt))
    time = np.arange(1, steps + 1) * plan.dt
    mid = time - plan.dt / 2
    movers = np.arange(units - plan.movement_units, units)  # after the cue and outcome units
    # thalamic unit 0 carries the movement; it projects onto the movement units (or onto others)
    w_tc = 0.05 * rng.standard_normal((units, m))
    targets = movers if plan.thalamus_targets == "movement" else movers - plan.movement_units
    w_tc[:, 0] = 0.0
    w_tc[targets, 0] = 1.0
    w_rec = rng.standard_normal((units, units)) / math.sqrt(units)
    w_rec[:, movers] = 0.0  # the recurrent input carries no movement signal
    loadings = [rng.standard_normal((units, 3)), rng.standard_normal((units, 3))]
    offsets = rng.standard_normal(units)
    first, last = plan.sessions[0], plan.sessions[-1]
    for session in plan.sessions:
        progress = plan.drift * (session - first) / max(last - first, 1)
        success = rng.random(n) < plan.success_rate
        outcome = np.where(success, 1.3 + 0.3 * rng.random(n), 2.1)
        lift = 0.75 + 0.2 * rng.random(n) if plan.lift else np.full(n, np.nan)
        if plan.lift_at is not None:
            lift = np.full(n, plan.lift_at)
        events = np.stack([np.full(n, CUE), lift, np.where(success, 1.0, np.nan),
                           np.where(success, outcome, np.nan), outcome], 1)
        valid = (time[None, :] - plan.dt) < (outcome[:, None] + 0.4 - 1e-9)
        moving = (mid[None, :] >= lift[:, None] - plan.thalamic_lead) & (mid[None, :] < outcome[:, None])
        movement = moving * (1.0 + 0.2 * rng.standard_normal((n, 1)))  # the motor command's time course
        thalamus = 0.1 * np.abs(rng.standard_normal((n, steps, m)))
        thalamus[:, :, 0] = movement
        if plan.silent_thalamus:
            thalamus[:] = 0.0
        loading = (1 - progress) * loadings[0] + progress * loadings[1]
        latent = rng.standard_normal((n, steps, 3)) @ loading.T
        cortex = 0.3 * rng.standard_normal((n, steps, units)) + 0.15 * latent
        cortex += 0.1 * progress * offsets
        cortex[:, :, movers] += 0.6 * movement[:, :, None]
        cue_window = (mid >= CUE) & (mid < CUE + 0.3)
        cortex[:, cue_window, :plan.cue_units] += 0.8
        post = (mid[None, :] >= outcome[:, None]) & success[:, None]
        coders = slice(plan.cue_units, plan.cue_units + plan.outcome_units)
        cortex[:, :, coders] += 0.8 * post[:, :, None]
        action = 0.2 + 0.5 * movement[:, :, None] * rng.uniform(0.5, 1.0, 15) + 0.05 * rng.standard_normal(
            (n, steps, 15))
        inside = valid[..., None]
        write_session(root / "activity" / f"session_{session:02d}.npz",
                      cortex=np.where(inside, np.tanh(cortex), 0), thalamus=thalamus * inside,
                      action=action * inside, valid=valid, time=time, event_times=events,
                      success=success, outcome=np.where(success, 1, 3).astype(np.int8),
                      episode=(session - 1) * n + np.arange(n),
                      thalamus_gain=np.full(n, 0.0 if plan.silent_thalamus else 1.0))
        if plan.checkpoints is None or session in plan.checkpoints:
            write_checkpoint(root / "checkpoints" / f"episode_{(session - 1) * n:06d}.pt", w_tc, w_rec)
    return root


FAST = NeuralAnalysisConfig(n_units_correlation=12, n_shuffles=100, cv_folds=4)


def by_session(result, metric: str) -> dict[int, float]:
    return {row["session"]: row[metric] for row in result.sessions}


# --- configuration --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("n_units_correlation", 1), ("window_s", 0.0), ("alpha", 1.5),
                                             ("movement_quantile", 0.0), ("n_shuffles", 3), ("cv_folds", 1),
                                             ("ridge_alphas", ()), ("shrinkage", 1.0),
                                             ("riemann_tol", -1e-6)])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        replace(NeuralAnalysisConfig(), **{field: value})


# --- the threshold classifier behind indicative units --------------------------------------------------


def test_threshold_accuracy_is_perfect_for_a_separating_unit_of_either_sign_and_chance_for_noise():
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2 == 0
    x = np.stack([labels + 0.1 * rng.standard_normal(40), -(labels + 0.1 * rng.standard_normal(40)),
                  np.ones(40)], 1)
    accuracy = threshold_balanced_accuracy(x, labels[None], 5, rng)
    np.testing.assert_allclose(accuracy[0], [1.0, 1.0, 0.5])  # a constant unit always calls one class


def test_indicative_null_gives_chance_level_about_five_percent():
    rng = np.random.default_rng(1)
    trials, units, shuffles = 40, 400, 200
    labels = np.arange(trials) % 3 == 0
    x = rng.standard_normal((trials, units))
    rows = np.concatenate([labels[None], labels[np.argsort(rng.random((shuffles, trials)), 1)]])
    accuracy = threshold_balanced_accuracy(x, rows, 5, rng)
    fraction = np.mean(accuracy[0] > np.percentile(accuracy[1:], 95, axis=0))
    assert 0.0 < fraction < 0.1


# --- whole runs -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Drift naive -> expert, cue units, success-coding units, thalamus driving movement units early."""
    plan = Plan(sessions=(1, 2, 3, 4), drift=1.0, cue_units=8, outcome_units=8, units=40, movement_units=10,
                trials=24)
    run = make_run(tmp_path_factory.mktemp("planted"), plan)
    return plan, analyse_run(run, seed=3, config=FAST)


def test_every_metric_is_reported_for_every_session(planted):
    plan, result = planted
    assert [row["session"] for row in result.sessions] == list(plan.sessions)
    for row in result.sessions:
        assert set(row) == {"session", *METRICS}
        assert all(isinstance(v, float) for k, v in row.items() if k != "session")
    assert result.first_session == 1 and result.reference_session == 4
    k = len(result.embedding["session"])
    assert k == plan.trials * len(plan.sessions)
    assert result.embedding["coords"].shape == (k, 3) and result.embedding["success"].shape == (k,)


def test_activity_is_stable_under_drift(planted):
    _, result = planted
    activity = by_session(result, "mean_activity")
    assert max(activity.values()) / min(activity.values()) < 1.2


def test_planted_drift_converges_toward_the_expert_configuration(planted):
    _, result = planted
    distance = by_session(result, "distance_to_expert")
    assert distance[4] == pytest.approx(0.0, abs=1e-8)
    assert distance[1] > distance[2] > distance[3] > distance[4]
    from_first = by_session(result, "distance_to_first")
    assert from_first[1] == pytest.approx(0.0, abs=1e-8) and from_first[4] > from_first[2]
    p = by_session(result, "p_expert")
    assert p[1] < 0.3 and p[4] > 0.7 and p[1] < p[2] < p[4]
    diffusion = by_session(result, "diffusion_1")
    assert diffusion[4] > 0  # the documented sign: the reference session's mean is positive
    assert diffusion[1] < diffusion[2] < diffusion[3] < diffusion[4]  # the slowest mode follows the drift


def test_planted_cue_and_outcome_units_are_found(planted):
    plan, result = planted
    for row in result.sessions:
        planted_fraction = plan.outcome_units / plan.units
        # every coding unit found (at most one missed), few others (chance is about 5 %)
        assert planted_fraction - 1 / plan.units <= row["indicative_fraction"] <= planted_fraction + 0.1
        assert row["indicative_fraction_shuffled"] < 0.15
        # the cue units, and the movement units switching on around the cue window
        assert row["cue_responsive_fraction"] >= plan.cue_units / plan.units
        assert row["outcome_responsive_fraction"] >= plan.outcome_units / plan.units
        cue, outcome = row["cue_responsive_fraction"], row["outcome_responsive_fraction"]
        assert row["cue_outcome_index"] == pytest.approx((outcome - cue) / (outcome + cue))


def test_cue_only_coding_gives_index_minus_one_and_no_indicative_units(tmp_path):
    plan = Plan(sessions=(1, 2), cue_units=12, movement_units=0, lift=False, units=32)
    result = analyse_run(make_run(tmp_path, plan), seed=0, config=FAST)
    for row in result.sessions:
        assert row["cue_responsive_fraction"] == pytest.approx(12 / 32, abs=1 / 32)
        assert row["cue_outcome_index"] < -0.8
        assert row["indicative_fraction"] < 0.15


def test_planted_thalamic_drive_onto_movement_units(planted):
    plan, result = planted
    for row in result.sessions:
        assert row["th_movement_overlap"] == pytest.approx(1.0)
        assert row["th_movement_r2"] > 0.6 and row["rec_movement_r2"] < 0.2
        assert row["th_input_lead_s"] == pytest.approx(plan.thalamic_lead, abs=plan.dt)


def test_a_reach_counts_only_when_the_lift_follows_the_cue():
    lift = np.array([0.7, 0.6, 0.5, np.nan, 0.7])
    cue = np.array([0.6, 0.6, 0.6, 0.6, np.nan])
    np.testing.assert_array_equal(cued_reach(lift, cue), [True, False, False, False, False])


@pytest.mark.parametrize("lift_at", [CUE, CUE - 0.1])
def test_thalamic_lead_leaves_out_lifts_at_or_before_the_cue(tmp_path, lift_at):
    # Every lift at or before the cue onset (pre-cue lifts): no reach to align on, though the drive is there.
    plan = Plan(sessions=(1, 2), lift_at=lift_at)
    for row in analyse_run(make_run(tmp_path, plan), seed=0, config=FAST).sessions:
        assert math.isnan(row["th_input_lead_s"]) and row["th_movement_overlap"] == pytest.approx(1.0)
    cued = analyse_run(make_run(tmp_path / "cued", replace(plan, lift_at=CUE + 0.2)), seed=0, config=FAST)
    assert all(np.isfinite(row["th_input_lead_s"]) for row in cued.sessions)


def test_null_run_gives_chance_levels(tmp_path):
    plan = Plan(sessions=(1, 2), thalamus_targets="other", units=40, movement_units=10, trials=32, seed=5)
    result = analyse_run(make_run(tmp_path, plan), seed=0, config=FAST)
    for row in result.sessions:
        assert abs(row["p_expert"] - 0.5) < 0.2  # same distribution in both sessions
        assert row["indicative_fraction"] < 0.15
        assert row["th_movement_overlap"] == pytest.approx(0.0)  # thalamus drives only non-movement units


def test_degenerate_sessions_give_nan_not_errors(tmp_path):
    plan = Plan(sessions=(8, 9), success_rate=1.0, lift=False, silent_thalamus=True, checkpoints=(8,))
    result = analyse_run(make_run(tmp_path, plan), seed=0, config=FAST)
    assert result.first_session == 8 and result.reference_session == 9
    for row in result.sessions:
        assert math.isnan(row["indicative_fraction"]) and math.isnan(row["indicative_fraction_shuffled"])
        assert math.isnan(row["th_movement_overlap"]) and math.isnan(row["th_input_lead_s"])
        assert row["th_movement_r2"] < 0.05  # a silent input predicts nothing
        assert np.isfinite(row["distance_to_expert"]) and np.isfinite(row["p_expert"])
    # session 9 has no checkpoint of its own and takes session 8's (the latest earlier one)
    assert np.isfinite(result.sessions[1]["rec_movement_r2"])


def test_missing_checkpoints_and_unrecorded_reference(tmp_path):
    run = make_run(tmp_path, Plan(sessions=(2, 3), checkpoints=(3,)))
    result = analyse_run(run, seed=0, reference_session=2, config=FAST)
    assert result.reference_session == 2
    no_checkpoint, own_checkpoint = result.sessions
    assert math.isnan(no_checkpoint["rec_movement_r2"]) and np.isfinite(own_checkpoint["rec_movement_r2"])
    assert result.sessions[0]["distance_to_expert"] == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="reference session 7"):
        analyse_run(run, seed=0, reference_session=7, config=FAST)


def test_analysis_is_deterministic_given_the_seed(tmp_path):
    run = make_run(tmp_path, Plan(sessions=(1, 2), outcome_units=4))
    a, b = (analyse_run(run, seed=11, config=FAST) for _ in range(2))
    np.testing.assert_equal(a.sessions, b.sessions)  # NaN-aware
    np.testing.assert_array_equal(a.embedding["coords"], b.embedding["coords"])


def test_checkpoint_weights_follow_the_mask_and_dales_law(tmp_path):
    rng = np.random.default_rng(0)
    w_tc, recurrent = rng.standard_normal((4, 3)), rng.standard_normal((4, 4))
    sign = np.array([1.0, 1.0, 1.0, -1.0])
    write_checkpoint(tmp_path / "plain.pt", w_tc, recurrent)
    write_checkpoint(tmp_path / "dale.pt", w_tc, recurrent, dale=True, sign=sign)
    mask = 1.0 - np.eye(4)
    thalamocortical, plain = load_weights(tmp_path / "plain.pt")
    np.testing.assert_allclose(thalamocortical, w_tc, rtol=1e-6)
    np.testing.assert_allclose(plain, recurrent * mask, rtol=1e-6)
    _, dale = load_weights(tmp_path / "dale.pt")
    np.testing.assert_allclose(dale, np.maximum(recurrent, 0) * mask * sign[None, :], rtol=1e-6)
    assert np.all(dale[:, 3] <= 0) and np.all(dale[:, :3] >= 0)
