"""Validating a configuration, and saying what is wrong: one line per error, `path: rule`, every error listed.

Paths read like the JSON they point into: `llm_context.tools[1]`, `secrets["bad-key"]`. Input values are never
quoted back, except names chosen from a list (a tool, a voice), so secret values cannot leak through an error.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPECTED = {
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "list_type": "an array",
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "a boolean",
}


class InvalidConfiguration(ValueError):
    """A configuration the schema refuses; `lines` has one `path: rule` line per error."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__("; ".join(self.lines))


@dataclass(frozen=True)
class Parsed[M: BaseModel]:
    value: M
    ignored: tuple[str, ...] = ()  # paths of unknown fields left out (only with `ignore_unknown`)


def parse[M: BaseModel](model: type[M], data: Any, *, root: str = "", ignore_unknown: bool = False) -> Parsed[M]:
    """Validate `data` (parsed JSON) as `model`; `InvalidConfiguration` lists every error, paths under `root`.

    `ignore_unknown` is for readers older than the writer: unknown fields are left out and reported in
    `ignored` instead of refused; every other rule still applies.
    """
    try:
        return Parsed(model.model_validate(data))
    except ValidationError as exc:
        unknown = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
        if not ignore_unknown or not unknown:
            raise InvalidConfiguration(error_lines(exc, root)) from None
    trimmed = copy.deepcopy(data)
    for loc in unknown:
        *parents, last = loc
        target = trimmed
        for part in parents:
            target = target[part]
        del target[last]
    try:
        value = model.model_validate(trimmed)
    except ValidationError as exc:
        raise InvalidConfiguration(error_lines(exc, root)) from None
    return Parsed(value, tuple(path(root, loc) for loc in unknown))


def error_lines(exc: ValidationError, root: str = "") -> list[str]:
    """Every error of `exc` as `path: rule`, in the order pydantic found them."""
    return [f"{path(root, e['loc'])}: {_rule(e)}" for e in exc.errors()]


def path(root: str, loc: Sequence[int | str]) -> str:
    """`root` followed by `loc` in JSON-path style; `configuration` for the document itself."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":  # pydantic's marker for "the key itself, not its value"
            continue
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "configuration"


def _rule(error: ErrorDetails) -> str:
    kind, ctx, given = error["type"], error.get("ctx", {}), error.get("input")
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}, not {_json_type(given)}"
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_too_short":
        return "must not be empty" if ctx["min_length"] == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters, not {len(str(given))}"
    if kind == "too_short":
        least = ctx["min_length"]
        return f"must have at least {least} item" + ("s" if least != 1 else "")
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items, not {ctx['actual_length']}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    return str(error["msg"]).removeprefix("Value error, ")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__
