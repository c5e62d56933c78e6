"""Auth0 rules added from its recorded texts: PATCH pairs, password resets, defaults, migrations."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from identitystore import IdentityStore, Message, PasswordHasher, errors
from identitystore._models import NewUserRecord
from identitystore.storage._schema import MIGRATIONS, SCHEMA_VERSION

DB = "Username-Password-Authentication"
PW = "Correct-Horse-9"
FAST = PasswordHasher.fast_for_tests()


@pytest.fixture
def members(store: IdentityStore) -> str:
    store.create_connection("Members", strategy="auth0", options={"requires_username": True})
    return "Members"


@pytest.mark.parametrize(
    ("first", "second", "values"),
    [
        pytest.param("password", "email", {"password": "New-Horse-10", "email": "x@y.io"}, id="pe"),
        pytest.param(
            "password",
            "email_verified",
            {"password": "New-Horse-10", "email_verified": True},
            id="pv",
        ),
        pytest.param("username", "email", {"username": "bob", "email": "x@y.io"}, id="ue"),
        pytest.param(
            "username", "email_verified", {"username": "bob", "email_verified": True}, id="uv"
        ),
        pytest.param(
            "username", "password", {"username": "bob", "password": "New-Horse-10"}, id="up"
        ),
    ],
)
def test_fields_auth0_will_not_change_together(
    store: IdentityStore, members: str, first: str, second: str, values: dict[str, Any]
) -> None:
    user = store.create_user(members, email="a@x.io", username="alice", password=PW)
    events = store.list_events()
    with pytest.raises(errors.ConflictingFieldsError) as caught:
        store.update_user(user.user_id, **values)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": f"Cannot update {first} and {second} simultaneously.",
        "errorCode": "invalid_body",
    }
    assert store.get_user(user.user_id) == user
    assert store.list_events() == events


def test_password_change_records_the_reset_and_unblocks(clock: Any) -> None:
    with IdentityStore(":memory:", hasher=FAST, clock=clock, max_login_attempts=2) as store:
        user = store.create_user(DB, email="a@x.io", password=PW)
        assert "last_password_reset" not in user.to_dict()
        for _ in range(2):
            with pytest.raises(errors.WrongCredentialsError):
                store.authenticate(DB, "a@x.io", "wrong", ip="10.0.0.1")
        with pytest.raises(errors.TooManyAttemptsError):
            store.authenticate(DB, "a@x.io", PW, ip="10.0.0.1")
        clock.now += timedelta(seconds=3)
        changed = store.update_user(user.user_id, password="New-Horse-10")
        assert changed.last_password_reset == changed.updated_at
        assert changed.to_dict()["last_password_reset"] == changed.updated_at
        assert store.authenticate(DB, "a@x.io", "New-Horse-10", ip="10.0.0.1").logins_count == 1
        assert [e.type for e in store.list_events()][-3:] == ["scp", "sapi", "s"]
        assert {"scp", "sapi"} <= {e.type for e in store.list_events(user_id=user.user_id)}


def test_email_and_username_changes_are_logged(store: IdentityStore, members: str) -> None:
    user = store.create_user(members, email="a@x.io", username="alice", password=PW)
    store.update_user(user.user_id, email="b@x.io")
    store.update_user(user.user_id, username="bob")
    types = [e.type for e in store.list_events(user_id=user.user_id)]
    assert types == ["ss", "sce", "sapi", "scu", "sapi"]


def test_deleted_default_connections_stay_deleted(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    with IdentityStore(path, hasher=FAST) as store:
        store.create_user("sms", phone_number="+14155550100")
        store.delete_connection("sms")
        assert store.backend.count_users() == 0
    with IdentityStore(path, hasher=FAST) as again:
        assert [c.name for c in again.list_connections()] == [DB, "email"]


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS.apply(Database(conn, execute_plugins=False), stop_before="m002_lifecycle")
    conn.execute("PRAGMA user_version = 1")
    for cid, name, strategy in (
        ("con_1", DB, "auth0"),
        ("con_2", "email", "email"),
        ("con_3", "sms", "sms"),
    ):
        conn.execute(
            "INSERT INTO connections VALUES (?, ?, ?, '{}', '2025-01-01')", (cid, name, strategy)
        )
    conn.execute(
        "INSERT INTO users (user_id, user_id_key, connection_id, connection, provider, email, "
        "email_verified, name, nickname, created_at, updated_at) VALUES ('sms|old', 'sms|old', "
        "'con_3', 'sms', 'sms', NULL, NULL, '+14155550100', '+14155550100', "
        "'2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')"
    )
    conn.close()
    with IdentityStore(path, hasher=FAST) as store:
        assert store.backend.schema_version == SCHEMA_VERSION == 3
        assert store.get_user("sms|old").name == "+14155550100"
        assert [c.name for c in store.list_connections()] == [DB, "email", "sms"]
        assert store.list_users(include_totals=True).total == 1
        store.create_user("sms", phone_number="+14155550101")
        assert store.list_users("sms", include_totals=True).total == 2
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 3


def test_schema_version_counts_the_migrations() -> None:
    assert len(MIGRATIONS.pending(Database(memory=True, execute_plugins=False))) == SCHEMA_VERSION


def test_a_newer_file_is_refused_before_any_change(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:  # rollback-journal mode, as a newer library may leave it
        conn.execute("CREATE TABLE t (x)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(errors.SchemaVersionError):
        IdentityStore(path, hasher=FAST)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.db"]


class _BrokenNotifier:
    def send(self, message: Message) -> None:
        raise ConnectionError("mail server down")


def test_a_failing_notifier_does_not_undo_the_user(caplog: pytest.LogCaptureFixture) -> None:
    with IdentityStore(":memory:", hasher=FAST, notifier=_BrokenNotifier()) as store:
        with caplog.at_level(logging.ERROR, logger="identitystore"):
            user = store.create_user(DB, email="a@x.io", password=PW)
        assert store.get_user(user.user_id) == user
        assert "verification_email" in caplog.text
        assert PW not in caplog.text


def test_blocked_fields_cover_profile_fields(store: IdentityStore) -> None:
    store.create_connection(
        "Flexible",
        strategy="auth0",
        options={
            "password_options": {
                "profile_data": {"active": True, "blocked_fields": ["given_name"]},
            }
        },
    )
    with pytest.raises(errors.PasswordNoUserInfoError):
        store.create_user(
            "Flexible", email="a@x.io", password="Bartholomew-1", given_name="Bartholomew"
        )
    user = store.create_user("Flexible", email="a@x.io", password=PW, given_name="Bartholomew")
    with pytest.raises(errors.PasswordNoUserInfoError):
        store.update_user(user.user_id, password="xBartholomewx")


def test_tickets_are_bound_to_the_email_they_verify(store: IdentityStore) -> None:
    user = store.create_user(DB, email="a@x.io", password=PW)
    ticket = store.create_email_verification_ticket(user.user_id)
    assert ticket.url.endswith("#")
    store.update_user(user.user_id, email="b@x.io")
    with pytest.raises(errors.InvalidTicketError, match=r"^This ticket is invalid\.$"):
        store.verify_email(ticket.token)
    assert store.get_user(user.user_id).email_verified is False


def test_argument_checks(store: IdentityStore) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.list_events(limit=-1)
    with pytest.raises(errors.InvalidQueryError):
        store.list_users(page=True)  # type: ignore[arg-type]
    store.create_user(DB, email="a@x.io", password=PW)
    with pytest.raises(errors.BadRequestError, match="ip must be a string"):
        store.authenticate(DB, "a@x.io", PW, ip=5)  # type: ignore[arg-type]
    with pytest.raises(errors.UnsupportedStrategyError, match="password sign-in"):
        store.authenticate("email", "a@x.io", PW)


@pytest.fixture(params=["file", "postgres"])
def shared_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """One database two stores open: a SQLite file, or a PostgreSQL schema."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "u.db"


def test_a_connection_changed_by_another_store_is_seen_at_once(shared_target: str | Path) -> None:
    path = shared_target
    with IdentityStore(path, hasher=FAST) as first, IdentityStore(path, hasher=FAST) as second:
        first.create_user(DB, email="a@x.io", password=PW)  # `first` now has the connection cached
        second.update_connection(DB, options={"passwordPolicy": "good", "requires_username": True})
        with pytest.raises(
            errors.PayloadValidationError, match="Missing required property: username"
        ):
            first.create_user(DB, email="b@x.io", password=PW)
        second.delete_connection("sms")
        with pytest.raises(errors.UnknownConnectionError):
            first.create_user("sms", phone_number="+14155550100")


def test_a_refusal_on_a_connection_read_before_is_decided_again(shared_target: str | Path) -> None:
    # `first` refuses nothing on old options it kept: a create refused on a kept connection is
    # decided again on the stored one (here: usernames and weak passwords became allowed).
    with (
        IdentityStore(shared_target, hasher=FAST) as first,
        IdentityStore(shared_target, hasher=FAST) as second,
    ):
        first.create_user(DB, email="a@x.io", password=PW)  # `first` keeps the connection
        with pytest.raises(errors.UsernameNotAllowedError):
            first.create_user(DB, email="b@x.io", password=PW, username="bee")
        second.update_connection(DB, options={"passwordPolicy": "none", "requires_username": True})
        user = first.create_user(DB, email="b@x.io", password="pw", username="bee")
        assert user.username == "bee"
        assert second.authenticate(DB, "bee", "pw").user_id == user.user_id


def test_a_connection_changed_between_read_and_write_is_refused_by_the_write(
    shared_target: str | Path,
) -> None:
    from identitystore.storage import StaleConnection

    with IdentityStore(shared_target, hasher=FAST) as store:
        old = store.backend.get_connection(DB)
        assert old is not None
        assert store.backend.get_connection(DB, cached=True) == old
        store.update_connection(DB, options={"passwordPolicy": "none"})
        before = store.backend.count_users()
        store.create_user(DB, email="c@x.io", password="pw")  # read again: "none" now
        user = store.get_user(store.list_users().users[0].user_id)
        record = NewUserRecord(
            user=replace(user, user_id="auth0|" + "0" * 24, email="d@x.io"),
            connection_id=old.id,
            connection=old,
        )
        with pytest.raises(StaleConnection):
            store.backend.insert_user(record)
        assert store.backend.count_users() == before + 1  # the refused write wrote nothing
