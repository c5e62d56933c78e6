"""Value objects: users, connections and new-user records, with Auth0's defaults."""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

__all__ = [
    "BulkUser",
    "Connection",
    "Event",
    "EventsPage",
    "GRAVATAR_HOST",
    "IMPORT_GRAVATAR_HOST",
    "ImportResult",
    "NewUserRecord",
    "Ticket",
    "UpsertChanges",
    "User",
    "UserBlock",
    "UsersPage",
    "copy_json",
    "default_picture",
    "derived_profile",
    "format_timestamp",
    "new_event",
    "new_object_id",
    "parse_timestamp",
]

_AVATAR_CDN = "https://cdn.auth0.com/avatars/"
_T = TypeVar("_T")


@functools.lru_cache(maxsize=8)  # a batch of users shares one moment
def format_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and ``Z``, like ``2023-01-25T19:00:26.187Z``."""
    u = moment.astimezone(timezone.utc)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}."
        f"{u.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str) -> str | None:
    """``text``, an ISO-8601 date or date-time (UTC when it has no offset), as ``format_timestamp``
    writes it; None when it is no such date or falls outside years 1 to 9999 in UTC."""
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return format_timestamp(moment)
    except OverflowError:
        return None


class _ObjectIds:
    """MongoDB ObjectIds: 4 bytes of Unix time, 5 random bytes per process, a 3-byte counter.

    The counter starts at random below 2**23, so a process's ids with the same time stay in
    increasing order for millions of ids (the event log breaks ties of date by log_id).
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()  # new: a fork may have copied it held by another thread
        self._process_bytes = os.urandom(5)
        self._counter = itertools.count(int.from_bytes(os.urandom(3), "big") >> 1)

    def new(self, moment: datetime) -> str:
        with self._lock:
            count = next(self._counter) & 0xFFFFFF
        seconds = int(moment.timestamp()) & 0xFFFFFFFF
        return (seconds.to_bytes(4, "big") + self._process_bytes + count.to_bytes(3, "big")).hex()


_object_ids = _ObjectIds()
if hasattr(os, "register_at_fork"):  # a forked child must not repeat its parent's ids
    os.register_at_fork(after_in_child=_object_ids._reset)


def new_object_id(moment: datetime) -> str:
    """A 24-hex ObjectId whose first 4 bytes are ``moment`` in Unix seconds."""
    return _object_ids.new(moment)


def _initials(name: str) -> str | None:
    words = name.split()
    initials = (words[0][0] + words[1][0]) if len(words) == 2 else name[:2]
    initials = initials.lower()
    if len(initials) == 2 and initials.isascii() and initials.isalnum():
        return initials
    return None


#: The gravatar host of Auth0's default pictures: users created through its API link ``s.``,
#: imported users ``secure.`` (both as recorded from Auth0).
GRAVATAR_HOST = "s.gravatar.com"
IMPORT_GRAVATAR_HOST = "secure.gravatar.com"


def default_picture(name: str, email: str | None, host: str = GRAVATAR_HOST) -> str:
    """Auth0's default picture: gravatar of the email with an initials avatar as fallback."""
    avatar, fallback = _avatar(_initials(name) or "default")
    if email is None:
        return avatar
    digest = hashlib.md5(email.lower().encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"https://{host}/avatar/{digest}?s=480&r=pg&d={fallback}"


def derived_profile(
    *,
    local_id: str,
    email: str | None,
    phone_number: str | None,
    username: str | None,
    name: str | None,
    nickname: str | None,
    picture: str | None,
    gravatar_host: str = GRAVATAR_HOST,
) -> tuple[str, str, str]:
    """``name``, ``nickname`` and ``picture``, each given or else Auth0's default for it.

    The default name is the user's identifier (email, else phone number, else username, else
    ``local_id``); the default nickname the email's local part, else that identifier; the default
    picture ``default_picture`` of the name and email.
    """
    identifier = email or phone_number or username or local_id
    if name is None:
        name = identifier
    if nickname is None:
        nickname = email.rsplit("@", 1)[0] if email else identifier
    if picture is None:
        picture = default_picture(name, email, gravatar_host)
    return name, nickname, picture


@functools.lru_cache(maxsize=2048)
def _avatar(initials: str) -> tuple[str, str]:
    """The initials avatar's URL, and the same URL quoted for gravatar's ``d=`` parameter."""
    avatar = f"{_AVATAR_CDN}{initials}.png"
    return avatar, urllib.parse.quote(avatar, safe="")


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection users are created in, e.g. ``Username-Password-Authentication``.

    Two connections are equal when every field is equal. ``options`` uses Auth0's own option names
    (``passwordPolicy``, ``requires_username``, ...).
    """

    id: str
    name: str
    strategy: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The connection as Auth0's Management API shows it (its ``realms`` are its name)."""
        return {
            "id": self.id,
            "name": self.name,
            "strategy": self.strategy,
            "options": copy_json(self.options),
            "is_domain_connection": False,
            "realms": [self.name],
        }


@dataclass(frozen=True, slots=True)
class User:
    """A stored user; ``to_dict()`` is exactly Auth0's user body.

    Built by the store, never by hand. Two users are equal when every field is equal. Fields that
    are None are absent from ``to_dict()``, as Auth0 omits them.
    """

    user_id: str
    connection: str
    provider: str
    created_at: str
    updated_at: str
    name: str
    email: str | None = None
    email_verified: bool | None = None
    username: str | None = None
    phone_number: str | None = None
    phone_verified: bool | None = None
    nickname: str | None = None
    picture: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    blocked: bool | None = None
    user_metadata: Mapping[str, Any] | None = None
    app_metadata: Mapping[str, Any] | None = None
    last_login: str | None = None
    last_ip: str | None = None
    logins_count: int | None = None
    last_password_reset: str | None = None

    @property
    def identity_user_id(self) -> str:
        """The id inside the connection: ``user_id`` without its ``<provider>|`` prefix."""
        return self.user_id[len(self.provider) + 1 :]

    def to_dict(self) -> dict[str, Any]:
        """Auth0's user body: ``user_id`` first, then the present fields in alphabetical order."""
        body: dict[str, Any] = {
            "app_metadata": copy_json(self.app_metadata),
            "blocked": self.blocked,
            "created_at": self.created_at,
            "email": self.email,
            "email_verified": self.email_verified,
            "family_name": self.family_name,
            "given_name": self.given_name,
            "identities": [
                {
                    "connection": self.connection,
                    "user_id": self.identity_user_id,
                    "provider": self.provider,
                    "isSocial": False,
                }
            ],
            "last_ip": self.last_ip,
            "last_login": self.last_login,
            "last_password_reset": self.last_password_reset,
            "logins_count": self.logins_count,
            "name": self.name,
            "nickname": self.nickname,
            "phone_number": self.phone_number,
            "phone_verified": self.phone_verified,
            "picture": self.picture,
            "updated_at": self.updated_at,
            "user_metadata": copy_json(self.user_metadata),
            "username": self.username,
        }
        return {"user_id": self.user_id} | {k: v for k, v in body.items() if v is not None}


def copy_json(value: Any) -> Any:
    """JSON data as a new plain copy: each mapping a new dict, each list or tuple a new list,
    ``-0.0`` as ``0.0`` (JSON as JavaScript writes it; PostgreSQL's ``numeric`` has no -0)."""
    if isinstance(value, Mapping):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [copy_json(item) for item in value]
    if isinstance(value, float) and value == 0:
        return 0.0
    return value


@dataclass(frozen=True, slots=True)
class NewUserRecord:
    """What storage writes for a new user: the user, its connection id and its password hash.

    ``password_hash`` is None for users without a password; it is masked in the repr.
    ``connection``, when set, is the connection the user was validated against: storage refuses
    the write (``StaleConnection``) if that is no longer the stored one.
    """

    user: User
    connection_id: str
    password_hash: str | None = field(default=None, repr=False)
    verification_token_hash: str | None = field(default=None, repr=False)
    verification_expires_at: str | None = None
    connection: Connection | None = field(default=None, repr=False)


#: What an upsert changes on the user it matched, given that user and its password hash: the
#: columns to set and a new password hash (None: keep it); None refuses the change.
UpsertChanges = Callable[[User, "str | None"], "tuple[dict[str, Any], str | None] | None"]


@dataclass(frozen=True, slots=True)
class BulkUser:
    """One user of a bulk write: the new user's record and, for an upsert, what to change on the
    user of the same connection with the same email instead of inserting (``upsert``)."""

    record: NewUserRecord
    upsert: UpsertChanges | None = None


def slots_builder(cls: type[_T]) -> Callable[..., _T]:
    """``cls(*values)`` for a frozen, slotted dataclass without ``__post_init__``, given every
    field in order: set through the slots' own descriptors, three times as fast as the generated
    ``__init__`` (whose ``object.__setattr__`` for each field is the cost of being frozen). Made
    as ``dataclasses`` makes ``__init__``: from source, one statement a field."""
    names = [item.name for item in fields(cast(Any, cls))]
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    scope |= {f"set_{name}": getattr(cls, name).__set__ for name in names}
    lines = [f"def build({', '.join(names)}):", "    made = new(cls)"]
    lines += [f"    set_{name}(made, {name})" for name in names]
    lines.append("    return made")
    exec("\n".join(lines), scope)  # the field names of a dataclass, nothing else
    return cast(Callable[..., _T], scope["build"])


#: ``User(...)``, ``NewUserRecord(...)``, ``BulkUser(...)`` given every field positionally, for
#: bulk paths (see ``slots_builder``).
build_user = slots_builder(User)
build_record = slots_builder(NewUserRecord)
build_bulk_user = slots_builder(BulkUser)


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the event log, with Auth0's log event type codes (``s``, ``f``, ``ss``, ...).

    Two events are equal when every field is equal; ``to_dict()`` is Auth0's log event shape.
    """

    log_id: str
    date: str
    type: str
    description: str | None = None
    connection: str | None = None
    connection_id: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    ip: str | None = None
    details: Mapping[str, Any] | None = None
    client_id: str | None = None
    client_name: str | None = None
    user_agent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as Auth0's ``GET /api/v2/logs`` shows one (absent fields left out)."""
        body = {
            "date": self.date,
            "type": self.type,
            "description": self.description,
            "connection": self.connection,
            "connection_id": self.connection_id,
            "client_id": self.client_id,
            "client_name": self.client_name,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "details": copy_json(self.details),
            "_id": self.log_id,  # Auth0 repeats the id under both names
            "log_id": self.log_id,
        }
        return {k: v for k, v in body.items() if v is not None}


def new_event(
    kind: str,
    now: datetime,
    *,
    user: User | None = None,
    connection: Connection | None = None,
    ip: str | None = None,
    date: str | None = None,
    description: str | None = None,
    user_name: str | None = None,
) -> Event:
    """An event of type ``kind`` at ``now`` (or ``date``) about ``user`` in ``connection``.

    The connection is ``connection``, else the user's; the user name is ``user_name``, else the
    user's email, username or phone number.
    """
    return Event(
        log_id=new_object_id(now),
        date=date or format_timestamp(now),
        type=kind,
        description=description,
        connection=connection.name if connection else (user.connection if user else None),
        connection_id=connection.id if connection else None,
        user_id=user.user_id if user else None,
        user_name=user_name or (user.email or user.username or user.phone_number if user else None),
        ip=ip,
    )


@dataclass(frozen=True, slots=True)
class UsersPage:
    """One page of ``list_users``. Iterating it yields its users.

    ``to_dict()`` is Auth0's body: the bare list of users, or with ``include_totals`` an object
    with ``start``, ``limit``, ``length``, ``total`` and ``users``.
    """

    users: tuple[User, ...]
    start: int
    limit: int
    total: int | None = None

    @property
    def length(self) -> int:
        """How many users this page holds."""
        return len(self.users)

    def __iter__(self) -> Iterator[User]:
        return iter(self.users)

    def __len__(self) -> int:
        return len(self.users)

    def to_dict(self) -> dict[str, Any] | list[dict[str, Any]]:
        """Auth0's response body for ``GET /api/v2/users``."""
        users = [u.to_dict() for u in self.users]
        if self.total is None:
            return users
        return {
            "start": self.start,
            "limit": self.limit,
            "length": self.length,
            "users": users,
            "total": self.total,
        }


@dataclass(frozen=True, slots=True)
class EventsPage:
    """One page of ``search_events``. Iterating it yields its events.

    ``to_dict()`` is Auth0's body: the bare list of events, or with ``include_totals`` an object
    with ``start``, ``limit``, ``length``, ``total`` and ``logs``.
    """

    events: tuple[Event, ...]
    start: int
    limit: int
    total: int | None = None

    @property
    def length(self) -> int:
        """How many events this page holds."""
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def to_dict(self) -> dict[str, Any] | list[dict[str, Any]]:
        """Auth0's response body for ``GET /api/v2/logs``."""
        logs = [e.to_dict() for e in self.events]
        if self.total is None:
            return logs
        return {
            "start": self.start,
            "limit": self.limit,
            "length": self.length,
            "total": self.total,
            "logs": logs,
        }


@dataclass(frozen=True, slots=True)
class UserBlock:
    """A brute-force block: sign-in as ``identifier`` from ``ip`` is refused for a while.

    ``to_dict()`` is an entry of Auth0's ``blocked_for`` list.
    """

    identifier: str
    ip: str
    connection: str

    def to_dict(self) -> dict[str, str]:
        """``{"identifier", "ip", "connection"}``."""
        return {"identifier": self.identifier, "ip": self.ip, "connection": self.connection}


@dataclass(frozen=True, slots=True)
class Ticket:
    """An email verification ticket: a single-use link that expires.

    ``token`` is the secret inside ``url`` (both kept out of the repr); ``to_dict()`` is Auth0's
    ``{"ticket": url}``.
    """

    user_id: str
    expires_at: str
    url: str = field(repr=False)
    token: str = field(repr=False)

    def to_dict(self) -> dict[str, str]:
        """Auth0's body for ``POST /api/v2/tickets/email-verification``."""
        return {"ticket": self.url}


@dataclass(slots=True)
class ImportResult:
    """What ``IdentityStore.import_users`` did: counts and Auth0's per-user error entries.

    Attributes:
        inserted: users created.
        updated: existing users changed by an upsert.
        failed: users refused; each has an entry in ``errors`` (unless they went to ``on_error``).
        errors: ``{"user": ..., "errors": [{"code", "message", "path"}]}`` per refused user, as
            Auth0's ``GET /api/v2/jobs/{id}/errors`` lists them; hash values, HMAC keys and any
            ``password`` are ``*****``.
    """

    inserted: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Users read from the source."""
        return self.inserted + self.updated + self.failed

    def summary(self) -> dict[str, int]:
        """Auth0's job ``summary``: ``failed``, ``updated``, ``inserted`` and ``total``."""
        return {
            "failed": self.failed,
            "updated": self.updated,
            "inserted": self.inserted,
            "total": self.total,
        }
