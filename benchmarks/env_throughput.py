"""Throughput of MousePelletReach-v0 (or another task version) against raw MuJoCo physics.

Run: ``python benchmarks/env_throughput.py [--seconds S] [--envs N] [--action A] [--env-id ID]
[--clock wall|cpu]`` (``--env-id MousePelletReach-v1`` times v1's env; the default is v0).

Every row counts *physics steps* (``model.opt.timestep`` = 1 ms of simulated time each) per second
of wall time (``time.perf_counter``); an env control step is ``frame_skip`` (20) physics steps. On a
machine shared with other jobs, ``--clock cpu`` counts this process's CPU time instead
(``time.process_time``, all its threads): the single-threaded rows (raw, replay, ``env.step``) and
their ratios then do not count the time the process waited for a core; the threaded rows report CPU
cost, not speed.
All rows drive the same model with the same constant excitation ``A`` on every muscle and the grip
(turntable servo at its keyframe target) and restart each simulation from the ``rest`` keyframe once
it has run one trial's length (``env.timing.max_duration``), so they simulate comparable physics:
physics cost depends strongly on excitation (with the paw on the perch, ~8 contacts, it is ~30%
dearer than with the paw lifted). Rows:

* ``raw mj_step``: ``mujoco.mj_step(model, data, nstep=frame_skip)`` in a Python loop, one thread.
  The reference for every ``x raw`` column.
* ``raw replay of env``: the same, replaying the env's own recorded initial states and controls
  (turntable turn, posture jitter included): the physics cost of exactly what ``env.step``
  simulates.
* ``env.step``: ``MousePelletReachEnv.step`` with the constant action, ``reset()`` included when an
  episode ends. Its "env/raw cost" (wall time per physics step, env over raw replay) is the env's
  overhead factor; the project's goal is <= 1.1 (the observation, reward and events of a step cost
  at most a tenth of its physics).
* ``SyncVectorEnv``: ``gymnasium.vector.SyncVectorEnv`` of N envs (same-step autoreset).
* ``mujoco.rollout``: ``mujoco.rollout.Rollout(nthread=2)`` stepping N copies closed-loop, one call
  per control step with ``nstep=frame_skip``, feeding back the last state (it cannot feed back the
  solver warm start, so it is not bit-identical to mj_step; fine for timing).
* ``mujoco.batch``: MuJoCo 4's ``mujoco.batch.Batch(model, N, nthread=2)``,
  ``step(nstep=frame_skip)``.
* ``BatchedPhysics``: ``reach_env.batched_physics.BatchedPhysics`` (Batch plus copying each state in
  and out of N per-env MjData), the path a batched env would use.

``x raw`` > 1 means faster than single-threaded raw physics (only possible by using both cores).
Each row is measured in ``--rounds`` interleaved chunks and the best chunk is reported, so that
another process briefly sharing the 2 cores penalises no single row. Timing assertions: none.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import mujoco
import mujoco.batch
import mujoco.rollout
import numpy as np

# Runs from a source checkout without `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import reach_env  # noqa: E402
from reach_env.batched_physics import BatchedPhysics  # noqa: E402

NTHREAD = 2  # the dev machine's cores


@dataclass
class Row:
    """One benchmark: ``run(seconds)`` steps for about that long and returns physics steps done."""

    name: str
    run: Callable[[float], int]
    best_rate: float = 0.0  # physics steps/s, best chunk


#: The clock every row is timed with (``--clock``): wall time, or the process's CPU time.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def _until(seconds: float, step: Callable[[], int]) -> tuple[int, float]:
    """Call ``step`` (returns physics steps done) for ``seconds`` of :data:`clock`; returns (steps,
    elapsed s)."""
    done, start = 0, clock()
    while (elapsed := clock() - start) < seconds:
        done += step()
    return done, elapsed


class Setup:
    """The model, controls and trial length shared by all rows."""

    def __init__(self, action: float, env_id: str = reach_env.ENV_ID):
        self.make_env = functools.partial(reach_env.make_env, env_id)
        env = self.make_env()
        self.frame_skip: int = env.frame_skip
        self.trial_s: float = env.timing.max_duration
        env.close()
        self.model = reach_env.load_model()
        self.model.opt.timestep = env.model.opt.timestep
        self.key = self.model.key("rest").id
        self.ctrl = self.model.key("rest").ctrl.copy()
        self.ctrl[[self.model.actuator(m).id for m in reach_env.MUSCLES]] = action
        self.ctrl[self.model.actuator("digit_grip_R").id] = action  # the env ties grip to flexors
        self.action = np.full(len(reach_env.MUSCLES), action, np.float32)

    def reset(self, data: mujoco.MjData) -> None:
        mujoco.mj_resetDataKeyframe(self.model, data, self.key)
        data.ctrl[:] = self.ctrl


def raw_row(s: Setup) -> Row:
    data = mujoco.MjData(s.model)
    s.reset(data)

    def step() -> int:
        mujoco.mj_step(s.model, data, nstep=s.frame_skip)
        if data.time >= s.trial_s - 1e-9:
            s.reset(data)
        return s.frame_skip

    return Row("raw mj_step", lambda sec: _until(sec, step)[0])


def replay_row(s: Setup, episodes: int = 4) -> Row:
    """Record the env's initial states and per-step ctrl, then replay them with bare mj_step."""
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    env = s.make_env()
    env.reset(seed=0)
    trials: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(episodes):
        start = np.empty(mujoco.mj_stateSize(env.model, spec))
        mujoco.mj_getState(env.model, env.data, start, spec)
        ctrls, over = [], False
        while not over:
            _, _, terminated, truncated, _ = env.step(s.action)
            ctrls.append(env.data.ctrl.copy())
            over = terminated or truncated
        trials.append((start, np.array(ctrls)))
        env.reset()
    env.close()
    data = mujoco.MjData(s.model)
    cursor = {"trial": 0, "step": 0}

    def step() -> int:
        start, ctrls = trials[cursor["trial"]]
        if cursor["step"] == 0:
            mujoco.mj_setState(s.model, data, start, spec)
        data.ctrl[:] = ctrls[cursor["step"]]
        mujoco.mj_step(s.model, data, nstep=s.frame_skip)
        cursor["step"] += 1
        if cursor["step"] == len(ctrls):
            cursor["trial"], cursor["step"] = (cursor["trial"] + 1) % len(trials), 0
        return s.frame_skip

    return Row("raw replay of env", lambda sec: _until(sec, step)[0])


def env_row(s: Setup) -> Row:
    env = s.make_env()
    env.reset(seed=0)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(s.action)
        if terminated or truncated:
            env.reset()
        return s.frame_skip

    return Row("env.step", lambda sec: _until(sec, step)[0])


def sync_vector_row(s: Setup, n: int) -> Row:
    envs = gym.vector.SyncVectorEnv([s.make_env] * n,
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    envs.reset(seed=0)
    actions = np.tile(s.action, (n, 1))

    def step() -> int:
        envs.step(actions)  # same-step autoreset: every call advances all n envs' physics
        return n * s.frame_skip

    return Row(f"SyncVectorEnv x{n}", lambda sec: _until(sec, step)[0])


def rollout_row(s: Setup, n: int) -> Row:
    model, spec = s.model, mujoco.mjtState.mjSTATE_FULLPHYSICS
    data = mujoco.MjData(model)
    s.reset(data)
    rest = np.empty(mujoco.mj_stateSize(model, spec))
    mujoco.mj_getState(model, data, rest, spec)
    state = np.tile(rest, (n, 1))
    control = np.tile(s.ctrl, (n, s.frame_skip, 1))
    out = np.empty((n, s.frame_skip, rest.size))
    runner = mujoco.rollout.Rollout(nthread=NTHREAD)
    models, datas = [model] * n, [mujoco.MjData(model) for _ in range(NTHREAD)]

    def step() -> int:
        # skip_checks: shapes are fixed here, and the wrapper's checks are not what we time
        runner.rollout(models, datas, state, control, nstep=s.frame_skip, state=out,
                       skip_checks=True)
        state[:] = out[:, -1]
        state[state[:, 0] >= s.trial_s - 1e-9] = rest  # column 0 is time
        return n * s.frame_skip

    return Row(f"mujoco.rollout x{n}", lambda sec: _until(sec, step)[0])


def batch_row(s: Setup, n: int) -> Row:
    batch = mujoco.batch.Batch(s.model, n, nthread=NTHREAD)

    def reset(ids: np.ndarray | None = None) -> None:
        batch.reset(ids, keyframe=s.key)
        batch.ctrl[ids if ids is not None else slice(None)] = s.ctrl

    reset()

    def step() -> int:
        batch.step(nstep=s.frame_skip)
        done = np.flatnonzero(batch.time >= s.trial_s - 1e-9)
        if done.size:
            reset(done)
        return n * s.frame_skip

    return Row(f"mujoco.batch x{n}", lambda sec: _until(sec, step)[0])


def batched_physics_row(s: Setup, n: int) -> Row:
    physics = BatchedPhysics(s.model, n, nthread=NTHREAD)
    for data in physics.datas:
        s.reset(data)
    ctrl = np.tile(s.ctrl, (n, 1))

    def step() -> int:
        physics.step(ctrl, s.frame_skip)
        for data in physics.datas:
            if data.time >= s.trial_s - 1e-9:
                s.reset(data)
        return n * s.frame_skip

    return Row(f"BatchedPhysics x{n}", lambda sec: _until(sec, step)[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=42.0,
                        help="total measured wall time (s), split evenly over rows and rounds")
    parser.add_argument("--envs", type=int, default=8, help="simulations in the batched rows")
    parser.add_argument("--action", type=float, default=0.1,
                        help="constant excitation of every muscle and the grip, in [0, 1]")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved chunks per row")
    parser.add_argument("--env-id", default=reach_env.ENV_ID, choices=sorted(reach_env.ENV_KWARGS),
                        help="task version whose env the env rows build")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="time rows by wall time or by this process's CPU time (a shared machine)")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]

    s = Setup(args.action, args.env_id)
    n = args.envs
    rows = [raw_row(s), replay_row(s), env_row(s), sync_vector_row(s, n), rollout_row(s, n),
            batch_row(s, n), batched_physics_row(s, n)]
    chunk = args.seconds / (len(rows) * args.rounds)
    for row in rows:  # warm-up: caches, thread pools, first contacts
        row.run(min(0.3, chunk))
    for _ in range(args.rounds):
        for row in rows:
            start = clock()
            steps = row.run(chunk)
            row.best_rate = max(row.best_rate, steps / (clock() - start))

    raw, replay, env = rows[0].best_rate, rows[1].best_rate, rows[2].best_rate
    dt_ms = s.model.opt.timestep * 1e3
    print(f"{args.env_id}: mujoco {mujoco.__version__}, frame_skip {s.frame_skip} x {dt_ms:g} ms, action"
          f" {args.action}, {NTHREAD} threads in batched rows, best of {args.rounds} x"
          f" {chunk:.2f} s per row, {args.clock} clock")
    print(f"{'row':<22}{'physics steps/s':>16}{'us/physics step':>17}{'control steps/s':>17}"
          f"{'x raw':>7}")
    for row in rows:
        rate = row.best_rate
        print(f"{row.name:<22}{rate:>16,.0f}{1e6 / rate:>17.2f}{rate / s.frame_skip:>17,.0f}"
              f"{rate / raw:>7.2f}")
    overhead_us = 1e6 * s.frame_skip * (1 / env - 1 / replay)
    print(f"env/raw cost per physics step: {raw / env:.2f} vs raw mj_step, {replay / env:.2f} vs"
          f" raw replay of env (goal <= 1.1); env overhead {overhead_us:.0f} us per env.step")


if __name__ == "__main__":
    main()
