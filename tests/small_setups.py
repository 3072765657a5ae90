"""Small, fast configurations shared by the agent and training tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from reach_env import MousePelletReachEnv
from training.config import TrainConfig, build_config, merge

#: A trial of 40 control steps: cue at 0.4 s, 0.3 s to respond, 0.1 s after the outcome.
SHORT_TRIAL = dict(cue_time=0.4, platform_turn=0.2, response_window=0.3, post_outcome=0.1)

#: A small circuit: matrices small enough that a batch takes milliseconds.
SMALL_AGENT = dict(n_cortex=32, n_thalamus=16, critic_hidden=16)
#: The same, circuit 2 (separate senses, a learning thalamic stage: :mod:`agents.circuit`).
SMALL_AGENT_V2 = dict(SMALL_AGENT, circuit=2)

#: A whole training run of a few seconds: 2 sessions of 4 trials, almost no pre-training, evaluations
#: on 3 held-out trials (a full batch of 2 and a partial one).
TINY_RUN = {
    "protocol": {"sessions": 2, "trials_per_session": 4, "batch": 2, "eval_trials": 3},
    "agent": dict(SMALL_AGENT),
    "pretraining": {"demonstrations": 2, "updates": 2, "critic_warmup_batches": 1},
    # v1 (the default task) shifts the cue by up to 0.2 s: the earliest cue, 0.1 s, follows the turn.
    "env": {"platform_turn": 0.1, "cue_time": 0.3, "response_window": 0.4, "post_outcome": 0.1},
    "output": {"checkpoint_every": 2, "video": False},
}


def tiny_config(out: Path, **sections: dict) -> TrainConfig:
    """:data:`TINY_RUN` writing to ``out``, with ``sections`` merged over it."""
    overrides = merge(TINY_RUN, sections)
    overrides["output"]["out"] = str(out)
    return build_config(overrides)


class RecordedEnv(MousePelletReachEnv):
    """The env, recording every trial it runs (seed, observations, executed excitations, rewards,
    outcome), for tests that check what code built on the env did; ``made`` lists every instance."""

    made: list[RecordedEnv] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trials: list[dict] = []
        RecordedEnv.made.append(self)

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.trials.append({"seed": seed, "obs": [obs], "actions": [], "rewards": [], "success": None})
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        trial = self.trials[-1]
        trial["actions"].append(np.array(action))
        trial["rewards"].append(reward)
        if terminated or truncated:
            trial["success"] = bool(info["is_success"])
        else:
            trial["obs"].append(obs)
        return obs, reward, terminated, truncated, info


def usage_error(main: Callable[[list[str]], object], tmp_path: Path, capsys, *flags: str) -> str:
    """Run a sweep command's ``main`` with ``flags`` that must be refused; returns its one stderr line.

    The refusal is exit status 2 and one line ``error: ...``, before any output folder is made."""
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as caught:
        main(["--out", str(out), "--no-progress", *flags])
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not out.exists()
    return err[0]
