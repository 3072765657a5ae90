"""The MJCF model: naming, muscles, pellet, collision filtering and passive rest."""

from __future__ import annotations

import itertools

import mujoco
import numpy as np
import pytest

from reach_env import LIMB_JOINTS, MUSCLES, MousePelletReachEnv, load_model

OBJ = mujoco.mjtObj

#: The nine shoulder/elbow muscles of talmolab's mouse arm (shared/SCIENCE.md).
SCIENCE_MUSCLES = (
    "pectoralis_clavicular_R", "latissimus_dorsi_R", "deltoid_anterior_R", "deltoid_middle_R",
    "deltoid_posterior_R", "triceps_lateral_R", "triceps_long_R", "brachialis_R", "biceps_long_R",
)


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return load_model()


def limb_bodies(model: mujoco.MjModel) -> set[int]:
    """The right forelimb: humerus_R and every body below it."""
    root = model.body("humerus_R").id
    bodies = {root}
    for b in range(model.nbody):  # parents come before children in MuJoCo's body order
        if model.body_parentid[b] in bodies:
            bodies.add(b)
    return bodies


@pytest.mark.parametrize(
    ("obj", "count"),
    [(OBJ.mjOBJ_BODY, "nbody"), (OBJ.mjOBJ_JOINT, "njnt"), (OBJ.mjOBJ_GEOM, "ngeom"),
     (OBJ.mjOBJ_SITE, "nsite"), (OBJ.mjOBJ_ACTUATOR, "nu"), (OBJ.mjOBJ_TENDON, "ntendon"),
     (OBJ.mjOBJ_CAMERA, "ncam")],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_every_element_is_named(model, obj, count):
    n = getattr(model, count)
    assert n > 0
    first = 1 if obj == OBJ.mjOBJ_BODY else 0  # body 0 is the unnamed world body
    unnamed = [i for i in range(first, n) if not mujoco.mj_id2name(model, obj, i)]
    assert not unnamed


def test_limb_joints_are_the_anatomical_hinges_of_the_limb(model):
    limb = limb_bodies(model)
    joints_in_limb = {model.joint(j).name for j in range(model.njnt) if model.jnt_bodyid[j] in limb}
    assert joints_in_limb == set(LIMB_JOINTS)
    for name in LIMB_JOINTS:
        assert name.endswith("_R")
        assert model.joint(name).type[0] == mujoco.mjtJoint.mjJNT_HINGE
        assert model.jnt_limited[model.joint(name).id]
    # "in qpos order"
    assert list(LIMB_JOINTS) == sorted(LIMB_JOINTS, key=lambda n: model.joint(n).qposadr[0])


def test_muscle_actuators_are_exactly_the_muscles(model):
    muscles = [model.actuator(i).name for i in range(model.nu)
               if model.actuator_gaintype[i] == mujoco.mjtGain.mjGAIN_MUSCLE]
    assert muscles == list(MUSCLES)
    assert len(MUSCLES) == 15


@pytest.mark.parametrize("name", MUSCLES)
def test_muscle_is_mujoco_muscle_on_a_tendon(model, name):
    actuator = model.actuator(name)
    i = actuator.id
    assert model.actuator_gaintype[i] == mujoco.mjtGain.mjGAIN_MUSCLE
    assert model.actuator_biastype[i] == mujoco.mjtBias.mjBIAS_MUSCLE
    assert model.actuator_dyntype[i] == mujoco.mjtDyn.mjDYN_MUSCLE
    assert model.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_TENDON
    assert mujoco.mj_id2name(model, OBJ.mjOBJ_TENDON, actuator.trnid[0]) == name
    np.testing.assert_array_equal(actuator.ctrlrange, [0.0, 1.0])
    assert actuator.gainprm[2] > 0  # peak force


@pytest.mark.parametrize("name", SCIENCE_MUSCLES)
def test_science_muscle_present(name):
    assert name in MUSCLES


def test_pellet_mass_and_size(model):
    assert model.body("pellet").mass[0] == pytest.approx(20e-6, abs=1e-6)
    pellet = model.geom("pellet")
    assert pellet.type[0] == mujoco.mjtGeom.mjGEOM_SPHERE
    assert pellet.size[0] == pytest.approx(0.0015, abs=1e-9)


def test_limb_geoms_cannot_collide_with_each_other(model):
    limb = limb_bodies(model)
    geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] in limb]
    assert len(geoms) >= 5
    for a, b in itertools.combinations(geoms, 2):
        collide = (model.geom_contype[a] & model.geom_conaffinity[b]) or (
            model.geom_contype[b] & model.geom_conaffinity[a])
        assert not collide, (model.geom(a).name, model.geom(b).name)


def test_no_limb_self_contacts_in_random_rollout(model):
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("rest").id)
    limb = limb_bodies(model)
    rng = np.random.default_rng(0)
    muscles = [model.actuator(n).id for n in MUSCLES]
    self_contacts, limb_contacts = [], 0
    for step in range(2000):
        if step % 20 == 0:
            data.ctrl[muscles] = rng.uniform(0, 1, len(muscles))
        mujoco.mj_step(model, data)
        for c in data.contact[:data.ncon]:
            in_limb = [model.geom_bodyid[g] in limb for g in c.geom]
            limb_contacts += any(in_limb)
            if all(in_limb):
                self_contacts.append((step, model.geom(c.geom[0]).name, model.geom(c.geom[1]).name))
    assert not self_contacts
    assert limb_contacts > 0  # the limb did touch things (perch, walls, pellet): contacts were on


@pytest.fixture(scope="module")
def passive_rest():
    """1 s of zero excitation from the exact rest keyframe: per step, joint angles minus the
    keyframe's, pellet position, post-top centre; and the last info."""
    env = MousePelletReachEnv(posture_jitter=0.0, pellet_jitter=0.0)
    env.reset(seed=0)
    limb = env.forelimb
    rest = env.model.key("rest").qpos[limb.joint_qpos]
    deviation, pellet, post_top = [], [], []
    for _ in range(round(1.0 / env.control_timestep)):
        _, _, terminated, truncated, info = env.step(np.zeros(len(MUSCLES), np.float32))
        assert not (terminated or truncated)
        deviation.append(limb.joint_angles() - rest)
        pellet.append(limb.pellet_position().copy())
        post_top.append(np.r_[env.data.geom_xpos[limb.post_geom][:2], limb.post_top_height()])
    env.close()
    return np.array(deviation), np.array(pellet), np.array(post_top), info


@pytest.mark.parametrize("tolerance_deg", [
    # The rest keyframe touches the perch without penetrating it: no jolt at reset (a 0.3 mm
    # penetration once gave elbow +5.5 deg within 0.1 s). The digits settle by ~3 deg.
    4.0,
    10.0,  # the limb does not collapse or drift off the perch
])
def test_passive_rest_stays_near_rest_posture(passive_rest, tolerance_deg):
    deviation, _, _, info = passive_rest
    worst = np.rad2deg(np.abs(deviation).max(axis=0))
    assert worst.max() < tolerance_deg, dict(zip(LIMB_JOINTS, worst.round(2), strict=True))
    assert info["events"]["lift"] is None


def test_passive_rest_keeps_pellet_on_post(passive_rest):
    # Also while the turntable turns the post to the slot (the first 0.4 s).
    _, pellet, post_top, info = passive_rest
    np.testing.assert_array_less(np.linalg.norm(pellet[:, :2] - post_top[:, :2], axis=1), 0.0005)
    np.testing.assert_allclose(pellet[:, 2], post_top[:, 2] + 0.0015, atol=0.0002)
    assert info["outcome"] == 0
