"""Connection strategies: which fields a connection's users take, which are required, their ids.

A *connection strategy* is Auth0's ``strategy`` of a connection (``auth0``, ``email``, ``sms``), not
a Hypothesis strategy. A store knows the three built-ins and any an app registers with
``IdentityStore.register_strategy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from . import limits

__all__ = [
    "COMMON_FIELDS",
    "DEFAULT_CONNECTIONS",
    "ConnectionStrategy",
    "CustomStrategy",
    "DatabaseStrategy",
    "EmailStrategy",
    "FieldRules",
    "SmsStrategy",
    "builtin_strategies",
]

#: Fields every strategy takes.
COMMON_FIELDS = frozenset(
    {
        "connection",
        "user_id",
        "blocked",
        "given_name",
        "family_name",
        "name",
        "nickname",
        "picture",
        "user_metadata",
        "app_metadata",
    }
)
_EMAIL_FIELDS = frozenset({"email", "email_verified", "verify_email"})
_PHONE_FIELDS = frozenset({"phone_number", "phone_verified"})


@dataclass(frozen=True, slots=True)
class FieldRules:
    """The request fields a connection takes (``allowed``) and must get (``required``, in order)."""

    allowed: frozenset[str]
    required: tuple[str, ...]


@runtime_checkable
class ConnectionStrategy(Protocol):
    """What a connection strategy decides.

    Attributes:
        name: the ``strategy`` value of its connections (``auth0``, ``email``, ``sms``, ...).
        user_id_prefix: the provider part of its users' ids (``<prefix>|<id>``).
        takes_password: whether its users have a password (then the password policy applies).
        lowercase_email: whether emails are stored lower-cased (and so unique case-insensitively).
    """

    @property
    def name(self) -> str: ...

    @property
    def user_id_prefix(self) -> str: ...

    @property
    def takes_password(self) -> bool: ...

    @property
    def lowercase_email(self) -> bool: ...

    def field_rules(self, options: Mapping[str, Any]) -> FieldRules:
        """The fields allowed and required for a connection with these ``options``."""
        ...


def _database_rules(*, username: bool, phone: bool) -> FieldRules:
    allowed = COMMON_FIELDS | _EMAIL_FIELDS | {"password"}
    required: tuple[str, ...] = ("email", "password")
    if username:
        allowed |= {"username"}
        required += ("username",)
    if phone:
        allowed |= _PHONE_FIELDS
    return FieldRules(allowed, required)


#: The rules of the built-in strategies (a database connection's depend on two options).
_DATABASE_RULES = {
    (u, p): _database_rules(username=u, phone=p) for u in (False, True) for p in (False, True)
}
_EMAIL_RULES = FieldRules(COMMON_FIELDS | _EMAIL_FIELDS, ("email",))
_SMS_RULES = FieldRules(COMMON_FIELDS | _PHONE_FIELDS, ("phone_number",))


def _requires_username(options: Mapping[str, Any]) -> bool:
    return options.get("requires_username") is True


def _has_phone_attribute(options: Mapping[str, Any]) -> bool:
    attributes = options.get("attributes")
    return isinstance(attributes, Mapping) and "phone_number" in attributes


@dataclass(frozen=True, slots=True)
class DatabaseStrategy:
    """Auth0's database connections (``auth0``): email and password, username if required."""

    name: str = "auth0"
    user_id_prefix: str = "auth0"
    takes_password: bool = True
    lowercase_email: bool = True

    def field_rules(self, options: Mapping[str, Any]) -> FieldRules:
        """Email and password; ``username`` with ``requires_username``; phone with its attribute."""
        return _DATABASE_RULES[_requires_username(options), _has_phone_attribute(options)]


@dataclass(frozen=True, slots=True)
class EmailStrategy:
    """Passwordless email connections (``email``): the email is the identifier."""

    name: str = "email"
    user_id_prefix: str = "email"
    takes_password: bool = False
    lowercase_email: bool = True

    def field_rules(self, options: Mapping[str, Any]) -> FieldRules:
        """Email, its verification flags and the common profile fields."""
        return _EMAIL_RULES


@dataclass(frozen=True, slots=True)
class SmsStrategy:
    """Passwordless SMS connections (``sms``): the phone number is the identifier."""

    name: str = "sms"
    user_id_prefix: str = "sms"
    takes_password: bool = False
    lowercase_email: bool = True

    def field_rules(self, options: Mapping[str, Any]) -> FieldRules:
        """Phone number, ``phone_verified`` and the common profile fields."""
        return _SMS_RULES


@dataclass(frozen=True, slots=True)
class CustomStrategy:
    """An app's own connection strategy, built from plain data.

    Examples:
        >>> CustomStrategy("ldap", fields={"email", "password"}, required=("email", "password"),
        ...                takes_password=True)  # doctest: +ELLIPSIS
        CustomStrategy(name='ldap', ...)

    Args:
        name: the ``strategy`` name its connections carry.
        fields: request fields it takes besides the common ones (``COMMON_FIELDS``).
        required: fields that must be sent, in the order they are reported missing.
        user_id_prefix: the provider part of user ids; defaults to ``name``.
        takes_password: whether users have a password checked by the connection's policy.
        lowercase_email: whether emails are stored lower-cased.
    """

    name: str
    fields: frozenset[str] = field(default_factory=frozenset)
    required: tuple[str, ...] = ()
    user_id_prefix: str = ""
    takes_password: bool = False
    lowercase_email: bool = True

    def __init__(
        self,
        name: str,
        *,
        fields: Iterable[str] = (),
        required: Iterable[str] = (),
        user_id_prefix: str | None = None,
        takes_password: bool = False,
        lowercase_email: bool = True,
    ) -> None:
        wanted = frozenset(fields) | frozenset(required)
        unknown = wanted - set(limits.CREATE_USER_FIELDS)
        if unknown:
            raise ValueError(f"unknown user fields: {', '.join(sorted(unknown))}")
        if "password" in wanted and not takes_password:
            raise ValueError("a strategy that takes 'password' needs takes_password=True")
        prefix = name if user_id_prefix is None else user_id_prefix
        if not prefix or "|" in prefix or any(c.isspace() for c in prefix):
            raise ValueError("user_id_prefix must be non-empty, without '|' or whitespace")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "fields", wanted)
        object.__setattr__(self, "required", tuple(required))
        object.__setattr__(self, "user_id_prefix", prefix)
        object.__setattr__(self, "takes_password", takes_password)
        object.__setattr__(self, "lowercase_email", lowercase_email)

    def field_rules(self, options: Mapping[str, Any]) -> FieldRules:
        """The common fields plus ``fields``; ``required`` as given."""
        return FieldRules(COMMON_FIELDS | self.fields, self.required)


#: The connections a new store starts with: (name, strategy, options).
DEFAULT_CONNECTIONS: tuple[tuple[str, str, Mapping[str, Any]], ...] = (
    ("Username-Password-Authentication", "auth0", {"passwordPolicy": "good"}),
    ("email", "email", {}),
    ("sms", "sms", {}),
)


def builtin_strategies() -> tuple[ConnectionStrategy, ...]:
    """The three built-in strategies: database (``auth0``), ``email`` and ``sms``."""
    return (DatabaseStrategy(), EmailStrategy(), SmsStrategy())
