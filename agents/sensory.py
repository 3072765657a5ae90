"""Fixed scaling of the env's observation into firing-rate-like inputs of order one.

The scales are constants from the observation's units (not running statistics), so that no input
statistic drifts while dopamine is blocked and the weights must stay frozen.
"""

from __future__ import annotations

import numpy as np

from reach_env import OBSERVATION_BLOCKS, observation_labels

#: Per observation block: (offset, scale); input = (observation - offset) / scale.
BLOCK_SCALING: dict[str, tuple[float, float]] = {
    "joint_angles": (0.0, 1.0),  # rad
    "joint_velocities": (0.0, 10.0),  # rad/s
    "muscle_lengths": (1.0, 0.2),  # optimal lengths, around 1
    "muscle_velocities": (0.0, 5.0),  # optimal lengths/s
    "muscle_forces": (0.0, 0.5),  # fraction of peak force
    "cue": (0.0, 0.1),
    "time_since_cue": (0.0, 1.0),  # s
    "pellet_from_tips": (0.0, 10.0),  # mm
    "pellet_from_mouth": (0.0, 10.0),  # mm
    "touch": (0.0, 1.0),
    "taste": (0.0, 1.0),
}

#: Index of the time since the tone's onset (s, 0 before it) in the flat observation: the clock that the
#: forward model's timing basis and the auditory input's persistence read.
CUE_CLOCK_INDEX: int = observation_labels().index("time_since_cue")

#: Blocks the motor thalamus receives. The trial clock is left out: a recurrent cortex keeps time
#: itself, and the lab's animals have no clock input.
THALAMIC_BLOCKS: tuple[str, ...] = tuple(name for name, _, _ in OBSERVATION_BLOCKS
                                         if name != "time_since_cue")

# Circuit v2: each sense reaches M1 by its own route (shared/SCIENCE.md, "the motor thalamus is not a
# relay of everything"). Pellet-from-mouth is no route's: the mouth's sense of the pellet is taste.
#: The cerebellar forward model's proprioceptive state (what it predicts the change of): joint angles
#: and velocities and the muscle spindles' lengths and velocities, which reach the cerebellum through the
#: spinocerebellar tracts.
PROPRIOCEPTIVE_BLOCKS: tuple[str, ...] = ("joint_angles", "joint_velocities", "muscle_lengths",
                                          "muscle_velocities")
#: Somatosensory (S1-like) input: proprioception (joint angles and velocities, muscle spindles'
#: lengths and velocities), touch and where the pellet is relative to the hand (whisker and forepaw
#: sense of the near pellet). Muscle force (Golgi tendon organs) is left out: it travels mainly to the
#: cerebellum (spinocerebellar tracts), and as an input to M1 it is a copy of the command within one
#: control step, which would make S1 the best "encoder" of the movement by definition (finding 7).
SOMATOSENSORY_BLOCKS: tuple[str, ...] = ("joint_angles", "joint_velocities", "muscle_lengths",
                                         "muscle_velocities", "touch", "pellet_from_tips")
#: Auditory cue input: the tone.
CUE_BLOCKS: tuple[str, ...] = ("cue",)
#: Outcome input: the pellet at the mouth, tasted.
OUTCOME_BLOCKS: tuple[str, ...] = ("taste",)


def scaling_vectors(blocks: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indices, offset, scale)`` selecting and scaling ``blocks`` of the flat observation."""
    wanted = set(blocks) if blocks is not None else {name for name, _, _ in OBSERVATION_BLOCKS}
    unknown = wanted - BLOCK_SCALING.keys()
    if unknown:
        raise ValueError(f"observation blocks {sorted(unknown)} have no scaling")
    indices, offsets, scales, start = [], [], [], 0
    for name, size, _ in OBSERVATION_BLOCKS:
        if name in wanted:
            offset, scale = BLOCK_SCALING[name]
            indices += range(start, start + size)
            offsets += [offset] * size
            scales += [scale] * size
        start += size
    return np.array(indices), np.array(offsets, np.float32), np.array(scales, np.float32)
