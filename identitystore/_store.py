"""``IdentityStore``: the facade that runs each operation through the layers, in one direction."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Literal, NoReturn, TypeGuard

from . import _export, _import, _imported_hashes, _passwordless, _patch, _tickets
from ._jsonschema import json_type
from ._models import (
    Connection,
    Event,
    EventsPage,
    ImportResult,
    NewUserRecord,
    Ticket,
    User,
    UserBlock,
    UsersPage,
    format_timestamp,
    new_event,
)
from ._query import EVENTS, parse_query, parse_sort
from ._validation import (
    LENIENT_RULES,
    CreateUserInput,
    check_connection,
    check_create_body,
    check_merged_metadata,
    check_update_body,
    new_user,
    plain_create_input,
    validate_for_connection,
    validate_update,
)
from .connections import DEFAULT_CONNECTIONS, ConnectionStrategy, builtin_strategies
from .errors import (
    BadRequestError,
    CodeAttemptsExceededError,
    ConnectionExistsError,
    ConnectionNotFoundError,
    EventNotFoundError,
    FieldNotAllowedError,
    IdentityStoreError,
    InvalidPagingError,
    InvalidQueryError,
    InvalidTicketError,
    PasswordHistoryError,
    PayloadValidationError,
    SignupDisabledError,
    StorageBusyError,
    TooManyAttemptsError,
    UnknownConnectionError,
    UnsupportedStrategyError,
    UserBlockedError,
    UserExistsError,
    UsernameInUseError,
    UserNotFoundError,
    WrongCodeError,
    WrongCredentialsError,
    echo,
)
from .hashing import Hasher, PasswordHasher
from .limits import (
    CODE_MAX_ATTEMPTS,
    MAX_LISTED_RESULTS,
    MAX_PER_PAGE,
    METADATA_MAX_BYTES,
    VERIFICATION_TTL,
)
from .notify import InMemoryNotifier, Message, Notifier
from .passwords import PasswordPolicy, ProfileData
from .storage import (
    Backend,
    DuplicateKey,
    Durability,
    EventQuery,
    Filter,
    StaleConnection,
    UserQuery,
    open_backend,
)

__all__ = ["IdentityStore"]

_log = logging.getLogger("identitystore")


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
        database: a SQLite file path (created on first use), ``":memory:"``, a
            ``postgresql://`` URL (needs ``identitystore[postgres]``), or a ``Backend``.
        hasher: password hasher; default ``PasswordHasher.bcrypt()`` (cost 10).
        notifier: where messages go; default an ``InMemoryNotifier`` readable as ``outbox``.
        clock: returns the current time (timezone-aware); default the system clock in UTC.
        durability: ``"full"`` (default: a returned user survives power loss) or ``"normal"``
            (faster; survives an application crash, not a power loss). SQLite files and
            PostgreSQL (docs/storage.md).
        strategies: extra connection strategies besides ``auth0``, ``email`` and ``sms``.
        tenant_domain: the host name in verification links.
        max_login_attempts: failed sign-ins of one user from one IP before brute-force
            protection blocks that pair (Auth0's default 10; 0 turns it off).
        login_block: how long such a block lasts.
        lenient: names of Auth0 rules to relax (``IdentityStore.LENIENT_RULES``), for test
            suites adopting the store gradually; default none: every rule is enforced.
        secret_key: a key (16 bytes or more) one-time codes are stored under (HMAC), never
            written to the database; every process sharing the database must pass the same.
            Without one, codes are stored with a slow hash (scrypt), and an in-memory store
            makes its own key (docs/hashing-and-durability.md).
    """

    #: The rules ``lenient`` may name, each with what relaxing it does.
    LENIENT_RULES = LENIENT_RULES

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
        max_login_attempts: int = 10,
        login_block: timedelta = timedelta(minutes=15),
        lenient: Iterable[str] = (),
        secret_key: str | bytes | None = None,
    ) -> None:
        self.lenient = _lenient_rules(lenient)
        self.hasher: Hasher = hasher if hasher is not None else PasswordHasher.bcrypt()
        self.notifier: Notifier = notifier if notifier is not None else InMemoryNotifier()
        self.clock: Callable[[], datetime] = clock if clock is not None else _utc_now
        self.tenant_domain = tenant_domain
        self.max_login_attempts = max_login_attempts
        self.login_block = login_block
        self._strategies = {s.name: s for s in builtin_strategies()}  # (no isinstance: ~30 us)
        for strategy in strategies:
            self.register_strategy(strategy)
        self._policies: dict[tuple[str, str], PasswordPolicy] = {}
        self._policies_lock = threading.Lock()
        self._backend = open_backend(database, durability=durability)
        self._code_key = _key_bytes(secret_key)
        if self._code_key is None and getattr(self._backend, "path", None) == ":memory:":
            self._code_key = secrets.token_bytes(_passwordless.KEY_BYTES)  # no other process
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
        lenient = f", lenient={sorted(self.lenient)!r}" if self.lenient else ""
        return f"IdentityStore({self._backend!r}, hasher={self.hasher!r}{lenient})"

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
        return self._add_connection(name, strategy, dict(options))

    def _add_connection(self, name: str, strategy: str, options: dict[str, Any]) -> Connection:
        """Store a connection whose name and options are checked already."""
        if strategy not in self._strategies:
            raise PayloadValidationError(
                [
                    PayloadValidationError.format(
                        f"Unknown strategy: {echo(strategy)}. Register it with register_strategy()"
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
        connection = self._backend.get_connection(name) if _storable(name) else None
        if connection is None:
            raise ConnectionNotFoundError()
        return connection

    def get_connection_by_id(self, connection_id: str) -> Connection:
        """The connection whose ``id`` is ``connection_id``. Raises ``ConnectionNotFoundError``."""
        if _storable(connection_id):
            for connection in self._backend.list_connections():
                if connection.id == connection_id:
                    return connection
        raise ConnectionNotFoundError()

    def list_connections(self) -> list[Connection]:
        """Every connection, oldest first."""
        return list(self._backend.list_connections())

    def _ensure_default_connections(self) -> None:
        """Create the default connections once per database (deleted ones stay deleted)."""
        if self._backend.get_setting("default_connections") is not None:
            return
        existing = {c.name for c in self._backend.list_connections()}
        for name, strategy, options in _checked_default_connections():
            if name not in existing:
                try:
                    self._add_connection(name, strategy, dict(options))
                except ConnectionExistsError:
                    pass  # another process created it first
        self._backend.put_setting("default_connections", "created")

    def password_policy(self, connection: Connection) -> PasswordPolicy:
        """The password policy of ``connection`` (cached per connection and options).

        With ``password_policy`` lenient it is Auth0's ``none`` level for every connection.
        """
        if "password_policy" in self.lenient:
            return _NO_POLICY
        key = (connection.id, repr(sorted(connection.options.items())))
        policy = self._policies.get(key)
        if policy is None:
            policy = PasswordPolicy.from_options(connection.options)
            with self._policies_lock:
                self._policies[key] = policy
        return policy

    def update_connection(self, name: str, *, options: Mapping[str, Any]) -> Connection:
        """Replace a connection's options; policy changes apply to new passwords only.

        Raises:
            ConnectionNotFoundError: no such connection.
            PayloadValidationError: bad options.
        """
        connection = self.get_connection(name)
        check_connection(name, connection.strategy, options)
        updated = Connection(connection.id, connection.name, connection.strategy, dict(options))
        self._backend.update_connection(updated)
        return updated

    def delete_connection(self, name: str) -> None:
        """Delete a connection and, atomically with it, all of its users (as Auth0 does)."""
        connection = self.get_connection(name)
        event = self._event(
            "sapi", connection=connection, description="Delete a connection and its users"
        )
        self._backend.delete_connection(connection.id, events=[event])

    # -- users ----------------------------------------------------------------------------------

    def _connection_and_strategy(self, name: object) -> tuple[Connection, ConnectionStrategy]:
        conn = self._backend.get_connection(name) if _storable(name) else None
        if conn is None:
            raise UnknownConnectionError()
        strategy = self._strategies.get(conn.strategy)
        if strategy is None:
            raise UnsupportedStrategyError()
        return conn, strategy

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
        return self._create_retrying({"connection": connection, **fields})

    def create_user_from_body(self, body: Mapping[str, Any]) -> User:
        """Create a user from the whole body of Auth0's ``POST /api/v2/users``, ``connection``
        included: a body without one gets Auth0's error listing every problem.

        Raises:
            IdentityStoreError: as ``create_user``.
        """
        if not isinstance(body, Mapping):
            problem = f"Expected type object but found type {json_type(body)}"
            raise PayloadValidationError([PayloadValidationError.format(problem)])
        return self._create_retrying(dict(body))

    def _create_retrying(self, body: dict[str, Any]) -> User:
        try:  # on the connection as read before: the write checks it is still the stored one
            return self._create(body, cached=True)
        except (StaleConnection, _DecidedOnCache):
            pass  # changed meanwhile, or refused on what may be old options: decide again
        for _ in range(_STALE_ATTEMPTS):
            try:
                return self._create(body, cached=False)
            except StaleConnection:
                continue  # changed again between the read and the write
        raise StorageBusyError("The connection kept changing while the user was created.")

    def _create(self, body: dict[str, Any], *, cached: bool) -> User:
        """``create_user`` on the connection read now, or (``cached``) as read before."""
        name = body.get("connection")
        conn = self._backend.get_connection(name, cached=cached) if _storable(name) else None
        strategy = self._strategies.get(conn.strategy) if conn is not None else None
        try:
            if (  # most bodies are plain: a shorter check that gives the same input
                self.lenient
                or conn is None
                or strategy is None
                or (data := plain_create_input(body, strategy, conn.options)) is None
            ):
                check_create_body(body, lenient=self.lenient)  # before an unknown connection
                if conn is None:
                    raise UnknownConnectionError()
                if strategy is None:
                    raise UnsupportedStrategyError()
                data = validate_for_connection(body, strategy, conn.options, lenient=self.lenient)
            password_hash = None
            if strategy.takes_password and data.password is not None:
                policy = self.password_policy(conn)
                profile = ProfileData.of(functools.partial(getattr, data))
                policy.enforce(data.password, profile=profile)
                password_hash = self.hasher.hash(policy.secret_for_hashing(data.password))
        except IdentityStoreError:
            if cached and conn is not None:
                raise _DecidedOnCache() from None
            raise
        return self._insert(data, conn, strategy, password_hash)

    def _insert(
        self,
        data: CreateUserInput,
        conn: Connection,
        strategy: ConnectionStrategy,
        password_hash: str | None = None,
        *,
        check_connection: bool = True,
    ) -> User:
        """Write the user (and its ``ss`` event, maybe a verification ticket) and send its email.

        With ``check_connection``, the write refuses (``StaleConnection``) if ``conn`` changed.
        """
        now = self.clock()
        user = new_user(data, conn, strategy, now)
        token = _tickets.new_token() if data.send_verification_email else None
        expires = format_timestamp(now + VERIFICATION_TTL) if token else None
        record = NewUserRecord(
            user=user,
            connection_id=conn.id,
            password_hash=password_hash,
            verification_token_hash=_tickets.token_digest(token) if token else None,
            verification_expires_at=expires,
            connection=conn if check_connection else None,
        )
        event = new_event("ss", now, user=user, connection=conn, date=user.created_at)
        try:
            self._backend.insert_user(record, events=[event])
        except DuplicateKey as exc:
            raise _duplicate(exc) from None
        if token is not None and expires is not None and user.email is not None:
            self._send_verification(user, token, expires)
        return user

    def _send_verification(self, user: User, token: str, expires: str) -> str:
        link = _tickets.verification_link(self.tenant_domain, token)
        self._email_link(user, "verification_email", link, token, expires)
        return link

    def _email_link(self, user: User, kind: str, link: str, token: str, expires: str) -> None:
        """Email ``user`` a message of ``kind`` carrying ``link``, which holds ``token``."""
        self._notify(
            Message(
                kind=kind,
                recipient=str(user.email),
                user_id=user.user_id,
                connection=user.connection,
                created_at=format_timestamp(self.clock()),
                link=link,
                token=token,
                expires_at=expires,
            )
        )

    def get_user(self, user_id: str) -> User:
        """The user with exactly this ``user_id``. Raises ``UserNotFoundError``."""
        user = self._backend.get_user(user_id) if _storable(user_id) else None
        if user is None:
            raise UserNotFoundError()
        return user

    def get_users_by_email(self, email: str) -> list[User]:
        """Users of every connection with this email, compared case-insensitively, oldest first.

        A value no stored email can have (not a string, a NUL) finds nobody.
        """
        return self._backend.get_users_by_email(email.lower()) if _storable(email) else []

    def list_users(
        self,
        connection: str | None = None,
        q: str | None = None,
        page: int = 0,
        per_page: int = 50,
        sort: str | None = None,
        *,
        include_totals: bool = False,
    ) -> UsersPage:
        """A page of users, like Auth0's ``GET /api/v2/users`` (query syntax: docs/lifecycle.md).

        Raises:
            UnknownConnectionError: no connection of that name.
            InvalidQueryError: bad ``q``, ``sort``, ``page`` or ``per_page``.
            InvalidPagingError: a page beyond the first 1000 results.
        """
        _check_paging(page, per_page)
        connection_id = None
        if connection is not None:
            conn = self._backend.get_connection(connection) if _storable(connection) else None
            if conn is None:
                raise UnknownConnectionError()
            connection_id = conn.id
        field, descending = parse_sort(sort)
        query = UserQuery(
            connection_id=connection_id,
            filters=parse_query(q),
            sort=field,
            descending=descending,
            offset=page * per_page,
            limit=per_page,
            with_total=include_totals,
        )
        users, total = self._backend.list_users(query)
        return UsersPage(tuple(users), start=page * per_page, limit=per_page, total=total)

    def update_user(self, user_id: str, /, **fields: Any) -> User:
        """Change a user like Auth0's ``PATCH /api/v2/users/{id}``.

        Metadata objects merge at the top level (a key set to None is removed; ``{}`` empties
        the object); None unsets other optional fields. A new email is lower-cased and resets
        ``email_verified`` unless that is given too; a new password follows the connection's
        policy and history. Nothing is written when an error is raised.
        """
        check_update_body(fields, lenient=self.lenient)
        current = self.get_user(user_id)
        conn, strategy = self._connection_and_strategy(current.connection)
        if "connection" in fields and fields["connection"] != conn.name:
            raise UnknownConnectionError()
        _patch.check_exclusive(fields)
        changes = validate_update(fields, strategy, conn.options, lenient=self.lenient)
        password = changes.pop("password", None)
        password_hash = None
        history = 0
        events: list[Event] = []
        if password is not None:
            profile = _patch.profile_after(current, changes)
            password_hash, history = self._new_password_hash(conn, current, password, profile)
            events.append(self._event("scp", user=current, connection=conn))
        now = self.clock()
        stamp = format_timestamp(now)
        if password_hash is not None:
            changes["last_password_reset"] = stamp
        if "email" in changes and changes["email"] != current.email:
            changes.setdefault("email_verified", False)
            events.append(self._event("sce", user=current, connection=conn, date=stamp))
        if "username" in changes and changes["username"] != current.username:
            events.append(self._event("scu", user=current, connection=conn, date=stamp))
        events.append(
            self._event(
                "sapi", user=current, connection=conn, date=stamp, description="Update a user"
            )
        )

        def apply(user: User) -> dict[str, Any]:
            columns = _patch.patch_columns(user, changes, stamp)
            check_merged_metadata(columns)  # inside the transaction: merged with the latest
            return columns

        try:
            updated = self._backend.update_user(
                current.user_id,
                apply,
                password_hash=password_hash,
                history_size=history,
                events=events,
            )
        except DuplicateKey as exc:
            raise _duplicate(exc) from None
        if updated is None:
            raise UserNotFoundError()
        if fields.get("verify_email") is True and updated.email is not None:
            self.create_email_verification_ticket(updated.user_id, send=True)
        return updated

    def _new_password_hash(
        self, conn: Connection, user: User, password: str, profile: ProfileData
    ) -> tuple[str, int]:
        """The hash of ``user``'s new password and the history size to keep, once the password
        passes the connection's policy (checked against ``profile``) and password history.

        Raises:
            PasswordPolicyError: a subclass for the rule it breaks; ``PasswordHistoryError`` for
                a recent password.
        """
        policy = self.password_policy(conn)
        policy.enforce(password, profile=profile)
        secret = policy.secret_for_hashing(password)
        history = policy.history_size
        if history and any(
            self.hasher.verify(secret, old)
            for old in self._backend.password_history(user.user_id, history)
        ):
            raise PasswordHistoryError(rules=("history",))
        return self.hasher.hash(secret), history

    def delete_user(self, user_id: str) -> None:
        """Delete a user and everything attached to it.

        Like Auth0's ``DELETE /api/v2/users/{id}`` (always 204), deleting a user that does not
        exist is not an error.
        """
        user = self._backend.get_user(user_id) if _storable(user_id) else None
        if user is None:
            return
        connection = self._backend.get_connection(user.connection)
        event = self._event("sdu", user=user, connection=connection, description="Delete a user")
        self._backend.delete_user(user.user_id, events=[event])

    def delete_users_by_email(self, connection: str, email: str) -> None:
        """Delete the user of a database connection with this email, if any (Auth0's ``DELETE
        /api/v2/connections/{id}/users?email=``).

        Raises:
            ConnectionNotFoundError: no such connection.
            UnsupportedStrategyError: not a database (password) connection.
        """
        conn = self.get_connection(connection)
        strategy = self._strategies.get(conn.strategy)
        if strategy is None or not strategy.takes_password:
            raise UnsupportedStrategyError.not_database()
        found = (
            self._backend.find_user(conn.id, "email", email.lower()) if _storable(email) else None
        )
        if found is not None:
            self.delete_user(found[0].user_id)

    # -- brute-force blocks ---------------------------------------------------------------------

    def get_user_blocks(self, user_id: str) -> list[UserBlock]:
        """The brute-force blocks of this user now: one per IP it may not sign in from.

        Raises:
            UserNotFoundError: no such user.
        """
        return self._blocks(self.get_user(user_id))

    def get_user_blocks_by_identifier(self, identifier: str) -> list[UserBlock]:
        """The blocks of every user whose email, username or phone number is ``identifier``."""
        return [block for user in self._users_known_as(identifier) for block in self._blocks(user)]

    def unblock_user(self, user_id: str) -> None:
        """Lift the user's brute-force blocks (``blocked: true`` is another thing: PATCH it).

        Raises:
            UserNotFoundError: no such user.
        """
        self._backend.clear_blocks(self.get_user(user_id).user_id)

    def unblock_user_by_identifier(self, identifier: str) -> None:
        """Lift the brute-force blocks of every user known by ``identifier``."""
        for user in self._users_known_as(identifier):
            self._backend.clear_blocks(user.user_id)

    def _blocks(self, user: User) -> list[UserBlock]:
        now = format_timestamp(self.clock())
        identifier = user.email or user.username or user.phone_number or user.user_id
        return [
            UserBlock(identifier=identifier, ip=ip, connection=user.connection)
            for ip in self._backend.list_blocks(user.user_id, now=now)
        ]

    def _users_known_as(self, identifier: str) -> list[User]:
        """Users of every connection whose email, username or phone number is ``identifier``."""
        if not _storable(identifier):
            return []
        found = {u.user_id: u for u in self._backend.get_users_by_email(identifier.lower())}
        for connection in self._backend.list_connections():
            for key, value in (("username", identifier.lower()), ("phone_number", identifier)):
                if (match := self._backend.find_user(connection.id, key, value)) is not None:
                    found.setdefault(match[0].user_id, match[0])
        return list(found.values())

    # -- sign-in --------------------------------------------------------------------------------

    def authenticate(
        self, connection: str, username_or_email: str, password: str, ip: str | None = None
    ) -> User:
        """Sign in with a password, like Auth0's resource-owner password grant.

        Wrong password and unknown user raise the same ``WrongCredentialsError`` in about the
        same time. An outdated hash is upgraded on success.

        Raises:
            WrongCredentialsError, UserBlockedError, TooManyAttemptsError, UnknownConnectionError.
        """
        conn, strategy = self._connection_and_strategy(connection)
        if not strategy.takes_password:
            raise UnsupportedStrategyError.no_password()
        _check_ip(ip)
        address = ip or "0.0.0.0"
        login = username_or_email if _storable(username_or_email) else ""
        found = self._backend.find_user(conn.id, "email", login.lower())
        if found is None and conn.options.get("requires_username") is True:
            found = self._backend.find_user(conn.id, "username", login.lower())
        policy = self.password_policy(conn)
        secret = policy.login_secret(password)
        if found is None:
            self.hasher.dummy_verify()
            self._fail(conn, None, login, address, "fu")
        user, hashed = found
        now = self.clock()
        blocked_until = self._backend.blocked_until(user.user_id, address)
        if blocked_until is not None and blocked_until > format_timestamp(now):
            self.hasher.dummy_verify()
            self._record(self._event("limit_wc", user=user, connection=conn, ip=address))
            raise TooManyAttemptsError()
        if hashed is not None and _imported_hashes.is_imported(hashed):
            checked = policy.login_secret(password, whole=True)  # made elsewhere: not cut at 72
        else:
            checked = secret
        if checked is None or hashed is None:  # a password that cannot match, or no password set
            self.hasher.dummy_verify()
            self._fail(conn, user, login, address, "fp")
        if not self.hasher.verify(checked, hashed):
            self._fail(conn, user, login, address, "fp")
        if user.blocked:
            self._record(
                self._event(
                    "f", user=user, connection=conn, ip=address, description="user is blocked"
                )
            )
            raise UserBlockedError()
        # a password too long for the policy keeps its imported hash: no hash of ours can match it
        upgrade = secret is not None and self.hasher.needs_update(hashed)
        new_hash = self.hasher.hash(secret) if upgrade and secret is not None else None
        stamp = format_timestamp(now)
        signed_in = self._backend.record_login(
            user.user_id,
            date=stamp,
            ip=ip,
            new_hash=new_hash,
            event=self._event("s", user=user, connection=conn, ip=address, date=stamp),
        )
        if signed_in is None:
            raise WrongCredentialsError()
        return signed_in

    def _fail(
        self, conn: Connection, user: User | None, login: str, ip: str, kind: str
    ) -> NoReturn:
        now = self.clock()
        protect = self.max_login_attempts if conn.options.get("brute_force_protection", True) else 0
        event = self._event(
            kind,
            user=user,
            connection=conn,
            ip=ip,
            description="Wrong email or password.",
            user_name=login,
        )
        self._backend.record_failure(
            user.user_id if user is not None else None,
            ip=ip,
            block_after=protect,
            blocked_until=format_timestamp(now + self.login_block),
            event=event,
        )
        raise WrongCredentialsError()

    # -- passwordless ---------------------------------------------------------------------------

    def start_passwordless(
        self,
        connection: str,
        *,
        email: str | None = None,
        phone_number: str | None = None,
        send: Literal["code", "link"] = "code",
        ip: str | None = None,
    ) -> Message:
        """Send a one-time code (or magic link) like Auth0's ``POST /passwordless/start``.

        The user is created on first use unless the connection has ``disable_signup``. The code
        is stored hashed; the message sent (also returned) carries it. Logged as ``cs`` (a code)
        or ``cls`` (a link).

        Raises:
            UserBlockedError: the user is blocked: no code is made or sent (its ``user_id`` names
                the user, so that a caller can answer as if one was).
            SignupDisabledError: no such user, and the connection does not sign users up.
        """
        _check_ip(ip)
        conn, key, value = self._passwordless_target(connection, email, phone_number)
        if send not in ("code", "link"):
            raise BadRequestError("send must be 'code' or 'link'")
        length, lifetime = _passwordless.code_settings(conn.options)
        found = self._backend.find_user(conn.id, key, value)
        if found is None:
            if conn.options.get("disable_signup") is True:
                raise SignupDisabledError()
            strategy = self._strategies[conn.strategy]
            data = validate_for_connection(
                {
                    "connection": conn.name,
                    key: value,
                    **({"verify_email": False} if key == "email" else {}),
                },
                strategy,
                conn.options,
                lenient=self.lenient,
            )
            try:
                user = self._insert(data, conn, strategy, check_connection=False)  # just read
            except UserExistsError:  # created meanwhile by another caller
                found = self._backend.find_user(conn.id, key, value)
                if found is None:
                    raise
                user = found[0]
        else:
            user = found[0]
        if user.blocked:  # Auth0: blocked users get no code
            raise UserBlockedError(user_id=user.user_id)
        code = _passwordless.new_code(length)
        now = self.clock()
        expires = format_timestamp(now + lifetime)
        self._backend.put_code(
            conn.id,
            value,
            _passwordless.code_digest(self._code_key, conn.id, value, code),
            created_at=format_timestamp(now),
            expires_at=expires,
        )
        link = None
        if send == "link":
            link = _passwordless.magic_link(self.tenant_domain, conn.name, key, value, code)
        message = Message(
            kind=f"passwordless_{send}",
            recipient=value,
            user_id=user.user_id,
            connection=conn.name,
            created_at=format_timestamp(now),
            link=link,
            token=code,
            expires_at=expires,
        )
        sent = "cs" if send == "code" else "cls"  # Auth0's "code sent", "code/link sent"
        self._record(self._event(sent, user=user, connection=conn, ip=ip))
        self._notify(message)
        return message

    def verify_passwordless(
        self,
        connection: str,
        *,
        code: str,
        email: str | None = None,
        phone_number: str | None = None,
        ip: str | None = None,
    ) -> User:
        """Sign in with a one-time code: accepted once, marks the email or phone verified.

        Raises:
            WrongCodeError: wrong, expired or already used code.
            CodeAttemptsExceededError: too many wrong guesses; the code is void.
        """
        _check_ip(ip)
        conn, key, value = self._passwordless_target(connection, email, phone_number)
        wrong = WrongCodeError.wrong(key)
        now = format_timestamp(self.clock())
        outcome = self._backend.use_code(
            conn.id,
            value,
            _passwordless.code_digest(
                self._code_key, conn.id, value, code if _storable(code) else ""
            ),
            now=now,
            max_attempts=CODE_MAX_ATTEMPTS,
        )
        found = self._backend.find_user(conn.id, key, value)
        user = found[0] if found else None
        if outcome != "ok" or user is None:
            self._record(
                self._event(
                    "f",
                    user=user,
                    connection=conn,
                    ip=ip,
                    user_name=value,
                    description=wrong.message,
                )
            )
            if outcome == "exhausted":
                raise CodeAttemptsExceededError()
            if outcome == "expired":
                raise WrongCodeError.expired()
            raise wrong
        if user.blocked:
            raise UserBlockedError()
        verified = "email_verified" if key == "email" else "phone_verified"
        if getattr(user, verified) is not True:
            self._backend.update_user(user.user_id, lambda u: {verified: True, "updated_at": now})
        signed_in = self._backend.record_login(
            user.user_id,
            date=now,
            ip=ip,
            new_hash=None,
            event=self._event("s", user=user, connection=conn, ip=ip, date=now),
        )
        if signed_in is None:
            raise wrong
        return signed_in

    def _passwordless_target(
        self, connection: str, email: str | None, phone_number: str | None
    ) -> tuple[Connection, _passwordless.Identifier, str]:
        conn, strategy = self._connection_and_strategy(connection)
        key = _passwordless.identifier_key(strategy.name)
        if key is None:
            raise UnsupportedStrategyError.not_passwordless()
        value, other = (email, phone_number) if key == "email" else (phone_number, email)
        if other is not None:
            raise FieldNotAllowedError(["phone_number" if key == "email" else "email"])
        if value is None:
            raise PayloadValidationError(
                [PayloadValidationError.format(f"Missing required property: {key}")]
            )
        check_create_body({"connection": conn.name, key: value}, lenient=self.lenient)
        return conn, key, str(value).lower() if key == "email" else str(value)

    # -- email verification ---------------------------------------------------------------------

    def create_email_verification_ticket(
        self,
        user_id: str,
        *,
        ttl_sec: int = int(VERIFICATION_TTL.total_seconds()),
        send: bool = False,
    ) -> Ticket:
        """A single-use, expiring link that verifies the user's email (stored hashed).

        ``ttl_sec`` is at most 30 days; 0 means the 5-day default, as in Auth0. With ``send`` the
        link is also emailed through the notifier.
        """
        lifetime = _tickets.ticket_lifetime(ttl_sec)
        user = self.get_user(user_id)
        if user.email is None:
            raise BadRequestError("The user does not have an email address.")
        token = _tickets.new_token()
        now = self.clock()
        expires = format_timestamp(now + lifetime)
        self._backend.insert_ticket(
            _tickets.token_digest(token),
            kind="email_verification",
            user_id=user.user_id,
            created_at=format_timestamp(now),
            expires_at=expires,
            email=user.email,
        )
        if send:
            url = self._send_verification(user, token, expires)
        else:
            url = _tickets.verification_link(self.tenant_domain, token)
        return Ticket(user_id=user.user_id, expires_at=expires, url=url, token=token)

    def verify_email(self, ticket_token: str) -> User:
        """Use a verification ticket: the user's email becomes verified. Single use.

        Raises:
            InvalidTicketError: unknown, expired or already used ticket.
        """
        now = format_timestamp(self.clock())
        outcome, user_id, email = (
            self._backend.use_ticket(
                _tickets.token_digest(ticket_token), kind="email_verification", now=now
            )
            if isinstance(ticket_token, str) and ticket_token.isascii()
            else ("missing", None, None)
        )
        user = self._backend.get_user(user_id) if user_id is not None else None
        if outcome == "ok" and (user is None or (email is not None and user.email != email)):
            outcome = "missing"  # the user is gone, or the ticket was for an older email
        if outcome != "ok" or user is None:
            error = InvalidTicketError.because(outcome)
            self._record(self._event("fv", user=user, description=error.message))
            raise error
        event = self._event("sv", user=user, date=now)
        updated = self._backend.update_user(
            user.user_id, lambda u: {"email_verified": True, "updated_at": now}, events=[event]
        )
        if updated is None:
            raise InvalidTicketError()
        return updated

    # -- password reset -------------------------------------------------------------------------

    def request_password_reset(self, connection: str, email: str, *, ip: str | None = None) -> None:
        """Email a password reset link, like Auth0's ``POST /dbconnections/change_password``.

        The user of the database ``connection`` with this email (compared case-insensitively)
        gets a ``password_reset`` message through the notifier, carrying a password change
        ticket (``change_password``) of the default lifetime. The answer is the same whether or
        not such a user exists; for an unknown one nothing is sent (an ``fcpr`` event is logged
        instead of ``scpr``).

        Raises:
            UnknownConnectionError: no such connection.
            UnsupportedStrategyError: not a database (password) connection.
            BadRequestError: ``email`` or ``ip`` not a string.
        """
        conn, strategy = self._connection_and_strategy(connection)
        if not strategy.takes_password:
            raise UnsupportedStrategyError.no_password_change()
        if not isinstance(email, str):
            raise BadRequestError("email must be a string")
        _check_ip(ip)
        found = (
            self._backend.find_user(conn.id, "email", email.lower()) if _storable(email) else None
        )
        if found is None:
            self._record(
                self._event(
                    "fcpr",
                    connection=conn,
                    ip=ip,
                    user_name=echo(email) if _storable(email) else None,
                    description=UserNotFoundError.default_message,
                )
            )
            return
        user = found[0]
        ticket = self._password_change_ticket(user, VERIFICATION_TTL)
        self._record(self._event("scpr", user=user, connection=conn, ip=ip))
        self._email_link(user, "password_reset", ticket.url, ticket.token, ticket.expires_at)

    def create_password_change_ticket(
        self,
        *,
        user_id: str | None = None,
        connection: str | None = None,
        email: str | None = None,
        result_url: str | None = None,
        ttl_sec: int | None = None,
        mark_email_as_verified: bool = False,
    ) -> Ticket:
        """A single-use, expiring link to set a user's password, like Auth0's ``POST
        /api/v2/tickets/password-change``; use it with ``change_password``.

        The user is named by ``user_id``, or by the name of its database ``connection`` and its
        ``email``. ``ttl_sec`` is at most 30 days; None or 0 means the 5-day default. With
        ``mark_email_as_verified`` the change verifies the email too. ``result_url`` (where a
        reset page sends the user afterwards) is kept with the ticket. Nothing is sent.

        Raises:
            PayloadValidationError: arguments of the wrong type or format, or a user named both
                ways or neither.
            UserNotFoundError: no such user.
            UnknownConnectionError: no such connection.
            UnsupportedStrategyError: the user's connection has no passwords.
        """
        given = {
            "user_id": user_id,
            "connection": connection,
            "email": email,
            "result_url": result_url,
            "ttl_sec": ttl_sec,
            "mark_email_as_verified": mark_email_as_verified,
        }
        _tickets.check_password_change_request({k: v for k, v in given.items() if v is not None})
        lifetime = _tickets.ticket_lifetime(ttl_sec or 0)
        if user_id is not None:
            user = self.get_user(user_id)
            if not self._connection_and_strategy(user.connection)[1].takes_password:
                raise UnsupportedStrategyError.no_password_change()
        else:
            conn, strategy = self._connection_and_strategy(connection)
            if not strategy.takes_password:
                raise UnsupportedStrategyError.no_password_change()
            found = (
                self._backend.find_user(conn.id, "email", email.lower())
                if _storable(email)
                else None
            )
            if found is None:
                raise UserNotFoundError()
            user = found[0]
        return self._password_change_ticket(
            user,
            lifetime,
            result_url=result_url,
            mark_email_as_verified=mark_email_as_verified,
        )

    def _password_change_ticket(
        self,
        user: User,
        lifetime: timedelta,
        *,
        result_url: str | None = None,
        mark_email_as_verified: bool = False,
    ) -> Ticket:
        """Store a new password change ticket for ``user`` (its token's digest only)."""
        token = _tickets.new_token()
        now = self.clock()
        expires = now + lifetime
        ticket = _tickets.PasswordChange(
            user_id=user.user_id,
            email=user.email,
            expires_at=format_timestamp(expires),
            mark_email_as_verified=mark_email_as_verified,
            result_url=result_url,
        )
        self._backend.put_record(
            _tickets.PASSWORD_CHANGE,
            _tickets.token_digest(token),
            ticket.to_record(),
            expires_at=format_timestamp(expires + _tickets.KEPT_AFTER_EXPIRY),
            now=format_timestamp(now),  # purges the tickets long expired
        )
        url = _tickets.reset_link(self.tenant_domain, token)
        return Ticket(user_id=user.user_id, expires_at=ticket.expires_at, url=url, token=token)

    def change_password(
        self, ticket_token: str, new_password: str, *, ip: str | None = None
    ) -> User:
        """Set a user's password with a password change ticket: the user's reset page.

        The password follows the connection's policy and password history; a refused password
        leaves the ticket usable. Once changed, the ticket is used up, ``last_password_reset``
        and ``updated_at`` move to now, brute-force blocks are lifted, and the email is verified
        if the ticket said so. Logs ``scp``, or ``fcp`` for a refusal.

        Raises:
            InvalidTicketError: unknown, used or expired ticket, or one for an email the user no
                longer has.
            PasswordPolicyError: a subclass for the rule the password breaks.
        """
        _check_ip(ip)
        now = self.clock()
        stamp = format_timestamp(now)
        digest = (
            _tickets.token_digest(ticket_token)
            if isinstance(ticket_token, str) and ticket_token.isascii()
            else None
        )
        text = self._backend.get_record(_tickets.PASSWORD_CHANGE, digest) if digest else None
        ticket = _tickets.PasswordChange.from_record(text) if text is not None else None
        user = self._backend.get_user(ticket.user_id) if ticket is not None else None
        outcome = "ok"
        if ticket is None or user is None or user.email != ticket.email:
            outcome = "missing"
        elif self._backend.get_record(_tickets.PASSWORD_CHANGE_USED, str(digest)) is not None:
            outcome = "used"
        elif ticket.expires_at <= stamp:
            outcome = "expired"
        if outcome != "ok" or ticket is None or user is None or digest is None:
            self._refuse_change(user, ip, InvalidTicketError.because(outcome))
        conn = self._backend.get_connection(user.connection)
        if conn is None:
            self._refuse_change(user, ip, InvalidTicketError())
        try:
            password_hash, history = self._new_password_hash(
                conn, user, new_password, _patch.profile_after(user, {})
            )
        except IdentityStoreError as exc:
            self._refuse_change(user, ip, exc)
        try:  # the ticket is used up here, once: two changes at once cannot both claim it
            self._backend.put_record(
                _tickets.PASSWORD_CHANGE_USED,
                digest,
                stamp,
                replace=False,
                expires_at=format_timestamp(now + _tickets.KEPT_AFTER_EXPIRY),
                now=stamp,
            )
        except DuplicateKey:
            self._refuse_change(user, ip, InvalidTicketError.because("used"))
        changes: dict[str, Any] = {"last_password_reset": stamp, "updated_at": stamp}
        if ticket.mark_email_as_verified:
            changes["email_verified"] = True
        updated = self._backend.update_user(
            user.user_id,
            lambda current: changes,
            password_hash=password_hash,
            history_size=history,
            events=[self._event("scp", user=user, connection=conn, ip=ip, date=stamp)],
        )
        if updated is None:
            self._refuse_change(None, ip, InvalidTicketError())
        return updated

    def _refuse_change(
        self, user: User | None, ip: str | None, error: IdentityStoreError
    ) -> NoReturn:
        """Log a refused password change (``fcp``) and raise ``error``."""
        self._record(self._event("fcp", user=user, ip=ip, description=error.message))
        raise error

    # -- import and export ----------------------------------------------------------------------

    def import_users(
        self,
        connection: str,
        source: _import.Source,
        *,
        upsert: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
        on_error: Callable[[dict[str, Any]], None] | None = None,
        send_verification_email: bool = False,
    ) -> ImportResult:
        """Import users in Auth0's users-file format into a database connection, like Auth0's
        users-imports job (docs/import-export.md).

        ``source``: a path or binary file holding a JSON array or newline-delimited JSON, gzip or
        not, or an iterable of dicts; read as a stream. A user that breaks a rule becomes an error
        entry and never stops the others; each user is stored whole or not at all. With
        ``upsert``, a user whose email the connection has updates that user as Auth0's upsert
        does. ``progress(done, total)`` is called as batches are written (``total`` None when
        unknown); ``on_error(entry)``, if given, takes the error entries instead of
        ``result.errors``. Passwords are not checked against the policy; verification emails go
        only with ``send_verification_email``.

        Raises:
            UnknownConnectionError: no such connection.
            UnsupportedStrategyError: not a database connection.
            BadRequestError: a file that is not JSON (nothing of it is imported).
        """
        conn, strategy = self._connection_and_strategy(connection)
        return _import.import_users(
            conn,
            strategy,
            source,
            write=_import.writer(self._backend, conn),
            clock=self.clock,
            record=self._record,
            upsert=upsert,
            progress=progress,
            on_error=on_error,
            send_verification=(
                (lambda user: self.create_email_verification_ticket(user.user_id, send=True))
                if send_verification_email
                else None
            ),
        )

    def export_users(
        self,
        target: _export.Target,
        *,
        connection: str | None = None,
        format: Literal["json", "csv"] = "json",
        fields: Sequence[str | Mapping[str, str]] | None = None,
        limit: int | None = None,
        include_password_hashes: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> int:
        """Export users like Auth0's users-exports job and return how many were written.

        ``target``: a path (gzip-compressed when it ends in ``.gz``; written whole or not at
        all) or a binary file object. ``format``: newline-delimited JSON or CSV with a header.
        ``fields``: names (``user_id``, ``identities[0].connection``, ``user_metadata.plan``) or
        ``{"name", "export_as"}`` objects; by default Auth0's normalized profile fields. The
        users of ``connection`` (default: all), the first ``limit`` of them by creation, from one
        consistent snapshot. ``include_password_hashes`` adds each hash in the form
        ``import_users`` takes back (JSON only).

        Raises:
            UnknownConnectionError: no such connection.
            PayloadValidationError, BadRequestError: options Auth0 refuses.
        """
        names = _export.check_options(
            format, fields, limit, include_password_hashes=include_password_hashes
        )
        connection_id = None
        if connection is not None:
            connection_id = self._connection_and_strategy(connection)[0].id
        with _export.users_of(
            self._backend, connection_id, limit, hashes=include_password_hashes
        ) as (total, users):
            return _export.write_export(
                target,
                users,
                format=format,
                fields=names,
                include_password_hashes=include_password_hashes,
                total=total,
                progress=progress,
            )

    # -- events ---------------------------------------------------------------------------------

    def list_events(
        self, *, type: str | None = None, user_id: str | None = None, limit: int = 100
    ) -> list[Event]:
        """The event log by date, then log_id, oldest first: the last ``limit`` events, of one
        type or user if asked.

        Types are Auth0's log codes: ``ss`` signup, ``s`` sign-in, ``f``/``fp``/``fu`` failed
        sign-in, ``scp`` password change, ``sce``/``scu`` email/username change, ``sapi`` API
        change, ``sdu`` user deleted, ``cs``/``cls`` passwordless code/link sent,
        ``sv``/``fv`` email verification, ``limit_wc`` blocked sign-in.
        """
        if not _is_int(limit) or limit < 0:
            raise InvalidQueryError("limit must be an integer >= 0")
        limit = min(limit, _ALL)
        if not all(v is None or _storable(v) for v in (type, user_id)):
            return []  # no event holds such a value
        return self._backend.list_events(type=type, user_id=user_id, limit=limit)

    def search_events(
        self,
        q: str | None = None,
        *,
        user_id: str | None = None,
        page: int = 0,
        per_page: int = 50,
        sort: str | None = None,
        include_totals: bool = False,
    ) -> EventsPage:
        """A page of the event log, like Auth0's ``GET /api/v2/logs`` (newest first unless
        ``sort="date:1"``); ``q`` uses the users' query syntax on the log's fields.

        Raises:
            InvalidQueryError: bad ``q``, ``sort``, ``page`` or ``per_page``.
            InvalidPagingError: a page beyond the first 1000 results.
        """
        _check_paging(page, per_page)
        filters = parse_query(q, EVENTS)
        if user_id is not None:
            if not _storable(user_id):
                return EventsPage((), page * per_page, per_page, 0 if include_totals else None)
            filters += (Filter("user_id", "eq", user_id),)
        _, descending = parse_sort(sort, EVENTS)
        query = EventQuery(
            filters=filters,
            descending=descending,
            offset=page * per_page,
            limit=per_page,
            with_total=include_totals,
        )
        events, total = self._backend.page_events(query)
        return EventsPage(tuple(events), start=page * per_page, limit=per_page, total=total)

    def events_after(
        self, log_id: str | None, *, take: int = 50, q: str | None = None
    ) -> list[Event]:
        """The events after ``log_id`` in the log's order, oldest first, at most ``take`` (Auth0's
        ``from``/``take`` checkpoint); ``log_id`` None starts at the oldest.

        Raises:
            InvalidQueryError: bad ``q`` or ``take`` (1 to 100).
        """
        if not _is_int(take) or not 0 < take <= MAX_PER_PAGE:
            raise InvalidQueryError(f"take must be an integer from 1 to {MAX_PER_PAGE}")
        if log_id is not None and not _storable(log_id):
            raise InvalidQueryError("from must be a log_id")
        query = EventQuery(filters=parse_query(q, EVENTS), limit=take, after=log_id or "")
        return self._backend.page_events(query)[0]

    def get_event(self, log_id: str) -> Event:
        """The event with this ``log_id``. Raises ``EventNotFoundError``."""
        event = self._backend.get_event(log_id) if _storable(log_id) else None
        if event is None:
            raise EventNotFoundError()
        return event

    def record_event(
        self,
        type: str,
        *,
        description: str | None = None,
        user_id: str | None = None,
        user_name: str | None = None,
        connection: str | None = None,
        ip: str | None = None,
        client_id: str | None = None,
        client_name: str | None = None,
        user_agent: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Event:
        """Append an event of Auth0's log type ``type`` (``sapi``, ``seccft`` ...) that a surface
        of the store (an HTTP front, the CLI) observed; returns it as stored.

        Raises:
            BadRequestError: a value the log cannot hold (not text, NUL, or ``details`` that are
                not a JSON object of at most 16 KiB).
        """
        texts = {
            "type": type,
            "description": description,
            "user_id": user_id,
            "user_name": user_name,
            "connection": connection,
            "ip": ip,
            "client_id": client_id,
            "client_name": client_name,
            "user_agent": user_agent,
        }
        for name, value in texts.items():
            if (value is not None or name == "type") and not _storable(value):
                raise BadRequestError(f"{name} must be a string without NUL characters")
        conn = None
        if connection is not None:
            conn = self._backend.get_connection(connection)
        event = dataclasses.replace(
            new_event(type, self.clock(), connection=conn, ip=ip, description=description),
            connection=connection,
            user_id=user_id,
            user_name=user_name,
            client_id=client_id,
            client_name=client_name,
            user_agent=user_agent,
            details=_event_details(details),
        )
        self._backend.add_event(event)
        return event

    def _event(
        self,
        kind: str,
        *,
        user: User | None = None,
        connection: Connection | None = None,
        ip: str | None = None,
        date: str | None = None,
        description: str | None = None,
        user_name: str | None = None,
    ) -> Event:
        return new_event(
            kind,
            self.clock(),
            user=user,
            connection=connection,
            ip=ip,
            date=date,
            description=description,
            user_name=user_name,
        )

    def _notify(self, message: Message) -> None:
        """Send through the notifier; a failing notifier is logged, never undoes the change."""
        try:
            self.notifier.send(message)
        except Exception:
            _log.exception(
                "notifier failed to send a %s message for %s", message.kind, message.user_id
            )

    def _record(self, event: Event) -> None:
        try:
            self._backend.add_event(event)
        except IdentityStoreError:
            pass  # the log must never turn a refusal into a storage failure


#: A ``limit`` that means "every event" (storage compares it with 64-bit integers).
_ALL = 2**62

#: Fresh reads of a connection a create tries, once a write found the one it used changed.
_STALE_ATTEMPTS = 5


class _DecidedOnCache(Exception):
    """A create was refused on a connection read earlier: it must be decided on a fresh read."""


#: The policy every connection has when ``password_policy`` is lenient.
_NO_POLICY = PasswordPolicy.from_options({"passwordPolicy": "none"})


def _lenient_rules(names: Iterable[str]) -> frozenset[str]:
    if isinstance(names, str):
        raise TypeError("lenient must be a collection of rule names, not a string")
    rules = frozenset(names)
    unknown = sorted(rules - LENIENT_RULES.keys())
    if unknown:
        raise ValueError(
            f"unknown lenient rule(s) {', '.join(unknown)}; "
            f"the rules are {', '.join(sorted(LENIENT_RULES))}"
        )
    return rules


@functools.cache
def _checked_default_connections() -> tuple[tuple[str, str, Mapping[str, Any]], ...]:
    """``DEFAULT_CONNECTIONS``, checked as ``create_connection`` checks (once per process)."""
    for name, strategy, options in DEFAULT_CONNECTIONS:
        check_connection(name, strategy, options)
    return DEFAULT_CONNECTIONS


def _key_bytes(key: str | bytes | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        if key is not None and len(key) < 16:
            raise ValueError("secret_key must be at least 16 bytes")
        return key
    if isinstance(key, str):
        return _key_bytes(key.encode("utf-8"))
    raise TypeError("secret_key must be bytes or a string")


def _check_paging(page: object, per_page: object) -> None:
    """Auth0's paging rules: ``per_page`` 1 to 100, within the first 1000 results."""
    if not _is_int(page) or page < 0:
        raise InvalidQueryError("page must be an integer >= 0")
    if not _is_int(per_page) or not 0 < per_page <= MAX_PER_PAGE:
        raise InvalidQueryError(f"per_page must be an integer from 1 to {MAX_PER_PAGE}")
    if (page + 1) * per_page > MAX_LISTED_RESULTS:
        raise InvalidPagingError()


def _event_details(details: object) -> dict[str, Any] | None:
    """``details`` as the log keeps them: a JSON object of at most 16 KiB, copied."""
    if details is None:
        return None
    try:
        text = json.dumps(details, allow_nan=False, ensure_ascii=False)
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        size = -1
    if not isinstance(details, Mapping) or not 0 < size <= METADATA_MAX_BYTES:
        raise BadRequestError("details must be a JSON object of at most 16 KiB")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _duplicate(exc: DuplicateKey) -> IdentityStoreError:
    if exc.key == "username":
        return UsernameInUseError()
    return UserExistsError(field=exc.key)


def _check_ip(ip: object) -> None:
    """Refuse an ``ip`` the event log could not store."""
    if ip is not None and not _storable(ip):
        raise BadRequestError("ip must be a string of valid Unicode without NUL characters")


def _storable(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string every backend can store and look up: UTF-8 encodable (no
    lone surrogates) and without NUL characters. Nothing stored holds anything else, so a look-up
    by any other value finds nothing."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
