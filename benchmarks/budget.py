"""Wall time of the project's long jobs, scaled to the reference machines of the budgets.

Run: ``python benchmarks/budget.py [--main] [--quick] [--full-from DIR] [--out DIR]``

Two issues set budgets, each for a machine of a stated raw ``mujoco.mj_step`` rate on one core, on this
model (``assets/mouse_reach_v0.xml``):

* "Learning v2": 55,000 physics steps per second (shared MEASUREMENTS.md, "the slower machine"): main
  job 300 s, quick ablation 600 s, full ablation 4,500 s;
* "Beyond the lab" (part 4): 100,000 physics steps per second: quick ablation 60 s, full 10-seed
  ablation 900 s.

Machines of the same kind differ 3-4x in speed, so this script measures *this* machine's raw ``mj_step``
rate (resting limb, ``rest`` keyframe, best of several one-second chunks), times each job as a
subprocess, and reports the measured seconds and the seconds scaled to each reference:
``scaled = measured * rate / reference`` (a faster machine's times are scaled up). The limits are
printed beside them; nothing is asserted.

* ``--main``: the README's main job, ``python -m training.train`` with its defaults (shaping, 7
  sessions of 64 trials, the held-out evaluations, TensorBoard and videos).
* ``--quick``: ``python -m training.ablate --quick``.
* ``--full-from DIR``: the full 10-seed ablation is too long to repeat here; this reads the wall time
  that ``python -m training.ablate --out DIR`` recorded (``DIR/timing.json``, ``wall_s``; a repeat
  that skipped finished runs records only what it redid). Measure the rate on the same machine, close
  in time to the run.

Prints one JSON object per job and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mujoco

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import run_format  # noqa: E402
from reach_env import model_path  # noqa: E402

#: Per issue: the raw mj_step rate (physics steps/s, one core) of the machine its budget is stated for,
#: and its limits (s) per job.
BUDGETS: dict[str, tuple[float, dict[str, float]]] = {
    "learning v2": (55_000.0, {"main": 300.0, "quick": 600.0, "full": 4500.0}),
    "beyond the lab": (100_000.0, {"quick": 60.0, "full": 900.0}),
}


def raw_step_rate(seconds: float = 1.0, rounds: int = 5) -> float:
    """Best-of-``rounds`` raw ``mj_step`` rate (steps/s) of the task's model from its rest keyframe."""
    model = mujoco.MjModel.from_xml_path(str(model_path()))
    data = mujoco.MjData(model)
    key = model.key("rest").id
    best = 0.0
    for _ in range(rounds):
        mujoco.mj_resetDataKeyframe(model, data, key)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            mujoco.mj_step(model, data, nstep=100)
            steps += 100
            if data.time > 2.0:
                mujoco.mj_resetDataKeyframe(model, data, key)
        best = max(best, steps / (time.perf_counter() - start))
    return best


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``command`` (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--main", action="store_true", help="time the README's main job")
    parser.add_argument("--quick", action="store_true", help="time training.ablate --quick")
    parser.add_argument("--full-from", type=Path, help="read the full ablation's wall time from DIR")
    parser.add_argument("--out", type=Path, help="where the timed jobs write (default: a temporary folder)")
    args = parser.parse_args()
    rate = raw_step_rate()
    print(json.dumps({"raw_mj_step_per_s": round(rate)}))
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        if args.main:
            results["main"] = timed([sys.executable, "-m", "training.train", "--out", str(out / "train")],
                                    env)
        if args.quick:
            results["quick"] = timed([sys.executable, "-m", "training.ablate", "--quick", "--no-progress",
                                      "--out", str(out / "ablate_quick")], env)
    if args.full_from is not None:
        results["full"] = run_format.read_wall_time(args.full_from)
    rows = [(job, seconds, budget, seconds * rate / reference, limits[job])
            for job, seconds in results.items()
            for budget, (reference, limits) in BUDGETS.items() if job in limits]
    for job, seconds, budget, scaled, limit in rows:
        print(json.dumps({"job": job, "measured_s": round(seconds, 1), "budget": budget,
                          "scaled_s": round(scaled, 1), "limit_s": limit}))
    if rows:
        print(f"\n| job | measured here at {rate:,.0f} mj_step/s (s) | budget (reference rate) | scaled (s) "
              f"| limit (s) |")
        print("|---|---|---|---|---|")
        for job, seconds, budget, scaled, limit in rows:
            print(f"| {job} | {seconds:.0f} | {budget} ({BUDGETS[budget][0]:,.0f}/s) | {scaled:.0f} "
                  f"| {limit:.0f} |")

if __name__ == "__main__":
    main()
