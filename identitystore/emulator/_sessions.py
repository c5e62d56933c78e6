"""What a browser sign-in keeps between requests: login transactions, sessions, authorization
codes, and the CSRF tokens of the login pages (docs/emulator.md, "Browser sign-in").

Each secret handed out (a transaction id, a session cookie, a code) is kept as its SHA-256 in the
backend's records, with an expiry on the store's clock, so a restart on the same database keeps
them and storage never holds one in the clear. A CSRF token is an HMAC, under a key that lives
in memory only, of the browser's own cookie and what the form is for: another browser, another
transaction or another ticket gets another token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from identitystore.storage import Backend

from ._tenant import iso, secret_digest
from ._tokens import b64url

__all__ = [
    "CODE_LIFETIME",
    "CodeGrant",
    "Session",
    "Sessions",
    "Transaction",
    "pkce_challenge",
]

#: How long an authorization code may be exchanged (RFC 6749's recommended maximum).
CODE_LIFETIME = timedelta(minutes=10)
#: How long a login transaction (``/authorize`` until the code) may take.
TRANSACTION_LIFETIME = timedelta(hours=1)
#: Auth0's default session lifetimes: idle, and at most since the sign-in.
SESSION_IDLE = timedelta(days=3)
SESSION_MAX = timedelta(days=7)

_TRANSACTION, _SESSION, _CODE = "authorize_transaction", "login_session", "authorization_code"


def pkce_challenge(verifier: str) -> str:
    """The S256 ``code_challenge`` of a ``code_verifier`` (RFC 7636, 4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())


@dataclass(frozen=True)
class Transaction:
    """One ``/authorize`` request on its way through the login pages.

    Attributes:
        client_id, redirect_uri, response_mode, state, nonce, scope, audience, code_challenge,
            connection, prompt, login_hint: the request's parameters (``redirect_uri`` the one
            used, sent or the client's first callback).
        redirect_uri_sent: whether the request named ``redirect_uri`` (then the token request
            must name the same one).
        browser: the digest of the CSRF cookie of the browser that started it.
        pending: a passwordless sign-in waiting for its code: ``{connection, key, value}``.
    """

    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    response_mode: str
    browser: str
    state: str | None = None
    nonce: str | None = None
    scope: str = ""
    audience: str | None = None
    code_challenge: str | None = None
    connection: str | None = None
    prompt: str | None = None
    login_hint: str | None = None
    pending: dict[str, str] | None = field(default=None)


@dataclass(frozen=True)
class Session:
    """A browser's signed-in user (the ``identitystore_session`` cookie)."""

    user_id: str
    auth_time: int
    created_at: str


@dataclass(frozen=True)
class CodeGrant:
    """What an authorization code stands for, until it is exchanged once."""

    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    user_id: str
    scope: str
    audience: str | None
    nonce: str | None
    code_challenge: str | None
    auth_time: int


class Sessions:
    """Transactions, sessions and codes of one emulator, kept in ``records``.

    Args:
        records: the backend that keeps them.
        clock: the store's clock.
    """

    def __init__(self, records: Backend, clock: Callable[[], datetime]) -> None:
        self._records = records
        self._clock = clock
        self._key = secrets.token_bytes(32)

    def _now(self) -> str:
        return iso(self._clock())

    def _put(self, kind: str, secret: str, value: dict[str, Any], lifetime: timedelta) -> None:
        now = self._clock()
        self._records.put_record(
            kind,
            secret_digest(secret),
            json.dumps(value),
            expires_at=iso(now + lifetime),
            now=iso(now),  # purges the ones long expired
        )

    def _get(self, kind: str, secret: str) -> dict[str, Any] | None:
        text = self._records.get_record(kind, secret_digest(secret), now=self._now())
        return None if text is None else dict(json.loads(text))

    # -- transactions ---------------------------------------------------------------------------

    def start(self, transaction: Transaction) -> str:
        """Keep ``transaction``; its id (the pages' ``state``)."""
        tid = secrets.token_urlsafe(24)
        self._put(_TRANSACTION, tid, asdict(transaction), TRANSACTION_LIFETIME)
        return tid

    def transaction(self, tid: str) -> Transaction | None:
        """The live transaction of ``tid``, or None."""
        data = self._get(_TRANSACTION, tid)
        return None if data is None else Transaction(**data)

    def update(self, tid: str, transaction: Transaction, **changes: Any) -> Transaction:
        """Keep ``transaction`` with ``changes`` under ``tid``; the new one."""
        changed = replace(transaction, **changes)
        self._put(_TRANSACTION, tid, asdict(changed), TRANSACTION_LIFETIME)
        return changed

    def finish(self, tid: str) -> None:
        """Forget a transaction (it ended: a code or an error went back to the app)."""
        self._records.delete_record(_TRANSACTION, secret_digest(tid))

    # -- sessions -------------------------------------------------------------------------------

    def sign_in(self, user_id: str) -> tuple[str, Session]:
        """A new session of ``user_id``: the cookie's value and the session."""
        now = self._clock()
        session = Session(user_id, int(now.timestamp()), iso(now))
        cookie = secrets.token_urlsafe(32)
        self._put(_SESSION, cookie, asdict(session), SESSION_IDLE)
        return cookie, session

    def session(self, cookie: str | None) -> Session | None:
        """The live session of a cookie's value (its idle time starts again), or None."""
        if not cookie:
            return None
        data = self._get(_SESSION, cookie)
        if data is None:
            return None
        session = Session(**data)
        now = self._clock()
        ends = datetime.fromisoformat(session.created_at.replace("Z", "+00:00")) + SESSION_MAX
        if ends <= now:
            self.sign_out(cookie)
            return None
        self._put(_SESSION, cookie, data, min(SESSION_IDLE, ends - now))
        return session

    def sign_out(self, cookie: str | None) -> Session | None:
        """End the session of a cookie's value; the session it was, if live."""
        if not cookie:
            return None
        text = self._records.take_record(_SESSION, secret_digest(cookie), now=self._now())
        return None if text is None else Session(**json.loads(text))

    # -- authorization codes --------------------------------------------------------------------

    def new_code(self, grant: CodeGrant) -> str:
        """A new authorization code for ``grant``, usable once within ``CODE_LIFETIME``."""
        code = secrets.token_urlsafe(32)
        self._put(_CODE, code, asdict(grant), CODE_LIFETIME)
        return code

    def take_code(self, code: str) -> CodeGrant | None:
        """The grant of ``code``, which can never be taken again; None if unknown, used or
        expired (two exchanges at once cannot both get it)."""
        text = self._records.take_record(_CODE, secret_digest(code), now=self._now())
        return None if text is None else CodeGrant(**json.loads(text))

    # -- CSRF -----------------------------------------------------------------------------------

    @staticmethod
    def browser_id(cookie: str) -> str:
        """What a transaction keeps of the browser's CSRF cookie (its digest)."""
        return secret_digest(cookie)

    def csrf_token(self, cookie: str, purpose: str) -> str:
        """The CSRF token of the browser with ``cookie`` for a form about ``purpose``."""
        mac = hmac.new(self._key, f"{cookie}\x00{purpose}".encode("utf-8", "replace"), "sha256")
        return b64url(mac.digest())

    def csrf_ok(self, cookie: str | None, purpose: str, token: object) -> bool:
        """Whether ``token`` is the CSRF token for ``cookie`` and ``purpose`` (constant time)."""
        if not cookie or not isinstance(token, str):
            return False
        expected = self.csrf_token(cookie, purpose)
        return hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace"))
