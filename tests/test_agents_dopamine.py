"""The dopamine channel's gating rules, each on small hand-made tensors: which steps drive the cortex,
the weights and step size of a (mixed) batch, when no step is taken, the delivered dopamine, the outcome
pathway's third factor and the critic's gain. Last, that the learner takes its gating from the channel.

The learner-level consequences (bit-exact silence under block, scaling under partial block) are tested
end to end in test_agents_gating.py.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from small_setups import SMALL_AGENT

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import BatchGating, DopamineChannel, SilencingSchedule
from agents.three_factor import ThreeFactorLearner

#: Three trials: intact, blocked, half-blocked; four steps.
GAINS = torch.tensor([1.0, 0.0, 0.5])
DELTA = torch.tensor([[1.0, -2.0, 3.0],
                      [0.5, 4.0, -1.0],
                      [-0.25, 1.0, 2.0],
                      [2.0, -3.0, 0.75]])
ONES = torch.ones(4, 3)


def test_gate_gives_the_schedules_gains_and_their_mean():
    gating = DopamineChannel(SilencingSchedule([(1, 1, 0.0), (2, 2, 0.5)])).gate([0, 1, 2])
    assert gating.gains.dtype == torch.float32
    assert torch.equal(gating.gains, GAINS)
    assert gating.mean_gain == pytest.approx(0.5) and isinstance(gating.mean_gain, float)
    assert torch.equal(DopamineChannel().gate([4, 9]).gains, torch.ones(2))


def test_a_blocked_trials_steps_never_drive_the_cortex():
    driving = BatchGating(GAINS).driving_steps(ONES, ONES)
    assert driving.shape == (4, 3)
    assert torch.all(driving[:, 1] == 0.0)  # blocked: whatever the trial did
    assert torch.all(driving[:, [0, 2]] == 1.0)  # a partial gain still drives (its weight is smaller)
    # Fully blocked batch: no step at all drives.
    assert float(BatchGating(torch.zeros(3)).driving_steps(ONES, ONES).sum()) == 0.0


def test_only_running_steps_with_fresh_noise_drive_the_cortex():
    valid = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    deciding = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    driving = BatchGating(torch.ones(3)).driving_steps(valid, deciding)
    assert torch.equal(driving, valid * deciding)
    assert torch.equal(driving[:, 0], torch.tensor([0.0, 1.0, 1.0, 0.0]))  # no noise; ended


def test_a_partial_gain_scales_the_trials_weight_and_the_step():
    gating = BatchGating(torch.tensor([1.0, 0.5]))  # mean 0.75, exact in float32
    weights = gating.trial_weights()
    assert torch.equal(weights, torch.tensor([1.0, 0.5]) / 0.75)
    assert float(weights[1] / weights[0]) == pytest.approx(0.5)
    # The weights are relative (mean 1); the batch's dopamine is in the step size ...
    assert float(weights.mean()) == pytest.approx(1.0)
    assert gating.cortical_step_gain(0.8) == 0.75 * 0.8
    assert gating.cortical_step_gain(1.0) == 0.75
    # ... so that each trial's share of the step is its own gain.
    torch.testing.assert_close(weights * gating.cortical_step_gain(1.0), torch.tensor([1.0, 0.5]))
    # A uniformly partial batch: equal weights, the whole step scaled by g.
    half = BatchGating(torch.full((4,), 0.5))
    assert torch.equal(half.trial_weights(), torch.ones(4))
    assert half.cortical_step_gain(2.0) == 1.0


def test_a_blocked_trial_has_zero_weight_in_a_mixed_batch():
    weights = BatchGating(GAINS).trial_weights()
    assert float(weights[1]) == 0.0
    torch.testing.assert_close(weights, GAINS / 0.5)


def test_no_cortical_step_without_dopamine_or_without_a_driving_step():
    blocked = BatchGating(torch.zeros(3))
    assert not blocked.moves_cortex(float(blocked.driving_steps(ONES, ONES).sum()))
    assert not blocked.moves_cortex(12.0)  # even if a count were passed: no dopamine, no step
    assert blocked.cortical_step_gain(1.0) == 0.0
    mixed = BatchGating(GAINS)
    assert mixed.moves_cortex(float(mixed.driving_steps(ONES, ONES).sum()))
    assert not mixed.moves_cortex(0.0)  # the dopamine-receiving trials have ended (or not decided yet)
    valid = torch.tensor([[0.0, 1.0, 0.0]]).repeat(4, 1)  # only the blocked trial still runs
    assert not mixed.moves_cortex(float(mixed.driving_steps(valid, ONES).sum()))


def test_the_delivered_dopamine_is_gain_times_delta():
    gating = BatchGating(GAINS)
    assert torch.equal(gating.signal(DELTA), DELTA * GAINS[None, :])
    assert torch.equal(gating.signal(DELTA), DopamineChannel.signal(DELTA, GAINS))
    assert torch.all(gating.signal(DELTA)[:, 1] == 0.0)
    assert torch.equal(gating.signal(DELTA)[:, 2], 0.5 * DELTA[:, 2])
    assert torch.equal(gating.signal(DELTA[0]), DELTA[0] * GAINS)  # one step: trials last


def test_the_outcome_pathway_learns_from_the_delivered_dopamine_of_running_steps():
    valid = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    dopamine = BatchGating(GAINS).outcome_dopamine(DELTA, valid)
    assert torch.equal(dopamine, DELTA * valid * GAINS[None, :])
    assert torch.all(dopamine[:, 1] == 0.0)  # blocked
    assert torch.all(dopamine[~valid.bool()] == 0.0)  # after the trial's end
    # Plain g * delta, not renormalised by the mean gain (0.5) as the policy's weights are.
    assert torch.equal(dopamine[:2, 2], 0.5 * DELTA[:2, 2])
    assert torch.equal(dopamine[:, 0], DELTA[:, 0] * valid[:, 0])


@pytest.mark.parametrize("gains", [[1.0, 0.0, 0.5], [0.0, 0.0], [1.0, 1.0], [0.2, 0.6]])
def test_the_critic_gain_follows_the_config_switch(gains):
    gating = BatchGating(torch.tensor(gains))
    assert gating.critic_gain(False) == 1.0  # the block is local to M1: the VTA keeps learning
    assert gating.critic_gain(True) == gating.mean_gain
    assert gating.critic_gain(True) == pytest.approx(sum(gains) / len(gains))


def test_gating_refuses_negative_or_misshapen_gains_and_is_frozen():
    with pytest.raises(ValueError, match="gains must be >= 0"):
        BatchGating(torch.tensor([1.0, -0.1]))
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        BatchGating(torch.ones(2, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        BatchGating(GAINS).mean_gain = 1.0


# --- the learner asks the channel ---------------------------------------------------------------------


class NoCortexChannel(DopamineChannel):
    """Full dopamine by the schedule, but a gating that never lets the cortex step."""

    def gate(self, episodes):
        class Never(BatchGating):
            def moves_cortex(self, driving_count: float) -> bool:
                return False

        return Never(self.gains(episodes))


def test_the_learner_takes_its_gating_from_the_channel(envs, monkeypatch):
    asked: set[str] = set()
    for name in ("driving_steps", "moves_cortex", "trial_weights", "cortical_step_gain", "signal",
                 "outcome_dopamine", "critic_gain"):
        rule = getattr(BatchGating, name)

        def spy(self, *args, _rule=rule, _name=name):
            asked.add(_name)
            return _rule(self, *args)

        monkeypatch.setattr(BatchGating, name, spy)
    config = AgentConfig(**SMALL_AGENT, circuit=2, update_every=10)
    learner = ThreeFactorLearner(CorticalCircuit(config, 0.02, seed=0), config, DopamineChannel(), seed=0)
    learner.run_trials(envs, [0, 1], [1, 2])
    assert asked == {"driving_steps", "moves_cortex", "trial_weights", "cortical_step_gain", "signal",
                     "outcome_dopamine", "critic_gain"}


def test_a_gating_that_refuses_the_step_freezes_the_cortex(envs):
    # Intact gains: only the channel's answer stops the cortex, so the learner has no rule of its own.
    config = AgentConfig(**SMALL_AGENT, update_every=10)
    learner = ThreeFactorLearner(CorticalCircuit(config, 0.02, seed=0), config, NoCortexChannel(), seed=0)
    before = [p.detach().clone() for _, p in learner.circuit.policy_parameters()]
    record = learner.run_trials(envs, [0, 1], [1, 2])
    assert record.update_norms == []
    assert all(torch.equal(b, p) for b, (_, p) in zip(before, learner.circuit.policy_parameters(),
                                                       strict=True))
    assert [s.dopamine_gain for s in record.summaries] == [1.0, 1.0]
