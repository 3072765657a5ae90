"""Share of the shaping (pre-training) in the README main job, phase by phase.

Run: ``python benchmarks/shaping_share.py [TRAIN ARGS...]`` (by default the README main job,
``python -m training.train`` with its defaults, into a temporary folder; any ``training.train`` flag
may follow, e.g. ``--sessions 2 --no-video`` for a shorter check, which raises the shaping's share).

Runs the job in this process and times, with ``time.perf_counter``, the phases of
:func:`agents.pretraining.pretrain`:

* ``demonstrations``: :func:`agents.pretraining.collect_demonstrations`, the scripted trials;
* ``cloning``: :func:`agents.pretraining.behaviour_clone`, the cloning updates with their checks
  (``checks``: the checks' own wall time, inside ``cloning``);
* ``critic warm-up and the rest``: the shaping's remaining time (mostly the critic's warm-up trials);

then the rest of the job (evaluations, the protocol's sessions, logging, videos). Prints each phase's
seconds and share of the whole job, measured in this one run. Timing assertions: none.
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

import agents.pretraining as pretraining  # noqa: E402
from training.train import Trainer, parse_args  # noqa: E402


def timed(seconds: dict[str, float], name: str, function: Callable) -> Callable:
    """``function``, adding its wall time (s) to ``seconds[name]`` at every call."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def time_checks(seconds: dict[str, float], clone: Callable) -> Callable:
    """``behaviour_clone`` with its ``check`` timed under ``"checks"``."""

    @functools.wraps(clone)
    def wrapper(*args, check=None, **kwargs):
        return clone(*args, check=None if check is None else timed(seconds, "checks", check), **kwargs)

    return wrapper


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    seconds: dict[str, float] = {}
    pretraining.collect_demonstrations = timed(seconds, "demonstrations", pretraining.collect_demonstrations)
    pretraining.behaviour_clone = timed(seconds, "cloning",
                                        time_checks(seconds, pretraining.behaviour_clone))
    pretraining.pretrain = timed(seconds, "shaping", pretraining.pretrain)
    # training.protocol imported pretrain by name: time it where it is called.
    import training.protocol
    training.protocol.pretrain = pretraining.pretrain
    with tempfile.TemporaryDirectory() as folder:
        if "--out" not in argv:
            argv += ["--out", str(Path(folder) / "run")]
        config, _ = parse_args(argv)
        start = time.perf_counter()
        trainer = Trainer(config)
        seconds["setup (envs, network)"] = time.perf_counter() - start
        trainer.train(progress=False)
        total = time.perf_counter() - start
    shaping = seconds["shaping"]
    rows = [("setup (envs, network)", seconds["setup (envs, network)"]),
            ("shaping", shaping),
            ("  demonstrations", seconds.get("demonstrations", 0.0)),
            ("  cloning (updates and checks)", seconds.get("cloning", 0.0)),
            ("    checks", seconds.get("checks", 0.0)),
            ("  critic warm-up and the rest",
             shaping - seconds.get("demonstrations", 0.0) - seconds.get("cloning", 0.0)),
            ("protocol, evaluations, logging", total - shaping - seconds["setup (envs, network)"]),
            ("whole job", total)]
    print(f"python -m training.train {' '.join(argv)} (env_threads {config.protocol.env_threads})")
    print(f"{'phase':<34}{'s':>9}{'share':>8}")
    for name, value in rows:
        print(f"{name:<34}{value:>9.1f}{value / total:>8.1%}")


if __name__ == "__main__":
    main()
