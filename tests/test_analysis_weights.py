"""Effective input weights from checkpoints, circuit v1 and v2 (analysis/weights.py)."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_runs import write_checkpoint

from analysis.run_format import checkpoint_files
from analysis.weights import inputs_at, load_inputs, load_weights


@pytest.fixture
def matrices():
    rng = np.random.default_rng(0)
    return {"thalamocortical": rng.standard_normal((4, 3)), "recurrent": rng.standard_normal((4, 4)),
            "tc_mask": (rng.random((4, 3)) < 0.5).astype(float), "somatosensory": rng.standard_normal((4, 5)),
            "auditory": rng.standard_normal((4, 1)), "outcome": rng.standard_normal((4, 1))}


def test_a_v1_checkpoint_gives_the_plain_thalamocortical_matrix_and_no_v2_inputs(tmp_path, matrices):
    write_checkpoint(tmp_path / "v1.pt", matrices["thalamocortical"], matrices["recurrent"])
    weights = load_inputs(tmp_path / "v1.pt")
    assert set(weights) == {"thalamus", "recurrent"}
    np.testing.assert_allclose(weights["thalamus"], matrices["thalamocortical"], rtol=1e-6)  # signed
    assert (weights["thalamus"] < 0).any()


def test_a_v2_checkpoint_masks_the_thalamocortical_matrix_and_names_every_input(tmp_path, matrices):
    write_checkpoint(tmp_path / "v2.pt", matrices["thalamocortical"], matrices["recurrent"],
                     tc_mask=matrices["tc_mask"], somatosensory=matrices["somatosensory"],
                     auditory=matrices["auditory"], outcome=matrices["outcome"])
    weights = load_inputs(tmp_path / "v2.pt")
    assert set(weights) == {"thalamus", "recurrent", "s1", "cue", "outcome"}
    # circuit v2's thalamocortical weights are excitatory: rectified, then masked
    np.testing.assert_allclose(weights["thalamus"],
                               np.maximum(matrices["thalamocortical"], 0) * matrices["tc_mask"], rtol=1e-6)
    for name, key in (("s1", "somatosensory"), ("cue", "auditory"), ("outcome", "outcome")):
        np.testing.assert_allclose(weights[name], matrices[key], rtol=1e-6)
    thalamocortical, _ = load_weights(tmp_path / "v2.pt")
    assert np.all(thalamocortical[matrices["tc_mask"] == 0] == 0)


def test_recurrent_weights_follow_the_mask_and_dales_law(tmp_path, matrices):
    recurrent = matrices["recurrent"]
    sign = np.array([1.0, 1.0, 1.0, -1.0])
    write_checkpoint(tmp_path / "plain.pt", matrices["thalamocortical"], recurrent)
    write_checkpoint(tmp_path / "dale.pt", matrices["thalamocortical"], recurrent, dale=True, sign=sign)
    mask = 1.0 - np.eye(4)
    _, plain = load_weights(tmp_path / "plain.pt")
    np.testing.assert_allclose(plain, recurrent * mask, rtol=1e-6)
    _, dale = load_weights(tmp_path / "dale.pt")
    np.testing.assert_allclose(dale, np.maximum(recurrent, 0) * mask * sign[None, :], rtol=1e-6)
    assert np.all(dale[:, 3] <= 0) and np.all(dale[:, :3] >= 0)


def test_a_session_takes_the_latest_checkpoint_at_or_before_its_first_episode(tmp_path, matrices):
    for episode, scale in ((0, 1.0), (40, 2.0)):
        write_checkpoint(tmp_path / "checkpoints" / f"episode_{episode:06d}.pt",
                         scale * matrices["thalamocortical"], matrices["recurrent"])
    found, cache = checkpoint_files(tmp_path), {}
    assert list(found) == [0, 40]
    early, late = inputs_at(39, found, cache), inputs_at(80, found, cache)
    np.testing.assert_allclose(early["thalamus"], matrices["thalamocortical"], rtol=1e-6)
    np.testing.assert_allclose(late["thalamus"], 2 * matrices["thalamocortical"], rtol=1e-6)
    assert inputs_at(-1, found, cache) is None and set(cache) == {0, 40}
