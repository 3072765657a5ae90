"""BatchedPhysics must reproduce per-copy ``mj_step`` exactly, so envs can switch to it freely."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from reach_env import load_model
from reach_env.batched_physics import BatchedPhysics

N_SIMS = 4
NSTEP = 20  # one control step of the env: 20 physics steps of 1 ms
# state mj_step carries over (warm start included) and derived fields the env reads
FIELDS = ("time", "qpos", "qvel", "act", "qacc_warmstart", "ctrl", "xpos", "site_xpos",
          "actuator_length", "actuator_force")


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return load_model()


def _rest_data(model: mujoco.MjModel, rng: np.random.Generator) -> mujoco.MjData:
    """Rest keyframe with a small random posture change, so the copies differ."""
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("rest").id)
    data.qpos[:7] += rng.uniform(-0.02, 0.02, 7)
    mujoco.mj_forward(model, data)
    return data


@pytest.mark.parametrize("nthread", [1, 2])
def test_bit_identical_to_mj_step(model: mujoco.MjModel, nthread: int) -> None:
    rng = np.random.default_rng(0)
    batched = BatchedPhysics(model, N_SIMS, nthread=nthread)
    alone = []
    for data in batched.datas:
        ref = _rest_data(model, rng)
        state = np.empty(mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_INTEGRATION))
        mujoco.mj_getState(model, ref, state, mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_setState(model, data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
        alone.append(ref)

    for _ in range(5):
        low, high = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
        ctrl = rng.uniform(low, high, (N_SIMS, model.nu))
        for ref, u in zip(alone, ctrl, strict=True):
            ref.ctrl[:] = u
            mujoco.mj_step(model, ref, nstep=NSTEP)
        batched.step(ctrl, NSTEP)
        for data, ref in zip(batched.datas, alone, strict=True):
            for field in FIELDS:
                np.testing.assert_array_equal(getattr(data, field), getattr(ref, field), field)
            assert data.ncon == ref.ncon


def test_picks_up_writes_between_calls(model: mujoco.MjModel) -> None:
    """A reset of one copy between calls (as an env's reset does) is what the next call steps."""
    batched = BatchedPhysics(model, 2)
    ctrl = np.full((2, model.nu), 0.2)
    batched.step(ctrl, NSTEP)
    mujoco.mj_resetDataKeyframe(model, batched.datas[1], model.key("rest").id)
    ref = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, ref, model.key("rest").id)
    ref.ctrl[:] = ctrl[1]
    mujoco.mj_step(model, ref, nstep=NSTEP)
    batched.step(ctrl, NSTEP)
    np.testing.assert_array_equal(batched.datas[1].qpos, ref.qpos)
    assert batched.datas[0].time == pytest.approx(2 * NSTEP * model.opt.timestep)


def test_wrong_ctrl_shape_raises(model: mujoco.MjModel) -> None:
    batched = BatchedPhysics(model, 2)
    nu = model.nu
    for shape in [(nu,), (2, nu - 1), (3, nu), (2, nu, 1)]:
        with pytest.raises(ValueError, match=rf"ctrl has shape .* expected \(2, {nu}\)"):
            batched.step(np.zeros(shape), NSTEP)
