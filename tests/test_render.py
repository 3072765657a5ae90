"""Rendering: offscreen RGB frames (MUJOCO_GL=egl, set in conftest.py), no-render mode, and a clear
error for the human viewer without a display."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from reach_env.scripted import ScriptedReachController


def distinct_colours(frame: np.ndarray) -> int:
    return len(np.unique(frame.reshape(-1, 3), axis=0))


@pytest.mark.parametrize("camera", ["side", "front"])
@pytest.mark.parametrize("size", [(480, 360), (320, 240)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_rgb_array_frame_is_a_real_image(make_env, camera, size):
    width, height = size
    env = make_env(render_mode="rgb_array", camera=camera, width=width, height=height)
    env.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, np.ndarray)
    assert frame.shape == (height, width, 3)
    assert frame.dtype == np.uint8
    assert frame.std() > 20  # not blank or uniform
    assert distinct_colours(frame) > 500  # shaded geometry, not a flat clear colour


@pytest.mark.parametrize("camera", ["side", "front"])
def test_frame_changes_during_a_reach(make_env, camera):
    env = make_env(render_mode="rgb_array", camera=camera)
    obs, _ = env.reset(seed=0)
    controller = ScriptedReachController(env)
    before = env.render().copy()
    for _ in range(30):  # 0.6 s: the turntable brings the pellet round to the slot
        obs, *_ = env.step(controller(obs))
    changed = np.any(before != env.render(), axis=-1).mean()
    assert changed > 0.01, f"only {changed:.2%} of pixels changed"  # ~3.5% on both cameras


def test_render_after_close_reopens(make_env):
    env = make_env(render_mode="rgb_array", width=64, height=48)
    env.reset(seed=0)
    first = env.render().copy()
    env.close()
    assert np.array_equal(env.render(), first)


def test_large_frames_render(make_env):
    env = make_env(render_mode="rgb_array", width=1280, height=720)
    env.reset(seed=0)
    assert env.render().shape == (720, 1280, 3)


def test_no_render_mode_returns_none(make_env):
    env = make_env()
    env.reset(seed=0)
    assert env.render() is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is Linux-only")
def test_human_mode_without_display_raises(make_env, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    env = make_env(render_mode="human")
    with pytest.raises(RuntimeError, match="(?i)display"):
        env.reset(seed=0)  # reset renders the first frame in human mode
    with pytest.raises(RuntimeError, match="(?i)display"):
        env.render()
