"""What-if forks of a cortex run from one checkpoint: which ingredient does a collapse need?

    python docs/experiments/versus-sb3-5000/collapse/what_if.py RUN_DIR EPISODE OUT [--until TRIALS]

forks the run in ``RUN_DIR`` (a ``training.versus_sb3`` cortex run, or any ``training.train`` run) from
its checkpoint after ``EPISODE`` trials into ``OUT/<variant>``, runs each variant to the run's length
(``--until``: to that many trials in all, a whole number of sessions) and prints one line per variant
with its noise-off held-out success at every evaluation (``python -m training.evaluate OUT/<variant>``
adds each checkpoint's early errors and pre-cue paw rise). The variants:

- ``as_run``: nothing changed (an exact resume: it must repeat the run's own evaluations);
- ``noise_1`` .. ``noise_4``: the exploration noise drawn from another stream (the learner's generator
  reseeded with 1..4), everything else as run: was the collapse a chance event of that stream?
- ``regulator_frozen``: the regulated exploration held at its checkpoint value
  (``exploration_memory`` 1e9: the success average, hence the noise amplitude, stays put);
- ``no_precue_exploration``: no exploration noise before the cue (``precue_exploration`` 0), so that no
  pre-cue decision is learned from then on.

Each variant takes about half a minute per 320 trials on one core. A variant already run to the end is
skipped; one interrupted midway must be deleted first.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from training.checkpoint import checkpoint_path
from training.config import build_config, load_yaml, merge
from training.train import Trainer

#: variant -> (agent fields changed, exploration noise stream or None for the run's own)
VARIANTS: dict[str, tuple[dict[str, float], int | None]] = {
    "as_run": ({}, None),
    **{f"noise_{k}": ({}, k) for k in range(1, 5)},
    "regulator_frozen": ({"exploration_memory": 1e9}, None),
    "no_precue_exploration": ({"precue_exploration": 0.0}, None),
}


def fork(run_dir: Path, episode: int, out: Path, sessions: int, changes: dict[str, float],
         noise_stream: int | None) -> Path:
    """Run one variant from ``run_dir``'s checkpoint after ``episode`` trials into ``out``, up to
    ``sessions`` sessions."""
    config = build_config(merge(load_yaml(run_dir / "config.yaml"),
                                {"protocol": {"sessions": sessions}, "agent": changes,
                                 "output": {"out": str(out), "video": False}}))
    trainer = Trainer(config, fork_from=checkpoint_path(run_dir / "checkpoints", episode),
                      fork_may_differ=frozenset(changes))
    if noise_stream is not None:
        trainer.run.learner.generator.manual_seed(noise_stream)
    return trainer.train(progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("episode", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--until", type=int, metavar="TRIALS", help="trials in all (default: the run's)")
    args = parser.parse_args()
    protocol = load_yaml(args.run_dir / "config.yaml")["protocol"]
    per_session = protocol["trials_per_session"]
    end = protocol["sessions"] * per_session if args.until is None else args.until
    if end % per_session or end <= args.episode:
        parser.error(f"--until {end} must be a whole number of {per_session}-trial sessions "
                     f"after {args.episode}")
    for name, (changes, stream) in VARIANTS.items():
        folder = args.out / name
        if not checkpoint_path(folder / "checkpoints", end).exists():
            fork(args.run_dir, args.episode, folder, end // per_session, changes, stream)
        with open(folder / "evaluation.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["noise"] == "off"]
        print(f"{name:22s}", " ".join(f"{r['episode']}:{float(r['success']):.2f}" for r in rows), flush=True)


if __name__ == "__main__":
    main()
