"""The circuit: motor thalamus -> M1 layer 2/3 (recurrent) -> read-out to the muscles, and a critic.

Which weights are which, for the learning rule and for the experiments:

=========================  ==========================  ==========================================
weights                    module attribute            plasticity
=========================  ==========================  ==========================================
sensory -> thalamus        ``thalamus.input_weight``   fixed (a buffer; thalamic relay of the
                                                       cue, proprioception, touch and taste)
thalamus -> cortex         ``cortex.thalamocortical``  dopamine-gated (three-factor rule)
cortex -> cortex           ``cortex.recurrent``        dopamine-gated
cortex -> muscles          ``cortex.readout``          dopamine-gated (layer 5 / spinal stage)
exploration amplitude      ``cortex.log_exploration``  dopamine-gated (if ``learn_exploration``)
critic                     ``critic``                  TD learning; not gated by M1 dopamine
=========================  ==========================  ==========================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from agents.config import AgentConfig
from agents.sensory import THALAMIC_BLOCKS, scaling_vectors
from reach_env import MUSCLES, OBSERVATION_BLOCKS, observation_labels

OBSERVATION_SIZE = sum(size for _, size, _ in OBSERVATION_BLOCKS)


class MotorThalamus(nn.Module):
    """Rectified relay of the scaled sensory state through fixed random weights.

    Args:
        n_units: thalamic units.
        generator: seeds the fixed input weights.
    """

    def __init__(self, n_units: int, generator: torch.Generator):
        super().__init__()
        indices, offset, scale = scaling_vectors(THALAMIC_BLOCKS)
        self.register_buffer("indices", torch.as_tensor(indices))
        self.register_buffer("offset", torch.as_tensor(offset))
        self.register_buffer("scale", torch.as_tensor(scale))
        n_in = len(indices)
        self.register_buffer("input_weight",
                             torch.randn(n_units, n_in, generator=generator) / math.sqrt(n_in))
        self.register_buffer("bias", 0.1 * torch.randn(n_units, generator=generator))

    def forward(self, observation: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        """Thalamic rates (B, n_units) for observations (B, 69), scaled by per-trial ``gain`` (B,)."""
        inputs = (observation[:, self.indices] - self.offset) / self.scale
        return torch.relu(inputs @ self.input_weight.T + self.bias) * gain[:, None]


class Cortex(nn.Module):
    """Rate network of M1 layer 2/3 with a sigmoid read-out to muscle excitations.

    ``x <- (1 - a) x + a (W_rec r + W_tc r_thalamus + b)``, ``r = tanh(x)`` (``relu(tanh(x))`` under
    Dale's law), ``excitation = sigmoid(W_out r + b_out)``, with ``a = dt / tau``.
    """

    def __init__(self, config: AgentConfig, n_thalamus: int, dt: float, generator: torch.Generator):
        super().__init__()
        n = config.n_cortex
        self.alpha = dt / config.tau
        if not 0 < self.alpha <= 1:
            raise ValueError(f"control step dt={dt} s and tau={config.tau} s give dt/tau={self.alpha}, "
                             f"which must be in (0, 1]")
        self.dale = config.dale
        density = config.connection_density
        mask = (torch.rand(n, n, generator=generator) < density).float()
        mask.fill_diagonal_(0.0)
        self.register_buffer("mask", mask)
        sign = torch.ones(n)
        if self.dale:
            n_inhibitory = n - round(config.excitatory_fraction * n)
            sign[n - n_inhibitory:] = -1.0
        self.register_buffer("sign", sign)
        scale = config.recurrent_gain / math.sqrt(n * density)
        recurrent = torch.randn(n, n, generator=generator) * scale
        if self.dale:
            # Magnitudes only; inhibitory columns are stronger so that input is balanced on average.
            ratio = config.excitatory_fraction / max(1.0 - config.excitatory_fraction, 1e-6)
            recurrent = recurrent.abs() * torch.where(sign > 0, 1.0, ratio)
        self.recurrent = nn.Parameter(recurrent)
        self.thalamocortical = nn.Parameter(
            torch.randn(n, n_thalamus, generator=generator) / math.sqrt(n_thalamus))
        self.bias = nn.Parameter(torch.zeros(n))
        self.readout = nn.Parameter(torch.randn(len(MUSCLES), n, generator=generator) * 0.1 / math.sqrt(n))
        # Resting excitation about 0.05: sigmoid(-3).
        self.readout_bias = nn.Parameter(torch.full((len(MUSCLES),), -3.0))
        # Log standard deviation of the exploration noise per muscle. Learned by the same gated
        # rule (movement variability shrinks as a skill is learned) unless learn_exploration is off.
        log_std = torch.full((len(MUSCLES),), math.log(config.exploration_std))
        if config.learn_exploration:
            self.log_exploration = nn.Parameter(log_std)
        else:
            self.register_buffer("log_exploration", log_std)

    def effective_recurrent(self) -> torch.Tensor:
        """The recurrent weight matrix as used (mask and, under Dale's law, signs applied)."""
        if self.dale:
            return torch.relu(self.recurrent) * self.mask * self.sign[None, :]
        return self.recurrent * self.mask

    def rates(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.tanh(x)) if self.dale else torch.tanh(x)

    def advance(self, x: torch.Tensor, thalamic: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                          torch.Tensor]:
        """One control step: ``(x_new, rates, motor drive)``; the excitation is ``sigmoid(drive)``."""
        current = self.rates(x) @ self.effective_recurrent().T + thalamic @ self.thalamocortical.T + self.bias
        x = x + self.alpha * (current - x)
        r = self.rates(x)
        return x, r, r @ self.readout.T + self.readout_bias

    def forward(self, x: torch.Tensor, thalamic: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                          torch.Tensor]:
        """One control step: ``(x_new, rates, mean excitation)``, all batched over trials."""
        x, r, drive = self.advance(x, thalamic)
        return x, r, torch.sigmoid(drive)


class Critic(nn.Module):
    """Value of the current trial state ("VTA value"), from the full scaled observation."""

    def __init__(self, hidden: int, generator: torch.Generator):
        super().__init__()
        indices, offset, scale = scaling_vectors()
        self.register_buffer("offset", torch.as_tensor(offset))
        self.register_buffer("scale", torch.as_tensor(scale))
        self.net = nn.Sequential(nn.Linear(len(indices), hidden), nn.Tanh(),
                                 nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        with torch.no_grad():
            for layer in self.net:
                if isinstance(layer, nn.Linear):
                    bound = 1.0 / math.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.zero_()

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """V(s), shape (B,)."""
        return self.net((observation - self.offset) / self.scale).squeeze(-1)


@dataclass
class CircuitState:
    """What carries over between control steps: cortical potentials and the exploration noise."""

    x: torch.Tensor  # (B, n_cortex)
    noise: torch.Tensor  # (B, n_muscles)

    def detach(self) -> CircuitState:
        return CircuitState(self.x.detach(), self.noise.detach())


@dataclass
class StepOutput:
    """One control step of the circuit for a batch of trials (tensors of batch size B)."""

    action: torch.Tensor  # excitation sent to the env (before its [0, 1] clip)
    mean: torch.Tensor  # the cortex's intended excitation (with grad)
    log_prob: torch.Tensor  # log density of the action's fresh noise (with grad), (B,)
    noise: torch.Tensor  # exploration noise added to the mean
    cortex: torch.Tensor  # cortical rates
    thalamus: torch.Tensor  # thalamic rates
    state: CircuitState
    deciding: torch.Tensor  # (B,) bool: the step drew exploration noise (a stochastic decision)


class CorticalCircuit(nn.Module):
    """Thalamus, cortex and critic, acting on batches of trials.

    Args:
        config: the agent configuration.
        dt: control time step (s) of the environment.
        seed: seeds every initial weight.
    """

    def __init__(self, config: AgentConfig, dt: float, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.config = config
        self.thalamus = MotorThalamus(config.n_thalamus, generator)
        self.cortex = Cortex(config, config.n_thalamus, dt, generator)
        self.critic = Critic(config.critic_hidden, generator)
        self.noise_decay = math.exp(-dt / config.noise_tau) if config.noise_tau > 0 else 0.0
        self._innovation_scale = math.sqrt(1.0 - self.noise_decay ** 2)
        #: Observation entries that say the cue has come (the tone channel, the time since its onset).
        self._cue_heard = [i for i, label in enumerate(observation_labels())
                           if label in ("cue", "time_since_cue")]

    def exploration_std(self) -> torch.Tensor:
        """Current standard deviation of the exploration noise per muscle (stationary, not innovation)."""
        return self.cortex.log_exploration.exp()

    def cortical_parameters(self) -> list[nn.Parameter]:
        """Every weight that dopamine gates: thalamocortical, recurrent, read-out (and biases)."""
        return list(self.cortex.parameters())

    def non_finite(self) -> list[str]:
        """Names of the parameters and buffers holding a NaN or an infinity (empty when all are finite)."""
        return [name for name, value in self.state_dict().items()
                if value.is_floating_point() and not bool(torch.isfinite(value).all())]

    def initial_state(self, batch: int) -> CircuitState:
        return CircuitState(torch.zeros(batch, self.config.n_cortex), torch.zeros(batch, len(MUSCLES)))

    def step(self, observation: torch.Tensor, state: CircuitState, thalamus_gain: torch.Tensor,
             generator: torch.Generator, explore: bool = True,
             exploration: torch.Tensor | None = None) -> StepOutput:
        """Act for one control step.

        The exploration noise is low-pass filtered (``noise_tau``); the policy's randomness is its
        fresh innovation, so ``log_prob`` is the log density of that innovation given the mean.
        ``exploration`` (B,), if given, is each trial's noise standard deviation (set from outside the
        cortex, :mod:`agents.exploration`); otherwise the cortex's own ``log_exploration`` sets it.
        """
        thalamic = self.thalamus(observation, thalamus_gain)
        x, rates, drive = self.cortex.advance(state.x, thalamic)
        mean = torch.sigmoid(drive)
        std = self.exploration_std() if exploration is None else exploration[:, None]
        innovation_std = std * self._innovation_scale
        # Before the cue the paw waits on the perch: its variability is the fraction
        # ``precue_exploration`` of the movement's (0: no stochastic decision at all before the cue).
        heard = observation[:, self._cue_heard].amax(-1) > 0
        scale = torch.where(heard, 1.0, self.config.precue_exploration)[:, None]
        deciding = scale > 0
        innovation_std = innovation_std * torch.where(deciding, scale, 1.0)
        if explore:
            innovation = torch.randn(mean.shape, generator=generator) * innovation_std.detach() * deciding
            noise = self.noise_decay * state.noise + innovation
        else:
            noise = torch.zeros_like(mean)
        # Where the noise enters: the excitation itself (clipped to [0, 1] by the env, so that noise on a
        # near-zero excitation raises its average), or the motor drive before the sigmoid, where the
        # noise-free excitation is the median of the noisy one.
        centre = drive if self.config.noise_in_drive else mean
        noisy = (centre + noise).detach()
        action = torch.sigmoid(noisy) if self.config.noise_in_drive else noisy
        # log N(noisy; centre + decay * previous noise, innovation_std^2), summed over muscles; its
        # gradient reaches the centre (through the cortex) and the noise amplitude.
        residual = noisy - centre - self.noise_decay * state.noise
        log_prob = ((-0.5 * (residual / innovation_std) ** 2 - torch.log(innovation_std)) * deciding).sum(-1)
        return StepOutput(action, mean, log_prob, noise, rates, thalamic, CircuitState(x, noise),
                          deciding[:, 0])
