"""Request bodies to validated input: Auth0's schema, then the connection's own rules.

Stage A (``check_create_body``) needs no connection: JSON types, formats, lengths, unknown and
missing properties, metadata rules. Stage C/D (``validate_for_connection``) applies the
connection: which fields its strategy takes and requires, username and phone rules. ``new_user``
turns the validated input into the user Auth0 would create.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from . import _formats, limits
from ._jsonschema import has_lone_surrogate, has_nul, js_regex, json_type, problems
from ._models import (
    GRAVATAR_HOST,
    Connection,
    User,
    copy_json,
    derived_profile,
    format_timestamp,
    new_object_id,
)
from .connections import ConnectionStrategy
from .errors import (
    FieldNotAllowedError,
    InvalidUsernameError,
    PayloadValidationError,
    UsernameNotAllowedError,
    echo,
)

__all__ = [
    "CONNECTION_OPTIONS_SCHEMA",
    "CREATE_USER_SCHEMA",
    "LENIENT_RULES",
    "UPDATE_USER_SCHEMA",
    "CreateUserInput",
    "check_connection",
    "check_create_body",
    "check_merged_metadata",
    "check_update_body",
    "json_problems",
    "metadata_problems",
    "new_user",
    "plain_create_input",
    "username_limits",
    "validate_for_connection",
    "validate_update",
]


def _string(name: str, **rules: Any) -> dict[str, Any]:
    return {"type": "string", "description": limits.FIELD_DESCRIPTIONS[name], **rules}


def _boolean(name: str) -> dict[str, Any]:
    return {"type": "boolean", "description": limits.FIELD_DESCRIPTIONS[name]}


def _object(name: str) -> dict[str, Any]:
    return {"type": "object", "description": limits.FIELD_DESCRIPTIONS[name]}


#: Auth0's ``CreateUserRequestContent`` (placeholder defaults left out).
CREATE_USER_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["connection"],
    "properties": {
        "email": _string("email", format="email"),
        "phone_number": _string("phone_number", pattern=limits.PHONE_NUMBER_PATTERN),
        "user_metadata": _object("user_metadata"),
        "blocked": _boolean("blocked"),
        "email_verified": _boolean("email_verified"),
        "phone_verified": _boolean("phone_verified"),
        "app_metadata": _object("app_metadata"),
        "given_name": _string("given_name", minLength=1, maxLength=150),
        "family_name": _string("family_name", minLength=1, maxLength=150),
        "name": _string("name", minLength=1, maxLength=300),
        "nickname": _string("nickname", minLength=1, maxLength=300),
        "picture": _string("picture", format="strict-uri"),
        "user_id": _string(
            "user_id", minLength=0, maxLength=limits.USER_ID_MAX, pattern=limits.USER_ID_PATTERN
        ),
        "connection": _string("connection", minLength=1),
        "password": _string("password", minLength=1),
        "verify_email": _boolean("verify_email"),
        "username": _string("username", minLength=1, maxLength=limits.USERNAME_SCHEMA_MAX),
    },
}

#: The Auth0 rules a store can relax (``IdentityStore(lenient=...)``), each with what relaxing does.
LENIENT_RULES: Mapping[str, str] = {
    "email_format": "any string is accepted as an email address",
    "password_policy": "any non-empty password is accepted (the connection's policy and history "
    "are not checked; passwords are still hashed)",
    "phone_number_format": "any string is accepted as a phone number (no E.164 pattern, no "
    "phonenumbers check)",
    "unknown_properties": "unknown body properties are ignored instead of refused",
    "username_rules": "usernames of any length and characters are accepted (still at most "
    f"{limits.USERNAME_SCHEMA_MAX} characters)",
}

#: What each lenient rule takes out of a schema: (property, keyword).
_RELAXED_KEYWORDS = {
    "email_format": ("email", "format"),
    "phone_number_format": ("phone_number", "pattern"),
}


@cache
def _relaxed(schema_name: str, lenient: frozenset[str]) -> Mapping[str, Any]:
    """``CREATE_USER_SCHEMA`` or ``UPDATE_USER_SCHEMA`` without the checks ``lenient`` relaxes."""
    schema = CREATE_USER_SCHEMA if schema_name == "create" else UPDATE_USER_SCHEMA
    properties = dict(schema["properties"])
    for rule in lenient & _RELAXED_KEYWORDS.keys():
        name, keyword = _RELAXED_KEYWORDS[rule]
        properties[name] = {k: v for k, v in properties[name].items() if k != keyword}
    additional = "unknown_properties" in lenient or schema.get("additionalProperties", True)
    return {**schema, "properties": properties, "additionalProperties": additional}


def _known(
    body: Mapping[str, Any], schema: Mapping[str, Any], lenient: frozenset[str]
) -> Mapping[str, Any]:
    """``body`` without the properties ``schema`` lacks when ``unknown_properties`` is lenient."""
    if "unknown_properties" not in lenient:
        return body
    return {k: v for k, v in body.items() if k in schema["properties"]}


_NO_LIMIT = 1 << 62
_PLAIN_FORMATS = {"email": _formats.is_email}  # the string formats a plain body may use


def _plain_rule(schema: Mapping[str, Any]) -> Any:
    """``bool`` for a boolean property; for a string one (min, max length, check or None)."""
    if schema["type"] == "boolean":
        return bool
    pattern, fmt = schema.get("pattern"), schema.get("format")
    if fmt is not None and fmt not in _PLAIN_FORMATS:
        raise ValueError(f"a plain body cannot check the format {fmt!r}")
    check = js_regex(pattern).search if pattern else _PLAIN_FORMATS.get(fmt or "")
    return schema.get("minLength", 0), schema.get("maxLength", _NO_LIMIT), check


#: ``plain_create_input``'s properties, read from ``CREATE_USER_SCHEMA``: ``bool``, or (min, max
#: length, check) of an ASCII string (ASCII: one UTF-16 unit per character). Left out: the
#: metadata objects, and ``picture`` and ``user_id``, whose checks only the full path makes.
_PLAIN_RULES: Mapping[str, Any] = {
    key: _plain_rule(schema)
    for key, schema in CREATE_USER_SCHEMA["properties"].items()
    if key not in ("user_metadata", "app_metadata", "picture", "user_id")
}

_USERNAME_CHARS = re.compile("^[A-Za-z0-9" + re.escape(limits.USERNAME_SYMBOLS) + "]*$")


@dataclass(slots=True)
class CreateUserInput:
    """A create-user request that passed validation, normalised (emails and usernames lower-cased).

    ``password`` is kept out of the repr; ``send_verification_email`` applies Auth0's
    ``verify_email`` / ``email_verified`` table. Not frozen: it lives for one call, and a frozen
    dataclass costs a microsecond more to build on every create.
    """

    connection: str
    email: str | None = None
    username: str | None = None
    phone_number: str | None = None
    password: str | None = field(default=None, repr=False)
    user_id: str | None = None
    email_verified: bool | None = None
    phone_verified: bool | None = None
    blocked: bool | None = None
    name: str | None = None
    nickname: str | None = None
    picture: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    user_metadata: Mapping[str, Any] | None = None
    app_metadata: Mapping[str, Any] | None = None
    send_verification_email: bool = False


def check_create_body(body: Mapping[str, Any], *, lenient: frozenset[str] = frozenset()) -> None:
    """Raise ``PayloadValidationError`` listing every schema and metadata problem of ``body``."""
    found = problems(body, _relaxed("create", lenient) if lenient else CREATE_USER_SCHEMA)
    for key in ("user_metadata", "app_metadata"):
        value = body.get(key)
        if isinstance(value, Mapping):
            found.extend(_metadata_problems(key, value))
    if found:
        raise PayloadValidationError(found)


def _metadata_problems(
    prop: str, value: Mapping[Any, Any], description: str | None = None
) -> list[str]:
    description = description or limits.FIELD_DESCRIPTIONS[prop]
    return [
        PayloadValidationError.format(text, prop, description)
        for _, text in metadata_problems(prop, value)
    ]


def metadata_problems(prop: str, value: Mapping[Any, Any]) -> list[tuple[str, str]]:
    """The problems of ``user_metadata`` or ``app_metadata`` (``prop``) as (code, text): reserved
    ``app_metadata`` keys (``NOT_PASSED``), what ``json_problems`` finds (``INVALID_FORMAT``), more
    than ``METADATA_MAX_BYTES`` (``PROFILE_SIZE_EXCEEDED``), Auth0's import error codes."""
    found: list[tuple[str, str]] = []
    if prop == "app_metadata":
        reserved = [k for k in value if k in limits.APP_METADATA_RESERVED_KEYS]
        if reserved:
            found.append(
                (
                    "NOT_PASSED",
                    f"Reserved app_metadata field names are not allowed: {','.join(reserved)}",
                )
            )
    walk_problems = json_problems(value, prop)
    found.extend(("INVALID_FORMAT", problem) for problem in walk_problems)
    if not walk_problems:
        size = _stored_size(value)
        if size > limits.METADATA_MAX_BYTES:
            found.append(
                (
                    "PROFILE_SIZE_EXCEEDED",
                    f"Metadata is too large ({size} bytes), maximum {limits.METADATA_MAX_BYTES}",
                )
            )
    return found


_INT64 = 1 << 63
#: Compact JSON keeping non-ASCII characters, as metadata is stored (made once: ``json.dumps``
#: with options makes one a call).
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _stored_size(value: Mapping[Any, Any]) -> int:
    """The UTF-8 size of JSON-valid ``value`` as stored: ``copy_json``'s form, compact."""
    try:
        text = _COMPACT.encode(value)
    except TypeError:  # a mapping json cannot write (a read-only one): its plain copy
        text = "-0.0"
    if "-0.0" in text:  # copy_json writes -0.0 as 0.0 (rare: then the copy is made)
        text = _COMPACT.encode(copy_json(value))
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def json_problems(value: Any, path: str, *, metadata: bool = True) -> list[str]:
    """What keeps ``value`` from being stored as JSON on every backend: non-JSON values and keys,
    lone surrogates, NUL characters, nesting deeper than ``METADATA_MAX_DEPTH``; for
    ``metadata``, also key names with ``.`` or ``$``."""
    found: list[str] = []
    _walk_json(value, path, 1, found, metadata=metadata)
    return found


def _walk_json(value: Any, path: str, depth: int, found: list[str], *, metadata: bool) -> None:
    kind = type(value)
    if kind is bool or value is None or (kind is str and value.isascii() and "\x00" not in value):
        return  # the common scalars, at once
    if kind is int and -_INT64 <= value < _INT64:
        return
    noun = "Metadata" if metadata else "Value"
    container = isinstance(value, (Mapping, list, tuple))
    if container and depth > limits.METADATA_MAX_DEPTH:  # a scalar is no level of nesting
        found.append(
            f"{noun} is nested too deeply at {echo(path)}, "
            f"maximum depth {limits.METADATA_MAX_DEPTH}"
        )
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                found.append(
                    f"Field names must be strings, found type {json_type(key)} at {echo(path)}"
                )
                continue
            child = f"{path}.{key}"
            if metadata and ("." in key or "$" in key):
                found.append(f"Field names must not contain '.' or '$': {echo(child)}")
            elif has_lone_surrogate(key):
                found.append(f"Field name contains a lone surrogate at {echo(path)}")
                continue
            elif has_nul(key):
                found.append(f"Field name contains a NUL character (U+0000) at {echo(path)}")
                continue
            _walk_json(item, child, depth + 1, found, metadata=metadata)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _walk_json(item, f"{path}[{index}]", depth + 1, found, metadata=metadata)
    elif isinstance(value, str):
        if has_lone_surrogate(value):
            found.append(f"String contains a lone surrogate at {echo(path)}")
        elif has_nul(value):
            found.append(f"String contains a NUL character (U+0000) at {echo(path)}")
    elif json_type(value) not in ("null", "boolean", "integer", "number"):
        found.append(f"Expected a JSON value but found type {json_type(value)} at {echo(path)}")


def validate_for_connection(
    body: Mapping[str, Any],
    strategy: ConnectionStrategy,
    options: Mapping[str, Any],
    *,
    lenient: frozenset[str] = frozenset(),
) -> CreateUserInput:
    """Apply the connection's field rules to a schema-valid ``body`` and normalise it.

    Raises:
        UsernameNotAllowedError, FieldNotAllowedError, PayloadValidationError,
        InvalidUsernameError: in that order of precedence.
    """
    body = _known(body, CREATE_USER_SCHEMA, lenient)
    rules = strategy.field_rules(options)
    refused = [k for k in body if k not in rules.allowed]
    if "username" in refused:
        raise UsernameNotAllowedError()
    if refused:
        raise FieldNotAllowedError(refused)
    missing = [k for k in rules.required if k not in body]
    if missing:
        raise PayloadValidationError(
            [PayloadValidationError.format(f"Missing required property: {k}") for k in missing]
        )
    return _normalised(body, strategy, options, lenient)


def plain_create_input(
    body: Mapping[str, Any], strategy: ConnectionStrategy, options: Mapping[str, Any]
) -> CreateUserInput | None:
    """``validate_for_connection(body, ...)`` for a plain body, None for any other.

    Plain: every property one of ``_PLAIN_RULES`` (an ASCII string without NUL within its schema
    rules, or a boolean) that the connection takes, every required one present, and no real-number
    phone check. Such a body passes ``check_create_body``, so the result is exactly the full
    path's; any other body (None) goes through the full path, which reports its problems.
    """
    rules = strategy.field_rules(options)
    allowed = rules.allowed
    for key, value in body.items():
        rule = _PLAIN_RULES.get(key)
        if rule is None or key not in allowed:
            return None
        if rule is bool:
            if type(value) is not bool:
                return None
        elif type(value) is not str or not value.isascii() or "\x00" in value:
            return None
        else:
            low, high, accepts = rule
            if not low <= len(value) <= high or (accepts is not None and not accepts(value)):
                return None
    for key in rules.required:
        if key not in body:
            return None
    if "phone_number" in body and options.get("phone_number_validation") == "valid":
        return None
    return _normalised(body, strategy, options)


def _normalised(
    body: Mapping[str, Any],
    strategy: ConnectionStrategy,
    options: Mapping[str, Any],
    lenient: frozenset[str] = frozenset(),
) -> CreateUserInput:
    get = body.get
    email = get("email")
    if email is not None and strategy.lowercase_email:
        email = email.lower()
    username = get("username")
    if username is not None:
        if "username_rules" not in lenient:
            _check_username(username, options)
        username = username.lower()
    phone = get("phone_number")
    if phone is not None and _checks_real_phone(options, lenient):
        _check_real_phone_number(phone)
    verify = get("verify_email")
    verified = get("email_verified")
    send = email is not None and (verify if verify is not None else not verified)
    user_metadata = get("user_metadata")
    app_metadata = get("app_metadata")
    return CreateUserInput(
        connection=body["connection"],
        email=email,
        username=username,
        phone_number=phone,
        password=get("password"),
        user_id=get("user_id") or None,
        email_verified=(bool(verified) if email is not None else None),
        phone_verified=(bool(get("phone_verified")) if phone is not None else None),
        blocked=get("blocked"),
        name=get("name"),
        nickname=get("nickname"),
        picture=get("picture"),
        given_name=get("given_name"),
        family_name=get("family_name"),
        user_metadata=None if user_metadata is None else copy_json(user_metadata),
        app_metadata=None if app_metadata is None else copy_json(app_metadata),
        send_verification_email=bool(send),
    )


def username_limits(options: Mapping[str, Any]) -> tuple[int, int]:
    """The connection's username length range (``validation.username``), default 1-15."""
    validation = options.get("validation")
    rules = validation.get("username") if isinstance(validation, Mapping) else None
    if isinstance(rules, Mapping):
        low = rules.get("min", limits.USERNAME_DEFAULT_MIN)
        high = rules.get("max", limits.USERNAME_DEFAULT_MAX)
        return int(low), int(high)
    return limits.USERNAME_DEFAULT_MIN, limits.USERNAME_DEFAULT_MAX


def _check_username(username: str, options: Mapping[str, Any]) -> None:
    low, high = username_limits(options)
    length = len(username.encode("utf-16-le")) // 2  # JavaScript counts UTF-16 code units
    if length < low:
        raise InvalidUsernameError(
            f"The username must have at least {low} characters.", reason="too_short"
        )
    if length > high:
        raise InvalidUsernameError(
            f"The username must not be longer than {high} characters.", reason="too_long"
        )
    if not _USERNAME_CHARS.fullmatch(username):
        raise InvalidUsernameError(
            "The username has invalid characters.", reason="invalid_characters"
        )
    if _formats.is_email(username):
        raise InvalidUsernameError("The username cannot be an email.", reason="is_email")


def _checks_real_phone(options: Mapping[str, Any], lenient: frozenset[str]) -> bool:
    return options.get("phone_number_validation") == "valid" and (
        "phone_number_format" not in lenient
    )


def _check_real_phone_number(phone: str) -> None:
    import phonenumbers  # imported here: only connections that ask for it pay the import

    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        raise PayloadValidationError(
            [
                PayloadValidationError.format(
                    f"Not a valid phone number: {echo(phone)}",
                    "phone_number",
                    limits.FIELD_DESCRIPTIONS["phone_number"],
                )
            ]
        )


def _int(low: int, high: int | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"type": "integer", "minimum": low}
    if high is not None:
        rule["maximum"] = high
    return rule


def _words(*names: str, nullable: bool = False) -> dict[str, Any]:
    return {"type": ["string", "null"] if nullable else "string", "enum": [*names, None]}


def _string_list(max_items: int, max_length: int) -> dict[str, Any]:
    return {
        "type": "array",
        "maxItems": max_items,
        "items": {"type": "string", "maxLength": max_length},
    }


_BOOL = {"type": "boolean"}

#: The part of Auth0's ``ConnectionOptionsAuth0`` identitystore reads; other keys are kept as-is.
CONNECTION_OPTIONS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "passwordPolicy": _words(*limits.PASSWORD_POLICY_LEVELS, nullable=True),
        "password_complexity_options": {
            "type": "object",
            "properties": {"min_length": _int(1, 128)},
        },
        "password_dictionary": {
            "type": "object",
            "required": ["enable"],
            "properties": {"enable": _BOOL, "dictionary": _string_list(200, 50)},
        },
        "password_no_personal_info": {
            "type": "object",
            "required": ["enable"],
            "properties": {"enable": _BOOL},
        },
        "password_history": {
            "type": "object",
            "required": ["enable"],
            "properties": {"enable": _BOOL, "size": _int(0, 24)},
        },
        "password_options": {
            "type": "object",
            "properties": {
                "complexity": {
                    "type": "object",
                    "properties": {
                        "min_length": _int(1, 72),
                        "character_types": {
                            "type": "array",
                            "items": _words("uppercase", "lowercase", "number", "special"),
                        },
                        "character_type_rule": _words("all", "three_of_four"),
                        "identical_characters": _words("allow", "block"),
                        "sequential_characters": _words("allow", "block"),
                        "max_length_exceeded": _words("truncate", "error"),
                    },
                },
                "dictionary": {
                    "type": "object",
                    "properties": {
                        "active": _BOOL,
                        "custom": _string_list(200, 50),
                        "default": _words("en_10k", "en_100k"),
                    },
                },
                "history": {
                    "type": "object",
                    "properties": {"active": _BOOL, "size": _int(1, 24)},
                },
                "profile_data": {
                    "type": "object",
                    "properties": {"active": _BOOL, "blocked_fields": _string_list(12, 100)},
                },
            },
        },
        "requires_username": _BOOL,
        "validation": {
            "type": ["object", "null"],
            "properties": {
                "username": {
                    "type": ["object", "null"],
                    "required": ["min", "max"],
                    "properties": {"min": _int(1), "max": _int(1, limits.USERNAME_SCHEMA_MAX)},
                }
            },
        },
        "attributes": {"type": "object"},
        "phone_number_validation": _words("pattern", "valid"),
        "disable_signup": _BOOL,
        "brute_force_protection": _BOOL,
    },
}

_LEGACY_PASSWORD_OPTIONS = (
    "passwordPolicy",
    "password_complexity_options",
    "password_dictionary",
    "password_no_personal_info",
    "password_history",
)
_CONNECTION_NAME = js_regex(limits.CONNECTION_NAME_PATTERN)


def check_connection(name: object, strategy: object, options: object) -> None:
    """Raise ``PayloadValidationError`` listing every problem of a new connection's settings."""
    found: list[str] = []
    if not isinstance(name, str) or not _CONNECTION_NAME.search(name) or len(name) > 128:
        found.append(
            PayloadValidationError.format(
                f"String does not match pattern {limits.CONNECTION_NAME_PATTERN}: {echo(name)}",
                "name",
                "The name of the connection. Must start and end with an alphanumeric character "
                "and can only contain alphanumeric characters and '-'. Max length 128",
            )
        )
    if not isinstance(strategy, str) or not strategy:
        found.append(PayloadValidationError.format("Missing required property: strategy"))
    found.extend(problems(options, CONNECTION_OPTIONS_SCHEMA, "options"))
    if isinstance(options, Mapping) and not found:
        found.extend(
            PayloadValidationError.format(problem, "options")
            for problem in json_problems(options, "options", metadata=False)
        )
    if isinstance(options, Mapping) and not found:
        found.extend(_option_combination_problems(options))
    if found:
        raise PayloadValidationError(found)


def _option_combination_problems(options: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    flexible = options.get("password_options")
    if flexible is not None:
        mixed = [k for k in _LEGACY_PASSWORD_OPTIONS if options.get(k) is not None]
        if mixed:
            found.append(
                PayloadValidationError.format(
                    f"password_options cannot be combined with {','.join(mixed)}",
                    "options.password_options",
                )
            )
        complexity = flexible.get("complexity") or {}
        types = set(complexity.get("character_types") or ())
        if complexity.get("character_type_rule") == "three_of_four" and len(types) < 4:
            found.append(
                PayloadValidationError.format(
                    "three_of_four requires all four character_types",
                    "options.password_options.complexity.character_type_rule",
                )
            )
    validation = options.get("validation")
    rules = validation.get("username") if isinstance(validation, Mapping) else None
    if isinstance(rules, Mapping) and rules["min"] > rules["max"]:
        found.append(
            PayloadValidationError.format(
                "min must not be greater than max", "options.validation.username"
            )
        )
    return found


_PATCH_DESCRIPTIONS = {
    "blocked": "Whether this user was blocked by an administrator (true) or not (false)",
    "email_verified": (
        "Whether this email address is verified (true) or unverified (false). If set to false "
        "the user will not receive a verification email unless `verify_email` is set to true"
    ),
    "email": "Email address of this user",
    "phone_number": "The user's phone number (following the E.164 recommendation)",
    "phone_verified": "Whether this phone number has been verified (true) or not (false)",
    "user_metadata": "User metadata to which this user has read/write access",
    "app_metadata": "User metadata to which this user has read-only access",
    "given_name": "Given name/first name/forename of this user",
    "family_name": "Family name/last name/surname of this user",
    "name": "Name of this user",
    "nickname": "Preferred nickname or alias of this user",
    "picture": "URL to picture, photo, or avatar of this user",
    "verify_email": (
        "Whether this user will receive a verification email after creation (true) or no email "
        "(false). Overrides behavior of `email_verified` parameter"
    ),
    "verify_phone_number": (
        "Whether this user will receive a text after changing the phone number (true) or no "
        "text (false). Only valid when changing phone number for SMS connections"
    ),
    "password": "New password for this user. Only valid for database connections",
    "connection": "Name of the connection to target for this user update",
    "client_id": "Auth0 client ID. Only valid when updating email address",
    "username": "The user's username. Only valid if the connection requires a username",
}


def _patch(name: str, kind: str | list[str], **rules: Any) -> dict[str, Any]:
    return {"type": kind, "description": _PATCH_DESCRIPTIONS[name], **rules}


_NULLABLE_STRING = ["string", "null"]

#: Auth0's ``UpdateUserRequestContent`` (PATCH /api/v2/users/{id}).
UPDATE_USER_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "blocked": _patch("blocked", "boolean"),
        "email_verified": _patch("email_verified", "boolean"),
        "email": _patch("email", _NULLABLE_STRING, format="email"),
        "phone_number": _patch(
            "phone_number", _NULLABLE_STRING, pattern=limits.PHONE_NUMBER_PATTERN
        ),
        "phone_verified": _patch("phone_verified", "boolean"),
        "user_metadata": _patch("user_metadata", "object"),
        "app_metadata": _patch("app_metadata", "object"),
        "given_name": _patch("given_name", _NULLABLE_STRING, minLength=1, maxLength=150),
        "family_name": _patch("family_name", _NULLABLE_STRING, minLength=1, maxLength=150),
        "name": _patch("name", _NULLABLE_STRING, minLength=1, maxLength=300),
        "nickname": _patch("nickname", _NULLABLE_STRING, minLength=1, maxLength=300),
        "picture": _patch("picture", _NULLABLE_STRING, format="strict-uri"),
        "verify_email": _patch("verify_email", "boolean"),
        "verify_phone_number": _patch("verify_phone_number", "boolean"),
        "password": _patch("password", _NULLABLE_STRING, minLength=1),
        "connection": _patch("connection", "string", minLength=1),
        "client_id": _patch("client_id", "string", minLength=1),
        "username": _patch(
            "username", _NULLABLE_STRING, minLength=1, maxLength=limits.USERNAME_SCHEMA_MAX
        ),
    },
}


def check_update_body(body: Mapping[str, Any], *, lenient: frozenset[str] = frozenset()) -> None:
    """Raise ``PayloadValidationError`` listing every schema and metadata problem of a PATCH."""
    schema = _relaxed("update", lenient) if lenient else UPDATE_USER_SCHEMA
    found = problems(body, schema, patch=True)
    for key in ("user_metadata", "app_metadata"):
        value = body.get(key)
        if isinstance(value, Mapping):
            found.extend(_metadata_problems(key, value, _PATCH_DESCRIPTIONS[key]))
    if found:
        raise PayloadValidationError(found)


def check_merged_metadata(columns: Mapping[str, Any]) -> None:
    """Raise ``PayloadValidationError`` if a PATCH's merged metadata (``columns``, as they are to be
    stored) outgrows ``METADATA_MAX_BYTES``: each PATCH is within the limit, but merges add up."""
    found = []
    for key in ("user_metadata", "app_metadata"):
        value = columns.get(key)
        if value is None:
            continue
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        size = len(text.encode("utf-8"))
        if size > limits.METADATA_MAX_BYTES:
            found.append(
                PayloadValidationError.format(
                    f"Metadata is too large ({size} bytes), maximum {limits.METADATA_MAX_BYTES}",
                    key,
                    _PATCH_DESCRIPTIONS[key],
                )
            )
    if found:
        raise PayloadValidationError(found)


#: PATCH fields that only decide side effects or routing, never stored.
_PATCH_CONTROL = frozenset({"verify_email", "verify_phone_number", "connection", "client_id"})


def validate_update(
    body: Mapping[str, Any],
    strategy: ConnectionStrategy,
    options: Mapping[str, Any],
    *,
    lenient: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Apply the connection's field rules to a schema-valid PATCH body; return normalised fields.

    Raises:
        UsernameNotAllowedError, FieldNotAllowedError, PayloadValidationError,
        InvalidUsernameError: as for create.
    """
    body = _known(body, UPDATE_USER_SCHEMA, lenient)
    rules = strategy.field_rules(options)
    allowed = rules.allowed | {"verify_phone_number", "client_id"}
    refused = [k for k in body if k not in allowed]
    if "username" in refused:
        raise UsernameNotAllowedError()
    if refused:
        raise FieldNotAllowedError(refused)
    unset_required = [k for k in rules.required if k in body and body[k] is None]
    if unset_required:
        raise PayloadValidationError(
            [
                PayloadValidationError.format(
                    "Expected type string but found type null", k, _PATCH_DESCRIPTIONS[k]
                )
                for k in unset_required
            ]
        )
    fields = {k: v for k, v in body.items() if k not in _PATCH_CONTROL}
    for key in ("user_metadata", "app_metadata"):
        if key in fields:
            fields[key] = copy_json(fields[key])
    if fields.get("email") is not None and strategy.lowercase_email:
        fields["email"] = fields["email"].lower()
    if fields.get("username") is not None:
        if "username_rules" not in lenient:
            _check_username(fields["username"], options)
        fields["username"] = fields["username"].lower()
    phone = fields.get("phone_number")
    if phone is not None and _checks_real_phone(options, lenient):
        _check_real_phone_number(phone)
    return fields


def new_user(
    data: CreateUserInput,
    conn: Connection,
    strategy: ConnectionStrategy,
    now: datetime,
    *,
    gravatar_host: str = GRAVATAR_HOST,
) -> User:
    """The user Auth0 would create: id, timestamps and default name, nickname and picture (a
    gravatar on ``gravatar_host``)."""
    local_id = data.user_id if data.user_id is not None else new_object_id(now)
    name, nickname, picture = derived_profile(
        local_id=local_id,
        email=data.email,
        phone_number=data.phone_number,
        username=data.username,
        name=data.name,
        nickname=data.nickname,
        picture=data.picture,
        gravatar_host=gravatar_host,
    )
    stamp = format_timestamp(now)
    return User(
        user_id=f"{strategy.user_id_prefix}|{local_id}",
        connection=conn.name,
        provider=strategy.user_id_prefix,
        created_at=stamp,
        updated_at=stamp,
        name=name,
        email=data.email,
        email_verified=data.email_verified,
        username=data.username,
        phone_number=data.phone_number,
        phone_verified=data.phone_verified,
        nickname=nickname,
        picture=picture,
        given_name=data.given_name,
        family_name=data.family_name,
        blocked=data.blocked,
        user_metadata=data.user_metadata,
        app_metadata=data.app_metadata,
    )
