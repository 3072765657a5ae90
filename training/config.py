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

import argparse
import dataclasses
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.config import AgentConfig
from agents.pretraining import PretrainingConfig
from reach_env import ENV_ID_V1, ENV_KWARGS, TrialTiming
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
        probe_trials: trials of the thalamic stimulation probe at every session's start
            (``probe/session_NN.npz``, circuit 2, with ``record_activity``); 0 = no probe.
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
    probe_trials: int = 32
    histograms: bool = True
    rolling_window: int = 64

    def __post_init__(self) -> None:
        if self.video_trials not in ("first_last", "none"):
            raise ValueError(f"output.video_trials={self.video_trials!r} must be 'first_last' or 'none'")
        if self.probe_trials == 1 or self.probe_trials < 0:
            raise ValueError(f"output.probe_trials={self.probe_trials} must be 0 (no probe) or >= 2")
        for name in ("checkpoint_every",):
            if getattr(self, name) < 0:
                raise ValueError(f"output.{name}={getattr(self, name)} must be >= 0")
        for name in ("activity_downsample", "rolling_window", "video_width", "video_height", "video_stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"output.{name}={getattr(self, name)} must be >= 1")


@dataclass(frozen=True)
class EnvConfig:
    """The task version and its trial timeline (seconds; see :class:`reach_env.TrialTiming`).

    Attributes:
        env_id: the registered task version (:data:`reach_env.ENV_KWARGS`): ``MousePelletReach-v0``
            (trials that barely differ) or ``MousePelletReach-v1`` (pellet position, posture and cue
            time vary as in the lab). The timing fields below override the version's.
    """

    env_id: str = ENV_ID_V1
    platform_turn: float = TrialTiming.platform_turn
    cue_time: float = TrialTiming.cue_time
    tone_duration: float = TrialTiming.tone_duration
    response_window: float = TrialTiming.response_window
    post_outcome: float = TrialTiming.post_outcome

    def __post_init__(self) -> None:
        if self.env_id not in ENV_KWARGS:
            raise ValueError(f"env.env_id={self.env_id!r} is not a task version; known: "
                             f"{', '.join(sorted(ENV_KWARGS))}")
        timing_fields = {f.name for f in dataclasses.fields(TrialTiming)}
        registered = {k: v for k, v in ENV_KWARGS[self.env_id].items() if k in timing_fields}
        try:
            TrialTiming(**{**registered, **self.timing()})
        except ValueError as error:
            raise ValueError(f"env: {error}") from None

    def timing(self) -> dict[str, float]:
        """The timing fields, as constructor arguments of the env."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "env_id"}

    def make_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`training.protocol.build_run` for this section: the version and its timing."""
        return {"env_id": self.env_id, **self.timing()}


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
_FIELD = re.compile(r"\b([a-z_]+)\.([a-z_]+)\b")


class ConfigError(ValueError):
    """A configuration mistake, as one line that names where it is and what was expected.

    Attributes:
        section, field: the offending ``section.field`` when one is known (None otherwise), so that a
            caller can say which file or flag set it.
    """

    def __init__(self, message: str, section: str | None = None, field: str | None = None):
        super().__init__(" ".join(message.split()))  # one line, whatever the source said
        self.section, self.field = section, field

    def within(self, source: str) -> ConfigError:
        """The same error, prefixed with where the value came from (a file or a flag)."""
        return ConfigError(f"{source}: {self}", self.section, self.field)


def _coerce(section: str, name: str, annotation: Any, value: Any) -> Any:
    """Check (and, for strings from the CLI, convert) ``value`` to the field's type."""
    target = {"int": int, "float": float, "bool": bool, "str": str}.get(str(annotation), annotation)
    where = f"{section}.{name}"
    origin = typing.get_origin(target)
    if origin is dict or target is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}={value!r} must be a mapping", section, name)
        return value
    if isinstance(target, types.UnionType):
        members = [m for m in typing.get_args(target) if m is not type(None)]
        if len(members) != 1 or len(members) == len(typing.get_args(target)):
            return value  # only ``X | None`` is used by our configs
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            return None
        return _coerce(section, name, members[0], value)
    if origin is not None:
        return value
    kind = _TYPE_NAMES.get(target, getattr(target, "__name__", str(target)))
    if isinstance(value, str) and target is not str:
        text = value.strip().lower()
        if target is bool:
            if text in ("true", "1", "yes", "on"):
                return True
            if text in ("false", "0", "no", "off"):
                return False
            raise ConfigError(f"{where}={value!r} must be true or false", section, name)
        try:
            return target(value)
        except ValueError:
            raise ConfigError(f"{where}={value!r} must be {kind}", section, name) from None
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (target is bool) != isinstance(value, bool) or not isinstance(value, target):
        raise ConfigError(f"{where}={value!r} must be {kind}", section, name)
    return value


def build_section(cls: type, section: str, given: Any) -> Any:
    """One config dataclass from ``{field: value}``: unknown fields, wrong types and invalid values
    raise :class:`ConfigError` naming ``section.field``."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ConfigError(f"section {section!r} must be a mapping of field: value, got {given!r}", section)
    known = [f.name for f in dataclasses.fields(cls)]
    bad = [name for name in given if name not in known]
    if bad:
        raise ConfigError(f"unknown field(s) {', '.join(map(str, bad))} in section {section!r}; its "
                          f"fields are {', '.join(known)}", section, str(bad[0]))
    hints = typing.get_type_hints(cls)
    values = {k: _coerce(section, k, hints[k], v) for k, v in given.items()}
    try:
        return cls(**values)
    except ConfigError:  # from a nested config (the ablation's training overrides): already named
        raise
    except ValueError as error:
        named = _FIELD.search(str(error))
        field = named.group(2) if named and named.group(1) == section else None
        raise ConfigError(str(error), section, field) from None


def build_config(overrides: dict[str, dict[str, Any]] | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from the defaults updated with ``{section: {field: value}}``.

    Raises:
        ConfigError: naming the section and field, for an unknown section or field, a value of the
            wrong type or an invalid value.
    """
    overrides = overrides or {}
    check_sections(overrides)
    sections = {section: build_section(cls, section, overrides.get(section))
                for section, cls in SECTIONS.items()}
    return TrainConfig(**sections)


def check_sections(data: dict, allowed: tuple[str, ...] = tuple(SECTIONS)) -> None:
    """Raise :class:`ConfigError` if a top-level key of ``data`` is not a section or a section is
    not a mapping; a key that is a field of some section is pointed to it."""
    for key, value in data.items():
        if key not in allowed:
            home = [s for s in allowed if key in {f.name for f in dataclasses.fields(SECTIONS[s])}]
            hint = f" (did you mean {home[0]}.{key}, inside section {home[0]!r}?)" if home else ""
            raise ConfigError(f"{key!r} is not a config section{hint}; sections are {', '.join(allowed)}",
                              None, None)
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"section {key!r} must be a mapping of field: value, got {value!r}", key)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping (checked by the caller: sections or fields).

    Raises:
        ConfigError: naming the file, if it is missing, unreadable, not YAML or not a mapping.
    """
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} cannot be read: {error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping (section: {{field: value}}), "
                          f"got {type(data).__name__}")
    return data


def merge(base: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``extra`` over ``base``, section by section (both already checked by :func:`check_sections`)."""
    merged = {k: dict(v or {}) for k, v in base.items()}
    for section, values in extra.items():
        merged.setdefault(section, {}).update(values)
    return merged


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's error behaviour: one line on stderr, exit status 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def fail(error: Exception) -> typing.NoReturn:
    """End a command on a configuration or input mistake: one line on stderr, exit status 2."""
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
    raise SystemExit(2)
