"""Stable-Baselines3 agents given the cortical agent's start: shaped on the same demonstrations, to the
same criterion, with a warmed-up critic; then trained on the protocol's task and evaluated on its
held-out trials, so that a learning curve of either agent means the same thing.

The head-to-head (:mod:`training.versus_sb3`) compares learning, not shaping. So each SB3 agent starts
where the cortex starts (:func:`agents.pretraining.pretrain`):

1. **Demonstrations**: the very scripted trials the cortex clones (same seed, noise, reaction time,
   pellet place: :func:`agents.pretraining.shaping_demonstrations`).
2. **Behaviour cloning** of the policy's mean action onto the demonstrator's excitations, each step's
   squared error weighted as the cortex's (the demonstrator's waiting steps ``waiting_weight`` times),
   stopped by the cortex's criterion with one difference: every ``check_every`` updates the policy
   acts on ``check_trials`` trials of the shaping-check seeds, and cloning ends at the first check with
   at least ``stop_success`` successes and at most ``stop_precue_lift`` early lifts; a check past
   ``stop_success_max`` goes back to the previous check and checks twice as often. The difference: the
   SB3 policy is checked with its mean action (noise off), the cortex with its exploration noise. SB3's
   exploration is white noise on every 20 ms step, and at its initial size it lifts the paw before
   the cue in most trials (21-32 of 32 check trials of PPO policies cloned 20-160 updates), so a noisy
   check never passes; the mean policy's success is what the head-to-head compares, and the cortex's
   criterion leaves its mean policy at a similar place (0.11 held-out noise-off success before
   session 1, seeds 0-9).
3. **Critic warm-up**: the value network regresses onto the discounted returns of
   ``critic_warmup_batches x batch`` trials of the cloned policy (its warm-up seeds), so that PPO's
   first advantages are not those of an untrained critic.

SB3's Gaussian policies assume actions in [-1, 1]: the env's [0, 1] excitations are offered to them
through Gymnasium's ``RescaleAction`` (excitation = (a + 1) / 2, as MyoSuite does for its muscles), and
the targets of cloning are mapped the same way. Observations are standardised with the demonstrations'
mean and variance, frozen (``VecNormalize`` with updates off): a running normaliser would move the
cloned policy's inputs under it as training goes on.

A run writes ``evaluation.csv`` in the trainer's format (:data:`analysis.run_format.EVALUATION_COLUMNS`):
the mean policy (``deterministic=True``) on the protocol's held-out trials (the seeds
``ProtocolConfig.eval_seed(k)``) before learning and after every ``eval_every`` trials; ``tb/`` (SB3's
TensorBoard scalars with ``eval/success_noise_off``), ``shaping.json`` and ``model.zip``.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.pretraining import Check, Demonstrations, PretrainingConfig, check_seed, warmup_seed
from analysis import run_format
from reach_env import make_env
from training import sb3_resume
from training.config import TrainConfig

#: The SB3 agents of the head-to-head: PPO with an MLP policy, and sb3-contrib's RecurrentPPO (LSTM).
SB3_AGENTS = ("ppo", "recurrent_ppo")
#: Environments that PPO steps together (one rollout is ``N_ENVS x ROLLOUT_STEPS`` control steps).
N_ENVS = 8
#: Control steps of each env in one rollout (PPO's ``n_steps``).
ROLLOUT_STEPS = 256
#: The initial log standard deviation of SB3's Gaussian policies (in [-1, 1] action units).
DEFAULT_LOG_STD = -1.0
#: The least variance the observation standardisation assumes (observation units squared).
OBSERVATION_VARIANCE_FLOOR = 1e-4


def recurrent_available() -> bool:
    """Whether sb3-contrib (RecurrentPPO) is installed."""
    try:
        import sb3_contrib  # noqa: F401
    except ImportError:
        return False
    return True


def excitation(action: np.ndarray) -> np.ndarray:
    """SB3's action in [-1, 1] -> the env's muscle excitation in [0, 1] (``RescaleAction``'s map)."""
    return (np.clip(action, -1.0, 1.0) + 1.0) / 2.0


def make_model(agent: str, config: TrainConfig, venv, tensorboard: Path | None,
               log_std_init: float = DEFAULT_LOG_STD):
    """An SB3 model of ``agent`` on ``venv``, seeded with the run's seed, on the CPU.

    SB3 seeds ``venv`` with the run's seed too: env ``i``'s first training trial has seed ``seed + i``,
    its later ones come from that env's own random stream (none is a held-out trial: those have seeds
    of at least 2**64, :meth:`training.protocol.ProtocolConfig.eval_seed`).

    PPO: the baseline's settings (``training.baseline``): rollouts of 256 steps of each env, minibatches
    of 256, 10 epochs, step size 3e-4, two hidden layers of 256 units (SB3's default 64 cloned the
    demonstrations no better), an initial action standard deviation of exp(``log_std_init``) (exp(-1) =
    0.37, 0.18 in excitation). RecurrentPPO: the same, with an LSTM of 128 units in actor and critic.
    """
    from stable_baselines3 import PPO

    common = dict(n_steps=ROLLOUT_STEPS, batch_size=256, learning_rate=3e-4, seed=config.protocol.seed,
                  verbose=0, device="cpu", tensorboard_log=None if tensorboard is None else str(tensorboard))
    if agent == "ppo":
        return PPO("MlpPolicy", venv, policy_kwargs={"log_std_init": log_std_init, "net_arch": [256, 256]},
                   **common)
    if agent == "recurrent_ppo":
        try:
            from sb3_contrib import RecurrentPPO
        except ImportError:
            raise RuntimeError("agent recurrent_ppo needs sb3-contrib: pip install sb3-contrib") from None
        return RecurrentPPO("MlpLstmPolicy", venv,
                            policy_kwargs={"log_std_init": log_std_init, "lstm_hidden_size": 128}, **common)
    raise ValueError(f"agent {agent!r} is not one of {SB3_AGENTS}")


def make_training_envs(config: TrainConfig, normaliser_stats: tuple[np.ndarray, np.ndarray]):
    """``N_ENVS`` copies of the protocol's task for SB3 ([-1, 1] actions), with frozen standardisation of
    the observations by ``normaliser_stats`` (mean, variance)."""
    from gymnasium.wrappers import RescaleAction
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    task = config.env.task_arguments()
    env_id = config.env.env_id

    def factory():
        env = make_env(env_id, **task)
        # float32 bounds: the env's action space's dtype.
        env = RescaleAction(env, np.float32(-1.0), np.float32(1.0))
        return Monitor(env, info_keywords=("is_success",))

    # No seed here: the SB3 model seeds its envs with the run's seed when it is made (make_model).
    venv = DummyVecEnv([factory] * N_ENVS)
    venv = VecNormalize(venv, norm_obs=True, norm_reward=False, training=False)
    venv.obs_rms.mean, venv.obs_rms.var = normaliser_stats
    return venv


class HeldOutTrials:
    """The protocol's held-out trials, run in lockstep for an SB3 policy; counts successes.

    Args:
        config: the run's config (task, eval seeds, ``protocol.eval_trials``).
        normalise: the frozen observation standardisation the policy was trained with.
    """

    def __init__(self, config: TrainConfig, normalise: Callable[[np.ndarray], np.ndarray]):
        self.config, self.normalise = config, normalise
        task = config.env.task_arguments()
        self.envs = [make_env(config.env.env_id, **task) for _ in range(config.protocol.batch)]

    def success(self, model, deterministic: bool = True, seeds: list[int] | None = None) -> tuple[int, int]:
        """(successes, early lifts) of ``model`` on ``seeds`` (default: the held-out trials)."""
        protocol = self.config.protocol
        seeds = seeds if seeds is not None else [protocol.eval_seed(k) for k in range(protocol.eval_trials)]
        successes = early = 0
        for first in range(0, len(seeds), len(self.envs)):
            batch = seeds[first:first + len(self.envs)]
            s, e = self._batch(model, batch, deterministic)
            successes, early = successes + s, early + e
        return successes, early

    def _batch(self, model, seeds: list[int], deterministic: bool) -> tuple[int, int]:
        envs = self.envs[:len(seeds)]
        obs = np.stack([env.reset(seed=seed)[0] for env, seed in zip(envs, seeds, strict=True)])
        done = np.zeros(len(envs), bool)
        successes = early = 0
        state, starts = None, np.ones(len(envs), bool)
        while not done.all():
            action, state = model.predict(self.normalise(obs), state=state, episode_start=starts,
                                          deterministic=deterministic)
            starts = np.zeros(len(envs), bool)
            for i in np.flatnonzero(~done):
                obs[i], _, terminated, truncated, info = envs[i].step(excitation(action[i]))
                if terminated or truncated:
                    done[i] = True
                    successes += bool(info["is_success"])
                    early += bool(info["lift_before_cue"])
        return successes, early

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _sequence_outputs(policy, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean action, value) of ``policy`` at every step of whole trials ``obs`` (n, T, D), each trial
    from its first step (a recurrent policy's state starts at zero, as at an episode start)."""
    n, length, _ = obs.shape
    flat = obs.reshape(n * length, -1)  # trial-major: what RecurrentPPO's sequence reshape expects
    if hasattr(policy, "lstm_actor"):
        starts = torch.zeros(n * length)

        def zeros(lstm):
            return (torch.zeros(lstm.num_layers, n, lstm.hidden_size),
                    torch.zeros(lstm.num_layers, n, lstm.hidden_size))

        distribution, _ = policy.get_distribution(flat, zeros(policy.lstm_actor), starts)
        critic = policy.lstm_critic if policy.lstm_critic is not None else policy.lstm_actor
        values = policy.predict_values(flat, zeros(critic), starts)
    else:
        distribution = policy.get_distribution(flat)
        values = policy.predict_values(flat)
    return distribution.distribution.mean.reshape(n, length, -1), values.reshape(n, length)


def clone(model, demos: Demonstrations, normalise: Callable[[np.ndarray], np.ndarray],
          config: PretrainingConfig, seed: int, check: Callable[[], Check] | None) -> list[float]:
    """Behaviour cloning of ``model``'s mean action onto ``demos`` (mapped to [-1, 1]) with the cortex's
    step weights, criterion and roll-back (:func:`agents.pretraining.behaviour_clone`, whose rules
    these are); returns the loss of every update kept."""
    policy = model.policy
    params = [p for name, p in policy.named_parameters() if "value" not in name and "critic" not in name
              and p.requires_grad and name != "log_std"]
    optimizer = torch.optim.Adam(params, lr=config.lr)
    generator = torch.Generator().manual_seed(seed)
    observations = torch.as_tensor(normalise(demos.observations), dtype=torch.float32)
    targets = torch.as_tensor(demos.actions * 2.0 - 1.0)
    weight = torch.as_tensor(demos.valid, dtype=torch.float32) * torch.where(
        torch.as_tensor(demos.waiting), config.waiting_weight, 1.0)
    n_trials = len(targets)
    batch = min(32, n_trials)
    losses: list[float] = []
    interval, since_check = config.check_every, 0
    saved = (copy.deepcopy(policy.state_dict()), copy.deepcopy(optimizer.state_dict()), 0)
    policy.set_training_mode(True)
    for _ in range(config.updates):
        pick = torch.randperm(n_trials, generator=generator)[:batch]
        mean, _ = _sequence_outputs(policy, observations[pick])
        error = ((mean - targets[pick]) ** 2).mean(-1)
        loss = (error * weight[pick]).sum() / weight[pick].sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        since_check += 1
        if check is None or since_check < interval:
            continue
        since_check = 0
        policy.set_training_mode(False)
        verdict = check()
        policy.set_training_mode(True)
        if verdict is Check.STOP or (verdict is Check.TOO_FAR and interval == 1):
            break
        if verdict is Check.TOO_FAR:
            policy.load_state_dict(saved[0])
            optimizer.load_state_dict(saved[1])
            del losses[saved[2]:]
            interval = max(interval // 2, 1)
        else:
            saved = (copy.deepcopy(policy.state_dict()), copy.deepcopy(optimizer.state_dict()), len(losses))
    policy.set_training_mode(False)
    return losses


def warm_critic(model, trials: list[tuple[np.ndarray, np.ndarray]], epochs: int = 200) -> float:
    """Regress ``model``'s value onto the discounted returns (``model.gamma``) of ``trials`` (standardised
    observations (T, D), rewards (T,)); returns the final mean squared error."""
    policy = model.policy
    length = max(len(o) for o, _ in trials)
    obs = np.zeros((len(trials), length, trials[0][0].shape[1]), np.float32)
    returns = np.zeros((len(trials), length), np.float32)
    valid = np.zeros((len(trials), length), np.float32)
    for i, (o, r) in enumerate(trials):
        discounted = np.zeros(len(r))
        running = 0.0
        for t in range(len(r) - 1, -1, -1):
            running = r[t] + model.gamma * running
            discounted[t] = running
        obs[i, :len(o)], returns[i, :len(r)], valid[i, :len(o)] = o, discounted, 1.0
    params = [p for name, p in policy.named_parameters() if "value" in name or "critic" in name]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    obs_t, returns_t, valid_t = map(torch.as_tensor, (obs, returns, valid))
    error = torch.zeros(())
    for _ in range(epochs):
        _, values = _sequence_outputs(policy, obs_t)
        error = (((values - returns_t) ** 2) * valid_t).sum() / valid_t.sum()
        optimizer.zero_grad()
        error.backward()
        optimizer.step()
    return float(error.detach())


def _own_trials(model, config: TrainConfig, normalise,
                seeds: list[int]) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """Trials of ``model``'s stochastic policy on ``seeds``: (standardised observations, rewards,
    success)."""
    env = make_env(config.env.env_id, **config.env.task_arguments())
    trials = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        state, start, done = None, np.ones(1, bool), False
        observations, rewards = [], []
        while not done:
            normalised = normalise(obs[None])
            action, state = model.predict(normalised, state=state, episode_start=start, deterministic=False)
            start = np.zeros(1, bool)
            observations.append(normalised[0])
            obs, reward, terminated, truncated, info = env.step(excitation(action[0]))
            rewards.append(reward)
            done = terminated or truncated
        trials.append((np.array(observations, np.float32), np.array(rewards, np.float32),
                       bool(info["is_success"])))
    env.close()
    return trials


def shape(model, config: TrainConfig, demos: Demonstrations, normalise, held_out: HeldOutTrials,
          progress: bool = False) -> dict[str, float]:
    """Clone ``model`` to the shaping criterion, then warm up its critic; returns the shaping's figures
    (the names of :func:`agents.pretraining.pretrain`'s where they mean the same)."""
    pretraining, seed = config.pretraining, config.protocol.seed
    checks: list[float] = []
    early_lifts: list[float] = []

    def succeeds_now_and_then() -> Check:
        first = len(checks) * pretraining.check_trials
        hits, early = held_out.success(model, deterministic=True,
                                       seeds=[check_seed(seed, first + i)
                                              for i in range(pretraining.check_trials)])
        checks.append(hits / pretraining.check_trials)
        early_lifts.append(early / pretraining.check_trials)
        return pretraining.verdict(checks[-1], early_lifts[-1])

    losses = clone(model, demos, normalise, pretraining, seed,
                   None if pretraining.stop_success is None else succeeds_now_and_then)
    warm_seeds = [warmup_seed(seed, k)
                  for k in range(pretraining.critic_warmup_batches * config.protocol.batch)]
    trials = _own_trials(model, config, normalise, warm_seeds)
    value_error = warm_critic(model, [(o, r) for o, r, _ in trials]) if trials else math.nan
    return {"demonstration_success_rate": demos.success_rate, "behaviour_cloning_loss": losses[-1],
            "behaviour_cloning_updates": float(len(losses)), "shaping_checks": float(len(checks)),
            "shaping_check_success": checks[-1] if checks else math.nan,
            "shaping_check_precue_lift": early_lifts[-1] if early_lifts else math.nan,
            "warmup_success_rate": float(np.mean([s for _, _, s in trials])) if trials else math.nan,
            "critic_warmup_error": value_error}


def _evaluation_callback(held_out: HeldOutTrials, config: TrainConfig, budget: int, eval_every: int,
                         progress: sb3_resume.RunProgress, write: Callable[[], None],
                         save: Callable[[], None], saved_at: int):
    from stable_baselines3.common.callbacks import BaseCallback

    rows = progress.rows

    class HeldOutEvaluation(BaseCallback):
        """Counts finished training trials; evaluates the mean policy at every ``eval_every`` trials,
        stops training at ``budget`` trials and saves the run at the start of every rollout."""

        def __init__(self):
            super().__init__()
            self.trials = progress.trials
            self.saved_at = saved_at

        def _on_rollout_start(self) -> None:
            # A resumed sitting's first rollout starts where the file it resumed from was saved.
            if self.model.num_timesteps != self.saved_at:
                progress.trials = self.trials
                save()
                self.saved_at = self.model.num_timesteps

        def _on_step(self) -> bool:
            self.trials += int(np.sum(self.locals["dones"]))
            if self.trials >= (rows[-1]["session"] + 1) * eval_every:
                block = min(self.trials // eval_every, budget // eval_every)
                evaluate_into(rows, self.model, held_out, config, self.trials, block)
                self.logger.record("eval/success_noise_off", rows[-1]["success"])
                self.logger.dump(self.num_timesteps)
                write()
            return self.trials < (budget // eval_every) * eval_every

    return HeldOutEvaluation()


def evaluate_into(rows: list[dict], model, held_out: HeldOutTrials, config: TrainConfig, trials: int,
                  block: int) -> None:
    """Append the mean policy's held-out evaluation after ``trials`` trials (``block`` = evaluation
    blocks completed, the ``session`` column) to ``rows``."""
    successes, _ = held_out.success(model, deterministic=True)
    count = config.protocol.eval_trials
    rows.append({"episode": trials, "session": block, "noise": "off", "trials": count,
                 "successes": successes, "success": successes / count, "thalamus_gain": 1.0})


def observation_stats(demos: Demonstrations) -> tuple[np.ndarray, np.ndarray]:
    """The demonstrations' observation mean and variance (floored), which standardise the SB3 agents'
    inputs."""
    valid = demos.valid.reshape(-1)
    flat = demos.observations.reshape(-1, demos.observations.shape[-1])[valid].astype(np.float64)
    # A floor under the variance: the demonstrations hold some inputs still (the pellet at the slot's
    # centre) that the protocol's task varies, and dividing by their zero spread would saturate them.
    return flat.mean(0), np.maximum(flat.var(0), OBSERVATION_VARIANCE_FLOOR)


def _model_and_envs(agent: str, config: TrainConfig, stats: tuple[np.ndarray, np.ndarray],
                    log_std_init: float):
    """The run's training envs and model, seeded as every run of ``config`` seeds them."""
    from stable_baselines3.common.utils import set_random_seed

    out = Path(config.output.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.protocol.torch_threads)
    set_random_seed(config.protocol.seed)
    venv = make_training_envs(config, stats)
    return make_model(agent, config, venv, out / run_format.TENSORBOARD_DIR, log_std_init), venv


def train_sb3(agent: str, config: TrainConfig, demos: Demonstrations, budget: int, eval_every: int,
              log_std_init: float = DEFAULT_LOG_STD, progress: bool = False) -> dict[str, Any]:
    """Shape, then train SB3 ``agent`` for ``budget`` trials of ``config``'s task, evaluating every
    ``eval_every`` trials; writes the run folder ``config.output.out``; returns its summary."""
    stats = observation_stats(demos)
    model, venv = _model_and_envs(agent, config, stats, log_std_init)
    held_out = HeldOutTrials(config, venv.normalize_obs)
    started = time.perf_counter()
    figures = shape(model, config, demos, venv.normalize_obs, held_out, progress)
    figures["shaping_s"] = round(time.perf_counter() - started, 1)
    out = Path(config.output.out)
    (out / run_format.SB3_SHAPING_FILE).write_text(json.dumps(figures, indent=1))
    rows: list[dict] = []
    evaluate_into(rows, model, held_out, config, 0, 0)
    return _learn(agent, config, model, venv, held_out, sb3_resume.RunProgress(0, rows, stats, 0.0),
                  budget, eval_every, figures, resumed_at=None)


def resume_sb3(agent: str, config: TrainConfig, budget: int, eval_every: int,
               log_std_init: float = DEFAULT_LOG_STD) -> dict[str, Any]:
    """Go on with the SB3 run in ``config.output.out`` from its resume file, as if it had never stopped;
    returns its summary (as :func:`train_sb3`'s).

    Raises:
        training.sb3_resume.ResumeError: the resume file cannot be used (the message names it).
    """
    out = Path(config.output.out)
    state = sb3_resume.read(out / run_format.SB3_RESUME_FILE, agent, config.protocol.seed)
    model, venv = _model_and_envs(agent, config, state["progress"].stats, log_std_init)
    run_progress = sb3_resume.restore(state, model, venv)
    held_out = HeldOutTrials(config, venv.normalize_obs)
    figures = json.loads((out / run_format.SB3_SHAPING_FILE).read_text())
    return _learn(agent, config, model, venv, held_out, run_progress, budget, eval_every, figures,
                  resumed_at=model.num_timesteps)


def _learn(agent: str, config: TrainConfig, model, venv, held_out: HeldOutTrials,
           run_progress: sb3_resume.RunProgress, budget: int, eval_every: int, figures: dict,
           resumed_at: int | None) -> dict[str, Any]:
    """Train ``model`` from ``run_progress`` to ``budget`` trials, saving a resume file at every rollout;
    then write the model and remove the resume file."""
    out = Path(config.output.out)
    resume_file = out / run_format.SB3_RESUME_FILE

    def write() -> None:
        # Whole or not at all: the sweep's progress bar reads the file while the run writes it.
        partial = out / (run_format.EVALUATION_FILE + ".part")
        run_format.write_rows(partial, run_format.EVALUATION_COLUMNS, run_progress.rows)
        partial.replace(out / run_format.EVALUATION_FILE)

    learned_before, learning = run_progress.learn_s, time.perf_counter()

    def save() -> None:
        run_progress.learn_s = learned_before + time.perf_counter() - learning
        sb3_resume.save(resume_file, agent, config.protocol.seed, model, venv, run_progress)

    write()
    callback = _evaluation_callback(held_out, config, budget, eval_every, run_progress, write, save,
                                    saved_at=-1 if resumed_at is None else resumed_at)
    # The callback ends training at the budget's trials; the step count only has to be out of reach.
    model.learn(total_timesteps=10**12, callback=callback, tb_log_name=agent, progress_bar=False,
                reset_num_timesteps=resumed_at is None)
    model.save(out / run_format.SB3_MODEL_FILE)
    resume_file.unlink(missing_ok=True)  # the run is finished: model.zip and evaluation.csv hold it
    held_out.close()
    venv.close()
    return {"agent": agent, "seed": config.protocol.seed, "trials": callback.trials,
            "steps": int(model.num_timesteps),
            "learn_s": round(learned_before + time.perf_counter() - learning, 1), "shaping": figures}
