"""Passwords that meet a connection's password policy, or break it."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from .. import PasswordPolicy
from ..limits import BCRYPT_MAX_BYTES
from ..passwords import PasswordRule
from ._oracles import (
    CHAR_CLASSES,
    NO_CLASS_GROUPS,
    NO_CLASS_LETTERS,
    SPECIALS,
    STRENGTH_CODES,
    Strategy,
    accepted,
    ascii_case_variant,
    classes_in,
    clip_utf16,
    common_passwords,
    custom_words,
    find_rule,
    in_dictionary,
    min_length,
    personal_values,
    rule_number,
    rule_words,
    strong_enough,
    utf16_len,
)
from ._text import insert


def _same_size(char: str) -> str:
    """The characters that may replace ``char`` without changing any length or class."""
    for chars in (*CHAR_CLASSES.values(), *NO_CLASS_GROUPS):
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
    minimum = min_length(policy)
    charset = find_rule(policy, "containsAtLeast", "shouldContain")
    if charset is None:
        kinds = draw(st.lists(st.sampled_from(sorted(CHAR_CLASSES)), min_size=1, unique=True))
    else:
        listed = list(rule_words(charset, "character_types"))
        need = (
            len(listed) if charset.code == "shouldContain" else rule_number(charset, "at_least", 3)
        )
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
    if find_rule(policy, "identicalChars", "sequentialChars"):
        password = "".join(_spread(list(password)))
    assume(accepted(policy, password, profile))
    return password


@st.composite
def weak_passwords(draw: st.DrawFn, policy: PasswordPolicy) -> str:
    """Non-empty passwords that break one of the policy's strength rules."""
    rule = draw(st.sampled_from(breakable_rules(policy)))
    strong = draw(_valid_passwords(policy, None))
    code = rule.code
    if code == "lengthAtLeast":
        return clip_utf16(strong, draw(st.integers(1, min_length(policy) - 1))) or "x"
    if code in ("containsAtLeast", "shouldContain"):
        listed = list(rule_words(rule, "character_types"))
        keep = (
            rule_number(rule, "at_least", 3) - 1 if code == "containsAtLeast" else len(listed) - 1
        )
        kept = draw(st.permutations(listed))[: draw(st.integers(0, keep))]
        left_out = set(listed) - set(kept)
        others = [k for k in CHAR_CLASSES if k not in listed]  # classes the rule ignores
        alphabet = "".join(CHAR_CLASSES[k] for k in [*kept, *others]) + NO_CLASS_LETTERS
        size = draw(st.integers(min_length(policy), min_length(policy) + 20))
        password = draw(st.text(st.sampled_from(alphabet), min_size=size, max_size=size))
        assert classes_in(password, left_out) == 0
        return password
    if code == "identicalChars":
        char = draw(st.sampled_from(string.ascii_letters + string.digits + SPECIALS))
        return insert(draw, strong, char * (rule_number(rule, "max", 2) + 1))
    if code == "sequentialChars":
        start = draw(st.sampled_from("abcdefghijklmnopqrstuvwxABCDEFGHIJKLMNOPQRSTUVWX01234567"))
        run = "".join(chr(ord(start) + i) for i in range(3))
        return insert(draw, strong, run[::-1] if draw(st.booleans()) else run)
    # maxLength: more than 72 UTF-8 bytes
    return (
        strong
        + "x" * (BCRYPT_MAX_BYTES + 1 - len(strong.encode("utf-8")))
        + draw(st.text(st.sampled_from(string.ascii_letters), max_size=20))
    )


def breakable_rules(policy: PasswordPolicy) -> list[PasswordRule]:
    """Strength rules a non-empty password can break."""
    return [
        rule
        for rule in policy.rules
        if rule.code in STRENGTH_CODES - {"nonEmpty"}
        and not (rule.code == "lengthAtLeast" and min_length(policy) < 2)
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
    if breakable_rules(policy):
        options.append(weak_passwords(policy))
    if find_rule(policy, "dictionary"):
        words = sorted(common_passwords() | custom_words(policy))
        options.append(st.sampled_from(words).map(_case_of))
    if find_rule(policy, "personalInfo") and profile and personal_values(profile):
        options.append(personal_passwords(policy, profile, strong=False))
    return st.one_of(options)


def _case_of(word: str) -> str:
    return word.upper() if len(word) % 2 else word


@st.composite
def personal_passwords(
    draw: st.DrawFn, policy: PasswordPolicy, profile: Mapping[str, Any], *, strong: bool
) -> str:
    """A password holding one of ``profile``'s values; with ``strong``, otherwise accepted."""
    value = draw(st.sampled_from(personal_values(profile)))
    base = draw(_valid_passwords(policy, None))
    password = insert(draw, base, ascii_case_variant(draw, value))
    if strong:
        assume(strong_enough(policy, password) and not in_dictionary(policy, password))
    return password
