"""Auth0 rules added from its recorded texts: PATCH pairs, password resets, defaults, migrations."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from identitystore import IdentityStore, Message, PasswordHasher, errors
from identitystore.storage._schema import MIGRATIONS, SCHEMA_VERSION

from .fixtures import members_connection as members_connection

DB = "Username-Password-Authentication"
PW = "Correct-Horse-9"
FAST = PasswordHasher.fast_for_tests()


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
        assert store.backend.schema_version == SCHEMA_VERSION == 4
        assert store.get_user("sms|old").name == "+14155550100"
        assert [c.name for c in store.list_connections()] == [DB, "email", "sms"]
        assert store.list_users(include_totals=True).total == 1
        store.create_user("sms", phone_number="+14155550101")
        assert store.list_users("sms", include_totals=True).total == 2
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_schema_version_counts_the_migrations() -> None:
    assert len(MIGRATIONS.pending(Database(memory=True, execute_plugins=False))) == SCHEMA_VERSION


def test_a_newer_file_is_refused_before_any_change(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:  # rollback-journal mode, as a newer library may leave it
        conn.execute("CREATE TABLE t (x)")
        # identitystore's (its migrations are recorded), else it is refused as another app's
        conn.execute("CREATE TABLE _sqlite_migrations (migration_set, name, applied_at)")
        conn.execute("INSERT INTO _sqlite_migrations VALUES ('identitystore', 'm001_initial', '')")
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
        store.list_users(page=True)
    store.create_user(DB, email="a@x.io", password=PW)
    with pytest.raises(errors.BadRequestError, match="ip must be a string"):
        store.authenticate(DB, "a@x.io", PW, ip=5)  # type: ignore[arg-type]
    with pytest.raises(errors.UnsupportedStrategyError, match="password sign-in"):
        store.authenticate("email", "a@x.io", PW)
