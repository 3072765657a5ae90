"""A motor thalamus fed by a cerebellar forward model that learns from sensory prediction errors.

The cerebellum is modelled as a forward model (Wolpert, Miall & Kawato 1998; the review seed: the
cerebellum learns from sensory prediction errors, the basal ganglia from reward prediction errors):

* a granule layer expands the efference copy of the last motor command (15 muscle excitations) and
  the proprioceptive state (joint angles and velocities) through fixed random weights,
  ``g = relu(G [a_{t-1} - a_rest, p_t] + b_g)`` (Marr-Albus expansion);
* the Purkinje/nuclear read-out predicts how the proprioceptive state will change over the next
  ``horizon`` seconds, ``dp_hat = P g``;
* ``P`` learns by the delta rule on the sensory prediction error once the outcome of a prediction is
  felt: ``P <- P + eta (dp - dp_hat) g^T / (|g|^2 + 1)`` (normalised LMS; climbing-fibre error), with
  no dopamine in it, so it keeps learning while M1's dopamine is blocked;
* the motor thalamus (VL) relays the cerebellar nuclei's prediction through fixed random weights,
  ``th = relu(K dp_hat / s + b_th)``: its activity carries the *predicted* movement, tonic firing
  (``b_th``) when none is predicted.

The naive read-out is weak and random (``P`` small). Shaping fits it to the demonstrations
(:meth:`CerebellarThalamus.fit`, the limb model a mouse brings to the task; ``pretraining.forward_model``),
and the delta rule then adapts it to the animal's own movements. Whether the thalamus's movement content
rises and moves ahead of the movement with learning is measured by the analyses, not built in.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from agents.sensory import CUE_CLOCK_INDEX, PROPRIOCEPTIVE_BLOCKS, scaling_vectors
from reach_env import MUSCLES

#: Resting excitation of the muscles (sigmoid(-3): the read-out's initial bias); the efference copy
#: enters relative to it.
RESTING_EXCITATION = 1.0 / (1.0 + math.exp(3.0))


class CerebellarThalamus(nn.Module):
    """Forward model (granule expansion, learned read-out) and the thalamic population it drives.

    Args:
        n_units: thalamic units.
        n_granule: granule cells.
        horizon_steps: control steps ahead that the forward model predicts.
        initial_scale: standard deviation of the naive read-out ``P`` (a weak, untuned forward model).
        tonic: mean tonic drive of thalamic units (their rate with nothing predicted).
        generator: seeds every fixed weight and the naive read-out.
        timing_basis: granule inputs that mark the time since the tone (0: none): Gaussian bumps of
            ``timing_width`` seconds centred every ``timing_width`` from the tone's onset on.
        timing_width: width (s) of each timing bump and the spacing of their centres.
    """

    def __init__(self, n_units: int, n_granule: int, horizon_steps: int, initial_scale: float,
                 tonic: float, generator: torch.Generator, timing_basis: int = 0,
                 timing_width: float = 0.1):
        super().__init__()
        indices, offset, scale = scaling_vectors(PROPRIOCEPTIVE_BLOCKS)
        self.register_buffer("indices", torch.as_tensor(indices))
        self.register_buffer("offset", torch.as_tensor(offset))
        self.register_buffer("scale", torch.as_tensor(scale))
        n_proprio = len(indices)
        # The tone reaches the cerebellum through mossy fibres (pontine nuclei), and granule cells keep
        # a temporal basis of the time since it (Medina, Garcia, Nores, Taylor & Mauk 2000): what lets a
        # forward model anticipate a movement that follows the tone at a learned delay.
        self.register_buffer("timing_centres", timing_width * (torch.arange(timing_basis) + 0.5),
                             persistent=False)
        self.timing_width = timing_width
        n_in = len(MUSCLES) + n_proprio + timing_basis
        self.horizon_steps = horizon_steps
        self.register_buffer("granule_weight", torch.randn(n_granule, n_in, generator=generator)
                             / math.sqrt(n_in))
        self.register_buffer("granule_bias", 0.5 * torch.randn(n_granule, generator=generator))
        # The learned read-out is a buffer: only the delta rule below changes it, never an optimiser.
        self.register_buffer("prediction_weight",
                             initial_scale * torch.randn(n_proprio, n_granule, generator=generator)
                             / math.sqrt(n_granule))
        self.register_buffer("relay_weight", torch.randn(n_units, n_proprio, generator=generator)
                             / math.sqrt(n_proprio))
        self.register_buffer("bias", tonic * (1.0 + 0.2 * torch.randn(n_units, generator=generator)))

    def proprioception(self, observation: torch.Tensor) -> torch.Tensor:
        """Scaled proprioceptive state (B, P) of observations (B, 69) (:data:`PROPRIOCEPTIVE_BLOCKS`)."""
        return (observation[:, self.indices] - self.offset) / self.scale

    def timing(self, observation: torch.Tensor) -> torch.Tensor:
        """Temporal basis of the time since the tone (B, timing_basis); 0 before the tone."""
        since = observation[:, CUE_CLOCK_INDEX][:, None]
        bumps = torch.exp(-0.5 * ((since - self.timing_centres) / self.timing_width) ** 2)
        return bumps * (since > 0)

    def granule(self, observation: torch.Tensor, efference: torch.Tensor) -> torch.Tensor:
        """Granule-layer rates (B, n_granule) from observations and the last motor command (B, 15)."""
        inputs = torch.cat([efference - RESTING_EXCITATION, self.proprioception(observation),
                            self.timing(observation)], -1)
        return torch.relu(inputs @ self.granule_weight.T + self.granule_bias)

    def forward(self, observation: torch.Tensor, efference: torch.Tensor,
                gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(thalamic rates (B, n_units) scaled by gain (B,), granule rates)``."""
        granule = self.granule(observation, efference)
        predicted = granule @ self.prediction_weight.T
        rates = torch.relu(predicted @ self.relay_weight.T + self.bias)
        return rates * gain[:, None], granule

    @torch.no_grad()
    def learn(self, granule: torch.Tensor, start: torch.Tensor, end: torch.Tensor, mask: torch.Tensor,
              rate: float) -> float:
        """One normalised-LMS step of the read-out on a batch of felt predictions.

        Args:
            granule: granule rates (B, n_granule) when the predictions were made.
            start, end: scaled proprioception (B, P) then and ``horizon_steps`` later.
            mask: (B,) which predictions count (both ends inside their trial).
            rate: learning rate of the delta rule.

        Returns:
            The mean squared prediction error of the counted predictions before the step (0 if none).
        """
        weight = mask.float()[:, None]
        count = float(weight.sum())
        if count == 0.0:
            return 0.0
        error = (end - start - granule @ self.prediction_weight.T) * weight
        normaliser = (granule ** 2).sum(-1, keepdim=True) + 1.0
        self.prediction_weight += rate * (error / normaliser).T @ granule / count
        return float((error ** 2).sum() / (count * error.shape[1]))

    @torch.no_grad()
    def fit(self, observations: torch.Tensor, efference: torch.Tensor, valid: torch.Tensor,
            ridge: float = 0.1) -> float:
        """Set the read-out ``P`` to the ridge solution of the forward model on whole trials.

        What the normalised delta rule converges to on these trials, solved at once: the forward model
        that a lifetime of moving the limb leaves (the cerebellum's limb model is mature before a task
        is learned), against which the protocol's delta rule then only adapts.

        Args:
            observations: (N, T, 69) observations of N trials.
            efference: (N, T, 15) the motor command before each step (the last command sent).
            valid: (N, T) the steps inside each trial.
            ridge: penalty on ``|P|^2`` relative to the granule rates' second moment (dimensionless).

        Returns:
            The mean squared prediction error after the fit (scaled proprioceptive units squared); NaN,
            with ``P`` left as it was, if no trial lasts longer than the horizon.
        """
        n, length = valid.shape
        h = self.horizon_steps
        if length <= h or not bool((valid[:, :-h] & valid[:, h:]).any()):
            return math.nan
        flat = observations.reshape(n * length, -1)
        granule = self.granule(flat, efference.reshape(n * length, -1)).reshape(n, length, -1)
        state = self.proprioception(flat).reshape(n, length, -1)
        counted = (valid[:, :-h] & valid[:, h:]).reshape(-1)
        g = granule[:, :-h].reshape(-1, granule.shape[-1])[counted].double()
        target = (state[:, h:] - state[:, :-h]).reshape(-1, state.shape[-1])[counted].double()
        gram = g.T @ g
        penalty = ridge * torch.trace(gram) / gram.shape[0]
        identity = torch.eye(gram.shape[0], dtype=gram.dtype)
        solution = torch.linalg.solve(gram + penalty * identity, g.T @ target)
        self.prediction_weight.copy_(solution.T.to(self.prediction_weight.dtype))
        return float(((target - g @ solution) ** 2).mean())
