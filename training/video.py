"""Rollout videos, the one module training code writes them with: frames annotated with the trial's cue,
phase and outcome (:func:`annotate`), mp4 files (:func:`write_mp4`, written in the background by
:class:`VideoWriter`) and animations in TensorBoard's images tab (:func:`add_animation`).

:func:`write_mp4` is defined in :mod:`reach_env.video` (the env's own command line writes videos too, and
reach_env imports nothing from training) and re-exported here.

Why TensorBoard animations are GIF image summaries written here, not ``SummaryWriter.add_video``:
``add_video`` encodes its GIF with ``moviepy.editor``, which moviepy 2 removed; with moviepy 2, or
without moviepy, it prints a line and logs an empty image. Using it would mean pinning ``moviepy<2``, a
frozen 2020 release line (1.0.3) with its own pins (``decorator<5``, ``imageio<3``), for what Pillow,
already a dependency, does in a few lines. So :func:`add_animation` encodes the GIF with Pillow and hands
TensorBoard's ``Summary`` proto to the writer's file writer: ``SummaryWriter.file_writer`` (a public
attribute, which torch's own ``add_hparams`` uses on another writer) and ``add_summary`` of its class,
``torch.utils.tensorboard.writer.FileWriter`` (exported in that module's ``__all__``). The animation
lands in the same event file as the scalars, in order with them, so that ``purge_step`` on resume treats
it like every other event. A second event file in the folder (a FileWriter of our own) would not do:
TensorBoard's live view polls only the newest file of a run for new data.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from reach_env import Outcome, TrialPhase
from reach_env.video import write_mp4

__all__ = ["VideoWriter", "add_animation", "animated_gif", "annotate", "write_mp4"]


#: Colour of the tone marker: the scene's mouth site is red and the pellet orange
#: (``assets/mouse_reach_v0.xml``), so the tone is neither.
TONE_COLOUR = (235, 90, 235)
#: The legend line under the caption: what the two markers are.
LEGEND = "red dot in the scene: mouth   magenta dot: tone on"


def _font(size: int) -> ImageFont.ImageFont:
    """Pillow's bundled scalable font at ``size`` pixels (legible at any frame size)."""
    return ImageFont.load_default(size=size)


def annotate(frame: np.ndarray, time: float, phase: int, cue_on: bool, outcome: int,
             title: str) -> np.ndarray:
    """The frame with a caption band: the trial's title, time (s), phase and outcome, a tone marker
    (magenta while the tone is on) and a legend line saying what the markers are.

    The text is sized to the frame (a twelfth of its height for the title), so that it stays legible in
    TensorBoard's half-size previews.
    """
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    size = max(image.height // 12, 10)
    small = max(round(size * 0.7), 8)
    band = size * 2 + small + 10
    draw.rectangle((0, 0, image.width, band), fill=(0, 0, 0))
    draw.text((6, 2), title, fill=(235, 235, 235), font=_font(size))
    status = f"t={time:4.2f}s  {TrialPhase(phase).name.lower().replace('_', ' ')}"
    if outcome:
        status += f"  -> {Outcome(outcome).name.lower()}"
    draw.text((6, 4 + size), status, fill=(255, 215, 120) if outcome else (200, 200, 200), font=_font(size))
    draw.text((6, 6 + 2 * size), LEGEND, fill=(160, 160, 160), font=_font(small))
    if cue_on:
        radius = size // 2 + 2
        centre = (image.width - radius - 8, 4 + size // 2 + 2)
        draw.ellipse((centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius),
                     fill=TONE_COLOUR)
        label = _font(size)
        draw.text((centre[0] - radius - 6 - draw.textlength("tone", font=label), centre[1] - size // 2 - 1),
                  "tone", fill=TONE_COLOUR, font=label)
    return np.asarray(image)


class VideoWriter:
    """Writes videos on a background thread so that encoding never holds up training.

    Args:
        fps: frames per second (the env's control rate, so videos play in real time).
    """

    def __init__(self, fps: float):
        self.fps = fps
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="video")
        self._pending: list[Future] = []

    def write(self, path: Path, frames: list[np.ndarray]) -> None:
        """Queue ``frames`` for writing to ``path`` (mp4, with :func:`write_mp4`)."""
        self._pending.append(self._pool.submit(write_mp4, path, frames, self.fps))

    def close(self) -> None:
        """Wait for every queued video and re-raise the first encoding error."""
        for future in self._pending:
            future.result()
        self._pending.clear()
        self._pool.shutdown()


def animated_gif(frames: Sequence[np.ndarray], fps: float, downscale: int = 1) -> bytes:
    """``frames`` (uint8 height x width x 3) as an endlessly looping animated GIF playing at ``fps``.

    Args:
        frames: the animation's frames, all the same size.
        fps: playback rate (GIF delays are whole centiseconds: rates above 100 fps play slower).
            Pillow merges a frame identical to the one before into it (their delays add up), so the
            GIF may hold fewer frames than given and still play as long.
        downscale: integer factor by which width and height are divided (TensorBoard previews need
            not be full size, and a smaller GIF keeps the event file small).
    """
    if len(frames) == 0:
        raise ValueError("no frames for the animation")
    if not fps > 0:
        raise ValueError(f"fps={fps} must be > 0")
    images = [Image.fromarray(np.asarray(f)) for f in frames]
    if downscale > 1:
        size = (max(images[0].width // downscale, 1), max(images[0].height // downscale, 1))
        images = [image.resize(size) for image in images]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(round(1000 / fps), 10), loop=0)
    return buffer.getvalue()


def add_animation(writer, tag: str, frames: Sequence[np.ndarray], step: int, fps: float,
                  downscale: int = 2) -> None:
    """Log ``frames`` as an animated GIF under ``tag`` at ``step`` (TensorBoard's images tab plays it).

    Every call adds a sample: calls with the same tag at different steps are all kept (TensorBoard's
    images tab steps through them with its slider), so give each animation its own step.

    Args:
        writer: an open :class:`torch.utils.tensorboard.SummaryWriter`.
        tag: the image tag, e.g. ``videos/session_01``.
        frames: uint8 height x width x 3 frames.
        step: the global step of the sample.
        fps: playback rate.
        downscale: integer factor by which the frames are shrunk (see :func:`animated_gif`).
    """
    from tensorboard.compat.proto.summary_pb2 import Summary

    encoded = animated_gif(frames, fps, downscale)
    with Image.open(io.BytesIO(encoded)) as gif:
        width, height = gif.size
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=encoded)
    # See the module docstring: no public SummaryWriter method takes an encoded image; its file writer
    # (FileWriter.add_summary) does, and writes into the same event file as add_scalar.
    file_writer = writer.file_writer
    if file_writer is None:
        raise ValueError(f"cannot log {tag!r}: the SummaryWriter is closed")
    file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
