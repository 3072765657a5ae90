"""A hand-written reach-grasp-retrieve controller: proof that the task can be solved.

It knows the model (it is not a learner): at every control step it picks a target for the digit-tip
point from the trial stage (lift, reach above the pellet, descend, close the digits, lift, retrieve to
the mouth), solves inverse kinematics for joint angles, and turns a joint-space PD law into muscle
excitations by bounded least squares on the muscles' moment arms. It reads the simulator state
directly, not the observation, and starts when the current trial's cue sounds (``env.cue_time``).
"""

from __future__ import annotations

import enum
import math

import mujoco
import numpy as np
from scipy.optimize import lsq_linear

from reach_env.forelimb import LIMB_JOINTS, MUSCLES
from reach_env.pellet_reach_env import MousePelletReachEnv


class Stage(enum.IntEnum):
    """The controller's own plan; not the env's TrialPhase."""

    WAIT = 0
    LIFT = 1
    ABOVE = 2
    DESCEND = 3
    CLOSE = 4
    RAISE = 5
    RETRACT = 6
    TO_MOUTH = 7


def muscle_torque_matrix(model: mujoco.MjModel) -> np.ndarray:
    """Joint torque (N m) per unit excitation of each muscle, shape (limb joints, muscles).

    The muscles act on fixed tendons, whose coefficients are constant moment arms; a muscle pulls with
    (roughly) minus its peak force times its activation.
    """
    joint_ids = [model.joint(n).id for n in LIMB_JOINTS]
    matrix = np.zeros((len(LIMB_JOINTS), len(MUSCLES)))
    for i, name in enumerate(MUSCLES):
        actuator = model.actuator(name)
        tendon = actuator.trnid[0]
        adr, num = model.tendon_adr[tendon], model.tendon_num[tendon]
        peak_force = actuator.gainprm[2]
        for joint, coef in zip(model.wrap_objid[adr:adr + num], model.wrap_prm[adr:adr + num],
                               strict=True):
            matrix[joint_ids.index(joint), i] = -coef * peak_force
    return matrix


class ScriptedReachController:
    """Muscle excitations that reach, grasp and retrieve the pellet (``policy(obs) -> action``).

    Args:
        env: the (unwrapped) environment to control; the controller reads its simulator state.
        kp_scale: PD stiffness as a multiple of each joint's passive stiffness.
        kd_scale: PD damping as a multiple of each joint's passive damping.
        clear_obstacles: plan around the apparatus, as a pellet up to 3 mm to the side needs: pass
            the slot within 1 mm of its midline until the digit tips are through it, and close in on
            the pellet only once they are 3.5 mm above its centre and within 1 mm of it sideways (from
            below or from the side, the digits knock it off its post). None (default): on when the
            env places the pellet with ``pellet_offset > 0`` (``MousePelletReach-v1``), off otherwise,
            so that the plan, and the demonstrations made with it, stay bit for bit those of v0.
        reaction_time: seconds from the cue onset to the start of the lift (0: at the first control
            step after the cue, as in v0's demonstrations).
    """

    def __init__(self, env: MousePelletReachEnv, kp_scale: float = 6.0, kd_scale: float = 1.0,
                 clear_obstacles: bool | None = None, reaction_time: float = 0.0):
        if not (math.isfinite(reaction_time) and reaction_time >= 0):
            raise ValueError(f"reaction_time={reaction_time!r} must be a finite number >= 0 (s)")
        self.env = env
        self.reaction_time = float(reaction_time)
        self.clear_obstacles = (getattr(env, "pellet_offset", 0.0) > 0 if clear_obstacles is None
                                else bool(clear_obstacles))
        model = env.model
        # The slot: its midline (y) and its far face (x), from the front plate's two walls.
        left, right = model.geom("slot_wall_left"), model.geom("slot_wall_right")
        self._slot_mid_y = 0.5 * ((left.pos[1] - left.size[1]) + (right.pos[1] + right.size[1]))
        self._slot_far_x = float(max(left.pos[0] + left.size[0], right.pos[0] + right.size[0]))
        self._ik_data = mujoco.MjData(model)
        limb = env.forelimb
        self._qadr = limb.joint_qpos
        self._vadr = limb.joint_qvel
        self._lo, self._hi = limb.joint_range[:, 0], limb.joint_range[:, 1]
        dofs = limb.joint_qvel
        self._stiffness = model.jnt_stiffness[[model.joint(n).id for n in LIMB_JOINTS]]
        self._springref = model.qpos_spring[self._qadr]
        self._kp = kp_scale * self._stiffness
        self._kd = kd_scale * model.dof_damping[dofs]
        self._torque_matrix = muscle_torque_matrix(model)
        self._digit = LIMB_JOINTS.index("digit_flexion_R")
        self._pronation = LIMB_JOINTS.index("wrist_pronation_R")
        self._flexor = MUSCLES.index("digit_flexors_R")
        self._extensor = MUSCLES.index("digit_extensors_R")
        self.reset()

    def reset(self) -> None:
        """Forget the previous trial's plan; call after ``env.reset``."""
        self.stage = Stage.WAIT
        self._stage_start = 0.0
        self._q_target = self.env.data.qpos[self._qadr].copy()
        self._pellet_rest = self.env.forelimb.pellet_position().copy()

    # --- planning ------------------------------------------------------------------------------

    def _advance(self, t: float) -> None:
        env = self.env
        tips = env.forelimb.digit_tips_position()
        elapsed = t - self._stage_start
        reached = np.linalg.norm(tips - self._target_point()) < 0.0012
        nxt = None
        if self.stage == Stage.WAIT and t >= env.cue_time + self.reaction_time - 1e-9:
            nxt = Stage.LIFT
        elif self.stage == Stage.LIFT and (reached or elapsed > 0.12):
            nxt = Stage.ABOVE
        elif self.stage == Stage.ABOVE and (reached or elapsed > 0.2):
            nxt = Stage.DESCEND
        elif self.stage == Stage.DESCEND and (reached or elapsed > 0.15):
            nxt = Stage.CLOSE
        elif self.stage == Stage.CLOSE and elapsed > 0.08:
            nxt = Stage.RAISE
        elif self.stage == Stage.RAISE and (reached or elapsed > 0.15):
            nxt = Stage.RETRACT
        elif self.stage == Stage.RETRACT and (reached or elapsed > 0.2):
            nxt = Stage.TO_MOUTH
        if nxt is not None:
            self.stage, self._stage_start = nxt, t

    def _target_point(self) -> np.ndarray:
        """Where the digit-tip point should go in the current stage (world, m)."""
        target = self._plain_target_point()
        if self.clear_obstacles and self.stage in (Stage.LIFT, Stage.ABOVE):
            tips, pellet = self.env.forelimb.digit_tips_position(), self._pellet_goal()
            target = target.copy()
            if tips[0] < self._slot_far_x + 0.001:
                # Not through the slot yet: stay near its midline, clear of the walls.
                target[1] = np.clip(target[1], self._slot_mid_y - 0.001, self._slot_mid_y + 0.001)
            if self.stage == Stage.ABOVE and (tips[2] < pellet[2] + 0.0035
                                               or abs(tips[1] - pellet[1]) > 0.001):
                # Not yet high above the pellet and in line with it: hold back 4 mm until they are,
                # or the digits sweep it off its post from below or from the side.
                target[0] = min(target[0], pellet[0] - 0.004)
        return target

    def _plain_target_point(self) -> np.ndarray:
        """The stage's target without ``clear_obstacles`` (v0's plan)."""
        limb = self.env.forelimb
        pellet = self._pellet_goal()
        stage = self.stage
        if stage == Stage.WAIT:
            return limb.digit_tips_position().copy()
        if stage == Stage.LIFT:
            return np.array([0.012, pellet[1], pellet[2] + 0.005])
        if stage == Stage.ABOVE:
            return pellet + (-0.0005, 0.0, 0.005)
        if stage in (Stage.DESCEND, Stage.CLOSE):
            return pellet + (-0.0003, 0.0, 0.0004)
        if stage == Stage.RAISE:
            return pellet + (-0.0003, 0.0, 0.004)
        if stage == Stage.RETRACT:
            return np.array([0.011, pellet[1], pellet[2] + 0.006])
        # Bring the held pellet, which hangs below the digit tips, to the mouth.
        return limb.mouth_position() + (limb.digit_tips_position() - limb.pellet_position())

    def _pellet_goal(self) -> np.ndarray:
        # Where the pellet rests at the slot once the table has turned (the pellet itself may still be
        # moving early in the trial, and is in the paw later).
        if self.stage <= Stage.ABOVE:
            self._pellet_rest = self.env.forelimb.pellet_position().copy()
        return self._pellet_rest

    def _digit_angle(self) -> float:
        if self.stage in (Stage.ABOVE, Stage.DESCEND, Stage.LIFT):
            return np.deg2rad(-10.0)
        if self.stage == Stage.WAIT:
            return float(self._springref[self._digit])
        return np.deg2rad(90.0)

    def _inverse_kinematics(self, target: np.ndarray, q0: np.ndarray) -> np.ndarray:
        model, data = self.env.model, self._ik_data
        site = self.env.forelimb.digit_tips_site
        q = q0.copy()
        jacp = np.zeros((3, model.nv))
        for _ in range(30):
            data.qpos[self._qadr] = q
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            error = target - data.site_xpos[site]
            if np.linalg.norm(error) < 5e-5:
                break
            mujoco.mj_jacSite(model, data, jacp, None, site)
            jac = jacp[:, self._vadr]
            # Digits and forearm rotation are set by the grasp plan, not by IK.
            jac[:, self._digit] = 0.0
            jac[:, self._pronation] = 0.0
            step = jac.T @ np.linalg.solve(jac @ jac.T + 1e-7 * np.eye(3), error)
            q = np.clip(q + 0.7 * step, self._lo, self._hi)
        return q

    # --- control ---------------------------------------------------------------------------------

    def __call__(self, observation: np.ndarray | None = None) -> np.ndarray:
        """Muscle excitations (15, float32) for the env's current state; ``observation`` is unused."""
        data = self.env.data
        t = self.env.time
        self._advance(t)
        if self.stage == Stage.WAIT:
            return np.zeros(len(MUSCLES), np.float32)
        target = self._target_point()
        q = data.qpos[self._qadr]
        self._q_target = self._inverse_kinematics(target, self._q_target)
        self._q_target[self._digit] = self._digit_angle()
        qdot = data.qvel[self._vadr]
        # Cancel the passive spring, then track the target with a PD law.
        torque = (self._stiffness * (q - self._springref) + self._kp * (self._q_target - q)
                  - self._kd * qdot)
        excitation = lsq_linear(self._torque_matrix, torque, bounds=(0.0, 1.0), method="bvls").x
        if self.stage >= Stage.CLOSE:
            excitation[self._flexor] = 1.0
            excitation[self._extensor] = 0.0
        return excitation.astype(np.float32)
