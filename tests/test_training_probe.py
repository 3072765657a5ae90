"""The thalamic stimulation probe in a training run (circuit 2): one file per session start, with
the documented arrays, and nothing the protocol draws from changes because of it."""

from __future__ import annotations

import csv

import numpy as np
from small_setups import SMALL_AGENT_V2, tiny_config

from training.train import Trainer


def rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_circuit_2_run_probes_every_session_start_and_the_probe_changes_nothing(tmp_path):
    probed = tiny_config(tmp_path / "probed", agent=dict(SMALL_AGENT_V2), output={"probe_trials": 4})
    plain = tiny_config(tmp_path / "plain", agent=dict(SMALL_AGENT_V2), output={"probe_trials": 0})
    Trainer(probed).train(progress=False)
    Trainer(plain).train(progress=False)
    files = sorted(p.name for p in (tmp_path / "probed" / "probe").iterdir())
    assert files == ["session_01.npz", "session_02.npz"]
    assert not (tmp_path / "plain" / "probe").exists()
    with np.load(tmp_path / "probed" / "probe" / "session_01.npz") as data:
        assert set(data) == {"cortex", "valid", "pulse_trial", "time", "stimulated", "pulse_start",
                             "pulse_duration", "pulse_amplitude"}
        assert data["cortex"].shape[0] == 4 and data["cortex"].shape[2] == SMALL_AGENT_V2["n_cortex"]
        np.testing.assert_array_equal(data["pulse_trial"], [True, False, True, False])
        assert data["stimulated"].shape == (SMALL_AGENT_V2["n_thalamus"],)
    # Its own env seeds and noise generator: the protocol's trials and evaluations are the same.
    assert rows(tmp_path / "probed" / "episodes.csv") == rows(tmp_path / "plain" / "episodes.csv")
    assert rows(tmp_path / "probed" / "evaluation.csv") == rows(tmp_path / "plain" / "evaluation.csv")


def test_a_circuit_1_run_has_no_thalamic_stage_to_probe(tmp_path):
    Trainer(tiny_config(tmp_path / "relay")).train(progress=False)
    assert not (tmp_path / "relay" / "probe").exists()
