"""Usernames, user ids, picture URLs and metadata within Auth0's rules and identitystore's
limits."""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from typing import Any, Final

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..limits import (
    APP_METADATA_RESERVED_KEYS,
    METADATA_MAX_BYTES,
    METADATA_MAX_DEPTH,
    USER_ID_MAX,
    USERNAME_DEFAULT_MAX,
    USERNAME_DEFAULT_MIN,
    USERNAME_SCHEMA_MAX,
)
from ._contacts import HOST
from ._oracles import (
    EXCLUDED,
    JS_WHITESPACE,
    PYTHON_ONLY_WHITESPACE,
    SURROGATES,
    USERNAME_ALPHABET,
    Strategy,
    clip_utf16,
)
from ._text import TEXT_CHARS, text_units


def _email_shaped(username: str) -> bool:
    """A superset of validator.js emails: an ``@`` with a ``.`` somewhere after it."""
    return "@" in username and "." in username.rpartition("@")[2]


def username_range(options: Mapping[str, Any]) -> tuple[int, int]:
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
    low, high = username_range(options or {})
    if not 1 <= low <= high <= USERNAME_SCHEMA_MAX:
        raise InvalidArgument(f"username range {low}..{high} is empty or outside 1..128")
    chars = st.sampled_from(USERNAME_ALPHABET)
    return st.one_of(
        st.text(chars, min_size=low, max_size=min(high, low + 20)),
        st.text(chars, min_size=low, max_size=low),
        st.text(chars, min_size=high, max_size=high),
    ).filter(lambda u: not _email_shaped(u))


ID_CHARS = st.one_of(
    st.characters(exclude_categories=SURROGATES, exclude_characters=JS_WHITESPACE + EXCLUDED),
    st.sampled_from(PYTHON_ONLY_WHITESPACE + "|"),
)


def user_ids() -> Strategy[str]:
    """``^\\S*$`` (JS ``\\S``) and at most 255 units: plain, ``auth0|``-prefixed, long or empty."""
    return st.one_of(
        st.text(ID_CHARS, min_size=1, max_size=30),
        st.text(ID_CHARS, min_size=1, max_size=20).map("auth0|".__add__),
        text_units(USER_ID_MAX - 5, USER_ID_MAX, ID_CHARS),
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
        st.one_of(HOST, _IPV4),
        st.none() | st.integers(1, 65535),
        st.text(st.sampled_from(_PATH_CHARS), max_size=30).map(lambda p: "/" + p if p else p),
        st.none() | st.text(st.sampled_from(_PATH_CHARS + "?="), max_size=20),
        st.none() | st.text(st.sampled_from(_PATH_CHARS + "#"), max_size=10),
    )


_KEY_CHARS = st.characters(exclude_categories=SURROGATES, exclude_characters=".$" + EXCLUDED)
#: Keys metadata objects may hold: no ``.``, ``$`` or NUL, up to 10 characters.
METADATA_KEYS: Final = st.text(_KEY_CHARS, max_size=10)
#: JSON scalars: null, booleans, integers within 64 bits, finite floats, short text.
JSON_SCALARS: Final = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(TEXT_CHARS, max_size=20),
)
#: JSON values: scalars, and arrays and objects of them (a dozen leaves at most).
JSON_VALUES: Final = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(METADATA_KEYS, children, max_size=4)
    ),
    max_leaves=12,
)


def compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def roomy(value: Any) -> dict[str, Any]:
    """A copy of generated metadata, or ``{}`` when it leaves no room for one more small key."""
    if not isinstance(value, dict) or compact_size(value) > METADATA_MAX_BYTES // 2:
        return {}
    return dict(value)


def nested(key: str, levels: int, leaf: Any) -> Any:
    """``levels`` objects nested under ``key``, ``leaf`` in the innermost."""
    value = leaf
    for _ in range(levels):
        value = {key: value}
    return value


@st.composite
def largest(draw: st.DrawFn) -> dict[str, Any]:
    """One string value making the object exactly ``METADATA_MAX_BYTES`` of compact JSON."""
    key = draw(st.text(st.sampled_from(string.digits + "_-"), min_size=1, max_size=8))
    filler = draw(st.sampled_from(string.ascii_letters))
    empty = compact_size({key: ""})
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
    deepest = keys.map(lambda k: {k: nested("d", METADATA_MAX_DEPTH - 2, [])})
    edges = st.one_of(largest(), deepest)
    return st.integers(0, 7).flatmap(lambda n: edges if n == 0 else plain)  # edges 1 in 8
