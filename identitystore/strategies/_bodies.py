"""The connection bodies are generated for, and the create-user bodies it accepts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .. import Connection, PasswordPolicy
from ._contacts import PATTERN_PHONES, emails, phone_numbers
from ._fields import metadata, picture_urls, user_ids, usernames
from ._oracles import Strategy
from ._passwords import passwords
from ._text import TEXT_CHARS, text_units

#: The connections every new store has: name -> (strategy, options).
DEFAULT_CONNECTIONS: Final[Mapping[str, tuple[str, Mapping[str, Any]]]] = {
    "Username-Password-Authentication": ("auth0", {"passwordPolicy": "good"}),
    "email": ("email", {}),
    "sms": ("sms", {}),
}
DB = "Username-Password-Authentication"


@dataclass(frozen=True)
class Target:
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
        phone = {"phone_number": PATTERN_PHONES, "phone_verified": st.booleans()}
        email = {"email": emails(), "email_verified": st.booleans(), "verify_email": st.booleans()}
        password = {"password": st.text(TEXT_CHARS, min_size=1, max_size=20)}
        if self.strategy == "sms":
            return {**email, **password}
        if self.strategy == "email":
            return {**phone, **password}
        return {} if self.phone_allowed else phone


def resolve_target(
    connection: Connection | str | Mapping[str, Any], strategy: str | None
) -> Target:
    if isinstance(connection, Connection):
        name, kind, options = connection.name, connection.strategy, connection.options
    elif isinstance(connection, str):
        if connection not in DEFAULT_CONNECTIONS:
            raise InvalidArgument(
                f"{connection!r} is not a default connection: pass its Connection object "
                "(store.get_connection(name)) or its options and strategy="
            )
        name = connection
        kind, options = DEFAULT_CONNECTIONS[connection]
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
    return Target(name, kind, dict(options))


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
def bodies_for(draw: st.DrawFn, target: Target) -> dict[str, Any]:
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
    return bodies_for(resolve_target(connection, strategy))
