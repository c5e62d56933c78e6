"""Hypothesis strategies for identity data: create-user bodies, valid and invalid, and their parts.

Needs Hypothesis: ``pip install identitystore[hypothesis]``.

Written from Auth0's ``POST /api/v2/users`` contract, not from identitystore's validation code:
valid values are valid *by construction* (Auth0's schema, validator.js's ``email`` /
``strict-uri`` formats, the connection's username, phone and password rules), and every invalid
body carries the exact error Auth0 answers with (or identitystore's documented choice where Auth0
is silent). The small oracles used to keep generation honest (UTF-16 lengths, JS whitespace,
character classes, the "no personal info" containment) are re-implemented here on purpose, so a
test built on these strategies does not ask the code under test what is valid. Only field names,
limits and descriptions come from :mod:`identitystore.limits`, and password rules are read from a
:class:`~identitystore.PasswordPolicy`'s public ``rules``.

Strategies:

* :func:`create_user_bodies`: bodies a connection accepts;
* :func:`invalid_create_user_bodies`: :class:`InvalidBody` values, one violation each, paired with
  the error it must produce;
* building blocks :func:`emails`, :func:`phone_numbers`, :func:`passwords`, :func:`usernames`,
  :func:`metadata`, and :func:`users` (users persisted in a store).
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from functools import cache, cached_property
from importlib.resources import files
from itertools import pairwise
from typing import Any, Final, Literal

from hypothesis import assume, reject
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from . import Connection, IdentityStore, PasswordPolicy, User, errors
from .limits import (
    APP_METADATA_RESERVED_KEYS,
    BCRYPT_MAX_BYTES,
    CREATE_USER_FIELDS,
    FIELD_DESCRIPTIONS,
    METADATA_MAX_BYTES,
    METADATA_MAX_DEPTH,
    PHONE_NUMBER_PATTERN,
    USER_ID_MAX,
    USER_ID_PATTERN,
    USERNAME_DEFAULT_MAX,
    USERNAME_DEFAULT_MIN,
    USERNAME_SCHEMA_MAX,
    USERNAME_SYMBOLS,
)
from .passwords import PasswordRule

__all__ = [
    "VIOLATIONS",
    "InvalidBody",
    "create_user_bodies",
    "emails",
    "invalid_create_user_bodies",
    "metadata",
    "passwords",
    "phone_numbers",
    "usernames",
    "users",
]

Strategy = st.SearchStrategy

#: The connections every new store has: name -> (strategy, options).
_DEFAULT_CONNECTIONS: Final[Mapping[str, tuple[str, Mapping[str, Any]]]] = {
    "Username-Password-Authentication": ("auth0", {"passwordPolicy": "good"}),
    "email": ("email", {}),
    "sms": ("sms", {}),
}
_DB = "Username-Password-Authentication"
_SURROGATES: Final[tuple[Literal["Cs"]]] = ("Cs",)

# -- oracles ---------------------------------------------------------------------------------------

#: What ``\s`` matches in a JS RegExp: WhiteSpace (TAB VT FF ZWNBSP and every Zs) + LineTerminator.
JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
#: Python's ``str.isspace`` says yes, JS's ``\s`` says no: fine inside a ``user_id``.
PYTHON_ONLY_WHITESPACE: Final = "\x1c\x1d\x1e\x1f\x85"
USERNAME_ALPHABET: Final = string.ascii_letters + string.digits + USERNAME_SYMBOLS
#: OWASP special characters: space and the 32 ASCII punctuation characters.
SPECIALS: Final = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
#: password-sheriff's character types.
CHAR_CLASSES: Final[Mapping[str, str]] = {
    "lowercase": string.ascii_lowercase,
    "uppercase": string.ascii_uppercase,
    "number": string.digits,
    "special": SPECIALS,
}
#: Letters that count in no character class, grouped by UTF-8 size (1 or 2 UTF-16 units).
_NO_CLASS_GROUPS: Final = ("éüñßж", "日本語中文", "😀🎉🚀🌍🔑")
NO_CLASS_LETTERS: Final = "".join(_NO_CLASS_GROUPS)
#: Code points never generated in valid values: NUL (PostgreSQL cannot store it).
_EXCLUDED: Final = "\x00"
_STRENGTH_CODES: Final = frozenset(
    {"nonEmpty", "lengthAtLeast", "containsAtLeast", "shouldContain", "identicalChars"}
    | {"sequentialChars", "maxLength"}
)


def utf16_len(text: str) -> int:
    """Length as JavaScript counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


def clip_utf16(text: str, max_units: int) -> str:
    """The longest prefix of ``text`` with at most ``max_units`` UTF-16 units."""
    out: list[str] = []
    used = 0
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if used + width > max_units:
            break
        out.append(char)
        used += width
    return "".join(out)


def _classes_in(password: str, kinds: Collection[str]) -> int:
    return sum(1 for kind in kinds if any(c in CHAR_CLASSES[kind] for c in password))


def _longest_run(password: str) -> int:
    units = _units(password)
    best = run = 0
    for i, unit in enumerate(units):
        run = run + 1 if i and unit == units[i - 1] else 1
        best = max(best, run)
    return best


def _has_neighbours(password: str) -> bool:
    """Two adjacent characters that are equal or one code point apart (stricter than
    password-sheriff's ``sequentialChars``, which needs three)."""
    return any(abs(ord(a) - ord(b)) <= 1 for a, b in pairwise(password))


@cache
def common_passwords() -> frozenset[str]:
    """Auth0's default dictionary (SecLists 10k most common), lower-cased."""
    text = (files("identitystore") / "data" / "10k-most-common.txt").read_text(encoding="utf-8")
    return frozenset(line.lower() for line in text.splitlines() if line)


def _rule(policy: PasswordPolicy, *codes: str) -> PasswordRule | None:
    return next((rule for rule in policy.rules if rule.code in codes), None)


def _number(rule: PasswordRule | None, name: str, default: int) -> int:
    value = None if rule is None else rule.params.get(name)
    return value if isinstance(value, int) else default


def _words(rule: PasswordRule | None, name: str) -> tuple[str, ...]:
    value = None if rule is None else rule.params.get(name)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, tuple | list) else ()


def _min_length(policy: PasswordPolicy) -> int:
    return _number(_rule(policy, "nonEmpty", "lengthAtLeast"), "min_length", 1)


def _custom_words(policy: PasswordPolicy) -> frozenset[str]:
    return frozenset(w.lower() for w in _words(_rule(policy, "dictionary"), "custom"))


def _in_dictionary(policy: PasswordPolicy, password: str) -> bool:
    if _rule(policy, "dictionary") is None:
        return False
    lowered = password.lower()
    return lowered in common_passwords() or lowered in _custom_words(policy)


def personal_values(body: Mapping[str, Any]) -> list[str]:
    """Every value of ``body`` the "no personal info" rule may look for, 3+ characters long.

    A superset of Auth0's fields (email local part, username, name, nickname, ``user_metadata``
    name/first/last, and a flexible policy's ``blocked_fields``): all top-level strings count.
    """
    values: list[Any] = [v for v in body.values() if isinstance(v, str)]
    email = body.get("email")
    if isinstance(email, str):
        values.append(email.rpartition("@")[0])
    meta = body.get("user_metadata")
    if isinstance(meta, Mapping):
        values += [meta.get(key) for key in ("name", "first", "last")]
    return [v for v in values if isinstance(v, str) and len(v) >= 3]


def _contains_personal_info(password: str, body: Mapping[str, Any] | None) -> bool:
    lowered = password.lower()
    return any(v.lower() in lowered for v in personal_values(body or {}))


def _rule_passes(rule: PasswordRule, password: str) -> bool:
    """Whether ``password`` surely meets a strength rule (stricter than Auth0 for sequences)."""
    code = rule.code
    if code in ("nonEmpty", "lengthAtLeast"):
        return utf16_len(password) >= _number(rule, "min_length", 1)
    kinds = _words(rule, "character_types")
    if code == "containsAtLeast":
        return _classes_in(password, kinds) >= _number(rule, "at_least", 3)
    if code == "shouldContain":
        return _classes_in(password, kinds) == len(kinds)
    if code == "identicalChars":
        return _longest_run(password) <= _number(rule, "max", 2)
    if code == "sequentialChars":
        return not _has_neighbours(password)
    if code == "maxLength":
        return len(password.encode("utf-8")) <= _number(rule, "max_bytes", BCRYPT_MAX_BYTES)
    raise ValueError(f"not a strength rule: {code}")


def _strong_enough(policy: PasswordPolicy, password: str) -> bool:
    return all(_rule_passes(r, password) for r in policy.rules if r.code in _STRENGTH_CODES)


def _accepted(policy: PasswordPolicy, password: str, body: Mapping[str, Any] | None) -> bool:
    """Whether the policy surely accepts ``password`` for a user with ``body``'s profile."""
    return (
        _strong_enough(policy, password)
        and not _in_dictionary(policy, password)
        and not (_rule(policy, "personalInfo") and _contains_personal_info(password, body))
    )


def payload_error(problem: str, prop: str | None = None) -> str:
    """One sentence of a ``Payload validation error``."""
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


# -- text ------------------------------------------------------------------------------------------

TEXT_CHARS: Final = st.one_of(
    st.characters(exclude_categories=_SURROGATES, exclude_characters=_EXCLUDED),
    st.sampled_from("\x01éß日😀İ\u200b\ufeff"),
)


def text_units(min_units: int, max_units: int, chars: Strategy[str] = TEXT_CHARS) -> Strategy[str]:
    """Text of ``min_units``..``max_units`` UTF-16 units, sometimes exactly ``max_units``."""
    plain = st.text(chars, min_size=min_units, max_size=max(min_units, min(max_units, 40))).map(
        lambda s: clip_utf16(s, max_units)
    )
    full = st.text(chars, min_size=1, max_size=8).map(
        lambda s: clip_utf16(s * (max_units // utf16_len(s) + 1), max_units)
    )
    return st.one_of(plain, full).filter(lambda s: utf16_len(s) >= min_units)


def long_text(over: int, chars: Strategy[str] = TEXT_CHARS) -> Strategy[str]:
    """Text longer than ``over`` UTF-16 units (``over + 1`` .. ``over + 60``)."""
    return st.tuples(st.text(chars, min_size=1, max_size=6), st.integers(1, 60)).map(
        lambda t: _repeat_to(t[0], over + t[1])
    )


def _repeat_to(piece: str, units: int) -> str:
    text = piece * (units // utf16_len(piece) + 1)
    clipped = clip_utf16(text, units)
    return clipped if utf16_len(clipped) == units else clipped + "x"


# -- emails and phone numbers ----------------------------------------------------------------------

_LOCAL_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
_ATOM = st.text(st.sampled_from(_LOCAL_CHARS + "éü端"), min_size=1, max_size=12)
_LOCAL = (
    st.lists(_ATOM, min_size=1, max_size=3).map(".".join).filter(lambda s: len(s.encode()) <= 64)
)
_LOCAL_EDGES = st.sampled_from(["a", "x" * 64, "a.b-c+tag", "o'brien", "#!$%&'*+-/=?^_`{}|~"])
_LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,14}[A-Za-z0-9])?", fullmatch=True)
_TLD = st.from_regex(r"[A-Za-z]{2,8}", fullmatch=True)
_HOST = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABEL, min_size=1, max_size=3), _TLD
)
_HOST_EDGES = st.sampled_from(["a.co", "x-y.example", "xn--bcher-kva.example", "a" * 63 + ".io"])


def emails() -> Strategy[str]:
    """Email addresses Auth0 accepts (validator.js ``isEmail`` with a TLD), RFC edges included.

    Mixed case, sometimes a non-ASCII local part, a 64-byte local part, the special characters RFC
    5322 allows unquoted, one-letter labels, 63-letter labels and punycode domains.
    """
    return st.builds(
        lambda local, host: f"{local}@{host}", _LOCAL | _LOCAL_EDGES, _HOST | _HOST_EDGES
    )


_PATTERN_PHONES = st.text(st.sampled_from(string.digits), min_size=1, max_size=15).map("+".__add__)


def _phonenumbers() -> Any:
    try:
        import phonenumbers
    except ImportError as exc:  # pragma: no cover - a dependency of identitystore
        raise InvalidArgument("phone_numbers(region=...) needs the phonenumbers package") from exc
    return phonenumbers


@cache
def _examples(region: str) -> tuple[str, ...]:
    """phonenumbers' example numbers of every type for ``region``, in E.164."""
    pn = _phonenumbers()
    found = []
    for kind in range(11):  # PhoneNumberType values but UNKNOWN
        number = pn.example_number_for_type(region, kind)
        if number is not None:
            found.append(pn.format_number(number, pn.PhoneNumberFormat.E164))
    return tuple(dict.fromkeys(found))


def _is_real(number: str, region: str | None) -> bool:
    pn = _phonenumbers()
    try:
        parsed = pn.parse(number, None)
    except pn.NumberParseException:
        return False
    if not pn.is_valid_number(parsed):
        return False
    return region is None or pn.region_code_for_number(parsed) == region


def _real_phones(region: str | None) -> Strategy[str]:
    regions = (
        st.just(region)
        if region is not None
        else st.sampled_from(sorted(_phonenumbers().SUPPORTED_REGIONS))
    )

    @st.composite
    def numbers(draw: st.DrawFn) -> str:
        where = draw(regions)
        examples = _examples(where)
        assume(examples)
        example = draw(st.sampled_from(examples))
        keep = len(example) - draw(st.integers(0, 3))
        size = len(example) - keep
        number = example[:keep] + draw(
            st.text(st.sampled_from(string.digits), min_size=size, max_size=size)
        )
        assume(_is_real(number, where))
        return number

    return numbers()


def phone_numbers(*, region: str | None = None, real: bool = False) -> Strategy[str]:
    """Phone numbers in E.164 (``+`` and up to 15 digits).

    Args:
        region: an ISO 3166 region (``"GB"``): only valid numbers of that region, built from
            ``phonenumbers``' metadata.
        real: only numbers ``phonenumbers`` says are valid (needed by a connection with
            ``phone_number_validation: "valid"``). Otherwise Auth0's plain pattern
            ``^\\+[0-9]{1,15}$`` is generated too.

    Raises:
        InvalidArgument: ``region`` is not one ``phonenumbers`` knows.
    """
    if region is not None:
        if region not in _phonenumbers().SUPPORTED_REGIONS:
            raise InvalidArgument(f"region={region!r} is not a region phonenumbers knows")
        return _real_phones(region)
    if real:
        return _real_phones(None)
    return st.one_of(_PATTERN_PHONES, _real_phones(None))


# -- usernames, ids, pictures, metadata ------------------------------------------------------------


def _email_shaped(username: str) -> bool:
    """A superset of validator.js emails: an ``@`` with a ``.`` somewhere after it."""
    return "@" in username and "." in username.rpartition("@")[2]


def _username_range(options: Mapping[str, Any]) -> tuple[int, int]:
    validation = options.get("validation")
    rules = validation.get("username") if isinstance(validation, Mapping) else None
    if isinstance(rules, Mapping):
        return int(rules["min"]), int(rules["max"])
    return USERNAME_DEFAULT_MIN, USERNAME_DEFAULT_MAX


def usernames(options: Mapping[str, Any] | None = None) -> Strategy[str]:
    """Usernames a connection with these ``options`` accepts (its ``validation.username`` range,
    default 1-15, often exactly the minimum or the maximum), never shaped like an email.

    Raises:
        InvalidArgument: ``validation.username`` has a minimum above its maximum.
    """
    low, high = _username_range(options or {})
    if not 1 <= low <= high <= USERNAME_SCHEMA_MAX:
        raise InvalidArgument(f"username range {low}..{high} is empty or outside 1..128")
    chars = st.sampled_from(USERNAME_ALPHABET)
    return st.one_of(
        st.text(chars, min_size=low, max_size=min(high, low + 20)),
        st.text(chars, min_size=low, max_size=low),
        st.text(chars, min_size=high, max_size=high),
    ).filter(lambda u: not _email_shaped(u))


_ID_CHARS = st.one_of(
    st.characters(exclude_categories=_SURROGATES, exclude_characters=JS_WHITESPACE + _EXCLUDED),
    st.sampled_from(PYTHON_ONLY_WHITESPACE + "|"),
)


def user_ids() -> Strategy[str]:
    """``^\\S*$`` (JS ``\\S``) and at most 255 units: plain, ``auth0|``-prefixed, long or empty."""
    return st.one_of(
        st.text(_ID_CHARS, min_size=1, max_size=30),
        st.text(_ID_CHARS, min_size=1, max_size=20).map("auth0|".__add__),
        text_units(USER_ID_MAX - 5, USER_ID_MAX, _ID_CHARS),
        st.just(""),
    ).map(lambda s: clip_utf16(s, USER_ID_MAX))


_PATH_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%/é"
_IPV4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))


def picture_urls() -> Strategy[str]:
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


_KEY_CHARS = st.characters(exclude_categories=_SURROGATES, exclude_characters=".$" + _EXCLUDED)
METADATA_KEYS: Final = st.text(_KEY_CHARS, max_size=10)
JSON_SCALARS: Final = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(TEXT_CHARS, max_size=20),
)
JSON_VALUES: Final = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(METADATA_KEYS, children, max_size=4)
    ),
    max_leaves=12,
)


def _compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _roomy(value: Any) -> dict[str, Any]:
    """A copy of generated metadata, or ``{}`` when it leaves no room for one more small key."""
    if not isinstance(value, dict) or _compact_size(value) > METADATA_MAX_BYTES // 2:
        return {}
    return dict(value)


def _nested(key: str, levels: int, leaf: Any) -> Any:
    """``levels`` objects nested under ``key``, ``leaf`` in the innermost."""
    value = leaf
    for _ in range(levels):
        value = {key: value}
    return value


@st.composite
def _largest(draw: st.DrawFn) -> dict[str, Any]:
    """One string value making the object exactly ``METADATA_MAX_BYTES`` of compact JSON."""
    key = draw(st.text(st.sampled_from(string.digits + "_-"), min_size=1, max_size=8))
    filler = draw(st.sampled_from(string.ascii_letters))
    empty = _compact_size({key: ""})
    return {key: filler * (METADATA_MAX_BYTES - empty)}


def metadata(*, app: bool = False) -> Strategy[dict[str, Any]]:
    """``user_metadata`` objects within Auth0's rules and identitystore's limits.

    Nested JSON with unicode; no ``.`` or ``$`` in field names; sometimes exactly
    ``METADATA_MAX_BYTES`` of compact UTF-8 JSON, or nested exactly ``METADATA_MAX_DEPTH`` deep.

    Args:
        app: ``app_metadata`` instead: also without Auth0's reserved top-level keys.
    """
    keys = METADATA_KEYS
    if app:
        keys = keys.filter(lambda k: k not in APP_METADATA_RESERVED_KEYS)
    plain = st.dictionaries(keys, JSON_VALUES, max_size=5)
    deepest = keys.map(lambda k: {k: _nested("d", METADATA_MAX_DEPTH - 2, [])})
    edges = st.one_of(_largest(), deepest)
    return st.integers(0, 7).flatmap(lambda n: edges if n == 0 else plain)  # edges 1 in 8


# -- passwords -------------------------------------------------------------------------------------


def _same_size(char: str) -> str:
    """The characters that may replace ``char`` without changing any length or class."""
    for chars in (*CHAR_CLASSES.values(), *_NO_CLASS_GROUPS):
        if char in chars:
            return chars
    return char


def _spread(chars: list[str]) -> list[str]:
    """Replace characters equal or next to a neighbour by others of the same class and size."""
    out = list(chars)
    for i in range(1, len(out)):
        if abs(ord(out[i]) - ord(out[i - 1])) > 1:
            continue
        after = out[i + 1] if i + 1 < len(out) else None
        for candidate in _same_size(out[i]):
            near = (out[i - 1], after)
            if all(c is None or abs(ord(candidate) - ord(c)) > 1 for c in near):
                out[i] = candidate
                break
    return out


def _fill(draw: st.DrawFn, required: list[str], alphabet: str, *, units: int, size: int) -> str:
    """``required`` plus characters of ``alphabet`` up to ``units`` UTF-16 units or, if ``size``,
    exactly ``size`` UTF-8 bytes; then shuffled."""
    out = list(required)
    pool = draw(st.lists(st.sampled_from(alphabet), max_size=120))
    ascii_pool = [c for c in alphabet if c.isascii()] or ["x"]

    def measure(chars: list[str]) -> int:
        text = "".join(chars)
        return len(text.encode("utf-8")) if size else utf16_len(text)

    target = size or units
    for char in pool:
        if measure([*out, char]) <= target:
            out.append(char)
    while measure(out) < target:
        out.append(draw(st.sampled_from(ascii_pool)))
    return "".join(draw(st.permutations(out)))


@st.composite
def _valid_passwords(
    draw: st.DrawFn, policy: PasswordPolicy, profile: Mapping[str, Any] | None
) -> str:
    minimum = _min_length(policy)
    charset = _rule(policy, "containsAtLeast", "shouldContain")
    if charset is None:
        kinds = draw(st.lists(st.sampled_from(sorted(CHAR_CLASSES)), min_size=1, unique=True))
    else:
        listed = list(_words(charset, "character_types"))
        need = len(listed) if charset.code == "shouldContain" else _number(charset, "at_least", 3)
        chosen = draw(st.permutations(listed))[: draw(st.integers(need, len(listed)))]
        extra = draw(st.lists(st.sampled_from(sorted(CHAR_CLASSES)), max_size=2))
        kinds = sorted({*chosen, *extra}) if charset.code == "shouldContain" else sorted(chosen)
    required = [draw(st.sampled_from(CHAR_CLASSES[kind])) for kind in kinds]
    alphabet = "".join(CHAR_CLASSES[kind] for kind in kinds) + NO_CLASS_LETTERS
    edges = ["exact", "free", "free"]
    if minimum <= BCRYPT_MAX_BYTES - len(required):
        edges.append("72 bytes")
        if policy.truncates:
            edges.append("over 72 bytes")
    edge = draw(st.sampled_from(edges))
    low = max(minimum, len(required))
    if edge == "exact":
        password = _fill(draw, required, alphabet, units=low, size=0)
    elif edge == "free":
        password = _fill(draw, required, alphabet, units=draw(st.integers(low, low + 24)), size=0)
    elif edge == "72 bytes":
        password = _fill(draw, required, alphabet, units=0, size=BCRYPT_MAX_BYTES)
    else:
        extra_bytes = draw(st.integers(1, 40))
        password = _fill(draw, required, alphabet, units=0, size=BCRYPT_MAX_BYTES + extra_bytes)
    if _rule(policy, "identicalChars", "sequentialChars"):
        password = "".join(_spread(list(password)))
    assume(_accepted(policy, password, profile))
    return password


def _insert(draw: st.DrawFn, text: str, piece: str) -> str:
    at = draw(st.integers(0, len(text)))
    return text[:at] + piece + text[at:]


@st.composite
def _weak_passwords(draw: st.DrawFn, policy: PasswordPolicy) -> str:
    """Non-empty passwords that break one of the policy's strength rules."""
    rule = draw(st.sampled_from(_breakable(policy)))
    strong = draw(_valid_passwords(policy, None))
    code = rule.code
    if code == "lengthAtLeast":
        return clip_utf16(strong, draw(st.integers(1, _min_length(policy) - 1))) or "x"
    if code in ("containsAtLeast", "shouldContain"):
        listed = list(_words(rule, "character_types"))
        keep = _number(rule, "at_least", 3) - 1 if code == "containsAtLeast" else len(listed) - 1
        kept = draw(st.permutations(listed))[: draw(st.integers(0, keep))]
        left_out = set(listed) - set(kept)
        others = [k for k in CHAR_CLASSES if k not in listed]  # classes the rule ignores
        alphabet = "".join(CHAR_CLASSES[k] for k in [*kept, *others]) + NO_CLASS_LETTERS
        size = draw(st.integers(_min_length(policy), _min_length(policy) + 20))
        password = draw(st.text(st.sampled_from(alphabet), min_size=size, max_size=size))
        assert _classes_in(password, left_out) == 0
        return password
    if code == "identicalChars":
        char = draw(st.sampled_from(string.ascii_letters + string.digits + SPECIALS))
        return _insert(draw, strong, char * (_number(rule, "max", 2) + 1))
    if code == "sequentialChars":
        start = draw(st.sampled_from("abcdefghijklmnopqrstuvwxABCDEFGHIJKLMNOPQRSTUVWX01234567"))
        run = "".join(chr(ord(start) + i) for i in range(3))
        return _insert(draw, strong, run[::-1] if draw(st.booleans()) else run)
    # maxLength: more than 72 UTF-8 bytes
    return (
        strong
        + "x" * (BCRYPT_MAX_BYTES + 1 - len(strong.encode("utf-8")))
        + draw(st.text(st.sampled_from(string.ascii_letters), max_size=20))
    )


def _breakable(policy: PasswordPolicy) -> list[PasswordRule]:
    """Strength rules a non-empty password can break."""
    return [
        rule
        for rule in policy.rules
        if rule.code in _STRENGTH_CODES - {"nonEmpty"}
        and not (rule.code == "lengthAtLeast" and _min_length(policy) < 2)
    ]


def passwords(
    policy: PasswordPolicy, *, valid: bool = True, profile: Mapping[str, Any] | None = None
) -> Strategy[str]:
    """Passwords that meet ``policy`` (or, with ``valid=False``, break it).

    Valid passwords are often exactly at the boundaries: the minimum length in UTF-16 units (an
    emoji counts two), exactly 72 UTF-8 bytes, and over 72 bytes when the policy truncates.
    Invalid ones break one rule: too short or empty, missing character types, a run of
    identical or sequential characters, over 72 bytes (``max_length_exceeded: error``), a common
    or custom-listed word, or (with ``profile``) the user's own data.

    Args:
        policy: e.g. ``PasswordPolicy.from_options(connection.options)``.
        valid: whether the passwords meet the policy.
        profile: the create-user body of the user; valid passwords then never contain its
            values (the "no personal info" rule).
    """
    if valid:
        return _valid_passwords(policy, profile)
    options: list[Strategy[str]] = [st.just("")]
    if _breakable(policy):
        options.append(_weak_passwords(policy))
    if _rule(policy, "dictionary"):
        words = sorted(common_passwords() | _custom_words(policy))
        options.append(st.sampled_from(words).map(_case_of))
    if _rule(policy, "personalInfo") and profile and personal_values(profile):
        options.append(_personal_passwords(policy, profile, strong=False))
    return st.one_of(options)


def _case_of(word: str) -> str:
    return word.upper() if len(word) % 2 else word


@st.composite
def _personal_passwords(
    draw: st.DrawFn, policy: PasswordPolicy, profile: Mapping[str, Any], *, strong: bool
) -> str:
    """A password holding one of ``profile``'s values; with ``strong``, otherwise accepted."""
    value = draw(st.sampled_from(personal_values(profile)))
    base = draw(_valid_passwords(policy, None))
    password = _insert(draw, base, ascii_case_variant(draw, value))
    if strong:
        assume(_strong_enough(policy, password) and not _in_dictionary(policy, password))
    return password


# -- connections and valid bodies ------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """The connection bodies are generated for."""

    name: str | None
    strategy: str
    options: Mapping[str, Any]

    @property
    def requires_username(self) -> bool:
        return self.strategy == "auth0" and self.options.get("requires_username") is True

    @property
    def phone_allowed(self) -> bool:
        attributes = self.options.get("attributes")
        return self.strategy == "sms" or (
            self.strategy == "auth0"
            and isinstance(attributes, Mapping)
            and "phone_number" in attributes
        )

    @property
    def real_phones(self) -> bool:
        return self.options.get("phone_number_validation") == "valid"

    @cached_property
    def policy(self) -> PasswordPolicy:
        return PasswordPolicy.from_options(self.options)

    @property
    def required(self) -> tuple[str, ...]:
        if self.strategy == "sms":
            return ("phone_number",)
        if self.strategy == "email":
            return ("email",)
        return (
            ("email", "password", "username") if self.requires_username else ("email", "password")
        )

    def not_allowed(self) -> dict[str, Strategy[Any]]:
        """Schema-valid fields the strategy does not take, with values for them."""
        phone = {"phone_number": _PATTERN_PHONES, "phone_verified": st.booleans()}
        email = {"email": emails(), "email_verified": st.booleans(), "verify_email": st.booleans()}
        password = {"password": st.text(TEXT_CHARS, min_size=1, max_size=20)}
        if self.strategy == "sms":
            return {**email, **password}
        if self.strategy == "email":
            return {**phone, **password}
        return {} if self.phone_allowed else phone


def _target(connection: Connection | str | Mapping[str, Any], strategy: str | None) -> _Target:
    if isinstance(connection, Connection):
        name, kind, options = connection.name, connection.strategy, connection.options
    elif isinstance(connection, str):
        if connection not in _DEFAULT_CONNECTIONS:
            raise InvalidArgument(
                f"{connection!r} is not a default connection: pass its Connection object "
                "(store.get_connection(name)) or its options and strategy="
            )
        name = connection
        kind, options = _DEFAULT_CONNECTIONS[connection]
    elif isinstance(connection, Mapping):
        if strategy is None:
            raise InvalidArgument("options given without strategy= (auth0, email or sms)")
        name, kind, options = None, strategy, connection
    else:
        raise InvalidArgument(f"expected a Connection, a name or options, got {connection!r}")
    if strategy is not None and strategy != kind:
        raise InvalidArgument(f"strategy={strategy!r} contradicts the connection's {kind!r}")
    if kind not in ("auth0", "email", "sms"):
        raise InvalidArgument(f"bodies for the {kind!r} connection strategy are not generated")
    return _Target(name, kind, dict(options))


def _common_optional() -> dict[str, Strategy[Any]]:
    return {
        "user_id": user_ids(),
        "name": text_units(1, 300),
        "nickname": text_units(1, 300),
        "given_name": text_units(1, 150),
        "family_name": text_units(1, 150),
        "picture": picture_urls(),
        "blocked": st.booleans(),
        "user_metadata": metadata(),
        "app_metadata": metadata(app=True),
    }


@st.composite
def _bodies(draw: st.DrawFn, target: _Target) -> dict[str, Any]:
    body: dict[str, Any] = {}
    phones = phone_numbers(real=target.real_phones)
    if target.strategy == "sms":
        body["phone_number"] = draw(phones)
    else:
        body["email"] = draw(emails())
    if target.requires_username:
        body["username"] = draw(usernames(target.options))
    optional = _common_optional()
    if target.strategy != "sms":
        optional |= {"email_verified": st.booleans(), "verify_email": st.booleans()}
    if target.phone_allowed:
        optional |= {"phone_verified": st.booleans()}
        if target.strategy == "auth0":
            optional["phone_number"] = phones
    for name, values in optional.items():
        if draw(st.booleans()):
            body[name] = draw(values)
    if target.strategy == "auth0":
        body["password"] = draw(passwords(target.policy, profile=body))
    order = draw(st.permutations(list(body)))
    return {key: body[key] for key in order}


def create_user_bodies(
    connection: Connection | str | Mapping[str, Any], *, strategy: str | None = None
) -> Strategy[dict[str, Any]]:
    """Create-user bodies (without ``connection``) that ``connection`` accepts.

    Honours the connection's strategy (which fields it takes and requires), its password policy,
    ``requires_username`` and ``validation.username``, a phone ``attributes`` entry,
    ``phone_number_validation``, and Auth0's formats and limits for every other field. Keys come
    in random order. Use as ``store.create_user(connection.name, **body)``.

    Args:
        connection: a :class:`~identitystore.Connection`, the name of a default connection
            (``Username-Password-Authentication``, ``email``, ``sms``), or a connection's options.
        strategy: the connection strategy (``auth0``, ``email``, ``sms``) when ``connection`` is
            options.

    Raises:
        InvalidArgument: an unknown name, options without ``strategy``, or a custom strategy.
    """
    return _bodies(_target(connection, strategy))


# -- one violation ---------------------------------------------------------------------------------


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
    target: _Target, violation: str, label: str, body: dict[str, Any], sentence: str
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
def _ids_with_whitespace(draw: st.DrawFn) -> str:
    base = draw(st.text(_ID_CHARS, max_size=40))
    return _insert(draw, base, draw(st.sampled_from(JS_WHITESPACE)))


@st.composite
def _too_long(draw: st.DrawFn, prop: str) -> tuple[str, str]:
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


def _sentences(
    values: Strategy[str], prop: str, problem: Callable[[str], str]
) -> Strategy[tuple[str, str]]:
    return values.map(lambda v: (v, payload_error(problem(v), prop)))


def _bad_emails() -> Strategy[tuple[str, str]]:
    return _sentences(
        invalid_emails(), "email", lambda v: f"Object didn't pass validation for format email: {v}"
    )


def _bad_phones() -> Strategy[tuple[str, str]]:
    return _sentences(
        invalid_phones(),
        "phone_number",
        lambda v: f"String does not match pattern {PHONE_NUMBER_PATTERN}: {v}",
    )


def _bad_pictures() -> Strategy[tuple[str, str]]:
    return _sentences(
        invalid_pictures(),
        "picture",
        lambda v: f"Object didn't pass validation for format strict-uri: {v}",
    )


def _bad_user_ids() -> Strategy[tuple[str, str]]:
    return _sentences(
        _ids_with_whitespace(),
        "user_id",
        lambda v: f"String does not match pattern {USER_ID_PATTERN}: {v}",
    )


def _length_breakers(prop: str) -> Strategy[tuple[str, str]]:
    options: list[Strategy[tuple[str, str]]] = []
    if prop in MAX_LENGTH:
        options.append(_too_long(prop))
    if prop in MIN_ONE_ALL:
        options.append(st.just(_too_short(prop)))
    return st.one_of(options)


_FORMAT_BREAKERS: Final = {
    "email": _bad_emails,
    "phone_number": _bad_phones,
    "picture": _bad_pictures,
    "user_id": _bad_user_ids,
}


def schema_breakers(prop: str) -> Strategy[tuple[Any, str]]:
    """(value, sentence) pairs that break ``prop`` with exactly one schema sentence."""
    options: list[Strategy[tuple[Any, str]]] = [wrong_type(prop)]
    if prop in _FORMAT_BREAKERS:
        options.append(_FORMAT_BREAKERS[prop]())
    if prop in MAX_LENGTH or prop in MIN_ONE_ALL:
        options.append(_length_breakers(prop))
    return st.one_of(options)


def _field_family(
    violation: str, breakers: Callable[[str], Strategy[tuple[Any, str]]], props: tuple[str, ...]
) -> Callable[[_Target], Strategy[InvalidBody]]:
    @st.composite
    def cases(draw: st.DrawFn, target: _Target) -> InvalidBody:
        body = draw(_bodies(target))
        prop = draw(st.sampled_from(props))
        value, sentence = draw(breakers(prop))
        if prop == "connection":
            case = _invalid(target, violation, "connection", body, sentence)
            return replace(case, connection=value)
        return _invalid(target, violation, prop, {**body, prop: value}, sentence)

    return cases


@st.composite
def _unknown_properties(draw: st.DrawFn, target: _Target) -> InvalidBody:
    body = draw(_bodies(target))
    keys = draw(
        st.lists(
            st.text(max_size=12).filter(
                lambda k: k not in CREATE_USER_FIELDS and _EXCLUDED not in k
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
    return _insert(draw, draw(METADATA_KEYS), draw(st.sampled_from(".$")))


@st.composite
def _metadata_keys(draw: st.DrawFn, target: _Target) -> InvalidBody:
    """A '.' or '$' in a metadata field name, at the top, in an object or in an array."""
    body = draw(_bodies(target))
    prop = draw(st.sampled_from(["user_metadata", "app_metadata"]))
    data = _roomy(body.get(prop))
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
def _metadata_limits(draw: st.DrawFn, target: _Target) -> InvalidBody:
    """Metadata one byte (or more) over ``METADATA_MAX_BYTES``, or one object too deep."""
    body = draw(_bodies(target))
    prop = draw(st.sampled_from(["user_metadata", "app_metadata"]))
    if draw(st.booleans()):
        value: Any = draw(_largest())
        key = next(iter(value))
        value[key] += "x" * draw(st.integers(1, 100))
        size = _compact_size(value)
        problem = f"Metadata is too large ({size} bytes), maximum {METADATA_MAX_BYTES}"
    else:
        # a scalar is no level: the object reached through MAX_DEPTH keys is one too deep
        value = _nested("d", METADATA_MAX_DEPTH + 1, draw(JSON_SCALARS))
        path = prop + ".d" * METADATA_MAX_DEPTH
        problem = f"Metadata is nested too deeply at {path}, maximum depth {METADATA_MAX_DEPTH}"
    sentence = payload_error(problem, prop)
    return _invalid(target, "metadata-limits", problem[:30], {**body, prop: value}, sentence)


@st.composite
def _reserved_keys(draw: st.DrawFn, target: _Target) -> InvalidBody:
    body = draw(_bodies(target))
    key = draw(st.sampled_from(sorted(APP_METADATA_RESERVED_KEYS)))
    data = {**_roomy(body.get("app_metadata")), key: draw(JSON_VALUES)}
    order = draw(st.permutations(list(data)))
    data = {k: data[k] for k in order}
    sentence = payload_error(
        f"Reserved app_metadata field names are not allowed: {key}", "app_metadata"
    )
    return _invalid(target, "reserved-app-metadata", key, {**body, "app_metadata": data}, sentence)


def _refusal(
    target: _Target,
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
def _fields_not_allowed(draw: st.DrawFn, target: _Target) -> InvalidBody:
    """A schema-valid field the connection's strategy does not take."""
    body = draw(_bodies(target))
    refused = target.not_allowed()
    prop = draw(st.sampled_from(sorted(refused)))
    fields = {**body, prop: draw(refused[prop])}
    message = f'"{prop}" is not allowed'
    return _refusal(target, "field-not-allowed", prop, fields, errors.FieldNotAllowedError, message)


@st.composite
def _username_not_allowed(draw: st.DrawFn, target: _Target) -> InvalidBody:
    """Any schema-valid username on a connection without ``requires_username``."""
    body = draw(_bodies(target))
    username = draw(st.one_of(usernames(), text_units(1, USERNAME_SCHEMA_MAX)))
    return _refusal(
        target,
        "username-not-allowed",
        "username",
        {**body, "username": username},
        errors.UsernameNotAllowedError,
    )


@st.composite
def _missing_fields(draw: st.DrawFn, target: _Target) -> InvalidBody:
    body = draw(_bodies(target))
    prop = draw(st.sampled_from(target.required))
    del body[prop]
    sentence = payload_error(f"Missing required property: {prop}")
    return _invalid(target, "missing-required", prop, body, sentence)


@st.composite
def _invalid_usernames(draw: st.DrawFn, target: _Target) -> InvalidBody:
    """Username length, characters or email shape against the connection's rules."""
    body = draw(_bodies(target))
    low, high = _username_range(target.options)
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
            st.characters(min_codepoint=0x80, max_codepoint=0xFFFF, exclude_categories=_SURROGATES),
        )
        good = draw(fitting)[: high - 1]
        username = _insert(draw, good, draw(bad))
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
def _weak_password_cases(draw: st.DrawFn, target: _Target) -> InvalidBody:
    body = draw(_bodies(target))
    password = draw(_weak_passwords(target.policy))
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
    for word in sorted(common_passwords() | _custom_words(policy)):
        for variant in (word, word.capitalize(), word.swapcase(), word.upper()):
            if _strong_enough(policy, variant):
                found.append(variant)
                break
    return tuple(found)


@st.composite
def _dictionary_cases(draw: st.DrawFn, target: _Target) -> InvalidBody:
    """A common (10k list) or custom-listed password that passes the strength rules."""
    body = draw(_bodies(target))
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
def _personal_info_cases(draw: st.DrawFn, target: _Target) -> InvalidBody:
    """A strong password holding the email local part, username, name or nickname."""
    body = draw(_bodies(target))
    # Only what Auth0 surely looks at: the email's local part (not the whole address), the
    # username, name and nickname.
    sources = [body["email"].rpartition("@")[0], *(body.get(k) for k in _NAMES)]
    if not any(isinstance(v, str) and len(v) >= 3 for v in sources):
        body["name"] = draw(st.text(st.sampled_from(string.ascii_letters), min_size=3, max_size=8))
        sources.append(body["name"])
    ours = {str(i): v for i, v in enumerate(sources) if isinstance(v, str)}
    password = draw(_personal_passwords(target.policy, ours, strong=True))
    return _refusal(
        target,
        "personal-info-password",
        "personal info",
        {**body, "password": password},
        errors.PasswordNoUserInfoError,
    )


def _keys(target: _Target, body: Mapping[str, Any]) -> set[tuple[str, str]]:
    out = {(k, body[k].lower()) for k in ("email", "username", "phone_number") if k in body}
    if body.get("user_id"):
        out.add(("user_id", body["user_id"].lower()))
    return out


@st.composite
def _duplicates(draw: st.DrawFn, target: _Target) -> InvalidBody:
    """A second user taking the first one's email, username, phone number or user_id."""
    props = ["user_id"] + [k for k in ("email", "username", "phone_number") if k in target.required]
    prop = draw(st.sampled_from(props))
    first = draw(_bodies(target))
    if prop == "user_id":
        first["user_id"] = draw(user_ids().filter(bool))
    taken = _keys(target, first)
    second = draw(_bodies(target).filter(lambda b: not (_keys(target, b) & taken)))
    copied = first[prop]
    second[prop] = ascii_case_variant(draw, copied) if prop in ("email", "username") else copied
    if "password" in second and not _accepted(target.policy, second["password"], second):
        second["password"] = draw(passwords(target.policy, profile=second))
    if prop == "username":
        error: type[errors.IdentityStoreError] = errors.UsernameInUseError
    else:
        error = errors.UserExistsError
    return _refusal(target, "duplicate", prop, second, error, setup=(first,))


@st.composite
def _unknown_connections(draw: st.DrawFn, target: _Target) -> InvalidBody:
    body = draw(_bodies(target))
    name = draw(
        st.text(TEXT_CHARS, min_size=1, max_size=30).filter(
            lambda n: n not in _DEFAULT_CONNECTIONS and n != target.name
        )
    )
    case = _refusal(target, "unknown-connection", name, body, errors.UnknownConnectionError)
    return replace(case, connection=name)


_ALL_PROPS = tuple(CREATE_USER_FIELDS)


def _families(target: _Target) -> dict[str, Strategy[InvalidBody]]:
    """Violation family -> its strategy, for the families that apply to ``target``."""
    policy = target.policy
    found: dict[str, Callable[[_Target], Strategy[InvalidBody]]] = {
        "wrong-type": _field_family("wrong-type", wrong_type, _ALL_PROPS),
        "email-format": _field_family("email-format", lambda _: _bad_emails(), ("email",)),
        "phone-pattern": _field_family("phone-pattern", lambda _: _bad_phones(), ("phone_number",)),
        "picture-format": _field_family("picture-format", lambda _: _bad_pictures(), ("picture",)),
        "user-id-pattern": _field_family(
            "user-id-pattern", lambda _: _bad_user_ids(), ("user_id",)
        ),
        "string-length": _field_family(
            "string-length", _length_breakers, (*MAX_LENGTH, *MIN_ONE_ALL)
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
        if _breakable(policy):
            found["weak-password"] = _weak_password_cases
        if _rule(policy, "dictionary") and _dictionary_candidates(policy):
            found["dictionary-password"] = _dictionary_cases
        if _rule(policy, "personalInfo"):
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
    target = _target(connection, strategy)
    wanted = set(VIOLATIONS if violations is None else violations)
    unknown = wanted - set(VIOLATIONS)
    if unknown:
        raise InvalidArgument(f"unknown violation families: {sorted(unknown)}")
    families = {k: v for k, v in _families(target).items() if k in wanted}
    if not families:
        raise InvalidArgument(f"none of {sorted(wanted)} applies to this connection")
    return st.one_of([families[name] for name in sorted(families)])


# -- persisted users -------------------------------------------------------------------------------


def users(store: IdentityStore, connection: str = _DB) -> Strategy[User]:
    """Users created in ``store`` (in ``connection``) as they are drawn.

    Every draw writes to ``store``, which Hypothesis does not reset between examples: make the
    store inside the test and draw with ``st.data()`` (see docs/strategies.md). A drawn body that
    collides with an existing user is drawn again.

    Raises:
        UnknownConnectionError: ``connection`` is not in ``store`` (when drawing).
    """

    @st.composite
    def created(draw: st.DrawFn) -> User:
        found = store.get_connection(connection)
        bodies = create_user_bodies(found)
        for _ in range(10):
            try:
                return store.create_user(connection, **draw(bodies))
            except (errors.UserExistsError, errors.UsernameInUseError):
                continue
        reject()  # pragma: no cover - ten collisions in a row

    return created()
