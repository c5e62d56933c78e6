"""The oracles that keep generation honest, re-implemented from Auth0's contract: UTF-16
lengths, JS whitespace, character classes, the password rules, the "no personal info" values."""

from __future__ import annotations

import string
from collections.abc import Collection, Mapping
from functools import cache
from importlib.resources import files
from itertools import pairwise
from typing import Any, Final, Literal

from hypothesis import strategies as st

from .. import PasswordPolicy
from ..limits import BCRYPT_MAX_BYTES, FIELD_DESCRIPTIONS, USERNAME_SYMBOLS
from ..passwords import PasswordRule

Strategy = st.SearchStrategy

SURROGATES: Final[tuple[Literal["Cs"]]] = ("Cs",)

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
NO_CLASS_GROUPS: Final = ("éüñßж", "日本語中文", "😀🎉🚀🌍🔑")
NO_CLASS_LETTERS: Final = "".join(NO_CLASS_GROUPS)
#: Code points never generated in valid values: NUL (PostgreSQL cannot store it).
EXCLUDED: Final = "\x00"
STRENGTH_CODES: Final = frozenset(
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


def classes_in(password: str, kinds: Collection[str]) -> int:
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


def find_rule(policy: PasswordPolicy, *codes: str) -> PasswordRule | None:
    return next((rule for rule in policy.rules if rule.code in codes), None)


def rule_number(rule: PasswordRule | None, name: str, default: int) -> int:
    value = None if rule is None else rule.params.get(name)
    return value if isinstance(value, int) else default


def rule_words(rule: PasswordRule | None, name: str) -> tuple[str, ...]:
    value = None if rule is None else rule.params.get(name)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, tuple | list) else ()


def min_length(policy: PasswordPolicy) -> int:
    return rule_number(find_rule(policy, "nonEmpty", "lengthAtLeast"), "min_length", 1)


def custom_words(policy: PasswordPolicy) -> frozenset[str]:
    return frozenset(w.lower() for w in rule_words(find_rule(policy, "dictionary"), "custom"))


def in_dictionary(policy: PasswordPolicy, password: str) -> bool:
    if find_rule(policy, "dictionary") is None:
        return False
    lowered = password.lower()
    return lowered in common_passwords() or lowered in custom_words(policy)


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
        return utf16_len(password) >= rule_number(rule, "min_length", 1)
    kinds = rule_words(rule, "character_types")
    if code == "containsAtLeast":
        return classes_in(password, kinds) >= rule_number(rule, "at_least", 3)
    if code == "shouldContain":
        return classes_in(password, kinds) == len(kinds)
    if code == "identicalChars":
        return _longest_run(password) <= rule_number(rule, "max", 2)
    if code == "sequentialChars":
        return not _has_neighbours(password)
    if code == "maxLength":
        return len(password.encode("utf-8")) <= rule_number(rule, "max_bytes", BCRYPT_MAX_BYTES)
    raise ValueError(f"not a strength rule: {code}")


def strong_enough(policy: PasswordPolicy, password: str) -> bool:
    return all(_rule_passes(r, password) for r in policy.rules if r.code in STRENGTH_CODES)


def accepted(policy: PasswordPolicy, password: str, body: Mapping[str, Any] | None) -> bool:
    """Whether the policy surely accepts ``password`` for a user with ``body``'s profile."""
    return (
        strong_enough(policy, password)
        and not in_dictionary(policy, password)
        and not (find_rule(policy, "personalInfo") and _contains_personal_info(password, body))
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
