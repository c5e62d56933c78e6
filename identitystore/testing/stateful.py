"""A ready Hypothesis state machine for an ``IdentityStore``: subclass it to add your own rules.

``IdentityStoreMachine`` drives one store through random sequences of creates (database, email and
SMS users), profile, email and password updates, blocks, deletes, password sign-ins (brute-force
protection included) and passwordless codes, while a plain-dict model predicts every outcome.
After every step it checks that the store agrees with the model, keeps its unique keys unique and
its time stamps sane, keeps deleted users deleted, and shows no plaintext password anywhere (reprs,
event log, messages, error texts).

Needs Hypothesis: ``pip install identitystore[hypothesis]``. Extend it the Hypothesis way::

    class MyAppMachine(IdentityStoreMachine):
        def open_store(self) -> IdentityStore:      # your store; keep clock=self.clock
            return IdentityStore(":memory:", hasher=PasswordHasher.fast_for_tests(),
                                 clock=self.clock)

        @rule(uid=IdentityStoreMachine.users)
        def my_rule(self, uid): ...

        @invariant()
        def my_invariant(self): ...

    TestMyApp = MyAppMachine.TestCase

Users created through ``self.store`` outside the model break ``store_matches_model``: register
them with ``self.add(user, ModelUser(...))``.
"""

from __future__ import annotations

import dataclasses
import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from .. import IdentityStore, PasswordHasher, errors
from .helpers import ManualClock

__all__ = ["IdentityStoreMachine", "ManualClock", "ModelUser", "steps"]

_DB = "Username-Password-Authentication"
_EMAIL = "email"
_SMS = "sms"
_FAST = PasswordHasher.fast_for_tests()
_CODE_LIFETIME = timedelta(seconds=180)  # Auth0's totp default
_CODE_MAX_ATTEMPTS = 3
_MAX_LOGIN_ATTEMPTS = 10  # IdentityStore's default brute-force threshold
_LOGIN_BLOCK = timedelta(minutes=15)
_UNKNOWN_ID = "auth0|000000000000000000000000"
_PREFIXES = {_DB: "auth0", _EMAIL: "email", _SMS: "sms"}
#: A weak password for a taken email: which check comes first is not part of the contract.
_TAKEN_AND_WEAK = (errors.PasswordStrengthError, errors.UserExistsError)
#: Likewise for a PATCH of password and email for a user whose connection takes neither.
_CONFLICT_AND_NOT_ALLOWED = (errors.ConflictingFieldsError, errors.FieldNotAllowedError)

# -- data pools: small, so that collisions happen ----------------------------------------------

_EMAIL_POOL = ("alice@example.com", "bob@example.com", "carol@example.org", "dave@sub.example.net")
_PHONE_POOL = ("+14155550100", "+14155550101", "+447700900123")
_IPS = (None, "10.0.0.1", "203.0.113.7")


def _case_variant(email: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(email), max_size=len(email))
    return flips.map(
        lambda fs: "".join(c.upper() if f else c for c, f in zip(email, fs, strict=True))
    )


_emails = st.sampled_from(_EMAIL_POOL).flatmap(_case_variant)
_phones = st.sampled_from(_PHONE_POOL)
_ips = st.sampled_from(_IPS)
# Passwords are distinctive enough that finding one in a byte dump is never a coincidence.
_strong_passwords = st.text(string.ascii_letters + string.digits, min_size=6, max_size=12).map(
    lambda s: f"Pw#{s}7"
)
_weak_passwords = st.one_of(
    st.text(string.ascii_lowercase, min_size=6, max_size=10).map(lambda s: f"weak{s}"),
    st.text(string.digits, min_size=3, max_size=3).map(lambda s: f"Sh{s}!"),  # 6 chars: too short
)
# (password, meets the "good" policy of the default database connection)
_passwords = st.one_of(
    _strong_passwords.map(lambda p: (p, True)), _weak_passwords.map(lambda p: (p, False))
)
_names = st.sampled_from(("Ann Lee", "Bo", "Zoë Ω", "x", "Émile Zola"))
_meta_keys = st.sampled_from(("a", "b", "theme", "n"))
_meta_values = st.one_of(
    st.integers(-3, 3),
    st.text(string.ascii_letters, max_size=4),
    st.booleans(),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(("x", "y")), st.integers(0, 3), max_size=2),
)
_new_metadata = st.dictionaries(_meta_keys, _meta_values, min_size=1, max_size=3)
_metadata_patches = st.dictionaries(_meta_keys, st.none() | _meta_values, max_size=3)
#: PATCH fields every user takes, with values (None removes a name or nickname).
_PROFILE_PATCH: dict[str, st.SearchStrategy[Any]] = {
    "user_metadata": _metadata_patches,
    "name": st.none() | _names,
    "nickname": st.none() | _names,
    "blocked": st.booleans(),
}
_mostly_true = st.integers(0, 3).map(bool)
_failures_in_a_row = st.integers(1, _MAX_LOGIN_ATTEMPTS + 2)
_block_waits = st.sampled_from((0, 1, 899, 900, 901))  # seconds, around the 15-minute block
_sends = st.sampled_from(("code", "link"))
_codes = st.text(string.digits, min_size=6, max_size=6)
# Time moves 0-5 s (with microseconds, which timestamps cut to milliseconds) before every step.
steps = st.integers(0, 5_000_000).map(lambda us: timedelta(microseconds=us))


def _ts(moment: datetime) -> str:
    """The store's timestamp format, computed independently: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(timezone.utc)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


#: An exception type a call must raise, several allowed ones, or None for success.
_Expected = type[BaseException] | tuple[type[BaseException], ...] | None


@dataclass
class ModelUser:
    """What the model knows of a user: the fields compared with the store, and the password."""

    user_id: str
    connection: str
    created_at: str
    name: str
    nickname: str
    email: str | None = None
    phone_number: str | None = None
    password: str | None = None
    blocked: bool | None = None
    user_metadata: dict[str, Any] | None = None
    logins_count: int | None = None
    email_verified: bool | None = None
    phone_verified: bool | None = None

    def tracked(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        del d["password"]
        return d


def _tracked_fields(user: Any) -> dict[str, Any]:
    fields = [f.name for f in dataclasses.fields(ModelUser) if f.name != "password"]
    return {f: getattr(user, f) for f in fields}


def _merge_metadata(current: dict[str, Any] | None, patch: dict[str, Any]) -> dict[str, Any] | None:
    """Auth0's PATCH merge: top level only, None removes a key, ``{}`` removes everything.

    Written again on purpose, like ``_ts``: the model predicts, it does not call the store's code.
    """
    if not patch:
        return None
    merged = dict(current or {})
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged or None


class IdentityStoreMachine(RuleBasedStateMachine):
    """One store, one model; every rule predicts its outcome from the model before acting."""

    users = Bundle("users")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()  # the machine moves it forward before every step
        self.store = self.open_store()
        self.model: dict[str, ModelUser] = {}
        self.deleted: set[str] = set()
        self.secrets: set[str] = set()  # every plaintext password the run has used
        self.raised: list[str] = []  # str/repr/body of every exception the store raised
        self.earlier_messages: list[Any] = []  # outboxes of closed stores (file variant)
        self.seen_created: dict[str, str] = {}
        self.seen_updated: dict[str, str] = {}
        # (user_id, ip) -> [failures, blocked_until]; ((connection, identifier) -> [code, exp, n])
        self.failures: dict[tuple[str, str], list[Any]] = {}
        self.codes: dict[tuple[str, str], list[Any]] = {}

    def open_store(self) -> IdentityStore:
        return IdentityStore(":memory:", hasher=_FAST, clock=self.clock)

    def teardown(self) -> None:
        self.store.close()

    # -- helpers --------------------------------------------------------------------------------

    @property
    def now(self) -> str:
        return _ts(self.clock.now)

    def tick(self, dt: timedelta) -> None:
        self.clock.now += dt

    def call(self, expected: _Expected, fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        """Call ``fn``; assert it raises exactly (one of) ``expected``, or nothing if None.

        The text of every exception the store raises is kept for the leak check.
        """
        allowed = (
            () if expected is None else expected if isinstance(expected, tuple) else (expected,)
        )
        event(f"{fn.__name__} -> {'/'.join(e.__name__ for e in allowed) or 'ok'}")
        try:
            result = fn(*a, **kw)
        except Exception as exc:
            body = exc.to_dict() if isinstance(exc, errors.IdentityStoreError) else {}
            self.raised.append(f"{exc!s}\n{exc!r}\n{json.dumps(body)}")
            if type(exc) not in allowed:
                raise AssertionError(f"{fn.__name__}: expected {allowed}, got {exc!r}") from exc
            return None
        assert not allowed, f"{fn.__name__}: expected {allowed}, got {result!r}"
        return result

    def snapshot(self) -> tuple[Any, ...]:
        """Everything a refused write must leave untouched: users and the event log."""
        listed = self.store.list_users(per_page=100)
        users = sorted(json.dumps(u.to_dict(), sort_keys=True) for u in listed)
        return self.store.backend.count_users(), users, len(self.store.list_events(limit=10**6))

    def writes_nothing(
        self, expected: _Expected, fn: Callable[..., Any], *a: Any, **kw: Any
    ) -> None:
        """``call``, and check that nothing at all was written (users or events)."""
        before = self.snapshot()
        self.call(expected, fn, *a, **kw)
        assert self.snapshot() == before, f"{fn.__name__} (expecting {expected}) wrote"

    def refused(self, expected: _Expected, fn: Callable[..., Any], *a: Any, **kw: Any) -> None:
        """``call`` expecting an error, and nothing at all written (users or events)."""
        assert expected is not None
        self.writes_nothing(expected, fn, *a, **kw)

    def find(self, connection: str, key: str, value: str) -> ModelUser | None:
        for m in self.model.values():
            if m.connection == connection and getattr(m, key) == value:
                return m
        return None

    def expect_user(self, user: Any, uid: str | None = None) -> None:
        """A user the store returned equals the model's, field for field."""
        uid = uid or user.user_id
        assert _tracked_fields(user) == self.model[uid].tracked()

    def add(self, user: Any, m: ModelUser) -> str:
        assert user.created_at == user.updated_at == self.now
        assert user.user_id not in self.model
        assert user.user_id not in self.deleted
        self.model[user.user_id] = m
        self.expect_user(user)
        return str(user.user_id)

    def create(self, connection: str, fields: dict[str, Any], expected: ModelUser) -> Any:
        """``create_user(connection, **fields)``: refused with nothing written if the model has a
        user with the same email or phone number in ``connection``, else ``expected`` (with the
        new ``user_id``) joins the model. Returns the user id for the ``users`` bundle."""
        key = "email" if expected.email is not None else "phone_number"
        if self.find(connection, key, getattr(expected, key)) is not None:
            self.refused(errors.UserExistsError, self.store.create_user, connection, **fields)
            return multiple()
        user = self.call(None, self.store.create_user, connection, **fields)
        assert user.user_id.startswith(_PREFIXES[connection] + "|")
        return self.add(user, dataclasses.replace(expected, user_id=user.user_id))

    # -- creating users -------------------------------------------------------------------------

    @rule(
        target=users,
        dt=steps,
        email=_emails,
        password=_strong_passwords,
        name=st.none() | _names,
        blocked=st.none() | st.booleans(),
        metadata=st.none() | _new_metadata,
    )
    def create_database_user(
        self,
        *,
        dt: timedelta,
        email: str,
        password: str,
        name: str | None,
        blocked: bool | None,
        metadata: dict[str, Any] | None,
    ) -> Any:
        self.tick(dt)
        self.secrets.add(password)
        extra = {
            k: v
            for k, v in {"name": name, "blocked": blocked, "user_metadata": metadata}.items()
            if v is not None
        }
        return self.create(
            _DB,
            {"email": email, "password": password, **extra},
            self.email_user(
                _DB, email, name, password=password, blocked=blocked, user_metadata=metadata
            ),
        )

    @initialize(
        target=users, email=_emails, password=_strong_passwords, blocked=st.none() | st.booleans()
    )
    def start_with_a_database_user(self, *, email: str, password: str, blocked: bool | None) -> Any:
        """Every run starts with one database user, so that sign-ins have someone to find."""
        return self.create_database_user(
            dt=timedelta(0),
            email=email,
            password=password,
            name=None,
            blocked=blocked,
            metadata=None,
        )

    @initialize(target=users, email=_emails, password=_strong_passwords)
    def start_with_another_database_user(self, email: str, password: str) -> Any:
        """And a second one (refused if it drew the same email), so emails can collide."""
        return self.create_database_user(
            dt=timedelta(0), email=email, password=password, name=None, blocked=None, metadata=None
        )

    @rule(dt=steps, email=_emails, password=_weak_passwords)
    def create_database_user_with_weak_password(
        self, dt: timedelta, email: str, password: str
    ) -> None:
        """Refused by the "good" policy (or, if the email is taken, either error): no writes."""
        self.tick(dt)
        self.secrets.add(password)
        taken = self.find(_DB, "email", email.lower()) is not None
        expected = _TAKEN_AND_WEAK if taken else errors.PasswordStrengthError
        self.refused(expected, self.store.create_user, _DB, email=email, password=password)

    @rule(target=users, dt=steps, phone=_phones, blocked=st.none() | st.booleans())
    def create_sms_user(self, *, dt: timedelta, phone: str, blocked: bool | None) -> Any:
        self.tick(dt)
        extra = {} if blocked is None else {"blocked": blocked}
        return self.create(
            _SMS,
            {"phone_number": phone, **extra},
            ModelUser(
                user_id="",
                connection=_SMS,
                created_at=self.now,
                name=phone,
                nickname=phone,
                phone_number=phone,
                blocked=blocked,
                phone_verified=False,
            ),
        )

    @rule(target=users, dt=steps, email=_emails, name=st.none() | _names)
    def create_email_user(self, dt: timedelta, email: str, name: str | None) -> Any:
        self.tick(dt)
        extra = {} if name is None else {"name": name}
        return self.create(_EMAIL, {"email": email, **extra}, self.email_user(_EMAIL, email, name))

    def email_user(self, connection: str, email: str, name: str | None, **fields: Any) -> ModelUser:
        """The model of a new user identified by ``email``: Auth0's defaults derived from it."""
        lowered = email.lower()
        return ModelUser(
            user_id="",
            connection=connection,
            created_at=self.now,
            name=name if name is not None else lowered,
            nickname=lowered.rsplit("@", 1)[0],
            email=lowered,
            email_verified=False,
            **fields,
        )

    # -- updating users -------------------------------------------------------------------------

    def update(self, uid: str, body: dict[str, Any]) -> None:
        """``update_user(uid, **body)`` with the outcome the model predicts."""
        if "password" in body:
            self.secrets.add(body["password"][0])
        call_body = {k: (v[0] if k == "password" else v) for k, v in body.items()}
        m = self.model.get(uid)
        if m is None:
            self.refused(errors.UserNotFoundError, self.store.update_user, uid, **call_body)
            return
        allowed = {"user_metadata", "name", "nickname", "blocked"}
        if m.connection in (_DB, _EMAIL):
            allowed.add("email")
        if m.connection == _DB:
            allowed.add("password")
        not_allowed = bool(set(body) - allowed)
        if {"password", "email"} <= set(body):  # Auth0 refuses to change both in one PATCH
            conflict = _CONFLICT_AND_NOT_ALLOWED if not_allowed else errors.ConflictingFieldsError
            self.refused(conflict, self.store.update_user, uid, **call_body)
            return
        if not_allowed:
            self.refused(errors.FieldNotAllowedError, self.store.update_user, uid, **call_body)
            return
        new_email = body["email"].lower() if "email" in body else m.email
        holder = self.find(m.connection, "email", new_email) if new_email is not None else None
        taken = "email" in body and holder is not None and holder.user_id != uid
        if "password" in body and not body["password"][1]:
            expected = _TAKEN_AND_WEAK if taken else errors.PasswordStrengthError
            self.refused(expected, self.store.update_user, uid, **call_body)
            return
        if taken:
            self.refused(errors.UserExistsError, self.store.update_user, uid, **call_body)
            return
        user = self.call(None, self.store.update_user, uid, **call_body)
        assert user.updated_at == self.now
        if "user_metadata" in body:
            m.user_metadata = _merge_metadata(m.user_metadata, body["user_metadata"])
        if "email" in body:
            if new_email != m.email:
                m.email_verified = False
            m.email = new_email
        identifier = m.email or m.phone_number or uid
        if "name" in body:
            m.name = body["name"] if body["name"] is not None else identifier
        if "nickname" in body:
            if body["nickname"] is not None:
                m.nickname = body["nickname"]
            else:
                m.nickname = m.email.rsplit("@", 1)[0] if m.email else identifier
        if "blocked" in body:
            m.blocked = body["blocked"]
        if "password" in body:
            m.password = body["password"][0]
            # a new password lifts every brute-force block of the user (Auth0's way to unblock)
            for key in [k for k in self.failures if k[0] == uid]:
                del self.failures[key]
        self.expect_user(user)

    @rule(
        dt=steps,
        uid=users,
        body=st.fixed_dictionaries({}, optional=_PROFILE_PATCH),
    )
    def update_profile(self, dt: timedelta, uid: str, body: dict[str, Any]) -> None:
        self.tick(dt)
        self.update(uid, body)

    @rule(dt=steps, uid=users, blocked=st.booleans())
    def set_blocked(self, *, dt: timedelta, uid: str, blocked: bool) -> None:
        self.tick(dt)
        self.update(uid, {"blocked": blocked})

    @rule(dt=steps, uid=users, email=_emails)
    def change_email(self, dt: timedelta, uid: str, email: str) -> None:
        self.tick(dt)
        self.update(uid, {"email": email})

    @rule(dt=steps, uid=users, other=users, shout=st.booleans())
    def change_email_to_another_users(
        self, *, dt: timedelta, uid: str, other: str, shout: bool
    ) -> None:
        """Take another user's email: refused in the same connection, fine in another one."""
        self.tick(dt)
        self.update(uid, {"email": self.login_of(uid=other, shout=shout)})

    @rule(dt=steps, uid=users, password=_passwords, ip=_ips)
    def change_password(
        self, dt: timedelta, uid: str, password: tuple[str, bool], ip: str | None
    ) -> None:
        """Change the password, then sign in with the old one and the new one."""
        self.tick(dt)
        m = self.model.get(uid)
        old = m.password if m is not None else None
        self.update(uid, {"password": password})
        if m is not None and m.email is not None and old is not None:
            self.authenticate(m.email, old, ip)
            self.authenticate(m.email, password[0], ip)

    @rule(
        dt=steps,
        uid=users,
        body=st.fixed_dictionaries(
            {}, optional={**_PROFILE_PATCH, "email": _emails, "password": _passwords}
        ),
    )
    def update_anything(self, dt: timedelta, uid: str, body: dict[str, Any]) -> None:
        self.tick(dt)
        self.update(uid, body)

    # -- deleting -------------------------------------------------------------------------------

    @rule(dt=steps, uid=users)
    def delete_user(self, dt: timedelta, uid: str) -> None:
        """Delete a user; deleting one already gone succeeds and writes nothing (Auth0's 204)."""
        self.tick(dt)
        if uid not in self.model:
            self.writes_nothing(None, self.store.delete_user, uid)
            return
        self.call(None, self.store.delete_user, uid)
        del self.model[uid]
        self.deleted.add(uid)
        self.seen_updated.pop(uid, None)
        for key in [k for k in self.failures if k[0] == uid]:
            del self.failures[key]  # login failures go with the user

    # -- password sign-in -----------------------------------------------------------------------

    def authenticate(self, login: str, password: str, ip: str | None) -> None:
        """One ``authenticate`` call with the outcome the model predicts (brute force included)."""
        self.secrets.add(password)
        address = ip or "0.0.0.0"
        m = self.find(_DB, "email", login.lower())
        if m is None:
            self.call(
                errors.WrongCredentialsError, self.store.authenticate, _DB, login, password, ip
            )
            return
        entry = self.failures.get((m.user_id, address))
        if entry is not None and entry[1] is not None and entry[1] > self.now:
            self.call(
                errors.TooManyAttemptsError, self.store.authenticate, _DB, login, password, ip
            )
        elif password != m.password:
            self.call(
                errors.WrongCredentialsError, self.store.authenticate, _DB, login, password, ip
            )
            entry = self.failures.setdefault((m.user_id, address), [0, None])
            entry[0] += 1
            if entry[0] >= _MAX_LOGIN_ATTEMPTS:
                entry[:] = [0, _ts(self.clock.now + _LOGIN_BLOCK)]
        elif m.blocked:
            self.call(errors.UserBlockedError, self.store.authenticate, _DB, login, password, ip)
        else:
            user = self.call(None, self.store.authenticate, _DB, login, password, ip)
            m.logins_count = (m.logins_count or 0) + 1
            # a sign-in clears the failures of its own address only; other blocks stay
            self.failures.pop((m.user_id, address), None)
            assert (user.last_login, user.last_ip) == (self.now, ip)
            self.expect_user(user)

    @rule(dt=steps, login=_emails, right=st.booleans(), wrong=_strong_passwords, ip=_ips)
    def sign_in(
        self, *, dt: timedelta, login: str, right: bool, wrong: str, ip: str | None
    ) -> None:
        """Right or wrong password for a pool email: known, unknown, blocked or locked out."""
        self.tick(dt)
        m = self.find(_DB, "email", login.lower())
        password = m.password if right and m is not None and m.password else wrong
        self.authenticate(login, password, ip)

    def hammer(
        self, *, login: str, wrong: str, n: int, wait: int, then_right: bool, ip: str | None
    ) -> None:
        """``n`` wrong passwords in a row, a pause, then maybe the right one."""
        for _ in range(n):
            self.authenticate(login, wrong, ip)
        self.tick(timedelta(seconds=wait))
        m = self.find(_DB, "email", login.lower())
        if then_right and m is not None and m.password:
            self.authenticate(login, m.password, ip)

    @rule(
        dt=steps,
        login=_emails,
        wrong=_strong_passwords,
        n=_failures_in_a_row,
        wait=_block_waits,
        then_right=st.booleans(),
        ip=_ips,
    )
    def hammer_email(
        self,
        *,
        dt: timedelta,
        login: str,
        wrong: str,
        n: int,
        wait: int,
        then_right: bool,
        ip: str | None,
    ) -> None:
        """Brute force on a pool email (known or not); a block lasts exactly 15 minutes."""
        self.tick(dt)
        self.hammer(login=login, wrong=wrong, n=n, wait=wait, then_right=then_right, ip=ip)

    def login_of(self, *, uid: str, shout: bool) -> str:
        """The user's current email (a pool email for users without one), maybe upper-cased."""
        m = self.model.get(uid)
        login = m.email if m is not None and m.email is not None else _EMAIL_POOL[0]
        return login.upper() if shout else login

    @rule(
        dt=steps,
        uid=users,
        shout=st.booleans(),
        right=_mostly_true,
        wrong=_strong_passwords,
        ip=_ips,
    )
    def sign_in_user(
        self, *, dt: timedelta, uid: str, shout: bool, right: bool, wrong: str, ip: str | None
    ) -> None:
        """Sign in as a created user (any connection, maybe deleted) by its current email."""
        self.tick(dt)
        login = self.login_of(uid=uid, shout=shout)
        m = self.find(_DB, "email", login.lower())
        self.authenticate(login, m.password if right and m and m.password else wrong, ip)

    @rule(
        dt=steps,
        uid=users,
        wrong=_strong_passwords,
        n=_failures_in_a_row,
        wait=_block_waits,
        then_right=_mostly_true,
        ip=_ips,
    )
    def hammer_user(
        self,
        *,
        dt: timedelta,
        uid: str,
        wrong: str,
        n: int,
        wait: int,
        then_right: bool,
        ip: str | None,
    ) -> None:
        """Brute force on a created user: 10 failures from one IP block that pair for 15 min."""
        self.tick(dt)
        login = self.login_of(uid=uid, shout=False)
        self.hammer(login=login, wrong=wrong, n=n, wait=wait, then_right=then_right, ip=ip)

    # -- passwordless ---------------------------------------------------------------------------

    def start(self, connection: str, identifier: str, send: str, ip: str | None) -> None:
        key = "email" if connection == _EMAIL else "phone_number"
        value = identifier.lower() if connection == _EMAIL else identifier
        m = self.find(connection, key, value)
        start = self.store.start_passwordless
        if m is not None and m.blocked:  # no code for a blocked user; an earlier one stays
            sent = list(self.store.outbox)
            kw = {key: identifier, "send": send, "ip": ip}
            self.call(errors.UserBlockedError, start, connection, **kw)
            assert self.store.outbox == sent
            return
        message = self.call(None, start, connection, **{key: identifier}, send=send, ip=ip)
        if m is None:
            user = self.store.get_user(message.user_id)
            by_email = connection == _EMAIL
            m = ModelUser(
                user_id=user.user_id,
                connection=connection,
                created_at=self.now,
                name=value,
                nickname=value.rsplit("@", 1)[0] if by_email else value,
                email=value if by_email else None,
                email_verified=False if by_email else None,
                phone_number=None if by_email else value,
                phone_verified=None if by_email else False,
            )
            self.add(user, m)
        assert (message.user_id, message.recipient, message.connection) == (
            m.user_id,
            value,
            connection,
        )
        assert message.kind == f"passwordless_{send}"
        assert message.created_at == self.now
        assert message.expires_at == _ts(self.clock.now + _CODE_LIFETIME)
        assert message.token is not None
        assert message.token.isdigit()
        assert len(message.token) == 6
        self.codes[(connection, value)] = [message.token, message.expires_at, 0]

    @rule(dt=steps, email=_emails, send=_sends, ip=_ips)
    def start_passwordless_email(
        self, dt: timedelta, email: str, send: str, ip: str | None
    ) -> None:
        self.tick(dt)
        self.start(_EMAIL, email, send, ip)

    @rule(dt=steps, phone=_phones, send=_sends, ip=_ips)
    def start_passwordless_sms(self, dt: timedelta, phone: str, send: str, ip: str | None) -> None:
        self.tick(dt)
        self.start(_SMS, phone, send, ip)

    def verify(self, connection: str, identifier: str, *, right: bool, wrong: str) -> None:
        key = "email" if connection == _EMAIL else "phone_number"
        value = identifier.lower() if connection == _EMAIL else identifier
        entry = self.codes.get((connection, value))
        code = entry[0] if right and entry is not None else wrong
        if entry is None:
            outcome = "missing"
        elif entry[1] <= self.now:
            outcome = "expired"
        elif code == entry[0]:
            outcome = "ok"
        elif entry[2] + 1 >= _CODE_MAX_ATTEMPTS:
            outcome = "exhausted"
        else:
            outcome = "wrong"
        if outcome == "wrong":
            entry[2] += 1  # type: ignore[index]
        elif entry is not None:
            del self.codes[(connection, value)]
        m = self.find(connection, key, value)
        verify = self.store.verify_passwordless
        kw = {key: identifier, "code": code}
        if outcome == "exhausted":
            self.call(errors.CodeAttemptsExceededError, verify, connection, **kw)
        elif outcome != "ok" or m is None:
            self.call(errors.WrongCodeError, verify, connection, **kw)
        elif m.blocked:
            self.call(errors.UserBlockedError, verify, connection, **kw)
        else:
            user = self.call(None, verify, connection, **kw)
            flag = "email_verified" if connection == _EMAIL else "phone_verified"
            if getattr(m, flag) is not True:
                setattr(m, flag, True)
                assert user.updated_at == self.now
            m.logins_count = (m.logins_count or 0) + 1
            self.expect_user(user)

    @rule(dt=steps, email=_emails, right=st.booleans(), wrong=_codes)
    def verify_passwordless_email(
        self, *, dt: timedelta, email: str, right: bool, wrong: str
    ) -> None:
        self.tick(dt)
        self.verify(_EMAIL, email, right=right, wrong=wrong)

    @rule(dt=steps, phone=_phones, right=st.booleans(), wrong=_codes)
    def verify_passwordless_sms(
        self, *, dt: timedelta, phone: str, right: bool, wrong: str
    ) -> None:
        self.tick(dt)
        self.verify(_SMS, phone, right=right, wrong=wrong)

    @rule(
        dt=steps,
        uid=users,
        guesses=st.lists(_codes, max_size=_CODE_MAX_ATTEMPTS),
        wait=st.sampled_from((0, 1, 179, 180, 181, 600)),
        then_right=st.booleans(),
    )
    def passwordless_round_trip(
        self, *, dt: timedelta, uid: str, guesses: list[str], wait: int, then_right: bool
    ) -> None:
        """Send a code to a created user's email or phone, guess wrong, wait, maybe use it."""
        self.tick(dt)
        m = self.model.get(uid)
        if m is None:
            return
        connection, identifier = (_SMS, m.phone_number) if m.phone_number else (_EMAIL, m.email)
        assert identifier is not None
        self.start(connection, identifier, "code", None)
        for guess in guesses:
            self.verify(connection, identifier, right=False, wrong=guess)
        self.tick(timedelta(seconds=wait))
        if then_right:
            self.verify(connection, identifier, right=True, wrong="000000")

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def store_matches_model(self) -> None:
        for uid, m in self.model.items():
            user = self.store.get_user(uid)
            assert _tracked_fields(user) == m.tracked(), uid
        assert self.store.backend.count_users() == len(self.model)

    @invariant()
    def listing_has_unique_keys(self) -> None:
        page = self.store.list_users(per_page=100, include_totals=True)
        listed = list(page)
        assert page.total == len(listed) == len(self.model)
        ids = [u.user_id for u in listed]
        assert len(set(ids)) == len(ids)
        assert set(ids) == set(self.model)
        for key in ("email", "phone_number"):
            pairs = [(u.connection, getattr(u, key)) for u in listed if getattr(u, key) is not None]
            assert len(set(pairs)) == len(pairs), key

    @invariant()
    def timestamps_are_sane(self) -> None:
        for uid in self.model:
            user = self.store.get_user(uid)
            assert user.created_at == self.seen_created.setdefault(uid, user.created_at)
            assert user.created_at <= user.updated_at <= self.now
            previous = self.seen_updated.get(uid)
            assert previous is None or previous <= user.updated_at, "updated_at went backwards"
            self.seen_updated[uid] = user.updated_at

    @invariant()
    def deleted_users_stay_deleted(self) -> None:
        for uid in (*self.deleted, _UNKNOWN_ID):
            self.call(errors.UserNotFoundError, self.store.get_user, uid)
        assert not self.deleted & set(self.model)

    def visible_texts(self) -> list[str]:
        """Every place a password could leak to through the public API."""
        users = list(self.store.list_users(per_page=100))
        events = self.store.list_events(limit=10**6)
        messages = self.earlier_messages + self.store.outbox
        return [
            repr(users),
            json.dumps([u.to_dict() for u in users], ensure_ascii=False),
            repr(events),
            json.dumps([e.to_dict() for e in events], ensure_ascii=False),
            repr(messages),
            repr([dataclasses.astuple(msg) for msg in messages]),  # link and token too
            repr(self.store),
            *self.raised,
        ]

    @invariant()
    def no_plaintext_password_anywhere(self) -> None:
        texts = self.visible_texts()
        for secret in self.secrets:
            for text in texts:
                assert secret not in text, f"plaintext password {secret!r} leaked: {text[:200]}"
        for user in self.store.list_users(per_page=100):
            assert not {"password", "password_hash"} & set(user.to_dict())
