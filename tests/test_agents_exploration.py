"""Exploration regulated by reward history outside M1 (agents.exploration), and per-layer step sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from small_setups import SHORT_TRIAL, SMALL_AGENT

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import DopamineChannel, SilencingSchedule
from agents.exploration import ExplorationRegulator
from agents.three_factor import ThreeFactorLearner
from reach_env import MousePelletReachEnv


def test_regulator_rises_after_failures_and_falls_to_its_floor_after_successes():
    regulator = ExplorationRegulator(initial=0.1, floor=0.02, memory=4.0)
    assert regulator.std() == pytest.approx(0.1)  # no success yet: most variable
    regulator.observe([True])
    assert regulator.success_average == pytest.approx(0.25)
    assert regulator.std() == pytest.approx(0.02 + 0.08 * 0.75)
    regulator.observe([True] * 60)
    assert regulator.std() == pytest.approx(0.02, abs=1e-6)  # never below the floor
    low = regulator.std()
    regulator.observe([False, False])
    assert regulator.std() > low  # failures bring variability back
    again = ExplorationRegulator(0.1, 0.02, 4.0)
    again.load_state_dict(regulator.state_dict())
    assert again.std() == regulator.std()


@pytest.mark.parametrize(("kwargs", "words"), [
    (dict(initial=0.0, floor=0.0, memory=4.0), "initial"),
    (dict(initial=0.1, floor=0.2, memory=4.0), "floor"),
    (dict(initial=0.1, floor=0.01, memory=0.5), "memory"),
])
def test_regulator_rejects_bad_settings(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ExplorationRegulator(**kwargs)


def test_agent_config_refuses_learning_and_regulating_the_noise_at_once():
    with pytest.raises(ValueError, match="learn_exploration"):
        AgentConfig(regulate_exploration=True, learn_exploration=True)
    with pytest.raises(ValueError, match="exploration_floor"):
        AgentConfig(regulate_exploration=True, learn_exploration=False, exploration_std=0.5,
                    exploration_floor=0.6)


def learner(schedule: SilencingSchedule | None = None, **agent) -> ThreeFactorLearner:
    config = AgentConfig(**{**SMALL_AGENT, "learn_exploration": False, "regulate_exploration": True,
                            "update_every": 100, "exploration_memory": 2.0, **agent})
    circuit = CorticalCircuit(config, 0.02, seed=0)
    return ThreeFactorLearner(circuit, config, DopamineChannel(schedule), seed=0)


@pytest.fixture
def envs():
    made = [MousePelletReachEnv(**SHORT_TRIAL) for _ in range(2)]
    yield made
    for env in made:
        env.close()


def test_the_trials_noise_has_the_regulated_amplitude_and_evaluation_leaves_it(envs):
    agent = learner()
    agent.exploration.success_average = 0.5
    expected = agent.exploration.std()
    record = agent.run_trials(envs, [0, 1], [1, 2])
    assert [s.exploration_std for s in record.summaries] == pytest.approx([expected] * 2)
    # the stationary s.d. of the low-pass filtered noise, from its samples
    noise = record.noise[20:][record.valid[20:]]
    assert noise.std() == pytest.approx(expected, rel=0.3)
    updated = agent.exploration.success_average
    assert updated == pytest.approx(0.5 * 0.25)  # two failures (a tiny network never succeeds)
    agent.run_trials(envs, [2, 3], [3, 4], learn=False)  # evaluation: the history is not touched
    assert agent.exploration.success_average == updated


def test_a_dopamine_block_leaves_the_regulation_as_it_is(envs):
    # One update window per batch: up to its end both learners act identically; the blocked one then
    # keeps its cortex, but its exploration follows the same outcomes.
    intact, blocked = learner(), learner(SilencingSchedule([(0, 99, 0.0)]))
    before = [p.detach().clone() for p in blocked.circuit.cortical_parameters()]
    for agent in (intact, blocked):
        agent.exploration.success_average = 0.3
        agent.run_trials(envs, [0, 1], [5, 6])
    assert blocked.exploration.success_average == intact.exploration.success_average
    assert all(torch.equal(a, b) for a, b in zip(before, blocked.circuit.cortical_parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(before, intact.circuit.cortical_parameters(),
                                                      strict=True))


def test_the_readout_takes_steps_scaled_by_readout_lr_scale(envs):
    changes = {}
    for scale in (1.0, 0.25):
        agent = learner(readout_lr_scale=scale, policy_lr=1e-3)
        before = {n: p.detach().clone() for n, p in agent.circuit.cortex.named_parameters()}
        agent.run_trials(envs, [0, 1], [5, 6])  # one Adam step: about lr * sign(gradient) per weight
        changes[scale] = {n: float((p.detach() - before[n]).abs().max())
                          for n, p in agent.circuit.cortex.named_parameters()}
    assert changes[0.25]["readout"] == pytest.approx(0.25 * changes[1.0]["readout"], rel=1e-3)
    assert changes[0.25]["recurrent"] == pytest.approx(changes[1.0]["recurrent"], rel=1e-6)


def test_noise_in_the_drive_keeps_the_noise_free_excitation_the_median_of_the_noisy_one():
    # Noise on the excitation is clipped to [0, 1] by the env, so near rest (about 0.05) it raises the
    # average excitation: the noisy policy co-contracts where the noise-free one does not. In the drive,
    # before the sigmoid, the noise-free excitation stays the median of the noisy ones.
    config = AgentConfig(**SMALL_AGENT, noise_in_drive=True, exploration_std=1.0, noise_tau=0.0,
                         precue_exploration=1.0,
                         learn_exploration=False)
    circuit = CorticalCircuit(config, 0.02, seed=0)
    observation = torch.zeros(4096, 69)
    state, gains = circuit.initial_state(4096), torch.ones(4096)
    generator = torch.Generator().manual_seed(0)
    quiet = circuit.step(observation, state, gains, generator, explore=False)
    assert torch.equal(quiet.action, quiet.mean)
    noisy = circuit.step(observation, state, gains, generator)
    assert bool(((noisy.action > 0) & (noisy.action < 1)).all())  # nothing for the env to clip
    torch.testing.assert_close(noisy.action.median(0).values, quiet.mean[0], atol=0.01, rtol=0)
    # the log density is the innovation's, in drive units: its gradient reaches the read-out
    noisy.log_prob.sum().backward()
    assert circuit.cortex.readout.grad.abs().sum() > 0


# --- variability before and after the cue ----------------------------------------------------------


def _cue_observation(batch: int, heard: bool) -> torch.Tensor:
    from reach_env import observation_labels

    observation = torch.zeros(batch, 69)
    if heard:
        observation[:, observation_labels().index("cue")] = 1.0
    return observation


@pytest.mark.parametrize("precue", [0.0, 0.25])
def test_before_the_cue_the_noise_is_the_precue_fraction_and_after_it_the_full_amplitude(precue):
    config = AgentConfig(**SMALL_AGENT, noise_in_drive=True, exploration_std=1.0, noise_tau=0.0,
                         precue_exploration=precue)
    circuit = CorticalCircuit(config, 0.02, seed=0)
    gains, generator = torch.ones(4096), torch.Generator().manual_seed(0)
    waiting = circuit.step(_cue_observation(4096, False), circuit.initial_state(4096), gains, generator)
    cued = circuit.step(_cue_observation(4096, True), circuit.initial_state(4096), gains, generator)
    assert bool(cued.deciding.all()) and float(cued.noise.std()) == pytest.approx(1.0, rel=0.05)
    if precue == 0.0:
        # No stochastic decision before the cue: no noise, and no eligibility (log density 0).
        assert not bool(waiting.deciding.any())
        assert torch.equal(waiting.noise, torch.zeros_like(waiting.noise))
        assert torch.equal(waiting.log_prob, torch.zeros_like(waiting.log_prob))
    else:
        assert bool(waiting.deciding.all())
        assert float(waiting.noise.std()) == pytest.approx(precue, rel=0.05)


def test_windows_before_the_cue_make_no_cortical_update():
    # SHORT_TRIAL: cue at 0.4 s (step 20), trials of 40 steps; windows of 10 steps: the first two are
    # all waiting (no decision, no eligibility), so only the last two update the cortex.
    config = AgentConfig(**SMALL_AGENT, update_every=10, precue_exploration=0.0)
    circuit = CorticalCircuit(config, 0.02, seed=0)
    learner = ThreeFactorLearner(circuit, config, DopamineChannel(), seed=0)
    envs = [MousePelletReachEnv(**SHORT_TRIAL) for _ in range(2)]
    try:
        record = learner.run_trials(envs, [0, 1], [1, 2])
    finally:
        for env in envs:
            env.close()
    assert [s.steps for s in record.summaries] == [40, 40]
    assert len(record.update_norms) == 2 and all(n > 0 for n in record.update_norms)
    assert np.abs(record.noise[:20]).max() == 0.0 and np.abs(record.noise[20:]).max() > 0.0
