"""The project's one mp4 writer: rendered frames to a video file, atomically.

It lives in the env package, the bottom of the dependency chain (reach_env <- agents <- training <-
analysis), because both the env's own command line (``python -m reach_env.evaluate --video``) and the
training code write videos, and reach_env imports nothing from the packages above it. Training code
uses it through :mod:`training.video`, which adds captions, background encoding and TensorBoard.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_mp4(path: str | os.PathLike, frames: Sequence[np.ndarray], fps: float) -> Path:
    """Write ``frames`` to ``path`` as an mp4 (H.264) playing at ``fps`` frames per second.

    The video is encoded into a temporary file in the same folder and renamed onto ``path`` once
    complete, so that no reader (nor a run killed mid-write) ever sees a truncated file. Missing parent
    folders are created.

    Args:
        path: the mp4 file (replaced if it exists).
        frames: RGB images, uint8, height x width x 3, all the same size (``env.render()``'s frames).
        fps: playback rate; the env's ``metadata["render_fps"]`` plays a trial in real time.

    Returns:
        ``path``, as a :class:`~pathlib.Path`.
    """
    import imageio.v2 as imageio  # imported here: encoding is rare, importing the env is not

    path = Path(path)
    if len(frames) == 0:
        raise ValueError(f"no frames to write to {path}")
    first = np.asarray(frames[0])
    if first.dtype != np.uint8 or first.ndim != 3 or first.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 height x width x 3 RGB images; the first is "
                         f"{first.dtype} {first.shape}")
    if not fps > 0:
        raise ValueError(f"fps={fps} must be > 0")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder, so that the rename is atomic; a unique name, so that two writers never share it; the
    # .mp4 suffix is how imageio picks the format.
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.stem + ".", suffix=".tmp.mp4",
                                     delete=False) as handle:
        temporary = Path(handle.name)
    try:
        # imageio resizes frames to a multiple of macro_block_size (16 by default, with a warning); the
        # env's default 480 x 360 frames are a multiple of 8, so that they are written as rendered.
        imageio.mimsave(temporary, list(frames), fps=fps, macro_block_size=8)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
