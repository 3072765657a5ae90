"""Stepping a batch's envs on threads (``env_threads``) gives the trials, recordings and learned weights
of stepping them one after the other, bit for bit."""

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


def run(env_threads: int, circuit: int):
    envs = [MousePelletReachEnv(**SHORT_TRIAL) for _ in range(4)]
    config = AgentConfig(**SMALL_AGENT, circuit=circuit, update_every=5)
    net = CorticalCircuit(config, 0.02, seed=3)
    learner = ThreeFactorLearner(net, config, DopamineChannel(SilencingSchedule([(4, 5, 0.0)])), seed=3,
                                 env_threads=env_threads)
    records = [learner.run_trials(envs, [0, 1, 2, 3], [10, 11, 12, 13]),
               learner.run_trials(envs, [4, 5, 6, 7], [14, 15, 16, 17])]
    weights = [p.detach().clone() for p in net.parameters()]
    for env in envs:
        env.close()
    return records, weights


@pytest.mark.parametrize("circuit", [1, 2])
def test_threaded_env_steps_are_bit_identical_to_sequential_ones(circuit):
    (alone, weights_alone), (threaded, weights_threaded) = run(1, circuit), run(3, circuit)
    for a, b in zip(alone, threaded, strict=True):
        for name in ("valid", "cortex", "action", "reward", "delta", "dopamine", "phase", "s1"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert [s.__dict__ for s in a.summaries] == [s.__dict__ for s in b.summaries]
    # Trials of different lengths: some envs finish while others still run.
    assert len({s.steps for r in alone for s in r.summaries}) > 1 or alone[0].valid.all()
    for x, y in zip(weights_alone, weights_threaded, strict=True):
        assert torch.equal(x, y)


def test_env_threads_must_be_positive():
    config = AgentConfig(**SMALL_AGENT)
    with pytest.raises(ValueError, match="env_threads=0"):
        ThreeFactorLearner(CorticalCircuit(config, 0.02, seed=0), config, DopamineChannel(), env_threads=0)
