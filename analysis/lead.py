"""How long before the lift a signal rises: the half-peak crossing of its lift-aligned trial average."""

from __future__ import annotations

import math
import warnings

import numpy as np

from analysis.sessions import Session, cued_reach, window_mean


def half_peak_lead(signal: np.ndarray, s: Session, window_s: float) -> float:
    """Lead (s) before the lift at which ``signal`` (n, T), relative to its trial's pre-cue mean, rises to
    half its peak.

    Over the trials that count as a reach (:func:`analysis.sessions.cued_reach`: a lift strictly after the
    cue) with pre-cue samples, the baseline-subtracted signal is aligned to the sample in which the lift
    happened (the first whose end is at or after it) within +-``window_s`` and averaged over trials (valid
    samples only). The peak is the largest-magnitude value of that trace, the trace is signed so that the
    peak is positive, and the onset is the first sample of the run of samples at or above half the peak
    that ends at the peak; the crossing is interpolated linearly between it and the sample before. The
    lead is minus that lag: positive = before the lift. NaN without such trials or with a flat trace.
    """
    cue, lift = s.events["cue"], s.events["lift"]
    baseline = window_mean(signal[:, :, None], s.mask(0.0, cue))[0][:, 0]
    usable = cued_reach(lift, cue) & np.isfinite(baseline)
    if not usable.any():
        return math.nan
    half_width = max(1, int(round(window_s / s.dt)))
    lags = np.arange(-half_width, half_width + 1)
    ends = s.mid + s.dt / 2
    lift_sample = np.searchsorted(ends, lift[usable] - 1e-9)
    index = lift_sample[:, None] + lags[None, :]
    inside = (index >= 0) & (index < s.valid.shape[1])
    index = np.clip(index, 0, s.valid.shape[1] - 1)
    rows = np.flatnonzero(usable)[:, None]
    aligned = np.where(inside & s.valid[rows, index], signal[rows, index] - baseline[usable][:, None], np.nan)
    present = np.isfinite(aligned).sum(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        trace = np.where(present > 0, np.nansum(aligned, 0) / np.maximum(present, 1), np.nan)
    if not np.isfinite(trace).any():
        return math.nan
    peak = int(np.nanargmax(np.abs(trace)))
    signed = trace * np.sign(trace[peak])
    if not signed[peak] > 1e-12:
        return math.nan
    half = signed[peak] / 2
    onset = peak
    while onset > 0 and np.isfinite(signed[onset - 1]) and signed[onset - 1] >= half:
        onset -= 1
    crossing = float(lags[onset])
    if onset > 0 and np.isfinite(signed[onset - 1]):  # interpolate between the last sample below and it
        below, above = signed[onset - 1], signed[onset]
        crossing -= (above - half) / (above - below)
    return -crossing * s.dt
