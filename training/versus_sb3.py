"""The dopamine-gated cortex against Stable-Baselines3 on the same task, from the same start.

``python -m training.versus_sb3 --out runs/versus_sb3`` trains, for every seed, the cortical agent
(``cortex``: the README main job's protocol, prolonged) and the SB3 agents (``ppo``; ``recurrent_ppo``,
sb3-contrib's LSTM PPO), each for the largest budget in trials, and evaluates each agent's mean policy
(exploration noise off) on the same held-out trials of the protocol's task every ``eval_every`` trials.

Both start where the lab's mice start, after shaping: the SB3 agents are cloned on the cortex's own
demonstrations to the cortex's criterion and their critic is warmed up on their own trials
(:mod:`training.sb3_shaped`). The question is then how fast each learns from reward, not who clones
faster.

The runs go to ``OUT/runs/<agent>/seed_SS`` on a process pool; a finished run leaves ``result.json``
and is skipped when the command is repeated; an interrupted run goes on exactly where it was: a cortex
run from its newest checkpoint (every evaluation block), an SB3 run from its resume file (every
rollout, :mod:`training.sb3_resume`), or from the start if it stopped while shaping. Then
:mod:`analysis.versus_report` writes ``versus.csv`` (trials to the criterion and success at every
budget, per agent), ``evaluation.csv``, the figure and ``report.md``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator

from agents.config import ConfigSection
from analysis import run_format
from analysis.versus_report import AGENTS, CORTEX
from training.config import (
    ConfigError,
    TrainConfig,
    build_config,
    build_from_sources,
    check_sections,
    check_workers,
    comma_list,
    fail,
    merge,
    sweep_parser,
)
from training.sb3_shaped import DEFAULT_LOG_STD, N_ENVS


class VersusConfig(ConfigSection):
    """What the head-to-head runs.

    Each field's meaning is its docstring (``--help`` prints them)."""

    seeds: int = 5
    """seeds per agent."""
    first_seed: int = 0
    """the first seed (seeds ``first_seed .. first_seed + seeds - 1``)."""
    agents: tuple[str, ...] = Field(default=AGENTS, strict=False)
    """the agents compared: ``cortex``, ``ppo``, ``recurrent_ppo``."""
    budgets: tuple[int, ...] = Field(default=(1000, 5000), strict=False)
    """training budgets (trials) at which success is compared, besides the protocol's own trials (the
    README main job's sessions x trials per session); every run lasts the largest, rounded down to whole
    evaluation blocks."""
    eval_every: int = 64
    """trials between evaluations (64: the protocol's session)."""
    eval_trials: int = 64
    """held-out trials of each evaluation (the protocol's evaluation seeds, the same for every agent)."""
    criterion: float = 0.5
    """the noise-off success rate whose first crossing is reported (trials to criterion)."""
    sb3_log_std_init: float = DEFAULT_LOG_STD
    """initial log standard deviation of the SB3 policies' Gaussian exploration, in their [-1, 1] action
    units (-1: 0.37, i.e. 0.18 in excitation, white on every 20 ms step)."""
    train: dict[str, Any] = Field(default_factory=dict)
    """overrides of the training config's sections (``agent``, ``pretraining``, ``env``, ``protocol``),
    as in ``training.train``'s YAML files; they apply to every agent (the SB3 agents read the task,
    the shaping and the protocol's seeds and batch)."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        for name in ("seeds", "eval_every", "eval_trials"):
            if getattr(self, name) < 1:
                raise ValueError(f"versus.{name}={getattr(self, name)} must be >= 1")
        if self.first_seed < 0:
            raise ValueError(f"versus.first_seed={self.first_seed} must be >= 0")
        unknown = [a for a in self.agents if a not in AGENTS]
        if unknown or not self.agents or len(set(self.agents)) != len(self.agents):
            raise ValueError(f"versus.agents={','.join(self.agents)!r} must be distinct names from "
                             f"{', '.join(AGENTS)}")
        if self.eval_every < N_ENVS:
            raise ValueError(f"versus.eval_every={self.eval_every} must be >= {N_ENVS}: PPO's {N_ENVS} "
                             f"parallel envs can end that many trials in one step")
        if any(b < self.eval_every for b in self.budgets):
            raise ValueError(f"versus.budgets={list(self.budgets)}: every budget must be at least "
                             f"eval_every={self.eval_every} trials")
        if not 0 < self.criterion <= 1:
            raise ValueError(f"versus.criterion={self.criterion} must be in (0, 1]")
        try:
            check_sections(self.train, allowed=("agent", "pretraining", "env", "protocol"))
        except ConfigError as error:
            raise error.within("versus.train") from None
        self.base_config("runs/check", 0)  # validates the training overrides now, naming the field
        return self

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    @property
    def protocol_trials(self) -> int:
        """The README main job's trials (its sessions x trials per session)."""
        return build_config(self.train).protocol.total_trials

    @property
    def all_budgets(self) -> list[int]:
        """The protocol's trials and ``budgets``, ascending."""
        return sorted({self.protocol_trials, *self.budgets})

    @property
    def blocks(self) -> int:
        """Evaluation blocks of every run: the largest budget in whole blocks."""
        return self.all_budgets[-1] // self.eval_every

    def base_config(self, out: str, seed: int) -> TrainConfig:
        """The training config of one run: the main job's, lasting ``blocks`` sessions of ``eval_every``
        trials, evaluated (noise off) after each; no videos, activity or probes; one env thread."""
        protocol = {"seed": seed, "eval_trials": self.eval_trials, "env_threads": 1,
                    "eval_noise_on_every_session": False}
        overrides = merge(self.train, {
            "protocol": protocol,
            "output": {"out": out, "video": False, "checkpoint_every": 0, "histograms": False,
                       "record_activity": False, "probe_trials": 0},
        })
        main_job = build_config(overrides)
        blocks = max([main_job.protocol.total_trials, *self.budgets]) // self.eval_every
        return build_config(merge(overrides, {"protocol": {"sessions": blocks,
                                                           "trials_per_session": self.eval_every}}))


#: ``--quick``: one seed, the protocol's own budget.
QUICK = dict(seeds=1, budgets=())


@dataclass(frozen=True)
class VersusRun:
    """One run: an agent, a seed and its training config (the SB3 agents read its task and shaping)."""

    agent: str
    seed: int
    config: TrainConfig
    sb3_log_std_init: float = DEFAULT_LOG_STD
    parent: str | None = None  # none: the sweep's runs do not fork

    @property
    def condition(self) -> str:
        return self.agent

    @property
    def key(self) -> str:
        return run_format.run_key(self.agent, self.seed)

    @property
    def directory(self) -> Path:
        return Path(self.config.output.out)

    @property
    def planned_trials(self) -> int:
        return self.config.protocol.total_trials


def plan_runs(config: VersusConfig, out: Path) -> list[VersusRun]:
    """Every run: for each seed, each agent."""
    return [VersusRun(agent, seed, config.base_config(str(run_format.run_dir(out, agent, seed)), seed),
                      config.sb3_log_std_init)
            for seed in config.seed_list for agent in config.agents]


def trials_evaluated(run: VersusRun) -> int:
    """Trials a run had completed at its last evaluation (0 if none yet), for the progress bar."""
    try:
        rows = run_format.read_rows(run.directory / run_format.EVALUATION_FILE)
    except OSError:
        return 0
    return max((int(r["episode"]) for r in rows), default=0)


def execute_run(run: VersusRun, parent_dir: str | None = None) -> dict[str, Any]:
    """Train one run to its end; never raises. Returns ``{"key", "status": "done" | "failed", ...}``."""
    started = time.perf_counter()
    try:
        if run.agent == CORTEX:
            summary = _train_cortex(run)
        else:
            summary = _train_sb3(run, run.sb3_log_std_init)
        result = {"key": run.key, "condition": run.agent, "seed": run.seed, "status": "done", **summary,
                  "wall_s": round(time.perf_counter() - started, 1)}
        run_format.write_result(run.directory, result)
        return result
    except BaseException as error:  # noqa: BLE001 - a worker reports every failure instead of dying
        return {"key": run.key, "condition": run.agent, "seed": run.seed, "status": "failed",
                "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(),
                "wall_s": round(time.perf_counter() - started, 1)}


def _train_cortex(run: VersusRun) -> dict[str, Any]:
    from training.checkpoint import newest_checkpoint
    from training.train import Trainer

    own = newest_checkpoint(run.directory / run_format.CHECKPOINT_DIR)
    trainer = Trainer(run.config, resume=own is not None)
    trainer.train(progress=False)
    return {"trials": run.config.protocol.total_trials, "resumed_from": own.name if own else None,
            "shaping": trainer.run.pretraining_figures}


def _train_sb3(run: VersusRun, log_std_init: float) -> dict[str, Any]:
    from agents.pretraining import shaping_demonstrations
    from training.sb3_shaped import resume_sb3, train_sb3

    config, protocol = run.config, run.config.protocol
    if (run.directory / run_format.SB3_RESUME_FILE).exists():
        return resume_sb3(run.agent, config, protocol.total_trials, protocol.trials_per_session,
                          log_std_init)
    # Stopped before its first rollout (while shaping): nothing to keep.
    if run.directory.exists():
        shutil.rmtree(run.directory)
    demos = shaping_demonstrations(config.pretraining, protocol.seed, config.env.task_arguments(),
                                   progress=False)
    return train_sb3(run.agent, config, demos, protocol.total_trials, protocol.trials_per_session,
                     log_std_init)


# --- command line -----------------------------------------------------------------------------------

_FIELD_FLAGS = ("seeds", "first_seed", "agents", "budgets")


def parse_args(argv: list[str] | None = None) -> tuple[VersusConfig, argparse.Namespace]:
    """Command line -> (config, options). Flags override ``--config FILE.yaml`` and ``--quick``.

    Raises:
        ConfigError: one line naming the flag or file and the field.
    """
    parser = sweep_parser("python -m training.versus_sb3", __doc__.splitlines()[0], "versus", VersusConfig,
                          "runs/versus_sb3", "runs, tables, figure, report", "seeds per agent (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="one seed, the protocol's own budget (448 trials): about 7 minutes on 2 cores")
    parser.add_argument("--agents", metavar="A,B,...", help=f"agents to compare (default {','.join(AGENTS)})")
    parser.add_argument("--budgets", metavar="N,N,...",
                        help="budgets in trials besides the protocol's (default 1000,5000)")
    args = parser.parse_args(argv)
    check_workers(args)
    args.agents = comma_list(args.agents, "--agents", str.strip, "cortex,ppo")
    args.budgets = comma_list(args.budgets, "--budgets", int, "1000,5000")
    config = build_from_sources(VersusConfig, "versus", QUICK if args.quick else {}, args.config,
                                {name: getattr(args, name) for name in _FIELD_FLAGS})
    if "recurrent_ppo" in config.agents:
        from training.sb3_shaped import recurrent_available

        if not recurrent_available():
            raise ConfigError("--agents: recurrent_ppo needs sb3-contrib (pip install sb3-contrib), or leave "
                              "it out: --agents cortex,ppo")
    return config, args


def main(argv: list[str] | None = None) -> int:
    from analysis.versus_report import analyse_versus
    from training.ablate import run_sweep, write_failures
    from training.backends import end_sweep, make_backend, open_sweep_folder, sigterm_exits

    try:
        config, args = parse_args(argv)
        out = open_sweep_folder(args.out, run_format.VERSUS_FILE, config.model_dump(),
                                {"sb3_log_std_init": DEFAULT_LOG_STD}, "a head-to-head")
    except ConfigError as error:
        fail(error)
    runs = plan_runs(config, out)
    started = time.perf_counter()
    with sigterm_exits(), make_backend("local", workers=args.workers) as backend:
        done, failed = run_sweep(runs, backend, progress=not args.no_progress, execute=execute_run,
                                 trials=lambda r: (min(trials_evaluated(r), r.planned_trials),
                                                   r.planned_trials))
    write_failures(out, failed)
    runs_s = time.perf_counter() - started
    print(f"runs: {len(done)} done, {len(failed)} failed ({runs_s:.0f} s)")
    report = analyse_versus(out, list(config.agents), config.seed_list, config.all_budgets,
                            config.eval_every, config.criterion,
                            {run.key: run.directory for run in runs}, failed)
    return end_sweep(out, started, runs_s, report, failed)


if __name__ == "__main__":
    sys.exit(main())
