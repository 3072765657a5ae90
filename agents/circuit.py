"""The circuit: inputs -> M1 layer 2/3 (recurrent) -> read-out to the muscles, and a critic.

Two circuits, chosen by ``AgentConfig.circuit``:

* **1** (the relay circuit): a "motor thalamus" relays every sense through fixed random weights and is
  the cortex's only input.
* **2** (an option until it reproduces more of the lab's findings; ``docs/model.md``, "Circuit v2"):
  each sense reaches M1 by its own route. A
  somatosensory (S1-like) population carries proprioception, touch and the pellet's place; an auditory
  input the tone; a weak outcome input the taste of the pellet at the mouth. The motor thalamus is its
  own population, driven by a cerebellar forward model that learns from sensory prediction errors
  (:mod:`agents.cerebellum`), and projects sparsely (connection probability ``tc_density``), with each
  cortical unit's thalamic weights normalised to the same total at the start. The cortex has private
  neural noise.

Which weights are which, for the learning rule and for the experiments:

=========================  ============================  ==============================================
weights                    module attribute              plasticity
=========================  ============================  ==============================================
senses -> relay thalamus   ``thalamus.input_weight``     fixed (circuit 1)
forward model read-out     ``thalamus.prediction_weight`` delta rule on sensory prediction errors, not
                                                         gated by M1 dopamine (circuit 2)
senses -> S1 population    ``somatosensory.input_weight`` fixed (circuit 2)
thalamus -> cortex         ``cortex.thalamocortical``    dopamine-gated (three-factor rule); circuit 2:
                                                         excitatory, sparse (``cortex.tc_mask``)
S1 -> cortex               ``cortex.somatosensory``      dopamine-gated (circuit 2)
tone -> cortex             ``cortex.auditory``           dopamine-gated (circuit 2)
taste -> cortex            ``cortex.outcome``            dopamine-gated Hebbian rule (circuit 2; weak
                                                         at the start; :mod:`agents.three_factor`)
cortex -> cortex           ``cortex.recurrent``          dopamine-gated
cortex -> muscles          ``cortex.readout``            dopamine-gated (layer 5 / spinal stage)
exploration amplitude      ``cortex.log_exploration``    dopamine-gated (if ``learn_exploration``)
critic                     ``critic``                    TD learning; not gated by M1 dopamine
=========================  ============================  ==============================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from agents.cerebellum import RESTING_EXCITATION, CerebellarThalamus
from agents.config import AgentConfig
from agents.sensory import (
    CUE_BLOCKS,
    CUE_CLOCK_INDEX,
    OUTCOME_BLOCKS,
    SOMATOSENSORY_BLOCKS,
    THALAMIC_BLOCKS,
    scaling_vectors,
)
from reach_env import MUSCLES, OBSERVATION_BLOCKS, observation_labels

OBSERVATION_SIZE = sum(size for _, size, _ in OBSERVATION_BLOCKS)
#: The inputs of the cortex other than its own units, in the order :class:`Cortex` sums them.
INPUTS: tuple[str, ...] = ("thalamus", "s1", "cue", "outcome")


class ScaledInput(nn.Module):
    """Selected observation blocks, scaled to order one (:data:`agents.sensory.BLOCK_SCALING`)."""

    def __init__(self, blocks: tuple[str, ...]):
        super().__init__()
        indices, offset, scale = scaling_vectors(blocks)
        self.register_buffer("indices", torch.as_tensor(indices))
        self.register_buffer("offset", torch.as_tensor(offset))
        self.register_buffer("scale", torch.as_tensor(scale))

    @property
    def size(self) -> int:
        return len(self.indices)

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return (observation[:, self.indices] - self.offset) / self.scale


class AuditoryInput(ScaledInput):
    """The tone channel as the cortex hears it: on while the tone sounds and for ``persistence`` seconds
    from its onset (the auditory response outlasting a brief tone), scaled like the tone itself."""

    def __init__(self, persistence: float):
        super().__init__(CUE_BLOCKS)
        self.persistence = persistence

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        since = observation[:, CUE_CLOCK_INDEX : CUE_CLOCK_INDEX + 1]
        lingering = ((since > 0) & (since < self.persistence)).to(observation.dtype)
        # The tone channel reads 1 while the tone sounds (reach_env's observation).
        return (torch.maximum(observation[:, self.indices], lingering) - self.offset) / self.scale


class SensoryPopulation(nn.Module):
    """Rectified population coding scaled observation blocks through fixed random weights.

    Args:
        blocks: observation blocks it senses.
        n_units: units.
        generator: seeds the fixed weights.
    """

    def __init__(self, blocks: tuple[str, ...], n_units: int, generator: torch.Generator):
        super().__init__()
        self.inputs = ScaledInput(blocks)
        n_in = self.inputs.size
        self.register_buffer("input_weight",
                             torch.randn(n_units, n_in, generator=generator) / math.sqrt(n_in))
        self.register_buffer("bias", 0.1 * torch.randn(n_units, generator=generator))

    def forward(self, observation: torch.Tensor, gain: torch.Tensor | None = None) -> torch.Tensor:
        """Rates (B, n_units) for observations (B, 69), scaled by a per-trial ``gain`` (B,) if given."""
        rates = torch.relu(self.inputs(observation) @ self.input_weight.T + self.bias)
        return rates if gain is None else rates * gain[:, None]


class MotorThalamus(SensoryPopulation):
    """Circuit 1's thalamus: a rectified relay of every sense but the trial clock."""

    def __init__(self, n_units: int, generator: torch.Generator):
        super().__init__(THALAMIC_BLOCKS, n_units, generator)


class Cortex(nn.Module):
    """Rate network of M1 layer 2/3 with a sigmoid read-out to muscle excitations.

    ``x <- (1 - a) x + a (W_rec r + sum_k W_k u_k + b + xi)``, ``r = tanh(x)`` (``relu(tanh(x))`` under
    Dale's law), ``excitation = sigmoid(W_out r + b_out)``, with ``a = dt / tau``, inputs ``u_k``
    (:data:`INPUTS`; circuit 1 has the thalamus only) and private neural noise ``xi`` (circuit 2).

    Args:
        config: the agent configuration.
        sizes: units of each input population present, by name.
        dt: control time step (s).
        generator: seeds every initial weight.
        tonic_thalamus: circuit 2: each thalamic unit's resting rate, whose drive the initial bias
            cancels (so that a cortical unit starts near the middle of its range).
    """

    def __init__(self, config: AgentConfig, sizes: dict[str, int], dt: float, generator: torch.Generator,
                 tonic_thalamus: torch.Tensor | None = None):
        super().__init__()
        n = config.n_cortex
        n_thalamus = sizes["thalamus"]
        self.alpha = dt / config.tau
        if not 0 < self.alpha <= 1:
            raise ValueError(f"control step dt={dt} s and tau={config.tau} s give dt/tau={self.alpha}, "
                             f"which must be in (0, 1]")
        self.dale = config.dale
        self.version = config.circuit
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
        bias = torch.zeros(n)
        if self.version == 1:
            self.thalamocortical = nn.Parameter(
                torch.randn(n, n_thalamus, generator=generator) / math.sqrt(n_thalamus))
        else:
            # Sparse and excitatory; every cortical unit gets at least one thalamic synapse and the same
            # total weight ``tc_gain`` (normalised per unit).
            tc_mask = (torch.rand(n, n_thalamus, generator=generator) < config.tc_density).float()
            tc_mask[torch.arange(n), torch.randint(n_thalamus, (n,), generator=generator)] = 1.0
            magnitude = torch.rand(n, n_thalamus, generator=generator) * tc_mask
            magnitude = config.tc_gain * magnitude / magnitude.sum(1, keepdim=True)
            if config.tc_targets < 1.0:
                # Only a share of layer 2/3 receives thalamic synapses, so that a thalamic pulse excites a
                # subset and learning can change which units those are (finding 8).
                receiving = (torch.rand(n, 1, generator=generator) < config.tc_targets).float()
                tc_mask, magnitude = tc_mask * receiving, magnitude * receiving
            self.register_buffer("tc_mask", tc_mask)
            self.thalamocortical = nn.Parameter(magnitude)
            if tonic_thalamus is not None:
                bias = bias - magnitude @ tonic_thalamus
            self.somatosensory = nn.Parameter(
                config.s1_gain * torch.randn(n, sizes["s1"], generator=generator) / math.sqrt(sizes["s1"]))
            # S1 reaches a share ``s1_density`` of the units directly (None: all of them).
            s1_mask = None
            if config.s1_density < 1.0:
                s1_mask = (torch.rand(n, 1, generator=generator) < config.s1_density).float()
            self.register_buffer("s1_mask", s1_mask)
            # The tone reaches a share ``cue_density`` of the units (the rest hear it only through them).
            cue_mask = (torch.rand(n, sizes["cue"], generator=generator) < config.cue_density).float()
            self.register_buffer("cue_mask", cue_mask)
            self.auditory = nn.Parameter(config.cue_gain * torch.randn(n, sizes["cue"], generator=generator)
                                         / math.sqrt(sizes["cue"]))
            # Weak at the start: outcome responses must be learned (with dopamine) to appear.
            # Its own Hebbian rule moves it (never a gradient step: no autograd needed).
            self.outcome = nn.Parameter(config.outcome_initial * torch.randn(n, sizes["outcome"],
                                                                             generator=generator),
                                        requires_grad=False)
        self.bias = nn.Parameter(bias)
        self.readout = nn.Parameter(torch.randn(len(MUSCLES), n, generator=generator) * 0.1 / math.sqrt(n))
        # Circuit 2: only a share ``readout_density`` of the units project to the muscles' stage (layer 5
        # receives from part of layer 2/3); the others move the limb only through them.
        readout_mask = None
        if self.version != 1 and config.readout_density < 1.0:
            readout_mask = (torch.rand(1, n, generator=generator) < config.readout_density).float()
        self.register_buffer("readout_mask", readout_mask)  # None: every unit projects
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

    def effective_readout(self) -> torch.Tensor:
        """The read-out as used (circuit 2 with ``readout_density`` < 1: only projecting units' columns)."""
        return self.readout if self.readout_mask is None else self.readout * self.readout_mask

    def effective_thalamocortical(self) -> torch.Tensor:
        """The thalamocortical weights as used (circuit 2: rectified, excitatory, on the sparse mask)."""
        if self.version == 1:
            return self.thalamocortical
        return torch.relu(self.thalamocortical) * self.tc_mask

    def input_weights(self) -> dict[str, torch.Tensor]:
        """Effective weight matrix (n_cortex, size) of each input present, by :data:`INPUTS` name."""
        weights = {"thalamus": self.effective_thalamocortical()}
        if self.version != 1:
            s1 = self.somatosensory if self.s1_mask is None else self.somatosensory * self.s1_mask
            weights.update(s1=s1, cue=self.auditory * self.cue_mask, outcome=self.outcome)
        return weights

    def rates(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.tanh(x)) if self.dale else torch.tanh(x)

    def advance(self, x: torch.Tensor, inputs: dict[str, torch.Tensor],
                neural_noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One control step: ``(x_new, rates, motor drive)``; the excitation is ``sigmoid(drive)``.

        ``inputs``: rates of each input population (B, size) by name; ``neural_noise``: private noise
        added to the input current (B, n_cortex).
        """
        current = self.rates(x) @ self.effective_recurrent().T
        for name, weight in self.input_weights().items():
            current = current + inputs[name] @ weight.T
        current = current + self.bias
        if neural_noise is not None:
            current = current + neural_noise
        x = x + self.alpha * (current - x)
        r = self.rates(x)
        return x, r, r @ self.effective_readout().T + self.readout_bias

    def forward(self, x: torch.Tensor, inputs: dict[str, torch.Tensor],
                neural_noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One control step: ``(x_new, rates, mean excitation)``, all batched over trials."""
        x, r, drive = self.advance(x, inputs, neural_noise)
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
    """What carries over between control steps: cortical potentials, the exploration noise and the
    efference copy of the last motor command (the excitation sent)."""

    x: torch.Tensor  # (B, n_cortex)
    noise: torch.Tensor  # (B, n_muscles)
    efference: torch.Tensor  # (B, n_muscles)
    #: S1 rates on their way to the cortex (B, delay steps, n_s1), oldest first; None without a delay.
    s1_pending: torch.Tensor | None = None

    def detach(self) -> CircuitState:
        pending = None if self.s1_pending is None else self.s1_pending.detach()
        return CircuitState(self.x.detach(), self.noise.detach(), self.efference.detach(), pending)


@dataclass
class StepOutput:
    """One control step of the circuit for a batch of trials (tensors of batch size B)."""

    action: torch.Tensor  # excitation sent to the env (before its [0, 1] clip)
    mean: torch.Tensor  # the cortex's intended excitation (with grad)
    log_prob: torch.Tensor  # log density of the action's fresh noise (with grad), (B,)
    noise: torch.Tensor  # exploration noise added to the mean
    cortex: torch.Tensor  # cortical rates
    inputs: dict[str, torch.Tensor]  # rates of each input population (:data:`INPUTS` present)
    neural_noise: torch.Tensor | None  # private noise in the cortical input current (None without it)
    granule: torch.Tensor | None  # granule-layer rates of the forward model (circuit 2)
    state: CircuitState
    deciding: torch.Tensor  # (B,) bool: the step drew exploration noise (a stochastic decision)

    @property
    def thalamus(self) -> torch.Tensor:
        """Thalamic rates (B, n_thalamus)."""
        return self.inputs["thalamus"]


class CorticalCircuit(nn.Module):
    """Inputs, cortex and critic, acting on batches of trials.

    Args:
        config: the agent configuration (``config.circuit`` chooses the circuit).
        dt: control time step (s) of the environment.
        seed: seeds every initial weight.
    """

    def __init__(self, config: AgentConfig, dt: float, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.config = config
        self.version = config.circuit
        if self.version == 1:
            self.thalamus = MotorThalamus(config.n_thalamus, generator)
            self.cortex = Cortex(config, {"thalamus": config.n_thalamus}, dt, generator)
        else:
            horizon = max(1, round(config.forward_horizon / dt))
            self.thalamus = CerebellarThalamus(config.n_thalamus, config.n_granule, horizon,
                                               config.forward_initial, config.thalamic_tonic, generator,
                                               config.timing_basis, config.timing_width)
            self.somatosensory = SensoryPopulation(SOMATOSENSORY_BLOCKS, config.n_s1, generator)
            self.cue_input = AuditoryInput(config.cue_persistence)
            self.outcome_input = ScaledInput(OUTCOME_BLOCKS)
            sizes = {"thalamus": config.n_thalamus, "s1": config.n_s1, "cue": self.cue_input.size,
                     "outcome": self.outcome_input.size}
            self.cortex = Cortex(config, sizes, dt, generator, tonic_thalamus=torch.relu(self.thalamus.bias))
        self.critic = Critic(config.critic_hidden, generator)
        self.noise_decay = math.exp(-dt / config.noise_tau) if config.noise_tau > 0 else 0.0
        self._innovation_scale = math.sqrt(1.0 - self.noise_decay ** 2)
        #: Observation entries that say the cue has come (the tone channel, the time since its onset).
        self.cue_heard_indices = [i for i, label in enumerate(observation_labels())
                                  if label in ("cue", "time_since_cue")]
        #: Control steps that S1's signal takes to reach the cortex (circuit 2).
        self.s1_delay_steps = round(config.s1_delay / dt) if self.version != 1 else 0

    def exploration_std(self) -> torch.Tensor:
        """Current standard deviation of the exploration noise per muscle (stationary, not innovation)."""
        return self.cortex.log_exploration.exp()

    def cortical_parameters(self) -> list[nn.Parameter]:
        """Every weight that dopamine gates: thalamocortical, recurrent, read-out (and biases), and in
        circuit 2 the S1, cue and outcome projections."""
        return list(self.cortex.parameters())

    def policy_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """The gated weights that the policy-gradient step moves: all cortical parameters but the
        outcome projection (its own Hebbian rule, :class:`agents.three_factor.ThreeFactorLearner`) and
        the exploration amplitude (its own step size)."""
        return [(name, p) for name, p in self.cortex.named_parameters()
                if name not in ("log_exploration", "outcome")]

    def non_finite(self) -> list[str]:
        """Names of the parameters and buffers holding a NaN or an infinity (empty when all are finite)."""
        return [name for name, value in self.state_dict().items()
                if value.is_floating_point() and not bool(torch.isfinite(value).all())]

    def initial_state(self, batch: int) -> CircuitState:
        pending = (torch.zeros(batch, self.s1_delay_steps, self.config.n_s1) if self.s1_delay_steps
                   else None)
        return CircuitState(torch.zeros(batch, self.config.n_cortex), torch.zeros(batch, len(MUSCLES)),
                            torch.full((batch, len(MUSCLES)), RESTING_EXCITATION), pending)

    def delay_s1(self, inputs: dict[str, torch.Tensor], pending: torch.Tensor | None
                 ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Swap the S1 rates just sensed for those sensed ``s1_delay`` ago (the afferent delay):
        ``(inputs the cortex receives now, the pending S1 rates after this step)``. Without a delay,
        ``inputs`` unchanged and None."""
        if pending is None:
            return inputs, None
        arriving = pending[:, 0]
        pending = torch.cat([pending[:, 1:], inputs["s1"][:, None]], 1)
        return {**inputs, "s1": arriving}, pending

    def sense(self, observation: torch.Tensor, efference: torch.Tensor, thalamus_gain: torch.Tensor,
              thalamic_pulse: torch.Tensor | None = None
              ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """The cortex's input populations for observations (B, 69) and the last motor command (B, 15).

        ``thalamus_gain`` (B,) scales the thalamic input (0: silenced); ``thalamic_pulse`` (B, M), if
        given, is added to the thalamic rates before that gain (the stimulation probe).
        Returns the rates by name and the forward model's granule rates (None in circuit 1).
        """
        if self.version == 1:
            thalamic, granule = self.thalamus(observation, None), None
        else:
            thalamic, granule = self.thalamus(observation, efference, torch.ones_like(thalamus_gain))
        if thalamic_pulse is not None:
            thalamic = thalamic + thalamic_pulse
        inputs = {"thalamus": thalamic * thalamus_gain[:, None]}
        if self.version != 1:
            inputs.update(s1=self.somatosensory(observation), cue=self.cue_input(observation),
                          outcome=self.outcome_input(observation))
        return inputs, granule

    def draw_neural_noise(self, batch: int, generator: torch.Generator) -> torch.Tensor | None:
        """Private noise of the cortical input current (B, n_cortex); None without it (circuit 1, or
        ``neural_noise_std`` 0), which draws nothing from ``generator``."""
        if self.config.neural_noise_std == 0 or self.version == 1:
            return None
        return self.config.neural_noise_std * torch.randn(batch, self.config.n_cortex, generator=generator)

    def step(self, observation: torch.Tensor, state: CircuitState, thalamus_gain: torch.Tensor,
             generator: torch.Generator, explore: bool = True,
             exploration: torch.Tensor | None = None,
             thalamic_pulse: torch.Tensor | None = None) -> StepOutput:
        """Act for one control step.

        The exploration noise is low-pass filtered (``noise_tau``); the policy's randomness is its
        fresh innovation, so ``log_prob`` is the log density of that innovation given the mean.
        ``exploration`` (B,), if given, is each trial's noise standard deviation (set from outside the
        cortex, :mod:`agents.exploration`); otherwise the cortex's own ``log_exploration`` sets it.
        The private neural noise (circuit 2) is drawn whether or not the cortex explores: it is the
        network's own, not a decision. ``thalamic_pulse``: see :meth:`sense`.
        """
        inputs, granule = self.sense(observation, state.efference, thalamus_gain, thalamic_pulse)
        inputs, s1_pending = self.delay_s1(inputs, state.s1_pending)
        neural_noise = self.draw_neural_noise(observation.shape[0], generator)
        x, rates, drive = self.cortex.advance(state.x, inputs, neural_noise)
        mean = torch.sigmoid(drive)
        std = self.exploration_std() if exploration is None else exploration[:, None]
        innovation_std = std * self._innovation_scale
        # Before the cue the paw waits on the perch: its variability is the fraction
        # ``precue_exploration`` of the movement's (0: no stochastic decision at all before the cue).
        heard = observation[:, self.cue_heard_indices].amax(-1) > 0
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
        efference = action.detach().clamp(0.0, 1.0)
        return StepOutput(action, mean, log_prob, noise, rates, inputs, neural_noise, granule,
                          CircuitState(x, noise, efference, s1_pending), deciding[:, 0])
