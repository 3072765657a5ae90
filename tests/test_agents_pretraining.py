"""Behaviour cloning before the protocol: it lowers the cloning loss and trains only the cortex."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from small_setups import RecordedEnv

import agents.pretraining
from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.pretraining import behaviour_clone, collect_demonstrations

ENV_KWARGS = dict(cue_time=0.4, platform_turn=0.2, response_window=0.5, post_outcome=0.1)


@pytest.fixture(scope="module")
def demos():
    return collect_demonstrations(n_trials=2, seed=0, progress=False, **ENV_KWARGS)


def test_demonstrations_are_padded_scripted_trials(demos):
    n, length = demos.valid.shape
    assert n == 2 and demos.observations.shape == (2, length, 69) and demos.actions.shape == (2, length, 15)
    assert demos.valid[:, 0].all() and demos.valid.sum(1).max() == length
    assert np.all(demos.actions[~demos.valid] == 0) and np.all(demos.observations[~demos.valid] == 0)
    again = collect_demonstrations(n_trials=2, seed=0, progress=False, **ENV_KWARGS)
    np.testing.assert_array_equal(again.actions, demos.actions)


def test_success_rate_is_the_fraction_of_demonstrations_that_succeeded(monkeypatch):
    monkeypatch.setattr(RecordedEnv, "made", [])
    monkeypatch.setattr(agents.pretraining, "MousePelletReachEnv", RecordedEnv)
    # A 1 s response window: the noisy scripted reach succeeds in some of these trials, not all.
    env_kwargs = {**ENV_KWARGS, "response_window": 1.0}
    demos = collect_demonstrations(n_trials=4, seed=0, progress=False, **env_kwargs)
    (env,) = RecordedEnv.made
    outcomes = [trial["success"] for trial in env.trials]
    assert len(outcomes) == 4 and True in outcomes and False in outcomes, outcomes
    assert demos.success_rate == sum(outcomes) / 4
    # One padded row per trial, as long as the trial: an observation and an excitation per step.
    np.testing.assert_array_equal(demos.valid.sum(1), [len(trial["actions"]) for trial in env.trials])


def test_behaviour_cloning_lowers_the_loss_and_trains_only_the_cortex(demos):
    config = AgentConfig(n_cortex=32, n_thalamus=16, critic_hidden=16)
    circuit = CorticalCircuit(config, 0.02, seed=0)
    before = {k: v.detach().clone() for k, v in circuit.state_dict().items()}
    # The regression targets the mean excitation: every cortical weight but the exploration noise's
    # amplitude (a parameter when AgentConfig.learn_exploration is on) takes part in it.
    cortical = {f"cortex.{name}" for name, _ in circuit.cortex.named_parameters()
                if name != "log_exploration"}
    assert {"cortex.thalamocortical", "cortex.recurrent", "cortex.readout"} <= cortical

    losses = behaviour_clone(circuit, demos, updates=15, seed=0, batch=2, lr=5e-3, progress=False)
    assert len(losses) == 15 and all(np.isfinite(losses))
    assert np.all(np.diff(losses) < 0), losses  # small steps on two trials: a steady descent
    assert losses[-1] < 0.85 * losses[0]

    after = circuit.state_dict()
    for name, value in before.items():
        if name in cortical:
            assert not torch.equal(value, after[name]), f"{name} did not learn"
        else:  # critic, thalamic input weights and scalings, cortical mask and signs, noise amplitude
            assert torch.equal(value, after[name]), f"{name} changed"
    assert any(name.startswith("critic.") for name in before)
    assert "thalamus.input_weight" in before
