"""Success per session of the cortical agent across seeds: does it learn, and how fast?

``python -m training.learning_curve --seeds 5 --out runs/learning_curve`` pre-trains and runs the
protocol once per seed (in parallel on the local cores) and writes ``success.csv`` (seed, session,
success rate, trials), ``pretraining.csv`` and ``learning_curve.png``.
"""

from __future__ import annotations

import argparse
import csv
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from training.protocol import ProtocolConfig, build_run, run_protocol, success_by_session


def run_seed(config: ProtocolConfig) -> dict:
    """One seed's protocol; returns its success per session and pre-training figures."""
    started = time.perf_counter()
    run = build_run(config)
    outcomes: list[tuple[int, bool]] = []

    def collect(run, record, sessions):
        outcomes.extend((s, summary.success) for s, summary in zip(sessions, record.summaries,
                                                                   strict=True))

    run_protocol(run, on_batch=collect)
    return {"seed": config.seed, "success": success_by_session(outcomes, config.sessions),
            "pretraining": run.pretraining_figures, "wall_s": time.perf_counter() - started}


def plot(results: list[dict], config: ProtocolConfig, path: Path) -> None:
    """Per-seed curves and their mean, blocked sessions shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sessions = np.arange(1, config.sessions + 1)
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=150)
    for r in config.dopamine_schedule().ranges:
        first, last = config.session_of(r.first), config.session_of(r.last)
        ax.axvspan(first - 0.5, last + 0.5, color="0.85", zorder=0,
                   label=f"M1 dopamine x{r.gain:g}")
    curves = np.array([r["success"] for r in results])
    for r in results:
        ax.plot(sessions, r["success"], color="0.6", lw=0.8, marker=".", label=None)
    ax.plot(sessions, curves.mean(0), color="C0", lw=2, marker="o", label=f"mean of {len(results)} seeds")
    ax.set(xlabel="session", ylabel="success rate", ylim=(0, 1), xticks=sessions,
           title=f"cortical agent, {config.trials_per_session} trials/session")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--sessions", type=int, default=7)
    parser.add_argument("--trials-per-session", type=int, default=64)
    parser.add_argument("--da-block", default="", help="e.g. 2-4 (sessions, 1-based)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/learning_curve")
    args = parser.parse_args(argv)
    configs = [ProtocolConfig(sessions=args.sessions, trials_per_session=args.trials_per_session,
                              da_block=args.da_block, seed=s) for s in range(args.seeds)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = []
        for result in pool.map(run_seed, configs):
            results.append(result)
            print(f"seed {result['seed']}: success by session "
                  f"{' '.join(f'{x:.2f}' for x in result['success'])} ({result['wall_s']:.0f} s)",
                  flush=True)
    with open(out / "success.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "session", "success_rate", "trials"])
        for r in results:
            for s, rate in enumerate(r["success"], 1):
                writer.writerow([r["seed"], s, f"{rate:.4f}", args.trials_per_session])
    with open(out / "pretraining.csv", "w", newline="") as f:
        keys = list(results[0]["pretraining"])
        writer = csv.writer(f)
        writer.writerow(["seed", *keys])
        for r in results:
            writer.writerow([r["seed"], *(f"{r['pretraining'][k]:.4f}" for k in keys)])
    plot(results, configs[0], out / "learning_curve.png")
    mean = np.mean([r["success"] for r in results], axis=0)
    print("mean success by session:", " ".join(f"{x:.2f}" for x in mean))
    print(f"wrote {out / 'success.csv'} and {out / 'learning_curve.png'}")


if __name__ == "__main__":
    main()
