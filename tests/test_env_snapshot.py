"""An env's snapshot (``MousePelletReachEnv.snapshot`` / ``restore``): taken mid-trial and restored into
another env, in this process or after pickling, the rest of the trial and the trials after it are bit for
bit the original's; and the snapshot misses nothing that ``reset()`` or ``step()`` changes."""

from __future__ import annotations

import copy
import pickle

import mujoco
import numpy as np
import pytest

from reach_env import ENV_ID_V1, EnvSnapshot, make_env

#: Attributes that are not the env's state: the model and the views into its data, and scratch buffers
#: that every observation overwrites before reading.
_NOT_STATE = {"model", "data", "forelimb", "_renderer", "_viewer", "_warnings", "_divergence_counts",
              "_obs_sources", "_obs_buffer", "_obs_offset", "_obs_tips", "_obs_mouth"}


def _actions(n: int, seed: int = 0) -> np.ndarray:
    # Strong enough to lift the paw, so that events, contacts and outcomes happen within the steps.
    return np.random.default_rng(seed).uniform(0.0, 0.8, (n, 15)).astype(np.float32)


def _continue(env, actions: np.ndarray) -> list:
    """Steps of ``env`` under ``actions``, starting new unseeded trials when one ends."""
    steps = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            steps.append(env.reset())
    return steps


def _same(a, b) -> bool:
    """Equal in type and value, bit for bit (floats by ``repr``, which round-trips every bit)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.random.Generator):
        return a.bit_generator.state == b.bit_generator.state
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(map(_same, a, b))
    return repr(a) == repr(b)


def _assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert _same(x, y), (x, y)


@pytest.mark.parametrize("roundtrip", [False, True], ids=["in_process", "pickled"])
def test_a_restored_env_goes_on_exactly_as_the_original(roundtrip):
    """Mid-trial, the rest of the trial and the next (unseeded) trials are the original's."""
    original = make_env(ENV_ID_V1)
    original.reset(seed=11)
    _continue(original, _actions(37, seed=1))
    snapshot = original.snapshot()
    if roundtrip:
        snapshot = pickle.loads(pickle.dumps(snapshot))
    later = _actions(250, seed=2)  # past the end of the trial, into the next ones
    expected = _continue(original, later)
    assert any(len(step) == 2 for step in expected), "the steps should reach a new trial"

    twin = make_env(ENV_ID_V1)
    twin.restore(snapshot)
    _assert_same(_continue(twin, later), expected)


def test_the_snapshot_is_a_copy_and_restores_every_attribute():
    """Later steps of the original do not change a snapshot, and a restored env equals the original
    in every attribute that is state (a new one that ``reset()`` or ``step()`` sets, left out of the
    snapshot, fails here)."""
    original = make_env(ENV_ID_V1)
    original.reset(seed=3)
    _continue(original, _actions(40, seed=4))
    snapshot = original.snapshot()
    state = copy.deepcopy({name: value for name, value in vars(original).items() if name not in _NOT_STATE})
    physics = original.data.qpos.copy()
    _continue(original, _actions(5, seed=5))
    assert np.array_equal(snapshot.physics.qpos, physics)

    twin = make_env(ENV_ID_V1)
    twin.restore(snapshot)
    restored = vars(twin)
    assert set(restored) == set(state) | _NOT_STATE
    for name, value in state.items():
        assert _same(restored[name], value), name
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    size = mujoco.mj_stateSize(twin.model, spec)
    states = [np.empty(size), np.empty(size)]
    mujoco.mj_getState(twin.model, twin.data, states[0], spec)
    mujoco.mj_getState(twin.model, snapshot.physics, states[1], spec)
    assert np.array_equal(*states)
    assert np.array_equal(twin.data.warning.number, snapshot.physics.warning.number)


def test_a_snapshot_of_another_model_is_refused():
    model = mujoco.MjModel.from_xml_string(
        "<mujoco><worldbody><body><freejoint/><geom size='.1'/></body></worldbody></mujoco>")
    alien = EnvSnapshot(mujoco.MjData(model), {}, None, None)
    env = make_env(ENV_ID_V1)
    with pytest.raises(ValueError, match="qpos"):
        env.restore(alien)
