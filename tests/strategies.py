"""Hypothesis strategies for ``IdentityStore.create_user`` request bodies.

Written from CREATE-USER.md (Auth0's ``POST /api/v2/users``), not from identitystore's code: valid
values are valid *by construction* (Auth0's schema, validator.js's ``email`` / ``strict-uri``
formats, the connection's username and password rules), and every violation carries the exact
error Auth0 answers with -- or, where the spec says the text is not established, identitystore's
documented choice. The small oracles below (UTF-16 lengths, JS whitespace, character classes, the
"no personal info" containment) are re-implemented here on purpose, so the tests do not ask the
code under test what is valid. Only the field list and the error descriptions come from
``identitystore.limits`` (the descriptions are the OpenAPI texts without their final period).

Public pieces:

* connection kinds (``KINDS``) and the store's extra connection (``STRICT``, ``STRICT_OPTIONS``);
* ``valid_bodies(kind)``: bodies Auth0 accepts for that kind of connection;
* ``VIOLATIONS``: one strategy of ``Case`` per violation family (a valid body plus ONE violation);
* ``multi_violation_cases()``: bodies with 2-5 independent schema violations;
* ``chaos_bodies()``: arbitrary field -> value dicts, JSON and non-JSON.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from identitystore import errors
from identitystore.limits import CREATE_USER_FIELDS, FIELD_DESCRIPTIONS

__all__ = [
    "CONNECTIONS",
    "DB",
    "KINDS",
    "PROVIDERS",
    "STRICT",
    "STRICT_OPTIONS",
    "VIOLATIONS",
    "Case",
    "chaos_bodies",
    "emails",
    "multi_violation_cases",
    "payload_error",
    "phone_numbers",
    "picture_urls",
    "user_ids",
    "usernames",
    "utf16_len",
    "valid_bodies",
]

# -- connections -----------------------------------------------------------------------------------

DB = "Username-Password-Authentication"  # passwordPolicy "good"
#: A database connection with usernames and the strictest legacy password options.
STRICT = "Strict-Members"
CUSTOM_DICTIONARY = ("Correct-Horse-9", "Tr0ub4dor&3x")
STRICT_OPTIONS: Mapping[str, Any] = {
    "requires_username": True,
    "passwordPolicy": "excellent",
    "password_dictionary": {"enable": True, "dictionary": list(CUSTOM_DICTIONARY)},
    "password_no_personal_info": {"enable": True},
}
KINDS = ("database", "strict", "email", "sms")
CONNECTIONS = {"database": DB, "strict": STRICT, "email": "email", "sms": "sms"}
PROVIDERS = {"database": "auth0", "strict": "auth0", "email": "email", "sms": "sms"}
#: Fields each kind requires (CREATE-USER.md section 4), in the order identitystore reports them.
REQUIRED = {
    "database": ("email", "password"),
    "strict": ("email", "password", "username"),
    "email": ("email",),
    "sms": ("phone_number",),
}
#: JSON types of the request properties (Auth0's ``CreateUserRequestContent``).
FIELD_TYPES = {
    "email": "string",
    "phone_number": "string",
    "user_metadata": "object",
    "blocked": "boolean",
    "email_verified": "boolean",
    "phone_verified": "boolean",
    "app_metadata": "object",
    "given_name": "string",
    "family_name": "string",
    "name": "string",
    "nickname": "string",
    "picture": "string",
    "user_id": "string",
    "connection": "string",
    "password": "string",
    "verify_email": "boolean",
    "username": "string",
}
#: ``maxLength`` / ``minLength`` of the string properties that have them.
MAX_LENGTH = {
    "given_name": 150,
    "family_name": 150,
    "name": 300,
    "nickname": 300,
    "user_id": 255,
    "username": 128,
}
MIN_ONE = ("given_name", "family_name", "name", "nickname", "connection", "password", "username")
#: CREATE-USER.md section 10.
RESERVED_APP_METADATA = (
    "__tenant",
    "_id",
    "blocked",
    "clientID",
    "created_at",
    "email_verified",
    "email",
    "globalClientID",
    "global_client_id",
    "identities",
    "lastIP",
    "lastLogin",
    "loginsCount",
    "metadata",
    "multifactor_last_modified",
    "multifactor",
    "updated_at",
    "user_id",
)
PHONE_PATTERN = r"^\+[0-9]{1,15}$"

# -- oracles ---------------------------------------------------------------------------------------

#: What ``\s`` matches in a JS RegExp: WhiteSpace (TAB VT FF ZWNBSP and every Zs) + LineTerminator.
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
#: Python's ``str.isspace`` says yes, JS's ``\s`` says no: fine inside a ``user_id``.
PYTHON_ONLY_WHITESPACE = "\x1c\x1d\x1e\x1f\x85"
USERNAME_SYMBOLS = "@^$.!`-#+'~_"  # CREATE-USER.md section 9
USERNAME_ALPHABET = string.ascii_letters + string.digits + USERNAME_SYMBOLS
SPECIALS = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"  # OWASP set, section 8.1
_CLASSES = {
    "lower": string.ascii_lowercase,
    "upper": string.ascii_uppercase,
    "digit": string.digits,
    "special": SPECIALS,
}
NO_CLASS_LETTERS = "éüñßж日本"  # letters that count in no character class


def utf16_len(text: str) -> int:
    """Length as JavaScript counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


def clip_utf16(text: str, max_units: int) -> str:
    out: list[str] = []
    used = 0
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if used + width > max_units:
            break
        out.append(char)
        used += width
    return "".join(out)


def char_classes(password: str) -> int:
    return sum(1 for chars in _CLASSES.values() if any(c in chars for c in password))


def has_triple(password: str) -> bool:
    units = _units(password)
    return any(units[i] == units[i + 1] == units[i + 2] for i in range(len(units) - 2))


@cache
def common_passwords() -> frozenset[str]:
    """Auth0's default dictionary (SecLists 10k most common), lower-cased."""
    text = (files("identitystore") / "data" / "10k-most-common.txt").read_text(encoding="utf-8")
    return frozenset(line.lower() for line in text.splitlines() if line)


def in_dictionary(password: str) -> bool:
    lowered = password.lower()
    return lowered in common_passwords() or lowered in {w.lower() for w in CUSTOM_DICTIONARY}


def personal_values(body: Mapping[str, Any]) -> list[str]:
    """What the "no personal info" rule looks for (section 8.2), 3+ characters (identitystore's
    documented threshold in ``ProfileData``)."""
    values: list[Any] = []
    email = body.get("email")
    if isinstance(email, str):
        values.append(email.lower().rpartition("@")[0])
    values += [body.get(key) for key in ("name", "username", "nickname")]
    metadata = body.get("user_metadata")
    if isinstance(metadata, Mapping):
        values += [metadata.get(key) for key in ("name", "first", "last")]
    return [v for v in values if isinstance(v, str) and len(v) >= 3]


def contains_personal_info(password: str, body: Mapping[str, Any]) -> bool:
    lowered = password.lower()
    return any(value.lower() in lowered for value in personal_values(body))


def passes_good(password: str) -> bool:
    return utf16_len(password) >= 8 and char_classes(password) >= 3


def passes_excellent(password: str) -> bool:
    return utf16_len(password) >= 10 and char_classes(password) >= 3 and not has_triple(password)


def strict_password_ok(password: str, body: Mapping[str, Any]) -> bool:
    return (
        passes_excellent(password)
        and not in_dictionary(password)
        and not contains_personal_info(password, body)
    )


def js_type(value: Any) -> str:
    """z-schema's ``whatIs`` for a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    raise TypeError(f"not a JSON value: {value!r}")


def payload_error(problem: str, prop: str | None = None) -> str:
    """One sentence of a ``Payload validation error`` (section 3.1)."""
    if prop is None:
        return f"Payload validation error: '{problem}'."
    return f"Payload validation error: '{problem}' on property {prop} ({FIELD_DESCRIPTIONS[prop]})."


def ascii_case_variant(draw: st.DrawFn, text: str) -> str:
    """``text`` with some ASCII letters' case flipped (what lower-casing makes equal again)."""
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(
        c.swapcase() if flip and c.isascii() and c.isalpha() else c
        for c, flip in zip(text, flips, strict=True)
    )


# -- valid values ----------------------------------------------------------------------------------

TEXT_CHARS = st.one_of(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),  # NUL: refused
    st.sampled_from("\x01éß日😀İ\u200b\ufeff"),
)


def text_units(min_units: int, max_units: int, chars: st.SearchStrategy[str] = TEXT_CHARS) -> Any:
    """Text of ``min_units``..``max_units`` UTF-16 units, sometimes exactly ``max_units``."""
    plain = st.text(chars, min_size=min_units, max_size=max(min_units, min(max_units, 40))).map(
        lambda s: clip_utf16(s, max_units)
    )
    full = st.text(chars, min_size=1, max_size=8).map(
        lambda s: clip_utf16(s * (max_units // utf16_len(s) + 1), max_units)
    )
    return st.one_of(plain, full).filter(lambda s: utf16_len(s) >= min_units)


def long_text(over: int, chars: st.SearchStrategy[str] = TEXT_CHARS) -> Any:
    """Text longer than ``over`` UTF-16 units (``over + 1`` .. ``over + 60``)."""
    return st.tuples(st.text(chars, min_size=1, max_size=6), st.integers(1, 60)).map(
        lambda t: _repeat_to(t[0], over + t[1])
    )


def _repeat_to(piece: str, units: int) -> str:
    text = piece * (units // utf16_len(piece) + 1)
    clipped = clip_utf16(text, units)
    return clipped if utf16_len(clipped) == units else clipped + "x"


_LOCAL_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
_ATOM = st.text(st.sampled_from(_LOCAL_CHARS + "éü端"), min_size=1, max_size=12)
_LOCAL = (
    st.lists(_ATOM, min_size=1, max_size=3).map(".".join).filter(lambda s: len(s.encode()) <= 64)
)
_LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,14}[A-Za-z0-9])?", fullmatch=True)
_TLD = st.from_regex(r"[A-Za-z]{2,8}", fullmatch=True)
_HOST = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABEL, min_size=1, max_size=3), _TLD
)


def emails() -> Any:
    """validator.js ``isEmail(require_tld)`` addresses, mixed case, sometimes non-ASCII."""
    return st.builds(lambda local, host: f"{local}@{host}", _LOCAL, _HOST)


def phone_numbers() -> Any:
    """E.164 as Auth0's pattern takes it: ``+`` and 1-15 digits."""
    return st.text(st.sampled_from(string.digits), min_size=1, max_size=15).map("+".__add__)


def _not_email_shaped(username: str) -> bool:
    return "@" not in username or "." not in username.rpartition("@")[2]


def usernames(max_units: int = 15) -> Any:
    """Usernames of the allowed characters, 1..``max_units`` long, never email-shaped."""
    return st.text(st.sampled_from(USERNAME_ALPHABET), min_size=1, max_size=max_units).filter(
        _not_email_shaped
    )


_ID_CHARS = st.one_of(
    st.characters(exclude_categories=("Cs",), exclude_characters=JS_WHITESPACE + "\x00"),
    st.sampled_from(PYTHON_ONLY_WHITESPACE + "|"),
)


def user_ids() -> Any:
    """``^\\S*$`` (JS ``\\S``) and at most 255 units: plain, ``auth0|``-prefixed, long or empty."""
    return st.one_of(
        st.text(_ID_CHARS, min_size=1, max_size=30),
        st.text(_ID_CHARS, min_size=1, max_size=20).map("auth0|".__add__),
        text_units(250, 255, _ID_CHARS),
        st.just(""),
    ).map(lambda s: clip_utf16(s, 255))


_PATH_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%/é"
_IPV4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))


def picture_urls() -> Any:
    """validator.js ``isURL`` URLs: http/https/ftp, host name or IPv4, optional port/path/query."""
    return st.builds(
        lambda scheme, host, port, path, query, fragment: (
            f"{scheme}://{host}"
            + ("" if port is None else f":{port}")
            + path
            + ("" if query is None else f"?{query}")
            + ("" if fragment is None else f"#{fragment}")
        ),
        st.sampled_from(["http", "https", "ftp", "HTTPS"]),
        st.one_of(_HOST, _IPV4),
        st.none() | st.integers(1, 65535),
        st.text(st.sampled_from(_PATH_CHARS), max_size=30).map(lambda p: "/" + p if p else p),
        st.none() | st.text(st.sampled_from(_PATH_CHARS + "?="), max_size=20),
        st.none() | st.text(st.sampled_from(_PATH_CHARS + "#"), max_size=10),
    )


_KEY_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters=".$\x00")
METADATA_KEYS = st.text(_KEY_CHARS, max_size=10)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(TEXT_CHARS, max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(METADATA_KEYS, children, max_size=4)
    ),
    max_leaves=12,
)


def user_metadata() -> Any:
    """Metadata objects: nested JSON with unicode and control characters (no NUL), keys without
    "." or "$"."""
    return st.dictionaries(METADATA_KEYS, JSON_VALUES, max_size=5)


def app_metadata() -> Any:
    """Like ``user_metadata``, without Auth0's reserved top-level keys."""
    keys = METADATA_KEYS.filter(lambda k: k not in RESERVED_APP_METADATA)
    return st.dictionaries(keys, JSON_VALUES, max_size=5)


@st.composite
def strong_passwords(draw: st.DrawFn, min_units: int = 8) -> str:
    """Passwords with 3 or 4 character classes and at least ``min_units`` characters."""
    kinds = draw(
        st.sampled_from(
            [
                ("lower", "upper", "digit"),
                ("lower", "upper", "special"),
                ("lower", "digit", "special"),
                ("upper", "digit", "special"),
                ("lower", "upper", "digit", "special"),
            ]
        )
    )
    required = [draw(st.sampled_from(_CLASSES[kind])) for kind in kinds]
    alphabet = "".join(_CLASSES[kind] for kind in kinds) + NO_CLASS_LETTERS
    filler = draw(
        st.lists(st.sampled_from(alphabet), min_size=max(0, min_units - len(required)), max_size=30)
    )
    return "".join(draw(st.permutations(required + filler)))


def passwords_for(kind: str, body: Mapping[str, Any]) -> Any:
    """A password the connection of ``kind`` accepts for a user with ``body``'s profile."""
    if kind == "strict":
        return strong_passwords(10).filter(lambda pw: strict_password_ok(pw, body))
    return strong_passwords(8)


#: Optional fields every kind takes, with their valid values.
_COMMON_OPTIONAL: dict[str, Any] = {
    "user_id": user_ids(),
    "name": text_units(1, 300),
    "nickname": text_units(1, 300),
    "given_name": text_units(1, 150),
    "family_name": text_units(1, 150),
    "picture": picture_urls(),
    "blocked": st.booleans(),
    "user_metadata": user_metadata(),
    "app_metadata": app_metadata(),
}


@st.composite
def valid_bodies(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A body (without ``connection``) the connection of ``kind`` accepts, keys in random order."""
    body: dict[str, Any] = {}
    if kind == "sms":
        body["phone_number"] = draw(phone_numbers())
    else:
        body["email"] = draw(emails())
    if kind == "strict":
        body["username"] = draw(usernames())
    optional = dict(_COMMON_OPTIONAL)
    if kind == "sms":
        optional["phone_verified"] = st.booleans()
    else:
        optional["email_verified"] = st.booleans()
        optional["verify_email"] = st.booleans()
    for name, values in optional.items():
        if draw(st.booleans()):
            body[name] = draw(values)
    if kind in ("database", "strict"):
        body["password"] = draw(passwords_for(kind, body))
    order = draw(st.permutations(list(body)))
    return {key: body[key] for key in order}


# -- one violation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A create_user call that must fail with exactly this error, writing nothing.

    ``setup`` are (connection, body) pairs created first (for uniqueness violations).
    """

    label: str
    connection: Any
    fields: dict[str, Any]
    error: type[errors.IdentityStoreError]
    status_code: int
    error_code: str | None
    message: str
    setup: tuple[tuple[str, dict[str, Any]], ...] = ()
    sentences: tuple[str, ...] = field(default=())


def _invalid_body(label: str, connection: Any, fields: dict[str, Any], *sentences: str) -> Case:
    return Case(
        label,
        connection,
        fields,
        errors.PayloadValidationError,
        400,
        "invalid_body",
        " (also) ".join(sentences),
        sentences=sentences,
    )


def _json_of_type(type_name: str) -> Any:
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
    assert js_type(value) == actual
    return value, payload_error(f"Expected type {expected} but found type {actual}", prop)


@st.composite
def invalid_emails(draw: st.DrawFn) -> str:
    """Strings validator.js ``isEmail(require_tld)`` refuses."""
    local, other, host = draw(_LOCAL), draw(_ATOM), draw(_HOST)
    label = draw(_LABEL)
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
    digits = st.text(st.sampled_from(string.digits), min_size=1, max_size=15)
    number = draw(digits)
    return draw(
        st.sampled_from(
            [
                "",
                "+",
                number,  # no +
                "++" + number,
                "+"
                + number
                + draw(st.text(st.sampled_from(string.digits), min_size=16, max_size=25))[
                    : 25 - len(number)
                ],
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
    host = draw(_HOST)
    local = draw(_LOCAL)
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
def ids_with_whitespace(draw: st.DrawFn) -> str:
    base = draw(st.text(_ID_CHARS, max_size=40))
    at = draw(st.integers(0, len(base)))
    return base[:at] + draw(st.sampled_from(JS_WHITESPACE)) + base[at:]


@st.composite
def too_long(draw: st.DrawFn, prop: str) -> tuple[str, str]:
    chars = _ID_CHARS if prop == "user_id" else TEXT_CHARS
    if prop == "username":
        chars = st.sampled_from(USERNAME_ALPHABET)
    value = draw(long_text(MAX_LENGTH[prop], chars))
    sentence = payload_error(
        f"String is too long ({utf16_len(value)} chars), maximum {MAX_LENGTH[prop]}", prop
    )
    return value, sentence


def _too_short(prop: str) -> tuple[str, str]:
    return "", payload_error("String is too short (0 chars), minimum 1", prop)


def bad_emails() -> Any:
    return invalid_emails().map(
        lambda v: (
            v,
            payload_error(f"Object didn't pass validation for format email: {v}", "email"),
        )
    )


def bad_phones() -> Any:
    return invalid_phones().map(
        lambda v: (
            v,
            payload_error(f"String does not match pattern {PHONE_PATTERN}: {v}", "phone_number"),
        )
    )


def bad_pictures() -> Any:
    return invalid_pictures().map(
        lambda v: (
            v,
            payload_error(f"Object didn't pass validation for format strict-uri: {v}", "picture"),
        )
    )


def bad_user_ids() -> Any:
    return ids_with_whitespace().map(
        lambda v: (v, payload_error(f"String does not match pattern ^\\S*$: {v}", "user_id"))
    )


def length_breakers(prop: str) -> Any:
    options: list[Any] = []
    if prop in MAX_LENGTH:
        options.append(too_long(prop))
    if prop in MIN_ONE:
        options.append(st.just(_too_short(prop)))
    return st.one_of(options)


_FORMAT_BREAKERS = {
    "email": bad_emails,
    "phone_number": bad_phones,
    "picture": bad_pictures,
    "user_id": bad_user_ids,
}


def schema_breakers(prop: str) -> Any:
    """(value, sentence) pairs that break ``prop`` with exactly one schema sentence."""
    options: list[Any] = [wrong_type(prop)]
    if prop in _FORMAT_BREAKERS:
        options.append(_FORMAT_BREAKERS[prop]())
    if prop in MAX_LENGTH or prop in MIN_ONE:
        options.append(length_breakers(prop))
    return st.one_of(options)


def _with(body: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


@st.composite
def _schema_field_case(
    draw: st.DrawFn, breakers: Callable[[str], Any], props: tuple[str, ...]
) -> Case:
    kind = draw(st.sampled_from(KINDS))
    body = draw(valid_bodies(kind))
    prop = draw(st.sampled_from(props))
    value, sentence = draw(breakers(prop))
    if prop == "connection":
        return _invalid_body(f"{prop} on {kind}", value, body, sentence)
    return _invalid_body(
        f"{prop} on {kind}", CONNECTIONS[kind], _with(body, **{prop: value}), sentence
    )


@st.composite
def unknown_property_cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(KINDS))
    body = draw(valid_bodies(kind))
    keys = draw(
        st.lists(
            st.text(max_size=12).filter(lambda k: k not in CREATE_USER_FIELDS),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    for key in keys:
        body[key] = draw(JSON_VALUES)
    order = draw(st.permutations(list(body)))
    body = {key: body[key] for key in order}
    shown = ",".join(key for key in body if key in keys)
    sentence = payload_error(f"Additional properties not allowed: {shown}")
    return _invalid_body(f"unknown on {kind}", CONNECTIONS[kind], body, sentence)


@st.composite
def _bad_key(draw: st.DrawFn) -> str:
    text = draw(METADATA_KEYS)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(st.sampled_from(".$")) + text[at:]


@st.composite
def metadata_key_cases(draw: st.DrawFn) -> Case:
    """A '.' or '$' in a metadata field name, at the top, in an object or in an array."""
    kind = draw(st.sampled_from(KINDS))
    body = draw(valid_bodies(kind))
    prop = draw(st.sampled_from(["user_metadata", "app_metadata"]))
    metadata = dict(body.get(prop) or {})
    bad = draw(_bad_key())
    value = draw(JSON_VALUES)
    where = draw(st.sampled_from(["top", "object", "array"]))
    if where == "top":
        metadata[bad] = value
        path = f"{prop}.{bad}"
    else:
        outer = draw(METADATA_KEYS.filter(lambda k: k not in RESERVED_APP_METADATA))
        if where == "object":
            metadata[outer] = {bad: value}
            path = f"{prop}.{outer}.{bad}"
        else:
            metadata[outer] = [{bad: value}]
            path = f"{prop}.{outer}[0].{bad}"
    sentence = payload_error(f"Field names must not contain '.' or '$': {path}", prop)
    return _invalid_body(
        f"{where} key in {prop}", CONNECTIONS[kind], _with(body, **{prop: metadata}), sentence
    )


@st.composite
def reserved_key_cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(KINDS))
    body = draw(valid_bodies(kind))
    key = draw(st.sampled_from(RESERVED_APP_METADATA))
    metadata = {**(body.get("app_metadata") or {}), key: draw(JSON_VALUES)}
    order = draw(st.permutations(list(metadata)))
    metadata = {k: metadata[k] for k in order}
    sentence = payload_error(
        f"Reserved app_metadata field names are not allowed: {key}", "app_metadata"
    )
    return _invalid_body(
        f"reserved {key}", CONNECTIONS[kind], _with(body, app_metadata=metadata), sentence
    )


_NOT_ALLOWED = {
    "database": {"phone_number": phone_numbers(), "phone_verified": st.booleans()},
    "strict": {"phone_number": phone_numbers(), "phone_verified": st.booleans()},
    "email": {
        "phone_number": phone_numbers(),
        "phone_verified": st.booleans(),
        "password": strong_passwords(),
    },
    "sms": {
        "email": emails(),
        "email_verified": st.booleans(),
        "verify_email": st.booleans(),
        "password": strong_passwords(),
    },
}


@st.composite
def field_not_allowed_cases(draw: st.DrawFn) -> Case:
    """A schema-valid field the connection's strategy does not take (section 7 #12)."""
    kind = draw(st.sampled_from(KINDS))
    body = draw(valid_bodies(kind))
    prop = draw(st.sampled_from(sorted(_NOT_ALLOWED[kind])))
    fields = _with(body, **{prop: draw(_NOT_ALLOWED[kind][prop])})
    return Case(
        f"{prop} on {kind}",
        CONNECTIONS[kind],
        fields,
        errors.FieldNotAllowedError,
        400,
        "invalid_body",
        f'"{prop}" is not allowed',
    )


@st.composite
def username_not_allowed_cases(draw: st.DrawFn) -> Case:
    """Any schema-valid username on a connection without ``requires_username`` (section 7 #11)."""
    kind = draw(st.sampled_from(["database", "email", "sms"]))
    body = draw(valid_bodies(kind))
    username = draw(st.one_of(usernames(), text_units(1, 128)))
    return Case(
        f"username on {kind}",
        CONNECTIONS[kind],
        _with(body, username=username),
        errors.UsernameNotAllowedError,
        400,
        "invalid_body",
        "Cannot set username for connection without requires_username.",
    )


@st.composite
def missing_field_cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(KINDS))
    body = draw(valid_bodies(kind))
    prop = draw(st.sampled_from(REQUIRED[kind]))
    del body[prop]
    return _invalid_body(
        f"no {prop} on {kind}",
        CONNECTIONS[kind],
        body,
        payload_error(f"Missing required property: {prop}"),
    )


@st.composite
def invalid_username_cases(draw: st.DrawFn) -> Case:
    """Username length, characters or email shape on ``STRICT`` (default range 1-15)."""
    body = draw(valid_bodies("strict"))
    what = draw(st.sampled_from(["too_long", "too_long_utf16", "characters", "line-end", "email"]))
    if what == "too_long":
        username = draw(st.text(st.sampled_from(USERNAME_ALPHABET), min_size=16, max_size=128))
        message = "The username must not be longer than 15 characters."
    elif what == "too_long_utf16":  # 8-15 astral characters: 16-30 UTF-16 units, as JS counts
        username = draw(st.text(st.characters(min_codepoint=0x10000), min_size=8, max_size=15))
        message = "The username must not be longer than 15 characters."
    elif what == "characters":
        bad = st.one_of(
            st.sampled_from(' %&*()=[]{}|\\/:;"<>,?\t\n'),
            st.characters(min_codepoint=0x80, exclude_categories=("Cs",)),
        )
        good = draw(st.text(st.sampled_from(USERNAME_ALPHABET), max_size=12))
        at = draw(st.integers(0, len(good)))
        username = good[:at] + draw(bad) + good[at:]
        message = "The username has invalid characters."
    elif what == "line-end":  # JS '$' does not match before a final line break
        username = draw(usernames(14)) + "\n"
        message = "The username has invalid characters."
    else:
        local = draw(
            st.text(st.sampled_from(string.ascii_letters + string.digits), min_size=1, max_size=5)
        )
        domain = draw(st.text(st.sampled_from(string.ascii_lowercase), min_size=1, max_size=4))
        tld = draw(st.text(st.sampled_from(string.ascii_letters), min_size=2, max_size=3))
        username = f"{local}@{domain}.{tld}"
        message = "The username cannot be an email."
    body = _with(body, username=username)
    body["password"] = draw(passwords_for("strict", body))
    return Case(
        f"username {what}",
        STRICT,
        body,
        errors.InvalidUsernameError,
        400,
        "invalid_body",
        message,
    )


@st.composite
def weak_password_cases(draw: st.DrawFn) -> Case:
    """Passwords below the connection's level (good on ``DB``, excellent on ``STRICT``)."""
    kind = draw(st.sampled_from(["database", "strict"]))
    body = draw(valid_bodies(kind))
    minimum = 10 if kind == "strict" else 8
    what = draw(
        st.sampled_from(
            ["short", "classes", "triple"] if kind == "strict" else ["short", "classes"]
        )
    )
    if what == "short":
        password = draw(text_units(1, minimum - 1))
    elif what == "classes":
        kinds = draw(
            st.lists(st.sampled_from(sorted(_CLASSES)), min_size=1, max_size=2, unique=True)
        )
        alphabet = "".join(_CLASSES[k] for k in kinds) + NO_CLASS_LETTERS
        password = draw(st.text(st.sampled_from(alphabet), min_size=minimum, max_size=30))
    else:
        strong = draw(strong_passwords(10).filter(lambda pw: not has_triple(pw)))
        at = draw(st.integers(0, len(strong)))
        char = draw(st.sampled_from(string.ascii_letters + string.digits + SPECIALS))
        password = strong[:at] + char * 3 + strong[at:]
    assert not (passes_excellent(password) if kind == "strict" else passes_good(password))
    return Case(
        f"weak {what} on {kind}",
        CONNECTIONS[kind],
        _with(body, password=password),
        errors.PasswordStrengthError,
        400,
        None,
        "PasswordStrengthError: Password is too weak",
    )


@cache
def _dictionary_words() -> tuple[str, ...]:
    """Dictionary words that pass the excellent level once some letters are upper-cased."""
    words = [
        w
        for w in sorted(common_passwords())
        if len(w) >= 10
        and not has_triple(w)
        and sum(c.isascii() and c.isalpha() for c in w) >= 2
        and char_classes(w.upper() + w) >= 3
    ]
    return (*words, *CUSTOM_DICTIONARY)


@st.composite
def dictionary_cases(draw: st.DrawFn) -> Case:
    """A common (10k list) or custom-listed password, in any ASCII case, on ``STRICT``."""
    body = draw(valid_bodies("strict"))
    word = draw(st.sampled_from(_dictionary_words()))
    password = list(ascii_case_variant(draw, word))
    letters = [i for i, c in enumerate(password) if c.isascii() and c.isalpha()]
    if not any(password[i].isupper() for i in letters):
        password[letters[0]] = password[letters[0]].upper()
    if not any(password[i].islower() for i in letters):
        password[letters[-1]] = password[letters[-1]].lower()
    text = "".join(password)
    assert passes_excellent(text), text
    return Case(
        "dictionary",
        STRICT,
        _with(body, password=text),
        errors.PasswordDictionaryError,
        400,
        None,
        "PasswordDictionaryError: Password is too common",
    )


@st.composite
def personal_info_cases(draw: st.DrawFn) -> Case:
    """A strong password holding the email local part, username, name or nickname."""
    body = draw(valid_bodies("strict"))
    sources = personal_values(body)
    if not sources:
        body["username"] = draw(usernames().filter(lambda u: len(u) >= 3))
        sources = personal_values(body)
    value = draw(st.sampled_from(sources))
    prefix = draw(strong_passwords(10))
    suffix = draw(
        st.text(st.sampled_from(string.ascii_letters + string.digits + "!#%"), max_size=4)
    )
    at = draw(st.integers(0, len(prefix)))
    password = prefix[:at] + ascii_case_variant(draw, value) + prefix[at:] + suffix
    assume(passes_excellent(password) and not in_dictionary(password))
    assert contains_personal_info(password, body)
    return Case(
        "personal info",
        STRICT,
        _with(body, password=password),
        errors.PasswordNoUserInfoError,
        400,
        None,
        "PasswordNoUserInfoError: Password contains user information",
    )


def _identifiers(kind: str, body: Mapping[str, Any]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for key in ("email", "username", "phone_number"):
        if isinstance(body.get(key), str):
            out.add((key, body[key].lower()))
    if body.get("user_id"):
        out.add(("user_id", PROVIDERS[kind] + "|" + body["user_id"].lower()))
    return out


@st.composite
def duplicate_cases(draw: st.DrawFn) -> Case:
    """A second user taking the first one's email, username, phone or user_id (section 11)."""
    what = draw(st.sampled_from(["email", "username", "phone_number", "user_id", "user_id-other"]))
    first_kind = {
        "email": st.sampled_from(["database", "strict", "email"]),
        "username": st.just("strict"),
        "phone_number": st.just("sms"),
        "user_id": st.sampled_from(KINDS),
        "user_id-other": st.sampled_from(["database", "strict"]),
    }[what]
    kind = draw(first_kind)
    second_kind = kind
    if what == "user_id-other":  # both database connections share the auth0| prefix
        second_kind = "strict" if kind == "database" else "database"
    first = draw(valid_bodies(kind))
    if what.startswith("user_id"):
        first["user_id"] = draw(user_ids().filter(bool))
    taken = _identifiers(kind, first)
    second = draw(
        valid_bodies(second_kind).filter(lambda b: not (_identifiers(second_kind, b) & taken))
    )
    prop = what.removesuffix("-other")
    copied = first[prop]
    second[prop] = ascii_case_variant(draw, copied) if prop in ("email", "username") else copied
    if second_kind == "strict" and not strict_password_ok(second["password"], second):
        second["password"] = draw(passwords_for("strict", second))
    if prop == "username":
        error: type[errors.IdentityStoreError] = errors.UsernameInUseError
        status, message = 400, "The username provided is in use already."
    else:
        error, status, message = errors.UserExistsError, 409, "The user already exists."
    return Case(
        f"duplicate {what} on {second_kind}",
        CONNECTIONS[second_kind],
        second,
        error,
        status,
        "auth0_idp_error",
        message,
        setup=((CONNECTIONS[kind], first),),
    )


@st.composite
def unknown_connection_cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(KINDS))
    body = draw(valid_bodies(kind))
    name = draw(
        st.text(TEXT_CHARS, min_size=1, max_size=30).filter(lambda n: n not in CONNECTIONS.values())
    )
    return Case(
        "unknown connection",
        name,
        body,
        errors.UnknownConnectionError,
        400,
        "inexistent_connection",
        "The connection does not exist.",
    )


_ALL_PROPS = tuple(CREATE_USER_FIELDS)

#: Violation family -> strategy of ``Case``: a valid body with exactly one thing wrong.
VIOLATIONS: dict[str, Any] = {
    "wrong-type": _schema_field_case(wrong_type, _ALL_PROPS),
    "email-format": _schema_field_case(lambda _: bad_emails(), ("email",)),
    "phone-pattern": _schema_field_case(lambda _: bad_phones(), ("phone_number",)),
    "picture-format": _schema_field_case(lambda _: bad_pictures(), ("picture",)),
    "user-id-pattern": _schema_field_case(lambda _: bad_user_ids(), ("user_id",)),
    "string-length": _schema_field_case(length_breakers, (*MAX_LENGTH, *MIN_ONE)),
    "unknown-property": unknown_property_cases(),
    "metadata-key": metadata_key_cases(),
    "reserved-app-metadata": reserved_key_cases(),
    "username-not-allowed": username_not_allowed_cases(),
    "field-not-allowed": field_not_allowed_cases(),
    "missing-required": missing_field_cases(),
    "invalid-username": invalid_username_cases(),
    "weak-password": weak_password_cases(),
    "dictionary-password": dictionary_cases(),
    "personal-info-password": personal_info_cases(),
    "duplicate": duplicate_cases(),
    "unknown-connection": unknown_connection_cases(),
}

# -- several violations ----------------------------------------------------------------------------

_UNKNOWN = "<unknown properties>"


@st.composite
def multi_violation_cases(draw: st.DrawFn) -> Case:
    """2-5 independent schema violations in one body (each one sentence), keys in random order.

    Expected order (z-schema): the root's ``Additional properties not allowed`` first, then the
    properties' sentences walking the body's keys in reverse; ``connection`` is the body's first
    key (``create_user`` puts it there), so its sentence comes last.
    """
    kind = draw(st.sampled_from(KINDS))
    body = draw(valid_bodies(kind))
    slots = draw(
        st.lists(st.sampled_from([*_ALL_PROPS, _UNKNOWN]), min_size=2, max_size=5, unique=True)
    )
    connection: Any = CONNECTIONS[kind]
    sentences: dict[str, str] = {}
    unknown: list[str] = []
    for slot in slots:
        if slot == _UNKNOWN:
            unknown = draw(
                st.lists(
                    st.text(max_size=12).filter(lambda k: k not in CREATE_USER_FIELDS),
                    min_size=1,
                    max_size=3,
                    unique=True,
                )
            )
            for key in unknown:
                body[key] = draw(JSON_VALUES)
            continue
        value, sentences[slot] = draw(schema_breakers(slot))
        if slot == "connection":
            connection = value
        else:
            body[slot] = value
    order = draw(st.permutations(list(body)))
    body = {key: body[key] for key in order}
    expected: list[str] = []
    if unknown:
        shown = ",".join(key for key in body if key in unknown)
        expected.append(payload_error(f"Additional properties not allowed: {shown}"))
    expected += [sentences[key] for key in reversed(["connection", *body]) if key in sentences]
    return _invalid_body(f"{len(slots)} violations on {kind}", connection, body, *expected)


# -- anything --------------------------------------------------------------------------------------


def _nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


class HugeInt(int):
    """An int too long for ``repr`` (Python refuses 4300+ digits); behaves as ``int`` otherwise."""

    def __repr__(self) -> str:
        return f"HugeInt(<{self.bit_length()} bits>)"


_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
NON_JSON = st.one_of(
    st.binary(max_size=8),
    st.sets(st.integers(), max_size=3),
    st.frozensets(st.text(max_size=3), max_size=3),
    st.datetimes(timezones=st.just(timezone.utc)) | st.just(datetime(2020, 1, 1)),
    st.sampled_from([math.nan, math.inf, -math.inf, 10**400, 2**1024, Decimal("1.5"), 1j]),
    st.integers(min_value=2**64) | st.integers(max_value=-(2**64)),
    st.integers(4300, 6000).map(lambda digits: HugeInt(-(10**digits))),
    st.tuples(st.text(max_size=3), _SURROGATES, st.text(max_size=3)).map("".join),
    st.sampled_from(["x", "é", "😀", " ", "\x00"]).map(lambda c: c * 100_000),
    st.integers(30, 2000).map(_nested_list),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.dictionaries(st.text(max_size=4), JSON_SCALARS, max_size=3).map(MappingProxyType),
    st.just(object()),
)
_ANY_KEYS = st.one_of(
    METADATA_KEYS,
    st.sampled_from(["a.b", "$set", "email", "name", "first", "user_id", ""]),
    st.integers(),
    st.none(),
)
ANY_VALUES = st.recursive(
    st.one_of(JSON_SCALARS, NON_JSON),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(_ANY_KEYS, children, max_size=3)
        | st.tuples(children, children)
    ),
    max_leaves=8,
)
_FIELD_NAMES = st.one_of(
    st.sampled_from([f for f in CREATE_USER_FIELDS if f != "connection"]),
    st.text(max_size=15).filter(lambda k: k != "connection"),
)


#: Python values that look like JSON to a careless ``isinstance`` check.
ALMOST_JSON = st.one_of(
    st.integers(4300, 6000).map(lambda digits: HugeInt(10**digits)),
    st.sampled_from([10**400, -(2**1024), 2**1024 - 1, math.nan, math.inf]),
    st.lists(JSON_SCALARS, max_size=3).map(tuple),
    st.dictionaries(METADATA_KEYS, JSON_SCALARS, max_size=3).map(MappingProxyType),
    st.floats(allow_nan=False, allow_infinity=False).map(Decimal),
)
_METADATA_CHAOS = st.one_of(
    st.builds(  # valid metadata but for one odd value
        lambda metadata, key, value: {**metadata, key: value},
        st.dictionaries(METADATA_KEYS, JSON_VALUES, max_size=3),
        METADATA_KEYS,
        ALMOST_JSON,
    ),
    st.dictionaries(_ANY_KEYS, ANY_VALUES, max_size=4),
    st.dictionaries(METADATA_KEYS, ANY_VALUES, max_size=4).map(MappingProxyType),
    ANY_VALUES,
)
_CHAOS_METADATA_FIELDS = st.fixed_dictionaries(
    {}, optional={"user_metadata": _METADATA_CHAOS, "app_metadata": _METADATA_CHAOS}
)


@st.composite
def chaos_bodies(draw: st.DrawFn) -> tuple[Any, dict[str, Any]]:
    """(connection, fields): anything at all, or a valid body with some fields overwritten.

    ``connection`` is never among the fields: ``create_user`` refuses that with a ``TypeError``
    (a programming error in the call, not a bad request).
    """
    connection = draw(
        st.one_of(
            st.sampled_from(list(CONNECTIONS.values())),
            st.text(max_size=20),
            ANY_VALUES,
        )
    )
    if draw(st.booleans()):
        fields = {
            **draw(st.dictionaries(_FIELD_NAMES, ANY_VALUES, max_size=8)),
            **draw(_CHAOS_METADATA_FIELDS),
        }
    else:
        kind = draw(st.sampled_from(KINDS))
        fields = draw(valid_bodies(kind))
        for key in draw(st.lists(st.sampled_from(list(fields)), max_size=2, unique=True)):
            del fields[key]
        fields = {
            **fields,
            **draw(st.dictionaries(_FIELD_NAMES, ANY_VALUES, max_size=3)),
            **draw(_CHAOS_METADATA_FIELDS),
        }
        if draw(st.booleans()):
            connection = CONNECTIONS[kind]
    return connection, fields
