"""The format of what runs write: every file and folder name, the patterns that find them, the columns of
the tables, and the small readers and writers they share.

A training run's folder (``training.train``)::

    RUN/config.yaml                         the resolved configuration
    RUN/episodes.csv                        one row per trial (EPISODE_COLUMNS)
    RUN/evaluation.csv                      one row per held-out evaluation (EVALUATION_COLUMNS)
    RUN/checkpoints/episode_NNNNNN.pt       N = trials completed (training.checkpoint)
    RUN/activity/session_NN.npz             recorded activity of session NN (agents.recording)
    RUN/activity/session_NN.part_EEEEEE.npz a session's batches before they are merged (E = first episode)
    RUN/probe/session_NN.npz                the stimulation probe before session NN (circuit 2)
    RUN/videos/                             rendered trials
    RUN/tb/<name>/                          TensorBoard event files of the run named <name> (the run
                                            folder's name; :func:`tensorboard_dir`); step = trials completed
    RUN/tb/<name>/shaping/                  the shaping's (pretraining/), step = cloning update

An ablation's folder (``training.ablate``) holds one run folder per condition and seed,
``OUT/runs/<condition>/seed_SS`` (``OUT/runs/<variant>/<condition>/seed_SS`` in the robustness
experiment), each with ``result.json`` once finished (and the analyses' caches ``neural.json`` and
``embedding.npz``), and the tables, figures and report the analyses write from them.

Why this module is in ``analysis`` and imports only the standard library: data flows one way, config ->
env + agent -> trainer -> logs and checkpoints -> analysis, and the analyses must import nothing from
training. The writers (``training``, ``agents.recording``) import this module to write what the readers
(``analysis``) import it to read, so a renamed file or column cannot leave a reader behind, and importing
it pulls in no analysis.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# --- a training run ---------------------------------------------------------------------------------

CONFIG_FILE = "config.yaml"
EPISODES_FILE = "episodes.csv"
EVALUATION_FILE = "evaluation.csv"
CHECKPOINT_DIR = "checkpoints"
ACTIVITY_DIR = "activity"
PROBE_DIR = "probe"
VIDEO_DIR = "videos"
TENSORBOARD_DIR = "tb"
#: The shaping's TensorBoard run, inside the run's (:func:`shaping_tensorboard_dir`).
SHAPING_RUN = "shaping"

#: Columns of episodes.csv, in order (new columns are added at the end: readers go by name). ``rpe_cue`` and
#: ``rpe_outcome``: the TD error summed over the 0.1 s from the cue onset and from the outcome (reward
#: units; empty where the trial had no such event), as ``training.train.event_rpe`` defines them.
EPISODE_COLUMNS = ("episode", "session", "success", "return", "outcome", "steps", "cue_time",
                   "lift_time", "grab_time", "at_mouth_time", "outcome_time", "mean_delta",
                   "mean_dopamine", "dopamine_gain", "thalamus_on", "cortical_update_norm", "precue_lift",
                   "exploration_std", "rpe_cue", "rpe_outcome")
#: The columns of the TD error at the cue and at the outcome (``training.event_rpe.event_rpe``).
RPE_CUE, RPE_OUTCOME = EPISODE_COLUMNS[-2:]

#: Columns of evaluation.csv: ``episode`` = trials completed when evaluated, ``session`` = sessions
#: completed (0: before session 1, after the shaping), ``noise`` = ``off`` or ``on``, ``success`` =
#: ``successes / trials``, unrounded, ``thalamus_gain`` = the thalamic input's gain during the evaluation
#: (that of the session just completed: 0 after a session with the thalamus silenced).
EVALUATION_COLUMNS = ("episode", "session", "noise", "trials", "successes", "success", "thalamus_gain")

CHECKPOINT_PATTERN = re.compile(r"^episode_(\d{6})\.pt$")
#: A merged session file, in ``activity/`` and ``probe/``.
SESSION_PATTERN = re.compile(r"^session_(\d{2,})\.npz$")
#: An unmerged batch of a session's activity (group 1: session, group 2: its first episode).
SESSION_PART_PATTERN = re.compile(r"^session_(\d{2,})\.part_(\d{6,})\.npz$")


def checkpoint_name(episode: int) -> str:
    """File name of the checkpoint taken after ``episode`` trials."""
    return f"episode_{episode:06d}.pt"


def session_name(session: int) -> str:
    """File name of session ``session``'s (1-based) activity or probe recording."""
    return f"session_{session:02d}.npz"


def session_part_name(session: int, first_episode: int) -> str:
    """File name of one batch of session ``session``'s activity, starting at ``first_episode``."""
    return f"session_{session:02d}.part_{first_episode:06d}.npz"


def video_name(session: int, episode: int) -> str:
    """File name of the video of trial ``episode`` (0-based) of session ``session``."""
    return f"session_{session:02d}_episode_{episode:06d}.mp4"


def video_tag(session: int) -> str:
    """TensorBoard tag of session ``session``'s filmed trials (each at its own step)."""
    return f"{VIDEO_DIR}/session_{session:02d}"


def run_name(run_dir: Path) -> str:
    """A training run's name in TensorBoard: its folder's name (``runs/train`` -> ``train``; in an
    ablation ``seed_SS``, whose path ``<condition>/seed_SS/tb/`` tells the condition)."""
    return Path(os.path.abspath(run_dir)).name or "run"


def tensorboard_dir(run_dir: Path) -> Path:
    """Where a training run writes its TensorBoard events: ``RUN/tb/<run_name>``, so that runs watched
    together (``tensorboard --logdir RUN/tb``, or an ablation's ``OUT/runs``) go by their names rather
    than "."; but ``RUN/tb`` itself if event files lie there already (a run folder written before runs
    were named: resuming it goes on in the same TensorBoard run)."""
    base = Path(run_dir) / TENSORBOARD_DIR
    if any(base.glob("events.out.tfevents.*")):
        return base
    return base / run_name(run_dir)


def shaping_tensorboard_dir(run_dir: Path) -> Path:
    """The TensorBoard run of a training run's shaping (``pretraining/`` tags, step = cloning update):
    a run of its own, inside the run's, because a resumed run purges every step after its checkpoint's
    episode from its own event files, and cloning updates share those step numbers."""
    return tensorboard_dir(run_dir) / SHAPING_RUN


def numbered_files(folder: Path, pattern: re.Pattern) -> dict[int, Path]:
    """``{number: path}`` of the files in ``folder`` whose name matches ``pattern`` (group 1 = number), by
    number; empty if the folder does not exist."""
    if not folder.is_dir():
        return {}
    found = {int(m.group(1)): path for path in folder.iterdir() if (m := pattern.match(path.name))}
    return dict(sorted(found.items()))


def checkpoint_files(run_dir: Path) -> dict[int, Path]:
    """``{episode: path}`` of a run's checkpoints."""
    return numbered_files(Path(run_dir) / CHECKPOINT_DIR, CHECKPOINT_PATTERN)


def activity_files(run_dir: Path) -> dict[int, Path]:
    """``{session: path}`` of a run's merged activity recordings."""
    return numbered_files(Path(run_dir) / ACTIVITY_DIR, SESSION_PATTERN)


def probe_files(run_dir: Path) -> dict[int, Path]:
    """``{session: path}`` of a run's probe recordings."""
    return numbered_files(Path(run_dir) / PROBE_DIR, SESSION_PATTERN)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV table as ``{column: text}``."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    """Write a CSV table with a header; a row's missing cells are left empty."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), restval="")
        writer.writeheader()
        writer.writerows(rows)


# --- an ablation ------------------------------------------------------------------------------------

RUNS_DIR = "runs"
#: A finished run's summary (``status``, ``wall_s``, ...): its presence marks the run done.
RESULT_FILE = "result.json"
#: The ablation's settings, to refuse continuing a folder with others.
ABLATION_FILE = "ablation.json"
FAILURES_FILE = "failures.json"
TIMING_FILE = "timing.json"
#: The neural analyses' per-run caches.
NEURAL_CACHE_FILE = "neural.json"
EMBEDDING_FILE = "embedding.npz"
#: The ablation's tables (analysis.tables), report and figures.
TRIALS_TABLE = "trials.csv"
EVALUATION_TABLE = "evaluation.csv"
SUCCESS_BY_SEED_TABLE = "success_by_seed.csv"
SUMMARY_TABLE = "summary.csv"
NEURAL_TABLE = "neural.csv"
REPORT_FILE = "report.md"
#: Experiments beyond the lab (analysis.experiment_report): learning per arm and seed, the dose fits.
GAINS_TABLE = "gains.csv"
DOSE_FIT_TABLE = "dose_fit.csv"
#: The robustness experiment (analysis.robustness_report): findings 1-2 per variant of the training config.
ROBUSTNESS_TABLE = "robustness.csv"
FIGURES_DIR = "figures"

# --- the head-to-head with Stable-Baselines3 (training.versus_sb3) -----------------------------------

#: Its settings, to refuse continuing a folder with others.
VERSUS_FILE = "versus.json"
#: Per agent: trials to the criterion and success at each budget (analysis.versus_report).
VERSUS_TABLE = "versus.csv"
#: An SB3 run's shaping figures (training.sb3_shaped) and its trained model.
SB3_SHAPING_FILE = "shaping.json"
SB3_MODEL_FILE = "model.zip"
#: An unfinished SB3 run's whole state, saved at every rollout (training.sb3_resume).
SB3_RESUME_FILE = "resume.pt"


def run_key(condition: str, seed: int) -> str:
    """A run's name within its ablation, ``<condition>/seed_SS``."""
    return f"{condition}/seed_{seed:02d}"


def variant_condition(variant: str, condition: str) -> str:
    """The condition key of ``condition`` run under a variant of the training config (the robustness
    experiment), ``<variant>/<condition>``: its runs lie in ``OUT/runs/<variant>/<condition>/seed_SS``."""
    return f"{variant}/{condition}"


def run_dir(out: Path, condition: str, seed: int) -> Path:
    """The folder of one run of the ablation in ``out``."""
    return Path(out) / RUNS_DIR / run_key(condition, seed)


def write_timing(out: Path, runs_s: float, total_s: float) -> None:
    """A sweep's wall time (s) in ``out``: its runs, its analyses, and the whole invocation. A repeat that
    skips finished runs times only what it redid."""
    (Path(out) / TIMING_FILE).write_text(json.dumps({"runs_s": round(runs_s, 1),
                                                     "analyses_s": round(total_s - runs_s, 1),
                                                     "wall_s": round(total_s, 1)}, indent=1))


def read_wall_time(out: Path) -> float:
    """The wall time (s) of the last invocation of the sweep in ``out`` (:func:`write_timing`)."""
    return float(json.loads((Path(out) / TIMING_FILE).read_text())["wall_s"])


def write_result(run_dir: Path, result: dict[str, Any]) -> None:
    """Mark a run finished with its summary."""
    (Path(run_dir) / RESULT_FILE).write_text(json.dumps(result, indent=1))


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """The summary of a run that finished (None if it did not, or its file is unreadable)."""
    path = Path(run_dir) / RESULT_FILE
    if not path.exists():
        return None
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return result if result.get("status") == "done" else None
