"""The class docstring is the user manual: the numbers and names it states must match the code."""

from __future__ import annotations

import inspect
import re

import mujoco
import numpy as np
import pytest

from reach_env import (
    LIMB_JOINTS,
    MUSCLES,
    OBSERVATION_BLOCKS,
    MousePelletReachEnv,
    RewardWeights,
    TrialTiming,
    load_model,
    observation_labels,
)

DOC = inspect.getdoc(MousePelletReachEnv)
assert DOC, "MousePelletReachEnv has no docstring"
DEFAULTS = {name: p.default for name, p in
            inspect.signature(MousePelletReachEnv.__init__).parameters.items()}


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return load_model()


@pytest.fixture(scope="module")
def env() -> MousePelletReachEnv:
    env = MousePelletReachEnv()
    yield env
    env.close()


def _doc_match(pattern: str) -> re.Match:
    match = re.search(pattern, DOC)
    assert match, f"the class docstring no longer matches {pattern!r}"
    return match


def documented_observation_table() -> list[tuple[str, int]]:
    """(block, size) rows of the docstring's reST observation table."""
    start = DOC.index("**Observation**")
    lines = DOC[start:].splitlines()
    rules = [i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line.strip())]
    assert len(rules) >= 3, "observation table not found in the docstring"
    body = lines[rules[1] + 1:rules[2]]
    # Continuation lines of a row's unit column are indented; rows start at column 0.
    rows = [re.match(r"(\w+)\s+(\d+)\s", line) for line in body if line and not line[0].isspace()]
    assert all(rows), f"unparsable observation table rows: {body}"
    return [(m.group(1), int(m.group(2))) for m in rows]


def test_observation_table_matches_blocks():
    assert documented_observation_table() == [(name, size) for name, size, _ in OBSERVATION_BLOCKS]


def test_observation_space_matches_docstring_and_blocks(env):
    low, high, size = _doc_match(
        r"\*\*Observation\*\* \(``Box\((\S+), (\S+), \((\d+),\), float32\)").groups()
    assert (float(low), float(high)) == (-np.inf, np.inf)
    assert env.observation_space.shape == (int(size),)
    assert env.observation_space.dtype == np.float32
    assert int(size) == sum(s for _, s, _ in OBSERVATION_BLOCKS) == len(observation_labels())


def test_action_space_matches_docstring_and_muscles(env):
    low, high, size = _doc_match(
        r"\*\*Action\*\* \(``Box\((\S+), (\S+), \((\d+),\), float32\)").groups()
    assert env.action_space.shape == (int(size),) == (len(MUSCLES),)
    assert env.action_space.dtype == np.float32
    assert np.all(env.action_space.low == float(low))
    assert np.all(env.action_space.high == float(high))


def _expand_muscle_list(text: str) -> list[frozenset[str]]:
    """Turn the docstring's prose muscle list into one word set per muscle:
    "anterior/middle/posterior deltoid" -> 3 muscles; "triceps lateral and long heads" -> 2."""
    muscles = []
    for item in (part.strip() for part in text.split(",")):
        item = re.sub(r"\s+", " ", item).removesuffix(" heads").removesuffix(" head")
        if "/" in item:
            variants, rest = item.split(" ", 1)
            muscles += [frozenset((v, *rest.split())) for v in variants.split("/")]
        elif " and " in item:
            first, second = item.split(" and ")
            *prefix, last = first.split()
            muscles += [frozenset((*prefix, last)), frozenset((*prefix, *second.split()))]
        else:
            muscles.append(frozenset(item.split()))
    return muscles


def test_documented_muscles_are_muscles_in_action_order():
    text = _doc_match(
        r"in the order of\s+:data:`reach_env\.forelimb\.MUSCLES`\s+\(([^)]*)\)").group(1)
    documented = _expand_muscle_list(text)
    actual = [frozenset(name.removesuffix("_R").split("_")) for name in MUSCLES]
    assert documented == actual


def test_documented_joint_angles_are_limb_joints_in_order():
    text = _doc_match(r"joint_angles\s+\d+\s+rad \(([^)]*)\)").group(1)
    # "shoulder extension, elevation, rotation, elbow, ...": each item ends with the joint's
    # last word.
    documented = [item.split()[-1] for item in re.sub(r"\s+", " ", text).split(", ")]
    assert documented == [name.removesuffix("_R").split("_")[-1] for name in LIMB_JOINTS]


TIMING_KWARGS = ("platform_turn", "cue_time", "tone_duration", "response_window", "post_outcome",
                 "cue_jitter")
REWARD_KWARGS = {"success_reward": "success", "approach_weight": "approach",
                 "grasp_weight": "grasp", "retrieve_weight": "retrieve",
                 "effort_weight": "effort"}


@pytest.mark.parametrize("kwarg", TIMING_KWARGS)
def test_timing_kwarg_default_matches_trial_timing(kwarg):
    assert DEFAULTS[kwarg] == getattr(TrialTiming(), kwarg)


@pytest.mark.parametrize(("kwarg", "field"), REWARD_KWARGS.items())
def test_reward_kwarg_default_matches_reward_weights(kwarg, field):
    assert DEFAULTS[kwarg] == getattr(RewardWeights(), field)


def test_default_env_uses_default_dataclasses(env):
    assert env.timing == TrialTiming()
    assert env.reward_weights == RewardWeights()


def test_every_documented_arg_is_a_parameter_and_vice_versa():
    args_section = DOC[DOC.index("Args:"):]
    documented = set()
    for names in re.findall(r"^    (\w+(?:, \w+)*):", args_section, flags=re.MULTILINE):
        documented |= set(names.split(", "))
    assert documented == set(DEFAULTS) - {"self"}


def test_grip_strength_claim(model):
    milli_newtons, times_weight = _doc_match(
        r"grip of up to (\d+(?:\.\d+)?) mN \((\d+) times the pellet's weight\)").groups()
    gain = model.actuator("digit_grip_R").gainprm[0]
    assert model.actuator("digit_grip_R").ctrlrange[1] == 1.0  # so the gain is the maximum force
    assert gain == pytest.approx(float(milli_newtons) / 1000, rel=1e-9)
    weight = model.body("pellet").mass[0] * np.linalg.norm(model.opt.gravity)
    assert gain / weight == pytest.approx(float(times_weight), rel=0.05)


def test_pellet_mass_claim(model):
    milligrams = float(_doc_match(r"with a (\d+) mg pellet").group(1))
    assert model.body("pellet").mass[0] == pytest.approx(milligrams * 1e-6, rel=0.05)


def test_muscle_time_constants_claim(model):
    act_ms, deact_ms = map(
        float, _doc_match(r"\((\d+) ms activation, (\d+) ms deactivation\)").groups())
    ids = [model.actuator(name).id for name in MUSCLES]
    np.testing.assert_allclose(model.actuator_dynprm[ids, 0], act_ms / 1000)
    np.testing.assert_allclose(model.actuator_dynprm[ids, 1], deact_ms / 1000)


def test_pellet_jitter_lever_arm_claim(model):
    # "the pellet's sideways position varies by about 0.012 * pellet_jitter m": the post's distance
    # from the turntable axis.
    radius = float(_doc_match(r"about ``(\d*\.\d+) \* pellet_jitter`` m").group(1))
    assert np.linalg.norm(model.geom("pellet_post").pos[:2]) == pytest.approx(radius, rel=0.05)


def test_physics_timestep_limit_claim():
    limit_ms = float(
        _doc_match(r"physics_timestep: MuJoCo time step \(s\), at most (\d+) ms").group(1))
    MousePelletReachEnv(physics_timestep=limit_ms / 1000, control_timestep=0.02).close()
    with pytest.raises(ValueError, match="physics_timestep"):
        MousePelletReachEnv(physics_timestep=limit_ms / 1000 * 1.5, control_timestep=0.03)


def test_documented_info_keys_and_events(env):
    _, info = env.reset(seed=0)
    _, _, _, _, step_info = env.step(np.zeros(len(MUSCLES), np.float32))
    for name in ("time", "phase", "outcome", "is_success", "events", "held", "physics_diverged",
                 "cue_time", "lift_before_cue"):
        assert f"``{name}``" in DOC
        assert name in info and name in step_info
    events = re.search(r"events\s+are ``cue``, ``lift``.*?``grab``.*?``at_mouth`` and ``outcome``",
                       DOC, flags=re.DOTALL)
    assert events
    assert list(step_info["events"]) == ["cue", "lift", "grab", "at_mouth", "outcome"]
