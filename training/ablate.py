"""Intact vs blocked dopamine across seeds: the lab's experiments in simulation, with their analyses.

``python -m training.ablate --out runs/ablate`` runs, for every seed, the five conditions of
:mod:`analysis.conditions` (intact; M1 dopamine blocked or at a partial gain in sessions 2-4; M1
dopamine blocked or the thalamic input silenced in experts).

The design is paired: every condition of a seed starts from the same shaped network (``block_2_4`` and
``partial_block`` fork from ``intact``'s checkpoint after shaping; the expert conditions fork from its
checkpoint after session ``expert_after``), and trial ``e`` of a seed gets the same env seed in every
condition. A difference between conditions of one seed is therefore the manipulation's, not luck's.

``--experiment dose-response`` and ``--experiment timing`` ask what the lab could not
(:mod:`analysis.experiments`): M1 dopamine at several gains in sessions 2-4 (``--doses``), or silenced
only within part of each trial (cue to lift, outcome to the end); each writes its table, figure and
report (:mod:`analysis.experiment_report`) instead of the lab's findings. ``--experiment robustness``
runs the lab's intact and block_2_4 conditions under variants of the training config (the learning rate,
the network's size and the exploration floor at half and twice their value) and judges findings 1 and 2
in each (:mod:`analysis.robustness_report`).

Runs go to ``DIR/runs/<condition>/seed_NN`` (robustness: ``DIR/runs/<variant>/<condition>/seed_NN``;
each a full training-run folder: TensorBoard, episodes.csv, activity, checkpoints; names in
:mod:`analysis.run_format`) in parallel on a process pool (``--backend local``, the default) or a Ray
cluster (``--backend ray``). A finished run leaves
``result.json`` and is skipped when the command is repeated; an interrupted one resumes from its newest
checkpoint; a failed one is reported (``failures.json``) and its forks are skipped, without stopping the
others. Then the analyses (:mod:`analysis`) write ``trials.csv``, ``evaluation.csv``,
``success_by_seed.csv``, ``summary.csv``, ``neural.csv``, the figures and ``report.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator
from tqdm import tqdm

from analysis import run_format
from analysis.conditions import BLOCK_SESSIONS, AblationDesign, Condition
from analysis.experiments import (
    DEFAULT_DOSES,
    ROBUSTNESS_CONDITIONS,
    Experiment,
    Variant,
    check_doses,
    experiment_arms,
    robustness_variants,
)
from training.config import (
    ConfigError,
    TrainConfig,
    build_config,
    build_from_sources,
    check_sections,
    check_workers,
    comma_list,
    fail,
    load_yaml,
    merge,
    sweep_parser,
)

#: The fields whose default differs by experiment (a field given in a file, by a flag or by ``--quick``
#: wins): robustness runs 5 seeds per variant (7 variants x 2 conditions: 70 runs), not the lab's 10.
EXPERIMENT_DEFAULTS: dict[str, dict[str, Any]] = {Experiment.ROBUSTNESS.value: {"seeds": 5}}


class AblationConfig(AblationDesign):
    """What the ablation runs: its design (:class:`analysis.conditions.AblationDesign`: seeds, sessions,
    trials per session, partial gain, expert fork and sessions) and how its runs are made.

    Each field's meaning is its docstring (``--help`` prints them).
    """

    batch: int = 32
    """trials run in parallel within one run."""
    activity_downsample: int = 2
    """control steps per recorded activity sample (2: 40 ms, about an imaging frame)."""
    eval_trials: int = 64
    """held-out trials of each evaluation of each run (``evaluation.csv``: noise off before session 1 and
    after every session); 64, the fewest that still give a success rate to about +-0.06 (one s.e. at 0.5),
    because a sweep evaluates 50 runs."""
    eval_noise_on_every_session: bool = True
    """evaluate with exploration noise too after every session (else only before session 1 and after each
    run's last); evaluations cost more than the training trials, so ``--quick`` leaves it off."""
    train: dict[str, Any] = Field(default_factory=dict)
    """overrides of the training config's sections (``agent``, ``pretraining``, ``env``), as in
    ``training.train``'s YAML files."""
    experiment: str = Experiment.LAB.value
    """``lab`` (the lab's conditions and findings), ``dose-response`` (M1 dopamine at each of ``doses``
    in sessions 2-4), ``timing`` (silenced from cue to lift, or from the outcome to the end, in
    sessions 2-4) or ``robustness`` (findings 1-2 with ``agent.policy_lr``, ``agent.n_cortex`` and
    ``agent.exploration_floor`` each at 0.5x and 2x; 5 seeds unless ``seeds`` is given); dose-response
    and timing run sessions 1-4 only, robustness intact for sessions 1-``expert_after`` and block_2_4
    for 1-4, so ``sessions`` and ``expert_sessions`` are the lab's alone."""
    doses: tuple[float, ...] = Field(default=DEFAULT_DOSES, strict=False)
    """the dopamine gains of ``dose-response`` (each in [0, 1]; dose 1, intact, is always run)."""

    @model_validator(mode="before")
    @classmethod
    def _experiment_defaults(cls, data: Any) -> Any:
        """Fill the fields not given with the experiment's own defaults (:data:`EXPERIMENT_DEFAULTS`)."""
        if isinstance(data, dict):
            data = {**EXPERIMENT_DEFAULTS.get(str(data.get("experiment")), {}), **data}
        return data

    @model_validator(mode="after")
    def _check(self) -> Self:
        for name in ("seeds", "sessions", "trials_per_session", "batch", "expert_after",
                     "expert_sessions", "activity_downsample", "eval_trials"):
            if getattr(self, name) < 1:
                raise ValueError(f"ablation.{name}={getattr(self, name)} must be >= 1")
        if self.first_seed < 0:
            raise ValueError(f"ablation.first_seed={self.first_seed} must be >= 0")
        if not 0 < self.partial_gain < 1:
            raise ValueError(f"ablation.partial_gain={self.partial_gain} must be strictly between 0 and 1")
        if self.sessions < BLOCK_SESSIONS[1] + 1:
            raise ValueError(f"ablation.sessions={self.sessions} must be >= {BLOCK_SESSIONS[1] + 1} so "
                             f"that learning after the block (sessions 2-4) can be seen")
        if self.expert_after + self.expert_sessions > self.sessions:
            raise ValueError(f"ablation.expert_after + expert_sessions = "
                             f"{self.expert_after + self.expert_sessions} must be <= sessions="
                             f"{self.sessions}: the expert conditions are compared with intact's same "
                             "sessions")
        if self.expert_after <= BLOCK_SESSIONS[1]:
            raise ValueError(f"ablation.expert_after={self.expert_after} must be after the block "
                             f"(session {BLOCK_SESSIONS[1]})")
        if self.experiment not in set(Experiment):
            raise ValueError(f"ablation.experiment={self.experiment!r} is not an experiment; known: "
                             f"{', '.join(e.value for e in Experiment)}")
        try:
            check_doses(self.doses)
        except ValueError as error:
            raise ValueError(f"ablation.doses: {error}") from None
        try:
            check_sections(self.train, allowed=("agent", "pretraining", "env"))
        except ConfigError as error:
            raise error.within("ablation.train") from None
        self.base_config("runs/check", 0)  # validates the training overrides now, naming the field
        if self.kind is Experiment.ROBUSTNESS:
            for variant in robustness_variants():  # and each variant's (a floor above the noise, ...)
                try:
                    self.base_config("runs/check", 0, train=self.variant_overrides(variant))
                except ConfigError as error:
                    raise error.within(f"robustness variant {variant.name} ({variant.path} "
                                       f"x{variant.factor:g})") from None
        return self

    @property
    def kind(self) -> Experiment:
        """The experiment, as its enum."""
        return Experiment(self.experiment)

    @property
    def design(self) -> AblationDesign:
        """The design alone, as the analyses take it."""
        return AblationDesign(**{name: getattr(self, name) for name in AblationDesign.model_fields})

    def base_config(self, out: str, seed: int, train: dict[str, Any] | None = None,
                    **protocol: Any) -> TrainConfig:
        """The training config of one run (no videos; checkpoints at session boundaries only); ``train``:
        overrides (``{section: {field: value}}``) over the sweep's ``train``."""
        overrides = merge(merge(self.train, train or {}), {
            # One env thread: the sweep already runs one run per core.
            "protocol": {"sessions": self.sessions, "trials_per_session": self.trials_per_session,
                         "batch": self.batch, "seed": seed, "eval_trials": self.eval_trials,
                         "env_threads": 1,
                         "eval_noise_on_every_session": self.eval_noise_on_every_session, **protocol},
            "output": {"out": out, "video": False, "checkpoint_every": 0, "histograms": False,
                       "activity_downsample": self.activity_downsample},
        })
        return build_config(overrides)

    def variant_overrides(self, variant: Variant) -> dict[str, dict[str, Any]]:
        """A robustness variant's overrides of the training config, over ``train``: its field at
        ``factor`` x the value the sweep's runs would otherwise have (``train``'s where it sets the field,
        else the training config's default), an integer field rounded (at least 1); none for the
        baseline."""
        if variant.is_baseline:
            return {}
        value = getattr(getattr(self.base_config("runs/check", 0), variant.section), variant.field)
        scaled = variant.factor * value
        if isinstance(value, int):
            scaled = max(1, round(scaled))
        return {variant.section: {variant.field: scaled}}


#: ``--quick``: the same conditions and figures in about 10 minutes on 2 cores.
QUICK = dict(seeds=3, sessions=8, trials_per_session=32, expert_after=7, expert_sessions=1,
             eval_noise_on_every_session=False)
#: ``--quick`` of the experiments beyond the lab: the same arms, 3 seeds, shorter sessions and evaluations.
QUICK_EXPERIMENT = dict(seeds=3, trials_per_session=32, eval_trials=32, eval_noise_on_every_session=False)
#: ``--quick`` of the robustness experiment: every variant, 2 seeds (28 runs).
QUICK_ROBUSTNESS = dict(QUICK_EXPERIMENT, seeds=2)


@dataclass(frozen=True)
class RunSpec:
    """One run of the sweep: a condition (or an experiment's arm) and seed, its config and where it
    starts."""

    condition: str
    seed: int
    config: TrainConfig
    parent: str | None = None  # key of the run it forks from
    fork_episode: int | None = None  # the parent's checkpoint (trials completed) it starts from

    @property
    def key(self) -> str:
        return run_format.run_key(self.condition, self.seed)

    @property
    def directory(self) -> Path:
        return Path(self.config.output.out)


def plan_runs(config: AblationConfig, out: Path) -> list[RunSpec]:
    """Every run of the sweep, parents before their forks."""
    if config.kind is Experiment.ROBUSTNESS:
        return plan_robustness(config, out)
    if config.kind is not Experiment.LAB:
        return plan_experiment(config, out)

    def run(condition: Condition, seed: int, parent: RunSpec | None) -> RunSpec:
        spec = condition.spec
        train = config.base_config(str(run_format.run_dir(out, condition, seed)), seed,
                                   sessions=spec.last_session(config), da_block=spec.dopamine_block(config),
                                   thalamus_block=spec.thalamus_block(config))
        if parent is None:
            return RunSpec(condition, seed, train)
        fork_episode = spec.fork_session(config) * config.trials_per_session
        return RunSpec(condition, seed, train, parent.key, fork_episode)

    specs = []
    for seed in config.seed_list:
        intact = run(Condition.INTACT, seed, None)
        specs += [intact] + [run(c, seed, intact) for c in Condition if c is not Condition.INTACT]
    return specs


def plan_experiment(config: AblationConfig, out: Path) -> list[RunSpec]:
    """The runs of an experiment beyond the lab: per seed its parent arm (intact dopamine), then the other
    arms, forked from the parent's checkpoint after the shaping; all last the block's sessions.

    Their analyses read the noise-off evaluations only, so noise on is evaluated before session 1 and
    after the last alone, whatever ``eval_noise_on_every_session`` says (it would double the cost)."""
    arms = experiment_arms(config.kind, config.doses)
    specs = []
    for seed in config.seed_list:
        parent = None
        for arm in arms:
            train = config.base_config(str(run_format.run_dir(out, arm.name, seed)), seed,
                                       sessions=BLOCK_SESSIONS[1], da_block=arm.da_block,
                                       da_window=arm.da_window, eval_noise_on_every_session=False)
            spec = (RunSpec(arm.name, seed, train) if parent is None
                    else RunSpec(arm.name, seed, train, parent.key, 0))
            parent = parent or spec
            specs.append(spec)
    return specs


def plan_robustness(config: AblationConfig, out: Path) -> list[RunSpec]:
    """The runs of the robustness experiment: per variant (:func:`analysis.experiments.robustness_variants`,
    its overrides over ``train``) and seed, intact for sessions 1-``expert_after`` (finding 1 reads the
    success after the last), then block_2_4 for the block's sessions (1-4, finding 2) forked from that
    intact run's checkpoint after the shaping. Folders ``runs/<variant>/<condition>/seed_SS``.

    As :func:`plan_experiment`, noise on is evaluated before session 1 and after the last alone (the
    findings read the noise-off evaluations)."""
    last = {Condition.INTACT: config.expert_after, Condition.BLOCK_2_4: BLOCK_SESSIONS[1]}
    specs = []
    for variant in robustness_variants():
        train = config.variant_overrides(variant)
        for seed in config.seed_list:
            parent = None
            for condition in ROBUSTNESS_CONDITIONS:  # intact, the parent, first
                key = variant.condition(condition)
                spec = condition.spec
                run = config.base_config(str(run_format.run_dir(out, key, seed)), seed, train=train,
                                         sessions=last[condition], da_block=spec.dopamine_block(config),
                                         thalamus_block=spec.thalamus_block(config),
                                         eval_noise_on_every_session=False)
                made = RunSpec(key, seed, run) if parent is None else RunSpec(key, seed, run, parent.key, 0)
                parent = parent or made
                specs.append(made)
    return specs


# --- one run (in a worker process) ------------------------------------------------------------------

def execute_run(spec: RunSpec, parent_dir: str | None) -> dict[str, Any]:
    """Train one run to its end (resuming or forking as needed); never raises.

    Returns ``{"key", "status": "done" | "failed", ...}``; a failure carries the error and traceback.
    """
    from training.checkpoint import checkpoint_path, newest_checkpoint
    from training.train import Trainer

    started = time.perf_counter()
    try:
        directory = spec.directory
        own = newest_checkpoint(directory / run_format.CHECKPOINT_DIR)
        fork_from = None
        if own is None and spec.parent is not None:
            fork_from = checkpoint_path(Path(parent_dir) / run_format.CHECKPOINT_DIR, spec.fork_episode)
            if not fork_from.exists():
                raise FileNotFoundError(f"parent run {spec.parent} has no checkpoint {fork_from.name}")
        trainer = Trainer(spec.config, resume=own is not None, fork_from=fork_from)
        trainer.train(progress=False)
        result = {"key": spec.key, "condition": spec.condition, "seed": spec.seed, "status": "done",
                  "forked_from": f"{spec.parent}@{spec.fork_episode}" if spec.parent else None,
                  "resumed_from": own.name if own else None,
                  "pretraining": trainer.run.pretraining_figures,
                  "wall_s": round(time.perf_counter() - started, 1)}
        run_format.write_result(directory, result)
        return result
    except BaseException as error:  # noqa: BLE001 - a worker reports every failure instead of dying
        return {"key": spec.key, "condition": spec.condition, "seed": spec.seed, "status": "failed",
                "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(),
                "wall_s": round(time.perf_counter() - started, 1)}


def finished_result(spec: RunSpec) -> dict[str, Any] | None:
    """The saved result of a run that completed earlier (None if it did not)."""
    return run_format.read_result(spec.directory)


def trials_done(spec: RunSpec) -> int:
    """Trials logged so far by a run (rows of its episodes.csv), for the progress bar."""
    path = spec.directory / run_format.EPISODES_FILE
    try:
        with open(path, "rb") as f:
            return max(sum(1 for _ in f) - 1, 0)
    except OSError:
        return 0


def planned_trials(spec: RunSpec) -> int:
    return spec.config.protocol.total_trials - (spec.fork_episode or 0)


# --- the sweep --------------------------------------------------------------------------------------


def run_sweep(specs: list, backend, progress: bool = True,
              execute: Callable[[Any, str | None], dict[str, Any]] | None = None,
              trials: Callable[[Any], tuple[int, int]] | None = None,
              ) -> tuple[dict[str, dict], dict[str, dict]]:
    """Run every spec whose result is missing, forks after their parents; returns (done, failed).

    A run whose parent failed is not started and is reported as failed with the reason. ``specs`` are
    :class:`RunSpec` (run by :func:`execute_run`) or any runs with the same ``key``, ``parent``,
    ``directory``, ``condition`` and ``seed``, run by ``execute(spec, parent_dir)`` (a picklable function
    that never raises); ``trials(spec)`` gives a run's (trials done, trials planned) for the progress bar.
    """
    execute = execute or execute_run
    trials = trials or (lambda s: (min(trials_done(s), planned_trials(s)), planned_trials(s)))
    by_key = {s.key: s for s in specs}
    done: dict[str, dict] = {}
    failed: dict[str, dict] = {}
    for spec in specs:
        result = finished_result(spec)
        if result is not None:
            done[spec.key] = result
    todo = [s for s in specs if s.key not in done]
    waiting = list(todo)
    skipped = len(done)
    # Trials a resumed run had logged before this call (a fork's log starts empty).
    base = {s.key: trials(s)[0] for s in todo}
    total = sum(trials(s)[1] - base[s.key] for s in todo)
    bar = tqdm(total=total, unit="trial", disable=not progress or not waiting,
               desc=f"{len(waiting)} runs ({skipped} already done)")
    running: dict[Any, RunSpec] = {}

    def progress_now() -> int:
        return sum(max(trials(s)[0] - base[s.key], 0) for s in todo)

    try:
        while waiting or running:
            for spec in list(waiting):
                if spec.parent is None or spec.parent in done:
                    parent_dir = str(by_key[spec.parent].directory) if spec.parent else None
                    running[backend.submit(execute, spec, parent_dir)] = spec
                    waiting.remove(spec)
                elif spec.parent in failed:
                    failed[spec.key] = {"key": spec.key, "condition": spec.condition, "seed": spec.seed,
                                        "status": "failed",
                                        "error": f"not run: the run it forks from ({spec.parent}) failed"}
                    waiting.remove(spec)
            for handle, result in backend.wait(list(running), timeout=2.0):
                spec = running.pop(handle)
                (done if result.get("status") == "done" else failed)[spec.key] = result
                if result.get("status") != "done":
                    tqdm.write(f"run {spec.key} failed: {result.get('error')}", file=sys.stderr)
            bar.n = progress_now()
            bar.set_postfix(in_flight=len(running), failed=len(failed))
            bar.refresh()
    finally:
        bar.close()
    return done, failed


def write_failures(out: Path, failed: dict[str, dict]) -> None:
    path = out / run_format.FAILURES_FILE
    if failed:
        path.write_text(json.dumps(list(failed.values()), indent=1))
    elif path.exists():
        path.unlink()


# --- command line -----------------------------------------------------------------------------------


#: The named flags that set AblationConfig fields.
_FIELD_FLAGS = ("seeds", "first_seed", "sessions", "trials_per_session", "partial_gain", "experiment",
                "doses")


def parse_args(argv: list[str] | None = None) -> tuple[AblationConfig, argparse.Namespace]:
    """Command line -> (config, options). Flags override ``--config FILE.yaml`` and ``--quick``.

    Raises:
        ConfigError: one line naming the file or flag and the field.
    """
    parser = sweep_parser("python -m training.ablate", __doc__.splitlines()[0], "ablation", AblationConfig,
                          "runs/ablate", "runs, tables, figures, report",
                          "number of seeds (default 10; robustness: 5 per variant)")
    parser.add_argument("--experiment", metavar="NAME",
                        help="lab (default: the lab's conditions and findings), dose-response (M1 dopamine "
                             "gain in sessions 2-4 at each of --doses), timing (silenced from cue to "
                             "lift, or from the outcome to the trial's end, in sessions 2-4) or robustness "
                             "(findings 1-2 with the learning rate, network size and exploration floor "
                             "each halved and doubled)")
    parser.add_argument("--doses", metavar="G,G,...",
                        help="dopamine gains of --experiment dose-response, each in [0, 1] "
                             f"(default {','.join(f'{d:g}' for d in DEFAULT_DOSES)}; 1 is always run)")
    parser.add_argument("--quick", action="store_true",
                        help="lab: 3 seeds, 8 sessions of 32 trials, expert manipulations in session 8, "
                             "about 10 minutes; dose-response and timing: 3 seeds, sessions of 32 trials; "
                             "robustness: 2 seeds, sessions of 32 trials")
    parser.add_argument("--sessions", type=int, help="sessions of the full-length conditions (default 10)")
    parser.add_argument("--trials-per-session", type=int)
    parser.add_argument("--partial-gain", type=float, help="dopamine gain of partial_block (default 0.5)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="where the runs go: --workers local processes, or a Ray cluster")
    parser.add_argument("--ray-address", default=None,
                        help="Ray cluster address for ray.init (default: start or join a local one); "
                             "--out must be on a filesystem every node sees")
    args = parser.parse_args(argv)
    check_workers(args)
    args.doses = comma_list(args.doses, "--doses", float, "0,0.5,1")
    experiment = args.experiment
    if experiment is None and args.config:
        experiment = load_yaml(args.config).get("experiment")
    quick = {None: QUICK, Experiment.LAB.value: QUICK,
             Experiment.ROBUSTNESS.value: QUICK_ROBUSTNESS}.get(experiment, QUICK_EXPERIMENT)
    return build_from_sources(AblationConfig, "ablation", quick if args.quick else {}, args.config,
                              {name: getattr(args, name) for name in _FIELD_FLAGS}), args


def main(argv: list[str] | None = None) -> int:
    from analysis.ablation_report import analyse_ablation
    from analysis.experiment_report import analyse_experiment
    from analysis.robustness_report import analyse_robustness
    from training.backends import end_sweep, make_backend, open_sweep_folder, sigterm_exits

    try:
        config, args = parse_args(argv)
        out = open_sweep_folder(args.out, run_format.ABLATION_FILE, config.model_dump(),
                                {"experiment": Experiment.LAB.value, "doses": list(DEFAULT_DOSES)},
                                "an ablation")
    except ConfigError as error:
        fail(error)
    specs = plan_runs(config, out)
    started = time.perf_counter()
    with sigterm_exits():
        with make_backend(args.backend, workers=args.workers, address=args.ray_address) as backend:
            done, failed = run_sweep(specs, backend, progress=not args.no_progress)
            write_failures(out, failed)
            runs_s = time.perf_counter() - started
            print(f"runs: {len(done)} done, {len(failed)} failed ({runs_s:.0f} s)")
            if config.kind is Experiment.LAB:
                report = analyse_ablation(out, config, specs, failed, backend, progress=not args.no_progress)
            elif config.kind is Experiment.ROBUSTNESS:
                report = analyse_robustness(out, robustness_variants(), config.seed_list, config.expert_after,
                                            specs, failed, config.trials_per_session)
            else:
                report = analyse_experiment(out, config.kind, experiment_arms(config.kind, config.doses),
                                            config.seed_list, specs, failed, config.trials_per_session)
    return end_sweep(out, started, runs_s, report, failed)


if __name__ == "__main__":
    sys.exit(main())
