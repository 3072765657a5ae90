"""Dopamine silenced within part of each trial (``--da-window``): which steps a window holds, that only
their dopamine is silenced, and the two limits that pin the rule down bit for bit: a window covering
the whole trial is the full block, a window no step reaches is intact dopamine.

Short trials (40 control steps, cue at 0.4 s) as in test_agents_gating.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from small_setups import SMALL_AGENT

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import DopamineChannel, DopamineWindow, SilencingSchedule
from agents.three_factor import ThreeFactorLearner
from reach_env.trial import TrialPhase

SMALL = {**SMALL_AGENT, "optimizer": "adam", "precue_exploration": 1.0, "forward_lr": 0.0,
         "cue_persistence": 0.0}
DT = 0.02


def info(time: float, cue_time: float = 0.4, **events: float) -> dict:
    """An env step's info as far as a window reads it."""
    names = ("cue", "lift", "grab", "at_mouth", "outcome")
    return {"time": time, "cue_time": cue_time, "events": {n: events.get(n) for n in names}}


# --- parsing and the window's steps -------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "expected"), [
    ("", None), ("cue", DopamineWindow("cue")), ("outcome", DopamineWindow("outcome")),
    ("0.0:0.5", DopamineWindow("seconds", 0.0, 0.5)), (" -0.2:0.1 ", DopamineWindow("seconds", -0.2, 0.1)),
])
def test_parse_reads_events_and_seconds(spec, expected):
    assert DopamineWindow.parse(spec) == expected


@pytest.mark.parametrize(("spec", "words"), [
    ("lift", ["'lift'", "'cue', 'outcome'"]), ("0.5", ["'0.5'", "START:END"]),
    ("a:b", ["'a:b'"]), ("0.5:0.1", ["end after it starts"]), ("0.2:0.2", ["end after it starts"]),
    ("0:inf", ["finite"]),
])
def test_parse_refuses_malformed_windows_naming_them(spec, words):
    with pytest.raises(ValueError) as caught:
        DopamineWindow.parse(spec)
    for word in words:
        assert word in str(caught.value)


def test_a_window_of_seconds_outside_every_trial_is_refused():
    window = DopamineWindow.parse("2.0:3.0")
    with pytest.raises(ValueError, match="outside every trial.*-0.8 to 1.9"):
        window.check_within(-0.8, 1.9)
    DopamineWindow.parse("-1:-0.5").check_within(-0.8, 1.9)  # overlaps the pre-cue part: accepted
    DopamineWindow.parse("cue").check_within(-0.8, 1.9)  # event windows always lie in the trial


def test_cue_window_runs_from_the_step_that_ends_at_the_cue_to_the_lift():
    window = DopamineWindow("cue")
    assert not window.contains(info(0.38), DT)  # before the tone
    assert window.contains(info(0.40, cue=0.40), DT)  # the step whose end brings the tone
    assert window.contains(info(0.50, cue=0.40), DT)
    assert not window.contains(info(0.52, cue=0.40, lift=0.52), DT)  # the lift's step is the reach's
    assert not window.contains(info(0.80, cue=0.40, lift=0.52, outcome=0.7), DT)


def test_outcome_window_runs_from_the_outcome_to_the_trial_end():
    window = DopamineWindow("outcome")
    assert not window.contains(info(0.60, cue=0.4, lift=0.5), DT)
    assert window.contains(info(0.62, cue=0.4, lift=0.5, outcome=0.62), DT)  # the outcome's own RPE
    assert window.contains(info(0.90, cue=0.4, lift=0.5, outcome=0.62), DT)


def test_seconds_window_counts_whole_steps_from_the_cue_despite_float_times():
    window = DopamineWindow.parse("0.0:0.1")  # the 5 steps ending 0, 20, ..., 80 ms after the cue
    cue = 0.4 + 0.2  # 0.6000000000000001: a cue time as float sums give it
    inside = [window.contains(info(cue + k * DT + 1e-12 * (-1) ** k, cue_time=cue), DT) for k in range(-2, 8)]
    assert inside == [False, False, True, True, True, True, True, False, False, False]


# --- what the learner does with a window --------------------------------------------------------------


def make_learner(schedule: SilencingSchedule | None, window: str = "", circuit: int = 1,
                 update_every: int = 5) -> ThreeFactorLearner:
    config = AgentConfig(**SMALL, update_every=update_every, circuit=circuit, policy_lr=1e-2)
    net = CorticalCircuit(config, DT, seed=0)
    return ThreeFactorLearner(net, config, DopamineChannel(schedule, DopamineWindow.parse(window)), seed=0)


def state(learner: ThreeFactorLearner) -> list[torch.Tensor]:
    """Every learned tensor: cortex (outcome pathway included), critic, Adam's moments."""
    tensors = [p.detach().clone() for p in learner.circuit.cortical_parameters()]
    tensors += [p.detach().clone() for p in learner.circuit.critic.parameters()]
    for optimizer in (learner.cortex_optimizer, learner.critic_optimizer):
        for group in optimizer.param_groups:
            for p in group["params"]:
                tensors += [v.clone() for v in optimizer.state.get(p, {}).values()]
    return tensors


def run_two_batches(envs, learner: ThreeFactorLearner):
    learner.run_trials(envs, [100, 101], [1, 2])  # intact history: Adam has momentum
    return learner.run_trials(envs, [0, 1], [3, 4])


def assert_same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert torch.equal(x, y), f"tensor {i} differs"


@pytest.mark.parametrize("circuit", [1, 2])
def test_a_window_covering_the_whole_trial_is_the_full_block_bit_for_bit(envs, circuit):
    blocked = make_learner(SilencingSchedule([(0, 99, 0.0)]), circuit=circuit)
    windowed = make_learner(SilencingSchedule([(0, 99, 0.0)]), "-5:5", circuit=circuit)
    by_block, by_window = run_two_batches(envs, blocked), run_two_batches(envs, windowed)
    assert_same(state(blocked), state(windowed))
    assert by_window.update_norms == [] and by_block.update_norms == []
    np.testing.assert_array_equal(by_window.dopamine, by_block.dopamine)
    assert np.abs(by_window.dopamine).max() == 0.0 and np.abs(by_window.delta).max() > 0.0
    assert [s.dopamine_gain for s in by_window.summaries] == [0.0, 0.0]


@pytest.mark.parametrize("circuit", [1, 2])
def test_a_window_no_step_reaches_is_intact_dopamine_bit_for_bit(envs, circuit):
    intact = make_learner(None, circuit=circuit)
    windowed = make_learner(SilencingSchedule([(0, 99, 0.0)]), "3:4", circuit=circuit)  # trials end at 0.4 s
    by_intact, by_window = run_two_batches(envs, intact), run_two_batches(envs, windowed)
    assert_same(state(intact), state(windowed))
    np.testing.assert_array_equal(by_window.dopamine, by_intact.dopamine)
    assert by_window.update_norms == by_intact.update_norms and by_window.update_norms


@pytest.mark.parametrize(("window", "phases"), [
    ("cue", {TrialPhase.CUE}),
    ("outcome", {TrialPhase.POST_OUTCOME}),
])
@pytest.mark.parametrize("gain", [0.0, 0.4])
def test_only_the_windows_dopamine_is_scaled(envs, window, phases, gain):
    learner = make_learner(SilencingSchedule([(0, 99, gain)]), window)
    record = run_two_batches(envs, learner)
    in_phase = np.isin(record.phase, [int(p) for p in phases]) & record.valid
    before_cue = np.isin(record.phase, [int(TrialPhase.PLATFORM_TURN), int(TrialPhase.WAIT)]) & record.valid
    assert in_phase.sum() >= 4 and before_cue.sum() >= 10
    np.testing.assert_allclose(record.dopamine[in_phase], gain * record.delta[in_phase], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(record.dopamine[before_cue], record.delta[before_cue])
    assert np.abs(record.delta[before_cue]).max() > 0
    assert [s.dopamine_gain for s in record.summaries] == pytest.approx([gain, gain])


def test_silencing_the_cue_window_still_lets_the_rest_of_the_trial_teach(envs):
    def cortex_after(schedule, window=""):
        learner = make_learner(schedule, window, update_every=50)  # one update per batch
        run_two_batches(envs, learner)
        return [p.detach().clone() for p in learner.circuit.cortical_parameters()]

    intact = cortex_after(None)
    blocked = cortex_after(SilencingSchedule([(0, 99, 0.0)]))
    cue = cortex_after(SilencingSchedule([(0, 99, 0.0)]), "cue")
    moved = sum(float((c - b).abs().sum()) for c, b in zip(cue, blocked, strict=True))
    differs = sum(float((c - i).abs().sum()) for c, i in zip(cue, intact, strict=True))
    assert moved > 0, "the cue window silenced learning from the whole trial"
    assert differs > 0, "silencing the cue window changed nothing"


def test_reached_marks_steps_some_later_dopamine_of_their_trial_reaches():
    gains = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    done = torch.tensor([[0, 0], [1, 0], [0, 0], [0, 0]], dtype=torch.bool)  # trial 0 ends at step 1
    from agents.dopamine import BatchGating

    reach = BatchGating.reached(gains, done)
    # Trial 0: step 0 has its own dopamine, step 1 (its last) none, and the padding after its end (steps
    # 2-3, gain 1 outside any window) does not reach back into it; trial 1: steps 0-2 reach step 2's.
    assert reach.tolist() == [[1.0, 1.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]]
