"""Create-user calls with exactly one violation, each paired with the exact error it must
produce."""

from __future__ import annotations

import string
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Final

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .. import Connection, PasswordPolicy, errors
from ..limits import (
    APP_METADATA_RESERVED_KEYS,
    CREATE_USER_FIELDS,
    METADATA_MAX_BYTES,
    METADATA_MAX_DEPTH,
    USERNAME_SCHEMA_MAX,
)
from ._bodies import DEFAULT_CONNECTIONS, Target, bodies_for, resolve_target
from ._fields import (
    JSON_SCALARS,
    JSON_VALUES,
    METADATA_KEYS,
    compact_size,
    largest,
    nested,
    roomy,
    user_ids,
    username_range,
    usernames,
)
from ._oracles import (
    EXCLUDED,
    SURROGATES,
    USERNAME_ALPHABET,
    Strategy,
    accepted,
    ascii_case_variant,
    common_passwords,
    custom_words,
    find_rule,
    payload_error,
    strong_enough,
)
from ._passwords import breakable_rules, passwords, personal_passwords, weak_passwords
from ._schema import (
    MAX_LENGTH,
    MIN_ONE_ALL,
    bad_emails,
    bad_phones,
    bad_pictures,
    bad_user_ids,
    length_breakers,
    wrong_type,
)
from ._text import TEXT_CHARS, insert, text_units


@dataclass(frozen=True)
class InvalidBody:
    """A create-user call that must fail with exactly this error and write nothing.

    Attributes:
        violation: the violation family (one of ``VIOLATIONS``).
        label: what exactly is wrong, for test output.
        connection: the connection name to call with: the generated-for connection's (None when
            it was given as options), or another one for ``unknown-connection`` and for
            ``wrong-type`` on ``connection``.
        body: the fields, without ``connection``.
        error: the :class:`~identitystore.IdentityStoreError` subclass raised.
        status_code: its HTTP status.
        error_code: Auth0's ``errorCode`` (None when Auth0 sends none).
        message: the exact ``message``.
        setup: bodies to create in the same connection first (for duplicates).
    """

    violation: str
    label: str
    connection: Any
    body: dict[str, Any]
    error: type[errors.IdentityStoreError]
    status_code: int
    error_code: str | None
    message: str
    setup: tuple[dict[str, Any], ...] = ()


def _invalid(
    target: Target, violation: str, label: str, body: dict[str, Any], sentence: str
) -> InvalidBody:
    return InvalidBody(
        violation,
        label,
        target.name,
        body,
        errors.PayloadValidationError,
        400,
        "invalid_body",
        sentence,
    )


def _field_family(
    violation: str, breakers: Callable[[str], Strategy[tuple[Any, str]]], props: tuple[str, ...]
) -> Callable[[Target], Strategy[InvalidBody]]:
    @st.composite
    def cases(draw: st.DrawFn, target: Target) -> InvalidBody:
        body = draw(bodies_for(target))
        prop = draw(st.sampled_from(props))
        value, sentence = draw(breakers(prop))
        if prop == "connection":
            case = _invalid(target, violation, "connection", body, sentence)
            return replace(case, connection=value)
        return _invalid(target, violation, prop, {**body, prop: value}, sentence)

    return cases


@st.composite
def _unknown_properties(draw: st.DrawFn, target: Target) -> InvalidBody:
    body = draw(bodies_for(target))
    keys = draw(
        st.lists(
            st.text(max_size=12).filter(
                lambda k: k not in CREATE_USER_FIELDS and EXCLUDED not in k
            ),
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
    return _invalid(target, "unknown-property", shown, body, sentence)


@st.composite
def _bad_key(draw: st.DrawFn) -> str:
    return insert(draw, draw(METADATA_KEYS), draw(st.sampled_from(".$")))


@st.composite
def _metadata_keys(draw: st.DrawFn, target: Target) -> InvalidBody:
    """A '.' or '$' in a metadata field name, at the top, in an object or in an array."""
    body = draw(bodies_for(target))
    prop = draw(st.sampled_from(["user_metadata", "app_metadata"]))
    data = roomy(body.get(prop))
    bad = draw(_bad_key())
    value = draw(JSON_VALUES)
    where = draw(st.sampled_from(["top", "object", "array"]))
    if where == "top":
        data[bad] = value
        path = f"{prop}.{bad}"
    else:
        outer = draw(METADATA_KEYS.filter(lambda k: k not in APP_METADATA_RESERVED_KEYS))
        if where == "object":
            data[outer] = {bad: value}
            path = f"{prop}.{outer}.{bad}"
        else:
            data[outer] = [{bad: value}]
            path = f"{prop}.{outer}[0].{bad}"
    sentence = payload_error(f"Field names must not contain '.' or '$': {path}", prop)
    return _invalid(
        target, "metadata-key", f"{where} key in {prop}", {**body, prop: data}, sentence
    )


@st.composite
def _metadata_limits(draw: st.DrawFn, target: Target) -> InvalidBody:
    """Metadata one byte (or more) over ``METADATA_MAX_BYTES``, or one object too deep."""
    body = draw(bodies_for(target))
    prop = draw(st.sampled_from(["user_metadata", "app_metadata"]))
    if draw(st.booleans()):
        value: Any = draw(largest())
        key = next(iter(value))
        value[key] += "x" * draw(st.integers(1, 100))
        size = compact_size(value)
        problem = f"Metadata is too large ({size} bytes), maximum {METADATA_MAX_BYTES}"
    else:
        # a scalar is no level: the object reached through MAX_DEPTH keys is one too deep
        value = nested("d", METADATA_MAX_DEPTH + 1, draw(JSON_SCALARS))
        path = prop + ".d" * METADATA_MAX_DEPTH
        problem = f"Metadata is nested too deeply at {path}, maximum depth {METADATA_MAX_DEPTH}"
    sentence = payload_error(problem, prop)
    return _invalid(target, "metadata-limits", problem[:30], {**body, prop: value}, sentence)


@st.composite
def _reserved_keys(draw: st.DrawFn, target: Target) -> InvalidBody:
    body = draw(bodies_for(target))
    key = draw(st.sampled_from(sorted(APP_METADATA_RESERVED_KEYS)))
    data = {**roomy(body.get("app_metadata")), key: draw(JSON_VALUES)}
    order = draw(st.permutations(list(data)))
    data = {k: data[k] for k in order}
    sentence = payload_error(
        f"Reserved app_metadata field names are not allowed: {key}", "app_metadata"
    )
    return _invalid(target, "reserved-app-metadata", key, {**body, "app_metadata": data}, sentence)


def _refusal(
    target: Target,
    violation: str,
    label: str,
    body: dict[str, Any],
    error: type[errors.IdentityStoreError],
    message: str | None = None,
    setup: tuple[dict[str, Any], ...] = (),
) -> InvalidBody:
    """An ``InvalidBody`` whose error is ``error`` with its class-level code and status."""
    text = message if message is not None else error.default_message
    return InvalidBody(
        violation,
        label,
        target.name,
        body,
        error,
        error.status_code,
        error.error_code,
        text,
        setup,
    )


@st.composite
def _fields_not_allowed(draw: st.DrawFn, target: Target) -> InvalidBody:
    """A schema-valid field the connection's strategy does not take."""
    body = draw(bodies_for(target))
    refused = target.not_allowed()
    prop = draw(st.sampled_from(sorted(refused)))
    fields = {**body, prop: draw(refused[prop])}
    message = f'"{prop}" is not allowed'
    return _refusal(target, "field-not-allowed", prop, fields, errors.FieldNotAllowedError, message)


@st.composite
def _username_not_allowed(draw: st.DrawFn, target: Target) -> InvalidBody:
    """Any schema-valid username on a connection without ``requires_username``."""
    body = draw(bodies_for(target))
    username = draw(st.one_of(usernames(), text_units(1, USERNAME_SCHEMA_MAX)))
    return _refusal(
        target,
        "username-not-allowed",
        "username",
        {**body, "username": username},
        errors.UsernameNotAllowedError,
    )


@st.composite
def _missing_fields(draw: st.DrawFn, target: Target) -> InvalidBody:
    body = draw(bodies_for(target))
    prop = draw(st.sampled_from(target.required))
    del body[prop]
    sentence = payload_error(f"Missing required property: {prop}")
    return _invalid(target, "missing-required", prop, body, sentence)


@st.composite
def _invalid_usernames(draw: st.DrawFn, target: Target) -> InvalidBody:
    """Username length, characters or email shape against the connection's rules."""
    body = draw(bodies_for(target))
    low, high = username_range(target.options)
    chars = st.sampled_from(USERNAME_ALPHABET)
    whats = ["characters", "line-end", "email"]
    if high < USERNAME_SCHEMA_MAX:
        whats += ["too long", "too long in UTF-16"]
    if low > 1:
        whats.append("too short")
    what = draw(st.sampled_from(whats))
    fitting = usernames(target.options)
    if what == "too long":
        username = draw(st.text(chars, min_size=high + 1, max_size=USERNAME_SCHEMA_MAX))
        message = f"The username must not be longer than {high} characters."
    elif what == "too long in UTF-16":  # astral characters count 2 units, as JS counts
        count = draw(st.integers(high // 2 + 1, min(high, USERNAME_SCHEMA_MAX // 2)))
        username = draw(
            st.text(st.characters(min_codepoint=0x10000), min_size=count, max_size=count)
        )
        message = f"The username must not be longer than {high} characters."
    elif what == "too short":
        username = draw(st.text(chars, min_size=1, max_size=low - 1))
        message = f"The username must have at least {low} characters."
    elif what == "characters":
        bad = st.one_of(
            st.sampled_from(' %&*()=[]{}|\\/:;"<>,?\t\n'),
            st.characters(min_codepoint=0x80, max_codepoint=0xFFFF, exclude_categories=SURROGATES),
        )
        good = draw(fitting)[: high - 1]
        username = insert(draw, good, draw(bad))
        message = "The username has invalid characters."
    elif what == "line-end":  # JS '$' does not match before a final line break
        username = draw(fitting)[: high - 1] + "\n"
        message = "The username has invalid characters."
    else:
        local = draw(
            st.text(st.sampled_from(string.ascii_letters + string.digits), min_size=1, max_size=2)
        )
        domain = draw(st.text(st.sampled_from(string.ascii_lowercase), min_size=1, max_size=3))
        tld = draw(st.text(st.sampled_from(string.ascii_letters), min_size=2, max_size=3))
        username = f"{local}@{domain}.{tld}"
        assume(low <= len(username) <= high)
        message = "The username cannot be an email."
    body = {**body, "username": username}
    body["password"] = draw(passwords(target.policy, profile=body))
    return _refusal(target, "invalid-username", what, body, errors.InvalidUsernameError, message)


@st.composite
def _weak_password_cases(draw: st.DrawFn, target: Target) -> InvalidBody:
    body = draw(bodies_for(target))
    password = draw(weak_passwords(target.policy))
    return _refusal(
        target,
        "weak-password",
        "weak",
        {**body, "password": password},
        errors.PasswordStrengthError,
    )


@cache
def _dictionary_candidates(policy: PasswordPolicy) -> tuple[str, ...]:
    """Dictionary words, in some ASCII case, that pass every strength rule of ``policy``."""
    found = []
    for word in sorted(common_passwords() | custom_words(policy)):
        for variant in (word, word.capitalize(), word.swapcase(), word.upper()):
            if strong_enough(policy, variant):
                found.append(variant)
                break
    return tuple(found)


@st.composite
def _dictionary_cases(draw: st.DrawFn, target: Target) -> InvalidBody:
    """A common (10k list) or custom-listed password that passes the strength rules."""
    body = draw(bodies_for(target))
    password = draw(st.sampled_from(_dictionary_candidates(target.policy)))
    return _refusal(
        target,
        "dictionary-password",
        "dictionary",
        {**body, "password": password},
        errors.PasswordDictionaryError,
    )


_NAMES = ("username", "name", "nickname")


@st.composite
def _personal_info_cases(draw: st.DrawFn, target: Target) -> InvalidBody:
    """A strong password holding the email local part, username, name or nickname."""
    body = draw(bodies_for(target))
    # Only what Auth0 surely looks at: the email's local part (not the whole address), the
    # username, name and nickname.
    sources = [body["email"].rpartition("@")[0], *(body.get(k) for k in _NAMES)]
    if not any(isinstance(v, str) and len(v) >= 3 for v in sources):
        body["name"] = draw(st.text(st.sampled_from(string.ascii_letters), min_size=3, max_size=8))
        sources.append(body["name"])
    ours = {str(i): v for i, v in enumerate(sources) if isinstance(v, str)}
    password = draw(personal_passwords(target.policy, ours, strong=True))
    return _refusal(
        target,
        "personal-info-password",
        "personal info",
        {**body, "password": password},
        errors.PasswordNoUserInfoError,
    )


def _keys(target: Target, body: Mapping[str, Any]) -> set[tuple[str, str]]:
    out = {(k, body[k].lower()) for k in ("email", "username", "phone_number") if k in body}
    if body.get("user_id"):
        out.add(("user_id", body["user_id"].lower()))
    return out


@st.composite
def _duplicates(draw: st.DrawFn, target: Target) -> InvalidBody:
    """A second user taking the first one's email, username, phone number or user_id."""
    props = ["user_id"] + [k for k in ("email", "username", "phone_number") if k in target.required]
    prop = draw(st.sampled_from(props))
    first = draw(bodies_for(target))
    if prop == "user_id":
        first["user_id"] = draw(user_ids().filter(bool))
    taken = _keys(target, first)
    second = draw(bodies_for(target).filter(lambda b: not (_keys(target, b) & taken)))
    copied = first[prop]
    second[prop] = ascii_case_variant(draw, copied) if prop in ("email", "username") else copied
    if "password" in second and not accepted(target.policy, second["password"], second):
        second["password"] = draw(passwords(target.policy, profile=second))
    if prop == "username":
        error: type[errors.IdentityStoreError] = errors.UsernameInUseError
    else:
        error = errors.UserExistsError
    return _refusal(target, "duplicate", prop, second, error, setup=(first,))


@st.composite
def _unknown_connections(draw: st.DrawFn, target: Target) -> InvalidBody:
    body = draw(bodies_for(target))
    name = draw(
        st.text(TEXT_CHARS, min_size=1, max_size=30).filter(
            lambda n: n not in DEFAULT_CONNECTIONS and n != target.name
        )
    )
    case = _refusal(target, "unknown-connection", name, body, errors.UnknownConnectionError)
    return replace(case, connection=name)


_ALL_PROPS = tuple(CREATE_USER_FIELDS)


def _families(target: Target) -> dict[str, Strategy[InvalidBody]]:
    """Violation family -> its strategy, for the families that apply to ``target``."""
    policy = target.policy
    found: dict[str, Callable[[Target], Strategy[InvalidBody]]] = {
        "wrong-type": _field_family("wrong-type", wrong_type, _ALL_PROPS),
        "email-format": _field_family("email-format", lambda _: bad_emails(), ("email",)),
        "phone-pattern": _field_family("phone-pattern", lambda _: bad_phones(), ("phone_number",)),
        "picture-format": _field_family("picture-format", lambda _: bad_pictures(), ("picture",)),
        "user-id-pattern": _field_family("user-id-pattern", lambda _: bad_user_ids(), ("user_id",)),
        "string-length": _field_family(
            "string-length", length_breakers, (*MAX_LENGTH, *MIN_ONE_ALL)
        ),
        "unknown-property": _unknown_properties,
        "metadata-key": _metadata_keys,
        "metadata-limits": _metadata_limits,
        "reserved-app-metadata": _reserved_keys,
        "missing-required": _missing_fields,
        "duplicate": _duplicates,
        "unknown-connection": _unknown_connections,
    }
    if target.not_allowed():
        found["field-not-allowed"] = _fields_not_allowed
    if target.requires_username:
        found["invalid-username"] = _invalid_usernames
    else:
        found["username-not-allowed"] = _username_not_allowed
    if target.strategy == "auth0":
        if breakable_rules(policy):
            found["weak-password"] = _weak_password_cases
        if find_rule(policy, "dictionary") and _dictionary_candidates(policy):
            found["dictionary-password"] = _dictionary_cases
        if find_rule(policy, "personalInfo"):
            found["personal-info-password"] = _personal_info_cases
    return {name: make(target) for name, make in found.items()}


#: Every violation family :func:`invalid_create_user_bodies` knows.
VIOLATIONS: Final = (
    "dictionary-password",
    "duplicate",
    "email-format",
    "field-not-allowed",
    "invalid-username",
    "metadata-key",
    "metadata-limits",
    "missing-required",
    "personal-info-password",
    "phone-pattern",
    "picture-format",
    "reserved-app-metadata",
    "string-length",
    "unknown-connection",
    "unknown-property",
    "user-id-pattern",
    "username-not-allowed",
    "weak-password",
    "wrong-type",
)


def invalid_create_user_bodies(
    connection: Connection | str | Mapping[str, Any],
    *,
    strategy: str | None = None,
    violations: Collection[str] | None = None,
) -> Strategy[InvalidBody]:
    """Bodies for ``connection`` with exactly one violation, each paired with its exact error.

    Every body is a valid one (:func:`create_user_bodies`) with one thing wrong: a field of the
    wrong JSON type, a bad format or pattern, a string too long or empty, an unknown property, a
    bad metadata key or size, a reserved ``app_metadata`` key, a field the strategy does not take,
    a missing required field, a bad username, a weak, common or personal password, a duplicate of
    an existing user (create ``case.setup`` first), or an unknown connection name.

    Args:
        connection: as for :func:`create_user_bodies`.
        strategy: as for :func:`create_user_bodies`.
        violations: only these families (names from ``VIOLATIONS``); default all that apply.

    Raises:
        InvalidArgument: an unknown family, or none of ``violations`` applies to the connection
            (e.g. ``weak-password`` on a passwordless one).
    """
    target = resolve_target(connection, strategy)
    wanted = set(VIOLATIONS if violations is None else violations)
    unknown = wanted - set(VIOLATIONS)
    if unknown:
        raise InvalidArgument(f"unknown violation families: {sorted(unknown)}")
    families = {k: v for k, v in _families(target).items() if k in wanted}
    if not families:
        raise InvalidArgument(f"none of {sorted(wanted)} applies to this connection")
    return st.one_of([families[name] for name in sorted(families)])
