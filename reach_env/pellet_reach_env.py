"""``MousePelletReach-v0`` and ``-v1``: a head-fixed mouse reaches through a slot, grabs a pellet and
eats it."""

from __future__ import annotations

import copy
import math
import operator
import os
import sys
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from reach_env.forelimb import LIMB_JOINTS, MUSCLES, Forelimb, load_model
from reach_env.rewards import REWARD_TERMS, RewardWeights, reward_terms, shaping_potentials
from reach_env.trial import EVENTS, Outcome, TrialPhase, TrialTiming, min_jerk

#: Observation layout: (name, size, unit). The flat observation is these blocks in this order.
OBSERVATION_BLOCKS: tuple[tuple[str, int, str], ...] = (
    ("joint_angles", len(LIMB_JOINTS), "rad"),
    ("joint_velocities", len(LIMB_JOINTS), "rad/s"),
    ("muscle_lengths", len(MUSCLES), "optimal lengths"),
    ("muscle_velocities", len(MUSCLES), "optimal lengths/s"),
    ("muscle_forces", len(MUSCLES), "fraction of peak force"),
    ("cue", 1, "tone on (1) or off (0)"),
    ("time_since_cue", 1, "s, 0 before the cue, capped at the response window"),
    ("pellet_from_tips", 3, "mm, pellet minus digit-tips position, world axes"),
    ("pellet_from_mouth", 3, "mm, pellet minus mouth position, world axes"),
    ("touch", 1, "1 while paw or digits touch the pellet"),
    ("taste", 1, "1 once the pellet is at the mouth"),
)

OBSERVATION_SIZE = sum(size for _, size, _ in OBSERVATION_BLOCKS)

#: Start of each observation block in the flat observation.
_BLOCK_START = {name: sum(size for _, size, _ in OBSERVATION_BLOCKS[:i])
                for i, (name, _, _) in enumerate(OBSERVATION_BLOCKS)}

#: ``info`` key of each reward term.
_REWARD_KEYS = {name: f"reward_{name}" for name in REWARD_TERMS}

#: The trial's bookkeeping: every attribute that ``reset()`` and ``step()`` change besides the physics
#: and the random stream (a test checks that a restored env equals its original in every attribute).
_TRIAL_STATE = ("_table_goal", "_table_start", "_cue_step", "_tone_end_step", "_timeout_step", "_cue_time",
                "_palm_rest_height", "_pellet_rest_height", "_steps", "_events", "_outcome",
                "_outcome_step", "_held", "_lifted", "_touch", "_lift_before_cue", "_precue_rise", "_phase",
                "_now", "_potentials", "_episode_over", "_last_obs")


@dataclass(frozen=True)
class EnvSnapshot:
    """Everything an env's coming steps depend on, at any step of a trial: a copy of the whole
    ``MjData`` (contacts, warm start and warning counters included, so the next ``mj_step`` is the
    same), the trial's bookkeeping and the random stream that draws the next trials. Picklable, so a
    training run can stop mid-trial and go on in another process (:meth:`MousePelletReachEnv.restore`).
    """

    physics: mujoco.MjData
    trial: dict[str, Any]
    random: np.random.Generator | None
    seed: int | None


def observation_labels() -> list[str]:
    """One label per observation entry, e.g. ``"joint_angles[elbow_R]"``."""
    names_for = {
        "joint_angles": LIMB_JOINTS, "joint_velocities": LIMB_JOINTS, "muscle_lengths": MUSCLES,
        "muscle_velocities": MUSCLES, "muscle_forces": MUSCLES,
        "pellet_from_tips": ("x", "y", "z"), "pellet_from_mouth": ("x", "y", "z"),
    }
    labels = []
    for name, size, _ in OBSERVATION_BLOCKS:
        parts = names_for.get(name)
        labels += [f"{name}[{p}]" for p in parts] if parts else [name] * size
    return labels


class MousePelletReachEnv(gym.Env):
    """Head-fixed mouse pellet reach: lift, reach through the slot, grab, lift, bring to the mouth.

    A MuJoCo model of a head-fixed mouse's right forelimb (three shoulder rotations, elbow, wrist
    flexion and pronation, digits; 15 muscles on tendons) in front of a slot, with a 20 mg pellet on a
    post at the rim of a turntable (``assets/mouse_reach_v0.xml`` documents its sources). Each episode
    is one trial of the lab's task (Ghanayim et al. 2025): the turntable turns the pellet to the slot,
    a tone sounds, and the mouse has ``response_window`` seconds to bring the pellet to its mouth.
    Grasping is physical: the digits must touch the pellet while the digit flexors are excited, which
    switches on an adhesive grip of up to 10 mN (50 times the pellet's weight) on the touching contacts.

    **Action** (``Box(0, 1, (15,), float32)``): excitation of each muscle, in the order of
    :data:`reach_env.forelimb.MUSCLES` (pectoralis clavicular, latissimus dorsi, anterior/middle/posterior
    deltoid, triceps lateral and long heads, brachialis, biceps long head, wrist flexors and extensors,
    pronators, supinators, digit flexors and extensors). Activations follow with MuJoCo's muscle
    dynamics (10 ms activation, 40 ms deactivation). Values outside [0, 1] are clipped; an action with
    NaN or infinity, or of the wrong shape, raises ``ValueError``. The digit-flexor excitation also
    drives the grip.

    **Observation** (``Box(-inf, inf, (69,), float32)``), blocks in order (see
    :data:`OBSERVATION_BLOCKS` and :func:`observation_labels`):

    ====================  ====  ==============================================================
    block                 size  unit
    ====================  ====  ==============================================================
    joint_angles          7     rad (shoulder extension, elevation, rotation, elbow, wrist
                                flexion, wrist pronation, digit flexion)
    joint_velocities      7     rad/s
    muscle_lengths        15    optimal lengths
    muscle_velocities     15    optimal lengths/s
    muscle_forces         15    fraction of peak isometric force
    cue                   1     1 while the tone sounds
    time_since_cue        1     s since tone onset (0 before), capped at ``response_window``
    pellet_from_tips      3     mm, pellet minus digit-tip point
    pellet_from_mouth     3     mm, pellet minus mouth
    touch                 1     1 while the paw or digits touch the pellet
    taste                 1     1 once the pellet has reached the mouth (the reward's sensory side)
    ====================  ====  ==============================================================

    ``time_since_cue`` keeps the observation Markov for memoryless baselines (Stable-Baselines3's MLP
    policies); a recurrent cortex can ignore it.

    **Trial variability.** Every trial draws, from the reset seed's generator (``np_random``), a
    perturbed starting posture (``posture_jitter``), the pellet's place in front of the slot
    (``pellet_jitter``, ``pellet_offset``) and, with ``cue_jitter``, the cue onset; the same seed gives
    the same trial bit for bit. The cue stays on the control-step grid: a trial's cue comes at
    ``cue_time`` plus a whole number of control steps within ``+-cue_jitter``; its onset is
    :attr:`cue_time` (``env.cue_time``, also ``info["cue_time"]``), and the tone channel, the
    ``time_since_cue`` observation, the phases, the shaping window and the timeout all follow it.
    :attr:`max_steps` bounds every trial's length (the latest cue followed by a timeout).

    **Trial and episode end.** Phases are :class:`reach_env.trial.TrialPhase`. The outcome
    (:class:`reach_env.trial.Outcome`) is SUCCESS when the pellet centre comes within ``mouth_radius``
    of the mouth, DROPPED when it falls ``drop_height`` below its resting height on the post while not
    held (knocked off or dropped), TIMEOUT when ``response_window`` seconds pass after the cue, and,
    with the option ``early_lift_aborts`` (v1 sets it), EARLY as soon as the paw
    lifts at or before the cue onset (the ``lift`` event with ``lift_before_cue``, below): the lab's
    early error, a failure, with the ``outcome`` event at the lift's time; the timeline goes on
    unchanged, so the tone still sounds at its time if the trial is still running (if it ends first,
    the ``cue`` event stays None; ``cue_time`` is known all the same). An EARLY trial earns no success
    reward and no shaping (it counts only from the cue, and never after an outcome), only the effort
    cost. The trial then runs ``post_outcome`` more seconds (the agent acts and senses the outcome)
    and the episode *terminates*. It is *truncated* only if the physics diverges (MuJoCo's
    bad-acceleration warning or a non-finite state): ``info["physics_diverged"]`` is then True and the
    last finite observation is returned again.

    **Reward**: the sum of the terms in :data:`reach_env.rewards.REWARD_TERMS`, each also in ``info`` as
    ``reward_<term>``: ``success`` (paid once at the mouth), potential-based shaping ``approach``,
    ``grasp`` and ``retrieve`` (only between cue and outcome), and ``effort`` (a cost on mean squared
    excitation). See :mod:`reach_env.rewards`.

    **Info** at every step: ``time`` (s), ``phase`` (int TrialPhase), ``outcome`` (int Outcome),
    ``is_success`` (bool), ``events`` (dict of event name to time in s, None until it happens; events
    are ``cue``, ``lift`` (paw ``lift_height`` above its resting height; the first lift of the trial,
    watched from the first step, so also before the cue), ``grab`` (first grip on the
    pellet), ``at_mouth`` and ``outcome``), ``held`` (pellet in the grip), ``reward_<term>`` for every
    term, ``physics_diverged``, ``cue_time`` (s, this trial's cue onset, known from the reset on; the
    ``cue`` event takes this value when the tone starts) and ``lift_before_cue`` (bool: the paw has
    lifted at or before the cue onset, i.e. ``events["lift"] <= cue_time``, before the tone could be
    heard; the lab's early error. The ``lift`` event then holds that pre-cue lift's time) and
    ``precue_rise`` (m: the highest the palm has been above its resting height at or before the cue
    onset, 0 if never above it; over ``lift_height`` only in an early error, so how far below
    ``lift_height`` it stays tells how securely the paw waits for the tone).

    **Version history** (task versions registered in :mod:`reach_env`; the class defaults are v0's):

    ========================  ======  =======  ================================================
    argument                  v0      v1       unit
    ========================  ======  =======  ================================================
    pellet_jitter             0.05    0.0      rad of turntable angle
    pellet_offset             0.0     0.003    m sideways, pellet centre from the slot's midline
    posture_jitter            0.03    0.1      rad per joint
    posture_max_penetration   None    0.0002   m
    cue_jitter                0.0     0.2      s
    early_lift_aborts         False   True     a lift at or before the cue ends the trial
    ========================  ======  =======  ================================================

    * ``MousePelletReach-v0``: the first release. Trials differ by about +-0.6 mm of pellet and
      +-0.03 rad of posture, with the cue always at ``cue_time``: too little for a deterministic policy
      to succeed on some trials and fail on others (noise-off success was all-or-none within a seed).
    * ``MousePelletReach-v1``: trials vary as the lab's do. The pellet lies up to 3 mm to either side
      of the slot's midline (the lab places pellets by hand, not to the millimetre; 3 mm, one pellet
      diameter, is the slot's half-width, so the pellet centre stays in front of the 6 mm opening);
      each joint starts up to 0.1 rad (about 6 degrees) from rest, redrawn when the paw would start
      inside the perch; the cue comes up to 0.2 s earlier or later than ``cue_time`` (the lab's
      inter-trial intervals vary, so the tone's time after the platform stops is not fixed, and its
      analysis aligns trials on the tone; 0.2 s is the most that keeps the earliest cue from coming
      before the default 0.4 s platform turn ends). These are reasoned ranges, not measured lab
      distributions. With them noise-off success is graded within a seed (shared/MEASUREMENTS.md
      measured it with +-3 mm and +-0.1 rad). A lift at or before the cue is the lab's early error
      (in the lab's task a tone signals that the pellet is available and only reaches after it are
      rewarded; shared/SCIENCE.md, Ghanayim et al. 2025): v1 ends such a trial at once as
      ``Outcome.EARLY`` (``early_lift_aborts``). Without it, an agent that learned the reach came to
      lift before the tone in 98-100 % of trials, since the pellet waits in reach from the end of the
      platform's turn and anticipating pays; with it, an early lift costs the pellet, so only cued
      reaches are rewarded (docs/model.md, "The task").

    Args:
        render_mode: None, ``"rgb_array"`` (offscreen; set ``MUJOCO_GL=egl`` headless) or ``"human"``.
        control_timestep: seconds between actions; an integer multiple of ``physics_timestep``.
        physics_timestep: MuJoCo time step (s), at most 1 ms (the contact time constant is 2 ms).
        platform_turn, cue_time, tone_duration, response_window, post_outcome: the trial timeline in
            seconds (see :class:`reach_env.trial.TrialTiming`).
        success_reward, approach_weight, grasp_weight, retrieve_weight, effort_weight: reward weights
            (see :class:`reach_env.rewards.RewardWeights`).
        mouth_radius: distance (m) from the mouth at which the pellet counts as eaten.
        lift_height: paw rise (m) above its resting height that marks the lift event.
        drop_height: pellet fall (m) below its resting height that marks it lost.
        grip_threshold: digit-flexor excitation above which a touching pellet counts as held.
        pellet_jitter: half-range (rad) of the random final turntable angle, so the pellet's
            sideways position varies by about ``0.012 * pellet_jitter`` m between trials. It adds to
            ``pellet_offset`` (v1 sets it to 0 and uses ``pellet_offset`` alone).
        posture_jitter: half-range (rad) of random initial joint-angle perturbations, uniform and
            independent per joint (clipped to the joint ranges).
        camera: camera name for ``rgb_array`` rendering (``"side"`` or ``"front"``).
        width, height: rendered frame size in pixels.
        pellet_offset: half-range (m) of the pellet's random sideways place, in [0, 0.0045]: the
            pellet centre lies a uniform ``u`` in ``[-pellet_offset, pellet_offset]`` to the mouse's
            left (+y) of the slot's midline, set by turning the table ``asin(u / 0.012)`` further (the
            post is 12 mm from the table's axis, so the pellet also lies up to 0.4 mm deeper at 3 mm).
            The lab places pellets by hand; v1 uses 0.003 (the slot's half-width). With
            ``pellet_jitter`` too, the table angle is the sum of both draws, and the two must keep the
            table within its servo range (0.4 rad). 0 (v0) draws nothing.
        cue_jitter: half-range (s) of the per-trial shift of the cue onset, drawn uniformly as a whole
            number of control steps in ``[-cue_jitter, cue_jitter]`` (:class:`reach_env.trial.TrialTiming`);
            ``cue_time - cue_jitter`` must not come before ``platform_turn``. The lab's inter-trial
            intervals vary, so the tone's time after the platform stops does too; v1 uses 0.2.
            0 (v0) draws nothing.
        posture_max_penetration: None (v0) or a depth (m) in [0, 0.002]: a jittered starting posture
            that puts a limb geom deeper than this inside the apparatus (the perch) is drawn again from
            the same generator (after 100 such draws the unperturbed rest posture is used). A paw
            cannot start inside its perch; with ``posture_jitter`` 0.1 about two draws in five would
            (up to 1.6 mm deep), and from about 0.9 mm the contact solver flips the digits over the
            perch's edge, where they stay hooked. v1 uses 0.0002 (twice the contacts' 0.1 mm
            impedance width; the rest posture itself touches without penetrating).
        early_lift_aborts: whether a lift (the ``lift`` event: the paw ``lift_height`` above its
            resting height) at or before the cue onset ends the trial at once as a failure,
            :attr:`reach_env.trial.Outcome.EARLY`, followed by the usual ``post_outcome`` window;
            ``info["events"]["outcome"]`` is then the lift's time. False (the default, v0's): a pre-cue
            lift is only reported (``lift_before_cue``). v1 uses True.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 50}

    def __init__(
        self,
        render_mode: str | None = None,
        control_timestep: float = 0.02,
        physics_timestep: float = 0.001,
        platform_turn: float = 0.4,
        cue_time: float = 0.6,
        tone_duration: float = 0.1,
        response_window: float = 1.5,
        post_outcome: float = 0.4,
        success_reward: float = 1.0,
        approach_weight: float = 0.3,
        grasp_weight: float = 0.3,
        retrieve_weight: float = 0.4,
        effort_weight: float = 0.01,
        mouth_radius: float = 0.003,
        lift_height: float = 0.002,
        drop_height: float = 0.002,
        grip_threshold: float = 0.3,
        pellet_jitter: float = 0.05,
        posture_jitter: float = 0.03,
        camera: str = "side",
        width: int = 480,
        height: int = 360,
        pellet_offset: float = 0.0,
        cue_jitter: float = 0.0,
        posture_max_penetration: float | None = None,
        early_lift_aborts: bool = False,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not one of {self.metadata['render_modes']} or None"
            )
        if not 0 < physics_timestep <= 0.001:
            raise ValueError(f"physics_timestep={physics_timestep} must be in (0, 0.001] seconds")
        frame_skip = round(control_timestep / physics_timestep)
        if frame_skip < 1 or not math.isclose(frame_skip * physics_timestep, control_timestep,
                                              rel_tol=1e-9, abs_tol=1e-12):
            raise ValueError(
                f"control_timestep={control_timestep} is not an integer multiple of "
                f"physics_timestep={physics_timestep}"
            )
        for name, value in (("mouth_radius", mouth_radius), ("lift_height", lift_height),
                            ("drop_height", drop_height)):
            if not 0 < value < 0.02:
                raise ValueError(f"{name}={value} must be a distance in metres in (0, 0.02)")
        if not 0 <= grip_threshold <= 1:
            raise ValueError(f"grip_threshold={grip_threshold} must be in [0, 1]")
        for name, value in (("success_reward", success_reward), ("approach_weight", approach_weight),
                            ("grasp_weight", grasp_weight), ("retrieve_weight", retrieve_weight),
                            ("effort_weight", effort_weight)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}={value!r} must be finite and >= 0")
        for name, value in (("width", width), ("height", height)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive number of pixels")
        for name, value in (("pellet_jitter", pellet_jitter), ("posture_jitter", posture_jitter)):
            if not 0 <= value <= 0.5:
                raise ValueError(f"{name}={value} must be an angle in radians in [0, 0.5]")
        if not 0 <= pellet_offset <= 0.0045:
            raise ValueError(f"pellet_offset={pellet_offset} must be a distance in metres in [0, 0.0045]")
        if posture_max_penetration is not None and not 0 <= posture_max_penetration <= 0.002:
            raise ValueError(f"posture_max_penetration={posture_max_penetration} must be None or a "
                             f"depth in metres in [0, 0.002]")
        if not isinstance(early_lift_aborts, (bool, np.bool_)):
            raise ValueError(f"early_lift_aborts={early_lift_aborts!r} must be a bool")

        self.render_mode = render_mode
        self.timing = TrialTiming(platform_turn, cue_time, tone_duration, response_window,
                                  post_outcome, cue_jitter=cue_jitter)
        self.reward_weights = RewardWeights(success_reward, approach_weight, grasp_weight,
                                            retrieve_weight, effort_weight)
        self.control_timestep = frame_skip * physics_timestep
        self.frame_skip = frame_skip
        self.mouth_radius = mouth_radius
        self.lift_height = lift_height
        self.drop_height = drop_height
        self.grip_threshold = grip_threshold
        self.pellet_jitter = pellet_jitter
        self.posture_jitter = posture_jitter
        self.pellet_offset = pellet_offset
        self.cue_jitter = cue_jitter
        self.posture_max_penetration = posture_max_penetration
        self.early_lift_aborts = bool(early_lift_aborts)
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.control_timestep))}

        self.model = load_model()
        self.model.opt.timestep = physics_timestep
        self.data = mujoco.MjData(self.model)
        self.forelimb = Forelimb(self.model, self.data)
        if camera not in {self.model.camera(i).name for i in range(self.model.ncam)}:
            raise ValueError(f"camera={camera!r} is not a camera of the model")
        self.camera, self.width, self.height = camera, width, height
        self._renderer: mujoco.Renderer | None = None
        self._viewer: Any = None

        n = len(MUSCLES)
        self.action_space = spaces.Box(0.0, 1.0, (n,), np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, (OBSERVATION_SIZE,), np.float32)
        self._init_observation()
        # A live view of MuJoCo's warning counters. After a bad position, velocity or acceleration
        # MuJoCo resets the data itself, so a finite state alone does not prove all went well.
        self._warnings = self.forelimb.warning_counts
        self._divergence_warnings = [int(w) for w in (mujoco.mjtWarning.mjWARN_BADQPOS,
                                                      mujoco.mjtWarning.mjWARN_BADQVEL,
                                                      mujoco.mjtWarning.mjWARN_BADQACC)]
        self._divergence_counts = operator.itemgetter(*self._divergence_warnings)
        self._pellet_radius = float(self.model.geom_size[self.forelimb.pellet_geom][0])
        #: Distance (m) of the pellet post from the turntable's axis: the lever arm of its angle.
        self._post_radius = float(np.linalg.norm(self.model.geom_pos[self.forelimb.post_geom][:2]))
        if pellet_offset > 0:
            widest = pellet_jitter + math.asin(pellet_offset / self._post_radius)
            if widest > 0.4:
                raise ValueError(
                    f"pellet_offset={pellet_offset} with pellet_jitter={pellet_jitter} turns the table up "
                    f"to {widest:.3f} rad, beyond its servo's range of 0.4 rad"
                )
        self._limb_geoms = self._limb_geom_mask()
        # The trial timeline in control steps: integer comparisons cannot drift with float time.
        # The nominal timeline (cue at cue_time); each trial shifts the cue, tone end and timeout by the
        # same whole number of steps, within +-_cue_shift_max.
        timing = self.timing
        self._nominal_cue_step = self._steps_at(timing.cue_time)
        self._nominal_tone_end_step = self._steps_at(timing.cue_time + timing.tone_duration)
        self._nominal_timeout_step = self._steps_at(timing.cue_time + timing.response_window)
        self._turn_steps = self._steps_at(timing.platform_turn)
        self._post_outcome_steps = self._steps_at(timing.post_outcome)
        self._cue_shift_max = math.floor(cue_jitter / self.control_timestep + 1e-9)
        if self._nominal_cue_step - self._cue_shift_max < self._turn_steps:
            raise ValueError(
                f"cue_jitter={cue_jitter}: the earliest cue (control step "
                f"{self._nominal_cue_step - self._cue_shift_max}) must not come before the platform has "
                f"turned (step {self._turn_steps})"
            )
        self._set_cue_shift(0)
        self._episode_over = True

    def _set_cue_shift(self, shift: int) -> None:
        """This trial's timeline: the nominal one with the cue ``shift`` control steps later."""
        self._cue_step = self._nominal_cue_step + shift
        self._tone_end_step = self._nominal_tone_end_step + shift
        self._timeout_step = self._nominal_timeout_step + shift
        self._cue_time = round(self._cue_step * self.control_timestep, 9)

    def _init_observation(self) -> None:
        """Buffers that let :meth:`_observation` build the observation in a few array operations.

        Every block is ``(source - offset) / divisor * factor`` of a gathered ``source``, with an
        offset of 0, a divisor and a factor of 1 wherever the block has none: exact in floating point
        (``x - 0.0``, ``x / 1.0`` and ``x * 1.0`` are ``x``), so the observation is bit for bit the
        block-by-block one. Muscle forces divide by minus the peak force: ``f / -p`` is ``-f / p``
        exactly, signed zeros included.
        """
        limb, n = self.forelimb, OBSERVATION_SIZE
        geometry = limb.muscle_geometry
        start = _BLOCK_START
        self._obs_buffer = np.zeros(n, np.float64)
        self._obs_offset = np.zeros(n, np.float64)
        divisor, factor = np.ones(n, np.float64), np.ones(n, np.float64)
        lengths, velocities = start["muscle_lengths"], start["muscle_velocities"]
        forces, muscles = start["muscle_forces"], len(MUSCLES)
        self._obs_offset[lengths:lengths + muscles] = geometry.length_offset
        divisor[lengths:lengths + muscles] = geometry.optimal_length
        divisor[velocities:velocities + muscles] = geometry.optimal_length
        divisor[forces:forces + muscles] = -geometry.peak_force
        tips, mouth = start["pellet_from_tips"], start["pellet_from_mouth"]
        factor[tips:tips + 3] = 1000.0
        factor[mouth:mouth + 3] = 1000.0
        self._obs_divisor, self._obs_factor = divisor, factor
        self._obs_tips = self._obs_offset[tips:tips + 3]
        self._obs_mouth = self._obs_offset[mouth:mouth + 3]
        self._obs_cue, self._obs_touch = start["cue"], start["touch"]
        # Slices give views, made once; indices that are not contiguous give copies, gathered anew
        # every step.
        self._obs_sources_are_views = all(isinstance(index, slice) for index in (
            limb._qpos_index, limb._qvel_index, limb._muscle_index))
        self._obs_sources = self._observation_sources()

    def _observation_sources(self) -> tuple[np.ndarray, ...]:
        """The arrays the observation gathers, in block order (zeros where a scalar block goes)."""
        limb, data, muscle = self.forelimb, self.data, self.forelimb._muscle_index
        return (data.qpos[limb._qpos_index], data.qvel[limb._qvel_index], data.actuator_length[muscle],
                data.actuator_velocity[muscle], data.actuator_force[muscle], np.zeros(2),
                limb.pellet_xpos, limb.pellet_xpos, np.zeros(2))

    def _limb_geom_mask(self) -> np.ndarray:
        """Per geom, whether it moves with a limb joint (arm, paw, digits)."""
        model = self.model
        limb_bodies = {int(model.joint(name).bodyid[0]) for name in LIMB_JOINTS}
        mask = np.zeros(model.ngeom, bool)
        for geom in range(model.ngeom):
            body = int(model.geom_bodyid[geom])
            while body != 0 and body not in limb_bodies:
                body = int(model.body_parentid[body])
            mask[geom] = body != 0
        return mask

    @property
    def max_steps(self) -> int:
        """Control steps of the longest possible trial: a timeout after the latest possible cue plus
        the post-outcome window. An upper bound on every episode's length (v0: exactly a timeout
        trial's length)."""
        return self._nominal_timeout_step + self._cue_shift_max + self._post_outcome_steps

    @property
    def post_outcome_steps(self) -> int:
        """Control steps a trial runs after the step that decides its outcome (``post_outcome``): the
        episode terminates after exactly these, unless the physics diverges first."""
        return self._post_outcome_steps

    @property
    def cue_step(self) -> int:
        """Control step at whose end the current trial's tone starts (``cue_time / control_timestep``)."""
        return self._cue_step

    @property
    def cue_time(self) -> float:
        """Onset (s from the trial's start) of the current trial's cue, on the control-step grid: the
        ``cue`` event's time. Before the first reset, the nominal ``timing.cue_time`` (rounded up to
        the grid)."""
        return self._cue_time

    def tone_on(self, step: int) -> bool:
        """Whether the cue tone sounds during control step ``step`` (1-based, as ``info["time"] / dt``)
        of the current trial (its cue, see :attr:`cue_time`)."""
        return self._cue_step <= step < self._tone_end_step

    def _steps_at(self, seconds: float) -> int:
        """The first control step at or after ``seconds`` (times off the grid round up)."""
        return math.ceil(seconds / self.control_timestep - 1e-9)

    # --- episode ---------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a new trial: limb at rest on the perch, pellet post turned away from the slot."""
        super().reset(seed=seed)
        model, data, limb = self.model, self.data, self.forelimb
        mujoco.mj_resetDataKeyframe(model, data, model.key("rest").id)
        rng = self.np_random
        # The draws come in v0's order (posture, table jitter); v1's extra draws follow, and only when
        # their ranges are non-zero, so v0 trials (and unseeded resets after them) are unchanged.
        if self.posture_max_penetration is None:
            q = data.qpos[limb.joint_qpos] + rng.uniform(-self.posture_jitter, self.posture_jitter,
                                                         len(LIMB_JOINTS))
            data.qpos[limb.joint_qpos] = np.clip(q, limb.joint_range[:, 0], limb.joint_range[:, 1])
        else:
            self._draw_posture_clear_of_apparatus(rng)
        self._table_goal = float(rng.uniform(-self.pellet_jitter, self.pellet_jitter))
        if self.pellet_offset > 0:
            # The pellet's sideways place u (m, +y = mouse's left): the post at angle a is at
            # y = -r sin(a) from the slot's midline.
            sideways = float(rng.uniform(-self.pellet_offset, self.pellet_offset))
            self._table_goal -= math.asin(sideways / self._post_radius)
        self._set_cue_shift(int(rng.integers(-self._cue_shift_max, self._cue_shift_max + 1))
                            if self._cue_shift_max > 0 else 0)
        self._table_start = self._table_goal - self.timing.turn_angle
        limb.place_turntable(self._table_start)
        mujoco.mj_forward(model, data)

        self._palm_rest_height = float(limb.palm_position()[2])
        self._pellet_rest_height = limb.post_top_height() + self._pellet_radius
        self._steps = 0
        self._events: dict[str, float | None] = dict.fromkeys(EVENTS)
        self._outcome = Outcome.NONE
        self._outcome_step = -1
        self._held = False
        self._lifted = False
        self._touch = False
        self._lift_before_cue = False
        self._precue_rise = 0.0
        self._phase = TrialPhase.PLATFORM_TURN
        self._now = 0.0
        tips_to_pellet, pellet_to_mouth = self._pellet_distances(self.forelimb.pellet_xpos.tolist())
        self._potentials = shaping_potentials(self.reward_weights, tips_to_pellet, False,
                                              pellet_to_mouth)
        self._episode_over = False
        self._last_obs = self._observation()
        if self.render_mode == "human":
            self.render()
        return self._last_obs.copy(), self._info(dict.fromkeys(REWARD_TERMS, 0.0), False)

    def _draw_posture_clear_of_apparatus(self, rng: np.random.Generator) -> None:
        """Jittered starting posture with no limb geom deeper than ``posture_max_penetration`` in the
        apparatus; the rest posture after 100 rejected draws. Leaves the model's turntable and pellet
        at their keyframe (they are placed afterwards)."""
        model, data, limb = self.model, self.data, self.forelimb
        rest = data.qpos[limb.joint_qpos].copy()
        low, high = limb.joint_range[:, 0], limb.joint_range[:, 1]
        for _ in range(100):
            q = rest + rng.uniform(-self.posture_jitter, self.posture_jitter, len(LIMB_JOINTS))
            data.qpos[limb.joint_qpos] = np.clip(q, low, high)
            mujoco.mj_kinematics(model, data)
            mujoco.mj_collision(model, data)
            ncon = data.ncon
            geoms, dist = data.contact.geom[:ncon], data.contact.dist[:ncon]
            limb_contact = self._limb_geoms[geoms].any(axis=1)
            if not (limb_contact & (dist < -self.posture_max_penetration)).any():
                return
        data.qpos[limb.joint_qpos] = rest

    def step(self, action):
        """Apply muscle excitations for one control step (``control_timestep`` seconds)."""
        if self._episode_over:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        excitation = self._validated(action)
        limb = self.forelimb

        if self._steps < self._turn_steps:  # afterwards the target stays where the turn ended
            turned = min_jerk((self._steps + 1) / self._turn_steps)
            limb.set_turntable_target(self._table_start + turned * self.timing.turn_angle)
        limb.set_excitation(excitation)
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        self._steps += 1
        self._now = round(self._steps * self.control_timestep, 9)

        if any(self._divergence_counts(self._warnings.tolist())):
            self._episode_over = True
            terms = dict.fromkeys(REWARD_TERMS, 0.0)
            return self._last_obs.copy(), 0.0, False, True, self._info(terms, True)

        # Shaping counts for steps that start at or after the cue with the outcome still open.
        shaping_on = self._steps - 1 >= self._cue_step and self._outcome == Outcome.NONE
        # The pellet's position, read once for the distances, the trial's events and the observation.
        pellet = limb.pellet_xpos.tolist()
        tips_to_pellet, pellet_to_mouth = self._pellet_distances(pellet)
        succeeded = self._update_trial(excitation, pellet_to_mouth, pellet[2])
        before = self._potentials
        self._potentials = shaping_potentials(self.reward_weights, tips_to_pellet, self._held,
                                              pellet_to_mouth)
        terms = reward_terms(self.reward_weights, succeeded, before, self._potentials, shaping_on,
                             excitation, self.control_timestep)
        terminated = (self._outcome != Outcome.NONE
                      and self._steps >= self._outcome_step + self._post_outcome_steps)
        self._episode_over = terminated
        self._last_obs = self._observation()
        if self.render_mode == "human":
            self.render()
        return (self._last_obs.copy(), sum(terms.values()), terminated, False,
                self._info(terms, False))

    def snapshot(self) -> EnvSnapshot:
        """The env's state now, mid-trial or between trials (a copy: later steps do not change it)."""
        trial = {name: copy.deepcopy(getattr(self, name)) for name in _TRIAL_STATE if hasattr(self, name)}
        return EnvSnapshot(copy.copy(self.data), trial, copy.deepcopy(self._np_random), self._np_random_seed)

    def restore(self, snapshot: EnvSnapshot) -> None:
        """Put this env where ``snapshot`` was taken; from here its steps, observations, rewards and
        later trials are bit for bit those of the env it came from. The env must have been made with
        the same arguments. The physics is copied into this env's own ``MjData``, so the views the
        observation reads stay valid.

        Raises:
            ValueError: the snapshot's physics has other sizes than this env's model.
        """
        physics = snapshot.physics
        for field in ("qpos", "qvel", "act", "ctrl", "xpos"):
            if getattr(physics, field).shape != getattr(self.data, field).shape:
                raise ValueError(f"the snapshot's physics has {field} of shape "
                                 f"{getattr(physics, field).shape}, this env's model "
                                 f"{getattr(self.data, field).shape}: it is not of this env's model")
        mujoco.mj_copyData(self.data, self.model, physics)
        for name, value in snapshot.trial.items():
            setattr(self, name, copy.deepcopy(value))
        self._np_random = copy.deepcopy(snapshot.random)
        self._np_random_seed = snapshot.seed

    @property
    def time(self) -> float:
        """Seconds since the trial started, on the control-step grid (no float drift)."""
        return round(self._steps * self.control_timestep, 9)  # = self._now, which step() keeps

    def _validated(self, action) -> np.ndarray:
        excitation = np.asarray(action, dtype=np.float64)
        if excitation.shape != self.action_space.shape:
            raise ValueError(
                f"action has shape {excitation.shape}, expected {self.action_space.shape}: one "
                f"excitation per muscle in reach_env.forelimb.MUSCLES"
            )
        # Element by element, on Python floats: no arithmetic, so huge finite values cannot overflow (a
        # dot product would, with a RuntimeWarning), and it is the cheapest check for 15 values (~0.5 us).
        values = excitation.tolist()
        if not all(map(math.isfinite, values)):
            bad = [muscle for muscle, value in zip(MUSCLES, values, strict=True) if not math.isfinite(value)]
            raise ValueError(f"action has NaN or infinite excitation for muscles {bad}")
        return np.clip(excitation, 0.0, 1.0)

    def _pellet_distances(self, pellet: list[float]) -> tuple[float, float]:
        """Distances (m) from the digit-tip point to the ``pellet`` (its position, m) and from the
        pellet to the mouth."""
        limb = self.forelimb
        return (math.dist(pellet, limb.digit_tips_xpos.tolist()),
                math.dist(pellet, limb.mouth_xpos.tolist()))

    def _update_trial(self, excitation: np.ndarray, pellet_to_mouth: float, pellet_height: float) -> bool:
        """Advance events, outcome and phase after a physics step (``pellet_height``: the pellet
        centre's height, m); True if the pellet was eaten now."""
        limb, events, steps, t = self.forelimb, self._events, self._steps, self._now
        self._touch = limb.hand_touches_pellet()
        self._held = self._touch and excitation[limb.grip_muscle_index] >= self.grip_threshold

        if steps == self._cue_step:
            events["cue"] = t
        if steps <= self._cue_step:
            # How close the waiting paw comes to the early error (``precue_rise`` in the info).
            self._precue_rise = max(self._precue_rise, float(limb.palm_xpos[2]) - self._palm_rest_height)
        if events["lift"] is None and (
                limb.palm_xpos[2] > self._palm_rest_height + self.lift_height):
            events["lift"] = t
            # The step that ends at the cue onset started before the tone: a lift then is pre-cue.
            self._lift_before_cue = steps <= self._cue_step
        if events["grab"] is None and self._held:
            events["grab"] = t

        succeeded = False
        if self._outcome == Outcome.NONE:
            if self.early_lift_aborts and self._lift_before_cue:
                # The lift event of this very step (the flag is set only with it), at or before the cue.
                self._outcome = Outcome.EARLY
            elif pellet_to_mouth < self.mouth_radius:
                self._outcome, succeeded = Outcome.SUCCESS, True
                events["at_mouth"] = t
            elif not self._held and pellet_height < self._pellet_rest_height - self.drop_height:
                self._outcome = Outcome.DROPPED
            elif steps >= self._timeout_step:
                self._outcome = Outcome.TIMEOUT
            if self._outcome != Outcome.NONE:
                events["outcome"] = t
                self._outcome_step = steps

        if not self._held:
            self._lifted = False
        if self._outcome != Outcome.NONE:
            self._phase = TrialPhase.POST_OUTCOME
        elif self._held:
            # Once lifted off the post, a held pellet stays in RETRIEVE even if it dips on the way.
            self._lifted = self._lifted or pellet_height > self._pellet_rest_height + self.lift_height / 2
            self._phase = TrialPhase.RETRIEVE if self._lifted else TrialPhase.GRASP
        elif steps < self._turn_steps:
            self._phase = TrialPhase.PLATFORM_TURN
        elif steps < self._cue_step:
            self._phase = TrialPhase.WAIT
        elif events["lift"] is None:
            self._phase = TrialPhase.CUE
        else:
            self._phase = TrialPhase.REACH
        return succeeded

    def _observation(self) -> np.ndarray:
        """The observation (float32, :data:`OBSERVATION_BLOCKS`), gathered and scaled in one pass
        (:meth:`_init_observation` says why this equals the block-by-block arithmetic)."""
        steps, obs, offset = self._steps, self._obs_buffer, self._obs_offset
        if not self._obs_sources_are_views:
            self._obs_sources = self._observation_sources()
        np.concatenate(self._obs_sources, out=obs)
        limb = self.forelimb
        self._obs_tips[:] = limb.digit_tips_xpos
        self._obs_mouth[:] = limb.mouth_xpos
        np.subtract(obs, offset, out=obs)
        np.divide(obs, self._obs_divisor, out=obs)
        np.multiply(obs, self._obs_factor, out=obs)
        since_cue = max(steps - self._cue_step, 0) * self.control_timestep
        cue, touch = self._obs_cue, self._obs_touch
        obs[cue] = 1.0 if self.tone_on(steps) else 0.0
        obs[cue + 1] = min(since_cue, self.timing.response_window)
        obs[touch] = float(self._touch)
        obs[touch + 1] = float(self._outcome == Outcome.SUCCESS)
        return obs.astype(np.float32)

    def _info(self, terms: dict[str, float], diverged: bool) -> dict[str, Any]:
        outcome = self._outcome
        return {
            "time": self._now,
            "phase": int(self._phase),
            "outcome": int(outcome),
            "is_success": outcome == Outcome.SUCCESS,
            "events": self._events.copy(),
            "held": self._held,
            "physics_diverged": diverged,
            "cue_time": self._cue_time,
            "lift_before_cue": self._lift_before_cue,
            "precue_rise": self._precue_rise,
        } | {_REWARD_KEYS[name]: value for name, value in terms.items()}

    # --- rendering -------------------------------------------------------------------------------

    def render(self):
        """An RGB frame (``height x width x 3`` uint8) in ``rgb_array`` mode; syncs the viewer in
        ``human`` mode; None without a render mode."""
        if self.render_mode == "rgb_array":
            if self._renderer is None:
                # The offscreen buffer must hold the frame; the MJCF's default is 640 x 480.
                visual = self.model.vis.global_
                visual.offwidth = max(visual.offwidth, self.width)
                visual.offheight = max(visual.offheight, self.height)
                self._renderer = mujoco.Renderer(self.model, self.height, self.width)
            self._renderer.update_scene(self.data, camera=self.camera)
            return self._renderer.render()
        if self.render_mode == "human":
            if self._viewer is None:
                if sys.platform.startswith("linux") and not (
                        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
                    # Without this check GLFW fails inside MuJoCo and ends the whole process.
                    raise RuntimeError(
                        "render_mode='human' needs a display (DISPLAY is unset); use "
                        "render_mode='rgb_array' with MUJOCO_GL=egl for offscreen frames"
                    )
                from mujoco import viewer  # imported only when asked for: it needs a display

                self._viewer = viewer.launch_passive(self.model, self.data)
            self._viewer.sync()
        return None

    def close(self):
        """Release the renderer and viewer."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None
