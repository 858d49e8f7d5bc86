"""CLI flags generated from a stage config's fields, as TRL's HfArgumentParser does.

A stage command whose flags simply mirror config fields declares them by name; the flag's
type, choices and help come from the field (its dataclass metadata "help"), and the help's
default is read from the configs, never repeated by hand. Every flag defaults to None, so a
flag not given leaves the resolved value (synthrl.config.resolve_config) alone:

    add_field_flags(p, "measure", ["rollouts", "temperature"], metavars={"rollouts": "L"})
    add_field_flags(p, "verify", ["votes"])
    ...
    cfg = resolve_config(store, args.config, args.profile, args.set).with_overrides(field_overrides(args))
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Iterable

_FIELDS_KEY = "config_fields"  # the parser default listing (dest, section, field) of its generated flags


def _plain_type(tp: Any) -> Any:
    """int for `int | None`, list for `list[str] | None`, ... (the type a flag's text converts to)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _plain_type(args[0]) if len(args) == 1 else str
    if typing.get_origin(tp) in (list, tuple) or tp in (list, tuple):
        return list
    return tp


def _comma_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return str(value)


def field_default(section: str, name: str, profile: str = "paper") -> Any:
    """A field's value in `profile` (its class default where the profile leaves it)."""
    from ..config import _PROFILE_VALUES, _section_class

    values = _PROFILE_VALUES.get(profile, {}).get(section) or {}
    if name in values:
        return values[name]
    f = {f.name: f for f in dataclasses.fields(_section_class(section))}[name]
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None  # type: ignore[misc]


def add_field_flags(p: argparse.ArgumentParser | Any, section: str, fields: Iterable[str], *,
                    flags: dict[str, str] | None = None, dests: dict[str, str] | None = None,
                    choices: dict[str, Iterable] | None = None, metavars: dict[str, str] | None = None,
                    parser: argparse.ArgumentParser | None = None) -> None:
    """Add one --flag per field of `section`'s config class.

    p: the parser (or an argument group of `parser`). flags: a field's flag when it is not
    --field-name; dests: its attribute on args when not the field's name. A bool field off by
    default is a plain switch (--lora); one on by default gets --x/--no-x.
    """
    from ..config import _section_class

    owner = parser or p
    cls = _section_class(section)
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an annotation we cannot resolve: treat the value as text
        hints = {}
    flags, dests, choices, metavars = flags or {}, dests or {}, choices or {}, metavars or {}
    registered = owner.get_default(_FIELDS_KEY)
    if registered is None:
        registered = []
        owner.set_defaults(**{_FIELDS_KEY: registered})
    for name in fields:
        f = by_name[name]  # a KeyError here is a programming error: the field does not exist
        tp = _plain_type(hints.get(name, str))
        flag = flags.get(name, "--" + name.replace("_", "-"))
        dest = dests.get(name, name)
        text = (f.metadata.get("help") or name.replace("_", " ")).replace("%", "%%")
        help_ = f"{text} (default: the run's {section}.{name}; paper profile: {_shown(field_default(section, name))})"
        kw: dict[str, Any] = {"dest": dest, "default": None, "help": help_}
        if tp is bool:
            default_on = f.default is True
            kw["action"] = argparse.BooleanOptionalAction if default_on else "store_true"
        else:
            kw["type"] = _comma_list if tp is list else tp if tp in (int, float) else str
            if name in choices:
                kw["choices"] = tuple(choices[name])
            if name in metavars:
                kw["metavar"] = metavars[name]
        p.add_argument(flag, **kw)
        registered.append((dest, section, name))


def field_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """{section: {field: value}} for the generated flags that were given (for RunConfig.with_overrides)."""
    out: dict[str, dict[str, Any]] = {}
    for dest, section, name in getattr(args, _FIELDS_KEY, None) or ():
        value = getattr(args, dest, None)
        if value is not None:
            out.setdefault(section, {})[name] = value
    return out
