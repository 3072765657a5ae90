"""Silencing schedules: validation errors that name the offending range, the lab's session notation,
and the gain of every episode."""

from __future__ import annotations

import re

import pytest

from agents.dopamine import GainRange, SilencingSchedule


@pytest.mark.parametrize(("ranges", "message"), [
    ([(0, 9, 0.0), (5, 12, 0.0)], "ranges 0-9:0 and 5-12:0 overlap"),
    ([(20, 29, 0.5), (0, 9, 0.0), (29, 40, 0.0)], "ranges 20-29:0.5 and 29-40:0 overlap"),
    ([(0, 9, 1.5)], "range 0-9:1.5: gain must be in [0, 1]"),
    ([(0, 9, -0.1)], "range 0-9:-0.1: gain must be in [0, 1]"),
    ([(0, 9, float("nan"))], "range 0-9:nan: gain must be in [0, 1]"),
    ([(-1, 9, 0.0)], "range -1-9:0: episodes must be >= 0"),
    ([(3, -2, 0.0)], "range 3--2:0: episodes must be >= 0"),
    ([(9, 3, 0.0)], "range 9-3:0: last episode comes before the first"),
])
def test_invalid_ranges_are_named(ranges, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SilencingSchedule(ranges)


def test_adjacent_ranges_and_single_episodes_are_valid():
    schedule = SilencingSchedule([GainRange(10, 19, 0.5), (0, 9), (20, 20, 1.0)])
    assert [(r.first, r.last, r.gain) for r in schedule.ranges] == [(0, 9, 0.0), (10, 19, 0.5),
                                                                     (20, 20, 1.0)]
    assert schedule.to_list() == [[0, 9, 0.0], [10, 19, 0.5], [20, 20, 1.0]]
    assert schedule == SilencingSchedule(schedule.ranges)
    assert schedule != SilencingSchedule([(0, 9)])


def test_gain_is_one_outside_the_ranges():
    schedule = SilencingSchedule([(5, 7, 0.25)])
    assert schedule.gains([-1, 0, 4, 5, 6, 7, 8, 10**6]) == [1.0, 1.0, 1.0, 0.25, 0.25, 0.25, 1.0, 1.0]
    assert SilencingSchedule().gains(range(3)) == [1.0, 1.0, 1.0]
    assert repr(SilencingSchedule()) == "SilencingSchedule(intact)"


def test_parse_sessions_blocks_whole_sessions_one_based_inclusive():
    schedule = SilencingSchedule.parse("2-4", 10)
    assert schedule.to_list() == [[10, 39, 0.0]]
    gains = schedule.gains(range(60))
    assert gains[:10] == [1.0] * 10  # session 1
    assert gains[10:40] == [0.0] * 30  # sessions 2, 3, 4
    assert gains[40:] == [1.0] * 20


def test_parse_sessions_partial_gain_and_several_ranges():
    schedule = SilencingSchedule.parse(" 2-4:0.3 , 9-9 ", 10)
    assert schedule.to_list() == [[10, 39, 0.3], [80, 89, 0.0]]
    for episode in range(120):
        expected = 0.3 if 10 <= episode <= 39 else 0.0 if 80 <= episode <= 89 else 1.0
        assert schedule.gain(episode) == expected, episode
    assert SilencingSchedule.parse("3", 5).to_list() == [[10, 14, 0.0]]  # one session
    assert SilencingSchedule.parse("", 5) == SilencingSchedule()


@pytest.mark.parametrize(("spec", "message"), [
    ("2-", "session range '2-' is not of the form"),
    ("a-b", "session range 'a-b' is not of the form"),
    ("2-4:x", "session range '2-4:x' is not of the form"),
    ("2-4,1-x", "session range '1-x' is not of the form"),
    ("0-3", "session range '0-3': sessions are numbered from 1"),
    ("4-2", "session range '4-2': last session comes before the first"),
])
def test_malformed_session_specs_name_the_part(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SilencingSchedule.parse(spec, 10)


def test_parse_sessions_rejects_overlaps_and_bad_trials_per_session():
    with pytest.raises(ValueError, match="overlap"):
        SilencingSchedule.parse("2-4,4-5", 10)
    with pytest.raises(ValueError, match="trials_per_session=0"):
        SilencingSchedule.parse("2-4", 0)


def test_session_spec_with_bad_gain_names_the_part():
    with pytest.raises(ValueError) as error:
        SilencingSchedule.parse("2-4:1.5", 10)
    assert "2-4:1.5" in str(error.value)


# --- episode ranges -----------------------------------------------------------------------------------


def test_episode_ranges_are_zero_based_inclusive_and_mix_with_session_ranges():
    schedule = SilencingSchedule.parse("2-2, e100-179:0.5 ,e5", 10)
    assert schedule.to_list() == [[5, 5, 0.0], [10, 19, 0.0], [100, 179, 0.5]]
    gains = schedule.gains(range(200))
    assert gains[4:7] == [1.0, 0.0, 1.0]
    assert gains[99:101] == [1.0, 0.5] and gains[179:181] == [0.5, 1.0]
    assert SilencingSchedule.parse("E3-4", 10) == SilencingSchedule([(3, 4, 0.0)])  # either case


@pytest.mark.parametrize(("spec", "message"), [
    ("e5-", "episode range 'e5-' is not of the form eA-B or eA-B:gain"),
    ("e", "episode range 'e' is not of the form"),
    ("e-1-3", "episode range 'e-1-3' is not of the form"),
    ("e9-3", "episode range 'e9-3': last episode comes before the first"),
    ("e0-3:-0.5", "episode range 'e0-3:-0.5': gain must be in [0, 1]"),
    ("e0-9,e9-12", "ranges 'e0-9' and 'e9-12' overlap"),
    ("e15-25:0.3,2-2", "ranges '2-2' and 'e15-25:0.3' overlap"),
    ("e0-40", "episode range 'e0-40' reaches past the protocol's last episode (39, session 4)"),
    ("5-5", "session range '5-5' reaches past the protocol's last episode (39, session 4)"),
])
def test_bad_episode_ranges_are_refused_naming_the_range(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SilencingSchedule.parse(spec, 10, total_trials=40)
