"""Values that break one property of the create-user schema, each with its exact sentence."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any, Final

from hypothesis import strategies as st

from ..limits import (
    CREATE_USER_FIELDS,
    PHONE_NUMBER_PATTERN,
    USER_ID_MAX,
    USER_ID_PATTERN,
    USERNAME_SCHEMA_MAX,
)
from ._contacts import ATOM, HOST, LABEL, LOCAL
from ._fields import ID_CHARS, JSON_SCALARS, METADATA_KEYS
from ._oracles import JS_WHITESPACE, USERNAME_ALPHABET, Strategy, payload_error, utf16_len
from ._text import TEXT_CHARS, insert, long_text

#: JSON types of the request properties (Auth0's ``CreateUserRequestContent``).
FIELD_TYPES: Final[Mapping[str, str]] = {
    **dict.fromkeys(CREATE_USER_FIELDS, "string"),
    **dict.fromkeys(("user_metadata", "app_metadata"), "object"),
    **dict.fromkeys(("blocked", "email_verified", "phone_verified", "verify_email"), "boolean"),
}
#: ``maxLength`` of the string properties that have one.
MAX_LENGTH: Final[Mapping[str, int]] = {
    "given_name": 150,
    "family_name": 150,
    "name": 300,
    "nickname": 300,
    "user_id": USER_ID_MAX,
    "username": USERNAME_SCHEMA_MAX,
}
#: String properties with ``minLength: 1``.
MIN_ONE: Final = ("given_name", "family_name", "name", "nickname", "connection", "password")
MIN_ONE_ALL: Final = (*MIN_ONE, "username")


def _json_of_type(type_name: str) -> Strategy[Any]:
    return {
        "null": st.none(),
        "boolean": st.booleans(),
        "integer": st.integers(-(2**53), 2**53)
        | st.floats(allow_nan=False, allow_infinity=False).filter(float.is_integer),
        "number": st.floats(allow_nan=False, allow_infinity=False).filter(
            lambda f: not f.is_integer()
        ),
        "string": st.text(TEXT_CHARS, max_size=10),
        "array": st.lists(JSON_SCALARS, max_size=3),
        "object": st.dictionaries(METADATA_KEYS, JSON_SCALARS, max_size=3),
    }[type_name]


@st.composite
def wrong_type(draw: st.DrawFn, prop: str) -> tuple[Any, str]:
    """A JSON value of another type than ``prop``'s, and its sentence."""
    expected = FIELD_TYPES[prop]
    others = ["null", "boolean", "integer", "number", "string", "array", "object"]
    actual = draw(st.sampled_from([t for t in others if t != expected]))
    value = draw(_json_of_type(actual))
    return value, payload_error(f"Expected type {expected} but found type {actual}", prop)


@st.composite
def invalid_emails(draw: st.DrawFn) -> str:
    """Strings validator.js ``isEmail(require_tld)`` refuses."""
    local, other, host = draw(LOCAL), draw(ATOM), draw(HOST)
    label = draw(LABEL)
    return draw(
        st.sampled_from(
            [
                "",
                f"{local}{host}",  # no @
                f"{local}@{label}",  # no TLD
                f"{local}@{label}.{draw(st.sampled_from(string.ascii_letters))}",  # 1-letter TLD
                f"{local}@{label}.{draw(st.integers(10, 9999))}",  # numeric TLD
                f"{local}..{other}@{host}",
                f".{local}@{host}",
                f"{local}.@{host}",
                f"{local} {other}@{host}",
                f"{'a' * 65}@{host}",  # local part over 64 bytes
                f"{local}@-{label}.com",
                f"{local}@{host}.",
                f"{local}@{other}@{host}",
                f"{local}@{label}_{label}.com",
            ]
        )
    )


@st.composite
def invalid_phones(draw: st.DrawFn) -> str:
    """Strings Auth0's ``^\\+[0-9]{1,15}$`` refuses (as a JS RegExp)."""
    digits = st.text(st.sampled_from(string.digits), min_size=1, max_size=15)
    number = draw(digits)
    too_many = draw(st.text(st.sampled_from(string.digits), min_size=16, max_size=25))
    return draw(
        st.sampled_from(
            [
                "",
                "+",
                number,  # no +
                "++" + number,
                "+" + number + too_many[: 25 - len(number)],
                "+1" + draw(st.sampled_from(" -.()/")) + number,
                "+1555"
                + draw(st.text(st.sampled_from(string.ascii_letters), min_size=1, max_size=3)),
                " +" + number,
                "+" + number + "\n",  # JS '$' does not match before a final newline
                "+" + number + " ",
                "+" + "".join(chr(0xFF10 + int(d)) for d in number),  # full-width digits
                "+" + "".join(chr(0x0660 + int(d)) for d in number),  # Arabic-Indic digits
            ]
        )
    )


@st.composite
def invalid_pictures(draw: st.DrawFn) -> str:
    """Strings validator.js ``isURL`` (default options) refuses."""
    label = draw(st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True))
    host = draw(HOST)
    local = draw(LOCAL)
    return draw(
        st.sampled_from(
            [
                "",
                label,  # no scheme, no TLD
                f"http://{label}",
                "http://",
                f"http://{host} x",
                f"http://{host}/a b",
                f"http://{host}/<x>",
                f"javascript:alert({label})",
                f"//{host}/x.png",
                f"file:///{label}",
                f"gopher://{host}/",
                f"http://{host}:{draw(st.integers(65536, 99999))}/",
                f"http://{host}:0/",
                f"http://-{label}.com",
                f"http://{label}_{label}.com",
                f"http://{host}.{draw(st.sampled_from(string.ascii_lowercase))}",
                f"mailto:{local}@{host}",
            ]
        )
    )


@st.composite
def _ids_with_whitespace(draw: st.DrawFn) -> str:
    base = draw(st.text(ID_CHARS, max_size=40))
    return insert(draw, base, draw(st.sampled_from(JS_WHITESPACE)))


@st.composite
def _too_long(draw: st.DrawFn, prop: str) -> tuple[str, str]:
    chars = ID_CHARS if prop == "user_id" else TEXT_CHARS
    if prop == "username":
        chars = st.sampled_from(USERNAME_ALPHABET)
    value = draw(long_text(MAX_LENGTH[prop], chars))
    sentence = payload_error(
        f"String is too long ({utf16_len(value)} chars), maximum {MAX_LENGTH[prop]}", prop
    )
    return value, sentence


def _too_short(prop: str) -> tuple[str, str]:
    return "", payload_error("String is too short (0 chars), minimum 1", prop)


def _sentences(
    values: Strategy[str], prop: str, problem: Callable[[str], str]
) -> Strategy[tuple[str, str]]:
    return values.map(lambda v: (v, payload_error(problem(v), prop)))


def bad_emails() -> Strategy[tuple[str, str]]:
    return _sentences(
        invalid_emails(), "email", lambda v: f"Object didn't pass validation for format email: {v}"
    )


def bad_phones() -> Strategy[tuple[str, str]]:
    return _sentences(
        invalid_phones(),
        "phone_number",
        lambda v: f"String does not match pattern {PHONE_NUMBER_PATTERN}: {v}",
    )


def bad_pictures() -> Strategy[tuple[str, str]]:
    return _sentences(
        invalid_pictures(),
        "picture",
        lambda v: f"Object didn't pass validation for format strict-uri: {v}",
    )


def bad_user_ids() -> Strategy[tuple[str, str]]:
    return _sentences(
        _ids_with_whitespace(),
        "user_id",
        lambda v: f"String does not match pattern {USER_ID_PATTERN}: {v}",
    )


def length_breakers(prop: str) -> Strategy[tuple[str, str]]:
    options: list[Strategy[tuple[str, str]]] = []
    if prop in MAX_LENGTH:
        options.append(_too_long(prop))
    if prop in MIN_ONE_ALL:
        options.append(st.just(_too_short(prop)))
    return st.one_of(options)


_FORMAT_BREAKERS: Final = {
    "email": bad_emails,
    "phone_number": bad_phones,
    "picture": bad_pictures,
    "user_id": bad_user_ids,
}


def schema_breakers(prop: str) -> Strategy[tuple[Any, str]]:
    """(value, sentence) pairs that break ``prop`` with exactly one schema sentence."""
    options: list[Strategy[tuple[Any, str]]] = [wrong_type(prop)]
    if prop in _FORMAT_BREAKERS:
        options.append(_FORMAT_BREAKERS[prop]())
    if prop in MAX_LENGTH or prop in MIN_ONE_ALL:
        options.append(length_breakers(prop))
    return st.one_of(options)
