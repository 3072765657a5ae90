"""Physics of the mouse forelimb model: loading the MJCF and named queries on its state.

The task logic (trial timeline, rewards) lives in :mod:`reach_env.pellet_reach_env`; this module only
knows the model. Every quantity is in SI units (metres, seconds, newtons, radians) unless a name says
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import mujoco
import numpy as np

#: The MJCF shipped with the package (see its header for sources and version history).
MODEL_FILE = "mouse_reach_v0.xml"

#: Right-forelimb joints in qpos order, named by anatomy.
LIMB_JOINTS: tuple[str, ...] = (
    "shoulder_extension_R",
    "shoulder_elevation_R",
    "shoulder_rotation_R",
    "elbow_R",
    "wrist_flexion_R",
    "wrist_pronation_R",
    "digit_flexion_R",
)

#: Muscles driven by the agent, in action order.
MUSCLES: tuple[str, ...] = (
    "pectoralis_clavicular_R",
    "latissimus_dorsi_R",
    "deltoid_anterior_R",
    "deltoid_middle_R",
    "deltoid_posterior_R",
    "triceps_lateral_R",
    "triceps_long_R",
    "brachialis_R",
    "biceps_long_R",
    "wrist_flexors_R",
    "wrist_extensors_R",
    "pronators_R",
    "supinators_R",
    "digit_flexors_R",
    "digit_extensors_R",
)

#: The muscle whose excitation also drives the digits' grip (adhesion) actuator.
GRIP_MUSCLE = "digit_flexors_R"


def model_path() -> Path:
    """Path of the packaged MJCF file (``assets/`` is installed as package data)."""
    packaged = resources.files("reach_env").joinpath("assets", MODEL_FILE)
    if packaged.is_file():
        return Path(str(packaged))
    # Source checkout without installation: assets/ sits beside the package.
    return Path(__file__).resolve().parent.parent / "assets" / MODEL_FILE


def load_model(path: str | Path | None = None) -> mujoco.MjModel:
    """Compile the MJCF at ``path`` (default: the packaged model)."""
    return mujoco.MjModel.from_xml_path(str(path or model_path()))


def _as_slice(indices: np.ndarray) -> slice | np.ndarray:
    """``indices`` as a slice when they are consecutive, else unchanged."""
    first = int(indices[0])
    if np.array_equal(indices, np.arange(first, first + len(indices))):
        return slice(first, first + len(indices))
    return indices


@dataclass(frozen=True)
class MuscleGeometry:
    """Per-muscle constants for normalising lengths, velocities and forces.

    Attributes:
        optimal_length: L0 in metres, MuJoCo's muscle normalisation length.
        length_offset: actuator length (m) that maps to a normalised length of 0.
        peak_force: F0 in newtons.
    """

    optimal_length: np.ndarray
    length_offset: np.ndarray
    peak_force: np.ndarray


class Forelimb:
    """Named, allocation-light queries on a compiled mouse-reach model and its data.

    Args:
        model: the compiled model (from :func:`load_model`).
        data: its data.
    """

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData):
        self.model = model
        self.data = data
        self.joint_qpos = np.array([model.joint(n).qposadr[0] for n in LIMB_JOINTS])
        self.joint_qvel = np.array([model.joint(n).dofadr[0] for n in LIMB_JOINTS])
        self.muscle_ids = np.array([model.actuator(n).id for n in MUSCLES])
        # Slices where the indices are contiguous (they are in mouse_reach_v0): reading a slice
        # is a view, several times cheaper than fancy indexing in the per-step observation.
        self._qpos_index = _as_slice(self.joint_qpos)
        self._qvel_index = _as_slice(self.joint_qvel)
        self._muscle_index = _as_slice(self.muscle_ids)
        self.grip_actuator = model.actuator("digit_grip_R").id
        self.grip_muscle_index = MUSCLES.index(GRIP_MUSCLE)
        self.turntable_actuator = model.actuator("turntable").id
        self.turntable_qpos = model.joint("turntable").qposadr[0]
        self.pellet_qpos = model.joint("pellet").qposadr[0]
        self.pellet_qvel = model.joint("pellet").dofadr[0]
        self.pellet_body = model.body("pellet").id
        self.pellet_geom = model.geom("pellet").id
        self.digits_body = model.body("digits_R").id
        self.palm_site = model.site("palm_centre_R").id
        self.digit_tips_site = model.site("digit_tips_R").id
        self.mouth_site = model.site("mouth").id
        self.turntable_body = model.body("turntable").id
        self.post_geom = model.geom("pellet_post").id
        hand_bodies = (model.body("paw_R").id, self.digits_body)
        #: Per geom id, whether it belongs to the paw or digits (a list: fastest to index by int).
        self.is_hand_geom = [int(b) in hand_bodies for b in model.geom_bodyid]
        self.muscle_geometry = self._muscle_geometry()
        self.rest_qpos = model.key("rest").qpos.copy()
        self.joint_range = model.jnt_range[[model.joint(n).id for n in LIMB_JOINTS]].copy()
        # Views into ``data``, made once: MjData never moves its arrays, and each ``data.<field>``
        # access builds a new numpy wrapper, which the per-step queries would pay for every step.
        self.pellet_xpos = data.xpos[self.pellet_body]
        self.palm_xpos = data.site_xpos[self.palm_site]
        self.digit_tips_xpos = data.site_xpos[self.digit_tips_site]
        self.mouth_xpos = data.site_xpos[self.mouth_site]
        self.warning_counts = data.warning.number
        self._ctrl = data.ctrl

    def _muscle_geometry(self) -> MuscleGeometry:
        ids = self.muscle_ids
        lengthrange = self.model.actuator_lengthrange[ids]
        # MuJoCo's muscle gainprm: [range0, range1, force, scale, lmin, lmax, vmax, fpmax, fvmax].
        operating = self.model.actuator_gainprm[ids, 0:2]
        optimal = (lengthrange[:, 1] - lengthrange[:, 0]) / (operating[:, 1] - operating[:, 0])
        offset = lengthrange[:, 0] - operating[:, 0] * optimal
        return MuscleGeometry(optimal, offset, self.model.actuator_gainprm[ids, 2].copy())

    # --- proprioception -------------------------------------------------------------------------

    def joint_angles(self) -> np.ndarray:
        """Limb joint angles (rad), in :data:`LIMB_JOINTS` order."""
        return self.data.qpos[self._qpos_index]

    def joint_velocities(self) -> np.ndarray:
        """Limb joint angular velocities (rad/s)."""
        return self.data.qvel[self._qvel_index]

    def muscle_lengths(self) -> np.ndarray:
        """Muscle lengths in optimal lengths (1 = optimal, MuJoCo's operating range 0.75-1.05)."""
        g = self.muscle_geometry
        return (self.data.actuator_length[self._muscle_index] - g.length_offset) / g.optimal_length

    def muscle_velocities(self) -> np.ndarray:
        """Muscle lengthening velocities in optimal lengths per second."""
        return (self.data.actuator_velocity[self._muscle_index]
                / self.muscle_geometry.optimal_length)

    def muscle_forces(self) -> np.ndarray:
        """Muscle tensions as fractions of peak isometric force (>= 0; passive force included)."""
        return -self.data.actuator_force[self._muscle_index] / self.muscle_geometry.peak_force

    def muscle_activations(self) -> np.ndarray:
        """Muscle activation states in [0, 1] (after activation dynamics)."""
        return self.data.act[self._muscle_index]

    # --- positions --------------------------------------------------------------------------------

    def palm_position(self) -> np.ndarray:
        """World position (m) of the palm centre."""
        return self.palm_xpos

    def digit_tips_position(self) -> np.ndarray:
        """World position (m) of the point between the flexed digit tips where a pellet is held."""
        return self.digit_tips_xpos

    def pellet_position(self) -> np.ndarray:
        """World position (m) of the pellet centre."""
        return self.pellet_xpos

    def mouth_position(self) -> np.ndarray:
        """World position (m) of the mouth."""
        return self.mouth_xpos

    def post_top_height(self) -> float:
        """Height (m) of the top of the pellet post."""
        return float(self.data.geom_xpos[self.post_geom][2] + self.model.geom_size[self.post_geom][1])

    def hand_touches_pellet(self) -> bool:
        """Whether any paw or digit geom has a contact (active or within margin) with the pellet."""
        ncon = self.data.ncon
        if ncon == 0:
            return False
        pellet, hand = self.pellet_geom, self.is_hand_geom
        for g1, g2 in self.data.contact.geom[:ncon].tolist():
            if (g1 == pellet and hand[g2]) or (g2 == pellet and hand[g1]):
                return True
        return False

    # --- actuation --------------------------------------------------------------------------------

    def set_excitation(self, excitation: np.ndarray) -> None:
        """Write muscle excitations (already validated, in [0, 1]) and the grip that follows them."""
        ctrl = self._ctrl
        ctrl[self._muscle_index] = excitation
        ctrl[self.grip_actuator] = excitation[self.grip_muscle_index]

    def set_turntable_target(self, angle: float) -> None:
        """Set the turntable servo's target angle (rad; 0 = pellet post at the slot)."""
        self._ctrl[self.turntable_actuator] = angle

    def place_turntable(self, angle: float) -> None:
        """Turn the table to ``angle`` (rad) at rest, carrying the pellet on its post.

        Rotates the pellet's free-joint position about the table axis; call before ``mj_forward``.
        """
        qpos = self.data.qpos
        centre = self.model.body_pos[self.turntable_body][:2]
        at_slot = self.rest_qpos[self.pellet_qpos:self.pellet_qpos + 2] - centre
        c, s = np.cos(angle), np.sin(angle)
        qpos[self.pellet_qpos:self.pellet_qpos + 2] = centre + (c * at_slot[0] - s * at_slot[1],
                                                                s * at_slot[0] + c * at_slot[1])
        qpos[self.turntable_qpos] = angle
        self.data.ctrl[self.turntable_actuator] = angle
