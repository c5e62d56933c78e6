"""Refresh tokens: issued when a sign-in asks for ``offline_access``, kept as SHA-256 hashes in
the tenant's records, exchanged and revoked under the client's ``refresh_token`` settings on the
store's clock (docs/emulator.md#refresh-tokens).

Each token belongs to a family, the tokens that descend from one sign-in, kept as a record of
its own: its absolute deadline (``expiring`` with a ``token_lifetime``), its idle period, whether
it rotates, and which token was exchanged last. A token's record expires at its idle deadline.
Revoking a family deletes its record, and every token of it stops working with it.

Rotation: the exchange of a token answers a new one, and marks the old one used. The old one may
be exchanged again for ``leeway`` seconds (a retry after a lost answer); later, or if it is not
the last one exchanged, its use is a reuse, and revokes the family (Auth0's reuse detection).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from identitystore.storage import Backend

from ._errors import OAuthError
from ._tenant import Client, iso, secret_digest

__all__ = ["Grant", "RefreshTokens", "invalid_refresh_token"]

#: The record kinds of tokens (keyed by their SHA-256) and of families (keyed by a random id).
_TOKEN, _FAMILY = "refresh_token", "refresh_family"


def invalid_refresh_token() -> OAuthError:
    """Auth0's answer for a refresh token unknown, expired, revoked or reused."""
    return OAuthError(403, "invalid_grant", "Unknown or invalid refresh token.")


@dataclass(frozen=True)
class Grant:
    """What a refresh token stands for: a user's sign-in at a client, its scope and API."""

    user_id: str
    client_id: str
    scope: str
    audience: str | None


class RefreshTokens:
    """The tenant's refresh tokens.

    Args:
        records: the backend that keeps them.
        clock: the store's clock (timezone-aware now).
    """

    def __init__(self, records: Backend, clock: Callable[[], datetime]) -> None:
        self._records = records
        self._clock = clock
        self._lock = threading.Lock()

    def issue(self, client: Client, grant: Grant) -> str:
        """A new token of ``grant``, the first of a new family under ``client``'s settings."""
        with self._lock:
            return self._issue(client, grant, self._new_family(client))

    def exchange(
        self, client: Client, token: str, *, commit: bool = True
    ) -> tuple[Grant, str | None]:
        """The grant of ``token`` presented by ``client``, and the token that replaces it (None:
        it stays in use).

        With ``commit=False`` the token is only checked (a reuse is still detected, and revokes
        its family); ``commit=True`` exchanges it: rotated, or its idle period renewed.

        Raises:
            OAuthError: 403 ``invalid_grant`` for a token unknown, of another client, expired,
                revoked or reused.
        """
        key = secret_digest(token)
        with self._lock:
            now = self._clock()
            record = self._live(_TOKEN, key, now)
            if record is None or record["client_id"] != client.client_id:
                raise invalid_refresh_token()
            family_id = record.get("family")
            family: dict[str, Any] | None = {"rotating": False}  # a token without one: older
            if family_id is not None:
                family = self._live(_FAMILY, family_id, now)
            if family is None:
                raise invalid_refresh_token()
            grant = Grant(
                record["user_id"], record["client_id"], record["scope"], record["audience"]
            )
            used_at = record.get("used_at")
            if used_at is not None:  # rotated already: a retry within the leeway, or a reuse
                leeway = client.refresh_token.leeway
                retry = family.get("previous") == key and now.timestamp() < used_at + leeway
                if not retry:
                    self._revoke_family(family_id, key)
                    raise invalid_refresh_token()
            if not commit:
                return grant, None
            if client.refresh_token.rotating:
                if family_id is not None and family["rotating"]:
                    if used_at is None:
                        record["used_at"] = now.timestamp()
                        self._put(_TOKEN, key, record, family["expires_at"])
                    family["previous"] = key
                    self._put(_FAMILY, family_id, family, family["expires_at"])
                    return grant, self._issue(client, grant, family_id)
                self._revoke_family(family_id, key)  # rotation turned on: a rotating family
                return grant, self._issue(client, grant, self._new_family(client))
            if family["rotating"]:  # rotation turned off: a non-rotating token replaces the family
                self._revoke_family(family_id, key)
                return grant, self._issue(client, grant, self._new_family(client))
            idle = family.get("idle")
            if idle is not None:
                self._put(_TOKEN, key, record, _earliest(now, idle, family.get("expires_at")))
            return grant, None

    def revoke(self, client: Client, token: str) -> None:
        """Revoke ``token`` and its family (nothing for a token unknown).

        Raises:
            OAuthError: 400 when the token is another client's.
        """
        key = secret_digest(token)
        with self._lock:
            record = self._live(_TOKEN, key, self._clock())
            if record is None:
                return
            if record["client_id"] != client.client_id:
                raise OAuthError(
                    400, "invalid_request", "The refresh token was not issued to this client"
                )
            self._revoke_family(record.get("family"), key)

    # -- records ----------------------------------------------------------------------------

    def _new_family(self, client: Client) -> str:
        """A new family under ``client``'s settings, started now; its id."""
        settings = client.refresh_token
        now = self._clock()
        absolute = settings.absolute_lifetime
        family: dict[str, Any] = {
            "rotating": settings.rotating,
            "idle": settings.idle_lifetime,
            "expires_at": None if absolute is None else iso(now + timedelta(seconds=absolute)),
            "previous": None,
        }
        family_id = secrets.token_hex(16)
        self._put(_FAMILY, family_id, family, family["expires_at"])
        return family_id

    def _issue(self, client: Client, grant: Grant, family_id: str) -> str:
        """A new token of ``grant`` in the family, live for the family's idle period."""
        family = self._live(_FAMILY, family_id, self._clock())
        assert family is not None  # made or checked under the lock just before
        token = secrets.token_urlsafe(48)
        record = {
            "user_id": grant.user_id,
            "client_id": client.client_id,
            "scope": grant.scope,
            "audience": grant.audience,
            "family": family_id,
            "used_at": None,
        }
        expires_at = _earliest(self._clock(), family["idle"], family["expires_at"])
        self._put(_TOKEN, secret_digest(token), record, expires_at)
        return token

    def _revoke_family(self, family_id: str | None, key: str) -> None:
        """Delete the family (its tokens stop working) and the token ``key``."""
        if family_id is not None:
            self._records.delete_record(_FAMILY, family_id)
        self._records.delete_record(_TOKEN, key)

    def _live(self, kind: str, key: str, now: datetime) -> dict[str, Any] | None:
        text = self._records.get_record(kind, key, now=iso(now))
        return None if text is None else dict(json.loads(text))

    def _put(self, kind: str, key: str, value: dict[str, Any], expires_at: str | None) -> None:
        self._records.put_record(
            kind, key, json.dumps(value), expires_at=expires_at, now=iso(self._clock())
        )


def _earliest(now: datetime, idle: int | None, absolute: str | None) -> str | None:
    """The deadline of a token used at ``now``: its idle period's end or its family's, the
    earlier (None: neither)."""
    deadlines = [d for d in (absolute, iso(now + timedelta(seconds=idle)) if idle else None) if d]
    return min(deadlines) if deadlines else None
