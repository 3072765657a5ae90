"""The half-peak lead of a signal before the lift (analysis/lead.py), on hand-made sessions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.lead import half_peak_lead
from analysis.sessions import Session

DT, STEPS, CUE, WINDOW = 0.04, 75, 0.6, 0.6


def session(lift: np.ndarray, cue: float = CUE) -> Session:
    """A session of len(lift) trials of 3 s (40 ms samples), all samples valid; only the events matter."""
    n = len(lift)
    time = np.arange(1, STEPS + 1) * DT
    return Session(number=1, cortex=np.zeros((n, STEPS, 1), np.float32),
                   action=np.zeros((n, STEPS, 15), np.float32), mean_action=None, inputs={},
                   valid=np.ones((n, STEPS), bool), mid=time - DT / 2, dt=DT,
                   events={"cue": np.full(n, cue), "lift": np.asarray(lift, dtype=np.float64)},
                   success=np.ones(n, bool), episode=np.arange(n))


def rise(s: Session, lead: float, width: float = 0.2) -> np.ndarray:
    """(n, T): 0, then a linear rise to 1 over ``width`` s that is half-way ``lead`` s before each lift."""
    half = s.events["lift"][:, None] - lead
    return np.clip((s.mid[None, :] - half) / width + 0.5, 0.0, 1.0)


@pytest.fixture
def reaches() -> Session:
    # lifts 0.4-0.8 s after the cue, each at a sample's end: every planted rise below starts after the cue
    return session(CUE + DT * np.random.default_rng(0).integers(10, 21, 30))


def test_a_planted_lead_is_measured(reaches):
    # The lift is aligned to the sample that contains it, whose midpoint lies dt/2 before a lift at its end.
    for planted in (0.1, 0.3):
        measured = half_peak_lead(rise(reaches, planted), reaches, WINDOW)
        assert measured == pytest.approx(planted - DT / 2, abs=1e-9)
    early, late = (half_peak_lead(rise(reaches, lead), reaches, WINDOW) for lead in (0.3, 0.1))
    assert early - late == pytest.approx(0.2, abs=1e-9)
    falling = half_peak_lead(-rise(reaches, 0.1), reaches, WINDOW)  # the sign of the change does not matter
    assert falling == pytest.approx(late, abs=1e-12)


def test_each_trials_pre_cue_level_is_subtracted(reaches):
    offsets = np.random.default_rng(1).normal(0.0, 5.0, (reaches.n, 1))
    assert half_peak_lead(rise(reaches, 0.2) + offsets, reaches, WINDOW) == pytest.approx(
        half_peak_lead(rise(reaches, 0.2), reaches, WINDOW), abs=1e-9)


def test_an_earlier_transient_that_falls_back_does_not_count(reaches):
    # A bump above half the peak before the rise (after the cue), separated from it by samples below half.
    signal = rise(reaches, 0.1)
    bump = np.abs(reaches.mid[None, :] - (reaches.events["lift"][:, None] - 0.35)) < 0.05
    assert half_peak_lead(signal + 0.8 * bump, reaches, WINDOW) == pytest.approx(
        half_peak_lead(signal, reaches, WINDOW), abs=1e-9)


def test_a_flat_signal_or_no_cued_reach_gives_nan(reaches):
    levels = np.random.default_rng(2).normal(0.0, 1.0, (reaches.n, 1))
    assert math.isnan(half_peak_lead(np.broadcast_to(levels, (reaches.n, STEPS)).copy(), reaches, WINDOW))
    before_cue = session(np.full(10, CUE - 0.1))
    assert math.isnan(half_peak_lead(rise(before_cue, 0.1), before_cue, WINDOW))
    no_lift = session(np.full(10, np.nan))
    assert math.isnan(half_peak_lead(np.ones((10, STEPS)), no_lift, WINDOW))
