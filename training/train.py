"""Train the dopamine-gated cortical agent through the lab's protocol, watched in TensorBoard.

``python -m training.train --out runs/demo --sessions 7 --da-block 2-4`` pre-trains (the shaping
before imaging), then runs the sessions. The run folder gets:

- ``tb/<name>/``: TensorBoard (:func:`analysis.run_format.tensorboard_dir`; ``<name>`` is the run folder's
  name), every tag at one step, the trials completed (a session's values at its last trial):
  scalars (``behaviour/``, ``dopamine/``, ``manipulation/``, ``plasticity/``, ``critic/``, ``eval/``),
  histograms and the TD error aligned to the cue and the outcome per session, the hyperparameters (a
  text table and the HParams tab's) and the filmed trials; ``tb/<name>/shaping/``: the shaping's
  ``pretraining/`` tags, a run of its own whose step is the cloning update;
- ``episodes.csv``: one row per trial (:data:`analysis.run_format.EPISODE_COLUMNS`; ``precue_lift`` is 1
  when the paw lifted at or before the cue onset, the lab's early error: the env's
  ``info["lift_before_cue"]``; ``rpe_cue`` and ``rpe_outcome`` the TD error at those events,
  :func:`training.event_rpe.event_rpe`);
- ``evaluation.csv``: one row per evaluation of the network on held-out trials
  (:data:`analysis.run_format.EVALUATION_COLUMNS`): noise off before session 1 and after every session,
  noise on before session 1 and after the last (see :func:`training.protocol.evaluate`);
- ``activity/session_NN.npz``: recorded unit activity;
- ``probe/session_NN.npz``: the thalamic stimulation probe at the start of session NN (circuit 2);
- ``checkpoints/episode_NNNNNN.pt``, ``videos/`` and ``config.yaml``.

The names and columns are :mod:`analysis.run_format`'s.

``--resume`` continues from the newest checkpoint in ``--out``; every file then holds exactly what an
uninterrupted run writes. ``python -m training.evaluate RUN_DIR`` evaluates a run's checkpoints again.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from agents.pretraining import reporting_cloning_losses
from agents.probe import ProbeConfig, run_probe
from agents.recording import ActivityRecorder
from agents.three_factor import BatchRecord
from analysis import run_format
from analysis.run_format import EPISODE_COLUMNS, EVALUATION_COLUMNS
from training.checkpoint import CheckpointError, load_checkpoint, newest_checkpoint, save_checkpoint
from training.config import (
    SECTIONS,
    ArgumentParser,
    ConfigError,
    TrainConfig,
    build_config,
    check_sections,
    fail,
    fields_help,
    load_yaml,
    merge,
    parse_value,
)
from training.event_rpe import RPE_EVENTS, aligned_delta, event_times, rpe_figure, trial_rpe
from training.protocol import (
    Evaluation,
    NonFiniteWeightsError,
    ProtocolConfig,
    Run,
    build_run,
    evaluate,
    run_protocol,
)


class EpisodeLog:
    """``episodes.csv``, appended batch by batch; on resume, rows past the checkpoint are dropped.

    ``control_timestep`` (s) is the env's, for the ``rpe_*`` columns (:func:`training.event_rpe.event_rpe`).
    """

    def __init__(self, path: Path, resume_from: int | None, control_timestep: float = 0.02):
        self.path = path
        self.control_timestep = control_timestep
        rows = []
        if resume_from is not None and path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.reader(f)][1:]
            # Rows written before a column was added get it empty: one width for the whole table.
            rows = [r + [""] * (len(EPISODE_COLUMNS) - len(r)) for r in rows if r and int(r[0]) < resume_from]
        #: The rows kept from before ``resume_from``, as ``{column: value}``.
        self.kept = [dict(zip(EPISODE_COLUMNS, r, strict=False)) for r in rows]
        self._file = open(path, "w", newline="")  # noqa: SIM115 - kept open for the whole run
        self._writer = csv.writer(self._file)
        self._writer.writerow(EPISODE_COLUMNS)
        self._writer.writerows(rows)
        self._file.flush()

    def add(self, record: BatchRecord, sessions: list[int],
            rpe: dict[str, np.ndarray] | None = None) -> None:
        """Append a batch's rows; ``rpe``: its :func:`trial_rpe`, if computed already."""
        norm = record.cortical_update_norm
        rpe = trial_rpe(record, self.control_timestep) if rpe is None else rpe
        for b, (summary, session) in enumerate(zip(record.summaries, sessions, strict=True)):
            e = summary.events
            self._writer.writerow([
                summary.episode, session, int(summary.success), f"{summary.ret:.6f}", summary.outcome,
                summary.steps, *(_fmt(e[k]) for k in ("cue", "lift", "grab", "at_mouth", "outcome")),
                f"{summary.mean_delta:.6g}", f"{summary.mean_dopamine:.6g}", f"{summary.dopamine_gain:g}",
                int(summary.thalamus_gain > 0), f"{norm:.6g}", int(summary.lift_before_cue),
                f"{summary.exploration_std:.6g}",
                *("" if math.isnan(rpe[k][b]) else f"{rpe[k][b]:.6g}" for k in RPE_EVENTS)])
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class EvaluationLog:
    """``evaluation.csv``, a row per evaluation. On resume it keeps the rows an uninterrupted run of
    the current config has written by the checkpoint's episode (``resume_from``): those evaluated at
    or before it that the config schedules (:meth:`ProtocolConfig.evaluations_after`); the others, a
    killed run's evaluations past its checkpoint or a finished run's noise-on row after what was its
    last session, are dropped. ``done`` holds the ``(episode, noise)`` pairs it has."""

    def __init__(self, path: Path, resume_from: int | None, protocol: ProtocolConfig):
        self.path = path
        rows = []
        if resume_from is not None and path.exists():
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            rows = [[r.get(c, "1.0") for c in EVALUATION_COLUMNS] for r in rows
                    if int(r["episode"]) <= resume_from
                    and int(r["episode"]) == int(r["session"]) * protocol.trials_per_session
                    and r["noise"] in protocol.evaluations_after(int(r["session"]))]
        self._file = open(path, "w", newline="")  # noqa: SIM115 - kept open for the whole run
        self._writer = csv.writer(self._file)
        self._writer.writerow(EVALUATION_COLUMNS)
        self._writer.writerows(rows)
        self._file.flush()
        self.done = {(int(r[0]), r[2]) for r in rows}

    def add(self, episode: int, session: int, result: Evaluation) -> None:
        self._writer.writerow([episode, session, result.noise, result.trials, result.successes,
                               repr(result.success), repr(result.thalamus_gain)])
        self._file.flush()
        self.done.add((episode, result.noise))

    def close(self) -> None:
        self._file.close()


def _fmt(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3f}"


def _mean(summaries: list, name: str) -> float:
    """The mean over a batch's trial summaries of one of their fields."""
    return float(np.mean([getattr(s, name) for s in summaries]))


#: The HParams tab's metrics: scalars the run logs, of which the tab shows the last value (the final
#: evaluations, noise off and on, and the last session's success rate).
HPARAM_METRICS = ("eval/success_noise_off", "eval/success_noise_on", "behaviour/success_rate_session")


def hparams_of(config: TrainConfig) -> dict[str, int | float | str | bool]:
    """What tells runs apart in TensorBoard's HParams tab: the condition (seed, the silencing schedules
    and their gains, circuit, task, protocol length) and the main learning constants."""
    protocol, agent = config.protocol, config.agent

    def lowest_gain(schedule) -> float:
        # 1: intact; 0: a full block; in between: a partial one.
        return min((r.gain for r in schedule.ranges), default=1.0)

    return {"seed": protocol.seed, "da_block": protocol.da_block or "none",
            "da_block_gain": lowest_gain(protocol.dopamine_schedule()),
            "da_window": protocol.da_window or "whole trial",
            "thalamus_block": protocol.thalamus_block or "none",
            "thalamus_block_gain": lowest_gain(protocol.thalamus_schedule()),
            "circuit": agent.circuit, "env_id": config.env.env_id, "sessions": protocol.sessions,
            "trials_per_session": protocol.trials_per_session, "batch": protocol.batch,
            "n_cortex": agent.n_cortex, "optimizer": agent.optimizer, "policy_lr": agent.policy_lr,
            "critic_lr": agent.critic_lr, "exploration_std": agent.exploration_std,
            "exploration_floor": agent.exploration_floor, "regulate_exploration": agent.regulate_exploration,
            "gamma": agent.gamma, "trace_lambda": agent.trace_lambda}


def _holds_hparams(folder: Path) -> bool:
    """Whether an event file in ``folder`` holds the HParams summaries already. A search of the bytes: an
    event file stores a tag as plain text, so no event needs parsing."""
    from tensorboard.plugins.hparams.metadata import SESSION_START_INFO_TAG

    tag = SESSION_START_INFO_TAG.encode()
    return any(tag in path.read_bytes() for path in folder.glob("events.out.tfevents.*"))


class Trainer:
    """Runs one configured protocol with logging, recording, videos and checkpoints.

    Args:
        config: the run's configuration.
        resume: continue from the newest checkpoint in ``config.output.out``.
        fork_from: start from this checkpoint of another run (same network and seed; the silencing
            schedules may differ), as the ablations do to give every condition of a seed the same
            past. The fork's logs start at the checkpoint's episode. Ignored when resuming.
        fork_may_differ: further config fields (names, as in :func:`training.checkpoint.load_checkpoint`)
            that may differ from ``fork_from``'s: a what-if that changes how the network learns from
            that point on (e.g. ``{"precue_exploration"}``). The caller vouches that they change neither
            the network's shape nor what a checkpoint saves.
    """

    def __init__(self, config: TrainConfig, resume: bool = False, fork_from: Path | None = None,
                 fork_may_differ: frozenset[str] = frozenset()):
        self.config = config
        out = Path(config.output.out)
        self.out = out
        self.checkpoints = out / run_format.CHECKPOINT_DIR
        existing = newest_checkpoint(self.checkpoints)
        if resume and existing is None:
            raise CheckpointError(f"--resume: no checkpoint in {self.checkpoints}")
        if not resume and existing is not None:
            raise CheckpointError(f"{out} already holds a run (checkpoint {existing.name}); use --resume "
                                  f"to continue it or another --out")
        out.mkdir(parents=True, exist_ok=True)
        video = config.output
        self.run: Run = build_run(config.protocol, config.agent, config.pretraining,
                                  render_mode="rgb_array" if video.video else None,
                                  width=video.video_width, height=video.video_height,
                                  **config.env.make_kwargs())
        self.run.film_stride = video.video_stride
        self._dt = self.run.envs[0].control_timestep  # s per step, for the TD error at events
        self.resumed_from: int | None = None
        self.forked = False
        if resume:
            load_checkpoint(existing, self.run, config.as_dict())
            self.resumed_from = self.run.episode
        elif fork_from is not None:
            load_checkpoint(Path(fork_from), self.run, config.as_dict(),
                            may_differ=frozenset({"da_block", "da_window", "thalamus_block"})
                            | fork_may_differ)
            self.resumed_from = self.run.episode
            self.forked = True
        (out / run_format.CONFIG_FILE).write_text(config.to_yaml())
        self._successes: list[bool] = []
        self._session_stats: dict[str, list[float]] = {}
        #: The session's TD error around events, for its figure: ``{line: (offsets, sums, counts, trials)}``.
        self._aligned: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}
        self.bar: tqdm | None = None

    # --- the run -----------------------------------------------------------------------------------

    def train(self, progress: bool = True) -> Path:
        """Run to the configured length; returns the output folder."""
        from torch.utils.tensorboard import SummaryWriter

        from training.video import VideoWriter

        config, run = self.config, self.run
        protocol = config.protocol
        # Events logged at or before the checkpoint's episode are kept (the last batch's scalars and
        # the evaluation at that episode are not repeated); later ones are purged and logged again.
        self.tb = SummaryWriter(str(run_format.tensorboard_dir(self.out)),
                                purge_step=None if self.resumed_from is None else self.resumed_from + 1)
        self.episodes = EpisodeLog(self.out / run_format.EPISODES_FILE, self.resumed_from, self._dt)
        self.evaluations = EvaluationLog(self.out / run_format.EVALUATION_FILE, self.resumed_from,
                                         protocol)
        self.recorder = (ActivityRecorder(self.out / run_format.ACTIVITY_DIR, run.envs[0].max_steps,
                                          run.envs[0].control_timestep, config.output.activity_downsample)
                         if config.output.record_activity else None)
        self.videos = (VideoWriter(run.envs[0].metadata["render_fps"] / config.output.video_stride)
                       if config.output.video else None)
        self._resume_statistics()
        try:
            self._log_hyperparameters()
            if self.resumed_from is None:
                losses: list[float] = []
                with reporting_cloning_losses(losses.extend):
                    run_protocol(run, pretrain_first=True, progress=progress, stop_at=0)
                self._log_pretraining(losses)
            # Opened after the shaping, which has a bar of its own (in cloning updates).
            self.bar = tqdm(total=protocol.total_trials, initial=run.episode, unit="trial",
                            disable=not progress)
            if self.resumed_from is None:
                self._evaluate()
                self._probe()
                save_checkpoint(run, self.checkpoints, config.as_dict())
            elif self.forked:
                # The fork's own copy of its starting state: it resumes from there, and the
                # analyses find the weights of its first session in its own folder.
                self._evaluate()
                self._probe()
                save_checkpoint(run, self.checkpoints, config.as_dict())
            else:
                # Whatever the config schedules at the checkpoint and is missing (a run resumed with
                # fewer sessions ends here: its last session's noise-on evaluation).
                self._evaluate()
                self._probe()
            if self.recorder is not None and self.resumed_from is not None:
                self.recorder.resume_at(self.resumed_from, protocol.trials_per_session)
            self._film_next_batch()
            # trials/s counts the protocol's trials from here: not the shaping, nor a resumed run's past.
            self._started, self._started_at = time.perf_counter(), run.episode
            run_protocol(run, on_batch=self._on_batch, pretrain_first=False)
        except NonFiniteWeightsError as error:
            last = newest_checkpoint(self.checkpoints)
            kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
            raise NonFiniteWeightsError(f"{error}; the run stops here and {kept}") from None
        finally:
            if self.bar is not None:
                self.bar.close()
            self.episodes.close()
            self.evaluations.close()
            if self.videos is not None:
                self.videos.close()
            self.tb.close()
        return self.out

    def _resume_statistics(self) -> None:
        """On resume, the rolling success window and the current session's success and pre-cue lift
        rates start from the trials already logged, as in an uninterrupted run (the delta and DA
        histograms of a session resumed midway hold only the trials after the checkpoint)."""
        kept = self.episodes.kept
        self._successes = [r["success"] == "1" for r in kept]
        if self.resumed_from is not None and self.resumed_from % self.config.protocol.trials_per_session:
            session = str(self.config.protocol.session_of(self.resumed_from))
            current = [r for r in kept if r["session"] == session]
            self._session_stats["success"] = [float(r["success"]) for r in current]
            self._session_stats["precue_lift"] = [float(r.get("precue_lift") or 0) for r in current]

    def _film_next_batch(self) -> None:
        """Choose which trials of the coming batch to film (first and last of a session)."""
        run, protocol = self.run, self.config.protocol
        run.film = []
        if not self.config.output.video or self.config.output.video_trials == "none":
            return
        first = run.episode
        if first >= protocol.total_trials:
            return
        session_end = protocol.session_of(first) * protocol.trials_per_session
        size = min(protocol.batch, session_end - first)
        if first % protocol.trials_per_session == 0:
            run.film.append(0)
        if first + size == session_end:
            run.film.append(size - 1)

    def _on_batch(self, run: Run, record: BatchRecord, sessions: list[int]) -> None:
        config, protocol = self.config, self.config.protocol
        rpe = trial_rpe(record, self._dt)
        self.episodes.add(record, sessions, rpe)
        if self.recorder is not None:
            self.recorder.add(record, sessions)
        self._log_batch(record, sessions, rpe)
        for b, frames in record.frames.items():
            self._write_video(run.envs[b], record.summaries[b].episode, sessions[b], frames)
        self.bar.update(len(record.summaries))
        recent = self._successes[-config.output.rolling_window:]
        rate = (run.episode - self._started_at) / (time.perf_counter() - self._started)
        self.bar.set_postfix(session=sessions[-1], success=f"{np.mean(recent):.2f}",
                             trials_per_s=f"{rate:.1f}")
        session_done = run.episode % protocol.trials_per_session == 0
        if session_done:
            self._log_session(sessions[-1])
            # Before the boundary's checkpoint: a run resumed from it has its evaluation already.
            self._evaluate()
            self._probe()
        every = config.output.checkpoint_every
        batch_start = run.episode - len(record.summaries)
        crossed = every and run.episode // every > batch_start // every
        if session_done or crossed or run.episode == protocol.total_trials:
            save_checkpoint(run, self.checkpoints, config.as_dict())
        # Merge a finished session only once a checkpoint covers it: a kill in between is then
        # repaired on resume (ActivityRecorder.resume_at), never lost.
        if session_done and self.recorder is not None:
            self.recorder.finish_session(sessions[-1])
        self._film_next_batch()

    # --- logging -----------------------------------------------------------------------------------

    def _evaluate(self) -> None:
        """Evaluate the network on the held-out trials if ``run.episode`` ends a session (or is 0),
        in each noise condition the protocol schedules there that evaluation.csv does not hold yet;
        log to evaluation.csv and TensorBoard (``eval/success_noise_off|on``, step = trials completed)."""
        run, protocol = self.run, self.config.protocol
        if run.episode % protocol.trials_per_session:
            return  # a fork or resume from a checkpoint within a session: evaluations follow session ends
        session = run.episode // protocol.trials_per_session
        for noise in protocol.evaluations_after(session):
            if (run.episode, noise) in self.evaluations.done:
                continue
            self.bar.set_postfix_str(f"evaluating, noise {noise}")
            result = evaluate(run, noise, episode=run.episode - 1)
            self.evaluations.add(run.episode, session, result)
            self.tb.add_scalar(f"eval/success_noise_{noise}", result.success, run.episode)

    def _probe(self) -> None:
        """At a session's start, the thalamic stimulation probe (:mod:`agents.probe`) into
        ``probe/session_NN.npz`` (NN = the session about to start), unless the file is there already
        (a resumed run) or the run records no activity. Its trials have env seeds of their own
        (:meth:`ProtocolConfig.probe_seed`) and its neural noise a generator of its own, so it changes
        nothing that the protocol draws from."""
        run, protocol, output = self.run, self.config.protocol, self.config.output
        if (not output.record_activity or output.probe_trials == 0 or run.circuit.version == 1
                or run.episode % protocol.trials_per_session or run.episode >= protocol.total_trials):
            return
        session = run.episode // protocol.trials_per_session + 1
        path = self.out / run_format.PROBE_DIR / run_format.session_name(session)
        if path.exists():
            return
        self.bar.set_postfix_str("thalamic probe")
        seeds = [protocol.probe_seed(k) for k in range(output.probe_trials)]
        arrays = run_probe(run.circuit, run.envs, seeds, ProbeConfig(trials=output.probe_trials),
                           torch.Generator().manual_seed(protocol.eval_noise_seed), subset_seed=protocol.seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name[:-4] + ".tmp.npz")
        np.savez_compressed(temporary, **arrays)
        temporary.replace(path)

    def _log_hyperparameters(self) -> None:
        """The configuration, at step 0: a text table of every field, and the HParams tab's summaries
        (:func:`hparams_of`, metrics :data:`HPARAM_METRICS`) in the run's own event files (not the
        sub-run that ``SummaryWriter.add_hparams`` would make). Once per run: a resumed run whose event
        files hold them already writes nothing (one written before the HParams tab gets them now)."""
        from torch.utils.tensorboard.summary import hparams

        folder = Path(self.tb.get_logdir())
        if _holds_hparams(folder):
            return
        rows = ["| parameter | value |", "|---|---|"]
        for section, values in self.config.as_dict().items():
            rows += [f"| {section}.{k} | {v} |" for k, v in values.items()]
        self.tb.add_text("hyperparameters", "\n".join(rows), 0)
        # The metrics' values are scalars the run logs; the plugin shows each one's last value.
        for summary in hparams(hparams_of(self.config), dict.fromkeys(HPARAM_METRICS, 0.0)):
            self.tb.file_writer.add_summary(summary, 0)
        self.tb.flush()

    def _log_pretraining(self, losses: list[float]) -> None:
        """The shaping's figures and cloning loss curve (``pretraining/``) in the shaping's own TensorBoard
        run (:func:`analysis.run_format.shaping_tensorboard_dir`), at the cloning update as step: the
        loss of every update kept, the figures at the last."""
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(run_format.shaping_tensorboard_dir(self.out))) as writer:
            for update, loss in enumerate(losses, 1):
                writer.add_scalar("pretraining/behaviour_cloning_loss", loss, update)
            for key, value in self.run.pretraining_figures.items():
                if key != "behaviour_cloning_loss" or not losses:  # the curve's last point otherwise
                    writer.add_scalar(f"pretraining/{key}", value, len(losses))

    def _log_batch(self, record: BatchRecord, sessions: list[int], rpe: dict[str, np.ndarray]) -> None:
        """A batch's scalars at the trials completed; ``rpe``: its :func:`trial_rpe`."""
        tb, step = self.tb, self.run.episode
        summaries = record.summaries
        self._successes += [s.success for s in summaries]
        window = self._successes[-self.config.output.rolling_window:]
        tb.add_scalar("behaviour/success_rate_rolling", float(np.mean(window)), step)
        tb.add_scalar("behaviour/return", float(np.mean([s.ret for s in summaries])), step)
        for event, values in rpe.items():
            happened = values[np.isfinite(values)]
            if happened.size:  # a batch of early lifts aborted before the cue has no cue
                tb.add_scalar(f"dopamine/rpe_at_{event}", float(happened.mean()), step)
        tb.add_scalar("behaviour/exploration_std", _mean(summaries, "exploration_std"), step)
        regulator = self.run.learner.exploration
        if regulator is not None:
            # The reward history that sets the next batch's exploration_std (this batch's successes in).
            tb.add_scalar("behaviour/exploration_success_average", regulator.success_average, step)
        tb.add_scalar("manipulation/dopamine_gain", _mean(summaries, "dopamine_gain"), step)
        tb.add_scalar("manipulation/thalamus_gain", _mean(summaries, "thalamus_gain"), step)
        tb.add_scalar("plasticity/update_norm_cortex", record.cortical_update_norm, step)
        for name, norm in record.layer_update_norms.items():
            tb.add_scalar(f"plasticity/update_norm_{name}", norm, step)
        valid = record.valid
        tb.add_scalar("critic/value_mean", float(record.value[valid].mean()), step)
        stats = self._session_stats
        stats.setdefault("success", []).extend(float(s.success) for s in summaries)
        stats.setdefault("precue_lift", []).extend(float(s.lift_before_cue) for s in summaries)
        stats.setdefault("delta", []).extend(record.delta[valid].tolist())
        stats.setdefault("dopamine", []).extend(record.dopamine[valid].tolist())
        success = np.array([s.success for s in summaries])
        outcome = event_times(record, "outcome")
        for line, times in (("cue", event_times(record, "cue")),
                            ("outcome_success", np.where(success, outcome, np.nan)),
                            ("outcome_failure", np.where(success, np.nan, outcome))):
            offsets, sums, counts = aligned_delta(record.delta, valid, times, self._dt)
            _, before, count_before, trials = self._aligned.get(line, (offsets, 0.0, 0, 0))
            self._aligned[line] = (offsets, before + sums, count_before + counts,
                                   trials + int(np.isfinite(times).sum()))

    def _log_session(self, session: int) -> None:
        """A session's scalars, histograms and aligned TD error at its last trial (trials completed)."""
        tb, stats = self.tb, self._session_stats
        step = session * self.config.protocol.trials_per_session
        tb.add_scalar("behaviour/success_rate_session", float(np.mean(stats["success"])), step)
        tb.add_scalar("behaviour/precue_lift_rate_session", float(np.mean(stats["precue_lift"])), step)
        if self.config.output.histograms:
            tb.add_histogram("dopamine/delta", np.asarray(stats["delta"]), step)
            tb.add_histogram("dopamine/dopamine", np.asarray(stats["dopamine"]), step)
        tb.add_figure("dopamine/rpe_aligned", rpe_figure(self._aligned, session), step)
        self._session_stats = {}
        self._aligned = {}
        tb.flush()

    def _write_video(self, env, episode: int, session: int, frames: list[tuple[np.ndarray, dict]]) -> None:
        """Write a filmed trial; ``env`` is the one it ran in, still holding that trial (its cue time)."""
        from training.video import add_animation, annotate

        # One numbering for trials everywhere: the 0-based episode of episodes.csv and the file names.
        title = f"session {session}  episode {episode}"
        annotated = [annotate(frame, info["time"], info["phase"],
                              env.tone_on(round(info["time"] / env.control_timestep)), info["outcome"], title)
                     for frame, info in frames]
        video = self.out / run_format.VIDEO_DIR / run_format.video_name(session, episode)
        self.videos.write(video, annotated)
        # Step: the trial's own, as trials completed once it ends (episode + 1, the step of every other
        # tag), not the batch's end, so that two trials of a session filmed in one batch are two samples
        # of the tag instead of one overwriting the other; and a resumed run, which purges the steps after
        # its checkpoint, logs a trial it films again only where the purge removed it. Every other frame
        # at half the rate: a lighter preview that still plays in real time.
        add_animation(self.tb, run_format.video_tag(session), annotated[::2], episode + 1,
                      fps=self.videos.fps / 2)


#: The named flags: (flag, section, field).
_FLAGS = (("--seed", "protocol", "seed"), ("--sessions", "protocol", "sessions"),
          ("--trials-per-session", "protocol", "trials_per_session"), ("--batch", "protocol", "batch"),
          ("--da-block", "protocol", "da_block"), ("--da-window", "protocol", "da_window"),
          ("--thalamus-block", "protocol", "thalamus_block"),
          ("--out", "output", "out"))

_RANGES_HELP = ("sessions 1-based and inclusive (2-4), episodes 0-based and inclusive with an e (e100-179), "
                "a partial gain after a colon (2-4:0.3), several joined by commas (2-4,e500-520:0.3)")


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, bool]:
    """Command line -> (config, resume). Flags override ``--config FILE.yaml``, which overrides defaults.

    Raises:
        ConfigError: one line naming the file or flag, the section and the field.
    """
    parser = ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0],
                            epilog="config fields (YAML sections, or --set section.field=value):\n"
                                   + fields_help(SECTIONS),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML file with sections protocol, agent, pretraining, env, output")
    parser.add_argument("--out", help="output folder")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--trials-per-session", type=int)
    parser.add_argument("--batch", type=int, help="trials run in parallel")
    parser.add_argument("--da-block", metavar="RANGES", help=f"M1 dopamine silencing: {_RANGES_HELP}")
    parser.add_argument("--da-window", metavar="WINDOW",
                        help="silence M1 dopamine only within part of each trial: cue (cue onset to lift), "
                             "outcome (outcome to the trial's end) or START:END (seconds from the cue "
                             "onset, e.g. 0.0:0.5), in the episodes --da-block selects (all if none)")
    parser.add_argument("--thalamus-block", metavar="RANGES",
                        help="thalamic-input silencing, same form as --da-block")
    parser.add_argument("--no-video", action="store_true", help="render no videos")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override any config field, e.g. --set agent.policy_lr=3e-4")
    args = parser.parse_args(argv)
    from_file = load_yaml(args.config) if args.config else {}
    try:
        check_sections(from_file)
    except ConfigError as error:
        raise error.within(f"config file {args.config}") from None
    flags: dict[str, dict] = {"protocol": {}, "output": {}}
    source: dict[tuple[str, str], str] = {}
    for flag, section, name in _FLAGS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            flags[section][name] = value
            source[section, name] = flag
    if args.no_video:
        flags["output"]["video"] = False
        source["output", "video"] = "--no-video"
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise ConfigError(f"--set {item!r} must look like section.field=value")
        if section not in SECTIONS:
            raise ConfigError(f"--set {item!r}: {section!r} is not a config section; sections are "
                              f"{', '.join(SECTIONS)}")
        flags.setdefault(section, {})[name] = parse_value(SECTIONS[section], name, value)
        source[section, name] = f"--set {item}"
    try:
        config = build_config(merge(from_file, flags))
    except ConfigError as error:
        where = source.get((error.section, error.field))
        if where is None and args.config and error.field in (from_file.get(error.section) or {}):
            where = f"config file {args.config}"
        raise (error.within(where) if where else error) from None
    return config, args.resume


def main(argv: list[str] | None = None) -> None:
    """``python -m training.train``: a config or input mistake ends with one line and exit status 2."""
    try:
        config, resume = parse_args(argv)
        trainer = Trainer(config, resume=resume)
    except (ConfigError, CheckpointError) as error:
        fail(error)
    try:
        out = trainer.train()
    except NonFiniteWeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"run folder: {out}")
    # The folder above the run's own: TensorBoard then names the run (not ".").
    print(f"TensorBoard: tensorboard --logdir {out / run_format.TENSORBOARD_DIR}")
    if config.output.video:
        print(f"videos: {out / 'videos'}")


if __name__ == "__main__":
    main()
