"""Finding 8: probe-defined Th-excited units and movement units (analysis/probe.py, analysis/movement.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_runs import Plan, groups, make_run, write_probe

from analysis.movement import movement_unit_test, movement_units, split_half_test
from analysis.neural import NeuralAnalysisConfig
from analysis.probe import Probe, load_probe, probe_metrics, th_excited
from analysis.run_format import activity_files, probe_files
from analysis.sessions import load_session, rng

CONFIG = NeuralAnalysisConfig()


def per_session(root, plan: Plan) -> dict[int, dict[str, float]]:
    make_run(root, plan)
    probes = probe_files(root)
    return {number: probe_metrics(load_session(path, number),
                                  load_probe(probes[number]) if number in probes else None, CONFIG, seed=0)
            for number, path in activity_files(root).items()}


# --- Th-excited units ---------------------------------------------------------------------------------


@pytest.mark.parametrize("controls", [True, False])
def test_planted_probe_responses_in_30_percent_of_units_are_found(tmp_path, controls):
    # with every other probe trial a pulse-free control (as agents/probe.py records), or all pulsed
    plan = Plan(sessions=(1,), units=40, probe_excited=(0.3, 0.3), probe_trials=20, probe_controls=controls)
    make_run(tmp_path, plan)
    probe = load_probe(tmp_path / "probe" / "session_01.npz")
    assert probe.pulsed.sum() == (10 if controls else 20)
    excited = th_excited(probe, CONFIG)
    assert excited.sum() == pytest.approx(12, abs=1)  # inhibited and silent units are not called


def test_control_trials_keep_a_drifting_rest_state_from_counting_as_a_response(tmp_path):
    # Every unit's rate rises by 2 / s through the probe (a rest state still settling; 0.12 between the
    # windows, past the minimum size): alone, that drift makes every unit look excited but the inhibited
    # third; pulse-free control trials subtract it.
    excited = np.arange(9)
    called = {}
    for controls in (0, 20):
        path = tmp_path / f"controls_{controls}.npz"
        write_probe(path, np.random.default_rng(0), 30, 20 + controls, excited, 0.03, drift=2.0,
                    controls=controls)
        called[controls] = th_excited(load_probe(path), CONFIG)
    assert called[0].sum() >= 20
    assert called[20][excited].all() and called[20].sum() <= len(excited) + 1


def test_a_probe_without_responses_excites_nothing(tmp_path):
    plan = Plan(sessions=(1, 2), units=60, probe_excited=(0.0, 0.0), seed=2)
    for row in per_session(tmp_path, plan).values():
        assert row["th_excited_fraction"] <= 1 / 60


def test_a_significant_response_below_the_minimum_size_is_not_th_excited():
    # With so little noise, 0.03 is as significant as 0.08, but below probe_min_response (0.05).
    rng_ = np.random.default_rng(0)
    mid = np.arange(20) * 0.02 + 0.01
    cortex = 0.001 * rng_.standard_normal((20, 20, 2))
    cortex[:, (mid >= 0.2) & (mid < 0.26), 0] += 0.03
    cortex[:, (mid >= 0.2) & (mid < 0.26), 1] += 0.08
    probe = Probe(cortex=cortex, valid=np.ones((20, 20), bool), mid=mid, pulse_start=0.2,
                  pulsed=np.ones(20, bool))
    assert CONFIG.probe_min_response == 0.05
    np.testing.assert_array_equal(th_excited(probe, CONFIG), [False, True])
    no_minimum = NeuralAnalysisConfig(probe_min_response=0.0)
    np.testing.assert_array_equal(th_excited(probe, no_minimum), [True, True])


def test_the_minimum_size_applies_to_the_pulse_beyond_the_control_trials():
    # Every trial's rate steps up by 0.04 at the pulse's time (drift, in the controls too); the pulse adds
    # 0.03 to unit 0 and 0.06 to unit 1 in the pulsed (even) trials. Against the controls, unit 0's
    # response (0.03) is too small though its pulsed trials change by 0.07.
    rng_ = np.random.default_rng(1)
    mid = np.arange(20) * 0.02 + 0.01
    after = (mid >= 0.2) & (mid < 0.26)
    pulsed = np.arange(32) % 2 == 0
    cortex = 0.001 * rng_.standard_normal((32, 20, 2))
    cortex[:, after, :] += 0.04
    cortex[np.ix_(pulsed, after, [0])] += 0.03
    cortex[np.ix_(pulsed, after, [1])] += 0.06
    probe = Probe(cortex=cortex, valid=np.ones((32, 20), bool), mid=mid, pulse_start=0.2, pulsed=pulsed)
    np.testing.assert_array_equal(th_excited(probe, CONFIG), [False, True])
    all_pulsed = Probe(cortex=cortex[pulsed], valid=probe.valid[pulsed], mid=mid, pulse_start=0.2,
                       pulsed=np.ones(16, bool))
    np.testing.assert_array_equal(th_excited(all_pulsed, CONFIG), [True, True])  # the drift counts


# --- movement units -----------------------------------------------------------------------------------


def test_planted_movement_units_are_found(tmp_path):
    # gain 0.6: the command explains 0.2-0.4 of the planted units' within-trial variance
    plan = Plan(sessions=(1,), units=40, movement_units=10, movement_gain=0.6, probe=False)
    make_run(tmp_path, plan)
    found = movement_units(load_session(tmp_path / "activity" / "session_01.npz", 1), CONFIG, seed=0)
    planted = np.zeros(40, bool)
    planted[groups(plan)["movement"]] = True
    assert (found & planted).sum() == 10 and (found & ~planted).sum() <= 1


def test_a_significant_movement_unit_below_the_minimum_r2_is_not_counted(tmp_path):
    # gain 0.2: every planted unit's encoding is significant, but the command explains only 2-7 % of its
    # within-trial variance (held out), below min_movement_r2 (0.1); units without it have R^2 about 0.
    plan = Plan(sessions=(1,), units=40, movement_units=10, movement_gain=0.2, probe=False)
    make_run(tmp_path, plan)
    s = load_session(tmp_path / "activity" / "session_01.npz", 1)
    planted = np.zeros(40, bool)
    planted[groups(plan)["movement"]] = True
    _, r2 = movement_unit_test(s, CONFIG.command_variance, rng(0, 6, 1))
    assert np.all(r2[planted] > 0.01) and np.all(r2[planted] < CONFIG.min_movement_r2)
    assert np.all(np.abs(r2[~planted]) < 0.01)
    no_minimum = NeuralAnalysisConfig(min_movement_r2=0.0)
    assert (movement_units(s, no_minimum, seed=0) & planted).sum() == 10
    assert CONFIG.min_movement_r2 == 0.1 and not movement_units(s, CONFIG, seed=0).any()


def test_the_held_out_r2_is_the_share_of_variance_the_command_explains():
    # Units = a * component + unit noise: R^2 = a^2 / (a^2 + 1) out of sample, about 0 without the component.
    generator = np.random.default_rng(2)
    trials, samples = 60, 50
    index = np.repeat(np.arange(trials), samples)
    component = generator.standard_normal((trials * samples, 1))
    gains = np.array([0.0, 1.0, 3.0])
    rates = component * gains + generator.standard_normal((trials * samples, 3))
    _, r2 = split_half_test(rates, component, index, trials, np.random.default_rng(0))
    np.testing.assert_allclose(r2, gains**2 / (gains**2 + 1), atol=0.02)


@pytest.mark.parametrize("autocorrelation", [0.0, 0.9])
def test_movement_unit_p_values_are_calibrated_for_autocorrelated_noise(tmp_path, autocorrelation):
    # Units of AR(1) noise (per 40 ms sample), unrelated to the command: p < alpha in about alpha of them.
    make_run(tmp_path, Plan(sessions=(1,), units=4, trials=64, probe=False))
    s = load_session(tmp_path / "activity" / "session_01.npz", 1)
    generator = np.random.default_rng(1)
    steps = generator.standard_normal((s.n, s.valid.shape[1], 600))
    noise = np.empty_like(steps)
    noise[:, 0] = steps[:, 0]
    for t in range(1, steps.shape[1]):
        noise[:, t] = autocorrelation * noise[:, t - 1] + math.sqrt(1 - autocorrelation**2) * steps[:, t]
    s.cortex = noise.astype(np.float32)
    p, _ = movement_unit_test(s, CONFIG.command_variance, rng(0, 6))
    assert (p < 0.05).mean() <= 0.075 and (p < 0.01).mean() <= 0.02


def test_a_frozen_network_without_movement_units_has_none(tmp_path):
    for row in per_session(tmp_path, Plan(sessions=(1, 2), units=60, seed=3)).values():
        assert row["movement_unit_fraction"] <= 1 / 60


# --- the overlap --------------------------------------------------------------------------------------


def test_planted_recruitment_of_movement_units_by_the_thalamus_is_measured(tmp_path):
    # 10 of 40 units encode the movement; the pulse excites 10 units, none of them movement units in
    # session 1 and all of them in session 3.
    plan = Plan(sessions=(1, 2, 3), units=40, movement_units=10, probe_excited=(0.25, 0.25),
                probe_on_movement=(0.0, 1.0))
    out = per_session(tmp_path, plan)
    for row in out.values():
        assert row["movement_unit_fraction"] == pytest.approx(10 / 40, abs=1.01 / 40)
        assert row["th_excited_fraction"] == pytest.approx(10 / 40, abs=1.01 / 40)
    assert out[1]["th_movement_given_excited"] <= 0.1 and out[3]["th_movement_given_excited"] >= 0.9
    assert out[1]["th_excited_given_nonmovement"] == pytest.approx(10 / 30, abs=0.05)
    assert out[3]["th_excited_given_nonmovement"] <= 0.05  # at most one false call
    given = [out[s]["th_movement_given_excited"] for s in plan.sessions]
    assert given == sorted(given)


def test_a_frozen_network_keeps_its_overlap(tmp_path):
    plan = Plan(sessions=(1, 2, 3), units=40, movement_units=10, probe_excited=(0.25, 0.25),
                probe_on_movement=(0.5, 0.5), seed=4)
    out = per_session(tmp_path, plan)
    for key in ("th_excited_fraction", "movement_unit_fraction", "th_movement_given_excited"):
        values = [row[key] for row in out.values()]
        assert max(values) - min(values) <= 0.1 + 1e-9, (key, values)


def test_without_a_probe_only_the_movement_fraction_is_measured(tmp_path):
    row = per_session(tmp_path, Plan(sessions=(1,), movement_units=6, probe=False))[1]
    assert np.isfinite(row["movement_unit_fraction"])
    for key in ("th_excited_fraction", "th_movement_given_excited", "th_excited_given_nonmovement"):
        assert math.isnan(row[key])


def test_a_probe_of_another_population_is_an_error(tmp_path):
    make_run(tmp_path, Plan(sessions=(1,), units=10))
    s = load_session(tmp_path / "activity" / "session_01.npz", 1)
    probe = load_probe(tmp_path / "probe" / "session_01.npz")
    probe.cortex = probe.cortex[:, :, :8]
    with pytest.raises(ValueError, match="probe recorded 8 cortical units"):
        probe_metrics(s, probe, CONFIG, seed=0)
