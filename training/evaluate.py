"""Evaluate a training run's checkpoints on the held-out trials: ``python -m training.evaluate RUN_DIR``.

Rebuilds the run from ``RUN_DIR/config.yaml``, loads each checkpoint in ``RUN_DIR/checkpoints`` (or the
one given by ``--checkpoint EPISODE``) and measures its success on the trials that ``evaluation.csv``
uses (``ProtocolConfig.eval_seed``: env seeds the protocol never uses, the same at every evaluation),
without learning, exploration noise off (``--noise on``: on, from its own seeded generator; ``both``:
each). Prints one JSON line per checkpoint and noise condition::

    {"checkpoint": "runs/demo/checkpoints/episode_000064.pt", "episode": 64, "session": 1,
     "noise": "off", "trials": 128, "successes": 37, "success": 0.2890625, "thalamus_gain": 1.0,
     "early_errors": 0, "precue_rise_mm": 0.52}

``episode`` is the trials completed, ``session`` the sessions completed; ``early_errors`` counts the
trials that ended with the paw lifted before the cue, and ``precue_rise_mm`` is the trials' mean of the
palm's highest rise above its resting height until the cue (mm; the early error is a rise of the env's
``lift_height``, 2 mm in v1): how securely the network waits for the tone. For the checkpoints at session
boundaries and the run's own trial count, the lines equal ``evaluation.csv``'s rows. It writes nothing.
A folder without ``config.yaml`` or checkpoints, a corrupt checkpoint, one of another configuration or
from an older version of dopareach (checkpoint format 1, before learning v2) ends the command with one
line on stderr and exit status 2, before anything is printed.

``--forward-model-from EPISODE`` (circuit 2) evaluates each checkpoint with the cerebellar forward model
(the thalamic stage, :class:`agents.cerebellum.CerebellarThalamus`) of the run's checkpoint after
``EPISODE`` trials instead of its own, everything else (the cortex, its thalamocortical and outcome
weights, the read-out) the checkpoint's: the swap that tells what the forward model's adaptation, which
M1's dopamine does not gate, did to behaviour (for example, a run whose success rose while M1's dopamine
was blocked: with the forward model of before the block it succeeds as before the block, docs/model.md).
Its lines carry ``"forward_model_from": EPISODE``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from analysis import run_format
from training.checkpoint import CheckpointError, checkpoint_path, checkpoints, load_checkpoint
from training.config import (
    ArgumentParser,
    ConfigError,
    TrainConfig,
    build_config,
    check_sections,
    fail,
    load_yaml,
)
from training.protocol import Run, build_run, evaluate


def _count(text: str, least: int) -> int:
    """argparse type: an integer >= ``least``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value} must be >= {least}")
    return value


def load_run_config(run_dir: Path) -> TrainConfig:
    """The configuration a run folder was trained with (its ``config.yaml``).

    Raises:
        ConfigError: the folder or its config.yaml is missing, unreadable or invalid (named).
    """
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a folder")
    path = run_dir / run_format.CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no config.yaml: not a training run folder")
    data = load_yaml(path)
    try:
        check_sections(data)
        return build_config(data)
    except ConfigError as error:
        raise error.within(f"config file {path}") from None


def run_checkpoints(run_dir: Path, episode: int | None = None) -> list[tuple[int, Path]]:
    """``(episode, path)`` of the run's checkpoints in order (only ``episode``'s, if given).

    Raises:
        CheckpointError: there is none (or not the one asked for; the others are named).
    """
    directory = run_dir / run_format.CHECKPOINT_DIR
    found = checkpoints(directory)
    if not found:
        raise CheckpointError(f"{run_dir} has no checkpoints (no {directory}/episode_NNNNNN.pt)")
    if episode is None:
        return found
    chosen = [(e, p) for e, p in found if e == episode]
    if not chosen:
        raise CheckpointError(f"{run_dir} has no checkpoint {checkpoint_path(directory, episode).name}; "
                              f"it has episodes {', '.join(str(e) for e, _ in found)}")
    return chosen


def evaluate_checkpoints(run_dir: Path, checkpoint: int | None = None, trials: int | None = None,
                         noises: tuple[str, ...] = ("off",),
                         forward_model_from: int | None = None) -> Iterator[dict]:
    """Evaluate the run's checkpoints; yields one result per checkpoint and noise condition.

    Every checkpoint is read and checked before the first evaluation, so that a bad one stops the
    command before anything is printed.

    Args:
        forward_model_from: evaluate with the forward model of the run's checkpoint after this many
            trials (circuit 2; module docstring).

    Raises:
        ConfigError, CheckpointError: a bad folder, config or checkpoint (one line, named), or
            ``forward_model_from`` given for a circuit-1 run.
    """
    config = load_run_config(run_dir)
    if forward_model_from is not None and config.agent.circuit == 1:
        raise ConfigError(f"--forward-model-from: {run_dir} is a circuit-1 run (agent.circuit 1 in its "
                          "config.yaml), whose thalamus is a fixed relay with no forward model")
    chosen = run_checkpoints(run_dir, checkpoint)
    donor = [] if forward_model_from is None else run_checkpoints(run_dir, forward_model_from)
    run: Run = build_run(config.protocol, config.agent, config.pretraining, **config.env.make_kwargs())
    as_dict = config.as_dict()
    for _, path in [*chosen, *donor]:
        load_checkpoint(path, run, as_dict)
    # The donor was loaded last: its thalamic stage (fixed expansion and relay, learned read-out).
    forward_model = {k: v.clone() for k, v in run.circuit.thalamus.state_dict().items()} if donor else None
    tps = config.protocol.trials_per_session
    for episode, path in chosen:
        load_checkpoint(path, run, as_dict)
        if forward_model is not None:
            run.circuit.thalamus.load_state_dict(forward_model)
        for noise in noises:
            # As the run evaluated itself: with the thalamus of the last trial before the checkpoint.
            result = evaluate(run, noise, trials, episode=episode - 1)
            line = {"checkpoint": str(path), "episode": episode, "session": episode // tps, "noise": noise,
                    "trials": result.trials, "successes": result.successes, "success": result.success,
                    "thalamus_gain": result.thalamus_gain, "early_errors": result.early_errors,
                    "precue_rise_mm": 1000 * result.precue_rise}
            if forward_model_from is not None:
                line["forward_model_from"] = forward_model_from
            yield line


def main(argv: list[str] | None = None) -> None:
    """``python -m training.evaluate``: one JSON line per checkpoint; a mistake ends with one line, exit 2."""
    parser = ArgumentParser(prog="python -m training.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a training run's output folder")
    parser.add_argument("--checkpoint", metavar="EPISODE", type=lambda t: _count(t, 0),
                        help="only the checkpoint after this many trials (default: every checkpoint)")
    parser.add_argument("--trials", metavar="N", type=lambda t: _count(t, 1),
                        help="held-out trials (default: the run's protocol.eval_trials)")
    parser.add_argument("--noise", choices=("off", "on", "both"), default="off",
                        help="exploration noise while evaluating (default off)")
    parser.add_argument("--forward-model-from", metavar="EPISODE", type=lambda t: _count(t, 0),
                        help="circuit 2: evaluate with the forward model of the checkpoint after this many "
                             "trials instead of each checkpoint's own")
    args = parser.parse_args(argv)
    noises = ("off", "on") if args.noise == "both" else (args.noise,)
    try:
        # Every check happens before the first result: a mistake prints nothing on stdout.
        for result in evaluate_checkpoints(args.run_dir, args.checkpoint, args.trials, noises,
                                           args.forward_model_from):
            print(json.dumps(result), flush=True)
    except (ConfigError, CheckpointError) as error:
        fail(error)


if __name__ == "__main__":
    main()
