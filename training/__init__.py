"""Training runs, baselines and ablations of dopareach."""

import os
import sys

# Training renders videos offscreen. MuJoCo picks its OpenGL backend when first imported, and its
# default (GLFW) needs a display; on a headless Linux machine default to EGL instead. An explicit
# MUJOCO_GL always wins.
if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("MUJOCO_GL", "egl")
