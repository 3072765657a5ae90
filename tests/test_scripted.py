"""The task is solvable (the hand-written controller succeeds) and not trivially so (random
fails)."""

from __future__ import annotations

from collections import Counter

from reach_env import Outcome

SEEDS = range(10)


def test_scripted_controller_succeeds_reliably(episode):
    outcomes = Counter(Outcome(episode("scripted", seed=s).final["outcome"]).name for s in SEEDS)
    assert outcomes["SUCCESS"] >= 8, outcomes


def test_random_policy_never_succeeds(episode):
    outcomes = Counter(Outcome(episode("random", seed=s).final["outcome"]).name for s in SEEDS)
    assert outcomes["SUCCESS"] == 0, outcomes
    assert not any(episode("random", seed=s).truncated[-1] for s in SEEDS)  # and never diverges
