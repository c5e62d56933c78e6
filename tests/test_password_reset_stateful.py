"""A state machine of sign-up, reset and sign-in against a model: every ticket works once, until
its expiry on the store's clock, only for the email it was made for, and survives a refused
password; the old password stops working when a new one is set; an unknown email gets the same
answer as a known one and nothing sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from identitystore import IdentityStore, errors
from identitystore.testing.helpers import ManualClock

from .conftest import FAST

DB = "Username-Password-Authentication"
EMAILS = st.sampled_from(["ann@example.com", "bob@example.com", "cy@example.com"])
#: Passwords the default policy ("good") takes, and one it refuses.
GOOD = st.sampled_from(["Corr3ct-horse", "Battery-Stap1e", "Tr0ub4dor-and-3", "N3w-Password!"])
WEAK = "weak"


@dataclass
class Ticket:
    """What the model knows of one ticket."""

    token: str
    email: str
    user_id: str
    expires: datetime
    used: bool = False


class ResetMachine(RuleBasedStateMachine):
    tickets = Bundle("tickets")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.store = IdentityStore(":memory:", hasher=FAST, clock=self.clock)
        self.passwords: dict[str, str] = {}  # email -> the password that works
        self.old: dict[str, set[str]] = {}  # email -> passwords that no longer work
        self.ids: dict[str, str] = {}  # email -> user_id
        self.sent = 0  # password_reset messages the model expects

    def teardown(self) -> None:
        self.store.close()

    @rule(email=EMAILS, password=GOOD)
    def sign_up(self, email: str, password: str) -> None:
        if email in self.passwords:
            try:
                self.store.create_user(DB, email=email, password=password)
            except errors.UserExistsError:
                return
            raise AssertionError("a second user with one email")
        user = self.store.create_user(DB, email=email, password=password, verify_email=False)
        self.passwords[email], self.ids[email] = password, user.user_id
        self.old.setdefault(email, set()).discard(password)

    @rule(target=tickets, email=EMAILS, ttl=st.integers(min_value=1, max_value=3600))
    def make_ticket(self, email: str, ttl: int) -> Ticket | None:
        if email not in self.passwords:
            try:
                self.store.create_password_change_ticket(connection=DB, email=email, ttl_sec=ttl)
            except errors.UserNotFoundError:
                return None
            raise AssertionError("a ticket for nobody")
        ticket = self.store.create_password_change_ticket(connection=DB, email=email, ttl_sec=ttl)
        assert ticket.user_id == self.ids[email]
        return Ticket(ticket.token, email, ticket.user_id, self.clock.now + timedelta(seconds=ttl))

    @rule(target=tickets, email=EMAILS)
    def request_reset(self, email: str) -> Ticket | None:
        self.store.request_password_reset(DB, email)  # the same answer for anyone
        if email not in self.passwords:
            return None
        self.sent += 1
        message = self.store.outbox[-1]
        assert (message.kind, message.recipient) == ("password_reset", email)
        assert message.token is not None
        return Ticket(message.token, email, self.ids[email], self.clock.now + timedelta(days=5))

    @rule(ticket=tickets, password=st.one_of(GOOD, st.just(WEAK)))
    def change_password(self, ticket: Ticket | None, password: str) -> None:
        if ticket is None:
            return
        if self.ids.get(ticket.email) != ticket.user_id:  # the user is gone
            expected: str | None = "This ticket is invalid."
        elif ticket.used:
            expected = "This ticket was already used."
        elif self.clock.now >= ticket.expires:
            expected = "This ticket was expired."
        else:
            expected = None
        refused: str | None = None
        try:
            user = self.store.change_password(ticket.token, password)
        except errors.InvalidTicketError as exc:
            refused = exc.message
        except errors.PasswordStrengthError:
            refused = WEAK  # the ticket stays usable
        event(f"change: {refused or 'done'}")
        if refused is not None:
            assert refused == (expected or WEAK)
            assert refused != WEAK or password == WEAK
            return
        assert expected is None
        assert password != WEAK
        assert user.user_id == ticket.user_id
        ticket.used = True
        with pytest.raises(errors.InvalidTicketError, match=r"^This ticket was already used\.$"):
            self.store.change_password(ticket.token, "An0ther-good-one")
        self.old[ticket.email].add(self.passwords[ticket.email])
        self.old[ticket.email].discard(password)
        self.passwords[ticket.email] = password

    @rule(email=EMAILS)
    def delete(self, email: str) -> None:
        if email in self.ids:
            self.store.delete_user(self.ids.pop(email))
            del self.passwords[email]
            self.old.pop(email, None)

    @rule(seconds=st.integers(min_value=1, max_value=7200))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule(email=EMAILS)
    def sign_in(self, email: str) -> None:
        if email not in self.passwords:
            return
        user = self.store.authenticate(DB, email, self.passwords[email])
        assert user.user_id == self.ids[email]
        for stale in self.old.get(email, set()) - {self.passwords[email]}:
            try:
                self.store.authenticate(DB, email, stale)
            except errors.WrongCredentialsError:
                continue
            raise AssertionError("an old password still works")

    @invariant()
    def only_known_users_got_reset_emails(self) -> None:
        sent = [m for m in self.store.outbox if m.kind == "password_reset"]
        assert len(sent) == self.sent


TestResetMachine = ResetMachine.TestCase
