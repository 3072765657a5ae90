"""Finding 7's input populations (analysis/inputs.py): which encodes the movement, and how early."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_runs import Plan, make_run

from analysis.inputs import command_direction, inputs
from analysis.lead import half_peak_lead
from analysis.neural import NeuralAnalysisConfig
from analysis.run_format import activity_files
from analysis.sessions import load_session, window_mean

CONFIG = NeuralAnalysisConfig()


def per_session(root, plan: Plan) -> dict[int, dict[str, float]]:
    make_run(root, plan)
    return {number: inputs(load_session(path, number), CONFIG, seed=0)
            for number, path in activity_files(root).items()}


def command_lead(root, session: int) -> float:
    """The lead of the command itself (its own half-peak before the lift), by the same rule."""
    s = load_session(root / "activity" / f"session_{session:02d}.npz", session)
    return half_peak_lead(s.target @ command_direction(s, s.movement()), s, CONFIG.lift_window_s)


@pytest.mark.parametrize(("lead", "lag"), [(0.2, 0.1), (0.1, 0.2)])
def test_planted_thalamic_lead_and_somatosensory_lag_are_measured(tmp_path, lead, lag):
    # Three thalamic units carry the movement time course `lead` s early, three S1 units `lag` s late.
    plan = Plan(sessions=(1,), thalamic_lead=lead, s1_lag=lag, cue_jitter=0.1, probe=False)
    out = per_session(tmp_path, plan)[1]
    own = command_lead(tmp_path, 1)
    assert out["input_lead_thalamus_s"] - own == pytest.approx(lead, abs=0.02)
    assert out["input_lead_s1_s"] - own == pytest.approx(-lag, abs=0.02)
    assert out["input_r2_thalamus"] > 0.3 and out["input_r2_s1"] > 0.3
    assert out["input_r2_cue"] < min(out["input_r2_thalamus"], out["input_r2_s1"])


def test_a_cue_response_that_is_not_movement_does_not_move_the_thalamic_lead(tmp_path):
    # A further thalamic unit fires strongly at the cue, before any movement: the decoder projection
    # ignores it, while the population's |deviation from baseline| would date the thalamus's rise to the cue.
    plain = per_session(tmp_path / "plain", Plan(sessions=(1,), probe=False))[1]
    cued = per_session(tmp_path / "cued", Plan(sessions=(1,), thalamus_cue_response=3.0, probe=False))[1]
    assert cued["input_lead_thalamus_s"] == pytest.approx(plain["input_lead_thalamus_s"], abs=0.02)
    s = load_session(tmp_path / "cued" / "activity" / "session_01.npz", 1)
    thalamus = s.inputs["thalamus"].astype(np.float64)
    baseline = window_mean(thalamus, s.mask(0.0, s.events["cue"]))[0]
    deviation = np.linalg.norm(thalamus - baseline[:, None, :], axis=2)
    assert half_peak_lead(deviation, s, CONFIG.lift_window_s) > cued["input_lead_thalamus_s"] + 0.15


def test_inputs_that_carry_no_movement_give_r2_about_zero_and_no_lead(tmp_path):
    out = per_session(tmp_path, Plan(sessions=(1, 2, 3), encode_inputs=False, probe=False, seed=5))
    for row in out.values():
        assert abs(row["input_r2_thalamus"]) < 0.03 and abs(row["input_r2_s1"]) < 0.03
        assert math.isnan(row["input_lead_thalamus_s"]) and math.isnan(row["input_lead_s1_s"])
    # the cue input marks when the command rests (cue to lift): a real, constant share of the command
    cue = [row["input_r2_cue"] for row in out.values()]
    assert max(cue) - min(cue) < 0.05


def test_a_frozen_network_encodes_the_same_in_every_session(tmp_path):
    out = per_session(tmp_path, Plan(sessions=(1, 2, 3), probe=False, seed=6))
    for key, tolerance in (("input_r2_thalamus", 0.1), ("input_r2_s1", 0.05), ("input_lead_thalamus_s", 0.02),
                           ("input_lead_s1_s", 0.02)):
        values = [row[key] for row in out.values()]
        assert max(values) - min(values) < tolerance, (key, values)


def test_a_v1_run_has_only_the_thalamus(tmp_path):
    out = per_session(tmp_path, Plan(sessions=(1,), v2=False, probe=False))[1]
    assert np.isfinite(out["input_r2_thalamus"]) and np.isfinite(out["input_lead_thalamus_s"])
    for key in ("input_r2_s1", "input_r2_cue", "input_lead_s1_s"):
        assert math.isnan(out[key])
