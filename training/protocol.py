"""The lab's protocol in simulation: shaping, then sessions of trials with scheduled silencing.

``run_protocol`` builds the env copies, the circuit and the learner from their configs, pre-trains
(the shaping that precedes imaging), then runs ``sessions x trials_per_session`` trials in batches that
never straddle a session, and hands every batch to the caller's callback (logging, recording,
checkpoints). Every random source derives from ``ProtocolConfig.seed``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import DopamineChannel, SilencingSchedule
from agents.pretraining import PretrainingConfig, pretrain
from agents.three_factor import BatchRecord, ThreeFactorLearner
from reach_env import MousePelletReachEnv


@dataclass(frozen=True)
class ProtocolConfig:
    """Sessions, silencing schedules and seed of one run.

    Attributes:
        sessions: number of sessions.
        trials_per_session: trials (episodes) per session.
        batch: trials run in parallel through one network call (the last batch of a session may be
            smaller, so that no batch spans two sessions).
        da_block: M1 dopamine silencing by session and/or episode range: ``"2-4"`` (sessions,
            1-based, inclusive), ``"e100-179"`` (episodes, 0-based, inclusive), several joined by commas,
            ``:g`` after a range = partial block with gain g, e.g. ``"2-4:0.3,e500-520"``. Empty: intact.
        thalamus_block: thalamic-input silencing, same form.
        seed: seeds the network, the exploration noise, the env resets and pre-training.
        torch_threads: intra-op threads for torch (1 is fastest for these small networks).
    """

    sessions: int = 7
    trials_per_session: int = 64
    batch: int = 32
    da_block: str = ""
    thalamus_block: str = ""
    seed: int = 0
    torch_threads: int = 1

    def __post_init__(self) -> None:
        for name in ("sessions", "trials_per_session", "batch", "torch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"protocol.{name}={getattr(self, name)} must be >= 1")
        if self.seed < 0:
            raise ValueError(f"protocol.seed={self.seed} must be >= 0")
        for name in ("da_block", "thalamus_block"):
            self._schedule(name)  # raises naming the bad range

    def _schedule(self, name: str) -> SilencingSchedule:
        try:
            return SilencingSchedule.parse(getattr(self, name), self.trials_per_session, self.total_trials)
        except ValueError as error:
            raise ValueError(f"protocol.{name}: {error}") from None

    @property
    def total_trials(self) -> int:
        return self.sessions * self.trials_per_session

    def dopamine_schedule(self) -> SilencingSchedule:
        return self._schedule("da_block")

    def thalamus_schedule(self) -> SilencingSchedule:
        return self._schedule("thalamus_block")

    def session_of(self, episode: int) -> int:
        """1-based session of a 0-based episode."""
        return episode // self.trials_per_session + 1

    def env_seed(self, episode: int) -> int:
        """Seed of the env reset of protocol episode ``episode``."""
        return self.seed * 10_000_000 + episode


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
              pretraining: PretrainingConfig | None = None, **env_kwargs) -> Run:
    """Construct envs, circuit and learner for ``config`` (no training yet)."""
    agent = agent or AgentConfig()
    pretraining = pretraining or PretrainingConfig()
    torch.set_num_threads(config.torch_threads)
    seed_everything(config.seed)
    envs = [MousePelletReachEnv(**env_kwargs) for _ in range(config.batch)]
    circuit = CorticalCircuit(agent, envs[0].control_timestep, seed=config.seed)
    learner = ThreeFactorLearner(circuit, agent, DopamineChannel(config.dopamine_schedule()),
                                 config.thalamus_schedule(), seed=config.seed)
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


def success_by_session(records: list[tuple[int, bool]], sessions: int) -> list[float]:
    """Success rate per 1-based session from ``(session, success)`` pairs (NaN if empty)."""
    rates = []
    for s in range(1, sessions + 1):
        hits = [ok for session, ok in records if session == s]
        rates.append(float(np.mean(hits)) if hits else math.nan)
    return rates
