"""Determinism under a seed: two independently built learners with the same seeds produce identical
records and weights; other seeds give other weights and other exploration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from small_setups import SHORT_TRIAL, SMALL_AGENT, SMALL_AGENT_V2

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import DopamineChannel, SilencingSchedule
from agents.three_factor import BatchRecord, ThreeFactorLearner
from reach_env import MousePelletReachEnv

ENV_KWARGS = SHORT_TRIAL
CONFIG = AgentConfig(**SMALL_AGENT_V2, update_every=5)
ARRAYS = [f.name for f in dataclasses.fields(BatchRecord)
          if f.name not in ("summaries", "update_norms", "layer_update_norms", "frames", "prediction_errors")]


def train(circuit_seed: int, learner_seed: int, batches: int = 2,
          config: AgentConfig = CONFIG) -> tuple[ThreeFactorLearner, list[BatchRecord]]:
    """A fresh learner and fresh envs; learning batches (the second one half blocked)."""
    envs = [MousePelletReachEnv(**ENV_KWARGS) for _ in range(2)]
    circuit = CorticalCircuit(config, envs[0].control_timestep, seed=circuit_seed)
    learner = ThreeFactorLearner(circuit, config, DopamineChannel(SilencingSchedule([(2, 2, 0.0)])),
                                 seed=learner_seed)
    records = [learner.run_trials(envs, [2 * i, 2 * i + 1], [2 * i + 7, 2 * i + 8])
               for i in range(batches)]
    for env in envs:
        env.close()
    return learner, records


@pytest.mark.parametrize("circuit", [1, 2])
def test_same_seeds_give_identical_records_and_weights(circuit):
    config = AgentConfig(**SMALL_AGENT, update_every=5, circuit=circuit)
    first, first_records = train(5, 6, config=config)
    second, second_records = train(5, 6, config=config)
    for a, b in zip(first_records, second_records, strict=True):
        for name in ARRAYS:
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and np.array_equal(x, y), name
        assert len(a.summaries) == len(b.summaries) == 2
        assert all(_same_summary(s, t) for s, t in zip(a.summaries, b.summaries, strict=True))
        assert a.update_norms == b.update_norms and len(a.update_norms) > 0
        assert a.layer_update_norms == b.layer_update_norms
        assert a.prediction_errors == b.prediction_errors
        assert (len(a.prediction_errors) > 0) == (circuit == 2)
    for (name, x), (_, y) in zip(first.circuit.state_dict().items(), second.circuit.state_dict().items(),
                                 strict=True):
        assert torch.equal(x, y), name
    # The weights did move, so the comparison above covers learning, not just initialisation.
    untrained = CorticalCircuit(config, 0.02, seed=5)
    assert not torch.equal(untrained.cortex.recurrent, first.circuit.cortex.recurrent)
    assert torch.equal(first.generator.get_state(), second.generator.get_state())


def _same_summary(a, b) -> bool:
    """Summaries are equal field by field (NaN event times compare equal)."""
    da, db = dataclasses.asdict(a), dataclasses.asdict(b)
    ea, eb = da.pop("events"), db.pop("events")
    return da == db and ea.keys() == eb.keys() and all(
        np.array_equal(ea[k], eb[k], equal_nan=True) for k in ea)


def test_circuit_seed_sets_every_initial_weight():
    same = CorticalCircuit(CONFIG, 0.02, seed=1).state_dict()
    again = CorticalCircuit(CONFIG, 0.02, seed=1).state_dict()
    other = CorticalCircuit(CONFIG, 0.02, seed=2).state_dict()
    for name in same:
        assert torch.equal(same[name], again[name]), name
    # Random weights differ under another seed; the constant ones (biases, scales) do not.
    random = ("thalamus.granule_weight", "thalamus.granule_bias", "thalamus.prediction_weight",
              "thalamus.relay_weight", "thalamus.bias", "somatosensory.input_weight", "somatosensory.bias",
              "cortex.recurrent", "cortex.tc_mask", "cortex.thalamocortical", "cortex.somatosensory",
              "cortex.auditory", "cortex.outcome", "cortex.bias", "cortex.readout", "critic.net.0.weight",
              "critic.net.2.weight", "critic.net.4.weight")
    for name in random:
        assert not torch.equal(same[name], other[name]), name
    relay = AgentConfig(**SMALL_AGENT, circuit=1)
    for name in ("thalamus.input_weight", "thalamus.bias", "cortex.thalamocortical"):
        assert not torch.equal(CorticalCircuit(relay, 0.02, seed=1).state_dict()[name],
                               CorticalCircuit(relay, 0.02, seed=2).state_dict()[name]), name
    sparse = AgentConfig(n_cortex=32, n_thalamus=16, critic_hidden=16, connection_density=0.5)
    assert not torch.equal(CorticalCircuit(sparse, 0.02, seed=1).cortex.mask,
                           CorticalCircuit(sparse, 0.02, seed=2).cortex.mask)


def test_learner_seed_sets_the_exploration_and_the_neural_noise():
    _, (a,) = train(5, 6, batches=1)
    _, (b,) = train(5, 7, batches=1)
    assert np.abs(a.noise).max() > 0
    assert not np.array_equal(a.noise, b.noise)
    assert np.abs(a.neural_noise).max() > 0
    assert not np.array_equal(a.neural_noise[0], b.neural_noise[0])
    # Same weights: the first step's cortex differs by the neural noise alone (tanh is 1-Lipschitz).
    alpha = 0.02 / CONFIG.tau
    bound = alpha * np.abs(a.neural_noise[0] - b.neural_noise[0]).max()
    assert np.abs(a.cortex[0] - b.cortex[0]).max() <= bound
