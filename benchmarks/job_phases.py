"""Where a training run's time goes, phase by phase, and how much of it is physics: each phase's wall
time against the time its own trials spent inside ``mujoco.mj_step``.

Run: ``python benchmarks/job_phases.py [TRAIN ARGS...]`` (by default the README main job,
``python -m training.train`` with its defaults and ``--set protocol.env_threads=1``, into a temporary
folder; any ``training.train`` flag may follow, e.g. ``--no-video``, or ``--sessions 2`` for a shorter
check, which raises the shaping's share).

The issue "Beyond the lab" (part 4) asks that the 7-session training, its protocol's and its evaluations'
trials, cost at most 1.5x the raw physics time of those very trials on one core, and that shaping take at
most 20 % of the main job. This script measures both in one run, without replaying anything: it runs
the job in this process with ``mujoco.mj_step`` wrapped by a clock, so the physics time is that of the
run's own trajectories, and it times the job's phases (the innermost phase running gets the time):

* ``setup``: the envs and the network;
* ``shaping``: :func:`agents.pretraining.pretrain`, split into its scripted ``demonstrations``
  (:func:`agents.pretraining.collect_demonstrations`), the ``cloning`` updates
  (:func:`agents.pretraining.behaviour_clone`), the cloning's success ``checks`` and the rest (mostly
  the critic's warm-up trials);
* ``evaluations``: the held-out evaluations (``Trainer._evaluate``);
* ``thalamic probe``: ``Trainer._probe``;
* ``rendering``: the filmed trials' frames (``MousePelletReachEnv.render``, called inside the trials);
* ``videos``: encoding them (``Trainer._write_video``);
* ``checkpoints``: ``training.train.save_checkpoint``;
* ``logging``: each batch's and session's records (``episodes.csv``, the RPE aligned to events,
  TensorBoard, the activity ``.npz``);
* ``sessions``: the rest, the protocol's training trials with their learning updates.

Each row gives the phase's wall seconds, its seconds inside ``mj_step``, their ratio and its share of
the job; the row "protocol and evaluation trials" is everything after the shaping, which the issue's
1.5x is about. With more than one env thread, physics seconds are summed over threads and the ratio can
fall below 1. The wrapper adds two clock reads per ``mj_step`` call (well under 1 us, against some
300-400 us of physics per call). Timing assertions: none.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # the job's videos render offscreen
# Runs from a source checkout without `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mujoco  # noqa: E402

import agents.pretraining as pretraining  # noqa: E402
import training.protocol  # noqa: E402
import training.train as train  # noqa: E402
from reach_env import MousePelletReachEnv  # noqa: E402

#: The shaping's parts, in the order of the table (``shaping`` itself keeps what they leave).
SHAPING_PARTS = ("demonstrations", "cloning", "checks")
#: The job's phases after the shaping (``sessions`` is what is left of the job after the others).
LATER_PHASES = ("evaluations", "thalamic probe", "rendering", "videos", "checkpoints", "logging", "sessions")


class Clock:
    """Wall seconds and ``mj_step`` seconds, per phase; the innermost phase running gets the time."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.physics: dict[str, float] = {}
        self.phase = "sessions"

    def step(self, function: Callable) -> Callable:
        """``mujoco.mj_step``, adding its duration to the running phase's physics seconds."""

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.physics[self.phase] = self.physics.get(self.phase, 0.0) + time.perf_counter() - start

        return wrapper

    def phase_of(self, name: str, function: Callable) -> Callable:
        """``function``, its wall time and physics counted under ``name`` (not under the caller's)."""

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            outer, self.phase = self.phase, name
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.wall[name] = self.wall.get(name, 0.0) + elapsed
                self.phase = outer
                # The caller's wall time is counted as a whole later; take this phase's share out of it.
                self.wall[outer] = self.wall.get(outer, 0.0) - elapsed

        return wrapper


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    clock = Clock()
    mujoco.mj_step = clock.step(mujoco.mj_step)
    # training.protocol imported pretrain by name: time it where it is called.
    training.protocol.pretrain = clock.phase_of("shaping", pretraining.pretrain)
    pretraining.collect_demonstrations = clock.phase_of("demonstrations", pretraining.collect_demonstrations)
    clone = pretraining.behaviour_clone

    def clone_with_timed_checks(*args, check=None, **kwargs):
        return clone(*args, check=None if check is None else clock.phase_of("checks", check), **kwargs)

    pretraining.behaviour_clone = clock.phase_of("cloning", clone_with_timed_checks)
    train.Trainer._evaluate = clock.phase_of("evaluations", train.Trainer._evaluate)
    train.Trainer._probe = clock.phase_of("thalamic probe", train.Trainer._probe)
    MousePelletReachEnv.render = clock.phase_of("rendering", MousePelletReachEnv.render)
    train.Trainer._write_video = clock.phase_of("videos", train.Trainer._write_video)
    train.save_checkpoint = clock.phase_of("checkpoints", train.save_checkpoint)
    train.trial_rpe = clock.phase_of("logging", train.trial_rpe)
    for owner, method in ((train.EpisodeLog, "add"), (train.ActivityRecorder, "add"),
                          (train.ActivityRecorder, "finish_session"), (train.Trainer, "_log_batch"),
                          (train.Trainer, "_log_session")):
        setattr(owner, method, clock.phase_of("logging", getattr(owner, method)))
    if not any(a.startswith("protocol.env_threads=") for a in argv):
        argv += ["--set", "protocol.env_threads=1"]
    with tempfile.TemporaryDirectory() as folder:
        if "--out" not in argv:
            argv += ["--out", str(Path(folder) / "run")]
        config, _ = train.parse_args(argv)
        start = time.perf_counter()
        trainer = clock.phase_of("setup", train.Trainer)(config)
        trainer.train(progress=False)
        total = time.perf_counter() - start
    clock.wall["sessions"] = clock.wall.get("sessions", 0.0) + total

    def row(name: str, phases: tuple[str, ...]) -> tuple[str, float, float]:
        return (name, sum(clock.wall.get(p, 0.0) for p in phases),
                sum(clock.physics.get(p, 0.0) for p in phases))

    shaping = ("shaping", *SHAPING_PARTS)
    rows = [row("setup", ("setup",)), row("shaping", shaping),
            *(row(f"  {part}", (part,)) for part in SHAPING_PARTS),
            row("  critic warm-up and the rest", ("shaping",)),
            *(row(name, (name,)) for name in LATER_PHASES),
            row("protocol and evaluation trials", LATER_PHASES),
            row("whole job", ("setup", *shaping, *LATER_PHASES))]
    print(f"python -m training.train {' '.join(argv)}")
    print("| phase | wall (s) | inside mj_step (s) | wall / physics | share of the job |")
    print("|---|---|---|---|---|")
    for name, wall, physics in rows:
        ratio = f"{wall / physics:.2f}" if physics > 0 else "-"
        print(f"| {name} | {wall:.1f} | {physics:.1f} | {ratio} | {wall / total:.0%} |")


if __name__ == "__main__":
    main()
