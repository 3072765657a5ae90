"""AgentConfig validation, Dale's law and sparse connectivity of the recurrent weights, and the
cortex's integration step."""

from __future__ import annotations

import math

import pytest
import torch
from small_setups import SMALL_AGENT

from agents.circuit import Cortex, CorticalCircuit
from agents.config import CIRCUIT_DEFAULTS, AgentConfig

SMALL = SMALL_AGENT


@pytest.mark.parametrize(("field", "value"), [
    ("n_cortex", 0), ("n_thalamus", -1), ("update_every", 0), ("critic_hidden", 0),
    ("tau", 0.0), ("tau", math.nan), ("exploration_std", -0.1), ("policy_lr", 0.0),
    ("critic_lr", math.inf), ("grad_clip", 0.0), ("recurrent_gain", -1.0),
    ("gamma", 1.5), ("gamma", -0.1), ("trace_lambda", 2.0), ("excitatory_fraction", 1.01),
    ("connection_density", 0.0), ("connection_density", 1.5), ("noise_tau", -1.0),
    ("precue_exploration", -0.1), ("precue_exploration", 1.5), ("optimizer", "rmsprop"),
    ("step_scaling", "sqrt"), ("circuit", 3), ("circuit", 0), ("n_s1", 0), ("n_granule", 0),
    ("forward_horizon", 0.0), ("forward_lr", -0.1), ("forward_initial", math.nan), ("tc_density", 0.0),
    ("tc_density", 1.2), ("tc_gain", 0.0), ("s1_gain", -1.0), ("cue_gain", 0.0), ("cue_density", 0.0),
    ("readout_density", 1.5), ("outcome_initial", -0.1), ("outcome_lr", math.inf),
    ("outcome_trace_tau", -1.0), ("neural_noise_std", -0.3), ("thalamic_tonic", 0.0),
    ("tc_targets", 0.0), ("s1_density", 1.5), ("s1_delay", -0.02), ("timing_basis", -1),
    ("cue_persistence", -0.1), ("cue_persistence", float("nan")), ("cue_persistence", 2.0),
    ("timing_width", 0.0), ("activity_penalty", -0.1), ("activity_penalty", math.nan),
])
def test_invalid_values_are_rejected_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"agent\.{field}="):
        AgentConfig(**{field: value})


def test_defaults_and_boundaries_are_valid():
    config = AgentConfig()
    assert not config.dale and config.connection_density == 1.0
    assert not config.critic_blocked_with_dopamine
    AgentConfig(gamma=0.0, trace_lambda=1.0, connection_density=1.0, noise_tau=0.0)
    assert config.field_names() == list(config.as_dict())


def test_white_noise_when_noise_tau_is_zero():
    assert CorticalCircuit(AgentConfig(**SMALL, noise_tau=0.0), 0.02, seed=0).noise_decay == 0.0
    filtered = CorticalCircuit(AgentConfig(**SMALL, noise_tau=0.05), 0.02, seed=0)
    assert filtered.noise_decay == pytest.approx(math.exp(-0.02 / 0.05))


def test_dale_signs_columns_and_sparse_mask():
    config = AgentConfig(n_cortex=200, n_thalamus=16, critic_hidden=16, dale=True,
                         excitatory_fraction=0.8, connection_density=0.5)
    cortex = CorticalCircuit(config, 0.02, seed=0).cortex
    weights = cortex.effective_recurrent()
    n_excitatory = round(0.8 * 200)
    assert torch.equal(cortex.sign, torch.cat([torch.ones(n_excitatory), -torch.ones(200 - n_excitatory)]))
    assert (weights[:, :n_excitatory] >= 0).all() and (weights[:, :n_excitatory] > 0).any()
    assert (weights[:, n_excitatory:] <= 0).all() and (weights[:, n_excitatory:] < 0).any()
    assert torch.all(torch.diagonal(weights) == 0)
    missing = (cortex.mask == 0).float().mean().item()
    assert missing == pytest.approx(0.5 + 0.5 / 200, abs=0.02)  # (1 - density), plus the diagonal
    assert torch.all(weights[cortex.mask == 0] == 0)

    # Learning may drive raw weights negative; the effective signs still hold.
    with torch.no_grad():
        cortex.recurrent.copy_(torch.randn(200, 200, generator=torch.Generator().manual_seed(1)))
    weights = cortex.effective_recurrent()
    assert (weights[:, :n_excitatory] >= 0).all() and (weights[:, n_excitatory:] <= 0).all()
    assert torch.all(cortex.rates(torch.randn(5, 200)) >= 0)  # rectified rates under Dale's law


def test_without_dale_weights_are_mixed_sign_and_dense():
    cortex = CorticalCircuit(AgentConfig(n_cortex=64, n_thalamus=16, critic_hidden=16), 0.02, seed=0).cortex
    weights = cortex.effective_recurrent()
    assert (cortex.mask == 0).sum() == 64  # the diagonal only
    assert (weights > 0).any(0).all() and (weights < 0).any(0).all()
    assert (cortex.rates(torch.full((1, 64), -1.0)) < 0).all()


def test_cortex_rejects_a_step_longer_than_its_time_constant():
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"dt/tau=2"):
        Cortex(AgentConfig(**SMALL, tau=0.01), {"thalamus": 16}, 0.02, generator)
    with pytest.raises(ValueError, match=r"dt/tau"):
        CorticalCircuit(AgentConfig(**SMALL, tau=0.019), 0.02, seed=0)
    assert Cortex(AgentConfig(**SMALL, tau=0.02, circuit=1), {"thalamus": 16}, 0.02,
                  generator).alpha == pytest.approx(1.0)


@pytest.mark.parametrize("circuit", [1, 2])
def test_fields_left_none_take_their_circuits_value_and_a_given_value_wins(circuit):
    config = AgentConfig(circuit=circuit)
    for name, value in CIRCUIT_DEFAULTS[circuit].items():
        assert getattr(config, name) == value
        assert config.as_dict()[name] == value  # what a run's config.yaml and checkpoints record
    assert AgentConfig(circuit=circuit, recurrent_gain=0.7, activity_penalty=0.0).recurrent_gain == 0.7
    assert CIRCUIT_DEFAULTS[1] != CIRCUIT_DEFAULTS[2]
