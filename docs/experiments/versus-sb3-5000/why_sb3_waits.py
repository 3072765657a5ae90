"""How does an SB3 policy learn to wait for the cue under its white exploration noise?

    python docs/experiments/versus-sb3-5000/why_sb3_waits.py MODEL.zip [MODEL.zip ...] --seed S

loads each finished SB3 run's ``model.zip`` (a ``training.versus_sb3`` run of seed ``S``; the agent is
read from the run folder's name, ``ppo`` or ``recurrent_ppo``) and re-runs the run's 64 held-out trials
three times: noise off (the mean action), with the exploration noise the policy trains with at the
end (white, ``exp(log_std)`` per muscle in SB3's [-1, 1] units, every 20 ms step), and with the noise
it started from (``exp(-1)`` = 0.37, the sweep's default ``sb3_log_std_init``). Noisy actions are clipped to
[-1, 1] before the env maps them onto excitations ``(a + 1) / 2``, as SB3 does. One line per model
and noise: successes and early errors of 64, the mean pre-cue paw rise (mm, ``info["precue_rise"]``:
2 mm is the early error), and, for noise off, the mean excitation before the cue over the muscles and
that of the largest three. Splitting the noise this way separates the two ways to stop lifting early:
a smaller noise, or a mean policy that the same noise no longer lifts.

Run on the models after 960 trials (the 1,000-trial sweep, before the SB3 agents learned) and after
4,992 (this folder's sweep); each model takes about a minute on one core (the demonstrations, which
give the frozen observation standardisation, are recomputed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from agents.pretraining import shaping_demonstrations
from reach_env import make_env
from reach_env.forelimb import MUSCLES
from training.sb3_shaped import DEFAULT_LOG_STD, excitation, make_training_envs, observation_stats
from training.versus_sb3 import VersusConfig

#: The noise every SB3 run starts from ([-1, 1] units).
INITIAL_STD = float(np.exp(DEFAULT_LOG_STD))


def trial(model, env, normalise, seed: int, std: np.ndarray | None, rng: np.random.Generator):
    """One held-out trial: (success, early error, pre-cue rise in m, excitations before the cue (steps,
    muscles)).

    Not ``HeldOutTrials``' loop: that one acts through ``model.predict``, which clips the mean action
    and draws SB3's own noise; here the noise is chosen and drawn from ``rng``."""
    policy = model.policy
    recurrent = hasattr(policy, "lstm_actor")
    obs, _ = env.reset(seed=seed)
    cue_step = env.unwrapped.cue_step
    state = None
    if recurrent:
        lstm = policy.lstm_actor
        zeros = torch.zeros(lstm.num_layers, 1, lstm.hidden_size)
        state = (zeros, zeros.clone())
    excitations, start, done = [], True, False
    with torch.no_grad():
        while not done:
            observed = torch.as_tensor(normalise(obs[None]), dtype=torch.float32)
            if recurrent:
                distribution, state = policy.get_distribution(observed, state, torch.tensor([float(start)]))
            else:
                distribution = policy.get_distribution(observed)
            mean = distribution.distribution.mean[0].numpy()
            action = mean if std is None else mean + std * rng.standard_normal(mean.shape)
            excitations.append(excitation(action).astype(np.float32))
            start = False
            obs, _, terminated, truncated, info = env.step(excitations[-1])
            done = terminated or truncated
    return (bool(info["is_success"]), bool(info["lift_before_cue"]), info["precue_rise"],
            np.stack(excitations[:cue_step]))


def probe(model_path: Path, seed: int) -> list[str]:
    from stable_baselines3 import PPO

    if model_path.parent.parent.name == "recurrent_ppo":
        from sb3_contrib import RecurrentPPO as Model
    else:
        Model = PPO
    # The run's own config (its output folder is only named: nothing is written there).
    config = VersusConfig().base_config(str(model_path.parent), seed)
    demos = shaping_demonstrations(config.pretraining, seed, config.env.task_arguments(), progress=False)
    venv = make_training_envs(config, observation_stats(demos))
    model = Model.load(model_path, device="cpu")
    env = make_env(config.env.env_id, **config.env.task_arguments())
    seeds = [config.protocol.eval_seed(k) for k in range(config.protocol.eval_trials)]
    own_std = model.policy.log_std.detach().exp().numpy()
    lines = []
    for label, std in (("noise off", None), (f"own noise {own_std.mean():.2f}", own_std),
                       (f"initial noise {INITIAL_STD:.2f}", np.full_like(own_std, INITIAL_STD))):
        rng = np.random.default_rng(seed)
        results = [trial(model, env, venv.normalize_obs, s, std, rng) for s in seeds]
        success = sum(r[0] for r in results)
        early = sum(r[1] for r in results)
        rise_mm = 1000 * np.mean([r[2] for r in results])
        line = f"{model_path}: {label}: {success}/64 success, {early} early, pre-cue rise {rise_mm:.2f} mm"
        if std is None:
            precue = np.concatenate([r[3] for r in results]).mean(0)
            top = np.argsort(precue)[::-1][:3]
            line += f"; pre-cue excitation {precue.mean():.3f} (" + ", ".join(
                f"{MUSCLES[i].removesuffix('_R')} {precue[i]:.2f}" for i in top) + ")"
        lines.append(line)
    env.close()
    venv.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    for path in args.models:
        for line in probe(path, args.seed):
            print(line, flush=True)


if __name__ == "__main__":
    main()
