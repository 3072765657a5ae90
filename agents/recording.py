"""Per-trial recordings of the circuit for the analyses, streamed to disk, one ``.npz`` file per session.

Each file ``session_NN.npz`` (NN = 1-based session; names: :mod:`analysis.run_format`) holds, for its n
trials and T time samples:

=================  =============  ====================================================================
array              shape          meaning
=================  =============  ====================================================================
episode            (n,)           protocol episode (0-based)
success, outcome   (n,)           bool; reach_env.trial.Outcome value
steps              (n,)           control steps the trial lasted
dopamine_gain      (n,)           g of the dopamine channel in that trial
thalamus_gain      (n,)           gain of the thalamic input (0 = silenced)
event_names        (5,)           cue, lift, grab, at_mouth, outcome
event_times        (n, 5)         s from trial start (NaN: did not happen)
time               (T,)           s from trial start at the end of each sample
valid              (n, T)         sample lies within the trial
cortex             (n, T, N)      cortical rates (float16)
thalamus           (n, T, M)      thalamic rates (float16)
action, noise      (n, T, 15)     excitation sent to the muscles and the exploration noise in it
mean_action        (n, T, 15)     the policy's mean excitation (noise-free: the network's command)
s1                 (n, T, S)      somatosensory input rates (circuit 2; S = 0 in circuit 1)
cue_input          (n, T, A)      auditory cue input (circuit 2; A = 0 in circuit 1)
outcome_input      (n, T, O)      taste input (circuit 2; O = 0 in circuit 1)
neural_noise       (n, T, N)      private noise of the cortical input current (float16; N = 0 without it)
reward, value      (n, T)         env reward; critic value V(s)
delta, dopamine    (n, T)         reward-prediction error; delivered dopamine g * delta
phase              (n, T)         reach_env.trial.TrialPhase at the end of the sample (-1: invalid)
=================  =============  ====================================================================

With ``downsample = k > 1`` each sample averages k control steps (rates, noise, delta, ...; sums for
reward) and takes the last phase, so brief dopamine transients are kept, not skipped.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from agents.three_factor import BatchRecord
from analysis import run_format
from reach_env import EVENTS

_MEAN_FIELDS = ("cortex", "thalamus", "action", "noise", "mean_action", "s1", "cue_input", "outcome_input",
                "neural_noise", "value", "delta", "dopamine")
_HALF_PRECISION = ("cortex", "thalamus", "action", "noise", "mean_action", "s1", "cue_input",
                   "outcome_input", "neural_noise")


class ActivityRecorder:
    """Streams :class:`BatchRecord` trials to disk and assembles one file per session.

    Each batch is written at once as a part file (``session_NN.part_EEEEEE.npz``, E = its first
    episode), so a killed run loses nothing that a checkpoint covers; :meth:`finish_session` merges a
    session's parts into ``session_NN.npz``. A run stopped mid-session leaves that session's parts
    for :meth:`resume_at` to continue.

    Args:
        directory: where the files go (created if missing).
        max_steps: control steps of the longest possible trial (env timing), fixing T.
        control_timestep: seconds per control step.
        downsample: control steps per recorded sample.
    """

    def __init__(self, directory: str | Path, max_steps: int, control_timestep: float, downsample: int = 1):
        if downsample < 1:
            raise ValueError(f"downsample={downsample} must be >= 1")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.downsample = downsample
        self.samples = -(-max_steps // downsample)
        self.padded_steps = self.samples * downsample
        self.control_timestep = control_timestep

    def add(self, record: BatchRecord, sessions: list[int]) -> None:
        """Write every trial of ``record``; ``sessions[b]`` is trial b's 1-based session."""
        by_session: dict[int, list[dict[str, np.ndarray]]] = {}
        for b, summary in enumerate(record.summaries):
            by_session.setdefault(sessions[b], []).append(self._trial(record, b, summary))
        for session, trials in by_session.items():
            first = int(trials[0]["scalars"][0])
            # Uncompressed: a part lives only until its session is merged.
            self._save(self.directory / run_format.session_part_name(session, first), self._stack(trials),
                       compress=False)

    def _parts(self) -> list[tuple[int, int, Path]]:
        """``(session, first episode, path)`` of every complete part file (not temporary ones)."""
        found = []
        for path in self.directory.iterdir():
            match = run_format.SESSION_PART_PATTERN.match(path.name)
            if match:
                found.append((int(match.group(1)), int(match.group(2)), path))
        return sorted(found)

    def finish_session(self, session: int) -> Path | None:
        """Merge the session's part files into ``session_NN.npz``; returns it (None if no parts)."""
        parts = [path for s, _, path in self._parts() if s == session]
        if not parts:
            return None
        loaded = [dict(np.load(p)) for p in parts]
        merged = {k: (np.concatenate([d[k] for d in loaded]) if loaded[0][k].ndim and k not in
                      ("event_names", "time") else loaded[0][k]) for k in loaded[0]}
        path = self.directory / run_format.session_name(session)
        self._save(path, merged, compress=True)
        for p in parts:
            p.unlink()
        return path

    def resume_at(self, episode: int, trials_per_session: int) -> None:
        """Prepare to continue from a checkpoint taken after ``episode`` trials.

        Deletes part files of trials at or after ``episode`` (they will be re-run) and leftovers of
        interrupted writes, and merges sessions that were complete by then but not yet merged (a
        kill between a session's last batch and its merge).
        """
        for path in self.directory.glob("*.tmp.npz"):
            path.unlink()
        for _, first, path in self._parts():
            if first >= episode:
                path.unlink()
        for session in sorted({s for s, _, _ in self._parts()}):
            if session * trials_per_session <= episode:
                self.finish_session(session)

    def _trial(self, record: BatchRecord, b: int, summary) -> dict[str, np.ndarray]:
        k, steps = self.downsample, record.valid.shape[0]
        if steps > self.padded_steps:
            raise ValueError(f"trial of {steps} steps exceeds max_steps={self.padded_steps}")

        def padded(array: np.ndarray, fill=0) -> np.ndarray:
            out = np.full((self.padded_steps,) + array.shape[1:], fill, dtype=array.dtype)
            out[:steps] = array
            return out

        valid = padded(record.valid[:, b], False).reshape(self.samples, k)
        weight = valid.sum(1)
        trial = {"valid": weight > 0}
        for name in _MEAN_FIELDS:
            data = padded(getattr(record, name)[:, b].astype(np.float32))
            data = data.reshape(self.samples, k, *data.shape[1:])
            mask = valid.reshape(self.samples, k, *([1] * (data.ndim - 2)))
            mean = (data * mask).sum(1) / np.maximum(weight, 1).reshape(-1, *([1] * (data.ndim - 2)))
            trial[name] = mean.astype(np.float16 if name in _HALF_PRECISION else np.float32)
        trial["reward"] = padded(record.reward[:, b].astype(np.float32)).reshape(self.samples, k).sum(1)
        phase = padded(record.phase[:, b], -1).reshape(self.samples, k)
        last = np.maximum(weight - 1, 0)
        trial["phase"] = np.where(weight > 0, phase[np.arange(self.samples), last], -1).astype(np.int8)
        trial["scalars"] = np.array([summary.episode, summary.success, summary.outcome, summary.steps,
                                     summary.dopamine_gain, summary.thalamus_gain], dtype=np.float64)
        trial["event_times"] = np.array([summary.events[e] for e in EVENTS], dtype=np.float64)
        return trial

    def _stack(self, trials: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        scalars = np.stack([t["scalars"] for t in trials])
        arrays = {name: np.stack([t[name] for t in trials])
                  for name in ("valid", "reward", "phase", "event_times", *_MEAN_FIELDS)}
        return dict(
            episode=scalars[:, 0].astype(np.int64), success=scalars[:, 1].astype(bool),
            outcome=scalars[:, 2].astype(np.int8), steps=scalars[:, 3].astype(np.int32),
            dopamine_gain=scalars[:, 4].astype(np.float32), thalamus_gain=scalars[:, 5].astype(np.float32),
            event_names=np.array(EVENTS),
            time=np.arange(1, self.samples + 1) * self.downsample * self.control_timestep,
            **arrays)

    @staticmethod
    def _save(path: Path, arrays: dict[str, np.ndarray], compress: bool) -> None:
        """``arrays`` as an ``.npz`` at ``path`` (``np.load`` reads either kind). Compressed at deflate
        level 1: float16 rates deflate little at any level (1.3 % smaller files at numpy's level 6), and
        level 1 takes 40 % less time, paid once per session of every run."""
        temporary = path.with_name(path.name[:-4] + ".tmp.npz")
        if compress:
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                for name, array in arrays.items():
                    with archive.open(name + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
        else:
            np.savez(temporary, **arrays)
        temporary.replace(path)  # a killed run never leaves a half-written file under the final name
