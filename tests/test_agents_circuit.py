"""Circuit v2: separate senses, a thalamus driven by a learning forward model, a sparse normalised
excitatory thalamocortical projection, an outcome pathway under dopamine, private neural noise, and the
thalamic stimulation probe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from small_setups import SHORT_TRIAL, SMALL_AGENT_V2

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import BatchGating, DopamineChannel, SilencingSchedule
from agents.probe import ProbeConfig, run_probe, stimulated_units
from agents.three_factor import ThreeFactorLearner, WindowStep
from reach_env import MousePelletReachEnv, observation_labels

CONFIG = AgentConfig(**SMALL_AGENT_V2, update_every=5)
LABELS = observation_labels()


def learner_of(config: AgentConfig = CONFIG, schedule: SilencingSchedule | None = None,
               seed: int = 0) -> ThreeFactorLearner:
    return ThreeFactorLearner(CorticalCircuit(config, 0.02, seed=seed), config, DopamineChannel(schedule),
                              seed=seed)


def observations(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, len(LABELS), generator=torch.Generator().manual_seed(seed))


def with_changed(obs: torch.Tensor, prefix: str) -> torch.Tensor:
    changed = obs.clone()
    columns = [i for i, label in enumerate(LABELS) if label.split("[")[0] == prefix]
    changed[:, columns] += 3.0
    return changed


# --- separate senses --------------------------------------------------------------------------------


@pytest.mark.parametrize(("sense", "reaches"), [
    ("cue", {"cue"}),
    ("taste", {"outcome"}),
    ("touch", {"s1"}),
    ("pellet_from_tips", {"s1"}),
    ("joint_angles", {"s1", "thalamus"}),  # proprioception: S1, and the forward model's state
    ("time_since_cue", {"thalamus", "cue"}),  # the forward model's timing basis; the tone's persistence
    ("pellet_from_mouth", set()),  # the mouth senses the pellet as taste
])
def test_each_sense_reaches_the_cortex_by_its_own_route(sense, reaches):
    circuit = CorticalCircuit(CONFIG, 0.02, seed=0)
    obs = observations(8)
    # Just after a tone has ended: the auditory input still holds it (its persistence), and a later
    # time since the tone lets it go.
    obs[:, LABELS.index("cue")], obs[:, LABELS.index("time_since_cue")] = 0.0, 0.15
    efference, gain = torch.full((8, 15), 0.1), torch.ones(8)
    before, _ = circuit.sense(obs, efference, gain)
    after, _ = circuit.sense(with_changed(obs, sense), efference, gain)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == reaches


def test_the_thalamus_carries_the_efference_copy_and_nothing_of_cue_or_taste():
    circuit = CorticalCircuit(CONFIG, 0.02, seed=0)
    obs, gain = observations(8), torch.ones(8)
    rest, _ = circuit.sense(obs, torch.full((8, 15), 0.05), gain)
    moving, _ = circuit.sense(obs, torch.full((8, 15), 0.6), gain)
    assert not torch.equal(rest["thalamus"], moving["thalamus"])
    assert torch.equal(rest["s1"], moving["s1"])  # S1 senses the limb, not the command


def test_silencing_scales_only_the_thalamic_input():
    circuit = CorticalCircuit(CONFIG, 0.02, seed=0)
    obs, efference = observations(8), torch.full((8, 15), 0.1)
    intact, _ = circuit.sense(obs, efference, torch.ones(8))
    silenced, _ = circuit.sense(obs, efference, torch.zeros(8))
    assert torch.all(silenced["thalamus"] == 0) and intact["thalamus"].abs().max() > 0.1
    for name in ("s1", "cue", "outcome"):
        assert torch.equal(intact[name], silenced[name])


# --- the thalamocortical projection ------------------------------------------------------------------


def test_thalamocortical_projection_is_sparse_excitatory_and_normalised_per_unit():
    config = AgentConfig(n_cortex=400, n_thalamus=64, critic_hidden=16, circuit=2, tc_targets=1.0)
    cortex = CorticalCircuit(config, 0.02, seed=1).cortex
    weights = cortex.effective_thalamocortical()
    density = float((weights > 0).float().mean())
    assert 0.15 < density <= config.tc_density + 1.0 / config.n_thalamus + 0.01
    assert bool((weights >= 0).all())
    assert bool(((weights > 0).sum(1) >= 1).all())
    torch.testing.assert_close(weights.sum(1), torch.full((400,), config.tc_gain))
    # A weight pushed below zero by learning stops acting (it is excitatory), it does not invert.
    with torch.no_grad():
        cortex.thalamocortical[0].fill_(-1.0)
    assert bool((cortex.effective_thalamocortical()[0] == 0).all())


def test_the_tone_and_the_read_out_reach_and_leave_only_their_share_of_units():
    config = AgentConfig(n_cortex=400, n_thalamus=16, critic_hidden=16, circuit=2, cue_density=0.2,
                         readout_density=0.3)
    cortex = CorticalCircuit(config, 0.02, seed=2).cortex
    hearing = cortex.input_weights()["cue"].abs().sum(1) > 0
    assert 0.14 < float(hearing.float().mean()) < 0.26
    projecting = cortex.readout_mask[0] > 0
    assert 0.23 < float(projecting.float().mean()) < 0.37
    # A unit off the read-out moves no muscle directly: the drive does not depend on its rate.
    x = torch.randn(3, 400, generator=torch.Generator().manual_seed(0))
    inputs = {name: torch.zeros(3, w.shape[1]) for name, w in cortex.input_weights().items()}
    with torch.no_grad():
        _, rates, drive = cortex.advance(x, inputs)
        silenced = rates.clone()
        silenced[:, ~projecting] = 0.0
        torch.testing.assert_close(drive, silenced @ cortex.readout.T + cortex.readout_bias)
        assert not torch.allclose(drive, rates @ cortex.readout.T + cortex.readout_bias)


def test_the_thalamus_and_s1_reach_only_their_share_of_units():
    config = AgentConfig(n_cortex=400, n_thalamus=64, critic_hidden=16, circuit=2, tc_targets=0.5,
                         s1_density=0.3)
    cortex = CorticalCircuit(config, 0.02, seed=3).cortex
    weights = cortex.input_weights()
    receiving = weights["thalamus"].sum(1) > 0
    assert 0.42 < float(receiving.float().mean()) < 0.58
    # Each receiving unit keeps the normalised total; the others have no thalamic synapse, so a
    # thalamic pulse cannot reach them directly and their bias has no tonic drive to cancel.
    torch.testing.assert_close(weights["thalamus"][receiving].sum(1),
                               torch.full((int(receiving.sum()),), config.tc_gain))
    assert bool((cortex.bias[~receiving] == 0).all()) and bool((cortex.bias[receiving] < 0).all())
    touched = weights["s1"].abs().sum(1) > 0
    assert 0.23 < float(touched.float().mean()) < 0.37


def test_s1_reaches_the_cortex_after_its_afferent_delay():
    config = AgentConfig(**SMALL_AGENT_V2, s1_delay=0.04)
    circuit = CorticalCircuit(config, 0.02, seed=0)
    assert circuit.s1_delay_steps == 2
    sequence = [observations(4, seed=k) for k in range(4)]
    state, generator, received = circuit.initial_state(4), torch.Generator().manual_seed(0), []
    for obs in sequence:
        out = circuit.step(obs, state, torch.ones(4), generator)
        state = out.state
        received.append(out.inputs["s1"])
    assert all(bool((r == 0).all()) for r in received[:2])  # nothing has arrived yet
    for now, then in ((2, 0), (3, 1)):
        torch.testing.assert_close(received[now], circuit.somatosensory(sequence[then]))
    undelayed = AgentConfig(**SMALL_AGENT_V2, s1_delay=0.0)
    assert CorticalCircuit(undelayed, 0.02, seed=0).initial_state(2).s1_pending is None


def test_the_forward_model_keeps_time_from_the_tone():
    config = AgentConfig(**SMALL_AGENT_V2, timing_basis=4, timing_width=0.1)
    circuit = CorticalCircuit(config, 0.02, seed=0)
    obs = observations(3)
    obs[:, LABELS.index("time_since_cue")] = torch.tensor([0.0, 0.05, 0.35])
    basis = circuit.thalamus.timing(obs)
    assert basis.shape == (3, 4)
    assert bool((basis[0] == 0).all())  # before the tone: silent
    assert int(basis[1].argmax()) == 0 and int(basis[2].argmax()) == 3
    # The clock reaches the thalamus through the forward model only; S1 and the cue input do not see it.
    efference, gain = torch.full((3, 15), 0.1), torch.ones(3)
    before, _ = circuit.sense(obs, efference, gain)
    later = obs.clone()
    later[:, LABELS.index("time_since_cue")] += 0.1
    after, _ = circuit.sense(later, efference, gain)
    assert {name for name in before if not torch.equal(before[name], after[name])} == {"thalamus"}


@pytest.mark.parametrize("persistence", [0.0, 0.3])
def test_the_auditory_input_outlasts_the_tone_by_its_persistence(persistence):
    circuit = CorticalCircuit(AgentConfig(**SMALL_AGENT_V2, cue_persistence=persistence), 0.02, seed=0)
    since = torch.tensor([0.0, 0.0, 0.02, 0.08, 0.12, 0.28, 0.32, 1.0])
    tone = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # a 0.1 s tone from its onset
    obs = torch.zeros(len(since), len(LABELS))
    obs[:, LABELS.index("time_since_cue")], obs[:, LABELS.index("cue")] = since, tone
    heard = circuit.cue_input(obs)[:, 0]
    # The tone alone at 10, the scale it always had; the persistence holds that level after it.
    expected = torch.maximum(tone, ((since > 0) & (since < persistence)).float()) * 10.0
    torch.testing.assert_close(heard, expected)
    assert float(heard[0]) == 0.0 and float(heard[-1]) == 0.0  # silent before the tone and long after
    assert bool((heard[4:6] == 10.0).all()) is (persistence == 0.3)


def test_the_initial_bias_cancels_the_tonic_thalamic_drive():
    circuit = CorticalCircuit(CONFIG, 0.02, seed=0)
    tonic = torch.relu(circuit.thalamus.bias)
    drive = circuit.cortex.effective_thalamocortical() @ tonic + circuit.cortex.bias
    torch.testing.assert_close(drive, torch.zeros_like(drive), atol=1e-5, rtol=0)


# --- the forward model -------------------------------------------------------------------------------


def test_the_forward_model_learns_a_predictable_change():
    circuit = CorticalCircuit(CONFIG, 0.02, seed=0)
    thalamus = circuit.thalamus
    generator = torch.Generator().manual_seed(1)
    sensed = int(thalamus.indices.numel())  # joint angles and velocities, spindle lengths and velocities
    mapping = 0.3 * torch.randn(sensed, 15, generator=generator)

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # Small postural variation around rest (muscles near their optimal length): the change to
        # predict is the command's, as in a reach from the perch.
        obs = 0.1 * observations(64, int(torch.randint(1000, (1,), generator=generator)))
        obs[:, [i for i, label in enumerate(LABELS) if label.startswith('muscle_lengths')]] += 1.0
        obs[:, LABELS.index("time_since_cue")] = 0.0
        efference = torch.rand(64, 15, generator=generator)
        start = thalamus.proprioception(obs)
        end = start + efference @ mapping.T
        return thalamus.granule(obs, efference), start, end, torch.ones(64, dtype=bool)

    errors = [thalamus.learn(*batch(), rate=0.5) for _ in range(400)]
    assert np.mean(errors[-20:]) < 0.4 * np.mean(errors[:20])
    assert thalamus.learn(*batch()[:3], torch.zeros(64, dtype=bool), rate=0.5) == 0.0


def test_the_forward_model_fit_is_the_least_squares_limb_model_of_whole_trials():
    circuit = CorticalCircuit(CONFIG, 0.02, seed=0)
    thalamus = circuit.thalamus
    h = thalamus.horizon_steps
    generator = torch.Generator().manual_seed(4)
    n, length = 6, h + 20
    obs = 0.1 * torch.randn(n, length, len(LABELS), generator=generator)
    obs[..., LABELS.index("time_since_cue")] = 0.0
    efference = torch.rand(n, length, 15, generator=generator)
    valid = torch.ones(n, length, dtype=torch.bool)
    valid[0, h + 10:] = False  # a trial that ended early: its last steps have no outcome to predict
    # Proprioception that moves as a fixed linear function of the command: a limb the model can learn.
    indices = thalamus.indices
    mapping = 0.05 * torch.randn(len(indices), 15, generator=generator)
    for t in range(h, length):
        obs[:, t, indices] = obs[:, t - h, indices] + (efference[:, t - h] @ mapping.T) * thalamus.scale
    naive = thalamus.prediction_weight.clone()
    after = thalamus.fit(obs, efference, valid)
    counted = (valid[:, :-h] & valid[:, h:])
    granule = thalamus.granule(obs.reshape(n * length, -1), efference.reshape(n * length, -1))
    granule = granule.reshape(n, length, -1)[:, :-h][counted]
    state = thalamus.proprioception(obs.reshape(n * length, -1)).reshape(n, length, -1)
    change = (state[:, h:] - state[:, :-h])[counted]
    before = float(((change - granule @ naive.T) ** 2).mean())
    assert after == pytest.approx(float(((change - granule @ thalamus.prediction_weight.T) ** 2).mean()),
                                  rel=1e-4)
    assert after < 0.2 * before
    fitted = thalamus.prediction_weight.clone()
    assert math.isnan(thalamus.fit(obs[:, :h], efference[:, :h], valid[:, :h]))  # nothing to predict
    assert torch.equal(thalamus.prediction_weight, fitted)


def test_the_forward_model_learns_under_a_dopamine_block_and_the_cortex_does_not(envs):
    learner = learner_of(schedule=SilencingSchedule([(0, 99, 0.0)]))
    forward = learner.circuit.thalamus.prediction_weight.clone()
    cortex = [p.detach().clone() for p in learner.circuit.cortical_parameters()]
    record = learner.run_trials(envs, [0, 1], [3, 4])
    assert not torch.equal(forward, learner.circuit.thalamus.prediction_weight)
    assert len(record.prediction_errors) > 0 and all(np.isfinite(record.prediction_errors))
    for before, after in zip(cortex, learner.circuit.cortical_parameters(), strict=True):
        assert torch.equal(before, after)


def test_the_forward_model_does_not_learn_without_learning(envs):
    learner = learner_of()
    forward = learner.circuit.thalamus.prediction_weight.clone()
    record = learner.run_trials(envs, [0, 1], [3, 4], learn=False)
    assert torch.equal(forward, learner.circuit.thalamus.prediction_weight)
    assert record.prediction_errors == []


# --- the outcome pathway ------------------------------------------------------------------------------


def outcome_window(learner: ThreeFactorLearner, steps: int = 6, batch: int = 3):
    """A synthetic update window: taste eligibility (rate x taste) and RPEs, seeded."""
    generator = torch.Generator().manual_seed(2)
    n = learner.config.n_cortex
    traces = [torch.rand(batch, n, 1, generator=generator) for _ in range(steps)]
    window = [WindowStep(*(None,) * 6, outcome_trace=trace, squared_rate=None) for trace in traces]
    delta = torch.randn(steps, batch, generator=generator)
    return window, delta, torch.ones(steps, batch)


@pytest.mark.parametrize("gain", [0.0, 0.5, 1.0])
def test_the_outcome_pathway_changes_by_dopamine_times_eligibility(gain):
    learner = learner_of()
    window, delta, mask = outcome_window(learner)
    before = learner.circuit.cortex.outcome.detach().clone()
    gains = torch.full((3,), gain)
    learner._outcome_step(window, delta, BatchGating(gains), mask)
    expected = learner.config.outcome_lr * gain * sum(
        (delta[t][:, None, None] * window[t][6]).sum(0) for t in range(len(window))) / 3
    torch.testing.assert_close(learner.circuit.cortex.outcome - before, expected)


def test_the_outcome_pathway_is_weak_at_the_start_and_never_a_gradient_target():
    circuit = CorticalCircuit(CONFIG, 0.02, seed=0)
    assert circuit.cortex.outcome.abs().max() < 5 * CONFIG.outcome_initial
    assert not circuit.cortex.outcome.requires_grad
    assert "outcome" not in {name for name, _ in circuit.policy_parameters()}


# --- neural noise -------------------------------------------------------------------------------------


def test_neural_noise_is_private_recorded_and_separate_from_exploration(envs):
    quiet = learner_of(AgentConfig(**SMALL_AGENT_V2, neural_noise_std=0.0)).run_trials(
        envs, [0, 1], [3, 4], learn=False, explore=False)
    noisy = learner_of().run_trials(envs, [0, 1], [3, 4], learn=False, explore=False)
    assert np.all(quiet.neural_noise == 0) and np.all(noisy.noise == 0)  # no exploration either way
    sample = noisy.neural_noise[noisy.valid]
    assert sample.std() == pytest.approx(CONFIG.neural_noise_std, rel=0.1)
    assert abs(float(np.corrcoef(sample[:, 0], sample[:, 1])[0, 1])) < 0.2  # independent units
    assert not np.array_equal(quiet.cortex[1:4], noisy.cortex[1:4])


# --- the stimulation probe ------------------------------------------------------------------------------


def test_the_probe_pulses_the_thalamus_and_moves_the_cortex():
    envs = [MousePelletReachEnv(**{**SHORT_TRIAL, "cue_time": 0.5}) for _ in range(2)]
    circuit = CorticalCircuit(CONFIG, 0.02, seed=0)
    config = ProbeConfig(trials=4, start=0.1, duration=0.04, amplitude=1.0, record_until=0.3)
    pulsed = run_probe(circuit, envs, [1, 2, 3, 4], config, torch.Generator().manual_seed(0), subset_seed=5)
    control = run_probe(circuit, envs, [1, 2, 3, 4], ProbeConfig(trials=4, start=0.1, duration=0.04,
                                                                 amplitude=1e-9, record_until=0.3),
                        torch.Generator().manual_seed(0), subset_seed=5)
    assert pulsed["stimulated"].sum() == round(0.3 * CONFIG.n_thalamus)
    np.testing.assert_array_equal(pulsed["stimulated"], stimulated_units(CONFIG.n_thalamus, 0.3, 5))
    assert not np.array_equal(pulsed["stimulated"], stimulated_units(CONFIG.n_thalamus, 0.3, 6))
    assert pulsed["cortex"].shape == (4, 15, CONFIG.n_cortex) and pulsed["valid"].all()
    np.testing.assert_allclose(pulsed["time"], np.arange(1, 16) * 0.02)
    np.testing.assert_array_equal(pulsed["pulse_trial"], [True, False, True, False])
    difference = np.abs(pulsed["cortex"].astype(float) - control["cortex"].astype(float))
    assert np.all(difference[:, :5] < 1e-3)  # before the pulse: the same trials, the same noise
    assert difference[0::2, 5:8].max() > 0.05  # the pulsed trials, during and right after it
    assert np.all(difference[1::2] < 1e-3)  # the control trials have no pulse
    assert float(pulsed["pulse_start"]) == 0.1 and float(pulsed["pulse_amplitude"]) == 1.0
    for env in envs:
        env.close()


def test_probe_trials_are_cut_at_the_cue():
    envs = [MousePelletReachEnv(**{**SHORT_TRIAL, "cue_time": 0.2}) for _ in range(2)]
    circuit = CorticalCircuit(CONFIG, 0.02, seed=0)
    arrays = run_probe(circuit, envs, [1, 2], ProbeConfig(trials=2, start=0.1, duration=0.04,
                                                          record_until=0.3), torch.Generator(), subset_seed=0)
    assert arrays["valid"][:, :10].all() and not arrays["valid"][:, 12:].any()
    for env in envs:
        env.close()


@pytest.mark.parametrize("bad", [dict(trials=1), dict(start=0.0), dict(start=0.38), dict(amplitude=0.0),
                                 dict(fraction=0.0), dict(fraction=1.5)])
def test_probe_config_errors_name_the_field(bad):
    with pytest.raises(ValueError, match="probe"):
        ProbeConfig(**bad)


def test_circuit_1_reads_none_of_circuit_2s_fields(envs):
    """What lets a circuit-1 checkpoint resume across changes to circuit 2 (training.checkpoint)."""
    from agents.config import CIRCUIT_2_FIELDS

    changed = {"n_s1": 8, "n_granule": 16, "forward_horizon": 0.1, "forward_initial": 0.3, "forward_lr": 0.2,
               "thalamic_tonic": 0.9, "timing_basis": 2, "timing_width": 0.2, "s1_delay": 0.04,
               "tc_density": 0.5, "tc_targets": 0.3, "tc_gain": 1.0, "s1_gain": 0.5, "s1_density": 0.6,
               "cue_gain": 0.7, "cue_density": 0.9, "cue_persistence": 0.0, "readout_density": 0.5,
               "outcome_initial": 0.2, "outcome_lr": 0.9, "outcome_trace_tau": 0.3, "neural_noise_std": 0.1}
    assert set(changed) == CIRCUIT_2_FIELDS
    runs = []
    for fields in ({}, changed):
        config = AgentConfig(**{**SMALL_AGENT_V2, "circuit": 1}, update_every=5, **fields)
        learner = learner_of(config, seed=2)
        record = learner.run_trials(envs, [0, 1], [3, 4])
        runs.append(({k: v.clone() for k, v in learner.circuit.state_dict().items()}, record.action))
    (weights, actions), (other_weights, other_actions) = runs
    assert weights.keys() == other_weights.keys()
    for name in weights:
        assert torch.equal(weights[name], other_weights[name]), name
    np.testing.assert_array_equal(actions, other_actions)
