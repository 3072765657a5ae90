"""Exact resume of a Stable-Baselines3 run of the head-to-head (:mod:`training.sb3_shaped`).

An SB3 run saves its whole state at the start of every rollout (right after PPO's update) to
``resume.pt`` in its folder; a run started again on that folder goes on from there, and its evaluations,
updates and model are bit for bit those of a run never stopped. The state at that point is:

- the policy and value networks and their Adam state;
- every random generator SB3 draws from (torch's global one samples the actions, NumPy's global one
  shuffles the minibatches; Python's for completeness);
- the model's counters and its last observations, episode starts and LSTM states (the envs are
  mid-trial: a rollout does not end with the trials);
- each training env's :class:`reach_env.EnvSnapshot` (physics, trial, random stream) and its
  ``Monitor``'s running episode;
- the run's own bookkeeping: trials so far, the evaluation rows, the frozen observation statistics and
  the learning time so far.

The file is written to a temporary name and renamed into place, so a kill never leaves half of one. It
is pickled (MuJoCo's ``MjData`` copies and SB3's episode buffers are objects, not tensors): a run reads
only the file it wrote itself. ``evaluation.csv`` is rewritten from the saved rows; SB3's TensorBoard
log is not: a resumed sitting adds an event file to the same folder, so the steps between the last save
and the kill appear twice there.
"""

from __future__ import annotations

import os
import random
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Bumped when what the file holds changes; a file of another format is refused, never misread.
FORMAT_VERSION = 1

#: The ``Monitor`` attributes of a running episode (its wall-clock start is not state).
_MONITOR_STATE = ("rewards", "needs_reset", "episode_returns", "episode_lengths", "episode_times",
                  "total_steps")


class ResumeError(RuntimeError):
    """A resume file that cannot be used: unreadable, of another format, or of another run."""


@dataclass
class RunProgress:
    """The head-to-head's own bookkeeping of an SB3 run (besides the model and its envs).

    Attributes:
        trials: training trials finished.
        rows: the evaluation rows so far (``analysis.run_format.EVALUATION_COLUMNS``).
        stats: the frozen observation standardisation (mean, variance).
        learn_s: seconds spent learning so far (wall clock, all sittings).
    """

    trials: int
    rows: list[dict]
    stats: tuple[np.ndarray, np.ndarray]
    learn_s: float


def save(path: Path, agent: str, seed: int, model, venv, progress: RunProgress) -> None:
    """Write the state of ``model`` (SB3, at a rollout's start), its envs ``venv`` (a ``VecNormalize``
    over a ``DummyVecEnv`` of ``Monitor``-wrapped reach envs) and ``progress`` to ``path``."""
    state = {
        "format": FORMAT_VERSION, "agent": agent, "seed": seed,
        "policy": model.policy.state_dict(), "optimizer": model.policy.optimizer.state_dict(),
        "counters": {"num_timesteps": model.num_timesteps, "_n_updates": model._n_updates,
                     "_current_progress_remaining": model._current_progress_remaining},
        "last": {"_last_obs": model._last_obs, "_last_episode_starts": model._last_episode_starts,
                 "_last_lstm_states": getattr(model, "_last_lstm_states", None)},
        "episode_buffers": (list(model.ep_info_buffer), list(model.ep_success_buffer)),
        "random": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),  # noqa: NPY002
                   "python": random.getstate()},
        "envs": [(monitor.unwrapped.snapshot(), {name: getattr(monitor, name) for name in _MONITOR_STATE})
                 for monitor in venv.venv.envs],
        "progress": progress,
    }
    temporary = path.with_name(path.name + ".part")
    torch.save(state, temporary)
    os.replace(temporary, path)


def read(path: Path, agent: str, seed: int) -> dict[str, Any]:
    """The state saved in ``path`` by a run of ``agent`` with ``seed``.

    Raises:
        ResumeError: the file is unreadable, of another format, or of another agent or seed (named).
    """
    try:
        state = torch.load(path, weights_only=False)
    except Exception as error:  # torch and pickle raise several types for truncated or foreign files
        raise ResumeError(f"resume file {path} is unreadable (corrupt or truncated?): {error}; delete it "
                          f"to start this run again") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        found = state.get("format") if isinstance(state, dict) else None
        raise ResumeError(f"resume file {path} has format {found!r}, this version reads format "
                          f"{FORMAT_VERSION}; delete it to start this run again")
    if (state["agent"], state["seed"]) != (agent, seed):
        raise ResumeError(f"resume file {path} is of {state['agent']} seed {state['seed']}, not of "
                          f"{agent} seed {seed}")
    return state


def restore(state: dict[str, Any], model, venv) -> RunProgress:
    """Put ``model`` and ``venv`` (made as the saved run's were) where ``state`` was saved; returns the
    run's bookkeeping. Call ``model.learn(..., reset_num_timesteps=False)`` next: it then neither resets
    the envs nor the counters."""
    model.policy.load_state_dict(state["policy"])
    model.policy.optimizer.load_state_dict(state["optimizer"])
    for name, value in {**state["counters"], **state["last"]}.items():
        if value is not None:
            setattr(model, name, value)
    # SB3 makes its episode buffers in learn(), which keeps them when it does not reset the counters.
    infos, successes = state["episode_buffers"]
    model.ep_info_buffer = deque(infos, maxlen=model._stats_window_size)
    model.ep_success_buffer = deque(successes, maxlen=model._stats_window_size)
    for monitor, (snapshot, running) in zip(venv.venv.envs, state["envs"], strict=True):
        monitor.unwrapped.restore(snapshot)
        for name, value in running.items():
            setattr(monitor, name, value)
    generators = state["random"]
    torch.set_rng_state(generators["torch"])
    np.random.set_state(generators["numpy"])  # noqa: NPY002
    random.setstate(generators["python"])
    return state["progress"]

