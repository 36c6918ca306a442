"""Trainer config fields: their value kinds and one parser for every entry point.

The command line, background jobs and the Train page all turn text (or JSON values) into a
trainer config through :func:`parse_field`, so a value means the same everywhere; both
command lines (``train`` and ``jobs submit``) take their flags from :func:`add_config_flags`. A field's
kind comes from its default, or from its annotation where the default is ``None`` (fields a
training recipe fills, see :mod:`microsr_core.train.loop`).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ..errors import ParameterError

_KINDS = {"bool": "bool", "int": "int", "float": "float", "str": "str", "tuple": "ints"}


def field_kind(field: dataclasses.Field) -> str:
    """``bool``, ``int``, ``float``, ``ints`` (a tuple of integers) or ``str``."""
    default = field.default
    if default is not None and default is not dataclasses.MISSING:
        if isinstance(default, bool):
            return "bool"
        if isinstance(default, tuple):
            return "ints"
        return _KINDS.get(type(default).__name__, "str")
    annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "str")
    return _KINDS.get(annotation.split("|")[0].split("[")[0].strip(), "str")


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def parse_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value) if isinstance(value, float) else int(str(value).strip())


def parse_field(field: dataclasses.Field, value: Any) -> Any:
    """``value`` (text or a JSON value) as the field's kind; ``None`` stays ``None``.

    Raises ValueError (or TypeError) for a value that does not convert.
    """
    if value is None:
        return None
    kind = field_kind(field)
    if kind == "bool":
        return parse_bool(value)
    if kind == "int":
        return parse_int(value)
    if kind == "float":
        return float(value)
    if kind == "ints":
        items = value.split(",") if isinstance(value, str) else value
        return tuple(parse_int(v) for v in items if str(v).strip())
    return str(value)


def coerce_params(config_cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """Check that every key is a field of ``config_cls`` and convert values to the field's kind.

    Unknown names and values that do not convert raise :class:`ParameterError` naming them.
    """
    known = {f.name: f for f in dataclasses.fields(config_cls)}
    result: dict[str, Any] = {}
    for key, value in params.items():
        if key not in known:
            raise ParameterError(f"unknown parameter '{key}' (known: {', '.join(known)})")
        try:
            result[key] = parse_field(known[key], value)
        except (TypeError, ValueError):
            raise ParameterError(f"parameter '{key}': expected {field_kind(known[key])}, got {value!r}") from None
    return result


def add_config_flags(parser: argparse.ArgumentParser, config_cls: type, skip: tuple[str | None, ...]) -> None:
    """One ``--flag`` per field of a trainer's config dataclass, but those in ``skip``."""
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue

        def parse(text: str, f=f):
            try:
                return parse_field(f, text)
            except ValueError:
                expected = "true or false" if field_kind(f) == "bool" else field_kind(f)
                raise argparse.ArgumentTypeError(f"expected {expected}, got '{text}'") from None

        default = f.default if f.default is not dataclasses.MISSING else None
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        note = "default: the training recipe's" if default is None and f.name in config_cls.recipe_fields() else f"default {shown}"
        parser.add_argument("--" + f.name.replace("_", "-"), type=parse, default=default, help=note,
                            metavar="BOOL" if field_kind(f) == "bool" else None)
