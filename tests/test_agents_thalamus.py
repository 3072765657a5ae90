"""Silencing the motor thalamus's input to M1 (Ramot et al. 2025): no thalamic drive, changed actions,
and no weight change by itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from small_setups import SHORT_TRIAL, SMALL_AGENT

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import DopamineChannel, SilencingSchedule
from agents.three_factor import ThreeFactorLearner

ENV_KWARGS = SHORT_TRIAL
CONFIG = AgentConfig(**SMALL_AGENT, update_every=5)


def make_learner(thalamus: SilencingSchedule | None = None,
                 config: AgentConfig = CONFIG) -> ThreeFactorLearner:
    circuit = CorticalCircuit(config, 0.02, seed=3)
    return ThreeFactorLearner(circuit, config, DopamineChannel(), thalamus=thalamus, seed=3)


def all_weights(learner: ThreeFactorLearner) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of the circuit (thalamic input weights are buffers)."""
    return {k: v.detach().clone() for k, v in learner.circuit.state_dict().items()}


@pytest.mark.parametrize("circuit", [1, 2])
def test_silenced_thalamus_has_zero_rates_and_changes_actions(envs, circuit):
    config = AgentConfig(**SMALL_AGENT, update_every=5, circuit=circuit)
    silenced = make_learner(SilencingSchedule([(0, 9, 0.0)]), config)
    intact = make_learner(config=config)
    off = silenced.run_trials(envs, [0, 1], [4, 5], learn=False, explore=False)
    on = intact.run_trials(envs, [0, 1], [4, 5], learn=False, explore=False)

    assert [s.thalamus_gain for s in off.summaries] == [0.0, 0.0]
    assert [s.thalamus_gain for s in on.summaries] == [1.0, 1.0]
    assert [s.dopamine_gain for s in off.summaries] == [1.0, 1.0]  # dopamine is a separate schedule
    assert off.thalamus.shape == (off.valid.shape[0], 2, CONFIG.n_thalamus)
    assert np.all(off.thalamus == 0.0)
    assert np.abs(on.thalamus[on.valid]).max() > 0.1
    assert np.abs(on.cortex[on.valid]).max() > 0.01
    if circuit == 1:
        # The relay is the cortex's only input: without it (and with zero initial bias) it is silent.
        assert np.all(off.cortex == 0.0)
    else:
        # The thalamic drive is gone, the other inputs remain: the cortex keeps acting, differently.
        assert np.abs(off.cortex[off.valid]).max() > 0.01
        steps = min(len(off.valid), len(on.valid))
        assert np.abs(off.cortex[:steps] - on.cortex[:steps]).max() > 0.1
    assert np.abs(off.action[off.valid] - on.action[on.valid[: len(off.valid)]]).max() > 1e-3
    assert np.all(off.noise == 0.0) and np.all(on.noise == 0.0)  # explore=False


def test_partial_thalamic_gain_scales_the_thalamic_rates(envs):
    """The gain scales the relay's output: at the first step (same observation) rates are g times."""
    partial = make_learner(SilencingSchedule([(0, 9, 0.25)]))
    intact = make_learner()
    part = partial.run_trials(envs, [0, 1], [4, 5], learn=False, explore=False)
    full = intact.run_trials(envs, [0, 1], [4, 5], learn=False, explore=False)
    np.testing.assert_allclose(part.thalamus[0], 0.25 * full.thalamus[0], rtol=1e-6, atol=1e-7)
    assert np.abs(full.thalamus[0]).max() > 0.1


@pytest.mark.parametrize("explore", [False, True])
def test_thalamic_silencing_without_learning_leaves_every_weight_alone(envs, explore):
    learner = make_learner(SilencingSchedule([(0, 9, 0.0)]))
    before = all_weights(learner)
    record = learner.run_trials(envs, [0, 1], [4, 5], learn=False, explore=explore)
    after = all_weights(learner)
    assert before.keys() == after.keys()
    for name in before:
        assert torch.equal(before[name], after[name]), name
    assert learner.cortex_optimizer.state == {} and learner.critic_optimizer.state == {}
    assert record.update_norms == []
    assert np.abs(record.delta).max() > 0.0  # the critic still computed RPEs
