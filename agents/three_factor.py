"""The three-factor learning rule: eligibility x dopamine, applied to batches of trials.

How it maps onto the three factors. The cortex acts stochastically (exploration noise on the
read-out), so each step leaves a policy-gradient eligibility ``d log pi(a_t | history) / dW`` at every
cortical synapse (factors 1 and 2: pre- and postsynaptic activity, folded into the gradient by
autograd, through the recurrent dynamics within an update window). The eligibility decays with
``gamma * lambda`` per step (an eligibility trace). The critic turns rewards into the
reward-prediction error ``delta_t = r_t + gamma V(s_{t+1}) - V(s_t)``, and the dopamine channel
delivers ``DA_t = g * delta_t`` to M1 (factor 3). The update is ``dW proportional to sum_t DA_t e_t``,
computed in its equivalent forward view ``sum_k d log pi_k / dW * sum_{t >= k} (gamma lambda)^(t-k)
DA_t`` over each window of ``update_every`` steps (Williams 1992; reward-based e-prop, Bellec et al.
2020, uses the same stop-gradient advantage).

The cortical step is a plain gradient step by default (``AgentConfig.optimizer = "sgd"``), so the
weight change is proportional to dopamine x eligibility: a small RPE moves the weights a little (Adam,
the alternative, divides by a running gradient scale, so an expert's small, noisy RPE still moves
every weight by a full step). Whatever the optimiser, the dopamine gain is applied to the step
itself, where no normalisation can cancel it: trials of a batch are weighted by ``g / mean(g)`` and
the step size is multiplied by ``mean(g)``. These gating rules (and those below: which steps count,
when the step is skipped, what the critic and the outcome pathway learn from) belong to the dopamine
channel, :class:`agents.dopamine.BatchGating`; this module asks it. By default
(``AgentConfig.step_scaling = "variance"``) the step size is also multiplied by the exploration
variance relative to its start, ``(sigma / sigma_0)^2``: the update is then dopamine x noise x
presynaptic activity, the node-perturbation form of the rule (Fiete & Seung 2006), whose steps shrink
as reward history narrows the exploration, so that an expert's weights stop drifting under its small,
noisy RPE. With ``g = 0`` the step is skipped entirely: no gradient, momentum or state change can
move a silenced weight. Only steps where the cortex drew exploration noise carry eligibility (every
step by default; only those from the cue on with ``precue_exploration = 0``). The critic learns by
TD(lambda) (Adam) and, by default, keeps learning while M1 dopamine is blocked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from agents.circuit import CorticalCircuit
from agents.config import AgentConfig
from agents.dopamine import BatchGating, DopamineChannel, SilencingSchedule
from agents.exploration import ExplorationRegulator
from reach_env import EVENTS, MousePelletReachEnv


@dataclass
class TrialSummary:
    """One trial's outcome and learning signals."""

    episode: int
    success: bool
    outcome: int
    ret: float
    success_reward: float
    steps: int
    events: dict[str, float]
    mean_delta: float
    mean_dopamine: float
    dopamine_gain: float
    thalamus_gain: float
    exploration_std: float  # standard deviation of the trial's exploration noise (0 when acting without)
    lift_before_cue: bool  # the paw lifted at or before the cue onset (the env's flag: the lab's early error)
    precue_rise: float  # m, the palm's highest rise above rest until the cue (the env's ``precue_rise``)


@dataclass
class BatchRecord:
    """Everything a batch of B trials produced, time-major (T steps x B trials), as NumPy arrays.

    Steps after a trial's end are padded (``valid`` is False there).
    """

    summaries: list[TrialSummary]
    valid: np.ndarray  # (T, B) bool
    cortex: np.ndarray  # (T, B, n_cortex) cortical rates
    thalamus: np.ndarray  # (T, B, n_thalamus) thalamic rates
    action: np.ndarray  # (T, B, n_muscles) excitations sent to the env
    noise: np.ndarray  # (T, B, n_muscles) exploration noise within the action
    mean_action: np.ndarray  # (T, B, n_muscles) the policy's mean excitation (noise-free)
    s1: np.ndarray  # (T, B, n_s1) somatosensory input rates (width 0 in circuit 1)
    cue_input: np.ndarray  # (T, B, n_cue) auditory cue input (width 0 in circuit 1)
    outcome_input: np.ndarray  # (T, B, n_outcome) taste input (width 0 in circuit 1)
    neural_noise: np.ndarray  # (T, B, n_cortex) private noise of the cortical input current (width 0
    #                           without it: circuit 1, or neural_noise_std 0)
    reward: np.ndarray  # (T, B)
    value: np.ndarray  # (T, B) critic value V(s_t)
    delta: np.ndarray  # (T, B) reward-prediction error
    dopamine: np.ndarray  # (T, B) delivered dopamine g * delta
    phase: np.ndarray  # (T, B) env TrialPhase after the step
    update_norms: list[float] = field(default_factory=list)  # per update: norm of the cortical change
    #: Per step at which the forward model learned: its mean squared sensory prediction error.
    prediction_errors: list[float] = field(default_factory=list)
    #: Per cortical parameter (``thalamocortical``, ``recurrent``, ...): norm of its total change
    #: over the batch.
    layer_update_norms: dict[str, float] = field(default_factory=dict)
    @property
    def cortical_update_norm(self) -> float:
        """Norm of the batch's whole cortical weight change (its updates' norms combined)."""
        return math.sqrt(sum(n * n for n in self.update_norms))

    #: Per filmed batch index: (RGB frame, env info) after every control step.
    frames: dict[int, list[tuple[np.ndarray, dict]]] = field(default_factory=dict)


class WindowStep(NamedTuple):
    """What one control step leaves for the window's update (tensors over the batch, B)."""

    log_prob: torch.Tensor  # (B,) log density of the fresh exploration noise (with grad)
    value: torch.Tensor  # (B,) the critic's V(s_t) (with grad)
    reward: torch.Tensor  # (B,)
    done: torch.Tensor  # (B,) bool: the trial ended at this step
    valid: torch.Tensor  # (B,) bool: the trial was running at this step
    deciding: torch.Tensor  # (B,) bool: the cortex drew exploration noise
    outcome_trace: torch.Tensor | None  # (B, N, O) eligibility of the taste pathway (circuit 2)
    squared_rate: torch.Tensor | None  # (B,) mean squared cortical rate (with grad; activity penalty)
    dopamine_gain: torch.Tensor | None = None  # (B,) gain of this step's dopamine (with a dopamine window)


class ThreeFactorLearner:
    """Runs batches of trials with a :class:`CorticalCircuit` and applies the gated updates.

    Args:
        circuit: the network.
        config: learning constants.
        dopamine: the dopamine channel (its schedule says which episodes are blocked).
        thalamus: schedule of the thalamic input's gain (0 = silenced).
        seed: seeds the exploration noise.
        env_threads: threads that step a batch's envs (1: one after the other). MuJoCo releases the GIL
            while it integrates, so the envs' physics runs in parallel; every env is stepped exactly as
            alone, so the trials are the same whatever the number.
    """

    def __init__(self, circuit: CorticalCircuit, config: AgentConfig, dopamine: DopamineChannel,
                 thalamus: SilencingSchedule | None = None, seed: int = 0, env_threads: int = 1):
        if env_threads < 1:
            raise ValueError(f"env_threads={env_threads} must be >= 1")
        self.env_threads = env_threads
        self._stepper: ThreadPoolExecutor | None = None
        self.circuit = circuit
        self.config = config
        self.dopamine = dopamine
        self.thalamus = thalamus or SilencingSchedule()
        readout = {"readout", "readout_bias"}
        named = circuit.policy_parameters()
        readout_lr = config.policy_lr * config.readout_lr_scale
        groups = [{"params": [p for name, p in named if name not in readout], "lr": config.policy_lr,
                   "base_lr": config.policy_lr},
                  {"params": [p for name, p in named if name in readout], "lr": readout_lr,
                   "base_lr": readout_lr}]
        if config.learn_exploration:
            groups.append({"params": [circuit.cortex.log_exploration], "lr": config.exploration_lr,
                           "base_lr": config.exploration_lr})
        self.cortex_optimizer = (torch.optim.Adam(groups) if config.optimizer == "adam"
                                 else torch.optim.SGD(groups))
        self.critic_optimizer = torch.optim.Adam(
            [{"params": list(circuit.critic.parameters()), "lr": config.critic_lr,
              "base_lr": config.critic_lr}])
        self.generator = torch.Generator().manual_seed(seed)
        self.exploration = (ExplorationRegulator(config.exploration_std, config.exploration_floor,
                                                 config.exploration_memory)
                            if config.regulate_exploration else None)
        self._policy = named + ([("log_exploration", circuit.cortex.log_exploration)]
                                if config.learn_exploration else [])
        self._policy_names = [name for name, _ in self._policy]
        #: Every cortical weight whose change a batch reports: the policy's and, in circuit 2, the
        #: outcome pathway's (its own Hebbian rule).
        self._cortical_names = self._policy_names + (["outcome"] if circuit.version != 1 else [])
        dt = circuit.cortex.alpha * config.tau  # the control step (s)
        self._outcome_decay = (math.exp(-dt / config.outcome_trace_tau)
                               if config.outcome_trace_tau > 0 else 0.0)

    # --- acting ------------------------------------------------------------------------------------

    def run_trials(self, envs: Sequence[MousePelletReachEnv], episodes: Sequence[int],
                   env_seeds: Sequence[int], learn: bool = True, explore: bool = True,
                   update_cortex: bool = True, film: Sequence[int] = (),
                   film_stride: int = 1) -> BatchRecord:
        """Run one trial in each env, in lockstep, learning every ``update_every`` steps.

        Args:
            envs: B environments (unwrapped).
            episodes: the protocol's episode number of each trial (sets dopamine/thalamus gains).
            env_seeds: seed for each env's reset.
            learn: apply updates (False: act only, e.g. for evaluation).
            explore: add exploration noise (False: act with the mean excitation).
            update_cortex: with ``learn``, also update the cortex (False: critic only, as when
                warming up the critic before the protocol).
            film: batch indices of trials to render (their envs need ``render_mode="rgb_array"``);
                the frames, one every ``film_stride`` control steps with the step's info, land in
                ``record.frames``.
        """
        if not (len(envs) == len(episodes) == len(env_seeds)):
            raise ValueError(f"{len(envs)} envs, {len(episodes)} episodes and {len(env_seeds)} seeds "
                             f"must match")
        batch = len(envs)
        circuit, config = self.circuit, self.config
        gating = self.dopamine.gate(episodes)
        thalamus_gains = torch.tensor(self.thalamus.gains(episodes), dtype=torch.float32)
        # The batch's noise amplitude: from reward history (outside M1, whatever its dopamine), or the
        # cortex's own learned amplitude.
        exploration = (torch.full((batch,), self.exploration.std()) if self.exploration is not None
                       else None)
        exploration_std = (float(exploration[0]) if exploration is not None
                           else float(circuit.exploration_std().detach().mean()))
        step_scale = self._step_scale(exploration_std)
        observations = np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, env_seeds,
                                                                              strict=True)])
        active = np.ones(batch, bool)
        state = circuit.initial_state(batch)
        returns, success_rewards = np.zeros(batch), np.zeros(batch)
        finals: list[dict | None] = [None] * batch
        steps = np.zeros(batch, int)
        rows: dict[str, list] = {k: [] for k in ("valid", "cortex", "thalamus", "action", "noise",
                                                 "reward", "value", "phase", "mean_action", "s1",
                                                 "cue_input", "outcome_input", "neural_noise")}
        # Forward-model predictions waiting to be felt: (granule rates, proprioception, active) per
        # step, the oldest first; and the outcome pathway's eligibility (pre x post) per trial.
        pending: list[tuple[torch.Tensor, torch.Tensor, np.ndarray]] = []
        prediction_errors: list[float] = []
        outcome_trace = None if circuit.version == 1 else torch.zeros_like(circuit.cortex.outcome.detach()
                                                                             )[None].repeat(batch, 1, 1)
        deltas: list[np.ndarray] = []
        # Per step, the gain of its dopamine (only with a dopamine window: the gain then varies within
        # a trial; without one it is the trial's).
        step_gains: list[np.ndarray] = []
        silencing = self.dopamine.window
        window: list[WindowStep] = []
        update_norms: list[float] = []
        frames: dict[int, list[tuple[np.ndarray, dict]]] = {b: [] for b in film}
        layer_squares: dict[str, float] = dict.fromkeys(self._cortical_names, 0.0)

        while active.any():
            obs_t = torch.as_tensor(observations, dtype=torch.float32)
            out = circuit.step(obs_t, state, thalamus_gains, self.generator, explore=explore,
                               exploration=exploration)
            if out.granule is not None:
                prediction_errors += self._learn_forward_model(pending, out.granule, obs_t, active, learn)
                outcome_trace = (self._outcome_decay * outcome_trace
                                 + out.cortex.detach()[:, :, None] * out.inputs["outcome"][:, None, :])
            value = circuit.critic(obs_t)
            actions = out.action.numpy()
            rewards = np.zeros(batch)
            done = np.zeros(batch, bool)
            phase = np.full(batch, -1)
            valid = active.copy()
            in_window = np.zeros(batch, bool)
            running = np.flatnonzero(active)
            for b, (obs, reward, terminated, truncated, info) in zip(
                    running, self._step_envs(envs, running, actions), strict=True):
                if silencing is not None:
                    in_window[b] = silencing.contains(info, envs[b].control_timestep)
                observations[b] = obs
                rewards[b] = reward
                returns[b] += reward
                success_rewards[b] += info["reward_success"]
                steps[b] += 1
                phase[b] = info["phase"]
                if b in frames and (steps[b] % film_stride == 0 or terminated or truncated):
                    frames[b].append((envs[b].render(), info))
                if terminated or truncated:
                    done[b] = True
                    active[b] = False
                    finals[b] = info
            empty = np.zeros((batch, 0), np.float32)
            for key, value_np in (("valid", valid), ("cortex", out.cortex.detach().numpy()),
                                  ("thalamus", out.thalamus.detach().numpy()), ("action", actions),
                                  ("noise", out.noise.detach().numpy()), ("reward", rewards),
                                  ("value", value.detach().numpy()), ("phase", phase),
                                  ("mean_action", out.mean.detach().numpy()),
                                  ("s1", out.inputs["s1"].numpy() if "s1" in out.inputs else empty),
                                  ("cue_input", out.inputs["cue"].numpy() if "cue" in out.inputs else empty),
                                  ("outcome_input", out.inputs["outcome"].numpy() if "outcome" in out.inputs
                                   else empty),
                                  ("neural_noise", empty if out.neural_noise is None
                                   else out.neural_noise.numpy())):
                rows[key].append(value_np)
            dopamine_gain = gating.step_gains(torch.as_tensor(in_window))
            if dopamine_gain is not None:
                step_gains.append(dopamine_gain.numpy())
            window.append(WindowStep(out.log_prob, value, torch.as_tensor(rewards, dtype=torch.float32),
                                     torch.as_tensor(done), torch.as_tensor(valid), out.deciding,
                                     outcome_trace,
                                     (out.cortex ** 2).mean(-1) if config.activity_penalty else None,
                                     dopamine_gain))
            state = out.state
            if len(window) == config.update_every or not active.any():
                next_value = circuit.critic(torch.as_tensor(observations, dtype=torch.float32)).detach()
                delta, layer_norms = self._update(window, next_value, gating, learn, update_cortex,
                                                  step_scale)
                deltas.extend(delta)
                if layer_norms is not None:
                    update_norms.append(math.sqrt(sum(n * n for n in layer_norms.values())))
                    for name, n in layer_norms.items():
                        layer_squares[name] += n * n
                window = []
                state = state.detach()

        delta_all = np.stack(deltas)
        valid_all = np.stack(rows["valid"])
        dopamine_all = gating.signal(torch.from_numpy(delta_all)).numpy()
        if step_gains:
            dopamine_all = dopamine_all * np.stack(step_gains)
        summaries = []
        for b in range(batch):
            info = finals[b]
            mask = valid_all[:, b]
            events = {e: (math.nan if info["events"][e] is None else info["events"][e]) for e in EVENTS}
            summaries.append(TrialSummary(
                episode=int(episodes[b]), success=bool(info["is_success"]), outcome=int(info["outcome"]),
                ret=float(returns[b]), success_reward=float(success_rewards[b]), steps=int(steps[b]),
                events=events, mean_delta=float(delta_all[mask, b].mean()),
                mean_dopamine=float(dopamine_all[mask, b].mean()),
                dopamine_gain=float(gating.schedule_gains[b]),
                thalamus_gain=float(thalamus_gains[b]),
                exploration_std=exploration_std if explore else 0.0,
                lift_before_cue=bool(info["lift_before_cue"]), precue_rise=float(info["precue_rise"])))
        if learn and self.exploration is not None:
            self.exploration.observe(s.success for s in summaries)
        stacked = {k: np.stack(v) for k, v in rows.items()}
        return BatchRecord(summaries=summaries, valid=stacked["valid"], cortex=stacked["cortex"],
                           thalamus=stacked["thalamus"], action=stacked["action"], noise=stacked["noise"],
                           mean_action=stacked["mean_action"], s1=stacked["s1"],
                           cue_input=stacked["cue_input"], outcome_input=stacked["outcome_input"],
                           neural_noise=stacked["neural_noise"],
                           reward=stacked["reward"], value=stacked["value"], delta=delta_all,
                           dopamine=dopamine_all, phase=stacked["phase"], update_norms=update_norms,
                           prediction_errors=prediction_errors,
                           layer_update_norms={k: math.sqrt(v) for k, v in layer_squares.items()},
                           frames=frames)

    def _step_envs(self, envs: Sequence[MousePelletReachEnv], running: np.ndarray,
                   actions: np.ndarray) -> list[tuple]:
        """``envs[b].step(actions[b])`` for every ``b`` in ``running``, in that order, on
        ``env_threads`` threads."""
        if self.env_threads == 1 or len(running) < 2:
            return [envs[b].step(actions[b]) for b in running]
        if self._stepper is None:
            self._stepper = ThreadPoolExecutor(self.env_threads, thread_name_prefix="env-step")
        return list(self._stepper.map(lambda b: envs[b].step(actions[b]), running))

    def _learn_forward_model(self, pending: list, granule: torch.Tensor, observation: torch.Tensor,
                             active: np.ndarray, learn: bool) -> list[float]:
        """Queue this step's forward-model prediction and, with ``learn``, learn from the one made
        ``horizon_steps`` ago, now that its outcome is felt (only in trials active then and now)."""
        thalamus = self.circuit.thalamus
        proprioception = thalamus.proprioception(observation)
        pending.append((granule.detach(), proprioception, active.copy()))
        if len(pending) <= thalamus.horizon_steps:
            return []
        then, start, was_active = pending.pop(0)
        if not learn:
            return []
        mask = torch.as_tensor(was_active & active)
        return [thalamus.learn(then, start, proprioception, mask, self.config.forward_lr)]

    # --- learning ----------------------------------------------------------------------------------

    def _update(self, window: list[WindowStep], next_value: torch.Tensor, gating: BatchGating,
                learn: bool, update_cortex: bool,
                step_scale: float) -> tuple[list[np.ndarray], dict[str, float] | None]:
        """TD errors of a window and, if ``learn``, the cortical and critic updates as ``gating`` (the
        batch's dopamine) allows (``step_scale``: the batch's factor on the cortical step size,
        :meth:`_step_scale`).

        Returns the window's per-step delta arrays and the norm of each cortical parameter's change
        (None when the cortical step was skipped).
        """
        config = self.config
        log_probs = torch.stack([w.log_prob for w in window])  # (T, B)
        values = torch.stack([w.value for w in window])
        rewards = torch.stack([w.reward for w in window])
        done = torch.stack([w.done for w in window]).float()
        mask = torch.stack([w.valid for w in window]).float()
        deciding = torch.stack([w.deciding for w in window]).float()
        with torch.no_grad():
            following = torch.cat([values[1:].detach(), next_value[None]], 0)
            delta = (rewards + config.gamma * following * (1.0 - done) - values.detach()) * mask
            trace = self._trace(delta, done, mask)
        deltas = [d.numpy() for d in delta]
        if not learn:
            return deltas, None

        count = mask.sum().clamp(min=1.0)
        # With a dopamine window, M1's trace is of the dopamine delivered, step by step; the critic (VTA,
        # outside M1) still learns from the whole RPE.
        step_gains = (None if window[0].dopamine_gain is None
                      else torch.stack([w.dopamine_gain for w in window]))
        delivered_trace = trace if step_gains is None else self._trace(delta * step_gains, done, mask)
        # The steps the dopamine channel lets drive the cortex (a blocked trial's never do); the
        # baseline, the normalisation and the gradient see only them.
        reached = gating.driving_steps(mask, deciding,
                                       None if step_gains is None else gating.reached(step_gains, done))
        steps_reached = float(reached.sum())
        norm = None
        if update_cortex and gating.moves_cortex(steps_reached):
            weights = gating.trial_weights()
            # The trace of dopamine relative to its mean over the window (a tonic baseline): a biased
            # critic would otherwise reinforce whatever the exploration noise did.
            centred = (delivered_trace - (delivered_trace * reached).sum() / steps_reached) * reached
            policy_loss = -(log_probs * centred * weights[None, :]).sum() / steps_reached
            if config.activity_penalty:
                # Cloning's rate regulariser, kept in the gated objective: its pull towards 0 counters
                # the rise of the mean rate under dopamine-driven steps (finding 5).
                squared = torch.stack([w.squared_rate for w in window])  # (T, B) mean squared rate
                policy_loss = policy_loss + config.activity_penalty * (
                    squared * reached * weights[None, :]).sum() / steps_reached
            changes = self._gated_step(self.cortex_optimizer, [p for _, p in self._policy],
                                       policy_loss, gating.cortical_step_gain(step_scale))
            norm = dict(zip(self._policy_names, changes, strict=True))
            if self.circuit.version != 1:
                norm["outcome"] = self._outcome_step(window, delta, gating, mask, step_gains)
        else:
            self.cortex_optimizer.zero_grad(set_to_none=True)
        critic_gain = gating.critic_gain(config.critic_blocked_with_dopamine)
        critic_loss = (((values - (trace + values.detach())) ** 2) * mask).sum() / count
        if critic_gain > 0.0:
            self._gated_step(self.critic_optimizer, list(self.circuit.critic.parameters()),
                             critic_loss, critic_gain)
        else:
            self.critic_optimizer.zero_grad(set_to_none=True)
        return deltas, norm

    @torch.no_grad()
    def _outcome_step(self, window: list[WindowStep], delta: torch.Tensor, gating: BatchGating,
                      mask: torch.Tensor, step_gains: torch.Tensor | None = None) -> float:
        """The outcome pathway's dopamine-gated Hebbian step; returns the norm of its change.

        ``dW_o = outcome_lr * (1/B) sum_b g_b sum_t delta_{t,b} e_{t,b}``, with ``e`` the eligibility
        trace of postsynaptic rate x taste input (:attr:`AgentConfig.outcome_trace_tau`). Dopamine
        after a tasted pellet strengthens the taste's drive onto the units active then, so outcome
        responses are learned, and only with dopamine: the third factor is the channel's
        (:meth:`BatchGating.outcome_dopamine`).
        """
        traces = torch.stack([w.outcome_trace for w in window])  # (T, B, N, O)
        dopamine = gating.outcome_dopamine(delta, mask, step_gains)
        change = self.config.outcome_lr * torch.einsum("tb,tbno->no", dopamine, traces) / delta.shape[1]
        self.circuit.cortex.outcome += change
        return float(torch.linalg.vector_norm(change))

    @torch.no_grad()
    def _trace(self, delta: torch.Tensor, done: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The forward view of the eligibility trace over a window: ``sum_{t >= k} (gamma lambda)^(t-k)
        x_t`` within each trial (``(T, B)`` in and out)."""
        decay = self.config.gamma * self.config.trace_lambda
        trace = torch.zeros_like(delta)
        running = torch.zeros(delta.shape[1])
        for t in reversed(range(delta.shape[0])):
            running = delta[t] + decay * (1.0 - done[t]) * running
            trace[t] = running * mask[t]
        return trace

    def _step_scale(self, exploration_std: float) -> float:
        """Factor on the cortical step size from the batch's exploration standard deviation."""
        if self.config.step_scaling == "variance":
            return (exploration_std / self.config.exploration_std) ** 2
        return 1.0

    def _gated_step(self, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter],
                    loss: torch.Tensor, gain: float) -> list[float]:
        """Backward, clip, one optimiser step with every group's step size times ``gain``; returns
        the norm of each parameter's change."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        before = [p.detach().clone() for p in params]
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * gain
        optimizer.step()
        return [float(torch.linalg.vector_norm(p.detach() - b)) for p, b in zip(params, before, strict=True)]
