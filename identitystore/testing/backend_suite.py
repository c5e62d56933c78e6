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

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from .. import IdentityStore, PasswordHasher, errors
from .._models import BulkUser, Connection, Event, NewUserRecord, UpsertChanges, User
from ..storage import (
    Backend,
    BulkBackend,
    DuplicateKey,
    EventQuery,
    Filter,
    StaleConnection,
    UserQuery,
)

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
            last_login=_LATER,  # an imported user comes with these
            last_ip="10.0.0.1",
            logins_count=7,
            last_password_reset=_NOW,
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

    # -- bulk writes (a ``BulkBackend``; imports go user by user through the others) -------------

    @staticmethod
    def _bulk(backend: Backend) -> BulkBackend:
        if not isinstance(backend, BulkBackend):
            pytest.skip("not a BulkBackend: imports and exports use the other methods (see store)")
        return backend

    def test_a_bulk_write_inserts_each_user_whole_or_reports_its_key(
        self, connected: Backend
    ) -> None:
        bulk = self._bulk(connected)
        stored = _user(1, email="a@x.io", username="ann", phone="+14155550101", user_id="auth0|a")
        connected.insert_user(stored)
        new = [
            _user(2, email="b@x.io", last_login=_LATER, last_ip="10.0.0.2", logins_count=3),
            _user(3, email="A@x.io".lower()),  # stored's email
            _user(4, user_id="AUTH0|A"),  # stored's id, in another case
            _user(5, username="ann"),
            _user(6, phone="+14155550101"),
            _user(7, email="b@x.io"),  # the batch's second b@x.io
            _user(8, email="a@x.io", connection="c2"),  # another connection: no collision
            _user(9, user_id="auth0|nine", connection="c2", last_password_reset=_NOW),
        ]
        signup = _event(20, user_id=new[0].user.user_id)
        outcomes = bulk.write_users("con_c1", [BulkUser(r) for r in new[:6]], events=[signup])
        assert outcomes == ["inserted", "email", "user_id", "username", "phone_number", "email"]
        assert bulk.write_users("con_c2", [BulkUser(new[6]), BulkUser(new[7])]) == [
            "inserted",
            "inserted",
        ]
        for record in (stored, new[0], new[6], new[7]):
            assert connected.get_user(record.user.user_id) == record.user  # every column
        assert connected.find_user("con_c1", "email", "b@x.io") == (new[0].user, "hash-2")
        assert connected.count_users() == 4
        assert connected.list_users(UserQuery(with_total=True))[1] == 4
        assert connected.list_events() == [signup]
        assert bulk.write_users("con_c1", []) == []

    def test_a_large_bulk_write_refuses_taken_keys_anywhere_in_it(self, connected: Backend) -> None:
        bulk = self._bulk(connected)
        connected.insert_user(_user(0, email="stored@x.io", username="stored"))
        size = 1234  # more than one statement's rows on any backend that writes in parts
        taken = {
            3: {"email": "stored@x.io"},
            500: {"email": "u499@x.io"},  # the batch's own user before it
            999: {"username": "stored"},
            1000: {"user_id": "AUTH0|" + f"{1:024x}"},  # another case of the batch's first id
            1150: {"email": "u1149@x.io"},
            1233: {"email": "u1232@x.io"},  # the very last
        }
        records = [
            _user(n, **taken.get(n, {"email": f"u{n}@x.io"}), user_metadata={"n": n})
            for n in range(1, size + 1)
        ]
        outcomes = bulk.write_users("con_c1", [BulkUser(r) for r in records])
        expected = ["inserted"] * size
        for n, key in taken.items():
            expected[n - 1] = "user_id" if "user_id" in key else next(iter(key))
        assert outcomes == expected
        assert connected.count_users() == 1 + size - len(taken)
        for record, outcome in zip(records, outcomes, strict=True):
            stored = connected.get_user(record.user.user_id)
            assert stored == (record.user if outcome == "inserted" else None)

    def test_a_bulk_write_upserts_by_email_as_one_by_one(self, connected: Backend) -> None:
        bulk = self._bulk(connected)
        kept, refused = _user(1, email="a@x.io"), _user(2, email="b@x.io")
        for record in (kept, refused):
            connected.insert_user(record)
        uid = kept.user.user_id
        connected.update_user(uid, lambda u: {}, password_hash="hash-1b", history_size=3)
        connected.record_failure(
            uid, ip="10.0.0.9", block_after=0, blocked_until=_LATER, event=_event(9, type="f")
        )
        seen: list[tuple[str, str | None]] = []

        def upsert(name: str, new_hash: str | None) -> UpsertChanges:
            def changes(
                current: User, current_hash: str | None
            ) -> tuple[dict[str, Any], str | None]:
                seen.append((current.user_id, current_hash))
                return {"name": name, "user_metadata": {"n": name}}, new_hash

            return changes

        batch = [
            BulkUser(_user(3, email="a@x.io"), upsert("one", "hash-new")),
            BulkUser(_user(4, email="b@x.io"), lambda current, current_hash: None),
            BulkUser(_user(5, email="c@x.io"), upsert("unused", None)),  # new: inserted
            BulkUser(_user(6, email="c@x.io"), upsert("six", None)),  # the one just inserted
            BulkUser(_user(7, username="ann"), upsert("no email", None)),  # inserted
        ]
        outcomes = bulk.write_users("con_c1", batch)
        assert outcomes == ["updated", "refused", "inserted", "updated", "inserted"]
        inserted = batch[2].record.user
        assert seen == [(uid, "hash-1b"), (inserted.user_id, "hash-5")]
        got = connected.get_user(uid)
        assert got is not None
        assert (got.name, got.user_metadata) == ("one", {"n": "one"})
        assert got.created_at == kept.user.created_at
        assert connected.password_history(uid, 5) == ["hash-new"]  # the old hashes dropped
        assert (
            connected.record_failure(
                uid, ip="10.0.0.9", block_after=0, blocked_until=_LATER, event=_event(10, type="f")
            )
            == 1
        )  # the failures before were cleared
        assert connected.get_user(refused.user.user_id) == refused.user
        assert connected.get_user(batch[1].record.user.user_id) is None
        got = connected.get_user(inserted.user_id)
        assert got is not None
        assert (got.name, got.user_metadata) == ("six", {"n": "six"})
        assert connected.get_user(batch[3].record.user.user_id) is None
        assert connected.count_users() == 4

    def test_a_bulk_write_into_a_deleted_connection_writes_nothing(
        self, connected: Backend
    ) -> None:
        bulk = self._bulk(connected)
        connected.delete_connection("con_c2")
        batch = [BulkUser(_user(1, connection="c2")), BulkUser(_user(2, connection="c2"))]
        with pytest.raises(StaleConnection):
            bulk.write_users("con_c2", batch, events=[_event(1)])
        assert connected.count_users() == 0
        assert connected.list_events() == []

    def test_a_bulk_write_stores_the_inserted_users_tickets(self, connected: Backend) -> None:
        bulk = self._bulk(connected)
        connected.insert_user(_user(1, email="a@x.io"))
        batch = [
            replace(
                _user(n, email=email),
                verification_token_hash=f"t{n}",
                verification_expires_at=_LATER,
            )
            for n, email in ((2, "a@x.io"), (3, "c@x.io"))
        ]
        assert bulk.write_users("con_c1", [BulkUser(r) for r in batch]) == ["email", "inserted"]
        assert connected.use_ticket("t2", kind="email_verification", now=_NOW)[0] == "missing"
        assert connected.use_ticket("t3", kind="email_verification", now=_NOW) == (
            "ok",
            batch[1].user.user_id,
            "c@x.io",
        )

    def test_a_bulk_export_streams_one_snapshot_by_creation(self, connected: Backend) -> None:
        bulk = self._bulk(connected)
        records = [
            _user(n, email=f"u{n}@x.io", connection="c2" if n == 3 else "c1", created_at=date)
            for n, date in ((1, _LATER), (2, _NOW), (3, _NOW), (4, _NOW))
        ]
        for record in records:
            connected.insert_user(record)
        with bulk.export_users(None) as (count, users):
            assert count == 4
            first = next(users)
            connected.delete_user(records[0].user.user_id)  # after the snapshot: still read
            connected.insert_user(_user(5, email="u5@x.io"))  # not read
            rest = list(users)
        assert [first, *rest] == [(r.user, None) for r in (records[1:] + records[:1])]
        with bulk.export_users("con_c1", limit=1, hashes=True) as (count, users):
            assert (count, list(users)) == (1, [(records[1].user, "hash-2")])
        with bulk.export_users("con_c2", hashes=True) as (count, users):
            assert (count, list(users)) == (1, [(records[2].user, "hash-3")])
        with bulk.export_users("con_missing") as (count, users):
            assert (count, list(users)) == (0, [])

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

    def test_a_failure_of_a_user_deleted_meanwhile_is_logged_and_not_counted(
        self, connected: Backend
    ) -> None:
        record = _user(1, email="a@x.io")
        uid = record.user.user_id
        connected.insert_user(record)
        connected.delete_user(uid)  # after the store found the user, before it logs the failure
        failed = _event(7, type="fp", user_id=uid)
        failures = connected.record_failure(
            uid, ip="10.0.0.1", block_after=1, blocked_until=_LATER, event=failed
        )
        assert failures == 0  # as for an unknown user
        assert connected.list_events() == [failed]
        assert connected.blocked_until(uid, "10.0.0.1") is None
        assert connected.list_blocks(uid, now=_NOW) == []
        connected.insert_user(_user(2, email="a@x.io", user_id=uid))  # nothing was left behind
        assert connected.blocked_until(uid, "10.0.0.1") is None

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

    @pytest.fixture
    def logged(self, connected: Backend) -> tuple[Backend, list[Event]]:
        """The backend with a log of 12 events in (date, log_id) order: nine added ones, two
        signups written with their users, one with every field (client fields too)."""
        events = [
            Event(
                log_id=f"{n:024x}",
                date=f"2026-01-02T03:04:{n // 2:02d}.000Z",  # two events per date
                type=("s", "f", "fp")[n % 3],
                user_id=f"auth0|{n % 2}",
                user_name=f"user{n}@x.io",
                connection="conn-c1",
                connection_id="con_c1",
                ip=f"10.0.0.{n}",
                client_id=f"client{n % 4}",
            )
            for n in range(0, 18, 2)
        ]
        for event in events:
            connected.add_event(event)
        full = Event(
            log_id=f"{31:024x}",
            date="2026-01-02T03:04:15.000Z",
            type="seccft",
            description="Client Credentials for Access Token",
            connection="conn-c2",
            connection_id="con_c2",
            user_id="auth0|full",
            user_name="full",
            ip="2001:db8::1",
            details={"k": ["ü", 1]},
            client_id="client-ü",
            client_name="My App ü",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) \U0001f600",
        )
        connected.add_event(full)
        signups = []
        for n, at in ((41, "2026-01-02T03:04:01.000Z"), (40, "2026-01-02T03:04:09.000Z")):
            record = _user(n, email=f"new{n}@x.io", created_at=at)
            signups.append(_signup(record, n))
            connected.insert_user(record, events=[signups[-1]])
        log = sorted([*events, full, *signups], key=lambda e: (e.date, e.log_id))
        return connected, log

    def test_event_pages_are_newest_first_and_cost_their_rows(
        self, logged: tuple[Backend, list[Event]]
    ) -> None:
        backend, log = logged
        newest = log[::-1]
        assert backend.page_events(EventQuery()) == (newest, None)
        assert backend.page_events(EventQuery(limit=3, with_total=True)) == (newest[:3], 12)
        assert backend.page_events(EventQuery(offset=10, limit=5)) == (newest[10:], None)
        assert backend.page_events(EventQuery(offset=12, with_total=True)) == ([], 12)
        assert backend.page_events(EventQuery(descending=False, offset=2, limit=4)) == (
            log[2:6],
            None,
        )
        assert backend.list_events(limit=4) == log[-4:]
        assert [e.to_dict() for e in backend.page_events(EventQuery(limit=12))[0]] == [
            e.to_dict() for e in newest
        ]

    def test_event_pages_filter_every_field(self, logged: tuple[Backend, list[Event]]) -> None:
        backend, log = logged

        def page(*filters: Filter) -> list[Event]:
            events, total = backend.page_events(
                EventQuery(filters=filters, descending=False, with_total=True)
            )
            assert total == len(events)
            return events

        def where(test: Any) -> list[Event]:
            return [e for e in log if test(e)]

        assert page(Filter("type", "eq", "ss")) == where(lambda e: e.type == "ss")
        assert page(Filter("type", "eq", "ss", negate=True)) == where(lambda e: e.type != "ss")
        assert page(Filter("user_id", "eq", "auth0|0")) == where(lambda e: e.user_id == "auth0|0")
        assert page(Filter("user_name", "prefix", "new")) == where(
            lambda e: (e.user_name or "").startswith("new")
        )
        assert page(Filter("connection", "eq", "conn-c1"), Filter("type", "eq", "s")) == where(
            lambda e: e.connection == "conn-c1" and e.type == "s"
        )
        assert page(Filter("connection_id", "eq", "con_c2")) == where(
            lambda e: e.connection_id == "con_c2"
        )
        assert page(Filter("ip", "prefix", "10.0.0.1")) == where(
            lambda e: (e.ip or "").startswith("10.0.0.1")
        )
        assert page(Filter("ip", "range")) == where(lambda e: e.ip is not None)
        low, high = "2026-01-02T03:04:02.000Z", "2026-01-02T03:04:09.000Z"
        assert page(Filter("date", "range", low=low, high=high, include_high=False)) == where(
            lambda e: low <= e.date < high
        )
        assert page(Filter("log_id", "eq", log[3].log_id)) == [log[3]]
        assert page(Filter("client_id", "eq", "client-ü")) == where(
            lambda e: e.client_id == "client-ü"
        )
        assert page(Filter("description", "prefix", "Client")) == where(
            lambda e: e.description is not None
        )
        assert page(Filter("type", "eq", "nope")) == []
        with pytest.raises(ValueError, match="user_agent"):
            backend.page_events(EventQuery(filters=(Filter("user_agent", "eq", "x"),)))

    def test_event_pages_after_a_checkpoint_are_oldest_first(
        self, logged: tuple[Backend, list[Event]]
    ) -> None:
        backend, log = logged
        for at in (0, 1, 4, 5, 11):  # added events, signups kept with their users, the last
            events, _ = backend.page_events(EventQuery(after=log[at].log_id, limit=100))
            assert events == log[at + 1 :]
        assert backend.page_events(EventQuery(after=log[2].log_id, limit=3)) == (log[3:6], None)
        assert backend.page_events(EventQuery(after=log[2].log_id, descending=True, limit=2)) == (
            log[3:5],
            None,
        )
        only_s = (Filter("type", "eq", "s"),)
        events, total = backend.page_events(
            EventQuery(filters=only_s, after=log[0].log_id, with_total=True)
        )
        expected = [e for e in log[1:] if e.type == "s"]
        assert (events, total) == (expected, len(expected))
        # a log_id that is no event: the events whose log_id is greater
        unknown = f"{11:024x}"
        events, _ = backend.page_events(EventQuery(after=unknown, limit=100))
        assert events == [e for e in log if e.log_id > unknown]

    def test_an_event_is_found_by_its_log_id(self, logged: tuple[Backend, list[Event]]) -> None:
        backend, log = logged
        for event in log:
            assert backend.get_event(event.log_id) == event
        assert backend.get_event(f"{99:024x}") is None
        full = next(e for e in log if e.client_name is not None)
        assert backend.get_event(full.log_id.upper()) is None  # ...1f: compared exactly
        assert full.to_dict()["client_name"] == "My App ü"
        assert backend.get_event(full.log_id) == full

    # -- records -------------------------------------------------------------------------------

    def test_records_round_trip_by_kind_and_key(self, backend: Backend) -> None:
        assert backend.get_record("client", "a") is None
        assert backend.list_records("client") == []
        for text in _UNICODE_SAMPLES:
            backend.put_record("client", text, f'{{"v": "{text}"}}')
        backend.put_record("grant", "a", "other kind")
        assert backend.list_records("client") == [
            (text, f'{{"v": "{text}"}}') for text in _UNICODE_SAMPLES
        ]
        assert backend.get_record("client", "plain") == '{"v": "plain"}'
        assert backend.get_record("client", "PLAIN") is None
        assert backend.get_record("grant", "plain") is None
        assert backend.list_records("grant") == [("a", "other kind")]
        big = "ü" * 200_000
        backend.put_record("job", "big", big)
        assert backend.get_record("job", "big") == big

    def test_a_replaced_record_keeps_its_place(self, backend: Backend) -> None:
        for key in ("c", "a", "b"):
            backend.put_record("k", key, f"{key}1")
        backend.put_record("k", "a", "a2")
        assert backend.list_records("k") == [("c", "c1"), ("a", "a2"), ("b", "b1")]
        with pytest.raises(DuplicateKey) as caught:
            backend.put_record("k", "b", "b2", replace=False)
        assert caught.value.key == "key"
        assert backend.get_record("k", "b") == "b1"
        backend.put_record("other", "b", "b", replace=False)  # another kind: no conflict
        assert backend.delete_record("k", "c") is True
        assert backend.delete_record("k", "c") is False
        assert backend.get_record("k", "c") is None
        backend.put_record("k", "c", "c3", replace=False)
        assert backend.list_records("k") == [("a", "a2"), ("b", "b1"), ("c", "c3")]

    def test_records_expire(self, backend: Backend) -> None:
        backend.put_record("code", "old", "1", expires_at=_NOW)
        backend.put_record("code", "new", "2", expires_at=_LATER)
        backend.put_record("code", "kept", "3")
        assert backend.get_record("code", "old", now=_NOW) is None  # expires_at <= now
        assert backend.get_record("code", "old") == "1"  # no now: expiry unchecked
        assert backend.get_record("code", "new", now=_NOW) == "2"
        assert backend.get_record("code", "new", now=_LATER) is None
        assert backend.get_record("code", "kept", now="9999-12-31T23:59:59.999Z") == "3"
        assert backend.list_records("code", now=_NOW) == [("new", "2"), ("kept", "3")]
        assert backend.list_records("code") == [("old", "1"), ("new", "2"), ("kept", "3")]
        assert backend.take_record("code", "new", now=_LATER) is None  # expired: gone too
        assert backend.get_record("code", "new") is None
        with pytest.raises(DuplicateKey):  # without now, an expired pair is still there
            backend.put_record("code", "old", "4", replace=False)
        backend.put_record("code", "old", "4", replace=False, expires_at=_LATER, now=_NOW)
        assert backend.list_records("code", now=_NOW) == [("kept", "3"), ("old", "4")]

    def test_a_record_is_taken_once(self, backend: Backend) -> None:
        backend.put_record("code", "a", "secret", expires_at=_LATER)
        assert backend.take_record("code", "a", now=_NOW) == "secret"
        assert backend.take_record("code", "a", now=_NOW) is None
        assert backend.get_record("code", "a") is None
        assert backend.take_record("code", "missing") is None
        backend.put_record("code", "b", "no expiry")
        assert backend.take_record("code", "b", now=_LATER) == "no expiry"

    def test_of_two_concurrent_takes_one_gets_the_record(self, backend: Backend) -> None:
        for round_ in range(20):
            key = f"code{round_}"
            backend.put_record("code", key, f"value{round_}", expires_at=_LATER)
            barrier = threading.Barrier(2)
            got: list[str | None] = []

            def take(
                key: str = key, barrier: threading.Barrier = barrier, got: list[Any] = got
            ) -> None:
                barrier.wait()
                got.append(backend.take_record("code", key, now=_NOW))

            threads = [threading.Thread(target=take) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(got, key=str) == [None, f"value{round_}"]
        assert backend.list_records("code") == []

    # -- brute-force blocks --------------------------------------------------------------------

    def test_blocks_are_listed_and_cleared(self, connected: Backend) -> None:
        record = _user(1)
        uid = record.user.user_id
        connected.insert_user(record)
        connected.insert_user(_user(2))

        def fail(ip: str, until: str, user_id: str = uid) -> int:
            return connected.record_failure(
                user_id, ip=ip, block_after=2, blocked_until=until, event=_event(1, type="fp")
            )

        soon, later = "2026-01-02T04:00:00.000Z", "2026-01-02T05:00:00.000Z"
        for ip, until in (("10.0.0.9", later), ("10.0.0.2", soon), ("10.0.0.3", soon)):
            fail(ip, until)
            fail(ip, until)
        fail("10.0.0.4", soon)  # counted, not blocked
        fail("10.0.0.5", soon, _user(2).user.user_id)
        fail("10.0.0.5", soon, _user(2).user.user_id)
        assert connected.list_blocks(uid, now=_NOW) == ["10.0.0.2", "10.0.0.3", "10.0.0.9"]
        assert connected.list_blocks(uid, now=soon) == ["10.0.0.9"]
        assert connected.list_blocks(uid, now=later) == []
        assert connected.list_blocks("auth0|missing", now=_NOW) == []
        connected.clear_blocks(uid)
        assert connected.list_blocks(uid, now=_NOW) == []
        assert connected.blocked_until(uid, "10.0.0.9") is None
        assert fail("10.0.0.4", soon) == 1  # the count starts again
        assert connected.list_blocks(_user(2).user.user_id, now=_NOW) == ["10.0.0.5"]
        connected.clear_blocks("auth0|missing")

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

    def test_store_import_batches_keep_users_whole(self, store: IdentityStore) -> None:
        """In batches (a ``BulkBackend``) or user by user, an import gives the same users."""
        taken = store.create_user(_DB, email="taken@example.com", password="Correct-Horse-9")
        digest = {"value": "5f4dcc3b5aa765d61d8327deb882cf99", "encoding": "hex"}
        md5 = {"algorithm": "md5", "hash": digest}
        ann: dict[str, Any] = {
            "email": "ann@example.com",
            "user_id": "auth0|ann",
            "created_at": "2020-01-02T03:04:05.000Z",
            "last_login": "2021-01-02T03:04:05.000Z",
            "last_ip": "10.0.0.1",
            "logins_count": 4,
            "user_metadata": {"plan": "pro"},
            "custom_password_hash": md5,
        }
        users: list[dict[str, Any]] = [
            ann,
            {"email": "taken@example.com"},
            {"email": "bob@example.com"},
        ]
        result = store.import_users(_DB, [*users, {"email": "c@example.com"}], upsert=False)
        assert (result.inserted, result.updated, result.failed) == (3, 0, 1)
        assert [e["errors"][0]["code"] for e in result.errors] == ["DUPLICATED_USER"]
        got = store.get_user("auth0|ann").to_dict()
        for key in ("created_at", "last_login", "last_ip", "logins_count", "user_metadata"):
            assert got[key] == ann[key]
        assert store.authenticate(_DB, "ann@example.com", "password").logins_count == 5
        changed = [{"email": "taken@example.com", "given_name": "T"}, {"email": "d@example.com"}]
        result = store.import_users(_DB, changed, upsert=True)
        assert (result.inserted, result.updated, result.failed) == (1, 1, 0)
        assert store.get_user(taken.user_id).given_name == "T"
        assert store.list_users(include_totals=True).total == 5
        out = io.BytesIO()
        assert store.export_users(out, fields=["email", "logins_count"], limit=4) == 4
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert lines[:2] == [
            {"email": "ann@example.com", "logins_count": 5},
            {"email": "taken@example.com"},
        ]

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
