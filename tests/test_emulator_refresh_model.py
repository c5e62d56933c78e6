"""Refresh tokens against a model: sign-ins, exchanges, revocations and time passing in any
order, under one client's ``refresh_token`` settings drawn per run (rotating or not, a leeway,
expiring or not), on a real SQLite store's records and a ``ManualClock``. Every exchange must
answer what the model says: refused, the same token kept, or a new one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from identitystore import IdentityStore
from identitystore.emulator._errors import OAuthError
from identitystore.emulator._refresh import Grant, RefreshTokens
from identitystore.emulator._tenant import Client, RefreshTokenConfiguration
from identitystore.testing.helpers import ManualClock

from .conftest import FAST

GRANT = Grant("auth0|jane", "app", "openid offline_access", None)


@dataclass
class Family:
    """What the model knows of a family: its absolute end, the last token exchanged."""

    end: float | None
    alive: bool = True
    previous: str | None = None


@dataclass
class Token:
    """What the model knows of a token: its family, deadline, first exchange."""

    family: Family
    deadline: float | None
    used_at: float | None = None


def _earliest(*deadlines: float | None) -> float | None:
    known = [d for d in deadlines if d is not None]
    return min(known) if known else None


class RefreshTokenMachine(RuleBasedStateMachine):
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.store = IdentityStore(":memory:", hasher=FAST, clock=self.clock)
        self.refresh = RefreshTokens(self.store.backend, self.clock)
        self.model: dict[str, Token] = {}
        self.client: Client

    def now(self) -> float:
        return self.clock.now.timestamp()

    @initialize(
        target=tokens,
        rotating=st.booleans(),
        leeway=st.sampled_from([0, 3, 10]),
        expiring=st.booleans(),
        lifetime=st.integers(1, 40),
        idle=st.integers(1, 20),
    )
    def settle(self, rotating: bool, leeway: int, expiring: bool, lifetime: int, idle: int) -> str:
        """The client's settings for the run, and a first sign-in."""
        self.client = Client(
            client_id="app",
            name="app",
            secret_hash="",
            refresh_token=RefreshTokenConfiguration(
                rotation_type="rotating" if rotating else "non-rotating",
                expiration_type="expiring" if expiring else "non-expiring",
                leeway=leeway,
                token_lifetime=lifetime,
                infinite_token_lifetime=not expiring,
                idle_token_lifetime=idle,
                infinite_idle_token_lifetime=not expiring,
            ),
        )
        return self._sign_in()

    @property
    def settings(self) -> RefreshTokenConfiguration:
        return self.client.refresh_token

    def _idle_end(self, family: Family) -> float | None:
        idle = self.settings.idle_lifetime
        return _earliest(None if idle is None else self.now() + idle, family.end)

    @rule(target=tokens)
    def sign_in(self) -> str:
        return self._sign_in()

    def _sign_in(self) -> str:
        token = self.refresh.issue(self.client, GRANT)
        absolute = self.settings.absolute_lifetime
        family = Family(end=None if absolute is None else self.now() + absolute)
        self.model[token] = Token(family, self._idle_end(family))
        return token

    @rule(seconds=st.sampled_from([0, 1, 3, 10, 12]))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule(target=tokens, token=tokens, late=st.booleans())
    def retry(self, token: str, late: bool) -> Any:
        """Exchange a token, then again at the leeway's end or just before it (a lost answer)."""
        first = self.exchange(token)
        leeway = self.settings.leeway
        self.clock.advance(seconds=leeway if late else max(leeway - 1, 0))
        second = self.exchange(token)
        return multiple(*first.values, *second.values)

    def _expired(self, known: Token) -> bool:
        now = self.now()
        end = _earliest(known.family.end, known.deadline)
        return end is not None and now >= end

    def _expected(self, token: str) -> str:
        """``refused``, ``kept`` or ``renewed``, and the model updated as the exchange does."""
        known = self.model.get(token)
        now = self.now()
        if known is None or not known.family.alive:
            return "refused"
        family = known.family
        if self._expired(known):
            return "refused"
        if known.used_at is not None:
            retry = family.previous == token and now < known.used_at + self.settings.leeway
            event("a retry" if retry else "a reuse")
            if not retry:
                family.alive = False
                return "refused"
        if self.settings.rotating:
            if known.used_at is None:
                known.used_at = now
                known.deadline = family.end  # a used token is kept until its family ends
            family.previous = token
            return "renewed"
        known.deadline = self._idle_end(family)
        return "kept"

    @rule(target=tokens, token=tokens)
    def exchange(self, token: str) -> Any:
        expected = self._expected(token)
        event(f"exchange -> {expected}")
        refusal: OAuthError | None
        try:
            grant, renewed = self.refresh.exchange(self.client, token)
        except OAuthError as exc:
            refusal = exc
        else:
            refusal = None
        if refusal is not None:
            assert (refusal.status_code, refusal.error) == (403, "invalid_grant")
            assert refusal.description == "Unknown or invalid refresh token."
            assert expected == "refused", f"refused, the model expected {expected}"
            return multiple()
        assert grant == GRANT
        assert expected != "refused", f"exchanged ({renewed is not None}), the model refused it"
        if expected == "kept":
            assert renewed is None
            return multiple()
        assert renewed is not None
        family = self.model[token].family
        self.model[renewed] = Token(family, self._idle_end(family))
        return multiple(renewed)

    @rule(token=tokens)
    def revoke(self, token: str) -> None:
        self.refresh.revoke(self.client, token)
        known = self.model.get(token)
        if known is not None and not self._expired(known):  # an expired one is unknown
            known.family.alive = False

    @invariant()
    def no_token_is_stored_in_clear(self) -> None:
        stored = str(self.store.backend.list_records("refresh_token"))
        assert not any(token in stored for token in self.model)

    def teardown(self) -> None:
        self.store.close()


RefreshTokenMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)
TestRefreshTokens = RefreshTokenMachine.TestCase
