"""Training throughput of the cortical agent against raw env stepping, measured in one run.

Run: ``python benchmarks/train_throughput.py [--trials N] [--batch B] [--env-threads K] [--profile]``

Rows (all on the same envs, the trainer's default task ``MousePelletReach-v1``, the same number of
trials, one torch thread):

* ``env, zero policy``: B envs reset and stepped with zero excitation until every trial ends; the
  physics and env cost alone. The reference for the ``x env`` column.
* ``act only``: ``ThreeFactorLearner.run_trials(learn=False)``: the circuit's forward pass added.
* ``train``: ``run_trials(learn=True)``: forward, backward and gated optimiser steps every
  ``update_every`` control steps.
* ``train + logging``: the trainer's per-batch work on top (episodes.csv row, TensorBoard scalars,
  activity recording to ``.npz``), timed on the records of the ``train`` row.
* ``train, K env threads``: the ``train`` row again, from the same start, with the batch's envs stepped
  on K threads (``protocol.env_threads``); its trials and weights are the ``train`` row's, bit for bit
  (``tests/test_agents_env_threads.py``), so the ratio of the two is the threads' speed-up alone.

The project goal: learning and logging cost at most as much as the physics (``train + logging`` at
most 2.0x ``env, zero policy``). ``--profile`` prints where the ``train`` row's time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import DopamineChannel
from agents.recording import ActivityRecorder
from agents.three_factor import ThreeFactorLearner
from analysis import run_format
from reach_env import ENV_ID_V1, ENV_KWARGS, MousePelletReachEnv


def zero_policy(envs: list[MousePelletReachEnv], seeds: list[int]) -> int:
    """Step every env with zero excitation to the end of its trial; returns control steps."""
    zeros = np.zeros(envs[0].action_space.shape, np.float32)
    steps = 0
    for env, seed in zip(envs, seeds, strict=True):
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(zeros)
            done = terminated or truncated
            steps += 1
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--env-threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = AgentConfig()
    # The trainer's default task (v1: the early lift aborts, graded trial-to-trial variability).
    envs = [MousePelletReachEnv(**ENV_KWARGS[ENV_ID_V1]) for _ in range(args.batch)]
    circuit = CorticalCircuit(config, envs[0].control_timestep, seed=0)
    learner = ThreeFactorLearner(circuit, config, DopamineChannel(), seed=0)
    batches = max(args.trials // args.batch, 1)
    trials = batches * args.batch

    def seeds(k: int) -> list[int]:
        return [k * args.batch + i for i in range(args.batch)]

    def episodes(k: int) -> list[int]:
        return list(range(k * args.batch, (k + 1) * args.batch))

    zero_policy(envs, seeds(0))  # warm-up (renderer-free, caches)
    rows: dict[str, tuple[float, int]] = {}
    start = time.perf_counter()
    steps = sum(zero_policy(envs, seeds(k)) for k in range(batches))
    rows["env, zero policy"] = (time.perf_counter() - start, steps)

    start, steps = time.perf_counter(), 0
    for k in range(batches):
        steps += int(learner.run_trials(envs, episodes(k), seeds(k), learn=False).valid.sum())
    rows["act only"] = (time.perf_counter() - start, steps)

    profiler = cProfile.Profile() if args.profile else None
    records = []
    start, steps = time.perf_counter(), 0
    if profiler:
        profiler.enable()
    for k in range(batches):
        records.append(learner.run_trials(envs, episodes(k), seeds(k)))
        steps += int(records[-1].valid.sum())
    if profiler:
        profiler.disable()
    train_time = time.perf_counter() - start
    rows["train"] = (train_time, steps)

    from torch.utils.tensorboard import SummaryWriter

    from training.train import EpisodeLog

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        recorder = ActivityRecorder(out / run_format.ACTIVITY_DIR, envs[0].max_steps,
                                    envs[0].control_timestep)
        log = EpisodeLog(out / run_format.EPISODES_FILE, None)
        writer = SummaryWriter(str(out / run_format.TENSORBOARD_DIR))
        start = time.perf_counter()
        for k, record in enumerate(records):
            sessions = [1] * len(record.summaries)
            log.add(record, sessions)
            recorder.add(record, sessions)
            writer.add_scalar("behaviour/return", float(np.mean([s.ret for s in record.summaries])), k)
            writer.add_scalar("dopamine/delta_mean", float(record.delta[record.valid].mean()), k)
        recorder.finish_session(1)
        writer.close()
        log.close()
        logging_time = time.perf_counter() - start
    rows["train + logging"] = (train_time + logging_time, steps)

    if args.env_threads > 1:
        threaded = ThreeFactorLearner(CorticalCircuit(config, envs[0].control_timestep, seed=0), config,
                                      DopamineChannel(), seed=0, env_threads=args.env_threads)
        start, steps = time.perf_counter(), 0
        for k in range(batches):
            steps += int(threaded.run_trials(envs, episodes(k), seeds(k)).valid.sum())
        rows[f"train, {args.env_threads} env threads"] = (time.perf_counter() - start, steps)

    reference = rows["env, zero policy"][0] / rows["env, zero policy"][1]
    print(f"{trials} trials in batches of {args.batch}, torch threads 1, "
          f"cortex {config.n_cortex} units, update every {config.update_every} steps")
    print(f"{'row':20s} {'trials/s':>9s} {'env steps/s':>12s} {'us/step':>9s} {'x env':>7s}")
    for name, (seconds, count) in rows.items():
        per_step = seconds / count
        print(f"{name:20s} {trials / seconds:9.1f} {count / seconds:12.0f} {per_step * 1e6:9.1f} "
              f"{per_step / reference:7.2f}")
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(12)
        print(stream.getvalue())


if __name__ == "__main__":
    main()
