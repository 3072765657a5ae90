"""Videos: the one mp4 writer (:func:`reach_env.video.write_mp4`) and TensorBoard animations
(:func:`training.video.add_animation`), read back from the event file."""

from __future__ import annotations

import io
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from reach_env.video import write_mp4
from training.video import add_animation, animated_gif


def moving_square(n: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """``n`` distinct frames (a square sliding right), so that no encoder merges two of them."""
    frames = []
    for i in range(n):
        frame = np.full((height, width, 3), 30, np.uint8)
        frame[10:26, 2 + 3 * i:18 + 3 * i] = (250, 120, 40)
        frames.append(frame)
    return frames


def gif_frames(encoded: bytes) -> tuple[int, tuple[int, int]]:
    """(frame count, (width, height)) of an encoded GIF."""
    with Image.open(io.BytesIO(encoded)) as gif:
        assert gif.format == "GIF"
        return gif.n_frames, gif.size


def images(log_dir: Path, tag: str):
    acc = EventAccumulator(str(log_dir), size_guidance={"images": 0})
    acc.Reload()
    return acc.Images(tag)


# --- mp4 -----------------------------------------------------------------------------------------


def test_write_mp4_writes_every_frame_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "deeper" / "trial.mp4"  # a missing folder is created
    assert write_mp4(str(path), moving_square(12), fps=50) == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["trial.mp4"]
    with imageio.get_reader(path) as video:
        assert video.get_meta_data()["fps"] == pytest.approx(50)
        assert video.count_frames() == 12 and video.get_data(0).shape == (48, 64, 3)


def test_a_failed_write_keeps_the_old_video_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "trial.mp4"
    write_mp4(path, moving_square(4), fps=10)
    before = path.read_bytes()

    def half_written(target, frames, **kwargs):
        Path(target).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(imageio, "mimsave", half_written)
    with pytest.raises(OSError, match="disk full"):
        write_mp4(path, moving_square(4), fps=10)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["trial.mp4"]


@pytest.mark.parametrize("frames, fps, message", [
    ([], 10, "no frames"),
    ([np.zeros((8, 8, 3), np.float32)], 10, "uint8"),
    ([np.zeros((8, 8), np.uint8)], 10, "uint8"),
    (moving_square(2), 0, "fps"),
])
def test_write_mp4_rejects_what_it_cannot_encode(tmp_path, frames, fps, message):
    with pytest.raises(ValueError, match=message):
        write_mp4(tmp_path / "bad.mp4", frames, fps)
    assert not list(tmp_path.iterdir())


def test_the_env_evaluation_films_its_first_trial(tmp_path):
    from reach_env.evaluate import evaluate

    path = tmp_path / "first_trial.mp4"
    # Small frames and a short trial: rendering is the slow part.
    result = evaluate("rest", 2, video=str(path), progress=False, width=64, height=48, platform_turn=0.04,
                      cue_time=0.04, tone_duration=0.04, response_window=0.06, post_outcome=0.02)
    assert len(result.returns) == 2
    with imageio.get_reader(path) as video:
        assert video.count_frames() > 1 and video.get_data(0).shape == (48, 64, 3)


# --- TensorBoard ---------------------------------------------------------------------------------


def test_animated_gif_plays_every_frame_at_the_given_size():
    encoded = animated_gif(moving_square(6), fps=25, downscale=2)
    count, size = gif_frames(encoded)
    assert (count, size) == (6, (32, 24))
    with Image.open(io.BytesIO(encoded)) as gif:
        assert gif.info["duration"] == 40 and gif.info["loop"] == 0


def test_two_animations_under_one_tag_are_two_samples_at_their_own_steps(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    add_animation(writer, "videos/session_01", moving_square(5), step=4, fps=10)
    add_animation(writer, "videos/session_01", moving_square(7), step=7, fps=10)
    writer.close()

    events = images(tmp_path, "videos/session_01")
    assert [e.step for e in events] == [4, 7]
    decoded = [gif_frames(e.encoded_image_string) for e in events]
    assert decoded == [(5, (32, 24)), (7, (32, 24))]
    assert all((e.width, e.height) == (32, 24) for e in events)


def test_an_animation_after_close_is_refused(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        add_animation(writer, "videos/session_01", moving_square(3), step=0, fps=10)


def test_the_tone_marker_is_not_the_colour_of_the_mouth_or_the_pellet():
    import xml.etree.ElementTree as ET

    from training.video import TONE_COLOUR, annotate

    root = ET.parse(Path(__file__).resolve().parents[1] / "assets" / "mouse_reach_v0.xml").getroot()
    coloured = {e.get("name"): e.get("rgba") for e in root.iter()
                if e.get("name") in ("mouth", "pellet") and e.get("rgba")}
    assert set(coloured) == {"mouth", "pellet"}
    for name, rgba in coloured.items():
        scene = np.array([float(v) * 255 for v in rgba.split()[:3]])
        assert np.abs(scene - np.array(TONE_COLOUR)).max() > 100, name
    frame = np.full((240, 320, 3), 40, np.uint8)
    marked = (annotate(frame, 0.7, 1, True, 0, "session 1  episode 0") == TONE_COLOUR).all(-1).sum()
    unmarked = (annotate(frame, 0.7, 1, False, 0, "session 1  episode 0") == TONE_COLOUR).all(-1).sum()
    assert marked > 100 and unmarked == 0


def test_the_caption_scales_with_the_frame():
    from training.video import annotate

    def caption_rows(height: int) -> int:
        frame = np.full((height, height * 4 // 3, 3), 255, np.uint8)
        edge = annotate(frame, 0.1, 0, False, 0, "session 1  episode 0")[:, 0]  # left of the text
        return int(np.argmin((edge < 30).all(-1)))  # the caption band is black from the top

    assert caption_rows(480) >= 1.8 * caption_rows(240) > 40
