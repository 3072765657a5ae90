"""``MousePelletReach-v1``: trials that vary as the lab's do, and ``MousePelletReach-v0`` unchanged.

v1 draws the pellet's sideways place (+-3 mm), the starting posture (+-0.1 rad per joint, never inside
the perch) and the cue onset (+-0.2 s) per trial from the reset seed. The point of v1: a fixed,
deterministic policy succeeds on some trials and fails on others. A pre-cue lift is flagged
(``lift_before_cue``); ending the trial at it (``early_lift_aborts``) is an option no version sets.
"""

from __future__ import annotations

import inspect
import re
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import reach_env
from reach_env import (
    ENV_ID,
    ENV_ID_V1,
    ENV_KWARGS,
    MUSCLES,
    MousePelletReachEnv,
    Outcome,
    TrialPhase,
    TrialTiming,
    observation_labels,
)
from reach_env.scripted import ScriptedReachController

LABELS = observation_labels()
CUE, SINCE_CUE = LABELS.index("cue"), LABELS.index("time_since_cue")
ZERO = np.zeros(len(MUSCLES), np.float32)
DOC = inspect.getdoc(MousePelletReachEnv)
DEFAULTS = {name: p.default for name, p in
            inspect.signature(MousePelletReachEnv.__init__).parameters.items()}
SEEDS = range(40)


@pytest.fixture(scope="module")
def v1():
    env = reach_env.make_env(ENV_ID_V1)
    yield env
    env.close()


def run(env, policy, seed=None, on_reset=None):
    """One episode to its end: (observations, infos); ``policy(obs) -> action``; ``on_reset()`` is
    called right after the reset (a controller's own reset)."""
    obs, info = env.reset(seed=seed)
    if on_reset is not None:
        on_reset()
    observations, infos = [obs], [info]
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(policy(obs))
        observations.append(obs)
        infos.append(info)
        done = terminated or truncated
    return np.array(observations), infos


# --- v0 is unchanged ---------------------------------------------------------------------------

# Recorded with the code before v1 existed (commit cae8d58): reset(seed) then, per step, the action
# ``default_rng(1000 + seed).uniform(0, 1, 15)`` as float32, to the episode's end. ``sums``: sum of the
# observation returned by step k (0: by reset). Bit-identical on the machine that recorded them; the
# tolerances only allow for other CPUs' floating point.
V0_RANDOM_REFERENCE = {
    0: {"events": {"cue": 0.6, "lift": 0.08, "grab": None, "at_mouth": None, "outcome": 2.1},
        "return": -0.04091729019548809,
        "first": [0.008217701688408852, -0.013812797144055367, -0.027541588991880417,
                  0.7563896775245667, -0.7666018009185791, 0.024765335023403168, 0.18093115091323853],
        "sums": {0: 91.66516551678069, 10: 87.60802196711302, 30: 62.9366001598537,
                 31: 65.01655654981732, 60: 38.127414433285594, 125: 69.3133842779207}},
    7: {"events": {"cue": 0.6, "lift": 0.18, "grab": None, "at_mouth": None, "outcome": 2.1},
        "return": -0.006353203516682484,
        "first": [0.007505727931857109, 0.02383282780647278, 0.016541142016649246,
                  0.7689104080200195, -0.7973880171775818, 0.022413207218050957, 0.14484891295433044],
        "sums": {0: 89.49943635295435, 10: 88.85240983590484, 30: 50.87717695243191,
                 31: 62.58565788343549, 60: 51.79956430569291, 125: 67.15057562291622}},
}
V0_UNSEEDED_AFTER_SEED_3 = [0.014074629172682762, -0.0231796782463789, -0.006526308599859476,
                            0.7864024043083191, -0.7895603179931641, 0.0052079143933951855,
                            0.1888032704591751]
V0_SCRIPTED_SEED_0 = {"events": {"cue": 0.6, "lift": 0.62, "grab": 1.0, "at_mouth": 1.36, "outcome": 1.36},
                      "return": 1.8550100431793972}


@pytest.mark.parametrize("seed", sorted(V0_RANDOM_REFERENCE))
def test_v0_trajectory_matches_the_recording_from_before_v1(seed):
    ref = V0_RANDOM_REFERENCE[seed]
    env = reach_env.make_env(ENV_ID)
    try:
        rng = np.random.default_rng(1000 + seed)
        obs, _ = env.reset(seed=seed)
        observations, total, done = [obs], 0.0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(
                rng.uniform(0.0, 1.0, len(MUSCLES)).astype(np.float32))
            observations.append(obs)
            total += reward
            done = terminated or truncated
        assert env.max_steps == 125 == len(observations) - 1
    finally:
        env.close()
    observations = np.array(observations, np.float64)
    assert info["events"] == ref["events"] and info["outcome"] == Outcome.TIMEOUT
    assert info["cue_time"] == 0.6 and info["lift_before_cue"] is True  # random flailing lifts early
    np.testing.assert_allclose(observations[0, :7], ref["first"], rtol=1e-6)
    for step, value in ref["sums"].items():
        assert observations[step].sum() == pytest.approx(value, rel=1e-4), step
    assert total == pytest.approx(ref["return"], rel=1e-4)


def test_v0_unseeded_reset_continues_the_same_stream():
    env = reach_env.make_env(ENV_ID)
    try:
        env.reset(seed=3)
        obs, _ = env.reset()
    finally:
        env.close()
    np.testing.assert_allclose(obs[:7], V0_UNSEEDED_AFTER_SEED_3, rtol=1e-6)


def test_v0_scripted_trial_unchanged(episode):
    ep = episode("scripted", seed=0)  # the class defaults are v0's
    assert ep.final["events"] == V0_SCRIPTED_SEED_0["events"]
    assert ep.final["lift_before_cue"] is False
    assert ep.rewards.sum() == pytest.approx(V0_SCRIPTED_SEED_0["return"], rel=1e-4)


# --- registration and make_env -------------------------------------------------------------------

def test_v1_is_registered_with_its_kwargs():
    assert reach_env.ENV_ID == "MousePelletReach-v0" and reach_env.ENV_ID_V1 == "MousePelletReach-v1"
    spec = gymnasium.spec(ENV_ID_V1)
    assert spec.entry_point == gymnasium.spec(ENV_ID).entry_point
    assert spec.kwargs == ENV_KWARGS[ENV_ID_V1]
    assert gymnasium.spec(ENV_ID).kwargs == {} == ENV_KWARGS[ENV_ID]
    env = gymnasium.make(ENV_ID_V1, response_window=2.0)
    try:
        inner = env.unwrapped
        assert isinstance(inner, MousePelletReachEnv)
        assert inner.timing.response_window == 2.0
        for name, value in ENV_KWARGS[ENV_ID_V1].items():
            assert getattr(inner, name) == value, name
        obs, _ = env.reset(seed=0)
        assert obs in env.observation_space
    finally:
        env.close()


def test_make_env_merges_registered_kwargs_and_overrides():
    env = reach_env.make_env(ENV_ID_V1, cue_jitter=0.1, post_outcome=0.2)
    try:
        assert type(env) is MousePelletReachEnv  # unwrapped
        assert env.spec.id == ENV_ID_V1
        assert env.spec.kwargs == {**ENV_KWARGS[ENV_ID_V1], "cue_jitter": 0.1, "post_outcome": 0.2}
        assert env.cue_jitter == 0.1 and env.timing.cue_jitter == 0.1
        assert env.timing.post_outcome == 0.2
        assert env.pellet_offset == ENV_KWARGS[ENV_ID_V1]["pellet_offset"]
    finally:
        env.close()
    env = reach_env.make_env(ENV_ID)
    try:
        for name in ENV_KWARGS[ENV_ID_V1]:
            assert getattr(env, name) == DEFAULTS[name], name
    finally:
        env.close()


def test_make_env_rejects_unknown_ids():
    with pytest.raises(ValueError, match="MousePelletReach-v9"):
        reach_env.make_env("MousePelletReach-v9")
    with pytest.raises(ValueError, match="MousePelletReach-v9"):
        reach_env.task_arguments("MousePelletReach-v9")


def test_task_arguments_are_what_make_env_builds():
    """``task_arguments`` is the one merge of a version with overrides: the arguments ``make_env`` uses,
    and those it records in the spec; the registered ones are not changed by it."""
    arguments = reach_env.task_arguments(ENV_ID_V1, cue_jitter=0.0)
    assert arguments == {**ENV_KWARGS[ENV_ID_V1], "cue_jitter": 0.0}
    assert ENV_KWARGS[ENV_ID_V1]["cue_jitter"] == 0.2
    env = reach_env.make_env(ENV_ID_V1, cue_jitter=0.0)
    try:
        assert env.spec.kwargs == arguments and env.cue_jitter == 0.0
    finally:
        env.close()


def test_gymnasium_check_env_passes_on_v1(v1):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(v1, skip_render_check=True)
    assert not [str(w.message) for w in caught if "infinity" not in str(w.message)]


# --- documented defaults -------------------------------------------------------------------------

def version_table() -> dict[str, tuple[str, str]]:
    """Rows of the docstring's version-history table: argument -> (v0 text, v1 text)."""
    start = DOC.index("**Version history**")
    lines = DOC[start:].splitlines()
    rules = [i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line.strip())]
    assert len(rules) >= 3, "version table not found in the docstring"
    rows = [line.split() for line in lines[rules[1] + 1:rules[2]] if line.strip()]
    return {row[0]: (row[1], row[2]) for row in rows}


def _value(text: str):
    return {"None": None, "True": True, "False": False}[text] if text in ("None", "True", "False") \
        else float(text)


def test_version_table_matches_defaults_and_registered_kwargs():
    table = version_table()
    assert set(table) == set(ENV_KWARGS[ENV_ID_V1])
    for name, (v0_text, v1_text) in table.items():
        assert _value(v0_text) == DEFAULTS[name], name
        assert _value(v1_text) == {**DEFAULTS, **ENV_KWARGS[ENV_ID_V1]}[name], name


def test_args_v1_values_match_registered_kwargs():
    # Each "v1 uses X" in an argument's Args entry is the value v1 registers for that argument.
    args_section = DOC[DOC.index("Args:"):]
    entries = re.split(r"^    (\w+(?:, \w+)*):", args_section, flags=re.MULTILINE)[1:]
    stated = {}
    for names, text in zip(entries[::2], entries[1::2], strict=True):
        for value in re.findall(r"v1 uses (\S+?)[.,;:]?(?:\s|$)", text):
            stated[names] = _value(value)
    assert stated == {name: value for name, value in ENV_KWARGS[ENV_ID_V1].items()
                      if name in stated}
    assert {"pellet_offset", "cue_jitter", "posture_max_penetration"} <= set(stated)
    assert stated["early_lift_aborts"] is True  # v1 ends a pre-cue lift as EARLY


def test_documented_v1_ranges_in_prose_match_kwargs():
    v1 = ENV_KWARGS[ENV_ID_V1]
    assert re.search(r"up to (\d+) mm to either side", DOC).group(1) == str(round(v1["pellet_offset"] * 1000))
    assert float(re.search(r"starts up to (\d*\.\d+) rad", DOC).group(1)) == v1["posture_jitter"]
    assert float(re.search(r"up to (\d*\.\d+) s earlier or later", DOC).group(1)) == v1["cue_jitter"]
    assert "``cue_time``" in DOC and "``lift_before_cue``" in DOC


def test_slot_half_width_claim():
    # "3 mm is the slot's half-width ... the 6 mm slot opening"
    model = reach_env.load_model()
    left, right = model.geom("slot_wall_left"), model.geom("slot_wall_right")
    width = (left.pos[1] - left.size[1]) - (right.pos[1] + right.size[1])
    assert width == pytest.approx(0.006, abs=1e-9)
    assert ENV_KWARGS[ENV_ID_V1]["pellet_offset"] == pytest.approx(width / 2)


# --- v1 trials: reproducible, and varied within the documented ranges ----------------------------

def test_v1_same_seed_same_trial_bit_for_bit():
    a, b = reach_env.make_env(ENV_ID_V1), reach_env.make_env(ENV_ID_V1)
    try:
        for seed in (0, 5):
            actions = np.random.default_rng(seed).uniform(0, 1, (60, len(MUSCLES))).astype(np.float32)
            steps = iter(actions)
            obs_a, infos_a = run(a, lambda obs, s=steps: next(s, ZERO), seed)
            steps = iter(actions)
            obs_b, infos_b = run(b, lambda obs, s=steps: next(s, ZERO), seed)
            assert np.array_equal(obs_a, obs_b) and infos_a == infos_b
            assert a.cue_time == b.cue_time
    finally:
        a.close()
        b.close()


def slot_midline_y(env) -> float:
    left, right = env.model.geom("slot_wall_left"), env.model.geom("slot_wall_right")
    return 0.5 * ((left.pos[1] - left.size[1]) + (right.pos[1] + right.size[1]))


@pytest.fixture(scope="module")
def v1_trials(v1):
    """Per seed: joint angles at reset, pellet position once settled after the turn (m), and a
    zero-action trial's infos and observations."""
    trials = {}
    for seed in SEEDS:
        observations, infos = run(v1, lambda obs: ZERO, seed)
        trials[seed] = {"observations": observations, "infos": infos}
    for seed in SEEDS:
        v1.reset(seed=seed)
        q0 = v1.forelimb.joint_angles().copy()
        penetration = min((d for d, g in zip(v1.data.contact.dist[:v1.data.ncon].tolist(),
                                             v1.data.contact.geom[:v1.data.ncon].tolist(), strict=True)
                           if v1._limb_geoms[g].any()), default=0.0)
        for _ in range(30):  # the turn takes 20 steps; the pellet settles on its post ~5 more
            v1.step(ZERO)
        trials[seed].update(q0=q0, pellet=v1.forelimb.pellet_position().copy(), penetration=penetration)
    return trials


def test_v1_pellet_place_varies_within_documented_range(v1, v1_trials):
    offset = ENV_KWARGS[ENV_ID_V1]["pellet_offset"]
    sideways = np.array([t["pellet"][1] for t in v1_trials.values()]) - slot_midline_y(v1)
    depth = np.array([t["pellet"][0] for t in v1_trials.values()])
    at_slot = v1.model.key("rest").qpos[v1.forelimb.pellet_qpos]
    # On its post, within the half-range (and 0.05 mm for the pellet settling in its divot).
    assert np.all(np.abs(sideways) <= offset + 5e-5), sideways
    assert sideways.min() < -0.6 * offset and sideways.max() > 0.6 * offset
    assert np.std(sideways) > 0.4 * offset  # uniform on +-3 mm: std 1.7 mm
    # The table turns the pellet along its rim: at most r (1 - cos) = 0.4 mm deeper (it rests 0.08 mm
    # off the post's centre in v0 as well).
    assert np.all(depth - at_slot >= -1e-4) and np.all(depth - at_slot <= 4.5e-4)
    assert np.ptp(depth) > 2e-4
    heights = [t["pellet"][2] for t in v1_trials.values()]
    assert np.ptp(heights) < 1e-4  # still resting on the post


def test_v1_posture_varies_within_documented_range_and_clear_of_the_perch(v1, v1_trials):
    jitter = ENV_KWARGS[ENV_ID_V1]["posture_jitter"]
    rest = v1.model.key("rest").qpos[v1.forelimb.joint_qpos]
    deviation = np.array([t["q0"] for t in v1_trials.values()]) - rest
    assert np.all(np.abs(deviation) <= jitter + 1e-9)
    assert np.abs(deviation).max() > 0.9 * jitter
    assert np.all(np.abs(deviation).max(axis=0) > 0.5 * jitter)  # every joint is perturbed
    assert min(t["penetration"] for t in v1_trials.values()) >= -ENV_KWARGS[ENV_ID_V1][
        "posture_max_penetration"]
    # Resting in the jittered posture is not a lift: no zero-action trial records one.
    assert all(t["infos"][-1]["events"]["lift"] is None for t in v1_trials.values())


def test_v1_cue_time_varies_on_the_grid_within_documented_range(v1, v1_trials):
    timing, dt = TrialTiming(), v1.control_timestep
    jitter = ENV_KWARGS[ENV_ID_V1]["cue_jitter"]
    cues = []
    for trial in v1_trials.values():
        final = trial["infos"][-1]
        cue = final["events"]["cue"]
        assert cue == final["cue_time"] == trial["infos"][0]["cue_time"]  # known from the reset on
        assert abs(cue / dt - round(cue / dt)) < 1e-9  # on the control grid
        assert timing.cue_time - jitter - 1e-9 <= cue <= timing.cue_time + jitter + 1e-9
        assert cue >= timing.platform_turn - 1e-9
        cues.append(cue)
    assert min(cues) < timing.cue_time - jitter / 2 and max(cues) > timing.cue_time + jitter / 2
    assert len(set(cues)) >= 10


def test_v1_timeline_follows_each_trials_cue(v1, v1_trials):
    timing, dt = v1.timing, v1.control_timestep
    post, tone = round(timing.post_outcome / dt), round(timing.tone_duration / dt)
    lengths = []
    for trial in v1_trials.values():
        observations, infos = trial["observations"], trial["infos"]
        cue_time = infos[-1]["cue_time"]
        cue_step = round(cue_time / dt)
        steps = len(infos) - 1
        lengths.append(steps)
        # A zero-action trial times out response_window after its own cue.
        assert infos[-1]["outcome"] == Outcome.TIMEOUT
        assert infos[-1]["events"]["outcome"] == pytest.approx(cue_time + timing.response_window, abs=1e-9)
        assert steps == cue_step + round(timing.response_window / dt) + post <= v1.max_steps
        times = np.array([info["time"] for info in infos])
        tone_on = (np.arange(steps + 1) >= cue_step) & (np.arange(steps + 1) < cue_step + tone)
        assert np.array_equal(observations[:, CUE] == 1.0, tone_on)
        np.testing.assert_allclose(observations[:, SINCE_CUE],
                                   np.clip(times - cue_time, 0, timing.response_window), atol=1e-6)
        for k, info in enumerate(infos[1:], start=1):
            assert (info["phase"] == TrialPhase.PLATFORM_TURN) == (k < round(timing.platform_turn / dt))
            assert (info["phase"] >= TrialPhase.CUE) == (k >= cue_step)
    # max_steps bounds every trial and is reached by a timeout after the latest cue.
    assert v1.max_steps == round(timing.max_duration / dt) == max(lengths)


def test_tone_on_follows_the_current_trial(v1):
    dt = v1.control_timestep
    cues = {}
    for seed in SEEDS:
        v1.reset(seed=seed)
        cues.setdefault(v1.cue_step, seed)
    (early, seed_early), (late, seed_late) = min(cues.items()), max(cues.items())
    assert early < late
    for seed, cue_step in ((seed_early, early), (seed_late, late)):
        v1.reset(seed=seed)
        assert v1.cue_time == pytest.approx(cue_step * dt, abs=1e-9)
        assert not v1.tone_on(cue_step - 1) and v1.tone_on(cue_step)


def test_v1_timing_validation():
    with pytest.raises(ValueError, match=r"\bcue_jitter\b"):
        reach_env.make_env(ENV_ID_V1, cue_time=0.5)  # earliest cue 0.3 s, before the 0.4 s platform turn
    with pytest.raises(ValueError, match=r"\bcue_jitter\b"):
        TrialTiming(cue_jitter=-0.1)
    reach_env.make_env(ENV_ID_V1, cue_time=0.5, cue_jitter=0.1).close()
    for kwargs, field in (({"pellet_offset": -0.001}, "pellet_offset"),
                          ({"pellet_offset": 0.01}, "pellet_offset"),
                          ({"pellet_offset": 0.004, "pellet_jitter": 0.2}, "pellet_offset"),
                          ({"posture_max_penetration": -1.0}, "posture_max_penetration")):
        with pytest.raises(ValueError, match=rf"\b{field}\b"):
            MousePelletReachEnv(**kwargs)


# --- pre-cue lifts -------------------------------------------------------------------------------

def test_lift_before_cue_is_reported(make_env):
    env = make_env()  # v0: the random flailing lifts the paw during the platform turn
    rng = np.random.default_rng(0)
    observations, infos = run(env, lambda obs: rng.uniform(0, 1, len(MUSCLES)).astype(np.float32), 0)
    for info in infos:
        lift = info["events"]["lift"]
        assert info["lift_before_cue"] == (lift is not None and lift <= info["cue_time"] + 1e-9)
    assert infos[-1]["lift_before_cue"] and infos[-1]["events"]["lift"] < infos[-1]["events"]["cue"]


def test_precue_rise_is_the_highest_palm_rise_until_the_cue(make_env):
    env = make_env()  # v0: the flailing lifts the paw before the cue, and the trial goes on after it
    rng = np.random.default_rng(1)
    _, info = env.reset(seed=1)
    rest = float(env.unwrapped.forelimb.palm_position()[2])
    highest, done, infos = 0.0, False, [info]
    assert info["precue_rise"] == 0.0
    while not done:
        _, _, terminated, truncated, info = env.step(rng.uniform(0, 1, len(MUSCLES)).astype(np.float32))
        if info["time"] <= info["cue_time"] + 1e-9:
            highest = max(highest, float(env.unwrapped.forelimb.palm_position()[2]) - rest)
        assert info["precue_rise"] == pytest.approx(highest, abs=1e-12)
        infos.append(info)
        done = terminated or truncated
    assert infos[-1]["time"] > infos[-1]["cue_time"]  # it held its value after the cue
    # Over the lift threshold exactly when the paw lifted before the cue: the early error's margin.
    assert infos[-1]["lift_before_cue"] and infos[-1]["precue_rise"] > env.unwrapped.lift_height


# --- the scripted controller, and a fixed open-loop policy ---------------------------------------

def test_scripted_controller_solves_most_v1_trials(v1):
    controller = ScriptedReachController(v1)
    assert controller.clear_obstacles
    outcomes = []
    for seed in SEEDS:
        _, infos = run(v1, controller, seed, on_reset=controller.reset)
        final = infos[-1]
        outcomes.append(final["outcome"])
        if final["is_success"]:
            assert final["events"]["cue"] < final["events"]["lift"]  # it starts at the trial's cue
            assert not final["lift_before_cue"]
        # It waits for the cue: never an early lift (that early_lift_aborts would end as EARLY).
        assert not final["lift_before_cue"] and final["outcome"] != Outcome.EARLY
        assert 0.0 <= final["precue_rise"] < v1.lift_height
        assert final["events"]["lift"] is None or final["events"]["lift"] > final["cue_time"]
    assert outcomes.count(Outcome.SUCCESS) >= 36, outcomes  # measured: 40 of 40


def record_actions(env, seed: int) -> np.ndarray:
    controller = ScriptedReachController(env)
    actions = []

    def policy(obs):
        actions.append(controller(obs))
        return actions[-1]

    _, infos = run(env, policy, seed, on_reset=controller.reset)
    assert infos[-1]["is_success"]
    return np.array(actions)


def open_loop_successes(env_id: str, source_seed: int = 1000) -> int:
    env = reach_env.make_env(env_id)
    try:
        actions = record_actions(env, source_seed)
        successes = 0
        for seed in SEEDS:
            steps = iter(actions)
            _, infos = run(env, lambda obs, s=steps: next(s, actions[-1]), seed)
            successes += infos[-1]["is_success"]
        return successes
    finally:
        env.close()


def test_a_fixed_open_loop_policy_succeeds_on_some_v1_trials_and_fails_on_others():
    # The scripted controller's actions on one trial, replayed without feedback: the noise-off
    # behaviour of a policy that does not adapt to the trial. v0's trials are too alike to tell such
    # a policy's trials apart (all-or-none); v1's are not.
    assert open_loop_successes(ENV_ID) == len(SEEDS)
    successes = open_loop_successes(ENV_ID_V1)
    # Measured with v1's registered arguments: 26 of 40 (13 time out, 1 drops the pellet; 20 of the
    # 40 lift before their own, later, cue, which v1 flags but lets run on). With early_lift_aborts
    # those 20 end EARLY and 14 of 40 succeed. The recording from source seed 1002 succeeds on 34.
    assert 0.2 * len(SEEDS) <= successes <= 0.9 * len(SEEDS), successes


def test_clear_obstacles_only_where_the_pellet_is_placed_sideways(make_env):
    # Off for v0's envs, so that its plan (and demonstrations made with it) stay v0's bit for bit.
    assert not ScriptedReachController(make_env()).clear_obstacles
    assert not ScriptedReachController(make_env(posture_jitter=0.1, cue_jitter=0.2)).clear_obstacles
    assert ScriptedReachController(make_env(pellet_offset=0.001)).clear_obstacles
    assert not ScriptedReachController(make_env(pellet_offset=0.001), clear_obstacles=False).clear_obstacles


def test_posture_redraw_checks_the_limb_geoms_only(v1):
    model = v1.model
    limb_names = {model.geom(g).name for g in np.flatnonzero(v1._limb_geoms)}
    assert {"forearm_R", "digit2_R", "digit3_R", "digit4_R"} <= limb_names
    assert not limb_names & {"perch", "pellet", "pellet_post", "slot_wall_left", "slot_wall_right",
                             "turntable"}


# --- early lifts: flagged by v1; ending the trial is the option early_lift_aborts -----------------

ONE = np.ones(len(MUSCLES), np.float32)


@pytest.fixture(scope="module")
def v1_abort():
    """v1 with the option ``early_lift_aborts``: a lift at or before the cue ends the trial."""
    env = reach_env.make_env(ENV_ID_V1, early_lift_aborts=True)
    yield env
    env.close()


def test_outcome_codes_keep_their_values():
    assert [(o.name, int(o)) for o in Outcome] == [("NONE", 0), ("SUCCESS", 1), ("DROPPED", 2),
                                                   ("TIMEOUT", 3), ("EARLY", 4)]


def test_v1_ends_a_pre_cue_lift_as_early_and_v0_does_not():
    # A pre-cue lift is the lab's early error: v1 ends the trial (only cued reaches can be rewarded);
    # v0, the first release, keeps running such trials, as old runs did.
    assert DEFAULTS["early_lift_aborts"] is False
    assert "early_lift_aborts" not in ENV_KWARGS[ENV_ID]
    assert ENV_KWARGS[ENV_ID_V1]["early_lift_aborts"] is True
    assert gymnasium.spec(ENV_ID_V1).kwargs["early_lift_aborts"] is True
    env = reach_env.make_env(ENV_ID)
    try:
        assert env.early_lift_aborts is False
    finally:
        env.close()
    # Given, it passes through make_env and gymnasium.make, and ends a pre-cue lift as EARLY.
    env = reach_env.make_env(ENV_ID_V1, early_lift_aborts=True)
    try:
        assert env.early_lift_aborts is True and env.spec.kwargs["early_lift_aborts"] is True
    finally:
        env.close()
    env = gymnasium.make(ENV_ID_V1, early_lift_aborts=True)
    try:
        assert env.unwrapped.early_lift_aborts is True
        env.reset(seed=0)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(ONE)
            done = terminated or truncated
        assert info["outcome"] == Outcome.EARLY and info["lift_before_cue"]
    finally:
        env.close()


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_with_early_lift_aborts_a_lift_before_the_cue_ends_the_trial_early(v1_abort, seed):
    # Full excitation from the first step lifts the paw during the platform turn, long before any cue.
    v1 = v1_abort
    rewards = []
    observations, infos = run(v1, lambda obs: ONE, seed)
    dt, final = v1.control_timestep, infos[-1]
    post = round(v1.timing.post_outcome / dt)
    cue_time = final["cue_time"]
    assert final["outcome"] == Outcome.EARLY and not final["is_success"]
    assert final["lift_before_cue"]
    events = final["events"]
    assert events["outcome"] == events["lift"] <= cue_time + dt + 1e-9
    assert events["grab"] is None and events["at_mouth"] is None
    outcome_step = round(events["outcome"] / dt)
    steps = len(infos) - 1
    assert steps == outcome_step + post <= v1.max_steps  # then the usual post-outcome window
    for k, info in enumerate(infos[1:], start=1):
        assert info["outcome"] == (Outcome.EARLY if k >= outcome_step else Outcome.NONE)
        assert (info["phase"] == TrialPhase.POST_OUTCOME) == (k >= outcome_step)
        assert info["reward_success"] == 0.0
        for term in ("approach", "grasp", "retrieve"):
            assert info[f"reward_{term}"] == 0.0, (k, term)  # no shaping before the cue or after an outcome
        rewards.append(sum(info[f"reward_{t}"] for t in reach_env.REWARD_TERMS))
    assert all(r <= 0 for r in rewards)  # only the effort cost
    assert (observations[:, -1] == 0).all()  # no taste


@pytest.mark.parametrize("aborts", [False, True], ids=["v1", "v1-early_lift_aborts"])
def test_terminated_only_after_the_post_outcome_window(request, aborts):
    v1 = request.getfixturevalue("v1_abort" if aborts else "v1")
    obs, _ = v1.reset(seed=0)
    dt = v1.control_timestep
    post = round(v1.timing.post_outcome / dt)
    flags, infos = [], []
    done = False
    while not done:
        obs, _, terminated, truncated, info = v1.step(ONE)
        flags.append(terminated)
        infos.append(info)
        done = terminated or truncated
    assert not truncated
    outcome_step = round(infos[-1]["events"]["outcome"] / dt)
    assert flags == [False] * (outcome_step + post - 1) + [True]


def test_v0_and_v1_without_the_abort_let_an_early_lift_run_on(make_env):
    for env in (make_env(), reach_env.make_env(ENV_ID_V1, early_lift_aborts=False)):
        try:
            _, infos = run(env, lambda obs: ONE, 0)
            final = infos[-1]
            assert final["lift_before_cue"] and final["outcome"] != Outcome.EARLY
            assert final["events"]["outcome"] > final["cue_time"]  # it ran on past the cue
            assert all(info["outcome"] != Outcome.EARLY for info in infos)
        finally:
            env.close()


def test_resting_in_a_jittered_posture_is_never_an_early_lift(v1_trials):
    # Zero excitation: the jittered starting posture settles on the perch without rising to the lift
    # height (measured: at most 0.49 mm of the 2 mm over 300 seeds), so it is never flagged, nor would
    # early_lift_aborts end such a trial.
    for trial in v1_trials.values():
        final = trial["infos"][-1]
        assert final["outcome"] == Outcome.TIMEOUT and not final["lift_before_cue"]
        assert final["events"]["lift"] is None
