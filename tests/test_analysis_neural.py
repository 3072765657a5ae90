"""The per-session neural metrics of a run (analysis/neural.py): configuration, the whole run's table,
the correlation geometry and expert classifier, the input-current analyses of circuit v1, and runs of
either recording format. The other analyses have their own test files (tests/test_analysis_*.py)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from synthetic_runs import CUE, Plan, make_run

from analysis import activity, currents, geometry, indicative, inputs, probe, responses
from analysis.lead import half_peak_lead
from analysis.neural import METRICS, NeuralAnalysisConfig, analyse_run, cued_reach
from analysis.sessions import load_session

FAST = NeuralAnalysisConfig(n_units_correlation=12, n_shuffles=100, cv_folds=4)


def by_session(result, metric: str) -> dict[int, float]:
    return {row["session"]: row[metric] for row in result.sessions}


def command_lead(root, session: int) -> float:
    """The half-peak lead of the command's mean over muscles itself (before the lift, s)."""
    s = load_session(root / "activity" / f"session_{session:02d}.npz", session)
    return half_peak_lead(s.target.mean(2), s, FAST.lift_window_s)


# --- configuration and the metric table -----------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("n_units_correlation", 1), ("window_s", 0.0), ("fdr_q", 1.5),
                                             ("movement_quantile", 0.0), ("n_shuffles", 3), ("cv_folds", 1),
                                             ("ridge_alphas", ()), ("shrinkage", 1.0),
                                             ("riemann_tol", -1e-6), ("saturation", 1.0),
                                             ("indicative_window_s", 0.0), ("probe_window_s", -0.1),
                                             ("probe_min_response", -0.01), ("command_variance", 0.0),
                                             ("min_lead_r2", 1.0), ("min_response", -0.01),
                                             ("min_response", math.inf), ("min_movement_r2", 1.0),
                                             ("min_movement_r2", -0.1)])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        NeuralAnalysisConfig(**{field: value})


def test_every_analysis_module_reports_exactly_the_metrics_of_the_table():
    produced = [*activity_keys(), *geometry.KEYS, "p_expert", *indicative.KEYS, *responses.KEYS, *inputs.KEYS,
                *currents.KEYS, *probe.KEYS]
    assert sorted(produced) == sorted(METRICS) and len(set(produced)) == len(produced)
    assert all(isinstance(text, str) and text.endswith(".") for text in METRICS.values())


def activity_keys() -> tuple[str, ...]:
    return tuple(activity.activity_metrics(np.zeros((1, 3, 2), np.float32), np.ones((1, 3), bool), 0.95))


# --- whole runs -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Drift naive -> expert, cue / outcome / indicative units, thalamus driving movement units early."""
    plan = Plan(sessions=(1, 2, 3, 4), drift=1.0, cue_units=6, outcome_units=6, indicative_units=6, units=40,
                movement_units=10, trials=24, probe_excited=(0.25, 0.25))
    root = make_run(tmp_path_factory.mktemp("planted"), plan)
    return plan, root, analyse_run(root, seed=3, config=FAST)


def test_every_metric_is_reported_for_every_session(planted):
    plan, _, result = planted
    assert [row["session"] for row in result.sessions] == list(plan.sessions)
    for row in result.sessions:
        assert set(row) == {"session", *METRICS}
        assert all(isinstance(v, float) and np.isfinite(v) for k, v in row.items() if k != "session"), row
    assert result.first_session == 1 and result.reference_session == 4
    k = len(result.embedding["session"])
    assert k == plan.trials * len(plan.sessions)
    assert result.embedding["coords"].shape == (k, 3) and result.embedding["success"].shape == (k,)


def test_activity_is_stable_under_drift(planted):
    _, _, result = planted
    activity_ = by_session(result, "mean_activity")
    assert max(activity_.values()) / min(activity_.values()) < 1.2


def test_planted_drift_converges_toward_the_expert_configuration(planted):
    _, _, result = planted
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


def test_planted_unit_groups_are_found_in_the_run(planted):
    plan, _, result = planted
    for row in result.sessions:
        assert row["indicative_fraction"] == pytest.approx(6 / 40, abs=1.01 / 40)
        assert row["indicative_fraction_post"] == pytest.approx(6 / 40, abs=1.01 / 40)  # the outcome units
        assert row["cue_responsive_fraction"] >= 6 / 40
        cue, outcome = row["cue_responsive_fraction"], row["outcome_responsive_fraction"]
        assert row["cue_outcome_index"] == pytest.approx((outcome - cue) / (outcome + cue))
        assert row["th_excited_fraction"] == pytest.approx(0.25, abs=1.01 / 40)


def test_planted_thalamic_drive_onto_movement_units(tmp_path):
    # The movement-carrying thalamic unit projects onto the 10 movement units (a quarter of 40: the
    # quantile of th_movement_overlap), the recurrent input carries no movement.
    plan = Plan(sessions=(1, 2), units=40, movement_units=10, probe=False)
    root = make_run(tmp_path, plan)
    for row in analyse_run(root, seed=0, config=FAST).sessions:
        assert row["th_movement_overlap"] == pytest.approx(1.0)
        assert row["th_movement_r2"] > 0.3 and row["rec_movement_r2"] < 0.05
        lead = row["th_input_lead_s"] - command_lead(root, row["session"])
        assert lead == pytest.approx(plan.thalamic_lead, abs=plan.dt / 2)


def test_a_reach_counts_only_when_the_lift_follows_the_cue():
    lift = np.array([0.7, 0.6, 0.5, np.nan, 0.7])
    cue = np.array([0.6, 0.6, 0.6, 0.6, np.nan])
    np.testing.assert_array_equal(cued_reach(lift, cue), [True, False, False, False, False])


@pytest.mark.parametrize("lift_at", [CUE, CUE - 0.1])
def test_leads_leave_out_lifts_at_or_before_the_cue(tmp_path, lift_at):
    # Every lift at or before the cue onset (pre-cue lifts): no reach to align on, though the drive is there.
    plan = Plan(sessions=(1,), lift_at=lift_at, movement_units=8, probe=False)
    for row in analyse_run(make_run(tmp_path, plan), seed=0, config=FAST).sessions:
        for key in ("th_input_lead_s", "input_lead_thalamus_s", "input_lead_s1_s"):
            assert math.isnan(row[key]), key
        assert row["th_movement_overlap"] == pytest.approx(1.0)
    cued = analyse_run(make_run(tmp_path / "cued", replace(plan, lift_at=CUE + 0.2)), seed=0, config=FAST)
    assert all(np.isfinite(row["th_input_lead_s"]) for row in cued.sessions)


def test_a_frozen_network_gives_chance_levels_and_no_change(tmp_path):
    plan = Plan(sessions=(1, 2), thalamus_targets="other", units=40, movement_units=10, trials=32, seed=5)
    result = analyse_run(make_run(tmp_path, plan), seed=0, config=FAST)
    for row in result.sessions:
        assert abs(row["p_expert"] - 0.5) < 0.2  # same distribution in both sessions
        assert row["indicative_fraction"] <= 1 / 40 and row["th_excited_fraction"] <= 1 / 40
        assert row["th_movement_overlap"] == pytest.approx(0.0)  # thalamus drives only non-movement units
    for key in ("mean_activity", "correlation_sd", "input_r2_thalamus", "movement_unit_fraction"):
        first, second = by_session(result, key).values()
        assert abs(first - second) < 0.05, key


def test_degenerate_sessions_give_nan_not_errors(tmp_path):
    plan = Plan(sessions=(8, 9), success_rate=1.0, lift=False, silent_thalamus=True, checkpoints=(8,))
    result = analyse_run(make_run(tmp_path, plan), seed=0, config=FAST)
    assert result.first_session == 8 and result.reference_session == 9
    for row in result.sessions:
        assert math.isnan(row["indicative_fraction"]) and math.isnan(row["indicative_fraction_shuffled"])
        assert math.isnan(row["th_movement_overlap"]) and math.isnan(row["th_input_lead_s"])
        assert math.isnan(row["input_lead_thalamus_s"])
        # a silent input predicts nothing
        assert row["th_movement_r2"] < 0.05 and row["input_r2_thalamus"] < 0.05
        assert np.isfinite(row["distance_to_expert"]) and np.isfinite(row["p_expert"])
    # session 9 has no checkpoint of its own and takes session 8's (the latest earlier one)
    assert np.isfinite(result.sessions[1]["rec_movement_r2"])


def test_a_v1_run_gives_nan_for_what_it_did_not_record(tmp_path):
    result = analyse_run(make_run(tmp_path, Plan(sessions=(1, 2), v2=False, movement_units=6)), seed=0,
                         config=FAST)
    v2_only = {"input_r2_s1", "input_r2_cue", "input_lead_s1_s", "th_excited_fraction",
               "th_movement_given_excited", "th_excited_given_nonmovement"}
    for row in result.sessions:
        assert all(math.isnan(row[k]) for k in v2_only)
        # the rest still runs, on the noisy action as the target
        assert np.isfinite(row["input_r2_thalamus"]) and np.isfinite(row["movement_unit_fraction"])
        assert np.isfinite(row["th_movement_r2"]) and np.isfinite(row["correlation_sd"])


def test_missing_checkpoints_and_unrecorded_reference(tmp_path):
    run = make_run(tmp_path, Plan(sessions=(2, 3), checkpoints=(3,)))
    result = analyse_run(run, seed=0, reference_session=2, config=FAST)
    assert result.reference_session == 2
    no_checkpoint, own_checkpoint = result.sessions
    assert math.isnan(no_checkpoint["rec_movement_r2"]) and np.isfinite(own_checkpoint["rec_movement_r2"])
    assert np.isfinite(no_checkpoint["input_r2_thalamus"])  # the input populations need no checkpoint
    assert result.sessions[0]["distance_to_expert"] == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="reference session 7"):
        analyse_run(run, seed=0, reference_session=7, config=FAST)


def test_a_run_without_sessions_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no activity"):
        analyse_run(tmp_path, seed=0)


def test_analysis_is_deterministic_given_the_seed(tmp_path):
    plan = Plan(sessions=(1, 2), outcome_units=4, movement_units=4, probe_excited=(0.2, 0.2))
    run = make_run(tmp_path, plan)
    a, b = (analyse_run(run, seed=11, config=FAST) for _ in range(2))
    np.testing.assert_equal(a.sessions, b.sessions)  # NaN-aware
    np.testing.assert_array_equal(a.embedding["coords"], b.embedding["coords"])
