"""The thalamic stimulation probe: which cortical units does thalamic input excite?

The lab found "Th-excited" M1 neurons by stimulating thalamic axons optogenetically and recording
which neurons responded (Ramot et al. 2025). The model's counterpart: probe trials outside learning,
with the paw at rest before the cue, in which the rate of a fixed subset of thalamic units (the
"ChR2-expressing" ones, a share ``fraction`` drawn once per run from ``subset_seed``: an opsin reaches
part of a population, and the same cells are stimulated at every probe) is raised by ``amplitude``
for ``duration`` seconds from ``start``, in every other trial (the others are controls without a
pulse, so that the network's own drift after a trial's start is not taken for a response); the cortex
acts without exploration noise but with its private neural noise, so that a unit's response can be
told from its trial-to-trial variability.
The probe records the cortical rates; deciding which units responded is the analysis's job
(:mod:`analysis.neural`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import torch
from pydantic import model_validator

from agents.circuit import CorticalCircuit
from agents.config import ConfigSection
from reach_env import MousePelletReachEnv


class ProbeConfig(ConfigSection):
    """Timing and strength of the stimulation probe.

    Each field's meaning is its docstring (``--help`` prints them)."""

    trials: int = 32
    """probe trials per probe."""
    start: float = 0.2
    """pulse onset (s from trial start; before the earliest cue)."""
    duration: float = 0.04
    """pulse length (s)."""
    amplitude: float = 1.0
    """added thalamic rate during the pulse (the tonic rate is about 0.5)."""
    record_until: float = 0.4
    """the probe trials stop here (s from trial start; before the earliest cue)."""
    fraction: float = 0.3
    """share of thalamic units stimulated."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.trials < 2:
            raise ValueError(f"probe.trials={self.trials} must be >= 2")
        if not 0 < self.start < self.start + self.duration < self.record_until:
            raise ValueError(f"probe: need 0 < start={self.start} < start + duration="
                             f"{self.start + self.duration} < record_until={self.record_until} (s)")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"probe.fraction={self.fraction} must be in (0, 1]")
        if not self.amplitude > 0:
            raise ValueError(f"probe.amplitude={self.amplitude} must be > 0")
        return self

def stimulated_units(n_units: int, fraction: float, subset_seed: int) -> np.ndarray:
    """The thalamic units a probe stimulates: ``round(fraction * n_units)`` (at least one) of them,
    the same for every probe of a run (seeded by ``subset_seed``)."""
    count = max(1, round(fraction * n_units))
    chosen = np.zeros(n_units, bool)
    chosen[np.random.default_rng(subset_seed).choice(n_units, size=count, replace=False)] = True
    return chosen


@torch.no_grad()
def run_probe(circuit: CorticalCircuit, envs: Sequence[MousePelletReachEnv], env_seeds: Sequence[int],
              config: ProbeConfig, generator: torch.Generator, subset_seed: int) -> dict[str, np.ndarray]:
    """Run ``len(env_seeds)`` probe trials in batches of ``len(envs)``; nothing learns.

    Returns the arrays of a probe file: ``cortex`` (P, T, N) float16 rates, ``valid`` (P, T),
    ``pulse_trial`` (P,) bool (trials 0, 2, 4, ... are pulsed, the others controls), ``time``
    (T,) sample ends (s from trial start), ``stimulated`` (M,) bool, the thalamic units pulsed
    (:func:`stimulated_units` with ``subset_seed``), and the scalars ``pulse_start``, ``pulse_duration``
    (s) and ``pulse_amplitude``. ``generator`` draws the private neural noise.

    A sample is valid while the trial runs and its cue has not been heard (a trial the paw ends early
    by lifting, or whose cue comes before ``record_until``, is cut there).
    """
    dt = envs[0].control_timestep
    steps = int(round(config.record_until / dt))
    time = np.arange(1, steps + 1) * dt
    # Sample k covers (k dt, (k + 1) dt]; the pulse drives the samples that start inside it.
    pulse_on = (time - dt >= config.start - 1e-9) & (time - dt < config.start + config.duration - 1e-9)
    stimulated = stimulated_units(circuit.config.n_thalamus, config.fraction, subset_seed)
    pattern = torch.as_tensor(stimulated, dtype=torch.float32) * config.amplitude
    pulsed = np.arange(len(env_seeds)) % 2 == 0
    rates, valid = [], []
    for first in range(0, len(env_seeds), len(envs)):
        seeds = env_seeds[first:first + len(envs)]
        batch = len(seeds)
        observations = np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, seeds, strict=False)])
        state = circuit.initial_state(batch)
        ones = torch.ones(batch)
        running = np.ones(batch, bool)
        trial_rates = np.zeros((batch, steps, circuit.config.n_cortex), np.float32)
        trial_valid = np.zeros((batch, steps), bool)
        for k in range(steps):
            obs = torch.as_tensor(observations, dtype=torch.float32)
            running &= ~(obs[:, circuit.cue_heard_indices].amax(-1) > 0).numpy()
            if not running.any():
                break
            pulsed_now = torch.as_tensor(pulsed[first:first + batch], dtype=torch.float32)[:, None]
            pulse = pattern[None, :] * pulsed_now * float(pulse_on[k])
            out = circuit.step(obs, state, ones, generator, explore=False, thalamic_pulse=pulse)
            state = out.state
            trial_rates[:, k] = out.cortex.numpy()
            trial_valid[:, k] = running
            for b in np.flatnonzero(running):
                observation, _, terminated, truncated, _ = envs[b].step(out.action[b].numpy())
                running[b] = not (terminated or truncated)
                observations[b] = observation
        rates.append(trial_rates)
        valid.append(trial_valid)
    return {"cortex": np.concatenate(rates).astype(np.float16), "valid": np.concatenate(valid),
            "pulse_trial": pulsed, "time": time, "stimulated": stimulated,
            "pulse_start": np.float64(config.start),
            "pulse_duration": np.float64(config.duration), "pulse_amplitude": np.float64(config.amplitude)}
