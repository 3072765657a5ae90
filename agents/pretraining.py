"""Pre-training that stands for the lab's shaping before imaging.

Mice are shaped before the imaged sessions begin: they already lift, reach and grab, poorly. The
model's counterpart is behaviour cloning of the scripted controller (:mod:`reach_env.scripted`),
executed with exploration noise so that the demonstrations also show recoveries, and stopped early so
that the network is able but far from expert. It trains the dopamine-gated cortical weights
(thalamocortical, recurrent, read-out) by supervised regression, without dopamine: gating applies to
the protocol that follows, not to this phase. The critic is then warmed up on the cloned policy's
own trials with M1 dopamine blocked, so that the first imaged session starts with a sensible value
estimate.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Self

import numpy as np
import torch
from pydantic import model_validator
from tqdm import tqdm

from agents.circuit import CorticalCircuit
from agents.config import ConfigSection
from agents.three_factor import ThreeFactorLearner
from reach_env import MousePelletReachEnv
from reach_env.scripted import ScriptedReachController, Stage


@dataclass
class Demonstrations:
    """Scripted trials, padded to the longest: observations (N, T, 69), the controller's clean
    excitations (N, T, 15), a validity mask (N, T) and the steps where the controller still waits for
    its go time, cue onset plus reaction time (N, T)."""

    observations: np.ndarray
    actions: np.ndarray
    valid: np.ndarray
    success_rate: float
    waiting: np.ndarray


def collect_demonstrations(n_trials: int, seed: int, noise_std: float = 0.05, noise_tau: float = 0.05,
                           progress: bool = True, reaction_time: float = 0.0,
                           **env_kwargs) -> Demonstrations:
    """Run the scripted controller with low-pass filtered noise added to its excitations.

    Args:
        n_trials: number of trials.
        seed: seeds the env resets (``seed * 100_000 + i``) and the noise.
        noise_std: standard deviation of the added excitation noise.
        noise_tau: time constant (s) of the noise.
        progress: show a progress bar.
        reaction_time: the controller's delay (s) from the cue to the lift.
        **env_kwargs: passed to :class:`MousePelletReachEnv`.
    """
    env = MousePelletReachEnv(**env_kwargs)
    controller = ScriptedReachController(env, reaction_time=reaction_time)
    rng = np.random.default_rng(seed)
    decay = math.exp(-env.control_timestep / noise_tau) if noise_tau > 0 else 0.0
    trials, successes = [], 0
    for i in tqdm(range(n_trials), desc="demonstrations", disable=not progress):
        obs, _ = env.reset(seed=seed * 100_000 + i)
        controller.reset()
        noise = np.zeros(env.action_space.shape)
        observations, actions, waiting, done = [], [], [], False
        while not done:
            clean = controller(obs)
            waiting.append(controller.stage == Stage.WAIT)
            noise = decay * noise + math.sqrt(1 - decay ** 2) * noise_std * rng.standard_normal(noise.shape)
            observations.append(obs)
            actions.append(clean)
            obs, _, terminated, truncated, info = env.step(np.clip(clean + noise, 0.0, 1.0))
            done = terminated or truncated
        successes += bool(info["is_success"])
        trials.append((np.array(observations), np.array(actions), np.array(waiting)))
    env.close()
    length = max(len(o) for o, _, _ in trials)
    obs_arr = np.zeros((n_trials, length, trials[0][0].shape[1]), np.float32)
    act_arr = np.zeros((n_trials, length, trials[0][1].shape[1]), np.float32)
    valid = np.zeros((n_trials, length), bool)
    wait_arr = np.zeros((n_trials, length), bool)
    for i, (o, a, w) in enumerate(trials):
        obs_arr[i, :len(o)], act_arr[i, :len(a)], valid[i, :len(o)] = o, a, True
        wait_arr[i, :len(w)] = w
    return Demonstrations(obs_arr, act_arr, valid, successes / n_trials, wait_arr)


class Check(enum.Enum):
    """What a shaping check says about the network cloned so far."""

    CONTINUE = "continue"  # not yet able: keep cloning
    STOP = "stop"  # at criterion: shaping ends here
    TOO_FAR = "too far"  # past the criterion's range: go back to the last check, check more often


def behaviour_clone(circuit: CorticalCircuit, demos: Demonstrations, updates: int, seed: int,
                    batch: int = 32, lr: float = 1e-3, progress: bool = True,
                    check: Callable[[], Check] | None = None, check_every: int = 10,
                    waiting_weight: float = 1.0, rate_penalty: float = 0.0) -> list[float]:
    """Regress the cortex's mean excitation onto the demonstrations (teacher-forced observations).

    Trains only :meth:`CorticalCircuit.cortical_parameters`. Each step's squared error counts once,
    a step where the demonstrator still waits for its go time ``waiting_weight`` times (the loss is
    normalised by the summed weights). ``rate_penalty`` adds that multiple of the mean squared cortical
    rate (same step weights): without it, cloning buys its fit with saturated units (|rate| near 1) that
    leave learning no room (the rate regulariser of RNN models of motor cortex, Sussillo et al. 2015).

    With ``check``, asks it after every ``check_every`` updates and ends as soon as it answers
    :attr:`Check.STOP`. At :attr:`Check.TOO_FAR` the network and the optimiser go back to where they
    were at the previous check (or the start) and cloning goes on from there with checks twice as
    often, so that a network that crosses the criterion's range between two checks is caught inside
    it; with checks after every update, TOO_FAR ends cloning as STOP does. At most ``updates`` updates
    are made in all, those undone included. Returns the loss of every update kept.
    """
    params = [p for p in circuit.cortical_parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    observations = torch.as_tensor(demos.observations)
    actions = torch.as_tensor(demos.actions)
    valid = torch.as_tensor(demos.valid, dtype=torch.float32)
    weight = valid * torch.where(torch.as_tensor(demos.waiting), waiting_weight, 1.0)
    n_trials, length = valid.shape
    ones = torch.ones(min(batch, n_trials))
    losses: list[float] = []
    interval = check_every
    saved = (copy.deepcopy(circuit.state_dict()), copy.deepcopy(optimizer.state_dict()), 0)
    since_check = 0
    # The shaping's own bar, in cloning updates (the trainer's bar counts protocol trials only).
    bar = tqdm(range(updates), desc="shaping", unit="update", disable=not progress)
    for _ in bar:
        pick = torch.randperm(n_trials, generator=generator)[:len(ones)]
        state = circuit.initial_state(len(pick))
        x, efference, s1_pending = state.x, state.efference, state.s1_pending
        loss = torch.zeros(())
        for t in range(length):
            inputs, _ = circuit.sense(observations[pick, t], efference, ones)
            inputs, s1_pending = circuit.delay_s1(inputs, s1_pending)
            x, rates, mean = circuit.cortex(x, inputs, circuit.draw_neural_noise(len(pick), generator))
            # Teacher forcing: the forward model's efference copy is the demonstrator's command.
            efference = actions[pick, t]
            error = ((mean - actions[pick, t]) ** 2).mean(-1)
            if rate_penalty:
                error = error + rate_penalty * (rates ** 2).mean(-1)
            loss = loss + (error * weight[pick, t]).sum()
        loss = loss / weight[pick].sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
        since_check += 1
        if check is None or since_check < interval:
            continue
        since_check = 0
        verdict = check()
        if verdict is Check.STOP or (verdict is Check.TOO_FAR and interval == 1):
            break
        if verdict is Check.TOO_FAR:
            circuit_state, optimizer_state, kept = saved
            circuit.load_state_dict(circuit_state)
            optimizer.load_state_dict(optimizer_state)
            del losses[kept:]
            interval = max(1, interval // 2)
        else:
            saved = (copy.deepcopy(circuit.state_dict()), copy.deepcopy(optimizer.state_dict()),
                     len(losses))
    bar.close()  # an early stop leaves the loop by `break`, which does not close it
    return losses


class PretrainingConfig(ConfigSection):
    """How much shaping precedes the protocol.

    Each field's meaning is its docstring (``--help`` prints them)."""

    demonstrations: int = 256
    """scripted trials to clone."""
    demonstration_noise: float = 0.05
    """excitation noise in the demonstrations (shows recoveries)."""
    updates: int = 600
    """most behaviour-cloning updates (cloning to the end hands over the whole skill)."""
    stop_success: float | None = 0.1
    """shaping ends at the first check where the cloned network, acting with its exploration noise,
    succeeds in at least this share of the check trials: the lab's criterion-based end of pre-training, a
    mouse that succeeds now and then (None: always make ``updates`` updates)."""
    stop_precue_lift: float = 0.05
    """and at most this share of the check trials lift the paw before the cue (a mouse that waits for the
    tone)."""
    stop_success_max: float | None = 0.3
    """a check with more successes than this share went past the criterion (the network can cross from
    "never" to "often" between two checks): cloning goes back to the previous check and checks twice as
    often (None: no upper bound)."""
    check_every: int = 10
    """cloning updates between checks."""
    check_trials: int = 32
    """trials of each check (their own env seeds, :func:`check_seed`)."""
    lr: float = 1e-3
    """behaviour-cloning step size."""
    critic_warmup_batches: int = 3
    """batches of trials, with M1 dopamine blocked, that warm up the critic."""
    reaction_time: float = 0.15
    """the demonstrator's delay (s) from the cue onset to the lift."""
    pellet_offset: float | None = 0.0
    """half-range (m) of the pellet's sideways place in the demonstrations (None: as in the protocol's
    task; 0: always at the slot's centre, the easier set-up of shaping)."""
    waiting_weight: float = 5.0
    """weight of the demonstrator's waiting steps (before cue onset plus reaction time) in the cloning
    loss, relative to its moving steps (1: every step alike)."""
    forward_model: bool = True
    """fit the cerebellar forward model (circuit 2) to the demonstrations before cloning: the limb model
    that the mouse's cerebellum has before the task (:meth:`agents.cerebellum.CerebellarThalamus.fit`);
    False: it starts weak and random and learns only in the protocol."""
    rate_penalty: float | None = None
    """weight of the mean squared cortical rate in the cloning loss (keeps units in their responsive
    range; :func:`behaviour_clone`). None: by circuit, 0.02 in circuit 2 (:data:`CIRCUIT_2_RATE_PENALTY`),
    0 in circuit 1 (the recorded model, unchanged)."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.stop_success is not None and not 0 < self.stop_success <= 1:
            raise ValueError(f"pretraining.stop_success={self.stop_success} must be in (0, 1] or None")
        if self.stop_success_max is not None and not (
                0 < self.stop_success_max <= 1
                and (self.stop_success is None or self.stop_success_max >= self.stop_success)):
            raise ValueError(f"pretraining.stop_success_max={self.stop_success_max} must be in "
                             f"[stop_success, 1] or None")
        if not 0 <= self.stop_precue_lift <= 1:
            raise ValueError(f"pretraining.stop_precue_lift={self.stop_precue_lift} must be in [0, 1]")
        if not 0 <= self.reaction_time <= 0.5:
            raise ValueError(f"pretraining.reaction_time={self.reaction_time} must be in [0, 0.5] s")
        if self.pellet_offset is not None and not 0 <= self.pellet_offset <= 0.0045:
            raise ValueError(f"pretraining.pellet_offset={self.pellet_offset} must be in [0, 0.0045] m "
                             f"or None")
        for name in ("demonstrations", "updates", "check_every", "check_trials"):
            if getattr(self, name) < 1:
                raise ValueError(f"pretraining.{name}={getattr(self, name)} must be >= 1")
        if self.critic_warmup_batches < 0:
            raise ValueError(f"pretraining.critic_warmup_batches={self.critic_warmup_batches} "
                             f"must be >= 0")
        if not 0 <= self.demonstration_noise <= 1:
            raise ValueError(f"pretraining.demonstration_noise={self.demonstration_noise} "
                             f"must be in [0, 1]")
        if not self.lr > 0:
            raise ValueError(f"pretraining.lr={self.lr} must be > 0")
        if self.rate_penalty is not None and not (math.isfinite(self.rate_penalty)
                                                  and self.rate_penalty >= 0):
            raise ValueError(f"pretraining.rate_penalty={self.rate_penalty} must be a finite number >= 0")
        if not (math.isfinite(self.waiting_weight) and self.waiting_weight > 0):
            raise ValueError(f"pretraining.waiting_weight={self.waiting_weight} must be a finite "
                             f"number > 0")
        return self

    def verdict(self, success: float, early_lifts: float) -> Check:
        """What a shaping check whose trials succeeded and lifted before the cue in these shares says:
        the criterion of the lab's end of pre-training (``stop_success``, ``stop_precue_lift``,
        ``stop_success_max``)."""
        if self.stop_success is None or success < self.stop_success or early_lifts > self.stop_precue_lift:
            return Check.CONTINUE
        if self.stop_success_max is not None and success > self.stop_success_max:
            return Check.TOO_FAR
        return Check.STOP


#: Who hears the cloning loss curve (:func:`reporting_cloning_losses`); None: nobody.
_LOSS_LISTENER: ContextVar[Callable[[list[float]], None] | None] = ContextVar("cloning_loss_listener",
                                                                                default=None)


@contextmanager
def reporting_cloning_losses(listener: Callable[[list[float]], None]) -> Iterator[None]:
    """Within the block, :func:`pretrain` hands ``listener`` the loss of every cloning update it kept
    (:func:`behaviour_clone`'s list: the weighted mean squared excitation error plus the rate penalty,
    excitation units squared; element ``k`` is update ``k + 1``), once cloning has ended.

    A hook rather than an argument of :func:`pretrain`: the trainer logs the curve, but the protocol
    (``training.protocol.run_protocol``) calls :func:`pretrain` and need not pass logging through.
    """
    token = _LOSS_LISTENER.set(listener)
    try:
        yield
    finally:
        _LOSS_LISTENER.reset(token)


def shaping_demonstrations(config: PretrainingConfig, seed: int, task: dict,
                           progress: bool = True) -> Demonstrations:
    """The scripted demonstrations that shaping clones, on the task ``task`` (the constructor arguments of
    :class:`MousePelletReachEnv`, e.g. a registered version's with the run's overrides), with the
    pellet placed as ``config.pellet_offset`` says. Any agent given the same ``config``, ``seed`` and
    ``task`` is shown the same trials (the SB3 agents of ``training.versus_sb3`` are)."""
    if config.pellet_offset is not None:
        task = {**task, "pellet_offset": config.pellet_offset}
    return collect_demonstrations(config.demonstrations, seed, noise_std=config.demonstration_noise,
                                  progress=progress, reaction_time=config.reaction_time, **task)


def pretrain(learner: ThreeFactorLearner, envs: list[MousePelletReachEnv], config: PretrainingConfig,
             seed: int, progress: bool = True) -> dict[str, float]:
    """Shape the network before the protocol: behaviour cloning, then critic warm-up.

    Returns figures for the log: the demonstrations' success rate, the final cloning loss and the
    success rate of the warm-up trials (the cloned policy acting with exploration noise).
    """
    # The demonstrations run on the protocol's own task version and timing (not its rendering).
    task = {k: v for k, v in envs[0].spec.kwargs.items() if k not in ("render_mode", "width", "height")} \
        if envs[0].spec is not None else dataclasses.asdict(envs[0].timing)
    demos = shaping_demonstrations(config, seed, task, progress)
    batch = len(envs)
    forward_error = math.nan
    if config.forward_model and learner.circuit.version != 1:
        actions = torch.as_tensor(demos.actions)
        rest = learner.circuit.initial_state(1).efference[0]
        efference = torch.cat([rest.expand(actions.shape[0], 1, -1), actions[:, :-1]], 1)
        forward_error = learner.circuit.thalamus.fit(torch.as_tensor(demos.observations), efference,
                                                     torch.as_tensor(demos.valid))
    checks: list[float] = []
    early_lifts: list[float] = []

    def succeeds_now_and_then() -> Check:
        hits = early = 0
        for first in range(0, config.check_trials, batch):
            size = min(batch, config.check_trials - first)
            record = learner.run_trials(envs[:size], [-1] * size,
                                        [check_seed(seed, len(checks) * config.check_trials + first + i)
                                         for i in range(size)], learn=False)
            hits += sum(s.success for s in record.summaries)
            early += sum(s.lift_before_cue for s in record.summaries)
        checks.append(hits / config.check_trials)
        early_lifts.append(early / config.check_trials)
        return config.verdict(checks[-1], early_lifts[-1])

    losses = behaviour_clone(learner.circuit, demos, config.updates, seed, lr=config.lr,
                             progress=progress,
                             check=None if config.stop_success is None else succeeds_now_and_then,
                             check_every=config.check_every, waiting_weight=config.waiting_weight,
                             rate_penalty=rate_penalty(config, learner.circuit))
    listener = _LOSS_LISTENER.get()
    if listener is not None:
        listener(list(losses))
    successes = []
    for k in range(config.critic_warmup_batches):
        # Episode -1 lies outside every schedule; update_cortex=False keeps the cortex as cloned.
        record = learner.run_trials(envs, [-1] * batch,
                                    [warmup_seed(seed, k * batch + i) for i in range(batch)],
                                    update_cortex=False)
        successes += [s.success for s in record.summaries]
    return {"demonstration_success_rate": demos.success_rate, "behaviour_cloning_loss": losses[-1],
            "behaviour_cloning_updates": float(len(losses)),
            "shaping_checks": float(len(checks)),
            "shaping_check_success": checks[-1] if checks else math.nan,
            "shaping_check_precue_lift": early_lifts[-1] if early_lifts else math.nan,
            "warmup_success_rate": float(np.mean(successes)) if successes else math.nan,
            "forward_model_fit_error": forward_error}


#: The shaping fields that only circuit 2 reads (see :data:`agents.config.CIRCUIT_2_FIELDS`).
CIRCUIT_2_FIELDS: frozenset[str] = frozenset({"forward_model"})

#: Circuit 2's rate penalty in cloning: without it, cloning fits the demonstrations with saturated
#: units (seed 0: mean |rate| 0.83, 60 % beyond 0.95 after 20 updates; with it 0.35 and 2 %).
CIRCUIT_2_RATE_PENALTY = 0.02


def rate_penalty(config: PretrainingConfig, circuit: CorticalCircuit) -> float:
    """The cloning loss's rate penalty for ``circuit``: the configured one, or by circuit."""
    if config.rate_penalty is not None:
        return config.rate_penalty
    return CIRCUIT_2_RATE_PENALTY if circuit.version != 1 else 0.0


def check_seed(seed: int, trial: int) -> int:
    """Env reset seed of shaping-check trial ``trial``: a stream apart from the protocol's and the
    critic warm-up's."""
    return seed * 10_000_000 + 8_000_000 + trial


def warmup_seed(seed: int, trial: int) -> int:
    """Env reset seed of critic warm-up trial ``trial``: a stream apart from the protocol's."""
    return seed * 10_000_000 + 9_000_000 + trial
