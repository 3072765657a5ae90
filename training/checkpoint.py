"""Checkpoints that resume a run exactly: ``checkpoints/episode_NNNNNN.pt`` (N = trials completed).

A checkpoint holds the networks, both optimisers, every random generator's state (Python, NumPy, torch's
global one and the learner's exploration generator; the envs are reset with a per-episode seed, so
they need none), the episode counter, the silencing schedules and the resolved config. Every value is
a tensor or plain data, so the file loads with ``torch.load(path, weights_only=True)``; the
state dict of every dopamine-gated weight (thalamocortical, recurrent, read-out) is under ``"cortex"``.

Writes go to a temporary file that is renamed into place, so a kill never leaves a half-written
checkpoint under the final name.

Format 3 is dopareach's learning v2 (task v1, plain dopamine-scaled steps, regulated exploration,
criterion-ended shaping). Checkpoints of formats 1 (before held-out evaluation) and 2 (``evaluation.csv``
but the earlier rule and defaults) come from runs that predate it: they are refused with a message
saying so, never misread.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import config as agent_config
from agents import pretraining
from analysis import run_format
from training.protocol import Run

FORMAT_VERSION = 4


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: corrupt, foreign or made by a different configuration."""


def checkpoint_path(directory: Path, episode: int) -> Path:
    """Where the checkpoint taken after ``episode`` trials goes in ``directory``."""
    return directory / run_format.checkpoint_name(episode)


def checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """``(episode, path)`` of every checkpoint in ``directory``, by episode (empty if there is none)."""
    return list(run_format.numbered_files(directory, run_format.CHECKPOINT_PATTERN).items())


def newest_checkpoint(directory: Path) -> Path | None:
    """The checkpoint with the most completed trials in ``directory`` (None if there is none)."""
    found = checkpoints(directory)
    return found[-1][1] if found else None


def _numpy_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 - saved for exact resume
    return {"name": name, "keys": torch.as_tensor(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_state(state: dict[str, Any]) -> None:
    np.random.set_state((state["name"], state["keys"].numpy().astype(np.uint32), state["pos"],  # noqa: NPY002
                         state["has_gauss"], state["cached_gaussian"]))


def save_checkpoint(run: Run, directory: Path, config: dict) -> Path:
    """Write ``run``'s complete state; returns the file.

    Raises:
        CheckpointError: if a weight is NaN or infinite; nothing is written, so the newest checkpoint
            on disk stays the last good one.
    """
    bad = run.circuit.non_finite()
    if bad:
        raise CheckpointError(f"refusing to checkpoint episode {run.episode}: {', '.join(bad)} "
                              f"not finite")
    directory.mkdir(parents=True, exist_ok=True)
    version, internal, gauss = random.getstate()
    state = {
        "format": FORMAT_VERSION,
        "episode": run.episode,
        "cortex": run.circuit.cortex.state_dict(),
        "thalamus": run.circuit.thalamus.state_dict(),
        "critic": run.circuit.critic.state_dict(),
        "cortex_optimizer": run.learner.cortex_optimizer.state_dict(),
        "critic_optimizer": run.learner.critic_optimizer.state_dict(),
        "rng": {
            "python": {"version": version, "state": list(internal), "gauss": gauss},
            "numpy": _numpy_state(),
            "torch": torch.get_rng_state(),
            "exploration": run.learner.generator.get_state(),
        },
        "schedules": {"dopamine": run.learner.dopamine.schedule.to_list(),
                      "thalamus": run.learner.thalamus.to_list()},
        "pretraining_figures": dict(run.pretraining_figures),
        # The reward history of the exploration regulator (None when the cortex learns its own noise).
        "exploration_regulator": (run.learner.exploration.state_dict()
                                  if run.learner.exploration is not None else None),
        "config": config,
    }
    path = checkpoint_path(directory, run.episode)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    with open(temporary, "rb") as f:
        os.fsync(f.fileno())
    os.replace(temporary, path)
    return path


def load_checkpoint(path: Path, run: Run, config: dict, may_differ: frozenset[str] = frozenset()) -> None:
    """Restore ``run`` (built from the same ``config``) to the state saved in ``path``.

    ``may_differ`` names further config fields allowed to differ from the checkpoint's: a fork (a run
    continued from another run's checkpoint under other silencing schedules) passes
    ``{"da_block", "da_window", "thalamus_block"}``.

    Raises:
        CheckpointError: if the file is unreadable, not a dopareach checkpoint, of another format (a
            format-1, -2 or -3 checkpoint predates learning v2 or circuit v2, and the message says
            which) or was written by a run whose configuration differs (the differing fields are
            named); these checks come before anything in ``run`` is changed.
    """
    try:
        state = torch.load(path, weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is unreadable (corrupt or truncated?): {error}") from None
    version = state.get("format") if isinstance(state, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{path} is not a dopareach checkpoint (it has no format number)")
    if version != FORMAT_VERSION:
        raise CheckpointError(_old_format(path, version) if version in _OLD_FORMATS else
                              f"checkpoint {path} has format {version}, which this version of "
                              f"dopareach (format {FORMAT_VERSION}) cannot read")
    saved = state.get("config", {})
    unread = _unread_fields(saved, config)
    differences = [f"{section}.{key}: checkpoint {_saved_value(saved, section, key)!r}, now {value!r}"
                   for section, values in config.items() if section != "output"
                   for key, value in values.items()
                   if key not in _CHANGEABLE | may_differ and (section, key) not in unread
                   and _saved_value(saved, section, key) != value]
    if differences:
        raise CheckpointError(f"checkpoint {path} was made with a different configuration: "
                              + "; ".join(differences))
    try:
        run.circuit.cortex.load_state_dict(state["cortex"])
        run.circuit.thalamus.load_state_dict(state["thalamus"])
        run.circuit.critic.load_state_dict(state["critic"])
        run.learner.cortex_optimizer.load_state_dict(state["cortex_optimizer"])
        run.learner.critic_optimizer.load_state_dict(state["critic_optimizer"])
        rng = state["rng"]
        python = rng["python"]
        random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
        _set_numpy_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        run.learner.generator.set_state(rng["exploration"])
        if run.learner.exploration is not None:
            run.learner.exploration.load_state_dict(state["exploration_regulator"])
    except (KeyError, RuntimeError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} does not match this network: {error}") from None
    run.episode = int(state["episode"])
    run.pretraining_figures = dict(state["pretraining_figures"])


#: Fields added to the configuration after checkpoints of this format were first written, with the value
#: that the runs written without them had (their behaviour then).
_ADDED_FIELDS: dict[tuple[str, str], Any] = {("agent", "cue_persistence"): 0.0,
                                             ("pretraining", "forward_model"): False,
                                             ("protocol", "da_window"): ""}


def _saved_value(saved: dict, section: str, key: str) -> Any:
    """The checkpoint's value of ``section.key``, reading a field it predates as the value it had then."""
    values = saved.get(section, {})
    return values[key] if key in values else _ADDED_FIELDS.get((section, key))


def _unread_fields(saved: dict, config: dict) -> set[tuple[str, str]]:
    """Fields that neither run reads: circuit 2's, when both the checkpoint and now are circuit 1, so that
    a circuit-1 checkpoint resumes across changes to circuit 2."""
    if saved.get("agent", {}).get("circuit", 1) != 1 or config.get("agent", {}).get("circuit", 1) != 1:
        return set()
    return ({("agent", key) for key in agent_config.CIRCUIT_2_FIELDS}
            | {("pretraining", key) for key in pretraining.CIRCUIT_2_FIELDS})


#: Formats of earlier versions, refused with a message saying what they predate.
_OLD_FORMATS = {1: "learning v2", 2: "learning v2", 3: "circuit v2"}


def _old_format(path: Path, version: int) -> str:
    return (f"{path}: checkpoint format {version} predates dopareach's {_OLD_FORMATS[version]} "
            f"(format {FORMAT_VERSION}): re-run the training with this version "
            f"(python -m training.train --out NEW_FOLDER) to resume or evaluate it")


#: Fields that may differ on resume: the run's length (resume continues "up to the configured
#: length") and worker threads.
_CHANGEABLE = frozenset({"sessions", "torch_threads", "env_threads"})
