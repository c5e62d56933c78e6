"""Notifiers: a failing one is logged and never fails the call; the default one is bounded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identitystore import IdentityStore, InMemoryNotifier, Message, PasswordHasher, User
from identitystore.testing.helpers import Outbox

FAST = PasswordHasher.fast_for_tests()
DB = "Username-Password-Authentication"
PW = "Correct-Horse-9"


class DownNotifier:
    """A notifier whose mail server is down; remembers what it was asked to send."""

    def __init__(self) -> None:
        self.tried: list[Message] = []

    def send(self, message: Message) -> None:
        self.tried.append(message)
        raise ConnectionError("mail server down")


# -- a failing notifier: logged, the call returns, the change stands ------------------------------


def _create(store: IdentityStore) -> User:
    return store.create_user(DB, email="a@x.io", password=PW)


def _update(store: IdentityStore) -> User:
    user = store.create_user(DB, email="b@x.io", password=PW, verify_email=False)
    return store.update_user(user.user_id, email="c@x.io", verify_email=True)


def _ticket(store: IdentityStore) -> User:
    user = store.create_user(DB, email="d@x.io", password=PW, verify_email=False)
    ticket = store.create_email_verification_ticket(user.user_id, send=True)
    return store.verify_email(ticket.token)  # the stored ticket works


def _code(store: IdentityStore) -> User:
    message = store.start_passwordless("email", email="e@x.io")
    return store.verify_passwordless("email", email="e@x.io", code=str(message.token))


def _link(store: IdentityStore) -> User:
    message = store.start_passwordless("sms", phone_number="+14155550100", send="link")
    assert message.link is not None
    return store.verify_passwordless("sms", phone_number="+14155550100", code=str(message.token))


CALLS: dict[str, tuple[str, Callable[[IdentityStore], User]]] = {
    "create_user": ("verification_email", _create),
    "update_user": ("verification_email", _update),
    "email_verification_ticket": ("verification_email", _ticket),
    "passwordless_code": ("passwordless_code", _code),
    "passwordless_link": ("passwordless_link", _link),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_a_failing_notifier_is_logged_and_the_call_returns(
    call: str, caplog: pytest.LogCaptureFixture
) -> None:
    kind, make = CALLS[call]
    notifier = DownNotifier()
    with IdentityStore(":memory:", hasher=FAST, notifier=notifier) as store:
        with caplog.at_level(logging.ERROR, logger="identitystore"):
            user = make(store)  # no ConnectionError
        assert store.get_user(user.user_id) == user
    (message,) = [m for m in notifier.tried if m.kind == kind]
    failures = [r for r in caplog.records if r.name == "identitystore" and r.exc_info]
    assert len(failures) == len(notifier.tried)
    assert any(kind in r.getMessage() and message.user_id in r.getMessage() for r in failures)
    assert message.token is not None
    assert message.token not in caplog.text
    assert PW not in caplog.text


def test_a_notifier_that_fails_once_gets_the_next_message() -> None:
    class Flaky:
        def __init__(self) -> None:
            self.delivered: list[Message] = []
            self.calls = 0

        def send(self, message: Message) -> None:
            self.calls += 1
            if self.calls == 1:
                raise TimeoutError("first call times out")
            self.delivered.append(message)

    notifier = Flaky()
    with IdentityStore(":memory:", hasher=FAST, notifier=notifier) as store:
        store.create_user("email", email="a@x.io")
        store.create_user("email", email="b@x.io")
    assert [m.recipient for m in notifier.delivered] == ["b@x.io"]


# -- the default notifier is bounded ---------------------------------------------------------------


def _message(i: int) -> Message:
    return Message(
        kind="verification_email",
        recipient=f"user{i}@example.com",
        user_id=f"auth0|{i}",
        connection=DB,
        created_at="2026-01-02T03:04:05.678Z",
        token=f"token-{i}",
    )


def test_a_store_keeps_the_newest_messages_by_default() -> None:
    limit = InMemoryNotifier.DEFAULT_MAX_MESSAGES
    assert limit == 1000
    with IdentityStore(":memory:", hasher=FAST) as store:
        assert isinstance(store.notifier, InMemoryNotifier)
        assert store.notifier.max_messages == limit
        for i in range(limit + 5):
            store.create_user("email", email=f"user{i}@example.com")
        outbox = store.outbox
        assert store.notifier.dropped == 5
    assert len(outbox) == limit
    assert outbox[0].recipient == "user5@example.com"
    assert outbox[-1].recipient == f"user{limit + 4}@example.com"


@given(
    limit=st.none() | st.integers(1, 20),
    sends=st.integers(0, 60),
    clear_at=st.none() | st.integers(0, 60),
)
def test_the_notifier_keeps_the_newest_max_messages(
    limit: int | None, sends: int, clear_at: int | None
) -> None:
    notifier = InMemoryNotifier(max_messages=limit)
    sent: list[Message] = []
    for i in range(sends):
        if i == clear_at:
            notifier.clear()
            sent.clear()
        message = _message(i)
        notifier.send(message)
        sent.append(message)
    kept = sent if limit is None else sent[-limit:]
    assert notifier.messages == kept
    assert notifier.dropped == len(sent) - len(kept)
    assert repr(notifier) == f"InMemoryNotifier({len(kept)} messages)"


def test_unbounded_on_request() -> None:
    notifier = InMemoryNotifier(max_messages=None)
    for i in range(InMemoryNotifier.DEFAULT_MAX_MESSAGES + 1):
        notifier.send(_message(i))
    assert len(notifier.messages) == InMemoryNotifier.DEFAULT_MAX_MESSAGES + 1
    assert notifier.dropped == 0


@pytest.mark.parametrize("limit", [0, -1, True, 2.5, "10"])
def test_max_messages_must_be_a_positive_integer(limit: object) -> None:
    with pytest.raises(ValueError, match="max_messages"):
        InMemoryNotifier(max_messages=limit)  # type: ignore[arg-type]


def test_threads_sending_at_once_lose_no_count() -> None:
    notifier = InMemoryNotifier(max_messages=50)

    def send_many(offset: int) -> None:
        for i in range(500):
            notifier.send(_message(offset + i))

    threads = [threading.Thread(target=send_many, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(notifier.messages) == 50
    assert notifier.dropped == 2000 - 50


def test_the_outbox_reads_a_bounded_notifier() -> None:
    outbox = Outbox(InMemoryNotifier(max_messages=3))
    with IdentityStore(":memory:", hasher=FAST, notifier=outbox.notifier) as store:
        for name in ["a", "b", "c", "d"]:
            store.start_passwordless("email", email=f"{name}@x.io")
        assert len(outbox) == 3
        code = outbox.last_code(to="D@x.io")
        assert store.verify_passwordless("email", email="d@x.io", code=code).email == "d@x.io"
        with pytest.raises(LookupError, match=r"and 1 older messages, dropped: max_messages"):
            outbox.last_code(to="a@x.io")
        outbox.clear()
        assert len(outbox) == 0
        assert outbox.notifier.dropped == 0
