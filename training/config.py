"""Configuration of a training run: typed dataclasses, loaded from YAML, overridden from the CLI.

A run's config has five sections, each a frozen dataclass that validates itself on construction:
``protocol`` (:class:`training.protocol.ProtocolConfig`), ``agent`` (:class:`agents.config.AgentConfig`),
``pretraining`` (:class:`agents.pretraining.PretrainingConfig`), ``env`` (:class:`EnvConfig`) and
``output`` (:class:`OutputConfig`).
A YAML file has the same sections::

    protocol: {sessions: 7, trials_per_session: 64, da_block: "2-4"}
    agent: {policy_lr: 0.0003}

Unknown sections or fields, and values of the wrong type, fail before any work starts, naming the
field and what it accepts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.config import AgentConfig
from agents.pretraining import PretrainingConfig
from reach_env import TrialTiming
from training.protocol import ProtocolConfig


@dataclass(frozen=True)
class OutputConfig:
    """What a run writes.

    Attributes:
        out: output folder.
        video: render videos of chosen trials.
        video_trials: which trials to film: ``"first_last"`` (first and last of each session) or
            ``"none"``.
        video_width, video_height: frame size in pixels.
        video_stride: control steps per video frame (2: 25 frames/s for the 20 ms control step);
            rendering is the costly part of filming, about 30-40 ms per frame on 2 CPU cores.
        checkpoint_every: also checkpoint every this many trials (besides the start and every
            session boundary); 0 = only those.
        record_activity: write per-trial unit activity (``activity/session_NN.npz``).
        activity_downsample: control steps per recorded activity sample.
        histograms: log TensorBoard histograms of delta and DA each session.
        rolling_window: trials in the rolling success rate.
    """

    out: str = "runs/train"
    video: bool = True
    video_trials: str = "first_last"
    video_width: int = 320
    video_height: int = 240
    video_stride: int = 2
    checkpoint_every: int = 128
    record_activity: bool = True
    activity_downsample: int = 1
    histograms: bool = True
    rolling_window: int = 64

    def __post_init__(self) -> None:
        if self.video_trials not in ("first_last", "none"):
            raise ValueError(f"output.video_trials={self.video_trials!r} must be 'first_last' or 'none'")
        for name in ("checkpoint_every",):
            if getattr(self, name) < 0:
                raise ValueError(f"output.{name}={getattr(self, name)} must be >= 0")
        for name in ("activity_downsample", "rolling_window", "video_width", "video_height", "video_stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"output.{name}={getattr(self, name)} must be >= 1")


@dataclass(frozen=True)
class EnvConfig:
    """The trial timeline of ``MousePelletReach-v0`` (seconds; see :class:`reach_env.TrialTiming`)."""

    platform_turn: float = TrialTiming.platform_turn
    cue_time: float = TrialTiming.cue_time
    tone_duration: float = TrialTiming.tone_duration
    response_window: float = TrialTiming.response_window
    post_outcome: float = TrialTiming.post_outcome

    def __post_init__(self) -> None:
        try:
            TrialTiming(**dataclasses.asdict(self))
        except ValueError as error:
            raise ValueError(f"env: {error}") from None


SECTIONS: dict[str, type] = {"protocol": ProtocolConfig, "agent": AgentConfig,
                             "pretraining": PretrainingConfig, "env": EnvConfig, "output": OutputConfig}


@dataclass(frozen=True)
class TrainConfig:
    """A whole run's configuration."""

    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    pretraining: PretrainingConfig = field(default_factory=PretrainingConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_dict(), sort_keys=False)


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _coerce(section: str, name: str, annotation: Any, value: Any) -> Any:
    """Check (and, for strings from the CLI, convert) ``value`` to the field's type."""
    target = {"int": int, "float": float, "bool": bool, "str": str}.get(str(annotation), annotation)
    if isinstance(target, (typing._GenericAlias, types.UnionType)):  # not used by our configs
        return value
    where = f"{section}.{name}"
    if isinstance(value, str) and target is not str:
        text = value.strip().lower()
        if target is bool:
            if text in ("true", "1", "yes", "on"):
                return True
            if text in ("false", "0", "no", "off"):
                return False
            raise ValueError(f"{where}={value!r} must be true or false")
        try:
            return target(value)
        except ValueError:
            kind = _TYPE_NAMES.get(target, target.__name__)
            raise ValueError(f"{where}={value!r} must be {kind}") from None
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if target is bool and not isinstance(value, bool) or target is not bool and isinstance(value, bool):
        raise ValueError(f"{where}={value!r} must be {_TYPE_NAMES.get(target, target.__name__)}")
    if not isinstance(value, target):
        raise ValueError(f"{where}={value!r} must be {_TYPE_NAMES.get(target, target.__name__)}")
    return value


def build_config(overrides: dict[str, dict[str, Any]] | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from the defaults updated with ``{section: {field: value}}``."""
    overrides = overrides or {}
    unknown = set(overrides) - SECTIONS.keys()
    if unknown:
        raise ValueError(f"unknown config section(s) {sorted(unknown)}; sections are {list(SECTIONS)}")
    sections = {}
    for section, cls in SECTIONS.items():
        given = overrides.get(section) or {}
        if not isinstance(given, dict):
            raise ValueError(f"config section {section!r} must be a mapping of field: value")
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        bad = set(given) - known
        if bad:
            raise ValueError(f"unknown field(s) {sorted(bad)} in section {section!r}; its fields are "
                             f"{sorted(known)}")
        values = {k: _coerce(section, k, hints[k], v) for k, v in given.items()}
        sections[section] = cls(**values)
    return TrainConfig(**sections)


def load_yaml(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a YAML config file into ``{section: {field: value}}`` (validated by build_config)."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except yaml.YAMLError as error:
        raise ValueError(f"config file {path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must be a mapping of sections")
    return data


def merge(base: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``extra`` over ``base``, section by section."""
    merged = {k: dict(v or {}) for k, v in base.items()}
    for section, values in extra.items():
        merged.setdefault(section, {}).update(values)
    return merged
