"""Tiny synthetic runs in the recording contract of circuit v2, with effects planted where a test wants them.

:func:`make_run` writes ``activity/session_NN.npz`` (every key of agents/recording.py plus the v2 arrays
``mean_action``, ``s1``, ``cue_input``, ``outcome_input``, ``neural_noise``), ``probe/session_NN.npz`` and
``checkpoints/episode_EEEEEE.pt``, so the analyses run on them as on a trainer's run (probes as
``agents.probe.run_probe`` writes them, with pulse-free control trials, unless ``probe_controls=False``).
Every effect is off by default (a *frozen* network: the same noise process in every session); a
:class:`Plan` turns effects on, some with a size that changes from the first session to the last
(``(first, last)`` pairs, interpolated linearly over sessions).

The generative process of a trial (40 ms samples, trials of 2.5 s at most):

- events: cue at 0.6 s (optionally jittered), lift 0.15-0.35 s after the cue, a success's grab
  ``grab_delay[0]`` (0.3 s) after the lift and its outcome 0.5-0.8 s after the lift (at continuous
  times, so samples straddle them), a failure's grab ``grab_delay[1]`` after the lift (None: no grab)
  and its outcome at the timeout 1.5 s after the cue; the trial ends 0.4 s after the outcome.
- movement time course ``m(t)``: 0 before the lift, rising linearly to 1 over 0.3 s, 1 until the
  outcome, falling to 0 over 0.3 s; the mean command ``mean_action = 0.2 + 0.5 m(t) w`` (w per muscle)
  plus a little noise, and ``action`` = that plus exploration noise.
- inputs: the thalamus's first ``encoding`` units carry ``m(t + thalamic_lead)``, S1's carry
  ``m(t - s1_lag)`` (or pure noise with ``encode_inputs=False``); the cue input is 1 for 0.1 s at the cue.
- cortex (tanh of): noise, latent factors (correlations) that drift, and the planted unit groups in
  this order: cue units, outcome units (respond after successes, from the outcome's time on),
  indicative units (differ by outcome between cue and outcome), carry units (respond after a success's
  grab, from its time on: the touch and carry of the pellet), the movement units (carry ``m(t)``) last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EVENTS = ("cue", "lift", "grab", "at_mouth", "outcome")
CUE = 0.6
TRIAL_END = 2.5
PROBE_DT, PROBE_END, PULSE_START, PULSE_DURATION = 0.02, 0.4, 0.2, 0.05


@dataclass(frozen=True)
class Plan:
    """What a synthetic run contains (every effect off by default: a frozen, untrained network).

    Pairs ``(first, last)`` give an effect's size in the first and the last session (linear between).
    """

    sessions: tuple[int, ...] = (1, 2, 3)
    trials: int = 40
    units: int = 30
    thalamic: int = 8
    s1: int = 8
    dt: float = 0.04
    success_rate: float = 0.5
    cue_jitter: float = 0.0  # s: the cue comes uniformly within +-cue_jitter of 0.6 s
    success_delay: tuple[float, float] = (0.5, 0.8)  # s: range of a success's outcome after the lift
    drift: float = 0.0  # correlation loadings and rate offsets move from naive (first) to expert (last)
    latent: tuple[float, float] = (0.15, 0.15)  # size of the shared latent factors (correlations)
    cue_units: int = 0
    cue_gain: tuple[float, float] = (0.8, 0.8)
    outcome_units: int = 0
    outcome_gain: tuple[float, float] = (0.8, 0.8)
    indicative_units: int = 0
    indicative_gain: tuple[float, float] = (0.5, 0.5)
    carry_units: int = 0
    carry_gain: float = 0.8
    grab_delay: tuple[float, float | None] = (0.3, None)  # s after the lift: a success's, a failure's grab
    movement_units: int = 0
    movement_gain: float = 0.6
    thalamus_targets: str = "movement"  # the movement thalamic unit projects onto "movement" or "other" units
    encode_inputs: bool = True  # thalamus and S1 carry the movement (else: pure noise)
    encoding: int = 3  # thalamic and S1 units that carry it
    thalamic_lead: float = 0.2  # s: the thalamus carries the movement this much earlier
    s1_lag: float = 0.1  # s: S1 carries it this much later
    thalamus_cue_response: float = 0.0  # a thalamic unit (not an encoding one) responds to the cue
    lift: bool = True
    lift_at: float | None = None  # every lift at this time (s)
    silent_thalamus: bool = False
    v2: bool = True  # write the circuit-v2 arrays (else: a run in the v1 format)
    probe: bool = True
    probe_trials: int = 20
    probe_controls: bool = True  # every other probe trial is a pulse-free control (else: all pulsed)
    probe_excited: tuple[float, float] = (0.0, 0.0)  # fraction of units the thalamic pulse excites
    probe_on_movement: tuple[float, float] = (0.5, 0.5)  # share of the excited drawn from movement units
    probe_noise: float = 0.03
    checkpoints: tuple[int, ...] | None = None  # sessions with a checkpoint at their start (None: all)
    seed: int = 0


def _at(pair: tuple[float, float], progress: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * progress


def ramp(t: np.ndarray, start: np.ndarray, stop: np.ndarray, rise: float = 0.3) -> np.ndarray:
    """The movement time course m(t) (n, T): 0 before ``start``, linear rise over ``rise`` s, 1 until
    ``stop``, linear fall over ``rise`` s."""
    up = np.clip((t[None, :] - start[:, None]) / rise, 0.0, 1.0)
    down = np.clip(1.0 - (t[None, :] - stop[:, None]) / rise, 0.0, 1.0)
    return np.minimum(up, down)


def write_session(path: Path, **arrays) -> None:
    """A session file with every key of agents/recording.py (the ones not given filled plausibly)."""
    n, steps = arrays["valid"].shape
    full = dict(
        episode=np.arange(n), success=np.zeros(n, bool), outcome=np.full(n, 3, np.int8),
        steps=arrays["valid"].sum(1).astype(np.int32), dopamine_gain=np.ones(n, np.float32),
        thalamus_gain=np.ones(n, np.float32), event_names=np.array(EVENTS),
        reward=np.zeros((n, steps), np.float32), phase=np.where(arrays["valid"], 1, -1).astype(np.int8),
        noise=np.zeros((n, steps, 15), np.float16), value=np.zeros((n, steps), np.float32),
        delta=np.zeros((n, steps), np.float32), dopamine=np.zeros((n, steps), np.float32))
    full.update(arrays)
    for name in ("cortex", "thalamus", "action", "mean_action", "s1", "neural_noise"):
        if name in full:
            full[name] = np.asarray(full[name], np.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **full)


def write_checkpoint(path: Path, thalamocortical: np.ndarray, recurrent: np.ndarray, dale: bool = False,
                     sign: np.ndarray | None = None, **extra: np.ndarray) -> None:
    """A checkpoint with the cortex's state dict (``extra``: further cortex keys, e.g. tc_mask)."""
    import torch

    n = recurrent.shape[0]
    mask = np.ones((n, n)) - np.eye(n)
    cortex = {"thalamocortical": torch.tensor(thalamocortical, dtype=torch.float32),
              "recurrent": torch.tensor(recurrent, dtype=torch.float32),
              "mask": torch.tensor(mask, dtype=torch.float32),
              "sign": torch.ones(n) if sign is None else torch.tensor(sign, dtype=torch.float32),
              "bias": torch.zeros(n), "readout": torch.zeros(15, n)}
    cortex.update({k: torch.tensor(v, dtype=torch.float32) for k, v in extra.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"cortex": cortex, "config": {"agent": {"dale": dale}}}, path)


def write_probe(path: Path, rng: np.random.Generator, units: int, trials: int, excited: np.ndarray,
                noise: float, drift: float = 0.0, controls: int = 0, alternate: bool = False,
                thalamic: int = 8) -> None:
    """A probe file: AR(1) noise in every unit, plus in ``excited`` units a leaky-integrator (tau 50 ms)
    response to the pulse, of gain 0.2-0.5 (a mean response of 0.1-0.24 in the 0.06 s after the pulse's
    onset: past the analysis's 0.05; a third of the other units are inhibited alike, the rest do not
    respond); every unit's rate rises by ``drift`` per second in every trial (an unsettled rest state);
    the last ``controls`` trials get no pulse (``pulse_trial`` False), or every other one (trials 1, 3,
    ...) with ``alternate``, as ``agents.probe.run_probe`` does (and then, as it does, ``stimulated``: the
    first 3 of ``thalamic`` units, metadata)."""
    steps = int(round(PROBE_END / PROBE_DT))
    time = np.arange(1, steps + 1) * PROBE_DT
    drive = ((time > PULSE_START + 1e-9) & (time <= PULSE_START + PULSE_DURATION + 1e-9)).astype(float)
    kernel = np.zeros(steps)
    for t in range(1, steps):  # the rate at each sample end: a leaky integrator (tau 50 ms) of the pulse
        kernel[t] = kernel[t - 1] + (PROBE_DT / 0.05) * (drive[t] - kernel[t - 1])
    gain = np.zeros(units)
    gain[excited] = rng.uniform(0.2, 0.5, len(excited))
    others = np.setdiff1d(np.arange(units), excited)
    gain[rng.choice(others, size=len(others) // 3, replace=False)] = -rng.uniform(0.2, 0.5, len(others) // 3)
    noisy = np.zeros((trials, steps, units))
    step = rng.standard_normal((trials, steps, units)) * noise
    for t in range(steps):
        noisy[:, t] = 0.6 * noisy[:, t - 1] + step[:, t] if t else step[:, t]
    pulsed = np.arange(trials) % 2 == 0 if alternate else np.arange(trials) < trials - controls
    cortex = (0.1 + drift * time[None, :, None] + noisy
              + pulsed[:, None, None] * kernel[None, :, None] * gain[None, None, :])
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = ({"pulse_trial": pulsed, "stimulated": np.arange(thalamic) < 3} if controls or alternate else {})
    np.savez_compressed(path, cortex=cortex.astype(np.float16), time=time, pulse_start=PULSE_START,
                        pulse_duration=PULSE_DURATION, pulse_amplitude=1.0,
                        valid=np.ones((trials, steps), bool), **extra)


def groups(plan: Plan) -> dict[str, np.ndarray]:
    """The cortical unit indices of each planted group."""
    sizes = {"cue": plan.cue_units, "outcome": plan.outcome_units, "indicative": plan.indicative_units,
             "carry": plan.carry_units}
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = np.arange(start, start + size)
        start += size
    out["movement"] = np.arange(plan.units - plan.movement_units, plan.units)
    if start > plan.units - plan.movement_units:
        raise ValueError(f"planted groups need {start + plan.movement_units} > {plan.units} units")
    return out


def make_run(root: Path, plan: Plan = Plan()) -> Path:  # noqa: B008 - frozen dataclass
    """A run folder with the planted effects of ``plan`` (module docstring); returns ``root``."""
    rng = np.random.default_rng(plan.seed)
    n, units, m, s1_units = plan.trials, plan.units, plan.thalamic, plan.s1
    steps = int(round(TRIAL_END / plan.dt))
    time = np.arange(1, steps + 1) * plan.dt
    mid = time - plan.dt / 2
    unit_groups = groups(plan)
    movers = unit_groups["movement"]
    # legacy currents: thalamic unit 0 carries the movement and projects onto the movement units (or others)
    w_tc = 0.05 * rng.standard_normal((units, m))
    targets = movers if plan.thalamus_targets == "movement" else movers - plan.movement_units
    w_tc[:, 0] = 0.0
    w_tc[targets, 0] = 1.0
    w_rec = rng.standard_normal((units, units)) / math.sqrt(units)
    w_rec[:, movers] = 0.0  # the recurrent input carries no movement signal
    loadings = [rng.standard_normal((units, 3)), rng.standard_normal((units, 3))]
    offsets = rng.standard_normal(units)
    muscle_weights = rng.uniform(0.5, 1.0, 15)
    thalamic_map = rng.uniform(0.5, 1.0, plan.encoding)
    s1_map = rng.uniform(0.5, 1.0, plan.encoding)
    first, last = plan.sessions[0], plan.sessions[-1]
    for session in plan.sessions:
        progress = (session - first) / max(last - first, 1)
        drift = plan.drift * progress
        success = rng.random(n) < plan.success_rate
        cue = CUE + plan.cue_jitter * (2 * rng.random(n) - 1)
        lift = cue + 0.15 + 0.2 * rng.random(n) if plan.lift else np.full(n, np.nan)
        if plan.lift_at is not None:
            lift = np.full(n, plan.lift_at)
        reach_start = np.where(np.isfinite(lift), lift, cue + 0.25)
        delay = plan.success_delay[0] + (plan.success_delay[1] - plan.success_delay[0]) * rng.random(n)
        outcome = np.where(success, reach_start + delay, cue + 1.5)
        failure_grab = np.nan if plan.grab_delay[1] is None else plan.grab_delay[1]
        grab = reach_start + np.where(success, plan.grab_delay[0], failure_grab)
        events = np.stack([cue, lift, grab, np.where(success, outcome, np.nan), outcome], 1)
        valid = (time[None, :] - plan.dt) < (outcome[:, None] + 0.4 - 1e-9)
        inside = valid[..., None]
        movement = ramp(mid, reach_start, outcome)
        mean_action = 0.2 + 0.5 * movement[:, :, None] * muscle_weights + 0.03 * rng.standard_normal(
            (n, steps, 15))
        action = mean_action + 0.1 * rng.standard_normal((n, steps, 15))
        thalamus = 0.1 * rng.standard_normal((n, steps, m))
        s1 = 0.1 * rng.standard_normal((n, steps, s1_units))
        if plan.encode_inputs:
            thalamus[:, :, :plan.encoding] += ramp(mid + plan.thalamic_lead, reach_start, outcome)[
                :, :, None] * thalamic_map
            s1[:, :, :plan.encoding] += ramp(mid - plan.s1_lag, reach_start, outcome)[:, :, None] * s1_map
        cue_on = ((mid[None, :] >= cue[:, None]) & (mid[None, :] < cue[:, None] + 0.1)).astype(float)
        thalamus[:, :, plan.encoding] += plan.thalamus_cue_response * cue_on
        thalamus[:, :, 0] = np.maximum(thalamus[:, :, 0], 0.0)
        if plan.silent_thalamus:
            thalamus[:] = 0.0
        loading = (1 - drift) * loadings[0] + drift * loadings[1]
        latent = rng.standard_normal((n, steps, 3)) @ loading.T
        cortex = 0.3 * rng.standard_normal((n, steps, units)) + _at(plan.latent, progress) * latent
        cortex += 0.1 * drift * offsets
        cortex[:, :, movers] += plan.movement_gain * movement[:, :, None]
        cue_window = (mid[None, :] >= cue[:, None]) & (mid[None, :] < cue[:, None] + 0.3)
        cortex[:, :, unit_groups["cue"]] += _at(plan.cue_gain, progress) * cue_window[:, :, None]
        # the outcome response starts at the outcome's (continuous) time: a straddling sample gets part
        after = np.clip((time[None, :] - outcome[:, None]) / plan.dt, 0.0, 1.0) * success[:, None]
        cortex[:, :, unit_groups["outcome"]] += _at(plan.outcome_gain, progress) * after[:, :, None]
        held = np.where(success[:, None] & np.isfinite(grab)[:, None],
                        np.clip((time[None, :] - grab[:, None]) / plan.dt, 0.0, 1.0), 0.0)
        cortex[:, :, unit_groups["carry"]] += plan.carry_gain * held[:, :, None]
        before = ((mid[None, :] >= cue[:, None]) & (time[None, :] <= outcome[:, None])) * np.where(
            success, 1.0, -1.0)[:, None]
        size = _at(plan.indicative_gain, progress) / 2
        cortex[:, :, unit_groups["indicative"]] += size * before[:, :, None]
        arrays = dict(cortex=np.where(inside, np.tanh(cortex), 0), thalamus=thalamus * inside,
                      action=action * inside, valid=valid, time=time, event_times=events, success=success,
                      outcome=np.where(success, 1, 3).astype(np.int8),
                      episode=(session - 1) * n + np.arange(n),
                      thalamus_gain=np.full(n, 0.0 if plan.silent_thalamus else 1.0))
        if plan.v2:
            arrays.update(mean_action=mean_action * inside, s1=s1 * inside,
                          cue_input=cue_on[:, :, None] * inside,
                          outcome_input=(after * inside[..., 0])[:, :, None],
                          neural_noise=0.01 * rng.standard_normal((n, steps, units)) * inside)
        write_session(root / "activity" / f"session_{session:02d}.npz", **arrays)
        if plan.checkpoints is None or session in plan.checkpoints:
            write_checkpoint(root / "checkpoints" / f"episode_{(session - 1) * n:06d}.pt", w_tc, w_rec)
        if plan.v2 and plan.probe:
            count = int(round(_at(plan.probe_excited, progress) * units))
            on_movement = min(int(round(_at(plan.probe_on_movement, progress) * count)), len(movers))
            others = np.setdiff1d(np.arange(units), movers)
            excited = np.r_[rng.choice(movers, size=on_movement, replace=False),
                            rng.choice(others, size=count - on_movement, replace=False)].astype(np.int64)
            write_probe(root / "probe" / f"session_{session:02d}.npz", rng, units, plan.probe_trials, excited,
                        plan.probe_noise, alternate=plan.probe_controls, thalamic=m)
    return root
