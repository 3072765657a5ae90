"""Behaviour cloning before the protocol: it lowers the cloning loss and trains only the cortex."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from small_setups import RecordedEnv

import agents.pretraining
from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.pretraining import Check, PretrainingConfig, behaviour_clone, collect_demonstrations, rate_penalty
from reach_env import MousePelletReachEnv

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


@pytest.mark.parametrize("version", [1, 2])
def test_behaviour_cloning_lowers_the_loss_and_trains_only_the_cortex(demos, version):
    config = AgentConfig(n_cortex=32, n_thalamus=16, critic_hidden=16, circuit=version)
    circuit = CorticalCircuit(config, 0.02, seed=0)
    before = {k: v.detach().clone() for k, v in circuit.state_dict().items()}
    # The regression targets the mean excitation: every cortical weight but the exploration noise's
    # amplitude (a parameter when AgentConfig.learn_exploration is on) takes part in it.
    cortical = {f"cortex.{name}" for name, _ in circuit.cortex.named_parameters()
                if name not in ("log_exploration", "outcome")}
    assert {"cortex.thalamocortical", "cortex.recurrent", "cortex.readout"} <= cortical

    losses = behaviour_clone(circuit, demos, updates=15, seed=0, batch=2, lr=5e-3, progress=False)
    assert len(losses) == 15 and all(np.isfinite(losses))
    assert np.all(np.diff(losses) < 0), losses  # small steps on two trials: a steady descent
    assert losses[-1] < 0.85 * losses[0]

    after = circuit.state_dict()
    for name, value in before.items():
        if name in cortical:
            assert not torch.equal(value, after[name]), f"{name} did not learn"
        else:  # critic, the forward model and the S1 population, cortical masks and signs, the outcome
            # pathway (its own dopamine-gated rule), the noise amplitude
            assert torch.equal(value, after[name]), f"{name} changed"
    assert any(name.startswith("critic.") for name in before)
    fixed = ({"thalamus.input_weight"} if version == 1 else
             {"thalamus.prediction_weight", "somatosensory.input_weight", "cortex.outcome"})
    assert fixed <= before.keys()


def test_cloning_stops_at_the_first_check_that_says_so(demos):
    circuit = CorticalCircuit(AgentConfig(n_cortex=32, n_thalamus=16, critic_hidden=16), 0.02, seed=0)
    asked = []

    def check() -> Check:
        asked.append(len(asked))
        return Check.STOP if len(asked) == 3 else Check.CONTINUE

    losses = behaviour_clone(circuit, demos, updates=100, seed=0, batch=2, progress=False, check=check,
                             check_every=4)
    assert len(losses) == 12 and len(asked) == 3  # checks after updates 4, 8 and 12
    never = behaviour_clone(circuit, demos, updates=10, seed=0, batch=2, progress=False,
                            check=lambda: Check.CONTINUE, check_every=4)
    assert len(never) == 10  # at most ``updates``


def test_a_check_past_the_range_goes_back_to_the_previous_check_and_checks_twice_as_often(demos):
    circuit = CorticalCircuit(AgentConfig(n_cortex=32, n_thalamus=16, critic_hidden=16), 0.02, seed=0)
    seen: list[dict[str, torch.Tensor]] = []
    verdicts = iter([Check.CONTINUE, Check.TOO_FAR, Check.TOO_FAR, Check.STOP])

    def check() -> Check:
        seen.append({k: v.clone() for k, v in circuit.state_dict().items()})
        return next(verdicts)

    # Checks after updates 4 (kept), 8 (too far: back to 4, every 2), 10 (too far: back to 4,
    # every update), 11 (stop): 11 updates made, the 5 after the first check's network kept.
    losses = behaviour_clone(circuit, demos, updates=100, seed=0, batch=2, progress=False, check=check,
                             check_every=4)
    assert len(seen) == 4 and len(losses) == 5
    # The undone updates are gone: the network at the last check is one update from the first
    # check's, not from the network that went too far.
    moved = [k for k in seen[0] if not torch.equal(seen[0][k], seen[3][k])]
    assert moved and all(not torch.equal(seen[1][k], seen[3][k]) for k in moved)

    # Rolled back at the very end: the network is exactly the one of the last kept check.
    circuit = CorticalCircuit(AgentConfig(n_cortex=32, n_thalamus=16, critic_hidden=16), 0.02, seed=0)
    seen.clear()
    verdicts = iter([Check.CONTINUE, Check.TOO_FAR])
    losses = behaviour_clone(circuit, demos, updates=8, seed=0, batch=2, progress=False, check=check,
                             check_every=4)
    assert len(losses) == 4
    for name, value in circuit.state_dict().items():
        assert torch.equal(value, seen[0][name]), name

    # Past the range with a check after every update: nothing finer to try, so cloning stops there.
    verdicts = iter([Check.TOO_FAR])
    assert len(behaviour_clone(circuit, demos, updates=100, seed=0, batch=2, progress=False,
                               check=check, check_every=1)) == 1


def test_the_waiting_steps_are_those_before_the_go_time_and_their_weight_counts(demos):
    # The demonstrator waits until the cue plus its reaction time, then moves.
    env = MousePelletReachEnv(**ENV_KWARGS)
    env.reset(seed=0)
    dt = env.control_timestep
    env.close()
    waiting = demos.waiting & demos.valid
    assert waiting.any() and (demos.valid & ~demos.waiting).any()
    first_moves = waiting.sum(1)
    assert np.all(waiting[:, 0]) and all(not waiting[i, n:].any() for i, n in enumerate(first_moves))

    def waiting_error(weight: float) -> float:
        circuit = CorticalCircuit(AgentConfig(n_cortex=32, n_thalamus=16, critic_hidden=16,
                                              neural_noise_std=0.0), dt, seed=0)
        behaviour_clone(circuit, demos, updates=15, seed=0, batch=2, lr=5e-3, progress=False,
                        waiting_weight=weight)
        _, means = teacher_forced(circuit, demos)
        errors = ((means - demos.actions) ** 2).mean(-1)
        return float(errors[waiting].mean())

    assert waiting_error(20.0) < waiting_error(1.0)


def test_the_demonstrator_waits_its_reaction_time_after_the_cue():
    from reach_env.scripted import ScriptedReachController

    env = MousePelletReachEnv(**ENV_KWARGS)
    try:
        for reaction in (0.0, 0.1):
            controller = ScriptedReachController(env, reaction_time=reaction)
            env.reset(seed=0)
            controller.reset()
            first_move = None
            for _ in range(40):
                action = controller()
                if first_move is None and np.any(action > 0):
                    first_move = env.time
                env.step(action)
            assert first_move == pytest.approx(env.cue_time + reaction, abs=0.021)
        with pytest.raises(ValueError, match="reaction_time"):
            ScriptedReachController(env, reaction_time=-0.1)
    finally:
        env.close()


@pytest.mark.parametrize(("field", "value"), [
    ("stop_success", 0.0), ("stop_success", 1.5), ("stop_precue_lift", -0.1), ("reaction_time", 0.6),
    ("pellet_offset", 0.01), ("check_every", 0), ("check_trials", 0), ("waiting_weight", 0.0),
    ("waiting_weight", float("nan")), ("stop_success_max", 0.05), ("stop_success_max", 1.5),
])
def test_pretraining_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=f"pretraining.{field}"):
        PretrainingConfig(**{field: value})


@pytest.mark.parametrize(("version", "configured", "used"), [(1, None, 0.0), (2, None, 0.02), (1, 0.5, 0.5),
                                                             (2, 0.0, 0.0)])
def test_the_cloning_rate_penalty_is_by_circuit_unless_configured(version, configured, used):
    circuit = CorticalCircuit(AgentConfig(n_cortex=8, n_thalamus=4, critic_hidden=4, circuit=version), 0.02,
                              seed=0)
    assert rate_penalty(PretrainingConfig(rate_penalty=configured), circuit) == used


def test_the_rate_penalty_keeps_cloned_units_in_their_range(demos):
    def mean_square_rate(penalty: float) -> float:
        circuit = CorticalCircuit(AgentConfig(n_cortex=32, n_thalamus=16, critic_hidden=16, circuit=2,
                                              neural_noise_std=0.0), 0.02, seed=0)
        behaviour_clone(circuit, demos, updates=15, seed=0, batch=2, lr=2e-2, progress=False,
                        rate_penalty=penalty)
        rates, _ = teacher_forced(circuit, demos)
        return float((rates ** 2).mean(-1)[demos.valid].mean())

    assert mean_square_rate(1.0) < 0.8 * mean_square_rate(0.0)


def teacher_forced(circuit: CorticalCircuit, demos) -> tuple[np.ndarray, np.ndarray]:
    """Cortical rates (N, T, n_cortex) and mean excitations (N, T, 15) of ``circuit`` fed the
    demonstrations' observations and, as efference copy, their commands (as cloning does)."""
    state = circuit.initial_state(len(demos.valid))
    x, efference, rates, means = state.x, state.efference, [], []
    ones = torch.ones(len(demos.valid))
    with torch.no_grad():
        for t in range(demos.valid.shape[1]):
            inputs, _ = circuit.sense(torch.as_tensor(demos.observations[:, t]), efference, ones)
            x, r, mean = circuit.cortex(x, inputs)
            efference = torch.as_tensor(demos.actions[:, t])
            rates.append(r.numpy())
            means.append(mean.numpy())
    return np.stack(rates, 1), np.stack(means, 1)


@pytest.mark.parametrize(("version", "asked"), [(2, True), (2, False), (1, True)])
def test_shaping_fits_the_forward_model_only_when_asked_and_only_in_circuit_2(version, asked):
    from training.protocol import ProtocolConfig, build_run

    config = PretrainingConfig(demonstrations=2, updates=1, stop_success=None, critic_warmup_batches=0,
                               forward_model=asked)
    run = build_run(ProtocolConfig(sessions=1, trials_per_session=2, batch=2),
                    AgentConfig(n_cortex=8, n_thalamus=4, n_granule=16, critic_hidden=4, circuit=version),
                    config, **ENV_KWARGS)
    before = {k: v.clone() for k, v in run.circuit.thalamus.state_dict().items()}
    figures = agents.pretraining.pretrain(run.learner, run.envs, config, seed=0, progress=False)
    changed = {k for k, v in run.circuit.thalamus.state_dict().items() if not torch.equal(before[k], v)}
    fitted = asked and version == 2
    # Only the forward model's read-out moves; the granule layer and the relay to the thalamus stay fixed.
    assert changed == ({"prediction_weight"} if fitted else set())
    assert bool(np.isfinite(figures["forward_model_fit_error"])) is fitted
