"""Finding 5's correlation geometry per session (analysis/geometry.py): distances and diffusion coordinate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_runs import Plan, make_run

from analysis.geometry import KEYS, geometry
from analysis.neural import NeuralAnalysisConfig
from analysis.run_format import activity_files
from analysis.sessions import load_session

CONFIG = NeuralAnalysisConfig(n_units_correlation=12)


def run_geometry(root, plan: Plan, reference: int | None = None):
    make_run(root, plan)
    sessions = [load_session(path, number) for number, path in activity_files(root).items()]
    first, last = plan.sessions[0], plan.sessions[-1]
    return geometry(sessions, first, last if reference is None else reference, CONFIG, seed=0)


def test_planted_drift_toward_the_expert_correlations_is_measured(tmp_path):
    # The latent loadings (the correlations) move linearly from the first session's to the last one's.
    plan = Plan(sessions=(1, 2, 3), drift=1.0, units=24, trials=24, probe=False)
    out, embedding = run_geometry(tmp_path, plan)
    assert set(out) == {1, 2, 3} and all(set(row) == set(KEYS) for row in out.values())
    to_expert = {s: out[s]["distance_to_expert"] for s in out}
    to_first = {s: out[s]["distance_to_first"] for s in out}
    assert to_expert[3] == pytest.approx(0.0, abs=1e-8) and to_first[1] == pytest.approx(0.0, abs=1e-8)
    assert to_expert[1] > to_expert[2] > to_expert[3] and to_first[3] > to_first[2] > to_first[1]
    assert to_expert[1] == pytest.approx(to_first[3], rel=1e-8)  # one distance, both directions
    # the first diffusion coordinate follows the drift, signed so that the expert session's mean is > 0
    diffusion = [out[s]["diffusion_1"] for s in (1, 2, 3)]
    assert diffusion[0] < diffusion[1] < diffusion[2] and diffusion[2] > 0
    coords = embedding["coords"]
    assert coords.shape == (72, 3) and embedding["session"].tolist() == [1] * 24 + [2] * 24 + [3] * 24
    assert diffusion[2] - diffusion[0] > 10 * coords[:, 0].std() / np.sqrt(24)  # 10 standard errors
    for s in (1, 2, 3):
        assert out[s]["diffusion_1"] == pytest.approx(coords[embedding["session"] == s, 0].mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_sessions_of_one_unchanging_network_are_equally_far_apart(tmp_path, seed):
    # No drift: session means differ only by sampling noise, and the diffusion coordinate orders no session.
    planted, _ = run_geometry(tmp_path / "planted", Plan(sessions=(1, 2, 3), drift=1.0, units=24, trials=24,
                                                         probe=False, seed=seed))
    out, embedding = run_geometry(tmp_path / "null", Plan(sessions=(1, 2, 3), units=24, trials=24,
                                                          probe=False, seed=seed))
    pairs = [out[1]["distance_to_expert"], out[2]["distance_to_expert"], out[2]["distance_to_first"]]
    assert max(pairs) < 1.5 * min(pairs)
    assert max(pairs) < 0.4 * planted[1]["distance_to_expert"]
    # the session means lie within sampling noise of each other: 5 standard errors of a mean of 24 trials
    means = [out[s]["diffusion_1"] for s in (1, 2, 3)]
    assert np.ptp(means) < 5 * embedding["coords"][:, 0].std() / np.sqrt(24)


def test_too_few_trials_give_distances_but_no_embedding(tmp_path):
    # 2 sessions x 2 trials: means and distances exist; 4 trials are too few for a diffusion map.
    out, embedding = run_geometry(tmp_path, Plan(sessions=(1, 2), trials=2, units=16, probe=False))
    assert np.isfinite(out[1]["distance_to_expert"]) and out[1]["distance_to_expert"] > 0
    assert all(math.isnan(out[s]["diffusion_1"]) for s in (1, 2))
    assert embedding["coords"].shape == (0, 3) and len(embedding["session"]) == 0


def test_an_unrecorded_reference_leaves_its_distance_nan(tmp_path):
    out, _ = run_geometry(tmp_path, Plan(sessions=(1, 2), units=16, trials=8, probe=False), reference=7)
    assert all(math.isnan(out[s]["distance_to_expert"]) for s in (1, 2))
    assert np.isfinite(out[2]["distance_to_first"]) and np.isfinite(out[2]["diffusion_1"])
