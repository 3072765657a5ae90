"""Configuration of a training run: pydantic models, loaded from YAML, overridden from the command line.

A run's config has five sections, each a frozen :class:`agents.config.ConfigSection` (a pydantic v2
model) that validates itself on construction:
``protocol`` (:class:`training.protocol.ProtocolConfig`), ``agent`` (:class:`agents.config.AgentConfig`),
``pretraining`` (:class:`agents.pretraining.PretrainingConfig`), ``env`` (:class:`EnvConfig`) and
``output`` (:class:`OutputConfig`).
A YAML file has the same sections::

    protocol: {sessions: 7, trials_per_session: 64, da_block: "2-4"}
    agent: {policy_lr: 0.0003}

``--set section.field=value`` sets any field (the value is read as YAML, so ``3``, ``0.5``, ``false`` and
``null`` are typed; a field of type ``str`` takes the text as it is), and the named flags of
``python -m training.train`` set theirs. Unknown sections or fields, and values of the wrong type, fail
before any work starts, naming the field and what it accepts, in one line (:class:`ConfigError`).

Why pydantic: the sections are typed records whose validation must name the field at fault, whose
defaults and descriptions ``--help`` lists, and which load from nested YAML; pydantic v2 does all three
with a maintained, widely used library (its error locations name the field, a field's docstring is its
description, ``model_validate`` takes the YAML mapping as it is), where tyro would give the command line
but not the YAML layer or the error messages, and the hand-written layer it replaces reached into
``typing`` internals to coerce values.
"""

from __future__ import annotations

import argparse
import math
import sys
import typing
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.config import AgentConfig, ConfigSection
from agents.pretraining import PretrainingConfig
from reach_env import ENV_ID_V1, ENV_KWARGS, TrialTiming, task_arguments
from training.protocol import ProtocolConfig


class OutputConfig(ConfigSection):
    """What a run writes.

    Each field's meaning is its docstring (``--help`` prints them)."""

    out: str = "runs/train"
    """output folder."""
    video: bool = True
    """render videos of chosen trials."""
    video_trials: str = "first_last"
    """which trials to film: ``"first_last"`` (first and last of each session) or ``"none"``."""
    video_width: int = 320
    """frame size in pixels."""
    video_height: int = 240
    """frame size in pixels."""
    video_stride: int = 2
    """control steps per video frame (2: 25 frames/s for the 20 ms control step); rendering is the costly
    part of filming, about 30-40 ms per frame on 2 CPU cores."""
    checkpoint_every: int = 128
    """also checkpoint every this many trials (besides the start and every session boundary); 0 = only
    those."""
    record_activity: bool = True
    """write per-trial unit activity (``activity/session_NN.npz``)."""
    activity_downsample: int = 1
    """control steps per recorded activity sample."""
    probe_trials: int = 32
    """trials of the thalamic stimulation probe at every session's start (``probe/session_NN.npz``,
    circuit 2, with ``record_activity``); 0 = no probe."""
    histograms: bool = True
    """log TensorBoard histograms of delta and DA each session."""
    rolling_window: int = 64
    """trials in the rolling success rate."""

    @model_validator(mode="after")
    def _check(self) -> Self:
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
        return self


class EnvConfig(ConfigSection):
    """The task: its registered version and every constructor argument of the env
    (:class:`reach_env.pellet_reach_env.MousePelletReachEnv`), except the rendering ones that ``output``
    sets. The timeline's fields default to the values every version shares; the others to None, which
    keeps the version's value (:data:`reach_env.ENV_KWARGS`).

    Each field's meaning is its docstring (``--help`` prints them)."""

    env_id: str = ENV_ID_V1
    """the registered task version (:data:`reach_env.ENV_KWARGS`): ``MousePelletReach-v0`` (trials that
    barely differ) or ``MousePelletReach-v1`` (pellet position, posture and cue time vary as in the lab).
    The fields below override the version's."""
    platform_turn: float = TrialTiming.platform_turn
    """duration (s) of the turntable's turn that brings the pellet to the slot."""
    cue_time: float = TrialTiming.cue_time
    """onset (s from the trial start) of the tone; the interval before it is the pre-cue baseline."""
    tone_duration: float = TrialTiming.tone_duration
    """how long (s) the cue channel stays on."""
    response_window: float = TrialTiming.response_window
    """time (s) after the cue to bring the pellet to the mouth before a timeout."""
    post_outcome: float = TrialTiming.post_outcome
    """how long (s) the trial continues after its outcome is decided."""
    control_timestep: float | None = None
    """seconds between actions, an integer multiple of ``physics_timestep`` (None: 0.02)."""
    physics_timestep: float | None = None
    """MuJoCo time step (s), at most 0.001 (None: 0.001)."""
    success_reward: float | None = None
    """reward paid once when the pellet reaches the mouth (None: 1.0; :mod:`reach_env.rewards`)."""
    approach_weight: float | None = None
    """weight of the potential-based approach shaping, paw to pellet (None: 0.3)."""
    grasp_weight: float | None = None
    """weight of the grasp shaping (None: 0.3)."""
    retrieve_weight: float | None = None
    """weight of the retrieval shaping, pellet to mouth (None: 0.4)."""
    effort_weight: float | None = None
    """cost per unit of mean squared muscle excitation per step (None: 0.01)."""
    mouth_radius: float | None = None
    """distance (m) from the mouth at which the pellet counts as eaten (None: 0.003)."""
    lift_height: float | None = None
    """paw rise (m) above its resting height that marks the lift event (None: 0.002)."""
    drop_height: float | None = None
    """pellet fall (m) below its resting height that marks it lost (None: 0.002)."""
    grip_threshold: float | None = None
    """digit-flexor excitation (0-1) above which a touching pellet counts as held (None: 0.3)."""
    pellet_jitter: float | None = None
    """half-range (rad of turntable angle) of the pellet's random final angle (None: v0 0.05, v1 0)."""
    pellet_offset: float | None = None
    """half-range (m) of the pellet's random sideways place, in [0, 0.0045] (None: v0 0, v1 0.003)."""
    posture_jitter: float | None = None
    """half-range (rad per joint) of the random starting posture (None: v0 0.03, v1 0.1)."""
    posture_max_penetration: float | None = None
    """deepest (m) a jittered starting posture may put the limb inside the perch before it is drawn
    again, in [0, 0.002] (None: the version's, v0 no limit, v1 0.0002)."""
    cue_jitter: float | None = None
    """half-range (s) of the per-trial shift of the cue onset (None: v0 0, v1 0.2)."""
    early_lift_aborts: bool | None = None
    """a lift at or before the cue ends the trial as the lab's early error (None: v0 false, v1 true)."""
    camera: str | None = None
    """camera of the rendered videos, ``"side"`` or ``"front"`` (None: ``"side"``)."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.env_id not in ENV_KWARGS:
            raise ValueError(f"env.env_id={self.env_id!r} is not a task version; known: "
                             f"{', '.join(sorted(ENV_KWARGS))}")
        for name, value in self.model_dump().items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"env.{name}={value} must be a finite number")
        if self.camera not in (None, "side", "front"):
            raise ValueError(f"env.camera={self.camera!r} must be 'side' or 'front'")
        try:
            self.trial_timing()
        except ValueError as error:
            raise ValueError(f"env: {error}") from None
        return self

    def trial_timing(self) -> TrialTiming:
        """The trial timeline this section gives (the version's values where a field is None)."""
        timing_fields = set(TrialTiming.__dataclass_fields__)
        registered = {k: v for k, v in ENV_KWARGS[self.env_id].items() if k in timing_fields}
        return TrialTiming(**{**registered, **{k: v for k, v in self.make_kwargs().items()
                                               if k in timing_fields}})

    def timing(self) -> dict[str, float]:
        """The trial timeline's fields, as constructor arguments of the env."""
        return {k: getattr(self, k) for k in ("platform_turn", "cue_time", "tone_duration", "response_window",
                                              "post_outcome")}

    def make_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`training.protocol.build_run` for this section: the version and the fields
        set (None keeps the version's value)."""
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def task_arguments(self) -> dict[str, Any]:
        """The env's constructor arguments for this section: the version's, updated with the fields set
        (:func:`reach_env.task_arguments`)."""
        return task_arguments(self.env_id, **{k: v for k, v in self.make_kwargs().items() if k != "env_id"})


SECTIONS: dict[str, type[ConfigSection]] = {"protocol": ProtocolConfig, "agent": AgentConfig,
                                            "pretraining": PretrainingConfig, "env": EnvConfig,
                                            "output": OutputConfig}


class TrainConfig(BaseModel):
    """A whole run's configuration: one validated section each."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    protocol: ProtocolConfig = Field(default_factory=ProtocolConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    pretraining: PretrainingConfig = Field(default_factory=PretrainingConfig)
    env: EnvConfig = Field(default_factory=EnvConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _check_window(self) -> Self:
        window = self.protocol.dopamine_window()
        if window is not None:
            timing = self.env.trial_timing()
            try:
                window.check_within(-(timing.cue_time + timing.cue_jitter),
                                    timing.response_window + timing.post_outcome)
            except ValueError as error:
                raise ValueError(f"protocol.da_window: {error} (env {self.env.env_id})") from None
        return self

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: getattr(self, name).as_dict() for name in SECTIONS}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_dict(), sort_keys=False)


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


#: What a value of the wrong type should have been, by pydantic error type.
_EXPECTED = {"int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
             "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
             "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "a string",
             "dict_type": "a mapping", "tuple_type": "a list", "list_type": "a list"}


def _config_error(error: ValidationError, cls: type[BaseModel], section: str) -> ConfigError:
    """The first of pydantic's errors as one line naming ``section.field`` (the rest follow once the
    first is fixed, as before)."""
    first = error.errors(include_url=False)[0]
    name = str(first["loc"][0]) if first["loc"] else None
    kind = first["type"]
    if kind == "extra_forbidden":
        unknown = [str(e["loc"][0]) for e in error.errors() if e["type"] == "extra_forbidden"]
        return ConfigError(f"unknown field(s) {', '.join(unknown)} in section {section!r}; its fields are "
                           f"{', '.join(cls.model_fields)}", section, unknown[0])
    if kind in _EXPECTED:
        return ConfigError(f"{section}.{name}={first['input']!r} must be {_EXPECTED[kind]}", section, name)
    message = first["msg"].removeprefix("Value error, ")
    if name is None:  # a rule across fields names its field in the message (``section.field``)
        for field in cls.model_fields:
            if f"{section}.{field}" in message:
                name = field
                break
    return ConfigError(message, section, name)


def build_section(cls: type[BaseModel], section: str, given: Any) -> Any:
    """One config section from ``{field: value}``: unknown fields, wrong types and invalid values raise
    :class:`ConfigError` naming ``section.field``."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ConfigError(f"section {section!r} must be a mapping of field: value, got {given!r}", section)
    try:
        return cls.model_validate(given)
    except ConfigError:  # from a nested config (the ablation's training overrides): already named
        raise
    except ValidationError as error:
        nested = error.errors()[0].get("ctx", {}).get("error")
        if isinstance(nested, ConfigError):
            raise nested from None
        raise _config_error(error, cls, section) from None


def build_from_sources(cls: type[BaseModel], section: str, preset: dict[str, Any], config_file: str | None,
                       flags: dict[str, Any]) -> Any:
    """A sweep's config section from, in rising precedence, a ``preset`` (``--quick``), a YAML file and
    the named command-line ``flags`` (``{field: value}``; None: not given).

    Raises:
        ConfigError: one line naming where the bad value came from (``--quick``, the file, the flag)
            and the field.
    """
    fields = dict(preset)
    source = dict.fromkeys(fields, "--quick")
    if config_file:
        from_file = load_yaml(config_file)
        fields.update(from_file)
        source.update(dict.fromkeys(from_file, f"config file {config_file}"))
    for name, value in flags.items():
        if value is not None:
            fields[name] = value
            source[name] = "--" + name.replace("_", "-")
    try:
        return build_section(cls, section, fields)
    except ConfigError as error:
        where = source.get(error.field) if error.field else None
        if where is None and error.section != section and "train" in source:
            where = source["train"]  # a training override (agent/pretraining/env) of the file
        raise (error.within(where) if where else error) from None


def parse_value(cls: type[BaseModel], name: str, text: str) -> Any:
    """A command-line value for field ``name`` of ``cls``: read as YAML (``3``, ``0.5``, ``false``,
    ``null``), except for a field that takes text, which gets it as written; ``none`` is None where the
    field allows it. An unknown field's text is returned as it is (validation names it)."""
    info = cls.model_fields.get(name)
    if info is None:
        return text
    kinds = (info.annotation, *typing.get_args(info.annotation))
    if type(None) in kinds and text.strip().lower() in ("none", "null", "~"):
        return None
    if str in kinds:
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


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
    try:
        return TrainConfig(**sections)
    except ValidationError as error:
        # The one check across sections: the dopamine window against the env's timeline.
        message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ConfigError(message, "protocol", "da_window") from None


def check_sections(data: dict, allowed: tuple[str, ...] = tuple(SECTIONS)) -> None:
    """Raise :class:`ConfigError` if a top-level key of ``data`` is not a section or a section is
    not a mapping; a key that is a field of some section is pointed to it."""
    for key, value in data.items():
        if key not in allowed:
            home = [s for s in allowed if key in SECTIONS[s].model_fields]
            hint = f" (did you mean {home[0]}.{key}, inside section {home[0]!r}?)" if home else ""
            raise ConfigError(f"{key!r} is not a config section{hint}; sections are {', '.join(allowed)}",
                              None, None)
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"section {key!r} must be a mapping of field: value, got {value!r}", key)


def fields_help(sections: dict[str, type[BaseModel]]) -> str:
    """Every field of ``sections`` with its type, default and description (units included), for
    ``--help``."""
    lines = []
    for section, cls in sections.items():
        lines.append(f"{section}:")
        for name, info in cls.model_fields.items():
            default = info.get_default(call_default_factory=True)
            kind = getattr(info.annotation, "__name__", str(info.annotation))
            description = " ".join((info.description or "").split())
            lines.append(f"  {section}.{name} ({kind}, default {default!r}): {description}")
    return "\n".join(lines)


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


def sweep_parser(prog: str, description: str, section: str, config_class: type[BaseModel], out: str,
                 outputs: str, seeds_help: str) -> ArgumentParser:
    """The command line every sweep command (``training.ablate``, ``training.versus_sb3``) starts from:
    ``--out`` (default ``out``; ``outputs`` says what goes there), ``--config`` (a YAML file of
    ``config_class``, listed in the epilog), ``--seeds``, ``--first-seed``, ``--workers`` and
    ``--no-progress``. Check the parsed options with :func:`check_workers`."""
    parser = ArgumentParser(prog=prog, description=description,
                            epilog=f"{section} fields (YAML file given with --config):\n"
                                   + fields_help({section: config_class}),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=out, help=f"output folder ({outputs})")
    parser.add_argument("--config", help=f"YAML file: fields of {config_class.__name__} "
                                         f"(train: agent/pretraining/env)")
    parser.add_argument("--seeds", type=int, help=seeds_help)
    parser.add_argument("--first-seed", type=int)
    parser.add_argument("--workers", type=int, default=2, help="local processes")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def check_workers(args: argparse.Namespace) -> None:
    """Raises :class:`ConfigError` unless ``--workers`` is at least 1."""
    if args.workers < 1:
        raise ConfigError(f"--workers={args.workers} must be >= 1")


def comma_list(text: str | None, flag: str, kind: type, example: str) -> tuple | None:
    """``"a,b,c"`` -> ``(kind(a), kind(b), kind(c))`` (None stays None; empty parts are skipped).

    Raises:
        ConfigError: a part is not a ``kind``; the message names ``flag`` and shows ``example``.
    """
    if text is None:
        return None
    try:
        return tuple(kind(part) for part in text.split(",") if part.strip())
    except ValueError:
        noun = "whole numbers" if kind is int else "numbers"
        raise ConfigError(f"{flag} {text!r} is not a comma-separated list of {noun} "
                          f"(e.g. {example})") from None


def fail(error: Exception) -> typing.NoReturn:
    """End a command on a configuration or input mistake: one line on stderr, exit status 2."""
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
    raise SystemExit(2)
