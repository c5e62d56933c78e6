"""identitystore.testing.helpers: the manual clock, the outbox, seeding and snapshots."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.testing.helpers import ManualClock, Outbox, Snapshot, seed_users

FAST = PasswordHasher.fast_for_tests()
DB = "Username-Password-Authentication"
PASSWORD = "Sup3r-secret"
StoreFactory = Callable[..., IdentityStore]

#: Users as Auth0's GET /api/v2/users returns them (what an export holds).
EXPORTED: list[dict[str, Any]] = [
    {
        "user_id": "auth0|507f1f77bcf86cd799439011",
        "email": "jane@example.com",
        "email_verified": True,
        "created_at": "2024-03-01T10:00:00.000Z",
        "updated_at": "2025-01-01T00:00:00.000Z",
        "last_login": "2025-01-01T00:00:00.000Z",
        "logins_count": 12,
        "identities": [
            {
                "connection": DB,
                "user_id": "507f1f77bcf86cd799439011",
                "provider": "auth0",
                "isSocial": False,
            }
        ],
        "name": "Jane Doe",
        "user_metadata": {"plan": "pro"},
        "app_metadata": {"roles": ["admin"]},
    },
    {
        "user_id": "sms|507f1f77bcf86cd799439012",
        "connection": "sms",
        "phone_number": "+14155550100",
        "phone_verified": True,
    },
]


# -- the clock -------------------------------------------------------------------------------------


def test_clock_advances_and_jumps() -> None:
    clock = ManualClock("2026-01-02T03:04:05Z")
    assert clock() == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    clock.advance(timedelta(minutes=1), seconds=30)
    assert clock() == datetime(2026, 1, 2, 3, 5, 35, tzinfo=timezone.utc)
    clock.set(datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert clock.now.year == 2027


@pytest.mark.parametrize(
    ("action", "error"),
    [
        pytest.param(lambda c: c.advance(seconds=-1), ValueError, id="backwards"),
        pytest.param(lambda c: c.set(datetime(2026, 1, 1)), ValueError, id="naive"),
        pytest.param(lambda c: c.set(12), TypeError, id="not-a-time"),
    ],
)
def test_clock_refuses(action: Callable[[ManualClock], Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        action(ManualClock())


def test_the_fixture_clock_expires_codes(
    identity_store: IdentityStore, identity_clock: ManualClock, identity_outbox: Outbox
) -> None:
    identity_store.start_passwordless("sms", phone_number="+14155550100")
    code = identity_outbox.last_code(to="+14155550100")
    identity_clock.advance(seconds=181)
    with pytest.raises(errors.WrongCodeError, match="expired"):
        identity_store.verify_passwordless("sms", phone_number="+14155550100", code=code)


# -- the outbox ------------------------------------------------------------------------------------


def test_outbox_finds_codes_links_and_tickets(
    identity_store: IdentityStore, identity_outbox: Outbox
) -> None:
    user = identity_store.create_user(DB, email="Jane@Example.com", password=PASSWORD)
    identity_store.start_passwordless("email", email="bob@example.com", send="link")
    identity_store.start_passwordless("sms", phone_number="+14155550100")
    second = identity_store.start_passwordless("sms", phone_number="+14155550100")
    assert len(identity_outbox) == 4
    assert identity_outbox.last_code(to="+14155550100") == second.token
    assert identity_outbox.last_code(to="BOB@example.com").isdigit()
    link = identity_outbox.verification_link(to="jane@example.com")
    assert link.startswith("https://identitystore.local/u/email-verification?ticket=")
    ticket = identity_outbox.verification_ticket(to="jane@example.com")
    assert identity_store.verify_email(ticket).email_verified is True
    assert [m.kind for m in identity_outbox.filter(to="+14155550100")] == ["passwordless_code"] * 2
    assert [m.user_id for m in identity_outbox.filter(kind="verification_email")] == [user.user_id]
    identity_store.request_password_reset(DB, "jane@example.com")
    reset = identity_outbox.reset_link(to="Jane@example.com")
    assert reset.startswith("https://identitystore.local/u/reset-password?ticket=")
    changed = identity_store.change_password(
        identity_outbox.reset_ticket(to="jane@example.com"), "N3w-staple-battery"
    )
    assert changed.last_password_reset is not None
    identity_outbox.clear()
    assert list(identity_outbox) == []


def test_outbox_says_what_was_sent_when_nothing_matches(
    identity_store: IdentityStore, identity_outbox: Outbox
) -> None:
    identity_store.start_passwordless("sms", phone_number="+14155550100")
    with pytest.raises(LookupError, match=r"no verification_email to a@b\.c .*passwordless_code"):
        identity_outbox.verification_link(to="a@b.c")
    with pytest.raises(LookupError, match=r"no passwordless_code to \+1"):
        identity_outbox.last_code(to="+1")


# -- seeding ---------------------------------------------------------------------------------------


def test_seeding_keeps_ids_dates_and_data(identity_store: IdentityStore) -> None:
    jane, phone = seed_users(identity_store, EXPORTED, password=PASSWORD)
    assert jane.user_id == "auth0|507f1f77bcf86cd799439011"
    assert phone.user_id == "sms|507f1f77bcf86cd799439012"
    assert jane.created_at == jane.updated_at == "2024-03-01T10:00:00.000Z"
    assert (jane.name, jane.email_verified, jane.logins_count) == ("Jane Doe", True, None)
    assert jane.app_metadata == {"roles": ["admin"]}
    assert phone.phone_verified is True
    assert identity_store.get_user(jane.user_id) == jane
    assert identity_store.authenticate(DB, "jane@example.com", PASSWORD).logins_count == 1
    assert identity_store.outbox == []  # seeding sends no verification email


def test_seeding_from_a_json_file_round_trips_to_dict(
    identity_store_factory: StoreFactory, tmp_path: Path
) -> None:
    source = identity_store_factory()
    seeded = seed_users(source, EXPORTED, password=PASSWORD)
    path = tmp_path / "users.json"
    path.write_text(json.dumps([u.to_dict() for u in seeded]), encoding="utf-8")
    copy = seed_users(identity_store_factory(), path, password=PASSWORD)
    assert [u.to_dict() for u in copy] == [u.to_dict() for u in seeded]


def test_a_record_password_wins_and_is_checked(identity_store: IdentityStore) -> None:
    record = {"connection": DB, "email": "a@example.com", "password": "0ther-Secret"}
    seed_users(identity_store, [record], password=PASSWORD)
    assert identity_store.authenticate(DB, "a@example.com", "0ther-Secret")
    with pytest.raises(errors.PasswordStrengthError, match=r"seed record 0 \(b@example.com\)"):
        seed_users(identity_store, [{"connection": DB, "email": "b@example.com", "password": "x"}])


@pytest.mark.parametrize(
    ("record", "error", "text"),
    [
        pytest.param(
            {"connection": DB, "email": "no-password@example.com"},
            errors.PayloadValidationError,
            r"Missing required property: password'\. \[seed record 1 \(no-password@",
            id="no-password",
        ),
        pytest.param(
            {"connection": "sms", "phone_number": "555"},
            errors.PayloadValidationError,
            r"pattern .*\[seed record 1 ",
            id="bad-phone",
        ),
        pytest.param(
            {"user_id": "auth0|1", "connection": "sms", "phone_number": "+14155550199"},
            ValueError,
            r"seed record 1 \(auth0\|1\): connection 'sms' makes ids like 'sms\|1'",
            id="id-of-another-strategy",
        ),
        pytest.param(
            {"connection": DB, "email": "h@example.com", "password_hash": "$2b$10$abc"},
            ValueError,
            "password hashes cannot be seeded",
            id="a-hash",
        ),
        pytest.param({"email": "c@example.com"}, ValueError, "no connection", id="no-connection"),
        pytest.param(
            {"connection": "Nope", "email": "c@example.com"},
            errors.UnknownConnectionError,
            r"\[seed record 1 \(c@example.com\)\]",
            id="unknown-connection",
        ),
        pytest.param(
            {
                "user_id": "auth0|507f1f77bcf86cd799439011",
                "connection": DB,
                "email": "d@x.io",
                "password": PASSWORD,
            },
            errors.UserExistsError,
            r"\[seed record 1 ",
            id="duplicate-id",
        ),
    ],
)
def test_invalid_records_name_themselves_and_keep_earlier_ones(
    identity_store: IdentityStore, record: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text) as caught:
        seed_users(identity_store, [{**EXPORTED[0], "password": PASSWORD}, record])
    if isinstance(caught.value, errors.IdentityStoreError):  # the Auth0 body itself is unchanged
        assert "seed record" not in json.dumps(caught.value.to_dict())
    assert identity_store.list_users(include_totals=True).total == 1


def test_an_unknown_connection_is_auth0s_400_with_a_default_password(
    identity_store: IdentityStore,
) -> None:
    with pytest.raises(errors.UnknownConnectionError, match=r"\[seed record 0 "):
        seed_users(identity_store, [{"connection": "Nope", "email": "c@x.io"}], password=PASSWORD)


def test_seed_files_must_hold_a_list(identity_store: IdentityStore, tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text('{"users": []}', encoding="utf-8")
    with pytest.raises(TypeError, match="JSON list"):
        seed_users(identity_store, path)


# -- snapshots -------------------------------------------------------------------------------------


def test_restored_stores_are_independent_copies(
    identity_store_factory: StoreFactory, tmp_path: Path
) -> None:
    seeded = identity_store_factory(tmp_path / "seed.db")
    seed_users(seeded, EXPORTED, password=PASSWORD)
    snapshot = Snapshot(seeded)
    seeded.delete_user(EXPORTED[0]["user_id"])
    first = identity_store_factory(snapshot=snapshot)
    second = identity_store_factory(snapshot=snapshot)
    first.update_user(EXPORTED[0]["user_id"], nickname="changed")
    first.create_user("sms", phone_number="+14155550111")
    assert second.get_user(EXPORTED[0]["user_id"]).nickname == "jane"
    assert second.list_users(include_totals=True).total == 2
    assert first.list_users(include_totals=True).total == 3
    assert second.authenticate(DB, "jane@example.com", PASSWORD).logins_count == 1
    assert [c.name for c in second.list_connections()] == [
        c.name for c in seeded.list_connections()
    ]
    snapshot.close()


def test_snapshots_need_sqlite() -> None:
    class NoCopy:
        backend = object()

    with pytest.raises(TypeError, match="SQLite"):
        Snapshot(NoCopy())  # type: ignore[arg-type]


# -- the factory -----------------------------------------------------------------------------------


def test_factory_stores_share_clock_and_outbox_and_close(
    identity_store_factory: StoreFactory, identity_clock: ManualClock, identity_outbox: Outbox
) -> None:
    store = identity_store_factory(
        connections=[
            {"name": "Members", "strategy": "auth0", "options": {"requires_username": True}}
        ],
        tenant_domain="example.auth0.com",
    )
    user = store.create_user("Members", email="j@example.com", username="jane", password=PASSWORD)
    assert user.created_at == "2026-01-02T03:04:05.678Z"  # the clock's default start
    assert identity_outbox.verification_link(to="j@example.com").startswith(
        "https://example.auth0.com/"
    )
    assert store.hasher.hash(b"x").startswith("$2b$04$")  # the fast (real) test profile
