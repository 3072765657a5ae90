"""Finding 8: Th-excited units defined by a thalamic stimulation probe, and how they overlap movement units.

The probe file ``RUN/probe/session_NN.npz`` is recorded at the start of session NN, before its first
trial, outside learning, exploration noise off and private neural noise on: P trials, each with one
brief pulse added to thalamic units (every one in older probes, a fixed subset in newer ones) during
[``pulse_start``, ``pulse_start`` + ``pulse_duration``) in the pre-cue rest, cortical rates ``cortex``
(P, T_p, N) at control resolution, ``time`` (T_p,) sample ends, ``valid`` (P, T_p) (and the scalars
``pulse_duration``, ``pulse_amplitude``, not needed here).
Probes from :func:`agents.probe.run_probe` also hold ``pulse_trial`` (P,) bool, the trials that got the
pulse (every other one; the others are pulse-free control trials), and ``stimulated`` (M,) bool, the
thalamic units pulsed (metadata: not read here). Older probe files lack both: every trial was pulsed, in
every thalamic unit.

**Th-excited units.** Per probe trial and unit, the response is the mean rate over the valid samples
whose midpoint lies in [pulse_start, pulse_start + w) minus that over [pulse_start - w, pulse_start)
(w = ``probe_window_s``, 0.06 s: about the pulse plus one cortical time constant's rise, the bulk of the
response; windows next to the pulse keep the share of any slow drift of the rest state small). A unit is
Th-excited if, *both*,

- **significance**: its responses are positive across probe trials (one-sided one-sample t-test; a unit
  whose responses do not vary at all is excited if they are positive), after Benjamini-Hochberg across
  units at ``fdr_q``; and
- **size**: its mean response is at least ``probe_min_response`` (0.05 rate units, 5 % of the tanh
  rate's half-range, the same bar as a responsive unit's, :mod:`analysis.responses`). Why: the lab's
  Th-excited neurons are those the stimulation drives *strongly*; with little private noise and 16-32
  probe trials, a drive of a fraction of a percent is significant, and the t-test alone would call
  nearly every unit that receives any thalamic weight.

Without control trials, a drift of the rest state between the two windows (the network settling from
its initial state, say) counts as a response. With at least ``min_trials_per_session`` control trials
(``pulse_trial`` False), the response of the pulsed trials is compared with that of the control trials
instead (one-sided Welch t-test; the minimum size applies to the difference of their means, pulsed
minus control), which subtracts any such drift.

The probe can only select if its responses are graded: in circuit 2 every cortical unit starts with the
same total excitatory thalamic weight, and a pulse that drives every unit well past the noise (measured:
amplitude 1.0 for 0.04 s, responses of 0.3-1.0 in a 3-session run) makes every unit Th-excited, leaving
the conditional fractions nothing to compare.

**Metrics** (movement units from :mod:`analysis.movement`, of the session's own trials):

- ``th_excited_fraction``: Th-excited units / all units.
- ``th_movement_given_excited``: movement units among the Th-excited / Th-excited (NaN if none).
- ``th_excited_given_nonmovement``: Th-excited among the non-movement units / non-movement units (NaN if
  every unit is a movement unit).
- ``movement_unit_fraction``: movement units / all units (needs no probe).

The probe metrics are NaN without the probe file, with fewer than ``min_trials_per_session`` probe trials
that have samples in both windows, or without movement units' data (for the two conditional ones).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from analysis.fdr import benjamini_hochberg
from analysis.movement import movement_units
from analysis.sessions import Session

if TYPE_CHECKING:
    from analysis.neural import NeuralAnalysisConfig

KEYS = ("th_excited_fraction", "th_movement_given_excited", "th_excited_given_nonmovement",
        "movement_unit_fraction")


@dataclass
class Probe:
    """One session's probe recording: ``cortex`` (P, T_p, N) float32, ``valid`` (P, T_p), sample midpoints
    ``mid`` (T_p,) (s from trial start), ``pulse_start`` (s) and ``pulsed`` (P,) bool (False: a control
    trial without the pulse)."""

    cortex: np.ndarray
    valid: np.ndarray
    mid: np.ndarray
    pulse_start: float
    pulsed: np.ndarray

    def window_mean(self, start: float, stop: float) -> np.ndarray:
        """(P, N) mean rate over the valid samples with midpoint in [start, stop) (NaN rows if none)."""
        mask = self.valid & (self.mid >= start)[None, :] & (self.mid < stop)[None, :]
        count = mask.sum(1)
        total = np.einsum("pt,ptn->pn", mask.astype(np.float64), self.cortex, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count[:, None] > 0, total / count[:, None], np.nan)


def load_probe(path: Path) -> Probe:
    """The probe recording at ``path``."""
    with np.load(path) as data:
        time = np.asarray(data["time"], dtype=np.float64)
        dt = float(time[1] - time[0]) if time.size > 1 else float(time[0])
        cortex = np.asarray(data["cortex"], dtype=np.float32)
        valid = (np.asarray(data["valid"], dtype=bool) if "valid" in data.files
                 else np.ones(cortex.shape[:2], dtype=bool))
        pulsed = (np.asarray(data["pulse_trial"], dtype=bool) if "pulse_trial" in data.files
                  else np.ones(len(cortex), dtype=bool))
        return Probe(cortex=cortex, valid=valid, mid=time - dt / 2, pulse_start=float(data["pulse_start"]),
                     pulsed=pulsed)


def th_excited(probe: Probe, config: NeuralAnalysisConfig) -> np.ndarray | None:
    """(N,) bool: the Th-excited units (module docstring); None with too few usable probe trials."""
    start, width = probe.pulse_start, config.probe_window_s
    response = probe.window_mean(start, start + width) - probe.window_mean(start - width, start)
    usable = np.isfinite(response).all(1)
    pulsed, control = response[usable & probe.pulsed], response[usable & ~probe.pulsed]
    least = config.min_trials_per_session
    if len(pulsed) < least:
        return None
    size, scale = pulsed.mean(0), pulsed.var(0, ddof=1) / len(pulsed)
    dof = np.full(size.shape, len(pulsed) - 1.0)
    if len(control) >= least:  # Welch: the pulse's effect beyond the control trials' drift
        control_scale = control.var(0, ddof=1) / len(control)
        with np.errstate(invalid="ignore", divide="ignore"):
            dof = (scale + control_scale) ** 2 / (scale**2 / (len(pulsed) - 1)
                                                  + control_scale**2 / (len(control) - 1))
        size, scale = size - control.mean(0), scale + control_scale
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = stats.t.sf(size / np.sqrt(scale), dof)
    p = np.where(scale > 1e-24, p, np.where(size > 0, 0.0, 1.0))
    return benjamini_hochberg(p, config.fdr_q) & (size >= config.probe_min_response)


def probe_metrics(s: Session, probe: Probe | None, config: NeuralAnalysisConfig,
                  seed: int) -> dict[str, float]:
    """The :data:`KEYS` of one session and its probe (None: not recorded).

    Raises:
        ValueError: if the probe recorded another number of cortical units than the session.
    """
    out = dict.fromkeys(KEYS, math.nan)
    movers = movement_units(s, config, seed) if s.n else None
    if movers is not None:
        out["movement_unit_fraction"] = float(movers.mean())
    if probe is None:
        return out
    if probe.cortex.shape[2] != s.cortex.shape[2]:
        raise ValueError(f"session {s.number}: the probe recorded {probe.cortex.shape[2]} cortical units, "
                         f"the session {s.cortex.shape[2]}")
    excited = th_excited(probe, config)
    if excited is None:
        return out
    out["th_excited_fraction"] = float(excited.mean())
    if movers is not None:
        if excited.any():
            out["th_movement_given_excited"] = float(movers[excited].mean())
        if not movers.all():
            out["th_excited_given_nonmovement"] = float(excited[~movers].mean())
    return out
