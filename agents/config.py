"""Typed, validated configuration of the cortical agent and its learning rule, and the base of every
config section of a run (:class:`ConfigSection`)."""

from __future__ import annotations

import math
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, model_validator


class ConfigSection(BaseModel):
    """A section of a run's configuration (``agent``, ``protocol``, ...), on pydantic v2.

    Frozen (a run's config does not change under it), unknown fields refused, and strict types: a YAML
    ``true`` is not an integer and ``3.5`` is not one either (an integer is accepted for a float). Each
    field's docstring is its description (``--help`` prints it, units included); cross-field rules are
    ``model_validator`` methods that raise ``ValueError`` naming ``section.field``. Loading from YAML and
    the command line, and turning validation errors into one-line messages, is
    :func:`training.config.build_section`'s.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain data (for ``config.yaml`` and checkpoints)."""
        return self.model_dump()

    @classmethod
    def field_names(cls) -> list[str]:
        return list(cls.model_fields)


#: Fields that both circuits use with different values, filled in where a config leaves them None:
#: circuit 2's cortex has weaker recurrence, so that a unit's activity follows its own inputs rather
#: than one population-wide mode (with 0.9, 97-99 % of units encoded the command and 85-90 % responded
#: to the tone), and keeps cloning's rate regulariser in its gated steps (its mean rate rose by 17-29 %
#: over sessions 1-7 without it). docs/model.md, "Circuit v2".
CIRCUIT_DEFAULTS: dict[int, dict[str, float]] = {
    1: {"recurrent_gain": 0.9, "activity_penalty": 0.0},
    2: {"recurrent_gain": 0.5, "activity_penalty": 0.1},
}


class AgentConfig(ConfigSection):
    """Sizes and constants of the circuit and of the three-factor learning rule.

    Each field's meaning is its docstring (``--help`` prints them)."""

    circuit: int = 1
    """1 (a fixed thalamic relay of every sense, the cortex's only input; the default until circuit 2
    reproduces the lab's findings, ``docs/model.md``) or 2 (separate senses, a learning cerebellar
    thalamus, an outcome pathway under dopamine, private neural noise: :mod:`agents.circuit`). The fields
    below up to ``neural_noise_std`` are circuit 2's; ``recurrent_gain`` and ``activity_penalty`` default
    by circuit (:data:`CIRCUIT_DEFAULTS`)."""
    n_thalamus: int = 64
    """motor-thalamus units."""
    n_s1: int = 64
    """somatosensory (S1-like) input units (circuit 2)."""
    n_granule: int = 256
    """granule cells of the cerebellar forward model (circuit 2)."""
    forward_horizon: float = 0.2
    """how far ahead (s) the forward model predicts the proprioceptive state (circuit 2). 0.6 s (most of
    a reach) made the thalamus as good an encoder of the command as S1 and steadied the mean rate, but on
    fresh seeds the cerebellum's adaptation then improved one seed's reach while M1's dopamine was
    blocked, and the record reproduced fewer findings (docs/model.md, "Fourth round"); with
    ``forward_lr`` 0.002 as well it reproduced as many as 0.2 s, other ones ("The fourth record")."""
    forward_initial: float = 0.1
    """standard deviation of the naive forward model's read-out (relative to a unit granule vector: a
    weak, untuned model)."""
    forward_lr: float = 0.01
    """step size of the forward model's delta rule (normalised LMS, per control step; 0.05 before the
    forward model was fitted in shaping: a fast one learns the animal's own habits, pre-cue lifts
    included, and relays them back, docs/model.md)."""
    thalamic_tonic: float = 0.5
    """mean resting rate of the thalamic units."""
    timing_basis: int = 8
    """granule inputs of the forward model that mark the time since the tone (circuit 2; 0 = none),
    Gaussian bumps every ``timing_width`` seconds."""
    timing_width: float = 0.1
    """width and spacing (s) of those bumps."""
    s1_delay: float = 0.02
    """afferent delay (s) of the S1 input to the cortex (circuit 2; rounded to control steps)."""
    tc_density: float = 0.2
    """probability of a thalamocortical connection (circuit 2; the lab's sparse input)."""
    tc_targets: float = 0.5
    """share of cortical units that receive thalamic input (circuit 2; 1 = all)."""
    tc_gain: float = 2.0
    """total thalamocortical weight onto each receiving cortical unit at the start (normalised per unit)."""
    s1_gain: float = 1.0
    """scale of the S1 -> cortex weights."""
    s1_density: float = 0.3
    """share of cortical units that S1 reaches directly (circuit 2; 1 = all)."""
    cue_gain: float = 0.1
    """scale of the tone -> cortex weights."""
    cue_density: float = 0.2
    """share of cortical units the tone reaches directly (circuit 2)."""
    cue_persistence: float = 0.3
    """how long (s) after the tone's onset the auditory input to the cortex stays on (circuit 2; never
    shorter than the tone itself): the auditory response to a tone that announces reward outlasts a
    brief tone, and the lift is decided 0.1-0.2 s after its onset (docs/model.md, "Circuit v2")."""
    readout_density: float = 1.0
    """share of cortical units that project to the read-out (circuit 2; 1 = all)."""
    outcome_initial: float = 0.05
    """standard deviation of the weak initial taste -> cortex weights."""
    outcome_lr: float = 0.2
    """step size of the dopamine-gated Hebbian rule of the taste -> cortex weights."""
    outcome_trace_tau: float = 0.1
    """time constant (s) of that rule's eligibility trace (pre x post)."""
    neural_noise_std: float = 0.5
    """standard deviation of the private noise in each cortical unit's input current per control step
    (circuit 2; 0 = none)."""
    n_cortex: int = 256
    """M1 layer-2/3 units."""
    tau: float = 0.05
    """cortical time constant (s)."""
    recurrent_gain: float | None = None
    """spectral scale of the initial recurrent weights (< 1 keeps activity stable). None: by circuit,
    :data:`CIRCUIT_DEFAULTS`."""
    dale: bool = False
    """split cortex into excitatory and inhibitory units with sign-constrained outputs."""
    excitatory_fraction: float = 0.8
    """share of excitatory units when ``dale`` is on."""
    connection_density: float = 1.0
    """fraction of recurrent connections present (1 = dense)."""
    exploration_std: float = 0.5
    """initial standard deviation of the exploration noise on each muscle (in drive units with
    ``noise_in_drive``, the default; in excitation units without)."""
    learn_exploration: bool = False
    """let the gated rule learn the noise amplitude per muscle (variability shrinks with practice); False
    keeps it at ``exploration_std``."""
    regulate_exploration: bool = True
    """set the noise amplitude from reward history instead, outside M1 and its dopamine
    (:mod:`agents.exploration`): ``exploration_std`` with no recent success, falling to
    ``exploration_floor`` as recent trials succeed. Excludes ``learn_exploration``."""
    exploration_floor: float = 0.1
    """smallest standard deviation of the regulated noise."""
    exploration_memory: float = 20.0
    """trials over which the regulator averages successes."""
    noise_in_drive: bool = True
    """add the exploration noise to the motor drive before the read-out's sigmoid (``exploration_std``
    then in drive units) instead of to the excitation."""
    noise_tau: float = 0.05
    """time constant (s) of the low-pass filtered exploration noise (0 = white)."""
    precue_exploration: float = 0.3
    """standard deviation of the exploration noise before the cue onset, as a fraction of its amplitude
    after it (the paw mostly waits on the perch before the tone; the variability is mostly the
    movement's). Above 0, the negative RPE of a trial aborted by an early lift reaches the decisions that
    lifted early, which is how the wait is learned and kept. 0: no stochastic decision before the cue."""
    optimizer: str = "sgd"
    """``"adam"`` or ``"sgd"`` for the cortical (dopamine-gated) weights. Plain gradient steps keep the
    size of an update proportional to dopamine x eligibility; Adam normalises it away (a small, noisy RPE
    still moves the weights by a full step)."""
    step_scaling: str = "variance"
    """``"none"``, or ``"variance"``: the cortical step size is multiplied by the exploration variance
    relative to its initial value, ``(sigma / exploration_std)^2``, so that the update is dopamine x noise
    x presynaptic activity, the node-perturbation form (Fiete & Seung 2006), rather than the score
    function's noise / sigma^2."""
    policy_lr: float = 0.06
    """step size of the cortical (dopamine-gated) weights (of ``optimizer``)."""
    readout_lr_scale: float = 0.3
    """the read-out's (layer 5 / spinal stage) step size relative to ``policy_lr``; below 1, the weights
    that move the muscles most directly take smaller steps."""
    exploration_lr: float = 5e-3
    """Adam step size of the log noise amplitude (also dopamine-gated); larger than ``policy_lr`` because
    one number per muscle, not thousands of synapses, sets it."""
    critic_lr: float = 1e-3
    """Adam step size of the critic."""
    gamma: float = 0.98
    """discount per control step."""
    trace_lambda: float = 0.9
    """decay of the eligibility trace per control step (TD(lambda))."""
    update_every: int = 20
    """control steps between weight updates (the BPTT window)."""
    grad_clip: float = 1.0
    """global norm clip of each update's gradient."""
    activity_penalty: float | None = None
    """weight of the mean squared cortical rate in the gated step's objective (0 = none; the same
    regulariser as cloning's ``rate_penalty``, applied only with dopamine). None: by circuit,
    :data:`CIRCUIT_DEFAULTS`."""
    critic_hidden: int = 128
    """critic hidden-layer width."""
    critic_blocked_with_dopamine: bool = False
    """stop the critic too while M1 dopamine is blocked (by default the block is local to M1 and the
    critic keeps learning, as in the experiment)."""

    @model_validator(mode="before")
    @classmethod
    def _circuit_defaults(cls, data: Any) -> Any:
        """Fill the fields left None (or unset) with the circuit's values (:data:`CIRCUIT_DEFAULTS`)."""
        if isinstance(data, dict):
            defaults = CIRCUIT_DEFAULTS.get(data.get("circuit", 1))
            if defaults is not None:
                data = {**data, **{k: v for k, v in defaults.items() if data.get(k) is None}}
        return data

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.circuit not in (1, 2):
            raise ValueError(f"agent.circuit={self.circuit!r} must be 1 or 2")
        for name in ("forward_horizon", "tc_gain", "s1_gain", "cue_gain", "thalamic_tonic", "timing_width"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"agent.{name}={value} must be a finite positive number")
        for name in ("forward_initial", "forward_lr", "outcome_initial", "outcome_lr", "outcome_trace_tau",
                     "neural_noise_std", "s1_delay", "activity_penalty"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"agent.{name}={value} must be a finite number >= 0")
        for name in ("tc_density", "tc_targets", "cue_density", "s1_density", "readout_density"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"agent.{name}={getattr(self, name)} must be in (0, 1]")
        for name in ("n_thalamus", "n_cortex", "update_every", "critic_hidden", "n_s1", "n_granule"):
            if getattr(self, name) < 1:
                raise ValueError(f"agent.{name}={getattr(self, name)} must be >= 1")
        if not (math.isfinite(self.cue_persistence) and 0.0 <= self.cue_persistence <= 1.5):
            raise ValueError(f"agent.cue_persistence={self.cue_persistence} must be in [0, 1.5] s")
        if self.timing_basis < 0:
            raise ValueError(f"agent.timing_basis={self.timing_basis} must be >= 0")
        for name in ("tau", "exploration_std", "policy_lr", "readout_lr_scale", "exploration_lr", "critic_lr",
                     "grad_clip",
                     "recurrent_gain"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"agent.{name}={value} must be a finite positive number")
        for name in ("gamma", "trace_lambda", "excitatory_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"agent.{name}={value} must be in [0, 1]")
        if not 0.0 < self.connection_density <= 1.0:
            raise ValueError(f"agent.connection_density={self.connection_density} must be in (0, 1]")
        if self.regulate_exploration and self.learn_exploration:
            raise ValueError("agent.regulate_exploration and agent.learn_exploration exclude each other: "
                             "set agent.learn_exploration=false")
        if not 0 <= self.exploration_floor <= self.exploration_std:
            raise ValueError(f"agent.exploration_floor={self.exploration_floor} must be in [0, "
                             f"exploration_std={self.exploration_std}]")
        if not self.exploration_memory >= 1:
            raise ValueError(f"agent.exploration_memory={self.exploration_memory} must be >= 1 (trials)")
        if not 0.0 <= self.precue_exploration <= 1.0:
            raise ValueError(f"agent.precue_exploration={self.precue_exploration} must be in [0, 1]")
        if self.step_scaling not in ("none", "variance"):
            raise ValueError(f"agent.step_scaling={self.step_scaling!r} must be 'none' or 'variance'")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"agent.optimizer={self.optimizer!r} must be 'adam' or 'sgd'")
        if self.noise_tau < 0:
            raise ValueError(f"agent.noise_tau={self.noise_tau} must be >= 0 (0 = white noise)")
        return self


#: The fields that only circuit 2 reads (from ``n_s1`` to ``neural_noise_std``, as the ``circuit``
#: field's docstring says): two circuit-1 configurations that differ only in them run alike (tested).
_FIELDS = list(AgentConfig.model_fields)
CIRCUIT_2_FIELDS: frozenset[str] = frozenset(
    _FIELDS[_FIELDS.index("n_s1"):_FIELDS.index("neural_noise_std") + 1])
