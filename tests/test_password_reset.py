"""Password reset: the reset email, password change tickets, and changing the password with one."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, errors
from identitystore.testing.helpers import ManualClock

from .conftest import FAST
from .fixtures import stamp

DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"  # meets the default connection's "good" policy
NEW_PASSWORD = "N3w-staple-battery"
EMAIL = "jane@example.com"


@pytest.fixture
def jane_id(store: IdentityStore) -> str:
    """The id of a database user who signs in with ``EMAIL`` and ``PASSWORD``."""
    return store.create_user(DB, email=EMAIL, password=PASSWORD, verify_email=False).user_id


def reset_token(store: IdentityStore) -> str:
    """The ticket token of the newest reset email."""
    (message,) = [m for m in store.outbox if m.kind == "password_reset"][-1:]
    assert message.token is not None
    return message.token


# -- the reset email --------------------------------------------------------------------------


def test_reset_email_carries_a_reset_link(
    store: IdentityStore, jane_id: str, clock: ManualClock
) -> None:
    store.request_password_reset(DB, "JANE@example.com", ip="203.0.113.7")
    (message,) = store.outbox
    assert message.kind == "password_reset"
    assert (message.recipient, message.user_id, message.connection) == (EMAIL, jane_id, DB)
    assert message.token is not None
    assert message.link == f"https://identitystore.local/u/reset-password?ticket={message.token}#"
    assert message.expires_at == stamp(clock.now + timedelta(days=5))
    assert message.token not in repr(message)
    (event,) = store.list_events(type="scpr")
    assert (event.user_id, event.ip, event.connection) == (jane_id, "203.0.113.7", DB)


def test_reset_of_an_unknown_email_answers_the_same_and_sends_nothing(
    store: IdentityStore, jane_id: str
) -> None:
    store.request_password_reset(DB, "nobody@example.com")
    assert store.outbox == []
    (event,) = store.list_events(type="fcpr")
    assert (event.user_id, event.user_name) == (None, "nobody@example.com")
    assert store.list_events(type="scpr") == []


def test_reset_needs_a_database_connection(store: IdentityStore) -> None:
    store.create_user("email", email=EMAIL)
    with pytest.raises(errors.UnsupportedStrategyError) as caught:
        store.request_password_reset("email", EMAIL)
    assert caught.value.message == "The user's main connection does not support this operation."
    with pytest.raises(errors.UnknownConnectionError):
        store.request_password_reset("no-such-connection", EMAIL)
    with pytest.raises(errors.BadRequestError):
        store.request_password_reset(DB, 42)  # type: ignore[arg-type]
    assert [m.kind for m in store.outbox] == ["verification_email"]  # the signup's only


def test_the_reset_link_changes_the_password(
    store: IdentityStore, jane_id: str, clock: ManualClock
) -> None:
    store.request_password_reset(DB, EMAIL)
    clock.now += timedelta(minutes=10)
    user = store.change_password(reset_token(store), NEW_PASSWORD, ip="198.51.100.1")
    assert user.user_id == jane_id
    assert user.last_password_reset == user.updated_at == stamp(clock.now)
    assert store.get_user(jane_id) == user
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, EMAIL, PASSWORD)
    assert store.authenticate(DB, EMAIL, NEW_PASSWORD).user_id == jane_id
    (changed,) = store.list_events(type="scp")
    assert (changed.user_id, changed.ip) == (jane_id, "198.51.100.1")


# -- tickets ----------------------------------------------------------------------------------


def test_ticket_by_user_id(store: IdentityStore, jane_id: str, clock: ManualClock) -> None:
    ticket = store.create_password_change_ticket(user_id=jane_id)
    assert ticket.user_id == jane_id
    assert ticket.to_dict() == {"ticket": ticket.url}
    assert ticket.url == f"https://identitystore.local/u/reset-password?ticket={ticket.token}#"
    assert ticket.expires_at == stamp(clock.now + timedelta(days=5))
    assert ticket.token not in repr(ticket)
    assert store.outbox == []  # a ticket is not sent
    store.change_password(ticket.token, NEW_PASSWORD)
    assert store.authenticate(DB, EMAIL, NEW_PASSWORD).user_id == jane_id


def test_ticket_by_connection_and_email(store: IdentityStore, jane_id: str) -> None:
    ticket = store.create_password_change_ticket(connection=DB, email="Jane@Example.com")
    assert ticket.user_id == jane_id


def test_ticket_works_once(store: IdentityStore, jane_id: str) -> None:
    ticket = store.create_password_change_ticket(user_id=jane_id)
    store.change_password(ticket.token, NEW_PASSWORD)
    with pytest.raises(errors.InvalidTicketError) as caught:
        store.change_password(ticket.token, "An0ther-fine-password")
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "This ticket was already used.",
        "errorCode": "invalid_ticket",
    }
    assert store.authenticate(DB, EMAIL, NEW_PASSWORD).user_id == jane_id
    (refused,) = store.list_events(type="fcp")
    assert (refused.user_id, refused.description) == (jane_id, "This ticket was already used.")


def test_ticket_expires_on_the_store_clock(
    store: IdentityStore, jane_id: str, clock: ManualClock
) -> None:
    ticket = store.create_password_change_ticket(user_id=jane_id, ttl_sec=60)
    assert ticket.expires_at == stamp(clock.now + timedelta(seconds=60))
    clock.now += timedelta(seconds=60)
    with pytest.raises(errors.InvalidTicketError, match=r"^This ticket was expired\.$"):
        store.change_password(ticket.token, NEW_PASSWORD)
    assert store.authenticate(DB, EMAIL, PASSWORD).user_id == jane_id


def test_ticket_default_and_longest_lifetimes(
    store: IdentityStore, jane_id: str, clock: ManualClock
) -> None:
    assert store.create_password_change_ticket(user_id=jane_id, ttl_sec=0).expires_at == stamp(
        clock.now + timedelta(days=5)
    )
    month = 30 * 86400
    longest = store.create_password_change_ticket(user_id=jane_id, ttl_sec=month)
    assert longest.expires_at == stamp(clock.now + timedelta(days=30))
    with pytest.raises(errors.BadRequestError, match="ttl_sec must be between 0 and"):
        store.create_password_change_ticket(user_id=jane_id, ttl_sec=month + 1)


def test_unknown_tickets_are_invalid(store: IdentityStore, jane_id: str) -> None:
    odd: list[Any] = ["no-such-ticket", "", "tické", "\ud800", "\x00", None, 42]
    for token in odd:
        with pytest.raises(errors.InvalidTicketError, match=r"^This ticket is invalid\.$"):
            store.change_password(token, NEW_PASSWORD)
    assert len(store.list_events(type="fcp")) == len(odd)


def test_an_email_verification_ticket_does_not_change_passwords(
    store: IdentityStore, jane_id: str
) -> None:
    ticket = store.create_email_verification_ticket(jane_id)
    with pytest.raises(errors.InvalidTicketError, match="invalid"):
        store.change_password(ticket.token, NEW_PASSWORD)
    reset = store.create_password_change_ticket(user_id=jane_id)
    with pytest.raises(errors.InvalidTicketError, match="invalid"):
        store.verify_email(reset.token)


def test_a_ticket_for_an_older_email_is_void(store: IdentityStore, jane_id: str) -> None:
    ticket = store.create_password_change_ticket(user_id=jane_id)
    store.update_user(jane_id, email="jane.doe@example.com")
    with pytest.raises(errors.InvalidTicketError, match="invalid"):
        store.change_password(ticket.token, NEW_PASSWORD)


def test_a_ticket_of_a_deleted_user_is_void(store: IdentityStore, jane_id: str) -> None:
    ticket = store.create_password_change_ticket(user_id=jane_id)
    store.delete_user(jane_id)
    store.create_user(DB, email=EMAIL, password=PASSWORD)  # same email, another user
    with pytest.raises(errors.InvalidTicketError, match="invalid"):
        store.change_password(ticket.token, NEW_PASSWORD)
    assert store.authenticate(DB, EMAIL, PASSWORD).email == EMAIL


def test_mark_email_as_verified(store: IdentityStore, jane_id: str) -> None:
    plain = store.create_password_change_ticket(user_id=jane_id)
    assert store.change_password(plain.token, NEW_PASSWORD).email_verified is False
    marking = store.create_password_change_ticket(user_id=jane_id, mark_email_as_verified=True)
    assert store.change_password(marking.token, "Th1rd-good-password").email_verified is True


def test_result_url_is_kept_and_checked(store: IdentityStore, jane_id: str) -> None:
    ticket = store.create_password_change_ticket(
        user_id=jane_id, result_url="https://app.example.com/after-reset"
    )
    assert store.change_password(ticket.token, NEW_PASSWORD).user_id == jane_id
    with pytest.raises(errors.PayloadValidationError, match="result_url"):
        store.create_password_change_ticket(user_id=jane_id, result_url="not a url")


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({}, "Give either user_id, or connection_id and email"),
        ({"connection": DB}, "Give either user_id, or connection_id and email"),
        ({"email": EMAIL}, "Give either user_id, or connection_id and email"),
        ({"user_id": "auth0|x", "email": EMAIL}, "Give either user_id"),
        ({"user_id": 42}, "Expected type string but found type integer"),
        ({"user_id": "u", "ttl_sec": "60"}, "Expected type integer but found type string"),
        ({"user_id": "u", "ttl_sec": -1}, "ttl_sec"),
        ({"user_id": "u", "mark_email_as_verified": "yes"}, "Expected type boolean"),
        ({"connection": DB, "email": "not-an-email"}, "format email"),
    ],
)
def test_ticket_arguments_are_checked(
    store: IdentityStore, jane_id: str, arguments: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(errors.PayloadValidationError) as caught:
        store.create_password_change_ticket(**arguments)
    assert fragment in caught.value.message
    assert caught.value.to_dict()["errorCode"] == "invalid_body"


def test_ticket_for_a_missing_user_or_connection(store: IdentityStore, jane_id: str) -> None:
    with pytest.raises(errors.UserNotFoundError):
        store.create_password_change_ticket(user_id="auth0|nobody")
    with pytest.raises(errors.UserNotFoundError):
        store.create_password_change_ticket(connection=DB, email="nobody@example.com")
    with pytest.raises(errors.UnknownConnectionError):
        store.create_password_change_ticket(connection="nowhere", email=EMAIL)
    sms = store.create_user("sms", phone_number="+14155550100")
    by_id: dict[str, Any] = {"user_id": sms.user_id}
    for by in (by_id, {"connection": "email", "email": EMAIL}):
        with pytest.raises(errors.UnsupportedStrategyError, match="does not support"):
            store.create_password_change_ticket(**by)


# -- the new password -------------------------------------------------------------------------


def test_a_weak_password_is_refused_and_the_ticket_stays_usable(
    store: IdentityStore, jane_id: str
) -> None:
    ticket = store.create_password_change_ticket(user_id=jane_id)
    with pytest.raises(errors.PasswordStrengthError):
        store.change_password(ticket.token, "short")
    (refused,) = store.list_events(type="fcp")
    assert refused.description == "PasswordStrengthError: Password is too weak"
    assert "short" not in repr(store.list_events())
    assert store.authenticate(DB, EMAIL, PASSWORD).user_id == jane_id
    store.change_password(ticket.token, NEW_PASSWORD)
    assert store.authenticate(DB, EMAIL, NEW_PASSWORD).user_id == jane_id


def test_the_connection_history_and_personal_info_rules(store: IdentityStore) -> None:
    store.create_connection(
        "strict",
        strategy="auth0",
        options={
            "passwordPolicy": "fair",
            "password_history": {"enable": True, "size": 3},
            "password_no_personal_info": {"enable": True},
        },
    )
    user = store.create_user("strict", email="marie.curie@example.com", password="Radium-1898")
    ticket = store.create_password_change_ticket(user_id=user.user_id)
    with pytest.raises(errors.PasswordHistoryError):
        store.change_password(ticket.token, "Radium-1898")  # the current password
    with pytest.raises(errors.PasswordNoUserInfoError):
        store.change_password(ticket.token, "marie.curie-Polonium1")
    store.change_password(ticket.token, "Polonium-1898")
    again = store.create_password_change_ticket(user_id=user.user_id)
    with pytest.raises(errors.PasswordHistoryError):
        store.change_password(again.token, "Radium-1898")  # kept in the history
    assert [e.description for e in store.list_events(type="fcp")] == [
        "PasswordHistoryError: Password has previously been used",
        "PasswordNoUserInfoError: Password contains user information",
        "PasswordHistoryError: Password has previously been used",
    ]


def test_changing_the_password_lifts_brute_force_blocks(file_store: IdentityStore) -> None:
    store = IdentityStore(file_store.backend, hasher=file_store.hasher, max_login_attempts=2)
    user = store.create_user(DB, email=EMAIL, password=PASSWORD)
    for _ in range(2):
        with pytest.raises(errors.WrongCredentialsError):
            store.authenticate(DB, EMAIL, "wrong", ip="192.0.2.9")
    assert store.get_user_blocks(user.user_id) != []
    ticket = store.create_password_change_ticket(user_id=user.user_id)
    store.change_password(ticket.token, NEW_PASSWORD)
    assert store.get_user_blocks(user.user_id) == []
    assert store.authenticate(DB, EMAIL, NEW_PASSWORD, ip="192.0.2.9").user_id == user.user_id


def test_a_blocked_user_can_reset_but_not_sign_in(store: IdentityStore, jane_id: str) -> None:
    store.update_user(jane_id, blocked=True)
    store.request_password_reset(DB, EMAIL)
    store.change_password(reset_token(store), NEW_PASSWORD)
    with pytest.raises(errors.UserBlockedError):
        store.authenticate(DB, EMAIL, NEW_PASSWORD)


def test_two_changes_with_one_ticket_at_once(store: IdentityStore, jane_id: str) -> None:
    ticket = store.create_password_change_ticket(user_id=jane_id)
    passwords = ["F1rst-racing-password", "S3cond-racing-password"]
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def change(password: str) -> None:
        start.wait()
        try:
            store.change_password(ticket.token, password)
            outcomes.append(password)
        except errors.InvalidTicketError as exc:
            outcomes.append(exc.message)

    threads = [threading.Thread(target=change, args=(p,)) for p in passwords]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (winner,) = [o for o in outcomes if o in passwords]
    assert outcomes.count("This ticket was already used.") == 1
    assert store.authenticate(DB, EMAIL, winner).user_id == jane_id


def test_no_token_or_password_is_stored_in_clear(tmp_path: Path) -> None:
    with IdentityStore(tmp_path / "users.db", hasher=FAST) as store:
        store.create_user(DB, email=EMAIL, password=PASSWORD)
        store.request_password_reset(DB, EMAIL)
        token = reset_token(store)
        store.change_password(token, NEW_PASSWORD)
        events = repr(store.list_events()) + str([e.to_dict() for e in store.list_events()])
    raw = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("users.db*")))
    for secret in (token, NEW_PASSWORD, PASSWORD):
        assert secret.encode() not in raw
        assert secret not in events
