"""Command-line flags generated from the config sections' fields (``config.knob``): the flag,
its type, choices and help text all come from the field, so a new knob needs no CLI code."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Collection
from typing import Any

from braingan.config import RANGES, Section, field_type


def add_section_flags(parser: argparse.ArgumentParser, section: type[Section],
                      names: Collection[str] | None = None, description: str | None = None) -> None:
    """One flag per field of ``section`` (or of those in ``names``), stored as "section.field";
    booleans get --x/--no-x. A flag left out keeps the value from elsewhere (SUPPRESS)."""
    group = parser.add_argument_group(f"[{section.name}]", description or section.__doc__)
    hints = typing.get_type_hints(section)
    for f in dataclasses.fields(section):
        flag = f.metadata["flag"]
        if flag is None or (names is not None and f.name not in names):
            continue
        flag = flag or f"--{f.name.replace('_', '-')}"
        kind, dest = field_type(hints[f.name]), f"{section.name}.{f.name}"
        options: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS, "help": f.metadata["help"]}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            parse = {list: _comma_list, int: _number, float: _number}
            options["type"] = parse.get(typing.get_origin(kind) or kind, kind)
            options["metavar"] = f.name.upper()
            if f.metadata["choices"]:
                options["choices"] = f.metadata["choices"]
        group.add_argument(flag, **options)


def _number(text: str) -> int | float | str:
    """A numeric flag's value as the number it spells, or else as given: the config's check then
    refuses what does not fit the field (1e23 for an integer, "abc") in its one-line error, naming
    the range, where argparse would answer with its usage."""
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def seed(text: str) -> int:
    """A command's own --seed (generate, evaluate): an integer in the range of the config's seeds."""
    value = _number(text)
    test, says = RANGES["seed"]
    if not isinstance(value, int) or not test(value):
        raise argparse.ArgumentTypeError(f"{says.replace('must be', 'must be an integer')}, not {text!r}")
    return value


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def section_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The dotted-key flags the user gave, as a nested dict {section: {field: value}}."""
    nested: dict[str, Any] = {}
    for key, value in vars(args).items():
        if "." in key:
            section, name = key.split(".", 1)
            nested.setdefault(section, {})[name] = value
    return nested
