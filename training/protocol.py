"""The lab's protocol in simulation: shaping, then sessions of trials with scheduled silencing.

``run_protocol`` builds the env copies, the circuit and the learner from their configs, pre-trains
(the shaping that precedes imaging), then runs ``sessions x trials_per_session`` trials in batches that
never straddle a session, and hands every batch to the caller's callback (logging, recording,
checkpoints). Every random source derives from ``ProtocolConfig.seed``.

``evaluate`` measures the success rate of a run's current network on held-out trials: env seeds that
the protocol never uses (``ProtocolConfig.eval_seed``), the same ones at every evaluation, without
learning, with the exploration noise off or on. It leaves the run exactly as it found it: no weight,
optimiser state or random generator the protocol draws from changes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import torch
from pydantic import model_validator

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig, ConfigSection
from agents.dopamine import DopamineChannel, DopamineWindow, SilencingSchedule
from agents.pretraining import PretrainingConfig, pretrain
from agents.three_factor import BatchRecord, ThreeFactorLearner
from reach_env import ENV_ID_V1, MousePelletReachEnv, make_env

#: Evaluation seeds of protocol seed s start at (s + 1) * _EVAL_SEED_STRIDE (see ProtocolConfig.eval_seed).
_EVAL_SEED_STRIDE = 2**64


class ProtocolConfig(ConfigSection):
    """Sessions, silencing schedules and seed of one run.

    Each field's meaning is its docstring (``--help`` prints them)."""

    sessions: int = 7
    """number of sessions."""
    trials_per_session: int = 64
    """trials (episodes) per session."""
    batch: int = 32
    """trials run in parallel through one network call (the last batch of a session may be smaller, so
    that no batch spans two sessions)."""
    da_block: str = ""
    """M1 dopamine silencing by session and/or episode range: ``"2-4"`` (sessions, 1-based, inclusive),
    ``"e100-179"`` (episodes, 0-based, inclusive), several joined by commas, ``:g`` after a range =
    partial block with gain g, e.g. ``"2-4:0.3,e500-520"``. Empty: intact."""
    da_window: str = ""
    """the part of each trial that ``da_block``'s silencing covers: ``"cue"`` (cue onset to lift),
    ``"outcome"`` (outcome to the trial's end) or ``"START:END"`` (seconds from the cue onset, e.g.
    ``"0.0:0.5"``); outside it M1 gets all its dopamine. It applies in the episodes ``da_block`` selects
    (every episode, fully silenced inside the window, if ``da_block`` is empty). Empty: the whole
    trial."""
    thalamus_block: str = ""
    """thalamic-input silencing, same form as ``da_block``."""
    seed: int = 0
    """seeds the network, the exploration noise, the env resets and pre-training."""
    torch_threads: int = 1
    """intra-op threads for torch (1 is fastest for these small networks)."""
    env_threads: int = 2
    """threads that step a batch's envs: MuJoCo releases the GIL while it integrates, so 2 uses both cores
    of a laptop for one run (training 1.2-1.35x faster on the 2-core development machine,
    ``benchmarks/train_throughput.py``); the trials are the same whatever the number. A sweep, which runs
    one run per core, sets 1."""
    eval_trials: int = 128
    """held-out trials of every evaluation (``evaluation.csv``): the env seeds ``eval_seed(0) ..
    eval_seed(eval_trials - 1)``, the same at every evaluation."""
    eval_noise_on_every_session: bool = False
    """also evaluate with exploration noise after every session (by default only before session 1 and
    after the last; noise off is evaluated at all of them)."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        for name in ("sessions", "trials_per_session", "batch", "torch_threads", "env_threads",
                     "eval_trials"):
            if getattr(self, name) < 1:
                raise ValueError(f"protocol.{name}={getattr(self, name)} must be >= 1")
        if self.seed < 0:
            raise ValueError(f"protocol.seed={self.seed} must be >= 0")
        for name in ("da_block", "thalamus_block"):
            self._schedule(name)  # raises naming the bad range
        self.dopamine_window()
        return self

    def dopamine_window(self) -> DopamineWindow | None:
        """``da_window`` parsed (None: the whole trial)."""
        try:
            return DopamineWindow.parse(self.da_window)
        except ValueError as error:
            raise ValueError(f"protocol.da_window: {error}") from None

    def _schedule(self, name: str) -> SilencingSchedule:
        try:
            return SilencingSchedule.parse(getattr(self, name), self.trials_per_session, self.total_trials)
        except ValueError as error:
            raise ValueError(f"protocol.{name}: {error}") from None

    @property
    def total_trials(self) -> int:
        return self.sessions * self.trials_per_session

    def dopamine_schedule(self) -> SilencingSchedule:
        """M1 dopamine's gain per episode; with ``da_window`` and no ``da_block``, 0 in every episode (the
        window is then silenced throughout the protocol)."""
        if self.da_window and not self.da_block:
            return SilencingSchedule([(0, self.total_trials - 1, 0.0)])
        return self._schedule("da_block")

    def thalamus_schedule(self) -> SilencingSchedule:
        return self._schedule("thalamus_block")

    def session_of(self, episode: int) -> int:
        """1-based session of a 0-based episode."""
        return episode // self.trials_per_session + 1

    def env_seed(self, episode: int) -> int:
        """Seed of the env reset of protocol episode ``episode``."""
        return self.seed * 10_000_000 + episode

    def eval_seed(self, trial: int) -> int:
        """Seed of the env reset of held-out evaluation trial ``trial`` (0-based).

        ``(seed + 1) * 2**64 + trial``: at least ``2**64``, above every seed the protocol uses
        (:meth:`env_seed`, the critic warm-up's ``seed * 10_000_000 + 9_000_000 + k`` and the
        demonstrations' ``seed * 100_000 + i``, all below ``(seed + 1) * 10_000_000`` for any
        protocol shorter than 9 million trials), so no evaluation trial ever repeats a trial the
        network trained on; and each seed has its own evaluation set. (Gymnasium seeds envs through
        NumPy's ``SeedSequence``, which takes integers of any size.)
        """
        if trial < 0:
            raise ValueError(f"evaluation trial {trial} must be >= 0")
        return (self.seed + 1) * _EVAL_SEED_STRIDE + trial

    def probe_seed(self, trial: int) -> int:
        """Seed of the env reset of thalamic-probe trial ``trial`` (0-based): a stream of its own,
        ``(seed + 1) * 2**64 + 2**62 + trial``, apart from the evaluation trials and the protocol's."""
        if trial < 0:
            raise ValueError(f"probe trial {trial} must be >= 0")
        return (self.seed + 1) * _EVAL_SEED_STRIDE + 2**62 + trial

    @property
    def eval_noise_seed(self) -> int:
        """Seed of the exploration noise of evaluations with noise on: its own generator, seeded
        afresh at every evaluation, never the learner's (``seed``; this one differs from it by
        ``2**63`` modulo ``2**64``)."""
        return (self.seed + 2**63) % 2**64

    def evaluations_after(self, session: int) -> tuple[str, ...]:
        """Noise conditions (``"off"``, ``"on"``) evaluated once ``session`` sessions are complete
        (0: before session 1, after the shaping): noise off always; noise on before session 1,
        after the last session and, with ``eval_noise_on_every_session``, after every session."""
        if session == 0 or session == self.sessions or self.eval_noise_on_every_session:
            return ("off", "on")
        return ("off",)


class NonFiniteWeightsError(RuntimeError):
    """A batch (or the shaping) left a weight NaN or infinite: the run cannot go on."""


def check_finite(run: Run, what: str) -> None:
    """Raise :class:`NonFiniteWeightsError` naming ``what`` and the parameters, if any weight of the
    circuit is not finite (before anything downstream, such as a checkpoint, sees it)."""
    bad = run.circuit.non_finite()
    if bad:
        raise NonFiniteWeightsError(f"{what} made {', '.join(bad)} non-finite (NaN or inf)")


@dataclass
class Run:
    """A protocol run's live objects (what a checkpoint saves)."""

    config: ProtocolConfig
    agent: AgentConfig
    pretraining: PretrainingConfig
    envs: list[MousePelletReachEnv]
    circuit: CorticalCircuit
    learner: ThreeFactorLearner
    episode: int = 0  # trials completed
    film: list[int] = field(default_factory=list)  # batch indices of the next batch to film
    film_stride: int = 1  # control steps per filmed frame
    pretraining_figures: dict[str, float] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (the code itself uses explicit ones)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - for third-party code that draws from the global RNG
    torch.manual_seed(seed)


def build_run(config: ProtocolConfig, agent: AgentConfig | None = None,
              pretraining: PretrainingConfig | None = None, env_id: str = ENV_ID_V1, **env_kwargs) -> Run:
    """Construct envs (task version ``env_id``, its registered arguments updated with ``env_kwargs``),
    circuit and learner for ``config`` (no training yet)."""
    agent = agent or AgentConfig()
    pretraining = pretraining or PretrainingConfig()
    torch.set_num_threads(config.torch_threads)
    seed_everything(config.seed)
    envs = [make_env(env_id, **env_kwargs) for _ in range(config.batch)]
    circuit = CorticalCircuit(agent, envs[0].control_timestep, seed=config.seed)
    learner = ThreeFactorLearner(circuit, agent,
                                 DopamineChannel(config.dopamine_schedule(), config.dopamine_window()),
                                 config.thalamus_schedule(), seed=config.seed,
                                 env_threads=config.env_threads)
    return Run(config, agent, pretraining, envs, circuit, learner)


def run_protocol(run: Run, on_batch: Callable[[Run, BatchRecord, list[int]], None] | None = None,
                 pretrain_first: bool = True, progress: bool = False,
                 stop_at: int | None = None) -> None:
    """Pre-train (if ``pretrain_first`` and nothing ran yet), then run trials up to ``stop_at``.

    Args:
        run: from :func:`build_run` (or restored from a checkpoint; ``run.episode`` says where).
        on_batch: called after every batch with the run, its record and the trials' sessions.
        pretrain_first: do the shaping phase before episode 0.
        progress: progress bars for pre-training.
        stop_at: episode to stop at (default: the end of the protocol).
    """
    config = run.config
    end = config.total_trials if stop_at is None else min(stop_at, config.total_trials)
    if pretrain_first and run.episode == 0 and not run.pretraining_figures:
        run.pretraining_figures = pretrain(run.learner, run.envs, run.pretraining, config.seed,
                                           progress=progress)
        check_finite(run, "shaping (pre-training)")
    while run.episode < end:
        first = run.episode
        session_end = config.session_of(first) * config.trials_per_session
        size = min(config.batch, session_end - first, end - first)
        episodes = list(range(first, first + size))
        record = run.learner.run_trials(run.envs[:size], episodes,
                                        [config.env_seed(e) for e in episodes],
                                        film=[b for b in run.film if b < size], film_stride=run.film_stride)
        check_finite(run, f"the batch of episodes {first}-{first + size - 1} "
                          f"(session {config.session_of(first)})")
        run.episode += size
        if on_batch is not None:
            on_batch(run, record, [config.session_of(e) for e in episodes])


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation: ``successes`` of ``trials`` held-out trials, noise off or on, with
    the thalamic input at ``thalamus_gain`` (0: silenced); ``early_errors`` of them ended with the paw
    lifted before the cue, and ``precue_rise`` is the trials' mean of the palm's highest rise above
    rest until the cue (m; the env's ``precue_rise``: how near the waiting paw comes to an early error,
    the env's ``lift_height``)."""

    noise: str
    trials: int
    successes: int
    early_errors: int
    precue_rise: float
    thalamus_gain: float = 1.0

    @property
    def success(self) -> float:
        return self.successes / self.trials


def evaluate(run: Run, noise: str = "off", trials: int | None = None, episode: int = -1) -> Evaluation:
    """Success of ``run``'s current network on held-out trials, leaving ``run`` unchanged.

    The trials reset with ``run.config.eval_seed(0) .. eval_seed(trials - 1)`` (the same at every
    evaluation) and run in batches of ``run.config.batch`` through ``run.envs``, without learning, with
    the thalamic input as the thalamus schedule has it at protocol episode ``episode`` (the default -1
    lies outside every schedule: intact; the trainer passes the last episode run, so that an animal
    whose thalamus is silenced in a session is evaluated silenced after it). With ``noise="on"`` the
    cortex acts with its exploration noise, drawn from a generator seeded with
    ``run.config.eval_noise_seed`` afresh at every evaluation, never from the learner's; with
    ``"off"`` it acts with its mean excitation. The learner's generator and the global Python, NumPy
    and torch generators are restored afterwards, so evaluating changes nothing that the protocol
    draws from.

    Args:
        run: a built (and possibly trained or restored) run.
        noise: ``"off"`` or ``"on"``.
        trials: held-out trials (default ``run.config.eval_trials``).
        episode: the protocol episode whose thalamic gain the evaluation uses.
    """
    if noise not in ("off", "on"):
        raise ValueError(f"noise={noise!r} must be 'off' or 'on'")
    config, learner = run.config, run.learner
    count = config.eval_trials if trials is None else trials
    if count < 1:
        raise ValueError(f"evaluation trials={count} must be >= 1")
    saved_generator = learner.generator
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002 - restored
    torch_state = torch.get_rng_state()
    learner.generator = torch.Generator().manual_seed(config.eval_noise_seed)
    successes, early_errors, rises = 0, 0, []
    try:
        with torch.no_grad():
            for first in range(0, count, config.batch):
                size = min(config.batch, count - first)
                record = learner.run_trials(run.envs[:size], [episode] * size,
                                            [config.eval_seed(k) for k in range(first, first + size)],
                                            learn=False, explore=noise == "on")
                successes += sum(bool(s.success) for s in record.summaries)
                early_errors += sum(bool(s.lift_before_cue) for s in record.summaries)
                rises.extend(s.precue_rise for s in record.summaries)
    finally:
        learner.generator = saved_generator
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        torch.set_rng_state(torch_state)
    return Evaluation(noise, count, successes, early_errors, float(np.mean(rises)),
                      float(learner.thalamus.gains([episode])[0]))


def success_by_session(records: list[tuple[int, bool]], sessions: int) -> list[float]:
    """Success rate per 1-based session from ``(session, success)`` pairs (NaN if empty)."""
    rates = []
    for s in range(1, sessions + 1):
        hits = [ok for session, ok in records if session == s]
        rates.append(float(np.mean(hits)) if hits else math.nan)
    return rates
