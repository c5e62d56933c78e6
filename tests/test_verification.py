"""Email verification tickets: creating, sending, using, expiring them, and their storage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.testing.helpers import ManualClock

from .fixtures import stamp

FAST = PasswordHasher.fast_for_tests()
DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"  # meets the default connection's "good" policy
EMAIL = "jane@example.com"
PHONE = "+14155550100"


def raw_bytes(directory: Path) -> bytes:
    """The bytes of the database file and its WAL/journal siblings."""
    return b"".join(p.read_bytes() for p in sorted(directory.glob("users.db*")))


@pytest.fixture
def jane_id(store: IdentityStore) -> str:
    """The id of a database user who signs in with ``EMAIL`` and ``PASSWORD``."""
    return store.create_user(DB, email=EMAIL, password=PASSWORD).user_id


# -- email verification tickets -------------------------------------------------------------------


def test_ticket_verifies_the_email(store: IdentityStore, jane_id: str, clock: ManualClock) -> None:
    created_at = store.get_user(jane_id).updated_at
    ticket = store.create_email_verification_ticket(jane_id)
    assert ticket.user_id == jane_id
    assert ticket.token in ticket.url
    assert ticket.url.startswith("https://identitystore.local/")
    assert ticket.to_dict() == {"ticket": ticket.url}
    assert ticket.token not in repr(ticket)
    assert ticket.expires_at == stamp(clock.now + timedelta(days=5))
    clock.now += timedelta(hours=2)
    user = store.verify_email(ticket.token)
    assert user.user_id == jane_id
    assert user.email_verified is True
    assert user.updated_at == stamp(clock.now) != created_at
    assert store.get_user(jane_id).email_verified is True
    (verified,) = store.list_events(type="sv")
    assert verified.user_id == jane_id


def test_ticket_works_once(store: IdentityStore, jane_id: str) -> None:
    ticket = store.create_email_verification_ticket(jane_id)
    store.verify_email(ticket.token)
    with pytest.raises(errors.InvalidTicketError) as caught:
        store.verify_email(ticket.token)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "This ticket was already used.",
        "errorCode": "invalid_ticket",
    }
    assert len(store.list_events(type="fv")) == 1


def test_ticket_expires(store: IdentityStore, jane_id: str, clock: ManualClock) -> None:
    ticket = store.create_email_verification_ticket(jane_id, ttl_sec=60)
    assert ticket.expires_at == stamp(clock.now + timedelta(seconds=60))
    clock.now += timedelta(seconds=61)
    with pytest.raises(errors.InvalidTicketError, match=r"^This ticket was expired\.$"):
        store.verify_email(ticket.token)
    assert store.get_user(jane_id).email_verified is False


def test_unknown_ticket(store: IdentityStore, jane_id: str) -> None:
    odd: list[Any] = ["no-such-ticket", "", "tické", "\ud800", None, 42]
    for token in odd:
        with pytest.raises(errors.InvalidTicketError):
            store.verify_email(token)
    assert len(store.list_events(type="fv")) == len(odd)
    assert store.get_user(jane_id).email_verified is False


def test_ticket_ttl_bounds(store: IdentityStore, jane_id: str, clock: ManualClock) -> None:
    longest = store.create_email_verification_ticket(jane_id, ttl_sec=30 * 24 * 3600)
    assert longest.expires_at == stamp(clock.now + timedelta(days=30))
    assert store.create_email_verification_ticket(jane_id, ttl_sec=1).expires_at == stamp(
        clock.now + timedelta(seconds=1)
    )
    # Auth0: "If unspecified or set to 0, this value defaults to 432000 seconds (5 days)."
    default = store.create_email_verification_ticket(jane_id, ttl_sec=0)
    assert default.expires_at == stamp(clock.now + timedelta(seconds=432000))
    for bad in (-1, 30 * 24 * 3600 + 1, 1.5, "60", True, None):
        with pytest.raises(errors.BadRequestError):
            store.create_email_verification_ticket(jane_id, ttl_sec=bad)  # type: ignore[arg-type]


def test_ticket_needs_an_email(store: IdentityStore) -> None:
    user = store.create_user("sms", phone_number=PHONE)
    with pytest.raises(errors.BadRequestError) as caught:
        store.create_email_verification_ticket(user.user_id)
    assert caught.value.status_code == 400


def test_ticket_of_unknown_user(store: IdentityStore) -> None:
    with pytest.raises(errors.UserNotFoundError):
        store.create_email_verification_ticket("auth0|nobody")


def test_sent_ticket(store: IdentityStore, jane_id: str) -> None:
    ticket = store.create_email_verification_ticket(jane_id, send=True)
    (welcome, sent) = store.outbox
    assert welcome.kind == sent.kind == "verification_email"
    assert sent.link == ticket.url
    assert sent.token == ticket.token
    assert sent.recipient == EMAIL
    assert store.verify_email(str(sent.token)).email_verified is True


def test_ticket_sent_at_creation(store: IdentityStore, jane_id: str) -> None:
    (message,) = store.outbox
    assert message.kind == "verification_email"
    assert message.user_id == jane_id
    assert message.token is not None
    assert message.token in str(message.link)
    assert store.verify_email(message.token).email_verified is True
    with pytest.raises(errors.InvalidTicketError):
        store.verify_email(message.token)


def test_tickets_of_a_deleted_user_are_void(store: IdentityStore, jane_id: str) -> None:
    ticket = store.create_email_verification_ticket(jane_id)
    store.delete_user(jane_id)
    with pytest.raises(errors.InvalidTicketError):
        store.verify_email(ticket.token)


def test_tokens_are_stored_hashed(tmp_path: Path) -> None:
    with IdentityStore(tmp_path / "users.db", hasher=FAST) as s:
        user = s.create_user(DB, email=EMAIL, password=PASSWORD)
        ticket = s.create_email_verification_ticket(user.user_id)
        (welcome,) = s.outbox
        tokens = [ticket.token, str(welcome.token)]
        data = raw_bytes(tmp_path)
        for token in tokens:
            assert token.encode() not in data
        assert PASSWORD.encode() not in data
