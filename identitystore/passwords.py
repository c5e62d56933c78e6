"""Password policies of Auth0 database connections, as Auth0 enforces them with password-sheriff.

A policy is read from a connection's ``options`` (``ConnectionOptionsAuth0``): the legacy fields
(``passwordPolicy``, ``password_complexity_options``, ``password_dictionary``,
``password_no_personal_info``, ``password_history``) or, when ``password_options`` is an object,
the Flexible Password Policy. Lengths and character runs count UTF-16 code units (JS strings);
the 72-byte limit counts UTF-8 bytes, lone surrogates as U+FFFD (3 bytes), like Node's ``Buffer``.

    >>> policy = PasswordPolicy.from_options({"passwordPolicy": "good"})
    >>> [rule.code for rule in policy.missing("abcdefgh")]
    ['containsAtLeast']
"""

from __future__ import annotations

import re
import sys
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import ClassVar, Literal

from .errors import (
    PasswordDictionaryError,
    PasswordNoUserInfoError,
    PasswordPolicyError,
    PasswordStrengthError,
)
from .limits import BCRYPT_MAX_BYTES, PASSWORD_POLICY_LEVELS

__all__ = ["PasswordPolicy", "PasswordRule", "ProfileData"]

_Test = Callable[[str, "ProfileData | None"], bool]

#: Character types in password-sheriff's order: flexible name -> (explain() text, pattern).
_CHARSETS: dict[str, tuple[str, re.Pattern[str]]] = {
    "lowercase": ("lower case letters (a-z)", re.compile("[a-z]")),
    "uppercase": ("upper case letters (A-Z)", re.compile("[A-Z]")),
    "number": ("numbers (i.e. 0-9)", re.compile("[0-9]")),
    # OWASP special characters: space and the 32 ASCII punctuation characters.
    "special": ("special characters (e.g. !@#$%^&*)", re.compile(r"[ !-/:-@\[-`{-~]")),
}
_ALNUM = frozenset([*range(0x30, 0x3A), *range(0x41, 0x5B), *range(0x61, 0x7B)])
#: Fields of the "no personal info" rule; ``email`` means its local part.
_PERSONAL_INFO_FIELDS: tuple[str, ...] = ("name", "username", "nickname", "email")
_PERSONAL_INFO_FIELDS += ("user_metadata.name", "user_metadata.first", "user_metadata.last")
_MIN_INFO_LENGTH = 3
_DEFAULT_HISTORY_SIZE = 5
#: Legacy levels: (minimum length, character rule code or None, identical-characters rule).
_LEVELS: dict[str, tuple[int, str | None, bool]] = {
    "none": (1, None, False),
    "low": (6, None, False),
    "fair": (8, "shouldContain", False),
    "good": (8, "containsAtLeast", False),
    "excellent": (10, "containsAtLeast", True),
}


@cache
def _common_passwords() -> frozenset[str]:
    """The 10k most common passwords, lower-cased; read once per process."""
    text = (files("identitystore") / "data" / "10k-most-common.txt").read_text(encoding="utf-8")
    return frozenset(line.lower() for line in text.splitlines() if line)


def _utf8(password: str) -> bytes:
    """UTF-8 bytes as Node encodes a JS string: pairs joined, lone surrogates as U+FFFD."""
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        units = password.encode("utf-16-le", "surrogatepass")
        return units.decode("utf-16-le", "replace").encode("utf-8")


def _code_units(password: str) -> Sequence[int]:
    """The UTF-16 code units of ``password`` (JS ``charCodeAt``)."""
    if password.isascii():
        return password.encode("ascii")
    units = array("H", password.encode("utf-16-le", "surrogatepass"))
    if sys.byteorder == "big":
        units.byteswap()
    return units


def _utf16_len(password: str) -> int:
    return len(password) if password.isascii() else len(_code_units(password))


def _identical_ok(password: str, limit: int) -> bool:
    """password-sheriff ``identicalChars``: no run of more than ``limit`` equal code units."""
    previous, run = -1, 0
    for code in _code_units(password):
        run = run + 1 if code == previous else 1
        if run > limit:
            return False
        previous = code
    return True


def _sequential_ok(password: str, limit: int) -> bool:
    """password-sheriff ``sequentialChars``: no run of more than ``limit`` codes going by +-1.

    Only ASCII letters and digits extend a run, but each is compared with the code unit before it
    even when that one is not alphanumeric (``"/01"`` is a run of 3); an empty password fails.
    """
    units = _code_units(password)
    if not units:
        return False
    run = 1 if units[0] in _ALNUM else 0
    direction = 0
    for i in range(1, len(units)):
        code = units[i]
        if code not in _ALNUM:
            direction, run = 0, 0
            continue
        diff = code - units[i - 1]
        if diff in (1, -1):
            if diff == direction:
                run += 1
            else:
                direction, run = diff, 2
        else:
            direction, run = 0, 1
        if run > limit:
            return False
    return True


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _strs(value: object) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class ProfileData:
    """The user's data the "no personal info" rule looks for (case-insensitively) in a password.

    Values shorter than 3 characters are ignored (a choice: a 1-letter name would block too much).

    Attributes:
        email: the email; only its local part (before the last ``@``) is looked for.
        username: the username.
        name: the full name.
        nickname: the nickname.
        user_metadata: its string values ``name``, ``first`` and ``last`` are looked for.
        extra: more fields by name, for the flexible policy's ``profile_data.blocked_fields``.
    """

    email: str | None = None
    username: str | None = None
    name: str | None = None
    nickname: str | None = None
    user_metadata: Mapping[str, object] | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    #: The user fields a profile holds (as ``extra`` too, for ``blocked_fields``).
    FIELDS: ClassVar[tuple[str, ...]] = (
        "email",
        "username",
        "phone_number",
        "name",
        "nickname",
        "given_name",
        "family_name",
    )

    @classmethod
    def of(cls, fields: Callable[[str], object]) -> ProfileData:
        """The profile of a user whose field values ``fields(name)`` gives (``FIELDS`` and
        ``user_metadata``); values that are not strings count as absent."""
        values = {name: value for name in cls.FIELDS if isinstance(value := fields(name), str)}
        metadata = fields("user_metadata")
        return cls(
            email=values.get("email"),
            username=values.get("username"),
            name=values.get("name"),
            nickname=values.get("nickname"),
            user_metadata=metadata if isinstance(metadata, Mapping) else None,
            extra=values,
        )

    def _values(self, fields: Sequence[str]) -> list[str]:
        """The string values of ``fields`` (``_PERSONAL_INFO_FIELDS`` names or ``extra`` keys)."""
        found: list[str] = []
        for name in fields:
            value: object
            if name == "email":
                local, at, _ = (self.email or "").rpartition("@")
                value = local if at else self.email
            elif name in ("name", "username", "nickname"):
                value = getattr(self, name)
            elif name.startswith("user_metadata."):
                value = (self.user_metadata or {}).get(name.removeprefix("user_metadata."))
            else:
                value = self.extra.get(name)
            if isinstance(value, str):
                found.append(value)
        return found


def _make_test(code: str, params: Mapping[str, object]) -> _Test:
    """The predicate of a rule, built once from its params."""
    if code in ("nonEmpty", "lengthAtLeast"):
        minimum = _int(params.get("min_length"), 1)
        return lambda pw, _: bool(pw) and _utf16_len(pw) >= minimum
    if code in ("shouldContain", "containsAtLeast"):
        kinds = _strs(params.get("character_types"))
        patterns = tuple(_CHARSETS[kind][1] for kind in kinds if kind in _CHARSETS)
        need = len(patterns) if code == "shouldContain" else _int(params.get("at_least"), 3)
        return lambda pw, _: bool(pw) and sum(1 for p in patterns if p.search(pw)) >= need
    if code == "identicalChars":
        limit = _int(params.get("max"), 2)
        return lambda pw, _: _identical_ok(pw, limit)
    if code == "sequentialChars":
        limit = _int(params.get("max"), 2)
        return lambda pw, _: _sequential_ok(pw, limit)
    if code == "maxLength":
        max_bytes = _int(params.get("max_bytes"), BCRYPT_MAX_BYTES)
        return lambda pw, _: bool(pw) and (len(pw) * 4 <= max_bytes or len(_utf8(pw)) <= max_bytes)
    if code == "dictionary":
        custom = frozenset(word.lower() for word in _strs(params.get("custom")))

        def not_common(pw: str, _: ProfileData | None) -> bool:
            lowered = pw.lower()
            return lowered not in custom and lowered not in _common_passwords()

        return not_common
    if code == "personalInfo":
        fields = _strs(params.get("fields"))

        def no_info(pw: str, profile: ProfileData | None) -> bool:
            if profile is None:
                return True
            lowered = pw.lower()
            values = profile._values(fields)
            return not any(len(v) >= _MIN_INFO_LENGTH and v.lower() in lowered for v in values)

        return no_info
    raise ValueError(f"unknown password rule code: {code!r}")


@dataclass(frozen=True, slots=True)
class PasswordRule:
    """One rule of a password policy.

    Attributes:
        code: password-sheriff's code (``lengthAtLeast``, ``containsAtLeast``, ...), or
            ``dictionary`` / ``personalInfo``.
        message: help text, like password-sheriff's ``explain()``.
        params: the rule's settings, e.g. ``{"min_length": 8}``.
        error: the error class the rule raises in :meth:`PasswordPolicy.enforce`.
    """

    code: str
    message: str
    params: Mapping[str, object] = field(default_factory=dict, hash=False)
    error: type[PasswordPolicyError] = field(default=PasswordStrengthError, repr=False)
    _test: _Test = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "_test", _make_test(self.code, self.params))

    def passes(self, password: object, profile: ProfileData | None = None) -> bool:
        """Whether ``password`` meets the rule; a non-string never does."""
        return isinstance(password, str) and self._test(password, profile)


def _length_rule(min_length: int) -> PasswordRule:
    if min_length == 1:
        return PasswordRule("nonEmpty", "Non-empty password required", {"min_length": 1})
    message = f"At least {min_length} characters in length"
    return PasswordRule("lengthAtLeast", message, {"min_length": min_length})


def _charset_rule(code: str, kinds: Sequence[str]) -> PasswordRule:
    ordered = tuple(kind for kind in _CHARSETS if kind in kinds)
    items = ", ".join(_CHARSETS[kind][0] for kind in ordered)
    if code == "shouldContain":
        return PasswordRule(code, f"Should contain: {items}", {"character_types": ordered})
    message = f"Contain at least 3 of the following 4 types of characters: {items}"
    return PasswordRule(code, message, {"at_least": 3, "character_types": ordered})


def _identical_rule() -> PasswordRule:
    message = 'No more than 2 identical characters in a row (e.g., "aaa" not allowed)'
    return PasswordRule("identicalChars", message, {"max": 2})


def _dictionary_rule(custom: Sequence[str], default: str) -> PasswordRule:
    message = "Password must not be a common password"
    params = {"default": default, "custom": tuple(custom)}
    return PasswordRule("dictionary", message, params, PasswordDictionaryError)


def _personal_info_rule(blocked: Sequence[str] = ()) -> PasswordRule:
    fields = tuple(dict.fromkeys((*_PERSONAL_INFO_FIELDS, *blocked)))
    message = "Password must not contain user information"
    return PasswordRule("personalInfo", message, {"fields": fields}, PasswordNoUserInfoError)


def _history_size(enabled: object, size: object) -> int:
    return max(0, _int(size, _DEFAULT_HISTORY_SIZE)) if enabled is True else 0


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """A connection's password policy: its rules in enforcement order, and how it hashes.

    Attributes:
        rules: strength rules, then ``dictionary``, then ``personalInfo``.
        mode: ``legacy`` (``passwordPolicy`` levels) or ``flexible`` (``password_options``).
        level: the legacy level name (``none`` for a missing or unknown one); None if flexible.
        history_size: how many previous passwords cannot be reused; 0 when history is off.
        truncates: whether passwords over 72 UTF-8 bytes are accepted and cut (bcrypt's limit).
    """

    rules: tuple[PasswordRule, ...]
    mode: Literal["legacy", "flexible"] = "legacy"
    level: str | None = "none"
    history_size: int = 0
    truncates: bool = True

    @classmethod
    def from_options(cls, options: Mapping[str, object] | None) -> PasswordPolicy:
        """The policy of a connection's ``options``; absent, None or odd values mean "off".

        Only the fields the policy needs are read; ``options`` is not validated. Enabled history
        without a ``size`` counts 5 previous passwords (a choice). The ``en_100k`` dictionary is
        not shipped: the 10k list is used instead.
        """
        options = options or {}
        flexible = options.get("password_options")
        if isinstance(flexible, Mapping):
            return cls._flexible(flexible)
        name = options.get("passwordPolicy")
        level = name if isinstance(name, str) and name in PASSWORD_POLICY_LEVELS else "none"
        min_length, charset, identical = _LEVELS[level]
        complexity = _mapping(options.get("password_complexity_options"))
        rules = [_length_rule(max(1, _int(complexity.get("min_length"), min_length)))]
        if charset == "shouldContain":
            rules.append(_charset_rule(charset, ("lowercase", "uppercase", "number")))
        elif charset is not None:
            rules.append(_charset_rule(charset, tuple(_CHARSETS)))
        if identical:
            rules.append(_identical_rule())
        dictionary = _mapping(options.get("password_dictionary"))
        if dictionary.get("enable") is True:
            rules.append(_dictionary_rule(_strs(dictionary.get("dictionary")), "en_10k"))
        if _mapping(options.get("password_no_personal_info")).get("enable") is True:
            rules.append(_personal_info_rule())
        history = _mapping(options.get("password_history"))
        size = _history_size(history.get("enable"), history.get("size"))
        return cls(tuple(rules), "legacy", level, size, truncates=True)

    @classmethod
    def _flexible(cls, options: Mapping[str, object]) -> PasswordPolicy:
        complexity = _mapping(options.get("complexity"))
        rules = [_length_rule(max(1, _int(complexity.get("min_length"), 1)))]
        kinds = [kind for kind in _strs(complexity.get("character_types")) if kind in _CHARSETS]
        if complexity.get("character_type_rule") == "three_of_four":
            rules.append(_charset_rule("containsAtLeast", tuple(_CHARSETS)))
        elif kinds:
            rules.append(_charset_rule("shouldContain", kinds))
        if complexity.get("identical_characters") == "block":
            rules.append(_identical_rule())
        if complexity.get("sequential_characters") == "block":
            message = 'No more than 2 sequential alphanumeric characters (e.g., "abc" not allowed)'
            rules.append(PasswordRule("sequentialChars", message, {"max": 2}))
        truncates = complexity.get("max_length_exceeded") != "error"
        if not truncates:
            message = "Maximum password length exceeded"
            rules.append(PasswordRule("maxLength", message, {"max_bytes": BCRYPT_MAX_BYTES}))
        dictionary = _mapping(options.get("dictionary"))
        if dictionary.get("active") is True:
            default = dictionary.get("default")
            default = default if default in ("en_10k", "en_100k") else "en_10k"
            rules.append(_dictionary_rule(_strs(dictionary.get("custom")), str(default)))
        profile_data = _mapping(options.get("profile_data"))
        if profile_data.get("active") is True:
            rules.append(_personal_info_rule(_strs(profile_data.get("blocked_fields"))))
        history = _mapping(options.get("history"))
        size = _history_size(history.get("active"), history.get("size"))
        return cls(tuple(rules), "flexible", None, size, truncates=truncates)

    def check(self, password: object, profile: ProfileData | None = None) -> bool:
        """Whether ``password`` meets every rule (``profile=None``: no personal data known)."""
        return all(rule.passes(password, profile) for rule in self.rules)

    def missing(self, password: object, profile: ProfileData | None = None) -> list[PasswordRule]:
        """The rules ``password`` breaks, in enforcement order; empty when it is fine."""
        return [rule for rule in self.rules if not rule.passes(password, profile)]

    def enforce(self, password: object, profile: ProfileData | None = None) -> None:
        """Raise the error of the first broken rule, with the codes of all its class's broken rules.

        Raises:
            PasswordStrengthError: too short or long, missing character types, or runs.
            PasswordDictionaryError: a common or custom-listed password.
            PasswordNoUserInfoError: the password contains the user's data.
        """
        error: type[PasswordPolicyError] | None = None
        codes: list[str] = []
        for rule in self.rules:
            if (error is None or rule.error is error) and not rule.passes(password, profile):
                error = error or rule.error
                codes.append(rule.code)
        if error is not None:
            raise error(rules=codes)

    def secret_for_hashing(self, password: str) -> bytes:
        """The UTF-8 bytes to hash: the first 72 when the policy truncates, else all of them."""
        secret = _utf8(password)
        return secret[:BCRYPT_MAX_BYTES] if self.truncates else secret

    def login_secret(self, password: object, *, whole: bool = False) -> bytes | None:
        """The bytes a stored hash of ``password`` was made from (``secret_for_hashing``), or
        None for a password no stored hash can match: not a non-empty string, a NUL (create and
        PATCH refuse them), a lone surrogate, or too long for a policy that does not truncate.

        With ``whole``, all the UTF-8 bytes: what a hash imported from another system saw.
        """
        if not isinstance(password, str) or not password or "\x00" in password:
            return None
        try:
            secret = password.encode("utf-8")
        except UnicodeEncodeError:
            return None
        if whole:
            return secret
        if len(secret) > BCRYPT_MAX_BYTES and not self.truncates:
            return None
        return secret[:BCRYPT_MAX_BYTES]
