"""Dopamine gating of the three-factor rule: zero update under block (bitwise, weights and Adam state),
scaled update under partial block, the critic's learning under block, and the dopamine signal itself.

Short trials (40 control steps: timeout at step 35, then 5 post-outcome steps) keep every test fast.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from small_setups import SHORT_TRIAL, SMALL_AGENT

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import DopamineChannel, SilencingSchedule
from agents.three_factor import ThreeFactorLearner
from reach_env import MousePelletReachEnv

ENV_KWARGS = SHORT_TRIAL
TRIAL_STEPS = 40  # (cue_time + response_window + post_outcome) / 0.02 s, for a timeout trial
#: Adam is the harder case for "a blocked weight does not move" (its momentum turns even a zero
#: gradient into a change), and noise from the trial's start gives every window a decision to learn from.
#: The forward model (thalamic stage) learns from every trial, blocked or not; off here, so that a
#: blocked trial cannot reach an intact one through the thalamus (its own tests: test_agents_circuit).
# No persistence of the tone: in a network this small its 0.3 s of 10-fold input makes the policy
# gradient, clipped to norm 1, dwarf the rate regulariser's (the full model's auditory gradient is ~0).
SMALL = {**SMALL_AGENT, "optimizer": "adam", "precue_exploration": 1.0, "forward_lr": 0.0,
         "cue_persistence": 0.0}
ADAM_KEYS = ("exp_avg", "exp_avg_sq", "step")


def gated(learner: ThreeFactorLearner) -> list[torch.nn.Parameter]:
    """The weights the policy-gradient step moves (the outcome pathway has its own Hebbian rule)."""
    return [p for _, p in learner.circuit.policy_parameters()]


def make_learner(config: AgentConfig, schedule: SilencingSchedule | None = None, seed: int = 0,
                 dt: float = 0.02) -> ThreeFactorLearner:
    circuit = CorticalCircuit(config, dt, seed=seed)
    return ThreeFactorLearner(circuit, config, DopamineChannel(schedule), seed=seed)


def snapshot(params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def adam_snapshot(optimizer: torch.optim.Optimizer, params) -> list[dict[str, torch.Tensor]]:
    return [{k: optimizer.state[p][k].clone() for k in ADAM_KEYS} for p in params]


def assert_bitwise_equal(before: list[torch.Tensor], after: list[torch.Tensor]) -> None:
    assert len(before) == len(after)
    for i, (a, b) in enumerate(zip(before, after, strict=True)):
        assert torch.equal(a, b), f"tensor {i} changed"


def assert_adam_state_equal(before, after) -> None:
    for i, (a, b) in enumerate(zip(before, after, strict=True)):
        for key in ADAM_KEYS:
            assert torch.equal(a[key], b[key]), f"Adam {key} of parameter {i} changed"


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str, **tolerance) -> None:
    torch.testing.assert_close(actual, expected, msg=lambda message: f"{what}: {message}", **tolerance)


def changes(before: list[torch.Tensor], params) -> list[torch.Tensor]:
    return [p.detach() - b for p, b in zip(params, before, strict=True)]


# --- full block --------------------------------------------------------------------------------------


@pytest.mark.parametrize("circuit", [1, 2])
def test_full_block_leaves_cortex_and_adam_state_bitwise_unchanged(envs, circuit):
    config = AgentConfig(**SMALL, update_every=5, circuit=circuit)  # 8 windows per trial: 8 skipped updates
    learner = make_learner(config, SilencingSchedule([(0, 99, 0.0)]))
    params = gated(learner)
    optimizer = learner.cortex_optimizer

    # An intact batch first (episodes outside the block), so Adam has momentum that a zero-gradient
    # step would still turn into a weight change.
    learner.run_trials(envs, [100, 101], [1, 2])
    assert all(int(optimizer.state[p]["step"]) == TRIAL_STEPS // 5 for p in params)
    assert all(optimizer.state[p]["exp_avg"].abs().sum() > 0 for p in params)

    weights = snapshot(params)
    every_cortical = snapshot(learner.circuit.cortical_parameters())  # the outcome pathway too
    adam = adam_snapshot(optimizer, params)
    critic = snapshot(learner.circuit.critic.parameters())
    record = learner.run_trials(envs, [0, 1], [3, 4])  # learn=True, explore=True

    assert_bitwise_equal(weights, snapshot(params))
    assert_bitwise_equal(every_cortical, snapshot(learner.circuit.cortical_parameters()))
    assert_adam_state_equal(adam, adam_snapshot(optimizer, params))
    assert record.update_norms == []
    assert all(norm == 0.0 for norm in record.layer_update_norms.values())
    # The blocked network still acts: trials ran to their end with varying excitations.
    assert [s.dopamine_gain for s in record.summaries] == [0.0, 0.0]
    assert [s.steps for s in record.summaries] == list(record.valid.sum(0))
    assert all(s.steps >= 20 for s in record.summaries)  # at least up to the cue
    assert record.action[record.valid].std(0).max() > 1e-3
    assert np.abs(record.dopamine).max() == 0.0 and np.abs(record.delta).max() > 0.0
    # By default the block is local to M1: the critic kept learning.
    assert any(not torch.equal(a, b) for a, b in
               zip(critic, snapshot(learner.circuit.critic.parameters()), strict=True))


def test_critic_blocked_with_dopamine_freezes_the_critic_bitwise(envs):
    config = AgentConfig(**SMALL, update_every=5, critic_blocked_with_dopamine=True)
    learner = make_learner(config, SilencingSchedule([(0, 99, 0.0)]))
    critic_params = list(learner.circuit.critic.parameters())
    learner.run_trials(envs, [100, 101], [1, 2])  # intact: critic Adam state with momentum
    critic = snapshot(critic_params)
    adam = adam_snapshot(learner.critic_optimizer, critic_params)
    cortex = snapshot(gated(learner))

    learner.run_trials(envs, [0, 1], [3, 4])
    assert_bitwise_equal(critic, snapshot(critic_params))
    assert_adam_state_equal(adam, adam_snapshot(learner.critic_optimizer, critic_params))
    assert_bitwise_equal(cortex, snapshot(gated(learner)))

    # Control: outside the block the same learner's critic does learn.
    learner.run_trials(envs, [102, 103], [5, 6])
    assert any(not torch.equal(a, b) for a, b in zip(critic, snapshot(critic_params), strict=True))


# --- partial block ----------------------------------------------------------------------------------


def one_update_changes(envs, gain: float, critic_blocked: bool, circuit: int = 1
                       ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Cortical and critic changes of exactly one update, in a batch at episodes with ``gain``.

    ``update_every`` (50) exceeds the trial length (40 steps), so each batch is a single window and
    makes exactly one update, at its end: up to that update the weights are those after the prior
    history, so the env trajectories and the exploration draws (same learner seed, same env seeds)
    are identical whatever the gain. One intact batch first (episodes 100-101, outside the range)
    gives Adam a non-trivial state (not the first step, where Adam's change is about lr * sign).
    """
    config = AgentConfig(**SMALL, update_every=50, policy_lr=1e-2, critic_lr=1e-2,
                         critic_blocked_with_dopamine=critic_blocked, circuit=circuit)
    learner = make_learner(config, SilencingSchedule([(0, 99, gain)]))
    first = learner.run_trials(envs, [100, 101], [1, 2])
    assert len(first.update_norms) == 1
    cortex = snapshot(gated(learner))
    critic = snapshot(learner.circuit.critic.parameters())
    record = learner.run_trials(envs, [0, 1], [3, 4])
    assert [s.dopamine_gain for s in record.summaries] == pytest.approx([gain, gain])
    assert len(record.update_norms) == 1  # one update, as designed
    return (changes(cortex, gated(learner)),
            changes(critic, learner.circuit.critic.parameters()))


@pytest.mark.parametrize(("critic_blocked", "circuit"), [(False, 1), (True, 1), (False, 2)])
def test_partial_block_scales_the_update_by_the_gain(envs, critic_blocked, circuit):
    gain = 0.3
    partial_cortex, partial_critic = one_update_changes(envs, gain, critic_blocked, circuit)
    intact_cortex, intact_critic = one_update_changes(envs, 1.0, critic_blocked, circuit)
    for i, (partial, intact) in enumerate(zip(partial_cortex, intact_cortex, strict=True)):
        assert intact.abs().max() > 1e-3, f"parameter {i}: no intact change to compare with"
        assert_close(partial, gain * intact, f"cortical parameter {i}", rtol=1e-4, atol=1e-6)
    critic_gain = gain if critic_blocked else 1.0  # by default M1's block leaves the critic alone
    for i, (partial, intact) in enumerate(zip(partial_critic, intact_critic, strict=True)):
        assert_close(partial, critic_gain * intact, f"critic parameter {i}", rtol=1e-4, atol=1e-6)


def trial_update_norm(envs, gain: float, optimizer: str) -> float:
    """Norm of the whole cortical change over one batch of trials at dopamine gain ``gain``, with
    several updates per trial (``update_every`` = 5), after one intact batch of history."""
    config = AgentConfig(**{**SMALL, "optimizer": optimizer}, update_every=5, policy_lr=1e-2)
    learner = make_learner(config, SilencingSchedule([(0, 99, gain)]))
    learner.run_trials(envs, [100, 101], [1, 2])
    before = snapshot(gated(learner))
    record = learner.run_trials(envs, [0, 1], [3, 4])
    assert len(record.update_norms) == TRIAL_STEPS // 5
    return float(torch.linalg.vector_norm(torch.cat(
        [c.flatten() for c in changes(before, gated(learner))])))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_update_per_trial_grows_monotonically_with_the_gain(envs, optimizer):
    # Over many updates the trajectories drift apart with the gain, so this is the behaviour a user
    # relies on (less dopamine, less learning), not an identity.
    gains = (0.1, 0.25, 0.5, 0.75, 1.0)
    norms = [trial_update_norm(envs, g, optimizer) for g in gains]
    assert norms[0] > 0
    assert all(a < b for a, b in zip(norms, norms[1:], strict=False)), dict(zip(gains, norms, strict=True))


def test_variance_step_scaling_multiplies_the_step_by_the_relative_exploration_variance(envs):
    # The same history, the same trials and one update at the trial's end: only the step size differs,
    # by (sigma / exploration_std)^2 with sigma set by the reward history.
    steps = {}
    for scaling in ("none", "variance"):
        # A large step, so that float32 rounding of ``W + dW - W`` stays far below the change.
        config = AgentConfig(**{**SMALL, "optimizer": "sgd"}, update_every=50, policy_lr=10.0,
                             step_scaling=scaling)
        learner = make_learner(config)
        learner.run_trials(envs, [0, 1], [1, 2])
        learner.exploration.observe([True] * 10)  # a run of successes narrows the exploration
        sigma = learner.exploration.std()
        before = snapshot(gated(learner))
        learner.run_trials(envs, [2, 3], [3, 4])
        steps[scaling] = changes(before, gated(learner))
    factor = (sigma / config.exploration_std) ** 2
    assert 0.2 < factor < 0.8
    for i, (scaled, plain) in enumerate(zip(steps["variance"], steps["none"], strict=True)):
        assert plain.abs().max() > 1e-3, f"parameter {i}: no plain change to compare with"
        assert_close(scaled, factor * plain, f"cortical parameter {i}", rtol=1e-3, atol=1e-6)


# --- mixed batches ----------------------------------------------------------------------------------


def test_mixed_batch_learns_and_all_blocked_batch_does_not(envs):
    config = AgentConfig(**SMALL, update_every=5)
    learner = make_learner(config, SilencingSchedule([(0, 9, 0.0)]))
    params = gated(learner)
    learner.run_trials(envs, [100, 101], [1, 2])

    before = snapshot(params)
    learner.run_trials(envs, [0, 1], [3, 4])  # both blocked
    assert_bitwise_equal(before, snapshot(params))

    record = learner.run_trials(envs, [2, 20], [5, 6])  # first blocked, second intact
    assert [s.dopamine_gain for s in record.summaries] == [0.0, 1.0]
    assert len(record.update_norms) == TRIAL_STEPS // 5
    assert all(not torch.equal(a, b) for a, b in zip(before, snapshot(params), strict=True))


def mixed_batch_change(envs, blocked_seed: int, circuit: int = 1) -> list[torch.Tensor]:
    """Cortical change of one update (one window, see :func:`one_update_changes`) in a batch whose
    trial 0 is blocked (env seed ``blocked_seed``) and trial 1 intact (env seed 7, always)."""
    config = AgentConfig(**SMALL, update_every=50, policy_lr=1e-2, circuit=circuit)
    learner = make_learner(config, SilencingSchedule([(0, 0, 0.0)]))
    learner.run_trials(envs, [100, 101], [1, 2])
    before = snapshot(gated(learner))
    record = learner.run_trials(envs, [0, 1], [blocked_seed, 7])
    assert [s.steps for s in record.summaries] == [TRIAL_STEPS, TRIAL_STEPS]
    return changes(before, gated(learner))


@pytest.mark.parametrize("circuit", [1, 2])
def test_blocked_trials_in_a_mixed_batch_contribute_nothing(envs, circuit):
    # The intact trial (batch index 1) has the same env seed, the same exploration draws (drawn per
    # batch from one generator, shape (B, 15)) and the same trajectory in both runs; only the blocked
    # trial differs. If blocked trials contribute nothing, the updates are equal.
    first, second = mixed_batch_change(envs, 5, circuit), mixed_batch_change(envs, 6, circuit)
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        assert_close(a, b, f"cortical parameter {i}", rtol=1e-4, atol=1e-6)


def envs_of_lengths(*response_windows: float) -> list[MousePelletReachEnv]:
    """Envs whose timeout trials last ``(0.4 + window + 0.1) / 0.02`` control steps (0.3 s: 40, 0.7 s: 60)."""
    return [MousePelletReachEnv(**{**SHORT_TRIAL, "response_window": w}) for w in response_windows]


def uneven_batch(blocked_window: float, intact_window: float, blocked_seed: int, update_every: int
                 ) -> tuple[list[torch.Tensor], ThreeFactorLearner, object]:
    """One batch of two timeout trials of different lengths, trial 0 blocked (episode 0), trial 1
    intact (episode 1, env seed 7): the cortical change it makes, the learner and the record."""
    config = AgentConfig(**SMALL, update_every=update_every, policy_lr=1e-2)
    learner = make_learner(config, SilencingSchedule([(0, 0, 0.0)]))
    warm_up = envs_of_lengths(0.3, 0.3)
    learner.run_trials(warm_up, [100, 101], [1, 2])  # intact, 40 steps: Adam gets momentum first
    envs = envs_of_lengths(blocked_window, intact_window)
    before = snapshot(gated(learner))
    record = learner.run_trials(envs, [0, 1], [blocked_seed, 7])
    for env in warm_up + envs:
        env.close()
    return changes(before, gated(learner)), learner, record


@pytest.mark.parametrize(("blocked_window", "intact_window"), [(0.7, 0.3), (0.3, 0.7)],
                         ids=["intact_trial_ends_first", "blocked_trial_ends_first"])
def test_uneven_mixed_batch_stays_finite_and_updates_only_while_dopamine_flows(blocked_window,
                                                                                 intact_window):
    # Windows of 10 steps: with the intact trial ending at step 40 and the blocked one at 60, the last
    # two windows hold only the blocked trial, where the old rule divided by zero (NaN weights).
    change, learner, record = uneven_batch(blocked_window, intact_window, 5, update_every=10)
    steps = [s.steps for s in record.summaries]
    assert steps == [60, 40] if blocked_window > intact_window else steps == [40, 60]
    assert learner.circuit.non_finite() == []
    assert all(bool(torch.isfinite(c).all()) for c in change)
    assert all(c.abs().max() > 0 for c in change)  # the intact trial did teach the cortex
    # One cortical step per window in which the intact trial still runs, none after it ended.
    assert len(record.update_norms) == steps[1] // 10
    adam_steps = {int(learner.cortex_optimizer.state[p]["step"])
                  for p in gated(learner)}
    assert adam_steps == {40 // 10 + steps[1] // 10}  # the first, intact batch made 4 steps


@pytest.mark.parametrize("intact_window", [0.3, 0.7])
def test_blocked_trial_of_another_length_contributes_exactly_nothing(intact_window):
    # One window per batch (update_every > both trials): the only difference between the two runs is
    # the blocked trial, which here changes seed *and* length (40 vs 60 steps). The intact trial's
    # trajectory and exploration draws are the same, so the cortical update must be too.
    first, _, one = uneven_batch(0.3, intact_window, 5, update_every=100)
    second, _, other = uneven_batch(0.7, intact_window, 6, update_every=100)
    assert one.summaries[0].steps != other.summaries[0].steps
    intact_steps = one.summaries[1].steps
    assert np.array_equal(one.action[:intact_steps, 1], other.action[:intact_steps, 1])
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a.abs().max() > 0, f"cortical parameter {i} did not learn"
        assert_close(a, b, f"cortical parameter {i}", rtol=1e-6, atol=1e-9)


# --- the dopamine signal ----------------------------------------------------------------------------


def test_dopamine_channel_signal_multiplies_delta_by_gain():
    channel = DopamineChannel(SilencingSchedule([(0, 0, 0.0), (1, 1, 0.3)]))
    gains = channel.gains([0, 1, 2])
    assert gains.dtype == torch.float32
    assert torch.equal(gains, torch.tensor([0.0, 0.3, 1.0]))
    delta = torch.tensor([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])  # (T, B)
    expected = torch.tensor([[0.0, -0.6, 3.0], [0.0, 1.2, -1.0]])
    torch.testing.assert_close(DopamineChannel.signal(delta, gains), expected)
    assert torch.equal(DopamineChannel.signal(delta[0], gains), delta[0] * gains)
    assert torch.equal(DopamineChannel().gains([0, 5]), torch.ones(2))


def test_batch_record_dopamine_is_delta_times_gain(envs):
    config = AgentConfig(**SMALL, update_every=5)
    learner = make_learner(config, SilencingSchedule([(0, 0, 0.3), (1, 1, 0.0)]))
    record = learner.run_trials(envs, [0, 1], [1, 2])
    gains = np.array([0.3, 0.0], np.float32)
    assert np.array_equal(record.dopamine, record.delta * gains[None, :])
    assert np.abs(record.delta[:, 1]).max() > 0.0  # the blocked trial has RPEs, but no dopamine
    assert np.abs(record.dopamine[:, 1]).max() == 0.0
    assert record.delta.shape == record.valid.shape
    assert np.all(record.delta[~record.valid] == 0.0)
    for b, summary in enumerate(record.summaries):
        assert summary.dopamine_gain == pytest.approx(gains[b])
        assert summary.mean_dopamine == pytest.approx(gains[b] * summary.mean_delta, rel=1e-5, abs=1e-9)


# --- the activity penalty (circuit 2) -------------------------------------------------------------------


@pytest.mark.parametrize("gain", [0.0, 1.0])
def test_the_activity_penalty_lowers_rates_only_with_dopamine(envs, gain):
    """The rate regulariser is part of the gated step: with dopamine it pulls the rates down, under a full
    block it changes nothing (the block's bit-exactness with it is tested above, circuit 2)."""
    def mean_squared_rate_after_learning(penalty: float) -> tuple[float, list[torch.Tensor]]:
        config = AgentConfig(**{**SMALL, "optimizer": "sgd"}, circuit=2, update_every=5, policy_lr=0.5,
                             activity_penalty=penalty)
        learner = make_learner(config, SilencingSchedule([(0, 99, gain)]))
        for episode in range(0, 8, 2):
            learner.run_trials(envs, [episode, episode + 1], [3, 4])
        record = learner.run_trials(envs, [100, 101], [5, 6], learn=False, explore=False)
        return float((record.cortex[record.valid] ** 2).mean()), snapshot(gated(learner))

    without, weights_without = mean_squared_rate_after_learning(0.0)
    with_penalty, weights_with = mean_squared_rate_after_learning(5.0)
    if gain == 0.0:
        assert_bitwise_equal(weights_without, weights_with)
    else:
        assert with_penalty < 0.9 * without
