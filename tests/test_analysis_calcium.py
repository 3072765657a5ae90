"""The calcium-imaging forward model (analysis/calcium.py): the indicator's kernel, exact frame means, the
field of view and noise, the imaged session, and the lab's analyses run on imaging data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_runs import Plan, make_run

from analysis.calcium import (
    NOT_IMAGED,
    CalciumConfig,
    frame_edges,
    frame_fluorescence,
    frame_valid,
    image_session,
    kernel,
    peak_time,
    resample,
    spike_rate,
    units_in_view,
)
from analysis.neural import METRICS, NeuralAnalysisConfig, analyse_run
from analysis.sessions import load_session

GCAMP6S = CalciumConfig()
DT = 0.02  # a trainer's recorded sample (s)


def recording_times(samples: int, dt: float = DT) -> np.ndarray:
    return np.arange(1, samples + 1) * dt


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    plan = Plan(sessions=(1, 2), trials=20, units=30, dt=DT, cue_units=6, outcome_units=6, movement_units=6)
    return plan, make_run(tmp_path_factory.mktemp("imaged"), plan)


# --- configuration ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("max_rate_hz", 0.0), ("rise_s", -0.1), ("decay_s", 0.05),
                                             ("frame_rate_hz", math.inf), ("field_of_view", 0.0),
                                             ("field_of_view", 1.5), ("noise_sd", -0.1), ("seed", -1),
                                             ("spike_amplitude", 0.0), ("softplus_sharpness", 0.0)])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        CalciumConfig(**{field: value})


def test_config_refuses_unknown_maps_and_fields():
    with pytest.raises(ValueError, match="rate_map"):
        CalciumConfig(rate_map="exponential")
    with pytest.raises(ValueError, match="tau"):
        CalciumConfig(tau=1.0)


def test_the_documented_defaults_hold():
    # the figures the module docstring states for the defaults
    assert (GCAMP6S.rise_s, GCAMP6S.decay_s, GCAMP6S.spike_amplitude) == (0.1, 1.5, 0.2)
    assert GCAMP6S.frame_rate_hz == 30.0
    assert (GCAMP6S.max_rate_hz, GCAMP6S.softplus_sharpness, GCAMP6S.field_of_view) == (20.0, 5.0, 0.5)
    low, rest, high = spike_rate(np.array([-1.0, 0.0, 1.0]), GCAMP6S)
    assert high == pytest.approx(20.0) and rest == pytest.approx(2.8, abs=0.05)
    assert low == pytest.approx(0.03, abs=0.005)
    assert peak_time(GCAMP6S) == pytest.approx(0.29, abs=0.005)
    tau_r, tau_d = GCAMP6S.rise_s, GCAMP6S.decay_s
    assert tau_d * (1 - math.log(1 - tau_r / tau_d)) == pytest.approx(1.60, abs=0.005)
    at_rest = frame_fluorescence(np.full((1, 50, 1), rest), recording_times(50), GCAMP6S)
    assert at_rest[0, 0, 0] == pytest.approx(1.0, abs=0.01)


def test_spike_rate_is_non_negative_and_rectified_drops_negative_rates():
    rates = np.linspace(-1, 1, 41)
    assert (spike_rate(rates, GCAMP6S) > 0).all() and np.all(np.diff(spike_rate(rates, GCAMP6S)) > 0)
    rectified = spike_rate(rates, CalciumConfig(rate_map="rectified"))
    np.testing.assert_allclose(rectified, 20.0 * np.maximum(rates, 0))


# --- the indicator's kernel and exact frames --------------------------------------------------------------


def test_kernel_peaks_at_the_stated_time_and_amplitude_and_decays_to_one_over_e():
    t = np.arange(0, 8, 1e-4)
    k = kernel(t, GCAMP6S)
    assert kernel(np.array([-0.1]), GCAMP6S)[0] == 0.0 and k[0] == 0.0
    assert t[np.argmax(k)] == pytest.approx(peak_time(GCAMP6S), abs=2e-4)
    assert k.max() == pytest.approx(GCAMP6S.spike_amplitude, rel=1e-6)
    tau_r, tau_d = GCAMP6S.rise_s, GCAMP6S.decay_s
    after_peak = t > peak_time(GCAMP6S)
    fallen = t[after_peak][np.argmax(k[after_peak] <= GCAMP6S.spike_amplitude / math.e)]
    assert fallen - peak_time(GCAMP6S) == pytest.approx(tau_d * (1 - math.log(1 - tau_r / tau_d)), abs=1e-3)


def test_one_spike_gives_the_kernel_averaged_over_each_frame():
    # rate 1 for one 20 ms sample at 50 Hz = one spike, spread over [0.5, 0.52) s
    config = CalciumConfig(rate_map="rectified", max_rate_hz=1 / DT)
    time = recording_times(150)
    rates = np.zeros((1, 150, 1))
    rates[0, 25] = 1.0
    dff = frame_fluorescence(spike_rate(rates, config), time, config)[0, :, 0]
    edges = frame_edges(time, config)
    spike = 0.5 + (np.arange(100) + 0.5) * DT / 100  # the pulse, finely
    expected = [kernel(np.linspace(a, b, 400, endpoint=False)[:, None] + (b - a) / 800 - spike, config).mean()
                for a, b in zip(edges[:-1], edges[1:], strict=True)]
    np.testing.assert_allclose(dff, expected, atol=1e-6)
    assert np.all(dff[edges[1:] <= 0.5] == 0.0)
    peak_frame = int(np.argmax(dff))
    assert edges[peak_frame] <= 0.51 + peak_time(config) <= edges[peak_frame + 1] + 1 / 30
    assert dff.max() == pytest.approx(config.spike_amplitude, rel=0.03)


def test_a_constant_rate_gives_a_constant_fluorescence_from_the_first_frame():
    time = recording_times(100)
    dff = frame_fluorescence(np.full((2, 100, 3), 5.0), time, GCAMP6S)
    np.testing.assert_allclose(dff, dff[0, 0, 0], rtol=1e-9)


def test_frames_are_at_30_hz_within_the_recording():
    time = recording_times(125)  # 2.5 s
    edges = frame_edges(time, GCAMP6S)
    assert len(edges) - 1 == 75 and edges[0] == 0.0 and edges[-1] <= time[-1] + 1e-12
    np.testing.assert_allclose(np.diff(edges), 1 / 30)
    uneven = frame_edges(recording_times(10, 0.04), GCAMP6S)  # 0.4 s: 12 whole frames
    assert len(uneven) - 1 == 12


def test_resampling_averages_over_each_frame_and_a_frame_past_the_trial_is_invalid():
    time = recording_times(30)
    ramp = np.broadcast_to(np.arange(30.0)[None, :, None], (1, 30, 2))
    frames = resample(ramp, time, GCAMP6S)
    assert frames.shape == (1, 18, 2)
    # frame 0 covers [0, 1/30): all of sample 0 (0.02 s) and 0.0133 s of sample 1
    assert frames[0, 0, 0] == pytest.approx((0 * 0.02 + 1 * (1 / 30 - 0.02)) * 30)
    np.testing.assert_allclose(resample(np.ones((1, 30, 1)), time, GCAMP6S), 1.0)
    valid = np.zeros((1, 30), bool)
    valid[0, :10] = True  # the trial ends at 0.2 s = the end of frame 5
    assert frame_valid(valid, time, GCAMP6S)[0].tolist() == [True] * 6 + [False] * 12
    valid[0, :11] = True  # ... at 0.22 s: frame 6 ([0.2, 0.233)) straddles the end
    assert frame_valid(valid, time, GCAMP6S)[0].tolist() == [True] * 6 + [False] * 12


# --- field of view and noise ------------------------------------------------------------------------------


def test_the_field_of_view_is_a_seeded_reproducible_subset():
    view = units_in_view(256, GCAMP6S)
    assert len(view) == 128 and np.all(np.diff(view) > 0) and view.max() < 256
    np.testing.assert_array_equal(view, units_in_view(256, CalciumConfig()))
    assert not np.array_equal(view, units_in_view(256, CalciumConfig(seed=1)))
    assert len(units_in_view(256, CalciumConfig(field_of_view=0.25))) == 64
    assert len(units_in_view(3, CalciumConfig(field_of_view=0.01))) == 1
    np.testing.assert_array_equal(units_in_view(7, CalciumConfig(field_of_view=1.0)), np.arange(7))


def test_the_imaged_session_holds_the_units_in_view_with_seeded_noise(run):
    plan, root = run
    s = load_session(root / "activity" / "session_01.npz", 1)
    quiet = image_session(s, GCAMP6S)
    view = units_in_view(plan.units, GCAMP6S)
    expected = frame_fluorescence(spike_rate(s.cortex[:, :, view], GCAMP6S), s.mid + s.dt / 2, GCAMP6S)
    np.testing.assert_allclose(quiet.cortex, expected, rtol=1e-6)
    noisy = CalciumConfig(noise_sd=0.1)
    a, b = image_session(s, noisy), image_session(s, noisy)
    np.testing.assert_array_equal(a.cortex, b.cortex)
    assert np.std(a.cortex - quiet.cortex) == pytest.approx(0.1, rel=0.05)
    other = load_session(root / "activity" / "session_01.npz", 2)  # same rates, another session's noise
    assert not np.allclose(image_session(other, noisy).cortex, a.cortex)


# --- the imaged session and the analyses ------------------------------------------------------------------


def test_the_imaged_session_keeps_trials_and_events_on_the_frame_grid(run):
    plan, root = run
    s = load_session(root / "activity" / "session_02.npz", 2)
    imaged = image_session(s, GCAMP6S)
    frames = 75  # 2.5 s trials
    assert imaged.number == 2 and imaged.n == s.n == plan.trials
    assert imaged.cortex.shape == (plan.trials, frames, plan.units // 2)
    assert imaged.dt == pytest.approx(1 / 30)
    np.testing.assert_allclose(imaged.mid, (np.arange(frames) + 0.5) / 30)
    for name, times in s.events.items():
        np.testing.assert_array_equal(imaged.events[name], times)
    np.testing.assert_array_equal(imaged.success, s.success)
    np.testing.assert_array_equal(imaged.episode, s.episode)
    assert imaged.action.shape == imaged.mean_action.shape == (plan.trials, frames, 15)
    assert set(imaged.inputs) == set(s.inputs)
    assert all(v.shape[:2] == (plan.trials, frames) for v in imaged.inputs.values())
    # a valid frame lies within the trial; the trial's valid time is covered but for the last partial frame
    trial_end = s.valid.sum(1) * s.dt
    last_end = imaged.valid.sum(1) / 30
    assert np.all(last_end <= trial_end + 1e-9) and np.all(last_end > trial_end - 1 / 30)
    assert np.isfinite(imaged.cortex).all()


def test_analyse_run_runs_on_imaging_data_and_names_what_it_cannot_give(run):
    _, root = run
    fast = NeuralAnalysisConfig(n_units_correlation=12, n_shuffles=100, cv_folds=4)
    result = analyse_run(root, seed=0, config=fast.model_copy(update={"imaging": GCAMP6S}))
    assert result.not_computed == NOT_IMAGED and set(NOT_IMAGED) <= set(METRICS)
    assert all(reason for reason in NOT_IMAGED.values())
    for row in result.sessions:
        assert all(math.isnan(row[k]) for k in NOT_IMAGED)
        computed = [k for k in METRICS if k not in NOT_IMAGED]
        assert all(math.isfinite(row[k]) for k in computed), {k: row[k] for k in computed}
    assert result.sessions[0]["mean_activity"] > 0.5  # dF/F of cells near rest (about 1), not rates
    assert len(result.embedding["session"]) == 40


def test_imaging_is_off_by_default_and_validated_when_given():
    assert NeuralAnalysisConfig().imaging is None
    assert NeuralAnalysisConfig(imaging={"field_of_view": 0.25}).imaging == CalciumConfig(field_of_view=0.25)
    with pytest.raises(ValueError, match="field_of_view"):
        NeuralAnalysisConfig(imaging={"field_of_view": 2.0})
    with pytest.raises(ValueError, match="imaging"):
        NeuralAnalysisConfig(imaging=0.5)
