"""A run's whole configuration: teacher and student models plus every stage's settings.

One YAML file (or the run store's snapshot of it) says how a run is made:

    teacher: {backend: openai, model: gpt-4o-mini, base_url: https://api.openai.com/v1,
              api_key_env: OPENAI_API_KEY}
    student: {model: bundled}
    generate: {...}
    verify: {votes: 16}
    measure: {rollouts: 64, temperature: 0.7}
    adapt: {rounds: 1}
    select: {rule: paper, m: 500}
    train: {algo: grpo}        # or null: stop after selection
    evaluate: null             # or the evaluation settings

    config = RunConfig.profile("tiny")                 # or "paper"
    config = RunConfig.from_yaml("run.yaml")           # starts from a profile if it names one
    config = config.with_overrides(["measure.rollouts=16", "select.m=100"])
    config.to_yaml()

Every section is its stage's own config dataclass (validated in its __post_init__);
unknown keys and wrong types are reported with the file, the section and the key.
The stage modules are imported only when their section is built.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import types
import typing
import warnings
from pathlib import Path
from typing import Any, Iterable

import yaml

PROFILES = ("tiny", "paper", "demo")

# section -> (module, class); train and evaluate may be null (the stage is not run)
SECTIONS: dict[str, tuple[str, str]] = {
    "teacher": ("synthrl.backends.spec", "ModelSpec"),
    "student": ("synthrl.backends.spec", "ModelSpec"),
    "generate": ("synthrl.stages.generate", "GenerateConfig"),
    "verify": ("synthrl.stages.verify", "VerifyConfig"),
    "measure": ("synthrl.stages.measure", "MeasureConfig"),
    "adapt": ("synthrl.stages.adapt", "AdaptConfig"),
    "select": ("synthrl.stages.select", "SelectConfig"),
    "train": ("synthrl.stages.train", "TrainConfig"),
    "evaluate": ("synthrl.stages.evaluate", "EvalConfig"),
}
OPTIONAL = ("train", "evaluate")
TOP_KEYS = ("profile", "benchmark") + tuple(SECTIONS)

# The profiles, as the values that differ from each section's defaults: the one place a profile's
# values live (TrainConfig.profile(name) reads its train section from here too).
# Keys a section's class does not have (a stage still being built) are skipped.
# docs/method.md has the paper profile as a table (setting, paper value, synthrl default,
# source); tests/test_paper_profile.py checks every row against what this builds.
_PROFILE_VALUES: dict[str, dict[str, dict[str, Any] | None]] = {
    # the whole loop in a few minutes on 2 CPU cores with the bundled model
    "tiny": {
        "teacher": {"backend": "transformers", "model": "bundled"},
        "student": {"backend": "transformers", "model": "bundled"},
        "generate": {"n": 6, "temperature": 0.7, "max_tokens": 80, "concurrency": 2,
                     "passage_chars": 500, "junk_retries": 1, "max_attempts": 18, "seed": 0},
        "verify": {"votes": 2, "temperature": 0.7, "max_tokens": 32, "concurrency": 2},
        "measure": {"rollouts": 4, "temperature": 0.7, "max_tokens": 24, "batch_size": 32},
        "adapt": {"rounds": 1, "max_tokens": 80, "batch_size": 8},
        "select": {"rule": "paper", "m": 8},
        # a few GRPO steps that finish on 2 CPU cores (TrainConfig.profile("tiny"))
        "train": {"learning_rate": 5e-6, "num_generations": 4, "temperature": 1.0, "top_p": 1.0, "beta": 0.001,
                  "max_prompt_length": 512, "max_completion_length": 16, "epochs": 1.0, "max_steps": 3,
                  "per_device_batch": 8, "grad_accum": 1, "save_steps": 2, "eval_every": 0,
                  "heldout_fraction": 0.2, "ppo_epochs": 1},
        "evaluate": {"limit": 20, "max_tokens": 24},
    },
    # the demo that learns on 2 CPU cores (docs/results.md): questions from the demos and the passages'
    # numbers, program-aided votes (grounded, ties dropped), GRPO as measured to lift the bundled model
    "demo": {
        "teacher": {"backend": "transformers", "model": "bundled"},
        "student": {"backend": "transformers", "model": "bundled"},
        "generate": {"n": 40, "questions": "demos", "temperature": 0.7, "max_tokens": 80, "seed": 0,
                     "concurrency": 16, "max_attempts": 200},
        # most of the bundled teacher's votes state no usable expression: >= 2 of 9 agreeing, no tie
        "verify": {"votes": 8, "temperature": 0.7, "max_tokens": 16, "program_aided": True,
                   "min_agreement": 0.2, "concurrency": 16},
        "measure": {"rollouts": 4, "temperature": 0.7, "max_tokens": 16, "batch_size": 64},
        "adapt": {"rounds": 0},
        "select": {"rule": "paper", "m": 32},
        # lr 3e-5 without the KL reference model (beta 0: no second forward pass per step): on a GPU, a demo
        # run's 48 verified samples took the student from 24/240 held-out right to 97/240 in 20 steps and
        # 128/240 in 25 (bench/demo_sweep.py; lr 2e-5, 3 seeds: 49-101 at 20 steps); 22 steps keep the whole
        # demo under 15 minutes on 2 CPU cores (docs/results.md)
        "train": {"algo": "grpo", "learning_rate": 3e-5, "num_generations": 8, "temperature": 1.0, "top_p": 1.0,
                  "beta": 0.0, "max_prompt_length": 256, "max_completion_length": 16, "max_steps": 22,
                  "per_device_batch": 16, "grad_accum": 1, "save_steps": 10, "eval_every": 0,
                  "heldout_fraction": 0.0, "epochs": 100.0},
        "evaluate": {"max_tokens": 16, "batch_size": 64},
    },
    # the paper's settings (Guo et al., 2025); where its text and published code differ, the text
    "paper": {
        "teacher": {"backend": "transformers", "model": "bundled"},
        "student": {"backend": "transformers", "model": "bundled"},
        "generate": {"n": 500, "temperature": 0.7, "max_tokens": 1024, "passage_chars": 2048,
                     "retrieval_mode": "bm25"},
        # votes see at least the generation's token budget: a cut-off solution is no answer
        "verify": {"votes": 16, "temperature": 0.7, "max_tokens": 1024, "min_agreement": None},
        # the published code's limits: 1500 tokens for pass-rate rollouts, 600 for evaluation
        "measure": {"rollouts": 64, "temperature": 0.7, "max_tokens": 1500},
        "adapt": {"rounds": 1},
        "select": {"rule": "paper", "m": 500, "drop_unsolved": False},
        # KL 0.01 as the paper's text (its published code: 0.001); all M selected samples trained on
        "train": {"beta": 0.01, "heldout_from": "unselected"},
        "evaluate": {"max_tokens": 600},
    },
}

# A profile's own benchmark (the demo's held-out questions, phrased unlike its training questions).
_ASSETS = Path(__file__).resolve().parent.parent / "assets"
PROFILE_BENCHMARKS: dict[str, str] = {
    "demo": str(_ASSETS / "benchmarks" / "demo_addition_heldout.jsonl"),
}

# Settings that were removed, and the one that replaced each. A file (or a run's stored
# config) that still names one loads with a warning saying so; its value moves to the
# replacement unless that is set too.
MOVED: dict[str, str] = {
    "generate.votes": "verify.votes",
    "generate.min_agreement": "verify.min_agreement",
    "generate.review_below": "verify.review_below",
}


class ConfigWarning(UserWarning):
    """A config names a setting that moved; the message says which setting replaced it."""


def _move_settings(d: dict, source: str) -> dict:
    """A copy of a run config mapping with moved settings carried to their replacements (see MOVED)."""
    d = dict(d)
    for old, new in MOVED.items():
        old_sec, old_key = old.split(".")
        new_sec, new_key = new.split(".")
        if not isinstance(d.get(old_sec), dict) or old_key not in d[old_sec]:
            continue
        d[old_sec] = dict(d[old_sec])
        value = d[old_sec].pop(old_key)
        target = d.get(new_sec)
        if target is None and new_sec not in d:
            target = {}
        if isinstance(target, dict) and new_key not in target:
            d[new_sec] = {**target, new_key: value}
            what = f"its value {value!r} is used for {new}"
        else:
            what = f"{new} is set too, so {old}={value!r} is ignored"
        warnings.warn(f"{source}: {old} is no longer a setting: {new} replaced it; {what}. "
                      f"Write {new} instead.", ConfigWarning, stacklevel=3)
    return d


class ConfigError(ValueError):
    """A run config problem, naming the file, section and key."""


def _section_class(name: str):
    module, cls = SECTIONS[name]
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"section '{name}' needs {module}.{cls}, which cannot be imported: {e}") from e


def _fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _hints(cls) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation we cannot resolve: skip type checks for it
        return {}


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin in (tuple, list):
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", dict: "a mapping"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any) -> tuple[bool, Any]:
    """(ok, value converted to the field's type) for the plain types configs use."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for a in args:
            ok, v = _coerce(value, a)
            if ok:
                return True, v
        return False, value
    if tp is type(None):
        return value is None, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, str):  # YAML reads 1e-6 (no dot) as a string: take what clearly is a number
            try:
                return True, float(value)
            except ValueError:
                return False, value
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if tp is str:
        return isinstance(value, str), value
    if origin is typing.Literal:
        return value in args, value
    if origin in (tuple, list) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False, value
        inner = args[0] if args else Any
        out = []
        for x in value:
            ok, v = _coerce(x, inner)
            if not ok:
                return False, value
            out.append(v)
        return True, tuple(out) if (origin is tuple or tp is tuple) else out
    if origin is dict or tp is dict:
        return isinstance(value, dict), value
    return True, value  # anything richer: the section's own validation decides


def build_section(name: str, data: Any, source: str = "<config>", base: Any = None) -> Any:
    """A section's config object from a mapping (over `base`, else the section's defaults)."""
    if name not in SECTIONS:
        raise ConfigError(f"{source}: unknown section '{name}' (allowed: {', '.join(TOP_KEYS)})")
    if data is None and name in OPTIONAL:
        return None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: section '{name}': must be a mapping of settings"
                          + (" (or null to skip the stage)" if name in OPTIONAL else "")
                          + f", got {type(data).__name__}")
    cls = _section_class(name)
    fields, hints = _fields(cls), _hints(cls)
    data = dict(data)
    start: dict[str, Any] = {}
    if base is not None:
        start = {k: getattr(base, k) for k in fields}
    problems = []
    unknown = sorted(set(data) - set(fields), key=str)
    noun = getattr(cls, "SETTING_NOUN", None)  # a section that names its unknown keys in one line
    if noun and unknown and not any(f"{name}.{k}" in MOVED for k in unknown):
        problems.append(f"{source}: unknown {noun}(s) {', '.join(map(str, unknown))} "
                        f"(allowed: {', '.join(sorted(fields))})")
        unknown = []
    for key in unknown:
        moved = MOVED.get(f"{name}.{key}")
        if moved:
            problems.append(f"{source}: {name}.{key}: no longer a setting; {moved} replaced it")
            continue
        problems.append(f"{source}: {name}.{key}: unknown key (allowed: {', '.join(sorted(fields))})")
    values = {}
    for key, value in data.items():
        if key not in fields:
            continue
        tp = hints.get(key, Any)
        ok, v = _coerce(value, tp)
        if not ok:
            problems.append(f"{source}: {name}.{key}: expected {_type_name(tp)}, got "
                            f"{type(value).__name__} {value!r}")
        values[key] = v
    if problems:
        raise ConfigError("\n".join(problems))
    try:
        return cls(**{**start, **values})
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{source}: section '{name}': {e}") from e


def section_dict(obj: Any) -> dict | None:
    if obj is None:
        return None
    if hasattr(obj, "to_dict"):
        d = obj.to_dict()
    else:
        d = dataclasses.asdict(obj)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _profile_section(profile: str, name: str) -> Any:
    values = _PROFILE_VALUES[profile].get(name, {})
    if values is None:
        return None
    cls = _section_class(name)
    known = set(_fields(cls))
    return build_section(name, {k: v for k, v in values.items() if k in known}, f"profile '{profile}'")


@dataclasses.dataclass
class RunConfig:
    """Teacher and student models and every stage's settings for one run."""

    profile: str = "paper"
    #: held-out benchmark (JSONL of question/answer) for the evaluate stage; None: no evaluation
    benchmark: str | None = None
    teacher: Any = None
    student: Any = None
    generate: Any = None
    verify: Any = None
    measure: Any = None
    adapt: Any = None
    select: Any = None
    train: Any = None
    evaluate: Any = None

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ConfigError(f"profile: must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        if self.benchmark is not None and not isinstance(self.benchmark, str):
            raise ConfigError(f"benchmark: must be a path to a JSONL file, got {self.benchmark!r}")
        # sections left unset come from the profile (train/evaluate stay None: not run)
        for name in SECTIONS:
            if getattr(self, name) is None and name not in OPTIONAL:
                setattr(self, name, _profile_section(self.profile, name))

    # -- profiles ------------------------------------------------------------------
    @classmethod
    def from_profile(cls, profile: str = "tiny") -> "RunConfig":
        """'tiny': the whole loop in minutes on 2 CPU cores; 'paper': the paper's settings."""
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
        sections = {}
        for name in SECTIONS:
            try:
                sections[name] = _profile_section(profile, name)
            except ConfigError:
                if name in OPTIONAL:  # train/evaluate not installed: the pipeline stops after select
                    sections[name] = None
                else:
                    raise
        return cls(profile=profile, benchmark=PROFILE_BENCHMARKS.get(profile), **sections)

    # -- (de)serialisation ------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain data, safe to store: model specs carry the NAME of a key's variable, never a key."""
        d: dict[str, Any] = {"profile": self.profile, "benchmark": self.benchmark}
        for name in SECTIONS:
            d[name] = section_dict(getattr(self, name))
        for name in ("teacher", "student"):
            for k in list(d[name] or {}):
                if "key" in k and not k.endswith("_env"):
                    d[name].pop(k)
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    @classmethod
    def from_dict(cls, d: Any, source: str = "<config>", base: "RunConfig | None" = None,
                  section: str | None = None) -> "RunConfig":
        """Build from a mapping. Sections missing from `d` come from `base`, else from d's profile.

        section: a mapping that names no section at all is that one section's settings (a file
        holding only training settings is read as `train:`).
        """
        if d is None:
            d = {}
        if section is not None and isinstance(d, dict) and d and not set(d) & set(TOP_KEYS):
            d = {section: d}
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: a run config must be a YAML mapping of sections, got {type(d).__name__}")
        d = _move_settings(d, source)
        unknown = sorted(set(d) - set(TOP_KEYS), key=str)
        if unknown:
            raise ConfigError("\n".join(f"{source}: '{k}': unknown section (allowed: {', '.join(TOP_KEYS)})"
                                        for k in unknown))
        profile = d.get("profile", base.profile if base is not None else "paper")
        if profile not in PROFILES:
            raise ConfigError(f"{source}: profile: must be one of {', '.join(PROFILES)}, got {profile!r}")
        start = base if base is not None and profile == base.profile else cls.from_profile(profile)
        problems, sections = [], {}
        for name in SECTIONS:
            if name not in d:
                sections[name] = getattr(start, name)
                continue
            value = d[name]
            try:
                if value is None or name in ("teacher", "student"):
                    # a model is named whole: no inheriting a base_url from another backend
                    sections[name] = build_section(name, value, source)
                else:
                    sections[name] = build_section(name, value, source, base=getattr(start, name))
            except ConfigError as e:
                problems.append(str(e))
        if problems:
            raise ConfigError("\n".join(problems))
        benchmark = d.get("benchmark", base.benchmark if base is not None else None)
        if benchmark is not None and not isinstance(benchmark, str):
            raise ConfigError(f"{source}: benchmark: expected a path to a JSONL file, got {benchmark!r}")
        return cls(profile=profile, benchmark=benchmark, **sections)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, base: "RunConfig | None" = None,
                  section: str | None = None) -> "RunConfig":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p}: cannot read config file: {e}") from None
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise ConfigError(f"{p}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
        return cls.from_dict(d, source=str(p), base=base, section=section)

    def save(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        p.write_text(self.to_yaml(), encoding="utf-8")
        return p

    # -- overrides ------------------------------------------------------------------------
    def with_overrides(self, overrides: Iterable[str] | dict | None) -> "RunConfig":
        """A copy with `section.key=value` strings (values in YAML syntax) or a nested dict applied."""
        if not overrides:
            return self
        if isinstance(overrides, dict):
            patch = overrides
        else:
            patch: dict[str, Any] = {}
            for item in overrides:
                key, sep, raw = item.partition("=")
                if key.strip() in ("benchmark", "profile") and sep:
                    patch[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
                    continue
                section, dot, field = key.strip().partition(".")
                if sep and not dot and section in OPTIONAL and raw.strip() in ("null", "none", "off", "~"):
                    patch[section] = None  # skip an optional stage: train=null
                    continue
                if not sep or not dot or not field:
                    raise ConfigError(f"override {item!r}: write it as section.key=value, e.g. measure.rollouts=16")
                try:
                    value = yaml.safe_load(raw) if raw.strip() else None
                except yaml.YAMLError:
                    value = raw
                patch.setdefault(section, {})[field] = value
        # an override of a moved setting sets its replacement (this config's other values stay)
        patch = _move_settings(patch, "override")
        d = self.to_dict()
        for section, values in patch.items():
            if section in ("benchmark", "profile"):
                d[section] = values
                continue
            if section not in SECTIONS:
                raise ConfigError(f"override: unknown section '{section}' (allowed: {', '.join(SECTIONS)})")
            if not isinstance(values, dict):
                d[section] = values
                continue
            if d.get(section) is None:
                # enabling an optional stage: start from the profile's (or the class's) defaults
                d[section] = section_dict(_optional_default(self.profile, section)) or {}
            d[section] = {**d[section], **values}
        return RunConfig.from_dict(d, source="override")

    def describe(self) -> str:
        t, s = self.teacher, self.student
        return (f"profile {self.profile}; teacher {t.describe() if hasattr(t, 'describe') else t}; "
                f"student {s.describe() if hasattr(s, 'describe') else s}")


def _optional_default(profile: str, name: str) -> Any:
    values = _PROFILE_VALUES[profile].get(name)
    if values is None:
        return build_section(name, {}, f"profile '{profile}'")
    return _profile_section(profile, name)


def load_config(path: str | os.PathLike | None = None, profile: str | None = None,
                overrides: Iterable[str] | None = None) -> RunConfig:
    """The config a command runs with: a file (over its profile), else a profile, then overrides."""
    base = RunConfig.from_profile(profile or "tiny") if profile or path is None else None
    config = RunConfig.from_yaml(path, base=base) if path is not None else base
    return config.with_overrides(overrides)


DEFAULT_PROFILE = "tiny"

# Keys in which runs made before "run_config" existed kept one stage's settings: read (as the
# stored layer) where a run has no run_config, never written any more.
LEGACY_KEYS: dict[str, str] = {"generate_config": "generate", "train_config": "train"}


def stored_config(store: Any, *, resume: bool = False) -> tuple[dict | None, str]:
    """(the run's stored layer as a mapping, where it comes from); (None, "") when nothing is stored.

    The layer is the run's "run_config"; a run made before it existed has its per-stage keys
    (LEGACY_KEYS) read instead. With `resume`, the train section is the settings the run's
    latest training ran with (it continues from that training's checkpoint).
    """
    if store is None:
        return None, ""
    name = getattr(store, "name", "run")
    stored = store.get_config("run_config")
    where = ["run_config"]
    if not isinstance(stored, dict):
        stored, where = {}, []
        for key, section in LEGACY_KEYS.items():
            value = store.get_config(key)
            if isinstance(value, dict):
                stored[section], where = value, [*where, key]
    if resume:
        last = last_training_settings(store)
        if last is not None:
            stored, where = {**stored, "train": last}, [*where, "the latest training's settings"]
    return (stored or None), f"{name}/run.db ({', '.join(where)})"


def last_training_settings(store: Any) -> dict | None:
    """The settings the run's newest training ran with (its training-run record), else the legacy key."""
    runs = store.training_runs() if hasattr(store, "training_runs") else []
    for run in reversed(runs):
        if isinstance(run.get("config"), dict) and run["config"]:
            return dict(run["config"])
    legacy = store.get_config("train_config")
    return dict(legacy) if isinstance(legacy, dict) else None


def resolve_config(store: Any = None, file: str | os.PathLike | None = None, profile: str | None = None,
                   overrides: Iterable[str] | dict | None = None, *, fallback: str = DEFAULT_PROFILE,
                   section: str | None = None, resume: bool = False) -> RunConfig:
    """The settings a command runs a stage with: the one answer to "which settings does this run use?".

    Precedence, lowest first: each section's defaults < the profile < the run's stored config
    < the config file < overrides (--set and the command's own flags, passed as `overrides`).

    - profile: the one named, else the stored config's, else `fallback` (the profile a run
      with nothing recorded starts from). Naming a profile other than the one the run was
      stored with starts over from that profile: the stored values belong to the other one.
    - stored: see stored_config (run_config; older runs' per-stage keys; with `resume`, the
      train section is the latest training's settings).
    - file: a YAML run config; the sections it names replace those below it. A file with no
      profile key over nothing (no run config stored, no profile named) is the paper profile,
      as RunConfig.from_yaml reads it. With `section`, a file that names no section holds
      that section's settings (`synthrl train --config train.yaml`).

        cfg = resolve_config(store, "run.yaml", overrides=["measure.rollouts=16"])
    """
    stored, where = stored_config(store, resume=resume)
    if stored is not None and "profile" not in stored:
        stored = {**stored, "profile": fallback}  # an older run's per-stage keys: no profile recorded
    base: RunConfig | None = None
    if stored is not None and (profile is None or stored.get("profile") == profile):
        base = RunConfig.from_dict(stored, source=where)
    elif profile is not None or file is None:
        base = RunConfig.from_profile(profile or fallback)
    config = RunConfig.from_yaml(file, base=base, section=section) if file is not None else base
    assert config is not None
    return config.with_overrides(overrides)
