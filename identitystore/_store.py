"""``IdentityStore``: the facade that runs each operation through the layers, in one direction."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from ._models import (
    Connection,
    NewUserRecord,
    User,
    default_picture,
    format_timestamp,
    new_object_id,
)
from ._validation import (
    CreateUserInput,
    check_connection,
    check_create_body,
    validate_for_connection,
)
from .connections import ConnectionStrategy, builtin_strategies
from .errors import (
    ConnectionExistsError,
    ConnectionNotFoundError,
    PayloadValidationError,
    UnknownConnectionError,
    UnsupportedStrategyError,
    UserExistsError,
    UsernameInUseError,
    UserNotFoundError,
)
from .hashing import Hasher, PasswordHasher
from .notify import InMemoryNotifier, Message, Notifier
from .passwords import PasswordPolicy, ProfileData
from .storage import Backend, DuplicateKey, Durability, open_backend

__all__ = ["DEFAULT_CONNECTIONS", "IdentityStore"]

#: The connections a new store starts with: (name, strategy, options).
DEFAULT_CONNECTIONS: tuple[tuple[str, str, Mapping[str, Any]], ...] = (
    ("Username-Password-Authentication", "auth0", {"passwordPolicy": "good"}),
    ("email", "email", {}),
    ("sms", "sms", {}),
)
#: How long a verification email link works (Auth0's default: 5 days).
VERIFICATION_TTL = timedelta(days=5)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class IdentityStore:
    """An identity store with Auth0's user semantics, on SQLite by default.

    Examples:
        >>> store = IdentityStore(":memory:", hasher=PasswordHasher.fast_for_tests())
        >>> user = store.create_user("Username-Password-Authentication",
        ...                          email="Jane@Example.com", password="Sup3r-secret")
        >>> user.email, user.user_id.startswith("auth0|")
        ('jane@example.com', True)

    Args:
        database: a SQLite file path (created on first use), ``":memory:"``, or a ``Backend``.
        hasher: password hasher; default ``PasswordHasher.bcrypt()`` (cost 10).
        notifier: where messages go; default an ``InMemoryNotifier`` readable as ``outbox``.
        clock: returns the current time (timezone-aware); default the system clock in UTC.
        durability: ``"full"`` (default: a returned user survives power loss) or ``"normal"``
            (faster; survives an application crash, not a power loss). SQLite files only.
        strategies: extra connection strategies besides ``auth0``, ``email`` and ``sms``.
        tenant_domain: the host name in verification links.
    """

    def __init__(
        self,
        database: str | os.PathLike[str] | Backend = ":memory:",
        *,
        hasher: Hasher | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] | None = None,
        durability: Durability = "full",
        strategies: Iterable[ConnectionStrategy] = (),
        tenant_domain: str = "identitystore.local",
    ) -> None:
        self.hasher: Hasher = hasher if hasher is not None else PasswordHasher.bcrypt()
        self.notifier: Notifier = notifier if notifier is not None else InMemoryNotifier()
        self.clock: Callable[[], datetime] = clock if clock is not None else _utc_now
        self.tenant_domain = tenant_domain
        self._strategies: dict[str, ConnectionStrategy] = {}
        for strategy in (*builtin_strategies(), *strategies):
            self.register_strategy(strategy)
        self._policies: dict[tuple[str, str], PasswordPolicy] = {}
        self._policies_lock = threading.Lock()
        self._backend = open_backend(database, durability=durability)
        self._ensure_default_connections()

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the storage; the store is unusable afterwards."""
        self._backend.close()

    def __enter__(self) -> IdentityStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"IdentityStore({self._backend!r}, hasher={self.hasher!r})"

    @property
    def backend(self) -> Backend:
        """The storage backend this store writes to."""
        return self._backend

    @property
    def outbox(self) -> list[Message]:
        """Messages sent so far, oldest first (only with the default ``InMemoryNotifier``)."""
        if not isinstance(self.notifier, InMemoryNotifier):
            raise TypeError("outbox exists only with the in-memory notifier")
        return self.notifier.messages

    # -- connections ----------------------------------------------------------------------------

    def register_strategy(self, strategy: ConnectionStrategy) -> None:
        """Let this store create users in connections of ``strategy.name``."""
        if not isinstance(strategy, ConnectionStrategy):
            raise TypeError("strategy must implement identitystore.connections.ConnectionStrategy")
        self._strategies[strategy.name] = strategy

    def create_connection(
        self, name: str, *, strategy: str, options: Mapping[str, Any] | None = None
    ) -> Connection:
        """Create a connection; ``options`` use Auth0's names (``ConnectionOptionsAuth0``).

        Raises:
            PayloadValidationError: bad name or options.
            ConnectionExistsError: the name is taken.
        """
        options = {} if options is None else options
        check_connection(name, strategy, options)
        options = dict(options)
        if strategy not in self._strategies:
            raise PayloadValidationError(
                [
                    PayloadValidationError.format(
                        f"Unknown strategy: {strategy}. Register it with register_strategy()"
                    )
                ]
            )
        connection = Connection(f"con_{secrets.token_hex(8)}", name, strategy, options)
        try:
            self._backend.insert_connection(connection)
        except DuplicateKey:
            raise ConnectionExistsError() from None
        return connection

    def get_connection(self, name: str) -> Connection:
        """The connection called ``name``. Raises ``ConnectionNotFoundError``."""
        connection = self._backend.get_connection(name)
        if connection is None:
            raise ConnectionNotFoundError()
        return connection

    def list_connections(self) -> list[Connection]:
        """Every connection, oldest first."""
        return list(self._backend.list_connections())

    def _ensure_default_connections(self) -> None:
        existing = {c.name for c in self._backend.list_connections()}
        for name, strategy, options in DEFAULT_CONNECTIONS:
            if name not in existing:
                try:
                    self.create_connection(name, strategy=strategy, options=options)
                except ConnectionExistsError:
                    pass  # another process created it first

    def password_policy(self, connection: Connection) -> PasswordPolicy:
        """The password policy of ``connection`` (cached per connection and options)."""
        key = (connection.id, repr(sorted(connection.options.items())))
        policy = self._policies.get(key)
        if policy is None:
            policy = PasswordPolicy.from_options(connection.options)
            with self._policies_lock:
                self._policies[key] = policy
        return policy

    # -- users ----------------------------------------------------------------------------------

    def create_user(self, connection: str, /, **fields: Any) -> User:
        """Create a user like Auth0's ``POST /api/v2/users``; ``fields`` are its body properties.

        Examples:
            >>> store.create_user("sms", phone_number="+14155550100").name  # doctest: +SKIP
            '+14155550100'

        Raises:
            IdentityStoreError: a subclass per Auth0 error; nothing is written when raised.
        """
        if "connection" in fields:
            raise TypeError("create_user() got the connection twice")
        body = {"connection": connection, **fields}
        check_create_body(body)
        conn = self._backend.get_connection(connection)
        if conn is None:
            raise UnknownConnectionError()
        strategy = self._strategies.get(conn.strategy)
        if strategy is None:
            raise UnsupportedStrategyError()
        data = validate_for_connection(body, strategy, conn.options)
        password_hash = None
        if strategy.takes_password and data.password is not None:
            policy = self.password_policy(conn)
            policy.enforce(data.password, profile=_profile(data))
            password_hash = self.hasher.hash(policy.secret_for_hashing(data.password))
        now = self.clock()
        user = _new_user(data, conn, strategy, now)
        token = secrets.token_urlsafe(32) if data.send_verification_email else None
        expires = format_timestamp(now + VERIFICATION_TTL) if token else None
        record = NewUserRecord(
            user=user,
            connection_id=conn.id,
            password_hash=password_hash,
            verification_token_hash=_token_hash(token) if token else None,
            verification_expires_at=expires,
        )
        try:
            self._backend.insert_user(record)
        except DuplicateKey as exc:
            if exc.key == "username":
                raise UsernameInUseError() from None
            raise UserExistsError(field=exc.key) from None
        if token is not None and user.email is not None:
            self.notifier.send(
                Message(
                    kind="verification_email",
                    recipient=user.email,
                    user_id=user.user_id,
                    connection=user.connection,
                    created_at=user.created_at,
                    link=f"https://{self.tenant_domain}/u/email-verification?"
                    + urllib.parse.urlencode({"ticket": token}),
                    token=token,
                    expires_at=expires,
                )
            )
        return user

    def get_user(self, user_id: str) -> User:
        """The user with exactly this ``user_id``. Raises ``UserNotFoundError``."""
        user = self._backend.get_user(user_id)
        if user is None:
            raise UserNotFoundError()
        return user


def _profile(data: CreateUserInput) -> ProfileData:
    return ProfileData(
        email=data.email,
        username=data.username,
        name=data.name,
        nickname=data.nickname,
        user_metadata=data.user_metadata,
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _new_user(
    data: CreateUserInput, conn: Connection, strategy: ConnectionStrategy, now: datetime
) -> User:
    """The user Auth0 would create: id, timestamps and default name, nickname and picture."""
    local_id = data.user_id if data.user_id is not None else new_object_id(now)
    identifier = data.email or data.phone_number or data.username or local_id
    name = data.name if data.name is not None else identifier
    if data.nickname is not None:
        nickname = data.nickname
    elif data.email is not None:
        nickname = data.email.rsplit("@", 1)[0]
    else:
        nickname = identifier
    picture = data.picture if data.picture is not None else default_picture(name, data.email)
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
