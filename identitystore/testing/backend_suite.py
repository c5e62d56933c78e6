"""The conformance tests every storage backend must pass (needs ``identitystore[testing]``).

Subclass ``BackendSuite`` in a test module and give it a ``backend`` fixture that yields a fresh,
empty backend (and closes it afterwards)::

    import pytest
    from identitystore.testing.backend_suite import BackendSuite

    class TestMyBackend(BackendSuite):
        @pytest.fixture
        def backend(self):
            backend = MyBackend(...)
            yield backend
            backend.close()

pytest then runs every ``test_*`` method below against it: first through the ``Backend`` methods
directly, then through an ``IdentityStore`` opened on the backend.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from .. import IdentityStore, PasswordHasher, errors
from .._models import Connection, Event, NewUserRecord, User
from ..storage import Backend, DuplicateKey, Filter, StaleConnection, UserQuery

__all__ = ["BackendSuite"]

_NOW = "2026-01-02T03:04:05.000Z"
_LATER = "2026-01-02T04:04:05.000Z"
_DB = "Username-Password-Authentication"
#: Strings every backend keeps exactly: non-BMP, combining marks, right-to-left, line and
#: paragraph separators, quotes, backslashes, SQL and JSON fragments.
_UNICODE_SAMPLES = (
    "plain",
    "ünïcödé",
    "\U0001f600 emoji \U00010348",
    "e\u0301 combining",
    "\u05e9\u05dc\u05d5\u05dd rtl",
    "line\u2028para\u2029",
    "tab\tnewline\n",
    "quote ' double \" backslash \\",
    "'; DROP TABLE users; --",
    '{"not": "json"}',
    "\U0010fffd last plane",
)


def _user(
    n: int,
    *,
    connection: str = "c1",
    email: str | None = None,
    username: str | None = None,
    phone: str | None = None,
    user_id: str | None = None,
    created_at: str | None = None,
    **fields: Any,
) -> NewUserRecord:
    user = User(
        user_id=user_id or f"auth0|{n:024x}",
        connection=f"conn-{connection}",
        provider="auth0",
        created_at=created_at or f"2026-01-02T03:04:{n % 60:02d}.000Z",
        updated_at=created_at or f"2026-01-02T03:04:{n % 60:02d}.000Z",
        name=fields.pop("name", f"user {n}"),
        email=email,
        username=username,
        phone_number=phone,
        **fields,
    )
    return NewUserRecord(user=user, connection_id=f"con_{connection}", password_hash=f"hash-{n}")


def _event(n: int, *, type: str = "ss", user_id: str | None = None) -> Event:
    return Event(
        log_id=f"{n:024x}", date=f"2026-01-02T03:04:{n % 60:02d}.000Z", type=type, user_id=user_id
    )


def _signup(record: NewUserRecord, n: int, **fields: Any) -> Event:
    """The signup event a store writes with ``record`` (log_id from ``n``), with ``fields``."""
    user = record.user
    values: dict[str, Any] = {
        "log_id": f"{n:024x}",
        "date": user.created_at,
        "type": "ss",
        "connection": user.connection,
        "connection_id": record.connection_id,
        "user_id": user.user_id,
        "user_name": user.email or user.username or user.phone_number,
        **fields,
    }
    return Event(**values)


class BackendSuite:
    """Conformance tests for a ``Backend``; subclass it and provide a ``backend`` fixture."""

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        """A fresh, empty backend; override this in the subclass."""
        raise NotImplementedError("provide a `backend` fixture in your BackendSuite subclass")

    @pytest.fixture
    def connected(self, backend: Backend) -> Backend:
        """The backend with two connections, ``conn-c1`` (``con_c1``) and ``conn-c2``."""
        backend.insert_connection(Connection("con_c1", "conn-c1", "auth0", {"a": 1}))
        backend.insert_connection(Connection("con_c2", "conn-c2", "auth0", {}))
        return backend

    @pytest.fixture
    def store(self, backend: Backend) -> Iterator[IdentityStore]:
        """An ``IdentityStore`` on the backend, with a clock tests move by hand."""
        moment = [datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)]
        store = IdentityStore(
            backend, hasher=PasswordHasher.fast_for_tests(), clock=lambda: moment[0]
        )
        store.moment = moment  # type: ignore[attr-defined]
        yield store
        store.close()

    # -- the protocol --------------------------------------------------------------------------

    def test_is_a_backend_with_a_schema_version(self, backend: Backend) -> None:
        assert isinstance(backend, Backend)
        assert isinstance(backend.schema_version, int)
        assert backend.schema_version >= 1
        assert backend.count_users() == 0
        assert backend.list_connections() == []
        assert backend.get_setting("default_connections") is None

    # -- connections ---------------------------------------------------------------------------

    def test_connections_round_trip_in_creation_order(self, connected: Backend) -> None:
        assert [c.name for c in connected.list_connections()] == ["conn-c1", "conn-c2"]
        found = connected.get_connection("conn-c1")
        assert found == Connection("con_c1", "conn-c1", "auth0", {"a": 1})
        assert connected.get_connection("CONN-C1") is None
        assert connected.get_connection("nope") is None

    def test_a_taken_connection_name_is_a_duplicate_key(self, connected: Backend) -> None:
        with pytest.raises(DuplicateKey) as caught:
            connected.insert_connection(Connection("con_c3", "conn-c1", "sms", {}))
        assert caught.value.key == "name"
        assert len(connected.list_connections()) == 2

    def test_updating_a_connection_is_seen_at_once(self, connected: Backend) -> None:
        assert connected.get_connection("conn-c2") is not None  # read (and maybe cached) first
        connected.update_connection(Connection("con_c2", "conn-c2", "auth0", {"x": [1, "ü"]}))
        updated = connected.get_connection("conn-c2")
        assert updated is not None
        assert dict(updated.options) == {"x": [1, "ü"]}

    def test_a_user_checked_against_an_old_connection_is_refused(self, connected: Backend) -> None:
        kept = connected.get_connection("conn-c1", cached=True)
        assert kept == Connection("con_c1", "conn-c1", "auth0", {"a": 1})
        current = replace(_user(1, email="a@x.io"), connection=kept)
        connected.insert_user(current)  # still the stored one: written
        connected.update_connection(Connection("con_c1", "conn-c1", "auth0", {"a": 2}))
        with pytest.raises(StaleConnection):  # options changed since it was read: nothing written
            connected.insert_user(replace(_user(2, email="b@x.io"), connection=kept))
        fresh = connected.get_connection("conn-c1")
        assert fresh is not None
        assert dict(fresh.options) == {"a": 2}
        connected.insert_user(replace(_user(3, email="c@x.io"), connection=fresh))
        connected.delete_connection("con_c1")
        with pytest.raises(StaleConnection):  # and a deleted one is no connection at all
            connected.insert_user(replace(_user(4, email="d@x.io"), connection=fresh))
        assert connected.count_users() == 0

    def test_deleting_a_connection_deletes_its_users(self, connected: Backend) -> None:
        connected.insert_user(_user(1, email="a@x.io"))
        connected.insert_user(_user(2, email="b@x.io"))
        connected.insert_user(_user(3, connection="c2", email="a@x.io"))
        assert connected.delete_connection("con_c1", events=[_event(9, type="sapi")]) == 2
        assert connected.count_users() == 1
        assert connected.get_connection("conn-c1") is None
        assert [e.type for e in connected.list_events()] == ["sapi"]
        assert connected.list_users(UserQuery(with_total=True))[1] == 1

    # -- users ---------------------------------------------------------------------------------

    def test_a_user_round_trips_every_field(self, connected: Backend) -> None:
        record = _user(
            1,
            email="jane@example.com",
            username="jane",
            phone="+14155550100",
            email_verified=True,
            phone_verified=False,
            nickname="J",
            picture="https://example.com/p.png",
            given_name="Jane",
            family_name="Doe",
            blocked=False,
            user_metadata={"plan": "pro", "n": 3, "f": 2.5, "ok": True, "none": None, "l": [1]},
            app_metadata={"roles": ["admin"], "nested": {"deep": {"er": "x"}}},
        )
        connected.insert_user(record, events=[_event(1, user_id=record.user.user_id)])
        assert connected.get_user(record.user.user_id) == record.user
        assert connected.get_user(record.user.user_id.upper()) is None
        assert connected.count_users() == 1
        found = connected.find_user("con_c1", "username", "jane")
        assert found == (record.user, "hash-1")
        assert connected.find_user("con_c2", "username", "jane") is None
        assert connected.find_user("con_c1", "email", "jane@example.com") == found
        assert connected.find_user("con_c1", "phone_number", "+14155550100") == found
        assert connected.list_events()[0].user_id == record.user.user_id

    @pytest.mark.parametrize("text", _UNICODE_SAMPLES)
    def test_unicode_round_trips_exactly(self, connected: Backend, text: str) -> None:
        record = _user(
            1,
            email=f"{text}@x.io".lower(),
            username=text.lower(),
            name=text,
            user_metadata={text: text, "list": [text, {text: [text]}]},
        )
        connected.insert_user(record)
        assert connected.get_user(record.user.user_id) == record.user
        assert connected.get_users_by_email(f"{text}@x.io".lower()) == [record.user]
        assert connected.find_user("con_c1", "username", text.lower()) == (record.user, "hash-1")

    def test_nul_is_kept_exactly_or_refused_cleanly(self, connected: Backend) -> None:
        """A NUL character is either stored exactly, or refused with ``StorageError`` (e.g. by
        PostgreSQL) leaving nothing written and the backend usable."""
        record = _user(1, name="nul\x00name", user_metadata={"k\x00": "v\x00"})
        try:
            connected.insert_user(record)
        except errors.StorageError:
            assert connected.get_user(record.user.user_id) is None
            assert connected.count_users() == 0
        else:
            assert connected.get_user(record.user.user_id) == record.user
        connected.insert_user(_user(2, email="after@x.io"))
        assert connected.get_user(_user(2).user.user_id) is not None

    def test_big_metadata_round_trips(self, connected: Backend) -> None:
        big = {f"key{i}": "x" * 100 + str(i) for i in range(150)}  # about 16 KiB
        deep: Any = "bottom"
        for i in range(31):
            deep = {f"level{i}": [deep]}
        record = _user(1, user_metadata=big, app_metadata={"deep": deep, "huge": "ü" * 100_000})
        connected.insert_user(record)
        assert connected.get_user(record.user.user_id) == record.user

    @pytest.mark.parametrize("key", ["email", "username", "phone_number"])
    def test_keys_are_unique_per_connection(self, connected: Backend, key: str) -> None:
        fields = {"email": "email", "username": "username", "phone_number": "phone"}
        value = {"email": "a@x.io", "username": "jane", "phone_number": "+14155550100"}[key]
        connected.insert_user(_user(1, **{fields[key]: value}))
        with pytest.raises(DuplicateKey) as caught:
            connected.insert_user(_user(2, **{fields[key]: value}))
        assert caught.value.key == key
        connected.insert_user(_user(3, connection="c2", **{fields[key]: value}))
        assert connected.count_users() == 2
        assert connected.get_user(_user(2).user.user_id) is None

    def test_user_ids_are_unique_in_any_case_across_connections(self, connected: Backend) -> None:
        connected.insert_user(_user(1, user_id="auth0|Jane"))
        for other in ("auth0|Jane", "AUTH0|JANE", "auth0|jane"):
            with pytest.raises(DuplicateKey) as caught:
                connected.insert_user(_user(2, connection="c2", user_id=other))
            assert caught.value.key == "user_id"
        assert connected.count_users() == 1
        assert connected.get_user("auth0|jane") is None

    def test_a_refused_user_writes_nothing(self, connected: Backend) -> None:
        connected.insert_user(_user(1, email="a@x.io"))
        with pytest.raises(DuplicateKey):
            connected.insert_user(_user(2, email="a@x.io"), events=[_event(1)])
        assert connected.list_events() == []
        assert connected.count_users() == 1

    def test_one_of_many_concurrent_inserts_wins(self, connected: Backend) -> None:
        outcomes: list[str] = []
        lock = threading.Lock()

        def insert(n: int) -> None:
            try:
                connected.insert_user(_user(n, email="race@x.io"))
                result = "ok"
            except DuplicateKey as exc:
                result = exc.key
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=insert, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["email"] * 7 + ["ok"]
        assert connected.count_users() == 1

    def test_users_by_email_span_connections_oldest_first(self, connected: Backend) -> None:
        late = _user(1, email="a@x.io", created_at="2026-01-03T00:00:00.000Z")
        early = _user(2, connection="c2", email="a@x.io", created_at="2026-01-01T00:00:00.000Z")
        connected.insert_user(late)
        connected.insert_user(early)
        connected.insert_user(_user(3, email="b@x.io"))
        assert connected.get_users_by_email("a@x.io") == [early.user, late.user]
        assert connected.get_users_by_email("A@X.IO") == []

    def test_update_applies_changes_in_one_transaction(self, connected: Backend) -> None:
        record = _user(1, email="a@x.io", user_metadata={"a": 1})
        connected.insert_user(record)
        seen: list[User] = []

        def changes(current: User) -> dict[str, Any]:
            seen.append(current)
            return {"name": "new", "user_metadata": {"b": "ü"}, "blocked": True}

        updated = connected.update_user(
            record.user.user_id, changes, events=[_event(2, type="sapi")]
        )
        assert seen == [record.user]
        assert updated is not None
        assert (updated.name, updated.user_metadata, updated.blocked) == ("new", {"b": "ü"}, True)
        assert connected.get_user(record.user.user_id) == updated
        assert [e.type for e in connected.list_events()] == ["sapi"]
        assert connected.update_user("auth0|missing", changes) is None

    def test_an_update_onto_a_taken_key_changes_nothing(self, connected: Backend) -> None:
        connected.insert_user(_user(1, email="a@x.io"))
        second = _user(2, email="b@x.io")
        connected.insert_user(second)
        with pytest.raises(DuplicateKey) as caught:
            connected.update_user(
                second.user.user_id, lambda u: {"email": "a@x.io", "name": "changed"}
            )
        assert caught.value.key == "email"
        assert connected.get_user(second.user.user_id) == second.user

    def test_password_history_keeps_the_newest(self, connected: Backend) -> None:
        record = _user(1)
        uid = record.user.user_id
        connected.insert_user(record)
        for n in range(2, 6):
            connected.update_user(uid, lambda u: {}, password_hash=f"hash-{n}", history_size=3)
        assert connected.password_history(uid, 3) == ["hash-5", "hash-4", "hash-3"]
        assert connected.password_history(uid, 1) == ["hash-5"]
        connected.update_user(uid, lambda u: {}, password_hash="hash-6", history_size=0)
        assert connected.password_history(uid, 5) == ["hash-6"]
        assert connected.password_history("auth0|missing", 3) == []

    def test_delete_user_removes_everything_attached(self, connected: Backend) -> None:
        record = _user(1, email="a@x.io")
        uid = record.user.user_id
        connected.insert_user(record)
        connected.insert_ticket(
            "t1",
            kind="email_verification",
            user_id=uid,
            created_at=_NOW,
            expires_at=_LATER,
            email="a@x.io",
        )
        connected.put_code("con_c1", "a@x.io", "code", created_at=_NOW, expires_at=_LATER)
        assert connected.delete_user(uid, events=[_event(3, type="sdu")]) is True
        assert connected.get_user(uid) is None
        assert connected.use_ticket("t1", kind="email_verification", now=_NOW)[0] == "missing"
        assert connected.use_code("con_c1", "a@x.io", "code", now=_NOW, max_attempts=3) == "missing"
        assert connected.delete_user(uid) is False
        assert [e.type for e in connected.list_events()] == ["sdu"]
        connected.insert_user(_user(2, email="a@x.io"))  # the keys are free again

    def test_sign_ins_and_failures(self, connected: Backend) -> None:
        record = _user(1)
        uid = record.user.user_id
        connected.insert_user(record)
        for _ in range(2):
            failures = connected.record_failure(
                uid, ip="10.0.0.1", block_after=3, blocked_until=_LATER, event=_event(1, type="f")
            )
        assert failures == 2
        assert connected.blocked_until(uid, "10.0.0.1") is None
        connected.record_failure(
            uid, ip="10.0.0.1", block_after=3, blocked_until=_LATER, event=_event(2, type="f")
        )
        assert connected.blocked_until(uid, "10.0.0.1") == _LATER
        assert connected.blocked_until(uid, "10.0.0.2") is None
        assert (
            connected.record_failure(
                None, ip="1.1.1.1", block_after=3, blocked_until=_LATER, event=_event(3, type="fu")
            )
            == 0
        )
        user = connected.record_login(
            uid, date=_NOW, ip="10.0.0.1", new_hash="rehashed", event=_event(4, type="s")
        )
        assert user is not None
        assert (user.logins_count, user.last_login, user.last_ip) == (1, _NOW, "10.0.0.1")
        assert connected.blocked_until(uid, "10.0.0.1") is None
        assert connected.find_user("con_c1", "email", "x") is None
        assert connected.password_history(uid, 1) == ["rehashed"]
        assert [e.type for e in connected.list_events()] == ["f", "f", "f", "fu", "s"]
        missing = connected.record_login(
            "auth0|missing", date=_NOW, ip=None, new_hash=None, event=_event(5)
        )
        assert missing is None

    # -- list_users ----------------------------------------------------------------------------

    @pytest.fixture
    def populated(self, connected: Backend) -> Backend:
        rows = [
            (1, "c1", "ann@x.io", "ann", {"plan": "pro", "n": 1, "f": True}, None),
            (2, "c1", "bob@x.io", None, {"plan": "free", "n": 2, "f": False}, True),
            (3, "c1", "cid@y.io", "cid", {"plan": "pro", "n": 10, "tags": ["a"]}, False),
            (4, "c2", "ann@x.io", "ann", {"plan": "pro", "sub": {"k": "v"}}, None),
            (5, "c2", None, "eve", None, None),
        ]
        for n, conn, email, username, metadata, blocked in rows:
            connected.insert_user(
                _user(
                    n,
                    connection=conn,
                    email=email,
                    username=username,
                    user_metadata=metadata,
                    blocked=blocked,
                )
            )
        return connected

    @staticmethod
    def _ids(backend: Backend, *filters: Filter, **options: Any) -> list[int]:
        users, _ = backend.list_users(UserQuery(filters=filters, **options))
        return [int(u.user_id.split("|")[1], 16) for u in users]

    def test_list_users_sorts_and_pages(self, populated: Backend) -> None:
        assert self._ids(populated) == [1, 2, 3, 4, 5]
        assert self._ids(populated, descending=True) == [5, 4, 3, 2, 1]
        assert self._ids(populated, sort="email") == [5, 1, 4, 2, 3]  # no email sorts first
        assert self._ids(populated, sort="email", descending=True) == [3, 2, 4, 1, 5]
        assert self._ids(populated, sort="username") == [2, 1, 4, 3, 5]
        assert self._ids(populated, offset=1, limit=2) == [2, 3]
        assert self._ids(populated, connection_id="con_c2") == [4, 5]
        users, total = populated.list_users(UserQuery(limit=2, with_total=True))
        assert (len(users), total) == (2, 5)
        assert populated.list_users(UserQuery(connection_id="con_c2", with_total=True))[1] == 2
        assert populated.list_users(UserQuery(offset=10, with_total=True)) == ([], 5)

    def test_list_users_filters_columns(self, populated: Backend) -> None:
        assert self._ids(populated, Filter("email", "eq", "ann@x.io")) == [1, 4]
        assert self._ids(populated, Filter("email", "eq", "ANN@X.IO")) == []
        assert self._ids(populated, Filter("email", "prefix", "ann")) == [1, 4]
        assert self._ids(populated, Filter("email", "prefix", "ann", negate=True)) == [2, 3, 5]
        assert self._ids(populated, Filter("blocked", "eq", 1)) == [2]
        assert self._ids(populated, Filter("blocked", "eq", 0)) == [3]
        assert self._ids(populated, Filter("blocked", "eq", 1, negate=True)) == [1, 3, 4, 5]
        assert self._ids(populated, Filter("username", "range")) == [1, 3, 4, 5]
        created = Filter(
            "created_at",
            "range",
            low="2026-01-02T03:04:02.000Z",
            high="2026-01-02T03:04:04.000Z",
            include_high=False,
        )
        assert self._ids(populated, created) == [2, 3]
        both = (Filter("email", "prefix", "ann"), Filter("username", "eq", "ann"))
        assert self._ids(populated, *both, connection_id="con_c2") == [4]
        assert populated.list_users(UserQuery(filters=both, with_total=True))[1] == 2

    def test_list_users_filters_metadata(self, populated: Backend) -> None:
        def meta(op: Any, **kw: Any) -> list[int]:
            field = kw.pop("field", "user_metadata.plan")
            return self._ids(populated, Filter(field, op, **kw))

        assert meta("eq", value="pro") == [1, 3, 4]
        assert meta("eq", value="pro", negate=True) == [2, 5]
        assert meta("eq", value="PRO") == []
        assert meta("eq", field="user_metadata.n", value=10) == [3]
        assert meta("eq", field="user_metadata.f", value=1) == [1]  # true reads as 1
        assert meta("eq", field="user_metadata.f", value=0) == [2]
        assert meta("eq", field="user_metadata.sub.k", value="v") == [4]
        assert meta("eq", field="user_metadata.tags", value="a") == []  # not inside arrays
        assert meta("prefix", value="pr") == [1, 3, 4]
        assert meta("range", field="user_metadata.n", low=2, high=10) == [2, 3]
        assert meta("range", field="user_metadata.n", low=2, include_low=False) == [3]
        assert meta("range", field="user_metadata.n", high=2) == [1, 2]
        assert meta("range", low="f", high="g") == [2]
        assert meta("range", field="user_metadata.sub") == [4]
        assert meta("range", field="app_metadata.anything") == []

    # -- codes, tickets, settings, events ------------------------------------------------------

    def test_codes_are_single_use_with_counted_attempts(self, connected: Backend) -> None:
        def use(code: str, now: str = _NOW) -> str:
            return connected.use_code("con_c1", "a@x.io", code, now=now, max_attempts=3)

        connected.put_code("con_c1", "a@x.io", "right", created_at=_NOW, expires_at=_LATER)
        assert use("wrong") == "wrong"
        assert use("right") == "ok"
        assert use("right") == "missing"
        connected.put_code("con_c1", "a@x.io", "right", created_at=_NOW, expires_at=_LATER)
        assert [use("wrong"), use("wrong"), use("wrong"), use("right")] == [
            "wrong",
            "wrong",
            "exhausted",
            "missing",
        ]
        connected.put_code("con_c1", "a@x.io", "old", created_at=_NOW, expires_at=_LATER)
        assert use("wrong") == "wrong"
        connected.put_code("con_c1", "a@x.io", "new", created_at=_NOW, expires_at=_LATER)
        assert [use("old"), use("old"), use("new")] == ["wrong", "wrong", "ok"]  # attempts reset
        connected.put_code("con_c1", "a@x.io", "right", created_at=_NOW, expires_at=_LATER)
        assert connected.use_code("con_c2", "a@x.io", "right", now=_NOW, max_attempts=3) == (
            "missing"
        )
        assert use("right", now=_LATER) == "expired"
        assert use("right") == "missing"

    def test_tickets_are_single_use_and_expire(self, connected: Backend) -> None:
        record = _user(1, email="a@x.io")
        uid = record.user.user_id
        connected.insert_user(record)
        for token in ("t1", "t2"):
            connected.insert_ticket(
                token,
                kind="email_verification",
                user_id=uid,
                created_at=_NOW,
                expires_at=_LATER,
                email="a@x.io",
            )
        assert connected.use_ticket("t1", kind="password_change", now=_NOW) == (
            "missing",
            None,
            None,
        )
        assert connected.use_ticket("t1", kind="email_verification", now=_NOW) == (
            "ok",
            uid,
            "a@x.io",
        )
        assert connected.use_ticket("t1", kind="email_verification", now=_NOW)[0] == "used"
        assert connected.use_ticket("t2", kind="email_verification", now=_LATER)[0] == "expired"
        assert connected.use_ticket("t3", kind="email_verification", now=_NOW)[0] == "missing"

    def test_settings(self, backend: Backend) -> None:
        assert backend.get_setting("k") is None
        backend.put_setting("k", "v1")
        backend.put_setting("k", "v2 ü")
        assert backend.get_setting("k") == "v2 ü"

    def test_events_keep_their_order_and_filter(self, backend: Backend) -> None:
        events = [
            Event(
                log_id=f"{n:024x}",
                date=_NOW,
                type="s" if n % 2 else "f",
                user_id=f"auth0|{n % 3}",
                details={"n": n, "ü": [n]},
            )
            for n in range(10)
        ]
        for event in events:
            backend.add_event(event)
        assert backend.list_events() == events
        assert backend.list_events(limit=3) == events[-3:]
        assert backend.list_events(type="f") == events[0::2]
        assert backend.list_events(user_id="auth0|1") == events[1::3]
        assert backend.list_events(type="s", user_id="auth0|1", limit=1) == [events[7]]

    def test_events_are_listed_by_date_then_log_id(self, backend: Backend) -> None:
        late, early = "2026-01-02T03:04:06.000Z", "2026-01-02T03:04:05.000Z"
        added = [
            Event(log_id=f"{9:024x}", date=late, type="s"),
            Event(log_id=f"{2:024x}", date=early, type="f"),
            Event(log_id=f"{1:024x}", date=late, type="s"),
        ]
        for event in added:
            backend.add_event(event)
        assert backend.list_events() == [added[1], added[2], added[0]]
        assert backend.list_events(limit=1) == [added[0]]

    def test_a_signup_event_reads_back_exactly_and_outlives_its_user(
        self, connected: Backend
    ) -> None:
        a = _user(1, email="a@x.io", username="ann")
        b = _user(2, connection="c2", phone="+14155550100")
        c = _user(3, email="c@x.io")
        d = _user(4, email="d@x.io")
        signups = {r.user.user_id: _signup(r, 10 + i) for i, r in enumerate((a, b, c, d))}
        for record in (a, b, c, d):
            connected.insert_user(record, events=[signups[record.user.user_id]])
        connected.add_event(Event(log_id=f"{99:024x}", date=a.user.created_at, type="s"))
        first = [signups[a.user.user_id], Event(f"{99:024x}", a.user.created_at, "s")]
        assert connected.list_events() == [*first, *list(signups.values())[1:]]
        assert connected.list_events(type="ss", limit=2) == list(signups.values())[2:]
        assert connected.list_events(user_id=b.user.user_id) == [signups[b.user.user_id]]
        # a change of what named the user keeps the signup's user_name; other changes too
        connected.update_user(a.user.user_id, lambda u: {"email": "z@x.io", "name": "Z"})
        connected.update_user(b.user.user_id, lambda u: {"phone_number": "+14155550199"})
        connected.update_user(c.user.user_id, lambda u: {"name": "C", "blocked": True})
        # deleted users and the users of a deleted connection keep their signup events
        connected.delete_user(c.user.user_id, events=[_event(40, type="sdu")])
        connected.delete_connection("con_c2")
        assert connected.list_events(type="ss") == list(signups.values())
        assert connected.list_events(user_id=a.user.user_id) == first[:1]
        assert connected.list_events(user_id=c.user.user_id) == [signups[c.user.user_id]]
        assert connected.list_events(user_id=c.user.user_id, type="ss", limit=0) == []

    def test_a_signup_event_unlike_its_user_is_kept_as_given(self, connected: Backend) -> None:
        record = _user(1, email="a@x.io")
        odd = [
            _signup(record, 1, user_name="someone else"),
            _signup(record, 2, ip="10.0.0.1", details={"k": "v"}),
            _signup(record, 3, date="2026-01-02T03:04:00.000Z"),
            _event(4, user_id=record.user.user_id),
        ]
        connected.insert_user(record, events=odd)
        assert connected.list_events() == [odd[2], odd[0], odd[1], odd[3]]
        connected.delete_user(record.user.user_id)
        assert connected.list_events() == [odd[2], odd[0], odd[1], odd[3]]

    # -- through an IdentityStore --------------------------------------------------------------

    def test_store_lifecycle(self, store: IdentityStore) -> None:
        jane = store.create_user(
            _DB, email="Jane@Example.com", password="Correct-Horse-9", user_metadata={"plan": "pro"}
        )
        assert store.get_user(jane.user_id) == jane
        with pytest.raises(errors.UserExistsError):
            store.create_user(_DB, email="JANE@example.COM", password="Correct-Horse-9")
        assert store.authenticate(_DB, "jane@EXAMPLE.com", "Correct-Horse-9").logins_count == 1
        with pytest.raises(errors.WrongCredentialsError):
            store.authenticate(_DB, "jane@example.com", "Wrong-Horse-9")
        page = store.list_users(q="user_metadata.plan:pro", include_totals=True)
        assert ([u.user_id for u in page.users], page.total) == ([jane.user_id], 1)
        store.moment[0] += timedelta(seconds=5)  # type: ignore[attr-defined]
        jane = store.update_user(jane.user_id, name="Jane Doe", user_metadata={"plan": None})
        assert jane.name == "Jane Doe"
        assert "plan" not in (jane.user_metadata or {})
        store.update_user(jane.user_id, password="New-Horse-10")
        assert store.authenticate(_DB, "jane@example.com", "New-Horse-10").user_id == jane.user_id
        store.delete_user(jane.user_id)
        with pytest.raises(errors.UserNotFoundError):
            store.get_user(jane.user_id)
        types = [e.type for e in store.list_events()]
        assert types[0] == "ss"
        assert types[-1] == "sdu"

    def test_store_passwordless_and_connections(self, store: IdentityStore) -> None:
        code = store.start_passwordless("email", email="Sam@Example.com").token
        assert code is not None
        user = store.verify_passwordless("email", email="sam@example.com", code=code)
        assert user.email_verified is True
        with pytest.raises(errors.IdentityStoreError):
            store.verify_passwordless("email", email="sam@example.com", code=code)
        store.create_connection("Extra", strategy="auth0")
        store.create_user("Extra", email="sam@example.com", password="Correct-Horse-9")
        assert len(store.get_users_by_email("SAM@example.com")) == 2
        store.delete_connection("Extra")
        assert len(store.get_users_by_email("sam@example.com")) == 1
