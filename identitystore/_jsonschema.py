"""A small JSON-schema checker that reports problems in Auth0's (z-schema's) words and order.

Only the keywords Auth0's request schemas use are supported: ``type``, ``enum``, ``minLength``,
``maxLength``, ``pattern``, ``format`` (``email``, ``strict-uri``), ``minimum``, ``maximum``,
``properties``, ``required``, ``additionalProperties``, ``maxProperties``, ``items``,
``minItems``, ``maxItems``, ``description``. z-schema checks an object's own keywords first
(``additionalProperties``, then ``required``), then walks the value's keys in reverse order; every
problem is reported, none stops the walk.

``schema_problems`` gives each problem with its z-schema code (as Auth0's import errors show them);
``problems`` gives the same problems as the sentences of Auth0's request errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from . import _formats
from ._formats import _JS_SPACE
from .errors import PayloadValidationError, echo

__all__ = [
    "Schema",
    "SchemaProblem",
    "has_lone_surrogate",
    "has_nul",
    "js_regex",
    "json_type",
    "problems",
    "schema_problems",
]

Schema = Mapping[str, Any]

_FORMATS: dict[str, Callable[[str], bool]] = {
    "email": _formats.is_email,
    "strict-uri": _formats.is_strict_uri,
}
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_type(value: object) -> str:
    """The JSON type z-schema reports for ``value`` (the Python type name for non-JSON values)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:  # JSON.parse makes it Infinity
            return "unknown-number"
        return "integer"
    if isinstance(value, float):
        if math.isnan(value):
            return "not-a-number"
        if math.isinf(value):
            return "unknown-number"
        return "integer" if value.is_integer() else "number"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _type_matches(expected: str | list[str], actual: str) -> bool:
    allowed = [expected] if isinstance(expected, str) else expected
    return actual in allowed or (actual == "integer" and "number" in allowed)


_JS_ESCAPES = {  # outside a character class
    "s": f"[{_JS_SPACE}]",
    "S": f"[^{_JS_SPACE}]",
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[A-Za-z0-9_]",
    "W": "[^A-Za-z0-9_]",
}
_JS_CLASS_ESCAPES = {"s": _JS_SPACE, "d": "0-9", "w": "A-Za-z0-9_"}  # inside one


def _python_pattern(source: str) -> str:
    """A JS ``RegExp`` source (no flags) as a Python pattern that matches the same strings.

    JS ``\\s`` is ECMAScript white space (Python's also takes U+001C-U+001F and U+0085 and misses
    U+FEFF), JS ``\\d`` and ``\\w`` are ASCII, JS ``.`` stops at every line terminator, and JS
    ``$`` matches only at the very end (Python's also before a final newline).
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source):
            escaped = source[i + 1]
            table = _JS_CLASS_ESCAPES if in_class else _JS_ESCAPES
            if in_class and escaped in "SDW":
                raise ValueError(f"unsupported JS pattern: {source}")
            out.append(table.get(escaped, char + escaped))
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        elif char == ".":
            char = r"[^\n\r\u2028\u2029]"
        out.append(char)
        i += 1
    return "".join(out)


@lru_cache(maxsize=64)
def js_regex(pattern: str) -> re.Pattern[str]:
    """``pattern``, a JS ``RegExp`` source, compiled with JS's meaning (see ``_python_pattern``)."""
    return re.compile(_python_pattern(pattern))


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` holds a lone surrogate, which no UTF-8 storage can keep."""
    return _SURROGATE.search(text) is not None


def has_nul(text: str) -> bool:
    """True when ``text`` holds U+0000, which PostgreSQL's text and JSONB cannot keep."""
    return "\x00" in text


class SchemaProblem(NamedTuple):
    """One problem: z-schema's ``code`` (``INVALID_TYPE``, ``PATTERN``, ...), its ``text``, the
    ``path`` of the value ("" for the root) and that property's schema ``description``."""

    code: str
    text: str
    path: str
    description: str | None = None

    def sentence(self, *, patch: bool = False) -> str:
        """The problem as Auth0's request errors word it (``PayloadValidationError.format``); on
        ``patch``, an unknown-property problem gets Auth0's PATCH hint."""
        hint = patch and self.code == "OBJECT_ADDITIONAL_PROPERTIES"
        if not self.path:
            return PayloadValidationError.format(self.text, patch_hint=hint)
        description = self.description.rstrip(".") if self.description is not None else None
        return PayloadValidationError.format(self.text, self.path, description, patch_hint=hint)


def schema_problems(value: object, schema: Schema, path: str = "") -> list[SchemaProblem]:
    """Every problem of ``value`` against ``schema``, in Auth0's order."""
    found: list[SchemaProblem] = []
    _walk(value, schema, path, found)
    return found


def problems(value: object, schema: Schema, path: str = "", *, patch: bool = False) -> list[str]:
    """Every problem of ``value`` against ``schema`` as full Auth0 sentences, in Auth0's order
    (worded for a PATCH body on ``patch``)."""
    return [problem.sentence(patch=patch) for problem in schema_problems(value, schema, path)]


def _report(found: list[SchemaProblem], code: str, text: str, path: str, schema: Schema) -> None:
    found.append(SchemaProblem(code, text, path, schema.get("description")))


def _walk(value: object, schema: Schema, path: str, found: list[SchemaProblem]) -> None:
    actual = json_type(value)
    expected = schema.get("type")
    if expected is not None and not _type_matches(expected, actual):
        shown = expected if isinstance(expected, str) else ",".join(expected)
        _report(
            found, "INVALID_TYPE", f"Expected type {shown} but found type {actual}", path, schema
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        _report(found, "ENUM_MISMATCH", f"No enum match for: {echo(_js(value))}", path, schema)
    if isinstance(value, str):
        _string(value, schema, path, found)
    elif actual in ("integer", "number"):
        _number(value, schema, path, found)  # type: ignore[arg-type]
    elif isinstance(value, Mapping):
        _object(value, schema, path, found)
    elif isinstance(value, (list, tuple)):
        _array(value, schema, path, found)


def _string(value: str, schema: Schema, path: str, found: list[SchemaProblem]) -> None:
    if has_nul(value):
        _report(
            found,
            "INVALID_FORMAT",
            "String contains a NUL character (U+0000), not stored",
            path,
            schema,
        )
        return
    if value.isascii():  # no surrogates, one UTF-16 unit per character
        length = len(value)
    elif has_lone_surrogate(value):
        problem = "String contains a lone surrogate, which is not valid Unicode"
        _report(found, "INVALID_FORMAT", problem, path, schema)
        return
    else:
        length = len(value.encode("utf-16-le")) // 2  # JavaScript counts UTF-16 code units
    fmt = schema.get("format")
    if fmt in _FORMATS and not _FORMATS[fmt](value):
        problem = f"Object didn't pass validation for format {fmt}: {echo(value)}"
        _report(found, "INVALID_FORMAT", problem, path, schema)
    if "pattern" in schema and not js_regex(schema["pattern"]).search(value):
        problem = f"String does not match pattern {schema['pattern']}: {echo(value)}"
        _report(found, "PATTERN", problem, path, schema)
    if "maxLength" in schema and length > schema["maxLength"]:
        _report(
            found,
            "MAX_LENGTH",
            f"String is too long ({length} chars), maximum {schema['maxLength']}",
            path,
            schema,
        )
    if "minLength" in schema and length < schema["minLength"]:
        _report(
            found,
            "MIN_LENGTH",
            f"String is too short ({length} chars), minimum {schema['minLength']}",
            path,
            schema,
        )


def _number(value: float, schema: Schema, path: str, found: list[SchemaProblem]) -> None:
    if "maximum" in schema and value > schema["maximum"]:
        _report(
            found,
            "MAXIMUM",
            f"Value {echo(_js(value))} is greater than maximum {schema['maximum']}",
            path,
            schema,
        )
    if "minimum" in schema and value < schema["minimum"]:
        problem = f"Value {echo(_js(value))} is less than minimum {schema['minimum']}"
        _report(found, "MINIMUM", problem, path, schema)


def _object(
    value: Mapping[Any, Any], schema: Schema, path: str, found: list[SchemaProblem]
) -> None:
    properties: Mapping[str, Schema] = schema.get("properties", {})
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        problem = f"Too many properties defined ({len(value)}), maximum {schema['maxProperties']}"
        _report(found, "OBJECT_PROPERTIES_MAXIMUM", problem, path, schema)
    if schema.get("additionalProperties", True) is False:
        extra = [k if isinstance(k, str) else echo(k) for k in value if k not in properties]
        if extra:
            problem = f"Additional properties not allowed: {echo(','.join(extra))}"
            _report(found, "OBJECT_ADDITIONAL_PROPERTIES", problem, path, schema)
    for name in reversed(schema.get("required", ())):
        if name not in value:
            _report(found, "OBJECT_REQUIRED", f"Missing required property: {name}", path, schema)
    for key in reversed(list(value)):
        if key in properties:
            child = f"{path}.{key}" if path else str(key)
            _walk(value[key], properties[key], child, found)


def _array(
    value: list[Any] | tuple[Any, ...], schema: Schema, path: str, found: list[SchemaProblem]
) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        problem = f"Array is too long ({len(value)}), maximum {schema['maxItems']}"
        _report(found, "ARRAY_LENGTH_LONG", problem, path, schema)
    if "minItems" in schema and len(value) < schema["minItems"]:
        problem = f"Array is too short ({len(value)}), minimum {schema['minItems']}"
        _report(found, "ARRAY_LENGTH_SHORT", problem, path, schema)
    items = schema.get("items")
    if items is not None:
        for index in reversed(range(len(value))):
            _walk(value[index], items, f"{path}[{index}]", found)


def _js(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
