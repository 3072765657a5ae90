"""One recorded session of a run, as the neural analyses read it (format: :mod:`agents.recording`).

A session file ``RUN/activity/session_NN.npz`` holds n trials of T samples; ``time`` holds the sample
*ends* (s from trial start) and the sample length is read from it, never assumed. Windows are half-open
intervals on the sample midpoints, and only valid samples enter anything.

Arrays of the circuit-v2 recording contract that older runs lack (``mean_action``, ``s1``, ``cue_input``)
load as absent; the analyses that need them then report NaN. ``neural_noise`` and ``outcome_input`` are
not loaded: no analysis reads them (indicative units are cut at the ``outcome`` event, which is when the
outcome input switches on).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Input populations onto the cortex, by analysis name -> array name in the session file.
INPUT_ARRAYS: dict[str, str] = {"thalamus": "thalamus", "s1": "s1", "cue": "cue_input"}



@dataclass
class Session:
    """One session's recording as float32 arrays, with event times by name.

    Attributes:
        number: 1-based session.
        cortex: (n, T, N) cortical rates.
        action: (n, T, 15) muscle excitation sent to the body (exploration noise included).
        mean_action: (n, T, 15) the policy's noise-free mean excitation; None in runs that predate it.
        inputs: input population rates by name (keys of :data:`INPUT_ARRAYS` that the file has), (n, T, .).
        valid: (n, T) sample lies within the trial.
        mid: (T,) sample midpoints (s from trial start).
        dt: sample length (s).
        events: event name -> (n,) time (s from trial start; NaN: did not happen).
        success: (n,) bool.
        episode: (n,) protocol episode.
    """

    number: int
    cortex: np.ndarray
    action: np.ndarray
    mean_action: np.ndarray | None
    inputs: dict[str, np.ndarray]
    valid: np.ndarray
    mid: np.ndarray
    dt: float
    events: dict[str, np.ndarray]
    success: np.ndarray
    episode: np.ndarray

    @property
    def n(self) -> int:
        return self.cortex.shape[0]

    @property
    def target(self) -> np.ndarray:
        """The movement that regressions predict: ``mean_action`` (the network's own command, without the
        exploration noise that is not the network's), or ``action`` in runs that predate it."""
        return self.mean_action if self.mean_action is not None else self.action

    def mask(self, start, stop) -> np.ndarray:
        """(n, T) valid samples whose midpoint lies in [start, stop) (scalars or (n,); NaN: none)."""
        start = np.broadcast_to(np.asarray(start, dtype=np.float64), (self.n,))[:, None]
        stop = np.broadcast_to(np.asarray(stop, dtype=np.float64), (self.n,))[:, None]
        return self.valid & (self.mid[None, :] >= start) & (self.mid[None, :] < stop)

    def ended_by(self, t) -> np.ndarray:
        """(n, T) valid samples that end at or before ``t`` (scalar or (n,); NaN: none), so contain
        nothing of what happened from ``t`` on."""
        t = np.broadcast_to(np.asarray(t, dtype=np.float64), (self.n,))[:, None]
        return self.valid & (self.mid[None, :] + self.dt / 2 <= t + 1e-9)

    def movement_stop(self) -> np.ndarray:
        """(n,) end of the movement period: the outcome, or the end of the last valid sample."""
        last_index = self.valid.shape[1] - 1 - np.argmax(self.valid[:, ::-1], 1)
        last = np.where(self.valid.any(1), self.mid[last_index], np.nan)
        outcome = self.events["outcome"]
        return np.where(np.isfinite(outcome), outcome, last + self.dt / 2)

    def movement(self) -> np.ndarray:
        """(n, T) samples of the movement period [cue, outcome) (to the trial's end without an outcome)."""
        return self.mask(self.events["cue"], self.movement_stop())


def load_session(path: Path, number: int) -> Session:
    """The session file at ``path`` (session ``number``) as a :class:`Session`."""
    with np.load(path) as data:
        time = np.asarray(data["time"], dtype=np.float64)
        dt = float(time[1] - time[0]) if time.size > 1 else float(time[0])
        names = [str(name) for name in data["event_names"]]
        event_times = np.asarray(data["event_times"], dtype=np.float64).reshape(-1, len(names))

        def optional(key: str) -> np.ndarray | None:
            return np.asarray(data[key], dtype=np.float32) if key in data.files else None

        inputs = {name: optional(key) for name, key in INPUT_ARRAYS.items()}
        return Session(
            number=number,
            cortex=np.asarray(data["cortex"], dtype=np.float32),
            action=np.asarray(data["action"], dtype=np.float32),
            mean_action=optional("mean_action"),
            inputs={name: array for name, array in inputs.items() if array is not None},
            valid=np.asarray(data["valid"], dtype=bool),
            mid=time - dt / 2, dt=dt,
            events={name: event_times[:, i] for i, name in enumerate(names)},
            success=np.asarray(data["success"], dtype=bool),
            episode=np.asarray(data["episode"], dtype=np.int64))


def movement_samples(s: Session, limit: int, generator: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded subset of at most ``limit`` movement-period samples: their movement mask (n, T), and the
    subset's positions among the mask's samples (sorted) with each one's trial."""
    movement = s.movement()
    trial_of = np.broadcast_to(np.arange(s.n)[:, None], movement.shape)[movement]
    size = min(len(trial_of), limit)
    subset = np.sort(generator.choice(len(trial_of), size=size, replace=False))
    return movement, subset, trial_of[subset]


def window_mean(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``data`` (n, T, F) over the samples of ``mask`` (n, T): (n, F) (NaN if none) and counts."""
    count = mask.sum(1)
    total = np.einsum("nt,ntf->nf", mask.astype(data.dtype), data, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, None] > 0, total / count[:, None], np.nan), count


def rng(seed: int, *key: int) -> np.random.Generator:
    """The generator of one random choice: ``seed`` and a fixed key per use keep the choices independent."""
    return np.random.default_rng([seed, *key])


def cued_reach(lift: np.ndarray, cue: np.ndarray) -> np.ndarray:
    """Which trials count as a reach: a lift that follows the cue (``lift > cue``, both times known).

    A lift at or before the cue onset (or in a trial without a cue) is a pre-cue lift, as
    ``training.train.precue_lift`` and episodes.csv's ``precue_lift`` count it, not a cued reach.
    """
    lift, cue = np.asarray(lift, dtype=np.float64), np.asarray(cue, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(lift) & np.isfinite(cue) & (lift > cue)


class RandomKey(enum.IntEnum):
    """The fixed key of each random choice of the analyses (with the seed, see :func:`rng`)."""

    UNITS = 1  #: the correlation field of view
    SVM = 2  #: the expert classifier's CV splits
    INDICATIVE = 3  #: label shuffles and CV folds of indicative units
    REGRESSION = 4  #: samples and folds of the input-current regressions
    INPUTS = 5  #: samples and folds of the input-population regressions
    MOVEMENT = 6  #: the trial halves of the movement-unit test
    IMAGING_VIEW = 7  #: the calcium-imaging field of view (analysis.calcium; seeded by its own seed)
    IMAGING_NOISE = 8  #: the calcium-imaging shot noise (analysis.calcium; seeded by its own seed)
