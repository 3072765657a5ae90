"""A calcium-imaging forward model: what a two-photon microscope would record of the model cortex.

The lab imaged layer 2/3 of M1 with a GCaMP indicator at 30 Hz (shared/SCIENCE.md); the model records
rates of every unit every sample (20 ms, or a multiple of it with downsampling). This module turns the
recorded rates into the lab's kind of data, so that the analyses (:func:`analysis.neural.analyse_run` with
``NeuralAnalysisConfig(imaging=CalciumConfig())``) and the NWB export (:mod:`analysis.nwb_export`) can run
on it. Four steps, each a field of :class:`CalciumConfig`:

1. **Spike rate.** The cortex's rates r lie in (-1, 1) (a tanh network; 0 is the rest state), and a
   fluorescence signal needs a non-negative firing rate. ``rate_map = "softplus"`` (default):
   ``lambda(r) = max_rate_hz * softplus(b r) / softplus(b)`` with ``b = softplus_sharpness``, so r = 1 fires
   ``max_rate_hz`` (20 Hz), r = 0 fires ``max_rate_hz ln 2 / softplus(b)`` (2.8 Hz with b = 5: a low tonic
   rate) and r = -1 almost nothing (0.03 Hz): decreases below rest stay visible but compressed (calcium
   imaging sees decreases of firing poorly). ``"rectified"``: ``lambda = max_rate_hz max(r, 0)``.
2. **Indicator.** Each spike adds the double-exponential transient (t >= 0 after it)

   ``k(t) = (A / kappa) (exp(-t / tau_d) - exp(-t / tau_r))``,

   ``tau_r = rise_s`` (0.1 s), ``tau_d = decay_s`` (1.5 s), ``A = spike_amplitude`` (0.2 dF/F) and
   ``kappa`` the bracket's maximum, so that the transient peaks at A, at
   ``t* = tau_d tau_r / (tau_d - tau_r) ln(tau_d / tau_r)`` (0.29 s), and falls to A / e at
   ``tau_d (1 - ln(1 - tau_r / tau_d))`` (1.60 s) after its peak. GCaMP6s figures (Chen et al. 2013,
   "Ultrasensitive fluorescent proteins for imaging neuronal activity", Nature 499:295-300): single
   action potentials in L2/3 pyramidal cells of mouse V1 give transients of the order of 0.2 dF/F that
   rise over about 0.1-0.15 s (spikes that far apart are resolved) and decay over 1-2 s; 1.5 s is the
   usual decay constant of GCaMP6s in deconvolution (Suite2p, OASIS). The fluorescence is the expected
   one given the rate, ``dF/F(t) = integral k(t - s) lambda(s) ds``: linear (no indicator saturation, no
   Poisson spike-count noise), relative to the fluorescence of a silent cell (a cell at rest thus sits at
   ``A lambda(0) (tau_d - tau_r) / kappa``, 1.0 dF/F with the defaults). The recorded rate is held
   constant over each sample, and before the trial's first sample at that sample's value (the cell has
   been imaged at rest through the inter-trial interval: no start-up transient).
3. **Frames.** Frame k integrates the fluorescence over its whole period, ``[t0 + k / f, t0 + (k + 1) / f)``
   (f = ``frame_rate_hz``, 30 Hz; t0 = the start of the recording's first sample), as a resonant
   scanner's frame does: its value is the mean of dF/F(t) over that period, computed exactly (both
   exponentials integrated in closed form over the pieces on which the rate is constant), not sampled.
   Only frames that lie wholly within the recording exist. A frame is valid if every recorded sample it
   overlaps is valid; the other per-sample arrays (muscle excitations, input populations) are resampled
   by the same rule, the mean over the frame's period (each sample weighted by its overlap).
4. **Field of view and noise.** A seeded random subset of ``field_of_view`` of the units (at least one)
   is imaged, the same in every session (the lab followed the same neurons); ``noise_sd`` > 0 adds
   independent Gaussian noise of that SD (dF/F) to every frame of every unit (seeded per session), the
   shot noise of photon counting.

Which analyses cannot run on imaging data (:data:`NOT_IMAGED`): they report NaN, and
:class:`analysis.neural.RunNeural` names them with the reason. Thresholds in rate units
(``min_response``, 0.05) then apply to dF/F.
"""

from __future__ import annotations

import math
from typing import Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from analysis.sessions import RandomKey, Session, rng

#: Metrics of :data:`analysis.neural.METRICS` that imaging data cannot give, with the reason (NaN then).
NOT_IMAGED: dict[str, str] = {
    "saturated_fraction": "counts |rate| near the tanh rate's bound 1; dF/F has no such bound",
    **dict.fromkeys(("th_movement_overlap", "th_movement_r2", "rec_movement_r2", "th_input_lead_s"),
                    "the input currents need every unit's rate and the checkpoint's weights, which "
                    "imaging does not see"),
    **dict.fromkeys(("th_excited_fraction", "th_movement_given_excited", "th_excited_given_nonmovement"),
                    "the probe is not imaged: its trials (0.4 s) are shorter than the indicator's decay "
                    "and its response windows (0.06 s) shorter than two frames"),
}


class CalciumConfig(BaseModel):
    """The calcium-imaging forward model (module docstring; defaults: GCaMP6s at 30 Hz).

    A pydantic model like the run's config sections (frozen, unknown fields refused, strict types);
    each field's meaning is its docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    rate_map: Literal["softplus", "rectified"] = "softplus"
    """how a cortical rate r in (-1, 1) becomes a firing rate: ``softplus`` (max_rate_hz softplus(b r) /
    softplus(b)) or ``rectified`` (max_rate_hz max(r, 0))."""
    max_rate_hz: float = 20.0
    """firing rate (Hz) of a unit at rate 1."""
    softplus_sharpness: float = 5.0
    """b of the softplus map: larger, closer to rectified (rest rate max_rate_hz ln 2 / softplus(b))."""
    spike_amplitude: float = 0.2
    """peak dF/F of one action potential's transient (GCaMP6s: of the order of 0.2, Chen et al. 2013)."""
    rise_s: float = 0.1
    """rise time constant (s) of the transient."""
    decay_s: float = 1.5
    """decay time constant (s) of the transient (must exceed rise_s)."""
    frame_rate_hz: float = 30.0
    """imaging frames per second; each frame averages the fluorescence over its whole period."""
    field_of_view: float = 0.5
    """fraction of the cortical units imaged, in (0, 1] (a seeded subset, at least one unit)."""
    noise_sd: float = 0.0
    """SD (dF/F) of the Gaussian shot noise added to every frame of every unit (0: none)."""
    seed: int = 0
    """seeds the field of view and the noise (the same seed images the same units)."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        for name in ("max_rate_hz", "softplus_sharpness", "spike_amplitude", "rise_s", "decay_s",
                     "frame_rate_hz"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"CalciumConfig.{name}={value!r} must be a positive number")
        if not self.decay_s > self.rise_s:
            raise ValueError(f"CalciumConfig.decay_s={self.decay_s!r} must exceed rise_s={self.rise_s!r}")
        if not 0 < self.field_of_view <= 1:
            raise ValueError(f"CalciumConfig.field_of_view={self.field_of_view!r} must be in (0, 1]")
        if not (math.isfinite(self.noise_sd) and self.noise_sd >= 0):
            raise ValueError(f"CalciumConfig.noise_sd={self.noise_sd!r} must be a number >= 0")
        if self.seed < 0:
            raise ValueError(f"CalciumConfig.seed={self.seed!r} must be >= 0")
        return self


def spike_rate(rates: np.ndarray, config: CalciumConfig) -> np.ndarray:
    """The firing rate (Hz) of cortical rates ``rates`` (any shape) under ``config.rate_map``."""
    r = np.asarray(rates, dtype=np.float64)
    if config.rate_map == "rectified":
        return config.max_rate_hz * np.maximum(r, 0.0)
    b = config.softplus_sharpness
    return config.max_rate_hz * np.logaddexp(0.0, b * r) / np.logaddexp(0.0, b)


def peak_time(config: CalciumConfig) -> float:
    """Time (s) from a spike to its transient's peak, ``tau_d tau_r / (tau_d - tau_r) ln(tau_d / tau_r)``."""
    tau_r, tau_d = config.rise_s, config.decay_s
    return tau_d * tau_r / (tau_d - tau_r) * math.log(tau_d / tau_r)


def _scale(config: CalciumConfig) -> float:
    """A / kappa: the factor that makes the transient peak at ``spike_amplitude``."""
    t = peak_time(config)
    return config.spike_amplitude / (math.exp(-t / config.decay_s) - math.exp(-t / config.rise_s))


def kernel(t: np.ndarray, config: CalciumConfig) -> np.ndarray:
    """dF/F of one spike's transient ``t`` s after it (0 before it)."""
    t = np.asarray(t, dtype=np.float64)
    shape = np.exp(-np.maximum(t, 0.0) / config.decay_s) - np.exp(-np.maximum(t, 0.0) / config.rise_s)
    return np.where(t >= 0, _scale(config) * shape, 0.0)


def frame_edges(time: np.ndarray, config: CalciumConfig) -> np.ndarray:
    """(F + 1,) frame boundaries (s from trial start) of the frames that fit within a recording whose
    samples end at ``time`` (T,) (frame k covers [edges[k], edges[k + 1]))."""
    time = np.asarray(time, dtype=np.float64)
    start = time[0] - _sample_length(time)
    period = 1.0 / config.frame_rate_hz
    count = int(math.floor((time[-1] - start) / period + 1e-9))
    if count < 1:
        raise ValueError(f"a recording of {time[-1] - start:.3f} s holds no frame of {period:.4f} s")
    return start + period * np.arange(count + 1)


def _sample_length(time: np.ndarray) -> float:
    return float(time[1] - time[0]) if time.size > 1 else float(time[0])


def _overlap(time: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(F, T): the share of each frame's period that each recorded sample covers."""
    ends = np.asarray(time, dtype=np.float64)
    starts = np.concatenate([[ends[0] - _sample_length(ends)], ends[:-1]])
    overlap = (np.minimum(edges[1:, None], ends[None, :]) - np.maximum(edges[:-1, None], starts[None, :]))
    return np.maximum(overlap, 0.0) / (edges[1:] - edges[:-1])[:, None]


def resample(data: np.ndarray, time: np.ndarray, config: CalciumConfig) -> np.ndarray:
    """``data`` (n, T, ...) on the frame grid (n, F, ...): each frame's mean over its period."""
    weights = _overlap(time, frame_edges(time, config))
    return np.moveaxis(np.tensordot(weights, np.asarray(data, dtype=np.float64), axes=([1], [1])), 0, 1)


def frame_valid(valid: np.ndarray, time: np.ndarray, config: CalciumConfig) -> np.ndarray:
    """(n, F) bool: every recorded sample that the frame overlaps is valid (``valid`` (n, T))."""
    touched = _overlap(time, frame_edges(time, config)) > 1e-9
    return ~(touched[None, :, :] & ~np.asarray(valid, dtype=bool)[:, None, :]).any(2)


def frame_fluorescence(rate_hz: np.ndarray, time: np.ndarray, config: CalciumConfig) -> np.ndarray:
    """Noise-free dF/F (n, F, N), each frame's mean over its period, of firing rates ``rate_hz`` (n, T, N)
    held constant over samples that end at ``time`` (T,) (module docstring, steps 2-3).

    Each exponential of the kernel is a leaky integrator ``u' = -u / tau + lambda``; over a piece of
    length h with constant lambda, ``u`` goes to ``u a + lambda tau (1 - a)`` (a = exp(-h / tau)) and
    integrates to ``tau (u - lambda tau)(1 - a) + lambda tau h``: the frame means are exact, at the cost
    of one step per sample and frame boundary.
    """
    rate_hz = np.asarray(rate_hz, dtype=np.float64)
    time = np.asarray(time, dtype=np.float64)
    edges = frame_edges(time, config)
    starts = np.concatenate([[time[0] - _sample_length(time)], time])
    points = np.union1d(starts[starts < edges[-1]], edges)
    taus = (config.decay_s, config.rise_s)
    state = [rate_hz[:, 0] * tau for tau in taus]  # at rest since long before the trial (steady state)
    out = np.zeros((rate_hz.shape[0], len(edges) - 1, rate_hz.shape[2]))
    for left, right in zip(points[:-1], points[1:], strict=True):
        middle, h = (left + right) / 2, right - left
        sample = min(int(np.searchsorted(time, middle, side="right")), len(time) - 1)
        frame = int(np.searchsorted(edges, middle, side="right")) - 1
        rate = rate_hz[:, sample]
        for i, (tau, sign) in enumerate(zip(taus, (1.0, -1.0), strict=True)):
            a = math.exp(-h / tau)
            out[:, frame] += sign * (tau * (state[i] - rate * tau) * (1 - a) + rate * tau * h)
            state[i] = state[i] * a + rate * tau * (1 - a)
    return out * _scale(config) * config.frame_rate_hz


def units_in_view(units: int, config: CalciumConfig) -> np.ndarray:
    """The sorted indices of the imaged units among ``units`` (a seeded subset, the same every call)."""
    size = max(1, int(round(config.field_of_view * units)))
    return np.sort(rng(config.seed, RandomKey.IMAGING_VIEW).choice(units, size=size, replace=False))


def image(cortex: np.ndarray, time: np.ndarray, config: CalciumConfig, session: int) -> np.ndarray:
    """dF/F frames (n, F, U) of the units in view (:func:`units_in_view`) of cortical rates ``cortex``
    (n, T, N) recorded at sample ends ``time``, with the noise of session ``session`` (module docstring)."""
    view = units_in_view(cortex.shape[2], config)
    dff = frame_fluorescence(spike_rate(cortex[:, :, view], config), time, config)
    if config.noise_sd > 0:
        dff += config.noise_sd * rng(config.seed, RandomKey.IMAGING_NOISE, session).standard_normal(dff.shape)
    return dff


def image_session(s: Session, config: CalciumConfig) -> Session:
    """The session as the microscope records it: ``cortex`` = dF/F of the units in view at the frames,
    ``mid``/``dt`` those of the frames, ``valid``, ``action``, ``mean_action`` and ``inputs`` resampled to
    the frames (module docstring); events, outcomes and episodes unchanged."""
    time = s.mid + s.dt / 2
    edges = frame_edges(time, config)

    def frames(data: np.ndarray) -> np.ndarray:
        return resample(data, time, config).astype(np.float32)

    return Session(
        number=s.number, cortex=image(s.cortex, time, config, s.number).astype(np.float32),
        action=frames(s.action), mean_action=None if s.mean_action is None else frames(s.mean_action),
        inputs={name: frames(rates) for name, rates in s.inputs.items()},
        valid=frame_valid(s.valid, time, config), mid=(edges[:-1] + edges[1:]) / 2,
        dt=1.0 / config.frame_rate_hz, events=dict(s.events), success=s.success, episode=s.episode)
