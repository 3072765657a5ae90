"""Rollout videos: frames annotated with the trial's cue, phase and outcome, written as mp4."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from reach_env import Outcome, TrialPhase


def annotate(frame: np.ndarray, time: float, phase: int, cue_on: bool, outcome: int,
             title: str) -> np.ndarray:
    """The frame with a caption: trial title, time (s), phase, a cue marker and the outcome."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, image.width, 34), fill=(0, 0, 0))
    draw.text((6, 3), title, fill=(230, 230, 230))
    status = f"t={time:4.2f}s  {TrialPhase(phase).name.lower().replace('_', ' ')}"
    if outcome:
        status += f"  -> {Outcome(outcome).name.lower()}"
    draw.text((6, 18), status, fill=(255, 215, 120) if outcome else (200, 200, 200))
    if cue_on:
        draw.ellipse((image.width - 26, 8, image.width - 8, 26), fill=(255, 60, 60))
        draw.text((image.width - 60, 12), "tone", fill=(255, 120, 120))
    return np.asarray(image)


class VideoWriter:
    """Writes videos on a background thread so that encoding never holds up training.

    Args:
        fps: frames per second (the env's control rate, so videos play in real time).
    """

    def __init__(self, fps: int):
        self.fps = fps
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="video")
        self._pending: list[Future] = []

    def write(self, path: Path, frames: list[np.ndarray]) -> None:
        """Queue ``frames`` for writing to ``path`` (mp4)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._pending.append(self._pool.submit(self._encode, path, frames))

    def _encode(self, path: Path, frames: list[np.ndarray]) -> None:
        import imageio.v2 as imageio

        temporary = path.with_name(path.stem + ".tmp.mp4")
        imageio.mimsave(temporary, frames, fps=self.fps, macro_block_size=8)
        temporary.replace(path)

    def close(self) -> None:
        """Wait for every queued video and re-raise the first encoding error."""
        for future in self._pending:
            future.result()
        self._pending.clear()
        self._pool.shutdown()
