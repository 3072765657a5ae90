"""Held-out evaluation: ``evaluation.csv`` of a training run, ``python -m training.evaluate``, and the
pre-cue lifts of ``episodes.csv``.

Evaluations run the network on env seeds the protocol never uses, the same at every evaluation, without
learning; they change nothing the protocol draws from, so a run's trials do not depend on them."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from small_setups import SMALL_AGENT_V2, tiny_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.pretraining import PretrainingConfig, warmup_seed
from agents.three_factor import ThreeFactorLearner
from analysis.run_format import EVALUATION_COLUMNS, tensorboard_dir
from reach_env import MousePelletReachEnv
from training.checkpoint import FORMAT_VERSION
from training.config import ConfigError, build_config
from training.evaluate import main
from training.protocol import ProtocolConfig, Run, build_run, evaluate
from training.train import Trainer

REPO = Path(__file__).resolve().parents[1]

#: (episode, session, noise) of the tiny run's evaluations, in order.
SCHEDULE = [(0, 0, "off"), (0, 0, "on"), (4, 1, "off"), (8, 2, "off"), (8, 2, "on")]


# --- spies -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def spy():
    """Record every evaluation batch (``run_trials`` with ``learn=False``) and every env reset.

    Yields ``(batches, resets)``: batches as dicts (seeds, episodes, explore, returns, successes);
    resets as ``(seed, during_evaluation)``.
    """
    batches: list[dict] = []
    resets: list[tuple[int, bool]] = []
    state = {"evaluating": False}
    run_trials, reset = ThreeFactorLearner.run_trials, MousePelletReachEnv.reset

    def spied_run_trials(self, envs, episodes, env_seeds, learn=True, explore=True, **kwargs):
        state["evaluating"] = not learn
        try:
            record = run_trials(self, envs, episodes, env_seeds, learn=learn, explore=explore, **kwargs)
        finally:
            state["evaluating"] = False
        if not learn:
            batches.append({"seeds": [int(s) for s in env_seeds], "episodes": list(episodes),
                            "explore": explore, "returns": [s.ret for s in record.summaries],
                            "successes": [s.success for s in record.summaries],
                            "early": [s.lift_before_cue for s in record.summaries],
                            "rises": [s.precue_rise for s in record.summaries]})
        return record

    def spied_reset(self, *, seed=None, options=None):
        resets.append((seed, state["evaluating"]))
        return reset(self, seed=seed, options=options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ThreeFactorLearner, "run_trials", spied_run_trials)
        patch.setattr(MousePelletReachEnv, "reset", spied_reset)
        yield batches, resets


def evaluations(batches: list[dict], trials: int) -> list[dict]:
    """Evaluation batches joined into whole evaluations of ``trials`` trials each."""
    joined: list[dict] = []
    for batch in batches:
        if not joined or len(joined[-1]["seeds"]) == trials:
            joined.append({"seeds": [], "returns": [], "successes": [], "early": [], "rises": [],
                           "explore": batch["explore"]})
        assert batch["explore"] == joined[-1]["explore"]
        for key in ("seeds", "returns", "successes", "early", "rises"):
            joined[-1][key] += batch[key]
    assert all(len(e["seeds"]) == trials for e in joined)
    return joined


# --- runs ------------------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def train(out: Path, **sections) -> tuple[Path, list[dict], list[tuple[int, bool]]]:
    config = tiny_config(out, **sections)
    with spy() as (batches, resets):
        Trainer(config).train(progress=False)
    return out, evaluations(batches, config.protocol.eval_trials), resets


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    """The tiny protocol, intact, with its evaluations and env resets spied on."""
    return train(tmp_path_factory.mktemp("intact") / "out")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """The tiny protocol with M1 dopamine blocked throughout and the forward model still: the network
    never changes."""
    return train(tmp_path_factory.mktemp("frozen") / "out", protocol={"da_block": "1-2"},
                 agent={"forward_lr": 0.0})


@pytest.fixture(scope="module")
def circuit2(tmp_path_factory):
    """The tiny protocol in circuit 2, its forward model adapting within 8 trials: a fast step, and a
    horizon of 2 control steps because the tiny trials end within 0.2 s (the default horizon)."""
    return train(tmp_path_factory.mktemp("circuit2") / "out",
                 agent={**SMALL_AGENT_V2, "forward_lr": 0.5, "forward_horizon": 0.04})


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


# --- evaluation.csv ----------------------------------------------------------------------------------------


def test_evaluation_csv_rows_and_values(intact):
    out, evaluated, _ = intact
    with open(out / "evaluation.csv", newline="") as f:
        assert next(csv.reader(f)) == list(EVALUATION_COLUMNS)
    rows = read_csv(out / "evaluation.csv")
    assert [(int(r["episode"]), int(r["session"]), r["noise"]) for r in rows] == SCHEDULE
    for row, spied in zip(rows, evaluated, strict=True):
        trials, successes = int(row["trials"]), int(row["successes"])
        assert trials == 3 and 0 <= successes <= trials
        assert float(row["success"]) == successes / trials  # unrounded
        assert successes == sum(spied["successes"])
        assert spied["explore"] == (row["noise"] == "on")


def test_evaluations_use_the_same_held_out_seeds_and_never_train_on_them(intact):
    out, evaluated, resets = intact
    config = tiny_config(out).protocol
    held_out = [config.eval_seed(k) for k in range(config.eval_trials)]
    assert all(e["seeds"] == held_out for e in evaluated)
    assert {seed for seed, during in resets if during} == set(held_out)
    elsewhere = {seed for seed, during in resets if not during}  # demonstrations, warm-up, protocol
    assert {config.env_seed(e) for e in range(config.total_trials)} <= elsewhere
    assert not elsewhere & set(held_out)


def test_evaluations_follow_the_network(intact):
    # The intact network learns between evaluations: the same trials then go differently.
    _, evaluated, _ = intact
    off = [e for e in evaluated if not e["explore"]]
    assert off[0]["returns"] != off[-1]["returns"]


def test_a_frozen_network_evaluates_identically_every_time(frozen):
    out, evaluated, _ = frozen
    rows = read_csv(out / "evaluation.csv")
    assert [(int(r["episode"]), int(r["session"]), r["noise"]) for r in rows] == SCHEDULE
    off = [r for r in rows if r["noise"] == "off"]
    assert len({(r["trials"], r["successes"], r["success"]) for r in off}) == 1
    spied_off = [e["returns"] for e in evaluated if not e["explore"]]
    spied_on = [e["returns"] for e in evaluated if e["explore"]]
    assert len(spied_off) == 3 and all(r == spied_off[0] for r in spied_off)
    # with noise, the evaluation's own generator restarts at every evaluation
    assert len(spied_on) == 2 and spied_on[0] == spied_on[1]


def test_evaluation_changes_nothing_in_the_protocol(intact, tmp_path):
    """More, fewer and noisier evaluations: the same trials, activity and final state."""
    a, _, _ = intact
    b, _, _ = train(tmp_path / "other", protocol={"eval_trials": 1, "eval_noise_on_every_session": True})
    assert (b / "episodes.csv").read_bytes() == (a / "episodes.csv").read_bytes()
    assert [(r["episode"], r["noise"]) for r in read_csv(b / "evaluation.csv")] == [
        ("0", "off"), ("0", "on"), ("4", "off"), ("4", "on"), ("8", "off"), ("8", "on")]
    for name in ("session_01.npz", "session_02.npz"):
        x, y = np.load(a / "activity" / name), np.load(b / "activity" / name)
        for key in x.files:
            assert np.array_equal(x[key], y[key], equal_nan=x[key].dtype.kind == "f"), f"{name}:{key}"
    x = torch.load(a / "checkpoints" / "episode_000008.pt", weights_only=True)
    y = torch.load(b / "checkpoints" / "episode_000008.pt", weights_only=True)
    for part in ("cortex", "thalamus", "critic"):
        for key in x[part]:
            assert torch.equal(x[part][key], y[part][key]), f"{part}.{key}"
    for key in ("exploration", "torch"):
        assert torch.equal(x["rng"][key], y["rng"][key]), key
    assert x["rng"]["python"] == y["rng"]["python"]
    assert torch.equal(x["rng"]["numpy"]["keys"], y["rng"]["numpy"]["keys"])


def run_state(run: Run) -> dict:
    """Everything evaluating might disturb: weights, optimiser states and every generator."""
    return {
        "weights": {k: v.clone() for k, v in run.circuit.state_dict().items()},
        "optimizers": [repr(o.state_dict()) for o in (run.learner.cortex_optimizer,
                                                        run.learner.critic_optimizer)],
        "generator": run.learner.generator.get_state().clone(),
        "torch": torch.get_rng_state().clone(),
        "numpy": np.random.get_state()[1].copy(),  # noqa: NPY002
        "python": random.getstate(),
        "episode": run.episode,
    }


def assert_same_state(a: dict, b: dict) -> None:
    for key in ("generator", "torch"):
        assert torch.equal(a[key], b[key]), key
    for name in a["weights"]:
        assert torch.equal(a["weights"][name], b["weights"][name]), name
    assert np.array_equal(a["numpy"], b["numpy"])
    assert (a["optimizers"], a["python"], a["episode"]) == (b["optimizers"], b["python"], b["episode"])


def test_evaluate_leaves_the_run_as_it_found_it(tmp_path):
    config = tiny_config(tmp_path)
    run = build_run(config.protocol, config.agent, config.pretraining, **config.env.make_kwargs())
    generator = run.learner.generator
    before = run_state(run)
    with spy() as (batches, _):
        results = [evaluate(run, noise) for noise in ("off", "on", "off", "on")]
    assert_same_state(before, run_state(run))
    assert run.learner.generator is generator
    assert [r.trials for r in results] == [3] * 4 and [r.noise for r in results] == ["off", "on"] * 2
    joined = evaluations(batches, 3)
    assert joined[0]["returns"] == joined[2]["returns"] and joined[1]["returns"] == joined[3]["returns"]
    assert joined[0]["returns"] != joined[1]["returns"]  # the noise acts
    assert all(b["episodes"] == [-1] * len(b["seeds"]) for b in batches)  # thalamus intact
    assert [len(b["seeds"]) for b in batches[:2]] == [2, 1]  # batches of protocol.batch
    assert evaluate(run, "off", trials=5).trials == 5
    with pytest.raises(ValueError, match="noise"):
        evaluate(run, "sometimes")


def test_a_fork_evaluates_its_starting_state(intact, tmp_path):
    parent, _, _ = intact
    fork = tiny_config(tmp_path / "fork", protocol={"da_block": "2-2"})
    Trainer(fork, fork_from=parent / "checkpoints" / "episode_000004.pt").train(progress=False)
    rows = read_csv(tmp_path / "fork" / "evaluation.csv")
    assert [(r["episode"], r["session"], r["noise"]) for r in rows] == [
        ("4", "1", "off"), ("8", "2", "off"), ("8", "2", "on")]
    assert rows[0] == read_csv(parent / "evaluation.csv")[2]  # the same network at episode 4


# --- held-out seeds and the schedule ---------------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "pretraining"), [
    (ProtocolConfig(), PretrainingConfig()),
    (ProtocolConfig(sessions=40, trials_per_session=512, batch=64, eval_trials=4096),
     PretrainingConfig(demonstrations=5000, critic_warmup_batches=20)),
])
def test_evaluation_seeds_are_disjoint_from_every_seed_the_protocol_uses(protocol, pretraining):
    seeds = [*range(25), 99, 1234, 10**6, 2**31 - 1, 2**40]

    def used(seed: int) -> set[int]:
        config = protocol.model_copy(update={"seed": seed})
        protocol_trials = {config.env_seed(e) for e in range(config.total_trials)}
        warmup = {warmup_seed(seed, k) for k in range(pretraining.critic_warmup_batches * config.batch)}
        # collect_demonstrations resets with seed * 100_000 + i
        demonstrations = {seed * 100_000 + i for i in range(pretraining.demonstrations)}
        return protocol_trials | warmup | demonstrations

    def held_out(seed: int) -> set[int]:
        config = protocol.model_copy(update={"seed": seed})
        return {config.eval_seed(k) for k in range(config.eval_trials)}

    every_used = set().union(*(used(s) for s in seeds))
    all_held_out = [held_out(s) for s in seeds]
    for seed, own in zip(seeds, all_held_out, strict=True):
        assert len(own) == protocol.eval_trials
        assert not own & every_used, f"seed {seed}"
    assert len(set().union(*all_held_out)) == len(seeds) * protocol.eval_trials  # each seed its own set
    assert all(ProtocolConfig(seed=s).eval_noise_seed != s for s in seeds)
    assert all(0 <= ProtocolConfig(seed=s).eval_noise_seed < 2**64 for s in seeds)


def test_evaluation_schedule_and_validation():
    config = ProtocolConfig(sessions=3)
    assert [config.evaluations_after(s) for s in range(4)] == [("off", "on"), ("off",), ("off",),
                                                                ("off", "on")]
    every = ProtocolConfig(sessions=3, eval_noise_on_every_session=True)
    assert all(every.evaluations_after(s) == ("off", "on") for s in range(4))
    assert ProtocolConfig().eval_trials == 128
    with pytest.raises(ValueError, match="protocol.eval_trials"):
        ProtocolConfig(eval_trials=0)
    with pytest.raises(ConfigError, match="protocol.eval_trials"):
        build_config({"protocol": {"eval_trials": -3}})


# --- TensorBoard --------------------------------------------------------------------------------------------


def test_tensorboard_eval_and_precue_scalars(intact):
    out, _, _ = intact
    acc = EventAccumulator(str(tensorboard_dir(out)), size_guidance={"scalars": 0})
    acc.Reload()
    rows = read_csv(out / "evaluation.csv")
    for noise in ("off", "on"):
        events = acc.Scalars(f"eval/success_noise_{noise}")
        expected = [r for r in rows if r["noise"] == noise]
        assert [e.step for e in events] == [int(r["episode"]) for r in expected]
        assert [e.value for e in events] == pytest.approx([float(r["success"]) for r in expected])
    episodes = read_csv(out / "episodes.csv")
    precue = acc.Scalars("behaviour/precue_lift_rate_session")
    assert [e.step for e in precue] == [4, 8]  # at the session's last trial (trials completed)
    for event in precue:
        column = [int(r["precue_lift"]) for r in episodes if int(r["session"]) == event.step // 4]
        assert event.value == pytest.approx(np.mean(column))


# --- pre-cue lifts ------------------------------------------------------------------------------------------


def test_precue_lift_column(intact):
    out, _, _ = intact
    with open(out / "episodes.csv", newline="") as f:
        header = next(csv.reader(f))
        assert header[header.index("precue_lift"):] == ["precue_lift", "exploration_std", "rpe_cue",
                                                        "rpe_outcome"]
    for row in read_csv(out / "episodes.csv"):
        lift = float(row["lift_time"]) if row["lift_time"] else math.nan
        cue = float(row["cue_time"]) if row["cue_time"] else math.nan
        # the env's rule (tested with the env): a lift at or before the cue, or before a cue never reached
        early = not math.isnan(lift) and (math.isnan(cue) or lift <= cue + 1e-9)
        assert row["precue_lift"] == str(int(early))


# --- python -m training.evaluate ----------------------------------------------------------------------------


def run_main(capsys, *argv: str) -> list[dict]:
    main([*argv])
    captured = capsys.readouterr()
    assert captured.err == ""
    return [json.loads(line) for line in captured.out.splitlines()]


def test_cli_lines_equal_evaluation_csv_and_write_nothing(intact, capsys):
    out, evaluated, _ = intact
    before = snapshot(out)
    with spy() as (batches, _):
        lines = run_main(capsys, str(out))
        on = run_main(capsys, str(out), "--noise", "on", "--checkpoint", "8")
    assert snapshot(out) == before
    assert [line["episode"] for line in lines] == [0, 2, 4, 6, 8]
    assert [line["checkpoint"] for line in lines] == [
        str(out / "checkpoints" / f"episode_{e:06d}.pt") for e in (0, 2, 4, 6, 8)]
    assert [line["session"] for line in lines] == [0, 0, 1, 1, 2]  # sessions completed
    rows = read_csv(out / "evaluation.csv")

    def as_row(line: dict) -> dict[str, str]:
        return {k: str(line[k]) for k in EVALUATION_COLUMNS}

    boundary = [line for line in lines if line["episode"] % 4 == 0]
    assert [as_row(line) for line in boundary] == [r for r in rows if r["noise"] == "off"]
    assert [as_row(line) for line in on] == [rows[-1]]
    # the very same trials as the run's own evaluations
    mine = evaluations(batches, 3)
    assert [mine[i]["returns"] for i in (0, 2, 4)] == [e["returns"] for e in evaluated if not e["explore"]]
    assert mine[-1]["returns"] == evaluated[-1]["returns"]


def test_cli_options(intact, capsys):
    out, _, _ = intact
    with spy() as (batches, _):
        lines = run_main(capsys, str(out), "--checkpoint", "4", "--trials", "5", "--noise", "both")
    assert [(line["episode"], line["noise"], line["trials"]) for line in lines] == [(4, "off", 5),
                                                                                    (4, "on", 5)]
    assert all(line["success"] == line["successes"] / 5 for line in lines)
    # How securely each evaluation waited for the cue: its early errors and mean pre-cue rise in mm.
    for line, trials in zip(lines, evaluations(batches, 5), strict=True):
        assert line["early_errors"] == sum(trials["early"])
        assert line["precue_rise_mm"] == pytest.approx(1000 * np.mean(trials["rises"]))
        assert all(0 <= rise < 0.01 for rise in trials["rises"])  # m: under a centimetre while waiting


def _saved(out: Path, episode: int, part: str) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoints" / f"episode_{episode:06d}.pt", weights_only=True)[part]


def test_forward_model_from_swaps_the_forward_model_and_nothing_else(circuit2, capsys):
    out, _, _ = circuit2
    learned = "prediction_weight"
    assert not torch.equal(_saved(out, 0, "thalamus")[learned], _saved(out, 8, "thalamus")[learned])
    assert not torch.equal(_saved(out, 0, "cortex")["recurrent"], _saved(out, 8, "cortex")["recurrent"])
    before = snapshot(out)
    with spy() as (batches, _):
        plain = run_main(capsys, str(out), "--checkpoint", "8", "--noise", "both")
        own = run_main(capsys, str(out), "--checkpoint", "8", "--noise", "both", "--forward-model-from", "8")
        swapped = run_main(capsys, str(out), "--checkpoint", "8", "--noise", "both",
                           "--forward-model-from", "0")
    assert snapshot(out) == before
    assert [line.pop("forward_model_from") for line in own + swapped] == [8, 8, 0, 0]
    assert own == plain  # its own forward model: the checkpoint as it is, noise off and on
    returns = [batch["returns"] for batch in evaluations(batches, 3)]
    assert returns[2:4] == returns[0:2] and returns[4] != returns[0]

    # What ran: the checkpoint's cortex with the donor's thalamic stage.
    seen = {}

    def record(run, *args, **kwargs):
        seen["thalamus"] = {k: v.clone() for k, v in run.circuit.thalamus.state_dict().items()}
        seen["cortex"] = {k: v.clone() for k, v in run.circuit.cortex.state_dict().items()}
        return evaluate(run, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("training.evaluate.evaluate", record)
        run_main(capsys, str(out), "--checkpoint", "8", "--forward-model-from", "0")
    for part, episode in (("thalamus", 0), ("cortex", 8)):
        saved = _saved(out, episode, part)
        assert all(torch.equal(seen[part][k], saved[k]) for k in saved), part


def test_forward_model_from_refuses_a_circuit_1_run_and_a_missing_checkpoint(intact, circuit2, capsys):
    for out, episode, named in ((intact[0], "0", ["--forward-model-from", "circuit-1", "no forward model"]),
                                (circuit2[0], "5", ["episode_000005.pt", "0, 2, 4, 6, 8"])):
        with pytest.raises(SystemExit) as caught:
            main([str(out), "--forward-model-from", episode])
        assert caught.value.code == 2
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
        assert all(word in captured.err for word in named), captured.err


def _copy(intact, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(intact[0], copy)
    return copy


def _whole(intact, tmp_path):
    return _copy(intact, tmp_path), []


def _no_config(intact, tmp_path):
    copy = _copy(intact, tmp_path)
    (copy / "config.yaml").unlink()
    return copy, ["config.yaml", "not a training run folder"]


def _no_checkpoints(intact, tmp_path):
    copy = _copy(intact, tmp_path)
    shutil.rmtree(copy / "checkpoints")
    return copy, ["no checkpoints"]


def _empty_checkpoints(intact, tmp_path):
    copy = _copy(intact, tmp_path)
    for path in (copy / "checkpoints").iterdir():
        path.unlink()
    return copy, ["no checkpoints"]


def _corrupt(intact, tmp_path):
    copy = _copy(intact, tmp_path)
    path = copy / "checkpoints" / "episode_000004.pt"
    path.write_bytes(path.read_bytes()[:500])
    return copy, [str(path), "unreadable"]


def _format_1(intact, tmp_path):
    copy = _copy(intact, tmp_path)
    path = copy / "checkpoints" / "episode_000006.pt"
    state = torch.load(path, weights_only=True)
    torch.save({**state, "format": 1}, path)
    return copy, [str(path), "format 1", "predates", "learning v2", f"format {FORMAT_VERSION}", "re-run"]


def _foreign(intact, tmp_path):
    copy = _copy(intact, tmp_path)
    path = copy / "checkpoints" / "episode_000008.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    return copy, [str(path), "not a dopareach checkpoint"]


def _other_config(intact, tmp_path):
    copy = _copy(intact, tmp_path)
    data = yaml.safe_load((copy / "config.yaml").read_text())
    data["agent"]["n_cortex"] = 48
    (copy / "config.yaml").write_text(yaml.safe_dump(data))
    return copy, ["different configuration", "agent.n_cortex"]


def _bad_config(intact, tmp_path):
    copy = _copy(intact, tmp_path)
    (copy / "config.yaml").write_text("protocol: {sesions: 2}\n")
    return copy, ["config.yaml", "sesions"]


def _missing_folder(intact, tmp_path):
    return tmp_path / "nowhere", ["nowhere", "not a folder"]


@pytest.mark.parametrize(("make", "flags", "words"), [
    (_no_config, [], []), (_no_checkpoints, [], []), (_empty_checkpoints, [], []), (_corrupt, [], []),
    (_format_1, [], []), (_foreign, [], []), (_other_config, [], []), (_bad_config, [], []),
    (_missing_folder, [], []), (_no_checkpoints, ["--checkpoint", "4"], []),
    (_whole, ["--checkpoint", "5"], ["episode_000005.pt", "0, 2, 4, 6, 8"]),
    (_whole, ["--trials", "0"], ["--trials", ">= 1"]), (_whole, ["--noise", "loud"], ["--noise", "loud"]),
    (_whole, ["--checkpoint", "-1"], ["--checkpoint", ">= 0"]),
], ids=lambda v: getattr(v, "__name__", None) or " ".join(v) or "-")
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(intact, tmp_path, capsys, make, flags, words):
    folder, named = make(intact, tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as caught:
        main([str(folder), *flags])
    assert caught.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    for word in [*named, *words]:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert snapshot(tmp_path) == before


@pytest.mark.slow  # a fresh interpreter importing torch and MuJoCo: ~3 s
def test_module_entry_point_exits_2_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "training.evaluate", str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "config.yaml" in result.stderr
    assert list(tmp_path.iterdir()) == []
