"""The TD error at a trial's events, as the trainer logs it: ``episodes.csv``'s ``rpe_cue`` and
``rpe_outcome`` (:func:`event_rpe`), TensorBoard's ``dopamine/rpe_at_<event>`` and the per-session figure of
the TD error aligned to the cue and to the outcome (:func:`aligned_delta`, :func:`rpe_figure`).

In a TD learner the response to the reward shrinks and the response to the cue grows as the cue comes to
predict the reward: the signature a neuroscientist looks for first in dopamine recordings.
"""

from __future__ import annotations

import math

import numpy as np

from agents.three_factor import BatchRecord

#: Seconds after an event over which its TD error is summed (:func:`event_rpe`): the tone's 0.1 s.
RPE_WINDOW = 0.1
#: Seconds before and after an event shown in the per-session figure of the aligned TD error.
ALIGNED_SPAN = (-0.2, 0.6)
#: The events whose TD error episodes.csv (``rpe_<event>``) and TensorBoard (``dopamine/rpe_at_<event>``)
#: hold.
RPE_EVENTS = ("cue", "outcome")


def event_row(time: float, control_timestep: float) -> int:
    """Row of a (T, B) step array whose TD error is the first to take in an event at ``time`` (s).

    An event's time is the end of the control step it happened in (the env's ``info["time"]``, k steps
    of ``control_timestep``), and row t holds step t + 1 (0-based rows, 1-based steps):
    ``delta_t = r_t + gamma V(s_{t+1}) - V(s_t)`` takes in that step's reward (a pellet eaten) and the
    state it led to (the first with the tone on), so the event's row is k - 1.
    """
    return round(time / control_timestep) - 1


def event_rpe(delta: np.ndarray, valid: np.ndarray, times: np.ndarray, control_timestep: float,
              window: float = RPE_WINDOW) -> np.ndarray:
    """Each trial's TD error at an event: the sum of ``delta`` over the trial's control steps that end
    in ``[time, time + window)`` (:func:`event_row` on), in reward units (the env's reward).

    Args:
        delta: (T, B) TD errors, reward units (``BatchRecord.delta``).
        valid: (T, B) bool, the trial was running at that step (``BatchRecord.valid``).
        times: (B,) the event's time in each trial, s from the trial's start; NaN where it did not happen.
        control_timestep: s per step (``env.control_timestep``).
        window: s summed from the event on (:data:`RPE_WINDOW`).

    Returns:
        (B,) float64, NaN where the event did not happen.
    """
    steps = math.ceil(window / control_timestep - 1e-9)
    rpe = np.full(len(times), np.nan)
    for b in np.flatnonzero(np.isfinite(times)):
        first = event_row(float(times[b]), control_timestep)
        rows = slice(max(first, 0), max(first + steps, 0))
        rpe[b] = float(delta[rows, b][valid[rows, b]].astype(np.float64).sum())
    return rpe


def trial_rpe(record: BatchRecord, control_timestep: float) -> dict[str, np.ndarray]:
    """:func:`event_rpe` of every trial of a batch at each of :data:`RPE_EVENTS`: ``{event: (B,)}``."""
    return {event: event_rpe(record.delta, record.valid, event_times(record, event), control_timestep)
            for event in RPE_EVENTS}


def event_times(record: BatchRecord, event: str) -> np.ndarray:
    """(B,) the time (s from trial start) of ``event`` in each trial of a batch (NaN: it did not happen)."""
    return np.array([s.events[event] for s in record.summaries], dtype=np.float64)


def aligned_delta(delta: np.ndarray, valid: np.ndarray, times: np.ndarray, control_timestep: float,
                  span: tuple[float, float] = ALIGNED_SPAN) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The TD error around an event, summed over trials, for a mean aligned to the event.

    Offset 0 is the event's row (:func:`event_row`), the first summed into :func:`event_rpe`; only the
    steps a trial ran count.

    Args:
        delta, valid, times, control_timestep: as in :func:`event_rpe` (trials without the event add
            nothing).
        span: s before (negative) and after the event.

    Returns:
        ``(offsets, sums, counts)``: (K,) s from the event, (K,) summed TD error (reward units) and (K,)
        how many trials it sums at each offset.
    """
    steps = np.arange(round(span[0] / control_timestep), round(span[1] / control_timestep) + 1)
    sums = np.zeros(len(steps))
    counts = np.zeros(len(steps), int)
    for b in np.flatnonzero(np.isfinite(times)):
        rows = event_row(float(times[b]), control_timestep) + steps
        inside = (rows >= 0) & (rows < delta.shape[0])
        running = np.zeros(len(steps), bool)
        running[inside] = valid[rows[inside], b]
        sums[running] += delta[rows[running], b]
        counts += running
    return steps * control_timestep, sums, counts


def rpe_figure(aligned: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]], session: int):
    """A session's mean TD error aligned to the cue onset (left) and to the outcome (right, successes and
    failures apart: their TD errors there have opposite signs).

    Args:
        aligned: ``{line: (offsets, sums, counts, trials)}``, :func:`aligned_delta`'s sums over the
            session's trials (offsets in s, sums in reward units) and how many trials had the event, for
            the lines ``cue``, ``outcome_success`` and ``outcome_failure`` (missing: none).
        session: its number, for the title.

    Returns:
        A matplotlib Figure, made without pyplot (no backend is chosen or changed).
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3), dpi=100, layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    panels = ((axes[0], "cue onset", (("cue", "all trials", "C0"),)),
              (axes[1], "outcome", (("outcome_success", "successes", "C2"),
                                    ("outcome_failure", "failures", "C3"))))
    for ax, event, lines in panels:
        drawn = False
        for line, label, colour in lines:
            offsets, sums, counts, trials = aligned.get(line, (None, None, None, 0))
            if trials:
                mean = np.divide(sums, counts, out=np.full(len(sums), np.nan), where=counts > 0)
                ax.plot(offsets, mean, color=colour, marker=".", label=f"{label} (n={trials})")
                drawn = True
        ax.axvspan(0, RPE_WINDOW, color="0.9", zorder=0)  # the steps rpe_cue / rpe_outcome sum
        ax.axvline(0, color="0.5", lw=0.8)
        ax.axhline(0, color="0.5", lw=0.8, ls=":")
        ax.set_xlim(*ALIGNED_SPAN)
        ax.set_xlabel(f"time from {event} (s)")
        if drawn:
            ax.legend(fontsize=8, frameon=False)
        else:
            ax.text(0.5, 0.5, "no trial had it", transform=ax.transAxes, ha="center")
    axes[0].set_ylabel("TD error (reward units)")
    figure.suptitle(f"session {session}: mean TD error per control step around events "
                    f"(shaded: the {RPE_WINDOW:g} s summed into rpe_cue / rpe_outcome)", fontsize=9)
    return figure
